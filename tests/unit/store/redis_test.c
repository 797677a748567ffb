/*
 * Tests of the Redis store (src/store/store_redis.c) against real
 * redis-server processes: one per test, or a three-master cluster, each on
 * a free loopback port in its own temporary directory (redis_helpers.h).
 * The .c is included to reach the URL parser and the slot function.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_redis.c"
#include "redis_helpers.h"

static rsrv_t srv[3] = {{.life = -1}, {.life = -1}, {.life = -1}};
static fr_config_t *cfg;
static fr_store_t *store;

static const char *yaml =
    "store:\n"
    "  backend: redis\n"
    "  redis: { url: \"%s\", cluster: %s, connect_timeout_ms: 1000, timeout_ms: %d }\n"
    "sources:\n"
    "  - name: tx\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - { name: v1, source: tx, entity: k, windows: [1h], aggregations: [{ fn: count }] }\n"
    "  - { name: v2, source: tx, entity: k, windows: [1h], aggregations: [{ fn: count }] }\n";

static void fini(void)
{
    fr_store_close(store);
    store = NULL;
    fr_config_free(cfg);
    cfg = NULL;
    for (int i = 2; i >= 0; i--)
        rsrv_stop(&srv[i]);
}

/* Loads the configuration for url; opens the store unless rc_out is given
 * (then the open's code lands there and err holds its message). */
static void load(const char *url, int cluster, int timeout_ms)
{
    char text[2048], err[512];
    snprintf(text, sizeof text, yaml, url, cluster ? "true" : "false", timeout_ms);
    fr_config_free(cfg);
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0, "%s",
                 err);
}

