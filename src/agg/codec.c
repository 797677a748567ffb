/*
 * codec.c - the stored form of an entity state, and evaluation straight
 * from it (the serving path: no allocation).
 *
 * Format, version 1, little-endian, varints LEB128, zz = zigzag varint:
 *
 *   u8 version | u64 plan fingerprint | zz newest | varint events
 *   per window of the plan, the live tiles in ascending order, by column:
 *     varint ntiles (<= W/g)
 *     idx:    varint tile(newest) - idx[0], then idx[i] - idx[i-1] (>= 1)
 *     count:  varint (>= 1)
 *     max_ts: varint newest - max_ts
 *     one column per aggregation (none for count and since_last):
 *       sum            zz (long) | u64 double bits
 *       avg            varint n [zz | u64]            (value only if n > 0)
 *       min, max       varint n [zz | u64]
 *       stddev         varint n [u64 sum, u64 sumsq]
 *       count_distinct varint k <= 32, k x u64 hash
 *                    | 33, varint n, n x (varint idx25 delta, u8 rank)  sparse
 *                    | 34, HLL_PACKED bytes of 6-bit registers        dense
 *       last           u8 0 | u8 1, varint max_ts - ts, varint offset,
 *                      value: string varint len + bytes | zz | u64 | u8
 *
 * Columns let the evaluator walk one aggregation at a time over a window
 * with one accumulator (and one 16 KiB register array), and compress well.
 * Every count and length is checked against the plan's limits and the bytes
 * left before anything is read or allocated; decoding refuses anything
 * apply could not have produced structurally (order, ranges, limits).
 */
#include <stdlib.h>
#include <string.h>

#include "agg/agg_int.h"
#include "core/err.h"

#define CODEC_VERSION 1
#define DC_TAG_SPARSE 33
#define DC_TAG_DENSE 34

