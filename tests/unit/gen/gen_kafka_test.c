/*
 * Unit tests of the Kafka sink of `freshet generate` (src/gen/gen_kafka.c):
 * the kafka:// URL parser and topic names per source, the built-in sources
 * (gen.c) against the example configurations they copy, and the errors
 * fr_gen_kafka_open reports before any cluster is contacted.  (End to end against a mock cluster:
 * gen_cmd_test.c and tests/integration/test_generate_kafka.py.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen_kafka.c" /* statics */

static void url_ok(const char *s, const char *brokers, const char *topic)
{
    fr_gen_kafka_url_t u;
    char why[200] = "";
    cr_assert_eq(fr_gen_kafka_url_parse(s, &u, why, sizeof why), 0, "%s: %s", s, why);
    cr_assert_str_eq(u.brokers, brokers, "%s", s);
    cr_assert_str_eq(u.topic, topic, "%s", s);
}

static void url_bad(const char *s, const char *why_has)
{
    fr_gen_kafka_url_t u;
    char why[200] = "";
    cr_assert_eq(fr_gen_kafka_url_parse(s, &u, why, sizeof why), FR_EINVAL, "%s accepted", s);
    cr_assert(strstr(why, why_has), "%s: '%s' lacks '%s'", s, why, why_has);
}

Test(gen_kafka, url_parse_accepts)
{
    url_ok("kafka://127.0.0.1:9092/tx", "127.0.0.1:9092", "tx");
    url_ok("kafka://a:1,b.example.com:65535,c_d-e:9/my.topic_1-X", "a:1,b.example.com:65535,c_d-e:9",
           "my.topic_1-X");
    url_ok("kafka://[::1]:9092/t", "[::1]:9092", "t");
    char big[300] = "kafka://h:1/";
    memset(big + 12, 'x', 249);
    big[12 + 249] = '\0';
    fr_gen_kafka_url_t u;
    cr_assert_eq(fr_gen_kafka_url_parse(big, &u, NULL, 0), 0);
    cr_assert_eq(strlen(u.topic), 249);
    cr_assert(fr_gen_kafka_url_single(&u));
    /* a topic per source */
    url_ok("kafka://h:1", "h:1", "");
    url_ok("kafka://h:1,k:2/", "h:1,k:2", "");
    url_ok("kafka://h:1/demo-%s", "h:1", "demo-%s");
    url_ok("kafka://h:1/%s.v1", "h:1", "%s.v1");
}

static void topic_of(const char *url, const char *source, const char *want)
{
    fr_gen_kafka_url_t u;
    char why[200] = "", topic[FR_GEN_KAFKA_MAX_TOPIC + 1];
    cr_assert_eq(fr_gen_kafka_url_parse(url, &u, why, sizeof why), 0, "%s: %s", url, why);
    int rc = fr_gen_kafka_topic(&u, source, topic, sizeof topic, why, sizeof why);
    if (want) {
        cr_assert_eq(rc, 0, "%s %s: %s", url, source, why);
        cr_assert_str_eq(topic, want);
        cr_assert_eq(fr_gen_kafka_url_single(&u), strcmp(u.topic, "") && !strstr(u.topic, "%s"));
    } else {
        cr_assert_eq(rc, FR_EINVAL, "%s %s gave %s", url, source, topic);
        cr_assert_neq(why[0], '\0');
    }
}

Test(gen_kafka, topics_per_source)
{
    topic_of("kafka://h:1", "transactions", "transactions");
    topic_of("kafka://h:1/", "chargebacks", "chargebacks");
    topic_of("kafka://h:1/demo-%s", "chargebacks", "demo-chargebacks");
    topic_of("kafka://h:1/%s.v1", "clicks", "clicks.v1");
    topic_of("kafka://h:1/tx", "chargebacks", "tx");
    /* a source name that makes no topic */
    topic_of("kafka://h:1/x-%s", "a b", NULL);
    char big[300] = "kafka://h:1/";
    memset(big + 12, 'x', 240);
    strcpy(big + 252, "-%s");
    topic_of(big, "transactions", NULL);
}

