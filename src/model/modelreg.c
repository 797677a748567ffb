/*
 * modelreg.c - the model registry on the store's key-value records (see
 * modelreg.h for the layout and its rules).
 *
 * A version's header is one versioned binary record ("FRMV", format 1,
 * little-endian; str = varint length, the bytes, a NUL so that decoded
 * strings point into the record):
 *   "FRMV" u8 format  str name  u32 version  u64 created_ms
 *   varint ninputs  { str name  str kind  str type } x ninputs
 *   str fingerprint  str meta_json  varint ref_len  ref bytes
 *   u64 model_len  u64 model_hash (fr_hash64 of the model bytes)
 * The model bytes are their own record, checked against the header's
 * length and hash whenever they are read.
 */
#include "model/modelreg.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/jw.h"
#include "model/drift.h"

#define MAGIC "FRMV"
#define FORMAT 1
#define HASH_SEED 0x6d6f64656c726567ULL /* "modelreg" */
#define REGISTER_TRIES 64

/* The version object behind fr_model_version_t (its first member). */
typedef struct vobj {
    fr_model_version_t pub;
    void *hdr;  /* the header record; strings point into it */
    void *body; /* the model bytes, or NULL */
    fr_model_input_t *inputs;
    uint64_t model_hash;
} vobj_t;

/* ---- names ---- */

