/*
 * drift.c - reference bins, live histograms, PSI and JS (see drift.h).
 *
 * A reference is flat: one array of columns, one of every column's points
 * (edges or values), one of every column's counts; a "counts vector" has
 * the same layout as the last, so live sides, offline counts and the
 * reference index bins the same way.
 *
 * Encoding (version 1, little-endian):
 *   "FRDR" u8 version varint columns
 *   per column: u8 kind, varint npoints, npoints x u64 (IEEE double bits),
 *               nbins x varint count   (nbins follows from kind and npoints)
 *
 * Live histograms: stripes x slots, each slot a counts vector stamped with
 * the interval it holds (floor(t / slot_ms)); an add takes its thread's
 * stripe lock, and resets a slot whose stamp is older than its interval
 * (the ring moved on).  A reader sums the slots whose stamp lies in the
 * window, so an old slot that nobody reset is simply not read.
 */
#include "model/drift.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"

#define MAGIC "FRDR"
#define VERSION 1
#define EMPTY_SLOT INT64_MIN

typedef struct col {
    fr_drift_kind_t kind;
    size_t npoints;
    size_t pofs;   /* first point in points */
    size_t nbins;
    size_t offset; /* first bin in counts */
    uint64_t total;
} col_t;

struct fr_drift_ref {
    size_t ncols;
    size_t nbins;
    col_t *cols;
    double *points;
    uint64_t *counts;
};

/* ---- building ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * numpy's quantile with its default ("linear") method on sorted a[0..n):
 * the virtual index h = (n - 1) q, and numpy's lerp, which works from the
 * upper neighbour once the fraction reaches 1/2 (numpy >= 1.22).
 */
static double quantile(const double *a, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    double fl = floor(h);
    size_t lo = (size_t)fl;
    if (lo + 1 >= n)
        return a[n - 1];
    double t = h - fl, x = a[lo], y = a[lo + 1], d = y - x;
    return t >= 0.5 ? y - d * (1 - t) : x + d * t;
}

/* numeric: npoints edges make npoints + 1 ranges; values: npoints values
 * and "other"; both then null */
static size_t col_nbins(size_t npoints)
{
    return npoints + 2;
}

/* Fills column c's kind and points from its sorted non-null values. */
static size_t col_points(const double *v, size_t n, const fr_drift_opts_t *o, fr_drift_kind_t *kind,
                         double *pts)
{
    size_t distinct = 0;
    for (size_t i = 0; i < n && distinct <= (size_t)o->max_distinct; i++)
        if (i == 0 || v[i] != v[i - 1]) {
            if (distinct < (size_t)o->max_distinct)
                pts[distinct] = v[i];
            distinct++;
        }
    if (distinct <= (size_t)o->max_distinct) {
        *kind = FR_DRIFT_VALUES;
        return distinct;
    }
    *kind = FR_DRIFT_NUMERIC;
    size_t k = 0;
    for (int i = 1; i < o->bins; i++) {
        double e = quantile(v, n, (double)i / o->bins);
        if (!isfinite(e) || (k && e <= pts[k - 1]))
            continue;
        pts[k++] = e;
    }
    return k;
}

