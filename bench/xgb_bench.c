/*
 * xgb_bench.c - XGBoost in freshet: training time, and prediction cost per
 * row with freshet's predictor beside a naive in-place prediction.
 *
 *   xgb_bench [rows=1000000] [rounds=200] [nthread=2] [predict=200000]
 *
 * Data: rows x 30 float inputs from a seeded generator, 5% missing; the
 * label is drawn from a logistic of a nonlinear function of 8 of them
 * (the rest is noise), so the model has something to learn.  The newest
 * 20% validate, as `freshet train` splits.  Training: binary:logistic,
 * max_depth 6, eta 0.1, early stopping off so every round runs.
 *
 * Prediction, on `predict` validation rows, one thread unless said:
 *   predictor, 1 row      fr_xgb_predict_row: JSON built once, one proxy
 *   predictor, batch 100  fr_xgb_predict on 100 rows per call
 *   naive, 1 row          XGBoosterPredictFromDense with the array
 *                         interface and config formatted per call and no
 *                         proxy (xgboost makes one per call): the baseline
 *   predictor, 2 threads  one predictor per thread over one shared model
 * CPU time is per thread (CLOCK_THREAD_CPUTIME_ID) next to wall time.
 * The naive path's scores are compared with the predictor's (they must be
 * equal).  Prints figures only; never passes or fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

#include "core/err.h"
#include "model/metrics.h"
#include "model/xgb.h"

#define NCOL 30

static uint64_t ns_of(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rs = 0x9e3779b97f4a7c15ULL;

static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

static void make_data(size_t n, float *x, float *y)
{
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * NCOL;
        for (int j = 0; j < NCOL; j++)
            r[j] = urand() < 0.05 ? NAN : (float)(urand() * 2 - 1);
        double a = isnan(r[0]) ? 0 : r[0], b = isnan(r[1]) ? 0.5 : r[1];
        double c = isnan(r[2]) ? 0 : r[2], d = isnan(r[3]) ? 0 : r[3];
        double z = 1.5 * a - 2 * b * b + (c > 0.2 ? 1.2 : -0.4) + c * d +
                   (isnan(r[4]) ? 1 : 0.8 * r[4]) - 0.7 * fabs(isnan(r[5]) ? 0 : r[5]) +
                   (r[6] > 0.9f ? 2 : 0) - (r[7] < -0.5f ? 1 : 0) - 1.8;
        y[i] = urand() < 1 / (1 + exp(-z)) ? 1.0f : 0.0f;
    }
}

typedef struct lap {
    uint64_t wall, cpu;
} lap_t;

static lap_t lap_now(void)
{
    return (lap_t){ns_of(CLOCK_MONOTONIC), ns_of(CLOCK_THREAD_CPUTIME_ID)};
}

static void report(const char *what, lap_t a, lap_t b, size_t rows)
{
    double cpu = (double)(b.cpu - a.cpu), wall = (double)(b.wall - a.wall);
    printf("%-24s %8.2f us/row (cpu) %9.0f rows/s (cpu)   wall %.2f us/row, %.2f s\n", what,
           cpu / 1e3 / (double)rows, (double)rows / (cpu / 1e9), wall / 1e3 / (double)rows,
           wall / 1e9);
}

static int progress(const fr_xgb_progress_t *p, void *arg)
{
    (void)arg;
    if ((p->round + 1) % 50 == 0)
        fprintf(stderr, "  round %d/%d valid-%s %.6f\n", p->round + 1, p->rounds, p->metric,
                p->value);
    return 0;
}

typedef struct worker {
    const fr_xgb_model_t *m;
    const float *x;
    size_t n;
    lap_t a, b;
    int failed;
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    fr_xgb_predictor_t *p;
    if (fr_xgb_predictor_new(w->m, 1, &p)) {
        w->failed = 1;
        return NULL;
    }
    float s;
    w->a = lap_now();
    for (size_t i = 0; i < w->n; i++)
        w->failed |= fr_xgb_predict_row(p, w->x + i * NCOL, &s, NULL, 0) != 0;
    w->b = lap_now();
    fr_xgb_predictor_free(p);
    return NULL;
}

/* argv[i] as a whole number in [lo, hi], dflt when absent; -1 if bad. */
static long arg(int argc, char **argv, int i, long dflt, long lo, long hi)
{
    if (argc <= i)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(argv[i], &end, 10);
    return errno || end == argv[i] || *end || v < lo || v > hi ? -1 : v;
}

