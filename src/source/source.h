/*
 * source.h - where the processor reads events from: one interface, several
 * backends (the embedded LMDB log today; Kafka and files plug in here).
 *
 * A source delivers records (encoded by event/) with a partition and an
 * offset.  The processor seeks each partition to the position stored in the
 * online store, polls, applies, and later commits the positions with the
 * state they produced (DESIGN §2, exactly once).
 */
#ifndef FR_SOURCE_SOURCE_H
#define FR_SOURCE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_source_rec {
    int32_t partition;
    uint64_t offset;
    const void *data; /* valid until the next poll or release */
    size_t len;
    const void *key;  /* the message key, if any (Kafka); same lifetime */
    size_t klen;
    void *opaque;     /* the backend's handle of the record */
    int64_t replay_of; /* a dead letter re-fed by `freshet dlq replay`: its offset in
                          the dead-letter topic; -1 for every other record */
    int64_t time_ms;   /* when the record arrived, where the source knows (Kafka: the
                          message timestamp); 0 or INT64_MIN when it does not */
} fr_source_rec_t;

typedef struct fr_source fr_source_t;

/*
 * A source whose partitions come and go (Kafka consumer groups) tells the
 * processor through a listener, from inside poll:
 *   assign: the partitions now read by this instance; the listener fills
 *     next[i] with the offset to resume partition parts[i] from (its
 *     position in the store, UINT64_MAX: from the earliest retained).
 *     Nonzero: the assignment cannot be taken up (the store is down); the
 *     source then fails its poll.
 *   revoke: the partitions go to another instance; the listener commits
 *     what it applied from them and forgets their state before returning.
 */
typedef struct fr_source_listener {
    int (*assign)(void *ctx, fr_source_t *s, const int32_t *parts, size_t n, uint64_t *next);
    void (*revoke)(void *ctx, fr_source_t *s, const int32_t *parts, size_t n);
    void *ctx;
} fr_source_listener_t;

/* What a record holds. */
typedef enum {
    FR_PAYLOAD_RECORD = 0, /* a typed record of event/ (the embedded log) */
    FR_PAYLOAD_MESSAGE     /* an event as its producer wrote it: JSON or Avro per
                              the source's format (Kafka, files) */
} fr_payload_t;

/* One partition's standing, for status output. */
typedef struct fr_source_part_info {
    int32_t partition;
    uint64_t position;   /* next offset this instance reads */
    uint64_t end;        /* the partition's end (high watermark); UINT64_MAX unknown */
} fr_source_part_info_t;

typedef struct fr_source_ops {
    const char *kind;
    fr_payload_t payload;
    /* Partitions this instance reads now (embedded: one, number 0). */
    int (*partitions)(fr_source_t *s, int32_t *parts, size_t max, size_t *n);
    /* The next poll of partition returns records from offset on. */
    int (*seek)(fr_source_t *s, int32_t partition, uint64_t offset);
    /* Up to max records into recs; waits up to timeout_ms when none is
     * ready.  *n = 0 on timeout.  Records stay valid until release. */
    int (*poll)(fr_source_t *s, fr_source_rec_t *recs, size_t max, size_t *n, int timeout_ms);
    /* Waits up to timeout_ms for records past the read position, consuming
     * nothing; returns 0 (records may be ready, or the time ran out). */
    int (*wait)(fr_source_t *s, int timeout_ms);
    /* Done with the records of the last poll. */
    void (*release)(fr_source_t *s);
    /* Optional (NULL when the backend keeps its own retention): deletes up
     * to max records of partition below offset `below` whose event time is
     * before cutoff_ms, oldest first, stopping at the first younger one.
     * *n receives how many went. */
    int (*trim)(fr_source_t *s, int32_t partition, uint64_t below, int64_t cutoff_ms, size_t max,
                size_t *n);
    /* Records written but not yet polled (lag), summed over partitions. */
    uint64_t (*lag)(fr_source_t *s);
    /* Optional: the partitions read now and where they stand; *n entries. */
    int (*part_info)(fr_source_t *s, fr_source_part_info_t *out, size_t max, size_t *n);
    /* Optional (sources that dead-letter at processing time): hands a
     * refused record to the dead-letter queue with why.  Queued, not yet
     * durable: see flush. */
    int (*dead_letter)(fr_source_t *s, const fr_source_rec_t *r, const char *reason,
                       const char *detail);
    /* Optional: makes every dead letter handed over so far durable (the
     * processor calls it before committing positions past them).  0;
     * FR_EUNAVAIL (not yet: retry); FR_EIO (some were lost: reprocess from
     * the committed positions). */
    int (*flush)(fr_source_t *s, int timeout_ms);
    /* Optional (bounded sources: files, a backfill's range of a topic):
     * nonzero once every record has been polled. */
    int (*at_end)(fr_source_t *s);
    void (*close)(fr_source_t *s);
} fr_source_ops_t;

struct fr_source {
    const fr_source_ops_t *ops;
    int index; /* the source's index in the configuration */
    fr_source_listener_t listener; /* set by the processor before the first poll */
};

static inline int fr_source_seek(fr_source_t *s, int32_t p, uint64_t off)
{
    return s->ops->seek(s, p, off);
}
static inline int fr_source_poll(fr_source_t *s, fr_source_rec_t *r, size_t max, size_t *n, int t)
{
    return s->ops->poll(s, r, max, n, t);
}
static inline int fr_source_wait(fr_source_t *s, int timeout_ms)
{
    return s->ops->wait(s, timeout_ms);
}
static inline void fr_source_release(fr_source_t *s)
{
    s->ops->release(s);
}
static inline void fr_source_close(fr_source_t *s)
{
    if (s)
        s->ops->close(s);
}

#endif
