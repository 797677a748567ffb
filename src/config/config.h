/*
 * config.h - the YAML configuration file (DESIGN §4b) as validated structs.
 *
 * fr_config_load reads and checks a whole file; every error names
 * file:line:column and what was expected.  The result is immutable and
 * owned by the caller (fr_config_free).  Every name and index is resolved
 * at load: a view knows its source's index, its entity's field index, and
 * its ready aggregation plan.
 */
#ifndef FR_CONFIG_CONFIG_H
#define FR_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg/agg.h"
#include "core/value.h"
#include "expr/expr.h"

#define FR_CONFIG_MAX_SOURCES 64
#define FR_CONFIG_MAX_VIEWS 256
#define FR_CONFIG_MAX_FIELDS 256
#define FR_CONFIG_MAX_NAME 128         /* bytes in a source, view, field or aggregation name */
#define FR_CONFIG_MAX_KAFKA_PROPS 64   /* librdkafka properties in one kafka: block */
#define FR_CONFIG_MAX_FILE_BYTES (4 << 20) /* largest configuration file read */
#define FR_CONFIG_MAX_ONDEMAND 256     /* entries of on_demand: */

typedef enum { FR_FORMAT_JSON = 0, FR_FORMAT_AVRO } fr_format_t;
typedef enum { FR_STORE_LMDB = 0, FR_STORE_REDIS } fr_store_backend_t;

typedef struct fr_field_spec {
    char *name;
    fr_type_t type;
    bool optional;
    bool has_default;      /* default: given; an event without the field takes def */
    fr_value_t def;        /* typed as the field; a string is owned */
} fr_field_spec_t;

typedef struct fr_kv {
    char *key, *value;
} fr_kv_t;

typedef struct fr_kafka_spec {
    bool enabled;          /* a kafka: block was given */
    char *brokers, *topic, *group;
    char *dlq_topic;       /* dead letters; default "<topic>.dlq" */
    uint64_t max_message_bytes; /* larger messages are dead letters; default 1 MiB */
    fr_kv_t *props;        /* other keys, passed to librdkafka as strings */
    size_t nprops;
} fr_kafka_spec_t;

typedef struct fr_source_spec {
    char *name;
    fr_format_t format;
    int ts_field;          /* index of the event-time field in fields */
    int64_t ts_unit_ms;    /* 1 (ms, default) or 1000 (s) */
    fr_field_spec_t *fields;
    size_t nfields;
    fr_kafka_spec_t kafka;
    int64_t horizon_ms;    /* largest window of the views on this source */
} fr_source_spec_t;

typedef struct fr_agg_conf {
    char *name;            /* e.g. "amount_sum"; default <field>_<fn> or <fn> */
    fr_fn_t fn;
    char *field;           /* NULL for count / since_last */
} fr_agg_conf_t;

typedef struct fr_window_conf {
    char *label;           /* as written: "5m", "1h" */
    int64_t window_ms, tile_ms;
} fr_window_conf_t;

typedef struct fr_filter_spec {
    bool enabled;
    int field;             /* index in the source's fields */
    fr_value_t equals;     /* typed as the field; strings point into owned memory */
} fr_filter_spec_t;

typedef struct fr_view_spec {
    char *name;
    int source;            /* index in fr_config_t.sources */
    int entity;            /* field index in that source (a required field) */
    fr_window_conf_t *windows;
    size_t nwindows;
    fr_agg_conf_t *aggs;
    size_t naggs;
    fr_filter_spec_t filter;
    fr_agg_plan_t plan;    /* ready: fr_agg_plan_init has succeeded */
    char **feature_names;  /* naggs * nwindows, "<agg>_<window>", index a*nw+w */
} fr_view_spec_t;

/* ---- training sets (DESIGN §2b) ---- */

#define FR_CONFIG_MAX_TSETS 64
#define FR_CONFIG_MAX_TSET_FEATURES 1024 /* entries of one features: list */

typedef enum { FR_POINT_ARRIVAL = 0, FR_POINT_EVENT_TIME } fr_point_t;

/* One entry of a training set's features: list. */
typedef enum {
    FR_TSF_VIEW = 0, /* every feature of a view */
    FR_TSF_FEATURE,  /* view:feature */
    FR_TSF_FIELD,    /* a field of the spine, passed as is */
    FR_TSF_ONDEMAND  /* an on-demand feature */
} fr_tsf_kind_t;

