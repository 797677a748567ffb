/* window_test.c - DESIGN §2 semantics of every function at window edges:
 * bounds, empty windows, as_of after the newest event, out-of-order events,
 * eviction, optional fields, long exactness, `last` ties, since_last. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"
#include "agg/agg_int.h"
#include "core/err.h"

/* Fields: 0 long, 1 double, 2 string, 3 bool. */
enum { F_L, F_D, F_S, F_B, NF };
enum {
    A_COUNT,
    A_SUML,
    A_SUMD,
    A_AVGD,
    A_MINL,
    A_MAXD,
    A_SDD,
    A_DC,
    A_LASTS,
    A_SINCE,
    A_AVGL,
    A_MINDD,
    A_MAXL,
    A_LASTL,
    A_LASTD,
    A_LASTB,
    A_SDL,
    NA
};

static fr_agg_plan_t plan;

static void mkplan(int nw, const int64_t *w, const int64_t *g)
{
    memset(&plan, 0, sizeof plan);
    fr_agg_spec_t a[NA] = {
        [A_COUNT] = {FR_FN_COUNT, -1, FR_T_NULL},
        [A_SUML] = {FR_FN_SUM, F_L, FR_T_LONG},
        [A_SUMD] = {FR_FN_SUM, F_D, FR_T_DOUBLE},
        [A_AVGD] = {FR_FN_AVG, F_D, FR_T_DOUBLE},
        [A_MINL] = {FR_FN_MIN, F_L, FR_T_LONG},
        [A_MAXD] = {FR_FN_MAX, F_D, FR_T_DOUBLE},
        [A_SDD] = {FR_FN_STDDEV, F_D, FR_T_DOUBLE},
        [A_DC] = {FR_FN_COUNT_DISTINCT, F_S, FR_T_STRING},
        [A_LASTS] = {FR_FN_LAST, F_S, FR_T_STRING},
        [A_SINCE] = {FR_FN_SINCE_LAST, -1, FR_T_NULL},
        [A_AVGL] = {FR_FN_AVG, F_L, FR_T_LONG},
        [A_MINDD] = {FR_FN_MIN, F_D, FR_T_DOUBLE},
        [A_MAXL] = {FR_FN_MAX, F_L, FR_T_LONG},
        [A_LASTL] = {FR_FN_LAST, F_L, FR_T_LONG},
        [A_LASTD] = {FR_FN_LAST, F_D, FR_T_DOUBLE},
        [A_LASTB] = {FR_FN_LAST, F_B, FR_T_BOOL},
        [A_SDL] = {FR_FN_STDDEV, F_L, FR_T_LONG},
    };
    plan.naggs = NA;
    memcpy(plan.aggs, a, sizeof a);
    plan.nwindows = (size_t)nw;
    for (int i = 0; i < nw; i++)
        plan.windows[i] = (fr_window_spec_t){w[i], g[i]};
    cr_assert_eq(fr_agg_plan_init(&plan), 0);
}

/* W = 60 s, g = 10 s: 6 tiles. */
static void plan60(void)
{
    int64_t w[] = {60000}, g[] = {10000};
    mkplan(1, w, g);
}

static void ev(fr_agg_state_t *st, int64_t ts, uint64_t off, const fr_value_t *v)
{
    cr_assert_eq(fr_agg_state_apply(st, &plan, ts, off, v), 0);
}

/* An event with all fields present. */
static void ev_full(fr_agg_state_t *st, int64_t ts, uint64_t off, int64_t l, double d,
                    const char *s)
{
    fr_value_t v[NF];
    v[F_L] = (fr_value_t){.type = FR_T_LONG, .u.i = l};
    v[F_D] = (fr_value_t){.type = FR_T_DOUBLE, .u.d = d};
    v[F_S] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)strlen(s), .u.s = s};
    v[F_B] = (fr_value_t){.type = FR_T_BOOL, .u.b = (l & 1) != 0};
    ev(st, ts, off, v);
}

static fr_value_t out[NA * FR_AGG_MAX_WINDOWS];

