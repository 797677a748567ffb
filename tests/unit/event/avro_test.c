/*
 * Unit tests of src/event/avro: framing; the reader schema and encoder
 * round trip; bytes written by avro-c's own writer (avro_value_write,
 * avro_file_writer) and by Python's avro (fixtures/, made by
 * make_avro_fixtures.py) under evolving writer schemas; defaults and
 * refusals; projections that cannot be built; hostile bytes (every
 * truncation, byte flips, huge declared lengths, deep nesting) that must
 * fail fast without large allocations; the codec's schema-id cache; and
 * container files.  The fast walker and avro-c's generic reader must agree
 * on every input.  Run from the repository root (tests/run.sh does).
 */
#include <avro.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "event/avro.h"

#define FIXTURES "tests/unit/event/fixtures/"

/* orders: every resolution rule; tx: the fraud demo's shape plus a flag. */
static const char *yaml =
    "sources:\n"
    "  - name: orders\n"
    "    format: avro\n"
    "    timestamp: ts\n"
    "    timestamp_unit: s\n"
    "    fields:\n"
    "      - { name: order_id, type: string }\n"
    "      - { name: amount, type: double }\n"
    "      - { name: qty, type: long, optional: true }\n"
    "      - { name: status, type: string, optional: true, default: \"new\" }\n"
    "      - { name: express, type: boolean, default: false }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: ts, type: long }\n"
    "  - name: tx\n"
    "    format: avro\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: card_id, type: string }\n"
    "      - { name: amount, type: double }\n"
    "      - { name: merchant_id, type: string }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: present, type: boolean, optional: true }\n"
    "      - { name: ts, type: long }\n"
    "  - name: bad-name.x\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: ts, type: long }\n"
    "      - { name: a-b, type: string }\n";

enum { O_ID, O_AMOUNT, O_QTY, O_STATUS, O_EXPRESS, O_COUNTRY, O_TS, O_N };

static fr_config_t *cfg;
static const fr_source_spec_t *orders, *tx;
static char err[512];

/* avro-c's allocations, to show hostile input never asks for much */
static size_t avro_largest;
static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > avro_largest)
        avro_largest = nsize;
    return realloc(ptr, nsize);
}

static void setup(void)
{
    avro_set_allocator(counting_alloc, NULL);
    int rc = fr_config_parse("avro.yaml", yaml, strlen(yaml), &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    orders = &cfg->sources[0];
    tx = &cfg->sources[1];
}

static void teardown(void)
{
    fr_config_free(cfg);
}

TestSuite(avro, .init = setup, .fini = teardown, .timeout = 60);

static fr_avro_proj_t *proj(const fr_source_spec_t *src, const char *schema)
{
    fr_avro_proj_t *pj = NULL;
    int rc = fr_avro_proj_new(src, schema, strlen(schema), &pj, err, sizeof err);
    cr_assert_eq(rc, 0, "rc %d: %s\nschema %s", rc, err, schema);
    return pj;
}

static int proj_rc(const fr_source_spec_t *src, const char *schema)
{
    fr_avro_proj_t *pj = (fr_avro_proj_t *)1;
    int rc = fr_avro_proj_new(src, schema, strlen(schema), &pj, err, sizeof err);
    if (rc)
        cr_assert_null(pj);
    fr_avro_proj_free(rc ? NULL : pj);
    return rc;
}

static bool same_value(const fr_value_t *a, const fr_value_t *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case FR_T_STRING: return a->len == b->len && !memcmp(a->u.s, b->u.s, a->len);
    case FR_T_LONG: return a->u.i == b->u.i;
    case FR_T_DOUBLE: return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case FR_T_BOOL: return a->u.b == b->u.b;
    default: return true;
    }
}

/* Decodes with both paths; asserts they agree on the outcome (agree()
 * compares values too); returns the walker's rc with vals and rej. */
static int decode2(fr_avro_proj_t *pj, const void *p, size_t n, fr_value_t *vals, int64_t *ts,
                   fr_reject_t *rej)
{
    fr_value_t g[FR_CONFIG_MAX_FIELDS];
    int64_t gts = 0;
    fr_reject_t grej = {0};
    int rc = fr_avro_decode(pj, p, n, vals, ts, rej);
    int grc = fr_avro_decode_generic(pj, p, n, g, &gts, &grej);
    cr_assert_eq(rc, grc, "walker %d (%s: %s) vs avro-c %d (%s: %s)", rc, rc ? rej->reason : "",
                 rc ? rej->detail : "", grc, grc ? grej.reason : "", grc ? grej.detail : "");
    if (rc) {
        cr_assert_str_eq(rej->reason, grej.reason);
        return rc;
    }
    cr_assert_eq(*ts, gts);
    return rc;
}

/* Values of a decode compared field by field with the generic path. */
static void agree(fr_avro_proj_t *pj, const void *p, size_t n, const fr_source_spec_t *src)
{
    fr_value_t a[FR_CONFIG_MAX_FIELDS], b[FR_CONFIG_MAX_FIELDS];
    int64_t ta = 0, tb = 0;
    fr_reject_t ra = {0}, rb = {0};
    int rca = fr_avro_decode(pj, p, n, a, &ta, &ra);
    int rcb = fr_avro_decode_generic(pj, p, n, b, &tb, &rb);
    cr_assert_eq(rca, rcb, "walker %d (%s: %s) vs avro-c %d (%s: %s)", rca, rca ? ra.reason : "",
                 rca ? ra.detail : "", rcb, rcb ? rb.reason : "", rcb ? rb.detail : "");
    if (rca) {
        cr_assert_str_eq(ra.reason, rb.reason);
        return;
    }
    cr_assert_eq(ta, tb);
    for (size_t k = 0; k < src->nfields; k++)
        cr_assert(same_value(&a[k], &b[k]), "field %s differs", src->fields[k].name);
}

static void expect_str(const fr_value_t *v, const char *s)
{
    cr_assert_eq(v->type, FR_T_STRING, "type %d, expected string '%s'", v->type, s);
    cr_assert_eq(v->len, strlen(s), "'%.*s' vs '%s'", (int)v->len, v->u.s, s);
    cr_assert_eq(memcmp(v->u.s, s, v->len), 0, "'%.*s' vs '%s'", (int)v->len, v->u.s, s);
}

static fr_value_t S(const char *s)
{
    return (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)strlen(s), .u.s = s};
}
static fr_value_t L(int64_t i)
{
    return (fr_value_t){.type = FR_T_LONG, .u.i = i};
}
static fr_value_t D(double d)
{
    return (fr_value_t){.type = FR_T_DOUBLE, .u.d = d};
}
static fr_value_t B(bool b)
{
    return (fr_value_t){.type = FR_T_BOOL, .u.b = b};
}
static const fr_value_t N = {.type = FR_T_NULL};

/* ---- framing and the reader schema -------------------------------------- */

Test(avro, frames_and_unframes)
{
    fr_buf_t b;
    fr_buf_init(&b, 64);
    cr_assert_eq(fr_avro_frame(0x01020304u, &b), 0);
    cr_assert_eq(fr_buf_add(&b, "xy", 2), 0);
    uint32_t id;
    const void *body;
    size_t blen;
    cr_assert_eq(fr_avro_unframe(b.p, b.len, &id, &body, &blen), 0);
    cr_assert_eq(id, 0x01020304u);
    cr_assert_eq(blen, 2);
    cr_assert_eq(memcmp(body, "xy", 2), 0);
    cr_assert_eq(fr_avro_unframe(b.p, 5, &id, &body, &blen), 0);
    cr_assert_eq(blen, 0);
    cr_assert_eq(fr_avro_unframe(b.p, 4, &id, &body, &blen), FR_ECORRUPT);
    b.p[0] = 1;
    cr_assert_eq(fr_avro_unframe(b.p, b.len, &id, &body, &blen), FR_ECORRUPT);
    fr_buf_destroy(&b);
}

Test(avro, reader_schema_is_avro_with_defaults)
{
    fr_buf_t b;
    fr_buf_init(&b, 1 << 16);
    cr_assert_eq(fr_avro_schema_json(orders, &b), 0);
    cr_assert_str_eq(
        b.p, "{\"type\":\"record\",\"name\":\"orders\",\"namespace\":\"freshet\",\"fields\":["
             "{\"name\":\"order_id\",\"type\":\"string\"},"
             "{\"name\":\"amount\",\"type\":\"double\"},"
             "{\"name\":\"qty\",\"type\":[\"null\",\"long\"],\"default\":null},"
             "{\"name\":\"status\",\"type\":[\"string\",\"null\"],\"default\":\"new\"},"
             "{\"name\":\"express\",\"type\":\"boolean\",\"default\":false},"
             "{\"name\":\"country\",\"type\":[\"null\",\"string\"],\"default\":null},"
             "{\"name\":\"ts\",\"type\":\"long\"}]}");
    avro_schema_t s;
    cr_assert_eq(avro_schema_from_json_length(b.p, b.len, &s), 0, "%s", avro_strerror());
    cr_assert_str_eq(avro_schema_name(s), "orders");
    avro_schema_decref(s);
    /* a field name Avro does not allow */
    fr_buf_reset(&b);
    cr_assert_eq(fr_avro_schema_json(&cfg->sources[2], &b), FR_EINVAL);
    fr_buf_destroy(&b);
}

