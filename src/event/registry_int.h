/*
 * registry_int.h - inside the schema registry: parsed Avro schemas and
 * their compatibility (registry_avsc.c), the backend table the embedded
 * (registry.c) and external (registry_remote.c) registries fill, and the
 * REST answers (registry_http.c).
 */
#ifndef FR_EVENT_REGISTRY_INT_H
#define FR_EVENT_REGISTRY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/registry.h"

/* ---- parsed Avro schemas (registry_avsc.c) ------------------------------ */

typedef enum {
    AV_NULL,
    AV_BOOLEAN,
    AV_INT,
    AV_LONG,
    AV_FLOAT,
    AV_DOUBLE,
    AV_BYTES,
    AV_STRING,
    AV_RECORD,
    AV_ENUM,
    AV_ARRAY,
    AV_MAP,
    AV_UNION,
    AV_FIXED,
} av_kind_t;

typedef struct av_node av_node_t;
typedef struct av_schema av_schema_t;

/*
 * Parses text[len] (borrowed) as an Avro schema, strictly by the Avro 1.11
 * specification (names, namespaces, unions, defaults checked against their
 * types, the first branch of a union for a union's default), then with
 * avro-c, which the Avro codec uses.  0 with *out (free with fr_avsc_free);
 * FR_EPARSE with reason; FR_ENOMEM.
 */
int fr_avsc_parse(const char *text, size_t len, av_schema_t **out, char *reason, size_t rlen);
void fr_avsc_free(av_schema_t *s);

/*
 * The canonical text of s into out (appended): compact JSON, object keys
 * in a fixed order (type/name first, then Avro's usual order, then the rest
 * sorted), a primitive written as {"type":"int"} becomes "int".  Two texts
 * of one schema that differ only so have the same canonical text.
 */
int fr_avsc_canonical(const av_schema_t *s, fr_buf_t *out);

/*
 * Whether data written with writer can be read with reader (Avro schema
 * resolution): 0, or FR_ECONFLICT with reason naming the place, e.g.
 * "field 'x' of the new schema has no default and is missing in version 2",
 * where rname / wname ("the new schema", "version 2") name the two.
 * FR_ENOMEM.
 */
int fr_avsc_compat(const av_schema_t *reader, const char *rname, const av_schema_t *writer,
                   const char *wname, char *reason, size_t rlen);

/* ---- compatibility levels ----------------------------------------------- */

typedef enum {
    FR_COMPAT_BACKWARD = 0, /* the default */
    FR_COMPAT_BACKWARD_TRANSITIVE,
    FR_COMPAT_FORWARD,
    FR_COMPAT_FORWARD_TRANSITIVE,
    FR_COMPAT_FULL,
    FR_COMPAT_FULL_TRANSITIVE,
    FR_COMPAT_NONE,
    FR_COMPAT__N
} fr_compat_t;

/* "BACKWARD", ...; never NULL for a valid level. */
const char *fr_compat_name(fr_compat_t level);
/* The level named s (any case); -1 if none. */
int fr_compat_parse(const char *s);

/*
 * Checks schema against an earlier one under level's direction (not its
 * transitivity: the caller picks the versions): BACKWARD new reads old,
 * FORWARD old reads new, FULL both.  oldname names the earlier ("version 2").
 */
int fr_compat_check(fr_compat_t level, const av_schema_t *news, const av_schema_t *olds,
                    const char *oldname, char *reason, size_t rlen);

/* ---- backends ----------------------------------------------------------- */

/*
 * What a backend does.  The public functions have checked the subject, the
 * schema size and (for reg/check) parsed the schema before calling; parsed
 * and canon (its canonical text) are borrowed.
 */
typedef struct fr_registry_ops {
    const char *kind;
    int (*schema)(fr_registry_t *r, uint32_t id, fr_buf_t *out);
    int (*reg)(fr_registry_t *r, const char *subject, const char *text, size_t len,
               const av_schema_t *parsed, const char *canon, size_t canon_len, uint32_t *id,
               char *reason, size_t rlen);
    /* version 0: the latest (every version with a transitive level) */
    int (*check)(fr_registry_t *r, const char *subject, const char *text, size_t len,
                 const av_schema_t *parsed, int version, char *reason, size_t rlen);
    int (*latest)(fr_registry_t *r, const char *subject, uint32_t *id, int *version,
                  fr_buf_t *schema);
    int (*subjects)(fr_registry_t *r, fr_registry_subject_fn fn, void *ctx, char *err,
                    size_t errlen);
    int (*versions)(fr_registry_t *r, const char *subject, fr_registry_version_fn fn, void *ctx,
                    char *err, size_t errlen);
    /* reason is never NULL here */
    int (*del)(fr_registry_t *r, const char *subject, int permanent, fr_registry_deleted_fn fn,
               void *ctx, char *reason, size_t rlen);
    void (*close)(fr_registry_t *r);
} fr_registry_ops_t;

struct fr_registry {
    const fr_registry_ops_t *ops;
    void *impl;
};

/* The external backend (registry_remote.c): base URL, timeout_ms. */
int fr_registry_remote_open(const char *url, int timeout_ms, fr_registry_t *r, char *err,
                            size_t errlen);
const char *fr_registry_remote_url(const fr_registry_t *r);

/* ---- the embedded store, for registry_http.c (registry.c) --------------- */

/* Whether r is the embedded backend. */
int fr_registry_embedded(const fr_registry_t *r);
/* The level set for subject (NULL: the global one): 0 with *level, or
 * FR_ENOTFOUND when none is set. */
int fr_registry_level_get(fr_registry_t *r, const char *subject, fr_compat_t *level);
/* Sets subject's level (NULL: the global one). */
int fr_registry_level_set(fr_registry_t *r, const char *subject, fr_compat_t level);
/* The id and text of version of subject (FR_ENOTFOUND: no such version;
 * the subject exists or not as *subject_found says). */
int fr_registry_version_get(fr_registry_t *r, const char *subject, int version, int *subject_found,
                            uint32_t *id, fr_buf_t *schema);
/* The version of subject holding canon (FR_ENOTFOUND when none). */
int fr_registry_lookup(fr_registry_t *r, const char *subject, const char *canon, size_t len,
                       int *version, uint32_t *id);
/* Every (subject, version) holding id. */
typedef int (*fr_registry_use_fn)(void *ctx, const char *subject, int version);
int fr_registry_uses(fr_registry_t *r, uint32_t id, fr_registry_use_fn fn, void *ctx);
/* Compatibility of parsed with one version of subject (version > 0), the
 * latest or all per the level's transitivity (0), or every version (-1),
 * in the direction of the subject's level. */
int fr_registry_check_parsed(fr_registry_t *r, const char *subject, const av_schema_t *parsed,
                             int version, char *reason, size_t rlen);

#endif
