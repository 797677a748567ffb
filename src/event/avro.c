/*
 * avro.c - the Avro codec (contract and resolution rules in avro.h).
 *
 * A writer schema, parsed by avro-c, is compiled into a flat table of
 * nodes (one per distinct type; named types are shared, so recursive
 * schemas are finite tables) with, per node, the fewest bytes a value of
 * it takes and whether it takes none at all.  One walker over that table
 * serves three purposes: it validates messages before avro-c reads them
 * (the generic path and container files), it skips what the reader does
 * not want, and it reads the wanted values in place.  Every length or
 * count is checked against the bytes left before it is trusted, nesting
 * is capped at FR_AVRO_MAX_DEPTH, and the types visited per message are
 * capped at WORK_PER_BYTE per input byte, so a hostile message costs a
 * bounded number of steps per byte and allocates nothing.
 *
 * Why not decode with avro-c: avro_value_read allocates wire-declared
 * lengths before checking them (a 7-byte message asks for 2^45 bytes; an
 * array of 2^31 nulls in 5 bytes takes 15 s and 2.6 GB), does not check
 * enum indexes (a bad index reads as a NULL symbol), and is slow: ~470 ns
 * for a 6-field event alone, 600-1000 ns with the check and the projection
 * (bench/avro_bench), against 60-120 ns for the walker.  avro-c decodes
 * container files (after the walker has accepted each block) and the
 * reference path fr_avro_decode_generic.  avro-c cannot fill reader
 * defaults (avro_resolved_writer_new fails when the reader adds a field),
 * so the projection onto the reader is ours in both paths.  Its error text
 * is a process global: calls that may set it hold fr_avro_c_lock.
 */
#include "event/avro.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/map.h"
#include "core/utf8.h"
#include "event/avro_int.h"

/* Node visits allowed per input byte (plus the top record's own fields):
 * bounds the walk of types that take no bytes, e.g. records of nulls. */
#define WORK_PER_BYTE 32
/* Most entries and bytes in a container file header. */
#define OCF_MAX_META 1024
#define OCF_MAX_HEADER (2 * FR_AVRO_MAX_SCHEMA_BYTES)


static const char *const kind_names[] = {
    "null",   "boolean", "int",  "long",  "float", "double", "bytes",
    "string", "fixed",   "enum", "array", "map",   "record", "union",
};

