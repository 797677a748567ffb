/*
 * kafka.h - a Kafka topic as a source (librdkafka), read with a consumer
 * group.
 *
 * Positions live in the online store, not in Kafka (DESIGN §2): on each
 * assignment the processor's listener says where every partition resumes,
 * and on revocation it commits before the partitions move.  Kafka's own
 * committed offsets are never read; the store is the truth.
 *
 * Records are messages as produced (FR_PAYLOAD_MESSAGE): JSON or Avro per
 * the source's format, decoded by the processor.  Refused messages go to
 * the source's dead-letter topic (<topic>.dlq by default) with the reason,
 * detail, topic, partition and offset in headers, through an idempotent
 * producer that the processor flushes before committing past them.
 *
 * The consumer is configured for prompt rebalances (session.timeout.ms
 * 6000, no auto commit, auto.offset.reset earliest); every other key of the
 * source's kafka: block is passed to librdkafka as is and wins.
 */
#ifndef FR_SOURCE_KAFKA_H
#define FR_SOURCE_KAFKA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/value.h"
#include "event/event.h"
#include "event/registry.h"
#include "source/source.h"
#include "store/store.h"

/* A consumer of source src's topic in its group (subscribes; partitions
 * arrive through the listener during polls).  0 or an error, err filled. */
int fr_kafka_source_open(const fr_config_t *cfg, int src, fr_source_t **out, char *err,
                         size_t errlen);

/*
 * Source src's topic as history, for backfill: every partition, from the
 * first message at or after from_ms (-1: the earliest retained) to the end
 * as of opening (at_end then holds); no consumer group, nothing committed
 * to Kafka.  Refused messages are counted, not dead-lettered again (live
 * processing put them in the dead-letter topic already).  0 or an error, err filled.
 */
int fr_kafka_source_open_history(const fr_config_t *cfg, int src, int64_t from_ms,
                                 fr_source_t **out, char *err, size_t errlen);

/* Message headers of a dead letter, as written. */
#define FR_DLQ_HDR_REASON "reason"
#define FR_DLQ_HDR_DETAIL "detail"
#define FR_DLQ_HDR_TOPIC "topic"
#define FR_DLQ_HDR_PARTITION "partition"
#define FR_DLQ_HDR_OFFSET "offset"
/* On a message re-fed from the dead-letter topic: that dead letter's offset
 * there.  The processor applies each such offset once per partition. */
#define FR_HDR_REPLAY_OF "freshet.replay_of"

/*
 * Dead letters of source src (partition 0 of its dead-letter topic), as
 * NDJSON lines on out: dlq_offset, source, reason, detail, topic, partition,
 * offset (both null for events refused by HTTP ingest), replayed (per the
 * positions in store), and payload (UTF-8 text)
 * or payload_b64 (anything else: binary Avro).  Quiet: librdkafka's logs
 * go to the debug log; unreachable brokers are one error.  0 or an error,
 * err filled.
 */
int fr_kafka_dlq_list(const fr_config_t *cfg, int src, fr_store_t *store, FILE *out, char *err,
                      size_t errlen);

/*
 * Re-feeds source src's dead letters into its topic (each to the partition
 * it came from, with the FR_HDR_REPLAY_OF header), skipping those the
 * stored positions say are applied already.  The processors apply each
 * once, even when a replay is run again after failing half way.  Events
 * refused by HTTP ingest never reached the topic and are not replayed
 * (counted in *ingest_refused).  0 or an error, err filled; *replayed and
 * *skipped count.
 */
int fr_kafka_dlq_replay(const fr_config_t *cfg, int src, fr_store_t *store, size_t *replayed,
                        size_t *skipped, size_t *ingest_refused, char *err, size_t errlen);

/*
 * Where source src stands, from the store and the brokers, for any number
 * of processors: one NDJSON line per partition (committed_offset, epoch,
 * committed_ms, replayed, watermark, start_offset, end_offset, lag), then a
 * total line (partitions, lag, dlq_topic, dead_letters: the messages in the
 * dead-letter topic).  0 or an error, err filled (one line).
 */
