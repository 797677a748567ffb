/*
 * event.c - JSON typing and the binary log record (layout in event.h).
 *
 * Typing follows DESIGN §2: a long accepts any JSON number with an
 * integral value; a double any number; null or absence is allowed only for
 * optional fields; undeclared fields are ignored.
 */
#include "event/event.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"

static int reject(fr_reject_t *rej, int rc, const char *reason, const char *fmt, const char *field)
{
    if (rej) {
        rej->reason = reason;
        snprintf(rej->detail, sizeof rej->detail, fmt, field);
    }
    return rc;
}

/* An integral double in int64 range, exactly. */
static int integral(double d, int64_t *out)
{
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return 0;
    *out = (int64_t)d;
    return 1;
}

int fr_event_from_json(const fr_source_spec_t *src, const json_t *obj, fr_value_t *vals,
                       int64_t *ts_ms, fr_reject_t *rej)
{
    if (!json_is_object(obj))
        return reject(rej, FR_EPARSE, "not_an_object", "an event must be a JSON object%s", "");
    for (size_t i = 0; i < src->nfields; i++) {
        const fr_field_spec_t *f = &src->fields[i];
        json_t *j = json_object_get(obj, f->name);
        fr_value_t *v = &vals[i];
        v->type = FR_T_NULL;
        v->len = 0;
        if (!j || json_is_null(j)) {
            if (f->has_default) {
                *v = f->def;
                continue;
            }
            if (!f->optional)
                return reject(rej, FR_EMISSING, "missing_field", "required field '%s' is missing",
                              f->name);
            continue;
        }
        switch (f->type) {
        case FR_T_LONG:
            if (json_is_integer(j)) {
                v->u.i = json_integer_value(j);
            } else if (!json_is_real(j) || !integral(json_real_value(j), &v->u.i)) {
                return reject(rej, FR_ETYPE, "wrong_type",
                              "field '%s' must be an integral number", f->name);
            }
            break;
        case FR_T_DOUBLE:
            if (!json_is_number(j))
                return reject(rej, FR_ETYPE, "wrong_type", "field '%s' must be a number", f->name);
            v->u.d = json_number_value(j);
            break;
        case FR_T_STRING:
            if (!json_is_string(j))
                return reject(rej, FR_ETYPE, "wrong_type", "field '%s' must be a string", f->name);
            if (json_string_length(j) > FR_EVENT_MAX_STRING)
                return reject(rej, FR_ELIMIT, "too_long", "field '%s' is longer than 4096 bytes",
                              f->name);
            v->u.s = json_string_value(j);
            v->len = (uint32_t)json_string_length(j);
            break;
        case FR_T_BOOL:
            if (!json_is_boolean(j))
                return reject(rej, FR_ETYPE, "wrong_type", "field '%s' must be true or false",
                              f->name);
            v->u.b = json_is_true(j);
            break;
        default:
            return reject(rej, FR_ETYPE, "wrong_type", "field '%s' has no usable type", f->name);
        }
        v->type = f->type;
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

uint64_t fr_schema_fingerprint(const fr_source_spec_t *src)
{
    uint64_t h = 0x736368656d61ULL;
    for (size_t i = 0; i < src->nfields; i++) {
        h = fr_hash64(src->fields[i].name, strlen(src->fields[i].name), h);
        h = fr_mix64(h ^ (uint64_t)src->fields[i].type);
    }
    return h ? h : 1;
}

int fr_schema_encode(const fr_source_spec_t *src, fr_buf_t *out)
{
    int rc = fr_buf_add_varint(out, src->nfields);
    for (size_t i = 0; !rc && i < src->nfields; i++) {
        size_t n = strlen(src->fields[i].name);
        rc = fr_buf_add_u8(out, (uint8_t)src->fields[i].type);
        if (!rc)
            rc = fr_buf_add_varint(out, n);
        if (!rc)
            rc = fr_buf_add(out, src->fields[i].name, n);
    }
    return rc;
}

int fr_record_encode(const fr_source_spec_t *src, uint64_t fingerprint, const fr_value_t *vals,
                     int64_t ts_ms, fr_buf_t *out)
{
    uint8_t bitmap[FR_CONFIG_MAX_FIELDS / 8] = {0};
    size_t nb = (src->nfields + 7) / 8;
    for (size_t i = 0; i < src->nfields; i++)
        if (vals[i].type != FR_T_NULL)
            bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
    int rc = fr_buf_add_u8(out, FR_RECORD_VERSION);
    if (!rc)
        rc = fr_buf_add_u64(out, fingerprint);
    if (!rc)
        rc = fr_buf_add_u64(out, (uint64_t)ts_ms);
    if (!rc)
        rc = fr_buf_add(out, bitmap, nb);
    for (size_t i = 0; !rc && i < src->nfields; i++) {
        const fr_value_t *v = &vals[i];
        switch (v->type) {
        case FR_T_LONG: rc = fr_buf_add_u64(out, (uint64_t)v->u.i); break;
        case FR_T_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &v->u.d, 8);
            rc = fr_buf_add_u64(out, bits);
            break;
        }
        case FR_T_BOOL: rc = fr_buf_add_u8(out, v->u.b ? 1 : 0); break;
        case FR_T_STRING:
            rc = fr_buf_add_varint(out, v->len);
            if (!rc)
                rc = fr_buf_add(out, v->u.s, v->len);
            break;
        default: break;
        }
    }
    return rc;
}

