/*
 * drift_test.c - src/model/drift.c: reference bins, PSI and JS against
 * numpy/scipy (fixtures/drift.txt, written by make_drift_fixtures.py from
 * the same LCG samples this file draws), hand-computed distances, the
 * sliding window, concurrent adds, and the reference's encoding.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/drift.h"

#define FIXTURES "tests/unit/model/fixtures/drift.txt"
#define NIN 4

/* ---- the samples (make_drift_fixtures.py draws the same) ---- */

typedef struct lcg {
    uint64_t s;
} lcg_t;

static double u(lcg_t *g)
{
    g->s = g->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g->s >> 11) / 9007199254740992.0;
}

/* n rows of NIN inputs into x, scores into s. */
static void sample(uint64_t seed, size_t n, int live, float *x, float *s)
{
    lcg_t g = {seed};
    for (size_t i = 0; i < n; i++) {
        double v[8];
        for (int k = 0; k < 8; k++)
            v[k] = u(&g);
        float *r = x + i * NIN;
        r[0] = (float)((v[0] + v[1] + v[2]) * 100.0 + (live ? 30.0 : 0.0));
        r[1] = v[3] < 0.1 ? NAN : (v[4] < (live ? 0.6 : 0.3) ? 1.0f : 0.0f);
        r[2] = v[5] < 0.6 ? 0.0f : (float)(v[6] * 50.0);
        r[3] = live && v[7] > 0.9 ? 7.0f : (float)(int)(v[7] * 4);
        s[i] = (float)(v[6] * v[7]);
    }
}

static fr_drift_ref_t *reference(void)
{
    float *x = malloc(5000 * NIN * sizeof *x), *s = malloc(5000 * sizeof *s);
    sample(11, 5000, 0, x, s);
    fr_drift_ref_t *r;
    cr_assert_eq(fr_drift_ref_build(x, 5000, NIN, s, NULL, &r), 0);
    free(x);
    free(s);
    return r;
}

/* ---- numpy and scipy's values ---- */

typedef struct fcol {
    char set[16];
    int col;
    char kind[16];
    size_t npoints;
    double points[64];
    uint64_t ref[66], cur[66];
    size_t nbins;
    double psi, js;
} fcol_t;

static size_t read_counts(FILE *f, const char *tag, uint64_t *v)
{
    char t[8];
    cr_assert_eq(fscanf(f, " %7s", t), 1);
    cr_assert_str_eq(t, tag);
    size_t n = 0;
    int ch;
    for (;;) {
        while ((ch = fgetc(f)) == ' ')
            ;
        if (ch == '\n' || ch == EOF)
            return n;
        ungetc(ch, f);
        unsigned long long k;
        cr_assert_eq(fscanf(f, "%llu", &k), 1);
        v[n++] = k;
    }
}

static int read_col(FILE *f, fcol_t *c)
{
    int ch;
    while ((ch = fgetc(f)) == '#')
        while ((ch = fgetc(f)) != '\n' && ch != EOF)
            ;
    if (ch == EOF)
        return 0;
    ungetc(ch, f);
    cr_assert_eq(fscanf(f, "%15s %d %15s %zu", c->set, &c->col, c->kind, &c->npoints), 4);
    for (size_t i = 0; i < c->npoints; i++)
        cr_assert_eq(fscanf(f, "%lf", &c->points[i]), 1);
    c->nbins = read_counts(f, "ref", c->ref);
    cr_assert_eq(read_counts(f, "cur", c->cur), c->nbins);
    cr_assert_eq(fscanf(f, " psi %lf js %lf ", &c->psi, &c->js), 2);
    return 1;
}