static void open_store(const char *url, int cluster, int timeout_ms)
{
    char err[512] = "";
    load(url, cluster, timeout_ms);
    int rc = fr_store_open(cfg, &store, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", err, fr_strerror(rc));
    cr_assert_str_eq(store->ops->kind, "redis");
}

static void open_single(int timeout_ms)
{
    rsrv_start(&srv[0], NULL);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", srv[0].port);
    open_store(url, 0, timeout_ms);
}

static void open_cluster(void)
{
    cluster_start(srv);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", srv[0].port);
    open_store(url, 1, 1000);
}

static fr_store_put_t put(int view, const char *key, const char *val, int32_t part, uint64_t off,
                          uint64_t epoch)
{
    return (fr_store_put_t){.view = view, .key = key, .klen = strlen(key), .val = val,
                            .vlen = val ? strlen(val) : 0,
                            .stamp = {.partition = part, .next_offset = off, .epoch = epoch}};
}

static fr_store_pos_t pos(int32_t part, uint64_t next, int64_t wm)
{
    return (fr_store_pos_t){.source = 0, .partition = part, .next_offset = next, .watermark = wm};
}

/* Asserts the state of (view, key) through a fresh read. */
static void expect(fr_store_rd_t *rd, int view, const char *key, const char *val, int32_t part,
                   uint64_t off, uint64_t epoch)
{
    const void *p;
    size_t n;
    fr_store_stamp_t s;
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    int rc = fr_store_get(rd, view, key, strlen(key), &p, &n, &s);
    if (!val) {
        cr_assert_eq(rc, FR_ENOTFOUND, "%s: %s", key, fr_strerror(rc));
    } else {
        cr_assert_eq(rc, 0, "%s: %s", key, fr_strerror(rc));
        cr_assert_eq(n, strlen(val), "%s", key);
        cr_assert_eq(memcmp(p, val, n), 0, "%s: %.*s", key, (int)n, (const char *)p);
        cr_assert_eq(s.partition, part);
        cr_assert_eq(s.next_offset, off, "%s: offset %llu", key, (unsigned long long)s.next_offset);
        cr_assert_eq(s.epoch, epoch);
    }
    fr_store_rd_end(rd);
}

static void expect_pos(fr_store_rd_t *rd, int32_t part, uint64_t next, int64_t wm, uint64_t epoch)
{
    fr_store_pos_t p;
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    int rc = fr_store_pos_get(rd, 0, part, &p);
    fr_store_rd_end(rd);
    cr_assert_eq(rc, 0, "%s", fr_strerror(rc));
    cr_assert_eq(p.next_offset, next);
    cr_assert_eq(p.watermark, wm);
    cr_assert_eq(p.epoch, epoch);
    cr_assert_eq(p.source, 0);
    cr_assert_eq(p.partition, part);
    cr_assert(p.committed_ms > fr_now_ms() - 60000 && p.committed_ms <= fr_now_ms());
}

/* ---- no server ---- */

Test(redis, url)
{
    struct {
        const char *url;
        int ok, port, db;
        const char *host, *user, *pass;
    } t[] = {
        {"redis://127.0.0.1:6379", 1, 6379, 0, "127.0.0.1", NULL, NULL},
        {"redis://localhost", 1, 6379, 0, "localhost", NULL, NULL},
        {"redis://h:1/15", 1, 1, 15, "h", NULL, NULL},
        {"redis://h/", 1, 6379, 0, "h", NULL, NULL},
        {"redis://:pw@h:7000/2", 1, 7000, 2, "h", NULL, "pw"},
        {"redis://alice:p%40ss%2Fw:rd@h", 1, 6379, 0, "h", "alice", "p@ss/w:rd"},
        {"redis://:a@b@h", 1, 6379, 0, "h", NULL, "a@b"},
        {"redis://[::1]:6380", 1, 6380, 0, "::1", NULL, NULL},
        {"http://h", 0, 0, 0, NULL, NULL, NULL},
        {"rediss://h", 0, 0, 0, NULL, NULL, NULL},
        {"redis://", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h:0", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h:65536", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h:", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h:12x", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h/x", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h/1?x=1", 0, 0, 0, NULL, NULL, NULL},
        {"redis://pw@h", 0, 0, 0, NULL, NULL, NULL},
        {"redis://u:@h", 0, 0, 0, NULL, NULL, NULL},
        {"redis://:p%4@h", 0, 0, 0, NULL, NULL, NULL},
        {"redis://:p%00@h", 0, 0, 0, NULL, NULL, NULL},
        {"redis://h h", 0, 0, 0, NULL, NULL, NULL},
        {"redis://[::1", 0, 0, 0, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        rstore_t st;
        memset(&st, 0, sizeof st);
        char err[256] = "";
        int rc = parse_url(t[i].url, &st, err, sizeof err);
        if (!t[i].ok) {
            cr_expect_eq(rc, FR_ECONFIG, "%s accepted", t[i].url);
            cr_expect(strstr(err, "store.redis.url") != NULL, "%s: %s", t[i].url, err);
        } else {
            cr_expect_eq(rc, 0, "%s: %s", t[i].url, err);
            cr_expect_str_eq(st.seed.host, t[i].host, "%s", t[i].url);
            cr_expect_eq(st.seed.port, t[i].port, "%s", t[i].url);
            cr_expect_eq(st.db, t[i].db, "%s", t[i].url);
            cr_expect((!t[i].user && !st.user) || (t[i].user && st.user &&
                                                   !strcmp(t[i].user, st.user)),
                      "%s user", t[i].url);
            cr_expect((!t[i].pass && !st.pass) || (t[i].pass && st.pass &&
                                                   !strcmp(t[i].pass, st.pass)),
                      "%s pass", t[i].url);
        }
        free(st.user);
        free(st.pass);
    }
}

Test(redis, slot)
{
    cr_assert_eq(crc16("123456789", 9), 0x31C3); /* the specification's check value */
    cr_assert_eq(key_slot("foo", 3), 12182);
    cr_assert_eq(key_slot("{user1000}.following", 20), key_slot("user1000", 8));
    cr_assert_eq(key_slot("foo{}{bar}", 10), crc16("foo{}{bar}", 10) & 16383);
    cr_assert_eq(key_slot("foo{{bar}}zap", 13), crc16("{bar", 4) & 16383);
    cr_assert_eq(key_slot("foo{bar}{zap}", 13), crc16("bar", 3) & 16383);
    cr_assert_eq(key_slot("fr:v:v1:{c42}", 13), key_slot("fr:v:v2:{c42}", 13));
}

Test(redis, refused_configs, .fini = fini)
{
    char err[256];
    /* a database on a cluster: refused when the file is read (so `freshet
     * validate` says so), and by the store for a config made otherwise */
    char text[2048];
    snprintf(text, sizeof text, yaml, "redis://127.0.0.1:6379/2", "true", 100);
    fr_config_t *bad = NULL;
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &bad, err, sizeof err),
                 FR_ECONFIG);
    cr_assert(strstr(err, "database") != NULL, "%s", err);
    load("redis://127.0.0.1:6379", 1, 100);
    free(cfg->store.redis_url);
    cfg->store.redis_url = strdup("redis://127.0.0.1:6379/2");
    cr_assert_eq(fr_store_open(cfg, &store, err, sizeof err), FR_ECONFIG);
    cr_assert(strstr(err, "database") != NULL, "%s", err);
    /* nothing listens there: an error at once, not a hang */
    int port = pick_port();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    load(url, 0, 100);
    int64_t t0 = mono_ms();
    int rc = fr_store_open(cfg, &store, err, sizeof err);
    cr_assert(rc < 0);
    cr_assert_null(store);
    cr_assert_lt(mono_ms() - t0, 2000);
    cr_assert(strstr(err, "redis 127.0.0.1") != NULL, "%s", err);
}

/* ---- one server ---- */

