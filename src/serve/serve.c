/*
 * serve.c - HTTP routes on libmicrohttpd (see serve.h).
 *
 * Handlers follow the two-phase pattern: the first call only allocates the
 * request context (queueing a response there would cost keep-alive in
 * libmicrohttpd 0.9.75), upload calls fill a body buffer born with
 * server.max_body_bytes as its maximum, and the last call answers.
 * Feature reads use a per-thread store read session, so a read is a
 * snapshot and costs no allocation beyond the answer.
 */
#include "serve/serve.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agg/agg.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/map.h"
#include "event/admit.h"
#include "serve/breaker.h"
#include "serve/ingest.h"
#include "serve/serve_int.h"

#ifndef FRESHET_VERSION
#define FRESHET_VERSION "0.1.0"
#endif

struct fr_server {
    fr_server_opts_t o;
    fr_breaker_t breaker; /* around store reads */
    size_t body_bytes;    /* request bodies held now (atomic) */
    struct MHD_Daemon *d;
    pthread_key_t rd_key;
    int port;
    fr_registry_t *reg; /* opened here when opts.registry is NULL (embedded only) */
    char reg_err[256];  /* why it did not open */
    fr_kafka_producer_t *prod[FR_CONFIG_MAX_SOURCES]; /* HTTP ingest into Kafka sources */
    fr_srv_models_t *models; /* scoring, the model registry, drift */
};

typedef struct {
    fr_buf_t body;
    int started;    /* the handler has seen this request once */
    int path_nul;   /* the raw path holds %00: a NUL would cut it short */
    int too_large;  /* over server.max_body_bytes */
    int overloaded; /* bodies in flight over the server's budget */
    size_t counted; /* bytes of this body in fr_server.body_bytes */
} req_t;

/* Request bodies held at once across all connections, at most: a few
 * maximal bodies, and never less than 256 MiB. */
static size_t body_budget(const fr_config_t *cfg)
{
    size_t b = (size_t)cfg->server.max_body_bytes * 4;
    return b < ((size_t)256 << 20) ? (size_t)256 << 20 : b;
}

static void rd_destroy(void *p)
{
    fr_store_rd_free(p);
}

/* This thread's read session, created on first use. */
static fr_store_rd_t *thread_rd(fr_server_t *srv)
{
    fr_store_rd_t *rd = pthread_getspecific(srv->rd_key);
    if (!rd && fr_store_rd_new(srv->o.store, &rd) == 0)
        pthread_setspecific(srv->rd_key, rd);
    return rd;
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, fr_buf_t *b)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b->len, b->p ? b->p : "", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* An error answer {"error","detail"}; allow (NULL or the methods of the
 * route) becomes an Allow header, as a 405 needs. */
static enum MHD_Result send_error_v(struct MHD_Connection *c, int status, const char *allow,
                                    const char *error, const char *fmt, va_list ap)
{
    char detail[512];
    vsnprintf(detail, sizeof detail, fmt, ap);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    fr_buf_addstr(&b, "{\"error\":");
    fr_jw_cstr(&b, error);
    fr_buf_addstr(&b, ",\"detail\":");
    fr_jw_cstr(&b, detail);
    fr_buf_addc(&b, '}');
    enum MHD_Result ret = MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p ? b.p : "",
                                                             MHD_RESPMEM_MUST_COPY);
    if (r) {
        MHD_add_response_header(r, "Content-Type", "application/json");
        if (allow)
            MHD_add_response_header(r, "Allow", allow);
        ret = MHD_queue_response(c, (unsigned)status, r);
        MHD_destroy_response(r);
    }
    fr_buf_destroy(&b);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *error,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *error,
                                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = send_error_v(c, status, NULL, error, fmt, ap);
    va_end(ap);
    return ret;
}