static uint64_t zz_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t zz_dec(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

static uint64_t dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

static double bitsd(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* ---- encode ------------------------------------------------------------ */

/* A writer run twice: first with p NULL to count the exact size, then into
 * room reserved once in the output buffer. */
typedef struct wr {
    uint8_t *p;
    size_t n;
} wr_t;

static inline void w_u8(wr_t *w, uint8_t v)
{
    if (w->p)
        w->p[w->n] = v;
    w->n++;
}

static inline void w_u64(wr_t *w, uint64_t v)
{
    if (w->p)
        fr_store_u64(w->p + w->n, v);
    w->n += 8;
}

static inline void w_varint(wr_t *w, uint64_t v)
{
    if (!w->p) {
        do {
            w->n++;
            v >>= 7;
        } while (v);
        return;
    }
    while (v >= 0x80) {
        w->p[w->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->p[w->n++] = (uint8_t)v;
}

static inline void w_bytes(wr_t *w, const void *b, size_t n)
{
    if (w->p && n)
        memcpy(w->p + w->n, b, n);
    w->n += n;
}

static void w_num(wr_t *w, fr_type_t t, num_t v)
{
    if (t == FR_T_LONG)
        w_varint(w, zz_enc(v.i));
    else
        w_u64(w, dbits(v.d));
}

static void enc_dc(wr_t *w, const dc_cell_t *c)
{
    if (c->mode == DC_EXACT) {
        const uint64_t *set = c->cap ? c->u.set : &c->u.one;
        w_varint(w, c->n);
        for (uint32_t i = 0; i < c->n; i++)
            w_u64(w, set[i]);
    } else if (c->mode == DC_SPARSE) {
        w_varint(w, DC_TAG_SPARSE);
        w_varint(w, c->n);
        uint32_t prev = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            uint32_t idx = c->u.sp[i] >> 6;
            w_varint(w, i ? idx - prev : idx);
            w_u8(w, (uint8_t)(c->u.sp[i] & 63));
            prev = idx;
        }
    } else {
        w_varint(w, DC_TAG_DENSE);
        if (w->p)
            fr_hll_pack(w->p + w->n, c->u.regs);
        w->n += HLL_PACKED;
    }
}

static void enc_last(wr_t *w, const last_cell_t *c, fr_type_t t, int64_t max_ts)
{
    if (!c->lenx) {
        w_u8(w, 0);
        return;
    }
    w_u8(w, 1);
    w_varint(w, udist(max_ts, c->ts));
    w_varint(w, c->off);
    fr_value_t v = last_value(c, t);
    switch (t) {
    case FR_T_STRING:
        w_varint(w, v.len);
        w_bytes(w, v.u.s, v.len);
        break;
    case FR_T_LONG: w_varint(w, zz_enc(v.u.i)); break;
    case FR_T_DOUBLE: w_u64(w, dbits(v.u.d)); break;
    default: w_u8(w, v.u.b ? 1 : 0); break;
    }
}

static void enc_window(const fr_agg_state_t *st, const fr_agg_plan_t *plan, size_t w, wr_t *o)
{
    const fr_window_spec_t *ws = &plan->windows[w];
    const win_t *win = &st->win[w];
    const uint32_t rec = st->rec;
    uint32_t b = win->len, e = win->len;
    int64_t tnew = 0;
    if (st->events) {
        tnew = fr_floordiv(st->newest, ws->tile_ms);
        b = win_lower(win, rec, win_lo(tnew, win_tiles(ws)));
    }
    w_varint(o, e - b);
    int64_t prev = tnew;
    for (uint32_t i = b; i < e; i++) {
        int64_t idx = rec_hdr(win, i, rec)->idx;
        w_varint(o, i == b ? udist(tnew, idx) : udist(idx, prev));
        prev = idx;
    }
    for (uint32_t i = b; i < e; i++)
        w_varint(o, TILE_COUNT(rec_hdr(win, i, rec)));
    for (uint32_t i = b; i < e; i++)
        w_varint(o, udist(st->newest, rec_hdr(win, i, rec)->max_ts));
    size_t off = sizeof(tile_hdr_t);
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        for (uint32_t i = b; i < e; i++) {
            const uint8_t *cp = win_rec(win, i, rec) + off;
            switch (s->fn) {
            case FR_FN_SUM: w_num(o, s->type, ((const sum_cell_t *)(const void *)cp)->s); break;
            case FR_FN_AVG:
            case FR_FN_MIN:
            case FR_FN_MAX: {
                const nv_cell_t *c = (const nv_cell_t *)(const void *)cp;
                w_varint(o, c->n);
                if (c->n)
                    w_num(o, s->type, c->v);
                break;
            }
            case FR_FN_STDDEV: {
                const sd_cell_t *c = (const sd_cell_t *)(const void *)cp;
                w_varint(o, c->n);
                if (c->n) {
                    w_u64(o, dbits(c->s));
                    w_u64(o, dbits(c->sq));
                }
                break;
            }
            case FR_FN_COUNT_DISTINCT: enc_dc(o, (const dc_cell_t *)(const void *)cp); break;
            case FR_FN_LAST:
                enc_last(o, (const last_cell_t *)(const void *)cp, s->type,
                         rec_hdr(win, i, rec)->max_ts);
                break;
            default: break;
            }
        }
        off += cell_size(s->fn);
    }
}

static void enc_state(const fr_agg_state_t *st, const fr_agg_plan_t *plan, wr_t *o)
{
    w_u8(o, CODEC_VERSION);
    w_u64(o, plan->fingerprint);
    w_varint(o, zz_enc(st->newest));
    w_varint(o, st->events);
    for (size_t w = 0; w < plan->nwindows; w++)
        enc_window(st, plan, w, o);
}

int fr_agg_state_encode(const fr_agg_state_t *st, const fr_agg_plan_t *plan, fr_buf_t *out)
{
    FR_ASSERT(st->naggs == plan->naggs && st->nwin == plan->nwindows);
    wr_t w = {NULL, 0};
    enc_state(st, plan, &w);
    size_t n = w.n;
    int rc = fr_buf_reserve(out, n);
    if (rc)
        return rc;
    w.p = (uint8_t *)out->p + out->len;
    w.n = 0;
    enc_state(st, plan, &w);
    FR_ASSERT(w.n == n);
    out->len += n;
    out->p[out->len] = '\0';
    return 0;
}

/* ---- parsing (shared by decode and eval_encoded) ----------------------- */

typedef struct hdr {
    int64_t newest;
    uint64_t events;
} hdr_t;

static int parse_hdr(fr_rd_t *r, const fr_agg_plan_t *plan, hdr_t *h)
{
    uint8_t ver = fr_rd_u8(r);
    if (r->err || ver != CODEC_VERSION)
        return FR_ECORRUPT;
    uint64_t fp = fr_rd_u64(r);
    if (r->err)
        return FR_ECORRUPT;
    if (fp != plan->fingerprint)
        return FR_EMISMATCH;
    h->newest = zz_dec(fr_rd_varint(r));
    h->events = fr_rd_varint(r);
    if (r->err || (h->events == 0 && h->newest != INT64_MIN))
        return FR_ECORRUPT;
    return 0;
}

/* Reads ntiles and its columns' positions; checks the idx column. */
typedef struct wcols {
    uint64_t ntiles;
    fr_rd_t idx, count, maxts; /* readers positioned at each column */
} wcols_t;

static int parse_wcols(fr_rd_t *r, const fr_window_spec_t *ws, const hdr_t *h, wcols_t *c)
{
    c->ntiles = fr_rd_varint(r);
    /* Each tile takes at least one byte in each of three columns.  A state
     * with events always holds the tile of its newest event, last. */
    if (r->err || c->ntiles > (uint64_t)win_tiles(ws) || c->ntiles > (size_t)(r->end - r->p) / 3 ||
        (h->events == 0) != (c->ntiles == 0))
        return FR_ECORRUPT;
    int64_t tnew = c->ntiles ? fr_floordiv(h->newest, ws->tile_ms) : 0;
    uint64_t up = c->ntiles ? udist(tnew, win_lo(tnew, win_tiles(ws))) : 0;
    c->idx = *r;
    for (uint64_t i = 0; i < c->ntiles; i++) {
        uint64_t d = fr_rd_varint(r); /* up: distance from this tile to tnew */
        if (r->err || d > up || (i && d < 1))
            return FR_ECORRUPT;
        up = i ? up - d : d;
    }
    if (up != 0)
        return FR_ECORRUPT;
    c->count = *r;
    for (uint64_t i = 0; i < c->ntiles; i++)
        if (fr_rd_varint(r) < 1 || r->err)
            return FR_ECORRUPT;
    c->maxts = *r;
    uint64_t span = udist(h->newest, INT64_MIN);
    for (uint64_t i = 0; i < c->ntiles; i++) {
        uint64_t d = fr_rd_varint(r);
        if (r->err || d > span || (i + 1 == c->ntiles && d != 0))
            return FR_ECORRUPT;
    }
    return r->err ? FR_ECORRUPT : 0;
}

/* Next tile index from the idx column (already checked). */
static int64_t next_idx(fr_rd_t *ri, uint64_t i, int64_t *prev, int64_t tnew)
{
    uint64_t d = fr_rd_varint(ri);
    *prev = i ? (int64_t)((uint64_t)*prev + d) : (int64_t)((uint64_t)tnew - d);
    return *prev;
}

/* One parsed cell; pointers are views into the input. */
typedef struct cview {
    uint64_t n;
    num_t v;
    double s, sq;
    int dmode;
    uint32_t dn;
    const uint8_t *dp;
    size_t dlen;
    bool has;
    uint64_t dts;
    uint64_t off;
    fr_value_t val;
} cview_t;

static num_t get_num(fr_rd_t *r, fr_type_t t)
{
    num_t v;
    if (t == FR_T_LONG)
        v.i = zz_dec(fr_rd_varint(r));
    else
        v.d = bitsd(fr_rd_u64(r));
    return v;
}

static int parse_cell(fr_rd_t *r, const fr_agg_spec_t *s, uint64_t count, cview_t *c)
{
    switch (s->fn) {
    case FR_FN_SUM:
        c->n = 0;
        c->v = get_num(r, s->type);
        break;
    case FR_FN_AVG:
    case FR_FN_MIN:
    case FR_FN_MAX:
        c->n = fr_rd_varint(r);
        if (c->n > count)
            return FR_ECORRUPT;
        if (c->n)
            c->v = get_num(r, s->type);
        else if (s->type == FR_T_DOUBLE)
            c->v.d = 0.0;
        else
            c->v.i = 0;
        break;
    case FR_FN_STDDEV:
        c->n = fr_rd_varint(r);
        if (c->n > count)
            return FR_ECORRUPT;
        c->s = c->n ? bitsd(fr_rd_u64(r)) : 0.0;
        c->sq = c->n ? bitsd(fr_rd_u64(r)) : 0.0;
        break;
    case FR_FN_COUNT_DISTINCT: {
        uint64_t k = fr_rd_varint(r);
        if (r->err)
            return FR_ECORRUPT;
        if (k <= FR_AGG_DISTINCT_EXACT) {
            if (k > count)
                return FR_ECORRUPT;
            c->dmode = DC_EXACT;
            c->dn = (uint32_t)k;
            c->dlen = (size_t)k * 8;
            c->dp = fr_rd_bytes(r, c->dlen);
        } else if (k == DC_TAG_SPARSE) {
            uint64_t n = fr_rd_varint(r);
            if (r->err || n < 1 || n > DC_SPARSE_MAX || n > count)
                return FR_ECORRUPT;
            c->dmode = DC_SPARSE;
            c->dn = (uint32_t)n;
            c->dp = r->p;
            uint64_t idx = 0;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t d = fr_rd_varint(r);
                uint8_t rank = fr_rd_u8(r);
                idx += d;
                if (r->err || (i && d < 1) || idx >= (1u << HLL_SP) || rank < 1 ||
                    rank > HLL_SP_MAXRANK)
                    return FR_ECORRUPT;
            }
            c->dlen = (size_t)(r->p - c->dp);
        } else if (k == DC_TAG_DENSE) {
            c->dmode = DC_DENSE;
            c->dn = 0;
            c->dlen = HLL_PACKED;
            c->dp = fr_rd_bytes(r, HLL_PACKED);
        } else {
            return FR_ECORRUPT;
        }
        break;
    }
    case FR_FN_LAST: {
        uint8_t tag = fr_rd_u8(r);
        if (r->err || tag > 1)
            return FR_ECORRUPT;
        c->has = tag == 1;
        c->val.type = FR_T_NULL;
        if (!c->has)
            break;
        c->dts = fr_rd_varint(r);
        c->off = fr_rd_varint(r);
        c->val.type = s->type;
        switch (s->type) {
        case FR_T_STRING: {
            uint64_t len = fr_rd_varint(r);
            if (r->err || len > FR_AGG_MAX_STRING)
                return FR_ECORRUPT;
            c->val.len = (uint32_t)len;
            c->val.u.s = fr_rd_bytes(r, (size_t)len);
            break;
        }
        case FR_T_LONG: c->val.u.i = zz_dec(fr_rd_varint(r)); break;
        case FR_T_DOUBLE: c->val.u.d = bitsd(fr_rd_u64(r)); break;
        default: {
            uint8_t b = fr_rd_u8(r);
            if (b > 1)
                return FR_ECORRUPT;
            c->val.u.b = b == 1;
            break;
        }
        }
        break;
    }
    default: break;
    }
    return r->err ? FR_ECORRUPT : 0;
}

/* Walks a sparse list from an already checked view. */
static void sparse_each(const cview_t *c, void (*fn)(void *, uint32_t), void *arg)
{
    fr_rd_t r;
    fr_rd_init(&r, c->dp, c->dlen);
    uint32_t idx = 0;
    for (uint32_t i = 0; i < c->dn; i++) {
        idx += (uint32_t)fr_rd_varint(&r);
        fn(arg, idx << 6 | fr_rd_u8(&r));
    }
}

/* ---- eval_encoded ------------------------------------------------------ */

static void dacc_sp_cb(void *arg, uint32_t e)
{
    dacc_add_sp(arg, e);
}

/* Accumulates one parsed cell into a window accumulator. */
static int acc_view(const fr_agg_spec_t *s, const cview_t *c, acc_t *x, dacc_t *d, fr_value_t *last)
{
    switch (s->fn) {
    case FR_FN_SUM: acc_sum(x, s->type, 0, c->v); break;
    case FR_FN_AVG: acc_sum(x, s->type, c->n, c->v); break;
    case FR_FN_MIN:
    case FR_FN_MAX: acc_ext(x, s->type, s->fn == FR_FN_MAX, c->n, c->v); break;
    case FR_FN_STDDEV: acc_sd(x, c->n, c->s, c->sq); break;
    case FR_FN_COUNT_DISTINCT:
        if (c->dmode == DC_EXACT) {
            for (uint32_t k = 0; k < c->dn; k++)
                dacc_add(d, fr_load_u64(c->dp + 8 * k));
        } else if (c->dmode == DC_SPARSE) {
            sparse_each(c, dacc_sp_cb, d);
        } else {
            dacc_to_dense(d);
            if (!fr_hll_merge_packed(d->regs, c->dp, NULL))
                return FR_ECORRUPT;
        }
        break;
    case FR_FN_LAST:
        if (c->has)
            *last = c->val;
        break;
    default: break;
    }
    return 0;
}

static int eval_window(fr_rd_t *r, const fr_agg_plan_t *plan, size_t w, const hdr_t *h, int64_t t,
                       fr_value_t *out, uint32_t *slots, uint8_t *regs)
{
    const fr_window_spec_t *ws = &plan->windows[w];
    const size_t nw = plan->nwindows;
    wcols_t wc;
    int rc = parse_wcols(r, ws, h, &wc);
    if (rc)
        return rc;
    /* In-range tiles are the positions [b, e). */
    int64_t hi = fr_floordiv(t, ws->tile_ms);
    int64_t lo = win_lo(hi, win_tiles(ws));
    int64_t tnew = wc.ntiles ? fr_floordiv(h->newest, ws->tile_ms) : 0, prev = 0;
    uint64_t b = wc.ntiles, e = wc.ntiles;
    for (uint64_t i = 0; i < wc.ntiles; i++) {
        int64_t idx = next_idx(&wc.idx, i, &prev, tnew);
        if (idx >= lo && b == wc.ntiles)
            b = i;
        if (idx > hi) {
            e = i;
            break;
        }
    }
    if (e < b)
        e = b;
    uint64_t count = 0;
    int64_t max_ts = 0;
    fr_rd_t rcount = wc.count, rmax = wc.maxts;
    for (uint64_t i = 0; i < wc.ntiles; i++) {
        uint64_t c = fr_rd_varint(&rcount);
        uint64_t d = fr_rd_varint(&rmax);
        if (i >= b && i < e)
            count += c;
        if (i + 1 == e)
            max_ts = (int64_t)((uint64_t)h->newest - d);
    }
    /* The count column is re-read per aggregation to bound n. */
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        fr_value_t *o = &out[a * nw + w];
        if (s->fn == FR_FN_COUNT) {
            *o = val_long((int64_t)count);
            continue;
        }
        if (s->fn == FR_FN_SINCE_LAST) {
            *o = e > b ? val_long((int64_t)udist(t, max_ts)) : (fr_value_t){.type = FR_T_NULL};
            continue;
        }
        acc_t x;
        dacc_t d;
        fr_value_t last = {.type = FR_T_NULL};
        acc_init(&x);
        dacc_init(&d, slots, regs);
        fr_rd_t rc_count = wc.count;
        for (uint64_t i = 0; i < wc.ntiles; i++) {
            cview_t cv;
            uint64_t c = fr_rd_varint(&rc_count);
            rc = parse_cell(r, s, c, &cv);
            if (rc)
                return rc;
            if (i >= b && i < e) {
                rc = acc_view(s, &cv, &x, &d, &last);
                if (rc)
                    return rc;
            }
        }
        if (s->fn == FR_FN_COUNT_DISTINCT)
            *o = val_long(dacc_result(&d));
        else if (s->fn == FR_FN_LAST)
            *o = last;
        else
            *o = acc_finish(&x, s->fn, s->type);
    }
    return 0;
}

