/* plan_test.c - function names, field checks, default tiles, plan
 * validation and fingerprints. */
#include <criterion/criterion.h>
#include <string.h>

#include "agg/agg.h"
#include "core/err.h"

static fr_agg_plan_t base_plan(void)
{
    fr_agg_plan_t p;
    memset(&p, 0, sizeof p);
    p.naggs = 3;
    p.aggs[0] = (fr_agg_spec_t){FR_FN_COUNT, -1, FR_T_NULL};
    p.aggs[1] = (fr_agg_spec_t){FR_FN_SUM, 1, FR_T_DOUBLE};
    p.aggs[2] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 2, FR_T_STRING};
    p.nwindows = 2;
    p.windows[0] = (fr_window_spec_t){300000, 5000};
    p.windows[1] = (fr_window_spec_t){3600000, 60000};
    return p;
}

Test(plan, fn_names_round_trip)
{
    for (int f = 0; f < FR_FN__COUNT; f++)
        cr_assert_eq(fr_fn_parse(fr_fn_name((fr_fn_t)f)), f);
    cr_assert_str_eq(fr_fn_name(FR_FN_COUNT_DISTINCT), "count_distinct");
    cr_assert_str_eq(fr_fn_name(FR_FN_SINCE_LAST), "since_last");
    cr_assert_eq(fr_fn_parse("median"), -1);
    cr_assert_eq(fr_fn_parse(""), -1);
    cr_assert_eq(fr_fn_parse(NULL), -1);
}

Test(plan, needs_and_accepts)
{
    cr_assert_not(fr_fn_needs_field(FR_FN_COUNT));
    cr_assert_not(fr_fn_needs_field(FR_FN_SINCE_LAST));
    cr_assert(fr_fn_needs_field(FR_FN_SUM));
    cr_assert(fr_fn_needs_field(FR_FN_LAST));
    cr_assert(fr_fn_accepts(FR_FN_SUM, FR_T_LONG));
    cr_assert(fr_fn_accepts(FR_FN_STDDEV, FR_T_DOUBLE));
    cr_assert_not(fr_fn_accepts(FR_FN_AVG, FR_T_STRING));
    cr_assert_not(fr_fn_accepts(FR_FN_MAX, FR_T_BOOL));
    cr_assert(fr_fn_accepts(FR_FN_COUNT_DISTINCT, FR_T_BOOL));
    cr_assert(fr_fn_accepts(FR_FN_LAST, FR_T_STRING));
    cr_assert_not(fr_fn_accepts(FR_FN_LAST, FR_T_NULL));
}

Test(plan, default_tiles)
{
    cr_assert_eq(fr_agg_default_tile_ms(300000), 5000);      /* 5m -> 5s */
    cr_assert_eq(fr_agg_default_tile_ms(3600000), 60000);    /* 1h -> 1m */
    cr_assert_eq(fr_agg_default_tile_ms(86400000), 1440000); /* 24h -> 24m */
    cr_assert_eq(fr_agg_default_tile_ms(60000), 1000);
    cr_assert_eq(fr_agg_default_tile_ms(30000), 1000); /* under a minute */
    cr_assert_eq(fr_agg_default_tile_ms(1000), 1000);
    cr_assert_eq(fr_agg_default_tile_ms(7 * 86400000LL), 10080000);
    cr_assert_eq(fr_agg_default_tile_ms(90000), 1000);  /* 90 s: 1.5 -> 1 */
    cr_assert_eq(fr_agg_default_tile_ms(420000), 7000); /* 7m: 7 s */
    cr_assert_eq(fr_agg_default_tile_ms(61000), 1000);  /* prime seconds */
    /* Every default divides its window and is at most W/60 (W >= 1 min). */
    for (int64_t s = 60; s < 100000; s += 37) {
        int64_t g = fr_agg_default_tile_ms(s * 1000);
        cr_assert_eq((s * 1000) % g, 0);
        cr_assert_leq(g, s * 1000 / 60);
        /* and it is the largest such whole second */
        for (int64_t d = g / 1000 + 1; d <= s / 60; d++)
            cr_assert_neq(s % d, 0, "W=%llds: %llds divides too", (long long)s, (long long)d);
    }
}

Test(plan, init_accepts_good_plan)
{
    fr_agg_plan_t p = base_plan();
    cr_assert_eq(fr_agg_plan_init(&p), 0);
    cr_assert_neq(p.fingerprint, 0);
    cr_assert_eq(fr_agg_plan_horizon_ms(&p), 3600000);
}

Test(plan, init_rejects)
{
    fr_agg_plan_t p;
    p = base_plan();
    p.windows[0].tile_ms = 7000; /* does not divide 300000 */
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.windows[1].tile_ms = 0;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.windows[1].window_ms = -60000;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.naggs = 0;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.naggs = FR_AGG_MAX_AGGS + 1;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.nwindows = 0;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.nwindows = FR_AGG_MAX_WINDOWS + 1;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.aggs[1].type = FR_T_STRING; /* sum of a string */
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.aggs[1].field = -1; /* sum needs a field */
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.aggs[2].type = FR_T_NULL;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.aggs[0].fn = (fr_fn_t)42;
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
    p = base_plan();
    p.aggs[2] = (fr_agg_spec_t){FR_FN_LAST, 1, FR_T_LONG}; /* field 1 is double */
    cr_assert_eq(fr_agg_plan_init(&p), FR_EINVAL);
}

Test(plan, fingerprint_covers_everything)
{
    fr_agg_plan_t a = base_plan(), b;
    cr_assert_eq(fr_agg_plan_init(&a), 0);
    b = base_plan();
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    cr_assert_eq(a.fingerprint, b.fingerprint);

    uint64_t seen[8];
    int n = 0;
    seen[n++] = a.fingerprint;
    b = base_plan();
    b.aggs[1].fn = FR_FN_AVG;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    seen[n++] = b.fingerprint;
    b = base_plan();
    b.aggs[1].field = 3;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    seen[n++] = b.fingerprint;
    b = base_plan();
    b.aggs[1].type = FR_T_LONG;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    seen[n++] = b.fingerprint;
    b = base_plan();
    b.windows[0].tile_ms = 10000;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    seen[n++] = b.fingerprint;
    b = base_plan();
    b.windows[1].window_ms = 7200000;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    seen[n++] = b.fingerprint;
    b = base_plan();
    b.nwindows = 1;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    seen[n++] = b.fingerprint;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            cr_assert_neq(seen[i], seen[j], "fingerprints %d and %d collide", i, j);

    /* The field of a field-less function does not matter. */
    b = base_plan();
    b.aggs[0].field = 5;
    cr_assert_eq(fr_agg_plan_init(&b), 0);
    cr_assert_eq(b.fingerprint, a.fingerprint);
}
