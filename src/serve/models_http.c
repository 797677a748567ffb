/*
 * models_http.c - the model routes (DESIGN §4): POST /v1/score/{model},
 * GET /v1/models[/{name}], PUT /v1/models/{name}/aliases/{alias},
 * GET /v1/drift/{model}.
 *
 * Scorers (model/scorer.h) are cached per (model, version) and shared by
 * the worker threads, each request holding a reference while it scores.
 * What "fraud" or "fraud@champion" stands for is asked of the registry at
 * most once per models.reload_ms per name, so replicas follow alias moves
 * within that time; the version it moves to is loaded by the first
 * request after the move while the others keep scoring with what they
 * hold.  Scored vectors go to the score log (a sampled share) and the
 * version's live drift histogram.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/log.h"
#include "model/modelreg.h"
#include "model/scorelog.h"
#include "model/scorer.h"
#include "serve/serve_int.h"

#define MAX_CACHED 16 /* scorers kept, besides those in use or named */
#define MAX_SPEC 256

typedef struct entry {
    struct entry *next;
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version;
    fr_scorer_t *sc;
    int refs;
    int64_t used_ms;
} entry_t;

typedef struct spec_ent {
    struct spec_ent *next;
    char spec[MAX_SPEC + 1];
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version;
    int rc;             /* of the last resolution: 0 or FR_ENOTFOUND */
    int64_t resolved_ms;
} spec_ent_t;

struct fr_srv_models {
    fr_server_t *srv;
    pthread_mutex_t mu;
    entry_t *ents;
    size_t nents;
    spec_ent_t *specs;
    size_t nspecs;
    fr_scorelog_t *log;
};

int fr_srv_models_new(fr_server_t *srv, fr_srv_models_t **out)
{
    fr_srv_models_t *m = calloc(1, sizeof *m);
    if (!m)
        return FR_ENOMEM;
    m->srv = srv;
    pthread_mutex_init(&m->mu, NULL);
    if (fr_srv_cfg(srv)->models.log_sample > 0 &&
        fr_scorelog_open(fr_srv_store(srv), fr_srv_cfg(srv), &m->log)) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return FR_ENOMEM;
    }
    *out = m;
    return 0;
}

