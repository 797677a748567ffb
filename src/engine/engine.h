/*
 * engine.h - the processing loop: source -> decode -> route -> aggregate ->
 * commit (DESIGN §1).
 *
 * The engine keeps entity states in memory (loaded from the store on first
 * touch, bounded by processor.cache_entities: clean states beyond it are
 * dropped and reloaded when needed), applies records to every view of their
 * source, and commits the dirty states together with the source positions
 * in one store commit: every processor.commit_interval_ms under load, and
 * at once whenever it has caught up with its sources (so freshness is not
 * held back by the interval when load is light).
 *
 * Thread rules: one engine belongs to one thread.  fr_engine_stats may be
 * read from others (fields are updated atomically).
 */
#ifndef FR_ENGINE_ENGINE_H
#define FR_ENGINE_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "event/decode.h"
#include "source/source.h"
#include "store/store.h"

typedef struct fr_engine fr_engine_t;

typedef struct fr_engine_stats {
    uint64_t records;        /* records read */
    uint64_t applied;        /* (record, view) applications */
    uint64_t undecodable;    /* records skipped or dead-lettered: unknown schema,
                                corrupt, mistyped, late, future */
    uint64_t commits;
    uint64_t commit_errors;
    uint64_t entities_cached;
    uint64_t last_commit_us; /* duration of the last commit */
    int64_t last_commit_ms;  /* wall clock of the last commit */
} fr_engine_stats_t;

/*
 * Looks up a writer schema by fingerprint (for records written under an
 * older field list), appending its bytes to out.  0 or FR_ENOTFOUND.
 */
typedef int (*fr_schema_lookup_fn)(void *ctx, int source, uint64_t fp, fr_buf_t *out);

/*
 * A new engine over cfg and store (both borrowed, must outlive it) and
 * sources[cfg->nsources] (ownership transferred; NULL entries are sources
 * this engine does not read).  Reads the stored positions and seeks each
 * source there (a partition without one starts at offset 0).
 */
int fr_engine_new(const fr_config_t *cfg, fr_store_t *store, fr_source_t **sources,
                  fr_schema_lookup_fn lookup, void *lookup_ctx, fr_engine_t **out, char *err,
                  size_t errlen);
void fr_engine_free(fr_engine_t *e);

/*
 * One round: polls every source (waiting up to timeout_ms when all are
 * idle), applies what arrived, and commits if due.  *n receives the records
 * applied.  0 or a store error (state kept: the next commit retries).
 */
int fr_engine_step(fr_engine_t *e, int timeout_ms, size_t *n);

/* Where Avro messages' writer schemas come from (the schema registry);
 * set before the first step. */
void fr_engine_set_avro_lookup(fr_engine_t *e, fr_avro_lookup_fn fn, void *ctx);

/* One partition this engine applies, for status output. */
typedef struct fr_engine_part {
    int source;
    int32_t partition;
    uint64_t next;      /* next offset not yet committed to the store */
    int64_t watermark;  /* committed with it; INT64_MIN: none yet */
    uint64_t end;       /* the partition's end offset if the source knows it, else UINT64_MAX */
} fr_engine_part_t;

/* The partitions assigned now (as of the last commit or assignment change,
 * or half a second ago), at most max; *n receives how many.  Any thread. */
int fr_engine_parts(fr_engine_t *e, fr_engine_part_t *out, size_t max, size_t *n);

/* The fencing epoch of this engine's commits (0: embedded, no group). */
uint64_t fr_engine_epoch(const fr_engine_t *e);

/* With 0, fr_engine_step never commits by itself (benchmarks, tools that
 * commit at chosen points); 1 (the default) restores the policy above. */
void fr_engine_set_autocommit(fr_engine_t *e, int on);

/* Commits dirty states and positions now.  0 or a store error. */
int fr_engine_commit(fr_engine_t *e);

/* Steps until *stop is set, then commits what is pending. */
int fr_engine_run(fr_engine_t *e, volatile sig_atomic_t *stop);

/* A snapshot of the counters. */
void fr_engine_stats(const fr_engine_t *e, fr_engine_stats_t *out);

/* Records not yet read, summed over sources. */
uint64_t fr_engine_lag(const fr_engine_t *e);

#endif
