/*
 * drift.h - how far live model inputs and scores have moved from the
 * training rows: reference bins, live histograms over a sliding window,
 * PSI and Jensen-Shannon distance (DESIGN §2c "Drift").
 *
 * Columns.  A reference has one column per model input, in the model's
 * order, then one for the score.  Each column's bins are fixed at
 * training time from that column's non-null training values:
 *   - values: at most max_distinct (default 10) distinct values, as with
 *     booleans and small codes: one bin per value, in increasing order,
 *     then an "other" bin for values training never saw;
 *   - numeric: otherwise, quantile bins: edges at the 1/10 ... 9/10
 *     quantiles (numpy's default, linear, interpolation), non-finite edges
 *     dropped and equal edges collapsed into one.  Bins are closed on the
 *     right: bin 0 is (-inf, e1], bin i is (e_i, e_i+1], the last is
 *     (e_k, +inf), so values below the first edge or above the last land
 *     in the end bins;
 * and every column ends with a bin for null (NaN).
 *
 * Distances, over a column's shares (count / total of that side):
 *   PSI = sum over bins of (cur - ref) * ln(cur / ref), each share first
 *         floored at 1e-4 (an empty bin counts as 1e-4; shares are not
 *         renormalised after flooring, as in Evidently);
 *   JS  = the Jensen-Shannon distance: the square root of
 *         0.5 KL(ref || m) + 0.5 KL(cur || m), m = (ref + cur) / 2, with
 *         natural logs and the raw shares (0 ln 0 = 0); it lies in
 *         [0, sqrt(ln 2)].
 * Status: alert when psi >= psi_alert (default 0.25), warn when
 * psi >= psi_warn (default 0.1), else ok; no_data when the live side
 * holds nothing (psi and js are then NaN).
 *
 * Threads.  A reference is immutable: share it freely.  A live histogram
 * takes fr_drift_live_add from any number of threads at once: each thread
 * adds into one of FR_DRIFT_STRIPES stripes (picked once per thread),
 * each with its own mutex, so adders rarely wait and no add takes a
 * global lock; readers sum the stripes, locking one at a time.
 */
#ifndef FR_MODEL_DRIFT_H
#define FR_MODEL_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define FR_DRIFT_BINS 10          /* numeric columns: quantile bins */
#define FR_DRIFT_MAX_DISTINCT 10  /* up to this many distinct values: bins by value */
#define FR_DRIFT_MAX_POINTS 64    /* edges or values of one column */
#define FR_DRIFT_MAX_COLUMNS 4097 /* FR_XGB_MAX_FEATURES inputs and the score */
#define FR_DRIFT_FLOOR 1e-4       /* PSI's least share */
#define FR_DRIFT_STRIPES 8
#define FR_DRIFT_MAX_SLOTS 1024

typedef struct fr_drift_ref fr_drift_ref_t;
typedef struct fr_drift_live fr_drift_live_t;

typedef enum fr_drift_kind {
    FR_DRIFT_NUMERIC = 1,
    FR_DRIFT_VALUES = 2,
} fr_drift_kind_t;

typedef enum fr_drift_status {
    FR_DRIFT_NO_DATA = 0,
    FR_DRIFT_OK,
    FR_DRIFT_WARN,
    FR_DRIFT_ALERT,
} fr_drift_status_t;

/* How references are built; fr_drift_ref_build takes NULL for defaults. */
typedef struct fr_drift_opts {
    int bins;          /* numeric bins, 2..FR_DRIFT_MAX_POINTS (default 10) */
    int max_distinct;  /* 0..FR_DRIFT_MAX_POINTS (default 10) */
} fr_drift_opts_t;

typedef struct fr_drift_thresholds {
    double psi_warn;   /* default 0.1 */
    double psi_alert;  /* default 0.25 */
} fr_drift_thresholds_t;

#define FR_DRIFT_THRESHOLDS_DEFAULT ((fr_drift_thresholds_t){0.1, 0.25})

/* One column of a reference, as views into it (valid as long as it). */
typedef struct fr_drift_col {
    fr_drift_kind_t kind;
    const double *points;   /* numeric: the edges; values: the values */
    size_t npoints;
    size_t nbins;           /* bins including "other" (values) and null */
    const uint64_t *counts; /* nbins reference counts; null's is last */
    uint64_t total;         /* training rows */
    size_t offset;          /* of this column's bins in a counts vector */
} fr_drift_col_t;

typedef struct fr_drift_stat {
    double psi;
    double js;
    uint64_t count;         /* live values compared */
    fr_drift_status_t status;
} fr_drift_stat_t;

/* ---- references ---- */

/*
 * Builds the reference of nrow training rows: x row-major with ninputs
 * floats per row (NaN null) and score with one float per row (all
 * borrowed for the call).  0, FR_EINVAL (nrow or ninputs 0, too many
 * columns, bad opts) or FR_ENOMEM.  O(columns x nrow log nrow) time,
 * O(nrow) extra memory.
 */
