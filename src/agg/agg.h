/*
 * agg.h - tiled sliding-window aggregation (DESIGN §2).  Pure code: no I/O,
 * no clocks, no globals; time and offsets are arguments.
 *
 * A plan describes one feature view: its aggregations and its windows.  An
 * entity's state for that view keeps, per window, the non-empty tiles that
 * can still matter (a sparse, sorted list), each tile holding one cell per
 * aggregation.  The value of window W (tile g) at time t covers the events
 * with  floor(t/g)*g + g - W <= ts <= t ; tiles are whole, so an event in
 * the tile of t but after t counts (only possible when t is before the
 * newest event applied: "tile accuracy").
 *
 * Features are numbered a * nwindows + w (aggregation a, window w).
 *
 * Thread rules: a plan is immutable after fr_agg_plan_init and may be
 * shared; a state belongs to one thread at a time.
 */
#ifndef FR_AGG_AGG_H
#define FR_AGG_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/value.h"

typedef enum fr_fn {
    FR_FN_COUNT = 0,
    FR_FN_SUM,
    FR_FN_AVG,
    FR_FN_MIN,
    FR_FN_MAX,
    FR_FN_STDDEV,
    FR_FN_COUNT_DISTINCT,
    FR_FN_LAST,
    FR_FN_SINCE_LAST,
    FR_FN__COUNT
} fr_fn_t;

/* "count", "sum", ... ; fr_fn_parse returns -1 for an unknown name. */
const char *fr_fn_name(fr_fn_t fn);
int fr_fn_parse(const char *name);
/* Whether fn needs a field (sum..last) or takes none (count, since_last). */
bool fr_fn_needs_field(fr_fn_t fn);
/* Whether fn accepts a field of type t (sum/avg/min/max/stddev: long or
 * double; count_distinct, last: any). */
bool fr_fn_accepts(fr_fn_t fn, fr_type_t t);
/* The type of fn's non-null values over a field of type field_type (the
 * rule fr_agg_state_eval follows): count, count_distinct, since_last: long;
 * avg, stddev: double; sum, min, max, last: the field's type. */
fr_type_t fr_fn_result_type(fr_fn_t fn, fr_type_t field_type);

/* Most distinct values count_distinct keeps exactly; above, HyperLogLog. */
#define FR_AGG_DISTINCT_EXACT 32
/* HyperLogLog precision: 2^14 registers, standard error 0.81%. */
#define FR_AGG_HLL_P 14
/* Longest string a `last` cell keeps (longer values are truncated). */
#define FR_AGG_MAX_STRING 1024
#define FR_AGG_MAX_AGGS 64
#define FR_AGG_MAX_WINDOWS 16

typedef struct fr_agg_spec {
    fr_fn_t fn;
    int field;       /* index into the event's value array; -1 if none */
    fr_type_t type;  /* the field's declared type (FR_T_NULL if none) */
} fr_agg_spec_t;

typedef struct fr_window_spec {
    int64_t window_ms; /* W > 0 */
    int64_t tile_ms;   /* g > 0, divides W */
} fr_window_spec_t;

typedef struct fr_agg_plan {
    size_t naggs;
    fr_agg_spec_t aggs[FR_AGG_MAX_AGGS];
    size_t nwindows;
    fr_window_spec_t windows[FR_AGG_MAX_WINDOWS];
    uint64_t fingerprint; /* set by fr_agg_plan_init; stored with states */
} fr_agg_plan_t;

/* Default tile for a window: the largest whole number of seconds that
 * divides W and is at most W/60; 1 s for windows under a minute. */
int64_t fr_agg_default_tile_ms(int64_t window_ms);

/* Checks the plan (tile divides window, field types, limits) and computes
 * its fingerprint.  0 or FR_EINVAL. */
int fr_agg_plan_init(fr_agg_plan_t *plan);

/* Largest window of the plan, ms. */
int64_t fr_agg_plan_horizon_ms(const fr_agg_plan_t *plan);

typedef struct fr_agg_state fr_agg_state_t;

/* A new empty state (heap); NULL on allocation failure. */
fr_agg_state_t *fr_agg_state_new(const fr_agg_plan_t *plan);
void fr_agg_state_free(fr_agg_state_t *st);

/*
 * Applies one event: event time ts (ms), its log offset (breaks ties of
 * `last`), and its values indexed as the plan's fields (values[field]; a
 * FR_T_NULL value is absent).  Events may arrive out of order; an event too
 * old for a window (its tile is older than the W/g tiles ending at the
 * newest tile of that window) is dropped from that window only.  String
 * values are copied as needed.  0 or FR_ENOMEM (state unchanged).
 */
int fr_agg_state_apply(fr_agg_state_t *st, const fr_agg_plan_t *plan, int64_t ts,
                       uint64_t offset, const fr_value_t *values);

/* Newest event time applied (INT64_MIN when none) and events applied. */
int64_t fr_agg_state_newest(const fr_agg_state_t *st);
uint64_t fr_agg_state_events(const fr_agg_state_t *st);

/*
 * Evaluates every feature at time t into out[naggs * nwindows].  Types of
 * the results: count, count_distinct, since_last: FR_T_LONG; sum, min, max:
 * the field's type (long stays exact); avg, stddev: FR_T_DOUBLE; last: the
 * field's type.  An empty-window null is FR_T_NULL.  Strings in out point
 * into the state and are valid until it is next modified or freed.
 */
void fr_agg_state_eval(const fr_agg_state_t *st, const fr_agg_plan_t *plan, int64_t t,
                       fr_value_t *out);

/* Values of an empty state (what an unknown entity answers). */
void fr_agg_eval_empty(const fr_agg_plan_t *plan, fr_value_t *out);

/*
 * Serialises the state (appending to out) in a compact, versioned,
 * endian-independent form that carries plan->fingerprint.  Tiles that can
 * no longer matter at any t >= newest are not written.  0, FR_ELIMIT or
 * FR_ENOMEM.
 */
int fr_agg_state_encode(const fr_agg_state_t *st, const fr_agg_plan_t *plan, fr_buf_t *out);

/* Rebuilds a state from encoded bytes (borrowed; not kept).  0,
 * FR_EMISMATCH (another plan made it), FR_ECORRUPT or FR_ENOMEM. */
int fr_agg_state_decode(const fr_agg_plan_t *plan, const void *p, size_t n,
                        fr_agg_state_t **out);

/*
 * Evaluates straight from encoded bytes, allocating nothing: the serving
 * path.  Strings in out point into p.  *newest receives the newest event
 * time (may be NULL).  0, FR_EMISMATCH or FR_ECORRUPT.
 */
int fr_agg_eval_encoded(const fr_agg_plan_t *plan, const void *p, size_t n, int64_t t,
                        fr_value_t *out, int64_t *newest);

#endif