/* ---- round trips through fr_avro_encode ---------------------------------- */

static uint64_t rs = 7;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

Test(avro, encode_decode_round_trip)
{
    fr_buf_t sch, b;
    fr_buf_init(&sch, 1 << 16);
    fr_buf_init(&b, 1 << 16);
    cr_assert_eq(fr_avro_schema_json(orders, &sch), 0);
    fr_avro_proj_t *pj = proj(orders, sch.p);
    static const char *strs[] = {"", "a", "o-1", "日本語", "ümlaut", "😀 emoji", "x y z"};
    static const double dbls[] = {0.0, -0.0, 1.5, -1e300, 4.9e-324, 1.7976931348623157e308};
    static const int64_t lngs[] = {0, 1, -1, INT64_MAX, INT64_MIN / 1000, 1700000000, -64, 63};
    for (int iter = 0; iter < 3000; iter++) {
        fr_value_t in[O_N], out[O_N];
        in[O_ID] = S(strs[rnd() % 7]);
        in[O_AMOUNT] = D(dbls[rnd() % 6]);
        in[O_QTY] = rnd() % 3 ? L(lngs[rnd() % 8]) : N;
        in[O_STATUS] = rnd() % 3 ? S(strs[rnd() % 7]) : N;
        in[O_EXPRESS] = B(rnd() & 1);
        in[O_COUNTRY] = rnd() % 2 ? S(strs[rnd() % 7]) : N;
        in[O_TS] = L((int64_t)(rnd() % 4000000000u) - 2000000000);
        fr_buf_reset(&b);
        cr_assert_eq(fr_avro_encode(orders, in, &b), 0);
        int64_t ts;
        fr_reject_t rej;
        cr_assert_eq(decode2(pj, b.p, b.len, out, &ts, &rej), 0, "%s", rej.detail);
        agree(pj, b.p, b.len, orders);
        cr_assert_eq(ts, in[O_TS].u.i * 1000);
        for (int k = 0; k < O_N; k++) {
            fr_value_t want = in[k];
            if (k == O_STATUS && want.type == FR_T_NULL)
                want = S("new");
            cr_assert(same_value(&out[k], &want), "iteration %d field %d", iter, k);
        }
    }
    /* what the encoder refuses */
    fr_value_t in[O_N] = {S("a"), D(1), N, N, B(0), N, L(1)};
    in[O_ID] = N;
    cr_assert_eq(fr_avro_encode(orders, in, &b), FR_EINVAL);
    in[O_ID] = L(3);
    cr_assert_eq(fr_avro_encode(orders, in, &b), FR_EINVAL);
    fr_avro_proj_free(pj);
    fr_buf_destroy(&sch);
    fr_buf_destroy(&b);
}

Test(avro, encode_respects_the_buffer_maximum)
{
    fr_buf_t b;
    fr_buf_init(&b, 4);
    fr_value_t in[O_N] = {S("long enough"), D(1), N, N, B(0), N, L(1)};
    cr_assert_eq(fr_avro_encode(orders, in, &b), FR_ELIMIT);
    fr_buf_destroy(&b);
}

/* ---- bytes written by avro-c ---------------------------------------------- */

/* A writer of one schema: values set by path, then written. */
typedef struct w {
    avro_schema_t s;
    avro_value_iface_t *iface;
    avro_value_t v;
    char buf[8192];
    size_t len;
} w_t;

static void w_init(w_t *w, const char *json)
{
    cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &w->s), 0, "%s: %s",
                 avro_strerror(), json);
    w->iface = avro_generic_class_from_schema(w->s);
    cr_assert_not_null(w->iface);
    cr_assert_eq(avro_generic_value_new(w->iface, &w->v), 0);
}

static void w_destroy(w_t *w)
{
    avro_value_decref(&w->v);
    avro_value_iface_decref(w->iface);
    avro_schema_decref(w->s);
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    return f;
}

static avro_value_t branch(avro_value_t *u, int d)
{
    avro_value_t b;
    cr_assert_eq(avro_value_set_branch(u, d, &b), 0);
    return b;
}

static void w_write(w_t *w)
{
    avro_writer_t wr = avro_writer_memory(w->buf, sizeof w->buf);
    cr_assert_eq(avro_value_write(wr, &w->v), 0, "%s", avro_strerror());
    w->len = (size_t)avro_writer_tell(wr);
    avro_writer_free(wr);
}

static const char *v1_schema = "{\"type\":\"record\",\"name\":\"Order\",\"fields\":["
                               "{\"name\":\"order_id\",\"type\":\"string\"},"
                               "{\"name\":\"amount\",\"type\":\"int\"},"
                               "{\"name\":\"ts\",\"type\":\"int\"}]}";

Test(avro, reads_avro_c_v1_with_fewer_fields)
{
    w_t w;
    w_init(&w, v1_schema);
    avro_value_t f = field(&w.v, "order_id");
    avro_value_set_string(&f, "o-1");
    f = field(&w.v, "amount");
    avro_value_set_int(&f, -42);
    f = field(&w.v, "ts");
    avro_value_set_int(&f, 1700000000);
    w_write(&w);
    fr_avro_proj_t *pj = proj(orders, v1_schema);
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    cr_assert_eq(decode2(pj, w.buf, w.len, v, &ts, &rej), 0, "%s", rej.detail);
    agree(pj, w.buf, w.len, orders);
    expect_str(&v[O_ID], "o-1");
    cr_assert_eq(v[O_AMOUNT].type, FR_T_DOUBLE); /* int -> double */
    cr_assert_eq(v[O_AMOUNT].u.d, -42.0);
    cr_assert_eq(v[O_QTY].type, FR_T_NULL);     /* optional, absent */
    expect_str(&v[O_STATUS], "new");            /* default */
    cr_assert_eq(v[O_EXPRESS].type, FR_T_BOOL); /* default false */
    cr_assert_eq(v[O_EXPRESS].u.b, false);
    cr_assert_eq(v[O_COUNTRY].type, FR_T_NULL);
    cr_assert_eq(v[O_TS].type, FR_T_LONG); /* int -> long */
    cr_assert_eq(ts, 1700000000000LL);
    /* trailing bytes are malformed */
    w.buf[w.len] = 0;
    cr_assert_eq(decode2(pj, w.buf, w.len + 1, v, &ts, &rej), FR_ECORRUPT);
    cr_assert_str_eq(rej.reason, "malformed_avro");
    fr_avro_proj_free(pj);
    w_destroy(&w);
}

static const char *v2_schema =
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\",\"fields\":["
    "{\"name\":\"meta\",\"type\":{\"type\":\"record\",\"name\":\"Meta\",\"fields\":["
    "  {\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "  "
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"long\"}}"
    "},"
    "  {\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\",\"size\":3}},"
    "  "
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\",\"GREEN\"]"
    "}},"
    "  "
    "{\"name\":\"u\",\"type\":[\"null\",\"float\",{\"type\":\"record\",\"name\":\"In\",\"fields\":["
    "     {\"name\":\"d\",\"type\":\"double\"},{\"name\":\"b\",\"type\":\"bytes\"}]}]}]}},"
    "{\"name\":\"order_id\",\"type\":\"bytes\"},"
    "{\"name\":\"amount\",\"type\":\"float\"},"
    "{\"name\":\"qty\",\"type\":[\"int\",\"null\"]},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"St\",\"symbols\":[\"NEW\","
    "\"PAID\"]}},"
    "{\"name\":\"country\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"express\",\"type\":[\"null\",\"boolean\"]},"
    "{\"name\":\"extra\",\"type\":{\"type\":\"array\",\"items\":\"In\"}},"
    "{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"gone\",\"type\":\"boolean\"}]}";

/* Fills one v2 record; which selects null or non-null union branches. */
static void fill_v2(w_t *w, int which)
{
    avro_value_t meta = field(&w->v, "meta"), f, g, h;
    f = field(&meta, "tags");
    avro_value_reset(&f);
    for (int i = 0; i < 3 * which; i++) {
        avro_value_append(&f, &g, NULL);
        avro_value_set_string(&g, "tag");
    }
    f = field(&meta, "m");
    avro_value_reset(&f);
    avro_value_add(&f, "k1", &g, NULL, NULL);
    avro_value_append(&g, &h, NULL);
    avro_value_set_long(&h, -99);
    f = field(&meta, "fx");
    avro_value_set_fixed(&f, "abc", 3);
    f = field(&meta, "e");
    avro_value_set_enum(&f, 1);
    f = field(&meta, "u");
    if (which) {
        g = branch(&f, 2);
        h = field(&g, "d");
        avro_value_set_double(&h, 2.5);
        h = field(&g, "b");
        avro_value_set_bytes(&h, "\x00\xff", 2);
    } else {
        g = branch(&f, 1);
        avro_value_set_float(&g, 0.5f);
    }
    f = field(&w->v, "order_id");
    avro_value_set_bytes(&f, "o-2", 3);
    f = field(&w->v, "amount");
    avro_value_set_float(&f, 1.25f);
    f = field(&w->v, "qty");
    g = branch(&f, which ? 0 : 1);
    if (which)
        avro_value_set_int(&g, 7);
    else
        avro_value_set_null(&g);
    f = field(&w->v, "status");
    avro_value_set_enum(&f, which);
    f = field(&w->v, "country");
    g = branch(&f, which ? 1 : 0);
    if (which)
        avro_value_set_string(&g, "FR");
    else
        avro_value_set_null(&g);
    f = field(&w->v, "express");
    g = branch(&f, which ? 1 : 0);
    if (which)
        avro_value_set_boolean(&g, 1);
    else
        avro_value_set_null(&g);
    f = field(&w->v, "extra");
    avro_value_reset(&f);
    for (int i = 0; i < which; i++) {
        avro_value_append(&f, &g, NULL);
        h = field(&g, "d");
        avro_value_set_double(&h, 1.0);
        h = field(&g, "b");
        avro_value_set_bytes(&h, "zz", 2);
    }
    f = field(&w->v, "ts");
    avro_value_set_long(&f, 1700000001);
    f = field(&w->v, "gone");
    avro_value_set_boolean(&f, 1);
}

