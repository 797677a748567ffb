/*
 * registry_remote.c - the external schema registry backend: a libcurl
 * client of a Confluent-compatible registry (see registry.h).
 *
 * Each call takes an easy handle from a small pool (so connections are
 * kept alive between calls), makes one or a few requests bounded by
 * schema_registry.timeout_ms each, and gives the handle back.  Answers map
 * onto freshet codes: 404 FR_ENOTFOUND, 409 FR_ECONFLICT, 422 FR_EPARSE
 * (FR_EINVAL for a bad subject or version), 5xx and transport failures
 * FR_EUNAVAIL; the registry's "message" becomes the reason.
 *
 * Caches, behind one mutex: schemas by id never change, so they are kept
 * in a direct-mapped table of ID_SLOTS entries holding at most
 * ID_CACHE_BYTES (cleared when full); a subject's latest version is kept
 * FR_REGISTRY_LATEST_TTL_MS in LATEST_SLOTS entries and dropped when this
 * process registers under the subject.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jw.h"
#include "event/registry_int.h"

#define ID_SLOTS 1024
#define ID_CACHE_BYTES ((size_t)64 << 20)
#define LATEST_SLOTS 256
#define POOL 4
#define MAX_ANSWER ((size_t)8 << 20)

typedef struct {
    uint32_t id; /* 0: empty */
    char *text;
    size_t len;
} id_slot_t;

typedef struct {
    char *subject; /* NULL: empty */
    uint32_t id;
    int version;
    char *text;
    size_t len;
    int64_t expires_ms;
} latest_slot_t;

typedef struct {
    char *url; /* without a trailing slash */
    long timeout_ms;
    pthread_mutex_t mu;
    CURL *idle[POOL];
    int nidle;
    id_slot_t ids[ID_SLOTS];
    size_t id_bytes;
    latest_slot_t latest[LATEST_SLOTS];
} remote_t;

static const fr_registry_ops_t remote_ops;

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct {
    long status;
    fr_buf_t body;
    char cerr[CURL_ERROR_SIZE];
} resp_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    fr_buf_t *b = ud;
    return fr_buf_add(b, p, size * n) ? 0 : size * n;
}

static CURL *take_handle(remote_t *m)
{
    pthread_mutex_lock(&m->mu);
    CURL *h = m->nidle ? m->idle[--m->nidle] : NULL;
    pthread_mutex_unlock(&m->mu);
    return h ? h : curl_easy_init();
}

static void give_handle(remote_t *m, CURL *h)
{
    pthread_mutex_lock(&m->mu);
    if (m->nidle < POOL) {
        m->idle[m->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* Appends s percent-encoded as one path segment. */
static int add_segment(fr_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            rc = fr_buf_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = fr_buf_add(b, e, 3);
        }
    }
    return rc;
}

/*
 * One request: method, path (already encoded, from the base URL), body
 * (NULL for none).  0 with res->status and res->body (the caller destroys
 * it); FR_EUNAVAIL with err filled when no answer came; FR_ENOMEM.
 */
static int request(remote_t *m, const char *method, const char *path, const fr_buf_t *body,
                   resp_t *res, char *err, size_t errlen)
{
    fr_buf_init(&res->body, MAX_ANSWER);
    res->status = 0;
    res->cerr[0] = '\0';
    fr_buf_t url;
    fr_buf_init(&url, 16384);
    int rc = fr_buf_addstr(&url, m->url);
    rc = rc ? rc : fr_buf_addstr(&url, path);
    if (rc) {
        fr_buf_destroy(&url);
        return rc == FR_ELIMIT ? FR_EINVAL : rc;
    }
    CURL *h = take_handle(m);
    struct curl_slist *hdrs = NULL, *t;
    t = curl_slist_append(hdrs, "Accept: " FR_REGISTRY_CONTENT_TYPE
                                ", application/vnd.schemaregistry+json, application/json");
    hdrs = t ? t : hdrs;
    if (body && t) {
        t = curl_slist_append(hdrs, "Content-Type: " FR_REGISTRY_CONTENT_TYPE);
        hdrs = t ? t : hdrs;
    }
    if (!h || !t) {
        curl_slist_free_all(hdrs);
        if (h)
            give_handle(m, h);
        fr_buf_destroy(&url);
        return FR_ENOMEM;
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "freshet-registry");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, res->cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p ? body->p : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(hdrs);
    give_handle(m, h);
    rc = 0;
    if (cc == CURLE_WRITE_ERROR) {
        if (err && errlen)
            snprintf(err, errlen, "schema registry at %s: the answer to %s %s is over %zu bytes",
                     m->url, method, url.p, MAX_ANSWER);
        rc = FR_EUNAVAIL;
    } else if (cc != CURLE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "schema registry at %s unavailable: %s", m->url,
                     res->cerr[0] ? res->cerr : curl_easy_strerror(cc));
        rc = FR_EUNAVAIL;
    }
    fr_buf_destroy(&url);
    return rc;
}

