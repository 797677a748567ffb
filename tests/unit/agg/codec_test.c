/* codec_test.c - encoded states: round trips, evaluation from bytes equal
 * to evaluation of the state, plan mismatch, and corrupt or truncated input
 * (random truncations and bit flips must give an error or a valid result,
 * never a crash, an out-of-bounds read or a leak: run under ASan). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"
#include "agg/agg_int.h"
#include "core/err.h"
#include "core/hash.h"

enum { F_L, F_D, F_S, F_B, F_S2, NF };
static fr_agg_plan_t plan;

static void mkplan(void)
{
    memset(&plan, 0, sizeof plan);
    fr_agg_spec_t a[] = {
        {FR_FN_COUNT, -1, FR_T_NULL},
        {FR_FN_SUM, F_L, FR_T_LONG},
        {FR_FN_SUM, F_D, FR_T_DOUBLE},
        {FR_FN_AVG, F_D, FR_T_DOUBLE},
        {FR_FN_AVG, F_L, FR_T_LONG},
        {FR_FN_MIN, F_L, FR_T_LONG},
        {FR_FN_MAX, F_D, FR_T_DOUBLE},
        {FR_FN_STDDEV, F_D, FR_T_DOUBLE},
        {FR_FN_COUNT_DISTINCT, F_S, FR_T_STRING},
        {FR_FN_COUNT_DISTINCT, F_S2, FR_T_STRING},
        {FR_FN_COUNT_DISTINCT, F_B, FR_T_BOOL},
        {FR_FN_LAST, F_S, FR_T_STRING},
        {FR_FN_LAST, F_S2, FR_T_STRING},
        {FR_FN_LAST, F_L, FR_T_LONG},
        {FR_FN_LAST, F_D, FR_T_DOUBLE},
        {FR_FN_LAST, F_B, FR_T_BOOL},
        {FR_FN_SINCE_LAST, -1, FR_T_NULL},
    };
    plan.naggs = sizeof a / sizeof *a;
    memcpy(plan.aggs, a, sizeof a);
    plan.nwindows = 3;
    plan.windows[0] = (fr_window_spec_t){60000, 10000};
    plan.windows[1] = (fr_window_spec_t){3600000, 60000};
    plan.windows[2] = (fr_window_spec_t){5000, 5000};
    cr_assert_eq(fr_agg_plan_init(&plan), 0);
}

static uint64_t rng = 12345;
static uint64_t rnd(void)
{
    rng += 0x9e3779b97f4a7c15ULL;
    return fr_mix64(rng);
}

static char strs[8][80];

/* A state with every cell kind: inline and heap strings, exact, sparse and
 * dense distinct sets, optional fields missing, several tiles. */
static fr_agg_state_t *build_step(int nev, int wide, int64_t step)
{
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    cr_assert_not_null(st);
    int64_t t0 = -200000;
    for (int i = 0; i < nev; i++) {
        fr_value_t v[NF];
        int64_t ts = t0 + i * step - (int64_t)(rnd() % 3000);
        char *s = strs[i % 8], *s2 = strs[(i + 4) % 8];
        int n = snprintf(s, 80, "%s%llu", rnd() % 3 ? "m" : "a-long-merchant-name-",
                         (unsigned long long)(rnd() % 20));
        int n2 = snprintf(s2, 80, "card%llu", (unsigned long long)(rnd() % (uint64_t)wide));
        v[F_L] = (fr_value_t){.type = FR_T_LONG, .u.i = (int64_t)(rnd() % 1000) - 500};
        v[F_D] = (fr_value_t){.type = FR_T_DOUBLE, .u.d = (double)(rnd() % 400) * 0.25};
        v[F_S] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)n, .u.s = s};
        v[F_B] = (fr_value_t){.type = FR_T_BOOL, .u.b = rnd() & 1};
        v[F_S2] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)n2, .u.s = s2};
        if (rnd() % 5 == 0)
            v[F_S].type = FR_T_NULL;
        if (rnd() % 7 == 0)
            v[F_D].type = FR_T_NULL;
        cr_assert_eq(fr_agg_state_apply(st, &plan, ts, (uint64_t)i, v), 0);
    }
    return st;
}