typedef struct fr_tsf_spec {
    fr_tsf_kind_t kind;
    char *name;   /* as written */
    int view;     /* VIEW, FEATURE: the view's index */
    int feature;  /* FEATURE: a * nwindows + w */
    int field;    /* FIELD: index in the spine source's fields; -1 for a file spine */
    fr_type_t type; /* FIELD, FEATURE: the value's type */
    int ondemand; /* ONDEMAND: index in the on-demand list */
} fr_tsf_spec_t;

typedef enum { FR_LABEL_NONE = 0, FR_LABEL_JOIN, FR_LABEL_WINDOW } fr_label_kind_t;

typedef struct fr_label_spec {
    fr_label_kind_t kind;
    int source;            /* the label source */
    /* JOIN: the first label event in log order whose key equals the row's,
     * with ts in [t, t + horizon] */
    int key;               /* field of the label source; the spine's field of the same name */
    int field;             /* the value taken; -1: 1 when a label event is found */
    int64_t horizon_ms;
    fr_value_t def;        /* when none is found (FR_T_NULL: null); strings owned */
    /* WINDOW: fn over the label source's events whose entity equals the
     * row's, with t < ts <= t + window */
    int entity;            /* field of the label source; the spine's field of the same name */
    int64_t window_ms;
    fr_filter_spec_t filter;
    bool has_threshold;    /* 1 when value > threshold, else 0 */
    double threshold;
    fr_agg_plan_t plan;    /* one aggregation, one window of window_ms in 1 ms tiles: the
                              value at t + window covers exactly (t, t + window] */
    fr_type_t type;        /* the label's type */
} fr_label_spec_t;

typedef struct fr_tset_spec {
    char *name;
    int spine;             /* a source index; -1: a file given on the command line */
    fr_point_t point;      /* a file spine is always FR_POINT_EVENT_TIME */
    fr_tsf_spec_t *features;
    size_t nfeatures;
    fr_label_spec_t label;
} fr_tset_spec_t;
/* ---- on-demand features (DESIGN §2c) ---- */

/* What a name in an on-demand expression stands for. */
typedef enum { FR_REF_FIELD = 0, FR_REF_FEATURE, FR_REF_ONDEMAND } fr_ref_kind_t;

typedef struct fr_ondemand_ref {
    fr_ref_kind_t kind;
    char *name;         /* as written: "amount", "card_txn.amount_avg_1h" (backquotes removed) */
    int view, feature;  /* FR_REF_FEATURE: view index and feature index (a * nwindows + w); else -1 */
    int ondemand;       /* FR_REF_ONDEMAND: index of an earlier on-demand feature; else -1 */
    fr_type_t type;     /* the value's type when not null */
} fr_ondemand_ref_t;

/*
 * One entry of on_demand:.  A FR_REF_FIELD ref is a request field (the
 * spine's offline): the config checks only that some source declares a
 * field of that name, with one type; whoever evaluates checks that its
 * request or spine carries it.  To evaluate: fill inputs[i] with the value
 * of refs[i] (null when absent), then fr_expr_eval(prog, inputs, &out).
 */
typedef struct fr_ondemand_spec {
    char *name;              /* an identifier: letters, digits, '_' */
    char *expr;              /* the text */
    fr_expr_t *prog;         /* compiled; inputs[i] is the value of refs[i] */
    fr_type_t type;          /* result type */
    fr_ondemand_ref_t *refs;
    size_t nrefs;
} fr_ondemand_spec_t;

/* ---- models and drift (DESIGN §2c) ---- */

#define FR_CONFIG_MAX_MODELS 64
#define FR_CONFIG_MAX_MODEL_PARAMS 64

typedef struct fr_model_spec {
    char *name;
    int tset;              /* the training set its rows and inputs come from */
    fr_kv_t *params;       /* xgboost: { ... } as given (strings), in order */
    size_t nparams;
} fr_model_spec_t;

