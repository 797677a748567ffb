/*
 * processor_bench - the processor's hot path: read records from the
 * embedded log, route them to their view, aggregate.  JSON was parsed at
 * ingest; here records are the typed binary ones the log keeps.
 *
 *   build/bench/processor_bench [EVENTS] [ENTITIES]   (default 5000000 1000000)
 *
 * One view, 8 functions x 3 windows (the demo's card_txn).  Entities are
 * drawn with a skew (a few hot cards, a long tail), event times advance
 * through 2 hours with jitter.  Prints events/s of the processing loop on
 * one thread, then the cost of committing every dirty entity.  Figures
 * only: nothing here passes or fails.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "engine/engine.h"
#include "event/event.h"
#include "source/elog.h"
#include "store/store.h"

static const char *yaml_fmt =
    "store: { path: %s }\n"
    "processor: { cache_entities: 4000000 }\n"
    "sources:\n"
    "  - name: transactions\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: card_id, type: string }\n"
    "      - { name: amount, type: double }\n"
    "      - { name: merchant_id, type: string }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - name: card_txn\n"
    "    source: transactions\n"
    "    entity: card_id\n"
    "    windows: [5m, 1h, 24h]\n"
    "    aggregations:\n"
    "      - { fn: count }\n"
    "      - { fn: sum, field: amount }\n"
    "      - { fn: avg, field: amount }\n"
    "      - { fn: max, field: amount }\n"
    "      - { fn: stddev, field: amount }\n"
    "      - { fn: count_distinct, field: merchant_id }\n"
    "      - { fn: last, field: country }\n"
    "      - { fn: since_last }\n";

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

int main(int argc, char **argv)
{
    uint64_t nev = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
    uint64_t nent = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    char dir[] = "/tmp/freshet-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char yaml[4096], err[1024], path[4200];
    snprintf(yaml, sizeof yaml, yaml_fmt, dir);
    fr_config_t *cfg;
    if (fr_config_parse("bench.yaml", yaml, strlen(yaml), &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    fr_store_t *store;
    fr_elog_t *log;
    snprintf(path, sizeof path, "%s/log", dir);
    if (fr_store_open(cfg, &store, err, sizeof err) || fr_elog_open(path, cfg, &log, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const fr_source_spec_t *src = &cfg->sources[0];
    uint64_t fp = fr_schema_fingerprint(src);

    /* fill the log (not timed as processing) */
    fprintf(stderr, "writing %" PRIu64 " records over %" PRIu64 " entities...\n", nev, nent);
    const size_t B = 20000;
    fr_buf_t recs;
    fr_buf_init(&recs, (size_t)1 << 30);
    size_t *offs = calloc(B + 1, sizeof *offs);
    fr_append_event_t *evs = calloc(B, sizeof *evs);
    int64_t t0 = fr_now_ms() - 2 * 3600 * 1000;
    static const char *countries[] = {"US", "GB", "DE", "FR", "CA", "BR"};
    uint64_t t_fill = fr_mono_ns();
    for (uint64_t done = 0; done < nev;) {
        size_t n = nev - done < B ? (size_t)(nev - done) : B;
        fr_buf_reset(&recs);
        for (size_t i = 0; i < n; i++) {
            /* skew: entity = nent * u^3 puts most events on few entities
             * while every entity still appears */
            uint64_t ent = (done + i) < nent ? done + i : (uint64_t)(nent * pow(unif(), 3.0));
            char card[24], merch[24];
            int cl = snprintf(card, sizeof card, "c%07" PRIu64, ent);
            int ml = snprintf(merch, sizeof merch, "m%04" PRIu64, next_rand() % 5000);
            fr_value_t v[5];
            v[0] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)cl, .u.s = card};
            v[1] = (fr_value_t){.type = FR_T_DOUBLE, .u.d = (double)(next_rand() % 100000) / 100};
            v[2] = (fr_value_t){.type = FR_T_STRING, .len = (uint32_t)ml, .u.s = merch};
            const char *c = countries[next_rand() % 6];
            v[3] = (fr_value_t){.type = FR_T_STRING, .len = 2, .u.s = c};
            if (next_rand() % 50 == 0)
                v[3].type = FR_T_NULL;
            int64_t ts = t0 + (int64_t)((done + i) * 7200000 / nev) - (int64_t)(next_rand() % 2000);
            v[4] = (fr_value_t){.type = FR_T_LONG, .u.i = ts};
            offs[i] = recs.len;
            fr_record_encode(src, fp, v, ts, &recs);
            evs[i] = (fr_append_event_t){.ts = ts};
        }
        offs[n] = recs.len;
        for (size_t i = 0; i < n; i++) {
            evs[i].rec = recs.p + offs[i];
            evs[i].rec_len = offs[i + 1] - offs[i];
        }
        fr_append_req_t req = {.source = 0, .events = evs, .n = n};
        if (fr_elog_append(log, &req) || req.accepted != n) {
            fprintf(stderr, "append failed (%zu accepted of %zu)\n", req.accepted, n);
            return 1;
        }
        done += n;
    }
    double fill_s = (double)(fr_mono_ns() - t_fill) / 1e9;
    fprintf(stderr, "log written in %.1f s (%.0f records/s through the durable append path)\n",
            fill_s, (double)nev / fill_s);

    fr_source_t *sources[1];
    fr_engine_t *eng;
    if (fr_elog_source_open(log, 0, &sources[0]) ||
        fr_engine_new(cfg, store, sources, NULL, NULL, &eng, err, sizeof err)) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    fr_engine_set_autocommit(eng, 0);
    uint64_t applied = 0, t1 = fr_mono_ns(), c1 = thread_cpu_ns();
    while (applied < nev) {
        size_t n = 0;
        if (fr_engine_step(eng, 0, &n)) {
            fprintf(stderr, "step failed\n");
            return 1;
        }
        applied += n;
        if (!n)
            break;
    }
    double proc_s = (double)(fr_mono_ns() - t1) / 1e9;
    double cpu_s = (double)(thread_cpu_ns() - c1) / 1e9;
    fr_engine_stats_t st;
    fr_engine_stats(eng, &st);
    printf("processor hot path: %" PRIu64 " events, %" PRIu64 " entities, 8 fns x 3 windows\n",
           applied, st.entities_cached);
    printf("  %.0f events/s on one thread (%.0f ns/event), %.2f s wall\n", (double)applied / proc_s,
           proc_s * 1e9 / (double)applied, proc_s);
    printf("  %.0f events per CPU-second of that thread (%.2f s CPU; robust to other load)\n",
           (double)applied / cpu_s, cpu_s);
    uint64_t t2 = fr_mono_ns();
    int rc = fr_engine_commit(eng);
    double commit_s = (double)(fr_mono_ns() - t2) / 1e9;
    printf("  commit of every dirty entity (%" PRIu64 " states + position, one LMDB txn): %.2f s"
           " (%.0f states/s)%s\n",
           st.entities_cached, commit_s, (double)st.entities_cached / commit_s,
           rc ? " FAILED" : "");
    fr_engine_free(eng);
    fr_elog_close(log);
    fr_store_close(store);
    fr_config_free(cfg);
    fr_buf_destroy(&recs);
    free(offs);
    free(evs);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
