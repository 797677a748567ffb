/*
 * expr.c - the compiler of on-demand feature expressions (eval.c runs
 * what it makes).
 *
 * Three steps, each simple.  A lexer turns the text into tokens (strings
 * and names decoded into a pool the program keeps).  A recursive-descent
 * parser builds a tree in an index-linked node array and types each node as
 * it is made, so the first error reported is the leftmost one, with the
 * offset of the operand at fault.  Code generation then walks the tree once
 * into instructions for a small stack machine; each instruction already
 * knows its operand types (a long operand of a double operation gets an
 * explicit conversion), so evaluation needs no type dispatch beyond the
 * null checks the language asks for.
 *
 * Limits keep every recursion and the evaluation stack bounded whatever the
 * text: parse nesting (FR_EXPR_MAX_DEPTH), tree height (MAX_HEIGHT, which
 * bounds code generation), values held at once (FR_EXPR_MAX_STACK).
 */
#include "expr/expr_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

#define MAX_HEIGHT 512   /* levels of the tree: bounds code generation's recursion */
#define MAX_NUMBER 63    /* characters of a decimal literal */
#define MAX_SHOWN 64     /* characters of a name quoted in a message */

/* ------------------------------------------------------------------ */
/* the compiler's state                                                */

enum tok {
    T_END,
    T_INT,
    T_DEC,
    T_STR,
    T_NAME,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_AND,
    T_OR,
    T_NOT,
    T_LP,
    T_RP,
    T_COMMA,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PCT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
};

static const char *const tok_text[] = {
    "the end", "a number", "a number", "a string", "a name", "true",
    "false",   "null",     "and",      "or",       "not",    "(",
    ")",       ",",        "+",        "-",        "*",      "/",
    "%",       "==",       "!=",       "<",        "<=",     ">",
    ">=",
};

typedef struct token {
    enum tok kind;
    size_t off;    /* where it starts in the text */
    bool plain;    /* T_NAME: one unquoted segment (may name a function) */
    uint64_t u;    /* T_INT: the magnitude, at most 2^63 */
    double d;      /* T_DEC */
    const char *s; /* T_STR, T_NAME: decoded into the pool */
    uint32_t len;
} token_t;

enum kind { N_CONST, N_INPUT, N_UNARY, N_BINARY, N_CALL };
enum fn { F_IF, F_MIN, F_MAX, F_ABS, F_LOG, F_COALESCE };

static const struct {
    const char *name;
    int min, max; /* arguments; max 0: any number */
} fns[] = {{"if", 3, 3},  {"min", 1, 0}, {"max", 1, 0},
           {"abs", 1, 1}, {"log", 1, 1}, {"coalesce", 1, 0}};

typedef struct node {
    enum kind kind;
    int op;          /* N_UNARY, N_BINARY: enum tok; N_CALL: enum fn */
    fr_type_t type;  /* FR_T_NULL: always null */
    fr_type_t ct;    /* arithmetic: the type it computes in */
    int a, b;        /* operands; N_CALL: a is the first argument */
    int next;        /* the next argument of a call, -1 after the last */
    int height;
    size_t off;      /* where its text starts */
    fr_value_t v;    /* N_CONST */
    uint32_t slot;   /* N_INPUT */
} node_t;

typedef struct name {
    const char *s; /* in the pool */
    uint32_t len;
    uint32_t slot;
    fr_type_t type;
} name_t;

typedef struct cc {
    const char *text;
    size_t len, pos;
    token_t tok;
    char *pool; /* 2 * len + 2 bytes: decoded text never outgrows its source, + NULs */
    size_t pool_used;
    node_t *nodes;
    size_t nnodes, capnodes;
    name_t *names;
    size_t nnames, capnames;
    fr_expr_resolve_fn resolve;
    void *rctx;
    int depth;
    ins_t *code;
    size_t ncode, capcode;
    fr_value_t *consts;
    size_t nconsts, capconsts;
    size_t sp, maxsp, ninputs;
    int rc; /* the first error */
    size_t err_off;
    char msg[256];
} cc_t;

__attribute__((format(printf, 4, 5))) static int fail(cc_t *c, size_t off, int rc,
                                                      const char *fmt, ...)
{
    if (c->rc)
        return -1;
    c->rc = rc;
    c->err_off = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(cc_t *c)
{
    return fail(c, 0, FR_ENOMEM, "out of memory");
}

/* Grows *arr (of *cap items of size sz) to hold one more; -1 on failure. */
static int grow(cc_t *c, void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * sz);
    if (!p)
        return oom(c);
    *arr = p;
    *cap = nc;
    return 0;
}