static enum MHD_Result send_405(struct MHD_Connection *c, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result send_405(struct MHD_Connection *c, const char *allow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = send_error_v(c, 405, allow, "method_not_allowed", fmt, ap);
    va_end(ap);
    return ret;
}

/* Parses a decimal int64 (whole string). */
static int parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* ---- features ----------------------------------------------------------- */

/* Features of one view, at most. */
#define VIEW_FEATURES_MAX (FR_AGG_MAX_AGGS * FR_AGG_MAX_WINDOWS)

/* as_of takes the range of event times (event/admit.h): every difference
 * with a stored time then fits in an int64. */
#define AS_OF_EXPECTED                                                                          \
    "as_of must be epoch milliseconds from 0 to 253402300799999 (1970-01-01 to "               \
    "9999-12-31T23:59:59.999Z)"

static bool as_of_ok(int64_t as_of)
{
    return as_of >= FR_TS_MIN_MS && as_of <= FR_TS_MAX_MS;
}

/* Logs a transition of the circuit breaker (fr_breaker_done's answer). */
static void log_breaker(fr_server_t *srv, int transition)
{
    if (transition == FR_BREAKER_OPENED)
        fr_warn("store reads failing: circuit breaker open after %d failures in a row; feature "
                "reads answer empty-window values (degraded) at once, a probe every %" PRId64
                " ms",
                srv->breaker.threshold, srv->breaker.open_ms);
    else if (transition == FR_BREAKER_CLOSED)
        fr_info("store reads work again: circuit breaker closed");
}

/*
 * Starts a store read unless the circuit is open.  Returns 0 with *rd in a
 * begun session, or an error (FR_ESTORE when the circuit is open): the
 * caller then serves empty-window values, degraded.  *ticket goes back to
 * read_done.
 */
static int read_begin(fr_server_t *srv, fr_store_rd_t **rd, int *ticket)
{
    *rd = NULL;
    *ticket = fr_breaker_allow(&srv->breaker, fr_now_ms());
    if (*ticket == FR_BREAKER_DENY)
        return FR_ESTORE;
    *rd = thread_rd(srv);
    int rc = *rd ? fr_store_rd_begin(*rd) : FR_ENOMEM;
    if (rc) {
        log_breaker(srv, fr_breaker_done(&srv->breaker, *ticket, false, fr_now_ms()));
        *ticket = FR_BREAKER_DENY;
        *rd = NULL;
    }
    return rc;
}

/* Ends a read that read_begin began, reporting whether the store worked. */
static void read_done(fr_server_t *srv, fr_store_rd_t *rd, int ticket, bool ok)
{
    if (rd)
        fr_store_rd_end(rd);
    log_breaker(srv, fr_breaker_done(&srv->breaker, ticket, ok, fr_now_ms()));
}

/*
 * Evaluates what a store read gave (rc, and p/n when rc is 0) for one view
 * at as_of into vals.  *found, *newest set; returns 0, or the store error
 * (vals then hold the empty-window values: degraded).
 */
static int eval_read(const fr_view_spec_t *vs, int rc, const void *p, size_t n, int64_t as_of,
                     fr_value_t *vals, int *found, int64_t *newest)
{
    *found = 0;
    *newest = INT64_MIN;
    if (rc == 0) {
        rc = fr_agg_eval_encoded(&vs->plan, p, n, as_of, vals, newest);
        if (rc == 0) {
            *found = 1;
            return 0;
        }
        if (rc == FR_EMISMATCH)
            rc = FR_ENOTFOUND; /* state of an older plan: as if absent until rebuilt */
    }
    fr_agg_eval_empty(&vs->plan, vals);
    return rc == FR_ENOTFOUND ? 0 : rc;
}

/* Reads and evaluates one entity of view v (inside a begun read session). */
static int read_entity(fr_store_rd_t *rd, const fr_view_spec_t *vs, int v, const char *key,
                       size_t klen, int64_t as_of, fr_value_t *vals, int *found, int64_t *newest)
{
    const void *p = NULL;
    size_t n = 0;
    int rc = fr_store_get(rd, v, key, klen, &p, &n, NULL);
    return eval_read(vs, rc, p, n, as_of, vals, found, newest);
}

static int render_features(fr_buf_t *b, const fr_view_spec_t *vs, const fr_value_t *vals,
                           const char *prefix)
{
    int rc = fr_buf_addc(b, '{');
    size_t nf = vs->naggs * vs->nwindows;
    for (size_t i = 0; !rc && i < nf; i++) {
        if (i)
            rc = fr_buf_addc(b, ',');
        if (prefix) {
            char name[2 * FR_CONFIG_MAX_NAME + 16];
            snprintf(name, sizeof name, "%s:%s", prefix, vs->feature_names[i]);
            rc = rc ? rc : fr_jw_key(b, name);
        } else {
            rc = rc ? rc : fr_jw_key(b, vs->feature_names[i]);
        }
        rc = rc ? rc : fr_jw_value(b, &vals[i]);
    }
    return rc ? rc : fr_buf_addc(b, '}');
}

static enum MHD_Result get_features(fr_server_t *srv, struct MHD_Connection *c, const char *rest,
                                    int path_nul)
{
    const fr_config_t *cfg = srv->o.cfg;
    if (path_nul)
        return send_error(c, 400, "bad_entity", "entity keys cannot hold a NUL byte (%%00)");
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1])
        return send_error(c, 404, "not_found", "expected /v1/features/{view}/{entity}");
    char view[FR_CONFIG_MAX_NAME + 1];
    size_t vl = (size_t)(slash - rest);
    if (vl > FR_CONFIG_MAX_NAME)
        return send_error(c, 404, "unknown_view", "no such view");
    memcpy(view, rest, vl);
    view[vl] = '\0';
    int v = fr_config_view_index(cfg, view);
    if (v < 0)
        return send_error(c, 404, "unknown_view", "no view named '%s'", view);
    const char *key = slash + 1;
    size_t klen = strlen(key);
    if (klen > (size_t)cfg->server.max_key_bytes)
        return send_error(c, 414, "key_too_long", "entity keys are at most %d bytes",
                          cfg->server.max_key_bytes);
    int64_t now = fr_now_ms(), as_of = now;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "as_of");
    if (q && (parse_i64(q, &as_of) || !as_of_ok(as_of)))
        return send_error(c, 400, "bad_as_of", AS_OF_EXPECTED);
    const fr_view_spec_t *vs = &cfg->views[v];
    fr_value_t vals[VIEW_FEATURES_MAX];
    fr_store_rd_t *rd;
    int ticket, found = 0;
    int rc = read_begin(srv, &rd, &ticket);
    int64_t newest = INT64_MIN;
    if (!rc)
        rc = read_entity(rd, vs, v, key, klen, as_of, vals, &found, &newest);
    else
        fr_agg_eval_empty(&vs->plan, vals);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    fr_buf_addstr(&b, "{\"view\":");
    fr_jw_cstr(&b, vs->name);
    fr_buf_addstr(&b, ",\"entity\":");
    fr_jw_str(&b, key, klen);
    fr_buf_printf(&b, ",\"as_of\":%" PRId64 ",\"found\":%s,\"features\":", as_of,
                  found ? "true" : "false");
    render_features(&b, vs, vals, NULL);
    int64_t fresh;
    if (found && newest != INT64_MIN && !__builtin_sub_overflow(as_of, newest, &fresh))
        fr_buf_printf(&b, ",\"freshness_ms\":%" PRId64, fresh);
    else
        fr_buf_addstr(&b, ",\"freshness_ms\":null");
    fr_buf_printf(&b, ",\"degraded\":%s}", rc ? "true" : "false");
    if (rd)
        read_done(srv, rd, ticket, rc == 0);
    enum MHD_Result ret = send_buf(c, 200, &b);
    fr_buf_destroy(&b);
    return ret;
}