int fr_modelreg_name_ok(const char *s)
{
    size_t n = 0;
    if (!s || !*s)
        return 0;
    for (; *s; s++, n++)
        if (n >= FR_MODEL_MAX_NAME ||
            !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

int fr_modelreg_alias_ok(const char *s)
{
    if (!s || *s < 'a' || *s > 'z')
        return 0;
    size_t n = 0;
    for (; *s; s++, n++)
        if (n >= FR_MODEL_MAX_ALIAS ||
            !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static void vkey(char *buf, size_t n, char kind, uint32_t version)
{
    snprintf(buf, n, "%c/%010u", kind, (unsigned)version);
}

/* A whole decimal number in [1, UINT32_MAX]; 0 when it is not one. */
static uint32_t parse_version(const char *p, size_t n)
{
    uint64_t v = 0;
    if (n == 0 || n > 10)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* ---- the header record ---- */

static int add_str(fr_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    int rc = fr_buf_add_varint(b, n);
    if (!rc)
        rc = fr_buf_add(b, s, n + 1);
    return rc;
}

static int printable(const char *s, size_t max)
{
    size_t n = 0;
    if (!s || !*s)
        return 0;
    for (; *s; s++, n++)
        if (n >= max || (unsigned char)*s < ' ' || (unsigned char)*s > '~')
            return 0;
    return 1;
}

static int check_draft(const fr_model_draft_t *d, char *err, size_t errlen)
{
    const char *what = NULL;
    if (d->ninputs == 0 || d->ninputs > FR_MODEL_MAX_INPUTS || !d->inputs)
        what = "a model has 1 to 4096 inputs";
    for (size_t i = 0; !what && i < d->ninputs; i++)
        if (!printable(d->inputs[i].name, FR_MODEL_MAX_INPUT_NAME) ||
            !printable(d->inputs[i].kind, FR_MODEL_MAX_TAG) ||
            !printable(d->inputs[i].type, FR_MODEL_MAX_TAG))
            what = "an input's name, kind or type is empty, too long or not printable";
    if (!what && !printable(d->fingerprint, FR_MODEL_MAX_FINGERPRINT))
        what = "the fingerprint must be 1 to 256 printable bytes";
    if (!what && (!d->model || d->model_len == 0 || d->model_len > FR_STORE_KV_MAX_VALUE))
        what = "the model bytes are missing or too large";
    if (!what && (d->ref_len > FR_MODEL_MAX_REF || (d->ref_len && !d->ref)))
        what = "the drift reference is too large";
    if (!what) {
        size_t n = d->meta_json ? strlen(d->meta_json) : 0;
        json_error_t je;
        json_t *j = n && n <= FR_MODEL_MAX_META
                        ? json_loadb(d->meta_json, n, JSON_REJECT_DUPLICATES, &je)
                        : NULL;
        if (!json_is_object(j))
            what = "the metadata must be a JSON object of at most 1 MiB";
        json_decref(j);
    }
    if (what) {
        snprintf(err, errlen, "%s", what);
        return FR_EINVAL;
    }
    return 0;
}

static int encode_header(const char *name, uint32_t version, const fr_model_draft_t *d,
                         fr_buf_t *b)
{
    int rc = fr_buf_add(b, MAGIC, 4);
    if (!rc)
        rc = fr_buf_add_u8(b, FORMAT);
    if (!rc)
        rc = add_str(b, name);
    if (!rc)
        rc = fr_buf_add_u32(b, version);
    if (!rc)
        rc = fr_buf_add_u64(b, (uint64_t)d->created_ms);
    if (!rc)
        rc = fr_buf_add_varint(b, d->ninputs);
    for (size_t i = 0; !rc && i < d->ninputs; i++) {
        rc = add_str(b, d->inputs[i].name);
        if (!rc)
            rc = add_str(b, d->inputs[i].kind);
        if (!rc)
            rc = add_str(b, d->inputs[i].type);
    }
    if (!rc)
        rc = add_str(b, d->fingerprint);
    if (!rc)
        rc = add_str(b, d->meta_json);
    if (!rc)
        rc = fr_buf_add_varint(b, d->ref_len);
    if (!rc && d->ref_len)
        rc = fr_buf_add(b, d->ref, d->ref_len);
    if (!rc)
        rc = fr_buf_add_u64(b, d->model_len);
    if (!rc)
        rc = fr_buf_add_u64(b, fr_hash64(d->model, d->model_len, HASH_SEED));
    return rc;
}

/* A string of at most max bytes, NUL-terminated in place; NULL on error. */
static const char *rd_str(fr_rd_t *rd, size_t max)
{
    uint64_t n = fr_rd_varint(rd);
    if (rd->err || n > max) {
        rd->err = FR_ECORRUPT;
        return NULL;
    }
    const char *s = fr_rd_bytes(rd, (size_t)n + 1);
    if (!s || s[n] != '\0' || strnlen(s, (size_t)n) != n) {
        rd->err = FR_ECORRUPT;
        return NULL;
    }
    return s;
}

static int decode_header(vobj_t *o, size_t len)
{
    fr_model_version_t *v = &o->pub;
    fr_rd_t rd;
    fr_rd_init(&rd, o->hdr, len);
    const void *magic = fr_rd_bytes(&rd, 4);
    uint8_t format = fr_rd_u8(&rd);
    if (rd.err || memcmp(magic, MAGIC, 4) || format != FORMAT)
        return FR_ECORRUPT;
    const char *name = rd_str(&rd, FR_MODEL_MAX_NAME);
    v->version = fr_rd_u32(&rd);
    v->created_ms = (int64_t)fr_rd_u64(&rd);
    uint64_t ni = fr_rd_varint(&rd);
    if (rd.err || ni == 0 || ni > FR_MODEL_MAX_INPUTS)
        return FR_ECORRUPT;
    snprintf(v->name, sizeof v->name, "%s", name);
    o->inputs = calloc((size_t)ni, sizeof *o->inputs);
    if (!o->inputs)
        return FR_ENOMEM;
    for (size_t i = 0; i < ni; i++) {
        o->inputs[i].name = rd_str(&rd, FR_MODEL_MAX_INPUT_NAME);
        o->inputs[i].kind = rd_str(&rd, FR_MODEL_MAX_TAG);
        o->inputs[i].type = rd_str(&rd, FR_MODEL_MAX_TAG);
    }
    v->inputs = o->inputs;
    v->ninputs = (size_t)ni;
    v->fingerprint = rd_str(&rd, FR_MODEL_MAX_FINGERPRINT);
    v->meta_json = rd_str(&rd, FR_MODEL_MAX_META);
    uint64_t rl = fr_rd_varint(&rd);
    if (rd.err || rl > FR_MODEL_MAX_REF)
        return FR_ECORRUPT;
    v->ref_len = (size_t)rl;
    v->ref = fr_rd_bytes(&rd, v->ref_len);
    uint64_t ml = fr_rd_u64(&rd);
    o->model_hash = fr_rd_u64(&rd);
    if (rd.err || rd.p != rd.end || ml == 0 || ml > FR_STORE_KV_MAX_VALUE)
        return FR_ECORRUPT;
    v->model_len = (size_t)ml;
    return 0;
}

/* ---- versions ---- */

int fr_modelreg_put(fr_store_t *s, const char *name, uint32_t version, const fr_model_draft_t *d,
                    char *err, size_t errlen)
{
    char ebuf[2];
    if (!err || !errlen) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    err[0] = '\0';
    if (!fr_modelreg_name_ok(name) || version == 0) {
        snprintf(err, errlen, "model names are 1 to 128 of [A-Za-z0-9_.-]; versions start at 1");
        return FR_EINVAL;
    }
    int rc = check_draft(d, err, errlen);
    if (rc)
        return rc;
    fr_buf_t h;
    fr_buf_init(&h, 2 * FR_MODEL_MAX_META + FR_MODEL_MAX_REF +
                        d->ninputs * (FR_MODEL_MAX_INPUT_NAME + 2 * FR_MODEL_MAX_TAG + 16) +
                        4096);
    rc = encode_header(name, version, d, &h);
    char key[16];
    /* the bytes first: the header makes the version visible, whole */
    vkey(key, sizeof key, 'b', version);
    if (!rc)
        rc = fr_store_kv_put_new(s, FR_MODELREG_NS, name, key, d->model, d->model_len);
    vkey(key, sizeof key, 'v', version);
    if (!rc)
        rc = fr_store_kv_put_new(s, FR_MODELREG_NS, name, key, h.p, h.len);
    if (rc == FR_ECONFLICT)
        snprintf(err, errlen, "%s@%u exists: versions are immutable", name, (unsigned)version);
    else if (rc)
        snprintf(err, errlen, "%s@%u: %s", name, (unsigned)version, fr_strerror(rc));
    fr_buf_destroy(&h);
    return rc;
}

int fr_modelreg_register(fr_store_t *s, const char *name, const fr_model_draft_t *d,
                         uint32_t *version, char *err, size_t errlen)
{
    *version = 0;
    char ebuf[2];
    if (!err || !errlen) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    err[0] = '\0';
    if (!fr_modelreg_name_ok(name)) {
        snprintf(err, errlen, "model names are 1 to 128 of [A-Za-z0-9_.-]");
        return FR_EINVAL;
    }
    int rc = check_draft(d, err, errlen);
    for (int i = 0; !rc && i < REGISTER_TRIES; i++) {
        uint64_t n;
        rc = fr_store_kv_incr(s, FR_MODELREG_NS, name, "seq", &n);
        if (!rc && n > UINT32_MAX)
            rc = FR_ELIMIT;
        if (rc)
            break;
        /* a number taken by fr_modelreg_put: take the next one */
        rc = fr_modelreg_put(s, name, (uint32_t)n, d, err, errlen);
        if (rc == FR_ECONFLICT) {
            rc = 0;
            err[0] = '\0';
            continue;
        }
        if (!rc)
            *version = (uint32_t)n;
        return rc;
    }
    if (!rc)
        rc = FR_ECONFLICT;
    if (!err[0])
        snprintf(err, errlen, "%s: %s", name, fr_strerror(rc));
    return rc;
}

void fr_model_version_free(fr_model_version_t *v)
{
    vobj_t *o = (vobj_t *)v;
    if (!o)
        return;
    free(o->hdr);
    free(o->body);
    free(o->inputs);
    free(o);
}

int fr_modelreg_get(fr_store_t *s, const char *name, uint32_t version, int flags,
                    fr_model_version_t **out)
{
    *out = NULL;
    if (!fr_modelreg_name_ok(name) || version == 0)
        return FR_EINVAL;
    vobj_t *o = calloc(1, sizeof *o);
    if (!o)
        return FR_ENOMEM;
    char key[16];
    size_t len;
    vkey(key, sizeof key, 'v', version);
    int rc = fr_store_kv_get(s, FR_MODELREG_NS, name, key, &o->hdr, &len);
    if (!rc)
        rc = decode_header(o, len);
    if (!rc && (strcmp(o->pub.name, name) || o->pub.version != version))
        rc = FR_ECORRUPT;
    if (!rc && (flags & FR_MODELREG_WITH_MODEL)) {
        vkey(key, sizeof key, 'b', version);
        rc = fr_store_kv_get(s, FR_MODELREG_NS, name, key, &o->body, &len);
        if (rc == FR_ENOTFOUND)
            rc = FR_ECORRUPT; /* a header without its bytes */
        if (!rc && (len != o->pub.model_len ||
                    fr_hash64(o->body, len, HASH_SEED) != o->model_hash))
            rc = FR_ECORRUPT;
        o->pub.model = o->body;
    }
    if (rc) {
        fr_model_version_free(&o->pub);
        return rc;
    }
    *out = &o->pub;
    return 0;
}

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int fr_modelreg_versions(fr_store_t *s, const char *name, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!fr_modelreg_name_ok(name))
        return FR_EINVAL;
    fr_store_kv_names_t l;
    int rc = fr_store_kv_list(s, FR_MODELREG_NS, name, "v/", &l);
    uint32_t *v = rc ? NULL : malloc((l.n ? l.n : 1) * sizeof *v);
    if (!rc && !v)
        rc = FR_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; !rc && i < l.n; i++) {
        uint32_t ver = parse_version(l.v[i] + 2, strlen(l.v[i] + 2));
        if (ver)
            v[k++] = ver;
    }
    fr_store_kv_names_free(&l);
    if (rc) {
        free(v);
        return rc;
    }
    qsort(v, k, sizeof *v, by_u32);
    *out = v;
    *n = k;
    return 0;
}

int fr_modelreg_models(fr_store_t *s, fr_store_kv_names_t *out)
{
    out->v = NULL;
    out->n = 0;
    fr_store_kv_names_t groups;
    int rc = fr_store_kv_list(s, FR_MODELREG_NS, NULL, NULL, &groups);
    for (size_t i = 0; !rc && i < groups.n; i++) {
        if (!fr_modelreg_name_ok(groups.v[i]))
            continue;
        /* a model whose first registration never finished has no version */
        fr_store_kv_names_t vs;
        rc = fr_store_kv_list(s, FR_MODELREG_NS, groups.v[i], "v/", &vs);
        if (!rc && vs.n)
            rc = fr_store_kv_names_add(out, groups.v[i], strlen(groups.v[i]));
        fr_store_kv_names_free(&vs);
    }
    fr_store_kv_names_free(&groups);
    return rc;
}

/* ---- aliases ---- */

int fr_modelreg_alias_set(fr_store_t *s, const char *name, const char *alias, uint32_t version)
{
    if (!fr_modelreg_name_ok(name) || !fr_modelreg_alias_ok(alias) || version == 0)
        return FR_EINVAL;
    char key[FR_MODEL_MAX_ALIAS + 8], val[16];
    void *hdr;
    size_t len;
    vkey(key, sizeof key, 'v', version);
    int rc = fr_store_kv_get(s, FR_MODELREG_NS, name, key, &hdr, &len);
    free(hdr);
    if (rc)
        return rc;
    snprintf(key, sizeof key, "a/%s", alias);
    int n = snprintf(val, sizeof val, "%u", (unsigned)version);
    return fr_store_kv_put(s, FR_MODELREG_NS, name, key, val, (size_t)n);
}

int fr_modelreg_alias_get(fr_store_t *s, const char *name, const char *alias, uint32_t *version)
{
    *version = 0;
    if (!fr_modelreg_name_ok(name) || !fr_modelreg_alias_ok(alias))
        return FR_EINVAL;
    char key[FR_MODEL_MAX_ALIAS + 8];
    snprintf(key, sizeof key, "a/%s", alias);
    void *val;
    size_t len;
    int rc = fr_store_kv_get(s, FR_MODELREG_NS, name, key, &val, &len);
    if (rc)
        return rc;
    *version = parse_version(val, len);
    free(val);
    return *version ? 0 : FR_ECORRUPT;
}

int fr_modelreg_alias_del(fr_store_t *s, const char *name, const char *alias)
{
    if (!fr_modelreg_name_ok(name) || !fr_modelreg_alias_ok(alias))
        return FR_EINVAL;
    char key[FR_MODEL_MAX_ALIAS + 8];
    snprintf(key, sizeof key, "a/%s", alias);
    return fr_store_kv_del(s, FR_MODELREG_NS, name, key);
}

int fr_modelreg_aliases(fr_store_t *s, const char *name, fr_model_alias_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!fr_modelreg_name_ok(name))
        return FR_EINVAL;
    fr_store_kv_names_t l;
    int rc = fr_store_kv_list(s, FR_MODELREG_NS, name, "a/", &l);
    fr_model_alias_t *a = rc ? NULL : calloc(l.n ? l.n : 1, sizeof *a);
    if (!rc && !a)
        rc = FR_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; !rc && i < l.n; i++) {
        const char *alias = l.v[i] + 2;
        if (!fr_modelreg_alias_ok(alias))
            continue;
        rc = fr_modelreg_alias_get(s, name, alias, &a[k].version);
        if (rc == FR_ENOTFOUND) { /* deleted meanwhile */
            rc = 0;
            continue;
        }
        if (!rc)
            snprintf(a[k++].name, sizeof a->name, "%s", alias);
    }
    fr_store_kv_names_free(&l);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    *n = k;
    return 0;
}

/* ---- resolving ---- */

int fr_modelreg_resolve(fr_store_t *s, const char *spec, char *name, uint32_t *version)
{
    *version = 0;
    name[0] = '\0';
    const char *at = spec ? strchr(spec, '@') : NULL;
    size_t nl = at ? (size_t)(at - spec) : spec ? strlen(spec) : 0;
    if (nl == 0 || nl > FR_MODEL_MAX_NAME)
        return FR_EINVAL;
    memcpy(name, spec, nl);
    name[nl] = '\0';
    if (!fr_modelreg_name_ok(name))
        return FR_EINVAL;
    if (at) {
        const char *rest = at + 1;
        size_t rl = strlen(rest);
        if (rl && strspn(rest, "0123456789") == rl) {
            uint32_t v = parse_version(rest, rl);
            fr_model_version_t *mv;
            int rc = v ? fr_modelreg_get(s, name, v, 0, &mv) : FR_ENOTFOUND;
            if (rc)
                return rc;
            fr_model_version_free(mv);
            *version = v;
            return 0;
        }
        if (!fr_modelreg_alias_ok(rest))
            return FR_EINVAL;
        return fr_modelreg_alias_get(s, name, rest, version);
    }
    int rc = fr_modelreg_alias_get(s, name, "champion", version);
    if (rc != FR_ENOTFOUND)
        return rc;
    uint32_t *vs;
    size_t n;
    rc = fr_modelreg_versions(s, name, &vs, &n);
    if (!rc && n == 0)
        rc = FR_ENOTFOUND;
    if (!rc)
        *version = vs[n - 1];
    free(vs);
    return rc;
}

/* ---- JSON ---- */

int fr_model_version_json(const fr_model_version_t *v, int with_ref, fr_buf_t *b)
{
    size_t mark = b->len;
    int rc = fr_buf_addstr(b, "{\"model\":");
    if (!rc)
        rc = fr_jw_cstr(b, v->name);
    if (!rc)
        rc = fr_buf_printf(b, ",\"version\":%u,\"created_ms\":%lld,\"inputs\":[",
                           (unsigned)v->version, (long long)v->created_ms);
    for (size_t i = 0; !rc && i < v->ninputs; i++) {
        rc = fr_buf_addstr(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rc)
            rc = fr_jw_cstr(b, v->inputs[i].name);
        if (!rc)
            rc = fr_buf_addstr(b, ",\"kind\":");
        if (!rc)
            rc = fr_jw_cstr(b, v->inputs[i].kind);
        if (!rc)
            rc = fr_buf_addstr(b, ",\"type\":");
        if (!rc)
            rc = fr_jw_cstr(b, v->inputs[i].type);
        if (!rc)
            rc = fr_buf_addc(b, '}');
    }
    if (!rc)
        rc = fr_buf_addstr(b, "],\"fingerprint\":");
    if (!rc)
        rc = fr_jw_cstr(b, v->fingerprint);
    /* checked to be a JSON object when it was registered */
    if (!rc)
        rc = fr_buf_printf(b, ",\"meta\":%s,\"model_bytes\":%zu", v->meta_json, v->model_len);
    fr_drift_ref_t *ref = NULL;
    if (!rc && with_ref && v->ref_len && fr_drift_ref_decode(v->ref, v->ref_len, &ref) == 0 &&
        fr_drift_ref_columns(ref) == v->ninputs + 1) {
        rc = fr_buf_addstr(b, ",\"reference\":{");
        for (size_t c = 0; !rc && c <= v->ninputs; c++) {
            if (c)
                rc = fr_buf_addc(b, ',');
            if (!rc)
                rc = fr_jw_cstr(b, c < v->ninputs ? v->inputs[c].name : "score");
            if (!rc)
                rc = fr_buf_addc(b, ':');
            if (!rc)
                rc = fr_drift_ref_json(ref, c, b);
        }
        if (!rc)
            rc = fr_buf_addc(b, '}');
    }
    fr_drift_ref_free(ref);
    if (!rc)
        rc = fr_buf_addc(b, '}');
    if (rc) {
        b->len = mark;
        if (b->p)
            b->p[mark] = '\0';
    }
    return rc;
}
