/*
 * agg_int.h - internals shared by agg's files (plan.c, agg.c, codec.c,
 * hll.c).  Not part of the API; tests may include it.
 *
 * In memory a tile is one fixed-size record: a header (tile index, newest
 * event time, event count) followed by one cell per aggregation in plan
 * order.  Cell sizes depend only on the function, so a record's layout is
 * recomputed from the plan by walking it (no per-plan tables to keep).
 *
 * The window arithmetic and the finishing formulas live here, as inline
 * functions over "window accumulators", so that evaluating a state and
 * evaluating encoded bytes run literally the same code.
 */
#ifndef FR_AGG_AGG_INT_H
#define FR_AGG_AGG_INT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "agg/agg.h"
#include "core/clock.h"

/* ---- HyperLogLog ------------------------------------------------------ */

#define HLL_M (1u << FR_AGG_HLL_P)   /* registers */
#define HLL_Q (64 - FR_AGG_HLL_P)    /* bits left for the rank */
#define HLL_MAXRANK (HLL_Q + 1)      /* largest register value */
#define HLL_PACKED ((HLL_M / 4) * 3) /* 6-bit packed registers, bytes */

static inline void hll_pos(uint64_t h, uint32_t *idx, uint8_t *rank)
{
    *idx = (uint32_t)(h >> HLL_Q);
    uint64_t w = h << FR_AGG_HLL_P;
    *rank = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)HLL_MAXRANK;
}

static inline void hll_add(uint8_t *regs, uint64_t h)
{
    uint32_t i;
    uint8_t r;
    hll_pos(h, &i, &r);
    if (regs[i] < r)
        regs[i] = r;
}

/*
 * Sparse entries (HyperLogLog++): a hash kept at precision HLL_SP as one
 * uint32, idx25 << 6 | rank25.  Small cardinalities are counted by linear
 * counting over 2^HLL_SP registers, where collisions are negligible; the
 * p = 14 register an entry maps to is exactly the one its hash would set.
 */
#define HLL_SP 25
#define HLL_SP_MAXRANK (64 - HLL_SP + 1)   /* 40 */
#define HLL_SP_LOW (HLL_SP - FR_AGG_HLL_P) /* 11 index bits beyond p */

static inline uint32_t sp_entry(uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> (64 - HLL_SP));
    uint64_t w = h << HLL_SP;
    uint32_t rank = w ? (uint32_t)__builtin_clzll(w) + 1 : HLL_SP_MAXRANK;
    return idx << 6 | rank;
}

static inline void sp_reg(uint32_t e, uint32_t *idx, uint8_t *rank)
{
    uint32_t i = e >> 6, low = i & ((1u << HLL_SP_LOW) - 1);
    *idx = i >> HLL_SP_LOW;
    *rank = low ? (uint8_t)(__builtin_clz(low) - (32 - HLL_SP_LOW) + 1)
                : (uint8_t)(HLL_SP_LOW + (e & 63));
}

/* Cardinality estimate of HLL_M registers (hll.c). */
int64_t fr_hll_estimate(const uint8_t *regs);
/* Linear counting over 2^HLL_SP registers of which n are set (hll.c). */
int64_t fr_hll_sparse_estimate(uint32_t n);
/* regs[i] = max(regs[i], src[i]) over all registers. */
void fr_hll_merge(uint8_t *regs, const uint8_t *src);
/* Same from the 6-bit packed form; returns false if a value exceeds
 * HLL_MAXRANK (regs then partly merged).  *nnz receives the number of
 * non-zero registers of the packed form (may be NULL). */
bool fr_hll_merge_packed(uint8_t *regs, const uint8_t *packed, uint32_t *nnz);
/* Packs HLL_M registers into HLL_PACKED bytes. */
void fr_hll_pack(uint8_t *out, const uint8_t *regs);

/* ---- cells ------------------------------------------------------------ */

typedef union num {
    int64_t i;
    double d;
} num_t;

typedef struct tile_hdr {
    int64_t idx;    /* floor(ts / g) */
    int64_t max_ts; /* newest event time in the tile */
    uint64_t count; /* events (>= 1 once the tile exists), | TILE_HEAP */
} tile_hdr_t;

/* Set in count when a cell of the tile may own heap memory, so that
 * evicting a plain tile reads nothing but its header. */
#define TILE_HEAP (1ULL << 63)
#define TILE_COUNT(h) ((h)->count & ~TILE_HEAP)

