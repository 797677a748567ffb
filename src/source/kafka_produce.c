/*
 * kafka_produce.c - producing to a Kafka source's topic from HTTP ingest
 * (see kafka.h).
 *
 * One idempotent producer per source; a thread serves its delivery reports
 * (rd_kafka_poll).  A request hands its messages over and sleeps until
 * every one has its report: message.timeout.ms bounds the wait, so a report
 * always comes and no callback outlives the request's memory.
 *
 * Avro sources write with a schema of the topic's subject (kafka.h).  The
 * writer chosen is shared by reference: requests take it under the mutex
 * and encode without it; the one that finds it older than
 * FR_REGISTRY_LATEST_TTL_MS asks the registry again (under the mutex, so
 * at most one request at a time waits for the registry) and swaps it.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "event/avro.h"
#include "source/kafka.h"

struct fr_kafka_writer {
    fr_avro_writer_t *w;
    uint32_t id;
    int refs; /* under the producer's mutex */
};

struct fr_kafka_producer {
    const fr_source_spec_t *spec;
    rd_kafka_t *rk;
    pthread_t poller;
    int stop;
    /* Avro sources */
    fr_registry_t *reg;
    pthread_mutex_t mu;
    fr_kafka_writer_t *cur; /* the writer in use, or NULL */
    uint64_t cur_until_ns;  /* when to ask the registry again */
    /* the dead-letter count, kept a second */
    pthread_mutex_t dlq_mu;
    uint64_t dlq_n, dlq_until_ns;
};

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;
} wait_t;

typedef struct {
    wait_t *w;
    fr_kafka_msg_t *m;
} slot_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rm, void *opaque)
{
    (void)rk;
    (void)opaque;
    slot_t *s = rm->_private;
    s->m->partition = rm->partition;
    s->m->offset = rm->offset;
    s->m->err = rm->err ? FR_EUNAVAIL : 0;
    pthread_mutex_lock(&s->w->mu);
    if (--s->w->pending == 0)
        pthread_cond_signal(&s->w->cv);
    pthread_mutex_unlock(&s->w->mu);
}

static void *poll_main(void *arg)
{
    fr_kafka_producer_t *p = arg;
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

int fr_kafka_producer_open(const fr_config_t *cfg, int src, fr_registry_t *reg,
                           fr_kafka_producer_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const fr_source_spec_t *spec = &cfg->sources[src];
    fr_kafka_producer_t *p = calloc(1, sizeof *p);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!p || !conf) {
        free(p);
        if (conf)
            rd_kafka_conf_destroy(conf);
        return FR_ENOMEM;
    }
    p->spec = spec;
    p->reg = reg;
    char e[512];
    int rc = fr_kafka_conf_apply(&spec->kafka, conf, 1, err, errlen);
    static const char *const kv[][2] = {
        {"enable.idempotence", "true"}, {"linger.ms", "2"}, {"message.timeout.ms", "15000"}};
    if (!rc && rd_kafka_conf_set(conf, "bootstrap.servers", spec->kafka.brokers, e, sizeof e))
        rc = FR_ECONFIG;
    for (size_t i = 0; !rc && i < 3; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], e, sizeof e))
            rc = FR_ECONFIG;
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "kafka producer for %s: %s", spec->name, e);
        rd_kafka_conf_destroy(conf);
        free(p);
        return rc;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!p->rk) {
        snprintf(err, errlen, "kafka producer for %s: %s", spec->name, e);
        free(p);
        return FR_ECONFIG;
    }
    if (pthread_create(&p->poller, NULL, poll_main, p)) {
        rd_kafka_destroy(p->rk);
        free(p);
        return FR_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->dlq_mu, NULL);
    *out = p;
    return 0;
}

static void writer_free(fr_kafka_writer_t *w)
{
    if (w) {
        fr_avro_writer_free(w->w);
        free(w);
    }
}

void fr_kafka_producer_close(fr_kafka_producer_t *p)
{
    if (!p)
        return;
    rd_kafka_flush(p->rk, 15000);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_join(p->poller, NULL);
    rd_kafka_destroy(p->rk);
    writer_free(p->cur); /* no request is in flight: no other reference */
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->dlq_mu);
    free(p);
}

