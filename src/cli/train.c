/*
 * train.c - `freshet train`: builds a model's training set (the same code
 * as `freshet training-set`, rows kept in memory as floats), splits it out
 * of time (the newest 20% of rows by time validate), trains XGBoost with
 * early stopping on the validation rows, measures it, and registers a new
 * version in the model registry of the online store with its inputs,
 * their fingerprints, metrics and drift reference.
 *
 * A model's inputs are its training set's feature columns whose values are
 * numbers or booleans, in order (strings enter through on-demand
 * expressions); null is XGBoost's missing value.  Rows with a null label
 * are left out of training (counted).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jw.h"
#include "core/log.h"
#include "model/drift.h"
#include "model/inputs.h"
#include "model/metrics.h"
#include "model/modelreg.h"
#include "model/xgb.h"
#include "offline/trainset.h"
#include "store/store.h"

#define VALID_SHARE 0.2
#define MIN_ROWS 10
#define MAX_ROWS ((size_t)200000000) /* rows x inputs floats kept, at most (about) */

static const char usage_text[] =
    "usage: freshet train -c FILE --model NAME [--cutoff MS] [--alias ALIAS]\n"
    "                     [--from-kafka earliest|MS] [--jsonl SOURCE=PATH]...\n"
    "                     [--avro SOURCE=PATH]... [--quiet] [-v]\n"
    "  Builds the model's training set, trains XGBoost on the older 80% of its rows\n"
    "  (by time) with early stopping on the newest 20%, and registers a new version\n"
    "  in the online store's model registry; prints the version as one JSON line.\n"
    "  -c FILE           the configuration (models:, training_sets:, store)\n"
    "  --model NAME      the model (models.list in the configuration)\n"
    "  --cutoff MS       rows are kept only when their label is mature by MS\n"
    "                    (default: the newest event time of the label source)\n"
    "  --alias ALIAS     also point ALIAS (e.g. champion) at the new version\n"
    "  --from-kafka, --jsonl, --avro   where histories come from, as for\n"
    "                    freshet training-set (default: topics, else the embedded log)\n"
    "  --quiet           no progress (there is some only when stderr is a terminal)\n"
    "  -v                debug logging\n"
    "  Example:\n"
    "    freshet train -c examples/fraud/freshet.yaml --model fraud --alias champion\n"
    "  Exit status: 0 registered; 1 failed; 2 bad usage.\n";

typedef struct {
    const char *config, *model, *alias;
    int has_cutoff;
    int64_t cutoff;
    fr_cli_hist_t hist;
    int quiet, verbose;
} opts_t;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("freshet train: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(see freshet train --help)\n", stderr);
    return 2;
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"cutoff", required_argument, NULL, 'C'},
                                         {"alias", required_argument, NULL, 'A'},
                                         {"from-kafka", required_argument, NULL, 'k'},
                                         {"jsonl", required_argument, NULL, 'j'},
                                         {"avro", required_argument, NULL, 'a'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:vhq", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'm': o->model = optarg; break;
        case 'A':
            if (!fr_modelreg_alias_ok(optarg))
                return usage_error("--alias '%s' is not an alias name ([a-z][a-z0-9_-]*)",
                                   optarg);
            o->alias = optarg;
            break;
        case 'C': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end)
                return usage_error("--cutoff wants a time in epoch ms, not '%s'", optarg);
            o->cutoff = v;
            o->has_cutoff = 1;
            break;
        }
        case 'k':
        case 'j':
        case 'a':
            if (fr_cli_hist_opt(&o->hist, "train", ch, optarg))
                return 2;
            break;
        case 'q': o->quiet = 1; break;
        case 'v': o->verbose = 1; break;
        case 'h': fputs(usage_text, stdout); return 1;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->config)
        return usage_error("%s", "-c FILE is required");
    if (!o->model)
        return usage_error("%s", "--model NAME is required");
    if (o->verbose)
        fr_log_level = FR_LOG_DEBUG;
    return 0;
}

/* ---- rows into floats --------------------------------------------------------------- */

typedef struct {
    size_t ncols;
    fr_type_t *types;    /* per column */
    int *input_of;       /* per column: its input number, or -1 */
    char **names;        /* per input */
    fr_type_t *itypes;   /* per input */
    size_t ninputs;
    int label_col, ts_col;
    float *x, *y;
    int64_t *t;
    size_t rows, cap;
    uint64_t null_labels;
    char err[256];
} collect_t;

