/*
 * Unit tests of src/expr: a table of expressions with values worked out by
 * hand (precedence, every function, every null rule, division by zero,
 * overflow, long/double mixing, strings), compile errors with their exact
 * line:column, limits, inputs of unexpected types, and a seeded random
 * oracle: typed random expressions are printed as text, compiled, and
 * evaluated over random inputs, each result compared with a tree-walking
 * evaluator written here independently (128-bit integers for long
 * overflow, long double for exact long/double comparison).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "expr/expr.h"

/* ------------------------------------------------------------------ */
/* inputs and the resolver                                             */

static const struct {
    const char *name;
    fr_type_t type;
} vars[] = {
    {"l", FR_T_LONG},       {"l2", FR_T_LONG},      {"d", FR_T_DOUBLE},
    {"d2", FR_T_DOUBLE},    {"s", FR_T_STRING},     {"s2", FR_T_STRING},
    {"b", FR_T_BOOL},       {"b2", FR_T_BOOL},      {"n_l", FR_T_LONG},
    {"n_d", FR_T_DOUBLE},   {"n_s", FR_T_STRING},   {"n_b", FR_T_BOOL},
    {"big", FR_T_LONG},     {"small", FR_T_LONG},   {"amount", FR_T_DOUBLE},
    {"country", FR_T_STRING},
    {"card_txn.amount_avg_1h", FR_T_DOUBLE},
    {"card_txn.last_country_24h", FR_T_STRING},
    {"odd-name.x y", FR_T_LONG},
};
#define NVARS (sizeof vars / sizeof vars[0])

static fr_value_t in[NVARS];
static int calls[NVARS];

static int resolve(void *ctx, const char *name, size_t len, int *slot, fr_type_t *type)
{
    (void)ctx;
    cr_assert_eq(strlen(name), len, "name is NUL-terminated at len");
    for (size_t i = 0; i < NVARS; i++)
        if (!strcmp(vars[i].name, name)) {
            calls[i]++;
            *slot = (int)i;
            *type = vars[i].type;
            return 0;
        }
    return FR_ENOTFOUND;
}

static fr_value_t L(int64_t i)
{
    return (fr_value_t){.type = FR_T_LONG, .u.i = i};
}
static fr_value_t D(double d)
{
    return (fr_value_t){.type = FR_T_DOUBLE, .u.d = d};
}
static fr_value_t B(bool b)
{
    return (fr_value_t){.type = FR_T_BOOL, .u.b = b};
}
static fr_value_t S(const char *s)
{
    return (fr_value_t){.type = FR_T_STRING, .u.s = s, .len = (uint32_t)strlen(s)};
}
static const fr_value_t NUL = {.type = FR_T_NULL};

static void set_inputs(void)
{
    memset(calls, 0, sizeof calls);
    in[0] = L(5);
    in[1] = L(-3);
    in[2] = D(2.5);
    in[3] = D(-0.5);
    in[4] = S("US");
    in[5] = S("FR");
    in[6] = B(true);
    in[7] = B(false);
    in[8] = NUL;
    in[9] = NUL;
    in[10] = NUL;
    in[11] = NUL;
    in[12] = L(INT64_MAX);
    in[13] = L(INT64_MIN);
    in[14] = D(120.0);
    in[15] = S("DE");
    in[16] = D(40.0);
    in[17] = S("FR");
    in[18] = L(7);
}

static char err[512];

static fr_expr_t *compile_ok(const char *text, fr_type_t want)
{
    fr_expr_t *x = NULL;
    fr_type_t t = FR_T_NULL;
    int rc = fr_expr_compile(text, strlen(text), resolve, NULL, &x, &t, err, sizeof err);
    cr_assert_eq(rc, 0, "'%s': rc %d: %s", text, rc, err);
    cr_assert_not_null(x);
    cr_assert_eq(t, want, "'%s': type %s, expected %s", text, fr_type_name(t),
                 fr_type_name(want));
    cr_assert_eq(fr_expr_type(x), want);
    return x;
}

static bool same(fr_value_t a, fr_value_t b)
{
    if (a.type != b.type)
        return false;
    switch (a.type) {
    case FR_T_NULL: return true;
    case FR_T_LONG: return a.u.i == b.u.i;
    case FR_T_DOUBLE: return a.u.d == b.u.d;
    case FR_T_BOOL: return a.u.b == b.u.b;
    default: return a.len == b.len && !memcmp(a.u.s, b.u.s, a.len);
    }
}

static const char *show(fr_value_t v, char *b, size_t n)
{
    switch (v.type) {
    case FR_T_NULL: snprintf(b, n, "null"); break;
    case FR_T_LONG: snprintf(b, n, "long %" PRId64, v.u.i); break;
    case FR_T_DOUBLE: snprintf(b, n, "double %.17g", v.u.d); break;
    case FR_T_BOOL: snprintf(b, n, "boolean %s", v.u.b ? "true" : "false"); break;
    default: snprintf(b, n, "string \"%.*s\"", (int)v.len, v.u.s); break;
    }
    return b;
}

/* Compiles text, checks its type is want's (or `type` when want is null)
 * and that it evaluates to want. */
static void expect_t(const char *text, fr_type_t type, fr_value_t want)
{
    set_inputs();
    fr_expr_t *x = compile_ok(text, want.type == FR_T_NULL ? type : want.type);
    fr_value_t got;
    memset(&got, 0xa5, sizeof got);
    fr_expr_eval(x, in, &got);
    char b1[128], b2[128];
    cr_assert(same(got, want), "'%s' gave %s, expected %s", text, show(got, b1, sizeof b1),
              show(want, b2, sizeof b2));
    fr_expr_free(x);
}

static void expect(const char *text, fr_value_t want)
{
    cr_assert_neq(want.type, FR_T_NULL, "use expect_t for a null");
    expect_t(text, want.type, want);
}

/* Compiling text fails with rc and err "pos: ..." containing phrase. */
static void expect_error(const char *text, int rc, const char *pos, const char *phrase)
{
    fr_expr_t *x = (fr_expr_t *)1;
    int got = fr_expr_compile(text, strlen(text), resolve, NULL, &x, NULL, err, sizeof err);
    cr_assert_eq(got, rc, "'%s': rc %d, expected %d (%s)", text, got, rc, err);
    cr_assert_null(x);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s: ", pos);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "'%s': expected '%s...', got '%s'", text,
                 prefix, err);
    cr_assert_not_null(strstr(err, phrase), "'%s': expected '%s' in '%s'", text, phrase, err);
    cr_assert_null(strchr(err, '\n'));
}

