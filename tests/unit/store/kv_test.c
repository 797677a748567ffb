/*
 * kv_test.c - the stores' key-value records (fr_store_kv_*) on LMDB, a
 * real redis-server and a three-master Redis Cluster: get/put/put_new/
 * del, counters, listings, names refused, a large value, and counters and
 * put_new raced from two threads and from two processes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "core/err.h"
#include "store/store.h"
#include "redis_helpers.h"

static rsrv_t srv[3] = {{.life = -1}, {.life = -1}, {.life = -1}};
static fr_config_t *cfg;
static char dir[64];

static const char *yaml =
    "store:\n"
    "  backend: %s\n"
    "  path: %s\n"
    "  redis: { url: \"redis://127.0.0.1:%d\", cluster: %s, timeout_ms: 5000 }\n"
    "sources:\n"
    "  - name: tx\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - { name: v1, source: tx, entity: k, windows: [1h], aggregations: [{ fn: count }] }\n";

enum { LMDB, REDIS, CLUSTER };

static void setup_backend(int kind)
{
    snprintf(dir, sizeof dir, "/tmp/freshet-kv-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    if (kind == REDIS)
        rsrv_start(&srv[0], NULL);
    else if (kind == CLUSTER)
        cluster_start(srv);
    char text[2048], err[512];
    snprintf(text, sizeof text, yaml, kind == LMDB ? "lmdb" : "redis", dir, kind == LMDB ? 6379 : srv[0].port,
             kind == CLUSTER ? "true" : "false");
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0, "%s",
                 err);
}

static void setup_lmdb(void)
{
    setup_backend(LMDB);
}
static void setup_redis(void)
{
    setup_backend(REDIS);
}
static void setup_cluster(void)
{
    setup_backend(CLUSTER);
}

static void teardown(void)
{
    fr_config_free(cfg);
    cfg = NULL;
    for (int i = 2; i >= 0; i--)
        rsrv_stop(&srv[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static fr_store_t *open_store(void)
{
    fr_store_t *s;
    char err[512];
    int rc = fr_store_open(cfg, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", err, fr_strerror(rc));
    return s;
}

static void expect(fr_store_t *s, const char *group, const char *key, const char *want)
{
    void *v;
    size_t n;
    int rc = fr_store_kv_get(s, "m", group, key, &v, &n);
    if (!want) {
        cr_assert_eq(rc, FR_ENOTFOUND, "%s/%s: %s", group, key, fr_strerror(rc));
        cr_assert_null(v);
        return;
    }
    cr_assert_eq(rc, 0, "%s/%s: %s", group, key, fr_strerror(rc));
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(v, want, n), 0);
    cr_assert_eq(((char *)v)[n], '\0');
    free(v);
}

static void expect_list(fr_store_t *s, const char *ns, const char *group, const char *prefix,
                        const char *const *want, size_t nwant)
{
    fr_store_kv_names_t l;
    int rc = fr_store_kv_list(s, ns, group, prefix, &l);
    cr_assert_eq(rc, 0, "list: %s", fr_strerror(rc));
    cr_assert_eq(l.n, nwant, "list %s/%s/%s: %zu names, want %zu", ns, group ? group : "-",
                 prefix ? prefix : "", l.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        cr_assert_str_eq(l.v[i], want[i]);
    fr_store_kv_names_free(&l);
}

/* ---- one body per behaviour, run on every backend ---- */

static void records(void)
{
    fr_store_t *s = open_store();
    expect(s, "fraud", "a/champion", NULL);
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "a/champion", "3", 1), 0);
    expect(s, "fraud", "a/champion", "3");
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "a/champion", "12", 2), 0);
    expect(s, "fraud", "a/champion", "12");
    /* put_new: refused over a key that exists, nothing changes */
    cr_assert_eq(fr_store_kv_put_new(s, "m", "fraud", "a/champion", "99", 2), FR_ECONFLICT);
    expect(s, "fraud", "a/champion", "12");
    cr_assert_eq(fr_store_kv_put_new(s, "m", "fraud", "v/0000000001", "one", 3), 0);
    expect(s, "fraud", "v/0000000001", "one");
    /* an empty value is a value */
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "empty", "", 0), 0);
    expect(s, "fraud", "empty", "");
    /* binary bytes survive */
    const char bin[5] = {0, 1, '\r', '\n', (char)0xff};
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "bin", bin, 5), 0);
    void *v;
    size_t n;
    cr_assert_eq(fr_store_kv_get(s, "m", "fraud", "bin", &v, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(v, bin, 5), 0);
    free(v);
    /* delete */
    cr_assert_eq(fr_store_kv_del(s, "m", "fraud", "a/champion"), 0);
    expect(s, "fraud", "a/champion", NULL);
    cr_assert_eq(fr_store_kv_del(s, "m", "fraud", "a/champion"), FR_ENOTFOUND);
    /* groups and namespaces are apart */
    expect(s, "other", "v/0000000001", NULL);
    cr_assert_eq(fr_store_kv_get(s, "x", "fraud", "v/0000000001", &v, &n), FR_ENOTFOUND);
    fr_store_close(s);
}