const char *fr_avro_kind_name(unsigned kind)
{
    return kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

/* Reader types (bit per fr_type_t) a writer kind can be read as. */
#define TB(t) (1u << (t))
static const unsigned readable_as[] = {
    [K_NULL] = TB(FR_T_STRING) | TB(FR_T_LONG) | TB(FR_T_DOUBLE) | TB(FR_T_BOOL),
    [K_BOOL] = TB(FR_T_BOOL),
    [K_INT] = TB(FR_T_LONG) | TB(FR_T_DOUBLE),
    [K_LONG] = TB(FR_T_LONG) | TB(FR_T_DOUBLE),
    [K_FLOAT] = TB(FR_T_DOUBLE),
    [K_DOUBLE] = TB(FR_T_DOUBLE),
    [K_BYTES] = TB(FR_T_STRING),
    [K_STRING] = TB(FR_T_STRING),
    [K_ENUM] = TB(FR_T_STRING),
};

static pthread_mutex_t avro_c_mu = PTHREAD_MUTEX_INITIALIZER;

void fr_avro_c_lock(void)
{
    pthread_mutex_lock(&avro_c_mu);
}

void fr_avro_c_unlock(void)
{
    pthread_mutex_unlock(&avro_c_mu);
}

/* ---- framing ---------------------------------------------------------- */

int fr_avro_unframe(const void *msg, size_t n, uint32_t *schema_id, const void **body, size_t *blen)
{
    const uint8_t *b = msg;
    if (n < 5 || b[0] != 0)
        return FR_ECORRUPT;
    *schema_id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    *body = b + 5;
    *blen = n - 5;
    return 0;
}

int fr_avro_frame(uint32_t schema_id, fr_buf_t *out)
{
    uint8_t h[5] = {0, (uint8_t)(schema_id >> 24), (uint8_t)(schema_id >> 16),
                    (uint8_t)(schema_id >> 8), (uint8_t)schema_id};
    return fr_buf_add(out, h, sizeof h);
}

/* ---- compiling a writer schema ---------------------------------------- */

typedef struct bld {
    fr_avro_proj_t *pj;
    fr_map_t named; /* avro_schema_t -> node index + 1 */
    char *err;
    size_t errlen;
} bld_t;

__attribute__((format(printf, 3, 4))) static int fail(bld_t *b, int rc, const char *fmt, ...)
{
    if (b->err && b->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err, b->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q)
        return FR_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int new_node(bld_t *b, kind_t kind, uint32_t *out)
{
    fr_avro_proj_t *pj = b->pj;
    if (pj->nnodes >= FR_AVRO_MAX_TYPES)
        return fail(b, FR_EPARSE, "the writer schema has more than %d types", FR_AVRO_MAX_TYPES);
    if (grow((void **)&pj->nodes, &pj->capnodes, pj->nnodes + 1, sizeof *pj->nodes))
        return fail(b, FR_ENOMEM, "out of memory");
    *out = pj->nnodes++;
    memset(&pj->nodes[*out], 0, sizeof(node_t));
    pj->nodes[*out].kind = (uint8_t)kind;
    return 0;
}

/* Reserves n consecutive child slots; their index in *first. */
static int new_kids(bld_t *b, uint32_t n, uint32_t *first)
{
    fr_avro_proj_t *pj = b->pj;
    if (n > FR_AVRO_MAX_TYPES || pj->nkids + n > 4u * FR_AVRO_MAX_TYPES)
        return fail(b, FR_EPARSE, "the writer schema has more than %d types", FR_AVRO_MAX_TYPES);
    if (grow((void **)&pj->kids, &pj->capkids, pj->nkids + n, sizeof *pj->kids))
        return fail(b, FR_ENOMEM, "out of memory");
    *first = pj->nkids;
    pj->nkids += n;
    return 0;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static int compile(bld_t *b, avro_schema_t s, int depth, uint32_t *out);

/* Compiles the n child schemas child(s, i) into kids[first..first+n). */
static int compile_kids(bld_t *b, avro_schema_t s, uint32_t ni, uint32_t n, int depth,
                        avro_schema_t (*child)(avro_schema_t, uint32_t))
{
    uint32_t first = 0;
    int rc = new_kids(b, n, &first);
    if (rc)
        return rc;
    b->pj->nodes[ni].first = first;
    b->pj->nodes[ni].n = n;
    for (uint32_t i = 0; i < n; i++) {
        avro_schema_t c = child(s, i);
        uint32_t k;
        if (!c)
            return fail(b, FR_EPARSE, "the writer schema has an unreadable type");
        rc = compile(b, c, depth + 1, &k);
        if (rc)
            return rc;
        b->pj->kids[first + i] = k;
    }
    return 0;
}

static avro_schema_t field_child(avro_schema_t s, uint32_t i)
{
    return avro_schema_record_field_get_by_index(s, (int)i);
}
static avro_schema_t branch_child(avro_schema_t s, uint32_t i)
{
    return avro_schema_union_branch(s, (int)i);
}
static avro_schema_t items_child(avro_schema_t s, uint32_t i)
{
    (void)i;
    return is_avro_array(s) ? avro_schema_array_items(s) : avro_schema_map_values(s);
}

/* Size facts of a compiled node from its children (see node_t). */
static void finish_node(fr_avro_proj_t *pj, node_t *nd)
{
    uint32_t h = 0;
    switch (nd->kind) {
    case K_NULL: nd->empty = true; break;
    case K_BOOL:
    case K_INT:
    case K_LONG:
    case K_BYTES:
    case K_STRING:
    case K_ENUM: nd->minsize = 1; break;
    case K_FLOAT: nd->minsize = 4; break;
    case K_DOUBLE: nd->minsize = 8; break;
    case K_FIXED:
        nd->minsize = nd->size > UINT32_MAX ? UINT32_MAX : (uint32_t)nd->size;
        nd->empty = nd->size == 0;
        break;
    case K_RECORD:
        nd->empty = true;
        for (uint32_t i = 0; i < nd->n; i++) {
            const node_t *c = &pj->nodes[pj->kids[nd->first + i]];
            /* a child still being compiled is a recursive reference:
             * counted as taking bytes, nothing, and no depth (the walk
             * checks those at run time) */
            nd->minsize = sat_add(nd->minsize, c->done ? c->minsize : 0);
            nd->empty = nd->empty && c->done && c->empty;
            if (c->done && c->height > h)
                h = c->height;
        }
        h++;
        break;
    default: /* array, map, union */
        nd->minsize = 1;
        for (uint32_t i = 0; i < nd->n; i++) {
            const node_t *c = &pj->nodes[pj->kids[nd->first + i]];
            if (c->done && c->height > h)
                h = c->height;
        }
        h++;
        break;
    }
    nd->height = h;
    nd->done = true;
}

static int compile(bld_t *b, avro_schema_t s, int depth, uint32_t *out)
{
    fr_avro_proj_t *pj = b->pj;
    if (is_avro_link(s))
        s = avro_schema_link_target(s);
    if (!s)
        return fail(b, FR_EPARSE, "the writer schema has an unresolved name");
    /* (a guard on this recursion: the height check after compiling is the
     * rule; a leaf below FR_AVRO_MAX_DEPTH containers is at depth + 1) */
    if (depth > FR_AVRO_MAX_DEPTH + 1)
        return fail(b, FR_EPARSE, "the writer schema nests deeper than %d levels",
                    FR_AVRO_MAX_DEPTH);
    uint64_t h = 0;
    bool named = is_avro_named_type(s);
    if (named) {
        h = fr_map_hash(&s, sizeof s);
        fr_map_slot_t *slot = fr_map_find(&b->named, &s, sizeof s, h);
        if (slot) {
            *out = (uint32_t)((uintptr_t)slot->value - 1);
            return 0;
        }
    }
    kind_t kind;
    switch (avro_typeof(s)) {
    case AVRO_NULL: kind = K_NULL; break;
    case AVRO_BOOLEAN: kind = K_BOOL; break;
    case AVRO_INT32: kind = K_INT; break;
    case AVRO_INT64: kind = K_LONG; break;
    case AVRO_FLOAT: kind = K_FLOAT; break;
    case AVRO_DOUBLE: kind = K_DOUBLE; break;
    case AVRO_BYTES: kind = K_BYTES; break;
    case AVRO_STRING: kind = K_STRING; break;
    case AVRO_FIXED: kind = K_FIXED; break;
    case AVRO_ENUM: kind = K_ENUM; break;
    case AVRO_ARRAY: kind = K_ARRAY; break;
    case AVRO_MAP: kind = K_MAP; break;
    case AVRO_RECORD: kind = K_RECORD; break;
    case AVRO_UNION: kind = K_UNION; break;
    default: return fail(b, FR_EPARSE, "the writer schema has a type avro-c does not know");
    }
    uint32_t ni = 0;
    int rc = new_node(b, kind, &ni);
    if (rc)
        return rc;
    if (named) {
        pj->nodes[ni].name = avro_schema_name(s);
        if (!fr_map_insert(&b->named, &s, sizeof s, h, (void *)(uintptr_t)(ni + 1)))
            return fail(b, FR_ENOMEM, "out of memory");
    }
    switch (kind) {
    case K_FIXED: {
        int64_t size = avro_schema_fixed_size(s);
        /* avro-c accepts negative sizes, then allocates them */
        if (size < 0 || size > INT32_MAX)
            return fail(b, FR_EPARSE, "fixed type '%s' has size %" PRId64, avro_schema_name(s),
                        size);
        pj->nodes[ni].size = size;
        break;
    }
    case K_ENUM: {
        int n = avro_schema_enum_number_of_symbols(s);
        if (n <= 0 || n > FR_AVRO_MAX_TYPES)
            return fail(b, FR_EPARSE, "enum '%s' has %d symbols", avro_schema_name(s), n);
        if (pj->nsyms + (uint32_t)n > 4u * FR_AVRO_MAX_TYPES)
            return fail(b, FR_EPARSE, "the writer schema has too many enum symbols");
        if (grow((void **)&pj->syms, &pj->capsyms, pj->nsyms + (uint32_t)n, sizeof *pj->syms))
            return fail(b, FR_ENOMEM, "out of memory");
        pj->nodes[ni].first = pj->nsyms;
        pj->nodes[ni].n = (uint32_t)n;
        for (int i = 0; i < n; i++) {
            const char *sym = avro_schema_enum_get(s, i);
            if (!sym)
                return fail(b, FR_EPARSE, "enum '%s' lacks symbol %d", avro_schema_name(s), i);
            pj->syms[pj->nsyms].s = sym;
            pj->syms[pj->nsyms++].len = (uint32_t)strlen(sym);
        }
        break;
    }
    case K_RECORD:
        rc = compile_kids(b, s, ni, (uint32_t)avro_schema_record_size(s), depth, field_child);
        break;
    case K_UNION:
        rc = compile_kids(b, s, ni, (uint32_t)avro_schema_union_size(s), depth, branch_child);
        if (!rc && pj->nodes[ni].n == 0)
            rc = fail(b, FR_EPARSE, "the writer schema has an empty union");
        break;
    case K_ARRAY:
    case K_MAP: rc = compile_kids(b, s, ni, 1, depth, items_child); break;
    default: break;
    }
    if (rc)
        return rc;
    finish_node(pj, &pj->nodes[ni]);
    *out = ni;
    return 0;
}

/* ---- the projection ---------------------------------------------------- */

/* "string", "record Foo", ... for messages. */
static void type_desc(const node_t *nd, char *buf, size_t len)
{
    if (nd->name)
        snprintf(buf, len, "%s %s", kind_names[nd->kind], nd->name);
    else
        snprintf(buf, len, "%s", kind_names[nd->kind]);
}

/* Whether writer node ni can be read as t; if not, *bad is the culprit. */
static bool readable(const fr_avro_proj_t *pj, uint32_t ni, fr_type_t t, uint32_t *bad)
{
    const node_t *nd = &pj->nodes[ni];
    if (nd->kind == K_UNION) {
        /* (a union in a union is not Avro, but avro-c parses it; a finite
         * nesting, since only named types recurse) */
        for (uint32_t i = 0; i < nd->n; i++)
            if (!readable(pj, pj->kids[nd->first + i], t, bad))
                return false;
        return true;
    }
    if (nd->kind < sizeof readable_as / sizeof readable_as[0] && (readable_as[nd->kind] & TB(t)))
        return true;
    *bad = ni;
    return false;
}

void fr_avro_proj_free(fr_avro_proj_t *pj)
{
    if (!pj)
        return;
    if (pj->has_gval)
        avro_value_decref(&pj->gval);
    if (pj->iface)
        avro_value_iface_decref(pj->iface);
    if (pj->mreader)
        avro_reader_free(pj->mreader);
    if (pj->wschema)
        avro_schema_decref(pj->wschema);
    free(pj->nodes);
    free(pj->kids);
    free(pj->syms);
    free(pj->wmap);
    free(pj);
}

int fr_avro_proj_new(const fr_source_spec_t *src, const char *wschema, size_t len,
                     fr_avro_proj_t **out, char *err, size_t errlen)
{
    bld_t b = {.err = err, .errlen = errlen};
    fr_map_init(&b.named);
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    int rc;
    if (len > FR_AVRO_MAX_SCHEMA_BYTES)
        return fail(&b, FR_ELIMIT, "the writer schema is %zu bytes; at most %d are read", len,
                    FR_AVRO_MAX_SCHEMA_BYTES);
    fr_avro_proj_t *pj = calloc(1, sizeof *pj);
    if (!pj)
        return fail(&b, FR_ENOMEM, "out of memory");
    b.pj = pj;
    pj->src = src;
    pj->missing = -1;
    fr_avro_c_lock();
    rc = avro_schema_from_json_length(wschema, len, &pj->wschema);
    if (rc) {
        pj->wschema = NULL;
        rc = fail(&b, FR_EPARSE, "the writer schema is not valid Avro: %s", avro_strerror());
    }
    fr_avro_c_unlock();
    if (rc)
        goto out;
    if (!is_avro_record(pj->wschema)) {
        rc = fail(&b, FR_EPARSE, "the writer schema is a %s, not a record",
                  avro_schema_type_name(pj->wschema));
        goto out;
    }
    rc = compile(&b, pj->wschema, 1, &pj->top);
    if (rc)
        goto out;
    const node_t *top = &pj->nodes[pj->top];
    if (top->height > FR_AVRO_MAX_DEPTH) {
        rc =
            fail(&b, FR_EPARSE, "the writer schema nests deeper than %d levels", FR_AVRO_MAX_DEPTH);
        goto out;
    }
    pj->wmap = malloc((top->n ? top->n : 1) * sizeof *pj->wmap);
    int from[FR_CONFIG_MAX_FIELDS];
    if (!pj->wmap) {
        rc = fail(&b, FR_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < src->nfields; k++)
        from[k] = -1;
    pj->topwork = 1;
    for (uint32_t i = 0; i < top->n; i++) {
        const char *name = avro_schema_record_field_name(pj->wschema, (int)i);
        int k = name ? fr_source_field_index(src, name) : -1;
        uint32_t ci = pj->kids[top->first + i], bad = ci;
        pj->topwork += 1 + (pj->nodes[ci].kind == K_RECORD ? pj->nodes[ci].n : 0);
        pj->wmap[i] = k;
        if (k < 0)
            continue;
        if (from[k] >= 0) { /* avro-c accepts duplicate field names */
            rc = fail(&b, FR_EPARSE, "the writer schema has field '%s' twice", name);
            goto out;
        }
        from[k] = (int)i;
        const fr_field_spec_t *f = &src->fields[k];
        if (!readable(pj, ci, f->type, &bad)) {
            char wt[FR_CONFIG_MAX_NAME + 16];
            type_desc(&pj->nodes[bad], wt, sizeof wt);
            rc = fail(&b, FR_EMISMATCH, "field '%s': the writer's %s%s cannot be read as %s",
                      f->name, bad == ci ? "type " : "union branch ", wt, fr_type_name(f->type));
            goto out;
        }
    }
    for (size_t k = 0; k < src->nfields && pj->missing < 0; k++)
        if (from[k] < 0 && !src->fields[k].optional && !src->fields[k].has_default)
            pj->missing = (int)k;
    *out = pj;
    pj = NULL;
    rc = 0;
out:
    fr_map_destroy(&b.named);
    fr_avro_proj_free(pj);
    return rc;
}

/* ---- the walker --------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p, *end, *start;
    uint64_t empty_left; /* array/map items of empty types still allowed */
    uint64_t work_left;  /* node visits still allowed */
    const char *why;     /* malformed: what, at p */
    size_t at;
    /* the first refusal that is not about the bytes */
    int sem_rc;
    const char *sem_reason, *sem_fmt;
    int sem_field;
} rd_t;

static void rd_init(rd_t *r, const fr_avro_proj_t *pj, const void *p, size_t n)
{
    r->p = r->start = p;
    r->end = r->p + n;
    r->empty_left = FR_AVRO_MAX_EMPTY_ITEMS;
    r->work_left = pj->topwork + (uint64_t)WORK_PER_BYTE * n;
    r->why = NULL;
    r->sem_rc = 0;
}

__attribute__((cold)) static int bad(rd_t *r, const char *why)
{
    if (!r->why) {
        r->why = why;
        r->at = (size_t)(r->p - r->start);
    }
    return FR_ECORRUPT;
}

static void sem(rd_t *r, int rc, const char *reason, const char *fmt, int field)
{
    if (!r->sem_rc) {
        r->sem_rc = rc;
        r->sem_reason = reason;
        r->sem_fmt = fmt;
        r->sem_field = field;
    }
}

/* A zigzag varint long: at most 10 bytes, the 10th 0 or 1. */
static inline int rd_long(rd_t *r, int64_t *out)
{
    const uint8_t *p = r->p;
    uint64_t v;
    *out = 0;
    if (__builtin_expect(p < r->end && *p < 0x80, 1)) {
        v = *p++;
    } else {
        v = 0;
        for (int shift = 0;; shift += 7) {
            if (p >= r->end)
                return bad(r, "truncated number");
            uint8_t c = *p++;
            if (shift == 63 && c > 1)
                return bad(r, "number longer than 64 bits");
            v |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80))
                break;
        }
    }
    r->p = p;
    *out = (int64_t)((v >> 1) ^ -(v & 1));
    return 0;
}

static inline int rd_int(rd_t *r, int64_t *out)
{
    int rc = rd_long(r, out);
    if (!rc && (*out < INT32_MIN || *out > INT32_MAX))
        return bad(r, "int out of range");
    return rc;
}

/* A length or count: 0 <= v <= bytes left (each item takes >= per bytes). */
static inline int rd_len(rd_t *r, int64_t *out, uint64_t per, const char *what)
{
    int rc = rd_long(r, out);
    if (rc)
        return rc;
    if (*out < 0)
        return bad(r, what);
    if ((uint64_t)*out > (uint64_t)(r->end - r->p) / per)
        return bad(r, "length beyond the end of the input");
    return 0;
}

static inline const uint8_t *rd_bytes(rd_t *r, uint64_t n)
{
    if (n > (uint64_t)(r->end - r->p)) {
        bad(r, "truncated value");
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

static int skip(const fr_avro_proj_t *pj, rd_t *r, uint32_t ni, int level);

static int skip_items(const fr_avro_proj_t *pj, rd_t *r, const node_t *nd, int level)
{
    uint32_t item = pj->kids[nd->first];
    const node_t *it = &pj->nodes[item];
    bool map = nd->kind == K_MAP;
    for (;;) {
        int64_t count = 0, bsize = -1;
        int rc = rd_long(r, &count);
        if (rc)
            return rc;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return bad(r, "bad item count");
            count = -count;
            rc = rd_len(r, &bsize, 1, "negative block size");
            if (rc)
                return rc;
        }
        const uint8_t *bstart = r->p;
        if (!map && it->empty) {
            /* items that take no bytes: nothing to walk, but they cost
             * memory in any reader that builds them */
            if ((uint64_t)count > r->empty_left)
                return bad(r, "too many items that take no bytes");
            r->empty_left -= (uint64_t)count;
        } else {
            uint64_t per = map ? sat_add(it->minsize, 1) : (it->minsize ? it->minsize : 1);
            if ((uint64_t)count > (uint64_t)(r->end - r->p) / per)
                return bad(r, "item count beyond the end of the input");
            for (int64_t i = 0; i < count; i++) {
                if (map) {
                    int64_t klen = 0;
                    rc = rd_len(r, &klen, 1, "negative map key length");
                    if (rc)
                        return rc;
                    r->p += klen;
                }
                rc = skip(pj, r, item, level);
                if (rc)
                    return rc;
            }
        }
        if (bsize >= 0 && r->p - bstart != bsize)
            return bad(r, "block size does not match its items");
    }
}

/* Checks and steps over a value of node ni, nested in `level` containers. */
static int skip(const fr_avro_proj_t *pj, rd_t *r, uint32_t ni, int level)
{
    const node_t *nd = &pj->nodes[ni];
    int64_t v = 0;
    int rc;
    if (!r->work_left--)
        return bad(r, "too much structure for the input size");
    switch (nd->kind) {
    case K_NULL: return 0;
    case K_BOOL:
        if (r->p >= r->end)
            return bad(r, "truncated boolean");
        if (*r->p > 1)
            return bad(r, "boolean is not 0 or 1");
        r->p++;
        return 0;
    case K_INT: return rd_int(r, &v);
    case K_LONG: return rd_long(r, &v);
    case K_FLOAT: return rd_bytes(r, 4) ? 0 : FR_ECORRUPT;
    case K_DOUBLE: return rd_bytes(r, 8) ? 0 : FR_ECORRUPT;
    case K_BYTES:
    case K_STRING:
        rc = rd_len(r, &v, 1, "negative length");
        if (!rc)
            r->p += v;
        return rc;
    case K_FIXED: return rd_bytes(r, (uint64_t)nd->size) ? 0 : FR_ECORRUPT;
    case K_ENUM:
        rc = rd_long(r, &v);
        if (!rc && (v < 0 || v >= nd->n))
            return bad(r, "enum index out of range");
        return rc;
    default: break;
    }
    if (level + 1 > FR_AVRO_MAX_DEPTH)
        return bad(r, "nested too deep");
    switch (nd->kind) {
    case K_UNION:
        rc = rd_long(r, &v);
        if (!rc && (v < 0 || v >= nd->n))
            return bad(r, "union branch out of range");
        return rc ? rc : skip(pj, r, pj->kids[nd->first + (uint32_t)v], level + 1);
    case K_RECORD:
        for (uint32_t i = 0; i < nd->n; i++) {
            rc = skip(pj, r, pj->kids[nd->first + i], level + 1);
            if (rc)
                return rc;
        }
        return 0;
    default: return skip_items(pj, r, nd, level + 1);
    }
}

/* ---- reading values for the reader ------------------------------------- */

static bool utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL)
            break;
    }
    for (; i < n && p[i] < 0x80; i++)
        ;
    return i == n || fr_utf8_check((const char *)p + i, n - i) == n - i;
}