/*
 * POST /v1/features.  A feature or an entity named more than once is
 * answered once: the features of each view asked for (in the view's own
 * order) and the distinct entities (in the order of their first mention;
 * a number and its decimal text are one entity).  The batch limit counts
 * distinct features and entities.
 */
static enum MHD_Result post_features(fr_server_t *srv, struct MHD_Connection *c, req_t *rq)
{
    const fr_config_t *cfg = srv->o.cfg;
    json_error_t je;
    json_t *doc = json_loadb(rq->body.p ? rq->body.p : "", rq->body.len, 0, &je);
    if (!doc)
        return send_error(c, 400, "malformed_json", "%s (line %d, column %d)", je.text, je.line,
                          je.column);
    enum MHD_Result ret;
    json_t *feats = json_object_get(doc, "features"), *ents = json_object_get(doc, "entities");
    json_t *jas = json_object_get(doc, "as_of");
    uint8_t *sel = NULL;      /* sel[j * VIEW_FEATURES_MAX + k]: feature k of view uv[j] */
    size_t *ent = NULL;       /* indices of the distinct entities in ents */
    fr_store_get_t *keys = NULL;
    char (*numkeys)[24] = NULL;
    fr_map_t seen;
    fr_map_init(&seen);
    fr_buf_t b;
    fr_buf_init(&b, (size_t)1 << 28);
    int64_t as_of = fr_now_ms();
    if (!json_is_array(feats) || !json_is_array(ents) || !json_array_size(feats)) {
        ret = send_error(c, 400, "bad_request",
                         "expected {\"features\":[\"view:feature\",...],\"entities\":[...]}");
        goto out;
    }
    if (jas && !json_is_null(jas)) {
        if (!json_is_integer(jas) || !as_of_ok(json_integer_value(jas))) {
            ret = send_error(c, 400, "bad_as_of", AS_OF_EXPECTED);
            goto out;
        }
        as_of = json_integer_value(jas);
    }
    size_t nf = json_array_size(feats), ne = json_array_size(ents), ncols = 0, nent = 0;
    if (nf > (size_t)cfg->server.max_batch || ne > (size_t)cfg->server.max_batch) {
        ret = send_error(c, 413, "batch_too_large", "at most %d features and entities",
                         cfg->server.max_batch);
        goto out;
    }
    /* the distinct views asked for, in request order, and their features */
    int uv[FR_CONFIG_MAX_VIEWS];
    size_t nuv = 0;
    sel = calloc((cfg->nviews ? cfg->nviews : 1) * VIEW_FEATURES_MAX, 1);
    if (!sel) {
        ret = send_error(c, 503, "overloaded", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        const char *s = json_string_value(json_array_get(feats, i));
        const char *colon = s ? strchr(s, ':') : NULL;
        if (!colon || (size_t)(colon - s) > FR_CONFIG_MAX_NAME) {
            ret = send_error(c, 400, "bad_feature", "features are named \"view:feature\"");
            goto out;
        }
        char vn[FR_CONFIG_MAX_NAME + 1];
        memcpy(vn, s, (size_t)(colon - s));
        vn[colon - s] = '\0';
        int v = fr_config_view_index(cfg, vn);
        if (v < 0) {
            ret = send_error(c, 404, "unknown_view", "no view named '%s'", vn);
            goto out;
        }
        const fr_view_spec_t *vs = &cfg->views[v];
        size_t vf = vs->naggs * vs->nwindows, lo = 0, hi = vf;
        if (strcmp(colon + 1, "*") != 0) {
            while (lo < vf && strcmp(vs->feature_names[lo], colon + 1) != 0)
                lo++;
            if (lo == vf) {
                ret = send_error(c, 404, "unknown_feature", "view '%s' has no feature '%s'", vn,
                                 colon + 1);
                goto out;
            }
            hi = lo + 1;
        }
        size_t j = 0;
        while (j < nuv && uv[j] != v)
            j++;
        if (j == nuv)
            uv[nuv++] = v;
        for (size_t k = lo; k < hi; k++) {
            ncols += !sel[j * VIEW_FEATURES_MAX + k];
            sel[j * VIEW_FEATURES_MAX + k] = 1;
        }
    }
    ent = calloc(ne ? ne : 1, sizeof *ent);
    numkeys = calloc(ne ? ne : 1, sizeof *numkeys);
    if (!ent || !numkeys) {
        ret = send_error(c, 503, "overloaded", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        json_t *je2 = json_array_get(ents, i);
        const char *key = numkeys[i];
        size_t kl = 0;
        if (json_is_string(je2)) {
            key = json_string_value(je2);
            kl = json_string_length(je2);
        } else if (json_is_integer(je2)) {
            kl = (size_t)snprintf(numkeys[i], sizeof numkeys[i], "%" JSON_INTEGER_FORMAT,
                                  json_integer_value(je2));
        }
        if (!(json_is_string(je2) || json_is_integer(je2)) || !kl ||
            kl > (size_t)cfg->server.max_key_bytes || memchr(key, '\0', kl)) {
            ret = send_error(c, 400, "bad_entity",
                             "entity %zu must be a string of 1..%d bytes without NUL", i,
                             cfg->server.max_key_bytes);
            goto out;
        }
        uint64_t h = fr_map_hash(key, kl);
        if (fr_map_find(&seen, key, kl, h))
            continue; /* named before */
        if (!fr_map_insert(&seen, key, kl, h, NULL)) {
            ret = send_error(c, 503, "overloaded", "out of memory");
            goto out;
        }
        ent[nent++] = i;
    }
    if (ncols * (nent ? nent : 1) > (size_t)cfg->server.max_batch) {
        ret = send_error(c, 413, "batch_too_large",
                         "entities x features is %zu; at most %d per request", ncols * nent,
                         cfg->server.max_batch);
        goto out;
    }
    keys = calloc(nent * nuv + 1, sizeof *keys);
    if (!keys) {
        ret = send_error(c, 503, "overloaded", "out of memory");
        goto out;
    }
    for (size_t e = 0; e < nent; e++) {
        json_t *je2 = json_array_get(ents, ent[e]);
        const char *key = json_is_string(je2) ? json_string_value(je2) : numkeys[ent[e]];
        size_t klen = json_is_string(je2) ? json_string_length(je2) : strlen(key);
        for (size_t j = 0; j < nuv; j++)
            keys[e * nuv + j] = (fr_store_get_t){.view = uv[j], .key = key, .klen = klen};
    }
    /* one round trip for every (entity, view) */
    fr_store_rd_t *rd;
    int ticket;
    int rc = read_begin(srv, &rd, &ticket);
    if (!rc)
        rc = fr_store_get_many(rd, keys, nent * nuv);
    int degraded = rc != 0;
    fr_value_t vals[VIEW_FEATURES_MAX];
    fr_buf_printf(&b, "{\"as_of\":%" PRId64 ",\"results\":[", as_of);
    for (size_t e = 0; e < nent; e++) {
        const fr_store_get_t *row = &keys[e * nuv];
        fr_buf_addstr(&b, e ? ",{\"entity\":" : "{\"entity\":");
        fr_jw_str(&b, row[0].key, row[0].klen);
        fr_buf_addstr(&b, ",\"found\":{");
        fr_buf_t fb;
        fr_buf_init(&fb, (size_t)1 << 26);
        fr_buf_addc(&fb, '{');
        int firstf = 1;
        for (size_t j = 0; j < nuv; j++) {
            int v = uv[j], found = 0;
            const fr_view_spec_t *vs = &cfg->views[v];
            int64_t newest;
            if (eval_read(vs, rc ? rc : row[j].rc, row[j].val, row[j].vlen, as_of, vals, &found,
                          &newest))
                degraded = 1;
            fr_buf_printf(&b, "%s", j ? "," : "");
            fr_jw_key(&b, vs->name);
            fr_buf_addstr(&b, found ? "true" : "false");
            /* every feature of this view asked for, once */
            for (size_t k = 0; k < vs->naggs * vs->nwindows; k++) {
                if (!sel[j * VIEW_FEATURES_MAX + k])
                    continue;
                char name[2 * FR_CONFIG_MAX_NAME + 16];
                snprintf(name, sizeof name, "%s:%s", vs->name, vs->feature_names[k]);
                if (!firstf)
                    fr_buf_addc(&fb, ',');
                firstf = 0;
                fr_jw_key(&fb, name);
                fr_jw_value(&fb, &vals[k]);
            }
        }
        fr_buf_addc(&fb, '}');
        fr_buf_addstr(&b, "},\"features\":");
        fr_buf_add(&b, fb.p, fb.len);
        fr_buf_destroy(&fb);
        fr_buf_addc(&b, '}');
    }
    fr_buf_printf(&b, "],\"degraded\":%s}", degraded ? "true" : "false");
    if (rd)
        read_done(srv, rd, ticket, !degraded);
    ret = send_buf(c, 200, &b);
out:
    fr_buf_destroy(&b);
    fr_map_destroy(&seen);
    free(sel);
    free(ent);
    free(keys);
    free(numkeys);
    json_decref(doc);
    return ret;
}

/* ---- ingest, health, status -------------------------------------------- */

static enum MHD_Result post_events(fr_server_t *srv, struct MHD_Connection *c, const char *name,
                                   req_t *rq)
{
    const fr_config_t *cfg = srv->o.cfg;
    int s = fr_config_source_index(cfg, name);
    if (s < 0)
        return send_error(c, 404, "unknown_source", "no source named '%s'", name);
    if (!srv->o.log)
        return send_error(c, 501, "not_ingesting", "this server does not take events");
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (cfg->sources[s].kafka.enabled) {
        if (!srv->prod[s])
            return send_error(c, 503, "kafka_unavailable",
                              "no producer to source '%s''s topic could be opened", name);
        if (idem)
            return send_error(c, 400, "idempotency_key_unsupported",
                              "source '%s' is a Kafka topic: Idempotency-Key is not supported "
                              "there; the producer is idempotent within this process", name);
        fr_buf_t kout;
        fr_buf_init(&kout, (size_t)1 << 20);
        int kst = fr_ingest_kafka(cfg, srv->prod[s], s, rq->body.p ? rq->body.p : "",
                                  rq->body.len, &kout);
        enum MHD_Result kret = send_buf(c, kst, &kout);
        fr_buf_destroy(&kout);
        return kret;
    }
    size_t il = idem ? strlen(idem) : 0;
    if (idem && (il == 0 || il > (size_t)cfg->server.max_key_bytes))
        return send_error(c, 400, "bad_idempotency_key", "Idempotency-Key must be 1..%d bytes",
                          cfg->server.max_key_bytes);
    fr_buf_t out;
    fr_buf_init(&out, (size_t)1 << 20);
    int status = fr_ingest(cfg, srv->o.log, s, rq->body.p ? rq->body.p : "", rq->body.len, idem,
                           il, &out);
    enum MHD_Result ret = send_buf(c, status, &out);
    fr_buf_destroy(&out);
    return ret;
}

static enum MHD_Result get_status(fr_server_t *srv, struct MHD_Connection *c, int ready_only)
{
    const fr_config_t *cfg = srv->o.cfg;
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    fr_store_rd_t *rd;
    int ticket;
    int rc = read_begin(srv, &rd, &ticket);
    const char *breaker = fr_breaker_state(&srv->breaker, fr_now_ms());
    if (ready_only && !rc && cfg->nsources) {
        /* a round trip: a session alone may not touch a networked store */
        fr_store_pos_t pos;
        int prc = fr_store_pos_get(rd, 0, 0, &pos);
        if (prc && prc != FR_ENOTFOUND) {
            read_done(srv, rd, ticket, false);
            rd = NULL;
            rc = prc;
        }
    }
    if (ready_only && !rc && strcmp(breaker, "open") == 0)
        rc = FR_ESTORE; /* reads are being refused: not ready */
    if (ready_only) {
        /* writes failing (a full disk, a full map) make the node unready too:
         * the event log's, and the processor's commits to the store */
        int log_rc = srv->o.log ? fr_elog_health(srv->o.log) : 0, eng_rc = 0;
        if (srv->o.engine) {
            fr_engine_stats_t st;
            fr_engine_stats(srv->o.engine, &st);
            eng_rc = st.error;
        }
        int ready = !rc && !log_rc && !eng_rc;
        fr_buf_printf(&b, "{\"ready\":%s,\"store\":{\"backend\":\"%s\",\"ok\":%s}",
                      ready ? "true" : "false", srv->o.store->ops->kind, rc ? "false" : "true");
        fr_buf_printf(&b, ",\"breaker\":\"%s\"", breaker);
        if (srv->o.log) {
            fr_buf_printf(&b, ",\"log\":{\"ok\":%s", log_rc ? "false" : "true");
            if (log_rc) {
                fr_buf_addstr(&b, ",\"error\":");
                fr_jw_cstr(&b, fr_strerror(log_rc));
            }
            fr_buf_addc(&b, '}');
        }
        if (srv->o.engine) {
            fr_buf_printf(&b, ",\"processor\":{\"ok\":%s", eng_rc ? "false" : "true");
            if (eng_rc) {
                fr_buf_addstr(&b, ",\"error\":");
                fr_jw_cstr(&b, fr_strerror(eng_rc));
            }
            fr_buf_addc(&b, '}');
        }
        if (!ready) {
            char detail[512];
            snprintf(detail, sizeof detail, "%s%s%s%s%s%s%s%s", rc ? "store: " : "",
                     rc ? fr_strerror(rc) : "", rc && (log_rc || eng_rc) ? "; " : "",
                     log_rc ? "event log: " : "", log_rc ? fr_strerror(log_rc) : "",
                     log_rc && eng_rc ? "; " : "", eng_rc ? "processor: " : "",
                     eng_rc ? fr_strerror(eng_rc) : "");
            fr_buf_addstr(&b, ",\"detail\":");
            fr_jw_cstr(&b, detail);
        }
        fr_buf_addc(&b, '}');
        if (rd)
            read_done(srv, rd, ticket, true);
        enum MHD_Result ret = send_buf(c, ready ? 200 : 503, &b);
        fr_buf_destroy(&b);
        return ret;
    }
    fr_buf_addstr(&b, "{\"version\":\"" FRESHET_VERSION "\",\"store\":");
    fr_jw_cstr(&b, srv->o.store->ops->kind);
    fr_buf_printf(&b, ",\"breaker\":{\"state\":\"%s\",\"opened\":%" PRIu64 "}", breaker,
                  __atomic_load_n(&srv->breaker.opened, __ATOMIC_RELAXED));
    fr_buf_addstr(&b, ",\"sources\":[");
    for (size_t s = 0; s < cfg->nsources; s++) {
        fr_buf_addstr(&b, s ? ",{\"name\":" : "{\"name\":");
        fr_jw_cstr(&b, cfg->sources[s].name);
        fr_store_pos_t pos;
        if (!rc && fr_store_pos_get(rd, (int)s, 0, &pos) == 0)
            fr_buf_printf(&b,
                          ",\"committed_offset\":%" PRIu64 ",\"processed_watermark\":%" PRId64
                          ",\"committed_ms\":%" PRId64,
                          pos.next_offset, pos.watermark, pos.committed_ms);
        else
            fr_buf_addstr(&b, ",\"committed_offset\":0");
        uint64_t ndl; /* a Kafka source's: the messages in its dead-letter topic */
        if (cfg->sources[s].kafka.enabled && srv->prod[s]) {
            if (fr_kafka_producer_dlq_count(srv->prod[s], 1000, &ndl) == 0)
                fr_buf_printf(&b, ",\"dead_letters\":%" PRIu64, ndl);
            else
                fr_buf_addstr(&b, ",\"dead_letters\":null");
        }
        if (srv->o.log) {
            int64_t wm = fr_elog_watermark(srv->o.log, (int)s);
            fr_buf_printf(&b, ",\"log_end_offset\":%" PRIu64, fr_elog_end_offset(srv->o.log, (int)s));
            if (wm != INT64_MIN)
                fr_buf_printf(&b, ",\"watermark\":%" PRId64, wm);
        }
        fr_buf_addc(&b, '}');
    }
    fr_buf_addc(&b, ']');
    if (rd)
        read_done(srv, rd, ticket, true);
    if (srv->o.log)
        fr_buf_printf(&b, ",\"dead_letters\":%" PRIu64, fr_elog_dlq_count(srv->o.log));
    if (srv->o.engine) {
        fr_engine_stats_t st;
        fr_engine_stats(srv->o.engine, &st);
        fr_buf_printf(&b,
                      ",\"processor\":{\"records\":%" PRIu64 ",\"applied\":%" PRIu64
                      ",\"undecodable\":%" PRIu64 ",\"commits\":%" PRIu64
                      ",\"commit_errors\":%" PRIu64 ",\"entities_cached\":%" PRIu64
                      ",\"last_commit_us\":%" PRIu64 ",\"last_commit_ms\":%" PRId64 "}",
                      st.records, st.applied, st.undecodable, st.commits, st.commit_errors,
                      st.entities_cached, st.last_commit_us, st.last_commit_ms);
        /* per partition: committed position, end, lag (Kafka sources) */
        fr_engine_part_t parts[512];
        size_t np = 0;
        fr_engine_parts(srv->o.engine, parts, 512, &np);
        fr_buf_printf(&b, ",\"epoch\":%" PRIu64 ",\"partitions\":[",
                      fr_engine_epoch(srv->o.engine));
        for (size_t i = 0; i < np; i++) {
            const fr_engine_part_t *p = &parts[i];
            fr_buf_addstr(&b, i ? ",{\"source\":" : "{\"source\":");
            fr_jw_cstr(&b, cfg->sources[p->source].name);
            fr_buf_printf(&b, ",\"partition\":%" PRId32 ",\"committed_offset\":%" PRIu64,
                          p->partition, p->next);
            if (p->end != UINT64_MAX)
                fr_buf_printf(&b, ",\"end_offset\":%" PRIu64 ",\"lag\":%" PRIu64, p->end,
                              p->end > p->next ? p->end - p->next : 0);
            if (p->watermark != INT64_MIN)
                fr_buf_printf(&b, ",\"watermark\":%" PRId64, p->watermark);
            fr_buf_addc(&b, '}');
        }
        fr_buf_addc(&b, ']');
    }
    fr_buf_addc(&b, '}');
    enum MHD_Result ret = send_buf(c, 200, &b);
    fr_buf_destroy(&b);
    return ret;
}

/* ---- schema registry (Confluent REST subset, event/registry.h) ----------- */

static int registry_path(const char *url)
{
    return strcmp(url, "/subjects") == 0 || strncmp(url, "/subjects/", 10) == 0 ||
           strncmp(url, "/schemas/", 9) == 0 || strncmp(url, "/compatibility/", 15) == 0 ||
           strcmp(url, "/config") == 0 || strncmp(url, "/config/", 8) == 0;
}

/* Appends s percent-encoded (keeping '/' when keep_slash): libmicrohttpd
 * hands over the path decoded, fr_registry_http takes it as on the wire. */
static int registry_encode(fr_buf_t *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p && !rc; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~", *p) || (keep_slash && *p == '/'))
            rc = fr_buf_addc(b, (char)*p);
        else
            rc = fr_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    return rc;
}

typedef struct {
    fr_buf_t *b;
    int n, rc;
} registry_query_t;

/* Puts the query arguments back on the path: "?k=v&..." */
static enum MHD_Result registry_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    registry_query_t *q = cls;
    int rc = fr_buf_addc(q->b, q->n++ ? '&' : '?');
    rc = rc ? rc : registry_encode(q->b, key, 0);
    rc = rc ? rc : fr_buf_addc(q->b, '=');
    rc = rc ? rc : registry_encode(q->b, value, 0);
    q->rc = rc;
    return rc ? MHD_NO : MHD_YES;
}

static enum MHD_Result registry_route(fr_server_t *srv, struct MHD_Connection *c,
                                      const char *method, const char *url, req_t *rq)
{
    const char *ext = srv->o.cfg->registry.url;
    fr_registry_t *reg = srv->o.registry ? srv->o.registry : srv->reg;
    if (ext)
        return send_error(c, 404, "registry_external",
                          "the schema registry is external at %s; send %s %s there", ext, method,
                          url);
    if (!reg)
        return send_error(c, 503, "registry_unavailable", "the schema registry did not open: %s",
                          srv->reg_err);
    fr_buf_t path, out;
    fr_buf_init(&path, 16384);
    fr_buf_init(&out, (size_t)8 << 20);
    registry_query_t q = {&path, 0, registry_encode(&path, url, 1)};
    if (!q.rc)
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, registry_arg, &q);
    int rc = q.rc;
    enum MHD_Result ret;
    if (rc) {
        ret = send_error(c, 414, "uri_too_long", "registry paths are at most %zu bytes", path.max);
    } else {
        int status = fr_registry_http(reg, method, path.p, rq->body.p, rq->body.len, &out);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(out.len, out.p ? out.p : "", MHD_RESPMEM_MUST_COPY);
        ret = MHD_NO;
        if (r) {
            MHD_add_response_header(r, "Content-Type", FR_REGISTRY_CONTENT_TYPE);
            ret = MHD_queue_response(c, (unsigned)status, r);
            MHD_destroy_response(r);
        }
    }
    fr_buf_destroy(&path);
    fr_buf_destroy(&out);
    return ret;
}

