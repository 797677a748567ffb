/*
 * avro.h - the Avro codec: Confluent-framed Kafka messages and Object
 * Container Files, read with the writer's schema and projected onto a
 * source's fields (the reader schema, DESIGN §2 and §4b).
 *
 * A writer schema (Avro JSON, parsed by avro-c) is compiled once into a
 * projection (fr_avro_proj_t): the writer's types as a flat table plus,
 * per writer field, the reader field it fills.  Decoding walks the binary
 * body with that table in one pass: it checks every length, count, union
 * branch and enum index against the bytes left and the schema before
 * using it (avro-c allocates wire-declared lengths before checking them),
 * skips what the reader does not want, and returns the wanted values as
 * views into the input.  avro-c itself decodes container files and the
 * reference path fr_avro_decode_generic, always after the same walk has
 * accepted the bytes.
 *
 * Resolution, after the Avro specification with freshet's field rules:
 *   - writer fields the reader lacks are ignored, whatever their type;
 *   - reader fields the writer lacks take their configured default, else
 *     null if optional, else every event is refused ("missing_field");
 *   - long reads int or long; double reads int, long, float or double;
 *     string reads string, bytes (valid UTF-8 only) or an enum's symbol;
 *     boolean reads boolean;
 *   - a writer union is readable when each of its non-null branches is;
 *     null (a null branch) behaves like an absent field: the default, else
 *     null if optional, else "missing_field";
 *   - the timestamp field (a long) times ts_unit_ms gives the event time.
 * Anything else cannot be read: the projection is refused (FR_EMISMATCH)
 * with a message naming the field and both types.  Record names,
 * namespaces and aliases are not compared; fields match by name.
 *
 * A projection or codec is used by one thread at a time.
 */
#ifndef FR_EVENT_AVRO_H
#define FR_EVENT_AVRO_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/value.h"
#include "event/event.h"

/* Deepest nesting of records, arrays, maps and unions in a writer schema
 * or a message (the top-level record is level 1). */
#define FR_AVRO_MAX_DEPTH 64
/* Largest writer schema text, and most types in one writer schema. */
#define FR_AVRO_MAX_SCHEMA_BYTES (1 << 20)
#define FR_AVRO_MAX_TYPES 65536
/* Most array or map items of a type that takes no bytes (null, an empty
 * record, fixed(0)) in one message: such items cost no input, so the
 * lengths-versus-bytes check cannot bound them. */
#define FR_AVRO_MAX_EMPTY_ITEMS 4096
/* Largest block of a container file. */
#define FR_AVRO_MAX_BLOCK_BYTES (64 << 20)
/* How long a codec remembers that the registry lacks a schema id. */
#define FR_AVRO_NEGATIVE_TTL_MS 1000
/* Schema ids a codec keeps (the least recently used goes first). */
#define FR_AVRO_CACHE_MAX 256

/* avro-c keeps its error text in a process global: code that calls avro-c
 * and reads avro_strerror() from several threads holds this lock around
 * both (this module does). */
void fr_avro_c_lock(void);
void fr_avro_c_unlock(void);

/* Confluent framing: 0, or FR_ECORRUPT when n < 5 or the magic byte is
 * not 0.  *body points into msg. */
int fr_avro_unframe(const void *msg, size_t n, uint32_t *schema_id, const void **body,
                    size_t *blen);
/* Appends the 5-byte frame header for id: 0, FR_ELIMIT or FR_ENOMEM. */
int fr_avro_frame(uint32_t schema_id, fr_buf_t *out);

typedef struct fr_avro_proj fr_avro_proj_t;

/*
 * Projection of writer schema wschema[len] (Avro JSON text, borrowed for
 * the call) onto src (borrowed: src must outlive the projection).  0 with
 * *out owned by the caller (fr_avro_proj_free); FR_EPARSE (not a valid
 * Avro schema, not a record, nested deeper than FR_AVRO_MAX_DEPTH, more
 * than FR_AVRO_MAX_TYPES types); FR_EMISMATCH (a reader field cannot be
 * read from the writer's); FR_ELIMIT (len > FR_AVRO_MAX_SCHEMA_BYTES);
 * FR_ENOMEM.  On failure *out is NULL and err (may be NULL) holds one
 * line, e.g.
 *   "field 'amount': the writer's type string cannot be read as double"
 */
int fr_avro_proj_new(const fr_source_spec_t *src, const char *wschema, size_t len,
                     fr_avro_proj_t **out, char *err, size_t errlen);
/* Frees pj; NULL is ignored. */
void fr_avro_proj_free(fr_avro_proj_t *pj);