void fr_srv_models_free(fr_srv_models_t *m)
{
    if (!m)
        return;
    fr_scorelog_close(m->log);
    for (entry_t *e = m->ents, *n; e; e = n) {
        n = e->next;
        fr_scorer_free(e->sc);
        free(e);
    }
    for (spec_ent_t *s = m->specs, *n; s; s = n) {
        n = s->next;
        free(s);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

bool fr_srv_models_path(const char *url)
{
    return !strncmp(url, "/v1/score/", 10) || !strcmp(url, "/v1/models") ||
           !strncmp(url, "/v1/models/", 11) || !strncmp(url, "/v1/drift/", 10);
}

/* ---- the cache ------------------------------------------------------------------- */

/* Frees the scorers nobody holds or names, oldest first, past MAX_CACHED. */
static void evict(fr_srv_models_t *m)
{
    while (m->nents > MAX_CACHED) {
        entry_t **victim = NULL;
        for (entry_t **pe = &m->ents; *pe; pe = &(*pe)->next) {
            entry_t *e = *pe;
            if (e->refs)
                continue;
            int named = 0;
            for (spec_ent_t *s = m->specs; s && !named; s = s->next)
                named = !s->rc && s->version == e->version && !strcmp(s->name, e->name);
            if (!named && (!victim || e->used_ms < (*victim)->used_ms))
                victim = pe;
        }
        if (!victim)
            return;
        entry_t *e = *victim;
        *victim = e->next;
        fr_scorer_free(e->sc);
        free(e);
        m->nents--;
    }
}

/*
 * A scorer for spec ("name", "name@3", "name@alias"), held until release.
 * 0; FR_ENOTFOUND (*what says "model" or "version"); FR_EINVAL (a malformed
 * spec); another error with err.
 */
static int acquire(fr_srv_models_t *m, const char *spec, entry_t **out, const char **what,
                   char *err, size_t errlen)
{
    const fr_config_t *cfg = fr_srv_cfg(m->srv);
    int64_t now = fr_now_ms();
    if (strlen(spec) > MAX_SPEC)
        return FR_EINVAL;
    pthread_mutex_lock(&m->mu);
    spec_ent_t *se = m->specs;
    while (se && strcmp(se->spec, spec))
        se = se->next;
    int fresh = se && now - se->resolved_ms < cfg->models.reload_ms;
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version = 0;
    int rc = 0;
    if (fresh) {
        snprintf(name, sizeof name, "%s", se->name);
        version = se->version;
        rc = se->rc;
    }
    pthread_mutex_unlock(&m->mu);
    if (!fresh) {
        rc = fr_modelreg_resolve(fr_srv_store(m->srv), spec, name, &version);
        if (rc && rc != FR_ENOTFOUND)
            return rc;
        pthread_mutex_lock(&m->mu);
        se = m->specs;
        while (se && strcmp(se->spec, spec))
            se = se->next;
        if (!se && m->nspecs < 4096 && (se = calloc(1, sizeof *se)) != NULL) {
            snprintf(se->spec, sizeof se->spec, "%s", spec);
            se->next = m->specs;
            m->specs = se;
            m->nspecs++;
        }
        if (se) {
            if (!rc && (se->version != version || strcmp(se->name, name)) && se->resolved_ms)
                fr_info("model %s now resolves to %s@%u", spec, name, version);
            snprintf(se->name, sizeof se->name, "%s", rc ? "" : name);
            se->version = version;
            se->rc = rc;
            se->resolved_ms = now;
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (rc) {
        /* say whether the model exists at all */
        char base[FR_MODEL_MAX_NAME + 1];
        size_t bl = strcspn(spec, "@");
        snprintf(base, sizeof base, "%.*s", (int)(bl < FR_MODEL_MAX_NAME ? bl : FR_MODEL_MAX_NAME),
                 spec);
        uint32_t *vs = NULL;
        size_t nv = 0;
        fr_modelreg_versions(fr_srv_store(m->srv), base, &vs, &nv);
        free(vs);
        *what = nv ? "version" : "model";
        return FR_ENOTFOUND;
    }
    pthread_mutex_lock(&m->mu);
    entry_t *e = m->ents;
    while (e && !(e->version == version && !strcmp(e->name, name)))
        e = e->next;
    if (e) {
        e->refs++;
        e->used_ms = now;
        pthread_mutex_unlock(&m->mu);
        *out = e;
        return 0;
    }
    pthread_mutex_unlock(&m->mu);
    /* load it (outside the lock: other requests go on) */
    fr_model_version_t *v = NULL;
    rc = fr_modelreg_get(fr_srv_store(m->srv), name, version, FR_MODELREG_WITH_MODEL, &v);
    fr_scorer_t *sc = NULL;
    if (!rc)
        rc = fr_scorer_new(cfg, v, &sc, err, errlen);
    fr_model_version_free(v);
    if (rc) {
        *what = "version";
        return rc;
    }
    pthread_mutex_lock(&m->mu);
    e = m->ents;
    while (e && !(e->version == version && !strcmp(e->name, name)))
        e = e->next;
    if (e) {
        fr_scorer_free(sc); /* another request loaded it meanwhile */
    } else if ((e = calloc(1, sizeof *e)) != NULL) {
        snprintf(e->name, sizeof e->name, "%s", name);
        e->version = version;
        e->sc = sc;
        e->next = m->ents;
        m->ents = e;
        m->nents++;
        fr_info("model %s@%u loaded (%zu inputs)", name, version, fr_scorer_ninputs(sc));
    } else {
        fr_scorer_free(sc);
        pthread_mutex_unlock(&m->mu);
        return FR_ENOMEM;
    }
    e->refs++;
    e->used_ms = now;
    evict(m);
    pthread_mutex_unlock(&m->mu);
    *out = e;
    return 0;
}

static void release(fr_srv_models_t *m, entry_t *e)
{
    pthread_mutex_lock(&m->mu);
    e->refs--;
    pthread_mutex_unlock(&m->mu);
}

static enum MHD_Result not_found(struct MHD_Connection *c, const char *spec, const char *what)
{
    if (!strcmp(what, "model"))
        return fr_srv_error(c, 404, "unknown_model", "no model named '%s' in the registry",
                            spec);
    return fr_srv_error(c, 404, "unknown_version", "'%s': no such version or alias", spec);
}

/* ---- scoring ------------------------------------------------------------------- */

typedef struct {
    fr_server_t *srv;
    fr_store_rd_t *rd;
    int rd_rc;
} rctx_t;

static int read_view(void *ctx, int view, const char *key, size_t klen, int64_t as_of,
                     fr_value_t *out, int *degraded)
{
    rctx_t *r = ctx;
    const fr_view_spec_t *vw = &fr_srv_cfg(r->srv)->views[view];
    if (r->rd_rc) {
        fr_agg_eval_empty(&vw->plan, out);
        *degraded = 1;
        return 0;
    }
    int rc = fr_srv_read_view(r->srv, r->rd, view, key, klen, as_of, out);
    if (rc) {
        r->rd_rc = rc;
        *degraded = 1;
    }
    return 0;
}

static uint64_t sample_rng(void)
{
    static __thread uint64_t x;
    if (!x)
        x = (uint64_t)fr_mono_ns() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static enum MHD_Result post_score(fr_srv_models_t *m, struct MHD_Connection *c,
                                  const char *spec, const char *body, size_t len)
{
    const fr_config_t *cfg = fr_srv_cfg(m->srv);
    uint64_t t0 = fr_mono_ns();
    int64_t now = fr_now_ms(), as_of = now;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "as_of");
    if (q) {
        char *end;
        errno = 0;
        long long v = strtoll(q, &end, 10);
        if (errno || end == q || *end || !fr_srv_as_of_ok(v))
            return fr_srv_error(c, 400, "bad_as_of",
                                "as_of must be epoch milliseconds from 0 to 253402300799999");
        as_of = v;
    }
    const char *fq = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "features");
    int with_features = !(fq && !strcmp(fq, "false"));
    json_error_t je;
    json_t *doc = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je) : NULL;
    if (!doc)
        return fr_srv_error(c, 400, "malformed_json",
                            len ? "the body is not JSON: %s" : "%s: expected a JSON object of "
                                                               "request fields, or an array",
                            len ? je.text : "the body is empty");
    int batch = json_is_array(doc);
    size_t n = batch ? json_array_size(doc) : 1;
    if (!batch && !json_is_object(doc)) {
        json_decref(doc);
        return fr_srv_error(c, 400, "bad_request",
                            "expected a JSON object of request fields, or an array of them");
    }
    if (n == 0 || n > FR_SCORER_MAX_BATCH) {
        json_decref(doc);
        return fr_srv_error(c, n ? 413 : 400, n ? "batch_too_large" : "bad_request",
                            "a batch holds 1 to %d requests", FR_SCORER_MAX_BATCH);
    }
    entry_t *e = NULL;
    const char *what = "model";
    char err[512] = "";
    int rc = acquire(m, spec, &e, &what, err, sizeof err);
    if (rc) {
        json_decref(doc);
        if (rc == FR_ENOTFOUND)
            return not_found(c, spec, what);
        if (rc == FR_EINVAL)
            return fr_srv_error(c, 400, "bad_model", "'%s' is not NAME, NAME@VERSION or "
                                                     "NAME@ALIAS", spec);
        return fr_srv_error(c, 503, "model_unavailable", "%s: %s", spec,
                            err[0] ? err : fr_strerror(rc));
    }
    fr_scorer_t *sc = e->sc;
    if (fr_scorer_changed(sc)) {
        release(m, e);
        json_decref(doc);
        return fr_srv_error(c, 409, "model_features_changed",
                            "%s@%u was trained on inputs whose definitions have changed since: %s; "
                            "train a new version",
                            fr_scorer_name(sc), fr_scorer_version(sc), fr_scorer_changed(sc));
    }
    const json_t *reqs[FR_SCORER_MAX_BATCH];
    for (size_t i = 0; i < n; i++)
        reqs[i] = batch ? json_array_get(doc, i) : doc;
    fr_score_out_t outs[FR_SCORER_MAX_BATCH];
    rctx_t rc_ctx = {.srv = m->srv};
    int ticket;
    rc_ctx.rd_rc = fr_srv_read_begin(m->srv, &rc_ctx.rd, &ticket);
    uint64_t fus = 0, pus = 0;
    rc = fr_scorer_score(sc, reqs, n, as_of, now, read_view, &rc_ctx, outs, &fus, &pus, err,
                         sizeof err);
    enum MHD_Result ret;
    if (rc) {
        if (rc_ctx.rd)
            fr_srv_read_done(m->srv, rc_ctx.rd, ticket, rc_ctx.rd_rc == 0);
        release(m, e);
        json_decref(doc);
        if (rc == FR_EINVAL)
            return fr_srv_error(c, 422, "bad_request_fields", "%s", err);
        return fr_srv_error(c, 503, "overloaded", "%s", err[0] ? err : fr_strerror(rc));
    }
    uint64_t total = (fr_mono_ns() - t0) / 1000;
    fr_buf_t b, line;
    fr_buf_init(&b, (size_t)64 << 20);
    fr_buf_init(&line, (size_t)16 << 20);
    if (batch)
        fr_buf_addc(&b, '[');
    size_t ni = fr_scorer_ninputs(sc);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fr_buf_addc(&b, ',');
        fr_buf_addstr(&b, "{\"model\":");
        fr_jw_cstr(&b, fr_scorer_name(sc));
        fr_buf_printf(&b, ",\"version\":%u,\"score\":", fr_scorer_version(sc));
        fr_jw_double(&b, outs[i].score);
        if (with_features) {
            fr_buf_addstr(&b, ",\"features\":{");
            for (size_t k = 0; k < ni; k++) {
                if (k)
                    fr_buf_addc(&b, ',');
                fr_jw_key(&b, fr_scorer_input_name(sc, k));
                fr_jw_value(&b, &outs[i].inputs[k]);
            }
            fr_buf_addc(&b, '}');
        }
        fr_buf_printf(&b,
                      ",\"as_of\":%" PRId64 ",\"degraded\":%s,\"timing_us\":{\"features\":%" PRIu64
                      ",\"predict\":%" PRIu64 ",\"total\":%" PRIu64 "}}",
                      as_of, outs[i].degraded ? "true" : "false", fus, pus, total);
        /* the served vector, for consistency checks and drift */
        double share = cfg->models.log_sample;
        if (m->log && (share >= 1.0 ||
                       (double)(sample_rng() >> 11) / 9007199254740992.0 < share)) {
            fr_buf_reset(&line);
            fr_buf_printf(&line, "{\"t\":%" PRId64 ",\"as_of\":%" PRId64 ",\"version\":%u,"
                                 "\"request\":",
                          now, as_of, fr_scorer_version(sc));
            char *rq = json_dumps(reqs[i], JSON_COMPACT);
            fr_buf_addstr(&line, rq ? rq : "null");
            free(rq);
            fr_buf_addstr(&line, ",\"inputs\":[");
            for (size_t k = 0; k < ni; k++) {
                if (k)
                    fr_buf_addc(&line, ',');
                fr_jw_value(&line, &outs[i].inputs[k]);
            }
            fr_buf_addstr(&line, "],\"score\":");
            fr_jw_double(&line, outs[i].score);
            fr_buf_printf(&line, ",\"degraded\":%s}", outs[i].degraded ? "true" : "false");
            if (line.p)
                fr_scorelog_add(m->log, fr_scorer_name(sc), now, line.p, line.len);
        }
    }
    if (batch)
        fr_buf_addc(&b, ']');
    /* strings in the answer pointed into the read session: it ends now */
    if (rc_ctx.rd)
        fr_srv_read_done(m->srv, rc_ctx.rd, ticket, rc_ctx.rd_rc == 0);
    release(m, e);
    json_decref(doc);
    ret = b.p ? fr_srv_send(c, 200, &b) : fr_srv_error(c, 503, "overloaded", "out of memory");
    fr_buf_destroy(&b);
    fr_buf_destroy(&line);
    return ret;
}

/* ---- the registry --------------------------------------------------------------- */

static enum MHD_Result get_models(fr_srv_models_t *m, struct MHD_Connection *c)
{
    fr_store_t *st = fr_srv_store(m->srv);
    fr_store_kv_names_t names = {0};
    int rc = fr_modelreg_models(st, &names);
    if (rc) {
        fr_store_kv_names_free(&names);
        return fr_srv_error(c, 503, "store_unavailable", "the registry: %s", fr_strerror(rc));
    }
    fr_buf_t b;
    fr_buf_init(&b, (size_t)16 << 20);
    fr_buf_addstr(&b, "{\"models\":[");
    for (size_t i = 0; !rc && i < names.n; i++) {
        uint32_t *vs = NULL;
        size_t nv = 0;
        fr_model_alias_t *as = NULL;
        size_t na = 0;
        rc = fr_modelreg_versions(st, names.v[i], &vs, &nv);
        if (!rc)
            rc = fr_modelreg_aliases(st, names.v[i], &as, &na);
        if (!rc) {
            if (i)
                fr_buf_addc(&b, ',');
            fr_buf_addstr(&b, "{\"name\":");
            fr_jw_cstr(&b, names.v[i]);
            fr_buf_addstr(&b, ",\"versions\":[");
            for (size_t k = 0; k < nv; k++)
                fr_buf_printf(&b, "%s%u", k ? "," : "", vs[k]);
            fr_buf_addstr(&b, "],\"aliases\":{");
            for (size_t k = 0; k < na; k++) {
                if (k)
                    fr_buf_addc(&b, ',');
                fr_jw_key(&b, as[k].name);
                fr_buf_printf(&b, "%u", as[k].version);
            }
            fr_buf_addstr(&b, "}}");
        }
        free(vs);
        free(as);
    }
    fr_buf_addstr(&b, "]}");
    fr_store_kv_names_free(&names);
    enum MHD_Result ret = rc ? fr_srv_error(c, 503, "store_unavailable", "the registry: %s",
                                            fr_strerror(rc))
                             : fr_srv_send(c, 200, &b);
    fr_buf_destroy(&b);
    return ret;
}

static enum MHD_Result get_model(fr_srv_models_t *m, struct MHD_Connection *c, const char *name)
{
    fr_store_t *st = fr_srv_store(m->srv);
    if (!fr_modelreg_name_ok(name))
        return fr_srv_error(c, 404, "unknown_model", "no model named '%s'", name);
    uint32_t *vs = NULL;
    size_t nv = 0;
    fr_model_alias_t *as = NULL;
    size_t na = 0;
    int rc = fr_modelreg_versions(st, name, &vs, &nv);
    if (!rc)
        rc = fr_modelreg_aliases(st, name, &as, &na);
    if (!rc && !nv) {
        free(vs);
        free(as);
        return fr_srv_error(c, 404, "unknown_model", "no model named '%s' in the registry",
                            name);
    }
    fr_buf_t b;
    fr_buf_init(&b, (size_t)64 << 20);
    fr_buf_addstr(&b, "{\"name\":");
    fr_jw_cstr(&b, name);
    fr_buf_addstr(&b, ",\"aliases\":{");
    for (size_t k = 0; !rc && k < na; k++) {
        if (k)
            fr_buf_addc(&b, ',');
        fr_jw_key(&b, as[k].name);
        fr_buf_printf(&b, "%u", as[k].version);
    }
    fr_buf_addstr(&b, "},\"versions\":[");
    for (size_t k = 0; !rc && k < nv; k++) {
        fr_model_version_t *v = NULL;
        rc = fr_modelreg_get(st, name, vs[k], 0, &v);
        if (!rc) {
            if (k)
                fr_buf_addc(&b, ',');
            rc = fr_model_version_json(v, 0, &b);
        }
        fr_model_version_free(v);
    }
    fr_buf_addstr(&b, "]}");
    free(vs);
    free(as);
    enum MHD_Result ret = rc ? fr_srv_error(c, 503, "store_unavailable", "the registry: %s",
                                            fr_strerror(rc))
                             : fr_srv_send(c, 200, &b);
    fr_buf_destroy(&b);
    return ret;
}

static enum MHD_Result put_alias(fr_srv_models_t *m, struct MHD_Connection *c, const char *name,
                                 const char *alias, const char *body, size_t len)
{
    if (!fr_modelreg_name_ok(name))
        return fr_srv_error(c, 404, "unknown_model", "no model named '%s'", name);
    if (!fr_modelreg_alias_ok(alias))
        return fr_srv_error(c, 400, "bad_alias",
                            "'%s' is not an alias name ([a-z][a-z0-9_-]*, at most %d bytes)",
                            alias, FR_MODEL_MAX_ALIAS);
    json_error_t je;
    json_t *doc = len ? json_loadb(body, len, 0, &je) : NULL;
    json_t *jv = doc ? json_object_get(doc, "version") : NULL;
    if (!jv || !json_is_integer(jv) || json_integer_value(jv) < 1 ||
        json_integer_value(jv) > UINT32_MAX) {
        json_decref(doc);
        return fr_srv_error(c, 400, "bad_request", "expected {\"version\": N}, N >= 1");
    }
    uint32_t version = (uint32_t)json_integer_value(jv);
    json_decref(doc);
    int rc = fr_modelreg_alias_set(fr_srv_store(m->srv), name, alias, version);
    if (rc == FR_ENOTFOUND)
        return fr_srv_error(c, 404, "unknown_version", "%s has no version %u", name, version);
    if (rc)
        return fr_srv_error(c, 503, "store_unavailable", "the registry: %s", fr_strerror(rc));
    /* this replica follows at once; others within models.reload_ms */
    pthread_mutex_lock(&m->mu);
    for (spec_ent_t *s = m->specs; s; s = s->next)
        s->resolved_ms = 0;
    pthread_mutex_unlock(&m->mu);
    fr_info("model %s: alias %s -> version %u", name, alias, version);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    fr_buf_addstr(&b, "{\"model\":");
    fr_jw_cstr(&b, name);
    fr_buf_addstr(&b, ",\"alias\":");
    fr_jw_cstr(&b, alias);
    fr_buf_printf(&b, ",\"version\":%u}", version);
    enum MHD_Result ret = fr_srv_send(c, 200, &b);
    fr_buf_destroy(&b);
    return ret;
}

/* ---- drift ------------------------------------------------------------------------ */

static void put_stat(fr_buf_t *b, const fr_drift_stat_t *s)
{
    fr_buf_addstr(b, "{\"psi\":");
    if (isfinite(s->psi))
        fr_jw_double(b, s->psi);
    else
        fr_buf_addstr(b, "null");
    fr_buf_addstr(b, ",\"js\":");
    if (isfinite(s->js))
        fr_jw_double(b, s->js);
    else
        fr_buf_addstr(b, "null");
    fr_buf_printf(b, ",\"count\":%" PRIu64 ",\"status\":\"%s\"}", s->count,
                  fr_drift_status_name(s->status));
}

static enum MHD_Result get_drift(fr_srv_models_t *m, struct MHD_Connection *c, const char *spec)
{
    entry_t *e = NULL;
    const char *what = "model";
    char err[512] = "";
    int rc = acquire(m, spec, &e, &what, err, sizeof err);
    if (rc == FR_ENOTFOUND)
        return not_found(c, spec, what);
    if (rc)
        return fr_srv_error(c, rc == FR_EINVAL ? 400 : 503,
                            rc == FR_EINVAL ? "bad_model" : "model_unavailable", "%s: %s", spec,
                            err[0] ? err : fr_strerror(rc));
    const fr_config_t *cfg = fr_srv_cfg(m->srv);
    fr_scorer_t *sc = e->sc;
    fr_drift_live_t *live = fr_scorer_live(sc);
    if (!live) {
        release(m, e);
        return fr_srv_error(c, 409, "no_reference", "%s@%u has no drift reference",
                            fr_scorer_name(sc), fr_scorer_version(sc));
    }
    size_t ncol = fr_scorer_ninputs(sc) + 1;
    fr_drift_stat_t *st = calloc(ncol, sizeof *st);
    uint64_t count = 0;
    fr_drift_thresholds_t th = {cfg->drift.psi_warn, cfg->drift.psi_alert};
    rc = st ? fr_drift_live_report(live, fr_now_ms(), &th, st, &count) : FR_ENOMEM;
    enum MHD_Result ret;
    if (rc) {
        ret = fr_srv_error(c, 503, "overloaded", "%s", fr_strerror(rc));
    } else {
        fr_buf_t b;
        fr_buf_init(&b, (size_t)16 << 20);
        fr_buf_addstr(&b, "{\"model\":");
        fr_jw_cstr(&b, fr_scorer_name(sc));
        fr_buf_printf(&b, ",\"version\":%u,\"window_ms\":%" PRId64 ",\"count\":%" PRIu64
                          ",\"inputs\":{",
                      fr_scorer_version(sc), cfg->drift.window_ms, count);
        for (size_t i = 0; i + 1 < ncol; i++) {
            if (i)
                fr_buf_addc(&b, ',');
            fr_jw_key(&b, fr_scorer_input_name(sc, i));
            put_stat(&b, &st[i]);
        }
        fr_buf_addstr(&b, "},\"score\":");
        put_stat(&b, &st[ncol - 1]);
        fr_buf_addc(&b, '}');
        ret = fr_srv_send(c, 200, &b);
        fr_buf_destroy(&b);
    }
    free(st);
    release(m, e);
    return ret;
}

/* ---- routing ------------------------------------------------------------------------ */

enum MHD_Result fr_srv_models_route(fr_srv_models_t *m, struct MHD_Connection *c,
                                    const char *method, const char *url, const char *body,
                                    size_t len)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strncmp(url, "/v1/score/", 10)) {
        if (strcmp(method, "POST"))
            return fr_srv_405(c, "POST", method, url);
        if (!url[10] || strchr(url + 10, '/'))
            return fr_srv_error(c, 404, "not_found", "expected /v1/score/{model}");
        return post_score(m, c, url + 10, body, len);
    }
    if (!strncmp(url, "/v1/drift/", 10)) {
        if (!get)
            return fr_srv_405(c, "GET, HEAD", method, url);
        if (!url[10] || strchr(url + 10, '/'))
            return fr_srv_error(c, 404, "not_found", "expected /v1/drift/{model}");
        return get_drift(m, c, url + 10);
    }
    if (!strcmp(url, "/v1/models")) {
        if (!get)
            return fr_srv_405(c, "GET, HEAD", method, url);
        return get_models(m, c);
    }
    /* /v1/models/{name} and /v1/models/{name}/aliases/{alias} */
    const char *name = url + 11;
    const char *slash = strchr(name, '/');
    if (!slash) {
        if (!get)
            return fr_srv_405(c, "GET, HEAD", method, url);
        return get_model(m, c, name);
    }
    char nb[FR_MODEL_MAX_NAME + 1];
    size_t nl = (size_t)(slash - name);
    if (nl > FR_MODEL_MAX_NAME || strncmp(slash, "/aliases/", 9) || !slash[9] ||
        strchr(slash + 9, '/'))
        return fr_srv_error(c, 404, "not_found", "no route for %s %s", method, url);
    memcpy(nb, name, nl);
    nb[nl] = '\0';
    if (strcmp(method, "PUT"))
        return fr_srv_405(c, "PUT", method, url);
    return put_alias(m, c, nb, slash + 9, body, len);
}