int fr_kafka_producer_dlq_count(fr_kafka_producer_t *p, int timeout_ms, uint64_t *n)
{
    int rc = 0;
    pthread_mutex_lock(&p->dlq_mu);
    uint64_t now = fr_mono_ns();
    if (now >= p->dlq_until_ns) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            p->rk, p->spec->kafka.dlq_topic, 0, &lo, &hi, timeout_ms);
        if (!e || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            p->dlq_n = !e && hi > lo ? (uint64_t)(hi - lo) : 0;
            p->dlq_until_ns = fr_mono_ns() + 1000000000ull;
        } else {
            rc = FR_EUNAVAIL;
        }
    }
    *n = p->dlq_n;
    pthread_mutex_unlock(&p->dlq_mu);
    return rc;
}

/* ---- Avro: the writer schema ------------------------------------------- */

/*
 * Asks the registry for the writer (kafka.h): the subject's latest if it
 * can be written with, else freshet's own schema, registered.  0 with
 * *out (one reference), or FR_EUNAVAIL / FR_ECONFLICT with why.
 */
static int resolve(fr_kafka_producer_t *p, fr_kafka_writer_t **out, char *why, size_t whylen)
{
    const fr_source_spec_t *spec = p->spec;
    char subject[FR_REGISTRY_MAX_SUBJECT + 1], werr[512] = "", rerr[1024] = "";
    snprintf(subject, sizeof subject, "%s-value", spec->kafka.topic);
    fr_buf_t schema;
    fr_buf_init(&schema, FR_AVRO_MAX_SCHEMA_BYTES);
    fr_kafka_writer_t *w = calloc(1, sizeof *w);
    int version = 0, rc = w ? 0 : FR_ENOMEM;
    if (!rc && !p->reg) {
        snprintf(why, whylen, "no schema registry is open for source '%s'", spec->name);
        rc = FR_EUNAVAIL;
    }
    if (!rc) {
        rc = fr_registry_latest(p->reg, subject, &w->id, &version, &schema);
        if (!rc)
            rc = fr_avro_writer_new(spec, schema.p, schema.len, &w->w, werr, sizeof werr)
                     ? FR_ENOTFOUND /* not one freshet can write: try its own */
                     : 0;
        else if (rc != FR_ENOTFOUND)
            snprintf(why, whylen, "the schema registry did not give subject '%s': %s", subject,
                     fr_strerror(rc));
    }
    if (rc == FR_ENOTFOUND) {
        fr_buf_reset(&schema);
        rc = fr_avro_schema_json(spec, &schema);
        if (rc) {
            snprintf(why, whylen, "source '%s' cannot be written as Avro: %s", spec->name,
                     rc == FR_EINVAL ? "a field name is not a valid Avro name" : fr_strerror(rc));
            rc = FR_ECONFLICT;
        }
    }
    if (!rc && !w->w) {
        rc = fr_registry_register(p->reg, subject, schema.p, schema.len, &w->id, rerr,
                                  sizeof rerr);
        if (rc == FR_EUNAVAIL) {
            snprintf(why, whylen, "the schema registry did not answer: %s", rerr);
        } else if (rc && version) {
            snprintf(why, whylen,
                     "subject '%s': its latest schema (version %d, id %u) cannot carry source "
                     "'%s' (%s), and the registry refuses freshet's own schema for it: %s",
                     subject, version, (unsigned)w->id, spec->name, werr, rerr);
            rc = FR_ECONFLICT;
        } else if (rc) {
            snprintf(why, whylen, "subject '%s': the registry refuses freshet's schema: %s",
                     subject, rerr);
            rc = FR_ECONFLICT;
        }
        if (!rc)
            rc = fr_avro_writer_new(spec, schema.p, schema.len, &w->w, werr, sizeof werr);
        if (rc && rc != FR_EUNAVAIL && rc != FR_ECONFLICT) {
            snprintf(why, whylen, "source '%s': %s", spec->name, werr[0] ? werr : fr_strerror(rc));
            rc = FR_ECONFLICT;
        }
        if (!rc)
            fr_info("source %s: HTTP ingest writes Avro with freshet's schema, id %u under "
                    "subject '%s'",
                    spec->name, (unsigned)w->id, subject);
    } else if (!rc) {
        fr_debug("source %s: HTTP ingest writes Avro with schema id %u (subject '%s' version %d)",
                 spec->name, (unsigned)w->id, subject, version);
    }
    if (rc == FR_ENOMEM)
        snprintf(why, whylen, "out of memory");
    fr_buf_destroy(&schema);
    if (rc) {
        writer_free(w);
        return rc == FR_ENOMEM ? FR_EUNAVAIL : rc;
    }
    w->refs = 1;
    *out = w;
    return 0;
}

