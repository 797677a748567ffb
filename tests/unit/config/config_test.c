/*
 * Unit tests of src/config: the example file, defaults, every key of a full
 * file, durations, broken files (each error's exact file:line:col and a key
 * phrase), limits, and truncated / mutated inputs that must never crash or
 * leak.  Run from the repository root (tests/run.sh does).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/err.h"

#define FILES "tests/unit/config/files/"

static char err[1024];

static fr_config_t *load_ok(const char *path)
{
    fr_config_t *cfg = NULL;
    int rc = fr_config_load(path, &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: rc %d: %s", path, rc, err);
    cr_assert_not_null(cfg);
    return cfg;
}

static fr_config_t *parse_ok(const char *text)
{
    fr_config_t *cfg = NULL;
    int rc = fr_config_parse("inline.yaml", text, strlen(text), &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cr_assert_not_null(cfg);
    return cfg;
}

/* Loads FILES<name>; asserts it fails with "FILES<name>:<pos>: " and that
 * the message contains phrase. */
static void expect_error(const char *name, const char *pos, const char *phrase)
{
    char path[256], prefix[300];
    snprintf(path, sizeof path, FILES "%s", name);
    snprintf(prefix, sizeof prefix, "%s:%s: ", path, pos);
    fr_config_t *cfg = (fr_config_t *)1;
    int rc = fr_config_load(path, &cfg, err, sizeof err);
    cr_assert_eq(rc, FR_ECONFIG, "%s: rc %d (%s)", name, rc, err);
    cr_assert_null(cfg);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "%s: expected prefix '%s', got '%s'",
                 name, prefix, err);
    cr_assert_not_null(strstr(err, phrase), "%s: expected '%s' in '%s'", name, phrase, err);
    cr_assert_null(strchr(err, '\n'), "one line: '%s'", err);
}

/* The same for inline text, named inline.yaml. */
static void expect_parse_error(const char *text, const char *pos, const char *phrase)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "inline.yaml:%s: ", pos);
    fr_config_t *cfg = (fr_config_t *)1;
    int rc = fr_config_parse("inline.yaml", text, strlen(text), &cfg, err, sizeof err);
    cr_assert_eq(rc, FR_ECONFIG, "rc %d (%s)", rc, err);
    cr_assert_null(cfg);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "expected prefix '%s', got '%s'",
                 prefix, err);
    cr_assert_not_null(strstr(err, phrase), "expected '%s' in '%s'", phrase, err);
    cr_assert_null(strchr(err, '\n'), "one line: '%s'", err);
}

static const fr_view_spec_t *view(const fr_config_t *cfg, const char *name)
{
    int v = fr_config_view_index(cfg, name);
    cr_assert_geq(v, 0, "no view %s", name);
    return &cfg->views[v];
}

/* ------------------------------------------------------------------ */

Test(example, loads_with_the_expected_structure)
{
    fr_config_t *cfg = load_ok("examples/fraud/freshet.yaml");
    cr_assert_str_eq(cfg->path, "examples/fraud/freshet.yaml");
    cr_assert_eq(cfg->store.backend, FR_STORE_LMDB);
    cr_assert_str_eq(cfg->store.path, "examples/fraud/data"); /* ./data beside the file */
    cr_assert_str_eq(cfg->server.listen_host, "127.0.0.1");
    cr_assert_eq(cfg->server.listen_port, 8080);
    cr_assert_eq(cfg->processor.commit_interval_ms, 50);
    cr_assert_eq(cfg->processor.max_future_ms, 300000);

    cr_assert_eq(cfg->nsources, 2);
    const fr_source_spec_t *src = &cfg->sources[0];
    cr_assert_str_eq(src->name, "transactions");
    cr_assert_eq(fr_config_source_index(cfg, "transactions"), 0);
    cr_assert_eq(fr_config_source_index(cfg, "nope"), -1);
    cr_assert_eq(src->format, FR_FORMAT_JSON);
    cr_assert_eq(src->nfields, 6);
    cr_assert_eq(src->ts_field, 5);
    cr_assert_eq(src->ts_unit_ms, 1);
    cr_assert_eq(src->fields[1].type, FR_T_DOUBLE);
    cr_assert(src->fields[3].optional);
    cr_assert_not(src->fields[0].optional);
    cr_assert_eq(fr_source_field_index(src, "country"), 3);
    cr_assert_eq(fr_source_field_index(src, "nope"), -1);
    cr_assert_not(src->kafka.enabled);
    cr_assert_eq(src->horizon_ms, 24 * 3600 * 1000);
    /* the labels: a source without views, so without a horizon */
    const fr_source_spec_t *cb = &cfg->sources[1];
    cr_assert_str_eq(cb->name, "chargebacks");
    cr_assert_eq(cb->nfields, 3);
    cr_assert_eq(cb->ts_field, 2);
    cr_assert_eq(cb->fields[1].type, FR_T_LONG);
    cr_assert_eq(cb->horizon_ms, 0);
    cr_assert_eq(fr_source_field_index(src, "txn_id"), 4);

    cr_assert_eq(cfg->nviews, 2);
    const fr_view_spec_t *v = view(cfg, "card_txn");
    cr_assert_eq(v->source, 0);
    cr_assert_eq(v->entity, 0);
    cr_assert_eq(v->naggs, 8);
    cr_assert_eq(v->nwindows, 3);
    cr_assert_not(v->filter.enabled);
    cr_assert_str_eq(v->windows[0].label, "5m");
    cr_assert_eq(v->windows[0].window_ms, 300000);
    cr_assert_eq(v->windows[0].tile_ms, 5000);
    cr_assert_eq(v->windows[1].tile_ms, 60000);
    cr_assert_eq(v->windows[2].window_ms, 86400000);
    cr_assert_eq(v->windows[2].tile_ms, 1440000);
    cr_assert_str_eq(v->feature_names[0], "txn_count_5m");
    cr_assert_str_eq(v->feature_names[1], "txn_count_1h");
    cr_assert_str_eq(v->feature_names[1 * 3 + 2], "amount_sum_24h");
    cr_assert_str_eq(v->feature_names[7 * 3 + 0], "since_last_5m");

    /* the plan */
    cr_assert_eq(v->plan.naggs, 8);
    cr_assert_eq(v->plan.nwindows, 3);
    cr_assert_eq(v->plan.aggs[0].fn, FR_FN_COUNT);
    cr_assert_eq(v->plan.aggs[0].field, -1);
    cr_assert_eq(v->plan.aggs[1].fn, FR_FN_SUM);
    cr_assert_eq(v->plan.aggs[1].field, 1);
    cr_assert_eq(v->plan.aggs[1].type, FR_T_DOUBLE);
    cr_assert_eq(v->plan.aggs[5].fn, FR_FN_COUNT_DISTINCT);
    cr_assert_eq(v->plan.aggs[5].field, 2);
    cr_assert_eq(v->plan.aggs[5].type, FR_T_STRING);
    cr_assert_eq(v->plan.aggs[6].field, 3);
    cr_assert_eq(v->plan.aggs[7].fn, FR_FN_SINCE_LAST);
    cr_assert_eq(v->plan.windows[2].tile_ms, 1440000);
    cr_assert_neq(v->plan.fingerprint, 0);
    cr_assert_str_eq(v->aggs[1].name, "amount_sum");
    cr_assert_str_eq(v->aggs[1].field, "amount");
    cr_assert_null(v->aggs[0].field);

    const fr_view_spec_t *m = view(cfg, "merchant_txn");
    cr_assert_eq(m->entity, 2);
    cr_assert_eq(m->windows[0].tile_ms, 1000); /* 1m / 60 */
    cr_assert_str_eq(m->feature_names[2 * 2 + 1], "cards_1h");
    cr_assert_neq(m->plan.fingerprint, v->plan.fingerprint);
    cr_assert_eq(fr_config_view_index(cfg, "nope"), -1);
    fr_config_free(cfg);
}