static fr_agg_state_t *build(int nev, int wide)
{
    return build_step(nev, wide, 97);
}

/* Counts tiles of each count_distinct representation. */
static void dc_modes(const fr_agg_state_t *st, int *modes)
{
    size_t off = sizeof(tile_hdr_t);
    for (size_t a = 0; a < plan.naggs; a++) {
        if (plan.aggs[a].fn == FR_FN_COUNT_DISTINCT)
            for (size_t w = 0; w < plan.nwindows; w++)
                for (uint32_t i = 0; i < st->win[w].len; i++) {
                    const dc_cell_t *c =
                        (const dc_cell_t *)(const void *)(win_rec(&st->win[w], i, st->rec) + off);
                    modes[c->mode]++;
                }
        off += cell_size(plan.aggs[a].fn);
    }
}

static bool val_eq(const fr_value_t *a, const fr_value_t *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case FR_T_NULL: return true;
    case FR_T_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->u.s, b->u.s, a->len) == 0);
    case FR_T_LONG: return a->u.i == b->u.i;
    case FR_T_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    default: return a->u.b == b->u.b;
    }
}

#define NOUT (FR_AGG_MAX_AGGS * FR_AGG_MAX_WINDOWS)

static void assert_same_at(fr_agg_state_t *st, const fr_buf_t *b, int64_t t)
{
    static fr_value_t x[NOUT], y[NOUT];
    int64_t newest = 0;
    fr_agg_state_eval(st, &plan, t, x);
    cr_assert_eq(fr_agg_eval_encoded(&plan, b->p, b->len, t, y, &newest), 0);
    cr_assert_eq(newest, fr_agg_state_newest(st));
    for (size_t k = 0; k < plan.naggs * plan.nwindows; k++)
        cr_assert(val_eq(&x[k], &y[k]), "t=%lld feature %zu differs", (long long)t, k);
}

Test(codec, round_trip_and_eval_encoded)
{
    mkplan();
    int sizes[] = {0, 1, 2, 10, 300, 3000, 8000};
    int wides[] = {5, 40, 100000};
    int modes[3] = {0};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t w = 0; w < 3; w++) {
            /* the largest: 8000 events in about 40 s, dense tiles */
            fr_agg_state_t *st = build_step(sizes[s], wides[w], sizes[s] > 5000 ? 5 : 97);
            dc_modes(st, modes);
            fr_buf_t b, b2;
            fr_buf_init(&b, 1 << 24);
            fr_buf_init(&b2, 1 << 24);
            cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
            fr_agg_state_t *d = NULL;
            cr_assert_eq(fr_agg_state_decode(&plan, b.p, b.len, &d), 0);
            cr_assert_eq(fr_agg_state_newest(d), fr_agg_state_newest(st));
            cr_assert_eq(fr_agg_state_events(d), fr_agg_state_events(st));
            /* encoding the decoded state gives the same bytes */
            cr_assert_eq(fr_agg_state_encode(d, &plan, &b2), 0);
            cr_assert_eq(b.len, b2.len);
            cr_assert(memcmp(b.p, b2.p, b.len) == 0);
            int64_t nw = fr_agg_state_events(st) ? fr_agg_state_newest(st) : 0;
            for (int64_t t = nw; t < nw + 4000000; t += 1 + (int64_t)(rnd() % 400000)) {
                static fr_value_t x[NOUT], y[NOUT];
                fr_agg_state_eval(st, &plan, t, x);
                fr_agg_state_eval(d, &plan, t, y);
                for (size_t k = 0; k < plan.naggs * plan.nwindows; k++)
                    cr_assert(val_eq(&x[k], &y[k]), "t=%lld feature %zu", (long long)t, k);
                assert_same_at(st, &b, t);
            }
            /* a decoded state keeps going like the original */
            fr_value_t v[NF] = {{.type = FR_T_NULL}};
            v[F_L] = (fr_value_t){.type = FR_T_LONG, .u.i = 7};
            cr_assert_eq(fr_agg_state_apply(st, &plan, nw + 1, 99999, v), 0);
            cr_assert_eq(fr_agg_state_apply(d, &plan, nw + 1, 99999, v), 0);
            fr_buf_reset(&b);
            fr_buf_reset(&b2);
            cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
            cr_assert_eq(fr_agg_state_encode(d, &plan, &b2), 0);
            cr_assert(b.len == b2.len && memcmp(b.p, b2.p, b.len) == 0);
            fr_agg_state_free(st);
            fr_agg_state_free(d);
            fr_buf_destroy(&b);
            fr_buf_destroy(&b2);
        }
    cr_assert_gt(modes[DC_EXACT], 0);
    cr_assert_gt(modes[DC_SPARSE], 0);
    cr_assert_gt(modes[DC_DENSE], 0);
}

