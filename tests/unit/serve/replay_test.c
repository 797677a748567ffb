/* Unit tests of the embedded dead-letter replay (src/serve/ingest.c): a
 * payload is replayed only as the bytes that were received (issue 8: U+FFFD
 * put in place of bytes that were not UTF-8 merged two entities into one). */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "serve/ingest.h"
#include "source/elog.h"

static char dir[64];
static fr_config_t *cfg;

static const char *yaml = "store: { path: %s }\n"
                          "sources:\n"
                          "  - name: tx\n"
                          "    timestamp: ts\n"
                          "    fields: [{ name: k, type: string }, { name: ts, type: long }]\n"
                          "feature_views:\n"
                          "  - { name: v, source: tx, entity: k, windows: [1h],\n"
                          "      aggregations: [{ fn: count }] }\n";

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-replay-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char text[1024], err[256];
    snprintf(text, sizeof text, yaml, dir);
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0, "%s",
                 err);
}

static void teardown(void)
{
    fr_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Writes dead letters as stored entries (seq 1..n), as any version wrote them. */
static void put_entries(const char *const *entries, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/log", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dlq;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
    cr_assert_eq(mdb_env_open(env, p, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "dlq", 0, &dlq), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t kb[8];
        fr_store_be64(kb, i + 1);
        MDB_val k = {8, kb}, v = {strlen(entries[i]), (void *)entries[i]};
        cr_assert_eq(mdb_put(txn, dlq, &k, &v, 0), 0);
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static fr_elog_t *open_log(void)
{
    char p[128], err[256];
    snprintf(p, sizeof p, "%s/log", dir);
    fr_elog_t *log;
    cr_assert_eq(fr_elog_open(p, cfg, &log, err, sizeof err), 0, "%s", err);
    return log;
}

Test(replay, only_the_bytes_received_are_replayed, .init = setup, .fini = teardown)
{
    fr_elog_close(open_log()); /* creates the environment */
    long long ts = (long long)fr_now_ms() - 1000;
    char e[6][512];
    /* 1: written before payloads were kept exactly: U+FFFD may stand for
     *    other bytes; the event is otherwise valid */
    snprintf(e[0], sizeof e[0],
             "{\"source\":\"tx\",\"reason\":\"malformed_json\",\"detail\":\"\",\"received_ms\":1,"
             "\"payload\":\"{\\\"k\\\":\\\"g_\xef\xbf\xbd\xef\xbf\xbd\\\",\\\"ts\\\":%lld}\"}",
             ts);
    /* 2: exact text of a valid event */
    char ev[128];
    int evl = snprintf(ev, sizeof ev, "{\\\"k\\\":\\\"ok\\\",\\\"ts\\\":%lld}", ts);
    snprintf(e[1], sizeof e[1],
             "{\"source\":\"tx\",\"reason\":\"missing_field\",\"detail\":\"\",\"received_ms\":1,"
             "\"payload\":\"%s\",\"payload_bytes\":%d}",
             ev, evl - 6); /* the six escaping backslashes are not bytes of it */
    /* 3: cut when stored */
    snprintf(e[2], sizeof e[2],
             "{\"source\":\"tx\",\"reason\":\"too_large\",\"detail\":\"\",\"received_ms\":1,"
             "\"payload\":\"{\\\"k\\\":\",\"payload_bytes\":5,\"truncated\":true}");
    /* 4: a length that disagrees */
    snprintf(e[3], sizeof e[3],
             "{\"source\":\"tx\",\"reason\":\"missing_field\",\"detail\":\"\",\"received_ms\":1,"
             "\"payload\":\"{\\\"k\\\":\\\"x\\\",\\\"ts\\\":%lld}\",\"payload_bytes\":3}",
             ts);
    /* 5: bytes that are not UTF-8, in base64: {"k":"g_\xff\xfe","ts":1} */
    snprintf(e[4], sizeof e[4],
             "{\"source\":\"tx\",\"reason\":\"malformed_json\",\"detail\":\"\",\"received_ms\":1,"
             "\"payload_b64\":\"eyJrIjoiZ1///iIsInRzIjoxfQ==\",\"payload_bytes\":19}");
    /* 6: base64 that is not */
    snprintf(e[5], sizeof e[5],
             "{\"source\":\"tx\",\"reason\":\"malformed_json\",\"detail\":\"\",\"received_ms\":1,"
             "\"payload_b64\":\"e!==\",\"payload_bytes\":1}");
    const char *entries[6] = {e[0], e[1], e[2], e[3], e[4], e[5]};
    put_entries(entries, 6);

    fr_elog_t *log = open_log();
    fr_ingest_replay_t n = {0};
    cr_assert_eq(fr_ingest_replay_dlq(cfg, log, -1, &n), 0);
    cr_assert_eq(n.replayed, 1, "replayed %zu", n.replayed);
    cr_assert_eq(n.refused, 4, "refused %zu", n.refused);
    cr_assert_eq(n.truncated, 1);
    cr_assert_eq(n.skipped, 0);
    cr_assert_eq(fr_elog_end_offset(log, 0), 1, "only the exact valid event is appended");
    static const char *const why[] = {"payload_altered", NULL, NULL, "payload_altered",
                                      "malformed_json", "payload_altered"};
    for (int i = 0; i < 6; i++) {
        uint64_t off = 0;
        fr_buf_t b;
        fr_buf_init(&b, 4096);
        int rc = fr_elog_dlq_replayed(log, (uint64_t)i + 1, &off, &b);
        if (i == 1) {
            cr_assert_eq(rc, 0);
            cr_assert_eq(off, 0);
        } else if (why[i]) {
            cr_assert_neq(rc, 0);
            cr_assert(b.len && strncmp(b.p, why[i], strlen(why[i])) == 0, "entry %d: %s", i + 1,
                      b.p ? b.p : "(none)");
        } else {
            cr_assert_neq(rc, 0);
            cr_assert_eq(b.len, 0, "the truncated one was tried: %s", b.p);
        }
        fr_buf_destroy(&b);
    }
    /* again: the replayed one is skipped, the rest as before */
    cr_assert_eq(fr_ingest_replay_dlq(cfg, log, -1, &n), 0);
    cr_assert_eq(n.replayed, 0);
    cr_assert_eq(n.skipped, 1);
    cr_assert_eq(n.truncated, 1);
    cr_assert_eq(fr_elog_end_offset(log, 0), 1);
    fr_elog_close(log);
}
