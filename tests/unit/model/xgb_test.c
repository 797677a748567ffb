/*
 * xgb_test.c - src/model/xgb.c: training with early stopping, refused
 * parameters, repeatable bytes, prediction (batch = row by row, missing
 * values), save/load, concurrent predictors over one model, and parity
 * with Python's xgboost both ways (xgb_parity.py under /usr/bin/python3).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "model/xgb.h"

#define NCOL 6
#define PARITY "tests/unit/model/xgb_parity.py"

static uint64_t rng_state;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/*
 * n rows with a learnable label: a logistic of a nonlinear function of
 * inputs 0..2; input 2 is missing in about 10% of rows (then it pushes the
 * odds up), inputs 3..5 are noise.
 */
static void make_rows(uint64_t seed, size_t n, float **x, float **y)
{
    rng_state = seed;
    *x = malloc(n * NCOL * sizeof **x);
    *y = malloc(n * sizeof **y);
    cr_assert(*x && *y);
    for (size_t i = 0; i < n; i++) {
        float *r = *x + i * NCOL;
        for (int j = 0; j < NCOL; j++)
            r[j] = (float)urand();
        if (urand() < 0.1)
            r[2] = NAN;
        double z = 4 * r[0] - 3 * r[1] * r[1] + (isnan(r[2]) ? 1.5 : (r[2] > 0.5 ? 1 : -1));
        (*y)[i] = urand() < 1 / (1 + exp(-(z - 0.8) * 2)) ? 1.0f : 0.0f;
    }
}

static const fr_xgb_param_t base_params[] = {
    {"objective", "binary:logistic"}, {"max_depth", "4"}, {"eta", "0.3"},
    {"rounds", "300"},                {"early_stopping_rounds", "8"}, {"nthread", "2"},
};

typedef struct trained {
    float *x, *y, *xv, *yv;
    size_t n, nv;
    void *model;
    size_t len;
    fr_xgb_train_info_t info;
} trained_t;

static void train(trained_t *t, const fr_xgb_param_t *params, size_t np)
{
    t->n = 6000;
    t->nv = 2000;
    make_rows(1, t->n, &t->x, &t->y);
    make_rows(2, t->nv, &t->xv, &t->yv);
    fr_xgb_train_opts_t o = {.params = params, .nparams = np};
    char err[512];
    int rc = fr_xgb_train(NCOL, t->x, t->y, t->n, t->xv, t->yv, t->nv, &o, &t->model, &t->len,
                          &t->info, err, sizeof err);
    cr_assert_eq(rc, 0, "train: %s (%s)", err, fr_strerror(rc));
}

static void trained_free(trained_t *t)
{
    free(t->x);
    free(t->y);
    free(t->xv);
    free(t->yv);
    free(t->model);
}

static fr_xgb_model_t *load(const void *b, size_t n)
{
    fr_xgb_model_t *m;
    char err[512];
    int rc = fr_xgb_model_load(b, n, &m, err, sizeof err);
    cr_assert_eq(rc, 0, "load: %s", err);
    return m;
}

/* Scores of rows x[0..n) one by one. */
static float *predict_rows(const fr_xgb_model_t *m, const float *x, size_t n)
{
    fr_xgb_predictor_t *p;
    cr_assert_eq(fr_xgb_predictor_new(m, 1, &p), 0);
    float *out = malloc(n * sizeof *out);
    char err[256];
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(fr_xgb_predict_row(p, x + i * NCOL, &out[i], err, sizeof err), 0, "%s", err);
    fr_xgb_predictor_free(p);
    return out;
}

static double logloss(const float *y, const float *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s -= y[i] ? log(p[i]) : log(1 - p[i]);
    return s / (double)n;
}