static void counters(void)
{
    fr_store_t *s = open_store();
    uint64_t n;
    for (uint64_t i = 1; i <= 3; i++) {
        cr_assert_eq(fr_store_kv_incr(s, "m", "fraud", "seq", &n), 0);
        cr_assert_eq(n, i);
    }
    expect(s, "fraud", "seq", "3");
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "word", "abc", 3), 0);
    cr_assert_eq(fr_store_kv_incr(s, "m", "fraud", "word", &n), FR_ETYPE);
    expect(s, "fraud", "word", "abc");
    fr_store_close(s);
}

static void listings(void)
{
    fr_store_t *s = open_store();
    const char *none[1];
    expect_list(s, "m", NULL, NULL, none, 0);
    const char *keys[] = {"v/0000000010", "a/champion", "v/0000000002", "seq", "a/challenger"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(fr_store_kv_put(s, "m", "fraud", keys[i], "x", 1), 0);
    cr_assert_eq(fr_store_kv_put(s, "m", "personalization", "v/0000000001", "x", 1), 0);
    cr_assert_eq(fr_store_kv_put(s, "m", "a-model.v2", "v/0000000001", "x", 1), 0);
    cr_assert_eq(fr_store_kv_put(s, "n", "elsewhere", "k", "x", 1), 0);
    const char *groups[] = {"a-model.v2", "fraud", "personalization"};
    expect_list(s, "m", NULL, NULL, groups, 3);
    const char *versions[] = {"v/0000000002", "v/0000000010"};
    expect_list(s, "m", "fraud", "v/", versions, 2);
    const char *aliases[] = {"a/challenger", "a/champion"};
    expect_list(s, "m", "fraud", "a/", aliases, 2);
    const char *all[] = {"a/challenger", "a/champion", "seq", "v/0000000002", "v/0000000010"};
    expect_list(s, "m", "fraud", NULL, all, 5);
    expect_list(s, "m", "fraud", "", all, 5);
    expect_list(s, "m", "fraud", "zz", none, 0);
    expect_list(s, "m", "nobody", NULL, none, 0);
    const char *other[] = {"elsewhere"};
    expect_list(s, "n", NULL, NULL, other, 1);
    /* a group whose keys are all gone is not listed */
    cr_assert_eq(fr_store_kv_del(s, "m", "a-model.v2", "v/0000000001"), 0);
    const char *left[] = {"fraud", "personalization"};
    expect_list(s, "m", NULL, NULL, left, 2);
    fr_store_close(s);
}

static void names_refused(void)
{
    fr_store_t *s = open_store();
    void *v;
    size_t n;
    uint64_t u;
    char long_group[FR_STORE_KV_MAX_GROUP + 2], long_key[FR_STORE_KV_MAX_KEY + 2];
    memset(long_group, 'g', sizeof long_group - 1);
    long_group[sizeof long_group - 1] = '\0';
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    const char *bad[][3] = {
        {"M", "g", "k"},     {"v", "g", "k"},      {"pos", "g", "k"},   {"", "g", "k"},
        {"m1", "g", "k"},    {"m", "", "k"},       {"m", "a{b", "k"},   {"m", "a}", "k"},
        {"m", "a b", "k"},   {"m", "g", ""},       {"m", "g", "a b"},   {"m", "g", "a\nb"},
        {"m", long_group, "k"}, {"m", "g", long_key}, {"m", "g\x80", "k"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *ns = bad[i][0], *g = bad[i][1], *k = bad[i][2];
        cr_assert_eq(fr_store_kv_put(s, ns, g, k, "x", 1), FR_EINVAL, "case %zu", i);
        cr_assert_eq(fr_store_kv_get(s, ns, g, k, &v, &n), FR_EINVAL, "case %zu", i);
        cr_assert_eq(fr_store_kv_incr(s, ns, g, k, &u), FR_EINVAL, "case %zu", i);
        cr_assert_eq(fr_store_kv_del(s, ns, g, k), FR_EINVAL, "case %zu", i);
    }
    fr_store_kv_names_t l;
    cr_assert_eq(fr_store_kv_list(s, "m", NULL, "v/", &l), FR_EINVAL);
    cr_assert_eq(fr_store_kv_get(s, "m", "g", NULL, &v, &n), FR_EINVAL);
    /* the longest names pass */
    long_group[FR_STORE_KV_MAX_GROUP] = '\0';
    long_key[FR_STORE_KV_MAX_KEY] = '\0';
    cr_assert_eq(fr_store_kv_put(s, "abcdefghijklmnop", long_group, long_key, "x", 1), 0);
    cr_assert_eq(fr_store_kv_get(s, "abcdefghijklmnop", long_group, long_key, &v, &n), 0);
    free(v);
    fr_store_close(s);
}

static void large_value(void)
{
    fr_store_t *s = open_store();
    size_t n = (size_t)5 << 20;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    cr_assert_eq(fr_store_kv_put_new(s, "m", "fraud", "b/0000000001", big, n), 0);
    void *v;
    size_t got;
    cr_assert_eq(fr_store_kv_get(s, "m", "fraud", "b/0000000001", &v, &got), 0);
    cr_assert_eq(got, n);
    cr_assert(memcmp(v, big, n) == 0, "the value changed on its way");
    free(v);
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "huge", big, FR_STORE_KV_MAX_VALUE + 1),
                 FR_ELIMIT);
    free(big);
    fr_store_close(s);
}

