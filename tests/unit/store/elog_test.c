/* Unit tests of the embedded log (src/source/elog.c) and the LMDB store. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "core/clock.h"
#include "core/err.h"
#include "event/admit.h"
#include "event/event.h"
#include "source/elog.h"
#include "store/store.h"

static char dir[64];
static fr_config_t *cfg;

static const char *yaml =
    "store: { path: %s }\n"
    "server: { idempotency_ttl: 1h }\n"
    "sources:\n"
    "  - name: tx\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: ts, type: long }\n"
    "  - name: chargebacks\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: txn_id, type: string }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - { name: v, source: tx, entity: k, windows: [1h], aggregations: [{ fn: count }] }\n";

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-elog-XXXXXX");
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

/* n events with keys k<i> at ts[i]; records built in rb. */
static void make_events(fr_append_event_t *ev, size_t n, const int64_t *ts, fr_buf_t *rb)
{
    size_t offs[64];
    fr_buf_reset(rb);
    uint64_t fp = fr_schema_fingerprint(&cfg->sources[0]);
    for (size_t i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%zu", i);
        fr_value_t v[2] = {{.type = FR_T_STRING, .len = (uint32_t)kl, .u.s = k},
                           {.type = FR_T_LONG, .u.i = ts[i]}};
        offs[i] = rb->len;
        cr_assert_eq(fr_record_encode(&cfg->sources[0], fp, v, ts[i], rb), 0);
    }
    for (size_t i = 0; i < n; i++) {
        memset(&ev[i], 0, sizeof ev[i]);
        ev[i].rec = rb->p + offs[i];
        ev[i].rec_len = (i + 1 < n ? offs[i + 1] : rb->len) - offs[i];
        ev[i].ts = ts[i];
        ev[i].raw = "{\"raw\":1}";
        ev[i].raw_len = 9;
    }
}

static int render_counts(const fr_append_req_t *req, fr_buf_t *out)
{
    return fr_buf_printf(out, "{\"accepted\":%zu}", req->accepted);
}

Test(elog, offsets_are_consecutive_and_records_read_back, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms(), ts[3] = {now - 1000, now - 500, now};
    fr_append_event_t ev[3];
    make_events(ev, 3, ts, &rb);
    fr_append_req_t req = {.source = 0, .events = ev, .n = 3};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.accepted, 3);
    cr_assert_eq(req.first_offset, 0);
    cr_assert_eq(req.last_offset, 2);
    make_events(ev, 2, ts, &rb);
    req = (fr_append_req_t){.source = 0, .events = ev, .n = 2};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.first_offset, 3);
    cr_assert_eq(fr_elog_end_offset(log, 0), 5);
    cr_assert_eq(fr_elog_watermark(log, 0), now);

    fr_source_t *s;
    cr_assert_eq(fr_elog_source_open(log, 0, &s), 0);
    cr_assert_eq(fr_source_seek(s, 0, 2), 0);
    fr_source_rec_t recs[10];
    size_t n;
    cr_assert_eq(fr_source_poll(s, recs, 10, &n, 0), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(recs[0].offset, 2);
    cr_assert_eq(recs[2].offset, 4);
    fr_record_proj_t pj;
    fr_record_proj_identity(&pj, &cfg->sources[0]);
    fr_value_t v[2];
    int64_t t;
    cr_assert_eq(fr_record_decode(&pj, recs[0].data, recs[0].len, v, &t), 0);
    cr_assert_eq(t, ts[2]);
    fr_source_release(s);
    cr_assert_eq(fr_source_poll(s, recs, 10, &n, 10), 0);
    cr_assert_eq(n, 0);
    fr_record_proj_destroy(&pj);
    fr_source_close(s);
    fr_elog_close(log);
    /* the watermark survives a restart */
    log = open_log();
    cr_assert_eq(fr_elog_watermark(log, 0), now);
    cr_assert_eq(fr_elog_end_offset(log, 0), 5);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}

static int count_dlq(void *ctx, uint64_t seq, const char *json, size_t len)
{
    (void)seq;
    char **reasons = ctx;
    for (int i = 0; i < 8; i++)
        if (!reasons[i]) {
            reasons[i] = strndup(json, len);
            break;
        }
    return 0;
}