Test(defaults, apply_when_keys_are_absent)
{
    fr_config_t *cfg = load_ok(FILES "base.yaml");
    cr_assert_eq(cfg->store.backend, FR_STORE_LMDB);
    cr_assert_str_eq(cfg->store.path, FILES "data");
    cr_assert_eq(cfg->store.map_size_bytes, 64ull << 30);
    cr_assert_str_eq(cfg->store.redis_url, "redis://127.0.0.1:6379");
    cr_assert_not(cfg->store.redis_cluster);
    cr_assert_str_eq(cfg->server.listen_host, "127.0.0.1");
    cr_assert_eq(cfg->server.listen_port, 8080);
    cr_assert_eq(cfg->server.threads, 4);
    cr_assert_eq(cfg->server.idempotency_ttl_ms, 24 * 3600 * 1000);
    cr_assert_eq(cfg->server.max_body_bytes, 16777216);
    cr_assert_eq(cfg->server.max_batch, 10000);
    cr_assert_eq(cfg->server.max_key_bytes, 256);
    cr_assert_eq(cfg->server.timeout_s, 30);
    cr_assert_eq(cfg->processor.commit_interval_ms, 50);
    cr_assert_eq(cfg->processor.max_future_ms, 300000);
    cr_assert_eq(cfg->processor.cache_entities, 2000000);
    const fr_source_spec_t *src = &cfg->sources[0];
    cr_assert_eq(src->format, FR_FORMAT_JSON);
    cr_assert_eq(src->ts_unit_ms, 1);
    cr_assert_eq(src->horizon_ms, 3600000);
    const fr_view_spec_t *v = &cfg->views[0];
    cr_assert_str_eq(v->aggs[0].name, "count");
    cr_assert_str_eq(v->feature_names[0], "count_1h");
    fr_config_free(cfg);
}

Test(defaults, empty_sections_and_no_views)
{
    fr_config_t *cfg = parse_ok("store:\nserver:\nprocessor:\nsources:\n"
                                "  - { name: s, timestamp: ts, fields: [{name: ts, type: long}] }\n"
                                "feature_views:\n");
    cr_assert_eq(cfg->nviews, 0);
    cr_assert_eq(cfg->sources[0].horizon_ms, 0);
    cr_assert_eq(cfg->server.threads, 4);
    fr_config_free(cfg);
}