/*
 * Decodes one Avro binary body p[n] (no frame) written with pj's writer
 * schema: vals[src->nfields] typed like fr_event_from_json gives them
 * (absent optional fields FR_T_NULL; strings point into p, or for enum
 * symbols into pj, and are valid while both are), *ts_ms the event time.
 * 0, or with rej filled:
 *   FR_ECORRUPT "malformed_avro"   the bytes are not a value of the writer
 *                                  schema (truncated, a length or count
 *                                  beyond the input, a bad union branch or
 *                                  enum index, too deep, trailing bytes)
 *   FR_EMISSING "missing_field"    a required field is absent or null
 *   FR_EMISSING "missing_timestamp"
 *   FR_ETYPE    "wrong_type"       a string that is not UTF-8, a
 *                                  timestamp out of range
 *   FR_ELIMIT   "too_long"         a string over FR_EVENT_MAX_STRING bytes
 * Malformed bytes are reported before any other refusal.  Allocates
 * nothing.
 */
int fr_avro_decode(fr_avro_proj_t *pj, const void *p, size_t n, fr_value_t *vals, int64_t *ts_ms,
                   fr_reject_t *rej);
/*
 * The same result through avro-c's generic reader (avro_value_read) after
 * the same validating walk: the reference path, several times slower, for
 * tests and benchmarks.  Strings point into pj-owned memory valid until
 * the next decode on pj.  Also FR_ENOMEM (no rej reason then).
 */
int fr_avro_decode_generic(fr_avro_proj_t *pj, const void *p, size_t n, fr_value_t *vals,
                           int64_t *ts_ms, fr_reject_t *rej);

/*
 * The reader schema of src as Avro JSON appended to out: a record named
 * after the source (characters Avro names do not allow become '_'),
 * namespace "freshet", fields in config order typed string, long, double
 * or boolean; an optional field is ["null", T] with default null, or
 * [T, "null"] with its configured default; a required field with a
 * default carries it.  0, FR_EINVAL (a field name is not a valid Avro
 * name: [A-Za-z_][A-Za-z0-9_]*), FR_ELIMIT, FR_ENOMEM.
 */
int fr_avro_schema_json(const fr_source_spec_t *src, fr_buf_t *out);
/*
 * Appends vals (nfields of src; FR_T_NULL for absent optional fields) as
 * Avro binary of fr_avro_schema_json(src) (no frame).  0, FR_EINVAL (a
 * value of the wrong type, or null in a required field), FR_ELIMIT,
 * FR_ENOMEM; on failure out may hold part of the record.  For the
 * generator and tests.
 */
int fr_avro_encode(const fr_source_spec_t *src, const fr_value_t *vals, fr_buf_t *out);

/*
 * Writing src's values with a writer schema someone else registered (HTTP
 * ingest into an Avro Kafka source writes with the topic's registered
 * schema, so every consumer reads those events as it reads any producer's).
 * The schema must be a record holding every field of src by name, in a type
 * the processor can read back as the source's (fr_avro_proj_new's rules);
 * its fields src lacks are written with their defaults.  Values are written
 * as:
 *   long     long; int (values in its range)
 *   double   double; float (the nearest float); long, int (whole values in
 *            range)
 *   string   string; bytes; enum (one of its symbols)
 *   boolean  boolean
 * A union takes the first of its branches, in that order of preference,
 * that can hold the value, and its null branch for null; a null (an absent
 * optional field) where the type has no null is written as the field's
 * default.  Defaults written: null, booleans, numbers, strings, bytes,
 * fixed, enums, and arrays, maps and unions of those (not records).
 *
 * fr_avro_writer_new: 0 with *out (free with fr_avro_writer_free); as
 * fr_avro_proj_new's errors, or FR_EMISMATCH when a field of src is not in
 * the schema or a field of the schema src lacks has no default this writer
 * can write; err (may be NULL) says which, e.g.
 *   "field 'country' of source 'tx' is not in the schema (its values would be lost)"
 * src is borrowed and must outlive the writer.
 */
typedef struct fr_avro_writer fr_avro_writer_t;
int fr_avro_writer_new(const fr_source_spec_t *src, const char *wschema, size_t len,
                       fr_avro_writer_t **out, char *err, size_t errlen);
/* Frees w; NULL is ignored. */
void fr_avro_writer_free(fr_avro_writer_t *w);
/*
 * Appends vals (src->nfields, typed as fr_event_from_json gives them) as an
 * Avro body of w's schema (no frame).  0; or, with rej filled and out
 * holding part of the record (the caller cuts it back):
 *   FR_ETYPE    "wrong_type"     a value the schema's type cannot hold (an
 *                                int out of range, a string that is no enum
 *                                symbol, a fraction for a long)
 *   FR_EMISSING "missing_field"  null where the type has neither null nor a
 *                                default
 * FR_ELIMIT, FR_ENOMEM from out.  w is only read: any number of threads may
 * encode with one writer at once.
 */