Test(codec, appends_to_buffer_and_respects_its_limit)
{
    mkplan();
    fr_agg_state_t *st = build(500, 100000);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    cr_assert_eq(fr_buf_addstr(&b, "prefix"), 0);
    cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
    cr_assert(memcmp(b.p, "prefix", 6) == 0);
    size_t full = b.len - 6;
    fr_buf_t small;
    fr_buf_init(&small, 6 + full / 2);
    cr_assert_eq(fr_buf_addstr(&small, "prefix"), 0);
    cr_assert_eq(fr_agg_state_encode(st, &plan, &small), FR_ELIMIT);
    cr_assert_eq(small.len, 6); /* unchanged on failure */
    fr_buf_destroy(&small);
    fr_buf_destroy(&b);
    fr_agg_state_free(st);
}

Test(codec, other_plan_is_a_mismatch)
{
    mkplan();
    fr_agg_state_t *st = build(50, 10);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
    fr_agg_plan_t other = plan;
    other.windows[1].tile_ms = 30000;
    cr_assert_eq(fr_agg_plan_init(&other), 0);
    fr_agg_state_t *d = NULL;
    static fr_value_t out[NOUT];
    cr_assert_eq(fr_agg_state_decode(&other, b.p, b.len, &d), FR_EMISMATCH);
    cr_assert_null(d);
    cr_assert_eq(fr_agg_eval_encoded(&other, b.p, b.len, 0, out, NULL), FR_EMISMATCH);
    /* on error the outputs are the empty-window values */
    cr_assert_eq(out[0].type, FR_T_LONG);
    cr_assert_eq(out[0].u.i, 0);
    fr_buf_destroy(&b);
    fr_agg_state_free(st);
}

Test(codec, empty_and_garbage)
{
    mkplan();
    fr_agg_state_t *d = NULL;
    static fr_value_t out[NOUT];
    cr_assert_eq(fr_agg_state_decode(&plan, "", 0, &d), FR_ECORRUPT);
    cr_assert_eq(fr_agg_eval_encoded(&plan, "", 0, 0, out, NULL), FR_ECORRUPT);
    cr_assert_eq(fr_agg_state_decode(&plan, "\x02", 1, &d), FR_ECORRUPT);
    /* a valid header claiming 2^62 tiles: refused before any allocation */
    fr_buf_t b;
    fr_buf_init(&b, 1024);
    fr_buf_add_u8(&b, 1);
    fr_buf_add_u64(&b, plan.fingerprint);
    fr_buf_add_varint(&b, 2000); /* zigzag 1000 */
    fr_buf_add_varint(&b, 5);
    fr_buf_add_varint(&b, 1ULL << 62);
    for (int i = 0; i < 40; i++)
        fr_buf_add_u8(&b, 1);
    cr_assert_eq(fr_agg_state_decode(&plan, b.p, b.len, &d), FR_ECORRUPT);
    cr_assert_eq(fr_agg_eval_encoded(&plan, b.p, b.len, 0, out, NULL), FR_ECORRUPT);
    /* trailing bytes after a valid state */
    fr_agg_state_t *st = build(20, 5);
    fr_buf_reset(&b);
    fr_buf_destroy(&b);
    fr_buf_init(&b, 1 << 20);
    cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
    fr_buf_add_u8(&b, 0);
    cr_assert_eq(fr_agg_state_decode(&plan, b.p, b.len, &d), FR_ECORRUPT);
    cr_assert_eq(fr_agg_eval_encoded(&plan, b.p, b.len, 0, out, NULL), FR_ECORRUPT);
    fr_buf_destroy(&b);
    fr_agg_state_free(st);
}

