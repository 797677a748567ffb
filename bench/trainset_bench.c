/*
 * trainset_bench - building a point-in-time training set from the embedded
 * log: rows/s, events/s replayed, and peak memory beside the memory of the
 * entity states alone.
 *
 *   build/bench/trainset_bench [EVENTS] [CARDS] [DIR]   (default 10000000 200000 a temp dir)
 *
 * The demo's shape: transactions (card, merchant, txn id, amount, country)
 * over 10 days at a steady rate with a few seconds of disorder, 2 views
 * (card_txn: 8 functions x 5m/1h/24h; merchant_txn: 3 x 1m/1h), chargebacks
 * for 0.5% of transactions days later; the training set has every
 * transaction as a row, ~36 columns, CSV to /dev/null, on one thread.
 *
 * It prints three figures, each from its own child process so peak RSS is
 * its own: (1) the ceiling: replaying the same log into the same states
 * with no rows (what any point-in-time build must do at least, and the
 * memory of the entity states); (2) the training set; (3) their ratio.
 * Figures only: nothing here passes or fails.  With DIR given, a log
 * already there is reused (built once: appending 10M events takes a while).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agg/agg.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/map.h"
#include "event/event.h"
#include "offline/history.h"
#include "offline/trainset.h"
#include "source/elog.h"

static const char *yaml_fmt =
    "store: { path: %s }\n"
    "processor: { max_future_ms: 315360000000 }\n"
    "sources:\n"
    "  - name: transactions\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: card_id, type: string }\n"
    "      - { name: txn_id, type: string }\n"
    "      - { name: amount, type: double }\n"
    "      - { name: merchant_id, type: string }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: ts, type: long }\n"
    "  - name: chargebacks\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: txn_id, type: string }\n"
    "      - { name: is_fraud, type: long }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - name: card_txn\n"
    "    source: transactions\n"
    "    entity: card_id\n"
    "    windows: [5m, 1h, 24h]\n"
    "    aggregations:\n"
    "      - { fn: count, name: txn_count }\n"
    "      - { fn: sum, field: amount, name: amount_sum }\n"
    "      - { fn: avg, field: amount, name: amount_avg }\n"
    "      - { fn: max, field: amount, name: amount_max }\n"
    "      - { fn: stddev, field: amount, name: amount_std }\n"
    "      - { fn: count_distinct, field: merchant_id, name: merchants }\n"
    "      - { fn: last, field: country, name: last_country }\n"
    "      - { fn: since_last, name: since_last }\n"
    "  - name: merchant_txn\n"
    "    source: transactions\n"
    "    entity: merchant_id\n"
    "    windows: [1m, 1h]\n"
    "    aggregations:\n"
    "      - { fn: count, name: txn_count }\n"
    "      - { fn: sum, field: amount, name: amount_sum }\n"
    "      - { fn: count_distinct, field: card_id, name: cards }\n"
    "training_sets:\n"
    "  - name: fraud\n"
    "    spine: transactions\n"
    "    features: [card_txn, merchant_txn, amount]\n"
    "    label: { source: chargebacks, key: txn_id, field: is_fraud, horizon: 30d, default: 0 }\n";

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double unif(void)
{
    return (double)(next_rand() >> 11) / 9007199254740992.0;
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

#define BATCH 5000

static int fill_log(const fr_config_t *cfg, const char *dir, uint64_t nev, uint64_t ncards)
{
    char logdir[4200];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    fr_elog_t *log;
    char err[512];
    if (fr_elog_open_flags(logdir, cfg, FR_ELOG_NOSYNC, &log, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const fr_source_spec_t *tx = &cfg->sources[0], *cb = &cfg->sources[1];
    uint64_t fp = fr_schema_fingerprint(tx), fpc = fr_schema_fingerprint(cb);
    int64_t start = fr_now_ms() - INT64_C(10) * 86400000 - 3600000;
    double step = (double)INT64_C(10) * 86400000 / (double)nev;
    fr_buf_t recs, crecs;
    fr_buf_init(&recs, (size_t)1 << 30);
    fr_buf_init(&crecs, (size_t)1 << 30);
    fr_append_event_t *evs = calloc(BATCH, sizeof *evs), *cevs = calloc(BATCH, sizeof *cevs);
    size_t *offs = calloc(BATCH + 1, sizeof *offs), *coffs = calloc(BATCH + 1, sizeof *coffs);
    /* chargebacks wait until their time: a ring of (due ts, txn number) */
    size_t ccap = 1 << 20, chead = 0, clen = 0;
    int64_t *cdue = calloc(ccap, sizeof *cdue);
    uint64_t *ctxn = calloc(ccap, sizeof *ctxn);
    static const char *countries[] = {"US", "US", "US", "GB", "DE", "FR", "CA"};
    uint64_t t0 = fr_mono_ns();
    for (uint64_t i = 0; i < nev;) {
        fr_buf_reset(&recs);
        fr_buf_reset(&crecs);
        size_t n = 0, nc = 0;
        for (; n < BATCH && i < nev; n++, i++) {
            int64_t ts = start + (int64_t)((double)i * step) - (int64_t)(unif() * 3000);
            double u = unif();
            uint64_t card = (uint64_t)(pow(u, 3.0) * (double)ncards);
            char cid[24], tid[24], mid[16];
            int cl = snprintf(cid, sizeof cid, "c%07" PRIu64, card);
            int tl = snprintf(tid, sizeof tid, "t%09" PRIu64, i);
            int ml = snprintf(mid, sizeof mid, "m%04" PRIu64, next_rand() % 5000);
            fr_value_t v[6] = {
                {.type = FR_T_STRING, .u.s = cid, .len = (uint32_t)cl},
                {.type = FR_T_STRING, .u.s = tid, .len = (uint32_t)tl},
                {.type = FR_T_DOUBLE, .u.d = floor(unif() * 50000) / 100},
                {.type = FR_T_STRING, .u.s = mid, .len = (uint32_t)ml},
                {.type = FR_T_STRING, .u.s = countries[next_rand() % 7], .len = 2},
                {.type = FR_T_LONG, .u.i = ts}};
            offs[n] = recs.len;
            fr_record_encode(tx, fp, v, ts, &recs);
            evs[n] = (fr_append_event_t){.ts = ts};
            if (unif() < 0.005 && clen < ccap) {
                size_t at = (chead + clen++) % ccap;
                cdue[at] = ts + 86400000 + (int64_t)(unif() * 3 * 86400000);
                ctxn[at] = i;
            }
            /* chargebacks due by now (roughly in order: due times are spread) */
            while (clen && cdue[chead] <= ts && nc < BATCH) {
                char t2[24];
                int l2 = snprintf(t2, sizeof t2, "t%09" PRIu64, ctxn[chead]);
                fr_value_t cv[3] = {{.type = FR_T_STRING, .u.s = t2, .len = (uint32_t)l2},
                                    {.type = FR_T_LONG, .u.i = 1},
                                    {.type = FR_T_LONG, .u.i = cdue[chead]}};
                coffs[nc] = crecs.len;
                fr_record_encode(cb, fpc, cv, cdue[chead], &crecs);
                cevs[nc++] = (fr_append_event_t){.ts = cdue[chead]};
                chead = (chead + 1) % ccap;
                clen--;
            }
        }
        offs[n] = recs.len;
        coffs[nc] = crecs.len;
        for (size_t k = 0; k < n; k++) {
            evs[k].rec = recs.p + offs[k];
            evs[k].rec_len = offs[k + 1] - offs[k];
        }
        for (size_t k = 0; k < nc; k++) {
            cevs[k].rec = crecs.p + coffs[k];
            cevs[k].rec_len = coffs[k + 1] - coffs[k];
        }
        fr_append_req_t req = {.source = 0, .events = evs, .n = n};
        if (fr_elog_append(log, &req) || req.rejected) {
            fprintf(stderr, "append failed (%s, %zu rejected)\n", fr_strerror(req.rc),
                    req.rejected);
            return 1;
        }
        free(req.answer);
        if (nc) {
            fr_append_req_t creq = {.source = 1, .events = cevs, .n = nc};
            fr_elog_append(log, &creq);
            free(creq.answer);
        }
        if (i % 1000000 < BATCH)
            fprintf(stderr, "\rfilling the log: %" PRIu64 " events", i);
    }
    fprintf(stderr, "\rfilled the log with %" PRIu64 " events in %.1f s\n", nev,
            (double)(fr_mono_ns() - t0) / 1e9);
    fr_elog_close(log);
    fr_buf_destroy(&recs);
    fr_buf_destroy(&crecs);
    free(evs);
    free(cevs);
    free(offs);
    free(coffs);
    free(cdue);
    free(ctxn);
    return 0;
}