static fr_value_t at(fr_agg_state_t *st, int64_t t, int a, int w)
{
    fr_agg_state_eval(st, &plan, t, out);
    return out[a * plan.nwindows + w];
}

static int64_t count_at(fr_agg_state_t *st, int64_t t)
{
    fr_value_t v = at(st, t, A_COUNT, 0);
    cr_assert_eq(v.type, FR_T_LONG);
    return v.u.i;
}

static void assert_null(fr_value_t v)
{
    cr_assert_eq(v.type, FR_T_NULL);
}

Test(window, lower_bound_is_inclusive)
{
    plan60();
    /* t = 125000: tile 12 starts at 120000; lower bound 120000+10000-60000. */
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    ev_full(st, 69999, 1, 1, 1.0, "a");
    ev_full(st, 70000, 2, 2, 2.0, "b");
    ev_full(st, 125000, 3, 4, 4.0, "c");
    cr_assert_eq(count_at(st, 125000), 2);
    cr_assert_eq(at(st, 125000, A_SUML, 0).u.i, 6);
    cr_assert_eq(at(st, 125000, A_MINL, 0).u.i, 2);
    /* one tile later the event at 70000 is out, the one at 125000 is in */
    cr_assert_eq(count_at(st, 129999), 2);
    cr_assert_eq(count_at(st, 130000), 1);
    /* the newest tile leaves at 120000 + 60000 */
    cr_assert_eq(count_at(st, 179999), 1);
    cr_assert_eq(count_at(st, 180000), 0);
    fr_agg_state_free(st);

    /* Same events in the other order: 69999 is dropped at once. */
    st = fr_agg_state_new(&plan);
    ev_full(st, 125000, 3, 4, 4.0, "c");
    ev_full(st, 70000, 2, 2, 2.0, "b");
    ev_full(st, 69999, 1, 1, 1.0, "a");
    cr_assert_eq(count_at(st, 125000), 2);
    cr_assert_eq(fr_agg_state_events(st), 3);
    fr_agg_state_free(st);
}

Test(window, upper_bound_is_t_for_t_at_or_after_newest)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    ev_full(st, 100000, 1, 1, 1.0, "a");
    cr_assert_eq(count_at(st, 100000), 1); /* ts == t counts */
    cr_assert_eq(at(st, 100000, A_SINCE, 0).u.i, 0);
    cr_assert_eq(at(st, 100007, A_SINCE, 0).u.i, 7);
    /* as_of long after the newest event: everything has left */
    fr_agg_state_eval(st, &plan, 100000 + 60000, out);
    cr_assert_eq(out[A_COUNT].u.i, 0);
    assert_null(out[A_SINCE]);
    assert_null(out[A_LASTS]);
    /* tile accuracy before the newest event: the whole tile of t counts,
     * later tiles do not */
    ev_full(st, 105000, 2, 1, 1.0, "b");
    cr_assert_eq(count_at(st, 100000), 2);
    cr_assert_eq(at(st, 100000, A_SINCE, 0).u.i, -5000);
    cr_assert_eq(count_at(st, 99999), 0);
    fr_agg_state_free(st);
}

Test(window, negative_and_zero_timestamps)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    /* t = -1: tile -1 = [-10000, -1]; lower bound -10000 + 10000 - 60000 */
    ev_full(st, -60001, 1, 1, 0.5, "a");
    ev_full(st, -60000, 2, 2, 0.25, "b");
    ev_full(st, -1, 3, 4, 0.75, "c");
    cr_assert_eq(count_at(st, -1), 2);
    cr_assert_eq(at(st, -1, A_SUMD, 0).u.d, 1.0);
    cr_assert_eq(at(st, -1, A_SINCE, 0).u.i, 0);
    /* t = 0 is tile 0: lower bound -50000 */
    cr_assert_eq(count_at(st, 0), 1);
    ev_full(st, 0, 4, 8, 1.0, "d");
    cr_assert_eq(count_at(st, 0), 2);
    cr_assert_eq(at(st, 0, A_SUML, 0).u.i, 12);
    cr_assert_eq(at(st, 9999, A_COUNT, 0).u.i, 2);
    cr_assert_eq(count_at(st, 10000), 2);
    cr_assert_eq(count_at(st, 9999 + 50000), 1);
    fr_agg_state_free(st);
}

