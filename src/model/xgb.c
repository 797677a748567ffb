/*
 * xgb.c - training, model bytes and prediction over libxgboost's C API.
 *
 * Training builds two DMatrix objects from the caller's dense rows (array
 * interface JSON pointing at them, so xgboost reads the floats in place),
 * forces the booster's configuration before the first round so a bad or
 * unused parameter is refused up front (validate_parameters, with
 * xgboost's log captured per thread), then boosts round by round with
 * Python xgboost's early-stopping rule and cuts the model back to its
 * best round (XGBoosterSlice), as EarlyStopping(save_best=True) does.
 *
 * Prediction: see xgb.h.  The array-interface string points at the
 * predictor's own input rows and carries the row count in a fixed-width
 * field of spaces and digits (JSON allows the spaces), overwritten in
 * place per call.
 */
#include "model/xgb.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "core/buf.h"
#include "core/err.h"

#define ROWS_FIELD 20 /* width of the row count in the array interface */
#define MAX_PRED_ROWS ((size_t)1000000)

struct fr_xgb_model {
    BoosterHandle b;
    size_t nfeat;
    size_t nout;
    int rounds; /* trees used: iteration_end */
};

struct fr_xgb_predictor {
    const fr_xgb_model_t *m;
    DMatrixHandle proxy;
    float *in;        /* max_rows x nfeat */
    size_t max_rows;
    char ai[192];     /* array interface; the row count at ai + rows_at */
    size_t rows_at;
    char cfg[192];    /* prediction options */
};

/* ---- xgboost's log, captured per thread while training ---- */

static _Thread_local fr_buf_t *capture;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void on_log(const char *msg)
{
    if (capture) {
        /* a full buffer drops the rest: warnings are advice */
        if (capture->len)
            fr_buf_addc(capture, ' ');
        for (const char *p = msg; *p; p++)
            fr_buf_addc(capture, isspace((unsigned char)*p) ? ' ' : *p);
        return;
    }
    fprintf(stderr, "xgboost: %s\n", msg);
}

static void log_install(void)
{
    XGBRegisterLogCallback(on_log);
}

/*
 * xgboost's last error for this thread into err, without the
 * "[hh:mm:ss] path/file.cc:line: " it starts with and past its first line
 * (an unknown objective lists every candidate); returns rc.
 */
static int xerr(int rc, const char *what, char *err, size_t errlen)
{
    if (!err || !errlen)
        return rc;
    const char *e = XGBGetLastError();
    if (!e || !*e)
        e = "failed";
    if (*e == '[' && strstr(e, "] "))
        e = strstr(e, "] ") + 2;
    const char *sep = strstr(e, ": ");
    if (sep && memchr(e, ':', (size_t)(sep - e)) && !memchr(e, ' ', (size_t)(sep - e)))
        e = sep + 2; /* "path/file.cc:26: " */
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(e, "\n"), e);
    return rc;
}

/* ---- small parsers ---- */

/* A whole decimal integer in [lo, hi]; -1 otherwise. */
static long parse_int(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    return v;
}

/* Python xgboost's rule: these metrics are maximised. */
static int maximised(const char *metric)
{
    static const char *const pre[] = {"auc", "aucpr", "pre", "pre@", "map",
                                      "ndcg", "auc@", "aucpr@", "map@", "ndcg@"};
    if (!strcmp(metric, "mape"))
        return 0;
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        if (!strncmp(metric, pre[i], strlen(pre[i])))
            return 1;
    return 0;
}

/*
 * The last "valid-<metric>:<value>" of an evaluation line such as
 * "[3]\tvalid-auc:0.91\tvalid-logloss:0.40".  0, or -1 when absent.
 */