static void set_string(rd_t *r, const void *s, size_t len, int field, fr_value_t *v)
{
    if (len > FR_EVENT_MAX_STRING) {
        sem(r, FR_ELIMIT, "too_long", "field '%s' is longer than 4096 bytes", field);
        return;
    }
    if (!utf8_ok(s, len)) {
        sem(r, FR_ETYPE, "wrong_type", "field '%s' is not valid UTF-8", field);
        return;
    }
    v->type = FR_T_STRING;
    v->u.s = s;
    v->len = (uint32_t)len;
}

static void set_long(int64_t x, fr_type_t t, fr_value_t *v)
{
    if (t == FR_T_LONG) {
        v->type = FR_T_LONG;
        v->u.i = x;
    } else {
        v->type = FR_T_DOUBLE;
        v->u.d = (double)x;
    }
}

static double load_double(const uint8_t *p)
{
    uint64_t bits = fr_load_u64(p);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

static float load_float(const uint8_t *p)
{
    uint32_t bits =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Reads a value of writer node ni into v, typed as reader field k. */
static int read_val(const fr_avro_proj_t *pj, rd_t *r, uint32_t ni, int k, fr_value_t *v, int level)
{
    const node_t *nd = &pj->nodes[ni];
    fr_type_t t = pj->src->fields[k].type;
    const uint8_t *b;
    int64_t x = 0;
    int rc;
    if (!r->work_left--)
        return bad(r, "too much structure for the input size");
    if (nd->kind != K_UNION && !(nd->kind < sizeof readable_as / sizeof readable_as[0] &&
                                 (readable_as[nd->kind] & TB(t)))) {
        /* not reached for a projection fr_avro_proj_new accepted */
        sem(r, FR_ETYPE, "wrong_type", "field '%s' has the wrong type", k);
        r->work_left++;
        return skip(pj, r, ni, level);
    }
    switch (nd->kind) {
    case K_NULL: v->type = FR_T_NULL; return 0;
    case K_BOOL:
        if (r->p >= r->end)
            return bad(r, "truncated boolean");
        if (*r->p > 1)
            return bad(r, "boolean is not 0 or 1");
        v->type = FR_T_BOOL;
        v->u.b = *r->p++;
        return 0;
    case K_INT:
    case K_LONG:
        rc = nd->kind == K_INT ? rd_int(r, &x) : rd_long(r, &x);
        if (!rc)
            set_long(x, t, v);
        return rc;
    case K_FLOAT:
        b = rd_bytes(r, 4);
        if (!b)
            return FR_ECORRUPT;
        v->type = FR_T_DOUBLE;
        v->u.d = (double)load_float(b);
        return 0;
    case K_DOUBLE:
        b = rd_bytes(r, 8);
        if (!b)
            return FR_ECORRUPT;
        v->type = FR_T_DOUBLE;
        v->u.d = load_double(b);
        return 0;
    case K_STRING:
    case K_BYTES:
        rc = rd_len(r, &x, 1, "negative length");
        if (rc)
            return rc;
        b = r->p;
        r->p += x;
        set_string(r, b, (size_t)x, k, v);
        return 0;
    case K_ENUM:
        rc = rd_long(r, &x);
        if (!rc && (x < 0 || x >= nd->n))
            return bad(r, "enum index out of range");
        if (!rc) {
            v->type = FR_T_STRING;
            v->u.s = pj->syms[nd->first + (uint32_t)x].s;
            v->len = pj->syms[nd->first + (uint32_t)x].len;
        }
        return rc;
    default: /* K_UNION */
        if (level + 1 > FR_AVRO_MAX_DEPTH)
            return bad(r, "nested too deep");
        rc = rd_long(r, &x);
        if (!rc && (x < 0 || x >= nd->n))
            return bad(r, "union branch out of range");
        return rc ? rc : read_val(pj, r, pj->kids[nd->first + (uint32_t)x], k, v, level + 1);
    }
}

static int reject(fr_reject_t *rej, int rc, const char *reason, const char *fmt, const char *arg)
{
    if (rej) {
        rej->reason = reason;
        snprintf(rej->detail, sizeof rej->detail, fmt, arg);
    }
    return rc;
}

static void init_vals(const fr_source_spec_t *src, fr_value_t *vals)
{
    for (size_t k = 0; k < src->nfields; k++) {
        vals[k].type = FR_T_NULL;
        vals[k].len = 0;
    }
}

/* After a walk: the refusal it found, else defaults, absences, the time. */
static int finish(const fr_avro_proj_t *pj, const rd_t *r, fr_value_t *vals, int64_t *ts_ms,
                  fr_reject_t *rej)
{
    const fr_source_spec_t *src = pj->src;
    if (r->why) {
        if (rej) {
            rej->reason = "malformed_avro";
            snprintf(rej->detail, sizeof rej->detail, "%s at byte %zu", r->why, r->at);
        }
        return FR_ECORRUPT;
    }
    if (r->sem_rc)
        return reject(rej, r->sem_rc, r->sem_reason, r->sem_fmt, src->fields[r->sem_field].name);
    if (pj->missing >= 0)
        return reject(rej, FR_EMISSING, "missing_field",
                      "required field '%s' is not in the writer's schema",
                      src->fields[pj->missing].name);
    for (size_t k = 0; k < src->nfields; k++) {
        if (vals[k].type != FR_T_NULL)
            continue;
        const fr_field_spec_t *f = &src->fields[k];
        if (f->has_default)
            vals[k] = f->def;
        else if (!f->optional)
            return reject(rej, FR_EMISSING, "missing_field", "required field '%s' is null",
                          f->name);
    }
    const fr_value_t *t = &vals[src->ts_field];
    if (t->type != FR_T_LONG)
        return reject(rej, FR_EMISSING, "missing_timestamp", "timestamp field '%s' is missing",
                      src->fields[src->ts_field].name);
    if (__builtin_mul_overflow(t->u.i, src->ts_unit_ms, ts_ms))
        return reject(rej, FR_ETYPE, "timestamp_out_of_range",
                      "timestamp field '%s' is out of range once in ms",
                      src->fields[src->ts_field].name);
    return 0;
}

int fr_avro_decode(fr_avro_proj_t *pj, const void *p, size_t n, fr_value_t *vals, int64_t *ts_ms,
                   fr_reject_t *rej)
{
    rd_t r;
    rd_init(&r, pj, p, n);
    init_vals(pj->src, vals);
    const node_t *top = &pj->nodes[pj->top];
    int rc = 0;
    for (uint32_t i = 0; i < top->n && !rc; i++) {
        uint32_t ci = pj->kids[top->first + i];
        int k = pj->wmap[i];
        rc = k < 0 ? skip(pj, &r, ci, 1) : read_val(pj, &r, ci, k, &vals[k], 1);
    }
    if (!rc && r.p != r.end)
        bad(&r, "bytes after the record");
    return finish(pj, &r, vals, ts_ms, rej);
}

/* ---- the generic path (avro-c's reader) -------------------------------- */

static int ensure_generic(fr_avro_proj_t *pj)
{
    if (pj->has_gval)
        return 0;
    if (!pj->iface)
        pj->iface = avro_generic_class_from_schema(pj->wschema);
    if (!pj->iface)
        return FR_ENOMEM;
    if (avro_generic_value_new(pj->iface, &pj->gval))
        return FR_ENOMEM;
    pj->has_gval = true;
    return 0;
}

/* Reads avro-c value av of writer node ni into v, typed as reader field k. */
static int value_val(const fr_avro_proj_t *pj, rd_t *r, avro_value_t *av, uint32_t ni, int k,
                     fr_value_t *v)
{
    const node_t *nd = &pj->nodes[ni];
    fr_type_t t = pj->src->fields[k].type;
    int rc = 0;
    if (nd->kind != K_UNION && !(nd->kind < sizeof readable_as / sizeof readable_as[0] &&
                                 (readable_as[nd->kind] & TB(t)))) {
        sem(r, FR_ETYPE, "wrong_type", "field '%s' has the wrong type", k);
        return 0;
    }
    switch (nd->kind) {
    case K_NULL: v->type = FR_T_NULL; break;
    case K_BOOL: {
        int b = 0;
        rc = avro_value_get_boolean(av, &b);
        v->type = FR_T_BOOL;
        v->u.b = b != 0;
        break;
    }
    case K_INT: {
        int32_t x = 0;
        rc = avro_value_get_int(av, &x);
        set_long(x, t, v);
        break;
    }
    case K_LONG: {
        int64_t x = 0;
        rc = avro_value_get_long(av, &x);
        set_long(x, t, v);
        break;
    }
    case K_FLOAT: {
        float x = 0;
        rc = avro_value_get_float(av, &x);
        v->type = FR_T_DOUBLE;
        v->u.d = (double)x;
        break;
    }
    case K_DOUBLE:
        v->type = FR_T_DOUBLE;
        rc = avro_value_get_double(av, &v->u.d);
        break;
    case K_STRING: {
        const char *s = NULL;
        size_t size = 0;
        rc = avro_value_get_string(av, &s, &size); /* size counts a NUL */
        if (!rc)
            set_string(r, s ? s : "", size ? size - 1 : 0, k, v);
        break;
    }
    case K_BYTES: {
        const void *s = NULL;
        size_t size = 0;
        rc = avro_value_get_bytes(av, &s, &size);
        if (!rc)
            set_string(r, s ? s : "", size, k, v);
        break;
    }
    case K_ENUM: {
        int e = -1;
        rc = avro_value_get_enum(av, &e);
        if (!rc && (e < 0 || (uint32_t)e >= nd->n))
            return bad(r, "enum index out of range");
        if (!rc) {
            v->type = FR_T_STRING;
            v->u.s = pj->syms[nd->first + (uint32_t)e].s;
            v->len = pj->syms[nd->first + (uint32_t)e].len;
        }
        break;
    }
    default: { /* K_UNION */
        int d = -1;
        avro_value_t br;
        rc = avro_value_get_discriminant(av, &d);
        if (!rc && (d < 0 || (uint32_t)d >= nd->n))
            return bad(r, "union branch out of range");
        if (!rc)
            rc = avro_value_get_current_branch(av, &br);
        if (!rc)
            return value_val(pj, r, &br, pj->kids[nd->first + (uint32_t)d], k, v);
        break;
    }
    }
    return rc ? bad(r, "avro-c could not read a value") : 0;
}

/* Projects pj->gval, a record of the writer schema, onto the reader. */
static int project_value(fr_avro_proj_t *pj, fr_value_t *vals, int64_t *ts_ms, fr_reject_t *rej)
{
    static const uint8_t none[1];
    rd_t r;
    rd_init(&r, pj, none, 0);
    init_vals(pj->src, vals);
    const node_t *top = &pj->nodes[pj->top];
    for (uint32_t i = 0; i < top->n && !r.why; i++) {
        int k = pj->wmap[i];
        avro_value_t child;
        if (k < 0)
            continue;
        if (avro_value_get_by_index(&pj->gval, i, &child, NULL)) {
            bad(&r, "avro-c could not read a field");
            break;
        }
        value_val(pj, &r, &child, pj->kids[top->first + i], k, &vals[k]);
    }
    return finish(pj, &r, vals, ts_ms, rej);
}

int fr_avro_decode_generic(fr_avro_proj_t *pj, const void *p, size_t n, fr_value_t *vals,
                           int64_t *ts_ms, fr_reject_t *rej)
{
    rd_t r;
    rd_init(&r, pj, p, n);
    if (!skip(pj, &r, pj->top, 0) && r.p != r.end)
        bad(&r, "bytes after the record");
    if (r.why)
        return finish(pj, &r, vals, ts_ms, rej);
    int rc = ensure_generic(pj);
    if (rc)
        return rc;
    if (!pj->mreader)
        pj->mreader = avro_reader_memory(p, (int64_t)n);
    if (!pj->mreader)
        return FR_ENOMEM;
    avro_reader_memory_set_source(pj->mreader, p, (int64_t)n);
    fr_avro_c_lock();
    rc = avro_value_read(pj->mreader, &pj->gval);
    fr_avro_c_unlock();
    if (rc) {
        bad(&r, "avro-c could not read the record");
        return finish(pj, &r, vals, ts_ms, rej);
    }
    return project_value(pj, vals, ts_ms, rej);
}

/* ---- the reader schema and encoding ------------------------------------ */

static bool avro_name_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

int fr_avro_schema_json(const fr_source_spec_t *src, fr_buf_t *out)
{
    char name[FR_CONFIG_MAX_NAME + 2];
    size_t n = 0;
    const char *s = src->name ? src->name : "";
    if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && *s != '_')
        name[n++] = '_';
    for (; *s && n < sizeof name - 1; s++)
        name[n++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                     (*s >= '0' && *s <= '9') || *s == '_')
                        ? *s
                        : '_';
    name[n] = 0;
    for (size_t k = 0; k < src->nfields; k++) {
        const fr_field_spec_t *f = &src->fields[k];
        if (!avro_name_ok(f->name))
            return FR_EINVAL;
        if (f->has_default && f->def.type == FR_T_DOUBLE && !isfinite(f->def.u.d))
            return FR_EINVAL;
    }
    int rc = fr_buf_addstr(out, "{\"type\":\"record\",\"name\":");
    if (!rc)
        rc = fr_jw_cstr(out, name);
    if (!rc)
        rc = fr_buf_addstr(out, ",\"namespace\":\"freshet\",\"fields\":[");
    for (size_t k = 0; !rc && k < src->nfields; k++) {
        const fr_field_spec_t *f = &src->fields[k];
        const char *tn = fr_type_name(f->type);
        rc = fr_buf_addstr(out, k ? ",{\"name\":" : "{\"name\":");
        if (!rc)
            rc = fr_jw_cstr(out, f->name);
        if (!rc && f->optional && f->has_default)
            rc = fr_buf_printf(out, ",\"type\":[\"%s\",\"null\"]", tn);
        else if (!rc && f->optional)
            rc = fr_buf_printf(out, ",\"type\":[\"null\",\"%s\"],\"default\":null", tn);
        else if (!rc)
            rc = fr_buf_printf(out, ",\"type\":\"%s\"", tn);
        if (!rc && f->has_default) {
            rc = fr_buf_addstr(out, ",\"default\":");
            if (!rc)
                rc = fr_jw_value(out, &f->def);
        }
        if (!rc)
            rc = fr_buf_addc(out, '}');
    }
    return rc ? rc : fr_buf_addstr(out, "]}");
}

static int add_long(fr_buf_t *out, int64_t v)
{
    return fr_buf_add_varint(out, ((uint64_t)v << 1) ^ (uint64_t) - (int64_t)((uint64_t)v >> 63));
}

int fr_avro_encode(const fr_source_spec_t *src, const fr_value_t *vals, fr_buf_t *out)
{
    int rc = 0;
    for (size_t k = 0; !rc && k < src->nfields; k++) {
        const fr_field_spec_t *f = &src->fields[k];
        const fr_value_t *v = &vals[k];
        if (v->type == FR_T_NULL) {
            if (!f->optional)
                return FR_EINVAL;
            rc = add_long(out, f->has_default ? 1 : 0); /* the null branch */
            continue;
        }
        if (v->type != f->type)
            return FR_EINVAL;
        if (f->optional)
            rc = add_long(out, f->has_default ? 0 : 1);
        if (rc)
            break;
        switch (v->type) {
        case FR_T_LONG: rc = add_long(out, v->u.i); break;
        case FR_T_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &v->u.d, 8);
            rc = fr_buf_add_u64(out, bits);
            break;
        }
        case FR_T_BOOL: rc = fr_buf_add_u8(out, v->u.b ? 1 : 0); break;
        case FR_T_STRING:
            rc = add_long(out, v->len);
            if (!rc)
                rc = fr_buf_add(out, v->u.s, v->len);
            break;
        default: return FR_EINVAL;
        }
    }
    return rc;
}