static enum MHD_Result route(fr_server_t *srv, struct MHD_Connection *c, const char *method,
                             const char *url, req_t *rq)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    if (rq->too_large)
        return send_error(c, 413, "body_too_large", "request bodies are at most %" PRIu64 " bytes",
                          (uint64_t)srv->o.cfg->server.max_body_bytes);
    if (rq->overloaded)
        return send_error(c, 503, "overloaded", "too many request bodies in flight; retry");
    if (strncmp(url, "/v1/features/", 13) == 0 && get)
        return get_features(srv, c, url + 13, rq->path_nul);
    if (strcmp(url, "/v1/features") == 0 && post)
        return post_features(srv, c, rq);
    if (strncmp(url, "/v1/events/", 11) == 0 && post)
        return post_events(srv, c, url + 11, rq);
    if (strcmp(url, "/healthz") == 0 && get) {
        fr_buf_t b;
        fr_buf_init(&b, 64);
        fr_buf_addstr(&b, "{\"status\":\"ok\"}");
        enum MHD_Result ret = send_buf(c, 200, &b);
        fr_buf_destroy(&b);
        return ret;
    }
    if (strcmp(url, "/readyz") == 0 && get)
        return get_status(srv, c, 1);
    if (strcmp(url, "/v1/status") == 0 && get)
        return get_status(srv, c, 0);
    if (registry_path(url))
        return registry_route(srv, c, method, url, rq);
    if (fr_srv_models_path(url))
        return fr_srv_models_route(srv->models, c, method, url, rq->body.p, rq->body.len);
    const char *allow = NULL;
    if (strncmp(url, "/v1/features/", 13) == 0 || strcmp(url, "/healthz") == 0 ||
        strcmp(url, "/readyz") == 0 || strcmp(url, "/v1/status") == 0)
        allow = "GET, HEAD";
    else if (strcmp(url, "/v1/features") == 0 || strncmp(url, "/v1/events/", 11) == 0)
        allow = "POST";
    if (allow)
        return send_405(c, allow, "%s is not allowed on %s; allowed: %s", method, url, allow);
    return send_error(c, 404, "not_found", "no route for %s %s", method, url);
}

