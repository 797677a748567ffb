/*
 * xgb.h - XGBoost (libxgboost 1.7, C API) for freshet: training from a
 * dense float matrix with out-of-time early stopping, models as UBJSON
 * bytes, and prediction without per-call formatting or allocation.
 *
 * Shapes.  Rows are row-major floats, NaN is the missing value (null
 * inputs).  Scores are floats, one per row (or one per class for a
 * multi-class objective: fr_xgb_model_outputs).
 *
 * Threads.  What libxgboost 1.7.4 allows (its doc/prediction.rst, "Thread
 * Safety", and src/c_api/c_api.cc, src/learner.cc read at v1.7.4): a
 * booster of trees may serve predictions from many threads at once, as
 * long as nothing changes it meanwhile (no SetParam, no training, no
 * load).  The prediction's output buffer and the last error text live in
 * thread-local storage keyed by booster; the configuration step runs once
 * under the booster's own lock.  The proxy matrix that carries a
 * prediction's input is mutated by every call, so it may not be shared.
 * Hence:
 *   - fr_xgb_model_t is immutable once made (fr_xgb_model_load configures
 *     it and runs one prediction before returning) and may be shared by
 *     any number of threads;
 *   - fr_xgb_predictor_t holds one thread's proxy matrix, input rows and
 *     prebuilt JSON: one per thread (or per call site that serialises its
 *     use); several predictors over one model may run at the same time.
 * libxgboost keeps, per thread and per booster it predicted with, an
 * output buffer as large as that thread's largest batch; it is released
 * when the model is freed on that thread or when the thread ends.  A
 * long-lived thread that scored with many models since freed elsewhere
 * holds one such buffer for each (rows x 4 bytes).
 *
 * The hot path.  libxgboost's in-place prediction takes its input and its
 * options as JSON text and parses both on every call (about half of a
 * single row's cost; xgboost issue #12311).  A predictor writes both
 * strings once, with the row count as a fixed-width field it overwrites in
 * place, and reuses one proxy matrix: freshet formats, parses and
 * allocates nothing per prediction (libxgboost still parses the two
 * strings internally and allocates inside).
 */
#ifndef FR_MODEL_XGB_H
#define FR_MODEL_XGB_H

#include <stddef.h>
#include <stdint.h>

#define FR_XGB_MAX_FEATURES 4096  /* inputs of one model */
#define FR_XGB_MAX_ROUNDS 100000  /* boosting rounds of one training */
#define FR_XGB_MAX_PARAMS 64      /* params passed through to xgboost */

typedef struct fr_xgb_model fr_xgb_model_t;
typedef struct fr_xgb_predictor fr_xgb_predictor_t;

/* One xgboost parameter, both strings borrowed. */
typedef struct fr_xgb_param {
    const char *key;
    const char *value;
} fr_xgb_param_t;

/* What the progress callback sees after each round. */
typedef struct fr_xgb_progress {
    int round;           /* 0-based round just finished */
    int rounds;          /* the most rounds this training may run */
    const char *metric;  /* the validation metric's name ("logloss"); "" without one */
    double value;        /* its value on the validation rows this round (NaN without) */
    int best_round;      /* the best round so far */
    double best_value;
} fr_xgb_progress_t;

/* Called after each round on the training thread; a nonzero return stops
 * the training, which then fails with that value (use a negative FR_E*
 * code, e.g. -ECANCELED). */
typedef int (*fr_xgb_progress_fn)(const fr_xgb_progress_t *p, void *arg);

typedef struct fr_xgb_train_opts {
    /* Passed through to XGBoosterSetParam in order, except these, which
     * freshet interprets: "rounds" (most boosting rounds, default 100),
     * "early_stopping_rounds" (default 20; 0 turns it off),
     * "nthread" (default 0: as many as xgboost sees).  "tree_method" must
     * be "hist" when given; "seed" defaults to 0 (training is repeatable:
     * the same rows, params and nthread give the same bytes). */
    const fr_xgb_param_t *params;
    size_t nparams;
    /* Optional input names (ncol of them, borrowed), stored in the model
     * as xgboost feature names; none may contain '[', ']' or '<'. */
    const char *const *names;
    fr_xgb_progress_fn progress; /* may be NULL */
    void *progress_arg;
} fr_xgb_train_opts_t;

/* The outcome of a training. */
typedef struct fr_xgb_train_info {
    int rounds_run;      /* rounds trained before stopping */
    int best_iteration;  /* 0-based; the model keeps rounds 0..best_iteration */
    double best_score;   /* the validation metric at best_iteration (NaN without validation) */
    char metric[64];     /* its name, "" without validation rows */
    char warnings[512];  /* xgboost's warnings during training, "" when none */
} fr_xgb_train_info_t;