/* ---- the codec: framing plus a cache of projections by schema id ------- */

typedef struct centry {
    uint32_t id;
    fr_avro_proj_t *pj; /* NULL: a refusal remembered */
    int rc;             /* FR_ENOTFOUND (until `until`) or FR_EMISMATCH (for good) */
    uint64_t until;     /* mono ns */
    uint64_t used;      /* for eviction */
    char *why;          /* FR_EMISMATCH: the detail */
} centry_t;

struct fr_avro_codec {
    const fr_source_spec_t *src;
    fr_avro_lookup_fn lookup;
    void *ctx;
    size_t max_message;
    centry_t *e;
    size_t n;
    size_t last; /* the last entry found */
    uint64_t clock;
    fr_buf_t schema;
};

int fr_avro_codec_new(const fr_source_spec_t *src, fr_avro_lookup_fn lookup, void *ctx,
                      size_t max_message_bytes, fr_avro_codec_t **out)
{
    fr_avro_codec_t *c = calloc(1, sizeof *c);
    if (c)
        c->e = calloc(FR_AVRO_CACHE_MAX, sizeof *c->e);
    if (!c || !c->e) {
        free(c);
        *out = NULL;
        return FR_ENOMEM;
    }
    c->src = src;
    c->lookup = lookup;
    c->ctx = ctx;
    c->max_message = max_message_bytes;
    fr_buf_init(&c->schema, FR_AVRO_MAX_SCHEMA_BYTES);
    *out = c;
    return 0;
}