static req_t *req_new(const fr_server_t *srv)
{
    req_t *rq = calloc(1, sizeof *rq);
    if (rq)
        fr_buf_init(&rq->body, srv->o.cfg->server.max_body_bytes);
    return rq;
}

/*
 * Called by libmicrohttpd with the request target as it came, before it
 * decodes the path: what it returns is the request's context.  A decoded
 * %00 would end the path early (so "k%00x" would read the entity "k"):
 * remember that it was there.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    req_t *rq = req_new(cls);
    if (rq && uri) {
        size_t n = strcspn(uri, "?");
        for (size_t i = 0; i + 2 < n && !rq->path_nul; i++)
            rq->path_nul = uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0';
    }
    return rq;
}

typedef struct {
    const char *first;
    int differ;
} clen_t;

static enum MHD_Result clen_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    clen_t *cl = cls;
    if (strcasecmp(key, "Content-Length") != 0 || !value)
        return MHD_YES;
    if (!cl->first)
        cl->first = value;
    else if (strcmp(cl->first, value) != 0)
        cl->differ = 1;
    return MHD_YES;
}

/*
 * The first call of a request, headers read and no body yet.  Answers at
 * once (libmicrohttpd then reads no body and closes the connection) what
 * must not wait for a body: two Content-Length headers that disagree (the
 * body's end would be ambiguous), and a body announced over the limit
 * with Expect: 100-continue (the client waits to be told before sending
 * it).  MHD_YES with nothing queued otherwise.
 */