Test(gen_kafka, url_parse_refuses)
{
    url_bad("http://h:1/t", "not a kafka://");
    url_bad("kafka:///t", "no broker");
    url_bad("kafka://", "no broker");
    url_bad("kafka://h/t", "HOST:PORT");
    url_bad("kafka://:9/t", "HOST:PORT");
    url_bad("kafka://h:0/t", "port");
    url_bad("kafka://h:65536/t", "port");
    url_bad("kafka://h:123456/t", "port");
    url_bad("kafka://h:9x/t", "port");
    url_bad("kafka://h:/t", "port");
    url_bad("kafka://h:9,/t", "empty broker");
    url_bad("kafka://h:9,,k:1/t", "HOST:PORT");
    url_bad("kafka://h h:9/t", "host");
    url_bad("kafka://[::1:9/t", "IPv6");
    url_bad("kafka://h:9/a b", "topic name");
    url_bad("kafka://h:9/a/b", "topic name");
    url_bad("kafka://h:9/..", "'.' or '..'");
    url_bad("kafka://h:9/a%sb%s", "one %s");
    url_bad("kafka://h:9/a%d", "topic name");
    url_bad("kafka://h:9/%", "topic name");
    char big[300] = "kafka://h:1/";
    memset(big + 12, 'x', 250);
    big[12 + 250] = '\0';
    url_bad(big, "longer than 249");
}

static const fr_source_spec_t *source_of(const fr_config_t *cfg, const char *name)
{
    int s = fr_config_source_index(cfg, name);
    cr_assert(s >= 0, "no source %s", name);
    return &cfg->sources[s];
}

static int first_entity(const fr_config_t *cfg, const fr_source_spec_t *src)
{
    for (size_t v = 0; v < cfg->nviews; v++)
        if (&cfg->sources[cfg->views[v].source] == src)
            return cfg->views[v].entity;
    return -1;
}

/* The built-in sources of a kind equal the example's: fields, types,
 * Avro schemas (so either registers as the same id), and message keys. */
