/* Unit tests of the processor (src/engine): routing, filters, commits,
 * and exactly-once across restarts and crashes between commits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"
#include "core/clock.h"
#include "core/err.h"
#include "engine/engine.h"
#include "event/event.h"
#include "source/elog.h"
#include "store/store.h"

static char dir[64];
static fr_config_t *cfg;
static fr_elog_t *elog;
static fr_store_t *store;

static const char *yaml =
    "store: { path: %s, log_retention: 1s }\n"
    "processor: { cache_entities: 3 }\n"
    "sources:\n"
    "  - name: tx\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: amount, type: long }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - name: all\n"
    "    source: tx\n"
    "    entity: k\n"
    "    windows: [1h]\n"
    "    aggregations: [{ fn: count }, { fn: sum, field: amount }]\n"
    "  - name: us\n"
    "    source: tx\n"
    "    entity: k\n"
    "    windows: [1h]\n"
    "    filter: { field: country, equals: US }\n"
    "    aggregations: [{ fn: count }]\n";

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-eng-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char text[2048], err[512], p[128];
    snprintf(text, sizeof text, yaml, dir);
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(fr_store_open(cfg, &store, err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/log", dir);
    cr_assert_eq(fr_elog_open(p, cfg, &elog, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    fr_elog_close(elog);
    fr_store_close(store);
    fr_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int64_t base;

/* Appends n events: key k<i % nkeys>, amount i, country US on even i. */
static void append(int first, int n, int nkeys)
{
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 24);
    size_t *offs = calloc((size_t)n + 1, sizeof *offs);
    fr_append_event_t *ev = calloc((size_t)n, sizeof *ev);
    uint64_t fp = fr_schema_fingerprint(&cfg->sources[0]);
    for (int i = 0; i < n; i++) {
        int id = first + i;
        char k[16];
        int kl = snprintf(k, sizeof k, "k%d", id % nkeys);
        fr_value_t v[4] = {{.type = FR_T_STRING, .len = (uint32_t)kl, .u.s = k},
                           {.type = FR_T_LONG, .u.i = id},
                           {.type = id % 2 ? FR_T_NULL : FR_T_STRING, .len = 2, .u.s = "US"},
                           {.type = FR_T_LONG, .u.i = base + id}};
        offs[i] = rb.len;
        cr_assert_eq(fr_record_encode(&cfg->sources[0], fp, v, base + id, &rb), 0);
        ev[i].ts = base + id;
    }
    offs[n] = rb.len;
    for (int i = 0; i < n; i++) {
        ev[i].rec = rb.p + offs[i];
        ev[i].rec_len = offs[i + 1] - offs[i];
    }
    fr_append_req_t req = {.source = 0, .events = ev, .n = (size_t)n};
    cr_assert_eq(fr_elog_append(elog, &req), 0);
    cr_assert_eq(req.accepted, (size_t)n);
    free(offs);
    free(ev);
    fr_buf_destroy(&rb);
}

static fr_engine_t *engine(void)
{
    fr_source_t *src[1];
    cr_assert_eq(fr_elog_source_open(elog, 0, &src[0]), 0);
    fr_engine_t *e;
    char err[256];
    cr_assert_eq(fr_engine_new(cfg, store, src, NULL, NULL, &e, err, sizeof err), 0, "%s", err);
    return e;
}

static void drain(fr_engine_t *e)
{
    for (int i = 0; i < 1000; i++) {
        size_t n;
        cr_assert_eq(fr_engine_step(e, 0, &n), 0);
        if (!n && fr_engine_lag(e) == 0)
            return;
    }
}

/* count and sum of view v for key k from the store. */
static void read_back(int v, const char *k, int64_t *count, int64_t *sum)
{
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    const void *p;
    size_t n;
    *count = *sum = 0;
    if (fr_store_get(rd, v, k, strlen(k), &p, &n, NULL) == 0) {
        fr_value_t out[2];
        cr_assert_eq(fr_agg_eval_encoded(&cfg->views[v].plan, p, n, base + 100000, out, NULL), 0);
        *count = out[0].u.i;
        if (cfg->views[v].naggs > 1)
            *sum = out[1].u.i;
    }
    fr_store_rd_end(rd);
    fr_store_rd_free(rd);
}

