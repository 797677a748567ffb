/*
 * kafka_produce.c - producing to a Kafka source's topic from HTTP ingest
 * (see kafka.h).
 *
 * One idempotent producer per source; a thread serves its delivery reports
 * (rd_kafka_poll).  A request hands its messages over and sleeps until
 * every one has its report: message.timeout.ms bounds the wait, so a report
 * always comes and no callback outlives the request's memory.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "source/kafka.h"

struct fr_kafka_producer {
    const fr_source_spec_t *spec;
    rd_kafka_t *rk;
    pthread_t poller;
    int stop;
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

int fr_kafka_producer_open(const fr_config_t *cfg, int src, fr_kafka_producer_t **out, char *err,
                           size_t errlen)
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
    *out = p;
    return 0;
}

void fr_kafka_producer_close(fr_kafka_producer_t *p)
{
    if (!p)
        return;
    rd_kafka_flush(p->rk, 15000);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_join(p->poller, NULL);
    rd_kafka_destroy(p->rk);
    free(p);
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