static int on_header(void *ctx, const fr_tset_col_t *cols, size_t n)
{
    collect_t *c = ctx;
    c->ncols = n;
    c->types = calloc(n, sizeof *c->types);
    c->input_of = calloc(n, sizeof *c->input_of);
    c->names = calloc(n, sizeof *c->names);
    c->itypes = calloc(n, sizeof *c->itypes);
    if (!c->types || !c->input_of || !c->names || !c->itypes)
        return FR_ENOMEM;
    c->label_col = c->ts_col = -1;
    for (size_t i = 0; i < n; i++) {
        c->types[i] = cols[i].type;
        c->input_of[i] = -1;
        if (cols[i].role == FR_TSC_LABEL)
            c->label_col = (int)i;
        else if (cols[i].role == FR_TSC_TS)
            c->ts_col = (int)i;
        else if (cols[i].role == FR_TSC_FEATURE &&
                 (cols[i].type == FR_T_LONG || cols[i].type == FR_T_DOUBLE ||
                  cols[i].type == FR_T_BOOL)) {
            c->names[c->ninputs] = strdup(cols[i].name);
            if (!c->names[c->ninputs])
                return FR_ENOMEM;
            c->itypes[c->ninputs] = cols[i].type;
            c->input_of[i] = (int)c->ninputs++;
        }
    }
    if (c->ninputs > FR_XGB_MAX_FEATURES) {
        snprintf(c->err, sizeof c->err, "%zu inputs: at most %d", c->ninputs, FR_XGB_MAX_FEATURES);
        return FR_ELIMIT;
    }
    if (!c->ninputs) {
        snprintf(c->err, sizeof c->err,
                 "the training set has no numeric or boolean feature to learn from");
        return FR_EINVAL;
    }
    return c->label_col < 0 || c->ts_col < 0 ? FR_EINVAL : 0;
}

/* One binary row value at *p (bounded by end) as a float (NaN for null or a
 * string); advances *p.  -1 when the row is malformed. */
static int take(const uint8_t **p, const uint8_t *end, float *out, int64_t *as_long)
{
    if (*p >= end)
        return -1;
    fr_type_t t = (fr_type_t)*(*p)++;
    uint64_t u = 0;
    switch (t) {
    case FR_T_NULL: *out = NAN; return 0;
    case FR_T_BOOL:
        if (*p >= end)
            return -1;
        *out = *(*p)++ ? 1.0f : 0.0f;
        return 0;
    case FR_T_LONG:
    case FR_T_DOUBLE:
        if (end - *p < 8)
            return -1;
        u = fr_load_u64(*p);
        *p += 8;
        if (t == FR_T_LONG) {
            *out = (float)(int64_t)u;
            if (as_long)
                *as_long = (int64_t)u;
        } else {
            double d;
            memcpy(&d, &u, 8);
            *out = (float)d;
        }
        return 0;
    case FR_T_STRING: {
        if (end - *p < 4)
            return -1;
        uint32_t len = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 |
                       (uint32_t)(*p)[3] << 24;
        *p += 4;
        if ((size_t)(end - *p) < len)
            return -1;
        *p += len;
        *out = NAN;
        return 0;
    }
    default: return -1;
    }
}

static int on_row(void *ctx, const void *row, size_t len)
{
    collect_t *c = ctx;
    if (c->rows == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        if (cap * c->ninputs > MAX_ROWS) {
            snprintf(c->err, sizeof c->err, "more than %zu values: too many rows to train in memory",
                     MAX_ROWS);
            return FR_ELIMIT;
        }
        float *x = realloc(c->x, cap * c->ninputs * sizeof *x);
        if (x)
            c->x = x;
        float *y = x ? realloc(c->y, cap * sizeof *y) : NULL;
        if (y)
            c->y = y;
        int64_t *t = y ? realloc(c->t, cap * sizeof *t) : NULL;
        if (!t)
            return FR_ENOMEM;
        c->t = t;
        c->cap = cap;
    }
    const uint8_t *p = row, *end = p + len;
    float *xr = c->x + c->rows * c->ninputs;
    float label = NAN;
    int64_t ts = 0;
    for (size_t i = 0; i < c->ncols; i++) {
        float v;
        if (take(&p, end, &v, i == (size_t)c->ts_col ? &ts : NULL))
            return FR_ECORRUPT;
        if (c->input_of[i] >= 0)
            xr[c->input_of[i]] = v;
        else if ((int)i == c->label_col)
            label = v;
    }
    if (isnan(label)) {
        c->null_labels++;
        return 0;
    }
    c->y[c->rows] = label;
    c->t[c->rows] = ts;
    c->rows++;
    return 0;
}

