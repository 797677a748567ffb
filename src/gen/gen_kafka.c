/*
 * gen_kafka.c - the Kafka sink of `freshet generate` (see gen_int.h).
 *
 * Every event is typed with fr_event_from_json, as ingest would type it:
 * that gives the entity key for every message, the values the Avro
 * encoder needs, and an early, clear error when a -c source does not fit
 * the generator's events.  The JSON value is the generator's text as is,
 * so `--format json` to Kafka carries exactly the bytes `--to -` prints.
 *
 * The producer is idempotent (no duplicates or reordering within a
 * partition on retries), partitions by murmur2 of the key like Kafka's
 * Java clients (so every card's events stay in one partition, in order),
 * and batches for throughput: linger.ms 5, up to 10000 messages or 1 MB a
 * batch.  Properties of the source's kafka: block (security, compression)
 * are applied over these defaults, leniently (consumer-only keys are
 * skipped); bootstrap.servers comes from the URL and idempotence stays on.
 * librdkafka's log is silenced: broker errors reach the user through the
 * error callback (the last one is kept and named when deliveries fail).
 * Each message carries its stream as librdkafka's per-message opaque, so
 * delivery reports count acknowledgements per topic.
 */
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/avro.h"
#include "event/event.h"
#include "event/registry.h"
#include "gen/gen_int.h"
#include "source/kafka.h"

#define XSTR(x) STR(x)
#define STR(x) #x
#define MAX_VALUE (1 << 20) /* largest message value (events are far smaller) */
#define POLL_EVERY 256      /* sends between two servings of delivery reports */

/* One generated source: its topic and the configuration's source typing it. */
typedef struct stream {
    const fr_source_spec_t *src; /* in cfg */
    int key_field;               /* entity field index, or -1: no key */
    char topic[FR_GEN_KAFKA_MAX_TOPIC + 1];
    rd_kafka_topic_t *rkt;
    fr_value_t *vals;
    uint32_t schema_id;
    char subject[FR_GEN_KAFKA_MAX_TOPIC + 8];
    uint64_t acked;
} stream_t;

struct fr_gen_kafka {
    fr_config_t *cfg;
    fr_format_t format;
    char brokers[FR_GEN_KAFKA_MAX_BROKERS + 1];
    const volatile sig_atomic_t *stop;
    stream_t streams[FR_GEN_MAX_SOURCES];
    size_t nstreams;
    /* Avro */
    char registry[512];
    fr_buf_t value;
    /* producer */
    rd_kafka_t *rk;
    uint64_t queued, acked, failed, sends;
    char first_failure[512]; /* empty until a delivery fails */
    char last_error[256];    /* the last broker error reported */
    int fatal;
};

/* ---- the URL ---------------------------------------------------------------- */

static int bad_url(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
    return FR_EINVAL;
}

/* One HOST:PORT of n bytes at p. */
static int broker_ok(const char *p, size_t n, char *why, size_t whylen)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ':')
            colon = p + i;
    if (!colon || colon == p)
        return bad_url(why, whylen, "each broker is HOST:PORT");
    size_t hl = (size_t)(colon - p);
    if (p[0] == '[') {
        if (hl < 3 || p[hl - 1] != ']')
            return bad_url(why, whylen, "an IPv6 broker is [ADDRESS]:PORT");
    } else {
        for (size_t i = 0; i < hl; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                return bad_url(why, whylen, "a broker host has a character hosts do not");
        }
    }
    const char *d = colon + 1, *end = p + n;
    unsigned long port = 0;
    if (d == end || end - d > 5)
        return bad_url(why, whylen, "a broker port is 1 to 65535");
    for (; d < end; d++) {
        if (*d < '0' || *d > '9')
            return bad_url(why, whylen, "a broker port is 1 to 65535");
        port = port * 10 + (unsigned long)(*d - '0');
    }
    if (port < 1 || port > 65535)
        return bad_url(why, whylen, "a broker port is 1 to 65535");
    return 0;
}