Test(window, empty_values)
{
    plan60();
    fr_value_t e[NA];
    fr_agg_eval_empty(&plan, e);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    fr_agg_state_eval(st, &plan, 12345, out);
    cr_assert_eq(fr_agg_state_newest(st), INT64_MIN);
    cr_assert_eq(fr_agg_state_events(st), 0);
    for (int a = 0; a < NA; a++) {
        cr_assert_eq(e[a].type, out[a].type, "agg %d", a);
        switch (a) {
        case A_COUNT:
        case A_DC:
            cr_assert_eq(e[a].type, FR_T_LONG);
            cr_assert_eq(e[a].u.i, 0);
            break;
        case A_SUML:
            cr_assert_eq(e[a].type, FR_T_LONG);
            cr_assert_eq(e[a].u.i, 0);
            cr_assert_eq(out[a].u.i, 0);
            break;
        case A_SUMD:
            cr_assert_eq(e[a].type, FR_T_DOUBLE);
            cr_assert_eq(e[a].u.d, 0.0);
            cr_assert_eq(out[a].u.d, 0.0);
            break;
        default: assert_null(e[a]);
        }
    }
    fr_agg_state_free(st);
}

Test(window, all_functions_values)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    ev_full(st, 1000, 1, 3, 1.5, "x");
    ev_full(st, 2000, 2, -7, 2.5, "y");
    ev_full(st, 15000, 3, 10, -1.0, "x");
    ev_full(st, 16000, 4, 5, 4.0, "a-much-longer-string-than-inline");
    fr_agg_state_eval(st, &plan, 20000, out);
    cr_assert_eq(out[A_COUNT].u.i, 4);
    cr_assert_eq(out[A_SUML].u.i, 11);
    cr_assert_eq(out[A_SUMD].type, FR_T_DOUBLE);
    cr_assert_eq(out[A_SUMD].u.d, 7.0);
    cr_assert_eq(out[A_AVGD].u.d, 1.75);
    cr_assert_eq(out[A_AVGL].type, FR_T_DOUBLE);
    cr_assert_eq(out[A_AVGL].u.d, 2.75);
    cr_assert_eq(out[A_MINL].type, FR_T_LONG);
    cr_assert_eq(out[A_MINL].u.i, -7);
    cr_assert_eq(out[A_MAXL].u.i, 10);
    cr_assert_eq(out[A_MAXD].type, FR_T_DOUBLE);
    cr_assert_eq(out[A_MAXD].u.d, 4.0);
    cr_assert_eq(out[A_MINDD].u.d, -1.0);
    /* population std dev of 1.5, 2.5, -1, 4: mean 1.75, var 3.3125 */
    cr_assert_float_eq(out[A_SDD].u.d, sqrt(3.3125), 1e-12);
    /* of 3, -7, 10, 5: mean 2.75, var (9+49+100+25)/4 - 2.75^2 */
    cr_assert_float_eq(out[A_SDL].u.d, sqrt(183.0 / 4 - 2.75 * 2.75), 1e-12);
    cr_assert_eq(out[A_DC].u.i, 3);
    cr_assert_eq(out[A_LASTS].type, FR_T_STRING);
    cr_assert_eq(out[A_LASTS].len, strlen("a-much-longer-string-than-inline"));
    cr_assert(memcmp(out[A_LASTS].u.s, "a-much-longer-string-than-inline", out[A_LASTS].len) == 0);
    cr_assert_eq(out[A_LASTL].u.i, 5);
    cr_assert_eq(out[A_LASTD].u.d, 4.0);
    cr_assert_eq(out[A_LASTB].type, FR_T_BOOL);
    cr_assert_eq(out[A_LASTB].u.b, true);
    cr_assert_eq(out[A_SINCE].u.i, 4000);
    /* Only the second tile [10000, 20000) at t = 65000 (lower 10000). */
    fr_agg_state_eval(st, &plan, 65000, out);
    cr_assert_eq(out[A_COUNT].u.i, 2);
    cr_assert_eq(out[A_SUML].u.i, 15);
    cr_assert_eq(out[A_MINL].u.i, 5);
    cr_assert_eq(out[A_DC].u.i, 2);
    cr_assert_eq(out[A_SINCE].u.i, 49000);
    fr_agg_state_free(st);
}