uint64_t fr_record_fingerprint(const void *p, size_t n)
{
    const uint8_t *b = p;
    if (n < 17 || b[0] != FR_RECORD_VERSION)
        return 0;
    return fr_load_u64(b + 1);
}

int fr_record_proj_identity(fr_record_proj_t *pj, const fr_source_spec_t *src)
{
    memset(pj, 0, sizeof *pj);
    pj->fingerprint = fr_schema_fingerprint(src);
    pj->nwriter = pj->nreader = src->nfields;
    pj->wtypes = calloc(src->nfields ? src->nfields : 1, sizeof *pj->wtypes);
    pj->map = calloc(src->nfields ? src->nfields : 1, sizeof *pj->map);
    if (!pj->wtypes || !pj->map) {
        fr_record_proj_destroy(pj);
        return FR_ENOMEM;
    }
    for (size_t i = 0; i < src->nfields; i++) {
        pj->wtypes[i] = src->fields[i].type;
        pj->map[i] = (int)i;
    }
    return 0;
}

int fr_record_proj_from_schema(fr_record_proj_t *pj, const fr_source_spec_t *src,
                               uint64_t fingerprint, const void *schema, size_t n)
{
    memset(pj, 0, sizeof *pj);
    fr_rd_t r;
    fr_rd_init(&r, schema, n);
    uint64_t nw = fr_rd_varint(&r);
    if (r.err || nw > FR_CONFIG_MAX_FIELDS)
        return FR_ECORRUPT;
    pj->fingerprint = fingerprint;
    pj->nwriter = nw;
    pj->nreader = src->nfields;
    pj->rfields = src->fields;
    pj->wtypes = calloc(nw ? nw : 1, sizeof *pj->wtypes);
    pj->map = calloc(nw ? nw : 1, sizeof *pj->map);
    pj->promote = calloc(nw ? nw : 1, sizeof *pj->promote);
    if (!pj->wtypes || !pj->map || !pj->promote) {
        fr_record_proj_destroy(pj);
        return FR_ENOMEM;
    }
    for (size_t i = 0; i < nw; i++) {
        uint8_t t = fr_rd_u8(&r);
        uint64_t len = fr_rd_varint(&r);
        const char *name = len <= FR_CONFIG_MAX_NAME ? fr_rd_bytes(&r, len) : NULL;
        if (r.err || !name || t < FR_T_STRING || t > FR_T_BOOL) {
            fr_record_proj_destroy(pj);
            return FR_ECORRUPT;
        }
        pj->wtypes[i] = (fr_type_t)t;
        pj->map[i] = -1;
        for (size_t k = 0; k < src->nfields; k++) {
            const fr_field_spec_t *f = &src->fields[k];
            if (strlen(f->name) != len || memcmp(f->name, name, len))
                continue;
            if (f->type == t || (f->type == FR_T_DOUBLE && t == FR_T_LONG))
                pj->map[i] = (int)k;
            pj->promote[i] = f->type == FR_T_DOUBLE && t == FR_T_LONG;
            break;
        }
    }
    return 0;
}

