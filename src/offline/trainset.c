/*
 * trainset.c - point-in-time training sets (see trainset.h).
 *
 * The build keeps, per (view, entity): the running tile state of every
 * event applied so far (arrival point only) and the events themselves as
 * long as a later row could need them ("retained": their typed record,
 * offset and time).  A row at t is computed:
 *   - arrival, t at or after the state's newest event: from the running
 *     state (exact by DESIGN §2);
 *   - otherwise: afresh, by applying the retained events that count
 *     (ts in (t - largest window, t], not the spine event itself) to an
 *     empty state and evaluating it at t.
 * Both go through agg/, as serving does.
 *
 * How long events are retained follows from admission: a later spine
 * event of a source with views has ts >= its watermark - horizon, so an
 * event older than that minus the view's largest window can never count
 * again; pending rows (event_time, forward labels) hold the bound back to
 * their own t.  Should a row ever need an event retention dropped, the
 * summary counts it (inexact), so it cannot pass silently.
 *
 * Rows are produced in spine order: a source spine's rows are written as
 * soon as they and every earlier row are complete (kept in a FIFO until
 * then); a spine file's rows are computed in time order and written to a
 * temporary file with an index, then copied out in file order.
 */
#include "offline/trainset.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg/agg.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/map.h"
#include "event/admit.h"
#include "event/event.h"
#include "expr/expr.h"

#define MAX_ROW_BYTES ((size_t)64 << 20)
#define MAX_SPINE_RECORD ((size_t)1 << 20) /* one spine file row, at most */
#define MAX_SPINE_COLS 1024
#define MAX_WARNINGS 20
#define PROGRESS_EVERY 65536

/* ---- retained events, entities, views ------------------------------------------ */

typedef struct {
    int64_t ts;
    int64_t time;       /* arrival time (history.h) */
    uint64_t offset;
    int32_t partition;
    uint32_t len;
    uint8_t *rec;
    int owned;
} rawev_t;

typedef struct {
    fr_agg_state_t *st; /* arrival point: every event applied */
    rawev_t *raw;       /* retained, in arrival order, from head */
    uint32_t head, len, cap;
    int64_t pruned;     /* greatest ts dropped from raw (INT64_MIN: none) */
} ent_t;

typedef struct {
    int view;            /* configured view; -1: the forward-window label */
    const fr_agg_plan_t *plan;
    const char *name;
    int source, entity;
    const fr_filter_spec_t *filter;
    int64_t wmax;
    int running;         /* keeps running states (arrival point) */
    int spine_col;       /* spine column with its entity key; -1 none */
    size_t nfeat;
    fr_map_t map;
    fr_value_t *out;     /* [nfeat]: the last evaluation */
    fr_agg_state_t *tmp; /* a state computed afresh for the row being made */
    int used;            /* a feature of the set reads it */
} vrt_t;

/* ---- the spine -------------------------------------------------------------------- */

typedef struct {
    const char *name;
    fr_type_t type;      /* FR_T_NULL: untyped (a pass-through column, as text) */
} scol_t;

/* One row of a spine file, in the index. */
typedef struct {
    int64_t t;
    int64_t arr;         /* arrival: the arrival column's value (arrival point) */
    int64_t tmin;        /* the least t of this row and every row after it in the index */
    uint64_t order;      /* row number in the file (from 0) */
    uint64_t off;        /* its bytes in the file */
    uint32_t len;
    uint32_t line;
} frow_t;

/* ---- the output ------------------------------------------------------------------- */

typedef enum { O_COL, O_TS, O_FEAT, O_OD, O_LABEL } okind_t;

typedef struct {
    okind_t kind;
    int a, b;            /* O_COL: spine column; O_FEAT: vrt, feature */
    int feature;         /* from the features list (a model input's column) */
} ocol_t;

/* A row waiting for its features (event_time) or its forward label, or for
 * earlier rows, before it can be written. */
typedef struct prow {
    uint64_t order;
    int64_t t;
    int need_feat, need_label, immature, done;
    fr_buf_t text;       /* the row so far (done: complete, with its newline) */
    uint8_t *rec;        /* need_feat: the spine event (a typed record of the spine source) */
    size_t rec_len;
    int32_t part;
    uint64_t off;
    char *lkey;          /* need_label: the label entity's key */
    size_t lklen;
    int has_lkey;
    size_t hf, hl;       /* positions in the heaps */
} prow_t;

typedef struct {
    prow_t **a;
    size_t n, cap;
    int label;           /* ordered by t + window (label heap) rather than t */
} heap_t;

/* Joined labels of one key, in log order. */
typedef struct {
    int64_t *ts;
    fr_value_t *v;
    uint32_t n, cap;
} lvec_t;

typedef struct {
    const fr_config_t *cfg;
    const fr_tset_opts_t *o;
    const fr_tset_spec_t *ts;
    fr_tset_summary_t *sum;
    char *err;
    size_t errlen;
    int spine_src;       /* -1: a file */
    fr_point_t point;
    /* spine columns */
    scol_t *cols;
    size_t ncols;
    char **colnames;     /* file spine: owned names */
    int ts_col;          /* file spine: the `ts` column */
    fr_value_t *svals;   /* the current spine row's values [ncols] */
    int64_t t;           /* its time */
    fr_buf_t sbuf;       /* file spine: the row's bytes / unquoted text */
    int arr_col;         /* file spine: the arrival column, -1 none */
    int64_t own_after;   /* events at the row's t arriving after this are its own: left
                            out (INT64_MAX: none) */
    fr_tset_spec_t tcopy; /* the set without its label (opts no_label) */
    /* on-demand features: the ones the set needs, computed per row in order */
    uint8_t *od_need;    /* [nondemand] */
    int **od_slot;       /* [nondemand][nrefs]: FIELD: spine column (-1 none); FEATURE: vrt */
    fr_value_t *odvals;  /* [nondemand] this row's values */
    fr_value_t *odin;    /* inputs scratch (the largest nrefs) */
    /* views */
    vrt_t *v;
    size_t nv;
    int lab;             /* index of the forward label's vrt, -1 none */
    fr_record_proj_t *ident; /* per source */
    fr_value_t *dvals;   /* decode scratch */
    /* output */
    ocol_t *oc;
    size_t noc;
    fr_buf_t row;
    fr_history_t *hist;  /* the main pass's history */
    uint8_t *need;
    /* labels */
    fr_map_t lmap;       /* joined: key -> lvec_t */
    int64_t cutoff;      /* INT64_MIN: none yet */
    int64_t label_newest;
    int lkey_col;        /* spine column of the join key or the label entity */
    /* pending rows */
    prow_t **fifo;
    size_t fhead, flen, fcap;
    heap_t hfeat, hlab;
    uint64_t next_order;
    /* file spine */
    frow_t *frows;
    size_t nfrows, fnext;
    FILE *spine;
    int spine_ndjson;
    FILE *tmp;
    uint64_t *tidx;      /* per file row: offset in tmp << 1 | written; with tlen */
    uint32_t *tlen;
    uint64_t warnings;
    uint64_t events;
} tb_t;

static int failf(tb_t *b, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(tb_t *b, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (b->err && b->errlen)
        vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* a - b, saturating at the int64 range */
static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ---- sources ------------------------------------------------------------------------ */

void fr_tset_sources(const fr_config_t *cfg, int tset, bool file_spine, uint8_t *need)
{
    const fr_tset_spec_t *ts = &cfg->tsets[tset];
    memset(need, 0, cfg->nsources);
    if (!file_spine && ts->spine >= 0)
        need[ts->spine] = 1;
    for (size_t i = 0; i < ts->nfeatures; i++)
        if (ts->features[i].view >= 0)
            need[cfg->views[ts->features[i].view].source] = 1;
    if (ts->label.kind == FR_LABEL_WINDOW)
        need[ts->label.source] = 1;
}

/* ---- retained events ---------------------------------------------------------------- */

static void raw_drop(ent_t *e, int64_t bound)
{
    while (e->len && e->raw[e->head].ts <= bound) {
        rawev_t *r = &e->raw[e->head];
        if (r->ts > e->pruned)
            e->pruned = r->ts;
        if (r->owned)
            free(r->rec);
        e->head++;
        e->len--;
    }
    if (!e->len)
        e->head = 0;
}

static int raw_push(ent_t *e, const fr_hist_ev_t *ev)
{
    if (e->head + e->len == e->cap) {
        if (e->head > e->cap / 2) {
            memmove(e->raw, e->raw + e->head, e->len * sizeof *e->raw);
            e->head = 0;
        } else {
            uint32_t cap = e->cap ? e->cap * 2 : 4;
            if (cap < e->cap)
                return FR_ENOMEM;
            rawev_t *r = realloc(e->raw, (size_t)cap * sizeof *r);
            if (!r)
                return FR_ENOMEM;
            e->raw = r;
            e->cap = cap;
        }
    }
    rawev_t *r = &e->raw[e->head + e->len];
    *r = (rawev_t){.ts = ev->ts,
                   .time = ev->time,
                   .offset = ev->offset,
                   .partition = ev->partition,
                   .len = (uint32_t)ev->rec_len,
                   .rec = (uint8_t *)(uintptr_t)ev->rec,
                   .owned = !ev->stable};
    if (r->owned) {
        r->rec = malloc(ev->rec_len ? ev->rec_len : 1);
        if (!r->rec)
            return FR_ENOMEM;
        memcpy(r->rec, ev->rec, ev->rec_len);
    }
    e->len++;
    return 0;
}

static void ent_free(ent_t *e)
{
    fr_agg_state_free(e->st);
    for (uint32_t i = 0; i < e->len; i++)
        if (e->raw[e->head + i].owned)
            free(e->raw[e->head + i].rec);
    free(e->raw);
    free(e);
}

/* ---- watermarks and frontiers ------------------------------------------------------ */

/* The oldest event time a later event of source s can have (history.h). */
static int64_t low_bound(const tb_t *b, int s)
{
    return fr_history_low_bound(b->hist, s);
}

/* Rows with t below this have every feature event they can ever count
 * (event_time); INT64_MAX at the end of the history. */
static int64_t feat_frontier(const tb_t *b, int at_end)
{
    if (at_end)
        return INT64_MAX;
    int64_t f = INT64_MAX;
    for (size_t i = 0; i < b->nv; i++) {
        if (!b->v[i].used)
            continue;
        int64_t l = low_bound(b, b->v[i].source);
        if (l < f)
            f = l;
    }
    return f;
}

/* Rows with t + window below this have their forward label's events. */
static int64_t label_frontier(const tb_t *b, int at_end)
{
    return at_end ? INT64_MAX : low_bound(b, b->ts->label.source);
}

/* ---- heaps --------------------------------------------------------------------------- */

static int64_t hkey(const heap_t *h, const prow_t *r, int64_t window)
{
    return h->label ? sat_add(r->t, window) : r->t;
}

static void hset(heap_t *h, size_t i, prow_t *r)
{
    h->a[i] = r;
    if (h->label)
        r->hl = i;
    else
        r->hf = i;
}

static int heap_push(heap_t *h, prow_t *r, int64_t window)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        prow_t **a = realloc(h->a, cap * sizeof *a);
        if (!a)
            return FR_ENOMEM;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    int64_t k = hkey(h, r, window);
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (hkey(h, h->a[p], window) <= k)
            break;
        hset(h, i, h->a[p]);
        i = p;
    }
    hset(h, i, r);
    return 0;
}

