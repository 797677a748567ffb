/*
 * kafka_dlq.c - listing and replaying a Kafka source's dead letters.
 *
 * A dead letter sits in partition 0 of the source's dead-letter topic with
 * its original payload and key, and the source topic, partition and offset
 * in headers (kafka.c).  Replaying re-produces it to the same partition of
 * the source topic with a header naming its dead-letter offset d.  The
 * processor owning that partition keeps, with the partition's position,
 * the next dead-letter offset not yet replayed; it applies a replay of d
 * only if d is at or past it, then moves it past d (engine.c).  A replay
 * tool that dies half way and is run again therefore re-feeds what may
 * already be on its way, and the processor applies each dead letter once.
 * The tool itself skips what the stored positions say is applied.
 * Events refused by HTTP ingest never reached the topic (partition header
 * -1): they are listed, with a null partition, but not replayed.
 *
 * These are command-line tools: librdkafka's own log lines go to the debug
 * log (freshet -v), and an unreachable cluster is one error naming the
 * brokers, after METADATA_TIMEOUT_MS.  A payload that is not UTF-8 text
 * (binary Avro) is listed as base64.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/utf8.h"
#include "source/kafka.h"

#define MAX_PARTS 65536
#define METADATA_TIMEOUT_MS 5000

typedef struct {
    const fr_config_t *cfg;
    const fr_source_spec_t *spec;
    int src;
    rd_kafka_t *cons;
    int32_t nparts;     /* of the source topic */
    uint64_t *replayed; /* per source partition, from the store */
    char *err;
    size_t errlen;
} dlq_t;

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    fr_debug("kafka %s: %s", fac, buf);
}

static rd_kafka_t *client(const fr_kafka_spec_t *k, rd_kafka_type_t type, char *err,
                          size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (!conf)
        return NULL;
    if (fr_kafka_conf_apply(k, conf, 1, err, errlen) ||
        rd_kafka_conf_set(conf, "bootstrap.servers", k->brokers, e, sizeof e) ||
        rd_kafka_conf_set(conf, "log_level", "3", e, sizeof e) ||
        (type == RD_KAFKA_CONSUMER &&
         (rd_kafka_conf_set(conf, "group.id", "freshet-dlq-tool", e, sizeof e) ||
          rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e))) ||
        (type == RD_KAFKA_PRODUCER &&
         rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof e))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof e);
    if (!rk)
        snprintf(err, errlen, "kafka client: %s", e);
    return rk;
}

/* Opens the reader, counts the source topic's partitions, reads what the
 * store says each has had replayed. */
static int dlq_open(dlq_t *d, const fr_config_t *cfg, int src, fr_store_t *store, char *err,
                    size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->src = src;
    d->spec = &cfg->sources[src];
    d->err = err;
    d->errlen = errlen;
    if (!d->spec->kafka.enabled) {
        snprintf(err, errlen, "source %s has no kafka block", d->spec->name);
        return FR_ECONFIG;
    }
    d->cons = client(&d->spec->kafka, RD_KAFKA_CONSUMER, err, errlen);
    if (!d->cons)
        return FR_EUNAVAIL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(d->cons, d->spec->kafka.topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = t ? rd_kafka_metadata(d->cons, 0, t, &md, METADATA_TIMEOUT_MS)
                              : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!e && md->topic_cnt == 1 && !md->topics[0].err)
        d->nparts = md->topics[0].partition_cnt;
    else if (!e)
        e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
        e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        snprintf(err, errlen,
                 "source %s: the Kafka brokers at %s did not answer within %d s (%s); is the "
                 "cluster up?",
                 d->spec->name, d->spec->kafka.brokers, METADATA_TIMEOUT_MS / 1000,
                 rd_kafka_err2str(e));
        return FR_EUNAVAIL;
    }
    if (e || d->nparts <= 0 || d->nparts > MAX_PARTS) {
        snprintf(err, errlen, "source %s: topic %s: %s", d->spec->name, d->spec->kafka.topic,
                 e ? rd_kafka_err2str(e) : "no partitions");
        return FR_EUNAVAIL;
    }
    d->replayed = calloc((size_t)d->nparts, sizeof *d->replayed);
    if (!d->replayed)
        return FR_ENOMEM;
    fr_store_rd_t *rd;
    int rc = fr_store_rd_new(store, &rd);
    if (!rc)
        rc = fr_store_rd_begin(rd);
    for (int32_t p = 0; !rc && p < d->nparts; p++) {
        fr_store_pos_t pos;
        int r = fr_store_pos_get(rd, src, p, &pos);
        if (r == 0)
            d->replayed[p] = pos.replayed;
        else if (r != FR_ENOTFOUND)
            rc = r;
    }
    if (!rc)
        fr_store_rd_end(rd);
    fr_store_rd_free(rd);
    if (rc)
        snprintf(err, errlen, "reading positions: %s", fr_strerror(rc));
    return rc;
}