int fr_agg_eval_encoded(const fr_agg_plan_t *plan, const void *p, size_t n, int64_t t,
                        fr_value_t *out, int64_t *newest)
{
    uint8_t regs[HLL_M];
    uint32_t slots[DACC_SP_SLOTS];
    fr_rd_t r;
    hdr_t h;
    fr_rd_init(&r, p, n);
    int rc = parse_hdr(&r, plan, &h);
    for (size_t w = 0; !rc && w < plan->nwindows; w++)
        rc = eval_window(&r, plan, w, &h, t, out, slots, regs);
    if (!rc && (r.err || r.p != r.end))
        rc = FR_ECORRUPT;
    if (rc) {
        fr_agg_eval_empty(plan, out);
        return rc;
    }
    if (newest)
        *newest = h.newest;
    return 0;
}

/* ---- decode ------------------------------------------------------------ */

static void sparse_cb(void *arg, uint32_t e)
{
    dc_cell_t *c = arg;
    c->u.sp[c->n++] = e;
}

static int build_dc(dc_cell_t *c, const cview_t *v)
{
    if (v->dmode == DC_EXACT) {
        c->mode = DC_EXACT;
        if (v->dn <= 1) {
            c->n = v->dn;
            c->cap = 0;
            c->u.one = v->dn ? fr_load_u64(v->dp) : 0;
            return 0;
        }
        uint16_t cap = 4;
        while (cap < v->dn)
            cap = (uint16_t)(cap * 2);
        c->u.set = malloc((size_t)cap * 8);
        if (!c->u.set)
            return FR_ENOMEM;
        c->cap = cap;
        for (uint32_t k = 0; k < v->dn; k++) {
            uint64_t h = fr_load_u64(v->dp + 8 * k);
            for (uint32_t j = 0; j < c->n; j++)
                if (c->u.set[j] == h)
                    return FR_ECORRUPT; /* apply never stores a hash twice */
            c->u.set[c->n++] = h;
        }
        return 0;
    }
    if (v->dmode == DC_SPARSE) {
        uint16_t cap = DC_SPARSE_MIN_CAP;
        while (cap < v->dn)
            cap = (uint16_t)(cap * 2);
        c->u.sp = malloc((size_t)cap * 4);
        if (!c->u.sp)
            return FR_ENOMEM;
        c->mode = DC_SPARSE;
        c->cap = cap;
        c->n = 0;
        sparse_each(v, sparse_cb, c);
        return 0;
    }
    c->u.regs = calloc(1, HLL_M);
    if (!c->u.regs)
        return FR_ENOMEM;
    c->mode = DC_DENSE;
    c->n = 0;
    c->cap = 0;
    return fr_hll_merge_packed(c->u.regs, v->dp, NULL) ? 0 : FR_ECORRUPT;
}

