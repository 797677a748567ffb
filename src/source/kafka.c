/*
 * kafka.c - a Kafka topic as a source (see kafka.h).
 *
 * Rebalances are eager (every rebalance revokes all partitions, then
 * assigns): the callback runs inside rd_kafka_consumer_poll, hands the
 * change to the processor's listener and only then assigns, so a partition
 * is never read before the processor knows where it resumes, and never
 * handed on before the processor has committed it.  Messages gathered by a
 * poll that a rebalance interrupts are dropped: they may come from a
 * partition this instance no longer owns, or precede its new position.
 */
#include "source/kafka.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

typedef struct {
    fr_source_t base;
    const fr_config_t *cfg;
    const fr_source_spec_t *spec;
    rd_kafka_t *rk;
    rd_kafka_t *prod;           /* dead letters, opened on first use */
    rd_kafka_message_t **msgs;  /* of the last poll */
    size_t nmsgs, cap;
    rd_kafka_message_t *peek;   /* read by wait, handed out by the next poll */
    uint64_t rebalances;        /* bumped by every rebalance */
    rd_kafka_topic_partition_list_t *pending; /* an assignment the listener refused */
    int pending_rc;
    int32_t *parts;             /* assigned now */
    size_t nparts;
    uint64_t dlq_failed;        /* dead letters lost since the last flush */
    int fatal;                  /* the consumer hit a fatal error */
    char err[256];
    /* history mode (backfill): every partition from a start to the end as
     * of opening, no group */
    int history;
    int32_t hparts;
    int64_t *hstart, *hend;     /* per partition */
    int64_t *hnext;             /* next offset to hand out, per partition */
    uint64_t hdead;             /* refused records seen (not dead-lettered again) */
} ksrc_t;

int fr_kafka_conf_apply(const fr_kafka_spec_t *k, void *conf, int lenient, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < k->nprops; i++) {
        char e[256];
        if (rd_kafka_conf_set(conf, k->props[i].key, k->props[i].value, e, sizeof e) ==
            RD_KAFKA_CONF_OK)
            continue;
        if (lenient)
            continue;
        snprintf(err, errlen, "kafka property %s: %s", k->props[i].key, e);
        return FR_ECONFIG;
    }
    return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "kafka %s: %s", k, e);
    return FR_ECONFIG;
}

static void drop_msgs(ksrc_t *k)
{
    for (size_t i = 0; i < k->nmsgs; i++)
        rd_kafka_message_destroy(k->msgs[i]);
    k->nmsgs = 0;
}

static void drop_peek(ksrc_t *k)
{
    if (k->peek)
        rd_kafka_message_destroy(k->peek);
    k->peek = NULL;
}

/* Hands an assignment to the listener and takes it up.  0, or the
 * listener's error (the list is then kept to retry from the next poll). */