static void dlq_close(dlq_t *d)
{
    if (d->cons)
        rd_kafka_destroy(d->cons);
    free(d->replayed);
}

static int header(rd_kafka_message_t *m, const char *name, char *out, size_t n)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t l;
    out[0] = 0;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &l) || !v)
        return -1;
    if (l >= n)
        l = n - 1;
    memcpy(out, v, l);
    out[l] = 0;
    return 0;
}

/* Calls fn for every dead letter of the source (partition 0 of the
 * dead-letter topic, start to the end as of now). */
static int dlq_scan(dlq_t *d, int (*fn)(dlq_t *d, rd_kafka_message_t *m, int32_t part, void *ctx),
                    void *ctx)
{
    const char *topic = d->spec->kafka.dlq_topic;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(d->cons, topic, 0, &lo, &hi, 10000);
    if (e) {
        snprintf(d->err, d->errlen, "topic %s: %s", topic, rd_kafka_err2str(e));
        return FR_EUNAVAIL;
    }
    if (hi <= lo)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = lo;
    e = rd_kafka_assign(d->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(d->err, d->errlen, "topic %s: %s", topic, rd_kafka_err2str(e));
        return FR_EUNAVAIL;
    }
    int rc = 0, idle = 0;
    int64_t next = lo;
    while (!rc && next < hi) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->cons, 1000);
        if (!m) {
            if (++idle >= 30) {
                snprintf(d->err, d->errlen, "topic %s: no message for 30 s at offset %" PRId64,
                         topic, next);
                rc = FR_EUNAVAIL;
            }
            continue;
        }
        idle = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fr_warn("topic %s: %s", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        next = m->offset + 1;
        char t[256], p[24];
        if (header(m, FR_DLQ_HDR_TOPIC, t, sizeof t) == 0 &&
            !strcmp(t, d->spec->kafka.topic) && header(m, FR_DLQ_HDR_PARTITION, p, sizeof p) == 0) {
            char *end;
            long part = strtol(p, &end, 10);
            if (p[0] && !*end && part >= -1 && part < d->nparts) /* -1: refused at ingest */
                rc = fn(d, m, (int32_t)part, ctx);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(d->cons, NULL);
    return rc;
}

/* ---- list ---- */

static int list_one(dlq_t *d, rd_kafka_message_t *m, int32_t part, void *ctx)
{
    FILE *out = ctx;
    fr_buf_t b;
    fr_buf_init(&b, (size_t)1 << 24);
    char h[1024];
    int rc = fr_buf_printf(&b, "{\"dlq_offset\":%" PRId64 ",\"source\":", m->offset);
    rc = rc ? rc : fr_jw_cstr(&b, d->spec->name);
    static const char *const names[] = {FR_DLQ_HDR_REASON, FR_DLQ_HDR_DETAIL, FR_DLQ_HDR_TOPIC};
    for (size_t i = 0; !rc && i < 3; i++) {
        header(m, names[i], h, sizeof h);
        rc = fr_buf_printf(&b, ",\"%s\":", names[i]);
        rc = rc ? rc : fr_jw_str(&b, h, strlen(h));
    }
    header(m, FR_DLQ_HDR_OFFSET, h, sizeof h);
    char *end;
    unsigned long long off = strtoull(h, &end, 10);
    if (!rc && part < 0)
        rc = fr_buf_addstr(&b, ",\"partition\":null,\"offset\":null");
    else
        rc = rc ? rc
                : fr_buf_printf(&b, ",\"partition\":%" PRId32, part) ||
                          (h[0] && !*end ? fr_buf_printf(&b, ",\"offset\":%llu", off)
                                         : fr_buf_addstr(&b, ",\"offset\":null"))
                      ? FR_ENOMEM
                      : 0;
    rc = rc ? rc
            : fr_buf_printf(&b, ",\"replayed\":%s,",
                            part >= 0 && (uint64_t)m->offset < d->replayed[part] ? "true"
                                                                                 : "false");
    /* byte for byte: base64 when the message is not UTF-8 text */
    rc = rc ? rc : fr_jw_payload(&b, m->payload ? m->payload : "", m->len);
    rc = rc ? rc : fr_buf_addstr(&b, "}\n");
    if (!rc && fwrite(b.p, 1, b.len, out) != b.len)
        rc = FR_EIO;
    fr_buf_destroy(&b);
    return rc;
}

int fr_kafka_dlq_list(const fr_config_t *cfg, int src, fr_store_t *store, FILE *out, char *err,
                      size_t errlen)
{
    dlq_t d;
    int rc = dlq_open(&d, cfg, src, store, err, errlen);
    if (!rc)
        rc = dlq_scan(&d, list_one, out);
    dlq_close(&d);
    return rc;
}

/* ---- replay ---- */

typedef struct {
    rd_kafka_t *prod;
    size_t replayed, skipped, ingest;
    int failed;
} replay_t;

static void replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    replay_t *r = opaque;
    if (m->err)
        r->failed++;
}