int fr_drift_ref_build(const float *x, size_t nrow, size_t ninputs, const float *score,
                       const fr_drift_opts_t *opts, fr_drift_ref_t **out);
void fr_drift_ref_free(fr_drift_ref_t *r);
/* Columns: the inputs, then the score (the last). */
size_t fr_drift_ref_columns(const fr_drift_ref_t *r);
/* Bins of every column together: the length of a counts vector. */
size_t fr_drift_ref_bins(const fr_drift_ref_t *r);
/* Column c (< columns) into *out. */
void fr_drift_ref_col(const fr_drift_ref_t *r, size_t c, fr_drift_col_t *out);
/* The bin of value v (NaN: null) in column c. */
size_t fr_drift_bin(const fr_drift_ref_t *r, size_t c, double v);
/*
 * Counts one scored vector into counts (fr_drift_ref_bins entries, the
 * caller's, single-threaded): inputs holds columns - 1 values.
 */
void fr_drift_ref_add(const fr_drift_ref_t *r, uint64_t *counts, const float *inputs,
                      float score);

/*
 * Appends the reference's compact, versioned encoding to b (the bytes a
 * model version stores).  0, FR_ELIMIT or FR_ENOMEM (b unchanged).
 */
int fr_drift_ref_encode(const fr_drift_ref_t *r, fr_buf_t *b);
/*
 * Decodes bytes (borrowed; the reference copies what it keeps).
 * 0, FR_ECORRUPT (not a reference of a known version, or inconsistent),
 * or FR_ENOMEM.
 */
int fr_drift_ref_decode(const void *p, size_t n, fr_drift_ref_t **out);
/*
 * Appends column c as JSON: {"kind":"numeric","edges":[...],
 * "counts":[...],"null":N} or {"kind":"values","values":[...],
 * "counts":[...],"other":N,"null":N}.  0, FR_ELIMIT or FR_ENOMEM.
 */
int fr_drift_ref_json(const fr_drift_ref_t *r, size_t c, fr_buf_t *b);

/* ---- distances ---- */

/* PSI and JS distance between two count vectors of n bins; NaN when
 * either side's total is 0. */
double fr_drift_psi(const uint64_t *ref, const uint64_t *cur, size_t n);
double fr_drift_js(const uint64_t *ref, const uint64_t *cur, size_t n);
/* Column c's statistics for live counts cur (a full counts vector). */
void fr_drift_compare(const fr_drift_ref_t *r, size_t c, const uint64_t *cur,
                      const fr_drift_thresholds_t *t, fr_drift_stat_t *out);
/* "no_data", "ok", "warn", "alert". */
const char *fr_drift_status_name(fr_drift_status_t s);

/* ---- live histograms ---- */

/*
 * A live histogram over ref (borrowed: it must outlive the histogram)
 * holding the last `slots` intervals of window_ms / slots milliseconds
 * (rounded up), the current one included: a report at time now covers
 * between window_ms - window_ms / slots and window_ms of history.
 * window_ms >= slots >= 1, slots <= FR_DRIFT_MAX_SLOTS.  0, FR_EINVAL or
 * FR_ENOMEM.  Memory: FR_DRIFT_STRIPES x slots x fr_drift_ref_bins x 8
 * bytes.
 */
int fr_drift_live_new(const fr_drift_ref_t *ref, int64_t window_ms, int slots,
                      fr_drift_live_t **out);
void fr_drift_live_free(fr_drift_live_t *l);
/*
 * Adds one scored vector seen at t_ms (any thread): inputs holds
 * columns - 1 values (NaN null).  A vector older than what the stripe
 * already holds by a whole window is too late to count: it is dropped and
 * counted in fr_drift_live_dropped.  Allocates nothing; cannot fail.
 */
void fr_drift_live_add(fr_drift_live_t *l, int64_t t_ms, const float *inputs, float score);
/*
 * The counts of the window ending at now_ms into counts (fr_drift_ref_bins
 * entries, the caller's) and the number of vectors in it into *n (may be
 * NULL).  Vectors stamped after now_ms are left out.  Any thread.
 */
void fr_drift_live_counts(fr_drift_live_t *l, int64_t now_ms, uint64_t *counts, uint64_t *n);
/*
 * Every column's statistics at now_ms into stats (fr_drift_ref_columns
 * entries, the score last).  0 or FR_ENOMEM.
 */
int fr_drift_live_report(fr_drift_live_t *l, int64_t now_ms, const fr_drift_thresholds_t *t,
                         fr_drift_stat_t *stats, uint64_t *n);
/* Vectors dropped as too late since the histogram was made. */
uint64_t fr_drift_live_dropped(const fr_drift_live_t *l);

#endif
