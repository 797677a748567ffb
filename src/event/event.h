/*
 * event.h - event records: typing JSON events against a source's schema,
 * and the binary record kept in the log.
 *
 * JSON is parsed once, at ingest (fr_event_from_json).  What the log keeps
 * is a compact typed record (fr_record_encode) that the processor decodes
 * without allocating (fr_record_decode): strings in the decoded values point
 * into the record bytes.
 *
 * Record layout (little-endian), version 1:
 *   u8 version | u64 schema fingerprint | u64 ts (ms, two's complement)
 *   | presence bitmap, one bit per field | per present field in schema order:
 *     long, double: 8 bytes; boolean: 1 byte; string: varint length + bytes
 *
 * A record written under an older field list is read through a projection
 * (fr_record_proj_*) built from the writer's schema, which the log stores by
 * fingerprint (fr_schema_encode / fr_schema_decode).
 */
#ifndef FR_EVENT_EVENT_H
#define FR_EVENT_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/value.h"

#define FR_RECORD_VERSION 1
/* Longest string field value accepted at ingest. */
#define FR_EVENT_MAX_STRING 4096

/* Why an event was refused: short machine-readable reason plus detail. */
typedef struct fr_reject {
    const char *reason;  /* static: "malformed_json", "missing_field", "wrong_type", ... */
    char detail[160];
} fr_reject_t;

/*
 * Types the JSON object obj against src.  vals[nfields] receive the typed
 * values (strings borrowed from obj: valid while obj lives); *ts_ms the
 * event time in ms.  Strings longer than FR_EVENT_MAX_STRING are refused.
 * 0, or FR_EPARSE / FR_EMISSING / FR_ETYPE / FR_ELIMIT with rej filled.
 */
int fr_event_from_json(const fr_source_spec_t *src, const json_t *obj,
                       fr_value_t *vals, int64_t *ts_ms, fr_reject_t *rej);

/* Whether every view of source src can key the event: its entity value
 * is 1..server.max_key_bytes bytes without NUL.  0, or FR_ELIMIT with rej
 * filled ("bad_entity_key"). */
int fr_event_check_keys(const fr_config_t *cfg, int src, const fr_value_t *vals, fr_reject_t *rej);

/* The fingerprint of src's field list (names, types, order). */
uint64_t fr_schema_fingerprint(const fr_source_spec_t *src);
/* Appends src's field list (to store beside records by fingerprint). */
int fr_schema_encode(const fr_source_spec_t *src, fr_buf_t *out);

/* Appends a record of vals (nfields of src) and ts. 0 or FR_ELIMIT/FR_ENOMEM. */
int fr_record_encode(const fr_source_spec_t *src, uint64_t fingerprint, const fr_value_t *vals,
                     int64_t ts_ms, fr_buf_t *out);

/* The fingerprint a record was written with; 0 if it is not a record. */
uint64_t fr_record_fingerprint(const void *p, size_t n);

/* How a writer's fields map onto the reader's (the source as configured). */
typedef struct fr_record_proj {
    uint64_t fingerprint;
    size_t nwriter;
    fr_type_t *wtypes;  /* writer field types */
    int *map;           /* writer field i -> reader field, or -1 */
    bool *promote;      /* writer field i is a long read as a double (or NULL) */
    size_t nreader;
    const fr_field_spec_t *rfields; /* reader fields (defaults), borrowed; or NULL */
} fr_record_proj_t;

/* The identity projection for records written by src itself. */
int fr_record_proj_identity(fr_record_proj_t *pj, const fr_source_spec_t *src);
/* A projection from a stored writer schema (fr_schema_encode bytes). */
int fr_record_proj_from_schema(fr_record_proj_t *pj, const fr_source_spec_t *src,
                               uint64_t fingerprint, const void *schema, size_t n);
void fr_record_proj_destroy(fr_record_proj_t *pj);

/*
 * Decodes a record through pj into vals[pj->nreader] (reader fields the
 * writer lacks take their default, else FR_T_NULL; long values promote to double fields) and
 * *ts_ms.  Strings point into p.  0 or FR_ECORRUPT.
 */
int fr_record_decode(const fr_record_proj_t *pj, const void *p, size_t n, fr_value_t *vals,
                     int64_t *ts_ms);

/* The entity key of a value: strings as they are, longs in decimal (into
 * tmp, >= 24 bytes).  Returns the key length, or -1 if v is not a key. */
int fr_entity_key(const fr_value_t *v, char *tmp, const char **key);

/* Whether the event's values pass the view's filter. */
int fr_filter_match(const fr_filter_spec_t *f, const fr_value_t *vals);

#endif
