/*
 * store.h - the online store: entity states by (view, entity key) and the
 * source positions that produced them.  One interface, one backend per
 * file (store_lmdb.c today; Redis plugs in beside it).
 *
 * Exactly once (DESIGN §2): fr_store_commit writes a batch of states and
 * the positions of the records that produced them atomically.  A
 * processor reads positions on start and resumes there.
 *
 * Reads go through a read session: values returned by fr_store_get stay
 * valid until fr_store_rd_end.  A session belongs to one thread.
 *
 * Beside states and positions, a store keeps small key-value records
 * (fr_store_kv_*, below) for what every process on the store must share,
 * such as the model registry.
 */
#ifndef FR_STORE_STORE_H
#define FR_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef struct fr_store fr_store_t;
typedef struct fr_store_rd fr_store_rd_t;
struct fr_store_kv_names;

/*
 * What a stored state has applied: the records of `partition` (of the
 * view's source) before `next_offset`, written by a processor of fencing
 * `epoch` (the consumer-group generation that owned the partition; 0 in
 * embedded mode).  A processor that loads a state skips the records it
 * already holds; a store that cannot write many keys atomically (Redis
 * Cluster) refuses a write whose stamp is not newer than the stored one,
 * or whose epoch is older (a zombie after a rebalance).
 */
typedef struct fr_store_stamp {
    int32_t partition;
    uint64_t next_offset;
    uint64_t epoch;
} fr_store_stamp_t;

typedef struct fr_store_put {
    int view;          /* index in the configuration */
    const char *key;   /* entity key, borrowed */
    size_t klen;
    const void *val;   /* encoded state, borrowed; NULL deletes */
    size_t vlen;
    fr_store_stamp_t stamp;
} fr_store_put_t;

/* One key of a batched read, and its answer. */
typedef struct fr_store_get {
    int view;
    const char *key;
    size_t klen;
    /* out: rc 0 (val valid until rd_end), FR_ENOTFOUND, or a store error */
    int rc;
    const void *val;
    size_t vlen;
} fr_store_get_t;

typedef struct fr_store_pos {
    int source;        /* index in the configuration */
    int32_t partition;
    uint64_t next_offset;  /* the first record not yet applied */
    int64_t watermark;     /* greatest event time applied (INT64_MIN: none) */
    int64_t committed_ms;  /* wall clock of the commit (set by the store) */
    uint64_t epoch;        /* fencing epoch of the commit (set by the store) */
    uint64_t replayed;     /* dead letters re-fed into this partition (Kafka): every
                              replay of a dead-letter offset below it is applied */
} fr_store_pos_t;

typedef struct fr_store_ops {
    const char *kind;
    int (*rd_new)(fr_store_t *s, fr_store_rd_t **out);
    int (*rd_begin)(fr_store_rd_t *rd);
    int (*get)(fr_store_rd_t *rd, int view, const char *key, size_t klen, const void **val,
               size_t *vlen, fr_store_stamp_t *stamp);
    /* Many keys in one round trip where the backend can (each gets its rc);
     * returns 0, or an error that failed them all. */
    int (*get_many)(fr_store_rd_t *rd, fr_store_get_t *keys, size_t n);
    int (*pos_get)(fr_store_rd_t *rd, int source, int32_t partition, fr_store_pos_t *out);
    void (*rd_end)(fr_store_rd_t *rd);
    void (*rd_free)(fr_store_rd_t *rd);
    int (*commit)(fr_store_t *s, const fr_store_put_t *puts, size_t nputs,
                  const fr_store_pos_t *pos, size_t npos, uint64_t epoch);
    int (*entities)(fr_store_t *s, int view, uint64_t *n);
    /* A fencing epoch greater than every one handed out before, by any
     * process on this store (a processor takes one on every assignment of
     * partitions, so an older owner's commits are refused). */
    int (*next_epoch)(fr_store_t *s, uint64_t *epoch);
    /* Optional: makes every commit so far durable (a store that defers
     * flushing commits); NULL when commits are durable as they return. */
    int (*sync)(fr_store_t *s);
    /* Key-value records (see fr_store_kv_get); names are checked by the
     * wrappers before these run.  NULL when the backend has none. */
    int (*kv_get)(fr_store_t *s, const char *ns, const char *group, const char *key, void **val,
                  size_t *vlen);
    int (*kv_put)(fr_store_t *s, const char *ns, const char *group, const char *key,
                  const void *val, size_t vlen, int only_new);
    int (*kv_del)(fr_store_t *s, const char *ns, const char *group, const char *key);
    int (*kv_incr)(fr_store_t *s, const char *ns, const char *group, const char *key,
                   uint64_t *out);
    int (*kv_list)(fr_store_t *s, const char *ns, const char *group, const char *prefix,
                   struct fr_store_kv_names *out);
    void (*close)(fr_store_t *s);
} fr_store_ops_t;