Test(window, stddev_clamps_at_zero)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    for (int i = 0; i < 10; i++)
        ev_full(st, 1000 + i, (uint64_t)i, 7, 0.1, "x");
    fr_agg_state_eval(st, &plan, 2000, out);
    cr_assert_eq(out[A_SDD].type, FR_T_DOUBLE);
    cr_assert(out[A_SDD].u.d >= 0.0 && out[A_SDD].u.d < 1e-7);
    cr_assert_eq(out[A_SDL].u.d, 0.0);
    fr_agg_state_free(st);
}

Test(window, out_of_order_lands_in_its_tile)
{
    plan60();
    fr_agg_state_t *a = fr_agg_state_new(&plan), *b = fr_agg_state_new(&plan);
    int64_t ts[] = {5000, 12000, 31000, 33000, 47000, 58000, 59999};
    int n = 7;
    for (int i = 0; i < n; i++)
        ev_full(a, ts[i], (uint64_t)i, i * 10 + 1, i * 0.5, i % 2 ? "odd" : "even");
    /* b: reverse order, offsets as in a */
    for (int i = n - 1; i >= 0; i--)
        ev_full(b, ts[i], (uint64_t)i, i * 10 + 1, i * 0.5, i % 2 ? "odd" : "even");
    for (int64_t t = 59999; t < 130000; t += 777) {
        fr_value_t oa[NA], ob[NA];
        fr_agg_state_eval(a, &plan, t, oa);
        fr_agg_state_eval(b, &plan, t, ob);
        for (int k = 0; k < NA; k++) {
            cr_assert_eq(oa[k].type, ob[k].type, "t=%lld agg %d", (long long)t, k);
            if (oa[k].type == FR_T_STRING)
                cr_assert(oa[k].len == ob[k].len && !memcmp(oa[k].u.s, ob[k].u.s, oa[k].len));
            else if (oa[k].type == FR_T_DOUBLE && k != A_SDD)
                cr_assert_eq(oa[k].u.d, ob[k].u.d, "t=%lld agg %d", (long long)t, k);
            else if (oa[k].type == FR_T_LONG)
                cr_assert_eq(oa[k].u.i, ob[k].u.i, "t=%lld agg %d", (long long)t, k);
        }
    }
    /* middle insertion: the tile of 20000 is new and between others */
    ev_full(a, 20000, 100, 1000, 0.0, "mid");
    cr_assert_eq(count_at(a, 59999), 8);
    cr_assert_eq(at(a, 79999, A_SUML, 0).u.i, 1000 + 21 + 31 + 41 + 51 + 61);
    fr_agg_state_free(a);
    fr_agg_state_free(b);
}

