/* Unit tests of src/event: JSON typing and the binary log record. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"
#include "event/event.h"

static fr_field_spec_t fields[] = {
    {.name = "card_id", .type = FR_T_STRING, .optional = false}, {.name = "amount", .type = FR_T_DOUBLE, .optional = false},
    {.name = "n", .type = FR_T_LONG, .optional = true},          {.name = "flag", .type = FR_T_BOOL, .optional = true},
    {.name = "country", .type = FR_T_STRING, .optional = true},  {.name = "ts", .type = FR_T_LONG, .optional = false},
};
static fr_source_spec_t src = {.name = "t", .ts_field = 5, .ts_unit_ms = 1, .fields = fields,
                               .nfields = 6};

static int type(const char *json, fr_value_t *v, int64_t *ts, fr_reject_t *rej)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    cr_assert_not_null(o, "bad test json %s", json);
    int rc = fr_event_from_json(&src, o, v, ts, rej);
    json_decref(o);
    return rc;
}

Test(event, types_a_good_event)
{
    fr_value_t v[6];
    int64_t ts;
    fr_reject_t rej;
    json_error_t je;
    json_t *o = json_loads("{\"card_id\":\"c1\",\"amount\":12,\"n\":3.0,\"flag\":true,"
                           "\"ts\":1700000000000,\"extra\":[1]}",
                           0, &je);
    cr_assert_eq(fr_event_from_json(&src, o, v, &ts, &rej), 0);
    cr_assert_eq(v[0].type, FR_T_STRING);
    cr_assert_eq(v[0].len, 2);
    cr_assert_eq(v[1].type, FR_T_DOUBLE);
    cr_assert_eq(v[1].u.d, 12.0);
    cr_assert_eq(v[2].type, FR_T_LONG);
    cr_assert_eq(v[2].u.i, 3);
    cr_assert_eq(v[3].u.b, true);
    cr_assert_eq(v[4].type, FR_T_NULL);
    cr_assert_eq(ts, 1700000000000LL);
    json_decref(o);
}

Test(event, refuses_bad_events_with_reasons)
{
    fr_value_t v[6];
    int64_t ts;
    fr_reject_t rej;
    cr_assert_eq(type("{\"amount\":1,\"ts\":1}", v, &ts, &rej), FR_EMISSING);
    cr_assert_str_eq(rej.reason, "missing_field");
    cr_assert(strstr(rej.detail, "card_id"));
    cr_assert_eq(type("{\"card_id\":5,\"amount\":1,\"ts\":1}", v, &ts, &rej), FR_ETYPE);
    cr_assert_str_eq(rej.reason, "wrong_type");
    cr_assert_eq(type("{\"card_id\":\"a\",\"amount\":\"1\",\"ts\":1}", v, &ts, &rej), FR_ETYPE);
    cr_assert_eq(type("{\"card_id\":\"a\",\"amount\":1,\"n\":3.5,\"ts\":1}", v, &ts, &rej),
                 FR_ETYPE);
    cr_assert_eq(type("{\"card_id\":\"a\",\"amount\":1,\"flag\":1,\"ts\":1}", v, &ts, &rej),
                 FR_ETYPE);
    cr_assert_eq(type("{\"card_id\":\"a\",\"amount\":1,\"ts\":null}", v, &ts, &rej), FR_EMISSING);
    cr_assert_eq(type("[1]", v, &ts, &rej), FR_EPARSE);
    /* null in an optional field is fine */
    cr_assert_eq(type("{\"card_id\":\"a\",\"amount\":1,\"n\":null,\"ts\":1}", v, &ts, &rej), 0);
    cr_assert_eq(v[2].type, FR_T_NULL);
}

Test(event, keeps_64_bit_integers_exact)
{
    fr_value_t v[6];
    int64_t ts;
    fr_reject_t rej;
    cr_assert_eq(type("{\"card_id\":\"a\",\"amount\":1,\"n\":9007199254740993,\"ts\":1}", v, &ts,
                      &rej),
                 0);
    cr_assert_eq(v[2].u.i, 9007199254740993LL);
}