/* sum */
typedef struct sum_cell {
    num_t s; /* int64 (wrapping) or double, apply order from 0.0 */
} sum_cell_t;

/* avg, min, max */
typedef struct nv_cell {
    uint64_t n; /* values seen */
    num_t v;    /* avg: sum as sum_cell; min/max: the extreme (n > 0) */
} nv_cell_t;

/* stddev */
typedef struct sd_cell {
    uint64_t n;
    double s, sq; /* sum of x and of x*x as doubles, apply order from 0.0 */
} sd_cell_t;

/* count_distinct: exact set (n <= 32 hashes; cap 0: the one hash inline),
 * then sparse (n sorted sparse entries, n <= DC_SPARSE_MAX), then dense
 * registers (HLL_M bytes). */
enum { DC_EXACT = 0, DC_SPARSE = 1, DC_DENSE = 2 };
#define DC_SPARSE_MAX 2048
#define DC_SPARSE_MIN_CAP 64
typedef struct dc_cell {
    uint32_t n;
    uint16_t cap;
    uint8_t mode;
    uint8_t pad;
    union {
        uint64_t one;
        uint64_t *set;
        uint32_t *sp;
        uint8_t *regs;
    } u;
} dc_cell_t;

/* last: lenx == 0 when no value, else its length + 1 (0 for non-strings),
 * so that an all-zero cell is empty.  tail[0..12) holds a string of at
 * most LAST_INLINE bytes inline; a longer one is on the heap: tail[0..4)
 * its capacity, tail[4..12) the pointer.  Other types: tail[4..12). */
#define LAST_INLINE 12
typedef struct last_cell {
    int64_t ts;
    uint64_t off;
    uint32_t lenx;
    unsigned char tail[12];
} last_cell_t;

static inline char *last_heap(const last_cell_t *c)
{
    char *p;
    memcpy(&p, c->tail + 4, sizeof p);
    return p;
}
static inline void last_set_heap(last_cell_t *c, char *p, uint32_t cap)
{
    memcpy(c->tail, &cap, 4);
    memcpy(c->tail + 4, &p, sizeof p);
}
static inline uint32_t last_cap(const last_cell_t *c)
{
    uint32_t cap;
    memcpy(&cap, c->tail, 4);
    return cap;
}
static inline bool last_is_heap(const last_cell_t *c, fr_type_t t)
{
    return t == FR_T_STRING && c->lenx > LAST_INLINE + 1;
}
/* The cell's value (strings point into the cell or its heap copy). */
static inline fr_value_t last_value(const last_cell_t *c, fr_type_t t)
{
    fr_value_t v = {.type = FR_T_NULL};
    if (!c->lenx)
        return v;
    v.type = t;
    switch (t) {
    case FR_T_STRING:
        v.len = c->lenx - 1;
        v.u.s = v.len > LAST_INLINE ? last_heap(c) : (const char *)c->tail;
        break;
    case FR_T_LONG: memcpy(&v.u.i, c->tail + 4, 8); break;
    case FR_T_DOUBLE: memcpy(&v.u.d, c->tail + 4, 8); break;
    case FR_T_BOOL: v.u.b = c->tail[4] != 0; break;
    default: v.type = FR_T_NULL; break;
    }
    return v;
}

static inline size_t cell_size(fr_fn_t fn)
{
    switch (fn) {
    case FR_FN_SUM: return sizeof(sum_cell_t);
    case FR_FN_AVG:
    case FR_FN_MIN:
    case FR_FN_MAX: return sizeof(nv_cell_t);
    case FR_FN_STDDEV: return sizeof(sd_cell_t);
    case FR_FN_COUNT_DISTINCT: return sizeof(dc_cell_t);
    case FR_FN_LAST: return sizeof(last_cell_t);
    default: return 0; /* count, since_last: the tile header is enough */
    }
}

static inline size_t rec_size(const fr_agg_plan_t *plan)
{
    size_t n = sizeof(tile_hdr_t);
    for (size_t a = 0; a < plan->naggs; a++)
        n += cell_size(plan->aggs[a].fn);
    return n;
}

static inline bool fn_has_field(fr_fn_t fn)
{
    return fn != FR_FN_COUNT && fn != FR_FN_SINCE_LAST;
}

static inline bool fn_numeric(fr_fn_t fn)
{
    return fn == FR_FN_SUM || fn == FR_FN_AVG || fn == FR_FN_MIN || fn == FR_FN_MAX ||
           fn == FR_FN_STDDEV;
}