Test(window, eviction_and_per_window_drop)
{
    int64_t w[] = {60000, 3600000}, g[] = {10000, 60000};
    mkplan(2, w, g);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    for (int i = 0; i < 6; i++)
        ev_full(st, i * 10000, (uint64_t)i, 1, 1.0, "a");
    cr_assert_eq(st->win[0].len, 6);
    cr_assert_eq(st->win[1].len, 1);
    /* a new newest tile evicts the oldest of the 60 s window */
    ev_full(st, 60000, 6, 1, 1.0, "a");
    cr_assert_eq(st->win[0].len, 6);
    cr_assert_eq(rec_hdr(&st->win[0], 0, st->rec)->idx, 1);
    /* far ahead: everything old goes */
    ev_full(st, 1000000, 7, 1, 1.0, "a");
    cr_assert_eq(st->win[0].len, 1);
    cr_assert_eq(st->win[1].len, 3);
    /* too old for 60 s, fine for 1 h: dropped from the first window only */
    ev_full(st, 1000000 - 120000, 8, 5, 1.0, "b");
    cr_assert_eq(st->win[0].len, 1);
    cr_assert_eq(st->win[1].len, 4);
    fr_agg_state_eval(st, &plan, 1000000, out);
    cr_assert_eq(out[A_COUNT * 2 + 0].u.i, 1);
    cr_assert_eq(out[A_COUNT * 2 + 1].u.i, 9);
    cr_assert_eq(out[A_SUML * 2 + 1].u.i, 8 + 5);
    /* just inside the 60 s horizon: the oldest tile that may still count */
    ev_full(st, 1000000 - 50000, 9, 3, 1.0, "c");
    cr_assert_eq(st->win[0].len, 2);
    cr_assert_eq(at(st, 1000000, A_COUNT, 0).u.i, 2);
    /* one tile older: dropped */
    ev_full(st, 1000000 - 50001, 10, 3, 1.0, "c");
    cr_assert_eq(st->win[0].len, 2);
    cr_assert_eq(at(st, 1000000, A_COUNT, 0).u.i, 2);
    cr_assert_eq(fr_agg_state_events(st), 11);
    cr_assert_eq(fr_agg_state_newest(st), 1000000);
    fr_agg_state_free(st);
}

Test(window, long_window_fine_tiles_many_appends)
{
    /* 1 h in 1 s tiles: eviction is amortised, values stay exact */
    int64_t w[] = {3600000}, g[] = {1000};
    mkplan(1, w, g);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    for (int i = 0; i < 20000; i++)
        ev_full(st, (int64_t)i * 1000, (uint64_t)i, 1, 0.25, "a");
    cr_assert_eq(count_at(st, 19999000), 3600);
    cr_assert_eq(at(st, 19999000, A_SUMD, 0).u.d, 900.0);
    cr_assert_leq(st->win[0].len, 3600 * 2);
    cr_assert_leq(st->win[0].cap, 8192);
    fr_agg_state_free(st);
}

Test(window, optional_fields_are_skipped)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    fr_value_t v[NF];
    for (int i = 0; i < NF; i++)
        v[i].type = FR_T_NULL;
    ev(st, 1000, 1, v);
    fr_agg_state_eval(st, &plan, 1000, out);
    cr_assert_eq(out[A_COUNT].u.i, 1);
    cr_assert_eq(out[A_SINCE].u.i, 0);
    cr_assert_eq(out[A_SUML].type, FR_T_LONG);
    cr_assert_eq(out[A_SUML].u.i, 0);
    cr_assert_eq(out[A_SUMD].u.d, 0.0);
    cr_assert_eq(out[A_DC].u.i, 0);
    assert_null(out[A_AVGD]);
    assert_null(out[A_MINL]);
    assert_null(out[A_MAXD]);
    assert_null(out[A_SDD]);
    assert_null(out[A_LASTS]);
    assert_null(out[A_LASTB]);

    ev_full(st, 2000, 2, 4, 2.0, "s");
    /* a later event without the fields: last keeps the value of 2000 */
    ev(st, 3000, 3, v);
    /* a value of the wrong type is treated as absent too */
    v[F_D] = (fr_value_t){.type = FR_T_LONG, .u.i = 99};
    ev(st, 3500, 4, v);
    fr_agg_state_eval(st, &plan, 4000, out);
    cr_assert_eq(out[A_COUNT].u.i, 4);
    cr_assert_eq(out[A_SINCE].u.i, 500);
    cr_assert_eq(out[A_AVGD].u.d, 2.0);
    cr_assert_eq(out[A_AVGL].u.d, 4.0);
    cr_assert_eq(out[A_SDD].u.d, 0.0);
    cr_assert_eq(out[A_DC].u.i, 1);
    cr_assert_eq(out[A_LASTS].len, 1);
    cr_assert_eq(out[A_LASTS].u.s[0], 's');
    cr_assert_eq(out[A_LASTD].u.d, 2.0);
    fr_agg_state_free(st);
}