Test(avro, reads_avro_c_v2_with_added_removed_nested_and_promoted_fields)
{
    w_t w;
    w_init(&w, v2_schema);
    fr_avro_proj_t *pj = proj(orders, v2_schema);
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;

    fill_v2(&w, 1);
    w_write(&w);
    cr_assert_eq(decode2(pj, w.buf, w.len, v, &ts, &rej), 0, "%s", rej.detail);
    agree(pj, w.buf, w.len, orders);
    expect_str(&v[O_ID], "o-2");            /* bytes as string */
    cr_assert_eq(v[O_AMOUNT].u.d, 1.25);    /* float -> double */
    cr_assert_eq(v[O_QTY].type, FR_T_LONG); /* ["int","null"], int -> long */
    cr_assert_eq(v[O_QTY].u.i, 7);
    expect_str(&v[O_STATUS], "PAID"); /* enum symbol */
    expect_str(&v[O_COUNTRY], "FR");
    cr_assert_eq(v[O_EXPRESS].u.b, true);
    cr_assert_eq(ts, 1700000001000LL);

    fill_v2(&w, 0);
    w_write(&w);
    cr_assert_eq(decode2(pj, w.buf, w.len, v, &ts, &rej), 0, "%s", rej.detail);
    agree(pj, w.buf, w.len, orders);
    cr_assert_eq(v[O_QTY].type, FR_T_NULL); /* null, optional */
    expect_str(&v[O_STATUS], "NEW");
    cr_assert_eq(v[O_COUNTRY].type, FR_T_NULL);
    cr_assert_eq(v[O_EXPRESS].type, FR_T_BOOL); /* null -> default false */
    cr_assert_eq(v[O_EXPRESS].u.b, false);
    fr_avro_proj_free(pj);
    w_destroy(&w);
}