Test(full, every_key_is_read)
{
    fr_config_t *cfg = load_ok(FILES "good_full.yaml");
    cr_assert_eq(cfg->store.backend, FR_STORE_REDIS);
    cr_assert_str_eq(cfg->store.path, "/var/lib/freshet");
    cr_assert_eq(cfg->store.map_size_bytes, 512ull << 20);
    cr_assert_str_eq(cfg->store.redis_url, "redis://10.0.0.1:7000");
    cr_assert(cfg->store.redis_cluster);
    cr_assert_str_eq(cfg->server.listen_host, "::1");
    cr_assert_eq(cfg->server.listen_port, 9090);
    cr_assert_eq(cfg->server.threads, 8);
    cr_assert_eq(cfg->server.idempotency_ttl_ms, 3600000);
    cr_assert_eq(cfg->server.max_body_bytes, 1 << 20);
    cr_assert_eq(cfg->server.max_batch, 500);
    cr_assert_eq(cfg->server.max_key_bytes, 64);
    cr_assert_eq(cfg->server.timeout_s, 10);
    cr_assert_eq(cfg->processor.commit_interval_ms, 20);
    cr_assert_eq(cfg->processor.max_future_ms, 0);
    cr_assert_eq(cfg->processor.cache_entities, 1000);

    cr_assert_eq(cfg->nsources, 3);
    const fr_source_spec_t *clicks = &cfg->sources[0];
    cr_assert_eq(clicks->format, FR_FORMAT_AVRO);
    cr_assert_eq(clicks->ts_unit_ms, 1000);
    cr_assert_eq(clicks->fields[3].type, FR_T_BOOL);
    cr_assert(clicks->kafka.enabled);
    cr_assert_str_eq(clicks->kafka.brokers, "k1:9092,k2:9092");
    cr_assert_str_eq(clicks->kafka.topic, "clicks.v1");
    cr_assert_str_eq(clicks->kafka.group, "fs");
    cr_assert_eq(clicks->kafka.nprops, 3);
    cr_assert_str_eq(clicks->kafka.props[0].key, "security.protocol");
    cr_assert_str_eq(clicks->kafka.props[0].value, "SSL");
    cr_assert_str_eq(clicks->kafka.props[1].value, "1048576");
    cr_assert_str_eq(clicks->kafka.props[2].value, "true");
    cr_assert_eq(clicks->horizon_ms, 7 * 86400000ll);
    const fr_source_spec_t *labels = &cfg->sources[1];
    cr_assert_str_eq(labels->kafka.topic, "labels"); /* defaults */
    cr_assert_str_eq(labels->kafka.group, "freshet");
    cr_assert_eq(labels->kafka.nprops, 0);
    cr_assert_eq(labels->horizon_ms, 90 * 86400000ll);
    /* an alias copies the anchored field list */
    const fr_source_spec_t *replay = &cfg->sources[2];
    cr_assert_eq(replay->nfields, 5);
    cr_assert_str_eq(replay->fields[2].name, "dwell");
    cr_assert(replay->fields[2].optional);
    cr_assert_eq(replay->horizon_ms, 60000);

    const fr_view_spec_t *v = view(cfg, "user_clicks");
    cr_assert_eq(v->windows[0].tile_ms, 1000);
    cr_assert_eq(v->windows[1].tile_ms, 60000);   /* granularity */
    cr_assert_eq(v->windows[2].tile_ms, 3600000); /* granularity */
    cr_assert(v->filter.enabled);
    cr_assert_eq(v->filter.field, 3);
    cr_assert_eq(v->filter.equals.type, FR_T_BOOL);
    cr_assert_eq(v->filter.equals.u.b, false);
    cr_assert_str_eq(v->aggs[1].name, "dwell_avg");
    cr_assert_str_eq(v->aggs[3].name, "page_last");
    cr_assert_str_eq(v->aggs[4].name, "since_last");
    cr_assert_str_eq(v->feature_names[2 * 3 + 2], "pages_7d");
    cr_assert_str_eq(v->feature_names[0], "count_30s");

    const fr_view_spec_t *l = view(cfg, "user_labels");
    cr_assert_eq(l->filter.equals.type, FR_T_LONG);
    cr_assert_eq(l->filter.equals.u.i, -42);
    cr_assert_eq(l->windows[0].tile_ms, 36 * 3600000ll); /* 90d / 60 */
    /* the merge key: everything from user_labels but name and windows */
    const fr_view_spec_t *l7 = view(cfg, "user_labels_7d");
    cr_assert_eq(l7->source, 1);
    cr_assert_eq(l7->nwindows, 1);
    cr_assert_str_eq(l7->feature_names[0], "n_7d");
    cr_assert_eq(l7->filter.equals.u.i, -42);
    fr_config_free(cfg);
}

Test(full, filter_values_are_typed)
{
    static const char base[] =
        "sources:\n  - name: s\n    timestamp: ts\n    fields:\n"
        "      - { name: id, type: string }\n      - { name: x, type: double }\n"
        "      - { name: ts, type: long }\n"
        "feature_views:\n  - name: v\n    source: s\n    entity: id\n    windows: [1m]\n"
        "    aggregations: [ { fn: count } ]\n";
    char text[1024];
    snprintf(text, sizeof text, "%s    filter: { field: x, equals: 2 }\n", base);
    fr_config_t *cfg = parse_ok(text);
    cr_assert_eq(cfg->views[0].filter.equals.type, FR_T_DOUBLE);
    cr_assert_float_eq(cfg->views[0].filter.equals.u.d, 2.0, 1e-12);
    fr_config_free(cfg);
    snprintf(text, sizeof text, "%s    filter: { field: id, equals: 'true' }\n", base);
    cfg = parse_ok(text);
    cr_assert_eq(cfg->views[0].filter.equals.type, FR_T_STRING);
    cr_assert_eq(cfg->views[0].filter.equals.len, 4);
    cr_assert_eq(memcmp(cfg->views[0].filter.equals.u.s, "true", 4), 0);
    fr_config_free(cfg);
    snprintf(text, sizeof text, "%s    filter: { field: id, equals: 42 }\n", base);
    expect_parse_error(text, "14:34", "is a long but field 'id' is a string; expected a string");
}

Test(full, listen_forms)
{
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    snprintf(text, sizeof text, "server: { listen: \":0\" }\n%s", src);
    fr_config_t *cfg = parse_ok(text);
    cr_assert_str_eq(cfg->server.listen_host, "0.0.0.0");
    cr_assert_eq(cfg->server.listen_port, 0);
    fr_config_free(cfg);
    snprintf(text, sizeof text, "server: { listen: \"::1:80\" }\n%s", src);
    expect_parse_error(text, "1:19", "IPv6 in brackets");
    snprintf(text, sizeof text, "server: { listen: \"h:65536\" }\n%s", src);
    expect_parse_error(text, "1:19", "no valid port");
    snprintf(text, sizeof text, "store: { map_size: 1.5GiB }\n%s", src);
    expect_parse_error(text, "1:20", "map_size '1.5GiB' is not a size");
    snprintf(text, sizeof text, "store: { map_size: 2TiB }\n%s", src);
    cfg = parse_ok(text);
    cr_assert_eq(cfg->store.map_size_bytes, 2ull << 40);
    fr_config_free(cfg);
}