static void builtin_is(fr_gen_kind_t kind, const char *example)
{
    char err[512] = "";
    fr_config_t *ex = NULL, *in = NULL;
    size_t len;
    const char *yaml = fr_gen_builtin_config(kind, &len);
    cr_assert_eq(strlen(yaml), len);
    cr_assert_eq(fr_config_load(example, &ex, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fr_config_parse("builtin", yaml, len, &in, err, sizeof err), 0, "%s", err);
    cr_assert_eq(in->nsources, (size_t)fr_gen_nsources(kind));
    for (int k = 0; k < fr_gen_nsources(kind); k++) {
        const char *name = fr_gen_source_name(kind, k);
        const fr_source_spec_t *a = source_of(ex, name), *b = source_of(in, name);
        cr_assert_eq(a->format, b->format);
        cr_assert_eq(a->ts_field, b->ts_field);
        cr_assert_eq(a->ts_unit_ms, b->ts_unit_ms);
        cr_assert_eq(a->nfields, b->nfields, "%s", name);
        for (size_t i = 0; i < a->nfields; i++) {
            cr_assert_str_eq(a->fields[i].name, b->fields[i].name);
            cr_assert_eq(a->fields[i].type, b->fields[i].type, "%s", a->fields[i].name);
            cr_assert_eq(a->fields[i].optional, b->fields[i].optional, "%s", a->fields[i].name);
            cr_assert_eq(a->fields[i].has_default, b->fields[i].has_default, "%s",
                         a->fields[i].name);
        }
        fr_buf_t sa, sb;
        fr_buf_init(&sa, FR_AVRO_MAX_SCHEMA_BYTES);
        fr_buf_init(&sb, FR_AVRO_MAX_SCHEMA_BYTES);
        cr_assert_eq(fr_avro_schema_json(a, &sa), 0);
        cr_assert_eq(fr_avro_schema_json(b, &sb), 0);
        cr_assert_str_eq(sa.p, sb.p);
        fr_buf_destroy(&sa);
        fr_buf_destroy(&sb);
        /* keyed by the same entity (or neither keyed) */
        int ea = first_entity(ex, a), eb = first_entity(in, b);
        cr_assert_eq(ea < 0, eb < 0, "%s", name);
        if (ea >= 0)
            cr_assert_str_eq(a->fields[ea].name, b->fields[eb].name);
    }
    fr_config_free(ex);
    fr_config_free(in);
}

Test(gen_kafka, builtin_sources_are_the_examples)
{
    builtin_is(FR_GEN_FRAUD, "examples/fraud/freshet.yaml");
    builtin_is(FR_GEN_CLICKS, "examples/personalization/freshet.yaml");
    cr_assert_str_eq(fr_gen_source_name(FR_GEN_FRAUD, 0), "transactions");
    cr_assert_str_eq(fr_gen_source_name(FR_GEN_FRAUD, 1), "chargebacks");
}

static int open_err(fr_gen_kafka_opts_t *o, char *err, size_t errlen)
{
    fr_gen_kafka_t *k = (fr_gen_kafka_t *)1;
    err[0] = '\0';
    int rc = fr_gen_kafka_open(o, &k, err, errlen);
    cr_assert_null(k);
    cr_assert(rc != 0);
    cr_assert_neq(err[0], '\0');
    return rc;
}

Test(gen_kafka, open_errors_before_any_cluster)
{
    char err[1024];
    fr_gen_kafka_opts_t o = {.brokers = "127.0.0.1:1",
                             .streams = {{"t", "transactions"}},
                             .nstreams = 1,
                             .format = FR_FORMAT_AVRO};
    /* Avro without a registry */
    cr_assert_eq(open_err(&o, err, sizeof err), FR_EINVAL);
    cr_assert(strstr(err, "registry"), "%s", err);
    /* no stream */
    fr_gen_kafka_opts_t none = {.brokers = "127.0.0.1:1", .format = FR_FORMAT_JSON};
    cr_assert_eq(open_err(&none, err, sizeof err), FR_EINVAL);
    /* an unreadable configuration */
    fr_gen_kafka_opts_t nocfg = {.brokers = "127.0.0.1:1",
                                 .streams = {{"t", "transactions"}},
                                 .nstreams = 1,
                                 .config = "/nonexistent/x.yaml"};
    cr_assert(open_err(&nocfg, err, sizeof err) < 0);
    cr_assert(strstr(err, "/nonexistent/x.yaml"), "%s", err);
    /* no such source, in a file or built in */
    fr_gen_kafka_opts_t nosrc = {.brokers = "127.0.0.1:1",
                                 .streams = {{"t", "transactions"}, {"o", "orders"}},
                                 .nstreams = 2,
                                 .config = "examples/fraud/freshet.yaml"};
    cr_assert_eq(open_err(&nosrc, err, sizeof err), FR_EINVAL);
    cr_assert(strstr(err, "no source 'orders'") && strstr(err, "transactions, chargebacks"), "%s",
              err);
    nosrc.config = NULL;
    nosrc.kind = FR_GEN_CLICKS;
    cr_assert_eq(open_err(&nosrc, err, sizeof err), FR_EINVAL);
    cr_assert(strstr(err, "no source 'transactions'") && strstr(err, "clicks"), "%s", err);
    /* a registry nobody answers at (port 1 on loopback refuses at once) */
    o.registry = "http://127.0.0.1:1";
    cr_assert_eq(open_err(&o, err, sizeof err), FR_EUNAVAIL);
    cr_assert(strstr(err, "127.0.0.1:1"), "%s", err);
}