Test(avro, missing_required_and_null_required_fields_are_refused)
{
    const char *s = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                    "{\"name\":\"order_id\",\"type\":[\"null\",\"string\"]},"
                    "{\"name\":\"ts\",\"type\":\"long\"}]}";
    /* amount (required, no default) is not in the writer: every event */
    fr_avro_proj_t *pj = proj(orders, s);
    uint8_t msg[] = {0x02, 0x02, 'a', 0x02};
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    cr_assert_eq(decode2(pj, msg, sizeof msg, v, &ts, &rej), FR_EMISSING);
    cr_assert_str_eq(rej.reason, "missing_field");
    cr_assert(strstr(rej.detail, "amount"), "%s", rej.detail);
    fr_avro_proj_free(pj);

    s = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"order_id\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"amount\",\"type\":\"double\"},"
        "{\"name\":\"ts\",\"type\":[\"long\",\"null\"]}]}";
    pj = proj(orders, s);
    uint8_t ok[] = {0x02, 0x02, 'a', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00, 0x04};
    cr_assert_eq(decode2(pj, ok, sizeof ok, v, &ts, &rej), 0, "%s", rej.detail);
    cr_assert_eq(v[O_AMOUNT].u.d, 1.0);
    cr_assert_eq(ts, 2000);
    uint8_t null_id[] = {0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00, 0x04};
    cr_assert_eq(decode2(pj, null_id, sizeof null_id, v, &ts, &rej), FR_EMISSING);
    cr_assert_str_eq(rej.reason, "missing_field");
    cr_assert(strstr(rej.detail, "order_id"), "%s", rej.detail);
    uint8_t null_ts[] = {0x02, 0x02, 'a', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x02};
    cr_assert_eq(decode2(pj, null_ts, sizeof null_ts, v, &ts, &rej), FR_EMISSING);
    cr_assert(strstr(rej.detail, "ts"), "%s", rej.detail);
    /* a timestamp whose seconds overflow in ms */
    uint8_t big_ts[] = {0x02, 0x02, 'a',  0,    0,    0,    0,    0,    0,    0xf0, 0x3f,
                        0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    cr_assert_eq(decode2(pj, big_ts, sizeof big_ts, v, &ts, &rej), FR_ETYPE);
    cr_assert_str_eq(rej.reason, "timestamp_out_of_range");
    fr_avro_proj_free(pj);
}

Test(avro, strings_must_be_utf8_and_short)
{
    const char *s = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                    "{\"name\":\"order_id\",\"type\":\"bytes\"},"
                    "{\"name\":\"amount\",\"type\":\"long\"},"
                    "{\"name\":\"ts\",\"type\":\"long\"}]}";
    fr_avro_proj_t *pj = proj(orders, s);
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    uint8_t bad[] = {0x04, 0xc3, 0x28, 0x02, 0x02};
    cr_assert_eq(decode2(pj, bad, sizeof bad, v, &ts, &rej), FR_ETYPE);
    cr_assert_str_eq(rej.reason, "wrong_type");
    cr_assert(strstr(rej.detail, "UTF-8"), "%s", rej.detail);
    uint8_t surrogate[] = {0x06, 0xed, 0xa0, 0x80, 0x02, 0x02};
    cr_assert_eq(decode2(pj, surrogate, sizeof surrogate, v, &ts, &rej), FR_ETYPE);
    uint8_t good[] = {0x06, 0xe2, 0x82, 0xac, 0x02, 0x02};
    cr_assert_eq(decode2(pj, good, sizeof good, v, &ts, &rej), 0);
    expect_str(&v[O_ID], "€");
    /* FR_EVENT_MAX_STRING bytes pass, one more is too long */
    fr_buf_t b;
    fr_buf_init(&b, 1 << 16);
    for (int extra = 0; extra <= 1; extra++) {
        fr_buf_reset(&b);
        fr_buf_add_varint(&b, (uint64_t)(FR_EVENT_MAX_STRING + extra) * 2);
        for (int i = 0; i < FR_EVENT_MAX_STRING + extra; i++)
            fr_buf_addc(&b, 'x');
        fr_buf_add(&b, "\x02\x02", 2);
        int rc = decode2(pj, b.p, b.len, v, &ts, &rej);
        cr_assert_eq(rc, extra ? FR_ELIMIT : 0);
        if (extra)
            cr_assert_str_eq(rej.reason, "too_long");
        else
            cr_assert_eq(v[O_ID].len, FR_EVENT_MAX_STRING);
    }
    fr_buf_destroy(&b);
    fr_avro_proj_free(pj);
}

/* ---- projections that cannot be built ----------------------------------- */

static void expect_mismatch(const char *ftype, const char *phrase)
{
    char s[1024];
    snprintf(s, sizeof s,
             "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"long\"},"
             "{\"name\":\"qty\",\"type\":%s},{\"name\":\"amount\",\"type\":%s},"
             "{\"name\":\"order_id\",\"type\":%s},{\"name\":\"express\",\"type\":%s}]}",
             strstr(phrase, "'qty'") ? ftype : "\"int\"",
             strstr(phrase, "'amount'") ? ftype : "\"double\"",
             strstr(phrase, "'order_id'") ? ftype : "\"string\"",
             strstr(phrase, "'express'") ? ftype : "\"boolean\"");
    cr_assert_eq(proj_rc(orders, s), FR_EMISMATCH, "%s: %s", s, err);
    cr_assert(strstr(err, phrase), "'%s' not in '%s'", phrase, err);
    cr_assert_null(strchr(err, '\n'));
}

Test(avro, wrong_types_refuse_the_projection)
{
    expect_mismatch("\"string\"",
                    "field 'amount': the writer's type string cannot be read as double");
    expect_mismatch("\"double\"", "field 'qty': the writer's type double cannot be read as long");
    expect_mismatch("\"float\"", "field 'qty': the writer's type float cannot be read as long");
    expect_mismatch("\"long\"",
                    "field 'express': the writer's type long cannot be read as boolean");
    expect_mismatch("\"boolean\"", "field 'qty': the writer's type boolean cannot be read as long");
    expect_mismatch("\"int\"", "field 'order_id': the writer's type int cannot be read as string");
    expect_mismatch("{\"type\":\"array\",\"items\":\"string\"}",
                    "field 'order_id': the writer's type array cannot be read as string");
    expect_mismatch("{\"type\":\"map\",\"values\":\"double\"}",
                    "field 'amount': the writer's type map cannot be read as double");
    expect_mismatch("{\"type\":\"record\",\"name\":\"Q\",\"fields\":[]}",
                    "field 'qty': the writer's type record Q cannot be read as long");
    expect_mismatch("{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}",
                    "field 'order_id': the writer's type fixed F cannot be read as string");
    expect_mismatch("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
                    "field 'amount': the writer's type enum E cannot be read as double");
    expect_mismatch("[\"null\",\"long\",\"string\"]",
                    "field 'amount': the writer's union branch string cannot be read as double");
    expect_mismatch("[\"boolean\",\"null\"]",
                    "field 'qty': the writer's union branch boolean cannot be read as long");
}

Test(avro, invalid_writer_schemas_are_parse_errors)
{
    cr_assert_eq(proj_rc(orders, "not json"), FR_EPARSE);
    cr_assert(strstr(err, "not valid Avro"), "%s", err);
    cr_assert_eq(proj_rc(orders, "\"string\""), FR_EPARSE);
    cr_assert(strstr(err, "not a record"), "%s", err);
    cr_assert_eq(proj_rc(orders, "[\"null\",\"string\"]"), FR_EPARSE);
    /* avro-c accepts these; we do not */
    cr_assert_eq(proj_rc(orders, "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                                 "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
                                 "\"size\":-5}}]}"),
                 FR_EPARSE);
    cr_assert(strstr(err, "size -5"), "%s", err);
    cr_assert_eq(proj_rc(orders, "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                                 "{\"name\":\"qty\",\"type\":\"long\"},"
                                 "{\"name\":\"qty\",\"type\":\"int\"}]}"),
                 FR_EPARSE);
    cr_assert(strstr(err, "twice"), "%s", err);
    /* nesting: 64 records around a field pass, 65 do not */
    for (int depth = 64; depth <= 65; depth++) {
        fr_buf_t b;
        fr_buf_init(&b, 1 << 20);
        for (int i = 0; i < depth; i++)
            fr_buf_printf(&b,
                          "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":\"f\","
                          "\"type\":",
                          i);
        fr_buf_addstr(&b, "\"int\"");
        for (int i = 0; i < depth; i++)
            fr_buf_addstr(&b, "}]}");
        cr_assert_eq(proj_rc(orders, b.p), depth == 64 ? 0 : FR_EPARSE, "depth %d: %s", depth, err);
        fr_buf_destroy(&b);
    }
    char big[16];
    fr_avro_proj_t *pj = NULL;
    cr_assert_eq(fr_avro_proj_new(orders, big, FR_AVRO_MAX_SCHEMA_BYTES + 1, &pj, err, sizeof err),
                 FR_ELIMIT);
}

/* ---- hostile bytes ------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Decodes hostile bytes on both paths: refused as malformed, quickly, and
 * without avro-c allocating more than the input could justify. */
static void expect_malformed(fr_avro_proj_t *pj, const void *p, size_t n, const char *why)
{
    fr_value_t v[FR_CONFIG_MAX_FIELDS];
    int64_t ts;
    fr_reject_t rej;
    avro_largest = 0;
    double t0 = now_s();
    int rc = decode2(pj, p, n, v, &ts, &rej);
    double dt = now_s() - t0;
    cr_assert_eq(rc, FR_ECORRUPT, "%s: rc %d", why, rc);
    cr_assert_str_eq(rej.reason, "malformed_avro");
    cr_assert_lt(dt, 0.5, "%s took %.3f s", why, dt);
    cr_assert_lt(avro_largest, 1 << 16, "%s: avro-c allocated %zu bytes", why, avro_largest);
    if (why && *why)
        cr_assert(strstr(rej.detail, why), "'%s' not in '%s'", why, rej.detail);
}

Test(avro, every_truncation_and_flip_fails_cleanly)
{
    w_t w;
    w_init(&w, v2_schema);
    fill_v2(&w, 1);
    w_write(&w);
    fr_avro_proj_t *pj = proj(orders, v2_schema);
    /* Avro binary is self-delimiting: no proper prefix is a record */
    for (size_t cut = 0; cut < w.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees over-reads */
        memcpy(p, w.buf, cut);
        expect_malformed(pj, p, cut, "");
        free(p);
    }
    /* flips: either path may accept or refuse, but they agree */
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t *p = malloc(w.len);
        memcpy(p, w.buf, w.len);
        int flips = 1 + (int)(rnd() % 3);
        for (int k = 0; k < flips; k++)
            p[rnd() % w.len] ^= (uint8_t)(1u << (rnd() % 8));
        avro_largest = 0;
        agree(pj, p, w.len, orders);
        cr_assert_lt(avro_largest, 1 << 16);
        fr_value_t v[O_N];
        int64_t ts;
        accepted += fr_avro_decode(pj, p, w.len, v, &ts, NULL) == 0;
        free(p);
    }
    cr_assert_gt(accepted, 0);
    fr_avro_proj_free(pj);
    w_destroy(&w);
}

Test(avro, declared_lengths_beyond_the_input_are_refused_without_allocating)
{
    const char *s =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"skip\",\"type\":\"string\"},"
        "{\"name\":\"order_id\",\"type\":\"string\"},"
        "{\"name\":\"amount\",\"type\":\"double\"},{\"name\":\"ts\",\"type\":\"long\"}]}";
    fr_avro_proj_t *pj = proj(orders, s);
    /* a 10-byte message declaring a 2^40-byte string, skipped or read */
    uint8_t huge[10] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'a', 'b', 'c', 'd'};
    expect_malformed(pj, huge, sizeof huge, "length beyond the end");
    uint8_t huge2[10] = {0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'a', 'b', 'c'};
    expect_malformed(pj, huge2, sizeof huge2, "length beyond the end");
    uint8_t neg[] = {0x01, 'a'}; /* length -1 */
    expect_malformed(pj, neg, sizeof neg, "negative length");
    uint8_t neg2[] = {0x00, 0x03, 'a'}; /* -2 */
    expect_malformed(pj, neg2, sizeof neg2, "negative length");
    uint8_t varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    expect_malformed(pj, varint, sizeof varint, "longer than 64 bits");
    uint8_t unterminated[] = {0x80, 0x80};
    expect_malformed(pj, unterminated, sizeof unterminated, "truncated");
    fr_avro_proj_free(pj);

    s = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"int\"]},"
        "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"boolean\"},"
        "{\"name\":\"order_id\",\"type\":\"string\"},"
        "{\"name\":\"amount\",\"type\":\"double\"},{\"name\":\"ts\",\"type\":\"long\"}]}";
    pj = proj(orders, s);
    /* 2^31 nulls in 5 bytes: avro-c spends 15 s and 2.6 GB on this */
    uint8_t nulls[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 0};
    expect_malformed(pj, nulls, sizeof nulls, "take no bytes");
    /* 16 nulls, {}, B, null, 0, false, "", 0.0, 0 */
    uint8_t nulls_ok[] = {0x20, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    cr_assert_eq(decode2(pj, nulls_ok, sizeof nulls_ok, v, &ts, &rej), 0, "%s", rej.detail);
    uint8_t count[] = {0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x02, 'k', 0x00};
    expect_malformed(pj, count, sizeof count, "item count beyond the end");
    uint8_t negcount[] = {0x01, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00}; /* -1 item, block size 2^31 */
    expect_malformed(pj, negcount, sizeof negcount, "length beyond the end");
    uint8_t blocksize[] = {0x00, 0x01, 0x08, 0x02, 'k', 0x02, 0x00, 0x00}; /* size 4, items 3 */
    expect_malformed(pj, blocksize, sizeof blocksize, "block size does not match");
    uint8_t mapkey[] = {0x00, 0x02, 0x7f, 'k'};
    expect_malformed(pj, mapkey, sizeof mapkey, "negative map key length");
    uint8_t enumidx[] = {0x00, 0x00, 0x04, 0x00, 0x00, 0x00};
    expect_malformed(pj, enumidx, sizeof enumidx, "enum index out of range");
    uint8_t enumneg[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
    expect_malformed(pj, enumneg, sizeof enumneg, "enum index out of range");
    uint8_t branch2[] = {0x00, 0x00, 0x00, 0x04, 0x00, 0x00};
    expect_malformed(pj, branch2, sizeof branch2, "union branch out of range");
    uint8_t bigint[] = {0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00};
    expect_malformed(pj, bigint, sizeof bigint, "int out of range");
    uint8_t boolean[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02};
    expect_malformed(pj, boolean, sizeof boolean, "boolean is not 0 or 1");
    fr_avro_proj_free(pj);
}

/* A linked list: the schema recurses; a message may nest only so deep. */
Test(avro, deep_nesting_is_refused)
{
    const char *s =
        "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
        "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]},"
        "{\"name\":\"order_id\",\"type\":\"string\"},"
        "{\"name\":\"amount\",\"type\":\"double\"},{\"name\":\"ts\",\"type\":\"long\"}]}";
    fr_avro_proj_t *pj = proj(orders, s);
    const uint8_t tail[] = {0x02, 'x', 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    for (int depth = 1; depth <= 200; depth += 1) {
        /* depth-1 nested nodes, each: branch 1, then at the bottom null */
        fr_buf_t b;
        fr_buf_init(&b, 1 << 20);
        for (int i = 1; i < depth; i++)
            fr_buf_add_u8(&b, 0x02);
        fr_buf_add_u8(&b, 0x00);
        for (int i = 0; i < depth; i++)
            fr_buf_add(&b, tail, sizeof tail);
        fr_value_t v[O_N];
        int64_t ts;
        fr_reject_t rej;
        int rc = decode2(pj, b.p, b.len, v, &ts, &rej);
        /* each node is a union and a record: two levels */
        if (2 * depth - 1 <= FR_AVRO_MAX_DEPTH)
            cr_assert_eq(rc, 0, "depth %d: %s", depth, rej.detail);
        else
            expect_malformed(pj, b.p, b.len, "nested too deep");
        fr_buf_destroy(&b);
    }
    fr_avro_proj_free(pj);
    /* a record that contains itself has no finite value */
    s = "{\"type\":\"record\",\"name\":\"Self\",\"fields\":[{\"name\":\"me\",\"type\":\"Self\"},"
        "{\"name\":\"order_id\",\"type\":\"string\"}]}";
    pj = proj(orders, s);
    uint8_t any[64] = {0};
    expect_malformed(pj, any, sizeof any, "");
    fr_avro_proj_free(pj);
}

/* Records of nulls: walking them costs work but no bytes. */
Test(avro, structure_without_bytes_is_bounded)
{
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    fr_buf_addstr(&b, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                      "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Z\","
                      "\"fields\":[{\"name\":\"i\",\"type\":\"int\"}");
    for (int i = 0; i < 2000; i++)
        fr_buf_printf(&b, ",{\"name\":\"n%d\",\"type\":\"null\"}", i);
    fr_buf_addstr(
        &b, "]}}},{\"name\":\"order_id\",\"type\":\"string\"},"
            "{\"name\":\"amount\",\"type\":\"double\"},{\"name\":\"ts\",\"type\":\"long\"}]}");
    fr_avro_proj_t *pj = proj(orders, b.p);
    /* 100000 items of one byte each: 200 million visits unless bounded */
    fr_buf_t m;
    fr_buf_init(&m, 1 << 20);
    fr_buf_add_varint(&m, 100000 * 2);
    for (int i = 0; i < 100000; i++)
        fr_buf_add_u8(&m, 0);
    fr_buf_add_u8(&m, 0);
    fr_buf_add(&m, "\x02x\0\0\0\0\0\0\0\0\x02", 11);
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    double t0 = now_s();
    cr_assert_eq(fr_avro_decode(pj, m.p, m.len, v, &ts, &rej), FR_ECORRUPT);
    cr_assert(strstr(rej.detail, "too much structure"), "%s", rej.detail);
    cr_assert_lt(now_s() - t0, 0.5);
    fr_buf_destroy(&m);
    fr_buf_destroy(&b);
    fr_avro_proj_free(pj);
}

/* ---- the codec ------------------------------------------------------------ */

typedef struct reg {
    int calls;
    int unavailable;
    const char *schemas[8]; /* by id; NULL: unknown */
} reg_t;

static int lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    reg_t *r = ctx;
    r->calls++;
    if (r->unavailable)
        return FR_EUNAVAIL;
    if (id >= 8 || !r->schemas[id])
        return FR_ENOTFOUND;
    return fr_buf_addstr(out, r->schemas[id]);
}

static void framed(uint32_t id, const void *body, size_t n, fr_buf_t *out)
{
    fr_buf_reset(out);
    cr_assert_eq(fr_avro_frame(id, out), 0);
    cr_assert_eq(fr_buf_add(out, body, n), 0);
}

Test(avro, codec_caches_projections_by_schema_id)
{
    reg_t reg = {0};
    reg.schemas[1] = v1_schema;
    reg.schemas[3] =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"amount\",\"type\":"
        "\"string\"}]}";
    fr_avro_codec_t *c;
    cr_assert_eq(fr_avro_codec_new(orders, lookup, &reg, 1024, &c), 0);
    fr_buf_t m;
    fr_buf_init(&m, 1 << 16);
    uint8_t body[] = {0x06, 'o', '-', '1', 0x54, 0x04};
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    for (int i = 0; i < 5; i++) {
        framed(1, body, sizeof body, &m);
        cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0, "%s", rej.detail);
        expect_str(&v[O_ID], "o-1");
        cr_assert_eq(v[O_AMOUNT].u.d, 42.0);
        cr_assert_eq(ts, 2000);
    }
    cr_assert_eq(reg.calls, 1);
    /* an incompatible schema: refused, remembered */
    for (int i = 0; i < 3; i++) {
        framed(3, body, sizeof body, &m);
        cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), FR_EMISMATCH);
        cr_assert_str_eq(rej.reason, "incompatible_schema");
        cr_assert(strstr(rej.detail, "schema id 3: field 'amount'"), "%s", rej.detail);
    }
    cr_assert_eq(reg.calls, 2);
    /* the registry is down: passed through, nothing remembered */
    reg.unavailable = 1;
    for (int i = 0; i < 2; i++) {
        framed(2, body, sizeof body, &m);
        cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), FR_EUNAVAIL);
        cr_assert_str_eq(rej.reason, "registry_unavailable");
    }
    cr_assert_eq(reg.calls, 4);
    reg.unavailable = 0;
    /* unknown: remembered for about a second, then asked again */
    framed(2, body, sizeof body, &m);
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), FR_ENOTFOUND);
    cr_assert_str_eq(rej.reason, "unknown_schema");
    cr_assert(strstr(rej.detail, "schema id 2"), "%s", rej.detail);
    cr_assert_eq(reg.calls, 5);
    reg.schemas[2] = v1_schema; /* registered now */
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), FR_ENOTFOUND);
    cr_assert_eq(reg.calls, 5);
    /* the cached id 1 still decodes meanwhile */
    framed(1, body, sizeof body, &m);
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0);
    usleep((FR_AVRO_NEGATIVE_TTL_MS + 100) * 1000);
    framed(2, body, sizeof body, &m);
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0, "%s", rej.detail);
    cr_assert_eq(reg.calls, 6);
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0);
    cr_assert_eq(reg.calls, 6);
    /* framing and size */
    cr_assert_eq(fr_avro_codec_decode(c, "\x01\0\0\0\x01", 5, v, &ts, &rej), FR_ECORRUPT);
    cr_assert_str_eq(rej.reason, "malformed_avro");
    cr_assert_eq(fr_avro_codec_decode(c, "\0\0\0", 3, v, &ts, &rej), FR_ECORRUPT);
    char big[1100] = {0};
    cr_assert_eq(fr_avro_codec_decode(c, big, sizeof big, v, &ts, &rej), FR_ELIMIT);
    cr_assert_str_eq(rej.reason, "too_large");
    /* a malformed body through the codec */
    framed(1, body, 3, &m);
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), FR_ECORRUPT);
    cr_assert_str_eq(rej.reason, "malformed_avro");
    fr_buf_destroy(&m);
    fr_avro_codec_free(c);
}

