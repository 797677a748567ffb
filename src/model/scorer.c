/*
 * scorer.c - scoring with one model version (see scorer.h).
 *
 * Made once: each input resolved to its definition in the configuration;
 * the views the inputs and their on-demand features read (each once, keyed
 * by the request field named like its entity); the request fields they
 * read, typed as the sources declare them; the on-demand features needed,
 * in configuration order.  Per call, per request: the fields typed from
 * JSON, the views read, the on-demand features evaluated, the inputs put
 * in the predictor's row; then one prediction for the batch.
 */
#include "model/scorer.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "event/event.h"
#include "expr/expr.h"
#include "model/inputs.h"
#include "model/xgb.h"

#define LIVE_SLOTS 60

typedef struct {
    const char *name;  /* the request field */
    fr_type_t type;
    int required;
} rfield_t;

typedef struct {
    int view;          /* configured view */
    int field;         /* rfield holding its entity key */
    size_t off;        /* of its values in a request's value block */
} rview_t;

typedef struct pool_item {
    fr_xgb_predictor_t *p;
    struct pool_item *next;
} pool_item_t;

struct fr_scorer {
    const fr_config_t *cfg;
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version;
    size_t ninputs;
    char **names;
    fr_input_def_t *defs;
    int *slot;          /* per input: rfield (FIELD), value index (VIEW), ondemand (ONDEMAND) */
    rfield_t *fields;
    size_t nfields;
    rview_t *views;
    size_t nviews;
    size_t nvalues;     /* view values per request */
    size_t maxrefs;     /* the most refs of a needed on-demand feature */
    uint8_t *od_need;   /* [nondemand] */
    int **od_slot;      /* per needed on-demand feature, per ref: rfield, value index, or od */
    char *changed;
    fr_xgb_model_t *model;
    fr_drift_ref_t *ref;
    fr_drift_live_t *live;
    pthread_mutex_t mu;
    pool_item_t *pool;
};

/* Per thread scratch, grown as needed: one block per request of the view
 * values, the field values, the on-demand values, the inputs and one
 * expression's inputs; and the scores.  Freed when the thread ends. */
typedef struct {
    fr_value_t *vals;
    size_t cap;
    float *scores;
    size_t scap;
} scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    scratch_t *sc = p;
    if (sc) {
        free(sc->vals);
        free(sc->scores);
        free(sc);
    }
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

static scratch_t *scratch(void)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_t *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (sc && pthread_setspecific(scratch_key, sc)) {
            free(sc);
            sc = NULL;
        }
    }
    return sc;
}

void fr_scorer_thread_done(void)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_free(pthread_getspecific(scratch_key));
    pthread_setspecific(scratch_key, NULL);
}

static int field_of(fr_scorer_t *s, const char *name, fr_type_t type, int required)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (!strcmp(s->fields[i].name, name)) {
            s->fields[i].required |= required;
            return (int)i;
        }
    rfield_t *f = realloc(s->fields, (s->nfields + 1) * sizeof *f);
    if (!f)
        return -1;
    s->fields = f;
    f[s->nfields] = (rfield_t){.name = name, .type = type, .required = required};
    return (int)s->nfields++;
}

/* Whether a field named name is required in the model's spine source. */
static int required_in(const fr_config_t *cfg, int spine, const char *name)
{
    if (spine < 0)
        return 0;
    int f = fr_source_field_index(&cfg->sources[spine], name);
    return f >= 0 && !cfg->sources[spine].fields[f].optional &&
           !cfg->sources[spine].fields[f].has_default;
}

