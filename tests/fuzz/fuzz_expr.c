/*
 * fuzz_expr - expression text: compiles to a program or fails with one
 * line, never a crash or leak; a program evaluates, over inputs of the
 * declared types, of other types and all null, to null or a value of its
 * compiled type.  Names resolve by a hash of their text to a slot and a
 * type (or to "unknown"), so any text can reach every path.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "expr/expr.h"
#include "fuzz.h"

#define NSLOTS 16

typedef struct rctx {
    fr_type_t types[NSLOTS];
} rctx_t;

static int resolve(void *ctx, const char *name, size_t len, int *slot, fr_type_t *type)
{
    rctx_t *r = ctx;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 1099511628211ULL;
    if (name[len] != '\0' || strlen(name) != len)
        abort();
    static const fr_type_t types[] = {FR_T_NULL, FR_T_LONG, FR_T_DOUBLE, FR_T_STRING, FR_T_BOOL};
    fr_type_t t = types[h % 5];
    if (t == FR_T_NULL)
        return FR_ENOTFOUND;
    *slot = (int)(h / 5 % NSLOTS);
    *type = t;
    r->types[*slot] = t;
    return 0;
}

static fr_value_t value_of(fr_type_t t, unsigned k)
{
    static const int64_t longs[] = {0, -1, 7, INT64_MAX, INT64_MIN};
    static const double doubles[] = {0.0, -0.0, 2.5, 1e308, -1e-310};
    static const char *const strings[] = {"", "US", "\xc3\xa9", "a\"b", "zz"};
    fr_value_t v = {.type = t};
    switch (t) {
    case FR_T_LONG: v.u.i = longs[k % 5]; break;
    case FR_T_DOUBLE: v.u.d = doubles[k % 5]; break;
    case FR_T_STRING:
        v.u.s = strings[k % 5];
        v.len = (uint32_t)strlen(v.u.s);
        break;
    case FR_T_BOOL: v.u.b = k & 1; break;
    default: break;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rctx_t r;
    memset(&r, 0, sizeof r);
    fr_expr_t *x = (fr_expr_t *)1;
    fr_type_t t = FR_T_NULL;
    char err[512];
    memset(err, 'x', sizeof err);
    int rc = fr_expr_compile((const char *)data, size, resolve, &r, &x, &t, err, sizeof err);
    if (rc) {
        if (rc >= 0 || x || !memchr(err, '\0', sizeof err) || strchr(err, '\n') ||
            err[0] < '1' || err[0] > '9')
            abort();
        return 0;
    }
    if (!x || t == FR_T_NULL || fr_expr_type(x) != t || fr_expr_ninputs(x) > NSLOTS)
        abort();
    fr_value_t in[NSLOTS];
    /* all null; then values of the declared types; then of the wrong types
     * (a slot shared by two names of different types, or a caller's
     * mistake: read as null, or a long taken for a double) */
    for (unsigned round = 0; round < 12; round++) {
        for (unsigned s = 0; s < NSLOTS; s++) {
            fr_type_t ty = round == 0   ? FR_T_NULL
                           : round < 8  ? r.types[s]
                                        : (fr_type_t)((s + round) % 5);
            in[s] = value_of(ty, s + round);
        }
        fr_value_t out;
        memset(&out, 0, sizeof out);
        fr_expr_eval(x, in, &out);
        if (out.type != FR_T_NULL && out.type != t)
            abort();
        if (out.type == FR_T_DOUBLE && !isfinite(out.u.d))
            abort();
        if (out.type == FR_T_STRING && out.len && !out.u.s)
            abort();
        if (out.type == FR_T_STRING && out.len) /* readable: ASan checks the bytes */
            (void)memchr(out.u.s, 0x7f, out.len);
    }
    fr_expr_free(x);
    return 0;
}