static prow_t *heap_pop(heap_t *h, int64_t window)
{
    if (!h->n)
        return NULL;
    prow_t *top = h->a[0];
    prow_t *last = h->a[--h->n];
    size_t i = 0;
    int64_t k = hkey(h, last, window);
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l >= h->n)
            break;
        if (l + 1 < h->n && hkey(h, h->a[l + 1], window) < hkey(h, h->a[l], window))
            l++;
        if (hkey(h, h->a[l], window) >= k)
            break;
        hset(h, i, h->a[l]);
        i = l;
        (void)m;
    }
    if (h->n)
        hset(h, i, last);
    return top;
}

static int64_t heap_min(const heap_t *h)
{
    return h->n ? h->a[0]->t : INT64_MAX;
}

/* ---- values and text ----------------------------------------------------------------- */

static int csv_str(fr_buf_t *o, const char *s, size_t n)
{
    int quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote)
        return fr_buf_add(o, s, n);
    int rc = fr_buf_addc(o, '"');
    size_t from = 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (s[i] == '"') {
            rc = fr_buf_add(o, s + from, i + 1 - from);
            rc = rc ? rc : fr_buf_addc(o, '"');
            from = i + 1;
        }
    rc = rc ? rc : fr_buf_add(o, s + from, n - from);
    return rc ? rc : fr_buf_addc(o, '"');
}

/* A value in the binary row form: a type byte, then 8 bytes (long,
 * double), 1 (boolean) or a u32 length and the bytes (string). */
static int put_binary(fr_buf_t *o, const fr_value_t *v)
{
    int rc = fr_buf_add_u8(o, (uint8_t)v->type);
    switch (v->type) {
    case FR_T_LONG: return rc ? rc : fr_buf_add_u64(o, (uint64_t)v->u.i);
    case FR_T_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        return rc ? rc : fr_buf_add_u64(o, bits);
    }
    case FR_T_BOOL: return rc ? rc : fr_buf_add_u8(o, v->u.b ? 1 : 0);
    case FR_T_STRING:
        rc = rc ? rc : fr_buf_add_u32(o, v->len);
        return rc ? rc : fr_buf_add(o, v->u.s, v->len);
    default: return rc;
    }
}

static int put_value(const tb_t *b, fr_buf_t *o, const fr_value_t *v)
{
    if (b->o->format == FR_TSET_NDJSON)
        return fr_jw_value(o, v);
    if (b->o->format == FR_TSET_BINARY)
        return put_binary(o, v);
    switch (v->type) {
    case FR_T_STRING: return csv_str(o, v->u.s, v->len);
    case FR_T_LONG: return fr_jw_i64(o, v->u.i);
    case FR_T_DOUBLE: return isfinite(v->u.d) ? fr_jw_double(o, v->u.d) : 0;
    case FR_T_BOOL: return fr_buf_addstr(o, v->u.b ? "true" : "false");
    default: return 0;
    }
}

/* The name of output column c (into tmp when made up). */
static const char *col_name(const tb_t *b, const ocol_t *c, char *tmp, size_t n)
{
    switch (c->kind) {
    case O_COL: return b->cols[c->a].name;
    case O_TS: return "ts";
    case O_LABEL: return "label";
    case O_OD: return b->cfg->ondemand[c->a].name;
    default: {
        const vrt_t *v = &b->v[c->a];
        snprintf(tmp, n, "%s%s%s", v->name, b->o->format == FR_TSET_CSV ? "__" : ":",
                 b->cfg->views[v->view].feature_names[c->b]);
        return tmp;
    }
    }
}

static int write_header(tb_t *b)
{
    if (b->o->format != FR_TSET_CSV)
        return 0;
    fr_buf_reset(&b->row);
    int rc = 0;
    for (size_t i = 0; !rc && i < b->noc; i++) {
        char tmp[2 * FR_CONFIG_MAX_NAME + 8];
        const char *n = col_name(b, &b->oc[i], tmp, sizeof tmp);
        if (i)
            rc = fr_buf_addc(&b->row, ',');
        rc = rc ? rc : csv_str(&b->row, n, strlen(n));
    }
    rc = rc ? rc : fr_buf_addc(&b->row, '\n');
    if (!rc && fwrite(b->row.p, 1, b->row.len, b->o->out) != b->row.len)
        rc = -errno;
    return rc;
}

/* Appends column i's separator (and its key, in NDJSON). */
static int put_sep(const tb_t *b, fr_buf_t *o, size_t i)
{
    if (b->o->format == FR_TSET_BINARY)
        return 0;
    if (b->o->format == FR_TSET_NDJSON) {
        char tmp[2 * FR_CONFIG_MAX_NAME + 8];
        int rc = fr_buf_addc(o, i ? ',' : '{');
        return rc ? rc : fr_jw_key(o, col_name(b, &b->oc[i], tmp, sizeof tmp));
    }
    return i ? fr_buf_addc(o, ',') : 0;
}

/* ---- features ---------------------------------------------------------------------------- */

/* The key of entity column col of the spine row; 0 when it has none. */
static int row_key(const tb_t *b, int col, char *tmp, const char **key)
{
    if (col < 0)
        return 0;
    int kl = fr_entity_key(&b->svals[col], tmp, key);
    return kl > 0 ? kl : 0;
}

/*
 * Computes v's values for entity key at t into v->out, afresh from the
 * retained events in (lo, t] (skipping the spine event when self).
 */
static int recompute(tb_t *b, vrt_t *v, ent_t *e, int64_t lo, int64_t t, int self, int32_t spart,
                     uint64_t soff)
{
    fr_agg_state_free(v->tmp);
    v->tmp = fr_agg_state_new(v->plan);
    if (!v->tmp)
        return FR_ENOMEM;
    if (e->pruned > lo)
        b->sum->inexact++; /* an event it needed was no longer retained */
    for (uint32_t i = 0; i < e->len; i++) {
        const rawev_t *r = &e->raw[e->head + i];
        if (r->ts <= lo || r->ts > t)
            continue;
        if (self && r->partition == spart && r->offset == soff)
            continue;
        if (r->ts == t && r->time >= b->own_after)
            continue; /* the row's own event, arrived after it (own_after_arrival) */
        int64_t ts;
        int rc = fr_record_decode(&b->ident[v->source], r->rec, r->len, b->dvals, &ts);
        if (rc)
            return FR_ECORRUPT;
        rc = fr_agg_state_apply(v->tmp, v->plan, ts, r->offset, b->dvals);
        if (rc)
            return rc;
    }
    fr_agg_state_eval(v->tmp, v->plan, t, v->out);
    b->sum->recomputed++;
    return 0;
}

/* v's values for the current spine row into v->out. */
static int eval_view(tb_t *b, vrt_t *v, int self, int32_t spart, uint64_t soff)
{
    char tmp[32];
    const char *key;
    int kl = row_key(b, v->spine_col, tmp, &key);
    fr_map_slot_t *sl = kl ? fr_map_find(&v->map, key, (size_t)kl, fr_map_hash(key, (size_t)kl))
                           : NULL;
    if (!sl) {
        fr_agg_eval_empty(v->plan, v->out);
        return 0;
    }
    ent_t *e = sl->value;
    if (b->point == FR_POINT_ARRIVAL && e->st && fr_agg_state_newest(e->st) <= b->t) {
        fr_agg_state_eval(e->st, v->plan, b->t, v->out);
        return 0;
    }
    int64_t lo = sat_sub(b->t, v->wmax);
    return recompute(b, v, e, lo, b->t, self, spart, soff);
}

/* Appends the row's columns up to (not including) the label. */
static int put_row(tb_t *b, fr_buf_t *o)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < b->noc; i++) {
        const ocol_t *c = &b->oc[i];
        if (c->kind == O_LABEL)
            break;
        rc = put_sep(b, o, i);
        if (rc)
            break;
        switch (c->kind) {
        case O_COL: rc = put_value(b, o, &b->svals[c->a]); break;
        case O_TS:
            rc = b->o->format == FR_TSET_BINARY
                     ? put_binary(o, &(fr_value_t){.type = FR_T_LONG, .u.i = b->t})
                     : fr_jw_i64(o, b->t);
            break;
        case O_OD: rc = put_value(b, o, &b->odvals[c->a]); break;
        default: rc = put_value(b, o, &b->v[c->a].out[c->b]); break;
        }
    }
    return rc;
}