static int view_of(fr_scorer_t *s, int v, int spine)
{
    for (size_t i = 0; i < s->nviews; i++)
        if (s->views[i].view == v)
            return (int)i;
    const fr_view_spec_t *vw = &s->cfg->views[v];
    const fr_field_spec_t *ef = &s->cfg->sources[vw->source].fields[vw->entity];
    int fi = field_of(s, ef->name, ef->type, 1);
    (void)spine;
    rview_t *nv = realloc(s->views, (s->nviews + 1) * sizeof *nv);
    if (fi < 0 || !nv)
        return -1;
    s->views = nv;
    nv[s->nviews] = (rview_t){.view = v, .field = fi, .off = s->nvalues};
    s->nvalues += vw->naggs * vw->nwindows;
    return (int)s->nviews++;
}

/* Marks on-demand feature od and what it reads as needed. */
static int need_od(fr_scorer_t *s, int od, int spine)
{
    if (s->od_need[od])
        return 0;
    s->od_need[od] = 1;
    const fr_ondemand_spec_t *o = &s->cfg->ondemand[od];
    if (o->nrefs > s->maxrefs)
        s->maxrefs = o->nrefs;
    s->od_slot[od] = calloc(o->nrefs ? o->nrefs : 1, sizeof **s->od_slot);
    if (!s->od_slot[od])
        return FR_ENOMEM;
    for (size_t r = 0; r < o->nrefs; r++) {
        const fr_ondemand_ref_t *ref = &o->refs[r];
        int k;
        if (ref->kind == FR_REF_FIELD) {
            k = field_of(s, ref->name, ref->type, required_in(s->cfg, spine, ref->name));
        } else if (ref->kind == FR_REF_FEATURE) {
            int vi = view_of(s, ref->view, spine);
            k = vi < 0 ? -1 : (int)s->views[vi].off + ref->feature;
        } else {
            int rc = need_od(s, ref->ondemand, spine);
            if (rc)
                return rc;
            k = ref->ondemand;
        }
        if (k < 0)
            return FR_ENOMEM;
        s->od_slot[od][r] = k;
    }
    return 0;
}

static int add_changed(fr_scorer_t *s, const char *name)
{
    size_t have = s->changed ? strlen(s->changed) : 0;
    char *c = realloc(s->changed, have + strlen(name) + 3);
    if (!c)
        return FR_ENOMEM;
    if (have)
        strcpy(c + have, ", ");
    else
        c[0] = '\0';
    strcat(c, name);
    s->changed = c;
    return 0;
}