static void collect_free(collect_t *c)
{
    for (size_t i = 0; c->names && i < c->ninputs; i++)
        free(c->names[i]);
    free(c->names);
    free(c->types);
    free(c->input_of);
    free(c->itypes);
    free(c->x);
    free(c->y);
    free(c->t);
}

/* ---- progress ----------------------------------------------------------------------- */

typedef struct {
    int show;
    uint64_t shown;
    const char *model;
} progress_t;

static void tset_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                          uint64_t rows)
{
    progress_t *p = ctx;
    if (!p->show || fr_mono_ns() - p->shown < 100000000ull)
        return;
    p->shown = fr_mono_ns();
    fprintf(stderr, "\r\033[Ktrain %s: training set (%s): %" PRIu64, p->model, phase, done);
    if (total)
        fprintf(stderr, " of %" PRIu64, total);
    fprintf(stderr, " events, %" PRIu64 " rows", rows);
}

static int round_progress(const fr_xgb_progress_t *x, void *arg)
{
    progress_t *p = arg;
    if (!p->show || fr_mono_ns() - p->shown < 100000000ull)
        return 0;
    p->shown = fr_mono_ns();
    fprintf(stderr, "\r\033[Ktrain %s: round %d of at most %d, validation %s %.5f (best %.5f at %d)",
            p->model, x->round + 1, x->rounds, x->metric, x->value, x->best_value,
            x->best_round + 1);
    return 0;
}

/* ---- the command ------------------------------------------------------------------------ */

