/*
 * engine.c - the processor (see engine.h).
 *
 * Entity states live in one hash map per view.  A record is decoded once
 * (no allocation: values point into the record) and applied to each view
 * of its source that passes the view's filter.  Touched entries join a
 * dirty list; a commit encodes them and writes them with the positions in
 * one store commit, then clears the list.  Positions are "next offset to
 * read", so a crash after a commit resumes exactly after what that commit
 * holds, and a crash before it replays from the previous one: every event
 * is applied exactly once to the stored state.
 */
#include "engine/engine.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg/agg.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/map.h"
#include "event/decode.h"
#include "event/event.h"

/* Records polled from one source in one round, at most. */
#define POLL_MAX 4096
/* Dirty entities that force a commit before the interval is up. */
#define MAX_DIRTY 200000
/* Projections (writer schemas) kept per source. */
#define MAX_PROJ 16

/*
 * An entity's entry is its map slot: value = its fr_agg_state_t, user64 =
 * the next offset its state has not applied, user32 = that offset's
 * partition (as uint32; NO_PARTITION before any record), flags = DIRTY when
 * changed since the last commit.  Keeping these in the slot's cache line
 * spares a pointer chase per event.  Slots move when their map grows or
 * shrinks, so the dirty list keeps (view, key) and finds them at commit.
 */
#define NO_PARTITION UINT32_MAX
#define DIRTY 1u

typedef struct {
    int view;
    uint32_t klen;
    size_t koff; /* in fr_engine.dkeys */
} dirty_t;

typedef struct {
    fr_map_t map;
    int lookup;     /* the store may hold states not in the map */
    size_t evict_at; /* rotating cursor for eviction */
} view_rt_t;

/* Partition numbers a source may have, at most. */
#define MAX_PARTITIONS 65536

/* Where one partition of a source stands. */
typedef struct {
    uint64_t next;  /* next offset to apply */
    int64_t wm;     /* greatest event time applied (INT64_MIN: none) */
    uint8_t assigned; /* this processor reads it now */
    uint8_t moved;  /* position changed since the last commit */
    uint64_t replayed; /* dead-letter offsets below it were re-fed and applied */
    uint64_t committed; /* next offset as of the last commit */
    int64_t committed_wm;
} part_rt_t;

typedef struct {
    fr_source_t *src;
    int messages;   /* records are messages to decode (not typed records) */
    part_rt_t *parts; /* by partition number */
    size_t nparts;
    int dead;       /* dead letters handed to the source since its last flush */
    int *views;     /* views of this source */
    size_t nviews;
    fr_record_proj_t proj[MAX_PROJ];
    size_t nproj;
    fr_decoder_t *dec;
    int key_warned; /* said once that messages are not keyed by a view's entity */
} source_rt_t;

struct fr_engine {
    const fr_config_t *cfg;
    fr_store_t *store;
    fr_store_rd_t *rd;
    view_rt_t *views;
    source_rt_t *srcs;
    fr_schema_lookup_fn lookup;
    void *lookup_ctx;
    dirty_t *dirty;     /* changed entities since the last commit */
    size_t ndirty, dirty_cap;
    fr_buf_t dkeys;     /* their keys */
    fr_map_slot_t **dslots; /* scratch for commit */
    uint64_t first_dirty_ns;
    fr_source_rec_t *recs;
    fr_value_t *vals;
    fr_value_t *hvals; /* scratch for hint() */
    fr_buf_t enc;
    fr_store_put_t *puts;
    size_t puts_cap;
    fr_engine_stats_t stats;
    uint64_t retry_at_ns; /* back-off after a failed commit */
    int manual;           /* autocommit off */
    uint64_t applied;     /* applications this round, published once per round */
    uint64_t epoch;       /* fencing epoch stamped on commits (0: embedded) */
    uint64_t trim_at_ns;  /* next log retention pass */
    fr_avro_lookup_fn avro_lookup; /* writer schemas by id (Avro messages) */
    void *avro_ctx;
    fr_store_pos_t *posv; /* scratch for commit */
    size_t posv_cap;
    int failed;           /* fenced in a listener: the caller must stop */
    int in_rd;            /* a read session is open (listeners renew it) */
    /* what other threads see of the partitions (fr_engine_parts) */
    pthread_mutex_t snap_lock;
    fr_engine_part_t *snap;
    size_t nsnap, snap_cap;
    uint64_t snap_at_ns;
};

/* The partition p of source sr, grown on first sight; NULL if out of range
 * or out of memory. */
static part_rt_t *part_get(source_rt_t *sr, int32_t p)
{
    if (p < 0 || p >= MAX_PARTITIONS)
        return NULL;
    if ((size_t)p >= sr->nparts) {
        size_t n = sr->nparts ? sr->nparts : 8;
        while (n <= (size_t)p)
            n *= 2;
        part_rt_t *np = realloc(sr->parts, n * sizeof *np);
        if (!np)
            return NULL;
        for (size_t i = sr->nparts; i < n; i++)
            np[i] = (part_rt_t){.wm = INT64_MIN, .committed_wm = INT64_MIN};
        sr->parts = np;
        sr->nparts = n;
    }
    return &sr->parts[p];
}

/*
 * Publishes where every assigned partition stands: the committed next
 * offset and watermark, and the partition's end where the source knows it.
 * Called after commits and assignment changes, and every half second.
 */
