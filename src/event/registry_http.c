/*
 * registry_http.c - the Confluent REST subset of the embedded registry
 * (fr_registry_http, see registry.h).
 *
 * Pure request -> answer: no sockets here (serve.c owns HTTP).  The path is
 * split into at most MAX_SEGS percent-decoded segments, each at most
 * MAX_SEG bytes; the query string is read for defaultToGlobal and
 * permanent only.  Errors
 * are written as Confluent writes them, {"error_code":N,"message":"..."},
 * because Confluent clients read exactly that.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jw.h"
#include "event/registry_int.h"

#define MAX_SEGS 8
#define MAX_SEG 1024

static int answer_error(fr_buf_t *out, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int answer_error(fr_buf_t *out, int status, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fr_buf_reset(out);
    fr_buf_printf(out, "{\"error_code\":%d,\"message\":", code);
    fr_jw_cstr(out, msg);
    fr_buf_addc(out, '}');
    return status;
}

/* A store or memory failure: 500 / 50001. */
static int answer_store(fr_buf_t *out, int rc)
{
    return answer_error(out, 500, 50001, "Error in the backend data store: %s", fr_strerror(rc));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

typedef struct {
    char seg[MAX_SEGS][MAX_SEG + 1];
    int n;
    int default_to_global;
    int permanent;
} req_path_t;

/* 0, or -1 for a malformed path (too many or too long segments, bad %). */
static int split_path(const char *path, req_path_t *rp)
{
    rp->n = 0;
    rp->default_to_global = 0;
    rp->permanent = 0;
    const char *q = strchr(path, '?');
    const char *end = q ? q : path + strlen(path);
    const char *p = path;
    while (p < end) {
        while (p < end && *p == '/')
            p++;
        if (p == end)
            break;
        if (rp->n == MAX_SEGS)
            return -1;
        char *o = rp->seg[rp->n++];
        size_t ol = 0;
        for (; p < end && *p != '/'; p++) {
            char c = *p;
            if (c == '%') {
                int hi = p + 2 < end ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
                if (lo < 0)
                    return -1;
                c = (char)(hi << 4 | lo);
                p += 2;
            }
            if (ol == MAX_SEG)
                return -1;
            o[ol++] = c;
        }
        o[ol] = '\0';
        if (ol != strlen(o))
            o[0] = '\x01'; /* an encoded NUL: refused as a subject */
    }
    if (q) {
        for (const char *a = q + 1; *a;) {
            const char *amp = strchr(a, '&');
            size_t n = amp ? (size_t)(amp - a) : strlen(a);
            if ((n == 20 && strncmp(a, "defaultToGlobal=true", 20) == 0))
                rp->default_to_global = 1;
            if ((n == 14 && strncmp(a, "permanent=true", 14) == 0))
                rp->permanent = 1;
            a += n + (amp ? 1 : 0);
        }
    }
    return 0;
}

static int seg_is(const req_path_t *rp, int i, const char *s)
{
    return i < rp->n && strcmp(rp->seg[i], s) == 0;
}

/* A subject from the path: 0, or an error status with out filled. */
static int check_subject(const char *s, fr_buf_t *out)
{
    char why[128];
    if (fr_registry_subject_ok(s, why, sizeof why))
        return answer_error(out, 422, 42208, "Invalid subject: %s", why);
    return 0;
}

/* "latest" / "-1" -> 0; 1..2^31-1 -> itself; otherwise -1. */
static int parse_version(const char *s)
{
    if (!strcmp(s, "latest") || !strcmp(s, "-1"))
        return 0;
    if (!*s || strlen(s) > 10)
        return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= INT32_MAX ? (int)v : -1;
}

static int invalid_version(fr_buf_t *out, const char *s)
{
    return answer_error(out, 422, 42202,
                        "The specified version '%.64s' is not a valid version id. Allowed values "
                        "are between [1, 2^31-1] and the string \"latest\"",
                        s);
}

/*
 * Reads {"schema":"...","schemaType"?,"references"?} from body.  0 with
 * *doc (decref it) and *schema / *slen pointing into it; or an error
 * status with out filled.
 */
static int read_schema_body(const char *body, size_t len, json_t **doc, const char **schema,
                            size_t *slen, fr_buf_t *out)
{
    json_error_t je;
    *doc = json_loadb(body ? body : "", len, 0, &je);
    if (!*doc)
        return answer_error(out, 400, 400, "The request body is not JSON: %s (line %d, column %d)",
                            je.text, je.line, je.column);
    json_t *st = json_object_get(*doc, "schemaType");
    if (st && !json_is_null(st) &&
        !(json_is_string(st) && strcmp(json_string_value(st), "AVRO") == 0)) {
        char t[80];
        snprintf(t, sizeof t, "%s", json_is_string(st) ? json_string_value(st) : "?");
        return answer_error(out, 422, 42201,
                            "Invalid schema: schemaType '%s' is not supported; this registry "
                            "holds AVRO schemas",
                            t);
    }
    json_t *refs = json_object_get(*doc, "references");
    if (refs && json_array_size(refs) > 0)
        return answer_error(out, 422, 42201, "Invalid schema: schema references are not supported");
    json_t *js = json_object_get(*doc, "schema");
    if (!json_is_string(js) || json_string_length(js) == 0)
        return answer_error(out, 422, 42201,
                            "Invalid schema: expected {\"schema\": \"<Avro schema as a string>\"}");
    *schema = json_string_value(js);
    *slen = json_string_length(js);
    if (*slen > FR_REGISTRY_MAX_SCHEMA)
        return answer_error(out, 422, 42209, "Schema too large: %zu bytes; at most %u", *slen,
                            FR_REGISTRY_MAX_SCHEMA);
    return 0;
}

/* ---- routes ------------------------------------------------------------------ */

typedef struct {
    fr_buf_t *out;
    int n;
} list_t;

static int add_subject(void *ctx, const char *subject)
{
    list_t *l = ctx;
    int rc = l->n++ ? fr_buf_addc(l->out, ',') : 0;
    return rc ? rc : fr_jw_cstr(l->out, subject);
}

static int get_subjects(fr_registry_t *r, fr_buf_t *out)
{
    fr_buf_reset(out);
    list_t l = {out, 0};
    int rc = fr_buf_addc(out, '[');
    rc = rc ? rc : fr_registry_subjects(r, add_subject, &l, NULL, 0);
    rc = rc ? rc : fr_buf_addc(out, ']');
    return rc ? answer_store(out, rc) : 200;
}

static int add_version(void *ctx, int version, uint32_t id, const char *schema, size_t len)
{
    (void)id;
    (void)schema;
    (void)len;
    fr_buf_t *out = ctx;
    return fr_buf_printf(out, "%s%d", out->len > 1 ? "," : "", version);
}

static int get_versions(fr_registry_t *r, const char *subject, fr_buf_t *out)
{
    fr_buf_reset(out);
    int rc = fr_buf_addc(out, '[');
    rc = rc ? rc : fr_registry_versions(r, subject, add_version, out, NULL, 0);
    if (rc == FR_ENOTFOUND)
        return answer_error(out, 404, 40401, "Subject '%s' not found.", subject);
    rc = rc ? rc : fr_buf_addc(out, ']');
    return rc ? answer_store(out, rc) : 200;
}

static int version_json(fr_buf_t *out, const char *subject, int version, uint32_t id,
                        const fr_buf_t *schema)
{
    fr_buf_reset(out);
    int rc = fr_buf_addstr(out, "{\"subject\":");
    rc = rc ? rc : fr_jw_cstr(out, subject);
    rc =
        rc ? rc : fr_buf_printf(out, ",\"version\":%d,\"id\":%" PRIu32 ",\"schema\":", version, id);
    rc = rc ? rc : fr_jw_str(out, schema->p ? schema->p : "", schema->len);
    rc = rc ? rc : fr_buf_addc(out, '}');
    return rc ? answer_store(out, rc) : 200;
}

static int get_version(fr_registry_t *r, const char *subject, const char *vs, int raw,
                       fr_buf_t *out)
{
    int version = parse_version(vs);
    if (version < 0)
        return invalid_version(out, vs);
    fr_buf_t schema;
    fr_buf_init(&schema, FR_REGISTRY_MAX_SCHEMA * 2);
    uint32_t id = 0;
    int found = 0, rc, status;
    if (version == 0) {
        rc = fr_registry_latest(r, subject, &id, &version, &schema);
        found = rc != FR_ENOTFOUND;
    } else {
        rc = fr_registry_version_get(r, subject, version, &found, &id, &schema);
    }
    if (rc == FR_ENOTFOUND && !found)
        status = answer_error(out, 404, 40401, "Subject '%s' not found.", subject);
    else if (rc == FR_ENOTFOUND)
        status = answer_error(out, 404, 40402, "Version %s not found.", vs);
    else if (rc)
        status = answer_store(out, rc);
    else if (raw) {
        fr_buf_reset(out);
        rc = fr_buf_add(out, schema.p, schema.len);
        status = rc ? answer_store(out, rc) : 200;
    } else
        status = version_json(out, subject, version, id, &schema);
    fr_buf_destroy(&schema);
    return status;
}

static int post_register(fr_registry_t *r, const char *subject, const char *body, size_t len,
                         fr_buf_t *out)
{
    json_t *doc;
    const char *schema;
    size_t slen;
    int status = read_schema_body(body, len, &doc, &schema, &slen, out);
    if (status) {
        json_decref(doc);
        return status;
    }
    char reason[1024];
    uint32_t id;
    int rc = fr_registry_register(r, subject, schema, slen, &id, reason, sizeof reason);
    json_decref(doc);
    switch (rc) {
    case 0:
        fr_buf_reset(out);
        fr_buf_printf(out, "{\"id\":%" PRIu32 "}", id);
        return 200;
    case FR_EPARSE: return answer_error(out, 422, 42201, "Invalid schema: %s", reason);
    case FR_ELIMIT: return answer_error(out, 422, 42209, "Schema too large: %s", reason);
    case FR_EINVAL: return answer_error(out, 422, 42208, "Invalid subject: %s", reason);
    case FR_ECONFLICT:
        return answer_error(out, 409, 409,
                            "Schema being registered is incompatible with an earlier schema for "
                            "subject \"%s\": %s",
                            subject, reason);
    default:
        return answer_error(out, 500, 50001, "Error in the backend data store: %s",
                            reason[0] ? reason : fr_strerror(rc));
    }
}

/* Parses the body's schema: 0 with *parsed, or an error status. */
static int parse_body_schema(const char *body, size_t len, av_schema_t **parsed, fr_buf_t *out)
{
    json_t *doc;
    const char *schema;
    size_t slen;
    *parsed = NULL;
    int status = read_schema_body(body, len, &doc, &schema, &slen, out);
    if (!status) {
        char reason[1024];
        int rc = fr_avsc_parse(schema, slen, parsed, reason, sizeof reason);
        if (rc == FR_EPARSE)
            status = answer_error(out, 422, 42201, "Invalid schema: %s", reason);
        else if (rc)
            status = answer_store(out, rc);
    }
    json_decref(doc);
    return status;
}

static int post_lookup(fr_registry_t *r, const char *subject, const char *body, size_t len,
                       fr_buf_t *out)
{
    av_schema_t *parsed;
    int status = parse_body_schema(body, len, &parsed, out);
    if (status)
        return status;
    fr_buf_t canon;
    fr_buf_init(&canon, FR_REGISTRY_MAX_SCHEMA * 2);
    uint32_t id, lid;
    int version, lver;
    int rc = fr_registry_latest(r, subject, &lid, &lver, NULL);
    if (rc == FR_ENOTFOUND) {
        status = answer_error(out, 404, 40401, "Subject '%s' not found.", subject);
        goto out;
    }
    rc = rc ? rc : fr_avsc_canonical(parsed, &canon);
    rc = rc ? rc : fr_registry_lookup(r, subject, canon.p, canon.len, &version, &id);
    if (rc == FR_ENOTFOUND)
        status = answer_error(out, 404, 40403, "Schema not found");
    else if (rc)
        status = answer_store(out, rc);
    else
        status = version_json(out, subject, version, id, &canon);
out:
    fr_buf_destroy(&canon);
    fr_avsc_free(parsed);
    return status;
}

/* A schema id from the path: 1..2^32-1, else 0. */
static uint32_t parse_id(const char *ids)
{
    if (*ids < '0' || *ids > '9' || strlen(ids) > 10)
        return 0;
    char *end;
    unsigned long long v = strtoull(ids, &end, 10);
    return *end || v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* Reads schema id into schema: 0, or an error status with out filled. */
static int read_id(fr_registry_t *r, const char *ids, fr_buf_t *schema, fr_buf_t *out)
{
    uint32_t id = parse_id(ids);
    if (!id)
        return answer_error(out, 404, 40403, "Schema %.32s not found", ids);
    int rc = fr_registry_schema(r, id, schema);
    if (rc == FR_ENOTFOUND)
        return answer_error(out, 404, 40403, "Schema %" PRIu32 " not found", id);
    return rc ? answer_store(out, rc) : 0;
}

static int get_schema_by_id(fr_registry_t *r, const char *ids, fr_buf_t *out)
{
    fr_buf_t schema;
    fr_buf_init(&schema, FR_REGISTRY_MAX_SCHEMA * 2);
    int status = read_id(r, ids, &schema, out);
    if (!status) {
        fr_buf_reset(out);
        int rc = fr_buf_addstr(out, "{\"schema\":");
        rc = rc ? rc : fr_jw_str(out, schema.p, schema.len);
        rc = rc ? rc : fr_buf_addc(out, '}');
        status = rc ? answer_store(out, rc) : 200;
    }
    fr_buf_destroy(&schema);
    return status;
}

static int add_use(void *ctx, const char *subject, int version)
{
    fr_buf_t *out = ctx;
    int rc = fr_buf_addstr(out, out->len > 1 ? ",{\"subject\":" : "{\"subject\":");
    rc = rc ? rc : fr_jw_cstr(out, subject);
    return rc ? rc : fr_buf_printf(out, ",\"version\":%d}", version);
}

static int get_id_versions(fr_registry_t *r, const char *ids, fr_buf_t *out)
{
    fr_buf_t schema;
    fr_buf_init(&schema, FR_REGISTRY_MAX_SCHEMA * 2);
    int status = read_id(r, ids, &schema, out);
    fr_buf_destroy(&schema);
    if (status)
        return status;
    fr_buf_reset(out);
    int rc = fr_buf_addc(out, '[');
    rc = rc ? rc : fr_registry_uses(r, parse_id(ids), add_use, out);
    rc = rc ? rc : fr_buf_addc(out, ']');
    return rc ? answer_store(out, rc) : 200;
}

static int post_compat(fr_registry_t *r, const char *subject, const char *vs, const char *body,
                       size_t len, fr_buf_t *out)
{
    int version = vs ? parse_version(vs) : -1; /* no version: all of them */
    if (vs && version < 0)
        return invalid_version(out, vs);
    av_schema_t *parsed;
    int status = parse_body_schema(body, len, &parsed, out);
    if (status)
        return status;
    char reason[1024] = "";
    uint32_t lid;
    int lver;
    int rc = fr_registry_latest(r, subject, &lid, &lver, NULL);
    if (rc == FR_ENOTFOUND) {
        status = answer_error(out, 404, 40401, "Subject '%s' not found.", subject);
        goto out;
    }
    rc = rc ? rc : fr_registry_check_parsed(r, subject, parsed, version, reason, sizeof reason);
    if (rc == FR_ENOTFOUND) {
        status = answer_error(out, 404, 40402, "Version %s not found.", vs ? vs : "?");
    } else if (rc == 0 || rc == FR_ECONFLICT) {
        fr_buf_reset(out);
        rc = fr_buf_printf(out, "{\"is_compatible\":%s", rc ? "false" : "true");
        if (!rc && reason[0]) {
            rc = fr_buf_addstr(out, ",\"messages\":[");
            rc = rc ? rc : fr_jw_cstr(out, reason);
            rc = rc ? rc : fr_buf_addc(out, ']');
        }
        rc = rc ? rc : fr_buf_addc(out, '}');
        status = rc ? answer_store(out, rc) : 200;
    } else {
        status = answer_error(out, 500, 50001, "Error in the backend data store: %s",
                              reason[0] ? reason : fr_strerror(rc));
    }
out:
    fr_avsc_free(parsed);
    return status;
}

static int config_answer(fr_buf_t *out, const char *key, fr_compat_t level)
{
    fr_buf_reset(out);
    fr_buf_printf(out, "{\"%s\":\"%s\"}", key, fr_compat_name(level));
    return 200;
}

static int get_config(fr_registry_t *r, const char *subject, int to_global, fr_buf_t *out)
{
    fr_compat_t level;
    int rc = fr_registry_level_get(r, subject, &level);
    if (rc == FR_ENOTFOUND && subject && !to_global)
        return answer_error(out, 404, 40408,
                            "Subject '%s' does not have subject-level compatibility configured",
                            subject);
    if (rc == FR_ENOTFOUND && subject)
        rc = fr_registry_level_get(r, NULL, &level);
    if (rc == FR_ENOTFOUND) {
        level = FR_COMPAT_BACKWARD;
        rc = 0;
    }
    return rc ? answer_store(out, rc) : config_answer(out, "compatibilityLevel", level);
}

static int put_config(fr_registry_t *r, const char *subject, const char *body, size_t len,
                      fr_buf_t *out)
{
    json_error_t je;
    json_t *doc = json_loadb(body ? body : "", len, 0, &je);
    if (!doc)
        return answer_error(out, 400, 400, "The request body is not JSON: %s (line %d, column %d)",
                            je.text, je.line, je.column);
    int level = fr_compat_parse(json_string_value(json_object_get(doc, "compatibility")));
    json_decref(doc);
    if (level < 0)
        return answer_error(out, 422, 42203,
                            "Invalid compatibility level. Valid values are none, backward, "
                            "forward, full, backward_transitive, forward_transitive, and "
                            "full_transitive");
    int rc = fr_registry_level_set(r, subject, (fr_compat_t)level);
    return rc ? answer_store(out, rc) : config_answer(out, "compatibility", (fr_compat_t)level);
}

static int add_deleted(void *ctx, int version)
{
    fr_buf_t *out = ctx;
    return fr_buf_printf(out, "%s%d", out->len > 1 ? "," : "", version);
}

/* DELETE /subjects/{s}[?permanent=true]: the versions deleted, [1,2]. */
static int delete_subject(fr_registry_t *r, const char *s, int permanent, fr_buf_t *out)
{
    char why[512];
    fr_buf_reset(out);
    int rc = fr_buf_addc(out, '[');
    rc = rc ? rc : fr_registry_delete(r, s, permanent, add_deleted, out, why, sizeof why);
    if (rc == FR_ENOTFOUND)
        return answer_error(out, 404, 40401, "%s", why);
    if (rc == FR_ECONFLICT)
        return answer_error(out, 404, permanent ? 40405 : 40404, "%s", why);
    if (rc)
        return answer_store(out, rc);
    return fr_buf_addc(out, ']') ? answer_store(out, FR_ENOMEM) : 200;
}

int fr_registry_http(fr_registry_t *r, const char *method, const char *path, const char *body,
                     size_t len, fr_buf_t *out)
{
    fr_buf_reset(out);
    if (!fr_registry_embedded(r))
        return answer_error(out, 404, 404,
                            "the schema registry is external at %s; send registry requests there",
                            fr_registry_url(r));
    if (len > FR_REGISTRY_MAX_BODY)
        return answer_error(out, 413, 413, "Request bodies are at most %u bytes",
                            FR_REGISTRY_MAX_BODY);
    req_path_t *rp = malloc(sizeof *rp);
    if (!rp)
        return answer_error(out, 503, 50001, "out of memory");
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST"), put = !strcmp(method, "PUT");
    int del = !strcmp(method, "DELETE");
    int status = -1; /* -1: no route; -2: the route exists, not the method */
    if (split_path(path, rp)) {
        status = answer_error(out, 404, 404, "HTTP 404 Not Found");
        goto out;
    }
    const char *s = rp->n > 1 ? rp->seg[1] : NULL;
    int n = rp->n;
    if (seg_is(rp, 0, "subjects")) {
        if (n == 1) {
            status = get ? get_subjects(r, out) : -2;
        } else if ((status = check_subject(s, out)) != 0) {
            /* answered */
        } else if (n == 2) {
            status = post  ? post_lookup(r, s, body, len, out)
                     : del ? delete_subject(r, s, rp->permanent, out)
                           : -2;
        } else if (n == 3 && seg_is(rp, 2, "versions")) {
            status = get    ? get_versions(r, s, out)
                     : post ? post_register(r, s, body, len, out)
                            : -2;
        } else if (n == 4 && seg_is(rp, 2, "versions")) {
            status = get ? get_version(r, s, rp->seg[3], 0, out) : -2;
        } else if (n == 5 && seg_is(rp, 2, "versions") && seg_is(rp, 4, "schema")) {
            status = get ? get_version(r, s, rp->seg[3], 1, out) : -2;
        } else {
            status = -1;
        }
    } else if (seg_is(rp, 0, "schemas")) {
        if (n == 2 && seg_is(rp, 1, "types"))
            status = get ? (fr_buf_addstr(out, "[\"AVRO\"]"), 200) : -2;
        else if (n == 3 && seg_is(rp, 1, "ids"))
            status = get ? get_schema_by_id(r, rp->seg[2], out) : -2;
        else if (n == 4 && seg_is(rp, 1, "ids") && seg_is(rp, 3, "versions"))
            status = get ? get_id_versions(r, rp->seg[2], out) : -2;
    } else if (seg_is(rp, 0, "compatibility")) {
        if ((n == 4 || n == 5) && seg_is(rp, 1, "subjects") && seg_is(rp, 3, "versions")) {
            s = rp->seg[2];
            status = check_subject(s, out);
            if (!status)
                status = post ? post_compat(r, s, n == 5 ? rp->seg[4] : NULL, body, len, out) : -2;
        }
    } else if (seg_is(rp, 0, "config")) {
        if (n == 1) {
            status = get   ? get_config(r, NULL, 0, out)
                     : put ? put_config(r, NULL, body, len, out)
                           : -2;
        } else if (n == 2) {
            status = check_subject(s, out);
            if (!status)
                status = get   ? get_config(r, s, rp->default_to_global, out)
                         : put ? put_config(r, s, body, len, out)
                               : -2;
        }
    }
    if (status == -1)
        status = answer_error(out, 404, 404, "HTTP 404 Not Found");
    else if (status == -2)
        status = answer_error(out, 405, 405, "HTTP 405 Method Not Allowed");
out:
    free(rp);
    return status;
}
