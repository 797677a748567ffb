/* distinct_test.c - count_distinct: exact up to 32 distinct values in a
 * window, HyperLogLog (p = 14) within 3% from 33 to 1,000,000, through
 * every tile representation (exact, sparse, dense) and across tiles, and
 * the same numbers from encoded bytes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"
#include "agg/agg_int.h"
#include "core/err.h"
#include "core/hash.h"

/* field 0: string, 1: long, 2: double, 3: bool */
static fr_agg_plan_t plan;

static void mkplan(int64_t w, int64_t g)
{
    memset(&plan, 0, sizeof plan);
    plan.naggs = 5;
    plan.aggs[0] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 0, FR_T_STRING};
    plan.aggs[1] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 1, FR_T_LONG};
    plan.aggs[2] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 2, FR_T_DOUBLE};
    plan.aggs[3] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 3, FR_T_BOOL};
    plan.aggs[4] = (fr_agg_spec_t){FR_FN_COUNT, -1, FR_T_NULL};
    plan.nwindows = 1;
    plan.windows[0] = (fr_window_spec_t){w, g};
    cr_assert_eq(fr_agg_plan_init(&plan), 0);
}

static char sbuf[64];

/* Value number k of "family" fam, in all four fields. */
static void apply_k(fr_agg_state_t *st, int64_t ts, uint64_t off, const char *fam, uint64_t k)
{
    fr_value_t v[4];
    int n = snprintf(sbuf, sizeof sbuf, "%s-%llu", fam, (unsigned long long)k);
    v[0] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)n, .u.s = sbuf};
    v[1] = (fr_value_t){.type = FR_T_LONG, .u.i = (int64_t)k};
    v[2] = (fr_value_t){.type = FR_T_DOUBLE, .u.d = (double)k * 0.5};
    v[3] = (fr_value_t){.type = FR_T_BOOL, .u.b = (k & 1) != 0};
    cr_assert_eq(fr_agg_state_apply(st, &plan, ts, off, v), 0);
}

static void eval_both(fr_agg_state_t *st, int64_t t, fr_value_t *out)
{
    fr_value_t enc[5];
    fr_buf_t b;
    fr_buf_init(&b, 1 << 26);
    fr_agg_state_eval(st, &plan, t, out);
    cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
    cr_assert_eq(fr_agg_eval_encoded(&plan, b.p, b.len, t, enc, NULL), 0);
    for (int a = 0; a < 5; a++) {
        cr_assert_eq(enc[a].type, out[a].type);
        cr_assert_eq(enc[a].u.i, out[a].u.i, "agg %d: encoded %lld, state %lld", a,
                     (long long)enc[a].u.i, (long long)out[a].u.i);
    }
    fr_buf_destroy(&b);
}

Test(distinct, exact_up_to_32)
{
    mkplan(60000, 10000);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    fr_value_t out[5];
    for (uint64_t k = 0; k < 32; k++) {
        apply_k(st, 1000, 2 * k, "v", k);
        apply_k(st, 1000, 2 * k + 1, "v", k); /* duplicates change nothing */
        eval_both(st, 1000, out);
        cr_assert_eq(out[0].u.i, (int64_t)k + 1);
        cr_assert_eq(out[1].u.i, (int64_t)k + 1);
        cr_assert_eq(out[2].u.i, (int64_t)k + 1);
        cr_assert_eq(out[3].u.i, k ? 2 : 1);
    }
    fr_agg_state_free(st);
}

Test(distinct, exact_union_across_tiles)
{
    mkplan(60000, 10000);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    fr_value_t out[5];
    /* three tiles with overlapping values 0..19, 10..29, 20..31 */
    for (uint64_t k = 0; k < 20; k++)
        apply_k(st, 1000, k, "v", k);
    for (uint64_t k = 10; k < 30; k++)
        apply_k(st, 11000, 100 + k, "v", k);
    for (uint64_t k = 20; k < 32; k++)
        apply_k(st, 21000, 200 + k, "v", k);
    eval_both(st, 21000, out);
    cr_assert_eq(out[0].u.i, 32);
    cr_assert_eq(out[1].u.i, 32);
    /* the first tile leaves: 10..31 */
    eval_both(st, 61000, out);
    cr_assert_eq(out[0].u.i, 22);
    /* one more distinct value anywhere: 33, via HLL (linear counting) */
    apply_k(st, 21001, 999, "w", 0);
    eval_both(st, 21001, out);
    cr_assert_geq(out[0].u.i, 32);
    cr_assert_leq(out[0].u.i, 34);
    fr_agg_state_free(st);
}