static void expect(int total, int nkeys)
{
    for (int k = 0; k < nkeys; k++) {
        int64_t c = 0, s = 0, us = 0;
        for (int i = 0; i < total; i++)
            if (i % nkeys == k) {
                c++;
                s += i;
                us += i % 2 == 0;
            }
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        int64_t gc, gs, gus, dummy;
        read_back(0, key, &gc, &gs);
        read_back(1, key, &gus, &dummy);
        cr_assert_eq(gc, c, "%s count %ld want %ld", key, (long)gc, (long)c);
        cr_assert_eq(gs, s, "%s sum %ld want %ld", key, (long)gs, (long)s);
        cr_assert_eq(gus, us, "%s us-count %ld want %ld", key, (long)gus, (long)us);
    }
}

Test(engine, applies_routes_filters_and_commits, .init = setup, .fini = teardown)
{
    base = fr_now_ms() - 50000;
    append(0, 100, 7);
    fr_engine_t *e = engine();
    drain(e);
    expect(100, 7);
    fr_engine_stats_t st;
    fr_engine_stats(e, &st);
    cr_assert_eq(st.records, 100);
    cr_assert_eq(st.applied, 150); /* 100 to "all", 50 US to "us" */
    /* cache_entities is 3: clean states were dropped and reload correctly */
    cr_assert_leq(st.entities_cached, 3);
    /* retention 1s: the applied records (50 s old) left the log, offsets stay */
    fr_source_t *s;
    cr_assert_eq(fr_elog_source_open(elog, 0, &s), 0);
    fr_source_rec_t recs[4];
    size_t n;
    cr_assert_eq(fr_source_poll(s, recs, 4, &n, 0), 0);
    cr_assert_eq(n, 0, "%zu records were kept past their retention", n);
    fr_source_close(s);
    cr_assert_eq(fr_elog_end_offset(elog, 0), 100);
    append(100, 50, 7);
    drain(e);
    expect(150, 7);
    fr_engine_free(e);
}

Test(engine, restart_resumes_without_double_counting, .init = setup, .fini = teardown)
{
    base = fr_now_ms() - 50000;
    append(0, 60, 5);
    fr_engine_t *e = engine();
    drain(e);
    fr_engine_free(e);
    append(60, 40, 5);
    e = engine();
    drain(e);
    expect(100, 5);
    fr_engine_free(e);
}

Test(engine, crash_between_commits_loses_and_doubles_nothing, .init = setup, .fini = teardown)
{
    base = fr_now_ms() - 50000;
    append(0, 30, 4);
    fr_engine_t *e = engine();
    drain(e);
    /* apply more without committing, then "crash": the engine vanishes */
    append(30, 30, 4);
    fr_engine_set_autocommit(e, 0);
    size_t n;
    cr_assert_eq(fr_engine_step(e, 0, &n), 0);
    cr_assert_eq(n, 30);
    fr_engine_free(e);
    expect(30, 4); /* the store still holds the last commit only */
    e = engine();
    drain(e);
    expect(60, 4);
    fr_engine_free(e);
}

/* A store that is ahead of its stored position for some keys (what a
 * per-key store such as Redis Cluster can hold after a crash mid-commit):
 * replaying from the older position must not apply those records twice. */
Test(engine, stamped_states_skip_records_they_hold, .init = setup, .fini = teardown)
{
    base = fr_now_ms(); /* young events: the 1 s retention keeps them in the log */
    append(0, 40, 4);
    fr_engine_t *e = engine();
    drain(e);
    fr_engine_free(e);
    expect(40, 4);
    /* roll the position back to 10 without touching the states */
    fr_store_pos_t pos = {.source = 0, .partition = 0, .next_offset = 10, .watermark = base};
    cr_assert_eq(fr_store_commit(store, NULL, 0, &pos, 1, 0), 0);
    append(40, 20, 4);
    e = engine();
    drain(e);
    fr_engine_stats_t st;
    fr_engine_stats(e, &st);
    cr_assert_eq(st.records, 50, "replayed from offset 10: %lu records", (unsigned long)st.records);
    expect(60, 4);
    fr_engine_free(e);
}

/* ---- fencing between two processors of one consumer group ---- */

/* The embedded log dressed as a consumer-group source: its one partition
 * arrives through the listener on the first poll, as Kafka's do. */