struct fr_store {
    const fr_store_ops_t *ops;
    const fr_config_t *cfg; /* borrowed; outlives the store */
};

struct fr_store_rd {
    fr_store_t *store;
};

/*
 * Opens the backend named by cfg->store (cfg borrowed, must outlive it).
 * 0, or an error with err filled.
 */
int fr_store_open(const fr_config_t *cfg, fr_store_t **out, char *err, size_t errlen);
/* The LMDB backend on directory dir. */
int fr_store_lmdb_open(const fr_config_t *cfg, const char *dir, fr_store_t **out, char *err,
                       size_t errlen);
/* The Redis (or Redis Cluster) backend at cfg->store.redis_url. */
int fr_store_redis_open(const fr_config_t *cfg, fr_store_t **out, char *err, size_t errlen);

static inline void fr_store_close(fr_store_t *s)
{
    if (s)
        s->ops->close(s);
}
/* A read session (heap); free with fr_store_rd_free. */
static inline int fr_store_rd_new(fr_store_t *s, fr_store_rd_t **out)
{
    return s->ops->rd_new(s, out);
}
/* Starts a consistent snapshot; pair with fr_store_rd_end. */
static inline int fr_store_rd_begin(fr_store_rd_t *rd)
{
    return rd->store->ops->rd_begin(rd);
}
/* 0 with *val valid until rd_end and *stamp (may be NULL) filled,
 * FR_ENOTFOUND, or a store error. */
static inline int fr_store_get(fr_store_rd_t *rd, int view, const char *key, size_t klen,
                               const void **val, size_t *vlen, fr_store_stamp_t *stamp)
{
    return rd->store->ops->get(rd, view, key, klen, val, vlen, stamp);
}
static inline int fr_store_get_many(fr_store_rd_t *rd, fr_store_get_t *keys, size_t n)
{
    return rd->store->ops->get_many(rd, keys, n);
}
/* 0, FR_ENOTFOUND (no position stored), or a store error. */
static inline int fr_store_pos_get(fr_store_rd_t *rd, int source, int32_t partition,
                                   fr_store_pos_t *out)
{
    return rd->store->ops->pos_get(rd, source, partition, out);
}
static inline void fr_store_rd_end(fr_store_rd_t *rd)
{
    rd->store->ops->rd_end(rd);
}
static inline void fr_store_rd_free(fr_store_rd_t *rd)
{
    if (rd)
        rd->store->ops->rd_free(rd);
}
/*
 * Writes states and positions (committed_ms is set here), atomically where
 * the backend can; where it cannot (Redis Cluster), each key is written
 * only if its stamp is newer than the stored one, so a replay after a crash
 * never applies twice.  epoch fences positions the same way.  0, or a
 * store error (then nothing, or on Cluster only keys that were not stale,
 * were written: retrying the same commit is safe).
 */
/* 0 with a new fencing epoch, or a store error. */
static inline int fr_store_next_epoch(fr_store_t *s, uint64_t *epoch)
{
    return s->ops->next_epoch(s, epoch);
}
static inline int fr_store_commit(fr_store_t *s, const fr_store_put_t *puts, size_t nputs,
                                  const fr_store_pos_t *pos, size_t npos, uint64_t epoch)
{
    return s->ops->commit(s, puts, nputs, pos, npos, epoch);
}