/* The ceiling: every event into the views' states, nothing else. */
static int replay_only(const fr_config_t *cfg, fr_elog_t *log, uint64_t *events)
{
    fr_hist_input_t in[2] = {{.kind = FR_HIST_EMBEDDED}, {.kind = FR_HIST_NONE}};
    fr_hist_opts_t o = {.inputs = in, .log = log, .now_ms = fr_now_ms()};
    fr_history_t *h;
    char err[256];
    if (fr_history_open(cfg, &o, &h, err, sizeof err))
        return 1;
    fr_map_t maps[2];
    fr_map_init(&maps[0]);
    fr_map_init(&maps[1]);
    fr_hist_ev_t ev;
    uint64_t n = 0;
    while (fr_history_next(h, &ev) == 0) {
        n++;
        for (int v = 0; v < 2; v++) {
            const fr_view_spec_t *vw = &cfg->views[v];
            const fr_value_t *k = &ev.vals[vw->entity];
            uint64_t hash = fr_map_hash(k->u.s, k->len);
            fr_map_slot_t *sl = fr_map_find(&maps[v], k->u.s, k->len, hash);
            if (!sl)
                sl = fr_map_insert(&maps[v], k->u.s, k->len, hash, fr_agg_state_new(&vw->plan));
            fr_agg_state_apply(sl->value, &vw->plan, ev.ts, ev.offset, ev.vals);
        }
    }
    *events = n;
    fr_history_close(h);
    return 0;
}

