/*
 * metrics.h - how good a binary classifier's scores are on labelled rows:
 * AUC-ROC, AUC-PR (average precision), log loss, label rate and counts.
 *
 * Definitions (docs/models.md says the same for users):
 *   AUC-ROC   the probability that a random positive row scores above a
 *             random negative one, ties counting one half: the
 *             Mann-Whitney U over average ranks, U / (P * N).
 *   AUC-PR    average precision as scikit-learn's average_precision_score:
 *             sum over distinct score thresholds, highest first, of
 *             (R_k - R_k-1) * P_k, rows with equal scores entering
 *             together; no interpolation.
 *   log loss  mean of -(y ln p + (1 - y) ln(1 - p)), p clipped to
 *             [1e-15, 1 - 1e-15] (scikit-learn 1.2's log_loss default).
 * AUC-ROC and AUC-PR are NaN when the rows hold no positive (AUC-ROC also
 * when no negative): they are undefined there, and JSON writes null.
 *
 * Pure functions: no I/O, no globals; any thread.
 */
#ifndef FR_MODEL_METRICS_H
#define FR_MODEL_METRICS_H

#include <stddef.h>

#define FR_METRICS_LOGLOSS_EPS 1e-15

typedef struct fr_metrics {
    size_t rows;
    size_t positives;
    double label_rate; /* positives / rows (NaN without rows) */
    double auc_roc;
    double auc_pr;
    double log_loss;
} fr_metrics_t;

/*
 * Computes every metric of scores p against labels y (n of each,
 * borrowed).  Labels must be exactly 0 or 1, scores finite numbers in
 * [0, 1].  0, FR_EINVAL (a label or score outside that; *out untouched)
 * or FR_ENOMEM.  O(n log n) time, O(n) memory.
 */
int fr_metrics_compute(const float *y, const float *p, size_t n, fr_metrics_t *out);

/* The single metrics, with the same rules (NaN for undefined; the caller
 * checks the inputs, as fr_metrics_compute does).  The AUCs allocate
 * (FR_ENOMEM) and return 0 with *out set. */
int fr_metrics_auc_roc(const float *y, const float *p, size_t n, double *out);
int fr_metrics_auc_pr(const float *y, const float *p, size_t n, double *out);
double fr_metrics_log_loss(const float *y, const float *p, size_t n);

#endif