static void centry_clear(centry_t *e)
{
    fr_avro_proj_free(e->pj);
    free(e->why);
    memset(e, 0, sizeof *e);
}

void fr_avro_codec_free(fr_avro_codec_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        centry_clear(&c->e[i]);
    free(c->e);
    fr_buf_destroy(&c->schema);
    free(c);
}

/* A slot for a new entry: a free one, else the least recently used. */
static centry_t *centry_new(fr_avro_codec_t *c, uint32_t id)
{
    size_t i = c->n;
    if (c->n < FR_AVRO_CACHE_MAX) {
        c->n++;
    } else {
        i = 0;
        for (size_t j = 1; j < c->n; j++)
            if (c->e[j].used < c->e[i].used)
                i = j;
        centry_clear(&c->e[i]);
    }
    c->e[i].id = id;
    c->e[i].used = ++c->clock;
    c->last = i;
    return &c->e[i];
}

/* Looks id up in the registry and remembers the outcome (see avro.h). */
static int resolve(fr_avro_codec_t *c, uint32_t id, centry_t **out, fr_reject_t *rej)
{
    char err[256];
    char sid[16];
    snprintf(sid, sizeof sid, "%" PRIu32, id);
    fr_buf_reset(&c->schema);
    int rc = c->lookup(c->ctx, id, &c->schema);
    if (rc == FR_ENOTFOUND) {
        centry_t *e = centry_new(c, id);
        e->rc = FR_ENOTFOUND;
        e->until = fr_mono_ns() + (uint64_t)FR_AVRO_NEGATIVE_TTL_MS * 1000000u;
        return reject(rej, FR_ENOTFOUND, "unknown_schema", "schema id %s is not in the registry",
                      sid);
    }
    if (rc == FR_ENOMEM)
        return reject(rej, FR_ENOMEM, "out_of_memory", "out of memory looking up schema id %s",
                      sid);
    fr_avro_proj_t *pj = NULL;
    if (rc == FR_ELIMIT) {
        snprintf(err, sizeof err, "the schema is larger than %d bytes", FR_AVRO_MAX_SCHEMA_BYTES);
    } else if (rc) {
        return reject(rej, FR_EUNAVAIL, "registry_unavailable",
                      "the schema registry did not answer for schema id %s", sid);
    } else {
        rc = fr_avro_proj_new(c->src, c->schema.p ? c->schema.p : "", c->schema.len, &pj, err,
                              sizeof err);
        if (rc == FR_ENOMEM)
            return reject(rej, FR_ENOMEM, "out_of_memory", "out of memory building schema id %s",
                          sid);
    }
    centry_t *e = centry_new(c, id);
    if (pj) {
        e->pj = pj;
        *out = e;
        return 0;
    }
    e->rc = FR_EMISMATCH;
    e->why = strdup(err);
    if (rej) {
        rej->reason = "incompatible_schema";
        snprintf(rej->detail, sizeof rej->detail, "schema id %s: %.100s", sid, err);
    }
    return FR_EMISMATCH;
}