static void publish(fr_engine_t *e)
{
    size_t n = 0;
    for (size_t s = 0; s < e->cfg->nsources; s++)
        for (size_t p = 0; p < e->srcs[s].nparts; p++)
            n += e->srcs[s].parts[p].assigned;
    pthread_mutex_lock(&e->snap_lock);
    if (n > e->snap_cap) {
        fr_engine_part_t *np = realloc(e->snap, n * sizeof *np);
        if (!np) {
            pthread_mutex_unlock(&e->snap_lock);
            return;
        }
        e->snap = np;
        e->snap_cap = n;
    }
    size_t k = 0;
    for (size_t s = 0; s < e->cfg->nsources; s++) {
        source_rt_t *sr = &e->srcs[s];
        fr_source_part_info_t info[256];
        size_t ni = 0;
        if (sr->src && sr->src->ops->part_info)
            sr->src->ops->part_info(sr->src, info, 256, &ni);
        for (size_t p = 0; p < sr->nparts && k < n; p++) {
            if (!sr->parts[p].assigned)
                continue;
            uint64_t end = UINT64_MAX;
            for (size_t i = 0; i < ni; i++)
                if (info[i].partition == (int32_t)p)
                    end = info[i].end;
            e->snap[k++] = (fr_engine_part_t){.source = (int)s,
                                              .partition = (int32_t)p,
                                              .next = sr->parts[p].committed,
                                              .watermark = sr->parts[p].committed_wm,
                                              .end = end};
        }
    }
    e->nsnap = k;
    pthread_mutex_unlock(&e->snap_lock);
    e->snap_at_ns = fr_mono_ns();
}

static int any_moved(const fr_engine_t *e)
{
    for (size_t s = 0; s < e->cfg->nsources; s++)
        for (size_t p = 0; p < e->srcs[s].nparts; p++)
            if (e->srcs[s].parts[p].moved)
                return 1;
    return 0;
}

/* Log retention passes, at most one per this many ns, each deleting at most
 * TRIM_MAX records per source so the log's writer is never held long. */
#define TRIM_EVERY_NS 10000000000ull
#define TRIM_MAX 50000

/* Drops log records that are applied and committed and older than the
 * retention (sources that keep their own retention have no trim). */
static void trim_logs(fr_engine_t *e)
{
    uint64_t now = fr_mono_ns();
    if (now < e->trim_at_ns)
        return;
    e->trim_at_ns = now + TRIM_EVERY_NS;
    /* what is trimmed must be applied in a commit that a crash cannot undo */
    if (e->store->ops->sync) {
        int rc = e->store->ops->sync(e->store);
        if (rc) {
            fr_warn("store sync before log retention: %s", fr_strerror(rc));
            return;
        }
    }
    int64_t cutoff = fr_now_ms() - e->cfg->store.log_retention_ms;
    for (size_t s = 0; s < e->cfg->nsources; s++) {
        source_rt_t *sr = &e->srcs[s];
        if (!sr->src || !sr->src->ops->trim)
            continue;
        for (size_t p = 0; p < sr->nparts; p++) {
            if (!sr->parts[p].assigned)
                continue;
            size_t n = 0;
            int rc = sr->src->ops->trim(sr->src, (int32_t)p, sr->parts[p].next, cutoff, TRIM_MAX,
                                        &n);
            if (rc)
                fr_warn("log retention on source %s: %s", e->cfg->sources[s].name,
                        fr_strerror(rc));
            else if (n)
                fr_debug("log retention: %zu records of %s dropped", n, e->cfg->sources[s].name);
        }
    }
}

void fr_engine_set_autocommit(fr_engine_t *e, int on)
{
    e->manual = !on;
}