Test(xgb, trains_stops_early_and_keeps_the_best_round)
{
    trained_t t;
    train(&t, base_params, sizeof base_params / sizeof base_params[0]);
    cr_assert_str_eq(t.info.metric, "logloss");
    cr_assert_lt(t.info.rounds_run, 300, "early stopping never stopped");
    cr_assert_eq(t.info.rounds_run, t.info.best_iteration + 1 + 8);
    fr_xgb_model_t *m = load(t.model, t.len);
    cr_assert_eq(fr_xgb_model_features(m), NCOL);
    cr_assert_eq(fr_xgb_model_outputs(m), 1);
    cr_assert_eq(fr_xgb_model_rounds(m), t.info.best_iteration + 1);
    float *p = predict_rows(m, t.xv, t.nv);
    /* better than the label rate alone on the validation rows, and equal to
     * the metric xgboost reported at the best round (printed to 6 places) */
    double rate = 0;
    for (size_t i = 0; i < t.nv; i++)
        rate += t.yv[i];
    rate /= (double)t.nv;
    double base = -(rate * log(rate) + (1 - rate) * log(1 - rate));
    double ll = logloss(t.yv, p, t.nv);
    cr_assert_lt(ll, base - 0.1, "logloss %f vs constant %f", ll, base);
    cr_assert_lt(fabs(ll - t.info.best_score), 2e-6, "%f vs %f", ll, t.info.best_score);
    free(p);
    fr_xgb_model_free(m);
    trained_free(&t);
}

Test(xgb, training_is_repeatable)
{
    trained_t a, b;
    train(&a, base_params, sizeof base_params / sizeof base_params[0]);
    train(&b, base_params, sizeof base_params / sizeof base_params[0]);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.model, b.model, a.len) == 0, "two trainings gave different bytes");
    trained_free(&a);
    trained_free(&b);
}

Test(xgb, without_validation_rows_every_round_is_kept)
{
    float *x, *y;
    make_rows(3, 1000, &x, &y);
    fr_xgb_param_t ps[] = {{"objective", "binary:logistic"}, {"rounds", "7"}};
    fr_xgb_train_opts_t o = {.params = ps, .nparams = 2};
    void *bytes;
    size_t len;
    fr_xgb_train_info_t info;
    char err[256];
    cr_assert_eq(fr_xgb_train(NCOL, x, y, 1000, NULL, NULL, 0, &o, &bytes, &len, &info, err,
                              sizeof err),
                 0, "%s", err);
    cr_assert_eq(info.rounds_run, 7);
    cr_assert_str_eq(info.metric, "");
    cr_assert(isnan(info.best_score));
    fr_xgb_model_t *m = load(bytes, len);
    cr_assert_eq(fr_xgb_model_rounds(m), 7);
    fr_xgb_model_free(m);
    free(bytes);
    free(x);
    free(y);
}

Test(xgb, a_maximised_metric_stops_on_its_own_best)
{
    fr_xgb_param_t ps[] = {{"objective", "binary:logistic"}, {"eval_metric", "auc"},
                           {"eta", "0.5"},  {"rounds", "200"}, {"early_stopping_rounds", "3"}};
    trained_t t;
    train(&t, ps, 5);
    cr_assert_str_eq(t.info.metric, "auc");
    cr_assert_gt(t.info.best_score, 0.7);
    cr_assert_eq(t.info.rounds_run, t.info.best_iteration + 1 + 3);
    trained_free(&t);
}

static int stop_at_3(const fr_xgb_progress_t *p, void *arg)
{
    int *seen = arg;
    cr_assert_eq(p->round, *seen);
    cr_assert_eq(p->rounds, 300);
    cr_assert_str_eq(p->metric, "logloss");
    cr_assert(isfinite(p->value) && p->best_value <= p->value);
    (*seen)++;
    return p->round == 3 ? -ECANCELED : 0;
}

Test(xgb, progress_is_reported_and_can_stop_the_training)
{
    float *x, *y;
    make_rows(1, 2000, &x, &y);
    int seen = 0;
    fr_xgb_train_opts_t o = {.params = base_params, .nparams = 6, .progress = stop_at_3,
                             .progress_arg = &seen};
    void *bytes = (void *)1;
    size_t len = 1;
    char err[256];
    int rc = fr_xgb_train(NCOL, x, y, 1500, x + 1500 * NCOL, y + 1500, 500, &o, &bytes, &len,
                          NULL, err, sizeof err);
    cr_assert_eq(rc, -ECANCELED);
    cr_assert_eq(seen, 4);
    cr_assert_null(bytes);
    cr_assert_eq(len, 0);
    free(x);
    free(y);
}

