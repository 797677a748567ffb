/* nomem_test.c - fr_agg_state_apply either succeeds or returns FR_ENOMEM
 * leaving the state's values unchanged, whichever allocation fails: new
 * tiles, ring relayouts, distinct sets moving inline -> heap -> sparse ->
 * dense, long `last` strings.  agg.c is included with malloc and realloc
 * redirected to a counter that fails the Nth call. */
#include <stdlib.h>
#include <string.h>

static long fail_at = -1, calls;

static void *t_malloc(size_t n)
{
    if (calls++ == fail_at)
        return NULL;
    return malloc(n);
}

static void *t_realloc(void *p, size_t n)
{
    if (calls++ == fail_at)
        return NULL;
    return realloc(p, n);
}

#define malloc(n) t_malloc(n)
#define realloc(p, n) t_realloc(p, n)
#include "agg/agg.c"
#undef malloc
#undef realloc

#include <criterion/criterion.h>
#include <stdio.h>

#include "core/hash.h"

static fr_agg_plan_t plan;

static void mkplan(void)
{
    memset(&plan, 0, sizeof plan);
    plan.naggs = 5;
    plan.aggs[0] = (fr_agg_spec_t){FR_FN_COUNT, -1, FR_T_NULL};
    plan.aggs[1] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 0, FR_T_STRING};
    plan.aggs[2] = (fr_agg_spec_t){FR_FN_LAST, 0, FR_T_STRING};
    plan.aggs[3] = (fr_agg_spec_t){FR_FN_SUM, 1, FR_T_LONG};
    plan.aggs[4] = (fr_agg_spec_t){FR_FN_COUNT_DISTINCT, 1, FR_T_LONG};
    plan.nwindows = 2;
    plan.windows[0] = (fr_window_spec_t){60000, 10000};
    plan.windows[1] = (fr_window_spec_t){3600000, 60000};
    cr_assert_eq(fr_agg_plan_init(&plan), 0);
}

static void snapshot(fr_agg_state_t *st, fr_buf_t *b)
{
    fr_buf_reset(b);
    long saved = fail_at;
    fail_at = -1;
    cr_assert_eq(fr_agg_state_encode(st, &plan, b), 0);
    fail_at = saved;
}

/* Applies (ts, s, l) with every possible failing allocation in turn. */
static void apply_all_failures(fr_agg_state_t *st, int64_t ts, uint64_t off, const char *s,
                               int64_t l, int *failures)
{
    fr_value_t v[2];
    v[0] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)strlen(s), .u.s = s};
    v[1] = (fr_value_t){.type = FR_T_LONG, .u.i = l};
    fr_buf_t before, after;
    fr_buf_init(&before, 1 << 24);
    fr_buf_init(&after, 1 << 24);
    snapshot(st, &before);
    for (long n = 0;; n++) {
        calls = 0;
        fail_at = n;
        int rc = fr_agg_state_apply(st, &plan, ts, off, v);
        fail_at = -1;
        if (rc == 0)
            break;
        cr_assert_eq(rc, FR_ENOMEM);
        (*failures)++;
        snapshot(st, &after);
        cr_assert(after.len == before.len && !memcmp(after.p, before.p, after.len),
                  "state changed by a failed apply (allocation %ld)", n);
        cr_assert_lt(n, 1000);
    }
    fr_buf_destroy(&before);
    fr_buf_destroy(&after);
}

Test(nomem, apply_is_atomic, .timeout = 120)
{
    mkplan();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    int failures = 0;
    char s[64];
    uint64_t off = 0;
    /* one tile: distinct grows inline -> heap -> sparse -> dense (> 2048) */
    for (int k = 0; k < 2300; k++) {
        snprintf(s, sizeof s, k % 3 ? "v%d" : "a-long-string-value-%d", k);
        int every = k < 80 ? 1 : 97;
        if (k % every == 0 || (k >= 2040 && k <= 2060))
            apply_all_failures(st, 1000 + k % 9000, off++, s, k, &failures);
        else {
            fr_value_t v[2] = {
                {.type = FR_T_STRING, .len = (uint32_t)strlen(s), .u.s = s},
                {.type = FR_T_LONG, .u.i = k},
            };
            cr_assert_eq(fr_agg_state_apply(st, &plan, 1000 + k % 9000, off++, v), 0);
        }
    }
    /* the tiles' distinct cells went all the way to dense registers */
    const dc_cell_t *dc =
        (const dc_cell_t *)(const void *)(win_rec(&st->win[0], 0, st->rec) + sizeof(tile_hdr_t));
    cr_assert_eq(dc->mode, DC_DENSE);
    /* new tiles (ring growth), then out of order into the middle */
    for (int k = 1; k < 40; k++) {
        snprintf(s, sizeof s, "t%d", k);
        apply_all_failures(st, 1000 + (int64_t)k * 60000, off++, s, k, &failures);
    }
    for (int k = 1; k < 40; k += 3) {
        snprintf(s, sizeof s, "mid-value-long-enough-%d", k);
        apply_all_failures(st, 1000 + (int64_t)k * 60000 - 30000, off++, s, k, &failures);
    }
    cr_assert_gt(failures, 50, "only %d failure points reached", failures);
    fr_agg_state_free(st);
}