/* ------------------------------------------------------------------ */
/* lexer                                                               */

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_id0(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_id(int ch)
{
    return is_id0(ch) || is_digit(ch);
}

/* Copies the UTF-8 character at p (not a control character) to the pool;
 * its length, or 0 after reporting what is wrong. */
static size_t copy_char(cc_t *c, size_t p, const char *what)
{
    const unsigned char *t = (const unsigned char *)c->text;
    if (t[p] < 0x20 || t[p] == 0x7f) {
        fail(c, p, FR_EPARSE, "control character 0x%02x in %s", t[p], what);
        return 0;
    }
    size_t l = fr_utf8_len(t + p, c->len - p);
    if (!l) {
        fail(c, p, FR_EPARSE, "byte 0x%02x in %s is not UTF-8", t[p], what);
        return 0;
    }
    memcpy(c->pool + c->pool_used, t + p, l);
    c->pool_used += l;
    return l;
}

static int lex_number(cc_t *c, size_t p)
{
    const char *t = c->text;
    size_t n = c->len, s = p;
    token_t *k = &c->tok;
    bool dec = false;
    while (p < n && is_digit(t[p]))
        p++;
    if (p < n && t[p] == '.') {
        if (p + 1 >= n || !is_digit(t[p + 1]))
            return fail(c, p + 1, FR_EPARSE, "expected digits after the decimal point");
        for (p++; p < n && is_digit(t[p]); p++)
            ;
        dec = true;
    }
    if (p < n && (t[p] == 'e' || t[p] == 'E')) {
        size_t q = p + 1;
        if (q < n && (t[q] == '+' || t[q] == '-'))
            q++;
        if (q >= n || !is_digit(t[q]))
            return fail(c, p, FR_EPARSE, "expected digits in the exponent");
        for (p = q; p < n && is_digit(t[p]); p++)
            ;
        dec = true;
    }
    if (p < n && (is_id(t[p]) || t[p] == '.' || t[p] == '`'))
        return fail(c, s, FR_EPARSE, "malformed number; expected digits, a decimal point or an "
                                     "exponent");
    if (!dec) {
        uint64_t v = 0, top = UINT64_C(1) << 63;
        for (size_t i = s; i < p; i++) {
            unsigned d = (unsigned)(t[i] - '0');
            if (v > (top - d) / 10)
                return fail(c, s, FR_EPARSE,
                            "integer out of range; expected at most 9223372036854775807 (use a "
                            "decimal for larger numbers)");
            v = v * 10 + d;
        }
        k->kind = T_INT;
        k->u = v;
    } else {
        char buf[MAX_NUMBER + 1];
        if (p - s > MAX_NUMBER)
            return fail(c, s, FR_EPARSE, "number longer than %d characters", MAX_NUMBER);
        memcpy(buf, t + s, p - s);
        buf[p - s] = 0;
        double d = strtod(buf, NULL);
        if (!isfinite(d))
            return fail(c, s, FR_EPARSE, "number out of range; expected a finite double");
        k->kind = T_DEC;
        k->d = d;
    }
    c->pos = p;
    return 0;
}

static int lex_string(cc_t *c, size_t p)
{
    const char *t = c->text;
    size_t n = c->len, s = p;
    char q = t[p++];
    token_t *k = &c->tok;
    k->kind = T_STR;
    k->s = c->pool + c->pool_used;
    for (;;) {
        if (p >= n)
            return fail(c, s, FR_EPARSE, "string never closed; expected %c at its end", q);
        if (t[p] == q) {
            p++;
            break;
        }
        if (t[p] == '\\') {
            if (p + 1 >= n)
                return fail(c, s, FR_EPARSE, "string never closed; expected %c at its end", q);
            char e = t[p + 1], r;
            switch (e) {
            case '\\': r = '\\'; break;
            case '"': r = '"'; break;
            case '\'': r = '\''; break;
            case 'n': r = '\n'; break;
            case 'r': r = '\r'; break;
            case 't': r = '\t'; break;
            default:
                return fail(c, p, FR_EPARSE,
                            "unknown escape in a string; expected \\\\, \\\", \\', \\n, \\r or "
                            "\\t");
            }
            c->pool[c->pool_used++] = r;
            p += 2;
            continue;
        }
        size_t l = copy_char(c, p, "a string");
        if (!l)
            return -1;
        p += l;
    }
    k->len = (uint32_t)(c->pool + c->pool_used - k->s);
    c->pool[c->pool_used++] = 0;
    c->pos = p;
    return 0;
}

/* A name: segments (identifiers or `quoted`) joined by dots. */
static int lex_name(cc_t *c, size_t p)
{
    const char *t = c->text;
    size_t n = c->len;
    token_t *k = &c->tok;
    k->kind = T_NAME;
    k->s = c->pool + c->pool_used;
    k->plain = true;
    for (;;) {
        if (p < n && t[p] == '`') {
            size_t s = p++;
            char *start = c->pool + c->pool_used;
            while (p < n && t[p] != '`') {
                size_t l = copy_char(c, p, "a quoted name");
                if (!l)
                    return -1;
                p += l;
            }
            if (p >= n)
                return fail(c, s, FR_EPARSE, "quoted name never closed; expected ` at its end");
            if (c->pool + c->pool_used == start)
                return fail(c, s, FR_EPARSE, "empty quoted name");
            p++;
            k->plain = false;
        } else if (p < n && is_id0(t[p])) {
            while (p < n && is_id(t[p]))
                c->pool[c->pool_used++] = t[p++];
        } else {
            return fail(c, p, FR_EPARSE, "expected a name after '.'");
        }
        if (p < n && t[p] == '.') {
            c->pool[c->pool_used++] = '.';
            p++;
            k->plain = false;
            continue;
        }
        break;
    }
    k->len = (uint32_t)(c->pool + c->pool_used - k->s);
    c->pool[c->pool_used++] = 0;
    c->pos = p;
    if (k->plain) {
        static const struct {
            const char *w;
            enum tok kind;
        } words[] = {{"and", T_AND},   {"or", T_OR},       {"not", T_NOT},
                     {"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL}};
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (!strcmp(k->s, words[i].w))
                k->kind = words[i].kind;
    }
    return 0;
}

/* Reads the next token into c->tok; 0 or -1 (error recorded). */
static int lex(cc_t *c)
{
    const char *t = c->text;
    size_t n = c->len, p = c->pos;
    while (p < n && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r'))
        p++;
    token_t *k = &c->tok;
    memset(k, 0, sizeof *k);
    k->off = p;
    if (p >= n) {
        k->kind = T_END;
        c->pos = p;
        return 0;
    }
    unsigned char ch = (unsigned char)t[p];
    if (is_digit(ch))
        return lex_number(c, p);
    if (ch == '"' || ch == '\'')
        return lex_string(c, p);
    if (is_id0(ch) || ch == '`')
        return lex_name(c, p);
    bool eq = p + 1 < n && t[p + 1] == '=';
    size_t w = 1;
    switch (ch) {
    case '(': k->kind = T_LP; break;
    case ')': k->kind = T_RP; break;
    case ',': k->kind = T_COMMA; break;
    case '+': k->kind = T_PLUS; break;
    case '-': k->kind = T_MINUS; break;
    case '*': k->kind = T_STAR; break;
    case '/': k->kind = T_SLASH; break;
    case '%': k->kind = T_PCT; break;
    case '<':
        k->kind = eq ? T_LE : T_LT;
        w += eq;
        break;
    case '>':
        k->kind = eq ? T_GE : T_GT;
        w += eq;
        break;
    case '=':
        if (!eq)
            return fail(c, p, FR_EPARSE, "'=' is not an operator; expected '==' to compare");
        k->kind = T_EQ;
        w = 2;
        break;
    case '!':
        if (!eq)
            return fail(c, p, FR_EPARSE, "'!' is not an operator; expected '!=' or 'not'");
        k->kind = T_NE;
        w = 2;
        break;
    case '&': return fail(c, p, FR_EPARSE, "'&' is not an operator; expected 'and'");
    case '|': return fail(c, p, FR_EPARSE, "'|' is not an operator; expected 'or'");
    default: {
        size_t l = ch > 0x20 && ch != 0x7f ? fr_utf8_len((const unsigned char *)t + p, n - p) : 0;
        if (l)
            return fail(c, p, FR_EPARSE, "unexpected character '%.*s'", (int)l, t + p);
        return fail(c, p, FR_EPARSE, "unexpected byte 0x%02x", ch);
    }
    }
    c->pos = p + w;
    return 0;
}

/* What the current token is, for messages. */
static const char *tok_desc(const cc_t *c, char *b, size_t n)
{
    const token_t *k = &c->tok;
    if (k->kind == T_NAME)
        snprintf(b, n, "'%.*s'", k->len > MAX_SHOWN ? MAX_SHOWN : (int)k->len, k->s);
    else if (k->kind <= T_STR)
        snprintf(b, n, "%s", tok_text[k->kind]);
    else
        snprintf(b, n, "'%s'", tok_text[k->kind]);
    return b;
}

/* ------------------------------------------------------------------ */
/* parser and types                                                    */

static const char *tname(fr_type_t t)
{
    return t == FR_T_BOOL ? "boolean" : fr_type_name(t);
}

static bool numeric(fr_type_t t)
{
    return t == FR_T_LONG || t == FR_T_DOUBLE || t == FR_T_NULL;
}

/* The type a and b meet in: the same type, or double for long with
 * double; null meets anything.  FR_T_NULL with *ok false if they do not. */
static fr_type_t unify(fr_type_t a, fr_type_t b, bool *ok)
{
    *ok = true;
    if (a == FR_T_NULL || a == b)
        return b;
    if (b == FR_T_NULL)
        return a;
    if (numeric(a) && numeric(b))
        return FR_T_DOUBLE;
    *ok = false;
    return FR_T_NULL;
}

static int new_node(cc_t *c, enum kind kind, size_t off)
{
    if (grow(c, (void **)&c->nodes, &c->capnodes, c->nnodes, sizeof *c->nodes))
        return -1;
    node_t *n = &c->nodes[c->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->a = n->b = n->next = -1;
    n->height = 1;
    n->off = off;
    return (int)c->nnodes++;
}

/* Records that node n sits above child ch; fails past MAX_HEIGHT. */
static int above(cc_t *c, int n, int ch)
{
    node_t *p = &c->nodes[n];
    if (c->nodes[ch].height + 1 > p->height)
        p->height = c->nodes[ch].height + 1;
    if (p->height > MAX_HEIGHT)
        return fail(c, p->off, FR_ELIMIT,
                    "expression has more than %d levels of operations; expected a simpler one",
                    MAX_HEIGHT);
    return 0;
}

static int make_unary(cc_t *c, int op, int x, size_t off)
{
    fr_type_t t = c->nodes[x].type;
    if (op == T_MINUS && !numeric(t))
        return fail(c, c->nodes[x].off, FR_ETYPE, "'-' needs a number, got %s", tname(t));
    if (op == T_NOT && t != FR_T_BOOL && t != FR_T_NULL)
        return fail(c, c->nodes[x].off, FR_ETYPE, "'not' needs a boolean, got %s", tname(t));
    int n = new_node(c, N_UNARY, off);
    if (n < 0 || above(c, n, x))
        return -1;
    c->nodes[n].op = op;
    c->nodes[n].a = x;
    c->nodes[n].type = t;
    return n;
}

static int make_binary(cc_t *c, int op, int l, int r)
{
    fr_type_t lt = c->nodes[l].type, rt = c->nodes[r].type;
    const char *o = tok_text[op];
    fr_type_t type, ct = FR_T_NULL;
    switch (op) {
    case T_PLUS:
    case T_MINUS:
    case T_STAR:
    case T_SLASH:
    case T_PCT:
        if (!numeric(lt))
            return fail(c, c->nodes[l].off, FR_ETYPE, "'%s' needs numbers, got %s", o, tname(lt));
        if (!numeric(rt))
            return fail(c, c->nodes[r].off, FR_ETYPE, "'%s' needs numbers, got %s", o, tname(rt));
        ct = op == T_SLASH || lt == FR_T_DOUBLE || rt == FR_T_DOUBLE ? FR_T_DOUBLE : FR_T_LONG;
        type = lt == FR_T_NULL && rt == FR_T_NULL ? FR_T_NULL : ct;
        break;
    case T_AND:
    case T_OR:
        if (lt != FR_T_BOOL && lt != FR_T_NULL)
            return fail(c, c->nodes[l].off, FR_ETYPE, "'%s' needs booleans, got %s", o, tname(lt));
        if (rt != FR_T_BOOL && rt != FR_T_NULL)
            return fail(c, c->nodes[r].off, FR_ETYPE, "'%s' needs booleans, got %s", o, tname(rt));
        type = lt == FR_T_NULL && rt == FR_T_NULL ? FR_T_NULL : FR_T_BOOL;
        break;
    default: /* comparisons */
        if (op != T_EQ && op != T_NE) {
            if (lt == FR_T_BOOL)
                return fail(c, c->nodes[l].off, FR_ETYPE,
                            "'%s' needs numbers or strings, got boolean", o);
            if (rt == FR_T_BOOL)
                return fail(c, c->nodes[r].off, FR_ETYPE,
                            "'%s' needs numbers or strings, got boolean", o);
        }
        bool ok;
        unify(lt, rt, &ok);
        if (!ok)
            return fail(c, c->nodes[r].off, FR_ETYPE, "'%s' cannot compare %s with %s", o,
                        tname(lt), tname(rt));
        type = lt == FR_T_NULL && rt == FR_T_NULL ? FR_T_NULL : FR_T_BOOL;
        break;
    }
    int n = new_node(c, N_BINARY, c->nodes[l].off);
    if (n < 0 || above(c, n, l) || above(c, n, r))
        return -1;
    node_t *nd = &c->nodes[n];
    nd->op = op;
    nd->a = l;
    nd->b = r;
    nd->type = type;
    nd->ct = ct;
    return n;
}

static int make_const(cc_t *c, size_t off, fr_value_t v)
{
    int n = new_node(c, N_CONST, off);
    if (n < 0)
        return -1;
    c->nodes[n].v = v;
    c->nodes[n].type = v.type;
    return n;
}

/* A name's node: resolved once per distinct name. */
static int make_input(cc_t *c, const token_t *k)
{
    name_t *nm = NULL;
    for (size_t i = 0; i < c->nnames && !nm; i++)
        if (c->names[i].len == k->len && !memcmp(c->names[i].s, k->s, k->len))
            nm = &c->names[i];
    int shown = k->len > MAX_SHOWN ? MAX_SHOWN : (int)k->len;
    if (!nm) {
        int slot = -1;
        fr_type_t type = FR_T_NULL;
        int rc = c->resolve ? c->resolve(c->rctx, k->s, k->len, &slot, &type) : FR_ENOTFOUND;
        if (rc == FR_ENOTFOUND)
            return fail(c, k->off, FR_ENOTFOUND, "unknown name '%.*s'", shown, k->s);
        if (rc)
            return fail(c, k->off, rc < 0 ? rc : FR_EINVAL, "name '%.*s': %s", shown, k->s,
                        fr_strerror(rc));
        if (slot < 0 || type < FR_T_STRING || type > FR_T_BOOL)
            return fail(c, k->off, FR_EINVAL, "name '%.*s' resolved to slot %d of type %d",
                        shown, k->s, slot, (int)type);
        if (grow(c, (void **)&c->names, &c->capnames, c->nnames, sizeof *c->names))
            return -1;
        nm = &c->names[c->nnames++];
        nm->s = k->s;
        nm->len = k->len;
        nm->slot = (uint32_t)slot;
        nm->type = type;
        if ((size_t)slot + 1 > c->ninputs)
            c->ninputs = (size_t)slot + 1;
    }
    int n = new_node(c, N_INPUT, k->off);
    if (n < 0)
        return -1;
    c->nodes[n].slot = nm->slot;
    c->nodes[n].type = nm->type;
    return n;
}

static int parse_or(cc_t *c);

/* Checks the arguments of fn (the first is first, chained by next) and
 * makes the call's node. */
static int make_call(cc_t *c, enum fn fn, int first, int nargs, size_t off)
{
    const char *f = fns[fn].name;
    if (nargs < fns[fn].min || (fns[fn].max && nargs > fns[fn].max)) {
        if (fns[fn].min == fns[fn].max)
            return fail(c, off, FR_EPARSE, "%s takes %d argument%s, got %d", f, fns[fn].min,
                        fns[fn].min == 1 ? "" : "s", nargs);
        return fail(c, off, FR_EPARSE, "%s takes at least %d argument, got %d", f, fns[fn].min,
                    nargs);
    }
    int n = new_node(c, N_CALL, off);
    if (n < 0)
        return -1;
    fr_type_t type = FR_T_NULL;
    int from = first;
    if (fn == F_IF) {
        fr_type_t ct = c->nodes[first].type;
        if (ct != FR_T_BOOL && ct != FR_T_NULL)
            return fail(c, c->nodes[first].off, FR_ETYPE, "if needs a boolean condition, got %s",
                        tname(ct));
        if (above(c, n, first))
            return -1;
        from = c->nodes[first].next;
    }
    for (int a = from; a >= 0; a = c->nodes[a].next) {
        fr_type_t at = c->nodes[a].type;
        if (above(c, n, a))
            return -1;
        if ((fn == F_MIN || fn == F_MAX || fn == F_ABS || fn == F_LOG) && !numeric(at))
            return fail(c, c->nodes[a].off, FR_ETYPE, "%s needs numbers, got %s", f, tname(at));
        bool ok;
        fr_type_t u = unify(type, at, &ok);
        if (!ok)
            return fail(c, c->nodes[a].off, FR_ETYPE,
                        "%s %s are %s and %s; expected one type (longs and doubles mix)", f,
                        fn == F_IF ? "branches" : "arguments", tname(type), tname(at));
        type = u;
    }
    if (fn == F_LOG && type != FR_T_NULL)
        type = FR_T_DOUBLE;
    node_t *nd = &c->nodes[n];
    nd->op = fn;
    nd->a = first;
    nd->type = type;
    return n;
}

static int parse_call(cc_t *c, const token_t *name)
{
    size_t fn = 0;
    while (fn < sizeof fns / sizeof fns[0] && strcmp(fns[fn].name, name->s))
        fn++;
    if (fn == sizeof fns / sizeof fns[0])
        return fail(c, name->off, FR_EPARSE,
                    "unknown function '%.*s'; expected if, min, max, abs, log or coalesce",
                    name->len > MAX_SHOWN ? MAX_SHOWN : (int)name->len, name->s);
    if (lex(c)) /* past '(' */
        return -1;
    int first = -1, last = -1, nargs = 0;
    if (c->tok.kind != T_RP) {
        for (;;) {
            int a = parse_or(c);
            if (a < 0)
                return -1;
            if (last >= 0)
                c->nodes[last].next = a;
            else
                first = a;
            last = a;
            nargs++;
            if (c->tok.kind != T_COMMA)
                break;
            if (lex(c))
                return -1;
        }
    }
    if (c->tok.kind != T_RP) {
        char b[96];
        return fail(c, c->tok.off, FR_EPARSE, "expected ',' or ')' in the call of %s, got %s",
                    fns[fn].name, tok_desc(c, b, sizeof b));
    }
    if (lex(c))
        return -1;
    return make_call(c, (enum fn)fn, first, nargs, name->off);
}

static int parse_primary(cc_t *c)
{
    token_t k = c->tok;
    fr_value_t v = {.type = FR_T_NULL};
    char b[96];
    switch (k.kind) {
    case T_INT:
        if (k.u > (uint64_t)INT64_MAX)
            return fail(c, k.off, FR_EPARSE,
                        "integer out of range; expected at most 9223372036854775807");
        v.type = FR_T_LONG;
        v.u.i = (int64_t)k.u;
        break;
    case T_DEC:
        v.type = FR_T_DOUBLE;
        v.u.d = k.d;
        break;
    case T_STR:
        v.type = FR_T_STRING;
        v.u.s = k.s;
        v.len = k.len;
        break;
    case T_TRUE:
    case T_FALSE:
        v.type = FR_T_BOOL;
        v.u.b = k.kind == T_TRUE;
        break;
    case T_NULL: break;
    case T_LP: {
        if (lex(c))
            return -1;
        int n = parse_or(c);
        if (n < 0)
            return -1;
        if (c->tok.kind != T_RP)
            return fail(c, c->tok.off, FR_EPARSE, "expected ')', got %s",
                        tok_desc(c, b, sizeof b));
        c->nodes[n].off = k.off; /* errors about the whole point at its '(' */
        return lex(c) ? -1 : n;
    }
    case T_NAME:
        if (lex(c))
            return -1;
        if (c->tok.kind == T_LP) {
            if (k.plain)
                return parse_call(c, &k);
            return fail(c, k.off, FR_EPARSE,
                        "'%.*s' is not a function; expected if, min, max, abs, log or coalesce",
                        k.len > MAX_SHOWN ? MAX_SHOWN : (int)k.len, k.s);
        }
        return make_input(c, &k);
    default:
        return fail(c, k.off, FR_EPARSE, "expected a value, got %s", tok_desc(c, b, sizeof b));
    }
    if (lex(c))
        return -1;
    return make_const(c, k.off, v);
}

static int parse_unary(cc_t *c)
{
    if (++c->depth > FR_EXPR_MAX_DEPTH)
        return fail(c, c->tok.off, FR_ELIMIT, "expression nests deeper than %d; expected a "
                                              "simpler one",
                    FR_EXPR_MAX_DEPTH);
    int n;
    token_t k = c->tok;
    if (k.kind == T_MINUS || k.kind == T_NOT) {
        if (lex(c))
            return -1;
        if (k.kind == T_MINUS && (c->tok.kind == T_INT || c->tok.kind == T_DEC)) {
            /* a negative literal, so that -9223372036854775808 is one */
            fr_value_t v = {.type = FR_T_DOUBLE, .u.d = -c->tok.d};
            if (c->tok.kind == T_INT) {
                v.type = FR_T_LONG;
                v.u.i = c->tok.u == UINT64_C(1) << 63 ? INT64_MIN : -(int64_t)c->tok.u;
            }
            n = lex(c) ? -1 : make_const(c, k.off, v);
        } else {
            int x = parse_unary(c);
            n = x < 0 ? -1 : make_unary(c, k.kind, x, k.off);
        }
    } else {
        n = parse_primary(c);
    }
    c->depth--;
    return n;
}

static bool in(enum tok k, enum tok lo, enum tok hi)
{
    return k >= lo && k <= hi;
}

static int parse_mul(cc_t *c)
{
    int l = parse_unary(c);
    while (l >= 0 && (c->tok.kind == T_STAR || c->tok.kind == T_SLASH || c->tok.kind == T_PCT)) {
        int op = c->tok.kind;
        int r = lex(c) ? -1 : parse_unary(c);
        l = r < 0 ? -1 : make_binary(c, op, l, r);
    }
    return l;
}

static int parse_add(cc_t *c)
{
    int l = parse_mul(c);
    while (l >= 0 && (c->tok.kind == T_PLUS || c->tok.kind == T_MINUS)) {
        int op = c->tok.kind;
        int r = lex(c) ? -1 : parse_mul(c);
        l = r < 0 ? -1 : make_binary(c, op, l, r);
    }
    return l;
}

static int parse_cmp(cc_t *c)
{
    int l = parse_add(c);
    while (l >= 0 && in(c->tok.kind, T_EQ, T_GE)) {
        int op = c->tok.kind;
        int r = lex(c) ? -1 : parse_add(c);
        l = r < 0 ? -1 : make_binary(c, op, l, r);
    }
    return l;
}

static int parse_and(cc_t *c)
{
    int l = parse_cmp(c);
    while (l >= 0 && c->tok.kind == T_AND) {
        int r = lex(c) ? -1 : parse_cmp(c);
        l = r < 0 ? -1 : make_binary(c, T_AND, l, r);
    }
    return l;
}

static int parse_or(cc_t *c)
{
    int l = parse_and(c);
    while (l >= 0 && c->tok.kind == T_OR) {
        int r = lex(c) ? -1 : parse_and(c);
        l = r < 0 ? -1 : make_binary(c, T_OR, l, r);
    }
    return l;
}

/* ------------------------------------------------------------------ */
/* code generation                                                     */

static int emit(cc_t *c, enum op op, int aux, uint32_t a, uint32_t b)
{
    if (grow(c, (void **)&c->code, &c->capcode, c->ncode, sizeof *c->code))
        return -1;
    c->code[c->ncode++] = (ins_t){.op = (uint8_t)op, .aux = (uint8_t)aux, .a = a, .b = b};
    return (int)c->ncode - 1;
}

static int push(cc_t *c, size_t off)
{
    if (++c->sp > c->maxsp)
        c->maxsp = c->sp;
    if (c->sp > FR_EXPR_MAX_STACK)
        return fail(c, off, FR_ELIMIT,
                    "expression holds more than %d values at once; expected a simpler one",
                    FR_EXPR_MAX_STACK);
    return 0;
}

static const enum rel rels[] = {[T_EQ] = R_EQ, [T_NE] = R_NE, [T_LT] = R_LT,
                                [T_LE] = R_LE, [T_GT] = R_GT, [T_GE] = R_GE};

/* Code that leaves node n's value on the stack, as a double when want is
 * FR_T_DOUBLE and n is a long. */
static int gen(cc_t *c, int n, fr_type_t want)
{
    const node_t *nd = &c->nodes[n];
    fr_type_t t = nd->type;
    int rc = 0;
    switch (nd->kind) {
    case N_CONST:
        if (grow(c, (void **)&c->consts, &c->capconsts, c->nconsts, sizeof *c->consts))
            return -1;
        c->consts[c->nconsts++] = nd->v;
        rc = push(c, nd->off) || emit(c, OP_CONST, 0, (uint32_t)c->nconsts - 1, 0) < 0;
        break;
    case N_INPUT: {
        enum op op = t == FR_T_LONG     ? OP_LOAD_L
                     : t == FR_T_DOUBLE ? OP_LOAD_D
                     : t == FR_T_STRING ? OP_LOAD_S
                                        : OP_LOAD_B;
        rc = push(c, nd->off) || emit(c, op, 0, nd->slot, 0) < 0;
        break;
    }
    case N_UNARY:
        rc = gen(c, nd->a, t) ||
             emit(c, nd->op == T_NOT ? OP_NOT : t == FR_T_DOUBLE ? OP_NEG_D : OP_NEG_L, 0, 0,
                  0) < 0;
        break;
    case N_BINARY: {
        fr_type_t lt = c->nodes[nd->a].type, rt = c->nodes[nd->b].type;
        enum op op = OP_END;
        int aux = 0;
        bool d = nd->ct == FR_T_DOUBLE;
        switch (nd->op) {
        case T_PLUS: op = d ? OP_ADD_D : OP_ADD_L; break;
        case T_MINUS: op = d ? OP_SUB_D : OP_SUB_L; break;
        case T_STAR: op = d ? OP_MUL_D : OP_MUL_L; break;
        case T_SLASH: op = OP_DIV_D; break;
        case T_PCT: op = d ? OP_MOD_D : OP_MOD_L; break;
        case T_AND: op = OP_AND; break;
        case T_OR: op = OP_OR; break;
        default: { /* comparisons: as the operands are (null takes the other's type) */
            fr_type_t x = lt == FR_T_NULL ? rt : lt, y = rt == FR_T_NULL ? lt : rt;
            aux = rels[nd->op];
            op = x == FR_T_STRING  ? OP_CMP_S
                 : x == FR_T_BOOL  ? OP_CMP_B
                 : x == FR_T_DOUBLE ? (y == FR_T_DOUBLE ? OP_CMP_D : OP_CMP_DL)
                 : y == FR_T_DOUBLE ? OP_CMP_LD
                                    : OP_CMP_L;
        }
        }
        /* arithmetic converts its operands to the type it computes in
         * (ct); comparisons and logic take them as they are (ct null) */
        rc = gen(c, nd->a, nd->ct) || gen(c, nd->b, nd->ct) || emit(c, op, aux, 0, 0) < 0;
        c->sp--;
        break;
    }
    case N_CALL: {
        int first = nd->a;
        switch ((enum fn)nd->op) {
        case F_IF: {
            if (gen(c, first, FR_T_BOOL))
                return -1;
            int jif = emit(c, OP_IF, 0, 0, 0);
            if (jif < 0)
                return -1;
            c->sp--;
            int a = c->nodes[first].next, b = c->nodes[a].next;
            if (gen(c, a, t))
                return -1;
            int jmp = emit(c, OP_JMP, 0, 0, 0);
            if (jmp < 0)
                return -1;
            c->sp--;
            c->code[jif].a = (uint32_t)c->ncode;
            if (gen(c, b, t))
                return -1;
            c->code[jmp].a = (uint32_t)c->ncode;
            c->code[jif].b = (uint32_t)c->ncode;
            break;
        }
        case F_COALESCE: {
            size_t from = c->ncode;
            for (int a = first; a >= 0; a = c->nodes[a].next) {
                if (gen(c, a, t))
                    return -1;
                if (c->nodes[a].next >= 0) {
                    if (emit(c, OP_JNN, 0, 0, 0) < 0)
                        return -1;
                    c->sp--;
                }
            }
            for (size_t i = from; i < c->ncode; i++)
                if (c->code[i].op == OP_JNN && c->code[i].a == 0)
                    c->code[i].a = (uint32_t)c->ncode;
            break;
        }
        case F_MIN:
        case F_MAX: {
            bool d = t == FR_T_DOUBLE, mn = nd->op == F_MIN;
            enum op op = mn ? (d ? OP_MIN_D : OP_MIN_L) : (d ? OP_MAX_D : OP_MAX_L);
            for (int a = first; a >= 0; a = c->nodes[a].next) {
                if (gen(c, a, t))
                    return -1;
                if (a != first) {
                    if (emit(c, op, 0, 0, 0) < 0)
                        return -1;
                    c->sp--;
                }
            }
            break;
        }
        case F_ABS:
            rc = gen(c, first, t) || emit(c, t == FR_T_DOUBLE ? OP_ABS_D : OP_ABS_L, 0, 0, 0) < 0;
            break;
        case F_LOG: rc = gen(c, first, FR_T_DOUBLE) || emit(c, OP_LOG, 0, 0, 0) < 0; break;
        }
        break;
    }
    }
    if (rc)
        return -1;
    if (t == FR_T_LONG && want == FR_T_DOUBLE && emit(c, OP_I2D, 0, 0, 0) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* the entry points                                                    */

int fr_expr_compile_at(const char *text, size_t len, fr_expr_resolve_fn resolve, void *ctx,
                       fr_expr_t **out, fr_type_t *result_type, size_t *err_off, char *msg,
                       size_t msglen)
{
    cc_t c = {.text = text, .len = len, .resolve = resolve, .rctx = ctx};
    fr_expr_t *x = NULL;
    *out = NULL;
    if (len > FR_EXPR_MAX_TEXT) {
        fail(&c, 0, FR_ELIMIT, "expression is %zu bytes long; expected at most %d", len,
             FR_EXPR_MAX_TEXT);
        goto out;
    }
    c.pool = malloc(2 * len + 2);
    x = calloc(1, sizeof *x);
    if (!c.pool || !x) {
        oom(&c);
        goto out;
    }
    if (lex(&c))
        goto out;
    if (c.tok.kind == T_END) {
        fail(&c, c.tok.off, FR_EPARSE, "the expression is empty; expected a value");
        goto out;
    }
    int root = parse_or(&c);
    if (root < 0)
        goto out;
    if (c.tok.kind != T_END) {
        char b[96];
        fail(&c, c.tok.off, FR_EPARSE, "expected an operator or the end, got %s",
             tok_desc(&c, b, sizeof b));
        goto out;
    }
    if (c.nodes[root].type == FR_T_NULL) {
        fail(&c, c.nodes[root].off, FR_ETYPE,
             "the expression is always null; expected one that can have a value");
        goto out;
    }
    if (gen(&c, root, c.nodes[root].type) || emit(&c, OP_END, 0, 0, 0) < 0)
        goto out;
    FR_ASSERT(c.sp == 1);
    x->code = c.code;
    x->consts = c.consts;
    x->pool = c.pool;
    x->type = c.nodes[root].type;
    x->ninputs = c.ninputs;
    c.code = NULL;
    c.consts = NULL;
    c.pool = NULL;
    if (result_type)
        *result_type = x->type;
    *out = x;
    x = NULL;
out:
    free(c.nodes);
    free(c.names);
    free(c.code);
    free(c.consts);
    free(c.pool);
    fr_expr_free(x);
    if (c.rc) {
        if (err_off)
            *err_off = c.err_off > len ? len : c.err_off;
        if (msg && msglen)
            snprintf(msg, msglen, "%s", c.msg);
    } else if (msg && msglen) {
        msg[0] = 0;
    }
    return c.rc;
}

int fr_expr_compile(const char *text, size_t len, fr_expr_resolve_fn resolve, void *ctx,
                    fr_expr_t **out, fr_type_t *result_type, char *err, size_t errlen)
{
    char msg[256];
    size_t off = 0;
    int rc = fr_expr_compile_at(text, len, resolve, ctx, out, result_type, &off, msg, sizeof msg);
    if (rc && err && errlen) {
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
                col++;
            }
        }
        snprintf(err, errlen, "%d:%d: %s", line, col, msg);
    }
    return rc;
}
