/*
 * expr_bench.c - cost of evaluating on-demand features (src/expr): ns per
 * evaluation of the demo expressions of examples/fraud/freshet.yaml and a
 * heavier one with if, coalesce and log, each beside a hand-written C
 * function computing the same thing with the same null rules (the ceiling),
 * measured in the same run over the same inputs.
 *
 *   expr_bench [evaluations=20000000] [config=examples/fraud/freshet.yaml]
 *
 * The expressions are compiled through the configuration loader (the
 * heavier one is appended to the file's text), so names resolve as they do
 * in freshet.  Inputs are 4096 synthetic requests with feature values,
 * some null (empty windows, absent country), made before timing; each
 * request's result is checked against the hand-written function once,
 * outside the timed loops.  The two are timed in 7 alternating trials;
 * the median and the minimum CPU time of this thread per evaluation are
 * printed, with the mean wall time (the machine may be shared).  Prints
 * figures only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "expr/expr.h"

#define NREQ 4096
#define TRIALS 7
#define HEAVY                                                                                      \
    "if(card_txn.txn_count_1h > 0 and amount > 0, "                                              \
    "log(amount / coalesce(card_txn.amount_avg_24h, amount)) + "                                  \
    "if(country != card_txn.last_country_24h, 1.0, 0.0), 0.0)"

/* One request and the view features it needs. */
typedef struct req {
    fr_value_t amount, country, count_1h, avg_1h, avg_24h, last_country_24h;
} req_t;

static req_t reqs[NREQ];

static uint64_t rs = 7;
static uint64_t rnd(void)
{
    rs += 0x9e3779b97f4a7c15ULL;
    return fr_mix64(rs);
}
static double urand(void)
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

static fr_value_t vnull(void)
{
    return (fr_value_t){.type = FR_T_NULL};
}
static fr_value_t vdouble(double d)
{
    return (fr_value_t){.type = FR_T_DOUBLE, .u.d = d};
}
static fr_value_t vlong(int64_t i)
{
    return (fr_value_t){.type = FR_T_LONG, .u.i = i};
}
static fr_value_t vstring(const char *s)
{
    return (fr_value_t){.type = FR_T_STRING, .u.s = s, .len = (uint32_t)strlen(s)};
}

static void make_requests(void)
{
    static const char *const countries[] = {"US", "GB", "DE", "FR", "ES"};
    for (int i = 0; i < NREQ; i++) {
        req_t *r = &reqs[i];
        r->amount = vdouble(1 + floor(urand() * 50000) / 100);
        r->country = rnd() % 20 ? vstring(countries[rnd() % 5]) : vnull();
        int64_t n = (int64_t)(rnd() % 12);
        r->count_1h = vlong(n);
        r->avg_1h = n ? vdouble(5 + urand() * 300) : vnull();
        r->avg_24h = rnd() % 10 ? vdouble(5 + urand() * 300) : vnull();
        r->last_country_24h = rnd() % 10 ? vstring(countries[rnd() % 4]) : vnull();
    }
}

/* ---- the hand-written ceiling: the same results, null rules included ---- */

__attribute__((noinline)) static void hand_ratio(const req_t *r, fr_value_t *out)
{
    if (r->amount.type == FR_T_NULL || r->avg_1h.type == FR_T_NULL || r->avg_1h.u.d == 0) {
        *out = vnull();
        return;
    }
    double q = r->amount.u.d / r->avg_1h.u.d;
    *out = isfinite(q) ? vdouble(q) : vnull();
}

__attribute__((noinline)) static void hand_foreign(const req_t *r, fr_value_t *out)
{
    const fr_value_t *a = &r->country, *b = &r->last_country_24h;
    if (a->type == FR_T_NULL || b->type == FR_T_NULL) {
        *out = vnull();
        return;
    }
    bool ne = a->len != b->len || memcmp(a->u.s, b->u.s, a->len) != 0;
    *out = (fr_value_t){.type = FR_T_BOOL, .u.b = ne};
}