/* ---- window arithmetic (in tile indices, so nothing overflows) -------- */

static inline int64_t win_tiles(const fr_window_spec_t *w)
{
    return w->window_ms / w->tile_ms;
}

/* Lowest tile index of a window whose newest tile is hi: hi - (nt - 1),
 * saturated at INT64_MIN. */
static inline int64_t win_lo(int64_t hi, int64_t nt)
{
    return hi < INT64_MIN + (nt - 1) ? INT64_MIN : hi - (nt - 1);
}

/* a - b for a >= b, as an unsigned distance. */
static inline uint64_t udist(int64_t a, int64_t b)
{
    return (uint64_t)a - (uint64_t)b;
}

/* Whether tile idx (<= hi) is older than the W/g tiles ending at hi, i.e.
 * hi - idx >= W/g, without a division: (hi - idx) * g >= W. */
static inline bool win_expired(const fr_window_spec_t *w, int64_t hi, int64_t idx)
{
    uint64_t p;
    if (__builtin_mul_overflow(udist(hi, idx), (uint64_t)w->tile_ms, &p))
        return true;
    return p >= (uint64_t)w->window_ms;
}

/* Whether ts lies in tile idx, without a division (false if unsure). */
static inline bool in_tile(int64_t ts, int64_t idx, int64_t g)
{
    int64_t start;
    if (__builtin_mul_overflow(idx, g, &start))
        return false;
    return ts >= start && udist(ts, start) < (uint64_t)g;
}

/* ---- value hashing for count_distinct --------------------------------- */

#define SEED_STRING 0x5f3759df9e3779b9ULL
#define SEED_LONG 0x2545f4914f6cdd1dULL
#define SEED_DOUBLE 0x9e3779b97f4a7c15ULL
#define SEED_BOOL 0xc2b2ae3d27d4eb4fULL

/* Hash of a value of its own type (FR_T_NULL is never hashed). */
uint64_t fr_agg_value_hash(const fr_value_t *v);

/* ---- window accumulators ---------------------------------------------- */

/*
 * The count_distinct accumulator of a window: exact (up to 32 hashes), then
 * sparse (a hash set of up to DACC_SP_MAX sparse entries in the caller's
 * DACC_SP_SLOTS slots), then dense (the caller's HLL_M registers).  Its
 * result does not depend on the order tiles are added in.
 */
#define DACC_SP_SLOTS 2048
#define DACC_SP_MAX 1024
enum { DACC_EXACT, DACC_SPARSE, DACC_DENSE };

typedef struct dacc {
    int mode;
    uint32_t n; /* hashes (exact) or occupied slots (sparse) */
    uint64_t set[FR_AGG_DISTINCT_EXACT];
    uint32_t *slots; /* caller's DACC_SP_SLOTS; 0 = empty */
    uint8_t *regs;   /* caller's HLL_M bytes */
} dacc_t;

static inline void dacc_init(dacc_t *d, uint32_t *slots, uint8_t *regs)
{
    d->mode = DACC_EXACT;
    d->n = 0;
    d->slots = slots;
    d->regs = regs;
}

static inline void dacc_to_dense(dacc_t *d)
{
    if (d->mode == DACC_DENSE)
        return;
    memset(d->regs, 0, HLL_M);
    if (d->mode == DACC_EXACT) {
        for (uint32_t i = 0; i < d->n; i++)
            hll_add(d->regs, d->set[i]);
    } else {
        for (uint32_t i = 0; i < DACC_SP_SLOTS; i++) {
            if (!d->slots[i])
                continue;
            uint32_t idx;
            uint8_t rank;
            sp_reg(d->slots[i], &idx, &rank);
            if (d->regs[idx] < rank)
                d->regs[idx] = rank;
        }
    }
    d->mode = DACC_DENSE;
}

static inline void dacc_dense_sp(dacc_t *d, uint32_t e)
{
    uint32_t idx;
    uint8_t rank;
    sp_reg(e, &idx, &rank);
    if (d->regs[idx] < rank)
        d->regs[idx] = rank;
}