int main(int argc, char **argv)
{
    long a_rows = arg(argc, argv, 1, 1000000, 100, 50000000);
    long a_rounds = arg(argc, argv, 2, 200, 1, FR_XGB_MAX_ROUNDS);
    long a_nthread = arg(argc, argv, 3, 2, 0, 256);
    long a_npred = arg(argc, argv, 4, 200000, 100, 50000000);
    if (a_rows < 0 || a_rounds < 0 || a_nthread < 0 || a_npred < 0) {
        fprintf(stderr, "usage: xgb_bench [rows=1000000] [rounds=200] [nthread=2] "
                        "[predict=200000]\n");
        return 2;
    }
    size_t rows = (size_t)a_rows, npred = (size_t)a_npred;
    int rounds = (int)a_rounds, nthread = (int)a_nthread;
    size_t ntr = rows / 5 * 4, nva = rows - ntr;
    if (npred > nva)
        npred = nva;
    float *x = malloc(rows * NCOL * sizeof *x), *y = malloc(rows * sizeof *y);
    if (!x || !y)
        return 1;
    make_data(rows, x, y);
    int major, minor, patch;
    XGBoostVersion(&major, &minor, &patch);
    printf("libxgboost %d.%d.%d; %zu rows (%zu train, %zu validate) x %d inputs, %d rounds, "
           "nthread %d\n",
           major, minor, patch, rows, ntr, nva, NCOL, rounds, nthread);

    char r[16], t[16], err[512];
    snprintf(r, sizeof r, "%d", rounds);
    snprintf(t, sizeof t, "%d", nthread);
    fr_xgb_param_t ps[] = {{"objective", "binary:logistic"}, {"max_depth", "6"},
                           {"eta", "0.1"},                  {"rounds", r},
                           {"early_stopping_rounds", "0"},  {"nthread", t}};
    fr_xgb_train_opts_t o = {.params = ps, .nparams = 6, .progress = progress};
    void *bytes;
    size_t len;
    fr_xgb_train_info_t info;
    uint64_t w0 = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
    int rc = fr_xgb_train(NCOL, x, y, ntr, x + ntr * NCOL, y + ntr, nva, &o, &bytes, &len, &info,
                          err, sizeof err);
    uint64_t w1 = ns_of(CLOCK_MONOTONIC), c1 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
    if (rc) {
        fprintf(stderr, "train: %s\n", err);
        return 1;
    }
    printf("training                 %.2f s wall, %.2f s cpu, %d rounds, model %zu bytes, "
           "valid-%s %.6f\n",
           (double)(w1 - w0) / 1e9, (double)(c1 - c0) / 1e9, info.rounds_run, len, info.metric,
           info.best_score);

    fr_xgb_model_t *m;
    rc = fr_xgb_model_load(bytes, len, &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    const float *xv = x + ntr * NCOL;
    float *s1 = malloc(nva * sizeof *s1), *s2 = malloc(nva * sizeof *s2);

    /* all validation rows in batches, for the metrics */
    fr_xgb_predictor_t *pb;
    fr_xgb_predictor_new(m, 100, &pb);
    for (size_t i = 0; i < nva; i += 100) {
        size_t n = nva - i < 100 ? nva - i : 100;
        memcpy(fr_xgb_predictor_row(pb, 0), xv + i * NCOL, n * NCOL * sizeof *xv);
        fr_xgb_predict(pb, n, s1 + i, NULL, 0);
    }
    fr_metrics_t mt;
    fr_metrics_compute(y + ntr, s1, nva, &mt);
    printf("validation               auc_roc %.4f auc_pr %.4f log_loss %.4f label_rate %.3f\n",
           mt.auc_roc, mt.auc_pr, mt.log_loss, mt.label_rate);

    /* predictor, one row per call */
    fr_xgb_predictor_t *p;
    fr_xgb_predictor_new(m, 1, &p);
    for (size_t i = 0; i < 1000; i++)
        fr_xgb_predict_row(p, xv + i * NCOL, &s1[i], NULL, 0);
    lap_t a = lap_now();
    for (size_t i = 0; i < npred; i++)
        fr_xgb_predict_row(p, xv + i * NCOL, &s1[i], NULL, 0);
    lap_t b = lap_now();
    report("predictor, 1 row", a, b, npred);

    /* predictor, batches of 100 */
    a = lap_now();
    for (size_t i = 0; i + 100 <= npred; i += 100) {
        memcpy(fr_xgb_predictor_row(pb, 0), xv + i * NCOL, 100 * NCOL * sizeof *xv);
        fr_xgb_predict(pb, 100, s2 + i, NULL, 0);
    }
    b = lap_now();
    report("predictor, batch 100", a, b, npred / 100 * 100);

    /* naive: JSON formatted per call, no proxy */
    BoosterHandle bh;
    XGBoosterCreate(NULL, 0, &bh);
    XGBoosterLoadModelFromBuffer(bh, bytes, len);
    XGBoosterSetParam(bh, "nthread", "1");
    int end = fr_xgb_model_rounds(m);
    size_t mismatches = 0;
    a = lap_now();
    for (size_t i = 0; i < npred; i++) {
        char ai[192], cfg[192];
        snprintf(ai, sizeof ai,
                 "{\"data\":[%" PRIuPTR ",true],\"shape\":[1,%d],\"strides\":null,"
                 "\"typestr\":\"<f4\",\"version\":3}",
                 (uintptr_t)(xv + i * NCOL), NCOL);
        snprintf(cfg, sizeof cfg,
                 "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":%d,"
                 "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}",
                 end);
        const bst_ulong *shape;
        bst_ulong dim;
        const float *res;
        if (XGBoosterPredictFromDense(bh, ai, cfg, NULL, &shape, &dim, &res) || res[0] != s1[i])
            mismatches++;
    }
    b = lap_now();
    report("naive, 1 row", a, b, npred);
    for (size_t i = 0; i < npred / 100 * 100; i++)
        mismatches += s2[i] != s1[i];
    printf("scores that differ between the paths: %zu\n", mismatches);

    /* two threads, a predictor each, one model */
    worker_t wk[2];
    pthread_t th[2];
    uint64_t t0 = ns_of(CLOCK_MONOTONIC);
    for (int i = 0; i < 2; i++) {
        wk[i] = (worker_t){.m = m, .x = xv + (size_t)i * (npred / 2) * NCOL, .n = npred / 2};
        pthread_create(&th[i], NULL, work, &wk[i]);
    }
    double cpu = 0;
    int failed = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cpu += (double)(wk[i].b.cpu - wk[i].a.cpu);
        failed |= wk[i].failed;
    }
    double wall = (double)(ns_of(CLOCK_MONOTONIC) - t0);
    printf("%-24s %8.2f us/row (cpu) %9.0f rows/s (wall, both)%s\n", "predictor, 2 threads",
           cpu / 1e3 / (double)(npred / 2 * 2), (double)(npred / 2 * 2) / (wall / 1e9),
           failed ? "  (failures!)" : "");

    XGBoosterFree(bh);
    fr_xgb_predictor_free(p);
    fr_xgb_predictor_free(pb);
    fr_xgb_model_free(m);
    free(bytes);
    free(s1);
    free(s2);
    free(x);
    free(y);
    return 0;
}