static int last_metric(const char *line, char *name, size_t namelen, double *value)
{
    const char *tok = NULL;
    for (const char *p = strstr(line, "\tvalid-"); p; p = strstr(p + 1, "\tvalid-"))
        tok = p + 7;
    if (!tok)
        return -1;
    const char *end = tok + strcspn(tok, "\t\n");
    const char *colon = NULL;
    for (const char *p = tok; p < end; p++)
        if (*p == ':')
            colon = p;
    if (!colon || colon == tok || (size_t)(colon - tok) >= namelen)
        return -1;
    memcpy(name, tok, (size_t)(colon - tok));
    name[colon - tok] = '\0';
    char *e;
    *value = strtod(colon + 1, &e);
    return e == colon + 1 ? -1 : 0;
}

/* ---- training ---- */

/* A DMatrix over n rows of x (read in place while it is built) and y. */
static int make_dmatrix(const float *x, const float *y, size_t n, size_t ncol, int nthread,
                        DMatrixHandle *out, char *err, size_t errlen)
{
    char ai[192], cfg[64];
    snprintf(ai, sizeof ai,
             "{\"data\":[%" PRIuPTR ",true],\"shape\":[%zu,%zu],\"strides\":null,"
             "\"typestr\":\"<f4\",\"version\":3}",
             (uintptr_t)x, n, ncol);
    snprintf(cfg, sizeof cfg, "{\"missing\":NaN,\"nthread\":%d}", nthread);
    *out = NULL;
    if (XGDMatrixCreateFromDense(ai, cfg, out))
        return xerr(FR_EIO, "DMatrix", err, errlen);
    if (XGDMatrixSetFloatInfo(*out, "label", y, (bst_ulong)n))
        return xerr(FR_EIO, "labels", err, errlen);
    return 0;
}

static int check_shape(size_t ncol, const float *x, const float *y, size_t ntr, const float *xv,
                       const float *yv, size_t nva, const fr_xgb_train_opts_t *o, char *err,
                       size_t errlen)
{
    const char *what = NULL;
    if (ncol == 0 || ncol > FR_XGB_MAX_FEATURES)
        what = "inputs per row must be 1 to 4096";
    else if (ntr == 0 || !x || !y)
        what = "no training rows";
    else if (ntr > SIZE_MAX / sizeof(float) / ncol || nva > SIZE_MAX / sizeof(float) / ncol)
        what = "too many rows";
    else if (nva && (!xv || !yv))
        what = "validation rows without data";
    else if (o->nparams > FR_XGB_MAX_PARAMS)
        what = "too many parameters";
    for (size_t i = 0; !what && o->names && i < ncol; i++)
        if (!o->names[i] || !o->names[i][0] || strpbrk(o->names[i], "[]<"))
            what = "input names must be non-empty and free of '[', ']' and '<'";
    for (size_t i = 0; !what && i < ntr; i++)
        if (!isfinite(y[i]))
            what = "a training label is not a finite number";
    for (size_t i = 0; !what && i < nva; i++)
        if (!isfinite(yv[i]))
            what = "a validation label is not a finite number";
    if (what) {
        snprintf(err, errlen, "%s", what);
        return FR_EINVAL;
    }
    return 0;
}

typedef struct topts {
    int rounds, patience, nthread;
} topts_t;

/* freshet's own parameters out of the list; the rest are checked here. */
static int read_opts(const fr_xgb_train_opts_t *o, topts_t *t, char *err, size_t errlen)
{
    t->rounds = 100;
    t->patience = 20;
    t->nthread = 0;
    for (size_t i = 0; i < o->nparams; i++) {
        const char *k = o->params[i].key, *v = o->params[i].value;
        long n = 0;
        if (!k || !v || !*k) {
            snprintf(err, errlen, "parameter %zu: empty key or value", i);
            return FR_ECONFIG;
        }
        if (!strcmp(k, "rounds") || !strcmp(k, "num_boost_round"))
            n = t->rounds = (int)parse_int(v, 1, FR_XGB_MAX_ROUNDS);
        else if (!strcmp(k, "early_stopping_rounds"))
            n = t->patience = (int)parse_int(v, 0, FR_XGB_MAX_ROUNDS);
        else if (!strcmp(k, "nthread"))
            n = t->nthread = (int)parse_int(v, 0, 1024);
        else if (!strcmp(k, "tree_method") && strcmp(v, "hist"))
            n = -2;
        else if (!strcmp(k, "tree_method") || !strcmp(k, "seed"))
            n = 0;
        if (n == -1) {
            snprintf(err, errlen, "parameter %s: \"%.64s\" is not a whole number in range", k, v);
            return FR_ECONFIG;
        }
        if (n == -2) {
            snprintf(err, errlen, "parameter tree_method: freshet always trains with \"hist\"");
            return FR_ECONFIG;
        }
    }
    return 0;
}