Test(redis, round_trip, .fini = fini)
{
    open_single(1000);
    /* binary-safe keys and values: NUL, braces, CR LF */
    static const char bkey[] = "a\0}{b\r\n", bval[] = "\0\1\2}{\r\n";
    fr_store_put_t p[4] = {put(0, "alice", "state-a1", 0, 10, 7), put(0, "bob", "state-b1", 0, 11, 7),
                           put(1, "alice", "state-a2", 0, 12, 7)};
    p[3] = (fr_store_put_t){.view = 1, .key = bkey, .klen = sizeof bkey - 1, .val = bval,
                            .vlen = sizeof bval - 1, .stamp = {3, UINT64_MAX - 1, UINT64_MAX}};
    fr_store_pos_t ps[2] = {pos(0, 42, 1000), pos(3, UINT64_MAX - 1, INT64_MIN)};
    cr_assert_eq(fr_store_commit(store, p, 4, ps, 2, 7), 0);

    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    expect(rd, 0, "alice", "state-a1", 0, 10, 7);
    expect(rd, 0, "bob", "state-b1", 0, 11, 7);
    expect(rd, 1, "alice", "state-a2", 0, 12, 7);
    expect(rd, 1, "bob", NULL, 0, 0, 0);
    expect_pos(rd, 0, 42, 1000, 7);
    expect_pos(rd, 3, UINT64_MAX - 1, INT64_MIN, 7);

    cr_assert_eq(fr_store_rd_begin(rd), 0);
    const void *v;
    size_t n;
    fr_store_stamp_t s;
    cr_assert_eq(fr_store_get(rd, 1, bkey, sizeof bkey - 1, &v, &n, &s), 0);
    cr_assert_eq(n, sizeof bval - 1);
    cr_assert_eq(memcmp(v, bval, n), 0);
    cr_assert_eq(s.partition, 3);
    cr_assert_eq(s.next_offset, UINT64_MAX - 1);
    cr_assert_eq(s.epoch, UINT64_MAX);
    /* values stay valid until rd_end, across later reads */
    const void *v1;
    size_t n1;
    cr_assert_eq(fr_store_get(rd, 0, "alice", 5, &v1, &n1, NULL), 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(fr_store_get(rd, 0, "bob", 3, &v, &n, NULL), 0);
    cr_assert_eq(memcmp(v1, "state-a1", 8), 0);
    cr_assert_eq(fr_store_get(rd, 0, "", 0, &v, &n, NULL), FR_ENOTFOUND);
    fr_store_pos_t pp;
    cr_assert_eq(fr_store_pos_get(rd, 0, 1, &pp), FR_ENOTFOUND);
    fr_store_rd_end(rd);

    /* the key layout other tools see */
    redisContext *c = rsrv_admin(&srv[0]);
    redisReply *r = adm(c, "EXISTS fr:v:v1:{alice} fr:v:v2:{alice} fr:pos:{tx}:0 fr:pos:{tx}:3");
    cr_assert_eq(r->integer, 4);
    freeReplyObject(r);
    r = adm(c, "STRLEN fr:pos:{tx}:0");
    cr_assert_eq(r->integer, 40);
    freeReplyObject(r);
    redisFree(c);

    /* get_many over more than one MGET chunk, with misses and bad keys */
    enum { N = 2500 };
    static char keys[N][16];
    static char vals[N][24];
    fr_store_put_t *big = calloc(N, sizeof *big);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        snprintf(vals[i], sizeof vals[i], "value-%d", i * 7);
        big[i] = put(i % 2, keys[i], vals[i], 0, 100 + (uint64_t)i, 7);
    }
    cr_assert_eq(fr_store_commit(store, big, N, NULL, 0, 7), 0);
    free(big);
    fr_store_get_t *g = calloc(N + 3, sizeof *g);
    for (int i = 0; i < N; i++)
        g[i] = (fr_store_get_t){.view = i % 2, .key = keys[i], .klen = strlen(keys[i])};
    g[N] = (fr_store_get_t){.view = 1, .key = "k0", .klen = 2};    /* k0 is in view 0 */
    g[N + 1] = (fr_store_get_t){.view = 0, .key = "", .klen = 0};
    g[N + 2] = (fr_store_get_t){.view = 9, .key = "k1", .klen = 2}; /* no such view */
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    cr_assert_eq(fr_store_get_many(rd, g, N + 3), 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(g[i].rc, 0, "%d: %s", i, fr_strerror(g[i].rc));
        cr_assert_eq(g[i].vlen, strlen(vals[i]));
        cr_assert_eq(memcmp(g[i].val, vals[i], g[i].vlen), 0);
    }
    cr_assert_eq(g[N].rc, FR_ENOTFOUND);
    cr_assert_eq(g[N + 1].rc, FR_ENOTFOUND);
    cr_assert_eq(g[N + 2].rc, FR_EINVAL);
    fr_store_rd_end(rd);
    free(g);

    uint64_t ne = 0;
    cr_assert_eq(store->ops->entities(store, 0, &ne), 0);
    cr_assert_eq(ne, 1);
    /* a read outside rd_begin/rd_end is refused */
    cr_assert_eq(fr_store_get(rd, 0, "alice", 5, &v, &n, NULL), FR_EINVAL);
    /* a delete */
    fr_store_put_t d = put(0, "bob", NULL, 0, 20, 7);
    cr_assert_eq(fr_store_commit(store, &d, 1, NULL, 0, 7), 0);
    expect(rd, 0, "bob", NULL, 0, 0, 0);
    fr_store_rd_free(rd);
}

Test(redis, empty_store_entities, .fini = fini)
{
    open_single(1000);
    uint64_t n = 7;
    cr_assert_eq(store->ops->entities(store, 0, &n), 0);
    cr_assert_eq(n, 0);
}