static int take_assignment(ksrc_t *k, rd_kafka_topic_partition_list_t *list)
{
    size_t n = (size_t)list->cnt;
    int32_t *parts = calloc(n ? n : 1, sizeof *parts);
    uint64_t *next = calloc(n ? n : 1, sizeof *next);
    if (!parts || !next) {
        free(parts);
        free(next);
        return FR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        parts[i] = list->elems[i].partition;
        next[i] = UINT64_MAX;
    }
    int rc = 0;
    if (k->base.listener.assign)
        rc = k->base.listener.assign(k->base.listener.ctx, &k->base, parts, n, next);
    if (rc) {
        free(parts);
        free(next);
        return rc;
    }
    for (size_t i = 0; i < n && !k->history; i++)
        list->elems[i].offset =
            next[i] == UINT64_MAX ? RD_KAFKA_OFFSET_BEGINNING : (int64_t)next[i];
    free(next);
    rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, list);
    if (e) {
        free(parts);
        fr_warn("kafka %s: assign: %s", k->spec->kafka.topic, rd_kafka_err2str(e));
        return FR_EUNAVAIL;
    }
    free(k->parts);
    k->parts = parts;
    k->nparts = n;
    char b[256];
    size_t bl = 0;
    for (size_t i = 0; i < n && bl + 16 < sizeof b; i++)
        bl += (size_t)snprintf(b + bl, sizeof b - bl, "%s%" PRId32, i ? "," : "", parts[i]);
    b[bl] = 0;
    fr_info("kafka %s: assigned partitions [%s]", k->spec->kafka.topic, b);
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
    ksrc_t *k = opaque;
    k->rebalances++;
    drop_peek(k);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (k->pending) {
            rd_kafka_topic_partition_list_destroy(k->pending);
            k->pending = NULL;
        }
        int rc = take_assignment(k, list);
        if (rc) {
            /* keep the partitions unread until the listener can say where
             * they resume; the next polls retry */
            fr_warn("kafka %s: cannot take up assigned partitions yet: %s",
                    k->spec->kafka.topic, fr_strerror(rc));
            k->pending = rd_kafka_topic_partition_list_copy(list);
            k->pending_rc = rc;
            rd_kafka_assign(rk, NULL);
        }
        return;
    }
    /* revoked (or an error: give everything up) */
    if (k->pending) {
        rd_kafka_topic_partition_list_destroy(k->pending);
        k->pending = NULL;
    } else if (k->nparts && k->base.listener.revoke) {
        k->base.listener.revoke(k->base.listener.ctx, &k->base, k->parts, k->nparts);
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        fr_warn("kafka %s: rebalance: %s", k->spec->kafka.topic, rd_kafka_err2str(err));
    else
        fr_info("kafka %s: partitions revoked", k->spec->kafka.topic);
    k->nparts = 0;
    rd_kafka_assign(rk, NULL);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ksrc_t *k = opaque;
    if (m->err) {
        k->dlq_failed++;
        fr_warn("kafka %s: dead letter not delivered: %s", k->spec->kafka.dlq_topic,
                rd_kafka_err2str(m->err));
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ksrc_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        snprintf(k->err, sizeof k->err, "%s", why);
        k->fatal = 1;
        fr_error("kafka %s: fatal: %s", k->spec->kafka.topic, why);
        return;
    }
    /* transient (brokers down, timeouts): librdkafka retries by itself */
    fr_debug("kafka %s: %s: %s", k->spec->kafka.topic, rd_kafka_err2name(err), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        fr_warn("librdkafka %s: %s", fac, buf);
    else
        fr_debug("librdkafka %s: %s", fac, buf);
}

static int k_partitions(fr_source_t *s, int32_t *parts, size_t max, size_t *n)
{
    ksrc_t *k = (ksrc_t *)s;
    *n = 0;
    for (size_t i = 0; i < k->nparts && *n < max; i++)
        parts[(*n)++] = k->parts[i];
    return 0;
}

static int k_seek(fr_source_t *s, int32_t partition, uint64_t offset)
{
    ksrc_t *k = (ksrc_t *)s;
    drop_peek(k);
    if (k->history && partition >= 0 && partition < k->hparts) {
        if ((int64_t)offset < k->hstart[partition])
            offset = (uint64_t)k->hstart[partition];
        k->hnext[partition] = (int64_t)offset;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l)
        return FR_ENOMEM;
    rd_kafka_topic_partition_list_add(l, k->spec->kafka.topic, partition)->offset =
        (int64_t)offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, l, 5000);
    int rc = 0;
    if (e) {
        fr_warn("kafka %s: seek %" PRId32 " to %" PRIu64 ": %s", k->spec->kafka.topic, partition,
                offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = FR_EUNAVAIL;
    } else if (l->elems[0].err) {
        fr_warn("kafka %s: seek %" PRId32 ": %s", k->spec->kafka.topic, partition,
                rd_kafka_err2str(l->elems[0].err));
        rc = FR_EUNAVAIL;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* One message from the consumer (or the peeked one), NULL if none came in
 * timeout_ms.  Errors other than fatal ones are logged and skipped. */
static rd_kafka_message_t *next_msg(ksrc_t *k, int timeout_ms)
{
    if (k->peek) {
        rd_kafka_message_t *m = k->peek;
        k->peek = NULL;
        return m;
    }
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, timeout_ms);
        if (!m || !m->err)
            return m;
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fr_warn("kafka %s: consume: %s", k->spec->kafka.topic, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        timeout_ms = 0;
    }
}

static int64_t parse_offset(const void *p, size_t n);

static int k_poll(fr_source_t *s, fr_source_rec_t *recs, size_t max, size_t *n, int timeout_ms)
{
    ksrc_t *k = (ksrc_t *)s;
    *n = 0;
    drop_msgs(k);
    if (k->fatal)
        return FR_EIO;
    if (k->pending) {
        int rc = take_assignment(k, k->pending);
        if (rc) {
            /* keep the membership alive while waiting */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 0);
            if (m)
                rd_kafka_message_destroy(m);
            return rc;
        }
        rd_kafka_topic_partition_list_destroy(k->pending);
        k->pending = NULL;
    }
    if (k->cap < max) {
        rd_kafka_message_t **p = realloc(k->msgs, max * sizeof *p);
        if (!p)
            return FR_ENOMEM;
        k->msgs = p;
        k->cap = max;
    }
    uint64_t gen = k->rebalances;
    while (k->nmsgs < max) {
        rd_kafka_message_t *m = next_msg(k, k->nmsgs ? 0 : timeout_ms);
        if (k->rebalances != gen) {
            /* what was gathered may belong to partitions revoked since */
            if (m)
                rd_kafka_message_destroy(m);
            drop_msgs(k);
            gen = k->rebalances;
            continue;
        }
        if (!m)
            break;
        if (k->history) {
            int32_t p = m->partition;
            if (p < 0 || p >= k->hparts || m->offset >= k->hend[p] || m->offset < k->hnext[p]) {
                rd_kafka_message_destroy(m); /* past the end as of opening */
                continue;
            }
            k->hnext[p] = m->offset + 1;
        }
        k->msgs[k->nmsgs++] = m;
    }
    for (size_t i = 0; i < k->nmsgs; i++) {
        rd_kafka_message_t *m = k->msgs[i];
        int64_t replay_of = -1;
        rd_kafka_headers_t *hdrs;
        const void *hv;
        size_t hl;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(hdrs, FR_HDR_REPLAY_OF, &hv, &hl) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
            replay_of = parse_offset(hv, hl);
        recs[i] = (fr_source_rec_t){.replay_of = replay_of,
                                    .partition = m->partition,
                                    .offset = (uint64_t)m->offset,
                                    .data = m->payload ? m->payload : "",
                                    .len = m->len,
                                    .key = m->key,
                                    .klen = m->key_len,
                                    .time_ms = rd_kafka_message_timestamp(m, NULL),
                                    .opaque = m};
        if (recs[i].time_ms < 0)
            recs[i].time_ms = INT64_MIN; /* not available */
    }
    *n = k->nmsgs;
    return k->fatal ? FR_EIO : 0;
}

/* A decimal offset of at most 18 digits, or -1. */
static int64_t parse_offset(const void *p, size_t n)
{
    const char *c = p;
    if (!c || n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i] < '0' || c[i] > '9')
            return -1;
        v = v * 10 + (c[i] - '0');
    }
    return v;
}