__attribute__((noinline)) static void hand_heavy(const req_t *r, fr_value_t *out)
{
    *out = vnull();
    if (r->count_1h.type == FR_T_NULL || r->amount.type == FR_T_NULL)
        return; /* the condition is null */
    if (!(r->count_1h.u.i > 0 && r->amount.u.d > 0)) {
        *out = vdouble(0.0);
        return;
    }
    double den = r->avg_24h.type != FR_T_NULL ? r->avg_24h.u.d : r->amount.u.d;
    if (den == 0)
        return;
    double q = r->amount.u.d / den;
    if (!isfinite(q) || q <= 0)
        return;
    double l = log(q);
    if (r->country.type == FR_T_NULL || r->last_country_24h.type == FR_T_NULL)
        return;
    bool ne = r->country.len != r->last_country_24h.len ||
              memcmp(r->country.u.s, r->last_country_24h.u.s, r->country.len) != 0;
    double s = l + (ne ? 1.0 : 0.0);
    if (isfinite(s))
        *out = vdouble(s);
}

/* ---- through the configuration ---- */

/* The value of a ref for request r. */
static fr_value_t ref_value(const fr_config_t *cfg, const fr_ondemand_ref_t *ref, const req_t *r)
{
    if (ref->kind == FR_REF_FIELD)
        return !strcmp(ref->name, "amount") ? r->amount : r->country;
    const char *f = cfg->views[ref->view].feature_names[ref->feature];
    if (!strcmp(f, "txn_count_1h"))
        return r->count_1h;
    if (!strcmp(f, "amount_avg_1h"))
        return r->avg_1h;
    if (!strcmp(f, "amount_avg_24h"))
        return r->avg_24h;
    if (!strcmp(f, "last_country_24h"))
        return r->last_country_24h;
    fprintf(stderr, "expr_bench: no value for %s\n", ref->name);
    exit(1);
}

typedef struct tm2 {
    uint64_t wall, cpu;
} tm2_t;