/* The code of a non-2xx answer, with the registry's message as reason. */
static int answer_rc(remote_t *m, const resp_t *res, char *reason, size_t rlen)
{
    long st = res->status;
    if (st >= 200 && st < 300)
        return 0;
    json_t *j = json_loadb(res->body.p ? res->body.p : "", res->body.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    json_int_t code = json_integer_value(json_object_get(j, "error_code"));
    if (reason && rlen) {
        if (msg)
            snprintf(reason, rlen, "%s", msg);
        else
            snprintf(reason, rlen, "schema registry at %s answered HTTP %ld", m->url, st);
    }
    json_decref(j);
    if (st == 404)
        return FR_ENOTFOUND;
    if (st == 409)
        return FR_ECONFLICT;
    if (st == 422)
        return code == 42208 || code == 42202 ? FR_EINVAL : FR_EPARSE;
    if (st >= 500 || st == 0 || st == 408 || st == 429)
        return FR_EUNAVAIL;
    return FR_EIO;
}

/* Does one request and parses a 2xx JSON answer into *doc. */
static int call(remote_t *m, const char *method, const char *path, const fr_buf_t *body,
                json_t **doc, char *reason, size_t rlen)
{
    *doc = NULL;
    resp_t res;
    int rc = request(m, method, path, body, &res, reason, rlen);
    if (!rc)
        rc = answer_rc(m, &res, reason, rlen);
    if (!rc) {
        json_error_t je;
        *doc = json_loadb(res.body.p ? res.body.p : "", res.body.len, JSON_DECODE_ANY, &je);
        if (!*doc) {
            if (reason && rlen)
                snprintf(reason, rlen, "schema registry at %s: the answer to %s %s is not JSON: %s",
                         m->url, method, path, je.text);
            rc = FR_EUNAVAIL;
        }
    }
    fr_buf_destroy(&res.body);
    return rc;
}

/* ---- caches ---------------------------------------------------------------------- */

static void id_put(remote_t *m, uint32_t id, const char *text, size_t len)
{
    if (!id || len > ID_CACHE_BYTES / 4)
        return;
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(&m->mu);
    if (m->id_bytes + len > ID_CACHE_BYTES) {
        for (size_t i = 0; i < ID_SLOTS; i++) {
            free(m->ids[i].text);
            m->ids[i] = (id_slot_t){0};
        }
        m->id_bytes = 0;
    }
    id_slot_t *s = &m->ids[id % ID_SLOTS];
    m->id_bytes -= s->len;
    free(s->text);
    *s = (id_slot_t){id, copy, len};
    m->id_bytes += len;
    pthread_mutex_unlock(&m->mu);
}

/* 1 and out filled when cached; 0 when not; an error from out. */
static int id_get(remote_t *m, uint32_t id, fr_buf_t *out)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    id_slot_t *s = &m->ids[id % ID_SLOTS];
    if (id && s->id == id) {
        fr_buf_reset(out);
        rc = fr_buf_add(out, s->text, s->len);
        rc = rc ? rc : 1;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static latest_slot_t *latest_slot(remote_t *m, const char *subject)
{
    return &m->latest[fr_hash64(subject, strlen(subject), 7) % LATEST_SLOTS];
}

static void latest_drop(remote_t *m, const char *subject)
{
    pthread_mutex_lock(&m->mu);
    latest_slot_t *s = latest_slot(m, subject);
    if (s->subject && strcmp(s->subject, subject) == 0) {
        free(s->subject);
        free(s->text);
        *s = (latest_slot_t){0};
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- the backend ------------------------------------------------------------------- */

static int rm_schema(fr_registry_t *r, uint32_t id, fr_buf_t *out)
{
    remote_t *m = r->impl;
    int rc = id_get(m, id, out);
    if (rc)
        return rc > 0 ? 0 : rc;
    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%" PRIu32, id);
    json_t *doc;
    rc = call(m, "GET", path, NULL, &doc, NULL, 0);
    if (rc)
        return rc;
    json_t *js = json_object_get(doc, "schema");
    if (!json_is_string(js)) {
        rc = FR_EUNAVAIL;
    } else {
        fr_buf_reset(out);
        rc = fr_buf_add(out, json_string_value(js), json_string_length(js));
        id_put(m, id, json_string_value(js), json_string_length(js));
    }
    json_decref(doc);
    return rc;
}

/* "/<a>/<subject>/<b>" with the subject encoded. */
static int subject_path(fr_buf_t *b, const char *pre, const char *subject, const char *post)
{
    fr_buf_init(b, 4096);
    int rc = fr_buf_addstr(b, pre);
    rc = rc ? rc : add_segment(b, subject);
    return rc ? rc : fr_buf_addstr(b, post);
}

static int schema_body(fr_buf_t *b, const char *text, size_t len)
{
    fr_buf_init(b, FR_REGISTRY_MAX_BODY);
    int rc = fr_buf_addstr(b, "{\"schema\":");
    rc = rc ? rc : fr_jw_str(b, text, len);
    return rc ? rc : fr_buf_addc(b, '}');
}

static int rm_reg(fr_registry_t *r, const char *subject, const char *text, size_t len,
                  const av_schema_t *parsed, const char *canon, size_t clen, uint32_t *id,
                  char *reason, size_t rlen)
{
    (void)parsed;
    (void)canon;
    (void)clen;
    remote_t *m = r->impl;
    fr_buf_t path, body;
    json_t *doc = NULL;
    int rc = subject_path(&path, "/subjects/", subject, "/versions");
    fr_buf_init(&body, 0);
    if (!rc)
        rc = schema_body(&body, text, len);
    if (!rc)
        rc = call(m, "POST", path.p, &body, &doc, reason, rlen);
    if (!rc) {
        json_t *ji = json_object_get(doc, "id");
        if (json_is_integer(ji) && json_integer_value(ji) > 0 &&
            json_integer_value(ji) <= UINT32_MAX) {
            *id = (uint32_t)json_integer_value(ji);
        } else {
            rc = FR_EUNAVAIL;
            if (reason && rlen)
                snprintf(reason, rlen, "schema registry at %s: no \"id\" in the answer", m->url);
        }
    }
    latest_drop(m, subject);
    json_decref(doc);
    fr_buf_destroy(&path);
    fr_buf_destroy(&body);
    return rc;
}

static int rm_check(fr_registry_t *r, const char *subject, const char *text, size_t len,
                    const av_schema_t *parsed, int version, char *reason, size_t rlen)
{
    (void)parsed;
    remote_t *m = r->impl;
    char post[64];
    if (version > 0)
        snprintf(post, sizeof post, "/versions/%d?verbose=true", version);
    else
        snprintf(post, sizeof post, "/versions/latest?verbose=true");
    fr_buf_t path, body;
    json_t *doc = NULL;
    int rc = subject_path(&path, "/compatibility/subjects/", subject, post);
    fr_buf_init(&body, 0);
    if (!rc)
        rc = schema_body(&body, text, len);
    if (!rc)
        rc = call(m, "POST", path.p, &body, &doc, reason, rlen);
    if (!rc) {
        json_t *ok = json_object_get(doc, "is_compatible");
        if (!json_is_boolean(ok)) {
            rc = FR_EUNAVAIL;
            if (reason && rlen)
                snprintf(reason, rlen, "schema registry at %s: no \"is_compatible\" in the answer",
                         m->url);
        } else if (!json_is_true(ok)) {
            rc = FR_ECONFLICT;
            if (reason && rlen) {
                json_t *msgs = json_object_get(doc, "messages");
                size_t o = 0;
                reason[0] = '\0';
                for (size_t i = 0; i < json_array_size(msgs) && o < rlen; i++) {
                    const char *s = json_string_value(json_array_get(msgs, i));
                    if (s)
                        o += (size_t)snprintf(reason + o, rlen - o, "%s%s", o ? "; " : "", s);
                }
                if (!reason[0])
                    snprintf(reason, rlen, "incompatible with the latest version of '%s'", subject);
            }
        }
    }
    json_decref(doc);
    fr_buf_destroy(&path);
    fr_buf_destroy(&body);
    return rc;
}

/* {"subject","version","id","schema"} -> out parameters. */
static int version_answer(json_t *doc, uint32_t *id, int *version, const char **text, size_t *len)
{
    json_t *ji = json_object_get(doc, "id"), *jv = json_object_get(doc, "version");
    json_t *js = json_object_get(doc, "schema");
    if (!json_is_integer(ji) || json_integer_value(ji) <= 0 ||
        json_integer_value(ji) > UINT32_MAX || !json_is_integer(jv) ||
        json_integer_value(jv) <= 0 || json_integer_value(jv) > INT32_MAX || !json_is_string(js))
        return FR_EUNAVAIL;
    *id = (uint32_t)json_integer_value(ji);
    *version = (int)json_integer_value(jv);
    *text = json_string_value(js);
    *len = json_string_length(js);
    return 0;
}

static int rm_latest(fr_registry_t *r, const char *subject, uint32_t *id, int *version,
                     fr_buf_t *schema)
{
    remote_t *m = r->impl;
    int64_t now = fr_now_ms();
    int rc = 1;
    pthread_mutex_lock(&m->mu);
    latest_slot_t *s = latest_slot(m, subject);
    if (s->subject && strcmp(s->subject, subject) == 0 && s->expires_ms > now) {
        *id = s->id;
        *version = s->version;
        rc = 0;
        if (schema) {
            fr_buf_reset(schema);
            rc = fr_buf_add(schema, s->text, s->len);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (rc <= 0)
        return rc;
    fr_buf_t path;
    json_t *doc = NULL;
    rc = subject_path(&path, "/subjects/", subject, "/versions/latest");
    if (!rc)
        rc = call(m, "GET", path.p, NULL, &doc, NULL, 0);
    const char *text = NULL;
    size_t len = 0;
    if (!rc)
        rc = version_answer(doc, id, version, &text, &len);
    if (!rc && schema) {
        fr_buf_reset(schema);
        rc = fr_buf_add(schema, text, len);
    }
    if (!rc) {
        char *sc = strdup(subject), *tc = malloc(len + 1);
        if (sc && tc) {
            memcpy(tc, text, len);
            tc[len] = '\0';
            pthread_mutex_lock(&m->mu);
            s = latest_slot(m, subject);
            free(s->subject);
            free(s->text);
            *s = (latest_slot_t){sc, *id, *version, tc, len, now + FR_REGISTRY_LATEST_TTL_MS};
            pthread_mutex_unlock(&m->mu);
        } else {
            free(sc);
            free(tc);
        }
        id_put(m, *id, text, len);
    }
    json_decref(doc);
    fr_buf_destroy(&path);
    return rc;
}

static int rm_subjects(fr_registry_t *r, fr_registry_subject_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    remote_t *m = r->impl;
    json_t *doc;
    int rc = call(m, "GET", "/subjects", NULL, &doc, err, errlen);
    if (rc)
        return rc;
    if (!json_is_array(doc)) {
        json_decref(doc);
        snprintf(err, errlen, "schema registry at %s: GET /subjects is not an array", m->url);
        return FR_EUNAVAIL;
    }
    for (size_t i = 0; !rc && i < json_array_size(doc); i++) {
        const char *s = json_string_value(json_array_get(doc, i));
        if (s)
            rc = fn(ctx, s);
    }
    json_decref(doc);
    return rc;
}

static int rm_versions(fr_registry_t *r, const char *subject, fr_registry_version_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    remote_t *m = r->impl;
    fr_buf_t path;
    json_t *doc = NULL;
    int rc = subject_path(&path, "/subjects/", subject, "/versions");
    if (!rc)
        rc = call(m, "GET", path.p, NULL, &doc, err, errlen);
    if (!rc && !json_is_array(doc)) {
        snprintf(err, errlen, "schema registry at %s: GET %s is not an array", m->url, path.p);
        rc = FR_EUNAVAIL;
    }
    for (size_t i = 0; !rc && i < json_array_size(doc); i++) {
        json_t *jv = json_array_get(doc, i);
        if (!json_is_integer(jv))
            continue;
        char post[32];
        snprintf(post, sizeof post, "/versions/%" JSON_INTEGER_FORMAT, json_integer_value(jv));
        fr_buf_t vp;
        json_t *vd = NULL;
        rc = subject_path(&vp, "/subjects/", subject, post);
        if (!rc)
            rc = call(m, "GET", vp.p, NULL, &vd, err, errlen);
        uint32_t id;
        int version;
        const char *text;
        size_t len;
        if (!rc && version_answer(vd, &id, &version, &text, &len)) {
            snprintf(err, errlen, "schema registry at %s: GET %s: unexpected answer", m->url, vp.p);
            rc = FR_EUNAVAIL;
        }
        if (!rc) {
            id_put(m, id, text, len);
            rc = fn(ctx, version, id, text, len);
        }
        json_decref(vd);
        fr_buf_destroy(&vp);
    }
    json_decref(doc);
    fr_buf_destroy(&path);
    return rc;
}

static int rm_delete(fr_registry_t *r, const char *subject, int permanent,
                     fr_registry_deleted_fn fn, void *ctx, char *reason, size_t rlen)
{
    remote_t *m = r->impl;
    fr_buf_t path;
    resp_t res = {.status = 0};
    json_t *doc = NULL;
    int rc = subject_path(&path, "/subjects/", subject, permanent ? "?permanent=true" : "");
    if (!rc)
        rc = request(m, "DELETE", path.p, NULL, &res, reason, rlen);
    if (!rc) {
        doc = json_loadb(res.body.p ? res.body.p : "", res.body.len, JSON_DECODE_ANY, NULL);
        rc = answer_rc(m, &res, reason, rlen);
        json_int_t code = json_integer_value(json_object_get(doc, "error_code"));
        if (rc == FR_ENOTFOUND && (code == 40404 || code == 40405))
            rc = FR_ECONFLICT;
    }
    if (!rc && !json_is_array(doc)) {
        snprintf(reason, rlen, "schema registry at %s: DELETE %s is not an array", m->url, path.p);
        rc = FR_EUNAVAIL;
    }
    for (size_t i = 0; !rc && fn && i < json_array_size(doc); i++) {
        json_t *jv = json_array_get(doc, i);
        if (json_is_integer(jv) && json_integer_value(jv) > 0 &&
            json_integer_value(jv) <= INT32_MAX)
            rc = fn(ctx, (int)json_integer_value(jv));
    }
    latest_drop(m, subject);
    json_decref(doc);
    fr_buf_destroy(&res.body);
    fr_buf_destroy(&path);
    return rc;
}

static void rm_close(fr_registry_t *r)
{
    remote_t *m = r->impl;
    for (int i = 0; i < m->nidle; i++)
        curl_easy_cleanup(m->idle[i]);
    for (size_t i = 0; i < ID_SLOTS; i++)
        free(m->ids[i].text);
    for (size_t i = 0; i < LATEST_SLOTS; i++) {
        free(m->latest[i].subject);
        free(m->latest[i].text);
    }
    pthread_mutex_destroy(&m->mu);
    free(m->url);
    free(m);
    curl_global_cleanup();
}

static const fr_registry_ops_t remote_ops = {
    .kind = "external",
    .schema = rm_schema,
    .reg = rm_reg,
    .check = rm_check,
    .latest = rm_latest,
    .subjects = rm_subjects,
    .versions = rm_versions,
    .del = rm_delete,
    .close = rm_close,
};

int fr_registry_remote_open(const char *url, int timeout_ms, fr_registry_t *r, char *err,
                            size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl does not initialise");
        return FR_ENOMEM;
    }
    remote_t *m = calloc(1, sizeof *m);
    if (m)
        m->url = strdup(url);
    if (!m || !m->url) {
        free(m);
        curl_global_cleanup();
        return FR_ENOMEM;
    }
    size_t n = strlen(m->url);
    while (n && m->url[n - 1] == '/')
        m->url[--n] = '\0';
    m->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    pthread_mutex_init(&m->mu, NULL);
    r->ops = &remote_ops;
    r->impl = m;
    return 0;
}

const char *fr_registry_remote_url(const fr_registry_t *r)
{
    const remote_t *m = r->impl;
    return m->url;
}