/* ------------------------------------------------------------------ */
/* hand-worked values                                                  */

Test(expr, precedence_and_associativity)
{
    expect("1 + 2 * 3", L(7));
    expect("(1 + 2) * 3", L(9));
    expect("10 - 4 - 3", L(3));
    expect("100 / 10 / 5", D(2));
    expect("7 % 4 * 2", L(6));
    expect("2 * 7 % 4", L(2));
    expect("-2 * 3", L(-6));
    expect("- 2 + 3", L(1));
    expect("-l2 * 2", L(6));
    expect("- -l", L(5));
    expect("1 + 2 == 3", B(true));
    expect("1 < 2 == true", B(true));
    expect("2 + 3 * 4 > 13", B(true));
    expect("true or false and false", B(true));
    expect("(true or false) and false", B(false));
    expect("not true or true", B(true));
    expect("not false and false", B(false));
    expect("not (1 > 2)", B(true));
    expect("1 < 2 and 3 < 4 or false", B(true));
    expect("l * 2 + l2 * 3 - 1", L(0));
    expect(" \t\n1\n+\r\n2 ", L(3));
}

Test(expr, literals)
{
    expect("42", L(42));
    expect("007", L(7));
    expect("9223372036854775807", L(INT64_MAX));
    expect("-9223372036854775808", L(INT64_MIN));
    expect("3.25", D(3.25));
    expect("1e3", D(1000));
    expect("1.5E-2", D(0.015));
    expect("2e+1", D(20));
    expect("-0.5", D(-0.5));
    expect("\"text\"", S("text"));
    expect("'text'", S("text"));
    expect("'it\\'s'", S("it's"));
    expect("\"a\\\"b\\\\c\\n\\t\\r\"", S("a\"b\\c\n\t\r"));
    expect("''", S(""));
    expect("'é'", S("é"));
    expect("true", B(true));
    expect("false", B(false));
    expect_t("coalesce(null, 1)", FR_T_LONG, L(1));
}

Test(expr, names)
{
    expect("l", L(5));
    expect("s", S("US"));
    expect("b2", B(false));
    expect("card_txn.amount_avg_1h", D(40));
    expect("amount / card_txn.amount_avg_1h", D(3));
    expect("country != card_txn.last_country_24h", B(true));
    expect("`odd-name`.`x y` + 1", L(8));
    expect("`l` + l", L(10));
    /* one call per distinct name */
    set_inputs();
    fr_expr_t *x = compile_ok("l + l * l - l2 + l2", FR_T_LONG);
    cr_assert_eq(calls[0], 1);
    cr_assert_eq(calls[1], 1);
    cr_assert_eq(fr_expr_ninputs(x), 2);
    fr_expr_free(x);
    x = compile_ok("1", FR_T_LONG);
    cr_assert_eq(fr_expr_ninputs(x), 0);
    fr_value_t v;
    fr_expr_eval(x, NULL, &v);
    cr_assert(same(v, L(1)));
    fr_expr_free(x);
    /* a string result points into the inputs */
    set_inputs();
    x = compile_ok("coalesce(n_s, s)", FR_T_STRING);
    fr_expr_eval(x, in, &v);
    cr_assert_eq(v.u.s, in[4].u.s);
    fr_expr_free(x);
}

Test(expr, functions)
{
    expect("if(true, 1, 2)", L(1));
    expect("if(false, 1, 2)", L(2));
    expect("if(b, 's', 't')", S("s"));
    expect("if(l > 3, l, 0)", L(5));
    expect("if(true, 1, 2.5)", D(1));
    expect("if(false, 1, 2.5)", D(2.5));
    expect("if(b2, true, false)", B(false));
    expect("min(3, 1, 2)", L(1));
    expect("max(3, 1, 2)", L(3));
    expect("min(7)", L(7));
    expect("max(-1, -5)", L(-1));
    expect("min(1, 2.5)", D(1));
    expect("max(1, 2.5, 2)", D(2.5));
    expect("max(l, d, l2)", D(5));
    expect("abs(-3)", L(3));
    expect("abs(3)", L(3));
    expect("abs(-2.5)", D(2.5));
    expect("abs(l2)", L(3));
    expect("log(1)", D(0));
    expect("log(1.0)", D(0));
    expect("log(8) / log(2)", D(log(8.0) / log(2.0)));
    expect("coalesce(1, 2)", L(1));
    expect("coalesce(n_l, 2)", L(2));
    expect("coalesce(n_l, n_l, 3)", L(3));
    expect("coalesce(null, 2.5, 1)", D(2.5));
    expect("coalesce(n_l, 1.5)", D(1.5));
    expect("coalesce(l, 1.5)", D(5));
    expect("coalesce(n_s, 'x')", S("x"));
    expect("coalesce(n_b, b)", B(true));
    expect("coalesce(if(n_b, 1, 2), 3)", L(3));
    expect("if (true,1,2)", L(1));
}

Test(expr, null_rules)
{
    expect_t("n_l + 1", FR_T_LONG, NUL);
    expect_t("1 - n_l", FR_T_LONG, NUL);
    expect_t("n_l * 2", FR_T_LONG, NUL);
    expect_t("n_l / 1", FR_T_DOUBLE, NUL);
    expect_t("n_l % 2", FR_T_LONG, NUL);
    expect_t("n_d + 1", FR_T_DOUBLE, NUL);
    expect_t("-n_l", FR_T_LONG, NUL);
    expect_t("-n_d", FR_T_DOUBLE, NUL);
    expect_t("null + 1", FR_T_LONG, NUL);
    expect_t("1.5 * null", FR_T_DOUBLE, NUL);
    expect_t("n_l == n_l", FR_T_BOOL, NUL);
    expect_t("n_l != 1", FR_T_BOOL, NUL);
    expect_t("n_d < 1", FR_T_BOOL, NUL);
    expect_t("n_s == 'a'", FR_T_BOOL, NUL);
    expect_t("n_s < s", FR_T_BOOL, NUL);
    expect_t("null == 1", FR_T_BOOL, NUL);
    expect_t("not n_b", FR_T_BOOL, NUL);
    expect_t("n_b and false", FR_T_BOOL, NUL);
    expect_t("false and n_b", FR_T_BOOL, NUL);
    expect_t("n_b or true", FR_T_BOOL, NUL);
    expect_t("true or n_b", FR_T_BOOL, NUL);
    expect_t("true or 1 / 0 > 0", FR_T_BOOL, NUL);
    expect_t("n_b == true", FR_T_BOOL, NUL);
    expect_t("min(1, n_l)", FR_T_LONG, NUL);
    expect_t("max(n_d, 1, 2)", FR_T_DOUBLE, NUL);
    expect_t("abs(n_l)", FR_T_LONG, NUL);
    expect_t("log(n_d)", FR_T_DOUBLE, NUL);
    expect("coalesce(log(null), 1.5)", D(1.5));
    expect_t("coalesce(n_l, null)", FR_T_LONG, NUL);
    expect_t("coalesce(n_s, n_s)", FR_T_STRING, NUL);
    /* if: null only through its condition or the branch it takes */
    expect_t("if(n_b, 1, 2)", FR_T_LONG, NUL);
    expect_t("if(null, 1, 2)", FR_T_LONG, NUL);
    expect("if(true, 1, null)", L(1));
    expect_t("if(false, 1, null)", FR_T_LONG, NUL);
    expect("if(false, n_l, 2)", L(2));
    expect_t("if(true, n_l, 2)", FR_T_LONG, NUL);
    expect("coalesce(if(b, null, 2), 4)", L(4));
    expect("coalesce(-n_l, 7)", L(7));
}

