/*
 * inputs.c - model inputs' definitions and fingerprints (see inputs.h).
 */
#include "model/inputs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jw.h"

#define FP_SEED 0x6672657368657469ull /* "freshet i" */

int fr_input_resolve(const fr_config_t *cfg, int spine, const char *name, fr_input_def_t *out)
{
    memset(out, 0, sizeof *out);
    out->view = out->feature = out->ondemand = -1;
    int od = fr_config_ondemand_index(cfg, name);
    if (od >= 0) {
        out->kind = FR_INPUT_ONDEMAND;
        out->ondemand = od;
        out->type = cfg->ondemand[od].type;
        return 0;
    }
    const char *colon = strchr(name, ':');
    if (colon) {
        size_t vl = (size_t)(colon - name);
        for (size_t v = 0; v < cfg->nviews; v++) {
            const fr_view_spec_t *vw = &cfg->views[v];
            if (strlen(vw->name) != vl || strncmp(vw->name, name, vl))
                continue;
            for (size_t f = 0; f < vw->naggs * vw->nwindows; f++)
                if (!strcmp(vw->feature_names[f], colon + 1)) {
                    out->kind = FR_INPUT_VIEW;
                    out->view = (int)v;
                    out->feature = (int)f;
                    out->type = fr_view_feature_type(cfg, vw, f);
                    return 0;
                }
        }
        return FR_ENOTFOUND;
    }
    for (size_t s = 0; s < cfg->nsources; s++) {
        if (spine >= 0 && (int)s != spine)
            continue;
        int f = fr_source_field_index(&cfg->sources[s], name);
        if (f >= 0) {
            out->kind = FR_INPUT_FIELD;
            out->field = cfg->sources[s].fields[f].name;
            out->type = cfg->sources[s].fields[f].type;
            return 0;
        }
    }
    return FR_ENOTFOUND;
}

const char *fr_input_kind_name(fr_input_kind_t k)
{
    switch (k) {
    case FR_INPUT_VIEW: return "view";
    case FR_INPUT_FIELD: return "field";
    default: return "on_demand";
    }
}

/* The definition's text: what decides the input's value. */
static int describe(const fr_config_t *cfg, const fr_input_def_t *d, fr_buf_t *b)
{
    int rc = 0;
    if (d->kind == FR_INPUT_FIELD)
        return fr_buf_printf(b, "field|%s|%s", d->field, fr_type_name(d->type));
    if (d->kind == FR_INPUT_VIEW) {
        const fr_view_spec_t *vw = &cfg->views[d->view];
        const fr_source_spec_t *src = &cfg->sources[vw->source];
        const fr_agg_spec_t *a = &vw->plan.aggs[(size_t)d->feature / vw->nwindows];
        const fr_window_spec_t *w = &vw->plan.windows[(size_t)d->feature % vw->nwindows];
        rc = fr_buf_printf(b, "view|%s|%s|%s|%s|%s|%" PRId64 "|%" PRId64, src->name,
                           src->fields[vw->entity].name, fr_fn_name(a->fn),
                           a->field >= 0 ? src->fields[a->field].name : "-",
                           a->field >= 0 ? fr_type_name(a->type) : "-", w->window_ms, w->tile_ms);
        if (!rc && vw->filter.enabled) {
            rc = fr_buf_printf(b, "|filter %s=", src->fields[vw->filter.field].name);
            rc = rc ? rc : fr_jw_value(b, &vw->filter.equals);
        }
        return rc;
    }
    /* an expression: its text, and the definition of everything it reads */
    const fr_ondemand_spec_t *od = &cfg->ondemand[d->ondemand];
    rc = fr_buf_printf(b, "on_demand|%s|%s", od->expr, fr_type_name(od->type));
    for (size_t i = 0; !rc && i < od->nrefs; i++) {
        const fr_ondemand_ref_t *r = &od->refs[i];
        fr_input_def_t rd = {.view = -1, .feature = -1, .ondemand = -1, .type = r->type};
        if (r->kind == FR_REF_FIELD) {
            rd.kind = FR_INPUT_FIELD;
            rd.field = r->name;
        } else if (r->kind == FR_REF_FEATURE) {
            rd.kind = FR_INPUT_VIEW;
            rd.view = r->view;
            rd.feature = r->feature;
        } else {
            rd.kind = FR_INPUT_ONDEMAND;
            rd.ondemand = r->ondemand;
        }
        rc = fr_buf_printf(b, "|ref %s=", r->name);
        rc = rc ? rc : describe(cfg, &rd, b);
    }
    return rc;
}

void fr_input_fingerprint(const fr_config_t *cfg, const fr_input_def_t *d,
                          char out[FR_INPUT_FP_LEN + 1])
{
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    uint64_t h = describe(cfg, d, &b) ? 0 : fr_hash64(b.p, b.len, FP_SEED);
    fr_buf_destroy(&b);
    snprintf(out, FR_INPUT_FP_LEN + 1, "%016" PRIx64, h);
}