int fr_kafka_writer_get(fr_kafka_producer_t *p, fr_kafka_writer_t **out, char *why, size_t whylen)
{
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    uint64_t now = fr_mono_ns();
    int rc = 0;
    if (!p->cur || now >= p->cur_until_ns) {
        fr_kafka_writer_t *w = NULL;
        rc = resolve(p, &w, why, whylen);
        if (!rc) {
            if (p->cur && --p->cur->refs == 0)
                writer_free(p->cur);
            p->cur = w; /* the producer's reference */
            p->cur_until_ns = now + (uint64_t)FR_REGISTRY_LATEST_TTL_MS * 1000000u;
        }
    }
    if (!rc) {
        p->cur->refs++;
        *out = p->cur;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void fr_kafka_writer_put(fr_kafka_producer_t *p, fr_kafka_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&p->mu);
    int last = --w->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        writer_free(w);
}

uint32_t fr_kafka_writer_id(const fr_kafka_writer_t *w)
{
    return w->id;
}

int fr_kafka_writer_encode(const fr_kafka_writer_t *w, const fr_value_t *vals, fr_buf_t *out,
                           fr_reject_t *rej)
{
    size_t at = out->len;
    int rc = fr_avro_frame(w->id, out);
    if (!rc)
        rc = fr_avro_writer_encode(w->w, vals, out, rej);
    if (rc)
        out->len = at;
    return rc;
}

int fr_kafka_produce(fr_kafka_producer_t *p, fr_kafka_msg_t *msgs, size_t n, int timeout_ms)
{
    (void)timeout_ms; /* message.timeout.ms bounds every delivery report */
    if (!n)
        return 0;
    slot_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return FR_ENOMEM;
    wait_t w = {.pending = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        fr_kafka_msg_t *m = &msgs[i];
        m->partition = -1;
        m->offset = -1;
        m->err = FR_EUNAVAIL;
        slots[i] = (slot_t){&w, m};
        const char *topic = m->reason ? p->spec->kafka.dlq_topic : p->spec->kafka.topic;
        const char *reason = m->reason ? m->reason : "";
        const char *detail = m->detail ? m->detail : "";
        const char *src_topic = p->spec->kafka.topic;
        pthread_mutex_lock(&w.mu);
        w.pending++;
        pthread_mutex_unlock(&w.mu);
        rd_kafka_resp_err_t e;
        for (int tries = 0;; tries++) {
            e = m->reason
                    ? rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE((void *)(uintptr_t)m->val, m->vlen),
                                        RD_KAFKA_V_KEY((void *)(uintptr_t)m->key, m->klen),
                                        RD_KAFKA_V_HEADER(FR_DLQ_HDR_REASON, reason, -1),
                                        RD_KAFKA_V_HEADER(FR_DLQ_HDR_DETAIL, detail, -1),
                                        RD_KAFKA_V_HEADER(FR_DLQ_HDR_TOPIC, src_topic, -1),
                                        RD_KAFKA_V_HEADER(FR_DLQ_HDR_PARTITION, "-1", -1),
                                        RD_KAFKA_V_HEADER(FR_DLQ_HDR_OFFSET, "", -1),
                                        RD_KAFKA_V_OPAQUE(&slots[i]), RD_KAFKA_V_END)
                    : rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE((void *)(uintptr_t)m->val, m->vlen),
                                        RD_KAFKA_V_KEY((void *)(uintptr_t)m->key, m->klen),
                                        RD_KAFKA_V_OPAQUE(&slots[i]), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 200)
                break;
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        if (e) {
            pthread_mutex_lock(&w.mu);
            w.pending--;
            pthread_mutex_unlock(&w.mu);
            rc = FR_EUNAVAIL;
        }
    }
    pthread_mutex_lock(&w.mu);
    while (w.pending)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    for (size_t i = 0; !rc && i < n; i++)
        if (msgs[i].err)
            rc = FR_EUNAVAIL;
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    free(slots);
    return rc;
}
