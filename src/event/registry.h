/*
 * registry.h - the schema registry: Avro writer schemas by id, subjects
 * with versions, compatibility levels (DESIGN §1, §4).
 *
 * Two backends behind one handle:
 *   embedded  an LMDB environment at <store.path>/registry, answering the
 *             Confluent REST subset through fr_registry_http (serve.c routes
 *             /subjects, /schemas, /compatibility and /config to it);
 *   external  with schema_registry.url set, a libcurl client of that
 *             Confluent-compatible registry, with a cache: schemas by id
 *             are immutable and kept (bounded); a subject's latest version
 *             is kept FR_REGISTRY_LATEST_TTL_MS.
 *
 * Ids are global and increasing from 1; the same schema (after
 * canonicalisation: whitespace, key order, {"type":"int"} -> "int")
 * registered under two subjects has one id; versions of a subject count
 * from 1.  Compatibility follows Avro's schema resolution rules (see
 * registry_int.h); levels are BACKWARD (default), FORWARD, FULL, NONE and
 * the *_TRANSITIVE variants.
 *
 * Thread rules: every function may be called from any number of threads
 * at once on one handle.  Several processes may open the same embedded
 * registry; within one process the handles of one directory share one
 * LMDB environment (LMDB forbids opening an environment twice in a
 * process).  Do not fork with a handle open and use it in the child.
 */
#ifndef FR_EVENT_REGISTRY_H
#define FR_EVENT_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"

#define FR_REGISTRY_MAX_SUBJECT 255       /* bytes in a subject name */
#define FR_REGISTRY_MAX_SCHEMA (1u << 20) /* bytes in a schema's text */
#define FR_REGISTRY_MAX_BODY (4u << 20)   /* bytes in a REST request body */
#define FR_REGISTRY_MAX_DEPTH 64          /* nesting of types in a schema */
#define FR_REGISTRY_LATEST_TTL_MS 5000    /* external: a subject's latest is cached this long */
#define FR_REGISTRY_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

typedef struct fr_registry fr_registry_t;

/*
 * Opens the registry cfg describes: embedded (the LMDB environment at
 * <cfg->store.path>/registry, created if missing) unless cfg->registry.url
 * is set, then a client of that registry (nothing is contacted yet).  cfg
 * is read during the call only.  0 with *out, or an error with err filled
 * (FR_ENOMEM, -errno, FR_ESTORE).
 */
int fr_registry_open(const fr_config_t *cfg, fr_registry_t **out, char *err, size_t errlen);
/* Closes; NULL is ignored.  No call may be in flight on r. */
void fr_registry_close(fr_registry_t *r);
/* "embedded" or "external". */
const char *fr_registry_kind(const fr_registry_t *r);
/* The external registry's base URL, or NULL when embedded; valid while r is. */
const char *fr_registry_url(const fr_registry_t *r);

/* Whether s (NUL-terminated) is an acceptable subject name: 0, or
 * FR_EINVAL with reason (may be NULL) saying why. */
int fr_registry_subject_ok(const char *s, char *reason, size_t rlen);

/*
 * The writer schema (canonical JSON text) of id into out (reset first; its
 * maximum must hold the schema).  0, FR_ENOTFOUND, FR_EUNAVAIL (external
 * registry unreachable, timed out or answering 5xx), FR_ELIMIT, FR_ENOMEM,
 * FR_ESTORE.
 */
int fr_registry_schema(fr_registry_t *r, uint32_t id, fr_buf_t *out);

/*
 * Registers schema[len] (borrowed) under subject (NUL-terminated, 1 to
 * FR_REGISTRY_MAX_SUBJECT bytes of UTF-8 without control characters).
 * Idempotent: a schema already registered under subject returns its id.
 * 0 with *id; FR_EPARSE (not a valid Avro schema), FR_ECONFLICT
 * (incompatible under the subject's level, e.g. "field 'x' of the new
 * schema has no default and is missing in version 2"), FR_EINVAL (bad
 * subject), FR_ELIMIT (schema over FR_REGISTRY_MAX_SCHEMA), FR_EUNAVAIL,
 * FR_ESTORE.  reason (may be NULL) says why for every error.
 */
int fr_registry_register(fr_registry_t *r, const char *subject, const char *schema, size_t len,
                         uint32_t *id, char *reason, size_t reasonlen);

/*
 * Whether schema[len] may be registered under subject: compatible with its
 * latest version (every version with a *_TRANSITIVE level) under the
 * subject's level.  0 compatible; FR_ECONFLICT (reason); FR_ENOTFOUND (no
 * such subject); FR_EPARSE; FR_EINVAL; FR_ELIMIT; FR_EUNAVAIL; FR_ESTORE.
 */
int fr_registry_check(fr_registry_t *r, const char *subject, const char *schema, size_t len,
                      char *reason, size_t reasonlen);