void fr_record_proj_destroy(fr_record_proj_t *pj)
{
    free(pj->wtypes);
    free(pj->map);
    free(pj->promote);
    pj->wtypes = NULL;
    pj->map = NULL;
    pj->promote = NULL;
}

int fr_record_decode(const fr_record_proj_t *pj, const void *p, size_t n, fr_value_t *vals,
                     int64_t *ts_ms)
{
    fr_rd_t r;
    fr_rd_init(&r, p, n);
    if (fr_rd_u8(&r) != FR_RECORD_VERSION || fr_rd_u64(&r) != pj->fingerprint)
        return FR_ECORRUPT;
    *ts_ms = (int64_t)fr_rd_u64(&r);
    const uint8_t *bitmap = fr_rd_bytes(&r, (pj->nwriter + 7) / 8);
    if (r.err)
        return FR_ECORRUPT;
    for (size_t i = 0; i < pj->nreader; i++) {
        if (pj->rfields && pj->rfields[i].has_default) {
            vals[i] = pj->rfields[i].def;
            continue;
        }
        vals[i].type = FR_T_NULL;
        vals[i].len = 0;
    }
    for (size_t i = 0; i < pj->nwriter; i++) {
        if (!(bitmap[i / 8] & (1u << (i % 8))))
            continue;
        fr_value_t v = {.type = pj->wtypes[i]};
        switch (v.type) {
        case FR_T_LONG: v.u.i = (int64_t)fr_rd_u64(&r); break;
        case FR_T_DOUBLE: {
            uint64_t bits = fr_rd_u64(&r);
            memcpy(&v.u.d, &bits, 8);
            break;
        }
        case FR_T_BOOL: v.u.b = fr_rd_u8(&r) != 0; break;
        case FR_T_STRING: {
            uint64_t len = fr_rd_varint(&r);
            v.u.s = len <= FR_EVENT_MAX_STRING ? fr_rd_bytes(&r, len) : NULL;
            if (!v.u.s)
                return FR_ECORRUPT;
            v.len = (uint32_t)len;
            break;
        }
        default: return FR_ECORRUPT;
        }
        if (r.err)
            return FR_ECORRUPT;
        int k = pj->map[i];
        if (k < 0)
            continue;
        if (pj->promote && pj->promote[i]) {
            v.type = FR_T_DOUBLE;
            v.u.d = (double)v.u.i;
        }
        vals[k] = v;
    }
    return 0;
}

int fr_entity_key(const fr_value_t *v, char *tmp, const char **key)
{
    if (v->type == FR_T_STRING) {
        *key = v->u.s;
        return (int)v->len;
    }
    if (v->type == FR_T_LONG) {
        *key = tmp;
        return snprintf(tmp, 24, "%" PRId64, v->u.i);
    }
    return -1;
}

int fr_filter_match(const fr_filter_spec_t *f, const fr_value_t *vals)
{
    if (!f->enabled)
        return 1;
    const fr_value_t *v = &vals[f->field];
    if (v->type != f->equals.type)
        return 0;
    switch (v->type) {
    case FR_T_STRING: return v->len == f->equals.len && memcmp(v->u.s, f->equals.u.s, v->len) == 0;
    case FR_T_LONG: return v->u.i == f->equals.u.i;
    case FR_T_DOUBLE: return v->u.d == f->equals.u.d;
    case FR_T_BOOL: return v->u.b == f->equals.u.b;
    default: return 0;
    }
}

int fr_event_check_keys(const fr_config_t *cfg, int src, const fr_value_t *vals, fr_reject_t *rej)
{
    for (size_t v = 0; v < cfg->nviews; v++) {
        const fr_view_spec_t *vs = &cfg->views[v];
        if (vs->source != src)
            continue;
        char tmp[24];
        const char *key;
        int kl = fr_entity_key(&vals[vs->entity], tmp, &key);
        /* a NUL would let two different keys read as one where keys end
         * at the first NUL (a URL path, C strings) */
        if (kl <= 0 || kl > cfg->server.max_key_bytes || memchr(key, '\0', (size_t)kl)) {
            rej->reason = "bad_entity_key";
            snprintf(rej->detail, sizeof rej->detail,
                     "entity field '%s' must be 1..%d bytes without NUL",
                     cfg->sources[src].fields[vs->entity].name, cfg->server.max_key_bytes);
            return FR_ELIMIT;
        }
    }
    return 0;
}