static int cmp_time(const void *a, const void *b, void *arg)
{
    const int64_t *t = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (t[i] != t[j])
        return t[i] < t[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Scores n rows of x (ncol each) with the model bytes into p. */
static int score_rows(const void *model, size_t len, const float *x, size_t n, size_t ncol,
                      float *p, char *err, size_t errlen)
{
    fr_xgb_model_t *m = NULL;
    fr_xgb_predictor_t *pr = NULL;
    int rc = fr_xgb_model_load(model, len, &m, err, errlen);
    size_t batch = n < 65536 ? (n ? n : 1) : 65536;
    if (!rc)
        rc = fr_xgb_predictor_new(m, batch, &pr);
    for (size_t at = 0; !rc && at < n; at += batch) {
        size_t k = n - at < batch ? n - at : batch;
        for (size_t i = 0; i < k; i++)
            memcpy(fr_xgb_predictor_row(pr, i), x + (at + i) * ncol, ncol * sizeof *x);
        rc = fr_xgb_predict(pr, k, p + at, err, errlen);
    }
    fr_xgb_predictor_free(pr);
    fr_xgb_model_free(m);
    return rc;
}

static void put_num(fr_buf_t *b, const char *key, double v)
{
    fr_buf_addc(b, ',');
    fr_jw_key(b, key);
    if (isfinite(v))
        fr_jw_double(b, v);
    else
        fr_buf_addstr(b, "null");
}

static void put_metrics(fr_buf_t *b, const char *key, const fr_metrics_t *m)
{
    fr_buf_addc(b, ',');
    fr_jw_key(b, key);
    fr_buf_printf(b, "{\"rows\":%zu,\"positives\":%zu", m->rows, m->positives);
    put_num(b, "label_rate", m->label_rate);
    put_num(b, "auc_roc", m->auc_roc);
    put_num(b, "auc_pr", m->auc_pr);
    put_num(b, "logloss", m->log_loss);
    fr_buf_addc(b, '}');
}

int fr_cli_train(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    if (fr_cli_hist_init(&o.hist, argc)) {
        fputs("freshet train: out of memory\n", stderr);
        return 1;
    }
    int ret = parse_opts(argc, argv, &o);
    if (ret) {
        fr_cli_hist_close(&o.hist);
        return ret == 1 ? 0 : 2;
    }
    ret = 1;
    char err[1024] = "";
    fr_config_t *cfg = NULL;
    fr_store_t *store = NULL;
    uint8_t *need = NULL;
    collect_t col;
    memset(&col, 0, sizeof col);
    size_t *order = NULL;
    float *xt = NULL, *yt = NULL, *xv = NULL, *yv = NULL, *ptr = NULL, *pva = NULL;
    void *model = NULL;
    size_t model_len = 0;
    fr_drift_ref_t *ref = NULL;
    fr_buf_t meta, refb, fp;
    fr_buf_init(&meta, FR_MODEL_MAX_META);
    fr_buf_init(&refb, FR_MODEL_MAX_REF);
    fr_buf_init(&fp, 1 << 20);
    fr_model_input_t *inputs = NULL;
    char (*ifp)[FR_INPUT_FP_LEN + 1] = NULL;
    uint64_t t0 = fr_mono_ns();

    int rc = fr_config_load(o.config, &cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    int mi = fr_config_model_index(cfg, o.model);
    if (mi < 0) {
        fprintf(stderr, "freshet train: unknown model '%s'", o.model);
        for (size_t i = 0; i < cfg->models.n; i++)
            fprintf(stderr, "%s%s", i ? ", " : " (the configuration has: ",
                    cfg->models.list[i].name);
        fprintf(stderr, "%s\n", cfg->models.n ? ")" : " (the configuration has none)");
        ret = 2;
        goto done;
    }
    const fr_model_spec_t *ms = &cfg->models.list[mi];
    const fr_tset_spec_t *ts = &cfg->tsets[ms->tset];
    if (ts->spine < 0) {
        fprintf(stderr, "freshet train: training set '%s' has no spine source; a model trains "
                        "on a source spine\n",
                ts->name);
        ret = 2;
        goto done;
    }
    need = calloc(cfg->nsources ? cfg->nsources : 1, 1);
    if (!need)
        goto done;
    fr_tset_sources(cfg, ms->tset, false, need);
    if (ts->label.kind == FR_LABEL_JOIN)
        need[ts->label.source] = 1;
    ret = fr_cli_hist_open(&o.hist, cfg, need, "train", o.config);
    if (ret)
        goto done;
    ret = 1;
    rc = fr_store_open(cfg, &store, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet train: %s\n", err);
        goto done;
    }

    /* the rows */
    progress_t pr = {.show = !o.quiet && isatty(STDERR_FILENO), .model = ms->name};
    fr_tset_opts_t to = {.tset = ms->tset,
                         .has_cutoff = o.has_cutoff,
                         .cutoff_ms = o.cutoff,
                         .format = FR_TSET_BINARY,
                         .header = on_header,
                         .row = on_row,
                         .row_ctx = &col,
                         .inputs = o.hist.in,
                         .log = o.hist.log,
                         .avro_lookup = o.hist.avro_lookup,
                         .avro_ctx = o.hist.reg,
                         .now_ms = fr_now_ms(),
                         .progress = tset_progress,
                         .progress_ctx = &pr};
    fr_tset_summary_t sum;
    rc = fr_tset_build(cfg, &to, &sum, err, sizeof err);
    if (rc) {
        if (pr.show)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "freshet train: the training set: %s\n",
                col.err[0] ? col.err : err[0] ? err : fr_strerror(rc));
        goto done;
    }
    size_t n = col.rows, ni = col.ninputs;
    if (n < MIN_ROWS) {
        if (pr.show)
            fputs("\r\033[K", stderr);
        fprintf(stderr,
                "freshet train: only %zu labelled rows (%" PRIu64 " immature, %" PRIu64
                " without a label): at least %d are needed\n",
                n, sum.immature, col.null_labels, MIN_ROWS);
        goto done;
    }
    /* out of time: the newest 20% of rows by time validate */
    order = malloc(n * sizeof *order);
    size_t nva = (size_t)((double)n * VALID_SHARE), ntr = n - nva;
    xt = malloc(ntr * ni * sizeof *xt);
    yt = malloc(ntr * sizeof *yt);
    xv = malloc((nva ? nva : 1) * ni * sizeof *xv);
    yv = malloc((nva ? nva : 1) * sizeof *yv);
    ptr = malloc(ntr * sizeof *ptr);
    pva = malloc((nva ? nva : 1) * sizeof *pva);
    if (!order || !xt || !yt || !xv || !yv || !ptr || !pva) {
        fputs("freshet train: out of memory\n", stderr);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_time, col.t);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        float *dx = k < ntr ? xt + k * ni : xv + (k - ntr) * ni;
        memcpy(dx, col.x + i * ni, ni * sizeof *dx);
        if (k < ntr)
            yt[k] = col.y[i];
        else
            yv[k - ntr] = col.y[i];
    }
    int64_t split_t = nva ? col.t[order[ntr]] : INT64_MAX;

    /* train */
    fr_xgb_param_t params[FR_CONFIG_MAX_MODEL_PARAMS + 2];
    size_t np = 0;
    int has_objective = 0;
    for (size_t i = 0; i < ms->nparams; i++) {
        params[np++] = (fr_xgb_param_t){ms->params[i].key, ms->params[i].value};
        has_objective |= !strcmp(ms->params[i].key, "objective");
    }
    if (!has_objective)
        params[np++] = (fr_xgb_param_t){"objective", "binary:logistic"};
    fr_xgb_train_opts_t xo = {.params = params,
                              .nparams = np,
                              .names = (const char *const *)col.names,
                              .progress = round_progress,
                              .progress_arg = &pr};
    fr_xgb_train_info_t info;
    rc = fr_xgb_train(ni, xt, yt, ntr, xv, yv, nva, &xo, &model, &model_len, &info, err,
                      sizeof err);
    if (pr.show)
        fputs("\r\033[K", stderr);
    if (rc) {
        fprintf(stderr, "freshet train: xgboost: %s\n", err[0] ? err : fr_strerror(rc));
        goto done;
    }
    rc = score_rows(model, model_len, xt, ntr, ni, ptr, err, sizeof err);
    if (!rc && nva)
        rc = score_rows(model, model_len, xv, nva, ni, pva, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet train: scoring the rows: %s\n", err[0] ? err : fr_strerror(rc));
        goto done;
    }
    fr_metrics_t mtr = {0}, mva = {0};
    int binary = 1;
    for (size_t i = 0; i < n && binary; i++)
        binary = col.y[i] == 0.0f || col.y[i] == 1.0f;
    if (binary) {
        for (size_t i = 0; i < ntr; i++)
            ptr[i] = ptr[i] < 0 ? 0 : ptr[i] > 1 ? 1 : ptr[i];
        for (size_t i = 0; i < nva; i++)
            pva[i] = pva[i] < 0 ? 0 : pva[i] > 1 ? 1 : pva[i];
        if (fr_metrics_compute(yt, ptr, ntr, &mtr) ||
            (nva && fr_metrics_compute(yv, pva, nva, &mva)))
            binary = 0;
    }

    /* the drift reference: training rows and their scores */
    rc = fr_drift_ref_build(xt, ntr, ni, ptr, NULL, &ref);
    if (!rc)
        rc = fr_drift_ref_encode(ref, &refb);
    if (rc) {
        fprintf(stderr, "freshet train: the drift reference: %s\n", fr_strerror(rc));
        goto done;
    }

    /* inputs and their fingerprints */
    inputs = calloc(ni, sizeof *inputs);
    ifp = calloc(ni, sizeof *ifp);
    if (!inputs || !ifp)
        goto done;
    for (size_t i = 0; i < ni; i++) {
        fr_input_def_t d;
        if (fr_input_resolve(cfg, ts->spine, col.names[i], &d)) {
            fprintf(stderr, "freshet train: input '%s' is not defined by the configuration\n",
                    col.names[i]);
            goto done;
        }
        fr_input_fingerprint(cfg, &d, ifp[i]);
        inputs[i] = (fr_model_input_t){.name = col.names[i],
                                       .kind = fr_input_kind_name(d.kind),
                                       .type = fr_type_name(col.itypes[i])};
        fr_buf_add(&fp, ifp[i], FR_INPUT_FP_LEN);
    }
    char overall[FR_INPUT_FP_LEN + 1];
    snprintf(overall, sizeof overall, "%016" PRIx64, fr_hash64(fp.p, fp.len, 0x66707269));

    double secs = (double)(fr_mono_ns() - t0) / 1e9;
    fr_buf_addstr(&meta, "{\"training_set\":");
    fr_jw_cstr(&meta, ts->name);
    fr_buf_printf(&meta, ",\"cutoff\":%" PRId64 ",\"split_ts\":%" PRId64, sum.cutoff_ms,
                  split_t == INT64_MAX ? (int64_t)0 : split_t);
    fr_buf_printf(&meta, ",\"rows\":{\"train\":%zu,\"valid\":%zu,\"immature\":%" PRIu64
                         ",\"no_label\":%" PRIu64 "}",
                  ntr, nva, sum.immature, col.null_labels);
    if (binary) {
        put_metrics(&meta, "train", &mtr);
        if (nva)
            put_metrics(&meta, "valid", &mva);
    }
    fr_buf_printf(&meta, ",\"best_iteration\":%d,\"rounds_run\":%d", info.best_iteration,
                  info.rounds_run);
    if (info.metric[0]) {
        fr_buf_addstr(&meta, ",\"early_stopping\":{\"metric\":");
        fr_jw_cstr(&meta, info.metric);
        put_num(&meta, "best_score", info.best_score);
        fr_buf_addc(&meta, '}');
    }
    fr_buf_addstr(&meta, ",\"params\":{");
    for (size_t i = 0; i < np; i++) {
        if (i)
            fr_buf_addc(&meta, ',');
        fr_jw_key(&meta, params[i].key);
        fr_jw_cstr(&meta, params[i].value);
    }
    fr_buf_addstr(&meta, "},\"input_fingerprints\":{");
    for (size_t i = 0; i < ni; i++) {
        if (i)
            fr_buf_addc(&meta, ',');
        fr_jw_key(&meta, col.names[i]);
        fr_jw_cstr(&meta, ifp[i]);
    }
    fr_buf_printf(&meta, "},\"seconds\":%.3f}", secs);

    fr_model_draft_t draft = {.inputs = inputs,
                              .ninputs = ni,
                              .fingerprint = overall,
                              .meta_json = meta.p,
                              .model = model,
                              .model_len = model_len,
                              .ref = refb.p,
                              .ref_len = refb.len,
                              .created_ms = fr_now_ms()};
    uint32_t version = 0;
    rc = fr_modelreg_register(store, ms->name, &draft, &version, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet train: registering the version: %s\n",
                err[0] ? err : fr_strerror(rc));
        goto done;
    }
    if (o.alias) {
        rc = fr_modelreg_alias_set(store, ms->name, o.alias, version);
        if (rc) {
            fprintf(stderr, "freshet train: version %u registered, but pointing alias %s at it "
                            "failed: %s\n",
                    version, o.alias, fr_strerror(rc));
            goto done;
        }
    }
    fr_buf_t line;
    fr_buf_init(&line, (size_t)2 << 20);
    fr_buf_addstr(&line, "{\"model\":");
    fr_jw_cstr(&line, ms->name);
    fr_buf_printf(&line, ",\"version\":%u", version);
    if (o.alias) {
        fr_buf_addstr(&line, ",\"alias\":");
        fr_jw_cstr(&line, o.alias);
    }
    fr_buf_printf(&line, ",\"inputs\":%zu,\"rows\":{\"train\":%zu,\"valid\":%zu,\"immature\":%" PRIu64
                         "}",
                  ni, ntr, nva, sum.immature);
    if (binary && nva)
        put_metrics(&line, "valid", &mva);
    fr_buf_printf(&line, ",\"best_iteration\":%d,\"seconds\":%.3f}\n", info.best_iteration,
                  (double)(fr_mono_ns() - t0) / 1e9);
    fputs(line.p, stdout);
    fr_buf_destroy(&line);
    ret = 0;
done:
    fr_drift_ref_free(ref);
    free(model);
    free(order);
    free(xt);
    free(yt);
    free(xv);
    free(yv);
    free(ptr);
    free(pva);
    free(inputs);
    free(ifp);
    fr_buf_destroy(&meta);
    fr_buf_destroy(&refb);
    fr_buf_destroy(&fp);
    collect_free(&col);
    fr_store_close(store);
    fr_cli_hist_close(&o.hist);
    fr_config_free(cfg);
    free(need);
    return ret;
}
