/*
 * fuzz_avro - Confluent-framed Avro messages from arbitrary bytes through
 * fr_avro_codec_decode, against a fixed registry of writer schemas for the
 * FUZZ_YAML source (ids 1-5: the reader's own schema; an evolved one with
 * nested records, arrays, maps, enums, fixed, unions and a recursive list;
 * one with bytes and promotions; one lacking a required field; one that
 * cannot be projected).  Every outcome must be a documented one; accepted
 * strings must lie in the input or be enum symbols.  The body is also
 * decoded with avro-c's generic reader (fr_avro_decode_generic), which
 * must agree with the walker value for value: a differential check of the
 * walker and a fuzz of avro-c behind it.  Seeds: make_avro_seeds.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"
#include "event/avro.h"
#define FUZZ_WANT_CONFIG
#include "fuzz.h"

#define NSCHEMAS 6

/* id -> writer schema; id 0 and ids >= NSCHEMAS are unknown */
static const char *const schemas[NSCHEMAS] = {
    NULL,
    /* 1: the reader's own (fr_avro_schema_json of ev) */
    "{\"type\":\"record\",\"name\":\"ev\",\"namespace\":\"freshet\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"n\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"x\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"b\",\"type\":[\"null\",\"boolean\"],\"default\":null},"
    "{\"name\":\"s\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"ts\",\"type\":\"long\"}]}",
    /* 2: evolved, nested */
    "{\"type\":\"record\",\"name\":\"Ev\",\"fields\":["
    "{\"name\":\"meta\",\"type\":{\"type\":\"record\",\"name\":\"Meta\",\"fields\":["
    "  {\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "  {\"name\":\"w\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":"
    "\"double\"}}},"
    "  {\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H\",\"size\":4}},"
    "  {\"name\":\"nil\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
    "  {\"name\":\"list\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "     {\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}]}"
    "]}},"
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"n\",\"type\":[\"int\",\"null\"]},"
    "{\"name\":\"x\",\"type\":\"float\"},"
    "{\"name\":\"s\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"BB\",\"CCC\"]}"
    "},"
    "{\"name\":\"b\",\"type\":[\"boolean\",\"null\"]},"
    "{\"name\":\"any\",\"type\":[\"null\",\"int\",\"string\",\"Node\",\"E\",\"H\"]},"
    "{\"name\":\"ts\",\"type\":\"long\"}]}",
    /* 3: bytes, long and int promotions, a map of records */
    "{\"type\":\"record\",\"name\":\"Ev3\",\"fields\":["
    "{\"name\":\"ts\",\"type\":\"int\"},"
    "{\"name\":\"id\",\"type\":\"bytes\"},"
    "{\"name\":\"x\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"record\",\"name\":\"R\","
    "\"fields\":[{\"name\":\"a\",\"type\":\"bytes\"},{\"name\":\"z\",\"type\":\"null\"}]}}},"
    "{\"name\":\"s\",\"type\":[\"string\",\"null\"]}]}",
    /* 4: the required id missing */
    "{\"type\":\"record\",\"name\":\"Ev4\",\"fields\":[{\"name\":\"ts\",\"type\":\"long\"}]}",
    /* 5: x cannot be read as double */
    "{\"type\":\"record\",\"name\":\"Ev5\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"x\",\"type\":\"string\"},{\"name\":\"ts\",\"type\":\"long\"}]}",
};

static fr_avro_codec_t *codec;
static fr_avro_proj_t *projs[NSCHEMAS];

static int lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    (void)ctx;
    if (id >= NSCHEMAS || !schemas[id])
        return FR_ENOTFOUND;
    return fr_buf_addstr(out, schemas[id]);
}

static void cleanup(void)
{
    fr_avro_codec_free(codec);
    for (int i = 0; i < NSCHEMAS; i++)
        fr_avro_proj_free(projs[i]);
}

static void setup(const fr_source_spec_t *src)
{
    char err[256];
    if (fr_avro_codec_new(src, lookup, NULL, 1 << 16, &codec))
        abort();
    for (int i = 1; i < 5; i++)
        if (fr_avro_proj_new(src, schemas[i], strlen(schemas[i]), &projs[i], err, sizeof err)) {
            fprintf(stderr, "schema %d: %s\n", i, err);
            abort();
        }
    atexit(cleanup);
}

static int same(const fr_value_t *a, const fr_value_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FR_T_STRING: return a->len == b->len && !memcmp(a->u.s, b->u.s, a->len);
    case FR_T_LONG: return a->u.i == b->u.i;
    case FR_T_DOUBLE: return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case FR_T_BOOL: return a->u.b == b->u.b;
    default: return 1;
    }
}

static const char *const symbols[] = {"A", "BB", "CCC"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fr_config_t *cfg = fuzz_config();
    const fr_source_spec_t *src = &cfg->sources[0];
    if (!codec)
        setup(src);
    fr_value_t v[FR_CONFIG_MAX_FIELDS], g[FR_CONFIG_MAX_FIELDS];
    int64_t ts = 0, gts = 0;
    fr_reject_t rej = {0}, grej = {0};
    int rc = fr_avro_codec_decode(codec, data, size, v, &ts, &rej);
    switch (rc) {
    case 0: break;
    case FR_ECORRUPT:
    case FR_EMISSING:
    case FR_ETYPE:
    case FR_ELIMIT:
    case FR_ENOTFOUND:
    case FR_EMISMATCH:
        if (!rej.reason || !rej.reason[0]) {
            fprintf(stderr, "rc %d without a reason\n", rc);
            abort();
        }
        break;
    default: fprintf(stderr, "unexpected rc %d\n", rc); abort();
    }
    for (size_t k = 0; !rc && k < src->nfields; k++) {
        if (v[k].type != FR_T_STRING)
            continue;
        const uint8_t *s = (const uint8_t *)v[k].u.s;
        int in_input = s >= data && s + v[k].len <= data + size;
        int symbol = v[k].len <= 3 && v[k].len > 0 && !memcmp(s, symbols[v[k].len - 1], v[k].len);
        int deflt = src->fields[k].has_default && s == (const uint8_t *)src->fields[k].def.u.s;
        if (!in_input && !symbol && !deflt) {
            fprintf(stderr, "field %zu points outside the input\n", k);
            abort();
        }
        if (v[k].len > FR_EVENT_MAX_STRING)
            abort();
    }
    /* the same body through avro-c: the same outcome, the same values */
    if (size < 5 || size > (1 << 16) || data[0] != 0)
        return 0;
    uint32_t id =
        (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
    if (id >= NSCHEMAS || !projs[id])
        return 0;
    int grc = fr_avro_decode_generic(projs[id], data + 5, size - 5, g, &gts, &grej);
    if (grc != rc || (rc && strcmp(rej.reason, grej.reason)) || gts != ts) {
        fprintf(stderr, "walker %d (%s) vs avro-c %d (%s)\n", rc, rc ? rej.detail : "", grc,
                grc ? grej.detail : "");
        abort();
    }
    for (size_t k = 0; !rc && k < src->nfields; k++)
        if (!same(&v[k], &g[k])) {
            fprintf(stderr, "field %zu differs between the walker and avro-c\n", k);
            abort();
        }
    return 0;
}