/* Adds a sparse entry in sparse mode (may turn dense). */
static inline void dacc_sp_put(dacc_t *d, uint32_t e)
{
    uint32_t key = e >> 6;
    uint32_t i = (key * 0x9e3779b1u) >> (32 - 11); /* 2^11 = DACC_SP_SLOTS */
    for (;; i = (i + 1) & (DACC_SP_SLOTS - 1)) {
        uint32_t s = d->slots[i];
        if (!s)
            break;
        if ((s >> 6) == key) {
            if ((s & 63) < (e & 63))
                d->slots[i] = e;
            return;
        }
    }
    if (d->n == DACC_SP_MAX) {
        dacc_to_dense(d);
        dacc_dense_sp(d, e);
        return;
    }
    d->slots[i] = e;
    d->n++;
}

static inline void dacc_to_sparse(dacc_t *d)
{
    uint32_t n = d->n;
    memset(d->slots, 0, DACC_SP_SLOTS * sizeof *d->slots);
    d->mode = DACC_SPARSE;
    d->n = 0;
    for (uint32_t i = 0; i < n; i++)
        dacc_sp_put(d, sp_entry(d->set[i]));
}

static inline void dacc_add(dacc_t *d, uint64_t h)
{
    if (d->mode == DACC_EXACT) {
        for (uint32_t i = 0; i < d->n; i++)
            if (d->set[i] == h)
                return;
        if (d->n < FR_AGG_DISTINCT_EXACT) {
            d->set[d->n++] = h;
            return;
        }
        dacc_to_sparse(d);
    }
    if (d->mode == DACC_SPARSE)
        dacc_sp_put(d, sp_entry(h));
    else
        hll_add(d->regs, h);
}

/* A sparse entry of a tile. */
static inline void dacc_add_sp(dacc_t *d, uint32_t e)
{
    if (d->mode == DACC_EXACT)
        dacc_to_sparse(d);
    if (d->mode == DACC_SPARSE)
        dacc_sp_put(d, e);
    else
        dacc_dense_sp(d, e);
}

static inline int64_t dacc_result(const dacc_t *d)
{
    switch (d->mode) {
    case DACC_EXACT: return (int64_t)d->n;
    case DACC_SPARSE: return fr_hll_sparse_estimate(d->n);
    default: return fr_hll_estimate(d->regs);
    }
}

/* Numeric accumulators: one per aggregation and window. */
typedef struct acc {
    uint64_t n;
    num_t v;
    double s, sq;
} acc_t;

static inline void acc_init(acc_t *x)
{
    x->n = 0;
    x->v.i = 0;
    x->s = 0.0;
    x->sq = 0.0;
}

/* sum / avg: tiles in ascending order, from 0 (long: exact, wrapping) or
 * 0.0 (double). */
static inline void acc_sum(acc_t *x, fr_type_t t, uint64_t n, num_t s)
{
    x->n += n;
    if (t == FR_T_LONG)
        x->v.i = (int64_t)((uint64_t)x->v.i + (uint64_t)s.i);
    else
        x->s = x->s + s.d;
}

static inline void acc_ext(acc_t *x, fr_type_t t, bool is_max, uint64_t n, num_t v)
{
    if (!n)
        return;
    if (!x->n) {
        x->v = v;
    } else if (t == FR_T_LONG) {
        if (is_max ? v.i > x->v.i : v.i < x->v.i)
            x->v = v;
    } else {
        if (is_max ? v.d > x->v.d : v.d < x->v.d)
            x->v = v;
    }
    x->n += n;
}

static inline void acc_sd(acc_t *x, uint64_t n, double s, double sq)
{
    x->n += n;
    x->s = x->s + s;
    x->sq = x->sq + sq;
}

/* Final value of a numeric aggregation. */
static inline fr_value_t acc_finish(const acc_t *x, fr_fn_t fn, fr_type_t t)
{
    fr_value_t r = {.type = FR_T_NULL};
    switch (fn) {
    case FR_FN_SUM:
        r.type = t;
        if (t == FR_T_LONG)
            r.u.i = x->v.i;
        else
            r.u.d = x->s;
        break;
    case FR_FN_AVG:
        if (x->n) {
            double dn = (double)x->n;
            r.type = FR_T_DOUBLE;
            r.u.d = (t == FR_T_LONG ? (double)x->v.i : x->s) / dn;
        }
        break;
    case FR_FN_MIN:
    case FR_FN_MAX:
        if (x->n) {
            r.type = t;
            if (t == FR_T_LONG)
                r.u.i = x->v.i;
            else
                r.u.d = x->v.d;
        }
        break;
    case FR_FN_STDDEV:
        if (x->n) {
            double dn = (double)x->n;
            double mean = x->s / dn;
            double var = x->sq / dn - mean * mean;
            if (!(var > 0.0))
                var = 0.0;
            r.type = FR_T_DOUBLE;
            r.u.d = sqrt(var);
        }
        break;
    default: break;
    }
    return r;
}