static void stat_add(uint64_t *p, uint64_t v)
{
    __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static void stat_set(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Forgets the in-memory states of source s's views and their dirty marks
 * (their partitions went elsewhere, or are reprocessed from the store). */
static void drop_views(fr_engine_t *e, int s)
{
    source_rt_t *sr = &e->srcs[s];
    uint8_t drop[FR_CONFIG_MAX_VIEWS] = {0};
    for (size_t i = 0; i < sr->nviews; i++) {
        int v = sr->views[i];
        drop[v] = 1;
        fr_map_t *m = &e->views[v].map;
        stat_add(&e->stats.entities_cached, (uint64_t)0 - m->size);
        for (size_t k = 0; k < m->cap; k++)
            if (m->slots[k].hash)
                fr_agg_state_free(m->slots[k].value);
        fr_map_destroy(m);
        fr_map_init(m);
        e->views[v].lookup = 1;
    }
    size_t keep = 0;
    for (size_t i = 0; i < e->ndirty; i++)
        if (!drop[e->dirty[i].view])
            e->dirty[keep++] = e->dirty[i];
    e->ndirty = keep;
}

/* Drops source s's in-memory state and reads it again from the committed
 * positions.  A store that cannot say where to resume stops the processor. */
static void reset_source(fr_engine_t *e, int s)
{
    source_rt_t *sr = &e->srcs[s];
    drop_views(e, s);
    int rc = 0;
    if (e->in_rd)
        fr_store_rd_end(e->rd);
    rc = fr_store_rd_begin(e->rd);
    for (size_t p = 0; !rc && p < sr->nparts; p++) {
        part_rt_t *pr = &sr->parts[p];
        if (!pr->assigned)
            continue;
        fr_store_pos_t pos;
        int r = fr_store_pos_get(e->rd, s, (int32_t)p, &pos);
        if (r && r != FR_ENOTFOUND) {
            rc = r;
            break;
        }
        pr->next = pr->committed = r ? 0 : pos.next_offset;
        pr->wm = pr->committed_wm = r ? INT64_MIN : pos.watermark;
        pr->replayed = r ? 0 : pos.replayed;
        pr->moved = 0;
        rc = fr_source_seek(sr->src, (int32_t)p, pr->next);
    }
    fr_store_rd_end(e->rd);
    if (e->in_rd && fr_store_rd_begin(e->rd))
        e->in_rd = 0;
    if (rc) {
        fr_error("source %s: cannot reread the committed positions: %s",
                 e->cfg->sources[s].name, fr_strerror(rc));
        e->failed = rc;
    }
}

/* The listener's revoke: commit, then forget what belonged to the source. */
static void on_revoke(void *ctx, fr_source_t *src, const int32_t *parts, size_t n)
{
    fr_engine_t *e = ctx;
    int s = src->index;
    source_rt_t *sr = &e->srcs[s];
    int rc = fr_engine_commit(e);
    if (rc == FR_ECONFLICT) {
        fr_error("source %s: fenced by a newer owner of its partitions",
                 e->cfg->sources[s].name);
        e->failed = rc;
    } else if (rc) {
        fr_warn("source %s: could not commit before giving partitions up (%s); their next "
                "owner resumes from the last commit",
                e->cfg->sources[s].name, fr_strerror(rc));
    }
    drop_views(e, s);
    for (size_t i = 0; i < n; i++)
        if (parts[i] >= 0 && (size_t)parts[i] < sr->nparts)
            sr->parts[parts[i]] = (part_rt_t){.wm = INT64_MIN, .committed_wm = INT64_MIN};
    for (size_t p = 0; p < sr->nparts; p++)
        sr->parts[p].moved = 0;
    publish(e);
}

/*
 * The listener's assign: takes a new fencing epoch, reads where each
 * partition resumes, and writes those positions back under the new epoch
 * at once, so a former owner still running (a zombie) is refused from its
 * next commit on, before this processor applies anything.
 */
static int on_assign(void *ctx, fr_source_t *src, const int32_t *parts, size_t n, uint64_t *next)
{
    fr_engine_t *e = ctx;
    int s = src->index;
    source_rt_t *sr = &e->srcs[s];
    fr_store_pos_t *pos = calloc(n ? n : 1, sizeof *pos);
    if (!pos)
        return FR_ENOMEM;
    uint64_t epoch = e->epoch;
    int rc = e->store->ops->next_epoch ? fr_store_next_epoch(e->store, &epoch) : 0;
    if (e->in_rd)
        fr_store_rd_end(e->rd);
    if (!rc)
        rc = fr_store_rd_begin(e->rd);
    for (size_t i = 0; !rc && i < n; i++) {
        int r = fr_store_pos_get(e->rd, s, parts[i], &pos[i]);
        if (r == FR_ENOTFOUND)
            pos[i] = (fr_store_pos_t){.next_offset = 0, .watermark = INT64_MIN};
        else if (r)
            rc = r;
        pos[i].source = s;
        pos[i].partition = parts[i];
    }
    fr_store_rd_end(e->rd);
    if (e->in_rd && fr_store_rd_begin(e->rd))
        e->in_rd = 0;
    if (!rc)
        rc = fr_store_commit(e->store, NULL, 0, pos, n, epoch);
    for (size_t i = 0; !rc && i < n; i++) {
        part_rt_t *pr = part_get(sr, parts[i]);
        if (!pr) {
            rc = FR_ENOMEM;
            break;
        }
        *pr = (part_rt_t){.next = pos[i].next_offset,
                          .wm = pos[i].watermark,
                          .replayed = pos[i].replayed,
                          .assigned = 1,
                          .committed = pos[i].next_offset,
                          .committed_wm = pos[i].watermark};
        next[i] = pos[i].next_offset;
    }
    free(pos);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (parts[i] >= 0 && (size_t)parts[i] < sr->nparts)
                sr->parts[parts[i]].assigned = 0;
        return rc;
    }
    if (epoch != e->epoch)
        fr_info("source %s: %zu partitions taken up under fencing epoch %" PRIu64,
                e->cfg->sources[s].name, n, epoch);
    __atomic_store_n(&e->epoch, epoch, __ATOMIC_RELAXED);
    publish(e);
    return 0;
}

int fr_engine_new(const fr_config_t *cfg, fr_store_t *store, fr_source_t **sources,
                  fr_schema_lookup_fn lookup, void *lookup_ctx, fr_engine_t **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    fr_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        goto nomem;
    pthread_mutex_init(&e->snap_lock, NULL);
    e->cfg = cfg;
    e->store = store;
    e->lookup = lookup;
    e->lookup_ctx = lookup_ctx;
    fr_buf_init(&e->enc, (size_t)1 << 31);
    fr_buf_init(&e->dkeys, (size_t)1 << 31);
    e->views = calloc(cfg->nviews ? cfg->nviews : 1, sizeof *e->views);
    e->srcs = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *e->srcs);
    e->recs = calloc(POLL_MAX, sizeof *e->recs);
    e->vals = calloc(FR_CONFIG_MAX_FIELDS, sizeof *e->vals);
    e->hvals = calloc(FR_CONFIG_MAX_FIELDS, sizeof *e->hvals);
    if (!e->views || !e->srcs || !e->recs || !e->vals || !e->hvals)
        goto nomem;
    for (size_t v = 0; v < cfg->nviews; v++) {
        fr_map_init(&e->views[v].map);
        e->views[v].lookup = 1;
    }
    for (size_t s = 0; s < cfg->nsources; s++) {
        source_rt_t *sr = &e->srcs[s];
        sr->src = sources[s];
        sources[s] = NULL;
        if (sr->src) {
            sr->messages = sr->src->ops->payload == FR_PAYLOAD_MESSAGE;
            sr->src->listener = (fr_source_listener_t){
                .assign = on_assign, .revoke = on_revoke, .ctx = e};
        }
        sr->views = calloc(cfg->nviews ? cfg->nviews : 1, sizeof *sr->views);
        if (!sr->views)
            goto nomem;
        for (size_t v = 0; v < cfg->nviews; v++)
            if (cfg->views[v].source == (int)s)
                sr->views[sr->nviews++] = (int)v;
        if (fr_record_proj_identity(&sr->proj[0], &cfg->sources[s]))
            goto nomem;
        sr->nproj = 1;
    }
    int rc = fr_store_rd_new(store, &e->rd);
    if (rc)
        goto fail;
    rc = fr_store_rd_begin(e->rd);
    if (rc)
        goto fail;
    for (size_t v = 0; v < cfg->nviews; v++) {
        uint64_t n = 1;
        if (store->ops->entities && store->ops->entities(store, (int)v, &n) == 0 && n == 0)
            e->views[v].lookup = 0; /* nothing stored yet: skip store look-ups */
    }
    for (size_t s = 0; s < cfg->nsources; s++) {
        source_rt_t *sr = &e->srcs[s];
        if (!sr->src || sr->src->ops->dead_letter)
            continue; /* a group's partitions arrive through the listener */
        /* a source of fixed partitions (the embedded log: partition 0) */
        int32_t parts[64];
        size_t np = 0;
        rc = sr->src->ops->partitions(sr->src, parts, 64, &np);
        for (size_t i = 0; !rc && i < np; i++) {
            part_rt_t *pr = part_get(sr, parts[i]);
            if (!pr) {
                rc = FR_ENOMEM;
                break;
            }
            fr_store_pos_t pos;
            rc = fr_store_pos_get(e->rd, (int)s, parts[i], &pos);
            if (rc == 0) {
                pr->next = pos.next_offset;
                pr->wm = pos.watermark;
                pr->replayed = pos.replayed;
            } else if (rc != FR_ENOTFOUND) {
                break;
            }
            pr->assigned = 1;
            pr->committed = pr->next;
            pr->committed_wm = pr->wm;
            rc = fr_source_seek(sr->src, parts[i], pr->next);
        }
        if (rc)
            break;
    }
    fr_store_rd_end(e->rd);
    if (rc)
        goto fail;
    publish(e);
    *out = e;
    return 0;
nomem:
    rc = FR_ENOMEM;
fail:
    snprintf(err, errlen, "processor start: %s", fr_strerror(rc));
    fr_engine_free(e);
    return rc;
}

