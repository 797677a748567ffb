/*
 * scorer.h - scoring with one model version (DESIGN §2c): the inputs of a
 * request built from its fields, the views the model reads (each keyed by
 * the request field named like the view's entity) and on-demand features,
 * exactly as its training set built them; then XGBoost.
 *
 * A scorer is made once per model version (fr_scorer_new: the registry's
 * record, the configuration's definitions, the loaded booster, the drift
 * reference and a live histogram) and shared by every thread; it keeps a
 * pool of predictors, one taken per call, so a call formats and allocates
 * nothing but the pool's first use per concurrent caller.  A version whose
 * inputs' definitions no longer match the configuration (fingerprints
 * differ, or an input is gone) still loads, but fr_scorer_changed names
 * the inputs and callers refuse to score with it (409).
 *
 * Feature values come from the caller through a read callback, inside a
 * read session the caller holds open for the call (strings in values may
 * point into it).
 */
#ifndef FR_MODEL_SCORER_H
#define FR_MODEL_SCORER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/value.h"
#include "model/drift.h"
#include "model/modelreg.h"
#include "store/store.h"

/* Requests scored in one call, at most. */
#define FR_SCORER_MAX_BATCH 1000

typedef struct fr_scorer fr_scorer_t;

/*
 * Reads view v's features for entity key[klen] at as_of into out (the
 * view's naggs x nwindows values).  Sets *degraded when the store could not
 * be read and empty-window values were given.  0, or an error that fails
 * the call.
 */
typedef int (*fr_scorer_read_fn)(void *ctx, int view, const char *key, size_t klen,
                                 int64_t as_of, fr_value_t *out, int *degraded);

/* One scored request. */
typedef struct fr_score_out {
    float score;
    const fr_value_t *inputs; /* [fr_scorer_ninputs]: valid until the next call on this
                                 thread or the read session's end */
    int degraded;
} fr_score_out_t;

/*
 * A scorer for version v (with its model bytes: FR_MODELREG_WITH_MODEL) of
 * its model under cfg (borrowed: both must outlive the scorer; v is read
 * during the call only).  0, or FR_ECORRUPT / FR_ENOMEM / ... with err.
 */
int fr_scorer_new(const fr_config_t *cfg, const fr_model_version_t *v, fr_scorer_t **out,
                  char *err, size_t errlen);
void fr_scorer_free(fr_scorer_t *s);

const char *fr_scorer_name(const fr_scorer_t *s);
uint32_t fr_scorer_version(const fr_scorer_t *s);
size_t fr_scorer_ninputs(const fr_scorer_t *s);
const char *fr_scorer_input_name(const fr_scorer_t *s, size_t i);
/* The inputs whose definitions changed since training, comma-separated,
 * or NULL when none did. */
const char *fr_scorer_changed(const fr_scorer_t *s);
/* The drift reference and the live histogram of this version's scores. */
const fr_drift_ref_t *fr_scorer_reference(const fr_scorer_t *s);
fr_drift_live_t *fr_scorer_live(fr_scorer_t *s);

/*
 * Scores reqs[n] (JSON objects of request fields; 1 <= n <=
 * FR_SCORER_MAX_BATCH) at as_of into outs[n], reading features through
 * read.  Adds each scored vector to the live histogram at now_ms.
 * *features_us and *predict_us (may be NULL) receive the time spent.
 * 0; FR_EINVAL with err naming the request and the field that is missing
 * or of the wrong type (the caller answers 422); or another error.
 * Any thread.
 */
int fr_scorer_score(fr_scorer_t *s, const json_t *const *reqs, size_t n, int64_t as_of,
                    int64_t now_ms, fr_scorer_read_fn read, void *rctx, fr_score_out_t *outs,
                    uint64_t *features_us, uint64_t *predict_us, char *err, size_t errlen);

/* Frees this thread's scratch (threads that end free theirs by themselves;
 * the main thread calls this before exit). */
void fr_scorer_thread_done(void);

#endif