Test(expr, division_by_zero)
{
    expect_t("1 / 0", FR_T_DOUBLE, NUL);
    expect_t("1.0 / 0", FR_T_DOUBLE, NUL);
    expect_t("1 / 0.0", FR_T_DOUBLE, NUL);
    expect_t("1 / -0.0", FR_T_DOUBLE, NUL);
    expect_t("0 / 0", FR_T_DOUBLE, NUL);
    expect_t("5 % 0", FR_T_LONG, NUL);
    expect_t("5.5 % 0", FR_T_DOUBLE, NUL);
    expect_t("5 % 0.0", FR_T_DOUBLE, NUL);
    expect_t("l / (l2 + 3)", FR_T_DOUBLE, NUL);
    expect_t("log(0)", FR_T_DOUBLE, NUL);
    expect_t("log(-1)", FR_T_DOUBLE, NUL);
    expect_t("log(-0.0)", FR_T_DOUBLE, NUL);
    expect("7 / 2", D(3.5));
    expect("-7 / 2", D(-3.5));
    expect("6 / 3", D(2));
    expect("-7 % 3", L(-1));
    expect("7 % -3", L(1));
    expect("7.5 % 2", D(1.5));
    expect("-7.5 % 2", D(-1.5));
    expect("0 / 5", D(0));
}

Test(expr, overflow)
{
    expect_t("9223372036854775807 + 1", FR_T_LONG, NUL);
    expect_t("big + 1", FR_T_LONG, NUL);
    expect_t("small - 1", FR_T_LONG, NUL);
    expect_t("-9223372036854775808 - 1", FR_T_LONG, NUL);
    expect_t("4611686018427387904 * 2", FR_T_LONG, NUL);
    expect_t("small * -1", FR_T_LONG, NUL);
    expect_t("-small", FR_T_LONG, NUL);
    expect_t("-(-9223372036854775808)", FR_T_LONG, NUL);
    expect_t("abs(small)", FR_T_LONG, NUL);
    expect("small % -1", L(0));
    expect("small / -1", D(9223372036854775808.0));
    expect("big - 1", L(INT64_MAX - 1));
    expect("4611686018427387903 * 2", L(INT64_MAX - 1));
    expect("abs(small + 1)", L(INT64_MAX));
    expect("small + big", L(-1));
    expect("min(small, big)", L(INT64_MIN));
    /* a double operand computes in doubles; a result that is not finite is null */
    expect("big + 1.0", D(9223372036854775808.0));
    expect("1.0 * big * 2", D(18446744073709551616.0));
    expect_t("1e308 * 10", FR_T_DOUBLE, NUL);
    expect_t("-1e308 - 1e308", FR_T_DOUBLE, NUL);
    expect_t("1e308 / 1e-308", FR_T_DOUBLE, NUL);
    expect("1e-320 / 1e10", D(1e-320 / 1e10));
}

Test(expr, long_double_mixing)
{
    expect("1 + 2.5", D(3.5));
    expect("2.5 + 1", D(3.5));
    expect("l - d", D(2.5));
    expect("l * d", D(12.5));
    expect("2 * 3", L(6));
    expect("l % 2", L(1));
    expect("l % 2.0", D(1));
    expect("3 == 3.0", B(true));
    expect("3.0 == 3", B(true));
    expect("1 < 1.5", B(true));
    expect("1.5 > 1", B(true));
    expect("2 <= 1.5", B(false));
    expect("-1 >= -1.5", B(true));
    expect("l != d", B(true));
    /* exact: 2^53 + 1 is no double */
    expect("9007199254740993 == 9007199254740992.0", B(false));
    expect("9007199254740993 > 9007199254740992.0", B(true));
    expect("9007199254740992.0 < 9007199254740993", B(true));
    expect("9007199254740992 == 9007199254740992.0", B(true));
    expect("big < 9223372036854775808.0", B(true));
    expect("big == 9223372036854775808.0", B(false));
    expect("9223372036854775808.0 > big", B(true));
    expect("small == -9223372036854775808.0", B(true));
    expect("small > -9223372036854777856.0", B(true));
    expect("small < -9223372036854775808.0", B(false));
    expect("-3 < -2.5", B(true));
    expect("-3 > -3.5", B(true));
    expect("-2 == -2.0", B(true));
    expect("-2 < -1.9999999999", B(true));
    expect("1e300 > big", B(true));
    expect("-1e300 < small", B(true));
}