void fr_engine_free(fr_engine_t *e)
{
    if (!e)
        return;
    /* sources first, while the engine is whole: leaving a consumer group
     * revokes its partitions through the listener, which commits */
    if (e->srcs)
        for (size_t s = 0; s < e->cfg->nsources; s++) {
            fr_source_close(e->srcs[s].src);
            e->srcs[s].src = NULL;
        }
    if (e->views)
        for (size_t v = 0; v < e->cfg->nviews; v++) {
            fr_map_t *m = &e->views[v].map;
            for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].hash)
                    fr_agg_state_free(m->slots[i].value);
            fr_map_destroy(m);
        }
    if (e->srcs)
        for (size_t s = 0; s < e->cfg->nsources; s++) {
            free(e->srcs[s].views);
            free(e->srcs[s].parts);
            fr_decoder_free(e->srcs[s].dec);
            for (size_t p = 0; p < e->srcs[s].nproj; p++)
                fr_record_proj_destroy(&e->srcs[s].proj[p]);
        }
    fr_store_rd_free(e->rd);
    fr_buf_destroy(&e->enc);
    fr_buf_destroy(&e->dkeys);
    free(e->dirty);
    free(e->dslots);
    free(e->views);
    free(e->srcs);
    free(e->recs);
    free(e->vals);
    free(e->hvals);
    free(e->puts);
    free(e->posv);
    free(e->snap);
    pthread_mutex_destroy(&e->snap_lock);
    free(e);
}

/* The projection for a record's fingerprint, building it on first sight. */
static const fr_record_proj_t *proj_for(fr_engine_t *e, int s, uint64_t fp)
{
    source_rt_t *sr = &e->srcs[s];
    for (size_t i = 0; i < sr->nproj; i++)
        if (sr->proj[i].fingerprint == fp)
            return &sr->proj[i];
    if (!e->lookup || !fp)
        return NULL;
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    const fr_record_proj_t *pj = NULL;
    if (e->lookup(e->lookup_ctx, s, fp, &b) == 0) {
        size_t slot = sr->nproj < MAX_PROJ ? sr->nproj : 1 + (fp % (MAX_PROJ - 1));
        if (slot < sr->nproj)
            fr_record_proj_destroy(&sr->proj[slot]);
        if (fr_record_proj_from_schema(&sr->proj[slot], &e->cfg->sources[s], fp, b.p, b.len) ==
            0) {
            if (slot == sr->nproj)
                sr->nproj++;
            pj = &sr->proj[slot];
        } else if (slot < sr->nproj) {
            /* keep the table dense: move the last one here */
            sr->proj[slot] = sr->proj[--sr->nproj];
        }
    }
    fr_buf_destroy(&b);
    return pj;
}

/* The slot of (view v, key), loaded from the store or made on first sight;
 * valid until the next insert into or delete from that view's map.  NULL
 * with *rc FR_ENOMEM or a store error (nothing changed). */