int fr_scorer_new(const fr_config_t *cfg, const fr_model_version_t *v, fr_scorer_t **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    fr_scorer_t *s = calloc(1, sizeof *s);
    if (!s)
        return FR_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->cfg = cfg;
    snprintf(s->name, sizeof s->name, "%s", v->name);
    s->version = v->version;
    s->ninputs = v->ninputs;
    int rc = FR_ENOMEM;
    json_t *meta = NULL;
    s->names = calloc(v->ninputs ? v->ninputs : 1, sizeof *s->names);
    s->defs = calloc(v->ninputs ? v->ninputs : 1, sizeof *s->defs);
    s->slot = calloc(v->ninputs ? v->ninputs : 1, sizeof *s->slot);
    s->od_need = calloc(cfg->nondemand ? cfg->nondemand : 1, 1);
    s->od_slot = calloc(cfg->nondemand ? cfg->nondemand : 1, sizeof *s->od_slot);
    if (!s->names || !s->defs || !s->slot || !s->od_need || !s->od_slot)
        goto fail;
    /* the spine the model trained on, for which request fields are required */
    int mi = fr_config_model_index(cfg, v->name);
    int spine = mi >= 0 ? cfg->tsets[cfg->models.list[mi].tset].spine : -1;
    json_error_t je;
    meta = json_loads(v->meta_json ? v->meta_json : "{}", 0, &je);
    json_t *fps = meta ? json_object_get(meta, "input_fingerprints") : NULL;
    for (size_t i = 0; i < v->ninputs; i++) {
        s->names[i] = strdup(v->inputs[i].name);
        if (!s->names[i])
            goto fail;
        fr_input_def_t *d = &s->defs[i];
        if (fr_input_resolve(cfg, spine, s->names[i], d)) {
            /* gone from the configuration */
            if (add_changed(s, s->names[i]))
                goto fail;
            s->slot[i] = -1;
            continue;
        }
        char fp[FR_INPUT_FP_LEN + 1];
        fr_input_fingerprint(cfg, d, fp);
        const char *was = json_string_value(json_object_get(fps, s->names[i]));
        if (!was || strcmp(was, fp)) {
            if (add_changed(s, s->names[i]))
                goto fail;
        }
        int k;
        if (d->kind == FR_INPUT_FIELD) {
            k = field_of(s, d->field, d->type, required_in(cfg, spine, d->field));
        } else if (d->kind == FR_INPUT_VIEW) {
            int vi = view_of(s, d->view, spine);
            k = vi < 0 ? -1 : (int)s->views[vi].off + d->feature;
        } else {
            rc = need_od(s, d->ondemand, spine);
            if (rc)
                goto fail;
            rc = FR_ENOMEM;
            k = d->ondemand;
        }
        if (k < 0)
            goto fail;
        s->slot[i] = k;
    }
    rc = fr_xgb_model_load(v->model, v->model_len, &s->model, err, errlen);
    if (rc)
        goto fail;
    if (fr_xgb_model_features(s->model) != v->ninputs) {
        snprintf(err, errlen, "the model takes %zu inputs, its version lists %zu",
                 fr_xgb_model_features(s->model), v->ninputs);
        rc = FR_ECORRUPT;
        goto fail;
    }
    if (v->ref_len) {
        rc = fr_drift_ref_decode(v->ref, v->ref_len, &s->ref);
        if (!rc && fr_drift_ref_columns(s->ref) != v->ninputs + 1)
            rc = FR_ECORRUPT;
        if (!rc)
            rc = fr_drift_live_new(s->ref, cfg->drift.window_ms, LIVE_SLOTS, &s->live);
        if (rc) {
            snprintf(err, errlen, "the drift reference: %s", fr_strerror(rc));
            goto fail;
        }
    }
    json_decref(meta);
    *out = s;
    return 0;
fail:
    json_decref(meta);
    if (rc == FR_ENOMEM && err && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
    fr_scorer_free(s);
    return rc;
}

void fr_scorer_free(fr_scorer_t *s)
{
    if (!s)
        return;
    for (pool_item_t *p = s->pool, *n; p; p = n) {
        n = p->next;
        fr_xgb_predictor_free(p->p);
        free(p);
    }
    fr_xgb_model_free(s->model);
    fr_drift_live_free(s->live);
    fr_drift_ref_free(s->ref);
    for (size_t i = 0; s->names && i < s->ninputs; i++)
        free(s->names[i]);
    free(s->names);
    free(s->defs);
    free(s->slot);
    free(s->fields);
    free(s->views);
    for (size_t i = 0; s->od_slot && i < s->cfg->nondemand; i++)
        free(s->od_slot[i]);
    free(s->od_slot);
    free(s->od_need);
    free(s->changed);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *fr_scorer_name(const fr_scorer_t *s)
{
    return s->name;
}
uint32_t fr_scorer_version(const fr_scorer_t *s)
{
    return s->version;
}
size_t fr_scorer_ninputs(const fr_scorer_t *s)
{
    return s->ninputs;
}
const char *fr_scorer_input_name(const fr_scorer_t *s, size_t i)
{
    return s->names[i];
}
const char *fr_scorer_changed(const fr_scorer_t *s)
{
    return s->changed;
}
const fr_drift_ref_t *fr_scorer_reference(const fr_scorer_t *s)
{
    return s->ref;
}
fr_drift_live_t *fr_scorer_live(fr_scorer_t *s)
{
    return s->live;
}

/* ---- scoring ---------------------------------------------------------------------- */

static fr_xgb_predictor_t *take_predictor(fr_scorer_t *s)
{
    pthread_mutex_lock(&s->mu);
    pool_item_t *it = s->pool;
    if (it)
        s->pool = it->next;
    pthread_mutex_unlock(&s->mu);
    if (it) {
        fr_xgb_predictor_t *p = it->p;
        free(it);
        return p;
    }
    fr_xgb_predictor_t *p = NULL;
    return fr_xgb_predictor_new(s->model, FR_SCORER_MAX_BATCH, &p) ? NULL : p;
}

static void give_predictor(fr_scorer_t *s, fr_xgb_predictor_t *p)
{
    pool_item_t *it = malloc(sizeof *it);
    if (!it) {
        fr_xgb_predictor_free(p);
        return;
    }
    it->p = p;
    pthread_mutex_lock(&s->mu);
    it->next = s->pool;
    s->pool = it;
    pthread_mutex_unlock(&s->mu);
}

/* A request field typed as declared: 0, or FR_ETYPE. */
static int type_field(const json_t *j, fr_type_t t, fr_value_t *v)
{
    if (!j || json_is_null(j)) {
        *v = (fr_value_t){.type = FR_T_NULL};
        return 0;
    }
    switch (t) {
    case FR_T_STRING:
        if (!json_is_string(j))
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_STRING,
                          .u.s = json_string_value(j),
                          .len = (uint32_t)json_string_length(j)};
        return 0;
    case FR_T_LONG:
        if (json_is_integer(j)) {
            *v = (fr_value_t){.type = FR_T_LONG, .u.i = json_integer_value(j)};
            return 0;
        }
        if (json_is_real(j)) {
            double d = json_real_value(j);
            if (d == floor(d) && fabs(d) < 9.2e18) {
                *v = (fr_value_t){.type = FR_T_LONG, .u.i = (int64_t)d};
                return 0;
            }
        }
        return FR_ETYPE;
    case FR_T_DOUBLE:
        if (!json_is_number(j))
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_DOUBLE, .u.d = json_number_value(j)};
        return 0;
    case FR_T_BOOL:
        if (!json_is_boolean(j))
            return FR_ETYPE;
        *v = (fr_value_t){.type = FR_T_BOOL, .u.b = json_is_true(j)};
        return 0;
    default: return FR_ETYPE;
    }
}

