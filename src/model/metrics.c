/*
 * metrics.c - AUC-ROC, AUC-PR and log loss (definitions in metrics.h).
 *
 * Both AUCs sort the (score, label) pairs once and walk groups of equal
 * scores, so ties are exact: AUC-ROC counts, per group, its positives
 * against the negatives scored below it plus half the negatives tied with
 * it (the average-rank Mann-Whitney U without forming ranks); AUC-PR adds
 * each group's recall step times the precision once the group is in.
 * Counts are exact integers until the final divisions.
 */
#include "model/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"

typedef struct pair {
    float p;
    float y;
} pair_t;

static int by_score(const void *a, const void *b)
{
    float x = ((const pair_t *)a)->p, y = ((const pair_t *)b)->p;
    return (x > y) - (x < y);
}

/* The pairs sorted by ascending score, and the positive count. */
static int sorted(const float *y, const float *p, size_t n, pair_t **out, size_t *pos)
{
    pair_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return FR_ENOMEM;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (pair_t){p[i], y[i]};
        np += y[i] == 1.0f;
    }
    qsort(v, n, sizeof *v, by_score);
    *out = v;
    *pos = np;
    return 0;
}

int fr_metrics_auc_roc(const float *y, const float *p, size_t n, double *out)
{
    pair_t *v;
    size_t np;
    int rc = sorted(y, p, n, &v, &np);
    if (rc)
        return rc;
    size_t nn = n - np;
    if (np == 0 || nn == 0) {
        free(v);
        *out = NAN;
        return 0;
    }
    /* twice U: an exact integer in a double below ~90 million rows */
    double u2 = 0;
    uint64_t neg_below = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t gp = 0, gn = 0;
        for (; j < n && v[j].p == v[i].p; j++) {
            gp += v[j].y == 1.0f;
            gn += v[j].y != 1.0f;
        }
        u2 += (double)gp * (double)(2 * neg_below + gn);
        neg_below += gn;
        i = j;
    }
    free(v);
    *out = u2 / 2 / ((double)np * (double)nn);
    return 0;
}

int fr_metrics_auc_pr(const float *y, const float *p, size_t n, double *out)
{
    pair_t *v;
    size_t np;
    int rc = sorted(y, p, n, &v, &np);
    if (rc)
        return rc;
    if (np == 0) {
        free(v);
        *out = NAN;
        return 0;
    }
    /* highest scores first: walk the ascending array from its end */
    double ap = 0;
    uint64_t tp = 0, fp = 0;
    for (size_t i = n; i > 0;) {
        size_t j = i;
        uint64_t gp = 0;
        for (; j > 0 && v[j - 1].p == v[i - 1].p; j--) {
            gp += v[j - 1].y == 1.0f;
            fp += v[j - 1].y != 1.0f;
        }
        tp += gp;
        if (gp)
            ap += ((double)gp / (double)np) * ((double)tp / (double)(tp + fp));
        i = j;
    }
    free(v);
    *out = ap;
    return 0;
}

double fr_metrics_log_loss(const float *y, const float *p, size_t n)
{
    if (n == 0)
        return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double q = p[i];
        if (q < FR_METRICS_LOGLOSS_EPS)
            q = FR_METRICS_LOGLOSS_EPS;
        if (q > 1 - FR_METRICS_LOGLOSS_EPS)
            q = 1 - FR_METRICS_LOGLOSS_EPS;
        s -= y[i] == 1.0f ? log(q) : log(1 - q);
    }
    return s / (double)n;
}

int fr_metrics_compute(const float *y, const float *p, size_t n, fr_metrics_t *out)
{
    for (size_t i = 0; i < n; i++)
        if ((y[i] != 0.0f && y[i] != 1.0f) || !(p[i] >= 0.0f && p[i] <= 1.0f))
            return FR_EINVAL;
    fr_metrics_t m = {.rows = n};
    for (size_t i = 0; i < n; i++)
        m.positives += y[i] == 1.0f;
    m.label_rate = n ? (double)m.positives / (double)n : NAN;
    int rc = fr_metrics_auc_roc(y, p, n, &m.auc_roc);
    if (!rc)
        rc = fr_metrics_auc_pr(y, p, n, &m.auc_pr);
    if (rc)
        return rc;
    m.log_loss = fr_metrics_log_loss(y, p, n);
    *out = m;
    return 0;
}