/* Checks whatever decodes: it must evaluate, encode and accept events. */
static int decoded_ok;

static void exercise(const uint8_t *p, size_t n)
{
    static fr_value_t out[NOUT];
    int64_t newest;
    int rc = fr_agg_eval_encoded(&plan, p, n, 1000000, out, &newest);
    cr_assert(rc == 0 || rc == FR_ECORRUPT, "eval_encoded rc %d", rc);
    fr_agg_state_t *d = NULL;
    rc = fr_agg_state_decode(&plan, p, n, &d);
    cr_assert(rc == 0 || rc == FR_ECORRUPT, "decode rc %d", rc);
    if (rc) {
        cr_assert_null(d);
        return;
    }
    decoded_ok++;
    fr_agg_state_eval(d, &plan, fr_agg_state_newest(d), out);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 24);
    cr_assert_eq(fr_agg_state_encode(d, &plan, &b), 0);
    fr_value_t v[NF] = {{.type = FR_T_NULL}};
    v[F_S] = (fr_value_t){.type = FR_T_STRING, .len = 20, .u.s = "zzzzzzzzzzzzzzzzzzzz"};
    v[F_S2] = v[F_S];
    cr_assert_eq(fr_agg_state_apply(d, &plan, fr_agg_state_newest(d), 1, v), 0);
    fr_buf_destroy(&b);
    fr_agg_state_free(d);
}

Test(codec, fuzz_truncations_and_flips, .timeout = 300)
{
    mkplan();
    int wides[] = {3, 60, 100000};
    for (int w = 0; w < 3; w++) {
        fr_agg_state_t *st = w == 2 ? build_step(3000, wides[w], 10) : build(200, wides[w]);
        fr_buf_t b;
        fr_buf_init(&b, 1 << 24);
        cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
        size_t n = b.len;
        /* every truncation of a small state, random ones of the big */
        for (size_t cut = 0; cut < n; cut += (n < 3000 ? 1 : 1 + rnd() % 97)) {
            uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
            memcpy(p, b.p, cut);
            int rc = fr_agg_state_decode(&plan, p, cut, &(fr_agg_state_t *){NULL});
            cr_assert_eq(rc, FR_ECORRUPT, "truncated to %zu of %zu decoded", cut, n);
            static fr_value_t out[NOUT];
            cr_assert_eq(fr_agg_eval_encoded(&plan, p, cut, 0, out, NULL), FR_ECORRUPT);
            free(p);
        }
        /* random bit flips and byte changes */
        int rounds = w == 2 ? 300 : 3000;
        decoded_ok = 0;
        for (int r = 0; r < rounds; r++) {
            uint8_t *p = malloc(n);
            memcpy(p, b.p, n);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = 9 + rnd() % (n - 9); /* keep version and fingerprint */
                if (rnd() & 1)
                    p[at] ^= (uint8_t)(1u << (rnd() % 8));
                else
                    p[at] = (uint8_t)rnd();
            }
            size_t len = rnd() % 4 ? n : 9 + rnd() % (n - 9);
            exercise(p, len);
            free(p);
        }
        /* the mutations reach past the structure checks: some decode */
        cr_assert_gt(decoded_ok, rounds / 50, "only %d of %d decoded", decoded_ok, rounds);
        fr_buf_destroy(&b);
        fr_agg_state_free(st);
    }
}

Test(codec, fuzz_random_bytes_after_header)
{
    mkplan();
    for (int r = 0; r < 20000; r++) {
        size_t n = 9 + rnd() % 200;
        uint8_t *p = malloc(n);
        p[0] = 1;
        fr_store_u64(p + 1, plan.fingerprint);
        for (size_t i = 9; i < n; i++)
            p[i] = (uint8_t)(rnd() % 4 ? rnd() % 8 : rnd());
        exercise(p, n);
        free(p);
    }
}