static int lookup_any(void *ctx, uint32_t id, fr_buf_t *out)
{
    int *calls = ctx;
    (*calls)++;
    (void)id;
    return fr_buf_addstr(out, v1_schema);
}

Test(avro, codec_cache_is_bounded)
{
    int calls = 0;
    fr_avro_codec_t *c;
    cr_assert_eq(fr_avro_codec_new(orders, lookup_any, &calls, 1024, &c), 0);
    fr_buf_t m;
    fr_buf_init(&m, 1 << 16);
    uint8_t body[] = {0x06, 'o', '-', '1', 0x54, 0x04};
    fr_value_t v[O_N];
    int64_t ts;
    fr_reject_t rej;
    for (uint32_t id = 0; id < FR_AVRO_CACHE_MAX + 50; id++) {
        framed(id, body, sizeof body, &m);
        cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0);
        framed(7, body, sizeof body, &m); /* kept in use: never evicted */
        cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0);
    }
    cr_assert_eq(calls, FR_AVRO_CACHE_MAX + 50);
    framed(0, body, sizeof body, &m); /* evicted long ago: asked again */
    cr_assert_eq(fr_avro_codec_decode(c, m.p, m.len, v, &ts, &rej), 0);
    cr_assert_eq(calls, FR_AVRO_CACHE_MAX + 51);
    fr_buf_destroy(&m);
    fr_avro_codec_free(c);
}