static int is_ours(const char *k)
{
    return !strcmp(k, "rounds") || !strcmp(k, "num_boost_round") ||
           !strcmp(k, "early_stopping_rounds") || !strcmp(k, "nthread");
}

/* Sets the parameters and configures the booster now, refusing what
 * xgboost rejects or would not use. */
static int configure(BoosterHandle b, size_t ncol, const fr_xgb_train_opts_t *o,
                     const topts_t *t, fr_buf_t *log, char *err, size_t errlen)
{
    char nt[16];
    snprintf(nt, sizeof nt, "%d", t->nthread);
    const char *fixed[][2] = {{"validate_parameters", "1"}, {"tree_method", "hist"},
                              {"seed", "0"}, {"nthread", nt}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (XGBoosterSetParam(b, fixed[i][0], fixed[i][1]))
            return xerr(FR_EIO, "SetParam", err, errlen);
    for (size_t i = 0; i < o->nparams; i++) {
        if (is_ours(o->params[i].key))
            continue;
        if (XGBoosterSetParam(b, o->params[i].key, o->params[i].value))
            return xerr(FR_ECONFIG, o->params[i].key, err, errlen);
    }
    if (o->names && XGBoosterSetStrFeatureInfo(b, "feature_name", (const char **)o->names,
                                               (bst_ulong)ncol))
        return xerr(FR_EIO, "feature names", err, errlen);
    /* saving the configuration configures: parameters are checked here */
    bst_ulong n;
    const char *json;
    fr_buf_reset(log);
    if (XGBoosterSaveJsonConfig(b, &n, &json))
        return xerr(FR_ECONFIG, "parameters", err, errlen);
    const char *unused = strstr(log->p ? log->p : "", "Parameters: {");
    if (unused) {
        unused += 12; /* at "{ " */
        const char *end = strstr(unused, "} are not used");
        int len = end ? (int)(end - unused) + 1 : (int)strlen(unused);
        snprintf(err, errlen, "xgboost does not use these parameters: %.*s", len, unused);
        return FR_ECONFIG;
    }
    return 0;
}

int fr_xgb_train(size_t ncol, const float *x, const float *y, size_t ntr, const float *xv,
                 const float *yv, size_t nva, const fr_xgb_train_opts_t *opts, void **model,
                 size_t *len, fr_xgb_train_info_t *info, char *err, size_t errlen)
{
    static const fr_xgb_train_opts_t none;
    const fr_xgb_train_opts_t *o = opts ? opts : &none;
    fr_xgb_train_info_t tmp;
    fr_xgb_train_info_t *inf = info ? info : &tmp;
    memset(inf, 0, sizeof *inf);
    inf->best_score = NAN;
    *model = NULL;
    *len = 0;
    if (err && errlen)
        err[0] = '\0';
    char ebuf[2];
    if (!err || !errlen) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    topts_t t;
    int rc = check_shape(ncol, x, y, ntr, xv, yv, nva, o, err, errlen);
    if (!rc)
        rc = read_opts(o, &t, err, errlen);
    if (rc)
        return rc;

    pthread_once(&log_once, log_install);
    fr_buf_t log;
    fr_buf_init(&log, 4096);
    capture = &log;
    DMatrixHandle dm[2] = {NULL, NULL};
    BoosterHandle b = NULL;
    rc = make_dmatrix(x, y, ntr, ncol, t.nthread, &dm[0], err, errlen);
    if (!rc && nva)
        rc = make_dmatrix(xv, yv, nva, ncol, t.nthread, &dm[1], err, errlen);
    if (!rc && o->names) {
        for (int i = 0; !rc && i < 2; i++)
            if (dm[i] && XGDMatrixSetStrFeatureInfo(dm[i], "feature_name",
                                                    (const char **)o->names, (bst_ulong)ncol))
                rc = xerr(FR_EIO, "feature names", err, errlen);
    }
    if (rc)
        goto out;
    if (XGBoosterCreate(dm, nva ? 2 : 1, &b)) {
        rc = xerr(FR_EIO, "booster", err, errlen);
        goto out;
    }
    rc = configure(b, ncol, o, &t, &log, err, errlen);
    if (rc)
        goto out;

    const char *vname[1] = {"valid"};
    double best = NAN;
    int best_round = 0, since = 0, round = 0;
    for (round = 0; round < t.rounds; round++) {
        if (XGBoosterUpdateOneIter(b, round, dm[0])) {
            rc = xerr(FR_EIO, "training", err, errlen);
            goto out;
        }
        fr_xgb_progress_t p = {.round = round, .rounds = t.rounds, .metric = "", .value = NAN,
                               .best_round = round, .best_value = NAN};
        if (nva) {
            const char *line;
            if (XGBoosterEvalOneIter(b, round, &dm[1], vname, 1, &line)) {
                rc = xerr(FR_EIO, "evaluation", err, errlen);
                goto out;
            }
            double v;
            if (last_metric(line, inf->metric, sizeof inf->metric, &v)) {
                snprintf(err, errlen, "evaluation: unexpected \"%.100s\"", line);
                rc = FR_EIO;
                goto out;
            }
            int better = round == 0 || (maximised(inf->metric) ? v > best : v < best);
            if (better) {
                best = v;
                best_round = round;
                since = 0;
            } else {
                since++;
            }
            p.metric = inf->metric;
            p.value = v;
            p.best_round = best_round;
            p.best_value = best;
        } else {
            best_round = round;
        }
        if (o->progress) {
            rc = o->progress(&p, o->progress_arg);
            if (rc) {
                snprintf(err, errlen, "training stopped by the caller after round %d", round);
                goto out;
            }
        }
        if (nva && t.patience && since >= t.patience) {
            round++;
            break;
        }
    }
    inf->rounds_run = round;
    inf->best_iteration = best_round;
    inf->best_score = best;

    if (nva) {
        if (best_round + 1 < round) {
            BoosterHandle cut;
            if (XGBoosterSlice(b, 0, best_round + 1, 1, &cut)) {
                rc = xerr(FR_EIO, "slice", err, errlen);
                goto out;
            }
            XGBoosterFree(b);
            b = cut;
        }
        char bi[16], bs[40], bn[16];
        snprintf(bi, sizeof bi, "%d", best_round);
        snprintf(bs, sizeof bs, "%.17g", best);
        snprintf(bn, sizeof bn, "%d", best_round + 1);
        if (XGBoosterSetAttr(b, "best_iteration", bi) || XGBoosterSetAttr(b, "best_score", bs) ||
            XGBoosterSetAttr(b, "best_ntree_limit", bn)) {
            rc = xerr(FR_EIO, "attributes", err, errlen);
            goto out;
        }
    }
    bst_ulong n;
    const char *bytes;
    if (XGBoosterSaveModelToBuffer(b, "{\"format\":\"ubj\"}", &n, &bytes)) {
        rc = xerr(FR_EIO, "save", err, errlen);
        goto out;
    }
    *model = malloc(n ? n : 1);
    if (!*model) {
        rc = FR_ENOMEM;
        goto out;
    }
    memcpy(*model, bytes, n);
    *len = n;
out:
    capture = NULL;
    if (log.p)
        snprintf(inf->warnings, sizeof inf->warnings, "%s", log.p);
    fr_buf_destroy(&log);
    if (b)
        XGBoosterFree(b);
    for (int i = 0; i < 2; i++)
        if (dm[i])
            XGDMatrixFree(dm[i]);
    return rc;
}

/* ---- models ---- */

/* Writes n right-aligned in the fixed-width field at p. */
static void put_rows(char *p, size_t n)
{
    char *q = p + ROWS_FIELD;
    do {
        *--q = (char)('0' + n % 10);
        n /= 10;
    } while (n && q > p);
    while (q > p)
        *--q = ' ';
}

static int predictor_make(const fr_xgb_model_t *m, size_t max_rows, fr_xgb_predictor_t **out)
{
    *out = NULL;
    if (max_rows == 0 || max_rows > MAX_PRED_ROWS)
        return FR_EINVAL;
    fr_xgb_predictor_t *p = calloc(1, sizeof *p);
    if (!p)
        return FR_ENOMEM;
    p->m = m;
    p->max_rows = max_rows;
    p->in = malloc(max_rows * m->nfeat * sizeof *p->in);
    if (!p->in || XGProxyDMatrixCreate(&p->proxy)) {
        fr_xgb_predictor_free(p);
        return FR_ENOMEM;
    }
    for (size_t i = 0; i < max_rows * m->nfeat; i++)
        p->in[i] = NAN;
    int n = snprintf(p->ai, sizeof p->ai, "{\"data\":[%" PRIuPTR ",true],\"shape\":[",
                     (uintptr_t)p->in);
    p->rows_at = (size_t)n;
    snprintf(p->ai + n, sizeof p->ai - (size_t)n,
             "%*s,%zu],\"strides\":null,\"typestr\":\"<f4\",\"version\":3}", ROWS_FIELD, "",
             m->nfeat);
    snprintf(p->cfg, sizeof p->cfg,
             "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":%d,"
             "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}",
             m->rounds);
    *out = p;
    return 0;
}

/* One prediction; *res points into xgboost's thread-local output. */
static int run(fr_xgb_predictor_t *p, size_t nrows, const float **res, size_t *total)
{
    put_rows(p->ai + p->rows_at, nrows);
    const bst_ulong *shape;
    bst_ulong dim;
    if (XGBoosterPredictFromDense(p->m->b, p->ai, p->cfg, p->proxy, &shape, &dim, res))
        return FR_EIO;
    size_t n = 1;
    for (bst_ulong i = 0; i < dim; i++)
        n *= shape[i];
    *total = n;
    return 0;
}

int fr_xgb_model_load(const void *bytes, size_t len, fr_xgb_model_t **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    pthread_once(&log_once, log_install);
    fr_xgb_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return FR_ENOMEM;
    int rc = 0;
    fr_xgb_predictor_t *p = NULL;
    bst_ulong nf = 0;
    int rounds = 0;
    if (XGBoosterCreate(NULL, 0, &m->b)) {
        rc = xerr(FR_ENOMEM, "booster", err, errlen);
        goto out;
    }
    if (!bytes || len == 0 || XGBoosterLoadModelFromBuffer(m->b, bytes, (bst_ulong)len)) {
        rc = xerr(FR_ECORRUPT, "model", err, errlen);
        goto out;
    }
    if (XGBoosterSetParam(m->b, "nthread", "1") || XGBoosterGetNumFeature(m->b, &nf) ||
        XGBoosterBoostedRounds(m->b, &rounds)) {
        rc = xerr(FR_ECORRUPT, "model", err, errlen);
        goto out;
    }
    if (nf == 0 || nf > FR_XGB_MAX_FEATURES || rounds <= 0) {
        snprintf(err, errlen, "model: %llu inputs, %d rounds", (unsigned long long)nf, rounds);
        rc = nf > FR_XGB_MAX_FEATURES ? FR_ELIMIT : FR_ECORRUPT;
        goto out;
    }
    m->nfeat = (size_t)nf;
    m->rounds = rounds;
    const char *attr;
    int found = 0;
    if (XGBoosterGetAttr(m->b, "best_iteration", &attr, &found) == 0 && found) {
        long bi = parse_int(attr, 0, rounds - 1);
        if (bi >= 0)
            m->rounds = (int)bi + 1;
    }
    /* one prediction now: xgboost configures the booster on its first
     * use, so no thread sharing the model ever does */
    m->nout = 1;
    rc = predictor_make(m, 1, &p);
    const float *res;
    size_t total = 0;
    if (!rc && run(p, 1, &res, &total))
        rc = xerr(FR_ECORRUPT, "model", err, errlen);
    if (!rc && (total == 0 || total > 1024)) {
        snprintf(err, errlen, "model: %zu scores per row", total);
        rc = FR_ECORRUPT;
    }
    m->nout = total;
out:
    fr_xgb_predictor_free(p);
    if (rc) {
        fr_xgb_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void fr_xgb_model_free(fr_xgb_model_t *m)
{
    if (!m)
        return;
    if (m->b)
        XGBoosterFree(m->b);
    free(m);
}

size_t fr_xgb_model_features(const fr_xgb_model_t *m)
{
    return m->nfeat;
}

size_t fr_xgb_model_outputs(const fr_xgb_model_t *m)
{
    return m->nout;
}

int fr_xgb_model_rounds(const fr_xgb_model_t *m)
{
    return m->rounds;
}

int fr_xgb_model_save(const fr_xgb_model_t *m, void **out, size_t *len, char *err,
                      size_t errlen)
{
    *out = NULL;
    *len = 0;
    bst_ulong n;
    const char *bytes;
    if (XGBoosterSaveModelToBuffer(m->b, "{\"format\":\"ubj\"}", &n, &bytes))
        return xerr(FR_EIO, "save", err, errlen);
    *out = malloc(n ? n : 1);
    if (!*out)
        return FR_ENOMEM;
    memcpy(*out, bytes, n);
    *len = n;
    return 0;
}

/* ---- predictors ---- */

int fr_xgb_predictor_new(const fr_xgb_model_t *m, size_t max_rows, fr_xgb_predictor_t **out)
{
    return predictor_make(m, max_rows, out);
}

void fr_xgb_predictor_free(fr_xgb_predictor_t *p)
{
    if (!p)
        return;
    if (p->proxy)
        XGDMatrixFree(p->proxy);
    free(p->in);
    free(p);
}

size_t fr_xgb_predictor_max_rows(const fr_xgb_predictor_t *p)
{
    return p->max_rows;
}

float *fr_xgb_predictor_row(fr_xgb_predictor_t *p, size_t i)
{
    FR_ASSERT(i < p->max_rows);
    return p->in + i * p->m->nfeat;
}

int fr_xgb_predict(fr_xgb_predictor_t *p, size_t nrows, float *out, char *err, size_t errlen)
{
    if (nrows == 0 || nrows > p->max_rows)
        return FR_EINVAL;
    const float *res;
    size_t total;
    if (run(p, nrows, &res, &total))
        return xerr(FR_EIO, "predict", err, errlen);
    if (total != nrows * p->m->nout) {
        if (err && errlen)
            snprintf(err, errlen, "predict: %zu scores for %zu rows", total, nrows);
        return FR_EIO;
    }
    memcpy(out, res, total * sizeof *out);
    return 0;
}

int fr_xgb_predict_row(fr_xgb_predictor_t *p, const float *x, float *out, char *err,
                       size_t errlen)
{
    memcpy(p->in, x, p->m->nfeat * sizeof *p->in);
    return fr_xgb_predict(p, 1, out, err, errlen);
}