Test(distinct, types_hash_apart)
{
    mkplan(60000, 10000);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    fr_value_t out[5];
    /* "1" the string, 1 the long, 1.0 the double, true: separate fields,
     * but also the hash of a long and of a double with the same bytes
     * differ (distinct seeds). */
    fr_value_t a = {.type = FR_T_LONG, .u.i = 4607182418800017408LL}; /* bits of 1.0 */
    fr_value_t b = {.type = FR_T_DOUBLE, .u.d = 1.0};
    cr_assert_neq(fr_agg_value_hash(&a), fr_agg_value_hash(&b));
    fr_value_t c = {.type = FR_T_STRING, .len = 1, .u.s = "\001"};
    fr_value_t d = {.type = FR_T_BOOL, .u.b = true};
    cr_assert_neq(fr_agg_value_hash(&c), fr_agg_value_hash(&d));
    apply_k(st, 1000, 1, "v", 1);
    eval_both(st, 1000, out);
    cr_assert_eq(out[0].u.i, 1);
    fr_agg_state_free(st);
}

static void check_close(int64_t est, uint64_t truth, const char *what)
{
    double err = ((double)est - (double)truth) / (double)truth;
    cr_assert(err <= 0.03 && err >= -0.03, "%s: %llu distinct, estimate %lld (%.2f%%)", what,
              (unsigned long long)truth, (long long)est, 100 * err);
}

static const uint64_t checkpoints[] = {
    33,    34,    40,    50,     64,     100,    150,    200,    300,    500,
    700,   1000,  1500,  2047,   2048,   2049,   3000,   5000,   8000,   10000,
    11000, 11500, 12000, 13000,  15000,  20000,  25000,  30000,  40000,  50000,
    60000, 70000, 80000, 100000, 150000, 200000, 300000, 500000, 700000, 1000000,
};

/* One tile: exact -> sparse -> dense in one cell. */
static void accuracy_one_tile(const char *fam)
{
    mkplan(86400000, 1440000);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    fr_value_t out[5];
    size_t c = 0;
    for (uint64_t k = 0; c < sizeof checkpoints / sizeof *checkpoints; k++) {
        apply_k(st, 1000 + (int64_t)(k % 1000), k, fam, k);
        if (k + 1 == checkpoints[c]) {
            if (k + 1 <= 20000 || c % 4 == 0 || k + 1 == 1000000)
                eval_both(st, 2000, out);
            else
                fr_agg_state_eval(st, &plan, 2000, out);
            check_close(out[0].u.i, k + 1, "string");
            check_close(out[1].u.i, k + 1, "long");
            check_close(out[2].u.i, k + 1, "double");
            cr_assert_eq(out[3].u.i, 2);
            cr_assert_eq(out[4].u.i, (int64_t)k + 1);
            c++;
        }
    }
    fr_agg_state_free(st);
}

Test(distinct, hll_accuracy_one_tile_a, .timeout = 120)
{
    accuracy_one_tile("merchant");
}

Test(distinct, hll_accuracy_one_tile_b, .timeout = 120)
{
    accuracy_one_tile("card:");
}

/* Values spread over the 60 tiles of a window, each value seen several
 * times in several tiles: merges of exact, sparse and dense tiles. */
Test(distinct, hll_accuracy_across_tiles, .timeout = 120)
{
    mkplan(3600000, 60000);
    uint64_t sizes[] = {33, 45, 80, 200, 1000, 5000, 20000, 60000, 200000, 600000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        fr_agg_state_t *st = fr_agg_state_new(&plan);
        fr_value_t out[5];
        uint64_t n = sizes[s], off = 0;
        for (uint64_t k = 0; k < n; k++) {
            int64_t tile = (int64_t)(fr_mix64(k) % 60);
            apply_k(st, tile * 60000 + 5, off++, "x", k);
            if (k % 3 == 0)
                apply_k(st, ((tile + 17) % 60) * 60000 + 9, off++, "x", k);
        }
        eval_both(st, 3599999, out);
        check_close(out[0].u.i, n, "string across tiles");
        check_close(out[1].u.i, n, "long across tiles");
        /* the window slides: only tiles 30..59 at t = 3600000 + 29 min */
        fr_agg_state_eval(st, &plan, 3600000 + 29 * 60000, out);
        uint64_t truth = 0;
        for (uint64_t k = 0; k < n; k++) {
            int64_t tile = (int64_t)(fr_mix64(k) % 60);
            bool in = tile >= 30 || (k % 3 == 0 && (tile + 17) % 60 >= 30);
            truth += in;
        }
        if (truth <= 32)
            cr_assert_eq(out[0].u.i, (int64_t)truth);
        else
            check_close(out[0].u.i, truth, "string, half window");
        fr_agg_state_free(st);
    }
}