Test(elog, late_and_future_events_are_dead_letters, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms();
    /* horizon 1h: an event 1h+1ms before the watermark is late */
    int64_t ts[4] = {now, now - 3600000 - 1, now - 3600000, now + 3600000};
    fr_append_event_t ev[4];
    make_events(ev, 4, ts, &rb);
    fr_append_req_t req = {.source = 0, .events = ev, .n = 4};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.accepted, 2);
    cr_assert_eq(req.rejected, 2);
    cr_assert_str_eq(ev[1].reason, "late");
    cr_assert_null(ev[2].reason);
    cr_assert_str_eq(ev[3].reason, "future_timestamp");
    cr_assert_eq(fr_elog_dlq_count(log), 2);
    char *got[8] = {0};
    fr_elog_dlq_scan(log, 0, 100, count_dlq, got);
    cr_assert(strstr(got[0], "\"reason\":\"late\""), "%s", got[0]);
    cr_assert(strstr(got[0], "\"payload\":\"{\\\"raw\\\":1}\""), "%s", got[0]);
    cr_assert(strstr(got[1], "future_timestamp"));
    cr_assert_null(got[2]);
    free(got[0]);
    free(got[1]);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}

/* Issue 8: a first event at INT64_MIN + 1 was accepted and became the
 * watermark, then `wm - horizon` overflowed (the sanitizer build died; the
 * optimised one refused every later event as late, for good). */
Test(elog, times_outside_the_range_are_refused_and_never_poison_the_watermark, .init = setup,
     .fini = teardown)
{
    fr_elog_t *log = open_log();
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms();
    int64_t ts[5] = {INT64_MIN + 1, INT64_MIN, -1, INT64_MAX, FR_TS_MAX_MS + 1};
    fr_append_event_t ev[5];
    make_events(ev, 5, ts, &rb);
    fr_append_req_t req = {.source = 0, .events = ev, .n = 5};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.accepted, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(ev[i].reason, "timestamp_out_of_range", "event %d", i);
    cr_assert_eq(fr_elog_watermark(log, 0), INT64_MIN, "refused events never move it");
    int64_t ok[2] = {now, FR_TS_MIN_MS};
    make_events(ev, 2, ok, &rb);
    req = (fr_append_req_t){.source = 0, .events = ev, .n = 2};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.accepted, 1);
    cr_assert_null(ev[0].reason);
    cr_assert_str_eq(ev[1].reason, "late", "1970 is in range, and late behind now");
    cr_assert_eq(fr_elog_watermark(log, 0), now);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}

/* A watermark poisoned by a build without the range check stays in the
 * store: the log must keep accepting events behind it. */