/* ---- fixtures from Python's avro ------------------------------------------ */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    p[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* Compares decoded values with the expectation Python wrote. */
static void expect_json(const fr_source_spec_t *src, const fr_value_t *v, json_t *want,
                        const char *what)
{
    for (size_t k = 0; k < src->nfields; k++) {
        json_t *j = json_object_get(want, src->fields[k].name);
        cr_assert_not_null(j, "%s: no %s in the expectation", what, src->fields[k].name);
        const fr_value_t *x = &v[k];
        if (json_is_null(j)) {
            cr_assert_eq(x->type, FR_T_NULL, "%s: %s", what, src->fields[k].name);
            continue;
        }
        switch (src->fields[k].type) {
        case FR_T_STRING:
            cr_assert_eq(x->type, FR_T_STRING, "%s: %s", what, src->fields[k].name);
            cr_assert_eq(x->len, json_string_length(j), "%s: %s", what, src->fields[k].name);
            cr_assert_eq(memcmp(x->u.s, json_string_value(j), x->len), 0, "%s: %s", what,
                         src->fields[k].name);
            break;
        case FR_T_LONG:
            cr_assert_eq(x->type, FR_T_LONG, "%s: %s", what, src->fields[k].name);
            cr_assert_eq(x->u.i, json_integer_value(j), "%s: %s", what, src->fields[k].name);
            break;
        case FR_T_DOUBLE:
            cr_assert_eq(x->type, FR_T_DOUBLE, "%s: %s", what, src->fields[k].name);
            cr_assert_eq(x->u.d, json_number_value(j), "%s: %s %.17g vs %.17g", what,
                         src->fields[k].name, x->u.d, json_number_value(j));
            break;
        case FR_T_BOOL:
            cr_assert_eq(x->type, FR_T_BOOL, "%s: %s", what, src->fields[k].name);
            cr_assert_eq(x->u.b, json_is_true(j), "%s: %s", what, src->fields[k].name);
            break;
        default: cr_assert_fail("type");
        }
    }
}

static json_t *load_expected(void)
{
    json_error_t je;
    json_t *e = json_load_file(FIXTURES "expected.json", 0, &je);
    cr_assert_not_null(e, "expected.json: %s (run from the repository root)", je.text);
    return e;
}

Test(avro, python_encoded_messages)
{
    json_t *e = load_expected();
    json_t *msgs = json_object_get(e, "messages");
    size_t i;
    json_t *m;
    int n = 0, refused = 0;
    json_array_foreach(msgs, i, m)
    {
        char path[256];
        size_t slen, blen;
        snprintf(path, sizeof path, FIXTURES "%s", json_string_value(json_object_get(m, "schema")));
        char *schema = slurp(path, &slen);
        snprintf(path, sizeof path, FIXTURES "%s", json_string_value(json_object_get(m, "body")));
        char *body = slurp(path, &blen);
        fr_avro_proj_t *pj = proj(orders, schema);
        fr_value_t v[O_N];
        int64_t ts = 0;
        fr_reject_t rej = {0};
        int rc = decode2(pj, body, blen, v, &ts, &rej);
        agree(pj, body, blen, orders);
        json_t *reject = json_object_get(m, "reject");
        if (json_is_string(reject)) {
            cr_assert_neq(rc, 0, "%s: accepted", path);
            cr_assert_str_eq(rej.reason, json_string_value(reject), "%s", path);
            refused++;
        } else {
            cr_assert_eq(rc, 0, "%s: %s", path, rej.detail);
            expect_json(orders, v, json_object_get(m, "expect"), path);
            cr_assert_eq(ts, json_integer_value(json_object_get(m, "ts_ms")), "%s", path);
        }
        /* and through the codec, framed, with the schema from a registry */
        reg_t reg = {0};
        reg.schemas[5] = schema;
        fr_avro_codec_t *c;
        cr_assert_eq(fr_avro_codec_new(orders, lookup, &reg, 1 << 20, &c), 0);
        fr_buf_t f;
        fr_buf_init(&f, 1 << 20);
        framed(5, body, blen, &f);
        cr_assert_eq(fr_avro_codec_decode(c, f.p, f.len, v, &ts, &rej), rc);
        fr_buf_destroy(&f);
        fr_avro_codec_free(c);
        fr_avro_proj_free(pj);
        free(schema);
        free(body);
        n++;
    }
    cr_assert_geq(n, 11);
    cr_assert_geq(refused, 2);
    json_decref(e);
}

Test(avro, python_container_files)
{
    json_t *e = load_expected();
    json_t *files = json_object_get(e, "files");
    size_t i;
    json_t *fj;
    json_array_foreach(files, i, fj)
    {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s", json_string_value(json_object_get(fj, "file")));
        fr_avro_file_t *f;
        cr_assert_eq(fr_avro_file_open(path, orders, &f, err, sizeof err), 0, "%s", err);
        json_t *recs = json_object_get(fj, "records");
        size_t k;
        json_t *r;
        json_array_foreach(recs, k, r)
        {
            fr_value_t v[O_N];
            int64_t ts = 0;
            fr_reject_t rej = {0};
            int rc = fr_avro_file_next(f, v, &ts, &rej);
            json_t *reject = json_object_get(r, "reject");
            if (reject) {
                cr_assert_neq(rc, 0, "%s record %zu", path, k);
                cr_assert_str_eq(rej.reason, json_string_value(reject));
            } else {
                cr_assert_eq(rc, 0, "%s record %zu: %s", path, k, rej.detail);
                expect_json(orders, v, json_object_get(r, "expect"), path);
                cr_assert_eq(ts, json_integer_value(json_object_get(r, "ts_ms")));
            }
        }
        fr_value_t v[O_N];
        int64_t ts;
        fr_reject_t rej;
        cr_assert_eq(fr_avro_file_next(f, v, &ts, &rej), FR_ENOTFOUND, "%s", path);
        cr_assert_eq(fr_avro_file_next(f, v, &ts, &rej), FR_ENOTFOUND, "%s", path);
        fr_avro_file_close(f);
    }
    json_decref(e);
}

/* ---- container files written by avro-c ----------------------------------- */

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/fr_avro_test_%d_%s.avro", (int)getpid(), name);
}

/* Writes nrec v2 records with avro-c's file writer in small blocks. */
static void write_v2_file(const char *path, int nrec, const char *codec)
{
    w_t w;
    w_init(&w, v2_schema);
    avro_file_writer_t fw;
    unlink(path);
    cr_assert_eq(avro_file_writer_create_with_codec(path, w.s, &fw, codec, 512), 0, "%s",
                 avro_strerror());
    for (int i = 0; i < nrec; i++) {
        fill_v2(&w, i % 2);
        avro_value_t ts = field(&w.v, "ts");
        avro_value_set_long(&ts, 1000 + i);
        cr_assert_eq(avro_file_writer_append_value(fw, &w.v), 0, "%s", avro_strerror());
    }
    cr_assert_eq(avro_file_writer_close(fw), 0);
    w_destroy(&w);
}

/* Reads a whole file: records accepted until the end or an error; with
 * check, each must be a v2 record as fill_v2 writes it. */
static int read_all(const char *path, int *nrec, int64_t *last_ts, bool check)
{
    fr_avro_file_t *f;
    int rc = fr_avro_file_open(path, orders, &f, err, sizeof err);
    *nrec = 0;
    if (rc)
        return rc;
    for (;;) {
        fr_value_t v[O_N];
        int64_t ts;
        fr_reject_t rej;
        rc = fr_avro_file_next(f, v, &ts, &rej);
        if (rc)
            break;
        (*nrec)++;
        *last_ts = ts;
        if (check) {
            cr_assert_eq(v[O_AMOUNT].u.d, 1.25);
            expect_str(&v[O_ID], "o-2");
        }
    }
    fr_avro_file_close(f);
    return rc;
}

Test(avro, reads_avro_c_container_files)
{
    char path[256];
    static const char *codecs[] = {"null", "deflate", "snappy", "lzma"};
    for (int c = 0; c < 4; c++) {
        tmp_path(path, sizeof path, codecs[c]);
        write_v2_file(path, 300, codecs[c]);
        int n;
        int64_t last = 0;
        cr_assert_eq(read_all(path, &n, &last, true), FR_ENOTFOUND, "%s: %s", codecs[c], err);
        cr_assert_eq(n, 300, "%s", codecs[c]);
        cr_assert_eq(last, (1000 + 299) * 1000LL);
        unlink(path);
    }
    /* a file without records */
    tmp_path(path, sizeof path, "empty");
    write_v2_file(path, 0, "null");
    int n;
    int64_t last;
    cr_assert_eq(read_all(path, &n, &last, true), FR_ENOTFOUND, "%s", err);
    cr_assert_eq(n, 0);
    unlink(path);
}

