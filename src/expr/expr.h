/*
 * expr.h - on-demand feature expressions (DESIGN §2c): compiled once,
 * type-checked when compiled, evaluated many times without allocating.
 *
 * Pure code at the layer of agg/: no I/O, no clocks, no globals.  Names in
 * the text (request fields, other on-demand features, view.feature) are
 * resolved while compiling, through a callback of the caller's, to a slot
 * of the inputs array and a type; evaluation then reads inputs[slot].
 *
 * The language (docs/configuration.md, "on_demand", is the user's guide):
 *   literals     42  3.5  1e-3  "text"  'text'  true  false  null
 *   names        amount   card_txn.amount_avg_1h   `odd-name`.`x`
 *   operators    by precedence, tightest first, all left-associative:
 *                unary - and not;  * / %;  + -;  == != < <= > >=;  and;  or
 *   functions    if(c, a, b)  min(a, ...)  max(a, ...)  abs(x)  log(x)
 *                coalesce(a, ...)
 * Types are static: every evaluation gives a value of the compiled result
 * type, or null.  long op long stays long (+ - * %, unary -, abs, min, max);
 * an overflowing long result is null.  Any double operand makes the result
 * double; / and log are always double; a result that is not finite is null.
 * Comparisons between longs and doubles are exact; strings compare by
 * bytes (== != < <= > >=); booleans only by == and !=.
 * Nulls: any null operand gives null (and, or and not included), except
 * coalesce (the first non-null argument) and if (null when its condition
 * is null, else the chosen branch whatever the other holds).  x / 0,
 * x % 0 and log(x <= 0) are null.
 *
 * Thread rules: a compiled program is immutable; any number of threads may
 * evaluate one at the same time.
 */
#ifndef FR_EXPR_EXPR_H
#define FR_EXPR_EXPR_H

#include <stddef.h>

#include "core/value.h"

#define FR_EXPR_MAX_TEXT 16384 /* bytes of one expression */
#define FR_EXPR_MAX_DEPTH 64   /* nesting of parentheses, calls and unary operators */
#define FR_EXPR_MAX_STACK 128  /* values held at once while evaluating */

typedef struct fr_expr fr_expr_t;

/*
 * Called once per distinct name (a plain identifier, or "view.feature"
 * with the dot; backquotes removed).  name[len] is a NUL; both are valid
 * during the call only.  Returns 0 and sets *slot (index into the inputs
 * array given to fr_expr_eval, >= 0) and *type (string, long, double or
 * boolean), or FR_ENOTFOUND, or another negative code, which fails the
 * compilation with that code.
 */
typedef int (*fr_expr_resolve_fn)(void *ctx, const char *name, size_t len, int *slot,
                                  fr_type_t *type);

/*
 * Compiles text[len] (borrowed, read during the call; need not be
 * NUL-terminated).  On success *out owns the program (fr_expr_free) and
 * *result_type (may be NULL) receives the type of every non-null result.
 * On failure *out is NULL and err (may be NULL) holds one line
 * "LINE:COL: what is wrong", counting from 1 in the text (columns in
 * characters), e.g. "1:10: '+' needs numbers, got string".  Returns 0,
 * FR_EPARSE (syntax), FR_ETYPE (operand types), FR_ENOTFOUND (the resolver
 * knows no such name), FR_ELIMIT (longer than FR_EXPR_MAX_TEXT, nested
 * deeper than FR_EXPR_MAX_DEPTH, or needing more than FR_EXPR_MAX_STACK
 * values), FR_ENOMEM, or a code the resolver returned.
 */
int fr_expr_compile(const char *text, size_t len, fr_expr_resolve_fn resolve, void *ctx,
                    fr_expr_t **out, fr_type_t *result_type, char *err, size_t errlen);

/* The same, with the error's position as a byte offset into text
 * (*err_off, may be NULL) and msg holding only "what is wrong", for
 * callers that place the text inside a larger file. */
int fr_expr_compile_at(const char *text, size_t len, fr_expr_resolve_fn resolve, void *ctx,
                       fr_expr_t **out, fr_type_t *result_type, size_t *err_off, char *msg,
                       size_t msglen);

/*
 * Evaluates x over inputs[0 .. fr_expr_ninputs(x) - 1] (borrowed; inputs
 * may be NULL when that is 0) into *out.  inputs[slot] should be null or
 * of the type the resolver gave; a long where a double was declared is
 * taken as that number, any other mismatch (and a double that is not
 * finite) reads as null.  Strings in *out point into inputs or into x.
 * Allocates nothing; thread-safe.
 */
void fr_expr_eval(const fr_expr_t *x, const fr_value_t *inputs, fr_value_t *out);

/* The type of every non-null result. */
fr_type_t fr_expr_type(const fr_expr_t *x);
/* 1 + the largest slot the program reads (0 when it reads none). */
size_t fr_expr_ninputs(const fr_expr_t *x);

/* Frees x; NULL is ignored. */
void fr_expr_free(fr_expr_t *x);

#endif