/* Evaluates every used view for the current spine row. */
static int eval_row(tb_t *b, int self, int32_t spart, uint64_t soff)
{
    for (size_t i = 0; i < b->nv; i++) {
        if (!b->v[i].used)
            continue;
        int s = self && b->v[i].source == b->spine_src;
        int rc = eval_view(b, &b->v[i], s, spart, soff);
        if (rc)
            return rc;
    }
    /* on-demand features, each over the spine row, the views' values and
     * the ones before it */
    for (size_t i = 0; b->od_need && i < b->cfg->nondemand; i++) {
        if (!b->od_need[i])
            continue;
        const fr_ondemand_spec_t *od = &b->cfg->ondemand[i];
        for (size_t r = 0; r < od->nrefs; r++) {
            const fr_ondemand_ref_t *ref = &od->refs[r];
            int k = b->od_slot[i][r];
            if (ref->kind == FR_REF_FIELD)
                b->odin[r] = k >= 0 ? b->svals[k] : (fr_value_t){.type = FR_T_NULL};
            else if (ref->kind == FR_REF_FEATURE)
                b->odin[r] = b->v[k].out[ref->feature];
            else
                b->odin[r] = b->odvals[ref->ondemand];
        }
        fr_expr_eval(od->prog, b->odin, &b->odvals[i]);
    }
    return 0;
}

static void drop_tmp(tb_t *b)
{
    for (size_t i = 0; i < b->nv; i++) {
        fr_agg_state_free(b->v[i].tmp);
        b->v[i].tmp = NULL;
    }
}

/* ---- labels ------------------------------------------------------------------------------ */

static int label_value(const tb_t *b, fr_value_t *out)
{
    const fr_label_spec_t *lb = &b->ts->label;
    *out = lb->def;
    char tmp[32];
    const char *key;
    int kl = row_key(b, b->lkey_col, tmp, &key);
    if (!kl)
        return 0;
    fr_map_slot_t *sl = fr_map_find(&b->lmap, key, (size_t)kl, fr_map_hash(key, (size_t)kl));
    if (!sl)
        return 0;
    const lvec_t *lv = sl->value;
    int64_t hi = sat_add(b->t, lb->horizon_ms);
    for (uint32_t i = 0; i < lv->n; i++)
        if (lv->ts[i] >= b->t && lv->ts[i] <= hi) {
            *out = lv->v[i];
            return 0;
        }
    return 0;
}

/* The forward-window label of a row at t for entity key. */
static int window_label(tb_t *b, int64_t t, const char *key, size_t kl, fr_value_t *out)
{
    const fr_label_spec_t *lb = &b->ts->label;
    vrt_t *v = &b->v[b->lab];
    fr_map_slot_t *sl = kl ? fr_map_find(&v->map, key, kl, fr_map_hash(key, kl)) : NULL;
    if (!sl) {
        fr_agg_eval_empty(v->plan, v->out);
    } else {
        int rc = recompute(b, v, sl->value, t, sat_add(t, lb->window_ms), 0, 0, 0);
        if (rc)
            return rc;
    }
    *out = v->out[0];
    if (lb->has_threshold) {
        /* an empty window (null for avg, min, ...) is no event: 0 */
        int hit = out->type == FR_T_LONG     ? (double)out->u.i > lb->threshold
                  : out->type == FR_T_DOUBLE ? out->u.d > lb->threshold
                                             : 0;
        *out = (fr_value_t){.type = FR_T_LONG, .u.i = hit};
    }
    return 0;
}

static void count_label(tb_t *b, const fr_value_t *v)
{
    if (v->type == FR_T_NULL)
        return;
    b->sum->labelled++;
    b->sum->label_sum += v->type == FR_T_BOOL ? (v->u.b ? 1 : 0) : fr_value_num(v);
}

/* Ends a row's text: the label (if any) and the line's end. */
static int finish_text(tb_t *b, fr_buf_t *o, const fr_value_t *label)
{
    int rc = 0;
    if (b->ts->label.kind != FR_LABEL_NONE) {
        rc = put_sep(b, o, b->noc - 1);
        rc = rc ? rc : put_value(b, o, label);
        if (!rc)
            count_label(b, label);
    }
    if (b->o->format == FR_TSET_BINARY)
        return rc;
    if (!rc && b->o->format == FR_TSET_NDJSON)
        rc = fr_buf_addc(o, '}');
    return rc ? rc : fr_buf_addc(o, '\n');
}

/* Whether a row at t is too young for the cutoff (known cutoffs only). */
static int too_young(const tb_t *b, int64_t t)
{
    const fr_label_spec_t *lb = &b->ts->label;
    if (lb->kind == FR_LABEL_NONE)
        return 0;
    if (lb->kind == FR_LABEL_WINDOW && !b->o->has_cutoff)
        return 0; /* decided when the label is (advance) */
    if (b->cutoff == INT64_MIN)
        return 1; /* no label event at all */
    int64_t span = lb->kind == FR_LABEL_JOIN ? lb->horizon_ms : lb->window_ms;
    return sat_add(t, span) > b->cutoff;
}

/* ---- joined labels: the pass over the label source -------------------------------------- */

static int label_pass(tb_t *b)
{
    const fr_label_spec_t *lb = &b->ts->label;
    fr_hist_input_t *in = calloc(b->cfg->nsources ? b->cfg->nsources : 1, sizeof *in);
    if (!in)
        return FR_ENOMEM;
    in[lb->source] = b->o->inputs[lb->source];
    fr_hist_opts_t ho = {.inputs = in,
                         .log = b->o->log,
                         .avro_lookup = b->o->avro_lookup,
                         .avro_ctx = b->o->avro_ctx,
                         .now_ms = b->o->now_ms};
    fr_history_t *h = NULL;
    int rc = fr_history_open(b->cfg, &ho, &h, b->err, b->errlen);
    free(in);
    if (rc)
        return rc;
    b->label_newest = INT64_MIN;
    uint64_t n = 0;
    int stalls = 0;
    for (;;) {
        fr_hist_ev_t ev;
        rc = fr_history_next(h, &ev);
        if (rc == FR_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc == FR_EUNAVAIL && ++stalls < 300) {
            struct timespec d = {0, 100000000};
            nanosleep(&d, NULL);
            continue;
        }
        if (rc)
            break;
        stalls = 0;
        if (ev.ts > b->label_newest)
            b->label_newest = ev.ts;
        char tmp[32];
        const char *key;
        int kl = fr_entity_key(&ev.vals[lb->key], tmp, &key);
        if (kl <= 0)
            continue;
        uint64_t hash = fr_map_hash(key, (size_t)kl);
        fr_map_slot_t *sl = fr_map_find(&b->lmap, key, (size_t)kl, hash);
        if (!sl) {
            lvec_t *nv = calloc(1, sizeof *nv);
            if (!nv) {
                rc = FR_ENOMEM;
                break;
            }
            sl = fr_map_insert(&b->lmap, key, (size_t)kl, hash, nv);
            if (!sl) {
                free(nv);
                rc = FR_ENOMEM;
                break;
            }
        }
        lvec_t *lv = sl->value;
        if (lv->n == lv->cap) {
            uint32_t cap = lv->cap ? lv->cap * 2 : 1;
            int64_t *t2 = realloc(lv->ts, cap * sizeof *t2);
            if (t2)
                lv->ts = t2;
            fr_value_t *v2 = t2 ? realloc(lv->v, cap * sizeof *v2) : NULL;
            if (!t2 || !v2) {
                rc = FR_ENOMEM;
                break;
            }
            lv->v = v2;
            lv->cap = cap;
        }
        lv->ts[lv->n] = ev.ts;
        lv->v[lv->n] = lb->field >= 0 ? ev.vals[lb->field]
                                      : (fr_value_t){.type = FR_T_LONG, .u.i = 1};
        if (lv->v[lv->n].type == FR_T_STRING)
            lv->v[lv->n] = (fr_value_t){.type = FR_T_NULL}; /* not a label type: refused */
        lv->n++;
        if (b->o->progress && ++n % PROGRESS_EVERY == 0) {
            fr_hist_stats_t hs;
            fr_history_stats(h, &hs);
            b->o->progress(b->o->progress_ctx, "labels", hs.read, hs.total, 0);
        }
    }
    if (rc && b->err && !b->err[0])
        snprintf(b->err, b->errlen, "reading the label source: %s%s%s", fr_strerror(rc),
                 fr_history_error(h)[0] ? ": " : "", fr_history_error(h));
    fr_history_close(h);
    return rc;
}

/* ---- rows ---------------------------------------------------------------------------------- */

static int fifo_push(tb_t *b, prow_t *r)
{
    if (b->flen == b->fcap) {
        size_t cap = b->fcap ? b->fcap * 2 : 256;
        prow_t **a = malloc(cap * sizeof *a);
        if (!a)
            return FR_ENOMEM;
        for (size_t i = 0; i < b->flen; i++)
            a[i] = b->fifo[(b->fhead + i) % b->fcap];
        free(b->fifo);
        b->fifo = a;
        b->fcap = cap;
        b->fhead = 0;
    }
    b->fifo[(b->fhead + b->flen) % b->fcap] = r;
    b->flen++;
    return 0;
}

static void prow_free(prow_t *r)
{
    if (!r)
        return;
    fr_buf_destroy(&r->text);
    free(r->rec);
    free(r->lkey);
    free(r);
}