/* A topic name, or with pattern, a template with at most one "%s". */
static int topic_ok(const char *t, int pattern, char *why, size_t whylen)
{
    size_t tl = strlen(t);
    if (tl == 0)
        return bad_url(why, whylen, "no topic after the brokers");
    if (tl > FR_GEN_KAFKA_MAX_TOPIC)
        return bad_url(why, whylen, "the topic is longer than 249 characters");
    if (!strcmp(t, ".") || !strcmp(t, ".."))
        return bad_url(why, whylen, "the topic cannot be '.' or '..'");
    int holes = 0;
    for (size_t i = 0; i < tl; i++) {
        char c = t[i];
        if (pattern && c == '%' && t[i + 1] == 's' && !holes++) {
            i++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return bad_url(why, whylen,
                           pattern ? "a topic name is made of A-Z a-z 0-9 . _ - (and one %s "
                                     "for the source's name)"
                                   : "a topic name is made of A-Z a-z 0-9 . _ -");
    }
    return 0;
}

int fr_gen_kafka_url_parse(const char *s, fr_gen_kafka_url_t *u, char *why, size_t whylen)
{
    static const char scheme[] = "kafka://";
    if (strncmp(s, scheme, sizeof scheme - 1) != 0)
        return bad_url(why, whylen, "not a kafka:// URL");
    const char *b = s + sizeof scheme - 1, *slash = strchr(b, '/');
    const char *bend = slash ? slash : b + strlen(b);
    size_t bl = (size_t)(bend - b);
    if (bl == 0)
        return bad_url(why, whylen, "no broker");
    if (bl > FR_GEN_KAFKA_MAX_BROKERS)
        return bad_url(why, whylen, "the broker list is too long");
    for (const char *p = b; p < bend;) {
        const char *comma = memchr(p, ',', (size_t)(bend - p));
        const char *e = comma ? comma : bend;
        int rc = broker_ok(p, (size_t)(e - p), why, whylen);
        if (rc)
            return rc;
        p = comma ? comma + 1 : bend;
        if (comma && p == bend)
            return bad_url(why, whylen, "an empty broker after ','");
    }
    const char *t = slash ? slash + 1 : bend;
    if (*t) {
        int rc = topic_ok(t, 1, why, whylen);
        if (rc)
            return rc;
    }
    memcpy(u->brokers, b, bl);
    u->brokers[bl] = '\0';
    memcpy(u->topic, t, strlen(t) + 1);
    return 0;
}

int fr_gen_kafka_url_single(const fr_gen_kafka_url_t *u)
{
    return u->topic[0] && !strstr(u->topic, "%s");
}

int fr_gen_kafka_topic(const fr_gen_kafka_url_t *u, const char *source, char *topic, size_t len,
                       char *why, size_t whylen)
{
    const char *hole = strstr(u->topic, "%s");
    int n;
    if (!u->topic[0])
        n = snprintf(topic, len, "%s", source);
    else if (hole)
        n = snprintf(topic, len, "%.*s%s%s", (int)(hole - u->topic), u->topic, source, hole + 2);
    else
        n = snprintf(topic, len, "%s", u->topic);
    if (n < 0 || (size_t)n >= len)
        return bad_url(why, whylen, "the topic is longer than 249 characters");
    return topic_ok(topic, 0, why, whylen);
}

/* ---- librdkafka callbacks (on the caller's thread, from poll/flush) ------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    fr_gen_kafka_t *k = opaque;
    if (!m->err) {
        k->acked++;
        if (m->_private)
            ((stream_t *)m->_private)->acked++;
        return;
    }
    if (!k->failed++)
        snprintf(k->first_failure, sizeof k->first_failure, "%s%s%s%s", rd_kafka_err2str(m->err),
                 k->last_error[0] ? " (last broker error: " : "", k->last_error,
                 k->last_error[0] ? ")" : "");
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    fr_gen_kafka_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[200];
        rd_kafka_fatal_error(rk, why, sizeof why);
        snprintf(k->last_error, sizeof k->last_error, "fatal: %s", why);
        k->fatal = 1;
        return;
    }
    snprintf(k->last_error, sizeof k->last_error, "%s", reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf; /* errors arrive through on_error */
}

/* ---- opening ------------------------------------------------------------------- */