/*
 * Trains on ntr rows of x (row-major, ncol floats each, NaN missing) with
 * labels y, validating on nva rows of xv/yv (may be 0: then no early
 * stopping, and all rounds are kept).  Early stopping follows Python
 * xgboost's EarlyStopping(save_best=True): the last metric xgboost
 * reports on the validation rows decides (a metric named auc, aucpr, map
 * or ndcg is maximised, any other minimised); training stops after
 * early_stopping_rounds rounds without a strict improvement, and the
 * model is cut back to its best round, with the attributes best_iteration
 * and best_score set as Python's xgboost sets them.
 *
 * All inputs are borrowed for the call.  On success *model (malloc'd,
 * the caller frees it) holds the UBJSON model, *len its bytes, and info
 * (may be NULL) what happened.  Returns 0, FR_EINVAL (bad shape or
 * names; err says which), FR_ECONFIG (a parameter xgboost refuses or
 * does not use; err names it), FR_ENOMEM, FR_EIO (another xgboost
 * failure; err holds its text), or the progress callback's code.
 * Thread rules: any thread; trainings may run concurrently.
 */
int fr_xgb_train(size_t ncol, const float *x, const float *y, size_t ntr, const float *xv,
                 const float *yv, size_t nva, const fr_xgb_train_opts_t *opts, void **model,
                 size_t *len, fr_xgb_train_info_t *info, char *err, size_t errlen);

/*
 * Loads a model from UBJSON (or JSON) bytes (borrowed for the call; the
 * model keeps its own copy of what it needs).  Predictions use trees
 * 0..best_iteration when the model carries a best_iteration attribute
 * (as Python's sklearn wrapper does), else all of them; they run on one
 * thread each.  The model is configured and has predicted once when this
 * returns.  0, FR_ECORRUPT (bytes xgboost cannot load; err holds why),
 * FR_ELIMIT (more than FR_XGB_MAX_FEATURES inputs) or FR_ENOMEM.
 */
int fr_xgb_model_load(const void *bytes, size_t len, fr_xgb_model_t **out, char *err,
                      size_t errlen);
/* Frees a model.  Every predictor made from it must be freed first. */
void fr_xgb_model_free(fr_xgb_model_t *m);
/* Inputs per row the model expects. */
size_t fr_xgb_model_features(const fr_xgb_model_t *m);
/* Scores per row (1 except for multi-class objectives). */
size_t fr_xgb_model_outputs(const fr_xgb_model_t *m);
/* Boosting rounds predictions use (best_iteration + 1, or all). */
int fr_xgb_model_rounds(const fr_xgb_model_t *m);
/*
 * The model as UBJSON bytes into *out (malloc'd, the caller's) and *len.
 * May run while predictors of the model run.  0, FR_ENOMEM or FR_EIO.
 */
int fr_xgb_model_save(const fr_xgb_model_t *m, void **out, size_t *len, char *err,
                      size_t errlen);

/*
 * A prediction context for one thread over a shared model (borrowed: it
 * must outlive the predictor), with room for up to max_rows rows
 * (1 <= max_rows <= 1,000,000).  0, FR_EINVAL or FR_ENOMEM.
 */
int fr_xgb_predictor_new(const fr_xgb_model_t *m, size_t max_rows, fr_xgb_predictor_t **out);
void fr_xgb_predictor_free(fr_xgb_predictor_t *p);
/* Most rows one fr_xgb_predict call takes. */
size_t fr_xgb_predictor_max_rows(const fr_xgb_predictor_t *p);
/*
 * Row i (< max_rows) of the predictor's input: fr_xgb_model_features
 * floats the caller fills (NaN for missing) before fr_xgb_predict.  Valid
 * until the predictor is freed; its contents are kept between calls.
 */
float *fr_xgb_predictor_row(fr_xgb_predictor_t *p, size_t i);
/*
 * Scores rows 0..nrows-1 of the input into out (nrows x outputs floats).
 * Formats and allocates nothing.  0, FR_EINVAL (nrows 0 or above
 * max_rows) or FR_EIO (xgboost failed: should not happen with a loaded
 * model; err, which may be NULL, holds its text).
 */
int fr_xgb_predict(fr_xgb_predictor_t *p, size_t nrows, float *out, char *err, size_t errlen);
/* One row: copies x (features floats) into row 0 and scores it. */
int fr_xgb_predict_row(fr_xgb_predictor_t *p, const float *x, float *out, char *err,
                       size_t errlen);

#endif