Test(event, seconds_unit_and_overflow)
{
    fr_source_spec_t s2 = src;
    s2.ts_unit_ms = 1000;
    fr_value_t v[6];
    int64_t ts;
    fr_reject_t rej;
    json_error_t je;
    json_t *o = json_loads("{\"card_id\":\"a\",\"amount\":1,\"ts\":1700000000}", 0, &je);
    cr_assert_eq(fr_event_from_json(&s2, o, v, &ts, &rej), 0);
    cr_assert_eq(ts, 1700000000000LL);
    json_decref(o);
    o = json_loads("{\"card_id\":\"a\",\"amount\":1,\"ts\":9223372036854775}", 0, &je);
    cr_assert_eq(fr_event_from_json(&s2, o, v, &ts, &rej), 0);
    json_decref(o);
    o = json_loads("{\"card_id\":\"a\",\"amount\":1,\"ts\":9223372036854776}", 0, &je);
    cr_assert_eq(fr_event_from_json(&s2, o, v, &ts, &rej), FR_ETYPE);
    cr_assert_str_eq(rej.reason, "timestamp_out_of_range");
    json_decref(o);
    o = json_loads("{\"card_id\":\"a\",\"amount\":1,\"ts\":-9223372036854776}", 0, &je);
    cr_assert_eq(fr_event_from_json(&s2, o, v, &ts, &rej), FR_ETYPE);
    cr_assert_str_eq(rej.reason, "timestamp_out_of_range");
    json_decref(o);
}

Test(record, round_trip_and_corruption)
{
    fr_value_t v[6] = {
        {.type = FR_T_STRING, .len = 3, .u.s = "abc"}, {.type = FR_T_DOUBLE, .u.d = -1.25},
        {.type = FR_T_LONG, .u.i = INT64_MIN},         {.type = FR_T_NULL},
        {.type = FR_T_STRING, .len = 0, .u.s = ""},    {.type = FR_T_LONG, .u.i = 42},
    };
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    uint64_t fp = fr_schema_fingerprint(&src);
    cr_assert_eq(fr_record_encode(&src, fp, v, 42, &b), 0);
    cr_assert_eq(fr_record_fingerprint(b.p, b.len), fp);
    fr_record_proj_t pj;
    cr_assert_eq(fr_record_proj_identity(&pj, &src), 0);
    fr_value_t out[6];
    int64_t ts;
    cr_assert_eq(fr_record_decode(&pj, b.p, b.len, out, &ts), 0);
    cr_assert_eq(ts, 42);
    cr_assert_eq(out[0].len, 3);
    cr_assert_eq(memcmp(out[0].u.s, "abc", 3), 0);
    cr_assert_eq(out[1].u.d, -1.25);
    cr_assert_eq(out[2].u.i, INT64_MIN);
    cr_assert_eq(out[3].type, FR_T_NULL);
    cr_assert_eq(out[4].type, FR_T_STRING);
    cr_assert_eq(out[4].len, 0);
    /* every truncation fails cleanly */
    for (size_t n = 0; n < b.len; n++)
        cr_assert_neq(fr_record_decode(&pj, b.p, n, out, &ts), 0, "truncated at %zu", n);
    fr_record_proj_destroy(&pj);
    fr_buf_destroy(&b);
}