static inline fr_value_t val_long(int64_t i)
{
    fr_value_t r = {.type = FR_T_LONG};
    r.u.i = i;
    return r;
}

/* ---- states ----------------------------------------------------------- */

/* A window's tiles: a ring of cap records, the len live ones starting at
 * head, in ascending tile order.  Expired tiles leave from the head in O(1);
 * new newest tiles join at the tail.  t points into the state's own block
 * (its arena, below) until the window needs more room than the arena has,
 * then to the heap (heap true). */
typedef struct win {
    uint8_t *t;
    uint32_t head, len, cap;
    uint32_t heap;
} win_t;

/*
 * One allocation per state: this header, nwin win_t, naggs kind bytes (fn
 * | type << 4, so that a state can be freed without its plan), padding to
 * 8, then an arena of nwin + ARENA_SPARE records.  The rings of the
 * windows not on the heap are consecutive segments of the arena, in window
 * order, from its start; its free records are at its end.  A new state
 * gives each window one record; a ring grows in the arena (the segments
 * after it move up) while there is room, else moves to the heap, which
 * frees its segment for the others.  Most entities see a handful of events
 * and most windows hold one or two tiles: their events touch one block, in
 * consecutive cache lines, and allocate nothing.
 */
#define ARENA_SPARE 1

struct fr_agg_state {
    int64_t newest; /* INT64_MIN when events == 0 */
    uint64_t events;
    uint32_t rec; /* record size, rec_size(plan) */
    uint16_t nwin, naggs;
    win_t win[];
};

static inline uint8_t *state_kinds(const fr_agg_state_t *st)
{
    return (uint8_t *)(st->win + st->nwin);
}

/* Offset of the arena in a state's block, and the block's size. */
static inline size_t state_arena_off(size_t nwin, size_t naggs)
{
    size_t n = sizeof(fr_agg_state_t) + nwin * sizeof(win_t) + naggs;
    return (n + 7) & ~(size_t)7;
}

static inline size_t state_size(size_t nwin, size_t naggs, size_t rec)
{
    return state_arena_off(nwin, naggs) + (nwin + ARENA_SPARE) * rec;
}

static inline uint8_t *state_arena(const fr_agg_state_t *st)
{
    return (uint8_t *)st + state_arena_off(st->nwin, st->naggs);
}

static inline uint8_t agg_kind(const fr_agg_spec_t *s)
{
    return (uint8_t)((unsigned)s->fn | (unsigned)s->type << 4);
}

/* Record i (0 = oldest) of a window. */
static inline uint8_t *win_rec(const win_t *w, uint32_t i, uint32_t rec)
{
    uint32_t p = w->head + i;
    if (p >= w->cap)
        p -= w->cap;
    return w->t + (size_t)p * rec;
}

static inline tile_hdr_t *rec_hdr(const win_t *w, uint32_t i, uint32_t rec)
{
    return (tile_hdr_t *)(void *)win_rec(w, i, rec);
}

/* First record with idx >= key (len if none). */
static inline uint32_t win_lower(const win_t *w, uint32_t rec, int64_t key)
{
    uint32_t lo = 0, hi = w->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (rec_hdr(w, mid, rec)->idx < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First record with idx > key (len if none). */
static inline uint32_t win_upper(const win_t *w, uint32_t rec, int64_t key)
{
    uint32_t lo = 0, hi = w->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (rec_hdr(w, mid, rec)->idx <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Allocates an empty state for plan (agg.c); NULL on allocation failure. */
fr_agg_state_t *fr_agg_state_alloc(const fr_agg_plan_t *plan);
/* Gives window w of a fresh state (no tiles yet) a ring of exactly cap
 * records, in the arena if it fits (decoding fills windows in order).
 * 0 or FR_ENOMEM. */
int fr_agg_win_make(fr_agg_state_t *st, size_t w, uint32_t cap);
/* Fills a fresh record: no events, empty cells (all zero but idx). */
void fr_agg_rec_init(const fr_agg_state_t *st, uint8_t *r, int64_t idx);
/* Frees what a record's cells own. */
void fr_agg_rec_release(const fr_agg_state_t *st, uint8_t *r);

#endif
