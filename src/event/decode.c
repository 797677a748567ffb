/*
 * decode.c - producer-written events into typed values (see decode.h).
 */
#include "event/decode.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "event/avro.h"

struct fr_decoder {
    const fr_config_t *cfg;
    int src;
    json_t *doc; /* the last JSON document (its strings back vals) */
    fr_avro_codec_t *avro;
};

int fr_decoder_new(const fr_config_t *cfg, int src, fr_avro_lookup_fn lookup, void *ctx,
                   fr_decoder_t **out)
{
    fr_decoder_t *d = calloc(1, sizeof *d);
    if (!d)
        return FR_ENOMEM;
    d->cfg = cfg;
    d->src = src;
    const fr_source_spec_t *spec = &cfg->sources[src];
    if (spec->format == FR_FORMAT_AVRO) {
        uint64_t max = spec->kafka.max_message_bytes ? spec->kafka.max_message_bytes : 1u << 20;
        int rc = fr_avro_codec_new(spec, lookup, ctx, (size_t)max, &d->avro);
        if (rc) {
            free(d);
            return rc;
        }
    }
    *out = d;
    return 0;
}

void fr_decoder_free(fr_decoder_t *d)
{
    if (!d)
        return;
    json_decref(d->doc);
    fr_avro_codec_free(d->avro);
    free(d);
}

static int refuse(fr_reject_t *rej, int rc, const char *reason, const char *detail)
{
    rej->reason = reason;
    snprintf(rej->detail, sizeof rej->detail, "%s", detail);
    return rc;
}

int fr_decoder_decode(fr_decoder_t *d, const void *p, size_t n, fr_value_t *vals, int64_t *ts_ms,
                      fr_reject_t *rej)
{
    const fr_source_spec_t *spec = &d->cfg->sources[d->src];
    uint64_t max = spec->kafka.max_message_bytes ? spec->kafka.max_message_bytes : 1u << 20;
    json_decref(d->doc);
    d->doc = NULL;
    if (n > max)
        return refuse(rej, FR_ELIMIT, "too_large",
                      "the message is larger than the source's max_message_bytes");
    int rc;
    if (d->avro) {
        rc = fr_avro_codec_decode(d->avro, p, n, vals, ts_ms, rej);
        if (rc)
            return rc;
        return fr_event_check_keys(d->cfg, d->src, vals, rej);
    }
    json_error_t je;
    d->doc = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    if (!d->doc) {
        rej->reason = "malformed_json";
        snprintf(rej->detail, sizeof rej->detail, "line %d column %d: %.100s", je.line, je.column,
                 je.text);
        return FR_EPARSE;
    }
    rc = fr_event_from_json(spec, d->doc, vals, ts_ms, rej);
    if (!rc)
        rc = fr_event_check_keys(d->cfg, d->src, vals, rej);
    return rc;
}