static enum MHD_Result on_headers(fr_server_t *srv, struct MHD_Connection *c)
{
    clen_t cl = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, clen_header, &cl);
    if (cl.differ)
        return send_error(c, 400, "bad_content_length",
                          "the request has two Content-Length headers that differ");
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
    if (cl.first && expect && strcasecmp(expect, "100-continue") == 0) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl.first, &end, 10);
        if (!errno && !*end && n > srv->o.cfg->server.max_body_bytes)
            return send_error(c, 413, "body_too_large",
                              "request bodies are at most %" PRIu64 " bytes",
                              (uint64_t)srv->o.cfg->server.max_body_bytes);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    fr_server_t *srv = cls;
    req_t *rq = *con_cls;
    if (!rq) {
        rq = req_new(srv);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
    }
    if (!rq->started) {
        rq->started = 1;
        return on_headers(srv, c);
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_large || rq->overloaded)
            return MHD_YES; /* read and dropped; answered at the end */
        size_t held = __atomic_add_fetch(&srv->body_bytes, n, __ATOMIC_ACQ_REL);
        rq->counted += n;
        if (held > body_budget(srv->o.cfg))
            rq->overloaded = 1;
        else if (fr_buf_add(&rq->body, upload_data, n))
            rq->too_large = 1;
        if (rq->too_large || rq->overloaded) {
            fr_buf_destroy(&rq->body);
            __atomic_sub_fetch(&srv->body_bytes, rq->counted, __ATOMIC_ACQ_REL);
            rq->counted = 0;
        }
        return MHD_YES;
    }
    return route(srv, c, method, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    fr_server_t *srv = cls;
    (void)c;
    (void)toe;
    req_t *rq = *con_cls;
    if (rq) {
        __atomic_sub_fetch(&srv->body_bytes, rq->counted, __ATOMIC_ACQ_REL);
        fr_buf_destroy(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    fr_debug("http: %s", msg);
}

int fr_server_start(const fr_server_opts_t *opts, fr_server_t **out, char *err, size_t errlen)
{
    *out = NULL;
    fr_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return FR_ENOMEM;
    srv->o = *opts;
    const fr_config_t *cfg = opts->cfg;
    fr_breaker_init(&srv->breaker, cfg->server.breaker_failures, cfg->server.breaker_open_ms);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    const char *host = cfg->server.listen_host;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons((uint16_t)cfg->server.listen_port);
    } else if (inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)cfg->server.listen_port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "server.listen: '%s' is not an IP address", cfg->server.listen_host);
        free(srv);
        return FR_ECONFIG;
    }
    if (pthread_key_create(&srv->rd_key, rd_destroy)) {
        free(srv);
        return FR_ENOMEM;
    }
    if (!opts->registry && !cfg->registry.url &&
        fr_registry_open(cfg, &srv->reg, srv->reg_err, sizeof srv->reg_err))
        fr_warn("schema registry: %s; its routes answer 503", srv->reg_err);
    /* before the first request can come */
    for (size_t s = 0; opts->log && s < cfg->nsources; s++) {
        char perr[512] = "";
        if (cfg->sources[s].kafka.enabled &&
            fr_kafka_producer_open(cfg, (int)s, opts->registry ? opts->registry : srv->reg,
                                   &srv->prod[s], perr, sizeof perr))
            fr_warn("source %s: no HTTP ingest into Kafka: %s", cfg->sources[s].name, perr);
    }
    if (fr_srv_models_new(srv, &srv->models)) {
        snprintf(err, errlen, "out of memory");
        pthread_key_delete(srv->rd_key);
        fr_registry_close(srv->reg);
        for (size_t s = 0; s < FR_CONFIG_MAX_SOURCES; s++)
            fr_kafka_producer_close(srv->prod[s]);
        free(srv);
        return FR_ENOMEM;
    }
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->server.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->server.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->server.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->server.max_connections_per_client, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        srv, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
    if (!srv->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (%s)", cfg->server.listen_host,
                 cfg->server.listen_port, strerror(errno));
        pthread_key_delete(srv->rd_key);
        for (size_t s = 0; s < FR_CONFIG_MAX_SOURCES; s++)
            fr_kafka_producer_close(srv->prod[s]);
        fr_registry_close(srv->reg);
        free(srv);
        return FR_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : cfg->server.listen_port;
    *out = srv;
    return 0;
}