static fr_map_slot_t *entry_get(fr_engine_t *e, int v, const char *key, size_t klen,
                                int *rc_out)
{
    *rc_out = FR_ENOMEM;
    view_rt_t *vr = &e->views[v];
    uint64_t h = fr_map_hash(key, klen);
    fr_map_slot_t *slot = fr_map_find(&vr->map, key, klen, h);
    if (slot)
        return slot;
    const fr_agg_plan_t *plan = &e->cfg->views[v].plan;
    fr_agg_state_t *st = NULL;
    fr_store_stamp_t stamp = {.partition = -1};
    if (vr->lookup) {
        const void *p;
        size_t n;
        int rc = fr_store_get(e->rd, v, key, klen, &p, &n, &stamp);
        if (rc == 0) {
            rc = fr_agg_state_decode(plan, p, n, &st);
            if (rc == FR_EMISMATCH || rc == FR_ECORRUPT) {
                fr_warn("view %s entity %.*s: stored state unusable (%s); starting afresh",
                        e->cfg->views[v].name, (int)klen, key, fr_strerror(rc));
                st = NULL;
                stamp.partition = -1;
            } else if (rc) {
                *rc_out = rc;
                return NULL;
            }
        } else if (rc != FR_ENOTFOUND) {
            *rc_out = rc;
            return NULL;
        }
    }
    if (!st) {
        st = fr_agg_state_new(plan);
        stamp.partition = -1;
    }
    if (!st)
        return NULL;
    slot = fr_map_insert(&vr->map, key, klen, h, st);
    if (!slot) {
        fr_agg_state_free(st);
        return NULL;
    }
    slot->user32 = stamp.partition < 0 ? NO_PARTITION : (uint32_t)stamp.partition;
    slot->user64 = stamp.next_offset;
    stat_add(&e->stats.entities_cached, 1);
    return slot;
}

/* Remembers that (view v, the slot's key) changed.  0 or FR_ENOMEM. */
static int mark_dirty(fr_engine_t *e, int v, fr_map_slot_t *slot)
{
    if (slot->flags & DIRTY)
        return 0;
    if (e->ndirty == e->dirty_cap) {
        size_t cap = e->dirty_cap ? e->dirty_cap * 2 : 1024;
        dirty_t *d = realloc(e->dirty, cap * sizeof *d);
        if (!d)
            return FR_ENOMEM;
        e->dirty = d;
        e->dirty_cap = cap;
    }
    size_t koff = e->dkeys.len;
    if (fr_buf_add(&e->dkeys, fr_map_key(slot), slot->klen))
        return FR_ENOMEM;
    e->dirty[e->ndirty] = (dirty_t){.view = v, .klen = slot->klen, .koff = koff};
    if (e->ndirty++ == 0)
        e->first_dirty_ns = fr_mono_ns();
    slot->flags |= DIRTY;
    return 0;
}

/*
 * Prefetching.  With a million entities every event misses the cache twice
 * before aggregation starts: on its map slot, then on its state.  The loop
 * looks ahead: PF_SLOT records ahead it touches the slot's cache line,
 * PF_STATE records ahead (the slot is in cache by then) it finds the slot
 * and touches the state, so both loads overlap the work on earlier records.
 * Hints only: nothing found here is kept, since inserts move slots.
 */
#define PF_SLOT 8
#define PF_STATE 4

static void hint(fr_engine_t *e, int s, const fr_source_rec_t *r, int find)
{
    source_rt_t *sr = &e->srcs[s];
    int64_t ts;
    if (fr_record_fingerprint(r->data, r->len) != sr->proj[0].fingerprint ||
        fr_record_decode(&sr->proj[0], r->data, r->len, e->hvals, &ts))
        return;
    for (size_t i = 0; i < sr->nviews; i++) {
        const fr_map_t *m = &e->views[sr->views[i]].map;
        const fr_view_spec_t *vs = &e->cfg->views[sr->views[i]];
        char tmp[24];
        const char *key;
        int klen = fr_entity_key(&e->hvals[vs->entity], tmp, &key);
        if (klen <= 0 || !m->cap)
            continue;
        uint64_t h = fr_map_hash(key, (size_t)klen);
        if (!find) {
            __builtin_prefetch(&m->slots[h & (m->cap - 1)]);
            continue;
        }
        const fr_map_slot_t *slot = fr_map_find(m, key, (size_t)klen, h);
        if (slot)
            __builtin_prefetch(slot->value);
    }
}

/*
 * Applies one decoded event (vals, ts) at (partition pr, offset) to every
 * view of source s.  All the entries it needs are found (or loaded from
 * the store) first: a store that fails then leaves every state as it was,
 * and the caller can retry the record.  A failure after that (out of
 * memory inside aggregation) may leave the record applied to some views
 * only: FR_ENOMEM, and the caller must not go on with this in-memory state.
 */
static int apply_values(fr_engine_t *e, int s, int32_t partition, part_rt_t *pr, uint64_t offset,
                        const fr_value_t *vals, int64_t ts)
{
    source_rt_t *sr = &e->srcs[s];
    fr_map_slot_t *ens[FR_CONFIG_MAX_VIEWS];
    for (size_t i = 0; i < sr->nviews; i++) {
        int v = sr->views[i];
        const fr_view_spec_t *vs = &e->cfg->views[v];
        ens[i] = NULL;
        if (!fr_filter_match(&vs->filter, vals))
            continue;
        char tmp[24];
        const char *key;
        int klen = fr_entity_key(&vals[vs->entity], tmp, &key);
        if (klen <= 0)
            continue; /* ingest guarantees a key; an old record may lack one */
        int rc;
        /* each view has its own map: this insert moves no slot found before */
        ens[i] = entry_get(e, v, key, (size_t)klen, &rc);
        if (!ens[i])
            return rc;
    }
    uint32_t part = (uint32_t)partition;
    for (size_t i = 0; i < sr->nviews; i++) {
        fr_map_slot_t *en = ens[i];
        if (!en)
            continue;
        if (en->user32 == part && offset < en->user64)
            continue; /* the stored state holds this record already */
        const fr_view_spec_t *vs = &e->cfg->views[sr->views[i]];
        if (fr_agg_state_apply(en->value, &vs->plan, ts, offset, vals) ||
            mark_dirty(e, sr->views[i], en))
            return FR_ENOMEM;
        en->user32 = part;
        en->user64 = offset + 1;
        e->applied++;
    }
    if (ts > pr->wm)
        pr->wm = ts;
    pr->next = offset + 1;
    pr->moved = 1;
    return 0;
}