/* ------------------------------------------------------------------ */

Test(duration, parses_units)
{
    cr_assert_eq(fr_config_parse_duration("30s"), 30000);
    cr_assert_eq(fr_config_parse_duration("5m"), 300000);
    cr_assert_eq(fr_config_parse_duration("1h"), 3600000);
    cr_assert_eq(fr_config_parse_duration("24h"), 86400000);
    cr_assert_eq(fr_config_parse_duration("7d"), 604800000);
    cr_assert_eq(fr_config_parse_duration("250ms"), 250);
    cr_assert_eq(fr_config_parse_duration("0s"), 0);
    cr_assert_eq(fr_config_parse_duration("90s"), 90000);
    cr_assert_eq(fr_config_parse_duration("9223372036854775807ms"), INT64_MAX);
}

Test(duration, rejects_malformed)
{
    static const char *const bad[] = {"",     "5",   "m",    "5x",  "-5m", "+5m",
                                      "1.5h", "5 m", " 5m",  "5m ", "5M",  "5mm",
                                      "5sec", "0x5s", "99999999999999999999d", "106751991168d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(fr_config_parse_duration(bad[i]), -1, "'%s'", bad[i]);
    cr_assert_eq(fr_config_parse_duration(NULL), -1);
}

/* ------------------------------------------------------------------ */
/* broken files: exact position and a key phrase                       */

Test(broken, yaml_syntax_error)
{
    expect_error("bad_syntax.yaml", "5:1", "invalid YAML");
}

Test(broken, bad_alias)
{
    expect_error("bad_alias.yaml", "4:14", "invalid alias");
}

Test(broken, duplicate_key)
{
    expect_error("dup_key.yaml", "4:3", "duplicate key 'path'");
}

Test(broken, unknown_key_lists_the_allowed_ones)
{
    expect_error("unknown_key.yaml", "3:3",
                 "unknown key 'pathh' in store; expected one of backend, path, map_size, log_retention, redis");
}

Test(broken, unknown_top_level_key)
{
    expect_error("top_unknown.yaml", "6:1", "unknown key 'feature_view'");
}

Test(broken, unknown_function)
{
    expect_error("unknown_fn.yaml", "14:15",
                 "unknown aggregation function 'summ'; expected one of count, sum, avg, min, max, "
                 "stddev, count_distinct, last, since_last");
}

Test(broken, sum_without_field_points_at_the_aggregation)
{
    expect_error("sum_no_field.yaml", "15:9", "aggregation 'sum' has no 'field'");
}

Test(broken, sum_of_a_string)
{
    expect_error("sum_string.yaml", "15:27",
                 "sum cannot aggregate field 'merchant' of type string; expected a long or double");
}

Test(broken, count_with_a_field)
{
    expect_error("count_with_field.yaml", "13:22", "count takes no field");
}

Test(broken, duplicate_aggregation_name)
{
    expect_error("dup_agg_name.yaml", "15:41",
                 "duplicate aggregation name 'amount_sum' in view 'v' (first at 14:9)");
}

Test(broken, entity_optional)
{
    expect_error("entity_optional.yaml", "11:13", "entity 'country' is an optional field");
}

Test(broken, entity_not_a_field)
{
    expect_error("entity_not_field.yaml", "10:13",
                 "entity 'card' is not a field of source 't'; expected a required string or long "
                 "field (candidates: id, ts)");
}

Test(broken, unknown_source)
{
    expect_error("unknown_source.yaml", "9:13", "unknown source 'txns'; expected one of t");
}

Test(broken, bad_duration)
{
    expect_error("bad_duration.yaml", "11:19", "window '5x': expected a number followed by");
}

Test(broken, window_not_whole_seconds)
{
    expect_error("window_ms.yaml", "13:9", "window '1500ms' is not whole seconds");
}

Test(broken, granularity_not_dividing)
{
    expect_error("gran_not_dividing.yaml", "12:24", "granularity 7s does not divide window 5m");
}

Test(broken, granularity_for_a_missing_window)
{
    expect_error("gran_no_window.yaml", "14:7",
                 "granularity for '2h' but the view has no such window; expected one of 5m, 1h");
}

Test(broken, filter_type_mismatch)
{
    expect_error("filter_mismatch.yaml", "13:38",
                 "filter value 'US' is a string but field 'amount' is a double");
}

Test(broken, duplicate_view_name)
{
    expect_error("dup_view.yaml", "14:11", "duplicate feature view name 'v' (first at 8:11)");
}

Test(broken, timestamp_field_missing)
{
    expect_error("ts_missing.yaml", "3:16", "timestamp field 'time' is not a field of source 't'");
}

Test(broken, timestamp_field_not_long)
{
    expect_error("ts_not_long.yaml", "3:16",
                 "timestamp field 'ts' is a double field; expected a required long field");
}

Test(broken, missing_sources_points_at_the_top_mapping)
{
    expect_error("no_sources.yaml", "1:1", "has no 'sources'");
}

Test(broken, missing_fields_points_at_the_source)
{
    expect_error("no_fields.yaml", "2:5", "source 't' has no 'fields'");
}

Test(broken, unknown_type)
{
    expect_error("bad_type.yaml", "5:27",
                 "type 'str' is not known; expected one of string, long, double, boolean");
}

Test(broken, kafka_without_brokers)
{
    expect_error("kafka_no_brokers.yaml", "5:7", "kafka has no 'brokers'");
}

Test(broken, server_threads_out_of_range)
{
    expect_error("bad_threads.yaml", "2:12",
                 "threads 1000 is out of range; expected an integer from 1 to 256");
}

Test(broken, listen_without_port)
{
    expect_error("bad_listen.yaml", "2:11", "listen 'localhost' has no valid port");
}

Test(broken, inline_cases)
{
    static const char src[] = "sources:\n  - name: t\n    timestamp: ts\n    fields:\n"
                              "      - { name: id, type: string }\n"
                              "      - { name: ts, type: long }\n";
    char text[1024];
    expect_parse_error("", "1:1", "the configuration is empty");
    expect_parse_error("# nothing\n", "1:1", "the configuration is empty");
    expect_parse_error("- a\n", "1:1", "the configuration is a list");
    expect_parse_error("sources:\n\t- x\n", "2:1", "invalid YAML");
    expect_parse_error("a: &x [*x]\n", "1:8", "aliases nest deeper than 256");
    expect_parse_error("a: *nope\n", "1:5", "invalid YAML: invalid alias");
    expect_parse_error("sources:\n  - name: t\n    fields: [{name: ts, type: long}]\n"
                       "    timestamp:\n",
                       "4:5", "timestamp is empty");
    expect_parse_error("sources:\n  - name: t\n    timestamp:\n", "2:5",
                       "source 't' has no 'fields'");
    expect_parse_error("sources: [1]\n", "1:11", "a source is a scalar; expected a mapping");
    expect_parse_error("\"a\\nb\": 1\n", "1:1", "unknown key 'a b' in the configuration");
    expect_parse_error("sources:\n  - name: \"a b\"\n", "2:11", "is not a valid name");
    snprintf(text, sizeof text,
             "%sfeature_views:\n  - { name: v, source: t, entity: id, windows: [1h] }\n", src);
    expect_parse_error(text, "8:5", "feature view 'v' has no 'aggregations'");
    snprintf(text, sizeof text,
             "%sfeature_views:\n  - { name: v, source: t, entity: id, windows: [1h, 60m],"
             " aggregations: [ {fn: count} ] }\n",
             src);
    expect_parse_error(text, "8:53", "window '60m' repeats window '1h'");
    snprintf(text, sizeof text,
             "%sfeature_views:\n  - { name: v, source: t, entity: ts, windows: [0s],"
             " aggregations: [ {fn: count} ] }\n",
             src);
    expect_parse_error(text, "8:49", "window '0s' is zero");
    snprintf(text, sizeof text, "%s    kafka: { brokers: b, x: { y: 1 } }\n", src);
    expect_parse_error(text, "7:29", "x is a mapping; expected a string, number or boolean");
    snprintf(text, sizeof text, "server: { idempotency_ttl: 500ms }\n%s", src);
    expect_parse_error(text, "1:28", "idempotency_ttl '500ms' is out of range");
    snprintf(text, sizeof text, "server: [1]\n%s", src);
    expect_parse_error(text, "1:9", "server is a list; expected a mapping with keys listen,");
}

/* ------------------------------------------------------------------ */
/* limits                                                              */

Test(limits, name_length)
{
    char name[FR_CONFIG_MAX_NAME + 2], text[1024];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    snprintf(text, sizeof text,
             "sources:\n  - { name: %s, timestamp: ts, fields: [{name: ts, type: long}] }\n", name);
    expect_parse_error(text, "2:13", "expected at most 128");
    name[FR_CONFIG_MAX_NAME] = 0; /* exactly the maximum is fine */
    snprintf(text, sizeof text,
             "sources:\n  - { name: %s, timestamp: ts, fields: [{name: ts, type: long}] }\n", name);
    fr_config_free(parse_ok(text));
}

Test(limits, too_many_sources_and_windows)
{
    static char text[64 * 1024];
    size_t n = (size_t)snprintf(text, sizeof text, "sources:\n");
    for (int i = 0; i <= FR_CONFIG_MAX_SOURCES; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "  - { name: s%d, timestamp: ts,"
                              " fields: [{name: ts, type: long}] }\n",
                              i);
    char pos[16];
    snprintf(pos, sizeof pos, "%d:5", FR_CONFIG_MAX_SOURCES + 2);
    expect_parse_error(text, pos, "sources has 65 entries; expected at most 64");

    n = (size_t)snprintf(text, sizeof text,
                         "sources: [{ name: s, timestamp: ts, fields: [{name: ts, type: long}] }]\n"
                         "feature_views:\n  - name: v\n    source: s\n    entity: ts\n"
                         "    aggregations: [ {fn: count} ]\n    windows: [");
    for (int i = 1; i <= FR_AGG_MAX_WINDOWS + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%dm", i > 1 ? ", " : "", i);
    snprintf(text + n, sizeof text - n, "]\n");
    expect_parse_error(text, "7:86", "windows has 17 entries; expected at most 16");
}

Test(limits, alias_expansion)
{
    /* "billion laughs": 10^9 nodes from a few lines */
    static char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "a%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s*a%d", k ? ", " : "", i - 1);
        n += (size_t)snprintf(text + n, sizeof text - n, "]\n");
    }
    expect_parse_error(text, "6:45", "aliases expand to more than 1000000 nodes");
    expect_parse_error("a: &x [1, *x]\n", "1:11", "aliases nest deeper than 256");
}