static int build_last(last_cell_t *c, fr_type_t t, const cview_t *v, const tile_hdr_t *th,
                      int64_t g)
{
    if (!v->has)
        return 0;
    if (v->dts > udist(th->max_ts, INT64_MIN))
        return FR_ECORRUPT;
    int64_t ts = (int64_t)((uint64_t)th->max_ts - v->dts);
    if (fr_floordiv(ts, g) != th->idx)
        return FR_ECORRUPT;
    c->ts = ts;
    c->off = v->off;
    switch (t) {
    case FR_T_STRING:
        if (v->val.len > LAST_INLINE) {
            char *p = malloc(v->val.len);
            if (!p)
                return FR_ENOMEM;
            memcpy(p, v->val.u.s, v->val.len);
            last_set_heap(c, p, v->val.len);
        } else if (v->val.len) {
            memcpy(c->tail, v->val.u.s, v->val.len);
        }
        c->lenx = v->val.len + 1;
        break;
    case FR_T_LONG:
        memcpy(c->tail + 4, &v->val.u.i, 8);
        c->lenx = 1;
        break;
    case FR_T_DOUBLE:
        memcpy(c->tail + 4, &v->val.u.d, 8);
        c->lenx = 1;
        break;
    default:
        c->tail[4] = v->val.u.b ? 1 : 0;
        c->lenx = 1;
        break;
    }
    return 0;
}