int fr_kafka_status(const fr_config_t *cfg, int src, fr_store_t *store, FILE *out, char *err,
                    size_t errlen);

/*
 * A producer to source src's topic and dead-letter topic, for HTTP ingest
 * on a Kafka source.  Thread-safe: any number of request threads produce
 * through one producer (idempotent, acks=all).
 *
 * An Avro source's events are written Confluent-framed (magic 0, the
 * schema id, the Avro body) with the writer schema registered for the
 * topic, subject "<topic>-value" in reg: its latest version when freshet
 * can write the source's fields with it (fr_avro_writer_new); else, as a
 * Confluent serializer with auto-registration does, freshet's own schema
 * for the source (fr_avro_schema_json: record "freshet.<source>") is
 * registered there, which the registry accepts when it is the subject's
 * first, already one of its versions, or compatible under the subject's
 * level.  The choice is kept FR_REGISTRY_LATEST_TTL_MS, then made again;
 * a failure is not kept.
 */
typedef struct fr_kafka_producer fr_kafka_producer_t;

typedef struct fr_kafka_msg {
    const void *val; /* borrowed until fr_kafka_produce returns */
    size_t vlen;
    const void *key;
    size_t klen;
    const char *reason; /* non-NULL: a dead letter, to the dead-letter topic */
    const char *detail;
    /* out */
    int32_t partition;
    int64_t offset;
    int err; /* 0, or FR_EUNAVAIL: not acknowledged */
} fr_kafka_msg_t;

/* reg (borrowed; it must outlive the producer) is needed by Avro sources
 * only; NULL otherwise. */
int fr_kafka_producer_open(const fr_config_t *cfg, int src, fr_registry_t *reg,
                           fr_kafka_producer_t **out, char *err, size_t errlen);
void fr_kafka_producer_close(fr_kafka_producer_t *p);
/* Produces msgs[n] and waits until every one is acknowledged or failed
 * (within about timeout_ms).  0 when all were acknowledged, else
 * FR_EUNAVAIL (see each message's err). */
int fr_kafka_produce(fr_kafka_producer_t *p, fr_kafka_msg_t *msgs, size_t n, int timeout_ms);

/*
 * Avro sources: the writer for one request's events (see above).  0 with
 * *w, to be given back with fr_kafka_writer_put; FR_EUNAVAIL (the registry
 * did not answer) or FR_ECONFLICT (no schema freshet can write the source
 * with: the subject's latest cannot hold its fields and the registry
 * refuses freshet's own), with why (one line) saying which and why.
 */
typedef struct fr_kafka_writer fr_kafka_writer_t;
int fr_kafka_writer_get(fr_kafka_producer_t *p, fr_kafka_writer_t **w, char *why, size_t whylen);
void fr_kafka_writer_put(fr_kafka_producer_t *p, fr_kafka_writer_t *w);
/* Messages in the source's dead-letter topic (partition 0: end minus
 * start), asked of the brokers at most once a second (the last answer is
 * kept that long).  0 with *n; FR_EUNAVAIL when they did not answer within
 * timeout_ms.  Thread-safe. */
int fr_kafka_producer_dlq_count(fr_kafka_producer_t *p, int timeout_ms, uint64_t *n);

/* The schema id events are framed with. */
uint32_t fr_kafka_writer_id(const fr_kafka_writer_t *w);
/* Appends vals (the source's fields) as one Confluent-framed message; as
 * fr_avro_writer_encode otherwise (out keeps what it held before on a
 * refusal).  Any number of threads may encode with one writer. */
int fr_kafka_writer_encode(const fr_kafka_writer_t *w, const fr_value_t *vals, fr_buf_t *out,
                           fr_reject_t *rej);

/* Sets the properties of the source's kafka: block on conf (librdkafka's
 * rd_kafka_conf_t), skipping those the client kind rejects when lenient.
 * 0 or FR_ECONFIG with err filled. */
int fr_kafka_conf_apply(const fr_kafka_spec_t *k, void *conf, int lenient, char *err,
                        size_t errlen);

#endif
