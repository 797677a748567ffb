/*
 * decode.h - events as producers wrote them (Kafka messages, file lines)
 * into typed values: JSON or Avro per the source's format.
 *
 * JSON is parsed with jansson (64-bit integers stay exact) and typed by
 * fr_event_from_json; Avro goes through the Confluent framing and the
 * writer schema fetched by id (event/avro.h).  Both then check the entity
 * keys (fr_event_check_keys).  A decoder belongs to one thread.
 */
#ifndef FR_EVENT_DECODE_H
#define FR_EVENT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/value.h"
#include "event/avro.h"
#include "event/event.h"


typedef struct fr_decoder fr_decoder_t;

/* A decoder for source src of cfg (borrowed).  lookup (may be NULL: Avro
 * messages are then dead letters "unknown_schema") serves Avro sources. */
int fr_decoder_new(const fr_config_t *cfg, int src, fr_avro_lookup_fn lookup, void *ctx,
                   fr_decoder_t **out);
void fr_decoder_free(fr_decoder_t *d);

/*
 * Decodes one event of p[n] into vals[nfields] and *ts_ms (strings valid
 * until the next decode).  0; a refusal with rej filled (FR_EPARSE,
 * FR_EMISSING, FR_ETYPE, FR_ELIMIT, FR_ENOTFOUND, FR_EMISMATCH, FR_ECORRUPT:
 * the event is a dead letter); FR_EUNAVAIL (the registry is unreachable:
 * neither apply nor refuse, retry); FR_ENOMEM.
 */
int fr_decoder_decode(fr_decoder_t *d, const void *p, size_t n, fr_value_t *vals, int64_t *ts_ms,
                      fr_reject_t *rej);

#endif