static int replay_one(dlq_t *d, rd_kafka_message_t *m, int32_t part, void *ctx)
{
    replay_t *r = ctx;
    if (part < 0) { /* refused at HTTP ingest: it never reached the topic */
        r->ingest++;
        return 0;
    }
    if ((uint64_t)m->offset < d->replayed[part]) {
        r->skipped++;
        return 0;
    }
    char off[24];
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->prod, RD_KAFKA_V_TOPIC(d->spec->kafka.topic), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_HEADER(FR_HDR_REPLAY_OF, off, -1),
            RD_KAFKA_V_END);
        if (!e)
            break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 100) {
            snprintf(d->err, d->errlen, "producing to %s: %s", d->spec->kafka.topic,
                     rd_kafka_err2str(e));
            return FR_EUNAVAIL;
        }
        rd_kafka_poll(r->prod, 100);
    }
    rd_kafka_poll(r->prod, 0);
    r->replayed++;
    return 0;
}

int fr_kafka_dlq_replay(const fr_config_t *cfg, int src, fr_store_t *store, size_t *replayed,
                        size_t *skipped, size_t *ingest_refused, char *err, size_t errlen)
{
    *replayed = *skipped = *ingest_refused = 0;
    dlq_t d;
    replay_t r = {0};
    int rc = dlq_open(&d, cfg, src, store, err, errlen);
    if (!rc) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char e[512];
        if (!conf || fr_kafka_conf_apply(&d.spec->kafka, conf, 1, err, errlen) ||
            rd_kafka_conf_set(conf, "bootstrap.servers", d.spec->kafka.brokers, e, sizeof e) ||
            rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof e)) {
            if (conf)
                rd_kafka_conf_destroy(conf);
            rc = FR_ECONFIG;
        } else {
            rd_kafka_conf_set_opaque(conf, &r);
            rd_kafka_conf_set_dr_msg_cb(conf, replay_dr);
            r.prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
            if (!r.prod) {
                snprintf(err, errlen, "kafka producer: %s", e);
                rc = FR_EUNAVAIL;
            }
        }
    }
    if (!rc)
        rc = dlq_scan(&d, replay_one, &r);
    if (r.prod) {
        if (rd_kafka_flush(r.prod, 30000) && !rc) {
            snprintf(err, errlen, "producing to %s: not acknowledged in 30 s",
                     d.spec->kafka.topic);
            rc = FR_EUNAVAIL;
        }
        if (r.failed && !rc) {
            snprintf(err, errlen, "%d replays were not delivered; run the replay again",
                     r.failed);
            rc = FR_EIO;
        }
        rd_kafka_destroy(r.prod);
    }
    dlq_close(&d);
    *replayed = r.replayed;
    *skipped = r.skipped;
    *ingest_refused = r.ingest;
    return rc;
}