static int out_text(tb_t *b, const char *p, size_t n)
{
    if (b->o->row) {
        int rc = b->o->row(b->o->row_ctx, p, n);
        if (rc)
            return failf(b, rc, "%s", fr_strerror(rc));
        b->sum->rows++;
        return 0;
    }
    if (fwrite(p, 1, n, b->o->out) != n)
        return failf(b, FR_EIO, "writing the training set: %s", strerror(errno));
    b->sum->rows++;
    return 0;
}

/* Writes the completed rows at the head of the FIFO (source spines). */
static int emit_ready(tb_t *b)
{
    while (b->flen) {
        prow_t *r = b->fifo[b->fhead];
        if (!r->done)
            break;
        b->fhead = (b->fhead + 1) % b->fcap;
        b->flen--;
        int rc = 0;
        if (r->immature)
            b->sum->immature++;
        else
            rc = out_text(b, r->text.p, r->text.len);
        prow_free(r);
        if (rc)
            return rc;
    }
    return 0;
}

/* File spines: a completed row goes to the temporary file. */
static int park_text(tb_t *b, uint64_t order, const char *p, size_t n)
{
    long at = ftell(b->tmp);
    if (at < 0 || fwrite(p, 1, n, b->tmp) != n || n > UINT32_MAX)
        return failf(b, FR_EIO, "writing a temporary file: %s", strerror(errno));
    b->tidx[order] = (uint64_t)at << 1 | 1;
    b->tlen[order] = (uint32_t)n;
    return 0;
}

/* A row whose text and label are complete. */
static int complete(tb_t *b, prow_t *r)
{
    r->done = 1;
    if (b->spine_src < 0) {
        int rc = 0;
        if (r->immature)
            b->sum->immature++;
        else
            rc = park_text(b, r->order, r->text.p, r->text.len);
        prow_free(r);
        return rc;
    }
    return emit_ready(b);
}

/* Loads a pending event_time row's spine values back from its record. */
static int load_spine_rec(tb_t *b, const prow_t *r)
{
    int64_t ts;
    return fr_record_decode(&b->ident[b->spine_src], r->rec, r->rec_len, b->svals, &ts)
               ? FR_ECORRUPT
               : 0;
}

/* Finishes the features of pending row r (event_time): its text up to the label. */
static int finish_features(tb_t *b, prow_t *r)
{
    int rc = 0;
    if (b->spine_src >= 0)
        rc = load_spine_rec(b, r);
    b->t = r->t;
    rc = rc ? rc : eval_row(b, 1, r->part, r->off);
    rc = rc ? rc : put_row(b, &r->text);
    drop_tmp(b);
    r->need_feat = 0;
    return rc;
}

static int label_done(tb_t *b, prow_t *r)
{
    fr_value_t lv = {.type = FR_T_NULL};
    if (!r->immature) {
        int rc = window_label(b, r->t, r->lkey, r->lklen, &lv);
        if (rc)
            return rc;
    }
    r->need_label = 0;
    if (r->immature || r->need_feat)
        return 0;
    return finish_text(b, &r->text, &lv);
}

/* Pending rows whose time has come, as the history moved on. */
static int advance(tb_t *b, int at_end)
{
    int rc = 0;
    const fr_label_spec_t *lb = &b->ts->label;
    if (b->hfeat.n) {
        int64_t ff = feat_frontier(b, at_end);
        while (!rc && b->hfeat.n && (at_end || b->hfeat.a[0]->t < ff)) {
            prow_t *r = heap_pop(&b->hfeat, 0);
            rc = finish_features(b, r);
            if (!rc && !r->need_label) {
                fr_value_t lv = {.type = FR_T_NULL};
                if (lb->kind == FR_LABEL_JOIN) {
                    if (b->spine_src >= 0)
                        rc = load_spine_rec(b, r); /* label_value reads the key column */
                    if (!rc)
                        rc = label_value(b, &lv);
                } else if (lb->kind == FR_LABEL_WINDOW) {
                    rc = FR_EINVAL; /* window labels are computed in label_done */
                }
                if (!rc && !r->immature)
                    rc = finish_text(b, &r->text, &lv);
                if (!rc)
                    rc = complete(b, r);
            } else if (!rc && r->need_label == 2) {
                /* its label was ready first: finish now */
                r->need_label = 0;
                rc = label_done(b, r);
                if (!rc)
                    rc = complete(b, r);
            }
        }
    }
    if (!rc && b->hlab.n) {
        int64_t lf = label_frontier(b, at_end);
        while (!rc && b->hlab.n &&
               (at_end || sat_add(b->hlab.a[0]->t, lb->window_ms) < lf)) {
            prow_t *r = heap_pop(&b->hlab, lb->window_ms);
            if (r->need_feat) {
                r->need_label = 2; /* done once its features are */
                continue;
            }
            if (at_end && !b->o->has_cutoff && lb->kind == FR_LABEL_WINDOW)
                r->immature = sat_add(r->t, lb->window_ms) > b->label_newest;
            rc = label_done(b, r);
            if (!rc)
                rc = complete(b, r);
        }
    }
    return rc;
}

/*
 * The current spine row (b->svals, b->t): computed now (arrival features,
 * joined label) or queued until its time comes.  self: the spine event's
 * partition and offset (source spines).
 */
static int spine_row(tb_t *b, uint64_t order, const fr_hist_ev_t *ev)
{
    const fr_label_spec_t *lb = &b->ts->label;
    int young = too_young(b, b->t);
    if (young && lb->kind == FR_LABEL_JOIN) {
        /* its label cannot be known yet: left out (counted as it leaves) */
        if (b->spine_src >= 0 && b->flen) {
            prow_t *r = calloc(1, sizeof *r);
            if (!r)
                return FR_ENOMEM;
            r->order = order;
            r->done = r->immature = 1;
            int rc = fifo_push(b, r);
            if (rc)
                free(r);
            return rc ? rc : emit_ready(b);
        }
        b->sum->immature++;
        return 0;
    }
    int need_feat = b->point == FR_POINT_EVENT_TIME;
    int need_label = lb->kind == FR_LABEL_WINDOW;
    if (!need_feat && !need_label && (b->spine_src < 0 || !b->flen)) {
        /* the common case: complete at once, written straight out */
        fr_buf_reset(&b->row);
        int rc = eval_row(b, 0, 0, 0);
        rc = rc ? rc : put_row(b, &b->row);
        drop_tmp(b);
        fr_value_t lv = {.type = FR_T_NULL};
        if (!rc && lb->kind == FR_LABEL_JOIN)
            rc = label_value(b, &lv);
        rc = rc ? rc : finish_text(b, &b->row, &lv);
        if (rc)
            return rc;
        if (b->spine_src < 0)
            return park_text(b, order, b->row.p, b->row.len);
        return out_text(b, b->row.p, b->row.len);
    }
    prow_t *r = calloc(1, sizeof *r);
    if (!r)
        return FR_ENOMEM;
    fr_buf_init(&r->text, MAX_ROW_BYTES);
    r->order = order;
    r->t = b->t;
    r->immature = young;
    int rc = 0;
    if (need_label) {
        char tmp[32];
        const char *key;
        int kl = row_key(b, b->lkey_col, tmp, &key);
        r->lkey = malloc(kl > 0 ? (size_t)kl : 1);
        if (!r->lkey) {
            prow_free(r);
            return FR_ENOMEM;
        }
        if (kl > 0)
            memcpy(r->lkey, key, (size_t)kl);
        r->lklen = kl > 0 ? (size_t)kl : 0;
        r->need_label = 1;
    }
    if (need_feat) {
        r->need_feat = 1;
        if (ev) {
            r->rec = malloc(ev->rec_len ? ev->rec_len : 1);
            if (!r->rec) {
                prow_free(r);
                return FR_ENOMEM;
            }
            memcpy(r->rec, ev->rec, ev->rec_len);
            r->rec_len = ev->rec_len;
            r->part = ev->partition;
            r->off = ev->offset;
        }
    } else {
        rc = eval_row(b, 0, 0, 0);
        rc = rc ? rc : put_row(b, &r->text);
        drop_tmp(b);
    }
    if (!rc && !need_feat && !need_label) {
        /* complete now, behind rows still waiting */
        fr_value_t lv = {.type = FR_T_NULL};
        if (lb->kind == FR_LABEL_JOIN)
            rc = label_value(b, &lv);
        rc = rc ? rc : finish_text(b, &r->text, &lv);
        if (!rc && b->spine_src >= 0)
            rc = fifo_push(b, r);
        if (rc) {
            prow_free(r);
            return rc;
        }
        return complete(b, r);
    }
    if (!rc && b->spine_src >= 0)
        rc = fifo_push(b, r);
    if (!rc && need_feat && b->spine_src < 0) {
        /* a file row is computed where it stands in time order already */
        rc = finish_features(b, r);
        if (!rc && !need_label) {
            fr_value_t lv = {.type = FR_T_NULL};
            if (lb->kind == FR_LABEL_JOIN)
                rc = label_value(b, &lv);
            rc = rc ? rc : finish_text(b, &r->text, &lv);
            return rc ? rc : complete(b, r);
        }
    } else if (!rc && need_feat) {
        rc = heap_push(&b->hfeat, r, 0);
    }
    if (!rc && need_label)
        rc = heap_push(&b->hlab, r, lb->window_ms);
    if (rc && b->spine_src < 0)
        prow_free(r);
    return rc;
}

/* ---- applying history events ----------------------------------------------------------- */

