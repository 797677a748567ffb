/*
 * elog.h - the embedded durable event log (LMDB), the default source.
 *
 * One LMDB environment under <store.path>/log holds, per source, the log
 * of encoded records keyed by offset; the dead-letter queue; idempotency
 * keys with their answers; the writer schemas by fingerprint; and per
 * source the watermark.  Appends go through one group-commit writer
 * thread: concurrent requests share one transaction and one fsync, and each
 * returns only once durable.  Lateness and future checks happen in that
 * writer, in log order, against the watermark (DESIGN §2).
 *
 * Thread rules: fr_elog_append may be called from any number of threads;
 * sources opened with fr_elog_source_open belong to one thread each.
 * Several processes may open the same directory (LMDB locking).
 */
#ifndef FR_SOURCE_ELOG_H
#define FR_SOURCE_ELOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "source/source.h"

typedef struct fr_elog fr_elog_t;

/* Largest payload kept in a dead letter; longer ones are cut (and flagged). */
#define FR_DLQ_MAX_PAYLOAD 65536

/*
 * Opens (creating) <dir>.  cfg is borrowed and must outlive the log.
 * Starts the writer thread.  0 or an error with err filled.
 */
int fr_elog_open(const char *dir, const fr_config_t *cfg, fr_elog_t **out, char *err,
                 size_t errlen);

/* Commits are not flushed to disk (a crash may lose them): for fuzzing and
 * throw-away test data only, never for a log that acknowledges events. */
#define FR_ELOG_NOSYNC 1u
/* fr_elog_open with flags (FR_ELOG_*). */
int fr_elog_open_flags(const char *dir, const fr_config_t *cfg, unsigned flags, fr_elog_t **out,
                       char *err, size_t errlen);
/* Stops the writer (after the requests already queued) and closes. */
void fr_elog_close(fr_elog_t *log);

typedef struct fr_append_event {
    /* in: an encoded record, or NULL when the event was refused already */
    const void *rec;
    size_t rec_len;
    int64_t ts;
    /* in: the original event for the dead-letter queue: a slice of text,
     * or a JSON value dumped only if needed (borrowed until append returns) */
    const char *raw;
    size_t raw_len;
    const json_t *json;
    /* in/out: why it was refused (static strings), NULL if accepted */
    const char *reason;
    const char *detail;
    /* in: the dead letter (its seq) this event replays, 0 if none: a dead
     * letter already replayed is skipped (skipped set); else the event is
     * appended and the dead letter marked replayed in the same transaction,
     * or, refused again, the dead letter stays unreplayed with the reason
     * noted (no new dead letter) */
    uint64_t replay_of;
    /* out: the offset given to an accepted event */
    uint64_t offset;
    bool skipped;
} fr_append_event_t;

typedef struct fr_append_req fr_append_req_t;
struct fr_append_req {
    int source;
    fr_append_event_t *events;
    size_t n;
    const char *idem_key; /* NULL or a key (scoped to the source) */
    size_t idem_len;
    uint64_t body_hash;   /* a retry with the same key must carry the same body */
    /* renders the answer to keep with the key (called in the writer) */
    int (*render)(const fr_append_req_t *req, fr_buf_t *out);
    void *ctx;
    /* out */
    size_t accepted, rejected;
    uint64_t first_offset, last_offset;
    bool replayed;        /* the key was known: answer holds the stored answer */
    char *answer;         /* owned by the caller (free) when set */
    size_t answer_len;
    int rc;               /* 0, FR_ECONFLICT (key reused with another body), or a store error */
    /* private to the writer */
    fr_append_req_t *next;
    int done;
};

/*
 * Appends one request durably and waits for it.  Accepted events get
 * consecutive offsets; refused ones (already marked, late, or too far in
 * the future) go to the dead-letter queue with their reason, in the same
 * transaction.  With an idempotency key, a key already stored returns its
 * stored answer (replayed) and appends nothing.  Returns req->rc.
 */
int fr_elog_append(fr_elog_t *log, fr_append_req_t *req);

/* Reading. */
/* A source reading the embedded log of configured source index src. */
int fr_elog_source_open(fr_elog_t *log, int src, fr_source_t **out);

/* Dead letters, oldest first from seq `from`; calls fn for each until fn
 * returns non-zero or limit entries were given.  json is the stored entry
 * (valid during the call). */
int fr_elog_dlq_scan(fr_elog_t *log, uint64_t from, size_t limit,
                     int (*fn)(void *ctx, uint64_t seq, const char *json, size_t len), void *ctx);
/* The writer schema stored for fingerprint fp, appended to out.  0 or
 * FR_ENOTFOUND. */
int fr_elog_schema_get(fr_elog_t *log, uint64_t fp, fr_buf_t *out);

/* Whether dead letter seq was replayed: 0 with *offset the offset of the
 * replayed event, or FR_ENOTFOUND (then, if refused is not NULL and a
 * replay was refused, why is appended to it). */
int fr_elog_dlq_replayed(fr_elog_t *log, uint64_t seq, uint64_t *offset, fr_buf_t *refused);

/* The sequence number of the newest dead letter (0 when there is none). */
int fr_elog_dlq_last(fr_elog_t *log, uint64_t *seq);

/* Number of dead letters. */
uint64_t fr_elog_dlq_count(fr_elog_t *log);

/* The stored watermark of a source (INT64_MIN when none). */
int64_t fr_elog_watermark(fr_elog_t *log, int src);
/* The next offset an append to src would get. */
uint64_t fr_elog_end_offset(fr_elog_t *log, int src);

/*
 * History: the records of several sources in the order they were
 * appended (arrival order), for offline readers (training sets).  Every
 * append records its run of offsets under an arrival sequence shared by
 * all sources; records written before that index existed come first,
 * merged by event time.  The reader sees one snapshot of the log, as of
 * fr_elog_hist_open, and belongs to one thread.
 */
typedef struct fr_elog_hist fr_elog_hist_t;
typedef struct fr_elog_hist_rec {
    int source;        /* index in the configuration */
    uint64_t offset;   /* in the source's log */
    uint64_t seq;      /* arrival sequence, shared by all sources (0: before the index) */
    int64_t append_ms; /* wall clock of the append (INT64_MIN: unknown) */
    const void *data;  /* the encoded record, valid until fr_elog_hist_close */
    size_t len;
} fr_elog_hist_rec_t;

/* A reader of the sources s with want[s] != 0 (want borrowed, [nsources],
 * must outlive the reader).  0 or an error. */
int fr_elog_hist_open(fr_elog_t *log, const uint8_t *want, fr_elog_hist_t **out);
/* 0 with *rec filled; FR_ENOTFOUND past the last record; or an error. */
int fr_elog_hist_next(fr_elog_hist_t *h, fr_elog_hist_rec_t *rec);
/* Records returned so far, and the records the wanted logs held at opening. */
void fr_elog_hist_progress(const fr_elog_hist_t *h, uint64_t *read, uint64_t *total);
void fr_elog_hist_close(fr_elog_hist_t *h);

/* Sequence number bumped on every commit; fr_elog_wait blocks until it
 * differs from seen or timeout_ms passes, and returns the current one. */
uint64_t fr_elog_wait(fr_elog_t *log, uint64_t seen, int timeout_ms);

#endif
