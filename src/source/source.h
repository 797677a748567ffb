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
} fr_source_rec_t;

typedef struct fr_source fr_source_t;

typedef struct fr_source_ops {
    const char *kind;
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
    void (*close)(fr_source_t *s);
} fr_source_ops_t;

struct fr_source {
    const fr_source_ops_t *ops;
    int index; /* the source's index in the configuration */
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
