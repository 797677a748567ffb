/*
 * eval.c - the machine that runs compiled expressions (expr_int.h).
 *
 * One switch per instruction over a fixed array on the C stack: no
 * allocation, nothing shared written, and no type dispatch beyond the null
 * checks the language asks for.  Long arithmetic is checked for overflow
 * (null); a double result that is not finite is null.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

static inline void set_null(fr_value_t *v)
{
    v->type = FR_T_NULL;
    v->len = 0;
    v->u.i = 0;
}

/* A double result: null unless finite. */
static inline void set_double(fr_value_t *v, double d)
{
    if (!isfinite(d)) {
        set_null(v);
        return;
    }
    v->type = FR_T_DOUBLE;
    v->len = 0;
    v->u.d = d;
}

static inline void set_bool(fr_value_t *v, bool b)
{
    v->type = FR_T_BOOL;
    v->len = 0;
    v->u.b = b;
}

/* Whether a or b is null; a (the result's place) is made null if so. */
static inline bool nulls(fr_value_t *a, const fr_value_t *b)
{
    if (a->type == FR_T_NULL || b->type == FR_T_NULL) {
        set_null(a);
        return true;
    }
    return false;
}

/* An input read as type want (not a double): null unless it is one. */
static inline void load(fr_value_t *dst, const fr_value_t *v, fr_type_t want)
{
    if (v->type == want)
        *dst = *v;
    else
        set_null(dst);
}

static inline void load_double(fr_value_t *dst, const fr_value_t *v)
{
    if (v->type == FR_T_DOUBLE)
        set_double(dst, v->u.d);
    else if (v->type == FR_T_LONG)
        set_double(dst, (double)v->u.i);
    else
        set_null(dst);
}

/* -1, 0 or 1 as long i compares with finite double d, exactly (converting
 * i to a double would round above 2^53). */
static int cmp_ld(int64_t i, double d)
{
    if (i >= -(INT64_C(1) << 53) && i <= INT64_C(1) << 53) { /* exact as a double */
        double x = (double)i;
        return x < d ? -1 : x > d ? 1 : 0;
    }
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double t = trunc(d); /* in [-2^63, 2^63): an int64_t */
    int64_t ti = (int64_t)t;
    if (i != ti)
        return i < ti ? -1 : 1;
    double f = d - t;
    return f > 0 ? -1 : f < 0 ? 1 : 0;
}

static int cmp_s(const fr_value_t *a, const fr_value_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->u.s, b->u.s, n) : 0;
    if (r)
        return r < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static inline bool holds(int c, int rel)
{
    switch (rel) {
    case R_EQ: return c == 0;
    case R_NE: return c != 0;
    case R_LT: return c < 0;
    case R_LE: return c <= 0;
    case R_GT: return c > 0;
    default: return c >= 0;
    }
}

