/*
 * ingest.h - turning a request body into durable log records.
 *
 * Used by POST /v1/events/{source} and by the in-process demo feeder.
 */
#ifndef FR_SERVE_INGEST_H
#define FR_SERVE_INGEST_H

#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "source/elog.h"
#include "source/kafka.h"

/* Events in one request, at most. */
#define FR_INGEST_MAX_EVENTS 100000

/*
 * Ingests body (one JSON object, an array, or NDJSON) into source src.
 * idem (may be NULL) is the Idempotency-Key.  Returns the HTTP status and
 * fills out with the JSON answer:
 *   200 {"accepted","rejected","first_offset","last_offset","errors":[...]}
 *   400 nothing usable (malformed JSON), 422 every event refused,
 *   422 idempotency key reused with another body, 503 log unavailable.
 * Refused events are in the dead-letter queue with their reason.
 */
int fr_ingest(const fr_config_t *cfg, fr_elog_t *log, int src, const char *body, size_t len,
              const char *idem, size_t idem_len, fr_buf_t *out);

/*
 * Ingests body into Kafka source src: each accepted event is produced to
 * the source's topic, keyed by the entity of the source's first view: as
 * it came (an NDJSON line, or the object re-written compactly) on a JSON
 * source; on an Avro source typed and written Confluent-framed with the
 * topic's registered writer schema (fr_kafka_writer_get; an event that
 * schema cannot hold is refused).  Each refused event goes, as it came, to
 * the dead-letter topic with the reason in headers.  Answers once the
 * brokers acknowledged all (200 {"accepted","rejected","partitions":
 * {"P":{"first","last"}},"errors"}; 400/422 as fr_ingest; 409
 * schema_incompatible when the registry gives no schema freshet can write
 * the source with, 503 registry_unavailable when it does not answer; 503
 * when some were not acknowledged).  Lateness is judged later, by the
 * processor, in partition order.
 */
int fr_ingest_kafka(const fr_config_t *cfg, fr_kafka_producer_t *prod, int src, const char *body,
                    size_t len, fr_buf_t *out);

/* What a replay of the embedded dead-letter queue did. */
typedef struct fr_ingest_replay {
    size_t replayed;  /* typed again and appended to the log */
    size_t refused;   /* refused again (kept, unreplayed, the new reason noted) */
    size_t skipped;   /* replayed before */
    size_t truncated; /* stored cut at FR_DLQ_MAX_PAYLOAD: not replayable */
} fr_ingest_replay_t;

/*
 * Re-feeds the embedded dead-letter queue (of source src, or of all with
 * -1) as it stands: each dead letter's payload, byte for byte as received,
 * is typed again under the current configuration and clock and appended
 * to the log, marked replayed in the same transaction (so a replay run
 * twice, or concurrently, feeds each dead letter once), or refused again
 * (it stays in the queue, unreplayed, with the new reason noted).  A
 * payload that was stored altered (by a version that replaced bytes that
 * were not UTF-8) is refused, "payload_altered", never replayed.  Counts
 * go to *out.  0 or a log error.
 */
int fr_ingest_replay_dlq(const fr_config_t *cfg, fr_elog_t *log, int src, fr_ingest_replay_t *out);

#endif