typedef struct {
    double secs, cpu;
    long rss_kib;
    uint64_t events, rows;
} fig_t;

static int run_child(const fr_config_t *cfg, const char *dir, int which, fig_t *out)
{
    int fd[2];
    if (pipe(fd))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        char logdir[4200], err[512];
        snprintf(logdir, sizeof logdir, "%s/log", dir);
        fr_elog_t *log;
        if (fr_elog_open(logdir, cfg, &log, err, sizeof err))
            _exit(1);
        fig_t f = {0};
        uint64_t w0 = fr_mono_ns(), c0 = cpu_ns();
        if (which == 0) {
            if (replay_only(cfg, log, &f.events))
                _exit(1);
        } else {
            FILE *out_f = fopen("/dev/null", "w");
            fr_hist_input_t in[2] = {{.kind = FR_HIST_EMBEDDED}, {.kind = FR_HIST_EMBEDDED}};
            fr_tset_opts_t o = {.tset = 0,
                                .format = FR_TSET_CSV,
                                .out = out_f,
                                .inputs = in,
                                .log = log,
                                .has_cutoff = true, /* every row mature: all computed */
                                .cutoff_ms = fr_now_ms() + INT64_C(365) * 86400000,
                                .now_ms = fr_now_ms()};
            fr_tset_summary_t sum;
            if (fr_tset_build(cfg, &o, &sum, err, sizeof err)) {
                fprintf(stderr, "build: %s\n", err);
                _exit(1);
            }
            f.events = sum.events;
            f.rows = sum.rows;
            fclose(out_f);
        }
        f.secs = (double)(fr_mono_ns() - w0) / 1e9;
        f.cpu = (double)(cpu_ns() - c0) / 1e9;
        f.rss_kib = peak_rss_kib();
        if (write(fd[1], &f, sizeof f) != (ssize_t)sizeof f)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], out, sizeof *out);
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return got == (ssize_t)sizeof *out && WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : 1;
}

int main(int argc, char **argv)
{
    uint64_t nev = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    uint64_t ncards = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    char tmpl[] = "/tmp/freshet-tsbench-XXXXXX";
    const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
    if (!dir || !nev || !ncards) {
        fprintf(stderr, "usage: trainset_bench [EVENTS] [CARDS] [DIR]\n");
        return 2;
    }
    char yaml[8192], err[512];
    snprintf(yaml, sizeof yaml, yaml_fmt, dir);
    fr_config_t *cfg;
    if (fr_config_parse("bench.yaml", yaml, strlen(yaml), &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/log/data.mdb", dir);
    struct stat st;
    if (stat(probe, &st) && fill_log(cfg, dir, nev, ncards))
        return 1;
    fig_t base, ts;
    if (run_child(cfg, dir, 0, &base) || run_child(cfg, dir, 1, &ts)) {
        fprintf(stderr, "a run failed\n");
        return 1;
    }
    printf("training-set build from the embedded log (%s), one thread\n", dir);
    printf("  ceiling, replay into states only: %" PRIu64 " events in %.2f s (%.2f s CPU): "
           "%.0f events/s, peak RSS %.0f MiB\n",
           base.events, base.secs, base.cpu, (double)base.events / base.secs,
           (double)base.rss_kib / 1024);
    printf("  training set: %" PRIu64 " rows from %" PRIu64 " events in %.2f s (%.2f s CPU): "
           "%.0f rows/s, %.0f events/s, peak RSS %.0f MiB\n",
           ts.rows, ts.events, ts.secs, ts.cpu, (double)ts.rows / ts.secs,
           (double)ts.events / ts.secs, (double)ts.rss_kib / 1024);
    printf("  time x%.2f of the ceiling; peak memory x%.2f of the states' run\n",
           ts.secs / base.secs, (double)ts.rss_kib / (double)base.rss_kib);
    fr_config_free(cfg);
    return 0;
}
