/*
 * agg_bench.c - throughput of the aggregation core on the fraud demo's
 * card_txn view (examples/fraud/freshet.yaml): count, sum, avg, max,
 * stddev of amount, count_distinct of merchant_id, last of an optional
 * country, since_last; windows 5m, 1h, 24h with default tiles.
 *
 *   agg_bench [events=5000000] [entities=1000000] [span_hours=24] [zipf_s=1.0]
 *
 * Events pick an entity by Zipf's law (rank k with weight 1/k^s, ranks
 * scattered over the entity ids) and carry near-monotonic timestamps (10%
 * arrive up to 2 s late).  Inputs are generated before timing.  CPU time
 * is reported next to wall time (the machine may be shared).  Prints
 * figures only; never passes or fails.
 */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg/agg.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"

enum { F_CARD, F_AMOUNT, F_MERCHANT, F_COUNTRY, F_TS, NF };

#define NMERCHANTS 50000
#define NCOUNTRIES 20

typedef struct bev {
    uint32_t entity;
    uint32_t merchant;
    int64_t ts;
    double amount;
    int8_t country; /* -1: absent */
} bev_t;

static uint64_t rs = 42;
static uint64_t rnd(void)
{
    rs += 0x9e3779b97f4a7c15ULL;
    return fr_mix64(rs);
}
static double urand(void)
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

/* Wall and CPU time together: on a shared machine the CPU figure is the
 * one that says what the code costs. */
typedef struct tm2 {
    uint64_t wall, cpu;
} tm2_t;