Test(expr, strings_and_booleans)
{
    expect("'a' == 'a'", B(true));
    expect("'a' != \"b\"", B(true));
    expect("'a' < 'b'", B(true));
    expect("'a' < 'ab'", B(true));
    expect("'' < 'a'", B(true));
    expect("'b' > 'ab'", B(true));
    expect("'ab' >= 'ab'", B(true));
    expect("'ab' <= 'aa'", B(false));
    expect("'é' > 'z'", B(true)); /* bytes: 0xc3 > 0x7a */
    expect("'US' == s", B(true));
    expect("s != s2", B(true));
    expect("s > s2", B(true));
    expect("'it\\'s' == \"it's\"", B(true));
    expect("true == true", B(true));
    expect("true != false", B(true));
    expect("b == b2", B(false));
    expect("b != b2", B(true));
    expect("(1 < 2) == (3 < 4)", B(true));
    expect("if(s == 'US', 'home', 'abroad')", S("home"));
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

Test(expr, type_errors_with_columns)
{
    expect_error("amount + country", FR_ETYPE, "1:10", "'+' needs numbers, got string");
    expect_error("country + 1", FR_ETYPE, "1:1", "'+' needs numbers, got string");
    expect_error("1 + true", FR_ETYPE, "1:5", "'+' needs numbers, got boolean");
    expect_error("1 / 's'", FR_ETYPE, "1:5", "'/' needs numbers, got string");
    expect_error("l % b", FR_ETYPE, "1:5", "'%' needs numbers, got boolean");
    expect_error("l and b", FR_ETYPE, "1:1", "'and' needs booleans, got long");
    expect_error("b or 1.5", FR_ETYPE, "1:6", "'or' needs booleans, got double");
    expect_error("not s", FR_ETYPE, "1:5", "'not' needs a boolean, got string");
    expect_error("-s", FR_ETYPE, "1:2", "'-' needs a number, got string");
    expect_error("- b", FR_ETYPE, "1:3", "'-' needs a number, got boolean");
    expect_error("s == 1", FR_ETYPE, "1:6", "'==' cannot compare string with long");
    expect_error("b != 1.5", FR_ETYPE, "1:6", "'!=' cannot compare boolean with double");
    expect_error("b < true", FR_ETYPE, "1:1", "'<' needs numbers or strings, got boolean");
    expect_error("1 >= b", FR_ETYPE, "1:6", "'>=' needs numbers or strings, got boolean");
    expect_error("s < 1", FR_ETYPE, "1:5", "'<' cannot compare string with long");
    expect_error("if(l, 1, 2)", FR_ETYPE, "1:4", "if needs a boolean condition, got long");
    expect_error("if(b, 1, 'x')", FR_ETYPE, "1:10", "if branches are long and string");
    expect_error("coalesce(1, 's')", FR_ETYPE, "1:13", "coalesce arguments are long and string");
    expect_error("coalesce(null, b, 2)", FR_ETYPE, "1:19",
                 "coalesce arguments are boolean and long");
    expect_error("min(1, s)", FR_ETYPE, "1:8", "min needs numbers, got string");
    expect_error("max(b)", FR_ETYPE, "1:5", "max needs numbers, got boolean");
    expect_error("abs('x')", FR_ETYPE, "1:5", "abs needs numbers, got string");
    expect_error("log(b)", FR_ETYPE, "1:5", "log needs numbers, got boolean");
    /* operands: a parenthesised one points at its '(', a call at its name */
    expect_error("(l + 1) + (s)", FR_ETYPE, "1:11", "'+' needs numbers, got string");
    expect_error("l * if(b, 's', 't')", FR_ETYPE, "1:5", "'*' needs numbers, got string");
    expect_error("1 + (l + s)", FR_ETYPE, "1:10", "'+' needs numbers, got string");
    /* lines, and columns in characters */
    expect_error("l +\n  s", FR_ETYPE, "2:3", "'+' needs numbers, got string");
    expect_error("'é' == 1 + s", FR_ETYPE, "1:12", "'+' needs numbers, got string");
    expect_error("null", FR_ETYPE, "1:1", "always null");
    expect_error("null + null", FR_ETYPE, "1:1", "always null");
    expect_error("coalesce(null, null)", FR_ETYPE, "1:1", "always null");
    expect_error("if(b, null, null)", FR_ETYPE, "1:1", "always null");
}

Test(expr, syntax_errors_with_columns)
{
    expect_error("", FR_EPARSE, "1:1", "the expression is empty");
    expect_error("   ", FR_EPARSE, "1:4", "the expression is empty");
    expect_error("1 +", FR_EPARSE, "1:4", "expected a value, got the end");
    expect_error("(1 + 2", FR_EPARSE, "1:7", "expected ')', got the end");
    expect_error("1 2", FR_EPARSE, "1:3", "expected an operator or the end, got a number");
    expect_error("l s", FR_EPARSE, "1:3", "expected an operator or the end, got 's'");
    expect_error("1 + )", FR_EPARSE, "1:5", "expected a value, got ')'");
    expect_error("l = 1", FR_EPARSE, "1:3", "'=' is not an operator; expected '=='");
    expect_error("b && b2", FR_EPARSE, "1:3", "expected 'and'");
    expect_error("b || b2", FR_EPARSE, "1:3", "expected 'or'");
    expect_error("!b", FR_EPARSE, "1:1", "expected '!=' or 'not'");
    expect_error("1 # 2", FR_EPARSE, "1:3", "unexpected character '#'");
    expect_error("1 + é", FR_EPARSE, "1:5", "unexpected character 'é'");
    expect_error("1 + \x01", FR_EPARSE, "1:5", "unexpected byte 0x01");
    expect_error("1 + \xe9", FR_EPARSE, "1:5", "unexpected byte 0xe9");
    expect_error("\"abc", FR_EPARSE, "1:1", "string never closed");
    expect_error("'abc\\", FR_EPARSE, "1:1", "string never closed");
    expect_error("'a\\q'", FR_EPARSE, "1:3", "unknown escape");
    expect_error("'a\tb'", FR_EPARSE, "1:3", "control character 0x09");
    expect_error("'a\xff'", FR_EPARSE, "1:3", "byte 0xff in a string is not UTF-8");
    expect_error("1.5.2", FR_EPARSE, "1:1", "malformed number");
    expect_error("12abc", FR_EPARSE, "1:1", "malformed number");
    expect_error("1.", FR_EPARSE, "1:3", "expected digits after the decimal point");
    expect_error("1e", FR_EPARSE, "1:2", "expected digits in the exponent");
    expect_error("99999999999999999999", FR_EPARSE, "1:1", "integer out of range");
    expect_error("9223372036854775808", FR_EPARSE, "1:1", "integer out of range");
    expect_error("1e999", FR_EPARSE, "1:1", "number out of range");
    expect_error("card_txn.", FR_EPARSE, "1:10", "expected a name after '.'");
    expect_error("`abc", FR_EPARSE, "1:1", "quoted name never closed");
    expect_error("``", FR_EPARSE, "1:1", "empty quoted name");
    expect_error("min(1, 2", FR_EPARSE, "1:9", "expected ',' or ')' in the call of min");
    expect_error("card_txn.f(1)", FR_EPARSE, "1:1", "'card_txn.f' is not a function");
    expect_error("`if`(1)", FR_EPARSE, "1:1", "'if' is not a function");
    expect_error("foo(1)", FR_EPARSE, "1:1", "unknown function 'foo'");
    expect_error("abs(1, 2)", FR_EPARSE, "1:1", "abs takes 1 argument, got 2");
    expect_error("if(b, 1)", FR_EPARSE, "1:1", "if takes 3 arguments, got 2");
    expect_error("min()", FR_EPARSE, "1:1", "min takes at least 1 argument, got 0");
    expect_error("coalesce()", FR_EPARSE, "1:1", "coalesce takes at least 1 argument, got 0");
    expect_error("l +\n\n   * 2", FR_EPARSE, "3:4", "expected a value, got '*'");
}

Test(expr, unknown_names_and_resolver_errors)
{
    expect_error("nope + 1", FR_ENOTFOUND, "1:1", "unknown name 'nope'");
    expect_error("l + card_txn.amount_avg_2h", FR_ENOTFOUND, "1:5",
                 "unknown name 'card_txn.amount_avg_2h'");
    expect_error("`a b`.c", FR_ENOTFOUND, "1:1", "unknown name 'a b.c'");
    /* without a resolver every name is unknown */
    fr_expr_t *x = (fr_expr_t *)1;
    int rc = fr_expr_compile("1 + x", 5, NULL, NULL, &x, NULL, err, sizeof err);
    cr_assert_eq(rc, FR_ENOTFOUND);
    cr_assert_null(x);
    /* compile_at: the offset and the bare message */
    size_t off = 99;
    char msg[128];
    rc = fr_expr_compile_at("'é' == 1 + s", strlen("'é' == 1 + s"), resolve, NULL, &x, NULL,
                            &off, msg, sizeof msg);
    cr_assert_eq(rc, FR_ETYPE);
    cr_assert_eq(off, 12); /* bytes: é is two */
    cr_assert_str_eq(msg, "'+' needs numbers, got string");
    /* the text need not be NUL-terminated: only len bytes are read */
    char buf[3] = {'1', '+', '2'};
    rc = fr_expr_compile(buf, 3, resolve, NULL, &x, NULL, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    fr_value_t v;
    fr_expr_eval(x, in, &v);
    cr_assert(same(v, L(3)));
    fr_expr_free(x);
}

static int refuse(void *ctx, const char *name, size_t len, int *slot, fr_type_t *type)
{
    (void)name;
    (void)len;
    (void)slot;
    (void)type;
    return *(int *)ctx;
}

static int bad_slot(void *ctx, const char *name, size_t len, int *slot, fr_type_t *type)
{
    (void)ctx;
    (void)name;
    (void)len;
    *slot = -1;
    *type = FR_T_LONG;
    return 0;
}

Test(expr, resolver_codes_pass_through)
{
    fr_expr_t *x = (fr_expr_t *)1;
    int code = FR_ETYPE;
    int rc = fr_expr_compile("2 * ab", 6, refuse, &code, &x, NULL, err, sizeof err);
    cr_assert_eq(rc, FR_ETYPE);
    cr_assert_null(x);
    cr_assert_eq(strncmp(err, "1:5: name 'ab'", 14), 0, "%s", err);
    rc = fr_expr_compile("2 * ab", 6, bad_slot, NULL, &x, NULL, err, sizeof err);
    cr_assert_eq(rc, FR_EINVAL);
    cr_assert_null(x);
}

/* ------------------------------------------------------------------ */
/* limits                                                              */

static char *repeat(const char *pre, int n, const char *mid, const char *post, int m)
{
    size_t len = strlen(pre) * (size_t)n + strlen(mid) + strlen(post) * (size_t)m + 1;
    char *s = malloc(len);
    cr_assert_not_null(s);
    s[0] = 0;
    for (int i = 0; i < n; i++)
        strcat(s, pre);
    strcat(s, mid);
    for (int i = 0; i < m; i++)
        strcat(s, post);
    return s;
}

Test(expr, limits)
{
    /* nesting: 63 parentheses fit, 64 do not */
    char *t = repeat("(", FR_EXPR_MAX_DEPTH - 1, "l", ")", FR_EXPR_MAX_DEPTH - 1);
    expect(t, L(5));
    free(t);
    t = repeat("(", FR_EXPR_MAX_DEPTH, "l", ")", FR_EXPR_MAX_DEPTH);
    expect_error(t, FR_ELIMIT, "1:65", "nests deeper than 64");
    free(t);
    t = repeat("-", 100, "l", "", 0);
    expect_error(t, FR_ELIMIT, "1:65", "nests deeper than 64");
    free(t);
    /* values held at once: 1 + 0 * (... (1 + 0 * 1) ...) holds two per
     * level and three innermost; 62 levels fit in 128, 63 need 129 */
    t = repeat("1 + 0 * (", 62, "1 + 0 * 1", ")", 62);
    expect(t, L(1));
    free(t);
    t = repeat("1 + 0 * (", 63, "1 + 0 * 1", ")", 63);
    expect_error(t, FR_ELIMIT, "1:576", "more than 128 values at once"); /* the last 1 */
    free(t);
    /* the tree's height: 511 additions fit, 512 do not */
    t = repeat("1+", 511, "1", "", 0);
    expect(t, L(512));
    free(t);
    t = repeat("1+", 512, "1", "", 0);
    expect_error(t, FR_ELIMIT, "1:1", "more than 512 levels");
    free(t);
    /* many arguments are folded pairwise: no deeper stack */
    t = repeat("min(1", 1, "", ", 2", 2000);
    char *u = malloc(strlen(t) + 2);
    snprintf(u, strlen(t) + 2, "%s)", t);
    expect(u, L(1));
    free(u);
    free(t);
    /* the text's length */
    t = repeat(" ", FR_EXPR_MAX_TEXT, "1", "", 0);
    expect_error(t, FR_ELIMIT, "1:1", "expected at most 16384");
    free(t);
    t = repeat(" ", FR_EXPR_MAX_TEXT - 1, "1", "", 0);
    expect(t, L(1));
    free(t);
}

Test(expr, inputs_of_unexpected_types)
{
    fr_expr_t *x = compile_ok("d * 2", FR_T_DOUBLE);
    fr_value_t v, inp[NVARS];
    memset(inp, 0, sizeof inp);
    inp[2] = L(3); /* a long for a double: the number */
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, D(6)));
    inp[2] = S("3"); /* anything else reads as null */
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, NUL));
    inp[2] = D(NAN);
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, NUL));
    inp[2] = D(INFINITY);
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, NUL));
    fr_expr_free(x);
    x = compile_ok("l + 1", FR_T_LONG);
    inp[0] = D(2.0); /* a double for a long is not taken */
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, NUL));
    inp[0] = B(true);
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, NUL));
    fr_expr_free(x);
    x = compile_ok("s == 'a'", FR_T_BOOL);
    inp[4] = (fr_value_t){.type = FR_T_STRING, .u.s = NULL, .len = 0}; /* empty, no bytes */
    fr_expr_eval(x, inp, &v);
    cr_assert(same(v, B(false)));
    fr_expr_free(x);
}