typedef struct {
    fr_source_t base;
    fr_source_t *inner;
    int assigned;
} gsrc_t;

static int g_partitions(fr_source_t *s, int32_t *parts, size_t max, size_t *n)
{
    return ((gsrc_t *)s)->inner->ops->partitions(((gsrc_t *)s)->inner, parts, max, n);
}
static int g_seek(fr_source_t *s, int32_t p, uint64_t off)
{
    return fr_source_seek(((gsrc_t *)s)->inner, p, off);
}
static int g_poll(fr_source_t *s, fr_source_rec_t *r, size_t max, size_t *n, int t)
{
    gsrc_t *g = (gsrc_t *)s;
    if (!g->assigned) {
        int32_t part = 0;
        uint64_t next = 0;
        int rc = s->listener.assign(s->listener.ctx, s, &part, 1, &next);
        if (rc)
            return rc;
        g->assigned = 1;
        fr_source_seek(g->inner, 0, next);
    }
    return fr_source_poll(g->inner, r, max, n, t);
}
static int g_wait(fr_source_t *s, int t)
{
    return fr_source_wait(((gsrc_t *)s)->inner, t);
}
static void g_release(fr_source_t *s)
{
    fr_source_release(((gsrc_t *)s)->inner);
}
static uint64_t g_lag(fr_source_t *s)
{
    gsrc_t *g = (gsrc_t *)s;
    return g->assigned ? g->inner->ops->lag(g->inner) : 1;
}
static int g_dead(fr_source_t *s, const fr_source_rec_t *r, const char *reason, const char *d)
{
    (void)s, (void)r, (void)reason, (void)d;
    return 0;
}
static void g_close(fr_source_t *s)
{
    fr_source_close(((gsrc_t *)s)->inner);
    free(s);
}
static const fr_source_ops_t g_ops = {.kind = "group",
                                      .partitions = g_partitions,
                                      .seek = g_seek,
                                      .poll = g_poll,
                                      .wait = g_wait,
                                      .release = g_release,
                                      .lag = g_lag,
                                      .dead_letter = g_dead,
                                      .close = g_close};

static fr_engine_t *group_engine(void)
{
    gsrc_t *g = calloc(1, sizeof *g);
    g->base.ops = &g_ops;
    cr_assert_eq(fr_elog_source_open(elog, 0, &g->inner), 0);
    fr_source_t *src[1] = {&g->base};
    fr_engine_t *e;
    char err[256];
    cr_assert_eq(fr_engine_new(cfg, store, src, NULL, NULL, &e, err, sizeof err), 0, "%s", err);
    fr_engine_set_autocommit(e, 0);
    return e;
}

Test(engine, zombie_after_reassignment_is_fenced, .init = setup, .fini = teardown)
{
    base = fr_now_ms() - 600000;
    append(0, 40, 5);
    fr_engine_t *a = group_engine();
    drain(a);
    cr_assert_eq(fr_engine_commit(a), 0);
    uint64_t ea = fr_engine_epoch(a);
    cr_assert_gt(ea, 0);
    append(40, 60, 5);
    drain(a); /* a applies 60 more but is paused before committing them */

    /* the partition moves to b: a new epoch, positions rewritten under it */
    fr_engine_t *b = group_engine();
    drain(b);
    cr_assert_gt(fr_engine_epoch(b), ea);
    cr_assert_eq(fr_engine_commit(b), 0);
    expect(100, 5);

    /* a resumes: its commit is refused and changes nothing */
    cr_assert_eq(fr_engine_commit(a), FR_ECONFLICT);
    expect(100, 5);
    append(100, 10, 5);
    drain(b);
    cr_assert_eq(fr_engine_commit(b), 0);
    expect(110, 5);
    fr_engine_free(a);
    fr_engine_free(b);
}

/* ---- admission on the message path (Kafka, JSON Lines) ---- */

/* A source of JSON messages as a producer wrote them, one partition. */
typedef struct {
    fr_source_t base;
    const char *const *msgs;
    size_t n, pos;
    const char *reasons[8]; /* dead-letter reason per message */
    int assigned;
} msrc_t;