static tm2_t now2(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (tm2_t){fr_mono_ns(), (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec};
}

/* "<rate>/s  <ns> ns/<unit>" by CPU time, then the wall-clock rate. */
static void rate(const char *what, size_t n, const char *unit, tm2_t a, tm2_t b, const char *extra)
{
    double cpu = (double)(b.cpu - a.cpu), wall = (double)(b.wall - a.wall);
    printf("%-15s %10.0f %s/s  %7.1f ns/%s (cpu)   wall: %.0f %s/s, %.2f s%s\n", what,
           (double)n / (cpu / 1e9), unit, cpu / (double)n, unit, (double)n / (wall / 1e9), unit,
           wall / 1e9, extra);
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
    size_t nev = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
    size_t nent = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    double span_h = argc > 3 ? strtod(argv[3], NULL) : 24.0;
    double zs = argc > 4 ? strtod(argv[4], NULL) : 1.0;
    if (!nev || !nent || nent > UINT32_MAX || span_h <= 0 || zs < 0) {
        fprintf(stderr, "usage: agg_bench [events] [entities] [span_hours] [zipf_s]\n");
        return 2;
    }

    fr_agg_plan_t plan;
    memset(&plan, 0, sizeof plan);
    fr_agg_spec_t aggs[] = {
        {FR_FN_COUNT, -1, FR_T_NULL},          {FR_FN_SUM, F_AMOUNT, FR_T_DOUBLE},
        {FR_FN_AVG, F_AMOUNT, FR_T_DOUBLE},    {FR_FN_MAX, F_AMOUNT, FR_T_DOUBLE},
        {FR_FN_STDDEV, F_AMOUNT, FR_T_DOUBLE}, {FR_FN_COUNT_DISTINCT, F_MERCHANT, FR_T_STRING},
        {FR_FN_LAST, F_COUNTRY, FR_T_STRING},  {FR_FN_SINCE_LAST, -1, FR_T_NULL},
    };
    plan.naggs = sizeof aggs / sizeof *aggs;
    memcpy(plan.aggs, aggs, sizeof aggs);
    int64_t wins[] = {300000, 3600000, 86400000};
    plan.nwindows = 3;
    for (int w = 0; w < 3; w++)
        plan.windows[w] = (fr_window_spec_t){wins[w], fr_agg_default_tile_ms(wins[w])};
    if (fr_agg_plan_init(&plan)) {
        fprintf(stderr, "bad plan\n");
        return 1;
    }

    /* Inputs. */
    static char merchants[NMERCHANTS][12];
    static const char *countries[NCOUNTRIES] = {"US", "GB", "DE", "FR", "ES", "IT", "NL",
                                                "SE", "PL", "BR", "MX", "CA", "AU", "JP",
                                                "IN", "SG", "ZA", "NG", "AR", "IE"};
    for (int m = 0; m < NMERCHANTS; m++)
        snprintf(merchants[m], sizeof merchants[m], "m%06d", m);
    bev_t *ev = malloc(nev * sizeof *ev);
    fr_agg_state_t **st = calloc(nent, sizeof *st);
    if (!ev || !st) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    /* Zipf CDF over ranks 1..nent. */
    double *cdf = malloc(nent * sizeof *cdf), acc = 0;
    if (!cdf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t k = 0; k < nent; k++)
        cdf[k] = acc += pow((double)(k + 1), -zs);
    int64_t t0 = 1700000000000LL;
    double step = span_h * 3600000.0 / (double)nev;
    size_t top1 = 0;
    for (size_t i = 0; i < nev; i++) {
        bev_t *e = &ev[i];
        double u = urand() * acc;
        size_t lo = 0, hi = nent - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        top1 += lo < nent / 100;
        e->entity = (uint32_t)(((uint64_t)lo * 2654435761ULL) % nent);
        /* a card mostly shops at a few merchants of its own */
        uint64_t home = fr_mix64(e->entity) % NMERCHANTS;
        e->merchant = (uint32_t)(rnd() % 4 ? (home + rnd() % 5) % NMERCHANTS : rnd() % NMERCHANTS);
        e->ts = t0 + (int64_t)((double)i * step);
        if (rnd() % 10 == 0)
            e->ts -= (int64_t)(rnd() % 2000);
        e->amount = floor(exp(urand() * 10.0)) / 100.0; /* 0.01 .. 220 */
        e->country = rnd() % 10 == 0 ? -1
                                     : (int8_t)(rnd() % 3 ? fr_mix64(e->entity) % NCOUNTRIES
                                                          : rnd() % NCOUNTRIES);
    }

    /* Apply. */
    size_t heap0 = heap_used();
    fr_value_t vals[NF];
    memset(vals, 0, sizeof vals);
    tm2_t a0 = now2();
    for (size_t i = 0; i < nev; i++) {
        const bev_t *e = &ev[i];
        fr_agg_state_t **sp = &st[e->entity];
        if (!*sp) {
            *sp = fr_agg_state_new(&plan);
            if (!*sp) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
        }
        /* the entity key is not aggregated: the caller found the state */
        vals[F_CARD] = (fr_value_t){.type = FR_T_STRING, .len = 8, .u.s = "c0000000"};
        vals[F_AMOUNT] = (fr_value_t){.type = FR_T_DOUBLE, .u.d = e->amount};
        vals[F_MERCHANT] =
            (fr_value_t){.type = FR_T_STRING, .len = 7, .u.s = merchants[e->merchant]};
        if (e->country < 0)
            vals[F_COUNTRY].type = FR_T_NULL;
        else
            vals[F_COUNTRY] =
                (fr_value_t){.type = FR_T_STRING, .len = 2, .u.s = countries[e->country]};
        vals[F_TS] = (fr_value_t){.type = FR_T_LONG, .u.i = e->ts};
        if (fr_agg_state_apply(*sp, &plan, e->ts, i, vals)) {
            fprintf(stderr, "apply failed\n");
            return 1;
        }
    }
    tm2_t a1 = now2();
    size_t heap1 = heap_used();
    size_t touched = 0;
    int64_t newest = INT64_MIN;
    for (size_t k = 0; k < nent; k++)
        if (st[k]) {
            touched++;
            if (fr_agg_state_newest(st[k]) > newest)
                newest = fr_agg_state_newest(st[k]);
        }

    printf("agg_bench: card_txn plan, %zu aggregations x %zu windows (5m/5s, 1h/1m, 24h/24m)\n",
           plan.naggs, plan.nwindows);
    printf("events          %zu over %zu entities (%zu touched), %.1f h of event time\n", nev, nent,
           touched, span_h);
    printf("skew            zipf s=%.2f: top 1%% of entities get %.1f%% of events\n", zs,
           100.0 * (double)top1 / (double)nev);
    rate("apply", nev, "event", a0, a1, "");
    printf("state memory    %.1f MiB heap, %.0f bytes per touched entity\n",
           (double)(heap1 - heap0) / 1048576.0, (double)(heap1 - heap0) / (double)touched);

    /* Eval at the end of the stream, every touched entity. */
    fr_value_t out[FR_AGG_MAX_AGGS * FR_AGG_MAX_WINDOWS];
    int64_t t = newest + 1000;
    volatile int64_t sink = 0;
    tm2_t e0 = now2();
    for (size_t k = 0; k < nent; k++)
        if (st[k]) {
            fr_agg_state_eval(st[k], &plan, t, out);
            sink += out[0].u.i;
        }
    tm2_t e1 = now2();
    rate("eval", touched, "state", e0, e1, "  (24 features)");

    /* Encode everything (one reused buffer); keep the first sample for the
     * decode and eval_encoded passes. */
    fr_buf_t b, keep;
    fr_buf_init(&b, 1 << 24);
    fr_buf_init(&keep, (size_t)1 << 31);
    size_t sample = touched < 200000 ? touched : 200000, ns = 0;
    size_t *offs = malloc((sample + 1) * sizeof *offs);
    size_t bytes = 0;
    tm2_t c0 = now2();
    for (size_t k = 0; k < nent; k++)
        if (st[k]) {
            fr_buf_reset(&b);
            if (fr_agg_state_encode(st[k], &plan, &b)) {
                fprintf(stderr, "encode failed\n");
                return 1;
            }
            bytes += b.len;
        }
    tm2_t c1 = now2();
    for (size_t k = 0; k < nent && ns < sample; k++)
        if (st[k]) {
            offs[ns++] = keep.len;
            if (fr_agg_state_encode(st[k], &plan, &keep)) {
                fprintf(stderr, "encode failed\n");
                return 1;
            }
        }
    offs[ns] = keep.len;
    char extra[64];
    snprintf(extra, sizeof extra, "  (%.1f bytes/state)", (double)bytes / (double)touched);
    rate("encode", touched, "state", c0, c1, extra);

    tm2_t d0 = now2();
    for (size_t k = 0; k < ns; k++) {
        fr_agg_state_t *d = NULL;
        if (fr_agg_state_decode(&plan, keep.p + offs[k], offs[k + 1] - offs[k], &d)) {
            fprintf(stderr, "decode failed\n");
            return 1;
        }
        fr_agg_state_free(d);
    }
    tm2_t d1 = now2();
    rate("decode+free", ns, "state", d0, d1, "");

    tm2_t x0 = now2();
    for (size_t k = 0; k < ns; k++) {
        int64_t nw;
        if (fr_agg_eval_encoded(&plan, keep.p + offs[k], offs[k + 1] - offs[k], t, out, &nw)) {
            fprintf(stderr, "eval_encoded failed\n");
            return 1;
        }
        sink += out[0].u.i;
    }
    tm2_t x1 = now2();
    rate("eval_encoded", ns, "state", x0, x1, "");

    for (size_t k = 0; k < nent; k++)
        fr_agg_state_free(st[k]);
    free(st);
    free(ev);
    free(offs);
    free(cdf);
    fr_buf_destroy(&b);
    fr_buf_destroy(&keep);
    (void)sink;
    return 0;
}