Test(avro, container_file_errors)
{
    char path[256];
    int n;
    int64_t last;
    fr_avro_file_t *f;
    cr_assert_eq(fr_avro_file_open("/nonexistent/x.avro", orders, &f, err, sizeof err), -ENOENT);
    cr_assert(strstr(err, "/nonexistent/x.avro"), "%s", err);
    tmp_path(path, sizeof path, "junk");
    FILE *fp = fopen(path, "wb");
    fputs("not avro at all", fp);
    fclose(fp);
    cr_assert_eq(fr_avro_file_open(path, orders, &f, err, sizeof err), FR_ECORRUPT);
    cr_assert(strstr(err, "magic"), "%s", err);
    unlink(path);
    /* a writer schema the reader cannot use */
    tmp_path(path, sizeof path, "mismatch");
    avro_schema_t s;
    const char *bad = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"amount\","
                      "\"type\":\"string\"}]}";
    avro_schema_from_json_length(bad, strlen(bad), &s);
    avro_file_writer_t fw;
    unlink(path);
    cr_assert_eq(avro_file_writer_create(path, s, &fw), 0);
    avro_file_writer_close(fw);
    avro_schema_decref(s);
    cr_assert_eq(fr_avro_file_open(path, orders, &f, err, sizeof err), FR_EMISMATCH);
    cr_assert(strstr(err, "field 'amount'"), "%s", err);
    unlink(path);

    /* every truncation of a valid file: the records before the cut, then
     * a clean refusal (or the end, at a block boundary) */
    tmp_path(path, sizeof path, "whole");
    write_v2_file(path, 40, "null");
    size_t len;
    char *whole = slurp(path, &len);
    char cut_path[256];
    tmp_path(cut_path, sizeof cut_path, "cut");
    int ends = 0, corrupt = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
        fp = fopen(cut_path, "wb");
        fwrite(whole, 1, cut, fp);
        fclose(fp);
        avro_largest = 0;
        int rc = read_all(cut_path, &n, &last, true);
        cr_assert(rc == FR_ENOTFOUND || rc == FR_ECORRUPT, "cut %zu: rc %d", cut, rc);
        cr_assert_leq(n, 40);
        ends += rc == FR_ENOTFOUND;
        corrupt += rc == FR_ECORRUPT;
    }
    cr_assert_gt(corrupt, 0);
    /* flips anywhere: never a crash, never a large allocation */
    for (int i = 0; i < 400; i++) {
        char *p = malloc(len);
        memcpy(p, whole, len);
        p[rnd() % len] ^= (char)(1u << (rnd() % 8));
        fp = fopen(cut_path, "wb");
        fwrite(p, 1, len, fp);
        fclose(fp);
        free(p);
        avro_largest = 0;
        read_all(cut_path, &n, &last, false);
        cr_assert_leq(avro_largest, 1 << 20, "flip %d: avro-c allocated %zu", i, avro_largest);
    }
    /* a block declaring 2^40 bytes */
    fp = fopen(cut_path, "wb");
    size_t hdr = 0;
    /* the header ends with the sync marker, which also ends the file: its
     * first occurrence ends the header */
    for (size_t k = 4; k + 16 <= len; k++)
        if (!memcmp(whole + k, whole + len - 16, 16)) {
            hdr = k + 16;
            break;
        }
    cr_assert_gt(hdr, 0);
    fwrite(whole, 1, hdr, fp);
    fwrite("\x02\x80\x80\x80\x80\x80\x80\x40", 1, 8, fp);
    fwrite(whole + hdr, 1, 64, fp);
    fclose(fp);
    avro_largest = 0;
    cr_assert_eq(fr_avro_file_open(cut_path, orders, &f, err, sizeof err), FR_ECORRUPT);
    cr_assert(strstr(err, "block"), "%s", err);
    cr_assert_lt(avro_largest, 1 << 20);
    free(whole);
    unlink(cut_path);
    unlink(path);
}

/* ---- writing with a registered schema (fr_avro_writer_*) ------------------ */

static fr_avro_writer_t *writer(const fr_source_spec_t *src, const char *schema)
{
    fr_avro_writer_t *w = NULL;
    int rc = fr_avro_writer_new(src, schema, strlen(schema), &w, err, sizeof err);
    cr_assert_eq(rc, 0, "rc %d: %s\nschema %s", rc, err, schema);
    return w;
}

static int writer_rc(const fr_source_spec_t *src, const char *schema)
{
    fr_avro_writer_t *w = (fr_avro_writer_t *)1;
    int rc = fr_avro_writer_new(src, schema, strlen(schema), &w, err, sizeof err);
    cr_assert(rc ? w == NULL : w != NULL);
    fr_avro_writer_free(rc ? NULL : w);
    return rc;
}

Test(avro, writer_with_freshets_own_schema_writes_what_fr_avro_encode_writes)
{
    fr_buf_t sch, a, b;
    fr_buf_init(&sch, 1 << 16);
    fr_buf_init(&a, 1 << 16);
    fr_buf_init(&b, 1 << 16);
    cr_assert_eq(fr_avro_schema_json(orders, &sch), 0);
    fr_avro_writer_t *w = writer(orders, sch.p);
    static const char *strs[] = {"", "a", "日本語", "x y"};
    for (int iter = 0; iter < 2000; iter++) {
        fr_value_t in[O_N];
        in[O_ID] = S(strs[rnd() % 4]);
        in[O_AMOUNT] = D((double)(int64_t)rnd() / 7.0);
        in[O_QTY] = rnd() % 3 ? L((int64_t)rnd()) : N;
        in[O_STATUS] = rnd() % 3 ? S(strs[rnd() % 4]) : N;
        in[O_EXPRESS] = B(rnd() & 1);
        in[O_COUNTRY] = rnd() % 2 ? S(strs[rnd() % 4]) : N;
        in[O_TS] = L((int64_t)(rnd() % 4000000000u));
        fr_buf_reset(&a);
        fr_buf_reset(&b);
        fr_reject_t rej;
        cr_assert_eq(fr_avro_encode(orders, in, &a), 0);
        cr_assert_eq(fr_avro_writer_encode(w, in, &b, &rej), 0, "%s", rej.detail);
        cr_assert(a.len == b.len && !memcmp(a.p, b.p, a.len), "iteration %d differs", iter);
    }
    fr_avro_writer_free(w);
    fr_buf_destroy(&sch);
    fr_buf_destroy(&a);
    fr_buf_destroy(&b);
}

/* Another producer's shape: other names, order and types, fields freshet
 * lacks (with defaults of every kind it writes). */
static const char *shop_schema =
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\",\"fields\":["
    "{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"order_id\",\"type\":\"bytes\"},"
    "{\"name\":\"amount\",\"type\":\"float\"},"
    "{\"name\":\"qty\",\"type\":[\"null\",\"int\",\"long\"],\"default\":null},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","
    "\"symbols\":[\"new\",\"paid\"]},\"default\":\"paid\"},"
    "{\"name\":\"express\",\"type\":\"boolean\"},"
    "{\"name\":\"country\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},"
    "\"default\":[\"a\",\"bc\"]},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"},\"default\":{\"k\":-5}},"
    "{\"name\":\"md5\",\"type\":{\"type\":\"fixed\",\"name\":\"M\",\"size\":2},"
    "\"default\":\"\\u00ff\\u0001\"},"
    "{\"name\":\"rate\",\"type\":[\"double\",\"null\"],\"default\":0.5}]}";

/* Reads body with avro-c's own reader of schema (independent of freshet's
 * walker); returns the record (w_destroy it). */
static void avro_c_read(w_t *w, const char *schema, const void *body, size_t n)
{
    w_init(w, schema);
    avro_reader_t rd = avro_reader_memory(body, (int64_t)n);
    cr_assert_eq(avro_value_read(rd, &w->v), 0, "%s", avro_strerror());
    avro_reader_free(rd);
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    int64_t x = 0;
    int32_t i = 0;
    if (avro_value_get_type(&f) == AVRO_INT32) {
        cr_assert_eq(avro_value_get_int(&f, &i), 0);
        return i;
    }
    cr_assert_eq(avro_value_get_long(&f, &x), 0, "%s", name);
    return x;
}

/* The branch a union field took, and its value in *b. */
static int union_branch(avro_value_t *rec, const char *name, avro_value_t *b)
{
    avro_value_t f = field(rec, name);
    int d = -1;
    cr_assert_eq(avro_value_get_discriminant(&f, &d), 0, "%s", name);
    cr_assert_eq(avro_value_get_current_branch(&f, b), 0);
    return d;
}

