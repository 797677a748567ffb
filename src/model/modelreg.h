/*
 * modelreg.h - the model registry, kept in the online store (LMDB or
 * Redis) so that every process and serving replica on the store sees the
 * same one (DESIGN §2c).
 *
 * A model (a name: 1-128 of [A-Za-z0-9_.-]) has versions numbered 1, 2, ...
 * in registration order.  A version is immutable: its XGBoost model
 * (UBJSON), its ordered inputs (name, kind, type), the fingerprint of
 * their definitions (computed by the caller, compared by it), training
 * metadata and metrics (a JSON object), and its drift reference (drift.h
 * encoding).  Aliases ([a-z][a-z0-9_-]{0,63}: champion, challenger, ...)
 * point at versions and move.
 *
 * Layout: key-value records (store.h) in namespace "m", group = the model
 * name, keys "seq" (the last number handed out), "v/<10 digits>" (the
 * version's header: everything but the model bytes, so listings stay
 * cheap), "b/<10 digits>" (the model bytes) and "a/<alias>" (the version,
 * decimal).  A registration takes a number (an atomic counter), writes the
 * bytes, then the header, each only if absent: the version becomes
 * visible with its header, whole.  A number is never handed out twice,
 * including one whose registration failed half-way (it stays unused).
 *
 * Thread rules: every call may run from any thread or process at once;
 * the store serialises what must be.  Returned objects are the caller's.
 */
#ifndef FR_MODEL_MODELREG_H
#define FR_MODEL_MODELREG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

#define FR_MODELREG_NS "m"
#define FR_MODEL_MAX_NAME 128
#define FR_MODEL_MAX_ALIAS 64
#define FR_MODEL_MAX_INPUTS 4096
#define FR_MODEL_MAX_INPUT_NAME 256
#define FR_MODEL_MAX_TAG 32                /* an input's kind or type */
#define FR_MODEL_MAX_FINGERPRINT 256
#define FR_MODEL_MAX_META ((size_t)1 << 20) /* metadata JSON */
#define FR_MODEL_MAX_REF ((size_t)1 << 20)  /* encoded drift reference */

typedef struct fr_model_input {
    const char *name; /* e.g. "card_txn:amount_avg_1h", "amount", "foreign" */
    const char *kind; /* what the caller calls its origin: "view", "field", "on_demand" */
    const char *type; /* "double", "long", "boolean" */
} fr_model_input_t;

/* What fr_modelreg_register stores; everything borrowed for the call. */
typedef struct fr_model_draft {
    const fr_model_input_t *inputs; /* in the model's column order */
    size_t ninputs;
    const char *fingerprint; /* 1-256 printable bytes */
    const char *meta_json;   /* a JSON object (metadata, metrics), <= 1 MiB */
    const void *model;       /* UBJSON, <= FR_STORE_KV_MAX_VALUE */
    size_t model_len;
    const void *ref;         /* encoded drift reference; may be empty */
    size_t ref_len;
    int64_t created_ms;
} fr_model_draft_t;

/* A stored version.  Every pointer points into the object itself. */
typedef struct fr_model_version {
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version;
    int64_t created_ms;
    const fr_model_input_t *inputs;
    size_t ninputs;
    const char *fingerprint;
    const char *meta_json;
    const void *ref;
    size_t ref_len;
    size_t model_len;  /* the model's size, loaded or not */
    const void *model; /* NULL unless fetched with FR_MODELREG_WITH_MODEL */
} fr_model_version_t;

typedef struct fr_model_alias {
    char name[FR_MODEL_MAX_ALIAS + 1];
    uint32_t version;
} fr_model_alias_t;

enum { FR_MODELREG_WITH_MODEL = 1 };

/* 1 when s is a valid model name, or alias name; else 0. */
int fr_modelreg_name_ok(const char *s);
int fr_modelreg_alias_ok(const char *s);

/*
 * Registers a new version of model name with the next free number
 * (*version).  0, FR_EINVAL (a bad name or draft field; err says which),
 * FR_ELIMIT, or a store error.  Two concurrent registrations, from any
 * processes, get different numbers.
 */
int fr_modelreg_register(fr_store_t *s, const char *name, const fr_model_draft_t *d,
                         uint32_t *version, char *err, size_t errlen);
/*
 * Stores the draft as version `version` (>= 1), e.g. when copying a
 * registry: 0, FR_ECONFLICT (that number is taken: versions are immutable,
 * and nothing is written), FR_EINVAL, or a store error.
 */
int fr_modelreg_put(fr_store_t *s, const char *name, uint32_t version, const fr_model_draft_t *d,
                    char *err, size_t errlen);
/*
 * Version `version` of name into *out (free with fr_model_version_free),
 * with the model bytes when flags has FR_MODELREG_WITH_MODEL.
 * 0, FR_ENOTFOUND, FR_ECORRUPT (stored bytes do not decode, or the model
 * bytes do not match their header), FR_EINVAL or a store error.
 */
int fr_modelreg_get(fr_store_t *s, const char *name, uint32_t version, int flags,
                    fr_model_version_t **out);
void fr_model_version_free(fr_model_version_t *v);
/* The names of the models with at least one version, in byte order. */
int fr_modelreg_models(fr_store_t *s, fr_store_kv_names_t *out);
/* The version numbers of name, ascending, into *out (malloc'd, the
 * caller's) and *n: 0 (n may be 0: no versions), FR_EINVAL or an error. */
int fr_modelreg_versions(fr_store_t *s, const char *name, uint32_t **out, size_t *n);

/* Points alias at an existing version: 0, FR_ENOTFOUND (no such
 * version), FR_EINVAL or a store error. */
int fr_modelreg_alias_set(fr_store_t *s, const char *name, const char *alias, uint32_t version);
/* 0 with *version, FR_ENOTFOUND, FR_EINVAL, FR_ECORRUPT or an error. */
int fr_modelreg_alias_get(fr_store_t *s, const char *name, const char *alias, uint32_t *version);
/* 0, FR_ENOTFOUND, FR_EINVAL or a store error. */
int fr_modelreg_alias_del(fr_store_t *s, const char *name, const char *alias);
/* Every alias of name, by alias name, into *out (malloc'd) and *n. */
int fr_modelreg_aliases(fr_store_t *s, const char *name, fr_model_alias_t **out, size_t *n);

/*
 * Resolves "name", "name@3" or "name@alias" to a model name (into name,
 * FR_MODEL_MAX_NAME + 1 bytes) and a version: "name" is its champion when
 * that alias exists, else its newest version.  0, FR_EINVAL (malformed),
 * FR_ENOTFOUND (no such model, version or alias) or a store error.
 */
int fr_modelreg_resolve(fr_store_t *s, const char *spec, char *name, uint32_t *version);

/*
 * Appends v as JSON: {"model","version","created_ms","inputs":[{"name",
 * "kind","type"}],"fingerprint","meta":{...},"model_bytes"[,"reference":
 * {input or "score": bins}]}.  The reference is written when with_ref and
 * it decodes with one column per input plus the score.  0, FR_ELIMIT,
 * FR_ENOMEM (b unchanged).
 */
int fr_model_version_json(const fr_model_version_t *v, int with_ref, fr_buf_t *b);

#endif