typedef struct fr_config {
    char *path;            /* the file loaded */
    struct {
        fr_store_backend_t backend;
        char *path;              /* lmdb directory, default "./data"; fr_config_load
                                  * makes a relative one relative to the file's directory */
        uint64_t map_size_bytes; /* lmdb map size, default 64 GiB */
        int64_t log_retention_ms; /* embedded log: processed events older than
                                     this are dropped, default 7d */
        char *redis_url;         /* default "redis://127.0.0.1:6379" */
        bool redis_cluster;
        int redis_connect_timeout_ms; /* default 1000 */
        int redis_timeout_ms;         /* each command, default 250 */
    } store;
    struct {
        char *listen_host;       /* default "127.0.0.1" */
        int listen_port;         /* default 8080 */
        int threads;             /* HTTP worker threads, default 4 */
        int64_t idempotency_ttl_ms; /* default 24h */
        uint64_t max_body_bytes;    /* default 16 MiB */
        int max_batch;              /* entities x features per batch read, default 10000 */
        int max_key_bytes;          /* entity key and idempotency key, default 256 */
        int timeout_s;              /* connection idle timeout, default 30 */
        int breaker_failures;       /* store errors in a row that open the circuit, default 5 */
        int breaker_open_ms;        /* how long it stays open before a probe, default 1000 */
        int max_connections;        /* open HTTP connections, default 10000 */
        int max_connections_per_client; /* from one client address, default 1000 */
    } server;
    struct {
        int64_t commit_interval_ms; /* default 50 */
        int64_t max_future_ms;      /* default 300000 */
        uint64_t cache_entities;    /* entity states kept in memory, default 2,000,000 */
    } processor;
    struct {
        char *url;               /* external Confluent-compatible registry; NULL: embedded */
        int timeout_ms;          /* each request to it, default 2000 */
    } registry;
    fr_source_spec_t *sources;
    size_t nsources;
    fr_view_spec_t *views;
    size_t nviews;
    fr_tset_spec_t *tsets;
    size_t ntsets;
    fr_ondemand_spec_t *ondemand; /* in file order; each refers only to those before it */
    size_t nondemand;
    struct {
        int64_t reload_ms;     /* how soon replicas see alias moves, default 1000 */
        double log_sample;     /* share of scores logged, default 1.0 */
        int64_t log_retention_ms; /* logged scores older than this go, default 7d */
        fr_model_spec_t *list;
        size_t n;
    } models;
    struct {
        int64_t window_ms;     /* live histograms cover this much, default 1h */
        double psi_warn, psi_alert; /* defaults 0.1, 0.25 */
    } drift;
} fr_config_t;

/*
 * Loads and validates path (at most FR_CONFIG_MAX_FILE_BYTES).  On success
 * *out owns everything (free with fr_config_free) and returns 0.  On
 * failure *out is NULL, err (may be NULL) holds one line, and the code is
 * FR_ECONFIG (invalid file, YAML errors included, or too large),
 * FR_ENOMEM, or -errno (cannot open or read), e.g.
 *   "examples/x.yaml:12:7: window '5x': expected a number followed by ms, s, m, h or d"
 *   "x.yaml: cannot open: No such file or directory"
 * Line and column count from 1.  Nothing is printed.
 * A relative store.path (the default "./data" too) is taken relative to
 * the directory holding path, not the current one: "examples/fraud/x.yaml"
 * with "./data" gives "examples/fraud/data"; an absolute one is kept.
 */
int fr_config_load(const char *path, fr_config_t **out, char *err, size_t errlen);
/*
 * fr_config_load in a child process, so that a fault of the YAML library
 * on a hostile file ends the child, not the caller (libfyaml 0.7.12 has
 * crashed on fuzzed input: config.c keeps away from the faults known).
 * 0 when the file loads; else FR_ECONFIG with err holding the child's
 * message, or saying that the parser crashed; FR_ENOMEM / -errno when the
 * child cannot be started.  Forks: call while the process has one thread.
 */
int fr_config_check_isolated(const char *path, char *err, size_t errlen);
/* The same from text[len] (borrowed, read during the call only; need not
 * be NUL-terminated); name stands for the file in messages and cfg->path.
 * store.path is kept as written. */
int fr_config_parse(const char *name, const char *text, size_t len, fr_config_t **out, char *err,
                    size_t errlen);
/* Frees cfg and everything it owns; NULL is ignored. */
void fr_config_free(fr_config_t *cfg);

/* Lookups by name; -1 when absent. */
int fr_config_source_index(const fr_config_t *cfg, const char *name);
int fr_config_view_index(const fr_config_t *cfg, const char *name);
int fr_source_field_index(const fr_source_spec_t *src, const char *name);
int fr_config_tset_index(const fr_config_t *cfg, const char *name);
int fr_config_model_index(const fr_config_t *cfg, const char *name);
/* The type a view's feature f (a * nwindows + w) takes when not null. */
fr_type_t fr_view_feature_type(const fr_config_t *cfg, const fr_view_spec_t *vw, size_t f);
int fr_config_ondemand_index(const fr_config_t *cfg, const char *name);

/* Parses "90s", "5m", "1h", "7d" (also "250ms") into ms: digits then one
 * unit of ms, s, m, h, d, nothing else; -1 if malformed or too large. */
int64_t fr_config_parse_duration(const char *s);

#endif