int fr_drift_ref_build(const float *x, size_t nrow, size_t ninputs, const float *score,
                       const fr_drift_opts_t *opts, fr_drift_ref_t **out)
{
    *out = NULL;
    fr_drift_opts_t o = {FR_DRIFT_BINS, FR_DRIFT_MAX_DISTINCT};
    if (opts)
        o = *opts;
    if (nrow == 0 || ninputs == 0 || ninputs >= FR_DRIFT_MAX_COLUMNS || !x || !score ||
        o.bins < 2 || o.bins > FR_DRIFT_MAX_POINTS || o.max_distinct < 0 ||
        o.max_distinct > FR_DRIFT_MAX_POINTS || nrow > SIZE_MAX / sizeof(double) / ninputs)
        return FR_EINVAL;
    size_t ncols = ninputs + 1;
    fr_drift_ref_t *r = calloc(1, sizeof *r);
    double *v = malloc(nrow * sizeof *v);
    int rc = FR_ENOMEM;
    if (!r || !v)
        goto out;
    r->ncols = ncols;
    r->cols = calloc(ncols, sizeof *r->cols);
    r->points = malloc(ncols * FR_DRIFT_MAX_POINTS * sizeof *r->points);
    r->counts = calloc(ncols * (FR_DRIFT_MAX_POINTS + 2), sizeof *r->counts);
    if (!r->cols || !r->points || !r->counts)
        goto out;
    size_t pofs = 0, bofs = 0;
    for (size_t c = 0; c < ncols; c++) {
        size_t n = 0;
        for (size_t i = 0; i < nrow; i++) {
            float f = c < ninputs ? x[i * ninputs + c] : score[i];
            if (!isnan(f))
                v[n++] = f;
        }
        qsort(v, n, sizeof *v, cmp_double);
        col_t *col = &r->cols[c];
        col->pofs = pofs;
        col->npoints = col_points(v, n, &o, &col->kind, r->points + pofs);
        col->nbins = col_nbins(col->npoints);
        col->offset = bofs;
        col->total = nrow;
        pofs += col->npoints;
        bofs += col->nbins;
        r->nbins = bofs;
        for (size_t i = 0; i < nrow; i++) {
            float f = c < ninputs ? x[i * ninputs + c] : score[i];
            r->counts[col->offset + fr_drift_bin(r, c, f)]++;
        }
    }
    rc = 0;
out:
    free(v);
    if (rc) {
        fr_drift_ref_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void fr_drift_ref_free(fr_drift_ref_t *r)
{
    if (!r)
        return;
    free(r->cols);
    free(r->points);
    free(r->counts);
    free(r);
}

size_t fr_drift_ref_columns(const fr_drift_ref_t *r)
{
    return r->ncols;
}

size_t fr_drift_ref_bins(const fr_drift_ref_t *r)
{
    return r->nbins;
}

void fr_drift_ref_col(const fr_drift_ref_t *r, size_t c, fr_drift_col_t *out)
{
    FR_ASSERT(c < r->ncols);
    const col_t *col = &r->cols[c];
    *out = (fr_drift_col_t){
        .kind = col->kind,
        .points = r->points + col->pofs,
        .npoints = col->npoints,
        .nbins = col->nbins,
        .counts = r->counts + col->offset,
        .total = col->total,
        .offset = col->offset,
    };
}

size_t fr_drift_bin(const fr_drift_ref_t *r, size_t c, double v)
{
    const col_t *col = &r->cols[c];
    if (isnan(v))
        return col->nbins - 1;
    const double *p = r->points + col->pofs;
    /* the first point >= v: its index counts the points below v */
    size_t lo = 0, hi = col->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (col->kind == FR_DRIFT_NUMERIC)
        return lo;
    return lo < col->npoints && p[lo] == v ? lo : col->npoints; /* else "other" */
}

void fr_drift_ref_add(const fr_drift_ref_t *r, uint64_t *counts, const float *inputs,
                      float score)
{
    for (size_t c = 0; c + 1 < r->ncols; c++)
        counts[r->cols[c].offset + fr_drift_bin(r, c, inputs[c])]++;
    counts[r->cols[r->ncols - 1].offset + fr_drift_bin(r, r->ncols - 1, score)]++;
}

/* ---- encoding ---- */

int fr_drift_ref_encode(const fr_drift_ref_t *r, fr_buf_t *b)
{
    size_t mark = b->len;
    int rc = fr_buf_add(b, MAGIC, 4);
    if (!rc)
        rc = fr_buf_add_u8(b, VERSION);
    if (!rc)
        rc = fr_buf_add_varint(b, r->ncols);
    for (size_t c = 0; !rc && c < r->ncols; c++) {
        const col_t *col = &r->cols[c];
        rc = fr_buf_add_u8(b, (uint8_t)col->kind);
        if (!rc)
            rc = fr_buf_add_varint(b, col->npoints);
        for (size_t i = 0; !rc && i < col->npoints; i++) {
            uint64_t bits;
            memcpy(&bits, &r->points[col->pofs + i], sizeof bits);
            rc = fr_buf_add_u64(b, bits);
        }
        for (size_t i = 0; !rc && i < col->nbins; i++)
            rc = fr_buf_add_varint(b, r->counts[col->offset + i]);
    }
    if (rc) {
        b->len = mark;
        if (b->p)
            b->p[mark] = '\0';
    }
    return rc;
}

/* A varint in its shortest form only, so that every reference has one
 * encoding. */
static uint64_t rd_varint(fr_rd_t *rd)
{
    const uint8_t *start = rd->p;
    uint64_t v = fr_rd_varint(rd);
    size_t len = 1;
    for (uint64_t x = v >> 7; x; x >>= 7)
        len++;
    if (!rd->err && (size_t)(rd->p - start) != len)
        rd->err = FR_ECORRUPT;
    return v;
}

int fr_drift_ref_decode(const void *p, size_t n, fr_drift_ref_t **out)
{
    *out = NULL;
    fr_rd_t rd;
    fr_rd_init(&rd, p, n);
    const void *magic = fr_rd_bytes(&rd, 4);
    uint8_t version = fr_rd_u8(&rd);
    uint64_t ncols = rd_varint(&rd);
    if (rd.err || memcmp(magic, MAGIC, 4) || version != VERSION || ncols < 2 ||
        ncols > FR_DRIFT_MAX_COLUMNS)
        return FR_ECORRUPT;
    fr_drift_ref_t *r = calloc(1, sizeof *r);
    if (!r)
        return FR_ENOMEM;
    r->ncols = (size_t)ncols;
    r->cols = calloc(r->ncols, sizeof *r->cols);
    r->points = malloc(r->ncols * FR_DRIFT_MAX_POINTS * sizeof *r->points);
    r->counts = calloc(r->ncols * (FR_DRIFT_MAX_POINTS + 2), sizeof *r->counts);
    int rc = r->cols && r->points && r->counts ? 0 : FR_ENOMEM;
    size_t pofs = 0, bofs = 0;
    uint64_t rows = 0;
    for (size_t c = 0; !rc && c < r->ncols; c++) {
        col_t *col = &r->cols[c];
        uint8_t kind = fr_rd_u8(&rd);
        uint64_t np = rd_varint(&rd);
        rc = FR_ECORRUPT;
        if (rd.err || (kind != FR_DRIFT_NUMERIC && kind != FR_DRIFT_VALUES) ||
            np > FR_DRIFT_MAX_POINTS)
            break;
        col->kind = (fr_drift_kind_t)kind;
        col->npoints = (size_t)np;
        col->pofs = pofs;
        col->nbins = col_nbins(col->npoints);
        col->offset = bofs;
        size_t i;
        for (i = 0; i < col->npoints; i++) {
            uint64_t bits = fr_rd_u64(&rd);
            double d;
            memcpy(&d, &bits, sizeof d);
            /* strictly increasing, no NaN; numeric edges finite */
            if (rd.err || isnan(d) || (col->kind == FR_DRIFT_NUMERIC && !isfinite(d)) ||
                (i && !(d > r->points[pofs + i - 1])))
                break;
            r->points[pofs + i] = d;
        }
        if (i < col->npoints)
            break;
        uint64_t total = 0;
        for (i = 0; i < col->nbins; i++) {
            uint64_t k = rd_varint(&rd);
            if (rd.err || k > (UINT64_MAX >> 2) - total)
                break;
            r->counts[bofs + i] = k;
            total += k;
        }
        /* every column counts the same training rows, at least one */
        if (i < col->nbins || total == 0 || (c && total != rows))
            break;
        rows = total;
        col->total = total;
        pofs += col->npoints;
        bofs += col->nbins;
        rc = 0;
    }
    r->nbins = bofs;
    if (!rc && rd.p != rd.end)
        rc = FR_ECORRUPT;
    if (rc) {
        fr_drift_ref_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int fr_drift_ref_json(const fr_drift_ref_t *r, size_t c, fr_buf_t *b)
{
    fr_drift_col_t col;
    fr_drift_ref_col(r, c, &col);
    size_t mark = b->len;
    int num = col.kind == FR_DRIFT_NUMERIC;
    int rc = fr_buf_printf(b, "{\"kind\":\"%s\",\"%s\":[", num ? "numeric" : "values",
                           num ? "edges" : "values");
    for (size_t i = 0; !rc && i < col.npoints; i++) {
        if (i)
            rc = fr_buf_addc(b, ',');
        if (!rc)
            rc = fr_jw_double(b, col.points[i]);
    }
    if (!rc)
        rc = fr_buf_addstr(b, "],\"counts\":[");
    size_t nvals = num ? col.nbins - 1 : col.nbins - 2;
    for (size_t i = 0; !rc && i < nvals; i++)
        rc = fr_buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)col.counts[i]);
    if (!rc && !num)
        rc = fr_buf_printf(b, "],\"other\":%llu", (unsigned long long)col.counts[nvals]);
    else if (!rc)
        rc = fr_buf_addc(b, ']');
    if (!rc)
        rc = fr_buf_printf(b, ",\"null\":%llu}", (unsigned long long)col.counts[col.nbins - 1]);
    if (rc) {
        b->len = mark;
        if (b->p)
            b->p[mark] = '\0';
    }
    return rc;
}

/* ---- distances ---- */

static uint64_t sum(const uint64_t *v, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

double fr_drift_psi(const uint64_t *ref, const uint64_t *cur, size_t n)
{
    uint64_t tr = sum(ref, n), tc = sum(cur, n);
    if (!tr || !tc)
        return NAN;
    double psi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = (double)ref[i] / (double)tr, c = (double)cur[i] / (double)tc;
        r = r < FR_DRIFT_FLOOR ? FR_DRIFT_FLOOR : r;
        c = c < FR_DRIFT_FLOOR ? FR_DRIFT_FLOOR : c;
        psi += (c - r) * log(c / r);
    }
    return psi;
}

double fr_drift_js(const uint64_t *ref, const uint64_t *cur, size_t n)
{
    uint64_t tr = sum(ref, n), tc = sum(cur, n);
    if (!tr || !tc)
        return NAN;
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double r = (double)ref[i] / (double)tr, c = (double)cur[i] / (double)tc;
        double m = (r + c) / 2;
        if (r > 0)
            d += 0.5 * r * log(r / m);
        if (c > 0)
            d += 0.5 * c * log(c / m);
    }
    return sqrt(d > 0 ? d : 0);
}

void fr_drift_compare(const fr_drift_ref_t *r, size_t c, const uint64_t *cur,
                      const fr_drift_thresholds_t *t, fr_drift_stat_t *out)
{
    const col_t *col = &r->cols[c];
    const uint64_t *ref = r->counts + col->offset;
    cur += col->offset;
    fr_drift_thresholds_t th = t ? *t : FR_DRIFT_THRESHOLDS_DEFAULT;
    out->count = sum(cur, col->nbins);
    out->psi = fr_drift_psi(ref, cur, col->nbins);
    out->js = fr_drift_js(ref, cur, col->nbins);
    if (!out->count)
        out->status = FR_DRIFT_NO_DATA;
    else if (out->psi >= th.psi_alert)
        out->status = FR_DRIFT_ALERT;
    else if (out->psi >= th.psi_warn)
        out->status = FR_DRIFT_WARN;
    else
        out->status = FR_DRIFT_OK;
}

const char *fr_drift_status_name(fr_drift_status_t s)
{
    switch (s) {
    case FR_DRIFT_OK: return "ok";
    case FR_DRIFT_WARN: return "warn";
    case FR_DRIFT_ALERT: return "alert";
    default: return "no_data";
    }
}

/* ---- live histograms ---- */

typedef struct stripe {
    pthread_mutex_t mu;
    int64_t *stamp;   /* per slot: the interval it holds, EMPTY_SLOT */
    uint64_t *counts; /* slots x nbins */
    uint64_t *n;      /* per slot: vectors */
} stripe_t;

struct fr_drift_live {
    const fr_drift_ref_t *ref;
    int64_t slot_ms;
    int slots;
    atomic_uint_least64_t dropped;
    stripe_t stripe[FR_DRIFT_STRIPES];
};

static atomic_uint next_stripe;
static _Thread_local unsigned my_stripe; /* 0: not picked yet, else index + 1 */

int fr_drift_live_new(const fr_drift_ref_t *ref, int64_t window_ms, int slots,
                      fr_drift_live_t **out)
{
    *out = NULL;
    if (slots < 1 || slots > FR_DRIFT_MAX_SLOTS || window_ms < slots)
        return FR_EINVAL;
    fr_drift_live_t *l = calloc(1, sizeof *l);
    if (!l)
        return FR_ENOMEM;
    l->ref = ref;
    l->slots = slots;
    l->slot_ms = window_ms / slots + (window_ms % slots != 0);
    atomic_init(&l->dropped, 0);
    int rc = 0;
    for (int s = 0; s < FR_DRIFT_STRIPES; s++) {
        stripe_t *st = &l->stripe[s];
        st->stamp = malloc((size_t)slots * sizeof *st->stamp);
        st->counts = calloc((size_t)slots * ref->nbins, sizeof *st->counts);
        st->n = calloc((size_t)slots, sizeof *st->n);
        if (!st->stamp || !st->counts || !st->n || pthread_mutex_init(&st->mu, NULL)) {
            free(st->stamp);
            st->stamp = NULL; /* marks the mutex as not made */
            rc = FR_ENOMEM;
            break;
        }
        for (int i = 0; i < slots; i++)
            st->stamp[i] = EMPTY_SLOT;
    }
    if (rc) {
        fr_drift_live_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void fr_drift_live_free(fr_drift_live_t *l)
{
    if (!l)
        return;
    for (int s = 0; s < FR_DRIFT_STRIPES; s++) {
        stripe_t *st = &l->stripe[s];
        if (st->stamp)
            pthread_mutex_destroy(&st->mu);
        free(st->stamp);
        free(st->counts);
        free(st->n);
    }
    free(l);
}

/* The slot of interval iv: iv mod slots, also for negative iv. */
static size_t slot_of(const fr_drift_live_t *l, int64_t iv)
{
    int64_t m = iv % l->slots;
    return (size_t)(m < 0 ? m + l->slots : m);
}

void fr_drift_live_add(fr_drift_live_t *l, int64_t t_ms, const float *inputs, float score)
{
    if (!my_stripe)
        my_stripe = atomic_fetch_add(&next_stripe, 1) % FR_DRIFT_STRIPES + 1;
    stripe_t *st = &l->stripe[my_stripe - 1];
    int64_t iv = fr_floordiv(t_ms, l->slot_ms);
    if (iv == EMPTY_SLOT)
        iv++; /* t_ms = INT64_MIN with 1 ms slots: the marker is taken */
    size_t s = slot_of(l, iv);
    uint64_t *counts = st->counts + s * l->ref->nbins;
    pthread_mutex_lock(&st->mu);
    if (st->stamp[s] > iv) {
        /* the slot holds an interval a whole window newer */
        pthread_mutex_unlock(&st->mu);
        atomic_fetch_add(&l->dropped, 1);
        return;
    }
    if (st->stamp[s] != iv) {
        memset(counts, 0, l->ref->nbins * sizeof *counts);
        st->n[s] = 0;
        st->stamp[s] = iv;
    }
    fr_drift_ref_add(l->ref, counts, inputs, score);
    st->n[s]++;
    pthread_mutex_unlock(&st->mu);
}

void fr_drift_live_counts(fr_drift_live_t *l, int64_t now_ms, uint64_t *counts, uint64_t *n)
{
    size_t nb = l->ref->nbins;
    memset(counts, 0, nb * sizeof *counts);
    uint64_t total = 0;
    int64_t now_iv = fr_floordiv(now_ms, l->slot_ms);
    for (int s = 0; s < FR_DRIFT_STRIPES; s++) {
        stripe_t *st = &l->stripe[s];
        pthread_mutex_lock(&st->mu);
        for (int i = 0; i < l->slots; i++) {
            int64_t iv = st->stamp[i];
            /* in (now_iv - slots, now_iv]: the unsigned difference is exact
             * once iv <= now_iv, and cannot overflow */
            if (iv == EMPTY_SLOT || iv > now_iv ||
                (uint64_t)now_iv - (uint64_t)iv >= (uint64_t)l->slots)
                continue;
            const uint64_t *c = st->counts + (size_t)i * nb;
            for (size_t b = 0; b < nb; b++)
                counts[b] += c[b];
            total += st->n[i];
        }
        pthread_mutex_unlock(&st->mu);
    }
    if (n)
        *n = total;
}

int fr_drift_live_report(fr_drift_live_t *l, int64_t now_ms, const fr_drift_thresholds_t *t,
                         fr_drift_stat_t *stats, uint64_t *n)
{
    uint64_t *counts = malloc(l->ref->nbins * sizeof *counts);
    if (!counts)
        return FR_ENOMEM;
    fr_drift_live_counts(l, now_ms, counts, n);
    for (size_t c = 0; c < l->ref->ncols; c++)
        fr_drift_compare(l->ref, c, counts, t, &stats[c]);
    free(counts);
    return 0;
}

uint64_t fr_drift_live_dropped(const fr_drift_live_t *l)
{
    return atomic_load(&((fr_drift_live_t *)l)->dropped);
}
