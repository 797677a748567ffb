/*
 * trainset.h - point-in-time training sets (DESIGN §2b): one row per spine
 * row with its keys, time, features as of that point, on-demand features
 * and a label, built in one pass over the history with the same agg/ code
 * that serves features online.
 *
 * Points.  `arrival` (a source spine's default): a view's value at t over
 * exactly the events of the view that arrived before the spine event (the
 * history's order, history.h), so a row holds what GET /v1/features
 * answered just before the event was ingested.  `event_time` (always for a
 * file spine): over every accepted event with ts <= t, minus the spine
 * event itself.  Both use the window rule of DESIGN §2 exactly: a row
 * whose t is before the newest event its entity's state holds is computed
 * afresh from the retained events of the entity (the running tile state
 * would be inexact there), so memory holds, per entity, its state plus the
 * events that a later row could still need (admission bounds how old a
 * later spine event can be).
 *
 * Labels.  Joined labels come from one pass over the label source first
 * (memory: its events' keys and values); forward-window labels wait for
 * the label source to pass t + window (its lateness bounds when) and are
 * computed afresh like event_time rows.  Rows are written in spine order.
 *
 * A build belongs to one thread.
 */
#ifndef FR_OFFLINE_TRAINSET_H
#define FR_OFFLINE_TRAINSET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "offline/history.h"

typedef enum {
    FR_TSET_CSV = 0,
    FR_TSET_NDJSON,
    FR_TSET_BINARY /* rows to o->row as typed values (see fr_tset_row_fn) */
} fr_tset_format_t;

/* What a column is, for a row sink. */
typedef enum {
    FR_TSC_OTHER = 0, /* an entity key or a pass-through column */
    FR_TSC_TS,
    FR_TSC_FEATURE,   /* from the features list, in order: a model's candidate inputs */
    FR_TSC_LABEL
} fr_tsc_role_t;

typedef struct fr_tset_col {
    const char *name; /* as in NDJSON ("view:feature"); valid during the header call */
    fr_tsc_role_t role;
    fr_type_t type;   /* its values' type when not null (FR_T_NULL: untyped text) */
} fr_tset_col_t;

/*
 * A row sink: header is called once with the columns, then row once per
 * row in spine order with the row's values in the binary form: per column,
 * a type byte (fr_type_t), then 8 little-endian bytes (long, double bits),
 * 1 byte (boolean), or a u32 length and the bytes (string); nothing for
 * null.  The bytes are valid during the call.  A nonzero return (a
 * negative FR_E* code) stops the build with it.
 */
typedef int (*fr_tset_header_fn)(void *ctx, const fr_tset_col_t *cols, size_t n);
typedef int (*fr_tset_row_fn)(void *ctx, const void *row, size_t len);

typedef struct fr_tset_opts {
    int tset;                 /* index in cfg->tsets */
    const char *spine_path;   /* NULL: the configured spine source; else a CSV or NDJSON file */
    const char *arrival_col;  /* spine file: a column of arrival times (ms, as the history
                                 stamps its events); rows then take the arrival point:
                                 features over the events that arrived at or before */
    bool own_after_arrival;   /* with arrival_col: rows keep the event_time point, but an
                                 event at exactly the row's t that arrived after the row is
                                 taken for the row's own (a scored request's event) and
                                 left out */
    bool no_label;            /* leave the label out (no maturity either) */
    bool has_from, has_to;    /* source spine: only events with from <= ts < to are rows */
    int64_t from_ms, to_ms;
    bool has_cutoff;          /* maturity cutoff (default: the label source's newest ts) */
    int64_t cutoff_ms;
    fr_tset_format_t format;
    FILE *out;                /* the table (borrowed); unused with row */
    fr_tset_header_fn header; /* FR_TSET_BINARY: the row sink */
    fr_tset_row_fn row;
    void *row_ctx;
    FILE *warn;               /* one line per bad spine file row (may be NULL) */
    /* where history comes from: inputs[s] for each source s (fr_tset_sources
     * says which are needed); log for embedded inputs */
    const fr_hist_input_t *inputs;
    fr_elog_t *log;
    fr_avro_lookup_fn avro_lookup;
    void *avro_ctx;
    int64_t now_ms;
    /* called now and then (may be NULL) */
    void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total, uint64_t rows);
    void *progress_ctx;
} fr_tset_opts_t;

typedef struct fr_tset_summary {
    uint64_t rows;            /* written */
    uint64_t immature;        /* left out: t + horizon (or window) after the cutoff */
    uint64_t labelled;        /* rows whose label is not null */
    double label_sum;         /* sum of non-null labels (label rate = label_sum / labelled) */
    uint64_t events;          /* history events read */
    uint64_t refused;         /* history events refused (topics and files) */
    uint64_t bad_rows;        /* spine file rows skipped (reported on warn) */
    uint64_t recomputed;      /* row-view values computed afresh from retained events */
    uint64_t inexact;         /* of those, ones that needed an event no longer retained
                                 (not expected: a sign of a bug, reported) */
    int64_t cutoff_ms;        /* the cutoff used (INT64_MIN: none, no label) */
} fr_tset_summary_t;

/* Which sources the build reads: need[s] = 1 (need has cfg->nsources
 * entries); with a file spine the spine source is not needed. */
void fr_tset_sources(const fr_config_t *cfg, int tset, bool file_spine, uint8_t *need);

/*
 * Builds training set o->tset and writes it to o->out.  0, or an error with
 * err filled (FR_EINVAL: a spine file that cannot be used at all; others
 * from the history or the output).  *sum is filled in both cases.
 */
int fr_tset_build(const fr_config_t *cfg, const fr_tset_opts_t *o, fr_tset_summary_t *sum,
                  char *err, size_t errlen);

#endif