/* A typed record of the embedded log. */
static int apply_record(fr_engine_t *e, int s, part_rt_t *pr, const fr_source_rec_t *r)
{
    const fr_record_proj_t *pj = proj_for(e, s, fr_record_fingerprint(r->data, r->len));
    int64_t ts;
    if (!pj || fr_record_decode(pj, r->data, r->len, e->vals, &ts)) {
        stat_add(&e->stats.undecodable, 1);
        pr->next = r->offset + 1;
        pr->moved = 1;
        return 0;
    }
    return apply_values(e, s, r->partition, pr, r->offset, e->vals, ts);
}

/*
 * Consumer groups split a topic by partition: a view's states are exact
 * only if all events of one entity reach one processor, i.e. the messages
 * are keyed by that view's entity (DESIGN §2).  Says so once per source
 * when a message's key differs from a view's entity.
 */
static void check_key(fr_engine_t *e, int s, const fr_source_rec_t *r)
{
    source_rt_t *sr = &e->srcs[s];
    for (size_t i = 0; i < sr->nviews; i++) {
        const fr_view_spec_t *vs = &e->cfg->views[sr->views[i]];
        char tmp[24];
        const char *key;
        int klen = fr_entity_key(&e->vals[vs->entity], tmp, &key);
        if (klen > 0 && ((size_t)klen != r->klen || memcmp(key, r->key, r->klen))) {
            fr_warn("view %s: messages of source %s are not keyed by its entity %s (key '%.*s', "
                    "entity '%.*s'); with several processors in the group its states would be "
                    "split between them: key the topic by %s or run one processor",
                    vs->name, e->cfg->sources[s].name,
                    e->cfg->sources[s].fields[vs->entity].name, (int)(r->klen > 64 ? 64 : r->klen),
                    (const char *)r->key, klen > 64 ? 64 : klen, key,
                    e->cfg->sources[s].fields[vs->entity].name);
            sr->key_warned = 1;
            return;
        }
    }
}

/*
 * A message as its producer wrote it (Kafka): decoded here, checked for
 * lateness against its partition's watermark and for a timestamp too far
 * ahead (DESIGN §2), and applied, or handed to the dead-letter queue with
 * its reason.  FR_EUNAVAIL when the schema registry is unreachable (the
 * record is neither applied nor refused: retry it).
 */
static int apply_message(fr_engine_t *e, int s, part_rt_t *pr, const fr_source_rec_t *r)
{
    source_rt_t *sr = &e->srcs[s];
    const fr_source_spec_t *spec = &e->cfg->sources[s];
    if (!sr->dec) {
        int rc = fr_decoder_new(e->cfg, s, e->avro_lookup, e->avro_ctx, &sr->dec);
        if (rc)
            return rc;
    }
    if (r->replay_of >= 0 && (uint64_t)r->replay_of < pr->replayed) {
        /* a dead letter re-fed twice (a replay was re-run): applied once */
        pr->next = r->offset + 1;
        pr->moved = 1;
        return 0;
    }
    if (r->replay_of >= 0)
        pr->replayed = (uint64_t)r->replay_of + 1;
    fr_reject_t rej = {0};
    int64_t ts = 0;
    int rc = fr_decoder_decode(sr->dec, r->data, r->len, e->vals, &ts, &rej);
    if (rc == FR_EUNAVAIL || rc == FR_ENOMEM)
        return rc;
    if (!rc && ts > fr_now_ms() + e->cfg->processor.max_future_ms) {
        rej.reason = "future_timestamp";
        snprintf(rej.detail, sizeof rej.detail,
                 "event time is further ahead of the clock than processor.max_future_ms");
        rc = FR_ELIMIT;
    } else if (!rc && pr->wm != INT64_MIN && ts < pr->wm - spec->horizon_ms) {
        rej.reason = "late";
        snprintf(rej.detail, sizeof rej.detail,
                 "event time is older than the watermark minus the largest window");
        rc = FR_ELIMIT;
    }
    if (!rc) {
        if (r->klen && !sr->key_warned)
            check_key(e, s, r);
        return apply_values(e, s, r->partition, pr, r->offset, e->vals, ts);
    }
    rc = sr->src->ops->dead_letter(sr->src, r, rej.reason ? rej.reason : "undecodable",
                                   rej.detail);
    if (rc)
        return rc;
    stat_add(&e->stats.undecodable, 1);
    sr->dead++;
    pr->next = r->offset + 1;
    pr->moved = 1;
    return 0;
}

static void evict(fr_engine_t *e)
{
    uint64_t cap = e->cfg->processor.cache_entities;
    uint64_t total = 0;
    for (size_t v = 0; v < e->cfg->nviews; v++)
        total += e->views[v].map.size;
    if (total <= cap)
        return;
    uint64_t target = cap - cap / 10;
    for (size_t v = 0; v < e->cfg->nviews && total > target; v++) {
        view_rt_t *vr = &e->views[v];
        fr_map_t *m = &vr->map;
        size_t scanned = 0;
        while (total > target && m->size && scanned < m->cap) {
            size_t i = vr->evict_at++ & (m->cap - 1);
            fr_map_slot_t *s = &m->slots[i];
            scanned++;
            if (!s->hash)
                continue;
            if (s->flags & DIRTY)
                continue;
            fr_agg_state_free(s->value);
            fr_map_delete(m, s);
            vr->lookup = 1;
            total--;
            stat_add(&e->stats.entities_cached, (uint64_t)-1);
            /* backward shift may have moved an unvisited entry into i */
            vr->evict_at--;
        }
    }
}

/* Makes the dead letters handed to sources durable before positions pass
 * them.  0; FR_EUNAVAIL (not yet); FR_EIO (lost: the source was reset). */
