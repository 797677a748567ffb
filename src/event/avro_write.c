/*
 * avro_write.c - writing a source's values with someone else's writer
 * schema (fr_avro_writer_*, contract in avro.h).
 *
 * HTTP ingest into an Avro Kafka source writes with the schema registered
 * for the topic, so that every consumer of the topic reads the events as
 * it reads any other producer's.  The schema is compiled by the codec's
 * projection (avro.c: it already checks that each field the source shares
 * with the schema can be read back as the source's type) and then planned
 * field by field in the other direction: which union branch a value takes,
 * which values do not fit (an int out of range, a string that is no enum
 * symbol), and the bytes of the defaults of the schema's fields the source
 * lacks, encoded once here from the schema's JSON (avro-c does not keep
 * defaults).  Encoding then walks the plan: no allocation beyond the
 * output, nothing shared is written, so any number of threads may encode
 * with one writer.
 */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"
#include "event/avro_int.h"

typedef struct wfield {
    int k;           /* the source field written here, or -1: its default */
    uint32_t node;   /* the field's type */
    int null_branch; /* a union's null branch, or -1 */
    bool has_def;    /* the default's bytes are defs[def_off, def_off + def_len) */
    size_t def_off, def_len;
} wfield_t;

struct fr_avro_writer {
    fr_avro_proj_t *pj;
    const fr_source_spec_t *src;
    wfield_t *f;
    uint32_t nf;
    fr_buf_t defs;
};

void fr_avro_writer_free(fr_avro_writer_t *w)
{
    if (!w)
        return;
    fr_avro_proj_free(w->pj);
    free(w->f);
    fr_buf_destroy(&w->defs);
    free(w);
}

static int add_zigzag(fr_buf_t *out, int64_t v)
{
    return fr_buf_add_varint(out, ((uint64_t)v << 1) ^ (uint64_t) - (int64_t)((uint64_t)v >> 63));
}

static int add_float(fr_buf_t *out, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return fr_buf_add_u32(out, bits);
}

static int add_double(fr_buf_t *out, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return fr_buf_add_u64(out, bits);
}

/* ---- defaults: JSON values of the schema, encoded once ------------------- */

/* Avro's JSON for bytes and fixed: a string whose code points 0..255 are
 * the bytes.  0, or -1 when a code point is above 255. */
static int latin1_bytes(const char *s, size_t n, fr_buf_t *out)
{
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t l = fr_utf8_len(p, n - i);
        unsigned cp = l == 1 ? p[0] : l == 2 ? ((p[0] & 0x1fu) << 6 | (p[1] & 0x3fu)) : 256;
        if (!l || cp > 255)
            return -1;
        if (fr_buf_add_u8(out, (uint8_t)cp))
            return -2;
        i += l;
    }
    return 0;
}

/*
 * Appends the JSON default d as a value of node ni.  0; FR_EMISMATCH with
 * *why when d is not a value of the type or is one this writer does not
 * write (a record); FR_ELIMIT, FR_ENOMEM.
 */