static int load_sources(fr_gen_kafka_t *k, const fr_gen_kafka_opts_t *o, char *err, size_t errlen)
{
    size_t ylen;
    const char *yaml = fr_gen_builtin_config(o->kind, &ylen);
    int rc = o->config
                 ? fr_config_load(o->config, &k->cfg, err, errlen)
                 : fr_config_parse("(built-in sources)", yaml, ylen, &k->cfg, err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < o->nstreams; i++) {
        stream_t *st = &k->streams[i];
        int s = fr_config_source_index(k->cfg, o->streams[i].source);
        if (s < 0) {
            fr_buf_t names;
            fr_buf_init(&names, 1024);
            for (size_t j = 0; j < k->cfg->nsources; j++)
                fr_buf_printf(&names, "%s%s", j ? ", " : "", k->cfg->sources[j].name);
            snprintf(err, errlen, "%s has no source '%s' (sources: %s)",
                     o->config ? o->config : "the built-in configuration", o->streams[i].source,
                     names.p ? names.p : "none");
            fr_buf_destroy(&names);
            return FR_EINVAL;
        }
        st->src = &k->cfg->sources[s];
        st->key_field = -1;
        for (size_t v = 0; v < k->cfg->nviews; v++) {
            if (k->cfg->views[v].source == s) {
                st->key_field = k->cfg->views[v].entity;
                break;
            }
        }
        snprintf(st->topic, sizeof st->topic, "%s", o->streams[i].topic);
        st->vals = calloc(st->src->nfields ? st->src->nfields : 1, sizeof *st->vals);
        if (!st->vals) {
            snprintf(err, errlen, "out of memory");
            return FR_ENOMEM;
        }
        k->nstreams = i + 1;
    }
    return 0;
}

static int register_schema(fr_gen_kafka_t *k, fr_registry_t *reg, stream_t *st, char *err,
                           size_t errlen)
{
    fr_buf_t schema;
    fr_buf_init(&schema, FR_AVRO_MAX_SCHEMA_BYTES);
    char why[1024] = "";
    snprintf(st->subject, sizeof st->subject, "%s-value", st->topic);
    int rc = fr_avro_schema_json(st->src, &schema);
    if (rc) {
        snprintf(err, errlen, "source '%s' cannot be written as Avro: %s", st->src->name,
                 rc == FR_EINVAL ? "a field name is not a valid Avro name" : fr_strerror(rc));
        goto out;
    }
    rc = fr_registry_register(reg, st->subject, schema.p, schema.len, &st->schema_id, why,
                              sizeof why);
    if (rc == FR_EUNAVAIL)
        snprintf(err, errlen, "registering the schema of source '%s': %s", st->src->name,
                 why[0] ? why : "the schema registry is unavailable");
    else if (rc)
        snprintf(err, errlen,
                 "schema registry (%s) refused the schema of source '%s' under "
                 "subject '%s': %s: %s",
                 k->registry, st->src->name, st->subject,
                 rc == FR_ECONFLICT ? "incompatible"
                 : rc == FR_EPARSE  ? "invalid"
                                    : fr_strerror(rc),
                 why[0] ? why : fr_strerror(rc));
out:
    fr_buf_destroy(&schema);
    return rc;
}

static int register_schemas(fr_gen_kafka_t *k, const fr_gen_kafka_opts_t *o, char *err,
                            size_t errlen)
{
    fr_registry_t *reg = NULL;
    char why[1024] = "";
    /* --registry stands in for the configuration's schema_registry.url */
    fr_config_t rcfg = *k->cfg;
    if (o->registry)
        rcfg.registry.url = (char *)o->registry;
    int rc = fr_registry_open(&rcfg, &reg, why, sizeof why);
    if (rc) {
        snprintf(err, errlen, "schema registry: %s", why[0] ? why : fr_strerror(rc));
        return rc;
    }
    snprintf(k->registry, sizeof k->registry, "%s",
             fr_registry_url(reg) ? fr_registry_url(reg) : "embedded");
    for (size_t i = 0; !rc && i < k->nstreams; i++)
        rc = register_schema(k, reg, &k->streams[i], err, errlen);
    fr_registry_close(reg);
    return rc;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                    size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, key, value, e, sizeof e) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "kafka %s: %s", key, e);
    return FR_ECONFIG;
}

/* The topics' metadata: a cluster that is not there fails now, not after
 * the delivery timeout. */