int fr_avro_codec_decode(fr_avro_codec_t *c, const void *msg, size_t n, fr_value_t *vals,
                         int64_t *ts_ms, fr_reject_t *rej)
{
    uint32_t id;
    const void *body;
    size_t blen;
    char tmp[32];
    if (n > c->max_message) {
        snprintf(tmp, sizeof tmp, "%zu", c->max_message);
        return reject(rej, FR_ELIMIT, "too_large", "the message is larger than %s bytes", tmp);
    }
    if (fr_avro_unframe(msg, n, &id, &body, &blen))
        return reject(rej, FR_ECORRUPT, "malformed_avro",
                      "no Confluent frame (magic byte 0 and a 4-byte schema id)%s", "");
    centry_t *e = NULL;
    if (c->n && c->e[c->last].id == id) {
        e = &c->e[c->last];
    } else {
        for (size_t i = 0; i < c->n; i++)
            if (c->e[i].id == id) {
                e = &c->e[i];
                c->last = i;
                break;
            }
    }
    if (e && !e->pj && e->rc == FR_ENOTFOUND && fr_mono_ns() >= e->until) {
        centry_clear(e); /* forget it: ask again */
        *e = c->e[--c->n];
        memset(&c->e[c->n], 0, sizeof c->e[c->n]);
        c->last = 0;
        e = NULL;
    }
    if (!e) {
        int rc = resolve(c, id, &e, rej);
        if (rc)
            return rc;
    }
    e->used = ++c->clock;
    if (e->pj)
        return fr_avro_decode(e->pj, body, blen, vals, ts_ms, rej);
    snprintf(tmp, sizeof tmp, "%" PRIu32, id);
    if (e->rc == FR_ENOTFOUND)
        return reject(rej, FR_ENOTFOUND, "unknown_schema", "schema id %s is not in the registry",
                      tmp);
    if (rej) {
        rej->reason = "incompatible_schema";
        snprintf(rej->detail, sizeof rej->detail, "schema id %s: %.100s", tmp,
                 e->why ? e->why : "cannot be read");
    }
    return FR_EMISMATCH;
}