static int m_partitions(fr_source_t *s, int32_t *parts, size_t max, size_t *n)
{
    (void)s;
    *n = max ? 1 : 0;
    if (max)
        parts[0] = 0;
    return 0;
}
static int m_seek(fr_source_t *s, int32_t p, uint64_t off)
{
    (void)p;
    ((msrc_t *)s)->pos = (size_t)off;
    return 0;
}
static int m_poll(fr_source_t *s, fr_source_rec_t *r, size_t max, size_t *n, int t)
{
    (void)t;
    msrc_t *m = (msrc_t *)s;
    *n = 0;
    if (!m->assigned) {
        /* a group source: its partition arrives through the listener */
        int32_t part = 0;
        uint64_t next = 0;
        int rc = s->listener.assign(s->listener.ctx, s, &part, 1, &next);
        if (rc)
            return rc;
        m->assigned = 1;
        m->pos = next == UINT64_MAX ? 0 : (size_t)next;
    }
    while (m->pos < m->n && *n < max) {
        r[*n] = (fr_source_rec_t){.partition = 0,
                                  .offset = m->pos,
                                  .data = m->msgs[m->pos],
                                  .len = strlen(m->msgs[m->pos]),
                                  .replay_of = -1};
        (*n)++;
        m->pos++;
    }
    return 0;
}
static int m_wait(fr_source_t *s, int t)
{
    (void)s, (void)t;
    return 0;
}
static void m_release(fr_source_t *s)
{
    (void)s;
}
static uint64_t m_lag(fr_source_t *s)
{
    msrc_t *m = (msrc_t *)s;
    return m->assigned ? m->n - m->pos : 1;
}
static int m_dead(fr_source_t *s, const fr_source_rec_t *r, const char *reason, const char *d)
{
    (void)d;
    msrc_t *m = (msrc_t *)s;
    if (r->offset < 8)
        m->reasons[r->offset] = reason;
    return 0;
}
static void m_close(fr_source_t *s)
{
    (void)s; /* the test owns it */
}
static const fr_source_ops_t m_ops = {.kind = "messages",
                                      .payload = FR_PAYLOAD_MESSAGE,
                                      .partitions = m_partitions,
                                      .seek = m_seek,
                                      .poll = m_poll,
                                      .wait = m_wait,
                                      .release = m_release,
                                      .lag = m_lag,
                                      .dead_letter = m_dead,
                                      .close = m_close};

/* Issue 8: on the processor path (Kafka), a first message at INT64_MIN + 1
 * made `wm - horizon` overflow; every later one was then late. */
Test(engine, message_times_out_of_range_are_dead_letters_and_spare_the_watermark, .init = setup,
     .fini = teardown)
{
    base = fr_now_ms() - 600000;
    char m[4][160];
    snprintf(m[0], sizeof m[0], "{\"k\":\"m1\",\"amount\":1,\"ts\":%lld}", (long long)(INT64_MIN + 1));
    snprintf(m[1], sizeof m[1], "{\"k\":\"m1\",\"amount\":2,\"ts\":%lld}", (long long)base);
    snprintf(m[2], sizeof m[2], "{\"k\":\"m1\",\"amount\":3,\"ts\":%lld}", (long long)(base - 1000));
    snprintf(m[3], sizeof m[3], "{\"k\":\"m1\",\"amount\":4,\"ts\":%lld}", (long long)INT64_MAX);
    const char *msgs[4] = {m[0], m[1], m[2], m[3]};
    msrc_t ms = {.base = {.ops = &m_ops}, .msgs = msgs, .n = 4};
    fr_source_t *src[1] = {&ms.base};
    fr_engine_t *e;
    char err[256];
    cr_assert_eq(fr_engine_new(cfg, store, src, NULL, NULL, &e, err, sizeof err), 0, "%s", err);
    drain(e);
    cr_assert_eq(fr_engine_commit(e), 0);
    cr_assert_str_eq(ms.reasons[0], "timestamp_out_of_range");
    cr_assert_null(ms.reasons[1]);
    cr_assert_null(ms.reasons[2], "not late: %s", ms.reasons[2]);
    cr_assert_str_eq(ms.reasons[3], "timestamp_out_of_range");
    int64_t count, sum;
    read_back(0, "m1", &count, &sum);
    cr_assert_eq(count, 2);
    cr_assert_eq(sum, 5);
    fr_engine_free(e);
}