static int check_topic(fr_gen_kafka_t *k, stream_t *st, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = rd_kafka_metadata(k->rk, 0, st->rkt, &md, FR_GEN_KAFKA_CONNECT_MS);
    if (me) {
        rd_kafka_poll(k->rk, 0); /* collects the broker errors into last_error */
        snprintf(err, errlen, "cannot reach Kafka at %s within %d s: %s%s%s%s", k->brokers,
                 FR_GEN_KAFKA_CONNECT_MS / 1000, rd_kafka_err2str(me), k->last_error[0] ? " (" : "",
                 k->last_error, k->last_error[0] ? ")" : "");
        return FR_EUNAVAIL;
    }
    int rc = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        snprintf(err, errlen, "Kafka at %s has no topic '%s'", k->brokers, st->topic);
        rc = FR_EUNAVAIL;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int open_producer(fr_gen_kafka_t *k, char *err, size_t errlen)
{
    static const char *const defaults[][2] = {
        {"client.id", "freshet-generate"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"queue.buffering.max.messages", XSTR(FR_GEN_KAFKA_QUEUE)},
        {"queue.buffering.max.kbytes", "1048576"},
        {"message.timeout.ms", XSTR(FR_GEN_KAFKA_DELIVERY_MS)},
        {"partitioner", "murmur2_random"},
        {"log_level", "3"},
    };
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        snprintf(err, errlen, "out of memory");
        return FR_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof defaults / sizeof defaults[0]; i++)
        rc = conf_set(conf, defaults[i][0], defaults[i][1], err, errlen);
    /* the first stream's source properties (security, compression) apply */
    if (!rc && k->streams[0].src->kafka.enabled)
        rc = fr_kafka_conf_apply(&k->streams[0].src->kafka, conf, 1, err, errlen);
    if (!rc)
        rc = conf_set(conf, "bootstrap.servers", k->brokers, err, errlen);
    if (!rc)
        rc = conf_set(conf, "enable.idempotence", "true", err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", e);
        return FR_ECONFIG;
    }
    for (size_t i = 0; i < k->nstreams; i++) {
        stream_t *st = &k->streams[i];
        st->rkt = rd_kafka_topic_new(k->rk, st->topic, NULL);
        if (!st->rkt) {
            snprintf(err, errlen, "kafka topic %s: %s", st->topic,
                     rd_kafka_err2str(rd_kafka_last_error()));
            return FR_EINVAL;
        }
        rc = check_topic(k, st, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int fr_gen_kafka_open(const fr_gen_kafka_opts_t *o, fr_gen_kafka_t **out, char *err, size_t errlen)
{
    *out = NULL;
    fr_gen_kafka_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return FR_ENOMEM;
    }
    k->format = o->format;
    k->stop = o->stop;
    fr_buf_init(&k->value, MAX_VALUE);
    int rc = 0;
    if (o->nstreams < 1 || o->nstreams > FR_GEN_MAX_SOURCES || !o->brokers ||
        strlen(o->brokers) > FR_GEN_KAFKA_MAX_BROKERS) {
        snprintf(err, errlen, "no topic or no brokers");
        rc = FR_EINVAL;
        goto out;
    }
    snprintf(k->brokers, sizeof k->brokers, "%s", o->brokers);
    if (o->format == FR_FORMAT_AVRO && !o->config && !o->registry) {
        snprintf(err, errlen, "Avro needs a schema registry: --registry URL or -c FILE");
        rc = FR_EINVAL;
        goto out;
    }
    rc = load_sources(k, o, err, errlen);
    if (!rc && o->format == FR_FORMAT_AVRO)
        rc = register_schemas(k, o, err, errlen);
    if (!rc)
        rc = open_producer(k, err, errlen);
out:
    if (rc) {
        fr_gen_kafka_close(k);
        return rc;
    }
    *out = k;
    return 0;
}

/* ---- sending ------------------------------------------------------------------- */

int fr_gen_kafka_send(fr_gen_kafka_t *k, size_t stream, const char *event, size_t len, char *err,
                      size_t errlen)
{
    FR_ASSERT(stream < k->nstreams);
    stream_t *st = &k->streams[stream];
    if (k->fatal) {
        snprintf(err, errlen, "kafka producer: %s", k->last_error);
        return FR_EUNAVAIL;
    }
    json_error_t je;
    json_t *obj = json_loadb(event, len, 0, &je);
    if (!obj) {
        snprintf(err, errlen, "event %" PRIu64 " is not JSON: %s", k->queued + 1, je.text);
        return FR_EPARSE;
    }
    fr_reject_t rej = {0};
    int64_t ts;
    int rc = fr_event_from_json(st->src, obj, st->vals, &ts, &rej);
    if (rc) {
        snprintf(err, errlen, "the events do not fit source '%s': %s: %s", st->src->name,
                 rej.reason ? rej.reason : fr_strerror(rc), rej.detail);
        goto out;
    }
    const char *key = NULL;
    char tmp[24];
    int klen = 0;
    if (st->key_field >= 0) {
        klen = fr_entity_key(&st->vals[st->key_field], tmp, &key);
        if (klen <= 0) {
            snprintf(err, errlen, "an event has no entity key in field '%s'",
                     st->src->fields[st->key_field].name);
            rc = FR_EMISSING;
            goto out;
        }
    }
    const void *value = event;
    size_t vlen = len;
    if (k->format == FR_FORMAT_AVRO) {
        fr_buf_reset(&k->value);
        rc = fr_avro_frame(st->schema_id, &k->value);
        if (!rc)
            rc = fr_avro_encode(st->src, st->vals, &k->value);
        if (rc) {
            snprintf(err, errlen, "encoding an event of source '%s' as Avro: %s", st->src->name,
                     fr_strerror(rc));
            goto out;
        }
        value = k->value.p;
        vlen = k->value.len;
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->rk, RD_KAFKA_V_RKT(st->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)value, vlen),
            RD_KAFKA_V_KEY((void *)(uintptr_t)key, (size_t)klen), RD_KAFKA_V_OPAQUE(st),
            RD_KAFKA_V_END);
        if (!e)
            break;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !k->fatal && !(k->stop && *k->stop >= 2)) {
            rd_kafka_poll(k->rk, 10); /* room comes as deliveries complete or time out */
            continue;
        }
        snprintf(err, errlen, "kafka produce to %s: %s", st->topic,
                 k->fatal                             ? k->last_error
                 : e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? "interrupted while the queue was full"
                                                      : rd_kafka_err2str(e));
        rc = FR_EUNAVAIL;
        goto out;
    }
    k->queued++;
    if (++k->sends % POLL_EVERY == 0)
        rd_kafka_poll(k->rk, 0);