static int flush_dead(fr_engine_t *e)
{
    for (size_t s = 0; s < e->cfg->nsources; s++) {
        source_rt_t *sr = &e->srcs[s];
        if (!sr->dead || !sr->src->ops->flush)
            continue;
        int rc = sr->src->ops->flush(sr->src, 5000);
        if (rc == FR_EIO) {
            fr_warn("source %s: dead letters were lost; reprocessing from the committed "
                    "positions", e->cfg->sources[s].name);
            reset_source(e, (int)s);
        }
        if (rc)
            return rc;
        sr->dead = 0;
    }
    return 0;
}

int fr_engine_commit(fr_engine_t *e)
{
    int moved = any_moved(e);
    if (!e->ndirty && !moved)
        return 0;
    uint64_t t0 = fr_mono_ns();
    int rc = flush_dead(e);
    if (rc) {
        stat_add(&e->stats.commit_errors, 1);
        return rc;
    }
    if (e->puts_cap < e->ndirty) {
        fr_store_put_t *p = realloc(e->puts, e->ndirty * sizeof *p);
        if (!p)
            return FR_ENOMEM;
        e->puts = p;
        fr_map_slot_t **ds = realloc(e->dslots, e->ndirty * sizeof *ds);
        if (!ds)
            return FR_ENOMEM;
        e->dslots = ds;
        e->puts_cap = e->ndirty;
    }
    fr_buf_reset(&e->enc);
    size_t n = 0;
    /* no insert or delete happens until the flags are cleared below, so
     * the slots found here stay put */
    for (; n < e->ndirty; n++) {
        const dirty_t *d = &e->dirty[n];
        const char *key = e->dkeys.p + d->koff;
        fr_map_slot_t *slot = fr_map_find(&e->views[d->view].map, key, d->klen,
                                          fr_map_hash(key, d->klen));
        FR_ASSERT(slot && (slot->flags & DIRTY));
        e->dslots[n] = slot;
        size_t off = e->enc.len;
        rc = fr_agg_state_encode(slot->value, &e->cfg->views[d->view].plan, &e->enc);
        if (rc)
            break;
        int32_t part = slot->user32 == NO_PARTITION ? -1 : (int32_t)slot->user32;
        e->puts[n] = (fr_store_put_t){
            .view = d->view,
            .key = key,
            .klen = d->klen,
            .vlen = off, /* an offset until enc stops moving */
            .stamp = {.partition = part, .next_offset = slot->user64, .epoch = e->epoch}};
    }
    size_t npos = 0;
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            size_t off = e->puts[i].vlen, end = i + 1 < n ? e->puts[i + 1].vlen : e->enc.len;
            e->puts[i].val = e->enc.p + off;
            e->puts[i].vlen = end - off;
        }
        for (size_t s = 0; !rc && s < e->cfg->nsources; s++) {
            source_rt_t *sr = &e->srcs[s];
            for (size_t p = 0; sr->src && p < sr->nparts; p++) {
                if (!sr->parts[p].assigned || !sr->parts[p].moved)
                    continue;
                if (npos == e->posv_cap) {
                    size_t cap = e->posv_cap ? e->posv_cap * 2 : 16;
                    fr_store_pos_t *pv = realloc(e->posv, cap * sizeof *pv);
                    if (!pv) {
                        rc = FR_ENOMEM;
                        break;
                    }
                    e->posv = pv;
                    e->posv_cap = cap;
                }
                e->posv[npos++] = (fr_store_pos_t){.source = (int)s,
                                                   .partition = (int32_t)p,
                                                   .next_offset = sr->parts[p].next,
                                                   .watermark = sr->parts[p].wm,
                                                   .replayed = sr->parts[p].replayed};
            }
        }
    }
    if (!rc)
        rc = fr_store_commit(e->store, e->puts, n, e->posv, npos, e->epoch);
    if (rc) {
        stat_add(&e->stats.commit_errors, 1);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        e->dslots[i]->flags &= ~(uint64_t)DIRTY;
    e->ndirty = 0;
    fr_buf_reset(&e->dkeys);
    for (size_t s = 0; s < e->cfg->nsources; s++)
        for (size_t p = 0; p < e->srcs[s].nparts; p++) {
            part_rt_t *pr = &e->srcs[s].parts[p];
            if (pr->assigned && pr->moved) {
                pr->committed = pr->next;
                pr->committed_wm = pr->wm;
            }
            pr->moved = 0;
        }
    publish(e);
    stat_add(&e->stats.commits, 1);
    stat_set(&e->stats.last_commit_us, (fr_mono_ns() - t0) / 1000);
    __atomic_store_n(&e->stats.last_commit_ms, fr_now_ms(), __ATOMIC_RELAXED);
    evict(e);
    trim_logs(e);
    return 0;
}

/* Reads every assigned partition of source s again from what is applied
 * (records polled but not applied are dropped by the caller). */
static int seek_back(fr_engine_t *e, source_rt_t *sr)
{
    (void)e;
    int rc = 0;
    for (size_t p = 0; p < sr->nparts; p++)
        if (sr->parts[p].assigned) {
            int r = fr_source_seek(sr->src, (int32_t)p, sr->parts[p].next);
            if (r && !rc)
                rc = r;
        }
    return rc;
}