static int k_wait(fr_source_t *s, int timeout_ms)
{
    ksrc_t *k = (ksrc_t *)s;
    if (!k->peek && !k->pending)
        k->peek = next_msg(k, timeout_ms);
    return 0;
}

static void k_release(fr_source_t *s)
{
    drop_msgs((ksrc_t *)s);
}

static int k_part_info(fr_source_t *s, fr_source_part_info_t *out, size_t max, size_t *n)
{
    ksrc_t *k = (ksrc_t *)s;
    *n = 0;
    if (k->history && !k->pending) {
        /* a history ends where the partitions ended as it was opened */
        for (int32_t p = 0; p < k->hparts && *n < max; p++)
            out[(*n)++] = (fr_source_part_info_t){
                .partition = p, .position = (uint64_t)k->hnext[p], .end = (uint64_t)k->hend[p]};
        return 0;
    }
    if (!k->nparts)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts);
    if (!l)
        return FR_ENOMEM;
    for (size_t i = 0; i < k->nparts; i++)
        rd_kafka_topic_partition_list_add(l, k->spec->kafka.topic, k->parts[i]);
    rd_kafka_position(k->rk, l);
    for (int i = 0; i < l->cnt && *n < max; i++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_get_watermark_offsets(k->rk, k->spec->kafka.topic, l->elems[i].partition, &lo,
                                       &hi);
        out[(*n)++] = (fr_source_part_info_t){
            .partition = l->elems[i].partition,
            .position = l->elems[i].offset >= 0 ? (uint64_t)l->elems[i].offset : UINT64_MAX,
            .end = hi >= 0 ? (uint64_t)hi : UINT64_MAX};
    }
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