static float as_float(const fr_value_t *v)
{
    switch (v->type) {
    case FR_T_LONG: return (float)v->u.i;
    case FR_T_DOUBLE: return isfinite(v->u.d) ? (float)v->u.d : NAN;
    case FR_T_BOOL: return v->u.b ? 1.0f : 0.0f;
    default: return NAN;
    }
}

int fr_scorer_score(fr_scorer_t *s, const json_t *const *reqs, size_t n, int64_t as_of,
                    int64_t now_ms, fr_scorer_read_fn read, void *rctx, fr_score_out_t *outs,
                    uint64_t *features_us, uint64_t *predict_us, char *err, size_t errlen)
{
    if (!n || n > FR_SCORER_MAX_BATCH)
        return FR_EINVAL;
    const fr_config_t *cfg = s->cfg;
    size_t nod = cfg->nondemand;
    /* per request: view values, fields, on-demand values, inputs */
    size_t per = s->nvalues + s->nfields + nod + s->ninputs + s->maxrefs;
    scratch_t *sc = scratch();
    if (!sc)
        return FR_ENOMEM;
    if (sc->cap < per * n) {
        fr_value_t *p = realloc(sc->vals, per * n * sizeof *p);
        if (!p)
            return FR_ENOMEM;
        sc->vals = p;
        sc->cap = per * n;
    }
    if (sc->scap < n) {
        float *p = realloc(sc->scores, n * sizeof *p);
        if (!p)
            return FR_ENOMEM;
        sc->scores = p;
        sc->scap = n;
    }
    fr_value_t *tl_vals = sc->vals;
    float *tl_scores = sc->scores;
    uint64_t t0 = fr_mono_ns();
    fr_xgb_predictor_t *pr = take_predictor(s);
    if (!pr)
        return FR_ENOMEM;
    int rc = 0;
    for (size_t q = 0; !rc && q < n; q++) {
        const json_t *req = reqs[q];
        fr_value_t *vv = tl_vals + per * q, *fv = vv + s->nvalues, *ov = fv + s->nfields,
                   *iv = ov + nod, *odin = iv + s->ninputs;
        outs[q].degraded = 0;
        if (!json_is_object(req)) {
            snprintf(err, errlen, "request %zu: not a JSON object of request fields", q);
            rc = FR_EINVAL;
            break;
        }
        for (size_t f = 0; !rc && f < s->nfields; f++) {
            const rfield_t *rf = &s->fields[f];
            const json_t *j = json_object_get(req, rf->name);
            if ((!j || json_is_null(j)) && rf->required) {
                snprintf(err, errlen, "request %zu: missing field '%s'", q, rf->name);
                rc = FR_EINVAL;
            } else if (type_field(j, rf->type, &fv[f])) {
                snprintf(err, errlen, "request %zu: field '%s' is not a %s", q, rf->name,
                         fr_type_name(rf->type));
                rc = FR_EINVAL;
            }
        }
        for (size_t k = 0; !rc && k < s->nviews; k++) {
            const rview_t *rv = &s->views[k];
            const fr_view_spec_t *vw = &cfg->views[rv->view];
            char tmp[32];
            const char *key;
            int kl = fr_entity_key(&fv[rv->field], tmp, &key);
            if (kl <= 0 || kl > cfg->server.max_key_bytes || memchr(key, 0, (size_t)kl)) {
                snprintf(err, errlen, "request %zu: field '%s' (the entity of view %s) must be "
                                      "a key of 1 to %d bytes",
                         q, s->fields[rv->field].name, vw->name, cfg->server.max_key_bytes);
                rc = FR_EINVAL;
                break;
            }
            int deg = 0;
            rc = read(rctx, rv->view, key, (size_t)kl, as_of, vv + rv->off, &deg);
            outs[q].degraded |= deg;
        }
        for (size_t i = 0; !rc && i < nod; i++) {
            if (!s->od_need[i])
                continue;
            const fr_ondemand_spec_t *o = &cfg->ondemand[i];
            for (size_t r = 0; r < o->nrefs; r++) {
                int k = s->od_slot[i][r];
                odin[r] = o->refs[r].kind == FR_REF_FIELD     ? fv[k]
                          : o->refs[r].kind == FR_REF_FEATURE ? vv[k]
                                                              : ov[k];
            }
            fr_expr_eval(o->prog, odin, &ov[i]);
        }
        if (rc)
            break;
        float *row = fr_xgb_predictor_row(pr, q);
        for (size_t i = 0; i < s->ninputs; i++) {
            int k = s->slot[i];
            const fr_input_def_t *d = &s->defs[i];
            iv[i] = k < 0                          ? (fr_value_t){.type = FR_T_NULL}
                    : d->kind == FR_INPUT_FIELD    ? fv[k]
                    : d->kind == FR_INPUT_VIEW     ? vv[k]
                                                   : ov[k];
            row[i] = as_float(&iv[i]);
        }
        outs[q].inputs = iv;
    }
    uint64_t t1 = fr_mono_ns();
    if (!rc) {
        rc = fr_xgb_predict(pr, n, tl_scores, err, errlen);
        for (size_t q = 0; !rc && q < n; q++) {
            outs[q].score = tl_scores[q];
            if (s->live)
                fr_drift_live_add(s->live, now_ms, fr_xgb_predictor_row(pr, q), tl_scores[q]);
        }
    }
    uint64_t t2 = fr_mono_ns();
    give_predictor(s, pr);
    if (features_us)
        *features_us = (t1 - t0) / 1000;
    if (predict_us)
        *predict_us = (t2 - t1) / 1000;
    return rc;
}