static int apply(tb_t *b, const fr_hist_ev_t *ev)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < b->nv; i++) {
        vrt_t *v = &b->v[i];
        if (v->source != ev->source || !fr_filter_match(v->filter, ev->vals))
            continue;
        char tmp[32];
        const char *key;
        int kl = fr_entity_key(&ev->vals[v->entity], tmp, &key);
        if (kl <= 0)
            continue;
        uint64_t hash = fr_map_hash(key, (size_t)kl);
        fr_map_slot_t *sl = fr_map_find(&v->map, key, (size_t)kl, hash);
        if (!sl) {
            ent_t *e = calloc(1, sizeof *e);
            if (!e)
                return FR_ENOMEM;
            e->pruned = INT64_MIN;
            sl = fr_map_insert(&v->map, key, (size_t)kl, hash, e);
            if (!sl) {
                free(e);
                return FR_ENOMEM;
            }
        }
        ent_t *e = sl->value;
        if (v->running) {
            if (!e->st) {
                e->st = fr_agg_state_new(v->plan);
                if (!e->st)
                    return FR_ENOMEM;
            }
            rc = fr_agg_state_apply(e->st, v->plan, ev->ts, ev->offset, ev->vals);
            if (rc)
                return rc;
        }
        /* what a later row could still need */
        int64_t keep_after;
        if (i == (size_t)b->lab) {
            int64_t f = heap_min(&b->hlab);
            int64_t lo = b->spine_src >= 0 ? low_bound(b, b->spine_src)
                         : b->fnext < b->nfrows ? b->frows[b->fnext].tmin
                                                : INT64_MAX;
            keep_after = f < lo ? f : lo;
        } else {
            int64_t f = b->point == FR_POINT_EVENT_TIME ? heap_min(&b->hfeat) : INT64_MAX;
            int64_t lo = b->spine_src >= 0 ? low_bound(b, b->spine_src)
                         : b->fnext < b->nfrows ? b->frows[b->fnext].tmin
                                                : INT64_MAX;
            keep_after = sat_sub(f < lo ? f : lo, v->wmax);
        }
        raw_drop(e, keep_after);
        rc = raw_push(e, ev);
    }
    return rc;
}

/* ---- spine files ---------------------------------------------------------------------- */

static int warn_row(tb_t *b, uint32_t line, const char *what)
{
    b->sum->bad_rows++;
    if (b->o->warn && b->warnings++ < MAX_WARNINGS)
        fprintf(b->o->warn, "%s:%u: %s; row skipped\n", b->o->spine_path, line, what);
    return 0;
}

/* The fields of one CSV record of p[n] into fields (unquoted, in b->sbuf). */
static int csv_split(tb_t *b, const char *p, size_t n, size_t *starts, size_t *lens,
                     int *quoted, size_t max, size_t *nf)
{
    fr_buf_reset(&b->sbuf);
    *nf = 0;
    size_t i = 0;
    for (;;) {
        if (*nf == max)
            return FR_ELIMIT;
        size_t at = b->sbuf.len;
        int q = 0;
        if (i < n && p[i] == '"') {
            q = 1;
            i++;
            for (;;) {
                if (i >= n)
                    return FR_EPARSE;
                if (p[i] == '"') {
                    if (i + 1 < n && p[i + 1] == '"') {
                        if (fr_buf_addc(&b->sbuf, '"'))
                            return FR_ENOMEM;
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (fr_buf_addc(&b->sbuf, p[i++]))
                    return FR_ENOMEM;
            }
            if (i < n && p[i] != ',' && p[i] != '\r' && p[i] != '\n')
                return FR_EPARSE;
        } else {
            size_t s = i;
            while (i < n && p[i] != ',' && p[i] != '\r' && p[i] != '\n') {
                if (p[i] == '"')
                    return FR_EPARSE;
                i++;
            }
            if (fr_buf_add(&b->sbuf, p + s, i - s))
                return FR_ENOMEM;
        }
        starts[*nf] = at;
        lens[*nf] = b->sbuf.len - at;
        quoted[*nf] = q;
        (*nf)++;
        if (i < n && p[i] == ',') {
            i++;
            continue;
        }
        return 0;
    }
}

/* Text s[n] as a value of type t.  0 or FR_ETYPE. */
static int typed(const char *s, size_t n, int quoted, fr_type_t t, fr_value_t *v)
{
    if (!n && !quoted) {
        *v = (fr_value_t){.type = FR_T_NULL};
        return 0;
    }
    char tmp[64];
    switch (t) {
    case FR_T_LONG: {
        if (n >= sizeof tmp)
            return FR_ETYPE;
        memcpy(tmp, s, n);
        tmp[n] = 0;
        char *end;
        errno = 0;
        long long x = strtoll(tmp, &end, 10);
        if (errno || end == tmp || *end)
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_LONG, .u.i = x};
        return 0;
    }
    case FR_T_DOUBLE: {
        if (n >= sizeof tmp)
            return FR_ETYPE;
        memcpy(tmp, s, n);
        tmp[n] = 0;
        char *end;
        errno = 0;
        double x = strtod(tmp, &end);
        if (errno || end == tmp || *end || !isfinite(x))
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_DOUBLE, .u.d = x};
        return 0;
    }
    case FR_T_BOOL:
        if (n == 4 && !memcmp(s, "true", 4))
            *v = (fr_value_t){.type = FR_T_BOOL, .u.b = true};
        else if (n == 5 && !memcmp(s, "false", 5))
            *v = (fr_value_t){.type = FR_T_BOOL, .u.b = false};
        else
            return FR_ETYPE;
        return 0;
    default:
        *v = (fr_value_t){.type = FR_T_STRING, .u.s = s, .len = (uint32_t)n};
        return 0;
    }
}

/* A JSON value as a value of type t (FR_T_NULL: any, kept as it comes). */
static int typed_json(json_t *j, fr_type_t t, fr_value_t *v)
{
    if (!j || json_is_null(j)) {
        *v = (fr_value_t){.type = FR_T_NULL};
        return 0;
    }
    if (json_is_string(j)) {
        if (t != FR_T_STRING && t != FR_T_NULL)
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_STRING,
                          .u.s = json_string_value(j),
                          .len = (uint32_t)json_string_length(j)};
        return 0;
    }
    if (json_is_boolean(j)) {
        if (t != FR_T_BOOL && t != FR_T_NULL)
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_BOOL, .u.b = json_is_true(j)};
        return 0;
    }
    if (json_is_integer(j) && (t == FR_T_LONG || t == FR_T_NULL)) {
        *v = (fr_value_t){.type = FR_T_LONG, .u.i = json_integer_value(j)};
        return 0;
    }
    if (json_is_number(j) && (t == FR_T_DOUBLE || t == FR_T_NULL)) {
        *v = (fr_value_t){.type = FR_T_DOUBLE, .u.d = json_number_value(j)};
        return 0;
    }
    if (json_is_real(j) && t == FR_T_LONG) {
        double d = json_real_value(j);
        if (d == floor(d) && fabs(d) < 9.2e18) {
            *v = (fr_value_t){.type = FR_T_LONG, .u.i = (int64_t)d};
            return 0;
        }
    }
    return FR_ETYPE;
}

/* Reads file row fr into b->svals and b->t.  0; 1 (bad, warned); or an error. */
static int load_frow(tb_t *b, const frow_t *fr, json_t **jdoc)
{
    fr_buf_reset(&b->sbuf);
    char *p = malloc(fr->len + 1);
    if (!p)
        return FR_ENOMEM;
    if (fseeko(b->spine, (off_t)fr->off, SEEK_SET) || fread(p, 1, fr->len, b->spine) != fr->len) {
        free(p);
        return failf(b, FR_EIO, "%s: cannot read back row at line %u", b->o->spine_path,
                     fr->line);
    }
    p[fr->len] = 0;
    int rc = 0;
    if (b->spine_ndjson) {
        json_error_t je;
        json_decref(*jdoc);
        *jdoc = json_loadb(p, fr->len, JSON_REJECT_DUPLICATES, &je);
        if (!*jdoc || !json_is_object(*jdoc)) {
            free(p);
            return warn_row(b, fr->line, "not a JSON object") + 1;
        }
        for (size_t c = 0; c < b->ncols; c++) {
            if (typed_json(json_object_get(*jdoc, b->cols[c].name), b->cols[c].type,
                           &b->svals[c])) {
                char w[FR_CONFIG_MAX_NAME + 64];
                snprintf(w, sizeof w, "column '%s' is not a %s", b->cols[c].name,
                         fr_type_name(b->cols[c].type));
                free(p);
                return warn_row(b, fr->line, w) + 1;
            }
        }
    } else {
        size_t starts[MAX_SPINE_COLS], lens[MAX_SPINE_COLS], nf;
        int quoted[MAX_SPINE_COLS];
        rc = csv_split(b, p, fr->len, starts, lens, quoted, MAX_SPINE_COLS, &nf);
        if (rc == FR_ENOMEM) {
            free(p);
            return rc;
        }
        if (rc || nf != b->ncols) {
            char w[96];
            snprintf(w, sizeof w, rc ? "malformed CSV" : "%zu fields where the header has %zu",
                     nf, b->ncols);
            free(p);
            return warn_row(b, fr->line, w) + 1;
        }
        for (size_t c = 0; c < nf; c++)
            if (typed(b->sbuf.p + starts[c], lens[c], quoted[c], b->cols[c].type, &b->svals[c])) {
                char w[FR_CONFIG_MAX_NAME + 64];
                snprintf(w, sizeof w, "column '%s' is not a %s", b->cols[c].name,
                         fr_type_name(b->cols[c].type));
                free(p);
                return warn_row(b, fr->line, w) + 1;
            }
    }
    free(p);
    b->t = fr->t;
    return 0;
}