/* A zombie (older epoch) is refused whole; a stale stamp is skipped. */
static void zombie_and_stale(void)
{
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    fr_store_put_t a = put(0, "a", "a@10", 0, 10, 5);
    fr_store_pos_t p = pos(0, 10, 500);
    cr_assert_eq(fr_store_commit(store, &a, 1, &p, 1, 5), 0);

    /* epoch 4 after epoch 5: refused, nothing changes */
    fr_store_put_t z[2] = {put(0, "a", "a@20", 0, 20, 4), put(0, "b", "b@20", 0, 20, 4)};
    fr_store_pos_t zp = pos(0, 20, 900);
    cr_assert_eq(fr_store_commit(store, z, 2, &zp, 1, 4), FR_ECONFLICT);
    expect(rd, 0, "a", "a@10", 0, 10, 5);
    expect_pos(rd, 0, 10, 500, 5);

    /* a zombie writing only keys another epoch wrote: refused too */
    cr_assert_eq(fr_store_commit(store, z, 1, NULL, 0, 4), FR_ECONFLICT);
    expect(rd, 0, "a", "a@10", 0, 10, 5);

    /* same epoch: a stale stamp (replay) is skipped, newer keys are written */
    fr_store_put_t m[3] = {put(0, "a", "a@5", 0, 5, 5), put(0, "b", "b@20", 0, 20, 5),
                           put(1, "a", "a2@20", 0, 20, 5)};
    fr_store_pos_t mp = pos(0, 20, 900);
    cr_assert_eq(fr_store_commit(store, m, 3, &mp, 1, 5), 0);
    expect(rd, 0, "a", "a@10", 0, 10, 5);
    expect(rd, 0, "b", "b@20", 0, 20, 5);
    expect(rd, 1, "a", "a2@20", 0, 20, 5);
    expect_pos(rd, 0, 20, 900, 5);
    /* the same commit again (a retry after a lost reply) changes nothing */
    cr_assert_eq(fr_store_commit(store, m, 3, &mp, 1, 5), 0);
    expect(rd, 0, "b", "b@20", 0, 20, 5);

    /* a newer epoch takes over; then the old one is fenced */
    fr_store_put_t n = put(0, "a", "a@30", 0, 30, 6);
    fr_store_pos_t np = pos(0, 30, 950);
    cr_assert_eq(fr_store_commit(store, &n, 1, &np, 1, 6), 0);
    expect(rd, 0, "a", "a@30", 0, 30, 6);
    expect_pos(rd, 0, 30, 950, 6);
    fr_store_put_t old = put(0, "c", "c@40", 0, 40, 5);
    fr_store_pos_t op = pos(0, 40, 990);
    cr_assert_eq(fr_store_commit(store, &old, 1, &op, 1, 5), FR_ECONFLICT);
    expect(rd, 0, "c", NULL, 0, 0, 0);
    expect_pos(rd, 0, 30, 950, 6);
    /* another partition's stamp is not compared by offset */
    fr_store_put_t q = put(0, "a", "a@p1", 1, 3, 6);
    cr_assert_eq(fr_store_commit(store, &q, 1, NULL, 0, 6), 0);
    expect(rd, 0, "a", "a@p1", 1, 3, 6);
    fr_store_rd_free(rd);
}

Test(redis, zombie_and_stale, .fini = fini)
{
    open_single(1000);
    zombie_and_stale();
}

/* 100k states: several units, positions last; a zombie's big commit is
 * refused whole; a replay is a no-op. */
Test(redis, big_commit, .fini = fini)
{
    open_single(2000);
    enum { N = 100000 };
    char *keys = malloc((size_t)N * 16), *vals = malloc((size_t)N * 64);
    fr_store_put_t *p = calloc(N, sizeof *p);
    for (int i = 0; i < N; i++) {
        snprintf(keys + 16 * i, 16, "e%d", i);
        int n = snprintf(vals + 64 * i, 64, "%d:%0*d", i, 40, i);
        p[i] = (fr_store_put_t){.view = 0, .key = keys + 16 * i, .klen = strlen(keys + 16 * i),
                                .val = vals + 64 * i, .vlen = (size_t)n,
                                .stamp = {0, 1000 + (uint64_t)i, 3}};
    }
    fr_store_pos_t ps = pos(0, 1000 + N, 77);
    cr_assert_eq(fr_store_commit(store, p, N, &ps, 1, 3), 0);
    redisContext *c = rsrv_admin(&srv[0]);
    redisReply *r = adm(c, "DBSIZE");
    cr_assert_eq(r->integer, N + 1);
    freeReplyObject(r);

    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    fr_store_get_t *g = calloc(N, sizeof *g);
    for (int i = 0; i < N; i++)
        g[i] = (fr_store_get_t){.view = 0, .key = p[i].key, .klen = p[i].klen};
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    cr_assert_eq(fr_store_get_many(rd, g, N), 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(g[i].rc, 0);
        cr_assert_eq(g[i].vlen, p[i].vlen);
        cr_assert_eq(memcmp(g[i].val, p[i].val, g[i].vlen), 0);
    }
    fr_store_rd_end(rd);
    expect_pos(rd, 0, 1000 + N, 77, 3);

    /* the replay: every stamp is stale, no state is rewritten (the one
     * SET is the position's) */
    freeReplyObject(adm(c, "CONFIG RESETSTAT"));
    cr_assert_eq(fr_store_commit(store, p, N, &ps, 1, 3), 0);
    r = adm(c, "INFO commandstats");
    cr_assert(strstr(r->str, "cmdstat_set:calls=1,") != NULL, "%s", r->str);
    freeReplyObject(r);

    /* a zombie of epoch 2, big: refused, nothing changed */
    for (int i = 0; i < N; i++) {
        p[i].stamp.epoch = 2;
        p[i].stamp.next_offset += N;
        p[i].val = "zombie";
        p[i].vlen = 6;
    }
    fr_store_pos_t zp = pos(0, 1000 + 2 * N, 88);
    cr_assert_eq(fr_store_commit(store, p, N, &zp, 1, 2), FR_ECONFLICT);
    expect(rd, 0, "e0", "0:0000000000000000000000000000000000000000", 0, 1000, 3);
    expect(rd, 0, "e99999", "99999:0000000000000000000000000000000000099999", 0, 1000 + 99999, 3);
    expect_pos(rd, 0, 1000 + N, 77, 3);
    redisFree(c);
    fr_store_rd_free(rd);
    free(g);
    free(p);
    free(keys);
    free(vals);
}