Test(distinct, estimator_edges)
{
    uint8_t *regs = calloc(1, HLL_M);
    cr_assert_eq(fr_hll_estimate(regs), 0);
    regs[5] = 1;
    cr_assert_eq(fr_hll_estimate(regs), 1);
    /* all registers at the maximum: finite and huge */
    memset(regs, HLL_MAXRANK, HLL_M);
    cr_assert_gt(fr_hll_estimate(regs), 1000000000LL);
    /* pack / unpack round trip */
    for (uint32_t i = 0; i < HLL_M; i++)
        regs[i] = (uint8_t)(fr_mix64(i) % (HLL_MAXRANK + 1));
    uint8_t packed[HLL_PACKED], *back = calloc(1, HLL_M);
    fr_hll_pack(packed, regs);
    cr_assert(fr_hll_merge_packed(back, packed, NULL));
    cr_assert(memcmp(back, regs, HLL_M) == 0);
    free(regs);
    free(back);
}

Test(distinct, sparse_entry_maps_to_its_register)
{
    for (uint64_t k = 0; k < 200000; k++) {
        uint64_t h = fr_mix64(k * 7 + 1);
        if (k < 64)
            h >>= k; /* long runs of leading zeros, down to h == 0 */
        uint32_t i1, i2;
        uint8_t r1, r2;
        hll_pos(h, &i1, &r1);
        sp_reg(sp_entry(h), &i2, &r2);
        cr_assert(i1 == i2 && r1 == r2, "h=%016llx: (%u,%u) vs (%u,%u)", (unsigned long long)h, i1,
                  r1, i2, r2);
    }
}

/* 33 values two of which share a p = 14 register: still counted 33 (at
 * p = 14 linear counting would say 32, a 3% error). */
Test(distinct, register_collision_at_33)
{
    mkplan(60000, 10000);
    static char names[40000][16];
    static uint32_t owner[HLL_M];
    memset(owner, 0xff, sizeof owner);
    int a = -1, b = -1;
    for (int k = 0; k < 40000 && a < 0; k++) {
        int n = snprintf(names[k], 16, "c%d", k);
        fr_value_t v = {.type = FR_T_STRING, .len = (uint32_t)n, .u.s = names[k]};
        uint32_t idx;
        uint8_t rank;
        hll_pos(fr_agg_value_hash(&v), &idx, &rank);
        if (owner[idx] != UINT32_MAX) {
            a = (int)owner[idx];
            b = k;
        }
        owner[idx] = (uint32_t)k;
    }
    cr_assert_geq(a, 0);
    for (int split = 0; split < 2; split++) {
        fr_agg_state_t *st = fr_agg_state_new(&plan);
        int picked = 0;
        fr_value_t v[4] = {{.type = FR_T_NULL}};
        for (int k = 0; picked < 33; k++) {
            const char *s = k == 0 ? names[a] : k == 1 ? names[b] : NULL;
            char tmp[16];
            if (!s) {
                snprintf(tmp, sizeof tmp, "z%d", k);
                s = tmp;
            }
            v[0] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)strlen(s), .u.s = s};
            /* split: spread over three tiles, so the window merges them */
            int64_t ts = split ? 1000 + 10000 * (k % 3) : 1000;
            cr_assert_eq(fr_agg_state_apply(st, &plan, ts, (uint64_t)k, v), 0);
            picked++;
        }
        fr_value_t out[5];
        eval_both(st, 21000, out);
        cr_assert_eq(out[0].u.i, 33);
        fr_agg_state_free(st);
    }
}