Test(window, long_stays_exact_above_2_53)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    int64_t big = (1LL << 53) + 1;
    ev_full(st, 1000, 1, big, 0.0, "a");
    ev_full(st, 11000, 2, big + 2, 0.0, "a");
    ev_full(st, 21000, 3, INT64_MAX - 5, 0.0, "a");
    fr_agg_state_eval(st, &plan, 21000, out);
    cr_assert_eq(out[A_MINL].u.i, big);
    cr_assert_eq(out[A_MAXL].u.i, INT64_MAX - 5);
    cr_assert_eq(out[A_LASTL].u.i, INT64_MAX - 5);
    /* sum wraps modulo 2^64, exactly */
    uint64_t s = (uint64_t)big + (uint64_t)(big + 2) + (uint64_t)(INT64_MAX - 5);
    cr_assert_eq(out[A_SUML].u.i, (int64_t)s);
    fr_agg_state_eval(st, &plan, 11000, out);
    cr_assert_eq(out[A_SUML].u.i, 2 * big + 2);
    cr_assert_eq(out[A_MAXL].u.i, big + 2);
    fr_agg_state_free(st);
    /* min of values that differ only beyond double precision */
    st = fr_agg_state_new(&plan);
    ev_full(st, 1000, 1, big + 1, 0.0, "a");
    ev_full(st, 1001, 2, big, 0.0, "a");
    ev_full(st, 1002, 3, big + 1, 0.0, "a");
    cr_assert_eq(at(st, 1002, A_MINL, 0).u.i, big);
    cr_assert_eq(at(st, 1002, A_MAXL, 0).u.i, big + 1);
    fr_agg_state_free(st);
}

Test(window, last_ties_break_by_offset)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    ev_full(st, 5000, 10, 1, 1.0, "ten");
    ev_full(st, 5000, 5, 2, 2.0, "five"); /* same ts, lower offset: loses */
    fr_value_t v = at(st, 5000, A_LASTS, 0);
    cr_assert(v.len == 3 && !memcmp(v.u.s, "ten", 3));
    ev_full(st, 5000, 11, 3, 3.0, "eleven"); /* same ts, higher offset: wins */
    v = at(st, 5000, A_LASTS, 0);
    cr_assert(v.len == 6 && !memcmp(v.u.s, "eleven", 6));
    cr_assert_eq(at(st, 5000, A_LASTL, 0).u.i, 3);
    ev_full(st, 4999, 99, 4, 4.0, "older"); /* older ts, higher offset: loses */
    cr_assert_eq(at(st, 5000, A_LASTL, 0).u.i, 3);
    /* across tiles: the newer tile wins whatever the offsets */
    ev_full(st, 15000, 1, 5, 5.0, "newer-tile-long-string");
    v = at(st, 15000, A_LASTS, 0);
    cr_assert(v.len == 22 && !memcmp(v.u.s, "newer-tile-long-string", 22));
    /* long string replaced by a short one and back (inline <-> heap) */
    ev_full(st, 15001, 2, 6, 6.0, "s");
    v = at(st, 15001, A_LASTS, 0);
    cr_assert(v.len == 1 && v.u.s[0] == 's');
    ev_full(st, 15002, 3, 7, 7.0, "another-long-string-value");
    ev_full(st, 15003, 4, 8, 8.0, "another-long-string-valu");
    v = at(st, 15003, A_LASTS, 0);
    cr_assert(v.len == 24 && !memcmp(v.u.s, "another-long-string-valu", 24));
    ev_full(st, 15004, 5, 8, 8.0, "another-long-string-value-longer");
    v = at(st, 15004, A_LASTS, 0);
    cr_assert(v.len == 32 && !memcmp(v.u.s, "another-long-string-value-longer", 32));
    fr_agg_state_free(st);
}