Test(redis, password_and_db, .fini = fini)
{
    snprintf(srv[0].pass, sizeof srv[0].pass, "s3cr@t/x");
    rsrv_start(&srv[0], NULL);
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://:s3cr%%40t%%2Fx@127.0.0.1:%d/3", srv[0].port);
    open_store(url, 0, 1000);
    fr_store_put_t p = put(0, "k", "v", 0, 1, 1);
    cr_assert_eq(fr_store_commit(store, &p, 1, NULL, 0, 1), 0);
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    expect(rd, 0, "k", "v", 0, 1, 1); /* a session's own connection authenticates too */
    fr_store_rd_free(rd);
    redisContext *c = rsrv_admin(&srv[0]);
    redisReply *r = adm(c, "EXISTS fr:v:v1:{k}");
    cr_assert_eq(r->integer, 0); /* not in db 0 */
    freeReplyObject(r);
    r = adm(c, "SELECT 3");
    freeReplyObject(r);
    r = adm(c, "EXISTS fr:v:v1:{k}");
    cr_assert_eq(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
    fr_store_close(store);
    store = NULL;

    /* user:password (the default ACL user) */
    snprintf(url, sizeof url, "redis://default:s3cr%%40t%%2Fx@127.0.0.1:%d", srv[0].port);
    open_store(url, 0, 1000);
    fr_store_close(store);
    store = NULL;

    /* wrong password, no password: refused with a message, no secret in it */
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", srv[0].port);
    load(url, 0, 1000);
    cr_assert(fr_store_open(cfg, &store, err, sizeof err) < 0);
    cr_assert_null(store);
    cr_assert(strstr(err, "AUTH") && !strstr(err, "wrong"), "%s", err);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", srv[0].port);
    load(url, 0, 1000);
    cr_assert(fr_store_open(cfg, &store, err, sizeof err) < 0);
    cr_assert(strstr(err, "NOAUTH") != NULL, "%s", err);
}

Test(redis, timeouts, .fini = fini)
{
    const int tmo = 200;
    open_single(tmo);
    fr_store_put_t p = put(0, "k", "v", 0, 1, 1);
    fr_store_pos_t ps = pos(0, 1, 1);
    cr_assert_eq(fr_store_commit(store, &p, 1, &ps, 1, 1), 0);
    fr_store_rd_t *rd, *rd2;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    cr_assert_eq(fr_store_rd_new(store, &rd2), 0);
    expect(rd, 0, "k", "v", 0, 1, 1);

    cr_assert_eq(kill(srv[0].pid, SIGSTOP), 0);
    const void *v;
    size_t n;
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    int64_t t0 = mono_ms();
    int rc = fr_store_get(rd, 0, "k", 1, &v, &n, NULL);
    int64_t dt = mono_ms() - t0;
    cr_assert_eq(rc, -ETIMEDOUT, "%s", fr_strerror(rc));
    cr_assert_lt(dt, 5 * tmo, "get took %lld ms", (long long)dt);
    /* the next call on the dropped link reconnects once (the kernel still
     * accepts connections) and times out again, bounded too */
    t0 = mono_ms();
    fr_store_get_t g = {.view = 0, .key = "k", .klen = 1};
    rc = fr_store_get_many(rd, &g, 1);
    dt = mono_ms() - t0;
    cr_assert(rc < 0 && g.rc == rc, "%s", fr_strerror(rc));
    cr_assert_lt(dt, 5 * tmo + 1000, "get_many took %lld ms", (long long)dt);
    fr_store_rd_end(rd);
    /* a session that never connected, and a commit */
    cr_assert_eq(fr_store_rd_begin(rd2), 0);
    t0 = mono_ms();
    rc = fr_store_get(rd2, 0, "k", 1, &v, &n, NULL);
    dt = mono_ms() - t0;
    fr_store_rd_end(rd2);
    cr_assert(rc < 0);
    cr_assert_lt(dt, 5 * tmo + 1000, "fresh session took %lld ms", (long long)dt);
    fr_store_put_t p2 = put(0, "k", "v2", 0, 2, 1);
    t0 = mono_ms();
    rc = fr_store_commit(store, &p2, 1, NULL, 0, 1);
    dt = mono_ms() - t0;
    cr_assert(rc < 0);
    cr_assert_lt(dt, 5 * tmo + 1000, "commit took %lld ms", (long long)dt);

    cr_assert_eq(kill(srv[0].pid, SIGCONT), 0);
    /* the timed-out commit's fate is unknown (the server may run it once
     * it continues); retrying it is safe either way */
    cr_assert_eq(fr_store_commit(store, &p2, 1, NULL, 0, 1), 0);
    expect(rd, 0, "k", "v2", 0, 2, 1);
    expect(rd2, 0, "k", "v2", 0, 2, 1);
    fr_store_rd_free(rd);
    fr_store_rd_free(rd2);

    /* the server gone: errors at once, no loop */
    rsrv_stop(&srv[0]);
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    t0 = mono_ms();
    for (int i = 0; i < 3; i++)
        cr_assert(fr_store_get(rd, 0, "k", 1, &v, &n, NULL) < 0);
    cr_assert(fr_store_commit(store, &p2, 1, NULL, 0, 1) < 0);
    cr_assert_lt(mono_ms() - t0, 2000);
    fr_store_rd_end(rd);
    fr_store_rd_free(rd);
}

Test(redis, corrupt_values, .fini = fini)
{
    open_single(1000);
    redisContext *c = rsrv_admin(&srv[0]);
    freeReplyObject(adm(c, "SET fr:v:v1:{short} %b", "123456789", (size_t)9));
    freeReplyObject(adm(c, "SET fr:v:v1:{empty} %b", "", (size_t)0));
    freeReplyObject(adm(c, "HSET fr:v:v1:{hash} f v"));
    freeReplyObject(adm(c, "SET fr:pos:{tx}:0 %b", "12345", (size_t)5));
    freeReplyObject(adm(c, "SET fr:pos:{tx}:1 %b", "0123456789012345678901234567890123",
                        (size_t)34));
    freeReplyObject(adm(c, "LPUSH fr:pos:{tx}:2 x"));
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    const void *v;
    size_t n;
    cr_assert_eq(fr_store_get(rd, 0, "short", 5, &v, &n, NULL), FR_ECORRUPT);
    cr_assert_eq(fr_store_get(rd, 0, "empty", 5, &v, &n, NULL), FR_ECORRUPT);
    cr_assert_eq(fr_store_get(rd, 0, "hash", 4, &v, &n, NULL), FR_ECORRUPT);
    fr_store_get_t g[3] = {{.view = 0, .key = "short", .klen = 5},
                           {.view = 0, .key = "hash", .klen = 4},
                           {.view = 0, .key = "none", .klen = 4}};
    cr_assert_eq(fr_store_get_many(rd, g, 3), 0);
    cr_assert_eq(g[0].rc, FR_ECORRUPT);
    cr_assert(g[1].rc == FR_ENOTFOUND || g[1].rc == FR_ECORRUPT); /* MGET: nil for a hash */
    cr_assert_eq(g[2].rc, FR_ENOTFOUND);
    fr_store_pos_t p;
    cr_assert_eq(fr_store_pos_get(rd, 0, 0, &p), FR_ECORRUPT);
    cr_assert_eq(fr_store_pos_get(rd, 0, 1, &p), FR_ECORRUPT);
    cr_assert_eq(fr_store_pos_get(rd, 0, 2, &p), FR_ECORRUPT);
    fr_store_rd_end(rd);

    /* a commit repairs them: a key of another type or a short stamp is
     * no stamp */
    fr_store_put_t w[3] = {put(0, "short", "s", 0, 1, 1), put(0, "hash", "h", 0, 1, 1),
                           put(0, "empty", "e", 0, 1, 1)};
    fr_store_pos_t ps[3] = {pos(0, 1, 1), pos(1, 1, 1), pos(2, 1, 1)};
    cr_assert_eq(fr_store_commit(store, w, 3, ps, 3, 1), 0);
    expect(rd, 0, "short", "s", 0, 1, 1);
    expect(rd, 0, "hash", "h", 0, 1, 1);
    expect_pos(rd, 2, 1, 1, 1);

    /* a reply past the 64 MiB bound is refused, and the next call works */
    size_t big = MAX_REPLY + 4096;
    char *b = calloc(1, big);
    freeReplyObject(adm(c, "SET fr:v:v1:{big} %b", b, big));
    free(b);
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    cr_assert_eq(fr_store_get(rd, 0, "big", 3, &v, &n, NULL), FR_ELIMIT);
    fr_store_rd_end(rd);
    expect(rd, 0, "short", "s", 0, 1, 1);

    /* the script flushed from the server: reloaded on NOSCRIPT */
    freeReplyObject(adm(c, "SCRIPT FLUSH"));
    fr_store_put_t w2 = put(0, "short", "s2", 0, 2, 1);
    cr_assert_eq(fr_store_commit(store, &w2, 1, NULL, 0, 1), 0);
    expect(rd, 0, "short", "s2", 0, 2, 1);
    redisFree(c);
    fr_store_rd_free(rd);
}

/* Readers in their own threads and sessions while one thread commits. */
typedef struct {
    int stop, errors, reads;
} share_t;

static void *reader(void *arg)
{
    share_t *sh = arg;
    fr_store_rd_t *rd;
    if (fr_store_rd_new(store, &rd)) {
        __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
        fr_store_get_t g[2] = {{.view = 0, .key = "x", .klen = 1},
                               {.view = 1, .key = "x", .klen = 1}};
        const void *v;
        size_t n;
        fr_store_stamp_t s;
        int bad = fr_store_rd_begin(rd) != 0;
        int rc = bad ? 0 : fr_store_get(rd, 0, "x", 1, &v, &n, &s);
        if (rc == 0 && !bad) {
            /* the value names the offset its stamp carries */
            char want[32];
            int wl = snprintf(want, sizeof want, "x@%llu", (unsigned long long)s.next_offset);
            bad = n != (size_t)wl || memcmp(v, want, n);
        } else if (rc != FR_ENOTFOUND) {
            bad = 1;
        }
        if (!bad && fr_store_get_many(rd, g, 2) != 0)
            bad = 1;
        fr_store_rd_end(rd);
        if (bad)
            __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&sh->reads, 1, __ATOMIC_RELAXED);
    }
    fr_store_rd_free(rd);
    return NULL;
}