static uint64_t k_lag(fr_source_t *s)
{
    fr_source_part_info_t info[256];
    size_t n = 0;
    if (k_part_info(s, info, 256, &n))
        return 0;
    uint64_t lag = 0;
    for (size_t i = 0; i < n; i++)
        if (info[i].end != UINT64_MAX && info[i].position != UINT64_MAX &&
            info[i].end > info[i].position)
            lag += info[i].end - info[i].position;
    return lag;
}

static int open_producer(ksrc_t *k)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return FR_ENOMEM;
    int rc = fr_kafka_conf_apply(&k->spec->kafka, conf, 1, err, sizeof err);
    if (!rc)
        rc = conf_set(conf, "bootstrap.servers", k->spec->kafka.brokers, err, sizeof err);
    if (!rc)
        rc = conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    if (!rc)
        rc = conf_set(conf, "linger.ms", "5", err, sizeof err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        fr_warn("kafka %s: dead-letter producer: %s", k->spec->kafka.dlq_topic, err);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    k->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!k->prod) {
        fr_warn("kafka %s: dead-letter producer: %s", k->spec->kafka.dlq_topic, err);
        return FR_EUNAVAIL;
    }
    return 0;
}

static int k_dead_letter(fr_source_t *s, const fr_source_rec_t *r, const char *reason,
                         const char *detail)
{
    ksrc_t *k = (ksrc_t *)s;
    if (k->history) {
        /* live processing dead-lettered it already: count, do not repeat */
        k->hdead++;
        return 0;
    }
    if (!k->prod) {
        int rc = open_producer(k);
        if (rc)
            return rc;
    }
    char part[16], off[24], rep[24];
    snprintf(part, sizeof part, "%" PRId32, r->partition);
    snprintf(off, sizeof off, "%" PRIu64, r->offset);
    snprintf(rep, sizeof rep, "%" PRId64, r->replay_of);
    const char *det = detail ? detail : "";
    const char *repv = r->replay_of >= 0 ? rep : ""; /* (the macro casts unparenthesised) */
    const char *topic = k->spec->kafka.topic;
    for (int tries = 0;; tries++) {
        /* one partition: dead letters keep one order, which replays rely on */
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->prod, RD_KAFKA_V_TOPIC(k->spec->kafka.dlq_topic), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)r->data, r->len),
            RD_KAFKA_V_KEY((void *)(uintptr_t)r->key, r->klen),
            RD_KAFKA_V_HEADER(FR_DLQ_HDR_REASON, reason, -1),
            RD_KAFKA_V_HEADER(FR_DLQ_HDR_DETAIL, det, -1),
            RD_KAFKA_V_HEADER(FR_DLQ_HDR_TOPIC, topic, -1),
            RD_KAFKA_V_HEADER(FR_DLQ_HDR_PARTITION, part, -1),
            RD_KAFKA_V_HEADER(FR_DLQ_HDR_OFFSET, off, -1),
            RD_KAFKA_V_HEADER(FR_HDR_REPLAY_OF, repv, -1),
            RD_KAFKA_V_END);
        if (!e)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 100) {
            fr_warn("kafka %s: dead letter: %s", k->spec->kafka.dlq_topic, rd_kafka_err2str(e));
            return FR_EUNAVAIL;
        }
        rd_kafka_poll(k->prod, 100);
    }
}

static int k_flush(fr_source_t *s, int timeout_ms)
{
    ksrc_t *k = (ksrc_t *)s;
    if (!k->prod)
        return 0;
    rd_kafka_resp_err_t e = rd_kafka_flush(k->prod, timeout_ms);
    if (k->dlq_failed) {
        k->dlq_failed = 0;
        return FR_EIO;
    }
    return e ? FR_EUNAVAIL : 0;
}

