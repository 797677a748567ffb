/*
 * gen_int.h - private to src/gen: the sinks of `freshet generate`, driven
 * by the command's loop in gen_cmd.c.
 *
 * Batch outputs (gen_out.c) take NDJSON a batch at a time: a file
 * descriptor (stdout or a file), an HTTP ingest URL (libcurl, batches with
 * an Idempotency-Key, retried), or a source of the embedded log (appended
 * through serve/ingest.h's fr_ingest, so with the same typing, admission,
 * dead letters and durability as HTTP ingest).  The loop keeps one pending
 * batch per output and flushes every output at once, in order, so events of
 * several sources sharing nothing still leave in the order they were made
 * (a chargeback never before its transaction).
 *
 * The Kafka sink (gen_kafka.c) takes one event at a time and writes each
 * generated source (a stream) to its own topic.  It types every event
 * against a source spec (the -c configuration's, or the built-in copy of
 * the example's), keys it by the entity of the source's first feature view
 * (no key for a source without views, such as chargebacks), and hands it to
 * an idempotent librdkafka producer as the JSON text itself or as
 * Confluent-framed Avro of fr_avro_schema_json(source), whose schema it
 * registers under "<TOPIC>-value" when it opens.  librdkafka batches
 * (linger.ms 5); delivery reports arrive on the caller's thread from
 * fr_gen_kafka_send, fr_gen_kafka_poll and fr_gen_kafka_flush.
 *
 * One thread uses a sink or an output at a time.
 */
#ifndef FR_GEN_GEN_INT_H
#define FR_GEN_GEN_INT_H

#include <curl/curl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "gen/gen.h"
#include "source/elog.h"

/* ---- batch outputs (gen_out.c) ---- */

typedef enum fr_gen_out_kind {
    FR_GEN_OUT_FD,   /* stdout or a file */
    FR_GEN_OUT_HTTP, /* POST to an ingest URL */
    FR_GEN_OUT_LOG,  /* append to a source of the embedded log */
} fr_gen_out_kind_t;

#define FR_GEN_OUT_MAX_NAME 1024 /* a path or URL, at most */

typedef struct fr_gen_out {
    fr_gen_out_kind_t kind;
    char name[FR_GEN_OUT_MAX_NAME + 1]; /* the path, "stdout", the URL, or the log source */
    fr_buf_t pend;    /* NDJSON not yet handed over */
    uint64_t npend;   /* events in pend */
    uint64_t sent;    /* events handed over (written, or answered) */
    uint64_t accepted, rejected; /* HTTP and log: as the answers counted them */
    uint64_t requests, retries;  /* HTTP and log: batches sent, tries repeated */
    /* FD */
    int fd, own_fd;
    /* HTTP */
    CURL *curl;
    fr_buf_t answer;
    char curl_err[CURL_ERROR_SIZE];
    char key_prefix[128];
    uint64_t batchno;
    /* LOG (borrowed) */
    const fr_config_t *cfg;
    fr_elog_t *log;
    int src;
} fr_gen_out_t;

/*
 * Opening: *o is caller's storage, filled from scratch; pend_max bounds the
 * pending batch.  0, or -1 with err filled (one line).  An opened output is
 * closed with fr_gen_out_close, also after a failed open.
 *
 * fd: "-" is stdout (not closed); another path is created or truncated.
 * http: url is POSTed to as is (curl_global_init is the caller's);
 * key_prefix starts every batch's Idempotency-Key.  log: events go to
 * source src of cfg in log (both borrowed, outliving the output).
 */
int fr_gen_out_open_fd(fr_gen_out_t *o, const char *path, size_t pend_max, char *err,
                       size_t errlen);
int fr_gen_out_open_http(fr_gen_out_t *o, const char *url, const char *key_prefix,
                         size_t pend_max, char *err, size_t errlen);
int fr_gen_out_open_log(fr_gen_out_t *o, const fr_config_t *cfg, fr_elog_t *log, int src,
                        size_t pend_max, char *err, size_t errlen);

/*
 * Hands the pending batch over and empties it.  fd: written whole.  http:
 * POSTed with the next Idempotency-Key; a failed try (transport error, 408,
 * 429, 5xx, or a 2xx answer whose "accepted" + "rejected" is not the batch
 * size) is retried up to 5 times, 0.1 s to 1.6 s apart, with the same key,
 * unless *stop is set; other 4xx answers fail at once.  log: fr_ingest;
 * any answer but 200 fails.  0, or -1 with err filled (the batch is then
 * still pending).
 */
int fr_gen_out_flush(fr_gen_out_t *o, const volatile sig_atomic_t *stop, char *err,
                     size_t errlen);

/* Closes a file the output opened (0, or -1 with err filled when closing
 * reports a write error); frees what it holds.  Safe on a zeroed output. */
int fr_gen_out_close(fr_gen_out_t *o, char *err, size_t errlen);

/* ---- Kafka (gen_kafka.c) ---- */

#define FR_GEN_KAFKA_MAX_BROKERS 4096  /* bytes in the broker list of a kafka:// URL */
#define FR_GEN_KAFKA_MAX_TOPIC 249     /* Kafka's longest topic name */
#define FR_GEN_KAFKA_CONNECT_MS 10000  /* the cluster must answer a metadata request by then */
#define FR_GEN_KAFKA_DELIVERY_MS 30000 /* a message not acknowledged by then has failed */
#define FR_GEN_KAFKA_QUEUE 500000      /* messages librdkafka may hold unacknowledged */