static void near(double got, double want, double tol, const char *what)
{
    cr_assert(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

Test(drift, bins_psi_and_js_equal_numpy_and_scipy)
{
    fr_drift_ref_t *r = reference();
    cr_assert_eq(fr_drift_ref_columns(r), NIN + 1);
    float *x = malloc(3000 * NIN * sizeof *x), *s = malloc(3000 * sizeof *s);
    uint64_t *shifted = calloc(fr_drift_ref_bins(r), sizeof *shifted);
    uint64_t *unshifted = calloc(fr_drift_ref_bins(r), sizeof *unshifted);
    sample(12, 3000, 1, x, s);
    for (size_t i = 0; i < 3000; i++)
        fr_drift_ref_add(r, shifted, x + i * NIN, s[i]);
    sample(13, 3000, 0, x, s);
    for (size_t i = 0; i < 3000; i++)
        fr_drift_ref_add(r, unshifted, x + i * NIN, s[i]);

    FILE *f = fopen(FIXTURES, "r");
    cr_assert_not_null(f, "%s (run the tests from the repository root)", FIXTURES);
    fcol_t c;
    int seen = 0;
    while (read_col(f, &c)) {
        fr_drift_col_t col;
        fr_drift_ref_col(r, (size_t)c.col, &col);
        const char *kind = col.kind == FR_DRIFT_NUMERIC ? "numeric" : "values";
        cr_assert_str_eq(kind, c.kind, "column %d", c.col);
        cr_assert_eq(col.npoints, c.npoints, "column %d points", c.col);
        for (size_t i = 0; i < c.npoints; i++)
            cr_assert_eq(col.points[i], c.points[i], "column %d point %zu: %.17g vs %.17g", c.col,
                         i, col.points[i], c.points[i]);
        cr_assert_eq(col.nbins, c.nbins);
        cr_assert_eq(col.total, 5000);
        const uint64_t *live = !strcmp(c.set, "shifted") ? shifted : unshifted;
        for (size_t i = 0; i < c.nbins; i++) {
            cr_assert_eq(col.counts[i], c.ref[i], "column %d ref bin %zu", c.col, i);
            cr_assert_eq(live[col.offset + i], c.cur[i], "%s column %d bin %zu", c.set, c.col, i);
        }
        fr_drift_stat_t st;
        fr_drift_compare(r, (size_t)c.col, live, NULL, &st);
        char what[64];
        snprintf(what, sizeof what, "%s column %d psi", c.set, c.col);
        near(st.psi, c.psi, 1e-12, what);
        snprintf(what, sizeof what, "%s column %d js", c.set, c.col);
        near(st.js, c.js, 1e-12, what);
        cr_assert_eq(st.count, 3000);
        seen++;
    }
    fclose(f);
    cr_assert_eq(seen, 2 * (NIN + 1));

    /* what the fixtures show: the shifted inputs alert, the rest is ok */
    fr_drift_stat_t st[NIN + 1];
    const fr_drift_status_t want[NIN + 1] = {FR_DRIFT_ALERT, FR_DRIFT_ALERT, FR_DRIFT_OK,
                                             FR_DRIFT_ALERT, FR_DRIFT_OK};
    for (size_t i = 0; i <= NIN; i++) {
        fr_drift_compare(r, i, shifted, NULL, &st[i]);
        cr_assert_eq(st[i].status, want[i], "column %zu: %s", i,
                     fr_drift_status_name(st[i].status));
        fr_drift_compare(r, i, unshifted, NULL, &st[i]);
        cr_assert_eq(st[i].status, FR_DRIFT_OK, "column %zu unshifted", i);
    }
    free(shifted);
    free(unshifted);
    free(x);
    free(s);
    fr_drift_ref_free(r);
}

Test(drift, hand_computed_distances_and_statuses)
{
    uint64_t ref[] = {50, 50}, cur[] = {25, 75};
    /* (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) */
    double psi = -0.25 * log(0.5) + 0.25 * log(1.5);
    near(fr_drift_psi(ref, cur, 2), psi, 1e-15, "psi");
    /* m = (0.375, 0.625) */
    double js = 0.5 * (0.5 * log(0.5 / 0.375) + 0.5 * log(0.5 / 0.625)) +
                0.5 * (0.25 * log(0.25 / 0.375) + 0.75 * log(0.75 / 0.625));
    near(fr_drift_js(ref, cur, 2), sqrt(js), 1e-15, "js");
    /* an empty bin counts as 1e-4 in PSI; JS needs no floor */
    uint64_t r2[] = {100, 0}, c2[] = {50, 50};
    near(fr_drift_psi(r2, c2, 2), (0.5 - 1) * log(0.5) + (0.5 - 1e-4) * log(0.5 / 1e-4), 1e-12,
         "floored psi");
    near(fr_drift_js(r2, c2, 2),
         sqrt(0.5 * log(1 / 0.75) + 0.5 * (0.5 * log(0.5 / 0.75) + 0.5 * log(0.5 / 0.25))),
         1e-12, "js with an empty bin");
    /* disjoint supports: JS reaches sqrt(ln 2) */
    uint64_t r3[] = {10, 0}, c3[] = {0, 10};
    near(fr_drift_js(r3, c3, 2), sqrt(log(2)), 1e-15, "disjoint js");
    near(fr_drift_psi(ref, ref, 2), 0, 0, "same psi");
    near(fr_drift_js(ref, ref, 2), 0, 0, "same js");
    uint64_t zero[] = {0, 0};
    cr_assert(isnan(fr_drift_psi(ref, zero, 2)) && isnan(fr_drift_js(zero, ref, 2)));
    cr_assert_str_eq(fr_drift_status_name(FR_DRIFT_NO_DATA), "no_data");
    cr_assert_str_eq(fr_drift_status_name(FR_DRIFT_WARN), "warn");
}

Test(drift, bins_close_on_the_right_and_unseen_values_go_to_other)
{
    /* 20 distinct values 1..20, then 1..20 again: edges are numpy's */
    float x[40], s[40];
    for (int i = 0; i < 40; i++) {
        x[i] = (float)(i % 20 + 1);
        s[i] = i % 2 ? 1.0f : 0.0f; /* two values: binned by value */
    }
    fr_drift_ref_t *r;
    cr_assert_eq(fr_drift_ref_build(x, 40, 1, s, NULL, &r), 0);
    fr_drift_col_t c;
    fr_drift_ref_col(r, 0, &c);
    cr_assert_eq(c.kind, FR_DRIFT_NUMERIC);
    cr_assert_eq(c.npoints, 9);
    /* sorted: 1,1,2,2,...; q=0.1: h = 3.9 -> a[3] + 0.9 (a[4] - a[3]) = 2 + 0.9 */
    near(c.points[0], 2.9, 1e-12, "first edge");
    cr_assert_eq(fr_drift_bin(r, 0, -1e300), 0);
    cr_assert_eq(fr_drift_bin(r, 0, c.points[0]), 0, "an edge belongs to the bin below");
    cr_assert_eq(fr_drift_bin(r, 0, nextafter(c.points[0], 100)), 1);
    cr_assert_eq(fr_drift_bin(r, 0, 1e300), 9);
    cr_assert_eq(fr_drift_bin(r, 0, INFINITY), 9);
    cr_assert_eq(fr_drift_bin(r, 0, NAN), 10);
    fr_drift_ref_col(r, 1, &c);
    cr_assert_eq(c.kind, FR_DRIFT_VALUES);
    cr_assert_eq(c.npoints, 2);
    cr_assert_eq(fr_drift_bin(r, 1, 0.0), 0);
    cr_assert_eq(fr_drift_bin(r, 1, 1.0), 1);
    cr_assert_eq(fr_drift_bin(r, 1, 0.5), 2, "an unseen value is other");
    cr_assert_eq(fr_drift_bin(r, 1, NAN), 3);
    fr_drift_ref_free(r);

    /* all null: no points, everything in the null bin */
    float nx[3] = {NAN, NAN, NAN}, ns[3] = {0.5f, 0.5f, 0.5f};
    cr_assert_eq(fr_drift_ref_build(nx, 3, 1, ns, NULL, &r), 0);
    fr_drift_ref_col(r, 0, &c);
    cr_assert_eq(c.npoints, 0);
    cr_assert_eq(c.nbins, 2);
    cr_assert_eq(c.counts[1], 3);
    fr_drift_ref_free(r);

    cr_assert_eq(fr_drift_ref_build(nx, 0, 1, ns, NULL, &r), FR_EINVAL);
    fr_drift_opts_t bad = {.bins = 1, .max_distinct = 10};
    cr_assert_eq(fr_drift_ref_build(nx, 3, 1, ns, &bad, &r), FR_EINVAL);
}

Test(drift, the_window_slides_and_old_vectors_expire)
{
    fr_drift_ref_t *r = reference();
    fr_drift_live_t *l;
    const int64_t min = 60000, hour = 60 * min;
    cr_assert_eq(fr_drift_live_new(r, hour, 12, &l), 0);
    float x[NIN] = {100, 1, 0, 2};
    const int64_t t0 = 1699999800000; /* a 5-minute boundary */
    for (int i = 0; i < 10; i++)
        fr_drift_live_add(l, t0 + i, x, 0.5f);
    x[0] = 300;
    for (int i = 0; i < 7; i++)
        fr_drift_live_add(l, t0 + 30 * min, x, 0.5f);
    uint64_t *counts = calloc(fr_drift_ref_bins(r), sizeof *counts), n;
    fr_drift_live_counts(l, t0 + 59 * min, counts, &n);
    cr_assert_eq(n, 17);
    fr_drift_col_t c;
    fr_drift_ref_col(r, 0, &c);
    cr_assert_eq(counts[c.offset + fr_drift_bin(r, 0, 100)], 10);
    cr_assert_eq(counts[c.offset + c.nbins - 2], 7, "300 lands in the last bin");
    /* an hour after t0's slot began, its vectors are out */
    fr_drift_live_counts(l, t0 + hour, counts, &n);
    cr_assert_eq(n, 7);
    /* vectors after `now` are not counted yet */
    fr_drift_live_counts(l, t0 + 29 * min, counts, &n);
    cr_assert_eq(n, 10);
    /* a new vector in t0's slot, a window later, replaces its counts */
    fr_drift_live_add(l, t0 + hour + 1, x, 0.5f);
    fr_drift_live_counts(l, t0 + hour + 2, counts, &n);
    cr_assert_eq(n, 8);
    /* and now one for t0's own interval is too late */
    cr_assert_eq(fr_drift_live_dropped(l), 0);
    fr_drift_live_add(l, t0 + 5, x, 0.5f);
    cr_assert_eq(fr_drift_live_dropped(l), 1);
    fr_drift_live_counts(l, t0 + hour + 2, counts, &n);
    cr_assert_eq(n, 8);
    /* reports: no data far ahead; one column per input and the score */
    fr_drift_stat_t st[NIN + 1];
    cr_assert_eq(fr_drift_live_report(l, t0 + 10 * hour, NULL, st, &n), 0);
    cr_assert_eq(n, 0);
    for (int i = 0; i <= NIN; i++) {
        cr_assert_eq(st[i].status, FR_DRIFT_NO_DATA);
        cr_assert(isnan(st[i].psi));
    }
    cr_assert_eq(fr_drift_live_report(l, t0 + hour + 2, NULL, st, &n), 0);
    cr_assert_eq(st[0].count, 8);
    cr_assert_eq(st[0].status, FR_DRIFT_ALERT, "every value in one bin");
    /* times at the ends of int64 do not overflow */
    fr_drift_live_add(l, INT64_MIN, x, 0.5f);
    fr_drift_live_add(l, INT64_MAX, x, 0.5f);
    fr_drift_live_counts(l, INT64_MAX, counts, &n);
    cr_assert_eq(n, 1);
    fr_drift_live_counts(l, INT64_MIN, counts, &n);
    fr_drift_live_free(l);
    cr_assert_eq(fr_drift_live_new(r, 5, 12, &l), FR_EINVAL);
    cr_assert_eq(fr_drift_live_new(r, hour, 0, &l), FR_EINVAL);
    free(counts);
    fr_drift_ref_free(r);
}

/* ---- many adders ---- */

typedef struct adder {
    fr_drift_live_t *l;
    int id;
} adder_t;

#define PER_THREAD 20000

static void *add_many(void *arg)
{
    adder_t *a = arg;
    lcg_t g = {(uint64_t)a->id + 100};
    float x[NIN];
    for (int i = 0; i < PER_THREAD; i++) {
        x[0] = (float)(u(&g) * 300);
        x[1] = u(&g) < 0.5 ? 1.0f : 0.0f;
        x[2] = 0;
        x[3] = (float)(a->id % 4);
        /* anywhere in the last 50 minutes of the window */
        fr_drift_live_add(a->l, 1700000000000 + (int64_t)(u(&g) * 3000000), x, 0.25f);
    }
    return NULL;
}

Test(drift, concurrent_adds_are_all_counted)
{
    fr_drift_ref_t *r = reference();
    fr_drift_live_t *l;
    cr_assert_eq(fr_drift_live_new(r, 3600000, 12, &l), 0);
    enum { NT = 8 };
    pthread_t th[NT];
    adder_t a[NT];
    for (int i = 0; i < NT; i++) {
        a[i] = (adder_t){l, i};
        cr_assert_eq(pthread_create(&th[i], NULL, add_many, &a[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    uint64_t *counts = calloc(fr_drift_ref_bins(r), sizeof *counts), n;
    fr_drift_live_counts(l, 1700000000000 + 3000000, counts, &n);
    cr_assert_eq(n, (uint64_t)NT * PER_THREAD);
    fr_drift_col_t c;
    fr_drift_ref_col(r, 3, &c);
    for (int v = 0; v < 4; v++)
        cr_assert_eq(counts[c.offset + (size_t)v], (uint64_t)PER_THREAD * 2, "value %d", v);
    cr_assert_eq(fr_drift_live_dropped(l), 0);
    free(counts);
    fr_drift_live_free(l);
    fr_drift_ref_free(r);
}

/* ---- encoding ---- */

Test(drift, the_encoding_round_trips_and_refuses_damage)
{
    fr_drift_ref_t *r = reference();
    fr_buf_t b, b2;
    fr_buf_init(&b, 1 << 20);
    fr_buf_init(&b2, 1 << 20);
    cr_assert_eq(fr_drift_ref_encode(r, &b), 0);
    cr_assert_lt(b.len, 600, "%zu bytes", b.len);
    fr_drift_ref_t *d;
    cr_assert_eq(fr_drift_ref_decode(b.p, b.len, &d), 0);
    cr_assert_eq(fr_drift_ref_encode(d, &b2), 0);
    cr_assert_eq(b2.len, b.len);
    cr_assert(memcmp(b.p, b2.p, b.len) == 0);
    cr_assert_eq(fr_drift_ref_bins(d), fr_drift_ref_bins(r));
    for (double v = -10; v < 400; v += 0.37)
        for (size_t c = 0; c <= NIN; c++)
            cr_assert_eq(fr_drift_bin(d, c, v), fr_drift_bin(r, c, v));
    fr_drift_ref_free(d);
    /* every truncation and trailing byte is refused */
    for (size_t n = 0; n < b.len; n++)
        cr_assert_eq(fr_drift_ref_decode(b.p, n, &d), FR_ECORRUPT, "cut at %zu", n);
    fr_buf_addc(&b, 0);
    cr_assert_eq(fr_drift_ref_decode(b.p, b.len, &d), FR_ECORRUPT);
    b.len--;
    /* flipped bytes: refused, or a consistent reference */
    for (size_t i = 0; i < b.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (char)(1 << bit);
            if (fr_drift_ref_decode(b.p, b.len, &d) == 0) {
                fr_buf_reset(&b2);
                cr_assert_eq(fr_drift_ref_encode(d, &b2), 0);
                fr_drift_ref_free(d);
            }
            b.p[i] ^= (char)(1 << bit);
        }
    /* JSON of a numeric and a values column */
    fr_buf_reset(&b2);
    cr_assert_eq(fr_drift_ref_json(r, 1, &b2), 0);
    cr_assert_str_eq(b2.p, "{\"kind\":\"values\",\"values\":[0.0,1.0],\"counts\":[3187,1307],"
                           "\"other\":0,\"null\":506}");
    fr_buf_reset(&b2);
    cr_assert_eq(fr_drift_ref_json(r, 2, &b2), 0);
    cr_assert(strstr(b2.p, "{\"kind\":\"numeric\",\"edges\":[0.0,11.93194217681884"), "%s", b2.p);
    cr_assert(strstr(b2.p, "\"counts\":[3022,478,500,500,500],\"null\":0}"), "%s", b2.p);
    fr_buf_destroy(&b);
    fr_buf_destroy(&b2);
    fr_drift_ref_free(r);
}