Test(elog, a_stored_poisoned_watermark_does_not_stop_the_source, .init = setup, .fini = teardown)
{
    fr_elog_close(open_log());
    char p[128];
    snprintf(p, sizeof p, "%s/log", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
    cr_assert_eq(mdb_env_open(env, p, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    uint8_t vb[8];
    fr_store_u64(vb, (uint64_t)(INT64_MIN + 1));
    MDB_val k = {5, "wm.tx"}, v = {8, vb};
    cr_assert_eq(mdb_put(txn, meta, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    fr_elog_t *log = open_log();
    cr_assert_eq(fr_elog_watermark(log, 0), INT64_MIN + 1);
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms(), ts[2] = {now, now - 1000};
    fr_append_event_t ev[2];
    make_events(ev, 2, ts, &rb);
    fr_append_req_t req = {.source = 0, .events = ev, .n = 2};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.accepted, 2, "%s", ev[0].reason ? ev[0].reason : "");
    cr_assert_eq(fr_elog_watermark(log, 0), now);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}

/* DESIGN §2: "A source that feeds no view (labels) has no lateness". */
Test(elog, a_source_with_no_view_accepts_events_in_any_order, .init = setup, .fini = teardown)
{
    const fr_source_spec_t *cb = &cfg->sources[1];
    cr_assert_str_eq(cb->name, "chargebacks");
    cr_assert_eq(cb->horizon_ms, 0);
    fr_elog_t *log = open_log();
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms();
    int64_t ts[4] = {now, now - 86400000LL * 365, 0, now - 1};
    size_t offs[4];
    uint64_t fp = fr_schema_fingerprint(cb);
    for (int i = 0; i < 4; i++) {
        fr_value_t v[2] = {{.type = FR_T_STRING, .len = 2, .u.s = "t1"},
                           {.type = FR_T_LONG, .u.i = ts[i]}};
        offs[i] = rb.len;
        cr_assert_eq(fr_record_encode(cb, fp, v, ts[i], &rb), 0);
    }
    fr_append_event_t ev[4];
    for (int i = 0; i < 4; i++)
        ev[i] = (fr_append_event_t){.rec = rb.p + offs[i],
                                    .rec_len = (i < 3 ? offs[i + 1] : rb.len) - offs[i],
                                    .ts = ts[i],
                                    .raw = "{}",
                                    .raw_len = 2};
    fr_append_req_t req = {.source = 1, .events = ev, .n = 4};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_null(ev[i].reason, "event %d refused: %s", i, ev[i].reason);
    cr_assert_eq(req.accepted, 4);
    cr_assert_eq(fr_elog_watermark(log, 1), now);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}

Test(elog, idempotency_key_applies_once, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms(), ts[2] = {now, now};
    fr_append_event_t ev[2];
    make_events(ev, 2, ts, &rb);
    fr_append_req_t req = {.source = 0, .events = ev, .n = 2, .idem_key = "abc", .idem_len = 3,
                           .body_hash = 77, .render = render_counts};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_not(req.replayed);
    fr_elog_close(log);
    log = open_log(); /* remembered durably */
    make_events(ev, 2, ts, &rb);
    fr_append_req_t again = req;
    cr_assert_eq(fr_elog_append(log, &again), 0);
    cr_assert(again.replayed);
    cr_assert_str_eq(again.answer, "{\"accepted\":2}");
    free(again.answer);
    cr_assert_eq(fr_elog_end_offset(log, 0), 2);
    fr_append_req_t other = req;
    other.body_hash = 78;
    cr_assert_eq(fr_elog_append(log, &other), FR_ECONFLICT);
    cr_assert_eq(fr_elog_end_offset(log, 0), 2);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}

typedef struct {
    fr_elog_t *log;
    uint64_t firsts[50];
} thr_t;

static void *appender(void *arg)
{
    thr_t *t = arg;
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms(), ts[4] = {now, now, now, now};
    for (int i = 0; i < 50; i++) {
        fr_append_event_t ev[4];
        make_events(ev, 4, ts, &rb);
        fr_append_req_t req = {.source = 0, .events = ev, .n = 4};
        if (fr_elog_append(t->log, &req) || req.accepted != 4 || req.last_offset != req.first_offset + 3)
            t->firsts[i] = UINT64_MAX;
        else
            t->firsts[i] = req.first_offset;
    }
    fr_buf_destroy(&rb);
    return NULL;
}

Test(elog, concurrent_appends_group_commit, .init = setup, .fini = teardown)
{
    fr_elog_t *log = open_log();
    enum { T = 6 };
    thr_t th[T];
    pthread_t pt[T];
    for (int i = 0; i < T; i++) {
        th[i].log = log;
        pthread_create(&pt[i], NULL, appender, &th[i]);
    }
    static char seen[T * 50 * 4];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < T; i++) {
        pthread_join(pt[i], NULL);
        for (int j = 0; j < 50; j++) {
            cr_assert_neq(th[i].firsts[j], UINT64_MAX);
            for (int k = 0; k < 4; k++) {
                uint64_t off = th[i].firsts[j] + (uint64_t)k;
                cr_assert_lt(off, sizeof seen);
                cr_assert_eq(seen[off], 0, "offset %lu given twice", (unsigned long)off);
                seen[off] = 1;
            }
        }
    }
    cr_assert_eq(fr_elog_end_offset(log, 0), T * 50 * 4);
    fr_elog_close(log);
}

Test(store, commit_states_and_positions_atomically, .init = setup, .fini = teardown)
{
    fr_store_t *st;
    char err[512];
    cr_assert_eq(fr_store_open(cfg, &st, err, sizeof err), 0, "%s", err);
    fr_store_put_t puts[2] = {{.view = 0, .key = "a", .klen = 1, .val = "xyz", .vlen = 3,
                               .stamp = {.partition = 3, .next_offset = 1ull << 40, .epoch = 7}},
                              {.view = 0, .key = "b", .klen = 1, .val = "q", .vlen = 1}};
    fr_store_pos_t pos = {.source = 0, .partition = 0, .next_offset = 17, .watermark = 99};
    cr_assert_eq(fr_store_commit(st, puts, 2, &pos, 1, 7), 0);
    fr_store_rd_t *rd;
    cr_assert_eq(fr_store_rd_new(st, &rd), 0);
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    const void *v;
    size_t n;
    fr_store_stamp_t stamp;
    cr_assert_eq(fr_store_get(rd, 0, "a", 1, &v, &n, &stamp), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(v, "xyz", 3), 0);
    cr_assert_eq(stamp.partition, 3);
    cr_assert_eq(stamp.next_offset, 1ull << 40);
    cr_assert_eq(stamp.epoch, 7);
    fr_store_get_t many[3] = {{.view = 0, .key = "b", .klen = 1},
                              {.view = 0, .key = "zz", .klen = 2},
                              {.view = 0, .key = "a", .klen = 1}};
    cr_assert_eq(fr_store_get_many(rd, many, 3), 0);
    cr_assert_eq(many[0].rc, 0);
    cr_assert_eq(many[0].vlen, 1);
    cr_assert_eq(many[1].rc, FR_ENOTFOUND);
    cr_assert_eq(many[2].rc, 0);
    cr_assert_eq(memcmp(many[2].val, "xyz", 3), 0);
    cr_assert_eq(fr_store_get(rd, 0, "c", 1, &v, &n, NULL), FR_ENOTFOUND);
    fr_store_pos_t got;
    cr_assert_eq(fr_store_pos_get(rd, 0, 0, &got), 0);
    cr_assert_eq(got.next_offset, 17);
    cr_assert_eq(got.watermark, 99);
    cr_assert_eq(got.epoch, 7);
    cr_assert_gt(got.committed_ms, 0);
    cr_assert_eq(fr_store_pos_get(rd, 0, 1, &got), FR_ENOTFOUND);
    fr_store_rd_end(rd);
    /* delete */
    fr_store_put_t del = {.view = 0, .key = "a", .klen = 1};
    cr_assert_eq(fr_store_commit(st, &del, 1, NULL, 0, 7), 0);
    cr_assert_eq(fr_store_rd_begin(rd), 0);
    cr_assert_eq(fr_store_get(rd, 0, "a", 1, &v, &n, NULL), FR_ENOTFOUND);
    cr_assert_eq(fr_store_get(rd, 0, "b", 1, &v, &n, NULL), 0);
    fr_store_rd_end(rd);
    fr_store_rd_free(rd);
    fr_store_close(st);
}

Test(elog, retention_trims_applied_records_and_offsets_never_go_back, .init = setup,
     .fini = teardown)
{
    fr_elog_t *log = open_log();
    fr_buf_t rb;
    fr_buf_init(&rb, 1 << 20);
    int64_t now = fr_now_ms(), old = now - 2 * 3600000;
    int64_t ts[5] = {old, old, old, old, now - 1000};
    fr_append_event_t ev[5];
    make_events(ev, 5, ts, &rb);
    fr_append_req_t req = {.source = 0, .events = ev, .n = 5};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.accepted, 5);
    fr_source_t *s;
    cr_assert_eq(fr_elog_source_open(log, 0, &s), 0);
    size_t n;
    /* only below offset 2 may go */
    cr_assert_eq(s->ops->trim(s, 0, 2, now - 3600000, 100, &n), 0);
    cr_assert_eq(n, 2);
    /* the young record at offset 4 stops the pass */
    cr_assert_eq(s->ops->trim(s, 0, 5, now - 3600000, 100, &n), 0);
    cr_assert_eq(n, 2);
    fr_source_rec_t recs[8];
    cr_assert_eq(fr_source_seek(s, 0, 0), 0);
    cr_assert_eq(fr_source_poll(s, recs, 8, &n, 0), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(recs[0].offset, 4);
    fr_source_release(s);
    /* empty the log entirely: the next append still gets offset 5 */
    cr_assert_eq(s->ops->trim(s, 0, 5, now + 1, 100, &n), 0);
    cr_assert_eq(n, 1);
    fr_source_close(s);
    fr_elog_close(log);
    log = open_log();
    cr_assert_eq(fr_elog_end_offset(log, 0), 5);
    make_events(ev, 1, ts + 4, &rb);
    req = (fr_append_req_t){.source = 0, .events = ev, .n = 1};
    cr_assert_eq(fr_elog_append(log, &req), 0);
    cr_assert_eq(req.first_offset, 5);
    fr_elog_close(log);
    fr_buf_destroy(&rb);
}