/* ---- Object Container Files -------------------------------------------- */

/*
 * avro-c reads the file through a stdio cookie stream that serves only
 * bytes this file has already checked: the header at open, then one block
 * at a time, checked when avro-c first asks for its bytes.  When a block
 * is broken the stream ends before it; the record count of the checked
 * blocks then tells the end of the file from a broken one (avro-c's
 * reader reports the end as an error too: -1, "Cannot read 1 bytes").
 */
struct fr_avro_file {
    FILE *raw;            /* the file, read by the checks */
    avro_file_reader_t r; /* reads the cookie stream; NULL for a file without blocks */
    fr_avro_proj_t *pj;
    bool null_codec;
    uint8_t sync[16];
    fr_buf_t q; /* checked bytes not yet served to avro-c */
    size_t qoff;
    uint64_t checked;  /* records in the blocks checked */
    uint64_t returned; /* records read by avro-c */
    int end_rc;        /* why no block follows: FR_ENOTFOUND, FR_ECORRUPT, -errno */
    int broken;        /* avro-c failed: every later call returns this */
    char why[256];
};

/* Exactly n bytes of the file, appended to q. */
static int raw_take(fr_avro_file_t *f, size_t n, const char *what)
{
    int rc = fr_buf_reserve(&f->q, n);
    if (rc) {
        snprintf(f->why, sizeof f->why, "%s is too large", what);
        return rc == FR_ENOMEM ? rc : FR_ECORRUPT;
    }
    size_t got = n ? fread(f->q.p + f->q.len, 1, n, f->raw) : 0;
    if (got != n) {
        if (ferror(f->raw)) {
            snprintf(f->why, sizeof f->why, "cannot read: %s", strerror(EIO));
            return FR_EIO;
        }
        snprintf(f->why, sizeof f->why, "truncated %s", what);
        return FR_ECORRUPT;
    }
    f->q.len += n;
    f->q.p[f->q.len] = 0;
    return 0;
}

/* A zigzag varint long from the file, appended to q. */
static int raw_long(fr_avro_file_t *f, int64_t *out, const char *what)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        size_t at = f->q.len;
        int rc = raw_take(f, 1, what);
        if (rc)
            return rc;
        uint8_t c = (uint8_t)f->q.p[at];
        if (shift == 63 && c > 1) {
            snprintf(f->why, sizeof f->why, "bad number in %s", what);
            return FR_ECORRUPT;
        }
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
    }
    *out = (int64_t)((v >> 1) ^ -(v & 1));
    return 0;
}

static int corrupt(fr_avro_file_t *f, const char *fmt, const char *arg)
{
    snprintf(f->why, sizeof f->why, fmt, arg);
    return FR_ECORRUPT;
}

/* Checks the header; its schema and codec into *schema / codec. */
static int scan_header(fr_avro_file_t *f, char **schema, size_t *slen, char *codec, size_t codeclen)
{
    int rc = raw_take(f, 4, "header");
    if (rc)
        return rc;
    if (memcmp(f->q.p, "Obj\x01", 4))
        return corrupt(f, "not an Avro container file (no 'Obj\\x01' magic)%s", "");
    size_t entries = 0;
    bool have_codec = false;
    codec[0] = 0;
    for (;;) {
        int64_t count, bsize;
        rc = raw_long(f, &count, "header");
        if (rc)
            return rc;
        if (count == 0)
            break;
        if (count < 0) {
            if (count == INT64_MIN)
                return corrupt(f, "bad header%s", "");
            count = -count;
            rc = raw_long(f, &bsize, "header");
            if (rc)
                return rc;
        }
        if ((uint64_t)count > OCF_MAX_META - entries)
            return corrupt(f, "the header has too many entries%s", "");
        entries += (size_t)count;
        for (int64_t i = 0; i < count; i++) {
            int64_t klen, vlen;
            rc = raw_long(f, &klen, "header");
            if (rc)
                return rc;
            if (klen < 0 || klen > 1024)
                return corrupt(f, "bad header key length%s", "");
            size_t kat = f->q.len;
            rc = raw_take(f, (size_t)klen, "header");
            if (!rc)
                rc = raw_long(f, &vlen, "header");
            if (rc)
                return rc;
            if (vlen < 0 || vlen > FR_AVRO_MAX_SCHEMA_BYTES)
                return corrupt(f, "bad header value length%s", "");
            size_t vat = f->q.len;
            rc = raw_take(f, (size_t)vlen, "header");
            if (rc)
                return rc;
            const char *key = f->q.p + kat;
            if (klen == 11 && !memcmp(key, "avro.schema", 11)) {
                free(*schema);
                *schema = malloc((size_t)vlen + 1);
                if (!*schema)
                    return FR_ENOMEM;
                memcpy(*schema, f->q.p + vat, (size_t)vlen);
                *slen = (size_t)vlen;
            } else if (klen == 10 && !memcmp(key, "avro.codec", 10)) {
                snprintf(codec, codeclen, "%.*s", (int)(vlen < 32 ? vlen : 32), f->q.p + vat);
                have_codec = true;
            }
        }
    }
    size_t at = f->q.len;
    rc = raw_take(f, 16, "header");
    if (rc)
        return rc;
    memcpy(f->sync, f->q.p + at, 16);
    if (!*schema)
        return corrupt(f, "the header has no avro.schema%s", "");
    /* avro-c requires the codec entry (the specification does not) */
    if (!have_codec)
        return corrupt(f, "the header has no avro.codec%s", "");
    if (strcmp(codec, "null") && strcmp(codec, "deflate") && strcmp(codec, "snappy") &&
        strcmp(codec, "lzma"))
        return corrupt(f, "codec '%s' is not supported", codec);
    f->null_codec = !strcmp(codec, "null");
    return 0;
}