Test(limits, too_large_file)
{
    char path[] = "/tmp/freshet-config-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    static char line[1024];
    memset(line, '#', sizeof line - 1);
    line[sizeof line - 2] = '\n';
    for (int i = 0; i <= FR_CONFIG_MAX_FILE_BYTES / (int)(sizeof line - 1); i++)
        fputs(line, f);
    fclose(f);
    fr_config_t *cfg = (fr_config_t *)1;
    int rc = fr_config_load(path, &cfg, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, FR_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, "is larger than 4194304 bytes"), "%s", err);
}

/* Writes text to dir/name; returns the path in a static buffer. */
static const char *write_file(const char *dir, const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(store_path, relative_to_the_file_not_the_current_directory)
{
    char dir[] = "/tmp/freshet-config-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static const char *const cases[][2] = {
        {"./data", "/data"},   {"data", "/data"},         {"./a/b", "/a/b"},
        {"../x", "/../x"},     {"./", ""},                {".", ""},
        {"/abs/dir", NULL}, /* absolute: kept */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], want[600];
        snprintf(text, sizeof text,
                 "store: { path: \"%s\" }\n"
                 "sources:\n  - { name: s, timestamp: ts, fields: [{name: ts, type: long}] }\n",
                 cases[i][0]);
        const char *p = write_file(dir, "c.yaml", text);
        fr_config_t *cfg = load_ok(p);
        snprintf(want, sizeof want, "%s%s", cases[i][1] ? dir : "", cases[i][1] ? cases[i][1] : cases[i][0]);
        cr_assert_str_eq(cfg->store.path, want, "path: %s", cases[i][0]);
        fr_config_free(cfg);
        unlink(p);
    }
    /* no store section: the default ./data, beside the file too */
    const char *p = write_file(dir, "d.yaml",
                               "sources:\n  - { name: s, timestamp: ts, fields: [{name: ts, type: long}] }\n");
    fr_config_t *cfg = load_ok(p);
    char want[600];
    snprintf(want, sizeof want, "%s/data", dir);
    cr_assert_str_eq(cfg->store.path, want);
    fr_config_free(cfg);
    unlink(p);
    rmdir(dir);
    /* a file in the current directory: as written; fr_config_parse: as written */
    cfg = parse_ok("store: { path: ./here }\n"
                   "sources:\n  - { name: s, timestamp: ts, fields: [{name: ts, type: long}] }\n");
    cr_assert_str_eq(cfg->store.path, "./here");
    fr_config_free(cfg);
}

