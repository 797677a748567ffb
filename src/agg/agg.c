/*
 * agg.c - entity states: applying events and evaluating windows
 * (DESIGN §2).  The offline engine and the online processor both run this
 * code, and the encoded path (codec.c) uses the same accumulators
 * (agg_int.h), which is what makes their values equal.
 *
 * Layout.  Per window, a ring of the non-empty tiles that can still matter,
 * in ascending tile order; each tile is one fixed-size record (agg_int.h)
 * whose all-zero bytes are the empty tile.  Most entities see a handful of
 * events, so a state is one allocation whose arena holds each window's
 * first tile and a spare (agg_int.h): a fresh entity costs one malloc and
 * its events touch consecutive cache lines.  Past the arena a ring moves
 * to the heap and grows 2, 3, 4, then by half.  An event in the newest tile (the common case) is found
 * with a multiply and a compare and costs a few adds per cell, with no
 * allocation; a new newest tile joins at the tail, and tiles older than
 * the W/g tiles ending at it leave from the head (O(1) each: they can no
 * longer count at any t >= newest).  An out-of-order event is a binary
 * search, plus a shift when its tile is new.  The newest tiles of all
 * windows are prefetched on entry so their cache misses overlap.
 *
 * Arithmetic (this is the contract offline/online parity rests on):
 *   - long sum/min/max are exact int64 (sums wrap modulo 2^64).
 *   - a double sum is, within a tile, plain double addition in apply order
 *     starting from 0.0; across the window, tile sums added in ascending
 *     tile order starting from 0.0.
 *   - avg = sum / n (a long sum converted to double first).
 *   - stddev keeps n, sum and sum of squares as doubles (a long value is
 *     converted to double first), combined across tiles in ascending
 *     order; variance = sumsq/n - (sum/n)^2, clamped at 0; stddev =
 *     sqrt(variance), the population standard deviation.
 *   - C11 mode (-std=c11) keeps GCC from contracting a*b+c into FMA.
 * A value whose type differs from its field's declared type is treated as
 * absent.
 *
 * count_distinct: a tile keeps up to 32 hashes exactly, then HyperLogLog
 * (sparse entries at precision 25, dense p = 14 registers past 2048
 * entries); a window counts the union exactly while it has at most 32
 * hashes, else estimates it (agg_int.h, hll.c).
 *
 * Atomicity.  fr_agg_state_apply runs twice over the cells it touches:
 * first reserving (relayouts and reallocs that keep the content, or fresh
 * buffers into a stash), then committing, which cannot fail; both visit
 * cells in the same order (aggregation, then window).  So FR_ENOMEM leaves
 * the state's values unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "agg/agg_int.h"
#include "core/err.h"

#define STASH_MAX (FR_AGG_MAX_WINDOWS * FR_AGG_MAX_AGGS)

/* Buffers allocated while reserving, consumed in the same order when
 * committing. */
typedef struct stash {
    unsigned n, next;
    void *p[STASH_MAX];
} stash_t;

static int stash_alloc(stash_t *sx, size_t n)
{
    if (sx->n == STASH_MAX)
        return FR_ENOMEM;
    void *p = malloc(n);
    if (!p)
        return FR_ENOMEM;
    sx->p[sx->n++] = p;
    return 0;
}

static void *stash_take(stash_t *sx)
{
    FR_ASSERT(sx->next < sx->n);
    return sx->p[sx->next++];
}

/* ---- records ----------------------------------------------------------- */

void fr_agg_rec_init(const fr_agg_state_t *st, uint8_t *r, int64_t idx)
{
    /* Every cell is empty when all zero: 0.0 sums, n = 0, lenx = 0. */
    memset(r, 0, st->rec);
    ((tile_hdr_t *)(void *)r)->idx = idx;
}

static void dc_release(dc_cell_t *c)
{
    if (c->mode == DC_EXACT && c->cap)
        free(c->u.set);
    else if (c->mode == DC_SPARSE)
        free(c->u.sp);
    else if (c->mode == DC_DENSE)
        free(c->u.regs);
    c->mode = DC_EXACT;
    c->n = 0;
    c->cap = 0;
}

void fr_agg_rec_release(const fr_agg_state_t *st, uint8_t *r)
{
    tile_hdr_t *h = (tile_hdr_t *)(void *)r;
    if (!(h->count & TILE_HEAP))
        return;
    h->count &= ~TILE_HEAP;
    const uint8_t *kinds = state_kinds(st);
    size_t off = sizeof(tile_hdr_t);
    for (size_t a = 0; a < st->naggs; a++) {
        fr_fn_t fn = (fr_fn_t)(kinds[a] & 15);
        fr_type_t t = (fr_type_t)(kinds[a] >> 4);
        if (fn == FR_FN_COUNT_DISTINCT) {
            dc_release((dc_cell_t *)(void *)(r + off));
        } else if (fn == FR_FN_LAST) {
            last_cell_t *c = (last_cell_t *)(void *)(r + off);
            if (last_is_heap(c, t))
                free(last_heap(c));
            c->lenx = 0;
        }
        off += cell_size(fn);
    }
}