/*
 * Key-value records.
 *
 * A record is addressed by a namespace (ns: 1-16 bytes of [a-z], one per
 * user, e.g. "m" for the model registry; "v", "pos" and "epoch" are taken),
 * a group (1-128 printable ASCII bytes without '{', '}' or space, e.g. a
 * model name) and a key (1-256 printable ASCII bytes without space).
 * Values are bytes, at most FR_STORE_KV_MAX_VALUE.  Every write is atomic
 * and immediately visible to every process on the store; a group's keys
 * live together (one Redis Cluster slot), so writes within a group are
 * ordered.  Layout: LMDB sub-database "kv", key "<ns>\0<group>\0<key>";
 * Redis "fr:<ns>:{<group>}:<key>", with a set "fr:<ns>:{<group>}" of the
 * group's keys and a set "fr:<ns>:groups" of its groups.
 *
 * These calls may run from any thread at any time, beside commits and
 * read sessions; they are meant for small, rare records (a registry), not
 * the data path.  Each returns 0 or a negative code: FR_EINVAL (a name
 * outside the rules above), -ENOTSUP (the backend keeps no records),
 * FR_ELIMIT (a value or a list too large) or a store error.
 */
#define FR_STORE_KV_MAX_NS 16
#define FR_STORE_KV_MAX_GROUP 128
#define FR_STORE_KV_MAX_KEY 256
#define FR_STORE_KV_MAX_VALUE ((size_t)48 << 20)
#define FR_STORE_KV_MAX_LIST 100000

/* Names from fr_store_kv_list: v[0..n) NUL-terminated, in byte order. */
typedef struct fr_store_kv_names {
    char **v; /* owned: free with fr_store_kv_names_free */
    size_t n;
} fr_store_kv_names_t;

/* The record's value into *val (malloc'd, the caller frees it; NUL-
 * terminated beyond vlen) and *vlen.  0, FR_ENOTFOUND or an error. */
int fr_store_kv_get(fr_store_t *s, const char *ns, const char *group, const char *key,
                    void **val, size_t *vlen);
/* Writes the record (val borrowed), replacing any value.  0 or an error. */
int fr_store_kv_put(fr_store_t *s, const char *ns, const char *group, const char *key,
                    const void *val, size_t vlen);
/* Writes the record only if the key does not exist: 0, or FR_ECONFLICT
 * (it does; nothing written), or an error.  Of two concurrent calls for
 * one key, exactly one succeeds. */
int fr_store_kv_put_new(fr_store_t *s, const char *ns, const char *group, const char *key,
                        const void *val, size_t vlen);
/* Removes the record: 0, FR_ENOTFOUND or an error. */
int fr_store_kv_del(fr_store_t *s, const char *ns, const char *group, const char *key);
/*
 * Adds 1 to a counter record and returns the new value in *out: an absent
 * key counts from 0, so the first call gives 1.  The value is kept as
 * decimal text (fr_store_kv_get reads it so).  Concurrent calls, from any
 * processes, each get a different value.  0, FR_ETYPE (the record is not
 * a counter) or an error.
 */
int fr_store_kv_incr(fr_store_t *s, const char *ns, const char *group, const char *key,
                     uint64_t *out);
/*
 * Lists names into *out (the caller frees it with fr_store_kv_names_free,
 * also after an error): with group NULL, the groups of ns holding at least
 * one key; else the keys of group that start with prefix (NULL or "": all).
 * At most FR_STORE_KV_MAX_LIST names (FR_ELIMIT past that).
 */
int fr_store_kv_list(fr_store_t *s, const char *ns, const char *group, const char *prefix,
                     fr_store_kv_names_t *out);
void fr_store_kv_names_free(fr_store_kv_names_t *n);

/* For backends: appends a copy of name[0..len) to n (FR_ELIMIT past
 * FR_STORE_KV_MAX_LIST), and sorts the names in byte order. */
int fr_store_kv_names_add(fr_store_kv_names_t *n, const char *name, size_t len);
void fr_store_kv_names_sort(fr_store_kv_names_t *n);

#endif
