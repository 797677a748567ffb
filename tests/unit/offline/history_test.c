/*
 * Unit tests of the arrival index of the embedded log (src/source/elog.c)
 * and the history reader over it (src/offline/history.c): every source in
 * the order of appends, records written before the index, retention, and
 * the admission bounds the reader reports.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "event/event.h"
#include "offline/history.h"
#include "source/elog.h"

static char dir[64];
static fr_config_t *cfg;

static const char *yaml = "store: { path: %s }\n"
                          "sources:\n"
                          "  - name: a\n"
                          "    timestamp: ts\n"
                          "    fields:\n"
                          "      - { name: k, type: string }\n"
                          "      - { name: n, type: long }\n"
                          "      - { name: ts, type: long }\n"
                          "  - name: b\n"
                          "    timestamp: ts\n"
                          "    fields:\n"
                          "      - { name: n, type: long }\n"
                          "      - { name: ts, type: long }\n"
                          "feature_views:\n"
                          "  - { name: v, source: a, entity: k, windows: [1h],\n"
                          "      aggregations: [{ fn: count }] }\n";

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-hist-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char text[2048], err[512];
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

static fr_elog_t *open_log(void)
{
    char p[128], err[512];
    snprintf(p, sizeof p, "%s/log", dir);
    fr_elog_t *log;
    cr_assert_eq(fr_elog_open(p, cfg, &log, err, sizeof err), 0, "%s", err);
    return log;
}

/* Appends events with n = ns[i] and ts = ts[i] to source s in one request. */
static void append(fr_elog_t *log, int s, const int64_t *ns, const int64_t *ts, size_t cnt)
{
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    fr_append_event_t ev[16];
    size_t offs[17];
    const fr_source_spec_t *sp = &cfg->sources[s];
    uint64_t fp = fr_schema_fingerprint(sp);
    for (size_t i = 0; i < cnt; i++) {
        fr_value_t v[3];
        if (s == 0) {
            v[0] = (fr_value_t){.type = FR_T_STRING, .u.s = "key", .len = 3};
            v[1] = (fr_value_t){.type = FR_T_LONG, .u.i = ns[i]};
            v[2] = (fr_value_t){.type = FR_T_LONG, .u.i = ts[i]};
        } else {
            v[0] = (fr_value_t){.type = FR_T_LONG, .u.i = ns[i]};
            v[1] = (fr_value_t){.type = FR_T_LONG, .u.i = ts[i]};
        }
        offs[i] = rb.len;
        cr_assert_eq(fr_record_encode(sp, fp, v, ts[i], &rb), 0);
    }
    offs[cnt] = rb.len;
    for (size_t i = 0; i < cnt; i++)
        ev[i] = (fr_append_event_t){.rec = rb.p + offs[i],
                                    .rec_len = offs[i + 1] - offs[i],
                                    .ts = ts[i],
                                    .raw = "{}",
                                    .raw_len = 2};
    fr_append_req_t req = {.source = s, .events = ev, .n = cnt};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    free(req.answer);
    fr_buf_destroy(&rb);
}

/* The n field of every event the history gives, in order (source a: +0,
 * source b: +1000), into out; returns how many. */
static size_t read_all(fr_elog_t *log, int64_t *out, size_t max, int64_t *bound_a)
{
    fr_hist_input_t in[2] = {{.kind = FR_HIST_EMBEDDED}, {.kind = FR_HIST_EMBEDDED}};
    fr_hist_opts_t o = {.inputs = in, .log = log, .now_ms = fr_now_ms()};
    fr_history_t *h;
    char err[256];
    cr_assert_eq(fr_history_open(cfg, &o, &h, err, sizeof err), 0, "%s", err);
    size_t n = 0;
    fr_hist_ev_t ev;
    int rc;
    while ((rc = fr_history_next(h, &ev)) == 0) {
        cr_assert_lt(n, max);
        out[n] = ev.source == 0 ? ev.vals[1].u.i : 1000 + ev.vals[0].u.i;
        if (bound_a)
            bound_a[n] = fr_history_low_bound(h, 0);
        n++;
    }
    cr_assert_eq(rc, FR_ENOTFOUND);
    cr_assert_eq(fr_history_low_bound(h, 0), INT64_MAX, "nothing more comes");
    cr_assert_eq(fr_history_low_bound(h, 1), INT64_MIN, "b has no views: no lateness");
    fr_hist_stats_t st;
    fr_history_stats(h, &st);
    cr_assert_eq(st.given, n);
    fr_history_close(h);
    return n;
}