static int enc_default(const fr_avro_proj_t *pj, uint32_t ni, json_t *d, fr_buf_t *out, int depth,
                       const char **why)
{
    const node_t *nd = &pj->nodes[ni];
    if (depth > FR_AVRO_MAX_DEPTH) {
        *why = "it nests too deep";
        return FR_EMISMATCH;
    }
    int rc = 0;
    switch (nd->kind) {
    case K_NULL:
        if (!json_is_null(d))
            goto bad;
        return 0;
    case K_BOOL:
        if (!json_is_boolean(d))
            goto bad;
        return fr_buf_add_u8(out, json_is_true(d) ? 1 : 0);
    case K_INT:
        if (!json_is_integer(d) || json_integer_value(d) < INT32_MIN ||
            json_integer_value(d) > INT32_MAX)
            goto bad;
        return add_zigzag(out, json_integer_value(d));
    case K_LONG:
        if (!json_is_integer(d))
            goto bad;
        return add_zigzag(out, json_integer_value(d));
    case K_FLOAT:
        if (!json_is_number(d))
            goto bad;
        return add_float(out, (float)json_number_value(d));
    case K_DOUBLE:
        if (!json_is_number(d))
            goto bad;
        return add_double(out, json_number_value(d));
    case K_STRING:
        if (!json_is_string(d))
            goto bad;
        rc = add_zigzag(out, (int64_t)json_string_length(d));
        return rc ? rc : fr_buf_add(out, json_string_value(d), json_string_length(d));
    case K_BYTES:
    case K_FIXED: {
        if (!json_is_string(d))
            goto bad;
        fr_buf_t b;
        fr_buf_init(&b, json_string_length(d) + 1);
        int lr = latin1_bytes(json_string_value(d), json_string_length(d), &b);
        if (!lr && nd->kind == K_FIXED && (int64_t)b.len != nd->size)
            lr = -1;
        if (!lr && nd->kind == K_BYTES)
            rc = add_zigzag(out, (int64_t)b.len);
        if (!lr && !rc && b.len)
            rc = fr_buf_add(out, b.p, b.len);
        fr_buf_destroy(&b);
        if (lr == -2)
            return FR_ENOMEM;
        if (lr)
            goto bad;
        return rc;
    }
    case K_ENUM:
        if (!json_is_string(d))
            goto bad;
        for (uint32_t i = 0; i < nd->n; i++) {
            const sym_t *sy = &pj->syms[nd->first + i];
            if (sy->len == json_string_length(d) && !memcmp(sy->s, json_string_value(d), sy->len))
                return add_zigzag(out, i);
        }
        goto bad;
    case K_ARRAY:
    case K_MAP: {
        size_t n = nd->kind == K_ARRAY ? json_array_size(d) : json_object_size(d);
        if (nd->kind == K_ARRAY ? !json_is_array(d) : !json_is_object(d))
            goto bad;
        uint32_t item = pj->kids[nd->first];
        if (n)
            rc = add_zigzag(out, (int64_t)n);
        if (nd->kind == K_ARRAY) {
            for (size_t i = 0; !rc && i < n; i++)
                rc = enc_default(pj, item, json_array_get(d, i), out, depth + 1, why);
        } else {
            const char *key;
            json_t *v;
            json_object_foreach(d, key, v)
            {
                rc = add_zigzag(out, (int64_t)strlen(key));
                rc = rc ? rc : fr_buf_addstr(out, key);
                rc = rc ? rc : enc_default(pj, item, v, out, depth + 1, why);
                if (rc)
                    break;
            }
        }
        return rc ? rc : fr_buf_add_u8(out, 0);
    }
    case K_UNION: /* a union's default is a value of its first branch */
        rc = fr_buf_add_u8(out, 0);
        return rc ? rc : enc_default(pj, pj->kids[nd->first], d, out, depth + 1, why);
    case K_RECORD: *why = "freshet does not write record defaults"; return FR_EMISMATCH;
    default: break;
    }
bad:
    *why = "the default is not a value of the field's type";
    return FR_EMISMATCH;
}