/* ---- states ------------------------------------------------------------ */

fr_agg_state_t *fr_agg_state_alloc(const fr_agg_plan_t *plan)
{
    size_t rec = rec_size(plan), nw = plan->nwindows;
    /* The arena stays uninitialised until a record is made there. */
    fr_agg_state_t *st = malloc(state_size(nw, plan->naggs, rec));
    if (!st)
        return NULL;
    st->newest = INT64_MIN;
    st->events = 0;
    st->rec = (uint32_t)rec;
    st->nwin = (uint16_t)nw;
    st->naggs = (uint16_t)plan->naggs;
    uint8_t *arena = state_arena(st);
    for (size_t w = 0; w < nw; w++)
        st->win[w] = (win_t){.t = arena + w * rec, .cap = 1};
    uint8_t *kinds = state_kinds(st);
    for (size_t a = 0; a < plan->naggs; a++)
        kinds[a] = agg_kind(&plan->aggs[a]);
    return st;
}

fr_agg_state_t *fr_agg_state_new(const fr_agg_plan_t *plan)
{
    return fr_agg_state_alloc(plan);
}

void fr_agg_state_free(fr_agg_state_t *st)
{
    if (!st)
        return;
    for (uint32_t w = 0; w < st->nwin; w++) {
        win_t *win = &st->win[w];
        for (uint32_t i = 0; i < win->len; i++)
            fr_agg_rec_release(st, win_rec(win, i, st->rec));
        if (win->heap)
            free(win->t);
    }
    free(st);
}

int64_t fr_agg_state_newest(const fr_agg_state_t *st)
{
    return st->newest;
}

uint64_t fr_agg_state_events(const fr_agg_state_t *st)
{
    return st->events;
}

/* ---- cell steps: one function per cell that allocates, run first to
 * reserve (commit false: may only grow capacity or fill the stash) and then
 * to commit (commit true: no allocation, consumes the stash in order). */

/* Sparse entries are sorted by their HLL_SP-bit index (entry >> 6).
 * Branchless lower bound: lists reach DC_SPARSE_MAX entries on hot tiles. */
static uint32_t *sparse_find(uint32_t *sp, uint32_t n, uint32_t key, bool *found)
{
    if (!n) {
        *found = false;
        return sp;
    }
    uint32_t *b = sp, len = n;
    while (len > 1) {
        uint32_t half = len / 2;
        b += (b[half] >> 6) < key ? half : 0;
        len -= half;
    }
    b += (*b >> 6) < key;
    *found = b < sp + n && (*b >> 6) == key;
    return b;
}

/* Adds entry e to a sparse list with room for one more. */
static void sparse_put(uint32_t *sp, uint32_t *n, uint32_t e)
{
    bool found;
    uint32_t *at = sparse_find(sp, *n, e >> 6, &found);
    if (found) {
        if ((*at & 63) < (e & 63))
            *at = e;
        return;
    }
    memmove(at + 1, at, (size_t)(sp + *n - at) * sizeof *sp);
    *at = e;
    (*n)++;
}

/* Returns 0, FR_ENOMEM (reserving only) or DC_SAME: the cell already
 * counts h, committing would change nothing. */
