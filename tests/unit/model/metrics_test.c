/*
 * metrics_test.c - src/model/metrics.c against scikit-learn's values for
 * fixed vectors (fixtures/metrics.txt, written by make_metric_fixtures.py),
 * hand-computed small cases, and brute-force definitions on random
 * vectors with ties: AUC-ROC by counting every positive/negative pair,
 * AUC-PR as the mean over positives of the precision at their score.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/metrics.h"

#define FIXTURES "tests/unit/model/fixtures/metrics.txt"

static void near(double got, double want, double tol, const char *what)
{
    cr_assert(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

Test(metrics, hand_computed_cases)
{
    /* scikit-learn's documentation example */
    float y[] = {0, 0, 1, 1}, p[] = {0.1f, 0.4f, 0.35f, 0.8f};
    fr_metrics_t m;
    cr_assert_eq(fr_metrics_compute(y, p, 4, &m), 0);
    cr_assert_eq(m.rows, 4);
    cr_assert_eq(m.positives, 2);
    near(m.label_rate, 0.5, 0, "label rate");
    /* pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 -> 3/4 */
    near(m.auc_roc, 0.75, 1e-15, "auc_roc");
    /* thresholds 0.8 (P 1, R 1/2), 0.4 (P 1/2), 0.35 (P 2/3, R 1):
     * 1/2 * 1 + 1/2 * 2/3 */
    near(m.auc_pr, 0.5 + 1.0 / 3, 1e-15, "auc_pr");
    double ll = -(log(1 - (double)0.1f) + log(1 - (double)0.4f) + log((double)0.35f) +
                  log((double)0.8f)) / 4;
    near(m.log_loss, ll, 1e-15, "log_loss");

    /* one tie across the labels: half a pair; precision 1/2 at recall 1 */
    float y2[] = {0, 1}, p2[] = {0.5f, 0.5f};
    cr_assert_eq(fr_metrics_compute(y2, p2, 2, &m), 0);
    near(m.auc_roc, 0.5, 0, "tied auc_roc");
    near(m.auc_pr, 0.5, 0, "tied auc_pr");

    /* perfect and reversed */
    float y3[] = {0, 0, 1}, p3[] = {0.1f, 0.2f, 0.9f}, p4[] = {0.9f, 0.8f, 0.1f};
    cr_assert_eq(fr_metrics_compute(y3, p3, 3, &m), 0);
    near(m.auc_roc, 1, 0, "perfect");
    near(m.auc_pr, 1, 0, "perfect ap");
    cr_assert_eq(fr_metrics_compute(y3, p4, 3, &m), 0);
    near(m.auc_roc, 0, 0, "reversed");
    near(m.auc_pr, 1.0 / 3, 1e-15, "reversed ap");

    /* clipping: a confident miss costs -ln(1e-15) at most */
    float y5[] = {1}, p5[] = {0};
    cr_assert_eq(fr_metrics_compute(y5, p5, 1, &m), 0);
    near(m.log_loss, -log(1e-15), 1e-12, "clipped");
}

Test(metrics, undefined_cases_are_nan_and_bad_input_is_refused)
{
    float y[] = {0, 0, 0}, p[] = {0.1f, 0.5f, 0.9f};
    fr_metrics_t m;
    cr_assert_eq(fr_metrics_compute(y, p, 3, &m), 0);
    cr_assert_eq(m.positives, 0);
    cr_assert(isnan(m.auc_roc) && isnan(m.auc_pr));
    cr_assert(isfinite(m.log_loss));
    float y1[] = {1, 1};
    cr_assert_eq(fr_metrics_compute(y1, p, 2, &m), 0);
    cr_assert(isnan(m.auc_roc));
    near(m.auc_pr, 1, 0, "all positive ap");
    cr_assert_eq(fr_metrics_compute(y, p, 0, &m), 0);
    cr_assert_eq(m.rows, 0);
    cr_assert(isnan(m.label_rate) && isnan(m.log_loss));

    m.rows = 77;
    float bad_y[] = {0, 2, 1};
    cr_assert_eq(fr_metrics_compute(bad_y, p, 3, &m), FR_EINVAL);
    float bad_p[] = {0.1f, NAN, 0.3f}, big_p[] = {0.1f, 1.5f, 0.3f}, neg_p[] = {-0.1f, 0, 0};
    float y3[] = {0, 1, 1};
    cr_assert_eq(fr_metrics_compute(y3, bad_p, 3, &m), FR_EINVAL);
    cr_assert_eq(fr_metrics_compute(y3, big_p, 3, &m), FR_EINVAL);
    cr_assert_eq(fr_metrics_compute(y3, neg_p, 3, &m), FR_EINVAL);
    cr_assert_eq(m.rows, 77, "a refused call changed *out");
}

