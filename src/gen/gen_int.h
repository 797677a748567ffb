/*
 * gen_int.h - private to src/gen: the Kafka sink of `freshet generate`
 * (gen_kafka.c), driven by the command's loop in gen_cmd.c.
 *
 * The sink types every generated JSON event against a source spec (the
 * -c configuration's, or the built-in copy of examples/fraud/freshet.yaml's
 * `transactions`), keys it by the entity of the source's first feature
 * view, and hands it to an idempotent librdkafka producer as the JSON text
 * itself or as Confluent-framed Avro of fr_avro_schema_json(source), whose
 * schema it registers under "<TOPIC>-value" when it opens.  librdkafka
 * batches (linger.ms 5); delivery reports arrive on the caller's thread
 * from fr_gen_kafka_send, fr_gen_kafka_poll and fr_gen_kafka_flush.
 *
 * One thread uses a sink at a time.
 */
#ifndef FR_GEN_GEN_INT_H
#define FR_GEN_GEN_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define FR_GEN_KAFKA_MAX_BROKERS 4096  /* bytes in the broker list of a kafka:// URL */
#define FR_GEN_KAFKA_MAX_TOPIC 249     /* Kafka's longest topic name */
#define FR_GEN_KAFKA_CONNECT_MS 10000  /* the cluster must answer a metadata request by then */
#define FR_GEN_KAFKA_DELIVERY_MS 30000 /* a message not acknowledged by then has failed */
#define FR_GEN_KAFKA_QUEUE 500000      /* messages librdkafka may hold unacknowledged */

/* A parsed kafka://HOST:PORT[,HOST:PORT...]/TOPIC. */
typedef struct fr_gen_kafka_url {
    char brokers[FR_GEN_KAFKA_MAX_BROKERS + 1]; /* "HOST:PORT,HOST:PORT" */
    char topic[FR_GEN_KAFKA_MAX_TOPIC + 1];
} fr_gen_kafka_url_t;

/*
 * Parses s (NUL-terminated, borrowed) into *u.  Hosts are names, IPv4
 * addresses or [IPv6] addresses; ports 1..65535; the topic 1..249 of
 * [A-Za-z0-9._-], not "." or "..".  0, or FR_EINVAL with why (one line,
 * may be NULL) saying what is wrong.  Touches nothing else.
 */
int fr_gen_kafka_url_parse(const char *s, fr_gen_kafka_url_t *u, char *why, size_t whylen);

typedef struct fr_gen_kafka_opts {
    const char *to;       /* the kafka:// URL (borrowed, read by open) */
    fr_format_t format;   /* FR_FORMAT_JSON or FR_FORMAT_AVRO */
    const char *config;   /* -c FILE, or NULL for the built-in source */
    const char *source;   /* a source of config, or NULL for its first */
    const char *registry; /* http[s]:// base URL of a Confluent-compatible
                             registry, or NULL for the configuration's
                             (Avro only; without config one is needed) */
    /* borrowed, read while waiting: when *stop >= 2 a send waiting for room
     * in librdkafka's queue gives up (may be NULL) */
    const volatile sig_atomic_t *stop;
} fr_gen_kafka_opts_t;

typedef struct fr_gen_kafka fr_gen_kafka_t;

/*
 * Opens the sink: loads the configuration, picks the source, for Avro
 * registers the schema, then creates the producer and waits (at most
 * FR_GEN_KAFKA_CONNECT_MS) for the cluster's metadata of the topic.
 * Strings of o are read during the call only.  0 with *out (close with
 * fr_gen_kafka_close); or with err filled (one line):
 *   FR_EINVAL      a bad URL, no registry for Avro, no such source, the
 *                  source cannot be written as Avro
 *   FR_ECONFIG, -errno   the configuration (as fr_config_load)
 *   FR_ECONFLICT   the registry refused the schema as incompatible
 *   FR_EUNAVAIL    the registry or the cluster cannot be reached, the
 *                  topic does not exist
 *   others         from fr_registry_register, librdkafka set-up, memory
 */
int fr_gen_kafka_open(const fr_gen_kafka_opts_t *o, fr_gen_kafka_t **out, char *err, size_t errlen);

/*
 * Types event[len] (one JSON object, borrowed for the call) and queues it
 * as one message.  While librdkafka's queue is full it serves delivery
 * reports and waits.  0; or with err filled: FR_EPARSE / FR_EMISSING /
 * FR_ETYPE / FR_ELIMIT (the event does not fit the source), FR_EINVAL
 * (Avro encoding), FR_EUNAVAIL (the producer hit a fatal error, or *stop
 * reached 2 while waiting for room).
 */
int fr_gen_kafka_send(fr_gen_kafka_t *k, const char *event, size_t len, char *err, size_t errlen);

/* Serves delivery reports, waiting up to timeout_ms for one (0: none). */
void fr_gen_kafka_poll(fr_gen_kafka_t *k, int timeout_ms);

/* Waits up to timeout_ms for every queued message to be acknowledged or to
 * fail: 0 when none is left, FR_EUNAVAIL when some are. */
int fr_gen_kafka_flush(fr_gen_kafka_t *k, int timeout_ms);

/* Fails every message not yet sent to a broker (their delivery reports
 * count them as failed); messages in flight still complete. */
void fr_gen_kafka_purge(fr_gen_kafka_t *k);

typedef struct fr_gen_kafka_stats {
    uint64_t queued;           /* messages handed to librdkafka */
    uint64_t acked;            /* acknowledged by the cluster */
    uint64_t failed;           /* delivery failed, timed out or purged */
    uint32_t schema_id;        /* Avro: the registered id; 0 for JSON */
    const char *subject;       /* Avro: "<TOPIC>-value"; NULL for JSON */
    const char *source;        /* the source the events were typed with */
    fr_format_t source_format; /* the format that source reads */
    const char *registry;      /* Avro: the registry's URL, or "embedded" */
    const char *error;         /* the first delivery failure, or NULL */
} fr_gen_kafka_stats_t;

/* The counts so far; strings valid until fr_gen_kafka_close. */
void fr_gen_kafka_stats(const fr_gen_kafka_t *k, fr_gen_kafka_stats_t *st);

/* Destroys the producer without waiting (flush first), frees k; NULL is
 * ignored. */
void fr_gen_kafka_close(fr_gen_kafka_t *k);

#endif