/*
 * The latest version of subject: *id, *version and its text into schema
 * (reset first; NULL to skip).  0, FR_ENOTFOUND, FR_EINVAL, FR_EUNAVAIL,
 * FR_ELIMIT, FR_ESTORE.
 */
int fr_registry_latest(fr_registry_t *r, const char *subject, uint32_t *id, int *version,
                       fr_buf_t *schema);

/*
 * Every subject with a version, in byte order: fn(ctx, subject) (the string
 * valid during the call); a non-zero return stops and is returned.  0 or
 * an error with err filled.
 */
typedef int (*fr_registry_subject_fn)(void *ctx, const char *subject);
int fr_registry_subjects(fr_registry_t *r, fr_registry_subject_fn fn, void *ctx, char *err,
                         size_t errlen);

/*
 * Every version of subject, oldest first: fn(ctx, version, id, schema, len)
 * (the text valid during the call); a non-zero return stops and is
 * returned.  0, FR_ENOTFOUND (no such subject) or an error with err filled.
 */
typedef int (*fr_registry_version_fn)(void *ctx, int version, uint32_t id, const char *schema,
                                      size_t len);
int fr_registry_versions(fr_registry_t *r, const char *subject, fr_registry_version_fn fn,
                         void *ctx, char *err, size_t errlen);

/*
 * Deletes subject as Confluent's DELETE /subjects/{subject}[?permanent=true]
 * does.  Soft (permanent 0): its versions leave every listing, lookup and
 * compatibility check, their numbers stay taken (a later registration
 * continues after them) and their schemas stay readable by id.  Permanent,
 * only after a soft delete: those versions and the subject's compatibility
 * level go for good, and a later registration starts again at version 1;
 * the schemas stay readable by id all the same (messages in topics carry
 * the ids; ids are never reused).  fn (may be NULL) gets each version
 * deleted, oldest first, inside the deleting transaction (a non-zero return
 * undoes it and is returned).  0; FR_ENOTFOUND (no such subject);
 * FR_ECONFLICT (soft: deleted already; permanent: not soft-deleted first);
 * FR_EINVAL (bad subject); FR_EUNAVAIL; FR_ESTORE.  reason (may be NULL)
 * says why, as Confluent words it ("Subject 'x' not found.").
 */
typedef int (*fr_registry_deleted_fn)(void *ctx, int version);
int fr_registry_delete(fr_registry_t *r, const char *subject, int permanent,
                       fr_registry_deleted_fn fn, void *ctx, char *reason, size_t reasonlen);

/*
 * Embedded only: answers one Confluent REST request.  path is as on the
 * wire (percent-encoded segments, optional ?query), e.g.
 * "/subjects/orders-value/versions"; body[len] (borrowed; NULL when empty).
 * Returns the HTTP status; out (reset first) gets the JSON body, errors as
 * Confluent writes them: {"error_code":40401,"message":"Subject 'x' not
 * found."}.  Routes:
 *   GET  /subjects                            ["a","b"]
 *   GET  /subjects/{s}/versions               [1,2]
 *   POST /subjects/{s}/versions   {"schema"}  {"id":N} | 409 | 422
 *   GET  /subjects/{s}/versions/{v|latest}    {"subject","version","id","schema"}
 *   GET  /subjects/{s}/versions/{v}/schema    the schema itself
 *   POST /subjects/{s}            {"schema"}  lookup: {"subject","version","id","schema"}
 *   GET  /schemas/ids/{id}                    {"schema"}
 *   GET  /schemas/ids/{id}/versions           [{"subject","version"}]
 *   GET  /schemas/types                       ["AVRO"]
 *   POST /compatibility/subjects/{s}/versions[/{v|latest}]
 *                                             {"is_compatible":bool[,"messages":[why]]}
 *   GET  /config[/{s}]  PUT /config[/{s}] {"compatibility":"FULL"}
 *   DELETE /subjects/{s}[?permanent=true]     [1,2] (fr_registry_delete)
 * Error codes: 40401 subject, 40402 version, 40403 schema not found; 40408
 * no subject-level config (GET /config/{s} without ?defaultToGlobal=true);
 * 40404 subject soft-deleted already; 40405 not soft-deleted before a
 * permanent delete;
 * 409 incompatible; 42201 invalid schema; 42202 invalid version; 42203
 * invalid level; 42208 invalid subject; 42209 schema too large; 50001 store.
 */
int fr_registry_http(fr_registry_t *r, const char *method, const char *path, const char *body,
                     size_t len, fr_buf_t *out);

/* `freshet schema register|list|check|delete` (registry_cmd.c): exit status 0 ok,
 * 1 failed or incompatible, 2 usage. */
int fr_schema_main(int argc, char **argv);

#endif