#define DC_SAME 1
static int dc_step(dc_cell_t *c, uint64_t h, stash_t *sx, bool commit)
{
    if (c->mode == DC_EXACT) {
        const uint64_t *set = c->cap ? c->u.set : &c->u.one;
        for (uint32_t i = 0; i < c->n; i++)
            if (set[i] == h)
                return DC_SAME;
        if (c->n == 0) {
            if (commit) {
                c->u.one = h;
                c->n = 1;
            }
            return 0;
        }
        if (c->n < FR_AGG_DISTINCT_EXACT) {
            if (c->cap == 0) { /* the one inline hash moves to the heap */
                if (!commit)
                    return stash_alloc(sx, 4 * sizeof(uint64_t));
                uint64_t *p = stash_take(sx);
                p[0] = c->u.one;
                p[1] = h;
                c->u.set = p;
                c->cap = 4;
                c->n = 2;
                return 0;
            }
            if (c->n == c->cap) {
                FR_ASSERT(!commit);
                uint64_t *p = realloc(c->u.set, (size_t)c->cap * 2 * sizeof *p);
                if (!p)
                    return FR_ENOMEM;
                c->u.set = p;
                c->cap = (uint16_t)(c->cap * 2);
                return 0;
            }
            if (commit)
                c->u.set[c->n++] = h;
            return 0;
        }
        /* The 33rd distinct value: the tile turns sparse. */
        if (!commit)
            return stash_alloc(sx, DC_SPARSE_MIN_CAP * sizeof(uint32_t));
        uint32_t *sp = stash_take(sx), n = 0;
        for (uint32_t i = 0; i < c->n; i++)
            sparse_put(sp, &n, sp_entry(c->u.set[i]));
        sparse_put(sp, &n, sp_entry(h));
        free(c->u.set);
        c->u.sp = sp;
        c->n = n;
        c->cap = DC_SPARSE_MIN_CAP;
        c->mode = DC_SPARSE;
        return 0;
    }
    if (c->mode == DC_SPARSE) {
        uint32_t e = sp_entry(h);
        bool found;
        uint32_t *at = sparse_find(c->u.sp, c->n, e >> 6, &found);
        if (found) {
            if ((*at & 63) >= (e & 63))
                return DC_SAME;
            if (commit)
                *at = e;
            return 0;
        }
        if (c->n < c->cap) {
            if (commit)
                sparse_put(c->u.sp, &c->n, e);
            return 0;
        }
        if (c->cap < DC_SPARSE_MAX) {
            FR_ASSERT(!commit);
            uint32_t *p = realloc(c->u.sp, (size_t)c->cap * 2 * sizeof *p);
            if (!p)
                return FR_ENOMEM;
            c->u.sp = p;
            c->cap = (uint16_t)(c->cap * 2);
            return 0;
        }
        /* Full: dense registers from here on. */
        if (!commit)
            return stash_alloc(sx, HLL_M);
        uint8_t *regs = stash_take(sx);
        memset(regs, 0, HLL_M);
        for (uint32_t i = 0; i < c->n; i++) {
            uint32_t idx;
            uint8_t rank;
            sp_reg(c->u.sp[i], &idx, &rank);
            if (regs[idx] < rank)
                regs[idx] = rank;
        }
        hll_add(regs, h);
        free(c->u.sp);
        c->u.regs = regs;
        c->n = 0;
        c->cap = 0;
        c->mode = DC_DENSE;
        return 0;
    }
    uint32_t idx;
    uint8_t rank;
    hll_pos(h, &idx, &rank);
    if (c->u.regs[idx] >= rank)
        return DC_SAME;
    if (commit)
        c->u.regs[idx] = rank;
    return 0;
}

static int last_step(last_cell_t *c, fr_type_t t, int64_t ts, uint64_t off, const fr_value_t *v,
                     uint32_t slen, stash_t *sx, bool commit)
{
    if (c->lenx && (ts < c->ts || (ts == c->ts && off <= c->off)))
        return 0;
    bool heap = last_is_heap(c, t);
    if (t == FR_T_STRING && slen > LAST_INLINE) {
        if (heap && last_cap(c) >= slen) {
            if (commit) {
                memcpy(last_heap(c), v->u.s, slen);
                c->lenx = slen + 1;
                c->ts = ts;
                c->off = off;
            }
        } else if (heap) {
            FR_ASSERT(!commit);
            char *p = realloc(last_heap(c), slen);
            if (!p)
                return FR_ENOMEM;
            last_set_heap(c, p, slen);
        } else if (!commit) {
            return stash_alloc(sx, slen);
        } else {
            char *p = stash_take(sx);
            memcpy(p, v->u.s, slen);
            last_set_heap(c, p, slen);
            c->lenx = slen + 1;
            c->ts = ts;
            c->off = off;
        }
        return 0;
    }
    if (!commit)
        return 0;
    if (heap)
        free(last_heap(c));
    switch (t) {
    case FR_T_STRING:
        if (slen)
            memcpy(c->tail, v->u.s, slen);
        c->lenx = slen + 1;
        break;
    case FR_T_LONG:
        memcpy(c->tail + 4, &v->u.i, 8);
        c->lenx = 1;
        break;
    case FR_T_DOUBLE:
        memcpy(c->tail + 4, &v->u.d, 8);
        c->lenx = 1;
        break;
    default:
        c->tail[4] = v->u.b ? 1 : 0;
        c->lenx = 1;
        break;
    }
    c->ts = ts;
    c->off = off;
    return 0;
}

/* ---- apply ------------------------------------------------------------- */

typedef struct prep {
    bool has;     /* the event carries the field, with its declared type */
    bool rsv;     /* its cell may need memory */
    uint32_t off; /* cell offset in a record */
    uint32_t slen;
    uint64_t h;
    fr_value_t v;
} prep_t;

