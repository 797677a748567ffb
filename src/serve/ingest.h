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

#endif