static void k_close(fr_source_t *s)
{
    ksrc_t *k = (ksrc_t *)s;
    drop_msgs(k);
    drop_peek(k);
    if (k->history && k->hdead)
        fr_info("kafka %s: %" PRIu64 " records of the history were refused (their dead letters "
                "are in %s from live processing)",
                k->spec->kafka.topic, k->hdead, k->spec->kafka.dlq_topic);
    if (k->rk) {
        /* leaves the group (revoking through the listener, which commits) */
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    if (k->prod) {
        rd_kafka_flush(k->prod, 5000);
        rd_kafka_destroy(k->prod);
    }
    if (k->pending)
        rd_kafka_topic_partition_list_destroy(k->pending);
    free(k->parts);
    free(k->msgs);
    free(k->hstart);
    free(k->hend);
    free(k->hnext);
    free(k);
}

static int k_at_end(fr_source_t *s)
{
    ksrc_t *k = (ksrc_t *)s;
    if (!k->history || k->pending)
        return 0;
    for (int32_t p = 0; p < k->hparts; p++)
        if (k->hnext[p] < k->hend[p])
            return 0;
    return 1;
}

static const fr_source_ops_t kafka_source_ops = {
    .kind = "kafka",
    .payload = FR_PAYLOAD_MESSAGE,
    .partitions = k_partitions,
    .seek = k_seek,
    .poll = k_poll,
    .wait = k_wait,
    .release = k_release,
    .lag = k_lag,
    .part_info = k_part_info,
    .dead_letter = k_dead_letter,
    .flush = k_flush,
    .close = k_close,
};

/* A new source of cfg's source src with ops, and an empty consumer
 * configuration for it.  0, FR_ECONFIG (no kafka block) or FR_ENOMEM. */
static int ksrc_new(const fr_config_t *cfg, int src, const fr_source_ops_t *ops, ksrc_t **out,
                    rd_kafka_conf_t **conf, char *err, size_t errlen)
{
    const fr_source_spec_t *spec = &cfg->sources[src];
    if (!spec->kafka.enabled) {
        snprintf(err, errlen, "source %s has no kafka block", spec->name);
        return FR_ECONFIG;
    }
    ksrc_t *k = calloc(1, sizeof *k);
    *conf = rd_kafka_conf_new();
    if (!k || !*conf) {
        free(k);
        if (*conf)
            rd_kafka_conf_destroy(*conf);
        return FR_ENOMEM;
    }
    k->base.ops = ops;
    k->base.index = src;
    k->cfg = cfg;
    k->spec = spec;
    *out = k;
    return 0;
}

/*
 * The consumer of k: conf (consumed, on failure too) gets the brokers,
 * group, defaults[n] and then the source's own kafka: properties (which
 * win; lenient: those librdkafka refuses are skipped).  A group member
 * (not k->history) gets the rebalance callback.  On failure k is freed.
 */
static int open_consumer(ksrc_t *k, rd_kafka_conf_t *conf, const char *group,
                         const char *const (*defaults)[2], size_t n, int lenient, char *err,
                         size_t errlen)
{
    const fr_source_spec_t *spec = k->spec;
    int rc = conf_set(conf, "bootstrap.servers", spec->kafka.brokers, err, errlen);
    if (!rc)
        rc = conf_set(conf, "group.id", group, err, errlen);
    for (size_t i = 0; !rc && i < n; i++)
        rc = conf_set(conf, defaults[i][0], defaults[i][1], err, errlen);
    if (!rc)
        rc = fr_kafka_conf_apply(&spec->kafka, conf, lenient, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, k);
    if (!k->history)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char e[512];
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!k->rk) {
        snprintf(err, errlen, "kafka consumer for %s: %s", spec->name, e);
        free(k);
        return FR_ECONFIG;
    }
    rd_kafka_poll_set_consumer(k->rk);
    return 0;
}

static const fr_source_ops_t kafka_history_ops = {
    .kind = "kafka-history",
    .payload = FR_PAYLOAD_MESSAGE,
    .partitions = k_partitions,
    .seek = k_seek,
    .poll = k_poll,
    .wait = k_wait,
    .release = k_release,
    .lag = k_lag,
    .part_info = k_part_info,
    .dead_letter = k_dead_letter,
    .flush = k_flush,
    .at_end = k_at_end,
    .close = k_close,
};