Test(limits, err_may_be_null)
{
    fr_config_t *cfg = (fr_config_t *)1;
    cr_assert_eq(fr_config_parse("x", "nope: 1\n", 8, &cfg, NULL, 0), FR_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_eq(fr_config_load(FILES "unknown_fn.yaml", &cfg, NULL, 0), FR_ECONFIG);
    cr_assert_eq(fr_config_load(FILES "nope.yaml", &cfg, NULL, 0), -ENOENT);
    char tiny[8];
    cr_assert_eq(fr_config_load(FILES "unknown_fn.yaml", &cfg, tiny, sizeof tiny), FR_ECONFIG);
    cr_assert_eq(strlen(tiny), sizeof tiny - 1);
}

Test(limits, missing_file)
{
    fr_config_t *cfg = (fr_config_t *)1;
    int rc = fr_config_load(FILES "does-not-exist.yaml", &cfg, err, sizeof err);
    cr_assert_eq(rc, -ENOENT);
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, "does-not-exist.yaml: cannot open"));
}

/* ------------------------------------------------------------------ */
/* truncated and mutated inputs: error or success, never a crash or leak */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *p = malloc(*len + 1);
    cr_assert_not_null(p);
    memcpy(p, buf, *len);
    p[*len] = 0;
    return p;
}

static void parse_any(const char *text, size_t len)
{
    fr_config_t *cfg = NULL;
    char e[512];
    int rc = fr_config_parse("fuzz.yaml", text, len, &cfg, e, sizeof e);
    if (rc == 0) {
        cr_assert_not_null(cfg);
        fr_config_free(cfg);
    } else {
        cr_assert_null(cfg);
        cr_assert_eq(strncmp(e, "fuzz.yaml:", 10), 0, "rc %d: '%s'", rc, e);
    }
}

Test(fuzz, every_truncation_of_the_example)
{
    size_t len;
    char *text = slurp("examples/fraud/freshet.yaml", &len);
    int ok = 0;
    for (size_t n = 0; n <= len; n++) {
        char *copy = malloc(n ? n : 1); /* exactly n bytes, no NUL: ASan sees overreads */
        cr_assert_not_null(copy);
        memcpy(copy, text, n);
        fr_config_t *cfg = NULL;
        char e[512];
        int rc = fr_config_parse("fuzz.yaml", copy, n, &cfg, e, sizeof e);
        if (!rc) {
            ok++;
            fr_config_free(cfg);
        } else {
            cr_assert_eq(strncmp(e, "fuzz.yaml:", 10), 0, "n=%zu rc %d: '%s'", n, rc, e);
        }
        free(copy);
    }
    cr_assert_gt(ok, 0);
    free(text);
}

Test(fuzz, random_mutations)
{
    size_t len;
    const char *const files[] = {"examples/fraud/freshet.yaml", FILES "good_full.yaml"};
    static const char alphabet[] = " \n\t:-[]{},&*<>'\"#!|%@`0123456789smhdabc_.";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t f = 0; f < 2; f++) {
        char *text = slurp(files[f], &len);
        char *copy = malloc(len + 1);
        for (int round = 0; round < 400; round++) {
            memcpy(copy, text, len + 1);
            int edits = 1 + round % 4;
            for (int k = 0; k < edits; k++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                copy[seed % len] = alphabet[(seed >> 32) % (sizeof alphabet - 1)];
            }
            parse_any(copy, len);
        }
        free(copy);
        free(text);
    }
}