/* ------------------------------------------------------------------ */
/* random oracle                                                       */

/* The reference: values, a tree, and an evaluator that follows the rules
 * of expr.h without sharing code with src/expr. */
typedef struct rv {
    char t; /* 0 null, 'L', 'D', 'B', 'S' */
    int64_t i;
    double d;
    bool b;
    const char *s;
} rv_t;

enum { K_LIT, K_VAR, K_NEG, K_NOT, K_BIN, K_IF, K_MIN, K_MAX, K_ABS, K_LOG, K_COAL };

#define MAXK 4
typedef struct rnode {
    int k;
    const char *op; /* K_BIN: "+", "==", "and", ... */
    char st;        /* static type: 0 (always null), 'L', 'D', 'B', 'S' */
    rv_t lit;
    int var;
    int kid[MAXK], nk;
} rnode_t;

#define MAXNODES 4096
static rnode_t rn[MAXNODES];
static int nrn;

static const struct {
    const char *name;
    char t;
} rvars[] = {{"rl0", 'L'}, {"rl1", 'L'}, {"rl2", 'L'}, {"rd0", 'D'}, {"rd1", 'D'},
             {"rd2", 'D'}, {"rs0", 'S'}, {"rs1", 'S'}, {"rb0", 'B'}, {"rb1", 'B'}};
