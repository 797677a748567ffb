/*
 * fuzz_agg_state - stored entity states from arbitrary bytes.  Decoding
 * must fail cleanly or give a state whose evaluation equals evaluating the
 * bytes directly (the serving path), and which re-encodes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"
#include "config/config.h"
#define FUZZ_WANT_CONFIG
#include "fuzz.h"

static int same(const fr_value_t *a, const fr_value_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FR_T_STRING: return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    case FR_T_LONG: return a->u.i == b->u.i;
    case FR_T_DOUBLE: return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case FR_T_BOOL: return a->u.b == b->u.b;
    default: return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fr_config_t *cfg = fuzz_config();
    const fr_agg_plan_t *plan = &cfg->views[0].plan;
    size_t nf = plan->naggs * plan->nwindows;
    fr_agg_state_t *st = NULL;
    int rc = fr_agg_state_decode(plan, data, size, &st);
    fr_value_t a[FR_AGG_MAX_AGGS * FR_AGG_MAX_WINDOWS], b[FR_AGG_MAX_AGGS * FR_AGG_MAX_WINDOWS];
    int64_t newest;
    int rc2 = fr_agg_eval_encoded(plan, data, size, 1000000, b, &newest);
    if (rc) {
        if (st)
            abort();
        return 0;
    }
    if (rc2) {
        fprintf(stderr, "decode accepted what eval_encoded refused (%d)\n", rc2);
        abort();
    }
    fr_agg_state_eval(st, plan, 1000000, a);
    for (size_t i = 0; i < nf; i++)
        if (!same(&a[i], &b[i])) {
            fprintf(stderr, "feature %zu differs between decode+eval and eval_encoded\n", i);
            abort();
        }
    fr_buf_t out;
    fr_buf_init(&out, 1 << 26);
    if (fr_agg_state_encode(st, plan, &out) != 0)
        abort();
    fr_buf_destroy(&out);
    fr_agg_state_free(st);
    return 0;
}