enum { LOC_SKIP, LOC_HIT, LOC_APPEND, LOC_INSERT };

typedef struct loc {
    int kind;
    bool evict;    /* LOC_APPEND: expired tiles leave first */
    uint32_t pos;  /* LOC_HIT, LOC_INSERT: logical position */
    int64_t idx;   /* tile index of the event */
    int64_t hi;    /* tile index of the newest event (after this one) */
    uint64_t same; /* bit a: count_distinct cell a already counts the value */
} loc_t;

/* ---- ring memory: the arena, then the heap ----------------------------- */

/* Records of the arena in use: the segments of the windows not on the
 * heap. */
static uint32_t arena_used(const fr_agg_state_t *st)
{
    uint32_t n = 0;
    for (uint32_t w = 0; w < st->nwin; w++)
        if (!st->win[w].heap)
            n += st->win[w].cap;
    return n;
}

/* Whether window wi's arena segment could become cap records. */
static bool arena_fits(const fr_agg_state_t *st, size_t wi, uint32_t cap)
{
    uint64_t used = (uint64_t)arena_used(st) - st->win[wi].cap + cap;
    return used <= (uint64_t)st->nwin + ARENA_SPARE;
}

/* Resizes window wi's segment of the arena to cap records, moving the
 * segments after it; the caller checked that the arena has room.  Records
 * at cap and above are dropped: the caller made sure none is live. */
static void arena_resize(fr_agg_state_t *st, size_t wi, uint32_t cap)
{
    win_t *w = &st->win[wi];
    const size_t rec = st->rec;
    uint8_t *end = state_arena(st) + (size_t)arena_used(st) * rec;
    size_t from = (size_t)w->cap * rec, to = (size_t)cap * rec;
    memmove(w->t + to, w->t + from, (size_t)(end - (w->t + from)));
    for (size_t j = wi + 1; j < st->nwin; j++) {
        win_t *x = &st->win[j];
        if (!x->heap)
            x->t = to >= from ? x->t + (to - from) : x->t - (from - to);
    }
    w->cap = cap;
}

/* Rotates p[0..n) left by k bytes, in place (three reversals). */
static void rotate_bytes(uint8_t *p, size_t n, size_t k)
{
    size_t r[3][2] = {{0, k}, {k, n}, {0, n}};
    for (int q = 0; q < 3; q++)
        for (size_t i = r[q][0], j = r[q][1]; i + 1 < j; i++, j--) {
            uint8_t x = p[i];
            p[i] = p[j - 1];
            p[j - 1] = x;
        }
}

/* Moves window wi's live records to the start of a new heap ring of cap
 * records; an arena segment it leaves is given back. */
static int win_to_heap(fr_agg_state_t *st, size_t wi, uint32_t cap)
{
    win_t *w = &st->win[wi];
    const uint32_t rec = st->rec;
    FR_ASSERT(cap >= w->len && cap > 0);
    uint8_t *t = malloc((size_t)cap * rec);
    if (!t)
        return FR_ENOMEM;
    uint32_t first = w->cap - w->head < w->len ? w->cap - w->head : w->len;
    if (w->len) {
        memcpy(t, w->t + (size_t)w->head * rec, (size_t)first * rec);
        memcpy(t + (size_t)first * rec, w->t, (size_t)(w->len - first) * rec);
    }
    if (w->heap) {
        free(w->t);
    } else {
        arena_resize(st, wi, 0);
        w->heap = 1;
    }
    w->t = t;
    w->head = 0;
    w->cap = cap;
    return 0;
}

/* Makes window wi's live records start at the start of its ring. */
static int win_unwrap(fr_agg_state_t *st, size_t wi)
{
    win_t *w = &st->win[wi];
    if (w->heap)
        return win_to_heap(st, wi, w->cap);
    if (w->head)
        rotate_bytes(w->t, (size_t)w->cap * st->rec, (size_t)w->head * st->rec);
    w->head = 0;
    return 0;
}

/* Resizes window wi's ring to cap records (>= len).  In the arena while it
 * has room (a wrapped ring's older part moves to the new end); on the heap
 * a realloc when the live records do not wrap (they keep their places;
 * usually no copy), else a fresh ring. */