static int cmp_frow(const void *a, const void *c, void *by_arrival)
{
    const frow_t *x = a, *y = c;
    if (*(const int *)by_arrival && x->arr != y->arr)
        return x->arr < y->arr ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The declared type of a column named name (the first source declaring a
 * field of that name), or FR_T_NULL. */
static fr_type_t declared(const fr_config_t *cfg, const char *name)
{
    for (size_t s = 0; s < cfg->nsources; s++) {
        int f = fr_source_field_index(&cfg->sources[s], name);
        if (f >= 0)
            return cfg->sources[s].fields[f].type;
    }
    return FR_T_NULL;
}

/* Reads the spine file's header and indexes its rows by time. */
static int index_spine(tb_t *b)
{
    const char *path = b->o->spine_path;
    size_t pl = strlen(path);
    b->spine_ndjson = (pl > 7 && !strcmp(path + pl - 7, ".ndjson")) ||
                      (pl > 6 && !strcmp(path + pl - 6, ".jsonl")) ||
                      (pl > 5 && !strcmp(path + pl - 5, ".json"));
    b->spine = fopen(path, "rb");
    if (!b->spine)
        return failf(b, -errno, "%s: %s", path, strerror(errno));
    fr_buf_t rec;
    fr_buf_init(&rec, MAX_SPINE_RECORD);
    int rc = 0;
    uint64_t off = 0, line = 0, order = 0;
    size_t cap = 0;
    int header = !b->spine_ndjson;
    json_t *first = NULL;
    for (;;) {
        /* one record: a line, or (CSV) lines joined while a quote is open */
        fr_buf_reset(&rec);
        uint64_t start = off;
        uint32_t start_line = (uint32_t)(line + 1);
        int in_q = 0, got = 0, c;
        while ((c = getc(b->spine)) != EOF) {
            got = 1;
            off++;
            if (c == '"' && !b->spine_ndjson)
                in_q = !in_q;
            if (c == '\n') {
                line++;
                if (!in_q)
                    break;
            }
            if (fr_buf_addc(&rec, (char)c)) {
                rc = failf(b, FR_ELIMIT, "%s:%" PRIu64 ": a row longer than %zu bytes", path,
                           line + 1, MAX_SPINE_RECORD);
                goto out;
            }
        }
        if (!got)
            break;
        size_t n = rec.len;
        while (n && (rec.p[n - 1] == '\r' || rec.p[n - 1] == ' ' || rec.p[n - 1] == '\t'))
            n--;
        if (!n)
            continue; /* blank */
        if (header) {
            size_t starts[MAX_SPINE_COLS], lens[MAX_SPINE_COLS], nf;
            int quoted[MAX_SPINE_COLS];
            rc = csv_split(b, rec.p, n, starts, lens, quoted, MAX_SPINE_COLS, &nf);
            if (rc) {
                rc = failf(b, FR_EINVAL, "%s:%u: the header is not a CSV record of at most %d "
                                         "names",
                           path, start_line, MAX_SPINE_COLS);
                goto out;
            }
            b->colnames = calloc(nf, sizeof *b->colnames);
            b->cols = calloc(nf, sizeof *b->cols);
            if (!b->colnames || !b->cols) {
                rc = FR_ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < nf; i++) {
                b->colnames[i] = strndup(b->sbuf.p + starts[i], lens[i]);
                if (!b->colnames[i]) {
                    rc = FR_ENOMEM;
                    goto out;
                }
                b->ncols++;
            }
            header = 0;
            continue;
        }
        if (b->spine_ndjson && !b->cols) {
            json_error_t je;
            first = json_loadb(rec.p, n, JSON_REJECT_DUPLICATES, &je);
            if (!first || !json_is_object(first) || json_object_size(first) > MAX_SPINE_COLS) {
                rc = failf(b, FR_EINVAL, "%s:%u: the first row is not a JSON object of at most "
                                         "%d fields",
                           path, start_line, MAX_SPINE_COLS);
                goto out;
            }
            size_t nf = json_object_size(first);
            b->colnames = calloc(nf ? nf : 1, sizeof *b->colnames);
            b->cols = calloc(nf ? nf : 1, sizeof *b->cols);
            if (!b->colnames || !b->cols) {
                rc = FR_ENOMEM;
                goto out;
            }
            const char *k;
            json_t *v;
            json_object_foreach(first, k, v)
            {
                (void)v;
                b->colnames[b->ncols] = strdup(k);
                if (!b->colnames[b->ncols]) {
                    rc = FR_ENOMEM;
                    goto out;
                }
                b->ncols++;
            }
        }
        if (b->nfrows == cap) {
            cap = cap ? cap * 2 : 1024;
            frow_t *f = realloc(b->frows, cap * sizeof *f);
            if (!f) {
                rc = FR_ENOMEM;
                goto out;
            }
            b->frows = f;
        }
        frow_t *fr = &b->frows[b->nfrows++];
        *fr = (frow_t){.t = INT64_MIN, .order = order++, .off = start, .len = (uint32_t)n,
                       .line = start_line};
    }
    if (!b->cols) {
        rc = failf(b, FR_EINVAL, "%s: empty: expected a header row and rows", path);
        goto out;
    }
    b->ts_col = -1;
    for (size_t i = 0; i < b->ncols; i++) {
        b->cols[i].name = b->colnames[i];
        b->cols[i].type = !strcmp(b->colnames[i], "ts") ? FR_T_LONG
                                                        : declared(b->cfg, b->colnames[i]);
        if (!strcmp(b->colnames[i], "ts"))
            b->ts_col = (int)i;
    }
    if (b->ts_col < 0) {
        rc = failf(b, FR_EINVAL, "%s: no 'ts' column (the row's time, epoch ms)", path);
        goto out;
    }
    b->arr_col = -1;
    if (b->o->arrival_col) {
        for (size_t i = 0; i < b->ncols; i++)
            if (!strcmp(b->colnames[i], b->o->arrival_col)) {
                b->arr_col = (int)i;
                b->cols[i].type = FR_T_LONG;
            }
        if (b->arr_col < 0) {
            rc = failf(b, FR_EINVAL, "%s: no '%s' column (the rows' arrival times)", path,
                       b->o->arrival_col);
            goto out;
        }
    }
    b->svals = calloc(b->ncols, sizeof *b->svals);
    if (!b->svals) {
        rc = FR_ENOMEM;
        goto out;
    }
    /* every row's time, then time order */
    json_t *doc = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < b->nfrows; i++) {
        frow_t fr = b->frows[i];
        fr.t = 0;
        int r = load_frow(b, &fr, &doc);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r)
            continue;
        const fr_value_t *tv = &b->svals[b->ts_col];
        if (tv->type != FR_T_LONG || tv->u.i < FR_TS_MIN_MS || tv->u.i > FR_TS_MAX_MS) {
            warn_row(b, fr.line, "ts is not a time in epoch ms within the accepted range");
            continue;
        }
        fr.t = tv->u.i;
        fr.arr = 0;
        if (b->arr_col >= 0) {
            const fr_value_t *av = &b->svals[b->arr_col];
            if (av->type != FR_T_LONG) {
                warn_row(b, fr.line, "the arrival column is not a time in epoch ms");
                continue;
            }
            fr.arr = av->u.i;
        }
        b->frows[kept++] = fr;
    }
    json_decref(doc);
    b->nfrows = kept;
    if (!rc) {
        /* time order (event_time), or arrival order */
        int by_arrival = b->point == FR_POINT_ARRIVAL;
        qsort_r(b->frows, b->nfrows, sizeof *b->frows, cmp_frow, &by_arrival);
        int64_t m = INT64_MAX;
        for (size_t i = b->nfrows; i-- > 0;) {
            if (b->frows[i].t < m)
                m = b->frows[i].t;
            b->frows[i].tmin = m;
        }
    }
out:
    json_decref(first);
    fr_buf_destroy(&rec);
    return rc;
}

/*
 * Computes the spine file rows whose time the history has passed: at
 * event time, those with t below the features' frontier; at arrival, those
 * that arrived before next_time (the arrival time of the history's next
 * event, INT64_MAX at its end).
 */
static int file_rows(tb_t *b, int at_end, int64_t next_time)
{
    int64_t ff = feat_frontier(b, at_end);
    json_t *doc = NULL;
    int rc = 0;
    while (b->fnext < b->nfrows &&
           (at_end || (b->point == FR_POINT_ARRIVAL ? b->frows[b->fnext].arr <= next_time
                                                    : b->frows[b->fnext].t < ff))) {
        const frow_t *fr = &b->frows[b->fnext++];
        int r = load_frow(b, fr, &doc);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r)
            continue;
        if (b->o->own_after_arrival)
            b->own_after = fr->arr;
        rc = spine_row(b, fr->order, NULL);
        b->own_after = INT64_MAX;
        if (rc)
            break;
    }
    json_decref(doc);
    return rc;
}

/* Copies the parked rows to the output in file order. */
static int unpark(tb_t *b, uint64_t nrows)
{
    fflush(b->tmp);
    char *p = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < nrows; i++) {
        if (!(b->tidx[i] & 1))
            continue;
        size_t n = b->tlen[i];
        if (n > cap) {
            char *q = realloc(p, n);
            if (!q) {
                free(p);
                return FR_ENOMEM;
            }
            p = q;
            cap = n;
        }
        if (fseeko(b->tmp, (off_t)(b->tidx[i] >> 1), SEEK_SET) || fread(p, 1, n, b->tmp) != n) {
            free(p);
            return failf(b, FR_EIO, "reading a temporary file back: %s", strerror(errno));
        }
        int rc = out_text(b, p, n);
        if (rc) {
            free(p);
            return rc;
        }
    }
    free(p);
    return 0;
}

/* ---- set-up ----------------------------------------------------------------------------- */

static int col_of(const tb_t *b, const char *name)
{
    for (size_t i = 0; i < b->ncols; i++)
        if (!strcmp(b->cols[i].name, name))
            return (int)i;
    return -1;
}