Test(avro, writer_with_another_producers_schema_is_read_back_by_avro_c_and_freshet)
{
    fr_avro_writer_t *w = writer(orders, shop_schema);
    fr_avro_proj_t *pj = proj(orders, shop_schema);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 16);
    fr_reject_t rej;
    /* status "new", country set */
    fr_value_t in[O_N] = {S("o-1"), D(12.5), L(7), S("new"), B(1), S("FR"), L(1700000000)};
    cr_assert_eq(fr_avro_writer_encode(w, in, &b, &rej), 0, "%s", rej.detail);
    w_t r;
    avro_c_read(&r, shop_schema, b.p, b.len);
    avro_value_t x;
    cr_assert_eq(get_long(&r.v, "ts"), 1700000000);
    cr_assert_eq(union_branch(&r.v, "note", &x), 0);
    const void *p;
    size_t sz;
    avro_value_t f = field(&r.v, "order_id");
    cr_assert_eq(avro_value_get_bytes(&f, &p, &sz), 0);
    cr_assert(sz == 3 && !memcmp(p, "o-1", 3));
    f = field(&r.v, "amount");
    float fl;
    cr_assert_eq(avro_value_get_float(&f, &fl), 0);
    cr_assert_eq(fl, 12.5f);
    cr_assert_eq(union_branch(&r.v, "qty", &x), 2); /* long before int for a long */
    int64_t l;
    cr_assert_eq(avro_value_get_long(&x, &l), 0);
    cr_assert_eq(l, 7);
    f = field(&r.v, "status");
    int e;
    cr_assert_eq(avro_value_get_enum(&f, &e), 0);
    cr_assert_eq(e, 0);
    cr_assert_eq(union_branch(&r.v, "country", &x), 1);
    const char *str;
    cr_assert_eq(avro_value_get_string(&x, &str, &sz), 0);
    cr_assert_str_eq(str, "FR");
    /* the defaults of the fields freshet lacks */
    f = field(&r.v, "tags");
    cr_assert_eq(avro_value_get_size(&f, &sz), 0);
    cr_assert_eq(sz, 2);
    cr_assert_eq(avro_value_get_by_index(&f, 1, &x, NULL), 0);
    cr_assert_eq(avro_value_get_string(&x, &str, &sz), 0);
    cr_assert_str_eq(str, "bc");
    f = field(&r.v, "attrs");
    cr_assert_eq(avro_value_get_by_name(&f, "k", &x, NULL), 0);
    cr_assert_eq(avro_value_get_long(&x, &l), 0);
    cr_assert_eq(l, -5);
    f = field(&r.v, "md5");
    cr_assert_eq(avro_value_get_fixed(&f, &p, &sz), 0);
    cr_assert(sz == 2 && ((const uint8_t *)p)[0] == 0xff && ((const uint8_t *)p)[1] == 1);
    cr_assert_eq(union_branch(&r.v, "rate", &x), 0);
    double dv;
    cr_assert_eq(avro_value_get_double(&x, &dv), 0);
    cr_assert_eq(dv, 0.5);
    w_destroy(&r);
    /* and freshet reads its values back */
    fr_value_t out[O_N];
    int64_t ts;
    cr_assert_eq(decode2(pj, b.p, b.len, out, &ts, &rej), 0, "%s", rej.detail);
    for (int k = 0; k < O_N; k++)
        cr_assert(same_value(&out[k], &in[k]), "field %d", k);

    /* null status: the field's default
     * ("paid"); null qty and country: their null branches */
    fr_value_t in2[O_N] = {S("o-2"), D(-0.25), L(3000000000LL), N, B(0), N, L(5)};
    fr_buf_reset(&b);
    cr_assert_eq(fr_avro_writer_encode(w, in2, &b, &rej), 0, "%s", rej.detail);
    cr_assert_eq(decode2(pj, b.p, b.len, out, &ts, &rej), 0, "%s", rej.detail);
    cr_assert(same_value(&out[O_QTY], &in2[O_QTY]));
    expect_str(&out[O_STATUS], "paid");
    cr_assert_eq(out[O_COUNTRY].type, FR_T_NULL);
    in2[O_QTY] = N;
    fr_buf_reset(&b);
    cr_assert_eq(fr_avro_writer_encode(w, in2, &b, &rej), 0, "%s", rej.detail);
    cr_assert_eq(decode2(pj, b.p, b.len, out, &ts, &rej), 0, "%s", rej.detail);
    cr_assert_eq(out[O_QTY].type, FR_T_NULL);

    /* what one event cannot be written as */
    fr_value_t bad[O_N] = {S("o-3"), D(1e300), L(1), S("new"), B(0), N, L(5)};
    fr_buf_reset(&b);
    cr_assert_eq(fr_avro_writer_encode(w, bad, &b, &rej), FR_ETYPE);
    cr_assert_str_eq(rej.reason, "wrong_type");
    cr_assert(strstr(rej.detail, "'amount'") && strstr(rej.detail, "float"), "%s", rej.detail);
    bad[O_AMOUNT] = D(1);
    bad[O_STATUS] = S("shipped"); /* not a symbol */
    cr_assert_eq(fr_avro_writer_encode(w, bad, &b, &rej), FR_ETYPE);
    cr_assert(strstr(rej.detail, "'status'"), "%s", rej.detail);
    bad[O_STATUS] = S("new");
    bad[O_ID] = N; /* bytes: no null, no default */
    cr_assert_eq(fr_avro_writer_encode(w, bad, &b, &rej), FR_EMISSING);
    cr_assert_str_eq(rej.reason, "missing_field");
    fr_buf_destroy(&b);
    fr_avro_proj_free(pj);
    fr_avro_writer_free(w);

    /* doubles into long and int fields: whole values in range only */
    static const char *tx_long =
        "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"card_id\",\"type\":"
        "\"string\"},{\"name\":\"amount\",\"type\":\"int\"},{\"name\":\"merchant_id\",\"type\":"
        "\"string\"},{\"name\":\"country\",\"type\":[\"null\",\"string\"]},{\"name\":\"present\","
        "\"type\":[\"null\",\"boolean\"]},{\"name\":\"ts\",\"type\":\"long\"}]}";
    w = writer(tx, tx_long);
    fr_buf_init(&b, 1 << 10);
    fr_value_t t[6] = {S("c"), D(42), S("m"), N, B(1), L(9)};
    cr_assert_eq(fr_avro_writer_encode(w, t, &b, &rej), 0, "%s", rej.detail);
    t[1] = D(42.5);
    cr_assert_eq(fr_avro_writer_encode(w, t, &b, &rej), FR_ETYPE);
    t[1] = D(3e9);
    cr_assert_eq(fr_avro_writer_encode(w, t, &b, &rej), FR_ETYPE);
    fr_buf_destroy(&b);
    fr_avro_writer_free(w);
}

Test(avro, writer_refuses_schemas_it_cannot_fill)
{
    /* a field of the source missing from the schema */
    cr_assert_eq(writer_rc(tx, "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
                               "{\"name\":\"card_id\",\"type\":\"string\"},"
                               "{\"name\":\"amount\",\"type\":\"double\"},"
                               "{\"name\":\"merchant_id\",\"type\":\"string\"},"
                               "{\"name\":\"present\",\"type\":[\"null\",\"boolean\"]},"
                               "{\"name\":\"ts\",\"type\":\"long\"}]}"),
                 FR_EMISMATCH);
    cr_assert(strstr(err, "field 'country' of source 'tx' is not in the schema"), "%s", err);
    /* a field of the schema the source lacks, without a default */
    static const char *base = "{\"name\":\"card_id\",\"type\":\"string\"},"
                              "{\"name\":\"amount\",\"type\":\"double\"},"
                              "{\"name\":\"merchant_id\",\"type\":\"string\"},"
                              "{\"name\":\"country\",\"type\":[\"null\",\"string\"]},"
                              "{\"name\":\"present\",\"type\":[\"null\",\"boolean\"]},"
                              "{\"name\":\"ts\",\"type\":\"long\"}";
    char s[2048];
    snprintf(s, sizeof s,
             "{\"type\":\"record\",\"name\":\"T\",\"fields\":[%s,"
             "{\"name\":\"score\",\"type\":\"double\"}]}",
             base);
    cr_assert_eq(writer_rc(tx, s), FR_EMISMATCH);
    cr_assert(strstr(err, "field 'score' of the schema is not a field of source 'tx' and has no "
                          "default"),
              "%s", err);
    /* ... or with a record default */
    snprintf(s, sizeof s,
             "{\"type\":\"record\",\"name\":\"T\",\"fields\":[%s,"
             "{\"name\":\"geo\",\"type\":{\"type\":\"record\",\"name\":\"G\",\"fields\":["
             "{\"name\":\"lat\",\"type\":\"double\"}]},\"default\":{\"lat\":1.0}}]}",
             base);
    cr_assert_eq(writer_rc(tx, s), FR_EMISMATCH);
    cr_assert(strstr(err, "'geo'") && strstr(err, "a default freshet cannot write"), "%s", err);
    /* a type the source's field cannot be read back from */
    cr_assert_eq(writer_rc(tx, "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
                               "{\"name\":\"card_id\",\"type\":\"long\"}]}"),
                 FR_EMISMATCH);
    cr_assert(strstr(err, "card_id"), "%s", err);
    cr_assert_eq(writer_rc(tx, "\"string\""), FR_EPARSE);
    cr_assert_eq(writer_rc(tx, "{\"type\":"), FR_EPARSE);
    /* the same with defaults it can write: fine */
    snprintf(s, sizeof s,
             "{\"type\":\"record\",\"name\":\"T\",\"fields\":[%s,"
             "{\"name\":\"score\",\"type\":\"double\",\"default\":1},"
             "{\"name\":\"b\",\"type\":\"bytes\",\"default\":\"\\u00e9x\"}]}",
             base);
    fr_avro_writer_t *w = writer(tx, s);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 10);
    fr_reject_t rej;
    fr_value_t t[6] = {S("c"), D(1.25), S("m"), S("DE"), N, L(9)};
    cr_assert_eq(fr_avro_writer_encode(w, t, &b, &rej), 0, "%s", rej.detail);
    w_t r;
    avro_c_read(&r, s, b.p, b.len);
    avro_value_t f = field(&r.v, "score");
    double dv;
    cr_assert_eq(avro_value_get_double(&f, &dv), 0);
    cr_assert_eq(dv, 1.0);
    f = field(&r.v, "b");
    const void *p;
    size_t sz;
    cr_assert_eq(avro_value_get_bytes(&f, &p, &sz), 0);
    cr_assert(sz == 2 && ((const uint8_t *)p)[0] == 0xe9 && ((const uint8_t *)p)[1] == 'x');
    w_destroy(&r);
    fr_buf_destroy(&b);
    fr_avro_writer_free(w);
}