Test(xgb, bad_parameters_and_shapes_are_refused)
{
    float *x, *y;
    make_rows(1, 200, &x, &y);
    struct {
        fr_xgb_param_t p;
        int rc;
        const char *says;
    } cases[] = {
        {{"max_dpeth", "4"}, FR_ECONFIG, "max_dpeth"},
        {{"objective", "binary:nope"}, FR_ECONFIG, "binary:nope"},
        {{"max_depth", "deep"}, FR_ECONFIG, "max_depth"},
        {{"tree_method", "exact"}, FR_ECONFIG, "hist"},
        {{"rounds", "0"}, FR_ECONFIG, "rounds"},
        {{"rounds", "12x"}, FR_ECONFIG, "rounds"},
        {{"early_stopping_rounds", "-1"}, FR_ECONFIG, "early_stopping_rounds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fr_xgb_param_t ps[] = {{"rounds", "2"}, cases[i].p};
        fr_xgb_train_opts_t o = {.params = ps, .nparams = 2};
        void *bytes;
        size_t len;
        char err[512] = "";
        int rc = fr_xgb_train(NCOL, x, y, 150, x + 150 * NCOL, y + 150, 50, &o, &bytes, &len,
                              NULL, err, sizeof err);
        cr_assert_eq(rc, cases[i].rc, "%s=%s: %d %s", cases[i].p.key, cases[i].p.value, rc, err);
        cr_assert(strstr(err, cases[i].says), "%s=%s: \"%s\"", cases[i].p.key, cases[i].p.value,
                  err);
        cr_assert_null(strchr(err, '\n'));
    }
    /* shapes, names and labels */
    const char *bad_names[NCOL] = {"a", "b", "c[1]", "d", "e", "f"};
    fr_xgb_train_opts_t o = {.names = bad_names};
    void *bytes;
    size_t len;
    char err[256];
    cr_assert_eq(fr_xgb_train(NCOL, x, y, 150, NULL, NULL, 0, &o, &bytes, &len, NULL, err,
                              sizeof err),
                 FR_EINVAL);
    cr_assert_eq(fr_xgb_train(0, x, y, 150, NULL, NULL, 0, NULL, &bytes, &len, NULL, err,
                              sizeof err),
                 FR_EINVAL);
    cr_assert_eq(fr_xgb_train(NCOL, x, y, 0, NULL, NULL, 0, NULL, &bytes, &len, NULL, err,
                              sizeof err),
                 FR_EINVAL);
    y[7] = NAN;
    cr_assert_eq(fr_xgb_train(NCOL, x, y, 150, NULL, NULL, 0, NULL, &bytes, &len, NULL, err,
                              sizeof err),
                 FR_EINVAL);
    cr_assert(strstr(err, "label"), "%s", err);
    free(x);
    free(y);
}

Test(xgb, batches_equal_rows_and_missing_values_score)
{
    trained_t t;
    train(&t, base_params, 6);
    fr_xgb_model_t *m = load(t.model, t.len);
    float *one = predict_rows(m, t.xv, t.nv);
    fr_xgb_predictor_t *p;
    cr_assert_eq(fr_xgb_predictor_new(m, 333, &p), 0);
    cr_assert_eq(fr_xgb_predictor_max_rows(p), 333);
    float out[333];
    char err[256];
    /* batches of every size 1..333 over the validation rows */
    size_t done = 0;
    for (size_t k = 1; done < t.nv; k = k % 333 + 1) {
        size_t n = k < t.nv - done ? k : t.nv - done;
        for (size_t i = 0; i < n; i++)
            memcpy(fr_xgb_predictor_row(p, i), t.xv + (done + i) * NCOL, NCOL * sizeof(float));
        cr_assert_eq(fr_xgb_predict(p, n, out, err, sizeof err), 0, "%s", err);
        for (size_t i = 0; i < n; i++)
            cr_assert(out[i] == one[done + i], "row %zu: batch %.9g, alone %.9g", done + i,
                      out[i], one[done + i]);
        done += n;
    }
    /* a row of nothing but missing values scores, inside (0, 1) */
    float *r = fr_xgb_predictor_row(p, 0);
    for (int j = 0; j < NCOL; j++)
        r[j] = NAN;
    cr_assert_eq(fr_xgb_predict(p, 1, out, err, sizeof err), 0);
    cr_assert(out[0] > 0 && out[0] < 1);
    /* missing differs from any value here: input 2 missing pushes the odds up */
    float row[NCOL] = {0.5f, 0.5f, NAN, 0.5f, 0.5f, 0.5f}, s_nan, s_low;
    cr_assert_eq(fr_xgb_predict_row(p, row, &s_nan, err, sizeof err), 0);
    row[2] = 0.1f;
    cr_assert_eq(fr_xgb_predict_row(p, row, &s_low, err, sizeof err), 0);
    cr_assert_gt(s_nan, s_low);
    cr_assert_eq(fr_xgb_predict(p, 0, out, err, sizeof err), FR_EINVAL);
    cr_assert_eq(fr_xgb_predict(p, 334, out, err, sizeof err), FR_EINVAL);
    fr_xgb_predictor_t *q;
    cr_assert_eq(fr_xgb_predictor_new(m, 0, &q), FR_EINVAL);
    fr_xgb_predictor_free(p);
    free(one);
    fr_xgb_model_free(m);
    trained_free(&t);
}

Test(xgb, save_and_load_round_trip)
{
    trained_t t;
    train(&t, base_params, 6);
    fr_xgb_model_t *m = load(t.model, t.len);
    void *b2;
    size_t n2;
    char err[256];
    cr_assert_eq(fr_xgb_model_save(m, &b2, &n2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n2, t.len);
    cr_assert(memcmp(b2, t.model, n2) == 0, "saving a loaded model changed its bytes");
    fr_xgb_model_t *m2 = load(b2, n2);
    float *a = predict_rows(m, t.xv, 200), *b = predict_rows(m2, t.xv, 200);
    cr_assert(memcmp(a, b, 200 * sizeof *a) == 0);
    free(a);
    free(b);
    free(b2);
    fr_xgb_model_free(m2);
    fr_xgb_model_free(m);
    trained_free(&t);
}

Test(xgb, corrupt_bytes_are_refused)
{
    fr_xgb_model_t *m = (fr_xgb_model_t *)1;
    char err[256];
    static const char junk[] = "{\"learner\": 7}";
    cr_assert_eq(fr_xgb_model_load(junk, sizeof junk - 1, &m, err, sizeof err), FR_ECORRUPT);
    cr_assert_null(m);
    cr_assert_eq(fr_xgb_model_load(junk, 0, &m, err, sizeof err), FR_ECORRUPT);
    trained_t t;
    train(&t, base_params, 6);
    /* cut short */
    cr_assert_eq(fr_xgb_model_load(t.model, t.len / 2, &m, err, sizeof err), FR_ECORRUPT);
    cr_assert_null(m);
    trained_free(&t);
}

/* ---- concurrent predictors over one model ---- */

typedef struct worker {
    const fr_xgb_model_t *m;
    const float *x;
    const float *want;
    size_t n;
    int id;
    size_t mismatches;
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    fr_xgb_predictor_t *p;
    if (fr_xgb_predictor_new(w->m, 64, &p))
        return NULL;
    float out[64];
    char err[256];
    for (int pass = 0; pass < 3; pass++) {
        size_t done = 0, k = (size_t)w->id + 1;
        while (done < w->n) {
            size_t n = k < w->n - done ? k : w->n - done;
            for (size_t i = 0; i < n; i++)
                memcpy(fr_xgb_predictor_row(p, i), w->x + (done + i) * NCOL, NCOL * sizeof(float));
            if (fr_xgb_predict(p, n, out, err, sizeof err)) {
                w->mismatches += n;
            } else {
                for (size_t i = 0; i < n; i++)
                    w->mismatches += out[i] != w->want[done + i];
            }
            done += n;
            k = k % 64 + 1;
        }
    }
    fr_xgb_predictor_free(p);
    return w;
}

Test(xgb, predictors_on_many_threads_share_one_model_while_it_is_saved)
{
    trained_t t;
    train(&t, base_params, 6);
    fr_xgb_model_t *m = load(t.model, t.len);
    float *want = predict_rows(m, t.xv, t.nv);
    enum { NT = 6 };
    pthread_t th[NT];
    worker_t w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (worker_t){.m = m, .x = t.xv, .want = want, .n = t.nv, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    /* saving reads the model while they predict */
    for (int i = 0; i < 10; i++) {
        void *b;
        size_t n;
        char err[256];
        cr_assert_eq(fr_xgb_model_save(m, &b, &n, err, sizeof err), 0, "%s", err);
        cr_assert(n == t.len && memcmp(b, t.model, n) == 0, "save %d differs", i);
        free(b);
    }
    for (int i = 0; i < NT; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_not_null(r, "thread %d could not make a predictor", i);
        cr_assert_eq(w[i].mismatches, 0, "thread %d: %zu scores differ", i, w[i].mismatches);
    }
    free(want);
    fr_xgb_model_free(m);
    trained_free(&t);
}

/* ---- parity with Python's xgboost ---- */

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)sz + 1);
    cr_assert_eq(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Runs the Python helper; its exit status, its output line in out. */
static int python(const char *mode, const char *dir, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 " PARITY " %s %s/model.ubj %s/rows.f32 %d %s/preds.f32 2>&1",
             mode, dir, dir, NCOL, dir);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void rm_dir(const char *dir)
{
    const char *files[] = {"model.ubj", "rows.f32", "preds.f32"};
    char p[256];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

Test(xgb, python_xgboost_scores_a_freshet_model_the_same)
{
    cr_assert_eq(access(PARITY, R_OK), 0, "run the tests from the repository root");
    const char *names[NCOL] = {"card_txn:amount_avg_1h", "amount", "foreign",
                               "x3", "x4", "x5"};
    float *x, *y, *xv, *yv;
    make_rows(1, 5000, &x, &y);
    make_rows(2, 1500, &xv, &yv);
    fr_xgb_train_opts_t o = {.params = base_params, .nparams = 6, .names = names};
    void *bytes;
    size_t len;
    fr_xgb_train_info_t info;
    char err[512];
    cr_assert_eq(fr_xgb_train(NCOL, x, y, 5000, xv, yv, 1500, &o, &bytes, &len, &info, err,
                              sizeof err),
                 0, "%s", err);
    cr_assert_lt(info.rounds_run, 300);
    fr_xgb_model_t *m = load(bytes, len);
    /* the validation rows plus rows with missing inputs and extremes */
    size_t n = 1500 + 3;
    float *rows = malloc(n * NCOL * sizeof *rows);
    memcpy(rows, xv, 1500 * NCOL * sizeof *rows);
    for (size_t i = 1500; i < n; i++)
        for (int j = 0; j < NCOL; j++)
            rows[i * NCOL + j] = i == 1500 ? NAN : i == 1501 ? -1e30f : 1e30f;
    float *p = predict_rows(m, rows, n);
    char dir[] = "/tmp/freshet-xgb-XXXXXX", path[256], out[2048];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.ubj", dir);
    write_file(path, bytes, len);
    snprintf(path, sizeof path, "%s/rows.f32", dir);
    write_file(path, rows, n * NCOL * sizeof *rows);
    snprintf(path, sizeof path, "%s/preds.f32", dir);
    write_file(path, p, n * sizeof *p);
    int st = python("check", dir, out, sizeof out);
    rm_dir(dir);
    cr_assert_eq(st, 0, "python: %s", out);
    cr_log_info("python parity: %s", out);
    free(rows);
    free(p);
    fr_xgb_model_free(m);
    free(bytes);
    free(x);
    free(y);
    free(xv);
    free(yv);
}

Test(xgb, a_python_model_with_extra_rounds_scores_at_its_best_iteration)
{
    cr_assert_eq(access(PARITY, R_OK), 0, "run the tests from the repository root");
    float *rows, *unused;
    make_rows(9, 800, &rows, &unused);
    char dir[] = "/tmp/freshet-xgb-XXXXXX", path[256], out[2048];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/rows.f32", dir);
    write_file(path, rows, 800 * NCOL * sizeof *rows);
    int st = python("train", dir, out, sizeof out);
    size_t mlen, plen;
    void *model = NULL, *want = NULL;
    if (st == 0) {
        snprintf(path, sizeof path, "%s/model.ubj", dir);
        model = read_file(path, &mlen);
        snprintf(path, sizeof path, "%s/preds.f32", dir);
        want = read_file(path, &plen);
    }
    rm_dir(dir);
    cr_assert_eq(st, 0, "python: %s", out);
    cr_assert_eq(plen, 800 * sizeof(float));
    fr_xgb_model_t *m = load(model, mlen);
    float *got = predict_rows(m, rows, 800);
    const float *w = want;
    for (size_t i = 0; i < 800; i++)
        cr_assert_leq(fabs((double)got[i] - w[i]), 1e-6, "row %zu: freshet %.9g python %.9g", i,
                      got[i], w[i]);
    cr_log_info("python model (%s): %d rounds used", out, fr_xgb_model_rounds(m));
    fr_xgb_model_free(m);
    free(got);
    free(model);
    free(want);
    free(rows);
    free(unused);
}