static int win_resize(fr_agg_state_t *st, size_t wi, uint32_t cap)
{
    win_t *w = &st->win[wi];
    const size_t rec = st->rec;
    if (!w->heap) {
        if (cap < w->cap || !arena_fits(st, wi, cap))
            return win_to_heap(st, wi, cap);
        uint32_t old = w->cap;
        arena_resize(st, wi, cap);
        if (w->head + w->len > old) {
            memmove(w->t + (size_t)(w->head + cap - old) * rec, w->t + (size_t)w->head * rec,
                    (size_t)(old - w->head) * rec);
            w->head += cap - old;
        }
        return 0;
    }
    if (w->head + w->len <= cap && w->head + w->len <= w->cap) {
        uint8_t *t = realloc(w->t, (size_t)cap * rec);
        if (!t)
            return FR_ENOMEM;
        w->t = t;
        w->cap = cap;
        return 0;
    }
    return win_to_heap(st, wi, cap);
}

int fr_agg_win_make(fr_agg_state_t *st, size_t wi, uint32_t cap)
{
    win_t *w = &st->win[wi];
    FR_ASSERT(!w->len && !w->heap);
    if (arena_fits(st, wi, cap)) {
        arena_resize(st, wi, cap);
        w->head = 0;
        return 0;
    }
    return win_to_heap(st, wi, cap);
}

/* Capacity after cap: 1, 2, 3, 4, then x1.5 (most windows hold few tiles). */
static int win_next_cap(uint32_t cap, uint32_t *next)
{
    if (cap >= UINT32_MAX / 4)
        return FR_ENOMEM;
    *next = cap < 4 ? cap + 1 : cap + cap / 2;
    return 0;
}

/* Updates, for each aggregation act[k] (those whose field the event
 * carries), its cell in each record r[0..nr) of the event's tiles: one
 * dispatch per aggregation, the windows in the inner loops.  same[j] bit a:
 * the count_distinct cell a of r[j] already counts the value. */
static void update_cells(const fr_agg_plan_t *plan, uint8_t *const *r, const uint64_t *same,
                         unsigned nr, int64_t ts, uint64_t offset, const prep_t *pr,
                         const uint8_t *act, unsigned nact, stash_t *sx)
{
    for (unsigned k = 0; k < nact; k++) {
        unsigned a = act[k];
        const fr_agg_spec_t *s = &plan->aggs[a];
        const uint32_t off = pr[a].off;
        const fr_value_t *v = &pr[a].v;
        const bool isl = s->type == FR_T_LONG;
        switch (s->fn) {
        case FR_FN_SUM:
            for (unsigned j = 0; j < nr; j++) {
                sum_cell_t *c = (sum_cell_t *)(void *)(r[j] + off);
                if (isl)
                    c->s.i = (int64_t)((uint64_t)c->s.i + (uint64_t)v->u.i);
                else
                    c->s.d = c->s.d + v->u.d;
            }
            break;
        case FR_FN_AVG:
            for (unsigned j = 0; j < nr; j++) {
                nv_cell_t *c = (nv_cell_t *)(void *)(r[j] + off);
                c->n++;
                if (isl)
                    c->v.i = (int64_t)((uint64_t)c->v.i + (uint64_t)v->u.i);
                else
                    c->v.d = c->v.d + v->u.d;
            }
            break;
        case FR_FN_MIN:
        case FR_FN_MAX: {
            bool mx = s->fn == FR_FN_MAX;
            for (unsigned j = 0; j < nr; j++) {
                nv_cell_t *c = (nv_cell_t *)(void *)(r[j] + off);
                if (isl) {
                    if (!c->n || (mx ? v->u.i > c->v.i : v->u.i < c->v.i))
                        c->v.i = v->u.i;
                } else {
                    if (!c->n || (mx ? v->u.d > c->v.d : v->u.d < c->v.d))
                        c->v.d = v->u.d;
                }
                c->n++;
            }
            break;
        }
        case FR_FN_STDDEV: {
            double x = isl ? (double)v->u.i : v->u.d;
            for (unsigned j = 0; j < nr; j++) {
                sd_cell_t *c = (sd_cell_t *)(void *)(r[j] + off);
                c->n++;
                c->s = c->s + x;
                c->sq = c->sq + x * x;
            }
            break;
        }
        case FR_FN_COUNT_DISTINCT:
            for (unsigned j = 0; j < nr; j++) {
                if (same[j] >> a & 1)
                    continue;
                dc_cell_t *c = (dc_cell_t *)(void *)(r[j] + off);
                (void)dc_step(c, pr[a].h, sx, true);
                if (c->cap || c->mode != DC_EXACT)
                    ((tile_hdr_t *)(void *)r[j])->count |= TILE_HEAP;
            }
            break;
        case FR_FN_LAST:
            for (unsigned j = 0; j < nr; j++) {
                last_cell_t *c = (last_cell_t *)(void *)(r[j] + off);
                last_step(c, s->type, ts, offset, v, pr[a].slen, sx, true);
                if (last_is_heap(c, s->type))
                    ((tile_hdr_t *)(void *)r[j])->count |= TILE_HEAP;
            }
            break;
        default: break;
        }
    }
}