static int add_oc(tb_t *b, okind_t k, int a, int c)
{
    ocol_t *o = realloc(b->oc, (b->noc + 1) * sizeof *o);
    if (!o)
        return FR_ENOMEM;
    b->oc = o;
    b->oc[b->noc++] = (ocol_t){.kind = k, .a = a, .b = c};
    return 0;
}

/* The same for a column of the features list. */
static int add_feature_oc(tb_t *b, okind_t k, int a, int c)
{
    int rc = add_oc(b, k, a, c);
    if (!rc)
        b->oc[b->noc - 1].feature = 1;
    return rc;
}

/* Describes the columns to the row sink. */
static int describe(tb_t *b)
{
    if (!b->o->header)
        return 0;
    fr_tset_col_t *cols = calloc(b->noc, sizeof *cols);
    char (*names)[2 * FR_CONFIG_MAX_NAME + 8] = calloc(b->noc, sizeof *names);
    int rc = FR_ENOMEM;
    if (cols && names) {
        for (size_t i = 0; i < b->noc; i++) {
            const ocol_t *c = &b->oc[i];
            fr_tset_col_t *d = &cols[i];
            const char *n = col_name(b, c, names[i], sizeof names[i]);
            if (n != names[i])
                snprintf(names[i], sizeof names[i], "%s", n);
            d->name = names[i];
            switch (c->kind) {
            case O_COL:
                d->role = c->feature ? FR_TSC_FEATURE : FR_TSC_OTHER;
                d->type = b->cols[c->a].type;
                break;
            case O_TS:
                d->role = FR_TSC_TS;
                d->type = FR_T_LONG;
                break;
            case O_LABEL:
                d->role = FR_TSC_LABEL;
                d->type = b->ts->label.type;
                break;
            case O_OD:
                d->role = FR_TSC_FEATURE;
                d->type = b->cfg->ondemand[c->a].type;
                break;
            default:
                d->role = FR_TSC_FEATURE;
                d->type = fr_view_feature_type(b->cfg, &b->cfg->views[b->v[c->a].view],
                                               (size_t)c->b);
                break;
            }
        }
        rc = b->o->header(b->o->row_ctx, cols, b->noc);
    }
    free(cols);
    free(names);
    return rc;
}

/* The vrt of configured view vi (added on first use). */
static int vrt_of(tb_t *b, int vi)
{
    for (size_t i = 0; i < b->nv; i++)
        if (b->v[i].view == vi)
            return (int)i;
    const fr_view_spec_t *vw = &b->cfg->views[vi];
    vrt_t *v = &b->v[b->nv];
    memset(v, 0, sizeof *v);
    v->view = vi;
    v->plan = &vw->plan;
    v->name = vw->name;
    v->source = vw->source;
    v->entity = vw->entity;
    v->filter = &vw->filter;
    v->wmax = fr_agg_plan_horizon_ms(&vw->plan);
    v->running = b->point == FR_POINT_ARRIVAL;
    v->nfeat = vw->naggs * vw->nwindows;
    v->used = 1;
    v->spine_col = col_of(b, b->cfg->sources[vw->source].fields[vw->entity].name);
    fr_map_init(&v->map);
    v->out = calloc(v->nfeat, sizeof *v->out);
    if (!v->out)
        return -1;
    return (int)b->nv++;
}

static int setup(tb_t *b)
{
    const fr_config_t *cfg = b->cfg;
    const fr_tset_spec_t *ts = b->ts;
    size_t ns = cfg->nsources ? cfg->nsources : 1;
    b->need = calloc(ns, 1);
    b->ident = calloc(ns, sizeof *b->ident);
    b->dvals = calloc(FR_CONFIG_MAX_FIELDS, sizeof *b->dvals);
    b->v = calloc(cfg->nviews + 1, sizeof *b->v);
    if (!b->need || !b->ident || !b->dvals || !b->v)
        return FR_ENOMEM;
    for (size_t s = 0; s < cfg->nsources; s++)
        if (fr_record_proj_identity(&b->ident[s], &cfg->sources[s]))
            return FR_ENOMEM;
    if (b->spine_src >= 0) {
        const fr_source_spec_t *sp = &cfg->sources[b->spine_src];
        b->cols = calloc(sp->nfields, sizeof *b->cols);
        b->svals = calloc(sp->nfields, sizeof *b->svals);
        if (!b->cols || !b->svals)
            return FR_ENOMEM;
        for (size_t f = 0; f < sp->nfields; f++)
            b->cols[f] = (scol_t){.name = sp->fields[f].name, .type = sp->fields[f].type};
        b->ncols = sp->nfields;
    }
    /* the views, and the columns they read */
    for (size_t i = 0; i < ts->nfeatures; i++)
        if (ts->features[i].view >= 0 && vrt_of(b, ts->features[i].view) < 0)
            return FR_ENOMEM;
    b->lab = -1;
    const fr_label_spec_t *lb = &ts->label;
    if (lb->kind == FR_LABEL_WINDOW) {
        vrt_t *v = &b->v[b->nv];
        memset(v, 0, sizeof *v);
        v->view = -1;
        v->plan = &lb->plan;
        v->name = "label";
        v->source = lb->source;
        v->entity = lb->entity;
        v->filter = &lb->filter;
        v->wmax = lb->window_ms;
        v->nfeat = 1;
        v->spine_col = -1;
        fr_map_init(&v->map);
        v->out = calloc(1, sizeof *v->out);
        if (!v->out)
            return FR_ENOMEM;
        b->lab = (int)b->nv++;
    }
    /* on-demand features and what they read */
    if (cfg->nondemand) {
        b->od_need = calloc(cfg->nondemand, 1);
        b->od_slot = calloc(cfg->nondemand, sizeof *b->od_slot);
        b->odvals = calloc(cfg->nondemand, sizeof *b->odvals);
        size_t most = 1;
        for (size_t i = 0; i < cfg->nondemand; i++)
            if (cfg->ondemand[i].nrefs > most)
                most = cfg->ondemand[i].nrefs;
        b->odin = calloc(most, sizeof *b->odin);
        if (!b->od_need || !b->od_slot || !b->odvals || !b->odin)
            return FR_ENOMEM;
        for (size_t i = 0; i < ts->nfeatures; i++)
            if (ts->features[i].kind == FR_TSF_ONDEMAND)
                b->od_need[ts->features[i].ondemand] = 1;
        /* later entries read only earlier ones: one pass downwards marks all */
        for (size_t i = cfg->nondemand; i-- > 0;) {
            if (!b->od_need[i])
                continue;
            const fr_ondemand_spec_t *od = &cfg->ondemand[i];
            b->od_slot[i] = calloc(od->nrefs ? od->nrefs : 1, sizeof **b->od_slot);
            if (!b->od_slot[i])
                return FR_ENOMEM;
            for (size_t r = 0; r < od->nrefs; r++) {
                const fr_ondemand_ref_t *ref = &od->refs[r];
                if (ref->kind == FR_REF_ONDEMAND) {
                    b->od_need[ref->ondemand] = 1;
                } else if (ref->kind == FR_REF_FEATURE) {
                    int vi = vrt_of(b, ref->view);
                    if (vi < 0)
                        return FR_ENOMEM;
                    b->od_slot[i][r] = vi;
                } else {
                    b->od_slot[i][r] = col_of(b, ref->name);
                }
            }
        }
    }
    /* columns: entity keys, ts, pass-through, features, on-demand, label */
    uint8_t *used = calloc(b->ncols ? b->ncols : 1, 1);
    if (!used)
        return FR_ENOMEM;
    int rc = 0;
    const char *label_col = lb->kind == FR_LABEL_JOIN ? cfg->sources[lb->source].fields[lb->key].name
                            : lb->kind == FR_LABEL_WINDOW
                                ? cfg->sources[lb->source].fields[lb->entity].name
                                : NULL;
    b->lkey_col = label_col ? col_of(b, label_col) : -1;
    if (label_col && b->lkey_col < 0)
        rc = failf(b, FR_EINVAL, "the spine has no column '%s' (the label's %s)", label_col,
                   lb->kind == FR_LABEL_JOIN ? "key" : "entity");
    for (size_t i = 0; !rc && i < b->nv; i++) {
        const vrt_t *v = &b->v[i];
        if (v->view < 0)
            continue;
        const char *en = cfg->sources[v->source].fields[v->entity].name;
        if (v->spine_col < 0) {
            rc = failf(b, FR_EINVAL, "the spine has no column '%s' (view %s's entity)", en,
                       v->name);
            break;
        }
        if (!used[v->spine_col]) {
            used[v->spine_col] = 1;
            rc = add_oc(b, O_COL, v->spine_col, 0);
        }
    }
    if (!rc && lb->kind == FR_LABEL_WINDOW && !used[b->lkey_col]) {
        used[b->lkey_col] = 1;
        rc = add_oc(b, O_COL, b->lkey_col, 0);
    }
    rc = rc ? rc : add_oc(b, O_TS, 0, 0);
    if (!rc && b->spine_src < 0) {
        used[b->ts_col] = 1;
        for (size_t c = 0; !rc && c < b->ncols; c++)
            if (!used[c]) {
                used[c] = 1;
                rc = add_oc(b, O_COL, (int)c, 0);
            }
    } else if (!rc && lb->kind == FR_LABEL_JOIN && !used[b->lkey_col]) {
        used[b->lkey_col] = 1;
        rc = add_oc(b, O_COL, b->lkey_col, 0);
    }
    for (size_t i = 0; !rc && i < ts->nfeatures; i++) {
        const fr_tsf_spec_t *f = &ts->features[i];
        if (f->kind == FR_TSF_VIEW) {
            int vi = vrt_of(b, f->view);
            for (size_t k = 0; !rc && k < b->v[vi].nfeat; k++)
                rc = add_feature_oc(b, O_FEAT, vi, (int)k);
        } else if (f->kind == FR_TSF_FEATURE) {
            rc = add_feature_oc(b, O_FEAT, vrt_of(b, f->view), f->feature);
        } else if (f->kind == FR_TSF_FIELD) {
            int c = col_of(b, f->name);
            if (c < 0)
                rc = failf(b, FR_EINVAL, "the spine has no column '%s' (a feature)", f->name);
            else
                rc = add_feature_oc(b, O_COL, c, 0);
        }
    }
    for (size_t i = 0; !rc && i < ts->nfeatures; i++)
        if (ts->features[i].kind == FR_TSF_ONDEMAND)
            rc = add_feature_oc(b, O_OD, ts->features[i].ondemand, 0);
    if (!rc && lb->kind != FR_LABEL_NONE)
        rc = add_oc(b, O_LABEL, 0, 0);
    free(used);
    return rc;
}