int fr_avro_writer_encode(const fr_avro_writer_t *w, const fr_value_t *vals, fr_buf_t *out,
                          fr_reject_t *rej);

/*
 * A decoder for one source with a per-schema-id cache of projections.
 * lookup appends the writer schema JSON of an id to out (an empty buffer
 * whose maximum is FR_AVRO_MAX_SCHEMA_BYTES): 0, FR_ENOTFOUND (no such
 * id), FR_EUNAVAIL (registry unreachable: the caller retries later; not a
 * dead letter).  It is called from fr_avro_codec_decode, on the same
 * thread.
 */
typedef int (*fr_avro_lookup_fn)(void *ctx, uint32_t schema_id, fr_buf_t *out);
typedef struct fr_avro_codec fr_avro_codec_t;

/* A codec for src (borrowed: it must outlive the codec); ctx is passed to
 * lookup.  Messages over max_message_bytes (frame included) are refused.
 * 0 with *out owned by the caller, or FR_ENOMEM. */
int fr_avro_codec_new(const fr_source_spec_t *src, fr_avro_lookup_fn lookup, void *ctx,
                      size_t max_message_bytes, fr_avro_codec_t **out);
/* Frees c and its projections; NULL is ignored. */
void fr_avro_codec_free(fr_avro_codec_t *c);
/*
 * Unframes msg[n], finds (or looks up, builds and caches) the projection
 * for its schema id, and decodes the body as fr_avro_decode does (strings
 * point into msg or into c; valid while msg lives and until the next call
 * on c).  Besides fr_avro_decode's outcomes, with rej filled:
 *   FR_ELIMIT    "too_large"            n > max_message_bytes
 *   FR_ECORRUPT  "malformed_avro"       no Confluent frame
 *   FR_ENOTFOUND "unknown_schema"       the registry lacks the id (this is
 *                                       remembered FR_AVRO_NEGATIVE_TTL_MS,
 *                                       then asked again)
 *   FR_EMISMATCH "incompatible_schema"  the writer schema is invalid or
 *                                       cannot be projected onto src, or
 *                                       is too large (remembered for good:
 *                                       ids are immutable)
 *   FR_EUNAVAIL  "registry_unavailable" lookup failed otherwise; nothing
 *                                       is remembered: retry, do not
 *                                       dead-letter
 *   FR_ENOMEM    "out_of_memory"        likewise a retry, not a dead letter
 */
int fr_avro_codec_decode(fr_avro_codec_t *c, const void *msg, size_t n, fr_value_t *vals,
                         int64_t *ts_ms, fr_reject_t *rej);

/*
 * Object Container Files (backfill): the records of a file, whatever its
 * writer schema, projected onto src.  Codecs null, deflate, snappy and
 * lzma (avro-c's).  The container (header, block counts and sizes, sync
 * markers) is checked before avro-c reads any of it, block by block as
 * reading proceeds; with the null codec every record is also walked as
 * fr_avro_decode does, so avro-c only ever sees bytes known to be valid.
 * (Compressed blocks are checked as blocks, not record by record.)
 */
typedef struct fr_avro_file fr_avro_file_t;

/* Opens path for reading as src (borrowed: it must outlive the handle).
 * 0 with *out owned by the caller (fr_avro_file_close); -errno (cannot
 * open or read), FR_ECORRUPT (not a container file, or a broken header or
 * first block), FR_EPARSE / FR_EMISMATCH (its schema, as for
 * fr_avro_proj_new), FR_ENOMEM; err (may be NULL) holds one line. */
int fr_avro_file_open(const char *path, const fr_source_spec_t *src, fr_avro_file_t **out,
                      char *err, size_t errlen);
/*
 * The next record: 0 with vals/ts filled (strings valid until the next
 * call on f); FR_ENOTFOUND at the end of the file; a per-record refusal as
 * fr_avro_decode returns them (rej filled: the caller dead-letters the
 * record and goes on); or FR_ECORRUPT / -errno when the file is broken
 * from here on (rej filled with "malformed_avro"; every later call returns
 * the same).
 */
int fr_avro_file_next(fr_avro_file_t *f, fr_value_t *vals, int64_t *ts_ms, fr_reject_t *rej);
/* Closes f; NULL is ignored. */
void fr_avro_file_close(fr_avro_file_t *f);

#endif
