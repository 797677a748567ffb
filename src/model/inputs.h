/*
 * inputs.h - a model's inputs as the configuration defines them: what
 * each input name stands for, and a fingerprint of that definition.
 *
 * An input is named as its training-set column: "view:feature" (a view's
 * feature), a spine field ("amount"), or an on-demand feature.  Its
 * fingerprint hashes everything that decides its value (DESIGN §2c: source
 * fields, view, fn, field, window, granularity, filter, expression text),
 * not its name's spelling elsewhere; a model version stores one per input,
 * and serving refuses a version whose inputs' fingerprints the current
 * configuration no longer gives (409 model_features_changed), naming them.
 *
 * Pure functions over a configuration; any thread.
 */
#ifndef FR_MODEL_INPUTS_H
#define FR_MODEL_INPUTS_H

#include <stdint.h>

#include "config/config.h"

typedef enum { FR_INPUT_VIEW = 0, FR_INPUT_FIELD, FR_INPUT_ONDEMAND } fr_input_kind_t;

typedef struct fr_input_def {
    fr_input_kind_t kind;
    int view, feature;   /* VIEW: the view and its feature (a * nwindows + w) */
    const char *field;   /* FIELD: the field's name (borrowed from the configuration) */
    int ondemand;        /* ONDEMAND: its index */
    fr_type_t type;      /* the value's type when not null */
} fr_input_def_t;

/* The characters of a fingerprint, without the NUL. */
#define FR_INPUT_FP_LEN 16

/*
 * What name stands for in cfg: "view:feature", an on-demand feature, or a
 * field of source spine (any source's field of that name when spine is
 * -1).  0, or FR_ENOTFOUND.
 */
int fr_input_resolve(const fr_config_t *cfg, int spine, const char *name, fr_input_def_t *out);

/* "view", "field", "on_demand". */
const char *fr_input_kind_name(fr_input_kind_t k);

/* The fingerprint of d's definition in cfg as FR_INPUT_FP_LEN hex digits
 * and a NUL, into out. */
void fr_input_fingerprint(const fr_config_t *cfg, const fr_input_def_t *d,
                          char out[FR_INPUT_FP_LEN + 1]);

#endif