Test(history, sources_in_arrival_order, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    int64_t now = fr_now_ms();
    int64_t a1[] = {1, 2}, ta1[] = {now - 5000, now - 9000};
    int64_t b1[] = {1}, tb1[] = {now - 100000};
    int64_t a2[] = {3}, ta2[] = {now - 4000};
    int64_t b2[] = {2, 3}, tb2[] = {now, now - 1};
    append(log, 0, a1, ta1, 2);
    append(log, 1, b1, tb1, 1);
    append(log, 0, a2, ta2, 1);
    append(log, 1, b2, tb2, 2);
    int64_t got[16], bound[16];
    size_t n = read_all(log, got, 16, bound);
    int64_t want[] = {1, 2, 1001, 3, 1002, 1003};
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "event %zu: %ld, expected %ld", i, (long)got[i],
                     (long)want[i]);
    /* a's bound: its greatest event time given so far minus its horizon (1h) */
    cr_assert_eq(bound[0], now - 5000 - 3600000);
    cr_assert_eq(bound[1], now - 5000 - 3600000, "an older event does not move it");
    cr_assert_eq(bound[3], now - 4000 - 3600000);
    fr_elog_close(log);
}

Test(history, one_source_only, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    int64_t now = fr_now_ms();
    int64_t a1[] = {1}, ta1[] = {now};
    int64_t b1[] = {1}, tb1[] = {now};
    append(log, 1, b1, tb1, 1);
    append(log, 0, a1, ta1, 1);
    fr_hist_input_t in[2] = {{.kind = FR_HIST_NONE}, {.kind = FR_HIST_EMBEDDED}};
    fr_hist_opts_t o = {.inputs = in, .log = log, .now_ms = now};
    fr_history_t *h;
    char err[256];
    cr_assert_eq(fr_history_open(cfg, &o, &h, err, sizeof err), 0, "%s", err);
    fr_hist_ev_t ev;
    cr_assert_eq(fr_history_next(h, &ev), 0);
    cr_assert_eq(ev.source, 1);
    cr_assert_eq(fr_history_next(h, &ev), FR_ENOTFOUND);
    fr_history_close(h);
    fr_elog_close(log);
}

Test(history, retention_purges_the_index, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    int64_t now = fr_now_ms();
    int64_t a1[] = {1, 2}, ta1[] = {now - 10000, now - 9000};
    int64_t b1[] = {1}, tb1[] = {now - 8000};
    int64_t a2[] = {3}, ta2[] = {now};
    append(log, 0, a1, ta1, 2);
    append(log, 1, b1, tb1, 1);
    append(log, 0, a2, ta2, 1);
    /* drop a's records older than now - 1000 (the first run) */
    fr_source_t *s;
    cr_assert_eq(fr_elog_source_open(log, 0, &s), 0);
    size_t n = 0;
    cr_assert_eq(s->ops->trim(s, 0, 3, now - 1000, 100, &n), 0);
    cr_assert_eq(n, 2);
    fr_source_close(s);
    int64_t got[16];
    n = read_all(log, got, 16, NULL);
    cr_assert_eq(n, 2);
    cr_assert_eq(got[0], 1001);
    cr_assert_eq(got[1], 3);
    fr_elog_close(log);
}

/* Makes the log look as one written before the arrival index existed. */
static void forget_index(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/log", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, arr;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, p, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    cr_assert_eq(mdb_dbi_open(txn, "arrivals", 0, &arr), 0);
    cr_assert_eq(mdb_drop(txn, arr, 0), 0);
    const char *keys[] = {"arr0.a", "arr0.b", "seq"};
    for (int i = 0; i < 3; i++) {
        MDB_val k = {strlen(keys[i]), (void *)keys[i]};
        mdb_del(txn, meta, &k, NULL);
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

Test(history, records_before_the_index_come_first_by_time, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    int64_t now = fr_now_ms();
    int64_t a1[] = {1, 2}, ta1[] = {now - 3000, now - 1000};
    int64_t b1[] = {1}, tb1[] = {now - 2000};
    append(log, 0, a1, ta1, 2);
    append(log, 1, b1, tb1, 1);
    fr_elog_close(log);
    forget_index();
    log = open_log();
    int64_t a2[] = {3}, ta2[] = {now - 5000};
    append(log, 0, a2, ta2, 1); /* indexed from here on */
    int64_t got[16];
    size_t n = read_all(log, got, 16, NULL);
    /* the three unindexed ones by event time, then the indexed one */
    int64_t want[] = {1, 1001, 2, 3};
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "event %zu: %ld, expected %ld", i, (long)got[i],
                     (long)want[i]);
    fr_elog_close(log);
}