/* ---- scikit-learn's values ---- */

typedef struct fixture {
    char name[64];
    size_t n;
    float *y, *p;
    double auc_roc, auc_pr, log_loss;
} fixture_t;

static int read_case(FILE *f, fixture_t *c)
{
    int ch;
    while ((ch = fgetc(f)) == '#')
        while ((ch = fgetc(f)) != '\n' && ch != EOF)
            ;
    if (ch == EOF)
        return 0;
    ungetc(ch, f);
    cr_assert_eq(fscanf(f, "case %63s %zu y", c->name, &c->n), 2);
    c->y = malloc(c->n * sizeof *c->y);
    c->p = malloc(c->n * sizeof *c->p);
    for (size_t i = 0; i < c->n; i++) {
        int v;
        cr_assert_eq(fscanf(f, "%d", &v), 1);
        c->y[i] = (float)v;
    }
    cr_assert_eq(fscanf(f, " p"), 0);
    for (size_t i = 0; i < c->n; i++) {
        double v;
        cr_assert_eq(fscanf(f, "%lf", &v), 1);
        c->p[i] = (float)v;
        cr_assert_eq((double)c->p[i], v, "%s: score %zu is not a float", c->name, i);
    }
    cr_assert_eq(fscanf(f, " auc_roc %lf auc_pr %lf log_loss %lf", &c->auc_roc, &c->auc_pr,
                        &c->log_loss),
                 3);
    while ((ch = fgetc(f)) != '\n' && ch != EOF)
        ;
    return 1;
}

Test(metrics, equal_scikit_learn_on_the_fixtures)
{
    FILE *f = fopen(FIXTURES, "r");
    cr_assert_not_null(f, "%s (run the tests from the repository root)", FIXTURES);
    fixture_t c;
    int cases = 0;
    while (read_case(f, &c)) {
        fr_metrics_t m;
        cr_assert_eq(fr_metrics_compute(c.y, c.p, c.n, &m), 0, "%s", c.name);
        char what[96];
        snprintf(what, sizeof what, "%s auc_roc", c.name);
        near(m.auc_roc, c.auc_roc, 1e-12, what);
        snprintf(what, sizeof what, "%s auc_pr", c.name);
        near(m.auc_pr, c.auc_pr, 1e-12, what);
        snprintf(what, sizeof what, "%s log_loss", c.name);
        near(m.log_loss, c.log_loss, 1e-12, what);
        free(c.y);
        free(c.p);
        cases++;
    }
    fclose(f);
    cr_assert_eq(cases, 5);
}

/* ---- brute force ---- */

static uint64_t rs = 12345;

static double urand(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) / 9007199254740992.0;
}

static double brute_auc(const float *y, const float *p, size_t n)
{
    double wins = 0, pairs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (y[i] == 1 && y[j] == 0) {
                pairs++;
                wins += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
            }
    return wins / pairs;
}

static double brute_ap(const float *y, const float *p, size_t n)
{
    double s = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 1)
            continue;
        np++;
        double at = 0, tp = 0;
        for (size_t j = 0; j < n; j++)
            if (p[j] >= p[i]) {
                at++;
                tp += y[j] == 1;
            }
        s += tp / at;
    }
    return s / np;
}

Test(metrics, equal_brute_force_definitions_on_random_vectors)
{
    for (int round = 0; round < 60; round++) {
        size_t n = 2 + (size_t)(urand() * 400);
        float *y = malloc(n * sizeof *y), *p = malloc(n * sizeof *p);
        double rate = 0.02 + urand() * 0.6;
        int levels = round % 3 == 0 ? 5 : round % 3 == 1 ? 50 : 0; /* 0: few ties */
        int any_pos = 0, any_neg = 0;
        for (size_t i = 0; i < n; i++) {
            y[i] = urand() < rate;
            double s = urand() * 0.7 + 0.3 * y[i];
            p[i] = levels ? (float)(floor(s * levels) / levels) : (float)s;
            any_pos |= y[i] == 1;
            any_neg |= y[i] == 0;
        }
        if (!any_pos || !any_neg) {
            y[0] = 1;
            y[n - 1] = 0;
        }
        fr_metrics_t m;
        cr_assert_eq(fr_metrics_compute(y, p, n, &m), 0);
        near(m.auc_roc, brute_auc(y, p, n), 1e-12, "auc_roc");
        near(m.auc_pr, brute_ap(y, p, n), 1e-12, "auc_pr");
        free(y);
        free(p);
    }
}