static void teardown(tb_t *b)
{
    for (size_t i = 0; b->v && i < b->nv; i++) {
        vrt_t *v = &b->v[i];
        for (size_t k = 0; k < v->map.cap; k++)
            if (v->map.slots[k].hash)
                ent_free(v->map.slots[k].value);
        fr_map_destroy(&v->map);
        fr_agg_state_free(v->tmp);
        free(v->out);
    }
    free(b->v);
    for (size_t k = 0; k < b->lmap.cap; k++)
        if (b->lmap.slots[k].hash) {
            lvec_t *lv = b->lmap.slots[k].value;
            free(lv->ts);
            free(lv->v);
            free(lv);
        }
    fr_map_destroy(&b->lmap);
    for (size_t i = 0; i < b->flen; i++)
        prow_free(b->fifo[(b->fhead + i) % b->fcap]);
    free(b->fifo);
    if (b->spine_src < 0) {
        /* pending file rows live in the heaps only */
        for (size_t i = 0; i < b->hfeat.n; i++)
            if (!b->hfeat.a[i]->need_label)
                prow_free(b->hfeat.a[i]);
        for (size_t i = 0; i < b->hlab.n; i++)
            prow_free(b->hlab.a[i]);
    }
    free(b->hfeat.a);
    free(b->hlab.a);
    if (b->ident)
        for (size_t s = 0; s < b->cfg->nsources; s++)
            fr_record_proj_destroy(&b->ident[s]);
    free(b->ident);
    free(b->need);
    free(b->dvals);
    for (size_t i = 0; b->od_slot && i < b->cfg->nondemand; i++)
        free(b->od_slot[i]);
    free(b->od_slot);
    free(b->od_need);
    free(b->odvals);
    free(b->odin);
    free(b->oc);
    free(b->svals);
    free(b->cols);
    for (size_t i = 0; b->colnames && i < b->ncols; i++)
        free(b->colnames[i]);
    free(b->colnames);
    free(b->frows);
    free(b->tidx);
    free(b->tlen);
    if (b->spine)
        fclose(b->spine);
    if (b->tmp)
        fclose(b->tmp);
    fr_buf_destroy(&b->row);
    fr_buf_destroy(&b->sbuf);
}

/* ---- the build ------------------------------------------------------------------------ */

int fr_tset_build(const fr_config_t *cfg, const fr_tset_opts_t *o, fr_tset_summary_t *sum,
                  char *err, size_t errlen)
{
    memset(sum, 0, sizeof *sum);
    sum->cutoff_ms = INT64_MIN;
    if (err && errlen)
        err[0] = 0;
    tb_t b;
    memset(&b, 0, sizeof b);
    b.cfg = cfg;
    b.o = o;
    b.ts = &cfg->tsets[o->tset];
    b.arr_col = -1;
    if (o->no_label) {
        b.tcopy = *b.ts;
        b.tcopy.label.kind = FR_LABEL_NONE;
        b.ts = &b.tcopy;
    }
    b.sum = sum;
    b.err = err;
    b.errlen = errlen;
    b.spine_src = o->spine_path ? -1 : b.ts->spine;
    b.point = !o->spine_path                         ? b.ts->point
              : o->arrival_col && !o->own_after_arrival ? FR_POINT_ARRIVAL
                                                       : FR_POINT_EVENT_TIME;
    b.own_after = INT64_MAX;
    b.hlab.label = 1;
    b.cutoff = o->has_cutoff ? o->cutoff_ms : INT64_MIN;
    b.label_newest = INT64_MIN;
    fr_map_init(&b.lmap);
    fr_buf_init(&b.row, MAX_ROW_BYTES);
    fr_buf_init(&b.sbuf, MAX_SPINE_RECORD);
    fr_history_t *h = NULL;
    int rc = 0;
    if (b.spine_src < 0 && !o->spine_path) {
        rc = failf(&b, FR_EINVAL, "training set %s has no spine source: give --spine FILE",
                   b.ts->name);
        goto out;
    }
    if (o->spine_path) {
        rc = index_spine(&b);
        if (rc)
            goto out;
        b.tidx = calloc(b.nfrows + b.sum->bad_rows + 1, sizeof *b.tidx);
        b.tlen = calloc(b.nfrows + b.sum->bad_rows + 1, sizeof *b.tlen);
        b.tmp = tmpfile();
        if (!b.tidx || !b.tlen || !b.tmp) {
            rc = b.tmp ? FR_ENOMEM : failf(&b, -errno, "a temporary file: %s", strerror(errno));
            goto out;
        }
    }
    rc = setup(&b);
    if (rc) {
        if (rc == FR_ENOMEM && !err[0])
            failf(&b, rc, "out of memory");
        goto out;
    }
    if (b.ts->label.kind == FR_LABEL_JOIN) {
        rc = label_pass(&b);
        if (rc)
            goto out;
        if (!o->has_cutoff)
            b.cutoff = b.label_newest;
    }
    rc = describe(&b);
    if (rc) {
        failf(&b, rc, "%s", fr_strerror(rc));
        goto out;
    }
    rc = write_header(&b);
    if (rc) {
        failf(&b, rc, "writing the training set: %s", strerror(errno));
        goto out;
    }
    fr_tset_sources(cfg, o->tset, o->spine_path != NULL, b.need);
    fr_hist_input_t *in = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *in);
    if (!in) {
        rc = FR_ENOMEM;
        goto out;
    }
    for (size_t s = 0; s < cfg->nsources; s++)
        if (b.need[s])
            in[s] = o->inputs[s];
    fr_hist_opts_t ho = {.inputs = in,
                         .log = o->log,
                         .avro_lookup = o->avro_lookup,
                         .avro_ctx = o->avro_ctx,
                         .now_ms = o->now_ms};
    rc = fr_history_open(cfg, &ho, &h, err, errlen);
    free(in);
    if (rc)
        goto out;
    b.hist = h;
    uint64_t spine_order = 0;
    int stalls = 0;
    for (;;) {
        fr_hist_ev_t ev;
        rc = fr_history_next(h, &ev);
        if (rc == FR_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc == FR_EUNAVAIL && ++stalls < 300) {
            struct timespec d = {0, 100000000};
            nanosleep(&d, NULL);
            continue;
        }
        if (rc) {
            failf(&b, rc, "reading the history: %s%s%s", fr_strerror(rc),
                  fr_history_error(h)[0] ? ": " : "", fr_history_error(h));
            goto out;
        }
        stalls = 0;
        b.events++;
        if (b.spine_src < 0 && b.point == FR_POINT_ARRIVAL) {
            /* rows that arrived before this event: computed before it counts */
            rc = file_rows(&b, 0, ev.time);
            if (rc)
                goto fail_rc;
        }
        if (b.lab >= 0 && ev.source == b.ts->label.source && ev.ts > b.label_newest)
            b.label_newest = ev.ts;
        if (ev.source == b.spine_src && (!o->has_from || ev.ts >= o->from_ms) &&
            (!o->has_to || ev.ts < o->to_ms)) {
            /* the spine event: its row before it is applied */
            const fr_source_spec_t *sp = &cfg->sources[b.spine_src];
            memcpy(b.svals, ev.vals, sp->nfields * sizeof *b.svals);
            b.t = ev.ts;
            rc = spine_row(&b, spine_order++, &ev);
            if (rc)
                goto fail_rc;
        }
        rc = apply(&b, &ev);
        if (rc)
            goto fail_rc;
        if (b.spine_src < 0 && b.point == FR_POINT_EVENT_TIME)
            rc = file_rows(&b, 0, 0);
        rc = rc ? rc : advance(&b, 0);
        if (rc)
            goto fail_rc;
        if (o->progress && b.events % PROGRESS_EVERY == 0) {
            fr_hist_stats_t hs;
            fr_history_stats(h, &hs);
            o->progress(o->progress_ctx, "rows", hs.read, hs.total, sum->rows);
        }
    }
    if (b.lab >= 0 && !o->has_cutoff)
        b.cutoff = b.label_newest;
    if (b.spine_src < 0)
        rc = file_rows(&b, 1, INT64_MAX);
    rc = rc ? rc : advance(&b, 1);
    rc = rc ? rc : emit_ready(&b);
    if (!rc && b.spine_src < 0)
        rc = unpark(&b, b.nfrows + b.sum->bad_rows);
    if (!rc && fflush(o->out))
        rc = failf(&b, FR_EIO, "writing the training set: %s", strerror(errno));
fail_rc:
    if (rc && err && !err[0])
        failf(&b, rc, "%s", fr_strerror(rc));
out:
    if (h) {
        fr_hist_stats_t hs;
        fr_history_stats(h, &hs);
        sum->events = hs.given;
        sum->refused = hs.refused;
    }
    sum->cutoff_ms = b.ts->label.kind == FR_LABEL_NONE ? INT64_MIN : b.cutoff;
    fr_history_close(h);
    teardown(&b);
    return rc;
}