int fr_agg_state_apply(fr_agg_state_t *st, const fr_agg_plan_t *plan, int64_t ts, uint64_t offset,
                       const fr_value_t *values)
{
    prep_t pr[FR_AGG_MAX_AGGS];
    uint8_t act[FR_AGG_MAX_AGGS], rsv[FR_AGG_MAX_AGGS];
    unsigned nact = 0, nrsv = 0;
    loc_t loc[FR_AGG_MAX_WINDOWS];
    stash_t sx;
    int rc = 0;
    sx.n = sx.next = 0;

    /* The state is usually cold.  Its header is where it is: start loading
     * it, and prepare the event (hashes, cell offsets) while it comes. */
    __builtin_prefetch(st, 1);
    size_t off = sizeof(tile_hdr_t);
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        prep_t *p = &pr[a];
        p->off = (uint32_t)off;
        off += cell_size(s->fn);
        p->has = p->rsv = false;
        if (!fn_has_field(s->fn) || values[s->field].type != s->type)
            continue;
        p->has = true;
        p->v = values[s->field];
        act[nact++] = (uint8_t)a;
        if (s->fn == FR_FN_COUNT_DISTINCT) {
            p->h = fr_agg_value_hash(&p->v);
            p->rsv = true;
        } else if (s->fn == FR_FN_LAST && s->type == FR_T_STRING) {
            p->slen = p->v.len < FR_AGG_MAX_STRING ? p->v.len : FR_AGG_MAX_STRING;
            p->rsv = p->slen > LAST_INLINE;
        }
        if (p->rsv)
            rsv[nrsv++] = (uint8_t)a;
    }
    /* The rest of the block (win_t, inline tiles) is known from the plan
     * alone: all of it loads in parallel with the header. */
    const uint32_t rec = (uint32_t)off;
    size_t blk = state_size(plan->nwindows, plan->naggs, rec);
    for (size_t o = 64; o < blk; o += 64)
        __builtin_prefetch((const uint8_t *)st + o, 1);
    __builtin_prefetch((const uint8_t *)st + blk - 1, 1);
    FR_ASSERT(st->naggs == plan->naggs && st->nwin == plan->nwindows && st->rec == rec);

    /* Heap rings: their newest tile is where nearly every event lands;
     * start loading them all now so that their cache misses overlap. */
    for (size_t w = 0; w < plan->nwindows; w++) {
        const win_t *win = &st->win[w];
        if (!win->len || !win->heap)
            continue;
        const uint8_t *r = win_rec(win, win->len - 1, rec);
        for (uint32_t o = 0; o < rec; o += 64)
            __builtin_prefetch(r + o, 1);
        __builtin_prefetch(r + rec - 1, 1);
        __builtin_prefetch(win->t + (size_t)win->head * rec, 1);
    }

    int64_t newest = st->events && st->newest > ts ? st->newest : ts;

    /* Reserve: find each window's tile, make room, allocate what cells
     * need.  Nothing here changes a value. */
    for (size_t w = 0; w < plan->nwindows; w++) {
        const fr_window_spec_t *ws = &plan->windows[w];
        win_t *win = &st->win[w];
        loc_t *l = &loc[w];
        /* The last tile is the newest event's (apply and decode keep it
         * so); most events land in it, found with no division. */
        int64_t last = win->len ? rec_hdr(win, win->len - 1, rec)->idx : INT64_MIN;
        if (win->len && in_tile(ts, last, ws->tile_ms))
            l->idx = last;
        else
            l->idx = fr_floordiv(ts, ws->tile_ms);
        l->hi = win->len && ts <= st->newest ? last : l->idx;
        if (l->idx < l->hi && win_expired(ws, l->hi, l->idx)) {
            l->kind = LOC_SKIP; /* too old for this window */
            continue;
        }
        if (win->len && last == l->idx) {
            l->kind = LOC_HIT;
            l->pos = win->len - 1;
        } else if (!win->len || l->idx > last) {
            l->kind = LOC_APPEND;
            l->evict = win->len && win_expired(ws, l->hi, rec_hdr(win, 0, rec)->idx);
            if (win->len == win->cap && !l->evict) {
                uint32_t cap;
                rc = win_next_cap(win->cap, &cap);
                if (!rc)
                    rc = win_resize(st, w, cap);
                if (rc)
                    goto fail;
            }
        } else {
            l->pos = win_lower(win, rec, l->idx);
            l->kind = rec_hdr(win, l->pos, rec)->idx == l->idx ? LOC_HIT : LOC_INSERT;
            /* a new tile in the middle: shifted in a linear array */
            if (l->kind == LOC_INSERT && win->len == win->cap) {
                uint32_t cap;
                rc = win_next_cap(win->cap, &cap);
                if (!rc)
                    rc = win_resize(st, w, cap);
                if (rc)
                    goto fail;
            }
            if (l->kind == LOC_INSERT && win->head + win->len >= win->cap) {
                rc = win_unwrap(st, w);
                if (rc)
                    goto fail;
            }
        }
        l->same = 0;
    }
    /* Cells that may need memory, in the order the commit visits them:
     * aggregation, then window. */
    for (unsigned k = 0; k < nrsv; k++) {
        unsigned a = rsv[k];
        const fr_agg_spec_t *s = &plan->aggs[a];
        for (size_t w = 0; w < plan->nwindows; w++) {
            loc_t *l = &loc[w];
            if (l->kind == LOC_SKIP)
                continue;
            uint8_t *r = l->kind == LOC_HIT ? win_rec(&st->win[w], l->pos, rec) : NULL;
            if (s->fn == FR_FN_COUNT_DISTINCT) {
                dc_cell_t fresh = {0};
                dc_cell_t *c = r ? (dc_cell_t *)(void *)(r + pr[a].off) : &fresh;
                rc = dc_step(c, pr[a].h, &sx, false);
                if (rc == DC_SAME) {
                    l->same |= 1ULL << a;
                    rc = 0;
                }
            } else {
                last_cell_t fresh = {0};
                last_cell_t *c = r ? (last_cell_t *)(void *)(r + pr[a].off) : &fresh;
                rc = last_step(c, s->type, ts, offset, &pr[a].v, pr[a].slen, &sx, false);
            }
            if (rc)
                goto fail;
        }
    }

    /* Commit: nothing below fails. */
    uint8_t *recs[FR_AGG_MAX_WINDOWS];
    uint64_t same[FR_AGG_MAX_WINDOWS];
    unsigned nr = 0;
    for (size_t w = 0; w < plan->nwindows; w++) {
        win_t *win = &st->win[w];
        loc_t *l = &loc[w];
        uint8_t *r;
        switch (l->kind) {
        case LOC_SKIP: continue;
        case LOC_HIT: r = win_rec(win, l->pos, rec); break;
        case LOC_APPEND:
            while (l->evict && win->len &&
                   win_expired(&plan->windows[w], l->hi, rec_hdr(win, 0, rec)->idx)) {
                fr_agg_rec_release(st, win_rec(win, 0, rec));
                win->head = win->head + 1 == win->cap ? 0 : win->head + 1;
                win->len--;
            }
            FR_ASSERT(win->len < win->cap);
            r = win_rec(win, win->len, rec);
            fr_agg_rec_init(st, r, l->idx);
            win->len++;
            break;
        default:
            FR_ASSERT(win->len < win->cap && win->head + win->len < win->cap);
            r = win->t + (size_t)(win->head + l->pos) * rec;
            memmove(r + rec, r, (size_t)(win->len - l->pos) * rec);
            fr_agg_rec_init(st, r, l->idx);
            win->len++;
            break;
        }
        tile_hdr_t *h = (tile_hdr_t *)(void *)r;
        if (!TILE_COUNT(h) || ts > h->max_ts)
            h->max_ts = ts;
        h->count++;
        recs[nr] = r;
        same[nr++] = l->same;
    }
    update_cells(plan, recs, same, nr, ts, offset, pr, act, nact, &sx);
    /* Windows that were mostly expired give memory back (may fail). */
    for (size_t w = 0; w < plan->nwindows; w++) {
        win_t *win = &st->win[w];
        if (loc[w].kind == LOC_APPEND && win->heap && win->cap >= 8 && win->len * 4 <= win->cap)
            (void)win_resize(st, w, win->cap / 2);
    }
    FR_ASSERT(sx.next == sx.n);
    st->newest = newest;
    st->events++;
    return 0;

