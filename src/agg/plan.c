/*
 * plan.c - aggregation plans: function names, validation, default tiles and
 * the plan fingerprint stored with every encoded state.
 *
 * The fingerprint hashes a canonical little-endian description of the plan
 * (functions, field indexes and types, windows and tiles), so states made
 * by another plan are refused instead of misread.  Changing this encoding
 * changes every fingerprint: bump PLAN_FP_VERSION only on purpose.
 */
#include <string.h>

#include "agg/agg_int.h"
#include "core/err.h"
#include "core/hash.h"

#define PLAN_FP_VERSION 1
#define PLAN_FP_SEED 0x66726573686574ULL /* "freshet" */
#define PLAN_MAX_FIELD 65535

static const char *const fn_names[FR_FN__COUNT] = {
    [FR_FN_COUNT] = "count",
    [FR_FN_SUM] = "sum",
    [FR_FN_AVG] = "avg",
    [FR_FN_MIN] = "min",
    [FR_FN_MAX] = "max",
    [FR_FN_STDDEV] = "stddev",
    [FR_FN_COUNT_DISTINCT] = "count_distinct",
    [FR_FN_LAST] = "last",
    [FR_FN_SINCE_LAST] = "since_last",
};

const char *fr_fn_name(fr_fn_t fn)
{
    if ((int)fn < 0 || fn >= FR_FN__COUNT)
        return "unknown";
    return fn_names[fn];
}

int fr_fn_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < FR_FN__COUNT; i++)
        if (strcmp(name, fn_names[i]) == 0)
            return i;
    return -1;
}

bool fr_fn_needs_field(fr_fn_t fn)
{
    return fn != FR_FN_COUNT && fn != FR_FN_SINCE_LAST && (int)fn >= 0 && fn < FR_FN__COUNT;
}

bool fr_fn_accepts(fr_fn_t fn, fr_type_t t)
{
    switch (fn) {
    case FR_FN_SUM:
    case FR_FN_AVG:
    case FR_FN_MIN:
    case FR_FN_MAX:
    case FR_FN_STDDEV: return t == FR_T_LONG || t == FR_T_DOUBLE;
    case FR_FN_COUNT_DISTINCT:
    case FR_FN_LAST:
        return t == FR_T_STRING || t == FR_T_LONG || t == FR_T_DOUBLE || t == FR_T_BOOL;
    case FR_FN_COUNT:
    case FR_FN_SINCE_LAST: return t == FR_T_NULL;
    default: return false;
    }
}

fr_type_t fr_fn_result_type(fr_fn_t fn, fr_type_t field_type)
{
    switch (fn) {
    case FR_FN_COUNT:
    case FR_FN_COUNT_DISTINCT:
    case FR_FN_SINCE_LAST: return FR_T_LONG;
    case FR_FN_AVG:
    case FR_FN_STDDEV: return FR_T_DOUBLE;
    case FR_FN_SUM:
    case FR_FN_MIN:
    case FR_FN_MAX:
    case FR_FN_LAST: return field_type;
    default: return FR_T_NULL;
    }
}

/* Largest divisor of n that is at most lim (n, lim >= 1). */
static int64_t largest_divisor_upto(int64_t n, int64_t lim)
{
    int64_t best = 1;
    for (int64_t i = 1; i <= n / i; i++) {
        if (n % i)
            continue;
        if (i <= lim && i > best)
            best = i;
        int64_t j = n / i;
        if (j <= lim && j > best)
            best = j;
    }
    return best;
}

int64_t fr_agg_default_tile_ms(int64_t window_ms)
{
    if (window_ms <= 0)
        return 0;
    if (window_ms % 1000 == 0) {
        if (window_ms < 60000)
            return 1000;
        int64_t s = window_ms / 1000;
        return 1000 * largest_divisor_upto(s, s / 60);
    }
    /* Not a whole number of seconds (the config speaks in s, m, h, d, so
     * only hand-made plans get here): the largest whole number of ms that
     * divides W and is at most max(W/60, 1). */
    int64_t lim = window_ms / 60 > 0 ? window_ms / 60 : 1;
    return largest_divisor_upto(window_ms, lim);
}

static void put64(uint8_t **p, uint64_t v)
{
    fr_store_u64(*p, v);
    *p += 8;
}

int fr_agg_plan_init(fr_agg_plan_t *plan)
{
    if (!plan || plan->naggs < 1 || plan->naggs > FR_AGG_MAX_AGGS || plan->nwindows < 1 ||
        plan->nwindows > FR_AGG_MAX_WINDOWS)
        return FR_EINVAL;
    for (size_t w = 0; w < plan->nwindows; w++) {
        const fr_window_spec_t *ws = &plan->windows[w];
        if (ws->window_ms <= 0 || ws->tile_ms <= 0 || ws->window_ms % ws->tile_ms)
            return FR_EINVAL;
    }
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        if ((int)s->fn < 0 || s->fn >= FR_FN__COUNT)
            return FR_EINVAL;
        if (!fr_fn_needs_field(s->fn))
            continue;
        if (s->field < 0 || s->field > PLAN_MAX_FIELD || !fr_fn_accepts(s->fn, s->type))
            return FR_EINVAL;
        /* One field, one type. */
        for (size_t b = 0; b < a; b++) {
            const fr_agg_spec_t *o = &plan->aggs[b];
            if (fr_fn_needs_field(o->fn) && o->field == s->field && o->type != s->type)
                return FR_EINVAL;
        }
    }

    uint8_t desc[16 + FR_AGG_MAX_AGGS * 24 + FR_AGG_MAX_WINDOWS * 16];
    uint8_t *p = desc;
    put64(&p, PLAN_FP_VERSION);
    put64(&p, plan->naggs);
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        bool f = fr_fn_needs_field(s->fn);
        put64(&p, (uint64_t)s->fn);
        put64(&p, f ? (uint64_t)s->field : UINT64_MAX);
        put64(&p, f ? (uint64_t)s->type : (uint64_t)FR_T_NULL);
    }
    put64(&p, plan->nwindows);
    for (size_t w = 0; w < plan->nwindows; w++) {
        put64(&p, (uint64_t)plan->windows[w].window_ms);
        put64(&p, (uint64_t)plan->windows[w].tile_ms);
    }
    plan->fingerprint = fr_hash64(desc, (size_t)(p - desc), PLAN_FP_SEED);
    return 0;
}

int64_t fr_agg_plan_horizon_ms(const fr_agg_plan_t *plan)
{
    int64_t h = 0;
    for (size_t w = 0; w < plan->nwindows; w++)
        if (plan->windows[w].window_ms > h)
            h = plan->windows[w].window_ms;
    return h;
}

uint64_t fr_agg_value_hash(const fr_value_t *v)
{
    uint8_t b[8];
    switch (v->type) {
    case FR_T_STRING: return fr_hash64(v->u.s, v->len, SEED_STRING);
    case FR_T_LONG: fr_store_u64(b, (uint64_t)v->u.i); return fr_hash64(b, 8, SEED_LONG);
    case FR_T_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        fr_store_u64(b, bits);
        return fr_hash64(b, 8, SEED_DOUBLE);
    }
    case FR_T_BOOL: b[0] = v->u.b ? 1 : 0; return fr_hash64(b, 1, SEED_BOOL);
    default: return 0;
    }
}