/* libfyaml 0.7.12 never returns on "%\xff"; invalid UTF-8 must be refused first. */
Test(config, invalid_utf8_is_refused_with_position)
{
    const char text[] = "sources:\n  - name: a\xff\n%\xff\n";
    fr_config_t *cfg = NULL;
    char msg[256];
    cr_assert_eq(fr_config_parse("u.yaml", text, sizeof text - 1, &cfg, msg, sizeof msg),
                 FR_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_str_eq(msg, "u.yaml:2:12: byte 0xff is not allowed; expected UTF-8 text without "
                          "control characters");
}

/* A NUL made libfyaml 0.7.12 read past its buffer while reporting an error. */
Test(config, control_characters_are_refused)
{
    const char text[] = "sources:\n  - name: a\n    x: \"\0\"\n";
    fr_config_t *cfg = NULL;
    char msg[256];
    cr_assert_eq(fr_config_parse("n.yaml", text, sizeof text - 1, &cfg, msg, sizeof msg),
                 FR_ECONFIG);
    cr_assert_str_eq(msg, "n.yaml:3:9: byte 0x00 is not allowed; expected UTF-8 text without "
                          "control characters");
    cr_assert_eq(fr_config_parse("t.yaml", "a:\tb\r\n", 6, &cfg, msg, sizeof msg), FR_ECONFIG);
    cr_assert(strstr(msg, "not allowed") == NULL, "tab and CR are fine: %s", msg);
}

/* libfyaml 0.7.12 reads some alias names as paths and overruns its buffer. */
Test(config, alias_names_are_plain)
{
    const char text[] = " - : */-";
    fr_config_t *cfg = NULL;
    char msg[256];
    cr_assert_eq(fr_config_parse("a.yaml", text, sizeof text - 1, &cfg, msg, sizeof msg),
                 FR_ECONFIG);
    cr_assert(strstr(msg, "a.yaml:1:6: alias name not allowed") == msg, "%s", msg);
    const char ok[] = "x: &base 1\ny: *base\n";
    cr_assert_eq(fr_config_parse("b.yaml", ok, sizeof ok - 1, &cfg, msg, sizeof msg), FR_ECONFIG);
    cr_assert(strstr(msg, "alias name") == NULL, "plain aliases are fine: %s", msg);
}

/* ------------------------------------------------------------------ */
/* defaults of fields, the kafka block's own keys, schema_registry      */

static const char kbase[] =
    "sources:\n  - name: s\n    timestamp: ts\n    fields:\n"
    "      - { name: id, type: string }\n"
    "      - { name: ch, type: string, default: web }\n"
    "      - { name: n, type: long, default: -7 }\n"
    "      - { name: ts, type: long }\n";

Test(kafka, field_defaults_dlq_topic_message_size_and_registry)
{
    char text[1024];
    snprintf(text, sizeof text,
             "%s    kafka: { brokers: 'b:9092', topic: tx, max_message_bytes: 64KiB, "
             "linger.ms: 5 }\nschema_registry: { url: 'http://r:8081', timeout_ms: 500 }\n",
             kbase);
    fr_config_t *cfg = parse_ok(text);
    const fr_source_spec_t *s = &cfg->sources[0];
    cr_assert(s->fields[1].has_default);
    cr_assert_eq(s->fields[1].def.type, FR_T_STRING);
    cr_assert_eq(s->fields[1].def.len, 3);
    cr_assert_eq(memcmp(s->fields[1].def.u.s, "web", 3), 0);
    cr_assert_eq(s->fields[2].def.type, FR_T_LONG);
    cr_assert_eq(s->fields[2].def.u.i, -7);
    cr_assert_not(s->fields[0].has_default);
    cr_assert_str_eq(s->kafka.dlq_topic, "tx.dlq");
    cr_assert_eq(s->kafka.max_message_bytes, 65536);
    cr_assert_eq(s->kafka.nprops, 1);
    cr_assert_str_eq(cfg->registry.url, "http://r:8081");
    cr_assert_eq(cfg->registry.timeout_ms, 500);
    fr_config_free(cfg);

    snprintf(text, sizeof text, "%s    kafka: { brokers: 'b:9092', dlq_topic: dead }\n", kbase);
    cfg = parse_ok(text);
    cr_assert_str_eq(cfg->sources[0].kafka.dlq_topic, "dead");
    cr_assert_eq(cfg->sources[0].kafka.max_message_bytes, 1 << 20);
    cr_assert_null(cfg->registry.url);
    fr_config_free(cfg);
}

Test(kafka, broken_defaults_sizes_and_registry_urls)
{
    static const char bad_default[] =
        "sources:\n  - name: s\n    timestamp: ts\n    fields:\n"
        "      - { name: n, type: long, default: abc }\n"
        "      - { name: ts, type: long }\n";
    expect_parse_error(bad_default, "5:41",
                       "default of field 'n' 'abc' is a string but field 'n' is a long");
    char text[1024];
    snprintf(text, sizeof text, "%s    kafka: { brokers: b, max_message_bytes: 1 }\n", kbase);
    expect_parse_error(text, "9:45", "max_message_bytes '1' is not a size from 64 bytes");
    snprintf(text, sizeof text, "%sschema_registry: { url: 'ftp://x' }\n", kbase);
    expect_parse_error(text, "9:25", "is not an http(s) URL");
}

/* ------------------------------------------------------------------ */
/* issue 8: what the outside probe found                               */

/* libfyaml 0.7.12 segfaulted (fy_indent_vacuum_internal) on this 83-byte
 * file found by the fuzzer; LeakSanitizer reported 2 KiB lost on the other. */
Test(probe, libfyaml_faults_are_refused_with_a_position)
{
    expect_error("crash_tab_indent.yaml", "1:71", "a tab before a block indicator after ':'");
    expect_error("leak_single_quotes.yaml", "1:1", "two escaped quotes in a row");
    /* the smallest forms of each */
    expect_parse_error("a:\t- b\n", "1:3", "expected spaces");
    expect_parse_error("? a\n: \t- b\n", "2:3", "expected spaces");
    expect_parse_error("x: 'a''''b'\n", "1:4", "two escaped quotes in a row");
    /* the scan does not tell comments and quotes apart: refused there too */
    expect_parse_error("# note:\t- x\n", "1:8", "expected spaces");
    expect_parse_error("a: \"b:\t- c\"\n", "1:7", "expected spaces");
    /* what stays allowed: tabs elsewhere, one escaped quote */
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    snprintf(text, sizeof text, "#\ta tab in a comment\nstore: { path: \"a:\tb\" }\n%s", src);
    fr_config_free(parse_ok(text));
    snprintf(text, sizeof text, "store:\t{ path: \"a:\t-b\" }\n%s", src);
    fr_config_free(parse_ok(text));
    snprintf(text, sizeof text, "store: { path: 'it''s' }\n%s", src);
    fr_config_t *cfg = parse_ok(text);
    cr_assert_str_eq(cfg->store.path, "it's");
    fr_config_free(cfg);
}

Test(probe, a_second_yaml_document_is_refused)
{
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    snprintf(text, sizeof text, "%s---\nstore: { path: /elsewhere }\n", src);
    expect_parse_error(text, "3:1", "a second YAML document");
    snprintf(text, sizeof text, "%s---\n", src);
    expect_parse_error(text, "1:1", "second");
    snprintf(text, sizeof text, "---\n%s...\n", src);
    fr_config_free(parse_ok(text)); /* one document, marked out */
}

Test(probe, listen_must_be_an_address_the_server_can_bind)
{
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    snprintf(text, sizeof text, "server: { listen: \"example.com:8080\" }\n%s", src);
    expect_parse_error(text, "1:19", "listen host 'example.com' is not an IP address");
    static const char *const good[] = {"127.0.0.1:8080", "localhost:8080", "[::1]:8080",
                                       "0.0.0.0:0", ":8080"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(text, sizeof text, "server: { listen: \"%s\" }\n%s", good[i], src);
        fr_config_free(parse_ok(text));
    }
}

Test(probe, redis_url_is_checked_as_the_store_reads_it)
{
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    snprintf(text, sizeof text, "store: { redis: { url: \"http://x:1/0\" } }\n%s", src);
    expect_parse_error(text, "1:24", "expected redis://");
    snprintf(text, sizeof text, "store: { redis: { url: \"rediss://x\" } }\n%s", src);
    expect_parse_error(text, "1:24", "TLS");
    snprintf(text, sizeof text, "store: { redis: { url: \"redis://x:99999\" } }\n%s", src);
    expect_parse_error(text, "1:24", "port");
    snprintf(text, sizeof text, "store: { redis: { url: \"redis://:s%%2Fc@x/2\", cluster: true } }\n%s",
             src);
    expect_parse_error(text, "1:24", "cluster");
    cr_assert_null(strstr(err, "s/c"), "the password in a message: %s", err);
    snprintf(text, sizeof text, "store: { redis: { url: \"redis://u:p@[::1]:7000/3\" } }\n%s", src);
    fr_config_t *cfg = parse_ok(text);
    cr_assert_str_eq(cfg->store.redis_url, "redis://u:p@[::1]:7000/3");
    fr_config_free(cfg);
}

Test(probe, huge_durations_are_named_too_large)
{
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    snprintf(text, sizeof text, "server: { idempotency_ttl: 9999999999999999d }\n%s", src);
    expect_parse_error(text, "1:28", "idempotency_ttl '9999999999999999d' is too large");
    snprintf(text, sizeof text, "server: { idempotency_ttl: 99999999999999999999ms }\n%s", src);
    expect_parse_error(text, "1:28", "is too large");
    snprintf(text, sizeof text, "server: { idempotency_ttl: 12x }\n%s", src);
    expect_parse_error(text, "1:28", "expected a number followed by ms, s, m, h or d");
    snprintf(text, sizeof text,
             "%sfeature_views: [ { name: v, source: s, entity: ts, windows: [999999999999999999d],"
             " aggregations: [ { fn: count } ] } ]\n",
             src);
    expect_parse_error(text, "2:62", "window '999999999999999999d' is too large");
}

Test(probe, connection_caps)
{
    static const char src[] =
        "sources: [ { name: s, timestamp: ts, fields: [ { name: ts, type: long } ] } ]\n";
    char text[512];
    fr_config_t *cfg = parse_ok(src);
    cr_assert_eq(cfg->server.max_connections, 10000);
    cr_assert_eq(cfg->server.max_connections_per_client, 1000);
    fr_config_free(cfg);
    snprintf(text, sizeof text,
             "server: { max_connections: 50, max_connections_per_client: 7 }\n%s", src);
    cfg = parse_ok(text);
    cr_assert_eq(cfg->server.max_connections, 50);
    cr_assert_eq(cfg->server.max_connections_per_client, 7);
    fr_config_free(cfg);
    snprintf(text, sizeof text, "server: { max_connections_per_client: 0 }\n%s", src);
    expect_parse_error(text, "1:39", "max_connections_per_client 0 is out of range");
    snprintf(text, sizeof text, "server: { threads: 8, max_connections: 4 }\n%s", src);
    expect_parse_error(text, "1:40", "max_connections 4 is below threads 8");
}

/* A file that ends the parsing child by a signal is reported, not fatal;
 * one that loads, or fails, answers as fr_config_load would. */
Test(probe, isolated_check_answers_as_the_load)
{
    cr_assert_eq(fr_config_check_isolated(FILES "good_full.yaml", err, sizeof err), 0, "%s", err);
    cr_assert_eq(fr_config_check_isolated(FILES "crash_tab_indent.yaml", err, sizeof err),
                 FR_ECONFIG);
    cr_assert(strstr(err, "crash_tab_indent.yaml:1:71: a tab before"), "%s", err);
    cr_assert_eq(fr_config_check_isolated(FILES "no_such_file.yaml", err, sizeof err), FR_ECONFIG);
    cr_assert(strstr(err, "cannot open"), "%s", err);
}