fail:
    for (unsigned i = 0; i < sx.n; i++)
        free(sx.p[i]);
    return rc;
}

/* ---- eval -------------------------------------------------------------- */

static fr_value_t eval_cells(const fr_agg_state_t *st, const fr_agg_spec_t *s, const win_t *win,
                             uint32_t b, uint32_t e, size_t off, int64_t t, uint32_t *slots,
                             uint8_t *regs)
{
    const uint32_t rec = st->rec;
    acc_t x;
    acc_init(&x);
    switch (s->fn) {
    case FR_FN_COUNT: {
        uint64_t n = 0;
        for (uint32_t i = b; i < e; i++)
            n += TILE_COUNT(rec_hdr(win, i, rec));
        return val_long((int64_t)n);
    }
    case FR_FN_SINCE_LAST:
        if (e > b)
            return val_long((int64_t)udist(t, rec_hdr(win, e - 1, rec)->max_ts));
        return (fr_value_t){.type = FR_T_NULL};
    case FR_FN_SUM:
        for (uint32_t i = b; i < e; i++) {
            const sum_cell_t *c = (const sum_cell_t *)(const void *)(win_rec(win, i, rec) + off);
            acc_sum(&x, s->type, 0, c->s);
        }
        break;
    case FR_FN_AVG:
        for (uint32_t i = b; i < e; i++) {
            const nv_cell_t *c = (const nv_cell_t *)(const void *)(win_rec(win, i, rec) + off);
            acc_sum(&x, s->type, c->n, c->v);
        }
        break;
    case FR_FN_MIN:
    case FR_FN_MAX:
        for (uint32_t i = b; i < e; i++) {
            const nv_cell_t *c = (const nv_cell_t *)(const void *)(win_rec(win, i, rec) + off);
            acc_ext(&x, s->type, s->fn == FR_FN_MAX, c->n, c->v);
        }
        break;
    case FR_FN_STDDEV:
        for (uint32_t i = b; i < e; i++) {
            const sd_cell_t *c = (const sd_cell_t *)(const void *)(win_rec(win, i, rec) + off);
            acc_sd(&x, c->n, c->s, c->sq);
        }
        break;
    case FR_FN_COUNT_DISTINCT: {
        dacc_t d;
        dacc_init(&d, slots, regs);
        for (uint32_t i = b; i < e; i++) {
            const dc_cell_t *c = (const dc_cell_t *)(const void *)(win_rec(win, i, rec) + off);
            if (c->mode == DC_EXACT) {
                const uint64_t *set = c->cap ? c->u.set : &c->u.one;
                for (uint32_t k = 0; k < c->n; k++)
                    dacc_add(&d, set[k]);
            } else if (c->mode == DC_SPARSE) {
                for (uint32_t k = 0; k < c->n; k++)
                    dacc_add_sp(&d, c->u.sp[k]);
            } else {
                dacc_to_dense(&d);
                fr_hll_merge(d.regs, c->u.regs);
            }
        }
        return val_long(dacc_result(&d));
    }
    case FR_FN_LAST:
        for (uint32_t i = e; i > b; i--) {
            const last_cell_t *c =
                (const last_cell_t *)(const void *)(win_rec(win, i - 1, rec) + off);
            if (c->lenx)
                return last_value(c, s->type);
        }
        return (fr_value_t){.type = FR_T_NULL};
    default: return (fr_value_t){.type = FR_T_NULL};
    }
    return acc_finish(&x, s->fn, s->type);
}