/* Checks the next block and appends it to q; at the end or on a broken
 * block sets end_rc instead. */
static void scan_block(fr_avro_file_t *f)
{
    int c = getc(f->raw);
    if (c == EOF) {
        f->end_rc = ferror(f->raw) ? FR_EIO : FR_ENOTFOUND;
        if (f->end_rc == FR_EIO)
            snprintf(f->why, sizeof f->why, "cannot read: %s", strerror(EIO));
        return;
    }
    ungetc(c, f->raw);
    size_t start = f->q.len;
    int64_t count, size;
    int rc = raw_long(f, &count, "block");
    if (!rc)
        rc = raw_long(f, &size, "block");
    const node_t *top = &f->pj->nodes[f->pj->top];
    if (!rc && (count <= 0 || size < 0 || size > FR_AVRO_MAX_BLOCK_BYTES ||
                (top->empty ? count > FR_AVRO_MAX_EMPTY_ITEMS : f->null_codec && count > size)))
        rc = corrupt(f, "bad block count or size%s", "");
    size_t data = f->q.len;
    if (!rc)
        rc = raw_take(f, (size_t)size, "block");
    size_t sync = f->q.len;
    if (!rc)
        rc = raw_take(f, 16, "block");
    if (!rc && memcmp(f->q.p + sync, f->sync, 16))
        rc = corrupt(f, "block sync marker does not match the header's%s", "");
    if (!rc && f->null_codec) {
        rd_t r;
        rd_init(&r, f->pj, f->q.p + data, (size_t)size);
        for (int64_t i = 0; i < count && !r.why; i++) {
            r.empty_left = FR_AVRO_MAX_EMPTY_ITEMS;
            r.work_left = f->pj->topwork + (uint64_t)WORK_PER_BYTE * (uint64_t)(r.end - r.p);
            skip(f->pj, &r, f->pj->top, 0);
        }
        if (!r.why && r.p != r.end)
            bad(&r, "bytes after the last record of a block");
        if (r.why) {
            char w[96];
            snprintf(w, sizeof w, "%s at byte %zu of a block", r.why, r.at);
            rc = corrupt(f, "%s", w);
        }
    }
    if (rc) {
        f->q.len = start; /* the stream ends before the broken block */
        f->end_rc = rc;
        return;
    }
    f->checked += (uint64_t)count;
}

static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
    fr_avro_file_t *f = cookie;
    while (f->qoff == f->q.len) {
        if (f->end_rc)
            return 0;
        fr_buf_reset(&f->q);
        f->qoff = 0;
        scan_block(f);
    }
    size_t n = f->q.len - f->qoff < size ? f->q.len - f->qoff : size;
    memcpy(buf, f->q.p + f->qoff, n);
    f->qoff += n;
    return (ssize_t)n;
}

static int cookie_close(void *cookie)
{
    (void)cookie;
    return 0;
}

void fr_avro_file_close(fr_avro_file_t *f)
{
    if (!f)
        return;
    if (f->r)
        avro_file_reader_close(f->r); /* closes the cookie stream */
    if (f->raw)
        fclose(f->raw);
    fr_avro_proj_free(f->pj);
    fr_buf_destroy(&f->q);
    free(f);
}

int fr_avro_file_open(const char *path, const fr_source_spec_t *src, fr_avro_file_t **out,
                      char *err, size_t errlen)
{
    char *schema = NULL;
    size_t slen = 0;
    char codec[40];
    char perr[200] = "";
    int rc;
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    fr_avro_file_t *f = calloc(1, sizeof *f);
    if (!f)
        return FR_ENOMEM;
    fr_buf_init(&f->q, OCF_MAX_HEADER + FR_AVRO_MAX_BLOCK_BYTES + 64);
    f->raw = fopen(path, "rb");
    if (!f->raw) {
        rc = -errno;
        snprintf(f->why, sizeof f->why, "cannot open: %s", strerror(errno));
        goto out;
    }
    rc = scan_header(f, &schema, &slen, codec, sizeof codec);
    if (rc)
        goto out;
    rc = fr_avro_proj_new(src, schema, slen, &f->pj, perr, sizeof perr);
    if (rc) {
        snprintf(f->why, sizeof f->why, "%s", perr);
        goto out;
    }
    rc = ensure_generic(f->pj);
    if (rc)
        goto out;
    scan_block(f);
    if (f->end_rc == FR_ENOTFOUND) /* no records: nothing for avro-c to read */
        goto done;
    if (f->end_rc) {
        rc = f->end_rc;
        goto out;
    }
    cookie_io_functions_t io = {.read = cookie_read, .close = cookie_close};
    FILE *ck = fopencookie(f, "r", io);
    if (!ck) {
        rc = FR_ENOMEM;
        goto out;
    }
    setvbuf(ck, NULL, _IONBF, 0);
    fr_avro_c_lock();
    rc = avro_file_reader_fp(ck, path, 1, &f->r);
    if (rc)
        snprintf(f->why, sizeof f->why, "avro-c: %s", avro_strerror());
    fr_avro_c_unlock();
    if (rc) {
        f->r = NULL;
        rc = FR_ECORRUPT;
        goto out;
    }
done:
    *out = f;
    f = NULL;
    rc = 0;
out:
    if (rc && err && errlen)
        snprintf(err, errlen, "%s: %s", path, f->why[0] ? f->why : fr_strerror(rc));
    free(schema);
    fr_avro_file_close(f);
    return rc;
}

int fr_avro_file_next(fr_avro_file_t *f, fr_value_t *vals, int64_t *ts_ms, fr_reject_t *rej)
{
    if (f->broken)
        return reject(rej, f->broken, "malformed_avro", "%.150s", f->why);
    /* checking a block only appends to what avro-c will read */
    while (f->returned == f->checked && !f->end_rc)
        scan_block(f);
    if (f->returned == f->checked) {
        if (f->end_rc == FR_ENOTFOUND)
            return FR_ENOTFOUND;
        f->broken = f->end_rc;
        return reject(rej, f->broken, "malformed_avro", "%.150s", f->why);
    }
    fr_avro_c_lock();
    int rc = avro_file_reader_read_value(f->r, &f->pj->gval);
    if (rc)
        snprintf(f->why, sizeof f->why, "avro-c: %s", avro_strerror());
    fr_avro_c_unlock();
    if (rc) {
        f->broken = FR_ECORRUPT;
        return reject(rej, f->broken, "malformed_avro", "%.150s", f->why);
    }
    f->returned++;
    return project_value(f->pj, vals, ts_ms, rej);
}