/* ---- the plan ------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return FR_EMISMATCH;
}

int fr_avro_writer_new(const fr_source_spec_t *src, const char *wschema, size_t len,
                       fr_avro_writer_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    fr_avro_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return FR_ENOMEM;
    w->src = src;
    fr_buf_init(&w->defs, FR_AVRO_MAX_SCHEMA_BYTES);
    json_t *doc = NULL;
    int rc = fr_avro_proj_new(src, wschema, len, &w->pj, err, errlen);
    if (rc)
        goto out;
    const fr_avro_proj_t *pj = w->pj;
    const node_t *top = &pj->nodes[pj->top];
    w->nf = top->n;
    w->f = calloc(top->n ? top->n : 1, sizeof *w->f);
    doc = json_loadb(wschema, len, 0, NULL); /* avro-c parsed it: this does too */
    json_t *jfields = json_object_get(doc, "fields");
    if (!w->f || !doc) {
        rc = w->f ? fail(err, errlen, "the schema's JSON does not parse") : FR_ENOMEM;
        goto out;
    }
    int seen[FR_CONFIG_MAX_FIELDS] = {0};
    for (uint32_t i = 0; i < top->n; i++) {
        wfield_t *f = &w->f[i];
        f->k = pj->wmap[i];
        f->node = pj->kids[top->first + i];
        f->null_branch = -1;
        if (f->k >= 0)
            seen[f->k] = 1;
        const node_t *nd = &pj->nodes[f->node];
        for (uint32_t b = 0; nd->kind == K_UNION && b < nd->n; b++)
            if (pj->nodes[pj->kids[nd->first + b]].kind == K_NULL && f->null_branch < 0)
                f->null_branch = (int)b;
        const char *name = avro_schema_record_field_name(pj->wschema, (int)i);
        json_t *jf = json_array_get(jfields, i);
        json_t *jn = json_object_get(jf, "name");
        json_t *def = json_object_get(jf, "default");
        if (!name || !json_is_string(jn) || strcmp(json_string_value(jn), name) != 0) {
            rc = fail(err, errlen, "the schema's fields are not where avro-c has them");
            goto out;
        }
        const char *why = NULL;
        size_t at = w->defs.len;
        int drc = def ? enc_default(pj, f->node, def, &w->defs, 1, &why) : FR_EMISMATCH;
        if (drc == FR_ENOMEM || drc == FR_ELIMIT) {
            rc = drc;
            goto out;
        }
        if (!drc) {
            f->has_def = true;
            f->def_off = at;
            f->def_len = w->defs.len - at;
        } else {
            w->defs.len = at; /* (a default this writer cannot write is as none) */
        }
        if (f->k < 0 && !f->has_def) {
            rc = fail(err, errlen,
                      "field '%s' of the schema is not a field of source '%s' and has %s", name,
                      src->name, def ? "a default freshet cannot write" : "no default");
            goto out;
        }
    }
    for (size_t k = 0; k < src->nfields; k++)
        if (!seen[k]) {
            rc = fail(err, errlen,
                      "field '%s' of source '%s' is not in the schema (its values would be lost)",
                      src->fields[k].name, src->name);
            goto out;
        }
    *out = w;
    w = NULL;
out:
    json_decref(doc);
    fr_avro_writer_free(w);
    return rc;
}

/* ---- encoding --------------------------------------------------------------- */

static int refuse(fr_reject_t *rej, int rc, const char *reason, const char *field,
                  const char *what)
{
    rej->reason = reason;
    snprintf(rej->detail, sizeof rej->detail, "field '%s': %s in the registered schema", field,
             what);
    return rc;
}

/* Whether v can be written as kind k (of node nd); 1 yes, 0 no. */
static int fits(const fr_avro_proj_t *pj, const node_t *nd, const fr_value_t *v)
{
    switch (nd->kind) {
    case K_BOOL: return v->type == FR_T_BOOL;
    case K_LONG:
    case K_INT: {
        double lo = nd->kind == K_INT ? INT32_MIN : -9223372036854775808.0;
        double hi = nd->kind == K_INT ? INT32_MAX : 9223372036854775807.0;
        if (v->type == FR_T_LONG)
            return nd->kind == K_LONG || (v->u.i >= INT32_MIN && v->u.i <= INT32_MAX);
        return v->type == FR_T_DOUBLE && v->u.d == floor(v->u.d) && v->u.d >= lo &&
               (nd->kind == K_INT ? v->u.d <= hi : v->u.d < hi);
    }
    case K_FLOAT:
        return v->type == FR_T_DOUBLE && (!isfinite(v->u.d) || fabs(v->u.d) <= FLT_MAX);
    case K_DOUBLE: return v->type == FR_T_DOUBLE;
    case K_STRING:
    case K_BYTES: return v->type == FR_T_STRING;
    case K_ENUM:
        if (v->type != FR_T_STRING)
            return 0;
        for (uint32_t i = 0; i < nd->n; i++)
            if (pj->syms[nd->first + i].len == v->len &&
                !memcmp(pj->syms[nd->first + i].s, v->u.s, v->len))
                return 1;
        return 0;
    default: return 0;
    }
}