int fr_kafka_source_open_history(const fr_config_t *cfg, int src, int64_t from_ms,
                                 fr_source_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const fr_source_spec_t *spec = &cfg->sources[src];
    ksrc_t *k;
    rd_kafka_conf_t *conf;
    int arc = ksrc_new(cfg, src, &kafka_history_ops, &k, &conf, err, errlen);
    if (arc)
        return arc;
    k->history = 1;
    static const char *const hdefaults[][2] = {{"enable.auto.commit", "false"}};
    int rc = open_consumer(k, conf, "freshet-backfill", hdefaults, 1, 1, err, errlen);
    if (rc)
        return rc;
    /* the partitions, and where each starts and ends */
    rd_kafka_topic_t *t = rd_kafka_topic_new(k->rk, spec->kafka.topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me =
        t ? rd_kafka_metadata(k->rk, 0, t, &md, 10000) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!me && md->topic_cnt == 1 && !md->topics[0].err)
        k->hparts = md->topics[0].partition_cnt;
    else if (!me)
        me = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    if (me || k->hparts <= 0) {
        snprintf(err, errlen, "topic %s: %s", spec->kafka.topic,
                 me ? rd_kafka_err2str(me) : "no partitions");
        k_close(&k->base);
        return FR_EUNAVAIL;
    }
    k->hstart = calloc((size_t)k->hparts, sizeof *k->hstart);
    k->hend = calloc((size_t)k->hparts, sizeof *k->hend);
    k->hnext = calloc((size_t)k->hparts, sizeof *k->hnext);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(k->hparts);
    if (!k->hstart || !k->hend || !k->hnext || !l) {
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        k_close(&k->base);
        return FR_ENOMEM;
    }
    for (int32_t p = 0; p < k->hparts; p++) {
        int64_t lo = 0, hi = 0;
        me = rd_kafka_query_watermark_offsets(k->rk, spec->kafka.topic, p, &lo, &hi, 10000);
        if (me)
            break;
        k->hstart[p] = lo;
        k->hend[p] = hi;
        rd_kafka_topic_partition_list_add(l, spec->kafka.topic, p)->offset = from_ms;
    }
    if (!me && from_ms >= 0) {
        /* the first offset of each partition at or after from_ms */
        me = rd_kafka_offsets_for_times(k->rk, l, 10000);
        for (int i = 0; !me && i < l->cnt; i++) {
            int32_t p = l->elems[i].partition;
            if (l->elems[i].offset >= 0)
                k->hstart[p] = l->elems[i].offset;
            else
                k->hstart[p] = k->hend[p]; /* nothing that recent */
        }
    }
    if (me) {
        snprintf(err, errlen, "topic %s: %s", spec->kafka.topic, rd_kafka_err2str(me));
        rd_kafka_topic_partition_list_destroy(l);
        k_close(&k->base);
        return FR_EUNAVAIL;
    }
    for (int i = 0; i < l->cnt; i++) {
        int32_t p = l->elems[i].partition;
        l->elems[i].offset = k->hstart[p];
        k->hnext[p] = k->hstart[p];
    }
    k->pending = l; /* taken up (through the listener) by the first poll */
    *out = &k->base;
    return 0;
}

int fr_kafka_source_open(const fr_config_t *cfg, int src, fr_source_t **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    const fr_source_spec_t *spec = &cfg->sources[src];
    ksrc_t *k;
    rd_kafka_conf_t *conf;
    int arc = ksrc_new(cfg, src, &kafka_source_ops, &k, &conf, err, errlen);
    if (arc)
        return arc;
    static const char *const defaults[][2] = {
        {"enable.auto.commit", "false"},    {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},  {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "1000"},  {"enable.partition.eof", "false"},
        {"client.id", "freshet"},           {"partition.assignment.strategy", "range,roundrobin"},
        {"fetch.wait.max.ms", "50"},
    };
    int rc = open_consumer(k, conf, spec->kafka.group, defaults,
                           sizeof defaults / sizeof defaults[0], 0, err, errlen);
    if (rc)
        return rc;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, spec->kafka.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(k->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se) {
        snprintf(err, errlen, "kafka subscribe to %s: %s", spec->kafka.topic,
                 rd_kafka_err2str(se));
        k_close(&k->base);
        return FR_EUNAVAIL;
    }
    *out = &k->base;
    return 0;
}