static void threads(void)
{
    share_t sh = {0, 0, 0};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, reader, &sh), 0);
    for (uint64_t off = 1; off <= 200; off++) {
        char v[32];
        snprintf(v, sizeof v, "x@%llu", (unsigned long long)off);
        fr_store_put_t p[2] = {put(0, "x", v, 7, off, 100), put(1, "x", v, 7, off, 100)};
        fr_store_pos_t ps = pos(7, off, (int64_t)off);
        cr_assert_eq(fr_store_commit(store, p, 2, &ps, 1, 100), 0);
    }
    __atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(sh.errors, 0);
    cr_assert_gt(sh.reads, 0);
}

Test(redis, threads, .fini = fini)
{
    open_single(1000);
    threads();
}

/* ---- a cluster of three masters ---- */

/* Which of the three servers holds key (ASKING: a slot may be importing). */
static int holder(const char *key)
{
    int who = -1;
    for (int i = 0; i < 3; i++) {
        redisContext *c = rsrv_admin(&srv[i]);
        freeReplyObject(adm(c, "ASKING"));
        redisReply *r = adm(c, "EXISTS %s", key);
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
            who = i;
        freeReplyObject(r);
        redisFree(c);
    }
    return who;
}

Test(redis, cluster_round_trip, .fini = fini)
{
    open_cluster();
    enum { N = 600 };
    static char keys[N][16], vals[N][24];
    fr_store_put_t *p = calloc(N, sizeof *p);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "c%d", i);
        snprintf(vals[i], sizeof vals[i], "val-%d", i);
        p[i] = put(i % 2, keys[i], vals[i], i % 4, 10 + (uint64_t)i, 9);
    }
    fr_store_pos_t ps[4] = {pos(10, 610, 1), pos(11, 611, 2), pos(12, 612, 3), pos(13, 613, 4)};
    cr_assert_eq(fr_store_commit(store, p, N, ps, 4, 9), 0);
    /* spread over all three masters */
    for (int i = 0; i < 3; i++) {
        redisContext *c = rsrv_admin(&srv[i]);
        redisReply *r = adm(c, "DBSIZE");
        cr_assert_gt(r->integer, 50, "master %d holds %lld keys", i, r->integer);
        freeReplyObject(r);
        /* our slot function agrees with the server's */
        for (int k = 0; k < 50; k++) {
            char key[64];
            int kl = snprintf(key, sizeof key, "fr:v:v1:{%s}x{y}", keys[k]);
            r = adm(c, "CLUSTER KEYSLOT %b", key, (size_t)kl);
            cr_assert_eq(r->integer, (long long)key_slot(key, (size_t)kl));
            freeReplyObject(r);
        }
        redisFree(c);
    }
    cr_assert_eq(holder("fr:v:v1:{c0}") >= 0, 1);
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    for (int i = 0; i < N; i += 37)
        expect(rd, i % 2, keys[i], vals[i], i % 4, 10 + (uint64_t)i, 9);
    for (int i = 0; i < 4; i++)
        expect_pos(rd, 10 + i, 610 + (uint64_t)i, i + 1, 9);
    fr_store_get_t *g = calloc(N + 1, sizeof *g);
    for (int i = 0; i < N; i++)
        g[i] = (fr_store_get_t){.view = i % 2, .key = keys[i], .klen = strlen(keys[i])};
    g[N] = (fr_store_get_t){.view = 1, .key = "c0", .klen = 2};
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    cr_assert_eq(fr_store_get_many(rd, g, N + 1), 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(g[i].rc, 0, "%d: %s", i, fr_strerror(g[i].rc));
        cr_assert_eq(g[i].vlen, strlen(vals[i]));
        cr_assert_eq(memcmp(g[i].val, vals[i], g[i].vlen), 0);
    }
    cr_assert_eq(g[N].rc, FR_ENOTFOUND);
    fr_store_rd_end(rd);
    uint64_t ne = 0;
    cr_assert_eq(store->ops->entities(store, 0, &ne), 0);
    cr_assert_eq(ne, 1);
    fr_store_rd_free(rd);
    free(g);
    free(p);

    /* the same fencing rules, key by key */
    zombie_and_stale();
    /* and concurrent sessions */
    threads();
}