/* Appends non-null v as node nd, which fits it. */
static int put(const fr_avro_proj_t *pj, const node_t *nd, const fr_value_t *v, fr_buf_t *out)
{
    switch (nd->kind) {
    case K_BOOL: return fr_buf_add_u8(out, v->u.b ? 1 : 0);
    case K_LONG:
    case K_INT: return add_zigzag(out, v->type == FR_T_LONG ? v->u.i : (int64_t)v->u.d);
    case K_FLOAT: return add_float(out, (float)v->u.d);
    case K_DOUBLE: return add_double(out, v->u.d);
    case K_STRING:
    case K_BYTES: {
        int rc = add_zigzag(out, (int64_t)v->len);
        return rc ? rc : fr_buf_add(out, v->u.s, v->len);
    }
    case K_ENUM:
        for (uint32_t i = 0; i < nd->n; i++)
            if (pj->syms[nd->first + i].len == v->len &&
                !memcmp(pj->syms[nd->first + i].s, v->u.s, v->len))
                return add_zigzag(out, i);
        return FR_EINVAL;
    default: return FR_EINVAL;
    }
}

/* A union's branch for v: the first, in the order of the kinds preferred
 * for v's type, that fits; -1 if none. */
static int pick_branch(const fr_avro_proj_t *pj, const node_t *u, const fr_value_t *v)
{
    static const uint8_t pref_long[] = {K_LONG, K_INT};
    static const uint8_t pref_double[] = {K_DOUBLE, K_FLOAT, K_LONG, K_INT};
    static const uint8_t pref_string[] = {K_STRING, K_BYTES, K_ENUM};
    static const uint8_t pref_bool[] = {K_BOOL};
    const uint8_t *pref = v->type == FR_T_LONG     ? pref_long
                          : v->type == FR_T_DOUBLE ? pref_double
                          : v->type == FR_T_STRING ? pref_string
                                                   : pref_bool;
    size_t np = v->type == FR_T_LONG     ? sizeof pref_long
                : v->type == FR_T_DOUBLE ? sizeof pref_double
                : v->type == FR_T_STRING ? sizeof pref_string
                                         : sizeof pref_bool;
    for (size_t p = 0; p < np; p++)
        for (uint32_t b = 0; b < u->n; b++) {
            const node_t *nd = &pj->nodes[pj->kids[u->first + b]];
            if (nd->kind == pref[p] && fits(pj, nd, v))
                return (int)b;
        }
    return -1;
}

int fr_avro_writer_encode(const fr_avro_writer_t *w, const fr_value_t *vals, fr_buf_t *out,
                          fr_reject_t *rej)
{
    const fr_avro_proj_t *pj = w->pj;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < w->nf; i++) {
        const wfield_t *f = &w->f[i];
        const node_t *nd = &pj->nodes[f->node];
        const fr_value_t *v = f->k >= 0 ? &vals[f->k] : NULL;
        const char *name = f->k >= 0 ? w->src->fields[f->k].name : "";
        if (!v || v->type == FR_T_NULL) {
            if (v && nd->kind == K_NULL)
                continue;
            if (v && f->null_branch >= 0)
                rc = add_zigzag(out, f->null_branch);
            else if (f->has_def)
                rc = fr_buf_add(out, w->defs.p + f->def_off, f->def_len);
            else
                return refuse(rej, FR_EMISSING, "missing_field", name,
                              "it is null, and its type has no null and no default");
            continue;
        }
        if (nd->kind == K_UNION) {
            int b = pick_branch(pj, nd, v);
            if (b < 0)
                return refuse(rej, FR_ETYPE, "wrong_type", name,
                              "the value fits no branch of its union");
            rc = add_zigzag(out, b);
            if (!rc)
                rc = put(pj, &pj->nodes[pj->kids[nd->first + (uint32_t)b]], v, out);
            continue;
        }
        if (!fits(pj, nd, v)) {
            char what[96];
            snprintf(what, sizeof what, "the value does not fit its type %s",
                     nd->name ? nd->name : fr_avro_kind_name(nd->kind));
            return refuse(rej, FR_ETYPE, "wrong_type", name, what);
        }
        rc = put(pj, nd, v, out);
    }
    return rc;
}