void fr_server_stop(fr_server_t *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->d);
    fr_srv_models_free(srv->models);
    pthread_key_delete(srv->rd_key);
    fr_registry_close(srv->reg);
    for (size_t s = 0; s < FR_CONFIG_MAX_SOURCES; s++)
        fr_kafka_producer_close(srv->prod[s]);
    free(srv);
}

int fr_server_port(const fr_server_t *srv)
{
    return srv->port;
}

/* ---- for the route modules (serve_int.h) ------------------------------------ */

enum MHD_Result fr_srv_send(struct MHD_Connection *c, int status, fr_buf_t *b)
{
    return send_buf(c, status, b);
}

enum MHD_Result fr_srv_error(struct MHD_Connection *c, int status, const char *error,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = send_error_v(c, status, NULL, error, fmt, ap);
    va_end(ap);
    return ret;
}

enum MHD_Result fr_srv_405(struct MHD_Connection *c, const char *allow, const char *method,
                           const char *url)
{
    return send_405(c, allow, "%s is not allowed on %s; allowed: %s", method, url, allow);
}

const fr_config_t *fr_srv_cfg(const fr_server_t *srv)
{
    return srv->o.cfg;
}

fr_store_t *fr_srv_store(const fr_server_t *srv)
{
    return srv->o.store;
}

int fr_srv_read_begin(fr_server_t *srv, fr_store_rd_t **rd, int *ticket)
{
    return read_begin(srv, rd, ticket);
}

void fr_srv_read_done(fr_server_t *srv, fr_store_rd_t *rd, int ticket, bool ok)
{
    read_done(srv, rd, ticket, ok);
}

int fr_srv_read_view(fr_server_t *srv, fr_store_rd_t *rd, int v, const char *key, size_t klen,
                     int64_t as_of, fr_value_t *vals)
{
    int found;
    int64_t newest;
    return read_entity(rd, &srv->o.cfg->views[v], v, key, klen, as_of, vals, &found, &newest);
}

bool fr_srv_as_of_ok(int64_t as_of)
{
    return as_of_ok(as_of);
}