Test(window, last_truncates_long_strings)
{
    plan60();
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    size_t n = FR_AGG_MAX_STRING + 100;
    char *s = malloc(n + 1);
    memset(s, 'q', n);
    s[n] = '\0';
    ev_full(st, 1000, 1, 1, 1.0, s);
    fr_value_t v = at(st, 1000, A_LASTS, 0);
    cr_assert_eq(v.len, FR_AGG_MAX_STRING);
    cr_assert_eq(v.u.s[FR_AGG_MAX_STRING - 1], 'q');
    free(s);
    fr_agg_state_free(st);
}

Test(window, several_windows_layout)
{
    int64_t w[] = {300000, 3600000, 86400000};
    int64_t g[] = {fr_agg_default_tile_ms(300000), fr_agg_default_tile_ms(3600000),
                   fr_agg_default_tile_ms(86400000)};
    mkplan(3, w, g);
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    int64_t t0 = 1700000000000LL;
    ev_full(st, t0, 1, 1, 1.0, "a");
    ev_full(st, t0 + 500000, 2, 2, 2.0, "b");
    ev_full(st, t0 + 4000000, 3, 4, 4.0, "c");
    fr_agg_state_eval(st, &plan, t0 + 4000000, out);
    cr_assert_eq(out[A_COUNT * 3 + 0].u.i, 1);
    cr_assert_eq(out[A_COUNT * 3 + 1].u.i, 2, "got %lld", (long long)out[A_COUNT * 3 + 1].u.i);
    cr_assert_eq(out[A_COUNT * 3 + 2].u.i, 3);
    cr_assert_eq(out[A_SUML * 3 + 2].u.i, 7);
    cr_assert_eq(out[A_DC * 3 + 2].u.i, 3);
    cr_assert_eq(out[A_SINCE * 3 + 2].u.i, 0);
    fr_agg_state_free(st);
}

Test(window, extreme_timestamps_and_windows)
{
    /* a huge window in 1 ms tiles next to ordinary ones */
    int64_t w[] = {INT64_MAX / 2, 60000, 1}, g[] = {1, 10000, 1};
    mkplan(3, w, g);
    int64_t ts[] = {INT64_MIN, INT64_MIN + 1, -1, 0, INT64_MAX - 1, INT64_MAX, INT64_MIN + 7};
    fr_agg_state_t *st = fr_agg_state_new(&plan);
    for (int i = 0; i < 7; i++)
        ev_full(st, ts[i], (uint64_t)i, i, 0.25 * i, "x");
    cr_assert_eq(fr_agg_state_newest(st), INT64_MAX);
    int64_t at_t[] = {INT64_MIN, -1, 0, INT64_MAX - 1, INT64_MAX};
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    cr_assert_eq(fr_agg_state_encode(st, &plan, &b), 0);
    fr_agg_state_t *d = NULL;
    cr_assert_eq(fr_agg_state_decode(&plan, b.p, b.len, &d), 0);
    for (int k = 0; k < 5; k++) {
        static fr_value_t x[NA * 3], y[NA * 3], z[NA * 3];
        fr_agg_state_eval(st, &plan, at_t[k], x);
        fr_agg_state_eval(d, &plan, at_t[k], y);
        cr_assert_eq(fr_agg_eval_encoded(&plan, b.p, b.len, at_t[k], z, NULL), 0);
        for (int i = 0; i < NA * 3; i++) {
            cr_assert_eq(x[i].type, y[i].type);
            cr_assert_eq(x[i].type, z[i].type);
            if (x[i].type == FR_T_LONG)
                cr_assert(x[i].u.i == y[i].u.i && x[i].u.i == z[i].u.i);
        }
    }
    /* at INT64_MAX: the 1 ms window holds the one event at INT64_MAX */
    fr_agg_state_eval(st, &plan, INT64_MAX, out);
    cr_assert_eq(out[A_COUNT * 3 + 2].u.i, 1);
    cr_assert_eq(out[A_SINCE * 3 + 2].u.i, 0);
    cr_assert_eq(out[A_COUNT * 3 + 1].u.i, 2, "got %lld", (long long)out[A_COUNT * 3 + 1].u.i);
    fr_buf_destroy(&b);
    fr_agg_state_free(d);
    fr_agg_state_free(st);
}