#define NRVARS (int)(sizeof rvars / sizeof rvars[0])
static rv_t rin[NRVARS];

static int rresolve(void *ctx, const char *name, size_t len, int *slot, fr_type_t *type)
{
    (void)ctx;
    (void)len;
    for (int i = 0; i < NRVARS; i++)
        if (!strcmp(rvars[i].name, name)) {
            *slot = i;
            *type = rvars[i].t == 'L'   ? FR_T_LONG
                    : rvars[i].t == 'D' ? FR_T_DOUBLE
                    : rvars[i].t == 'S' ? FR_T_STRING
                                        : FR_T_BOOL;
            return 0;
        }
    return FR_ENOTFOUND;
}

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static int pick(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static const int64_t some_longs[] = {0,          1,         -1,       2,         3,
                                     7,          -7,        100,      INT64_MAX, INT64_MIN,
                                     9007199254740993LL,    1LL << 62, -(1LL << 62), 4096};
static const double some_doubles[] = {0.0,  -0.0,   0.5,   -2.5,    3.0,
                                      1e300, -1e300, 1e-300, 9223372036854775808.0,
                                      -9223372036854775808.0, 9007199254740992.0, 1e18, 7.25};
static const char *const some_strings[] = {"", "a", "ab", "b", "US", "FR", "é", "it's", "a\\b"};

static rv_t rand_value(char t)
{
    rv_t v = {.t = t};
    switch (t) {
    case 'L':
        v.i = pick(4) ? some_longs[pick(sizeof some_longs / sizeof some_longs[0])]
                      : (int64_t)(rnd() % 2001) - 1000;
        break;
    case 'D':
        v.d = pick(4) ? some_doubles[pick(sizeof some_doubles / sizeof some_doubles[0])]
                      : (double)((int64_t)(rnd() % 20001) - 10000) / 8.0;
        break;
    case 'B': v.b = pick(2); break;
    default: v.s = some_strings[pick(sizeof some_strings / sizeof some_strings[0])];
    }
    return v;
}

/* The static type of node n from its kids' (the rules of expr.h). */
static char static_type(const rnode_t *n)
{
    char t = 0; /* the kids' common type: numbers mix into 'D' */
    for (int i = n->k == K_IF ? 1 : 0; i < n->nk; i++) {
        char kt = rn[n->kid[i]].st;
        if (kt && !t)
            t = kt;
        else if (kt && kt != t)
            t = 'D';
    }
    if (!t)
        return 0; /* every operand (branch) is always null */
    switch (n->k) {
    case K_BIN:
        if (!strcmp(n->op, "/"))
            return 'D';
        if (strchr("+-*%", n->op[0]) && n->op[1] == 0)
            return t; /* 'D' if any double, else 'L' */
        return 'B';   /* comparisons, and, or */
    case K_LOG: return 'D';
    default: return t;
    }
}

static int new_rn(int k)
{
    cr_assert_lt(nrn, MAXNODES);
    memset(&rn[nrn], 0, sizeof rn[nrn]);
    rn[nrn].k = k;
    return nrn++;
}

static int gen(char want, int depth);

static int gen_leaf(char want)
{
    int n;
    if (pick(20) == 0) {
        n = new_rn(K_LIT);
        rn[n].lit.t = 0;
    } else if (pick(2)) {
        n = new_rn(K_LIT);
        rn[n].lit = rand_value(want);
    } else {
        int cand[NRVARS], nc = 0;
        for (int i = 0; i < NRVARS; i++)
            if (rvars[i].t == want)
                cand[nc++] = i;
        n = new_rn(K_VAR);
        rn[n].var = cand[pick(nc)];
    }
    rn[n].st = rn[n].k == K_VAR ? want : rn[n].lit.t;
    return n;
}

static int node_with(int k, const char *op, int nk, const int *kids)
{
    int n = new_rn(k);
    rn[n].op = op;
    rn[n].nk = nk;
    for (int i = 0; i < nk; i++)
        rn[n].kid[i] = kids[i];
    rn[n].st = static_type(&rn[n]);
    return n;
}

static char num_type(void)
{
    return pick(2) ? 'L' : 'D';
}

static int gen(char want, int depth)
{
    if (depth <= 0 || pick(4) == 0)
        return gen_leaf(want);
    int d = depth - 1, kids[MAXK];
    static const char *const arith[] = {"+", "-", "*", "%"};
    static const char *const cmps[] = {"==", "!=", "<", "<=", ">", ">="};
    switch (want) {
    case 'L':
        switch (pick(6)) {
        case 0:
            kids[0] = gen('L', d);
            kids[1] = gen('L', d);
            return node_with(K_BIN, arith[pick(4)], 2, kids);
        case 1:
            kids[0] = gen('L', d);
            return node_with(pick(2) ? K_NEG : K_ABS, "", 1, kids);
        case 2: {
            int nk = 1 + pick(3);
            for (int i = 0; i < nk; i++)
                kids[i] = gen('L', d);
            return node_with(pick(2) ? K_MIN : K_MAX, "", nk, kids);
        }
        case 3:
            kids[0] = gen('B', d);
            kids[1] = gen('L', d);
            kids[2] = gen('L', d);
            return node_with(K_IF, "", 3, kids);
        default: {
            int nk = 1 + pick(3);
            for (int i = 0; i < nk; i++)
                kids[i] = gen('L', d);
            return node_with(K_COAL, "", nk, kids);
        }
        }
    case 'D':
        switch (pick(7)) {
        case 0: {
            int which = pick(3);
            kids[0] = gen(which == 1 ? 'L' : 'D', d);
            kids[1] = gen(which == 2 ? 'L' : 'D', d);
            return node_with(K_BIN, arith[pick(4)], 2, kids);
        }
        case 1:
            kids[0] = gen(num_type(), d);
            kids[1] = gen(num_type(), d);
            return node_with(K_BIN, "/", 2, kids);
        case 2:
            kids[0] = gen('D', d);
            return node_with(pick(2) ? K_NEG : K_ABS, "", 1, kids);
        case 3:
            kids[0] = gen(num_type(), d);
            return node_with(K_LOG, "", 1, kids);
        case 4: {
            int nk = 1 + pick(3);
            kids[0] = gen('D', d);
            for (int i = 1; i < nk; i++)
                kids[i] = gen(num_type(), d);
            return node_with(pick(2) ? K_MIN : K_MAX, "", nk, kids);
        }
        case 5:
            kids[0] = gen('B', d);
            kids[1] = gen(num_type(), d);
            kids[2] = gen('D', d);
            return node_with(K_IF, "", 3, kids);
        default: {
            int nk = 1 + pick(3);
            for (int i = 0; i < nk; i++)
                kids[i] = gen(i == 0 ? 'D' : num_type(), d);
            return node_with(K_COAL, "", nk, kids);
        }
        }
    case 'B':
        switch (pick(7)) {
        case 0:
            kids[0] = gen(num_type(), d);
            kids[1] = gen(num_type(), d);
            return node_with(K_BIN, cmps[pick(6)], 2, kids);
        case 1:
            kids[0] = gen('S', d);
            kids[1] = gen('S', d);
            return node_with(K_BIN, cmps[pick(6)], 2, kids);
        case 2:
            kids[0] = gen('B', d);
            kids[1] = gen('B', d);
            return node_with(K_BIN, cmps[pick(2)], 2, kids);
        case 3:
            kids[0] = gen('B', d);
            kids[1] = gen('B', d);
            return node_with(K_BIN, pick(2) ? "and" : "or", 2, kids);
        case 4:
            kids[0] = gen('B', d);
            return node_with(K_NOT, "", 1, kids);
        case 5:
            kids[0] = gen('B', d);
            kids[1] = gen('B', d);
            kids[2] = gen('B', d);
            return node_with(K_IF, "", 3, kids);
        default:
            kids[0] = gen('B', d);
            kids[1] = gen('B', d);
            return node_with(K_COAL, "", 2, kids);
        }
    default:
        if (pick(2)) {
            kids[0] = gen('B', d);
            kids[1] = gen('S', d);
            kids[2] = gen('S', d);
            return node_with(K_IF, "", 3, kids);
        }
        kids[0] = gen('S', d);
        kids[1] = gen('S', d);
        return node_with(K_COAL, "", 2, kids);
    }
}

static void put(char **p, char *end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(*p, (size_t)(end - *p), fmt, ap);
    va_end(ap);
    cr_assert(w >= 0 && w < end - *p, "expression text too long");
    *p += w;
}

/* Prints node n, every operation in parentheses. */
static void print(int n, char **p, char *end)
{
    const rnode_t *r = &rn[n];
    static const char *const fname[] = {[K_MIN] = "min", [K_MAX] = "max", [K_ABS] = "abs",
                                        [K_LOG] = "log", [K_IF] = "if",   [K_COAL] = "coalesce"};
    switch (r->k) {
    case K_LIT:
        switch (r->lit.t) {
        case 0: put(p, end, "null"); break;
        case 'L': put(p, end, r->lit.i < 0 ? "(%" PRId64 ")" : "%" PRId64, r->lit.i); break;
        case 'D': {
            char b[64];
            snprintf(b, sizeof b, "%.17g", fabs(r->lit.d));
            if (!strpbrk(b, ".e"))
                strcat(b, ".0");
            put(p, end, signbit(r->lit.d) ? "(-%s)" : "%s", b);
            break;
        }
        case 'B': put(p, end, r->lit.b ? "true" : "false"); break;
        default:
            put(p, end, "'");
            for (const char *s = r->lit.s; *s; s++)
                put(p, end, *s == '\'' || *s == '\\' ? "\\%c" : "%c", *s);
            put(p, end, "'");
        }
        break;
    case K_VAR: put(p, end, "%s", rvars[r->var].name); break;
    case K_NEG:
    case K_NOT:
        put(p, end, r->k == K_NEG ? "(-" : "(not ");
        print(r->kid[0], p, end);
        put(p, end, ")");
        break;
    case K_BIN:
        put(p, end, "(");
        print(r->kid[0], p, end);
        put(p, end, " %s ", r->op);
        print(r->kid[1], p, end);
        put(p, end, ")");
        break;
    default:
        put(p, end, "%s(", fname[r->k]);
        for (int i = 0; i < r->nk; i++) {
            if (i)
                put(p, end, ", ");
            print(r->kid[i], p, end);
        }
        put(p, end, ")");
    }
}

static rv_t rnull(void)
{
    return (rv_t){.t = 0};
}

static rv_t rlong128(__int128 v)
{
    if (v > INT64_MAX || v < INT64_MIN)
        return rnull();
    return (rv_t){.t = 'L', .i = (int64_t)v};
}

static rv_t rdouble(double d)
{
    return isfinite(d) ? (rv_t){.t = 'D', .d = d} : rnull();
}

static rv_t as_double(rv_t v)
{
    return v.t == 'L' ? (rv_t){.t = 'D', .d = (double)v.i} : v;
}

static long double ld(rv_t v)
{
    return v.t == 'L' ? (long double)v.i : (long double)v.d;
}

static rv_t ev(int n)
{
    const rnode_t *r = &rn[n];
    rv_t k[MAXK];
    switch (r->k) {
    case K_LIT: return r->lit;
    case K_VAR: return rin[r->var];
    case K_IF: {
        rv_t c = ev(r->kid[0]);
        if (!c.t)
            return rnull();
        rv_t v = ev(r->kid[c.b ? 1 : 2]);
        return r->st == 'D' ? as_double(v) : v;
    }
    case K_COAL:
        for (int i = 0; i < r->nk; i++) {
            rv_t v = ev(r->kid[i]);
            if (v.t)
                return r->st == 'D' ? as_double(v) : v;
        }
        return rnull();
    default: break;
    }
    for (int i = 0; i < r->nk; i++) {
        k[i] = ev(r->kid[i]);
        if (!k[i].t)
            return rnull();
    }
    switch (r->k) {
    case K_NOT: return (rv_t){.t = 'B', .b = !k[0].b};
    case K_NEG: return k[0].t == 'L' ? rlong128(-(__int128)k[0].i) : rdouble(-k[0].d);
    case K_ABS:
        return k[0].t == 'L' ? rlong128(k[0].i < 0 ? -(__int128)k[0].i : k[0].i)
                             : rdouble(fabs(k[0].d));
    case K_LOG: {
        double x = as_double(k[0]).d;
        return x > 0 ? rdouble(log(x)) : rnull();
    }
    case K_MIN:
    case K_MAX: {
        bool dbl = false;
        for (int i = 0; i < r->nk; i++)
            dbl |= k[i].t == 'D';
        rv_t best = dbl ? as_double(k[0]) : k[0];
        for (int i = 1; i < r->nk; i++) {
            rv_t v = dbl ? as_double(k[i]) : k[i];
            bool less = dbl ? v.d < best.d : v.i < best.i;
            bool more = dbl ? v.d > best.d : v.i > best.i;
            if ((r->k == K_MIN && less) || (r->k == K_MAX && more))
                best = v;
        }
        return best;
    }
    default: break;
    }
    /* binary */
    rv_t a = k[0], b = k[1];
    const char *op = r->op;
    if (!strcmp(op, "and") || !strcmp(op, "or"))
        return (rv_t){.t = 'B', .b = op[0] == 'a' ? (a.b && b.b) : (a.b || b.b)};
    int c = 2; /* comparison result */
    if (a.t == 'S')
        c = strcmp(a.s, b.s) < 0 ? -1 : strcmp(a.s, b.s) > 0;
    else if (a.t == 'B')
        c = a.b != b.b;
    else if (strchr("=!<>", op[0]))
        c = ld(a) < ld(b) ? -1 : ld(a) > ld(b);
    if (c != 2) {
        bool res = !strcmp(op, "==")   ? c == 0
                   : !strcmp(op, "!=") ? c != 0
                   : !strcmp(op, "<")  ? c < 0
                   : !strcmp(op, "<=") ? c <= 0
                   : !strcmp(op, ">")  ? c > 0
                                       : c >= 0;
        return (rv_t){.t = 'B', .b = res};
    }
    if (op[0] == '/') {
        double y = as_double(b).d;
        return y == 0 ? rnull() : rdouble(as_double(a).d / y);
    }
    if (a.t == 'L' && b.t == 'L') {
        __int128 x = a.i, y = b.i;
        switch (op[0]) {
        case '+': return rlong128(x + y);
        case '-': return rlong128(x - y);
        case '*': return rlong128(x * y);
        default: return y == 0 ? rnull() : rlong128(x % y);
        }
    }
    double x = as_double(a).d, y = as_double(b).d;
    switch (op[0]) {
    case '+': return rdouble(x + y);
    case '-': return rdouble(x - y);
    case '*': return rdouble(x * y);
    default: return y == 0 ? rnull() : rdouble(fmod(x, y));
    }
}

static fr_value_t to_value(rv_t v)
{
    switch (v.t) {
    case 'L': return L(v.i);
    case 'D': return D(v.d);
    case 'B': return B(v.b);
    case 'S': return S(v.s);
    default: return NUL;
    }
}

Test(expr, random_oracle, .timeout = 120)
{
    static char text[65536];
    int compiled = 0, always_null = 0, evals = 0, nonnull = 0;
    for (int trial = 0; trial < 4000; trial++) {
        nrn = 0;
        static const char wants[] = "LDBS";
        char want = wants[trial % 4];
        int root = gen(want, 1 + pick(6));
        char *p = text;
        print(root, &p, text + sizeof text);
        fr_expr_t *x = NULL;
        fr_type_t t;
        int rc = fr_expr_compile(text, (size_t)(p - text), rresolve, NULL, &x, &t, err,
                                 sizeof err);
        if (!rn[root].st) {
            cr_assert_eq(rc, FR_ETYPE, "'%s': rc %d (%s), expected always null", text, rc, err);
            cr_assert_not_null(strstr(err, "always null"));
            always_null++;
            continue;
        }
        cr_assert_eq(rc, 0, "'%s': %s", text, err);
        fr_type_t st = rn[root].st == 'L'   ? FR_T_LONG
                       : rn[root].st == 'D' ? FR_T_DOUBLE
                       : rn[root].st == 'B' ? FR_T_BOOL
                                            : FR_T_STRING;
        cr_assert_eq(t, st, "'%s': type %s, expected %s", text, fr_type_name(t),
                     fr_type_name(st));
        compiled++;
        for (int e = 0; e < 25; e++) {
            fr_value_t inputs[NRVARS];
            for (int i = 0; i < NRVARS; i++) {
                rin[i] = pick(5) ? rand_value(rvars[i].t) : rnull();
                inputs[i] = to_value(rin[i]);
            }
            fr_value_t got;
            fr_expr_eval(x, inputs, &got);
            fr_value_t want_v = to_value(ev(root));
            char b1[128], b2[128], ins[512];
            size_t o = 0;
            for (int i = 0; i < NRVARS; i++)
                o += (size_t)snprintf(ins + o, sizeof ins - o, " %s=%s", rvars[i].name,
                                      show(inputs[i], b1, sizeof b1));
            cr_assert(same(got, want_v), "'%s' with%s: got %s, expected %s", text, ins,
                      show(got, b1, sizeof b1), show(want_v, b2, sizeof b2));
            cr_assert(got.type == FR_T_NULL || got.type == t);
            evals++;
            nonnull += got.type != FR_T_NULL;
        }
        fr_expr_free(x);
    }
    /* the test means something only if it exercised both outcomes */
    cr_assert_gt(compiled, 3000);
    cr_assert_gt(nonnull, evals / 4, "%d of %d non-null", nonnull, evals);
    cr_assert_lt(nonnull, evals);
    cr_log_info("random oracle: %d expressions, %d always null, %d evaluations, %d non-null",
                compiled, always_null, evals, nonnull);
}