static tm2_t now2(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (tm2_t){fr_mono_ns(), (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec};
}

static bool same(const fr_value_t *a, const fr_value_t *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case FR_T_NULL: return true;
    case FR_T_DOUBLE: return a->u.d == b->u.d;
    case FR_T_BOOL: return a->u.b == b->u.b;
    case FR_T_LONG: return a->u.i == b->u.i;
    default: return a->len == b->len && !memcmp(a->u.s, b->u.s, a->len);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double checksum(const fr_value_t *v)
{
    return v->type == FR_T_DOUBLE ? v->u.d : v->type == FR_T_BOOL ? v->u.b : 0.5;
}

int main(int argc, char **argv)
{
    size_t evals = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    const char *path = argc > 2 ? argv[2] : "examples/fraud/freshet.yaml";
    if (evals < NREQ) {
        fprintf(stderr, "usage: expr_bench [evaluations >= %d] [config]\n", NREQ);
        return 2;
    }
    size_t rounds = evals / NREQ;
    evals = rounds * NREQ;

    /* the file, plus the heavier expression */
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    fr_buf_t text;
    fr_buf_init(&text, FR_CONFIG_MAX_FILE_BYTES);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (fr_buf_add(&text, chunk, n))
            return 1;
    fclose(f);
    static const char extra[] = "  - { name: bench_heavy, expr: \"" HEAVY "\" }\n";
    if (fr_buf_add(&text, extra, sizeof extra - 1))
        return 1;
    fr_config_t *cfg = NULL;
    char err[512];
    tm2_t c0 = now2();
    if (fr_config_parse(path, text.p, text.len, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    tm2_t c1 = now2();
    fr_buf_destroy(&text);

    static const struct {
        const char *name;
        void (*hand)(const req_t *, fr_value_t *);
    } cases[] = {{"amount_ratio_1h", hand_ratio},
                 {"foreign", hand_foreign},
                 {"bench_heavy", hand_heavy}};
    make_requests();
    printf("expr_bench: %zu evaluations per expression over %d requests; config loaded and "
           "compiled in %.2f ms\n",
           evals, NREQ, (double)(c1.cpu - c0.cpu) / 1e6);
    printf("%-16s %9s %9s %9s   %9s %9s   %s\n", "", "median:", "", "", "min:", "", "");
    printf("%-16s %9s %9s %9s   %9s %9s   %s\n", "expression", "expr", "hand C", "ratio", "expr",
           "hand C", "text");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int i = fr_config_ondemand_index(cfg, cases[k].name);
        if (i < 0) {
            fprintf(stderr, "expr_bench: %s has no on-demand feature %s\n", path, cases[k].name);
            return 1;
        }
        const fr_ondemand_spec_t *od = &cfg->ondemand[i];
        /* each request's inputs, laid out as the program reads them */
        fr_value_t *in = malloc(NREQ * od->nrefs * sizeof *in);
        if (!in)
            return 1;
        for (int r = 0; r < NREQ; r++)
            for (size_t j = 0; j < od->nrefs; j++)
                in[(size_t)r * od->nrefs + j] = ref_value(cfg, &od->refs[j], &reqs[r]);
        size_t agree = 0, nonnull = 0;
        for (int r = 0; r < NREQ; r++) {
            fr_value_t a, b;
            fr_expr_eval(od->prog, in + (size_t)r * od->nrefs, &a);
            cases[k].hand(&reqs[r], &b);
            agree += same(&a, &b);
            nonnull += a.type != FR_T_NULL;
        }
        /* TRIALS alternating runs of each; the median and the minimum CPU
         * time per evaluation (the machine is shared: the minimum is the
         * least disturbed run) */
        double te[TRIALS], th[TRIALS], we = 0, wh = 0, sum_e = 0, sum_h = 0;
        size_t per = rounds / TRIALS ? rounds / TRIALS : 1;
        for (int t = 0; t < TRIALS; t++) {
            tm2_t t0 = now2();
            for (size_t rd = 0; rd < per; rd++)
                for (int r = 0; r < NREQ; r++) {
                    fr_value_t v;
                    fr_expr_eval(od->prog, in + (size_t)r * od->nrefs, &v);
                    sum_e += checksum(&v);
                }
            tm2_t t1 = now2();
            for (size_t rd = 0; rd < per; rd++)
                for (int r = 0; r < NREQ; r++) {
                    fr_value_t v;
                    cases[k].hand(&reqs[r], &v);
                    sum_h += checksum(&v);
                }
            tm2_t t2 = now2();
            te[t] = (double)(t1.cpu - t0.cpu) / (double)(per * NREQ);
            th[t] = (double)(t2.cpu - t1.cpu) / (double)(per * NREQ);
            we += (double)(t1.wall - t0.wall) / (double)(per * NREQ) / TRIALS;
            wh += (double)(t2.wall - t1.wall) / (double)(per * NREQ) / TRIALS;
        }
        qsort(te, TRIALS, sizeof *te, cmp_double);
        qsort(th, TRIALS, sizeof *th, cmp_double);
        printf("%-16s %6.1f ns %6.1f ns %8.1fx   %6.1f ns %6.1f ns   %s\n", cases[k].name,
               te[TRIALS / 2], th[TRIALS / 2], te[TRIALS / 2] / th[TRIALS / 2], te[0], th[0],
               od->expr);
        printf("%-16s wall (mean) %.1f / %.1f ns; %zu of %d results equal the hand-written "
               "ones (%zu non-null); checksums %.6g / %.6g\n",
               "", we, wh, agree, NREQ, nonnull, sum_e, sum_h);
        free(in);
    }
    fr_config_free(cfg);
    return 0;
}