/* ---- races ---- */

#define PER 150

typedef struct racer {
    fr_store_t *s; /* NULL: open its own */
    uint64_t got[PER];
    int won[PER];
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    fr_store_t *s = r->s ? r->s : open_store();
    char key[32];
    for (int i = 0; i < PER; i++) {
        if (fr_store_kv_incr(s, "m", "fraud", "seq", &r->got[i]))
            r->got[i] = 0;
        snprintf(key, sizeof key, "v/%010d", i);
        r->won[i] = fr_store_kv_put_new(s, "m", "fraud", key, "v", 1) == 0;
    }
    if (!r->s)
        fr_store_close(s);
    return NULL;
}

/* Every counter value 1..2*PER handed out once; every key won once. */
static void check_race(const racer_t *a, const racer_t *b)
{
    static unsigned char seen[2 * PER + 1];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < PER; i++) {
        uint64_t v[2] = {a->got[i], b->got[i]};
        for (int j = 0; j < 2; j++) {
            cr_assert(v[j] >= 1 && v[j] <= 2 * PER, "value %llu", (unsigned long long)v[j]);
            cr_assert_eq(seen[v[j]], 0, "value %llu handed out twice", (unsigned long long)v[j]);
            seen[v[j]] = 1;
        }
        cr_assert_eq(a->won[i] + b->won[i], 1, "key %d won %d times", i, a->won[i] + b->won[i]);
    }
}

static void threads(void)
{
    fr_store_t *s = open_store();
    racer_t a = {.s = s}, b = {.s = s};
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, race, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    check_race(&a, &b);
    fr_store_close(s);
}

static void processes(void)
{
    racer_t r[2];
    int fds[2][2];
    pid_t pid[2];
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(pipe(fds[p]), 0);
        fflush(NULL);
        pid[p] = fork();
        cr_assert_geq(pid[p], 0);
        if (pid[p] == 0) {
            /* the child opens its own store: LMDB environments and Redis
             * connections do not cross fork */
            racer_t mine = {0};
            race(&mine);
            ssize_t w = write(fds[p][1], &mine, sizeof mine);
            _exit(w == (ssize_t)sizeof mine ? 0 : 1);
        }
        close(fds[p][1]);
    }
    for (int p = 0; p < 2; p++) {
        size_t got = 0;
        while (got < sizeof r[p]) {
            ssize_t n = read(fds[p][0], (char *)&r[p] + got, sizeof r[p] - got);
            cr_assert_gt(n, 0, "child %d wrote %zu bytes", p, got);
            got += (size_t)n;
        }
        close(fds[p][0]);
        int st;
        waitpid(pid[p], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    check_race(&r[0], &r[1]);
}

#define ON(suite, setup_fn)                                                                        \
    Test(suite, records, .init = setup_fn, .fini = teardown) { records(); }                        \
    Test(suite, counters, .init = setup_fn, .fini = teardown) { counters(); }                      \
    Test(suite, listings, .init = setup_fn, .fini = teardown) { listings(); }                      \
    Test(suite, names_refused, .init = setup_fn, .fini = teardown) { names_refused(); }            \
    Test(suite, large_value, .init = setup_fn, .fini = teardown) { large_value(); }                \
    Test(suite, racing_threads, .init = setup_fn, .fini = teardown) { threads(); }                 \
    Test(suite, racing_processes, .init = setup_fn, .fini = teardown) { processes(); }

ON(kv_lmdb, setup_lmdb)
ON(kv_redis, setup_redis)

static void flush_cluster(void)
{
    for (int i = 0; i < 3; i++) {
        redisContext *c = rsrv_admin(&srv[i]);
        freeReplyObject(adm(c, "FLUSHALL"));
        redisFree(c);
    }
}

/* the cluster costs a few seconds to form: one test covers it */
Test(kv_cluster, records_counters_listings_and_races, .init = setup_cluster, .fini = teardown,
     .timeout = 120)
{
    void (*parts[])(void) = {records, counters, listings, large_value, threads};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        parts[i]();
        flush_cluster();
    }
}
