/* Unit tests of shortest round-trip double formatting (src/core/dtoa.cc). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/dtoa.h"
#include "core/jw.h"

/* The shortest %.Ng (N = 1..17) that reads back as d: the independent oracle. */
static int shortest_printf(double d, char *out)
{
    for (int p = 1; p <= 17; p++) {
        int n = snprintf(out, 40, "%.*g", p, d);
        if (strtod(out, NULL) == d)
            return n;
    }
    return -1;
}

/* Significant digits of a number's text: no sign, point, exponent, or
 * leading and trailing zeros. */
static int sig_digits(const char *s)
{
    char d[64];
    int n = 0;
    for (; *s && *s != 'e' && n < 63; s++)
        if (*s >= '0' && *s <= '9')
            d[n++] = *s;
    int lo = 0;
    while (lo < n && d[lo] == '0')
        lo++;
    while (n > lo && d[n - 1] == '0')
        n--;
    return n - lo;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

Test(dtoa, fixed_cases)
{
    struct {
        double d;
        const char *s;
    } cases[] = {{0.0, "0.0"},          {-0.0, "-0.0"},       {3.0, "3.0"},
                 {12.5, "12.5"},        {-7.25, "-7.25"},     {0.1 + 0.2, "0.30000000000000004"},
                 {1e-7, "1e-7"},        {1e-6, "0.000001"},   {1.5e300, "1.5e+300"},
                 {1e21, "1e+21"},       {123456789012345680000.0, "123456789012345680000.0"},
                 {5e-324, "5e-324"},    {1.7976931348623157e308, "1.7976931348623157e+308"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char b[FR_DTOA_MAX];
        int n = fr_dtoa(cases[i].d, b);
        cr_assert_str_eq(b, cases[i].s, "case %zu", i);
        cr_assert_eq(n, (int)strlen(cases[i].s));
    }
    char b[FR_DTOA_MAX];
    cr_assert_eq(fr_dtoa(NAN, b), -1);
    cr_assert_eq(fr_dtoa(INFINITY, b), -1);
    cr_assert_eq(fr_dtoa(-INFINITY, b), -1);
    cr_assert_str_eq(b, "");
}

Test(dtoa, round_trips_and_is_shortest)
{
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = xorshift();
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d))
            continue;
        if (i % 2)
            d = (double)(int64_t)(xorshift() % 100000000) / 100.0; /* money-like */
        char b[FR_DTOA_MAX], o[40];
        int n = fr_dtoa(d, b);
        cr_assert_gt(n, 0);
        cr_assert_eq(strtod(b, NULL), d, "%s does not read back as %.17g", b, d);
        /* no more significant digits than the shortest %g that reads back */
        shortest_printf(d, o);
        cr_assert_leq(sig_digits(b), sig_digits(o), "%s vs %s", b, o);
        double back = strtod(o, NULL);
        cr_assert_eq(back, d);
    }
}

Test(dtoa, json_numbers)
{
    fr_buf_t b;
    fr_buf_init(&b, 1 << 10);
    fr_jw_double(&b, 2.0);
    fr_buf_addc(&b, ' ');
    fr_jw_double(&b, NAN);
    fr_buf_addc(&b, ' ');
    fr_jw_i64(&b, INT64_MIN);
    fr_buf_addc(&b, ' ');
    fr_jw_i64(&b, 0);
    fr_buf_addc(&b, ' ');
    fr_jw_u64(&b, UINT64_MAX);
    cr_assert_str_eq(b.p, "2.0 null -9223372036854775808 0 18446744073709551615");
    fr_buf_destroy(&b);
}