/* A parsed kafka://HOST:PORT[,HOST:PORT...][/TOPIC]. */
typedef struct fr_gen_kafka_url {
    char brokers[FR_GEN_KAFKA_MAX_BROKERS + 1]; /* "HOST:PORT,HOST:PORT" */
    /* "" (a topic per source, named like it), a name, or a pattern with one
     * "%s" that the source's name replaces */
    char topic[FR_GEN_KAFKA_MAX_TOPIC + 1];
} fr_gen_kafka_url_t;

/*
 * Parses s (NUL-terminated, borrowed) into *u.  Hosts are names, IPv4
 * addresses or [IPv6] addresses; ports 1..65535; the topic, when given, is
 * 1..249 of [A-Za-z0-9._-] (with at most one "%s"), not "." or "..".  0, or
 * FR_EINVAL with why (one line, may be NULL) saying what is wrong.
 */
int fr_gen_kafka_url_parse(const char *s, fr_gen_kafka_url_t *u, char *why, size_t whylen);

/* Whether u names one topic (no pattern): the single-topic form. */
int fr_gen_kafka_url_single(const fr_gen_kafka_url_t *u);

/*
 * The topic of source `source` under u, into topic[len] (len >
 * FR_GEN_KAFKA_MAX_TOPIC).  0, or FR_EINVAL with why when the name it makes
 * is not a valid topic.
 */
int fr_gen_kafka_topic(const fr_gen_kafka_url_t *u, const char *source, char *topic, size_t len,
                       char *why, size_t whylen);

typedef struct fr_gen_kafka_stream {
    const char *topic;  /* the topic (borrowed, read by open) */
    const char *source; /* the configuration's source that types the events */
} fr_gen_kafka_stream_t;

typedef struct fr_gen_kafka_opts {
    const char *brokers; /* HOST:PORT[,HOST:PORT...] (borrowed, read by open) */
    fr_gen_kafka_stream_t streams[FR_GEN_MAX_SOURCES];
    size_t nstreams;     /* 1 .. FR_GEN_MAX_SOURCES */
    fr_format_t format;  /* FR_FORMAT_JSON or FR_FORMAT_AVRO */
    const char *config;  /* -c FILE, or NULL for fr_gen_builtin_config(kind) */
    fr_gen_kind_t kind;
    const char *registry; /* http[s]:// base URL of a Confluent-compatible
                             registry, or NULL for the configuration's
                             (Avro only; without config one is needed) */
    /* borrowed, read while waiting: when *stop >= 2 a send waiting for room
     * in librdkafka's queue gives up (may be NULL) */
    const volatile sig_atomic_t *stop;
} fr_gen_kafka_opts_t;

typedef struct fr_gen_kafka fr_gen_kafka_t;

/*
 * Opens the sink: loads the configuration, finds each stream's source, for
 * Avro registers each stream's schema, then creates the producer and waits
 * (at most FR_GEN_KAFKA_CONNECT_MS) for the cluster's metadata of the
 * topics.  Strings of o are read during the call only.  0 with *out (close
 * with fr_gen_kafka_close); or with err filled (one line):
 *   FR_EINVAL      no registry for Avro, no such source, a source that
 *                  cannot be written as Avro
 *   FR_ECONFIG, -errno   the configuration (as fr_config_load)
 *   FR_ECONFLICT   the registry refused a schema as incompatible
 *   FR_EUNAVAIL    the registry or the cluster cannot be reached, a topic
 *                  does not exist
 *   others         from fr_registry_register, librdkafka set-up, memory
 */
int fr_gen_kafka_open(const fr_gen_kafka_opts_t *o, fr_gen_kafka_t **out, char *err, size_t errlen);

/*
 * Types event[len] (one JSON object, borrowed for the call) with the source
 * of stream `stream` and queues it as one message to the stream's topic.
 * While librdkafka's queue is full it serves delivery reports and waits.
 * 0; or with err filled: FR_EPARSE / FR_EMISSING / FR_ETYPE / FR_ELIMIT
 * (the event does not fit the source), FR_EINVAL (Avro encoding),
 * FR_EUNAVAIL (the producer hit a fatal error, or *stop reached 2 while
 * waiting for room).
 */
int fr_gen_kafka_send(fr_gen_kafka_t *k, size_t stream, const char *event, size_t len, char *err,
                      size_t errlen);

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
    size_t nstreams;
    struct {
        const char *topic;
        const char *source;        /* the source the events were typed with */
        fr_format_t source_format; /* the format that source reads */
        uint64_t acked;            /* acknowledged messages of this stream */
        uint32_t schema_id;        /* Avro: the registered id; 0 for JSON */
        const char *subject;       /* Avro: "<TOPIC>-value"; NULL for JSON */
    } streams[FR_GEN_MAX_SOURCES];
    const char *registry; /* Avro: the registry's URL, or "embedded" */
    const char *error;    /* the first delivery failure, or NULL */
} fr_gen_kafka_stats_t;

/* The counts so far; strings valid until fr_gen_kafka_close. */
void fr_gen_kafka_stats(const fr_gen_kafka_t *k, fr_gen_kafka_stats_t *st);

/* Destroys the producer without waiting (flush first), frees k; NULL is
 * ignored. */
void fr_gen_kafka_close(fr_gen_kafka_t *k);

#endif