static int decode_window(fr_rd_t *r, const fr_agg_plan_t *plan, size_t w, const hdr_t *h,
                         fr_agg_state_t *st)
{
    const fr_window_spec_t *ws = &plan->windows[w];
    win_t *win = &st->win[w];
    const uint32_t rec = st->rec;
    wcols_t wc;
    int rc = parse_wcols(r, ws, h, &wc);
    if (rc || !wc.ntiles)
        return rc;
    /* in the state's arena if it has room */
    rc = fr_agg_win_make(st, w, (uint32_t)wc.ntiles);
    if (rc)
        return rc;
    int64_t tnew = fr_floordiv(h->newest, ws->tile_ms), prev = 0;
    for (uint64_t i = 0; i < wc.ntiles; i++) {
        uint8_t *rp = win->t + (size_t)i * rec;
        fr_agg_rec_init(st, rp, next_idx(&wc.idx, i, &prev, tnew));
        win->len++;
        tile_hdr_t *th = (tile_hdr_t *)(void *)rp;
        th->count = fr_rd_varint(&wc.count);
        th->max_ts = (int64_t)((uint64_t)h->newest - fr_rd_varint(&wc.maxts));
        if (th->count > h->events || (th->count & TILE_HEAP) ||
            fr_floordiv(th->max_ts, ws->tile_ms) != th->idx)
            return FR_ECORRUPT;
    }
    size_t off = sizeof(tile_hdr_t);
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        for (uint64_t i = 0; i < wc.ntiles; i++) {
            uint8_t *rp = win->t + (size_t)i * rec;
            const tile_hdr_t *th = (const tile_hdr_t *)(const void *)rp;
            uint8_t *cp = rp + off;
            cview_t cv;
            rc = parse_cell(r, s, TILE_COUNT(th), &cv);
            if (rc)
                return rc;
            switch (s->fn) {
            case FR_FN_SUM: ((sum_cell_t *)(void *)cp)->s = cv.v; break;
            case FR_FN_AVG:
            case FR_FN_MIN:
            case FR_FN_MAX: {
                nv_cell_t *c = (nv_cell_t *)(void *)cp;
                c->n = cv.n;
                c->v = cv.v;
                break;
            }
            case FR_FN_STDDEV: {
                sd_cell_t *c = (sd_cell_t *)(void *)cp;
                c->n = cv.n;
                c->s = cv.s;
                c->sq = cv.sq;
                break;
            }
            case FR_FN_COUNT_DISTINCT:
                /* flagged first: a half-built cell must be freed too */
                ((tile_hdr_t *)(void *)rp)->count |= TILE_HEAP;
                rc = build_dc((dc_cell_t *)(void *)cp, &cv);
                break;
            case FR_FN_LAST:
                ((tile_hdr_t *)(void *)rp)->count |= TILE_HEAP;
                rc = build_last((last_cell_t *)(void *)cp, s->type, &cv, th, ws->tile_ms);
                break;
            default: break;
            }
            if (rc)
                return rc;
        }
        off += cell_size(s->fn);
    }
    return 0;
}

int fr_agg_state_decode(const fr_agg_plan_t *plan, const void *p, size_t n, fr_agg_state_t **out)
{
    fr_rd_t r;
    hdr_t h;
    *out = NULL;
    fr_rd_init(&r, p, n);
    int rc = parse_hdr(&r, plan, &h);
    if (rc)
        return rc;
    fr_agg_state_t *st = fr_agg_state_alloc(plan);
    if (!st)
        return FR_ENOMEM;
    st->newest = h.newest;
    st->events = h.events;
    for (size_t w = 0; !rc && w < plan->nwindows; w++)
        rc = decode_window(&r, plan, w, &h, st);
    if (!rc && (r.err || r.p != r.end))
        rc = FR_ECORRUPT;
    if (rc) {
        fr_agg_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}