void fr_expr_eval(const fr_expr_t *x, const fr_value_t *inputs, fr_value_t *out)
{
    fr_value_t st[FR_EXPR_MAX_STACK];
    fr_value_t *sp = st; /* the next free place */
    fr_value_t *a, *b;   /* operands: a binary op pops b and leaves its result in a */
    for (const ins_t *i = x->code;; i++) {
        switch ((enum op)i->op) {
        case OP_END:
            /* field by field: a 16-byte copy of what was just stored in
             * parts stalls on store forwarding */
            out->type = st[0].type;
            out->len = st[0].len;
            out->u = st[0].u;
            return;
        case OP_CONST: *sp++ = x->consts[i->a]; break;
        case OP_LOAD_L: load(sp++, &inputs[i->a], FR_T_LONG); break;
        case OP_LOAD_D: load_double(sp++, &inputs[i->a]); break;
        case OP_LOAD_S: load(sp++, &inputs[i->a], FR_T_STRING); break;
        case OP_LOAD_B: load(sp++, &inputs[i->a], FR_T_BOOL); break;
        case OP_I2D:
            a = sp - 1;
            if (a->type == FR_T_LONG)
                set_double(a, (double)a->u.i);
            break;
        case OP_NEG_L:
        case OP_ABS_L:
            a = sp - 1;
            if (a->type != FR_T_NULL && (a->u.i < 0 || i->op == OP_NEG_L)) {
                if (a->u.i == INT64_MIN)
                    set_null(a);
                else
                    a->u.i = -a->u.i;
            }
            break;
        case OP_NEG_D:
            a = sp - 1;
            if (a->type != FR_T_NULL)
                a->u.d = -a->u.d;
            break;
        case OP_ABS_D:
            a = sp - 1;
            if (a->type != FR_T_NULL)
                a->u.d = fabs(a->u.d);
            break;
        case OP_NOT:
            a = sp - 1;
            if (a->type != FR_T_NULL)
                a->u.b = !a->u.b;
            break;
        case OP_LOG:
            a = sp - 1;
            if (a->type != FR_T_NULL) {
                if (a->u.d <= 0)
                    set_null(a);
                else
                    set_double(a, log(a->u.d));
            }
            break;
        case OP_ADD_L:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && __builtin_add_overflow(a->u.i, b->u.i, &a->u.i))
                set_null(a);
            break;
        case OP_SUB_L:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && __builtin_sub_overflow(a->u.i, b->u.i, &a->u.i))
                set_null(a);
            break;
        case OP_MUL_L:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && __builtin_mul_overflow(a->u.i, b->u.i, &a->u.i))
                set_null(a);
            break;
        case OP_MOD_L:
            b = --sp, a = sp - 1;
            if (nulls(a, b))
                break;
            if (b->u.i == 0)
                set_null(a);
            else if (b->u.i == -1)
                a->u.i = 0; /* INT64_MIN % -1 overflows in C; the remainder is 0 */
            else
                a->u.i %= b->u.i;
            break;
        case OP_MIN_L:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && b->u.i < a->u.i)
                a->u.i = b->u.i;
            break;
        case OP_MAX_L:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && b->u.i > a->u.i)
                a->u.i = b->u.i;
            break;
        case OP_ADD_D:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_double(a, a->u.d + b->u.d);
            break;
        case OP_SUB_D:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_double(a, a->u.d - b->u.d);
            break;
        case OP_MUL_D:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_double(a, a->u.d * b->u.d);
            break;
        case OP_DIV_D:
            b = --sp, a = sp - 1;
            if (nulls(a, b))
                break;
            if (b->u.d == 0)
                set_null(a);
            else
                set_double(a, a->u.d / b->u.d);
            break;
        case OP_MOD_D:
            b = --sp, a = sp - 1;
            if (nulls(a, b))
                break;
            if (b->u.d == 0)
                set_null(a);
            else
                set_double(a, fmod(a->u.d, b->u.d));
            break;
        case OP_MIN_D:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && b->u.d < a->u.d)
                a->u.d = b->u.d;
            break;
        case OP_MAX_D:
            b = --sp, a = sp - 1;
            if (!nulls(a, b) && b->u.d > a->u.d)
                a->u.d = b->u.d;
            break;
        case OP_CMP_L:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_bool(a, holds(a->u.i < b->u.i ? -1 : a->u.i > b->u.i, i->aux));
            break;
        case OP_CMP_D:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_bool(a, holds(a->u.d < b->u.d ? -1 : a->u.d > b->u.d, i->aux));
            break;
        case OP_CMP_LD:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_bool(a, holds(cmp_ld(a->u.i, b->u.d), i->aux));
            break;
        case OP_CMP_DL:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_bool(a, holds(-cmp_ld(b->u.i, a->u.d), i->aux));
            break;
        case OP_CMP_S:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_bool(a, holds(cmp_s(a, b), i->aux));
            break;
        case OP_CMP_B:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                set_bool(a, holds(a->u.b != b->u.b, i->aux));
            break;
        case OP_AND:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                a->u.b = a->u.b && b->u.b;
            break;
        case OP_OR:
            b = --sp, a = sp - 1;
            if (!nulls(a, b))
                a->u.b = a->u.b || b->u.b;
            break;
        case OP_JMP: i = x->code + i->a - 1; break;
        case OP_IF:
            a = sp - 1;
            if (a->type == FR_T_NULL) { /* stays on the stack as the result */
                i = x->code + i->b - 1;
                break;
            }
            sp--;
            if (!a->u.b)
                i = x->code + i->a - 1;
            break;
        case OP_JNN:
            if (sp[-1].type != FR_T_NULL)
                i = x->code + i->a - 1;
            else
                sp--;
            break;
        default: __builtin_unreachable(); /* the compiler emits no other op */
        }
    }
}

fr_type_t fr_expr_type(const fr_expr_t *x)
{
    return x->type;
}

size_t fr_expr_ninputs(const fr_expr_t *x)
{
    return x->ninputs;
}

void fr_expr_free(fr_expr_t *x)
{
    if (!x)
        return;
    free(x->code);
    free(x->consts);
    free(x->pool);
    free(x);
}