Test(record, older_schema_projects_by_name)
{
    /* writer: (ts long, card_id string, amount long, gone string) */
    fr_field_spec_t wf[] = {{.name = "ts", .type = FR_T_LONG, .optional = false},
                            {.name = "card_id", .type = FR_T_STRING, .optional = false},
                            {.name = "amount", .type = FR_T_LONG, .optional = false},
                            {.name = "gone", .type = FR_T_STRING, .optional = true}};
    fr_source_spec_t w = {.name = "t", .ts_field = 0, .ts_unit_ms = 1, .fields = wf, .nfields = 4};
    fr_buf_t sch, rec;
    fr_buf_init(&sch, 4096);
    fr_buf_init(&rec, 4096);
    cr_assert_eq(fr_schema_encode(&w, &sch), 0);
    uint64_t wfp = fr_schema_fingerprint(&w);
    cr_assert_neq(wfp, fr_schema_fingerprint(&src));
    fr_value_t v[4] = {{.type = FR_T_LONG, .u.i = 7},
                       {.type = FR_T_STRING, .len = 2, .u.s = "c9"},
                       {.type = FR_T_LONG, .u.i = 5},
                       {.type = FR_T_STRING, .len = 1, .u.s = "x"}};
    cr_assert_eq(fr_record_encode(&w, wfp, v, 7, &rec), 0);
    fr_record_proj_t pj;
    cr_assert_eq(fr_record_proj_from_schema(&pj, &src, wfp, sch.p, sch.len), 0);
    fr_value_t out[6];
    int64_t ts;
    cr_assert_eq(fr_record_decode(&pj, rec.p, rec.len, out, &ts), 0);
    cr_assert_eq(out[0].type, FR_T_STRING);
    cr_assert_eq(out[1].type, FR_T_DOUBLE, "long promotes to double");
    cr_assert_eq(out[1].u.d, 5.0);
    cr_assert_eq(out[2].type, FR_T_NULL);
    cr_assert_eq(out[5].u.i, 7);
    fr_record_proj_destroy(&pj);
    /* a corrupt schema is refused */
    cr_assert_eq(fr_record_proj_from_schema(&pj, &src, wfp, "\x05\x09", 2), FR_ECORRUPT);
    fr_buf_destroy(&sch);
    fr_buf_destroy(&rec);
}

Test(event, entity_keys)
{
    char tmp[24];
    const char *k;
    fr_value_t s = {.type = FR_T_STRING, .len = 2, .u.s = "ab"};
    cr_assert_eq(fr_entity_key(&s, tmp, &k), 2);
    fr_value_t l = {.type = FR_T_LONG, .u.i = 42};
    cr_assert_eq(fr_entity_key(&l, tmp, &k), 2);
    cr_assert_eq(memcmp(k, "42", 2), 0);
    fr_value_t d = {.type = FR_T_DOUBLE, .u.d = 1};
    cr_assert_eq(fr_entity_key(&d, tmp, &k), -1);
}

/* Issue 8: "g0\0anything" read as the entity "g0" where keys end at a NUL:
 * a key holding NUL is refused on every way in (Avro strings may hold one). */
Test(event, entity_keys_with_nul_are_refused)
{
    static const char *yaml = "sources:\n"
                              "  - name: tx\n"
                              "    timestamp: ts\n"
                              "    fields: [{ name: k, type: string }, { name: ts, type: long }]\n"
                              "feature_views:\n"
                              "  - { name: v, source: tx, entity: k, windows: [1h],\n"
                              "      aggregations: [{ fn: count }] }\n";
    fr_config_t *cfg;
    char err[256];
    cr_assert_eq(fr_config_parse("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof err), 0, "%s",
                 err);
    fr_reject_t rej;
    fr_value_t v[2] = {{.type = FR_T_STRING, .len = 5, .u.s = "g0\0ab"},
                       {.type = FR_T_LONG, .u.i = 1}};
    cr_assert_eq(fr_event_check_keys(cfg, 0, v, &rej), FR_ELIMIT);
    cr_assert_str_eq(rej.reason, "bad_entity_key");
    cr_assert(strstr(rej.detail, "NUL"), "%s", rej.detail);
    v[0].len = 1;
    v[0].u.s = "\0";
    cr_assert_eq(fr_event_check_keys(cfg, 0, v, &rej), FR_ELIMIT);
    v[0].len = 2;
    v[0].u.s = "g0";
    cr_assert_eq(fr_event_check_keys(cfg, 0, v, &rej), 0);
    fr_config_free(cfg);
}
