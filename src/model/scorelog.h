/*
 * scorelog.h - the served-vector log: every score (or models.log_sample of
 * them) with its request, as_of, inputs, version and score, kept in the
 * online store so that every process on the store sees every replica's
 * scores (`freshet consistency` and `freshet drift` read it).
 *
 * Writes never slow a request: fr_scorelog_add copies the entry into a
 * bounded queue (FR_SCORELOG_MAX_QUEUED entries, FR_SCORELOG_MAX_BYTES
 * bytes) and a writer thread stores what is queued every
 * FR_SCORELOG_FLUSH_MS as one record per model and hour: namespace "slog",
 * group "<model>@<hours since the epoch>", key "<first ms, 15 digits>-
 * <pid>-<seq>", value NDJSON lines.  A full queue drops the entry and
 * counts it.  Groups older than models.log_retention are deleted as hours
 * pass.
 *
 * An entry is one JSON object: {"t": served ms, "as_of", "version",
 * "request": {...}, "inputs": [...], "score", "degraded"}.
 *
 * Thread rules: fr_scorelog_add from any thread; open and close from one.
 */
#ifndef FR_MODEL_SCORELOG_H
#define FR_MODEL_SCORELOG_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/store.h"

#define FR_SCORELOG_NS "slog"
#define FR_SCORELOG_MAX_QUEUED 100000
#define FR_SCORELOG_MAX_BYTES ((size_t)64 << 20)
#define FR_SCORELOG_FLUSH_MS 250
#define FR_SCORELOG_HOUR_MS INT64_C(3600000)

typedef struct fr_scorelog fr_scorelog_t;

/* Starts the writer over store (borrowed; must outlive the log).  0 or
 * FR_ENOMEM. */
int fr_scorelog_open(fr_store_t *store, const fr_config_t *cfg, fr_scorelog_t **out);
/* Stores what is queued, stops the writer, frees. */
void fr_scorelog_close(fr_scorelog_t *l);

/* Queues one entry (line[len] copied, without a newline) of model, served
 * at t_ms.  Never blocks on the store; drops (counted) when full. */
void fr_scorelog_add(fr_scorelog_t *l, const char *model, int64_t t_ms, const char *line,
                     size_t len);

typedef struct fr_scorelog_stats {
    uint64_t queued, written, dropped, write_errors;
} fr_scorelog_stats_t;
void fr_scorelog_stats(fr_scorelog_t *l, fr_scorelog_stats_t *out);

/*
 * Calls fn with every stored entry of model served in [from_ms, to_ms)
 * (and perhaps a few around, within the same record: fn checks "t"),
 * record by record in time order.  fn returning nonzero stops the scan
 * with that value.  0 or a store error.
 */
int fr_scorelog_scan(fr_store_t *store, const char *model, int64_t from_ms, int64_t to_ms,
                     int (*fn)(void *ctx, const char *line, size_t len), void *ctx);

#endif