void fr_agg_state_eval(const fr_agg_state_t *st, const fr_agg_plan_t *plan, int64_t t,
                       fr_value_t *out)
{
    FR_ASSERT(st->naggs == plan->naggs && st->nwin == plan->nwindows);
    uint8_t regs[HLL_M];
    uint32_t slots[DACC_SP_SLOTS];
    size_t nw = plan->nwindows;
    for (size_t w = 0; w < nw; w++) {
        const fr_window_spec_t *ws = &plan->windows[w];
        const win_t *win = &st->win[w];
        int64_t hi = fr_floordiv(t, ws->tile_ms);
        int64_t lo = win_lo(hi, win_tiles(ws));
        uint32_t b = win_lower(win, st->rec, lo);
        uint32_t e = win_upper(win, st->rec, hi);
        if (e < b)
            e = b;
        size_t off = sizeof(tile_hdr_t);
        for (size_t a = 0; a < plan->naggs; a++) {
            const fr_agg_spec_t *s = &plan->aggs[a];
            out[a * nw + w] = eval_cells(st, s, win, b, e, off, t, slots, regs);
            off += cell_size(s->fn);
        }
    }
}

void fr_agg_eval_empty(const fr_agg_plan_t *plan, fr_value_t *out)
{
    size_t nw = plan->nwindows;
    for (size_t a = 0; a < plan->naggs; a++) {
        const fr_agg_spec_t *s = &plan->aggs[a];
        fr_value_t v = {.type = FR_T_NULL};
        if (s->fn == FR_FN_COUNT || s->fn == FR_FN_COUNT_DISTINCT) {
            v = val_long(0);
        } else if (fn_numeric(s->fn)) {
            acc_t x;
            acc_init(&x);
            v = acc_finish(&x, s->fn, s->type);
        }
        for (size_t w = 0; w < nw; w++)
            out[a * nw + w] = v;
    }
}