int fr_engine_step(fr_engine_t *e, int timeout_ms, size_t *napplied)
{
    size_t total = 0;
    int rc = 0, any_full = 0;
    rc = fr_store_rd_begin(e->rd);
    if (rc)
        return rc;
    e->in_rd = 1;
    for (size_t s = 0; !rc && s < e->cfg->nsources; s++) {
        source_rt_t *sr = &e->srcs[s];
        if (!sr->src)
            continue;
        size_t n = 0;
        rc = fr_source_poll(sr->src, e->recs, POLL_MAX, &n, 0);
        if (e->failed) {
            rc = e->failed;
            n = 0;
        }
        for (size_t i = 0; !rc && i < n; i++) {
            const fr_source_rec_t *r = &e->recs[i];
            if (!sr->messages) {
                if (i + PF_SLOT < n)
                    hint(e, (int)s, &e->recs[i + PF_SLOT], 0);
                if (i + PF_STATE < n)
                    hint(e, (int)s, &e->recs[i + PF_STATE], 1);
            }
            part_rt_t *pr = r->partition >= 0 && (size_t)r->partition < sr->nparts
                                ? &sr->parts[r->partition]
                                : NULL;
            if (!pr || !pr->assigned || r->offset < pr->next)
                continue; /* not ours (any more), or applied already (re-delivered) */
            rc = sr->messages ? apply_message(e, (int)s, pr, r) : apply_record(e, (int)s, pr, r);
        }
        fr_source_release(sr->src);
        stat_add(&e->stats.applied, e->applied);
        e->applied = 0;
        if (rc && rc != FR_ENOMEM && !e->failed) {
            /* the store (or the registry) failed before the record was
             * applied: read it (and what followed) again on the next round */
            int src_rc = seek_back(e, sr);
            if (src_rc)
                rc = src_rc;
        }
        stat_add(&e->stats.records, n);
        total += n;
        any_full |= n == POLL_MAX;
    }
    if (e->in_rd)
        fr_store_rd_end(e->rd);
    e->in_rd = 0;
    if (napplied)
        *napplied = total;
    if (rc)
        return rc;
    uint64_t now = fr_mono_ns();
    int caught_up = !any_full;
    int due = e->ndirty &&
              (caught_up || e->ndirty >= MAX_DIRTY ||
               now - e->first_dirty_ns >= (uint64_t)e->cfg->processor.commit_interval_ms * 1000000u);
    int moved = any_moved(e);
    if (!e->manual && (due || (moved && caught_up)) && now >= e->retry_at_ns) {
        rc = fr_engine_commit(e);
        if (rc) {
            e->retry_at_ns = now + 100000000u; /* retry in 100 ms */
            return rc;
        }
    }
    if (now - e->snap_at_ns > 500000000u)
        publish(e);
    if (total == 0 && timeout_ms > 0) {
        /* idle: wait for appends on the first source that can wake us */
        for (size_t s = 0; s < e->cfg->nsources; s++) {
            source_rt_t *sr = &e->srcs[s];
            if (!sr->src)
                continue;
            rc = fr_source_wait(sr->src, timeout_ms);
            break;
        }
    }
    return e->failed ? e->failed : rc;
}

int fr_engine_run(fr_engine_t *e, volatile sig_atomic_t *stop)
{
    int rc = 0, failing = 0;
    while (!*stop) {
        /* failures are retried: a failed commit keeps its state dirty and
         * backs off; a failed poll is polled again */
        rc = fr_engine_step(e, 20, NULL);
        if (rc && !failing)
            fr_warn("processor: %s; retrying with the state kept", fr_strerror(rc));
        else if (!rc && failing)
            fr_info("processor: store reachable again");
        failing = rc != 0;
        if (rc == FR_ECONFLICT) {
            /* the store refused our epoch: a newer processor owns these
             * partitions, and this one must not write again */
            fr_error("processor: fenced by a newer owner of its partitions; stopping");
            return rc;
        }
        if (rc == FR_ENOMEM) {
            /* a record may be half applied: the in-memory state can no
             * longer be trusted.  Stop; a restart resumes from the store. */
            return rc;
        }
        if (rc) {
            /* the store is failing: back off, keep the state, retry */
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < 50; i++) {
        rc = fr_engine_commit(e);
        if (!rc)
            break;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

void fr_engine_stats(const fr_engine_t *e, fr_engine_stats_t *out)
{
    out->records = __atomic_load_n(&e->stats.records, __ATOMIC_RELAXED);
    out->applied = __atomic_load_n(&e->stats.applied, __ATOMIC_RELAXED);
    out->undecodable = __atomic_load_n(&e->stats.undecodable, __ATOMIC_RELAXED);
    out->commits = __atomic_load_n(&e->stats.commits, __ATOMIC_RELAXED);
    out->commit_errors = __atomic_load_n(&e->stats.commit_errors, __ATOMIC_RELAXED);
    out->entities_cached = __atomic_load_n(&e->stats.entities_cached, __ATOMIC_RELAXED);
    out->last_commit_us = __atomic_load_n(&e->stats.last_commit_us, __ATOMIC_RELAXED);
    out->last_commit_ms = __atomic_load_n(&e->stats.last_commit_ms, __ATOMIC_RELAXED);
}

uint64_t fr_engine_lag(const fr_engine_t *e)
{
    uint64_t lag = 0;
    for (size_t s = 0; s < e->cfg->nsources; s++)
        if (e->srcs[s].src && e->srcs[s].src->ops->lag)
            lag += e->srcs[s].src->ops->lag(e->srcs[s].src);
    return lag;
}

void fr_engine_set_avro_lookup(fr_engine_t *e, fr_avro_lookup_fn fn, void *ctx)
{
    e->avro_lookup = fn;
    e->avro_ctx = ctx;
}

uint64_t fr_engine_epoch(const fr_engine_t *e)
{
    return __atomic_load_n(&e->epoch, __ATOMIC_RELAXED);
}

int fr_engine_parts(fr_engine_t *e, fr_engine_part_t *out, size_t max, size_t *n)
{
    pthread_mutex_lock(&e->snap_lock);
    *n = e->nsnap < max ? e->nsnap : max;
    if (*n)
        memcpy(out, e->snap, *n * sizeof *out);
    pthread_mutex_unlock(&e->snap_lock);
    return 0;
}