/* ---- status ---- */

int fr_kafka_status(const fr_config_t *cfg, int src, fr_store_t *store, FILE *out, char *err,
                    size_t errlen)
{
    dlq_t d;
    int rc = dlq_open(&d, cfg, src, store, err, errlen);
    fr_store_rd_t *rd = NULL;
    if (!rc)
        rc = fr_store_rd_new(store, &rd);
    if (!rc)
        rc = fr_store_rd_begin(rd);
    uint64_t total = 0;
    for (int32_t p = 0; !rc && p < d.nparts; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(d.cons, d.spec->kafka.topic, p, &lo, &hi, 10000);
        fr_store_pos_t pos;
        int r = fr_store_pos_get(rd, src, p, &pos);
        if (r && r != FR_ENOTFOUND) {
            rc = r;
            snprintf(err, errlen, "reading positions: %s", fr_strerror(r));
            break;
        }
        fprintf(out, "{\"source\":\"%s\",\"topic\":\"%s\",\"partition\":%" PRId32,
                d.spec->name, d.spec->kafka.topic, p);
        if (!r)
            fprintf(out,
                    ",\"committed_offset\":%" PRIu64 ",\"epoch\":%" PRIu64
                    ",\"committed_ms\":%" PRId64 ",\"replayed\":%" PRIu64,
                    pos.next_offset, pos.epoch, pos.committed_ms, pos.replayed);
        else
            fputs(",\"committed_offset\":null", out);
        if (!r && pos.watermark != INT64_MIN)
            fprintf(out, ",\"watermark\":%" PRId64, pos.watermark);
        if (!e) {
            uint64_t from = r ? (uint64_t)lo : pos.next_offset;
            uint64_t lag = (uint64_t)hi > from ? (uint64_t)hi - from : 0;
            total += lag;
            fprintf(out, ",\"start_offset\":%" PRId64 ",\"end_offset\":%" PRId64
                         ",\"lag\":%" PRIu64,
                    lo, hi, lag);
        } else {
            fprintf(out, ",\"error\":\"%s\"", rd_kafka_err2str(e));
        }
        fputs("}\n", out);
    }
    if (rd) {
        fr_store_rd_end(rd);
        fr_store_rd_free(rd);
    }
    if (!rc) {
        /* the dead-letter topic's messages (partition 0, start to end) */
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            d.cons, d.spec->kafka.dlq_topic, 0, &lo, &hi, METADATA_TIMEOUT_MS);
        fprintf(out, "{\"source\":\"%s\",\"partitions\":%" PRId32 ",\"lag\":%" PRIu64,
                d.spec->name, d.nparts, total);
        fprintf(out, ",\"dlq_topic\":\"%s\",\"dead_letters\":", d.spec->kafka.dlq_topic);
        if (!e)
            fprintf(out, "%" PRId64 "}\n", hi > lo ? hi - lo : 0);
        else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            fputs("0}\n", out);
        else
            fprintf(out, "null,\"dlq_error\":\"%s\"}\n", rd_kafka_err2str(e));
    }
    dlq_close(&d);
    return rc;
}