/* Moves the slot of key from its master to another: ASK while migrating,
 * MOVED after; reads and commits keep working through both. */
Test(redis, cluster_moved_and_ask, .fini = fini)
{
    open_cluster();
    fr_store_put_t p[3] = {put(0, "m", "m@1", 0, 1, 1), put(1, "m", "m2@1", 0, 1, 1),
                           put(0, "other", "o@1", 0, 1, 1)};
    cr_assert_eq(fr_store_commit(store, p, 3, NULL, 0, 1), 0);
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(store, &rd), 0);
    expect(rd, 0, "m", "m@1", 0, 1, 1);

    unsigned slot = key_slot("fr:v:v1:{m}", 11);
    int from = holder("fr:v:v1:{m}"), to = (from + 1) % 3;
    cr_assert_geq(from, 0);
    redisContext *a = rsrv_admin(&srv[from]), *b = rsrv_admin(&srv[to]);
    redisReply *r = adm(a, "CLUSTER MYID");
    char aid[64], bid[64];
    snprintf(aid, sizeof aid, "%s", r->str);
    freeReplyObject(r);
    r = adm(b, "CLUSTER MYID");
    snprintf(bid, sizeof bid, "%s", r->str);
    freeReplyObject(r);
    r = adm(b, "CLUSTER SETSLOT %u IMPORTING %s", slot, aid);
    cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->str);
    freeReplyObject(r);
    r = adm(a, "CLUSTER SETSLOT %u MIGRATING %s", slot, bid);
    cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->str);
    freeReplyObject(r);
    /* one key of the slot moves: ASK for it, the other still at home */
    r = adm(a, "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS fr:v:v1:{m}", srv[to].port, "");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->str);
    freeReplyObject(r);
    expect(rd, 0, "m", "m@1", 0, 1, 1);
    expect(rd, 1, "m", "m2@1", 0, 1, 1);
    fr_store_put_t q = put(0, "m", "m@2", 0, 2, 1);
    cr_assert_eq(fr_store_commit(store, &q, 1, NULL, 0, 1), 0);
    cr_assert_eq(holder("fr:v:v1:{m}"), to);
    expect(rd, 0, "m", "m@2", 0, 2, 1);
    r = adm(b, "INFO commandstats");
    cr_assert(strstr(r->str, "cmdstat_asking:calls=") != NULL, "no ASKING reached the importer");
    freeReplyObject(r);

    /* the rest moves and the slot changes hands: MOVED */
    r = adm(a, "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS fr:v:v2:{m}", srv[to].port, "");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->str);
    freeReplyObject(r);
    for (int i = 0; i < 3; i++) {
        redisContext *c = rsrv_admin(&srv[i]);
        r = adm(c, "CLUSTER SETSLOT %u NODE %s", slot, bid);
        cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->str);
        freeReplyObject(r);
        redisFree(c);
    }
    /* a commit first (its pipeline meets the MOVED), then reads */
    fr_store_put_t q2[2] = {put(0, "m", "m@3", 0, 3, 1), put(1, "m", "m2@3", 0, 3, 1)};
    fr_store_pos_t ps = pos(0, 3, 3);
    cr_assert_eq(fr_store_commit(store, q2, 2, &ps, 1, 1), 0);
    cr_assert_eq(holder("fr:v:v1:{m}"), to);
    cr_assert_eq(holder("fr:v:v2:{m}"), to);
    fr_store_rd_t *rd2;
    cr_assert_eq(fr_store_rd_new(store, &rd2), 0);
    expect(rd2, 0, "m", "m@3", 0, 3, 1);
    expect(rd, 1, "m", "m2@3", 0, 3, 1);
    expect(rd, 0, "other", "o@1", 0, 1, 1);
    fr_store_get_t g[2] = {{.view = 0, .key = "m", .klen = 1}, {.view = 0, .key = "other", .klen = 5}};
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    cr_assert_eq(fr_store_get_many(rd, g, 2), 0);
    cr_assert_eq(g[0].rc, 0);
    cr_assert_eq(g[1].rc, 0);
    fr_store_rd_end(rd);
    /* the shared map was updated: the slot now points at the new master */
    pthread_rwlock_rdlock(&((rstore_t *)store)->maplock);
    slotmap_t *m = ((rstore_t *)store)->map;
    cr_assert_eq(m->nodes[m->slot[slot]].port, srv[to].port);
    pthread_rwlock_unlock(&((rstore_t *)store)->maplock);
    redisFree(a);
    redisFree(b);
    fr_store_rd_free(rd);
    fr_store_rd_free(rd2);
}