out:
    json_decref(obj);
    return rc;
}

void fr_gen_kafka_poll(fr_gen_kafka_t *k, int timeout_ms)
{
    rd_kafka_poll(k->rk, timeout_ms);
}

int fr_gen_kafka_flush(fr_gen_kafka_t *k, int timeout_ms)
{
    return rd_kafka_flush(k->rk, timeout_ms) ? FR_EUNAVAIL : 0;
}

void fr_gen_kafka_purge(fr_gen_kafka_t *k)
{
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE);
}

void fr_gen_kafka_stats(const fr_gen_kafka_t *k, fr_gen_kafka_stats_t *st)
{
    memset(st, 0, sizeof *st);
    st->queued = k->queued;
    st->acked = k->acked;
    st->failed = k->failed;
    st->nstreams = k->nstreams;
    for (size_t i = 0; i < k->nstreams; i++) {
        const stream_t *s = &k->streams[i];
        st->streams[i].topic = s->topic;
        st->streams[i].source = s->src->name;
        st->streams[i].source_format = s->src->format;
        st->streams[i].acked = s->acked;
        if (k->format == FR_FORMAT_AVRO) {
            st->streams[i].schema_id = s->schema_id;
            st->streams[i].subject = s->subject;
        }
    }
    if (k->format == FR_FORMAT_AVRO)
        st->registry = k->registry;
    st->error = k->first_failure[0] ? k->first_failure : NULL;
}

void fr_gen_kafka_close(fr_gen_kafka_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < FR_GEN_MAX_SOURCES; i++)
        if (k->streams[i].rkt)
            rd_kafka_topic_destroy(k->streams[i].rkt);
    if (k->rk) {
        /* flushed before, unless giving up: nothing is left to wait for */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(k->rk);
    }
    fr_config_free(k->cfg);
    for (size_t i = 0; i < FR_GEN_MAX_SOURCES; i++)
        free(k->streams[i].vals);
    fr_buf_destroy(&k->value);
    free(k);
}
