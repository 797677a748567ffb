/*
 * kafka_bench - Kafka -> online store throughput, Avro or JSON, through
 * librdkafka's mock cluster, beside the mock's own ceiling.
 *
 *   kafka_bench [--events N] [--partitions P] [--format avro|json]
 *               [--freshet PATH] [--dir DIR] [--redis URL]
 *
 * 1. Starts a mock cluster in this process and produces N transaction
 *    events (6 fields, 120 cards per partition keyed by card) as
 *    Confluent-framed Avro under a schema registered in the embedded
 *    registry of DIR (or as JSON): the produce rate is the mock's ingest
 *    ceiling with one producer.
 * 2. Reads them all back with a bare librdkafka consumer that does nothing
 *    with them: the mock's fetch ceiling.
 * 3. Starts `freshet process` on the topic (LMDB store in DIR), and polls
 *    the positions in the store until every partition is committed to its
 *    end: decode + aggregate + commit throughput, events/s from the
 *    process's start (including its ~3 s group join) and from its first
 *    commit.  With --redis the online store is that Redis server (commits
 *    into Redis: Lua-fenced, pipelined).
 * Prints the three figures.  Never a pass/fail on time.
 */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "event/avro.h"
#include "event/registry.h"
#include "store/store.h"

extern char **environ;

static const char *yaml_fmt =
    "store: { path: %s/data, backend: %s, redis: { url: \"%s\" } }\n"
    "processor: { commit_interval_ms: 50 }\n"
    "sources:\n"
    "  - name: tx\n"
    "    format: %s\n"
    "    timestamp: ts\n"
    "    kafka: { brokers: \"%s\", topic: tx, group: bench }\n"
    "    fields:\n"
    "      - { name: card_id, type: string }\n"
    "      - { name: merchant_id, type: string }\n"
    "      - { name: amount, type: double }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: qty, type: long }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - name: card\n"
    "    source: tx\n"
    "    entity: card_id\n"
    "    windows: [5m, 1h, 24h]\n"
    "    aggregations:\n"
    "      - { fn: count }\n"
    "      - { fn: sum, field: amount }\n"
    "      - { fn: max, field: amount }\n"
    "      - { fn: count_distinct, field: merchant_id }\n"
    "      - { fn: last, field: country }\n";

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "kafka_bench: %s: %s\n", what, why);
    exit(1);
}

int main(int argc, char **argv)
{
    long events = 1000000, parts = 8;
    const char *format = "avro", *bin = "build/freshet", *dir = NULL, *redis = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
            parts = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!strcmp(argv[i], "--freshet") && i + 1 < argc)
            bin = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--redis") && i + 1 < argc)
            redis = argv[++i];
        else {
            fprintf(stderr, "usage: kafka_bench [--events N] [--partitions P] "
                            "[--format avro|json] [--freshet PATH] [--dir DIR] [--redis URL]\n");
            return 2;
        }
    }
    int avro = !strcmp(format, "avro");
    char tmpl[] = "/tmp/freshet-kbench-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmpl)))
        die("mkdtemp", strerror(errno));
    char errstr[512];

    /* the mock cluster, in this process */
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "log_level", "2", errstr, sizeof errstr);
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t *mc = mrk ? rd_kafka_mock_cluster_new(mrk, 3) : NULL;
    if (!mc)
        die("mock cluster", errstr);
    rd_kafka_mock_topic_create(mc, "tx", (int)parts, 1);
    rd_kafka_mock_topic_create(mc, "tx.dlq", 1, 1);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);

    char cfgpath[4200], yaml[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/bench.yaml", dir);
    snprintf(yaml, sizeof yaml, yaml_fmt, dir, redis ? "redis" : "lmdb",
             redis ? redis : "redis://127.0.0.1:6379", format, boot);
    FILE *f = fopen(cfgpath, "w");
    if (!f || fputs(yaml, f) < 0 || fclose(f))
        die(cfgpath, strerror(errno));
    fr_config_t *cfg;
    char err[1024];
    if (fr_config_load(cfgpath, &cfg, err, sizeof err))
        die("config", err);
    const fr_source_spec_t *spec = &cfg->sources[0];

    /* the writer schema, registered in the embedded registry */
    uint32_t sid = 0;
    if (avro) {
        fr_buf_t sch;
        fr_buf_init(&sch, 1 << 20);
        fr_registry_t *reg;
        char reason[512];
        if (fr_avro_schema_json(spec, &sch) || fr_registry_open(cfg, &reg, err, sizeof err))
            die("registry", err);
        if (fr_registry_register(reg, "tx-value", sch.p, sch.len, &sid, reason, sizeof reason))
            die("register", reason);
        fr_registry_close(reg);
        fr_buf_destroy(&sch);
    }

    /* 1. produce */
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", boot, errstr, sizeof errstr);
    rd_kafka_conf_set(pconf, "linger.ms", "20", errstr, sizeof errstr);
    rd_kafka_conf_set(pconf, "batch.num.messages", "10000", errstr, sizeof errstr);
    rd_kafka_conf_set(pconf, "queue.buffering.max.messages", "1000000", errstr, sizeof errstr);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
    if (!prod)
        die("producer", errstr);
    fr_buf_t msg;
    fr_buf_init(&msg, 1 << 20);
    int64_t now = fr_now_ms();
    uint64_t t0 = fr_mono_ns();
    static const char *const countries[] = {"US", "FR", "DE", "GB"};
    for (long i = 0; i < events; i++) {
        char card[24], merch[24];
        int cl = snprintf(card, sizeof card, "c%06ld", i % (120 * parts));
        int ml = snprintf(merch, sizeof merch, "m%04ld", (i * 7919) % 5000);
        fr_value_t v[6] = {
            {.type = FR_T_STRING, .u.s = card, .len = (uint32_t)cl},
            {.type = FR_T_STRING, .u.s = merch, .len = (uint32_t)ml},
            {.type = FR_T_DOUBLE, .u.d = (double)(i % 1000) * 0.25},
            {.type = FR_T_STRING, .u.s = countries[i % 4], .len = 2},
            {.type = FR_T_LONG, .u.i = i % 9},
            {.type = FR_T_LONG, .u.i = now - 3600000 + i % 3600000}};
        fr_buf_reset(&msg);
        if (avro) {
            if (fr_avro_frame(sid, &msg) || fr_avro_encode(spec, v, &msg))
                die("encode", "avro");
        } else {
            fr_buf_printf(&msg,
                          "{\"card_id\":\"%s\",\"merchant_id\":\"%s\",\"amount\":%.2f,"
                          "\"country\":\"%s\",\"qty\":%" PRId64 ",\"ts\":%" PRId64 "}",
                          card, merch, v[2].u.d, countries[i % 4], v[4].u.i, v[5].u.i);
        }
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                prod, RD_KAFKA_V_TOPIC("tx"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(msg.p, msg.len), RD_KAFKA_V_KEY(card, (size_t)cl),
                RD_KAFKA_V_END);
            if (!e)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce", rd_kafka_err2str(e));
            rd_kafka_poll(prod, 10);
        }
    }
    rd_kafka_flush(prod, 120000);
    uint64_t t_prod = fr_mono_ns() - t0;
    size_t bytes_per = msg.len;
    rd_kafka_destroy(prod);
    printf("kafka_bench: %ld %s events (%zu bytes each), %ld partitions, store %s\n", events,
           format, bytes_per, parts, redis ? redis : "lmdb");
    printf("  mock cluster ingest (one producer):   %10.0f events/s  (%.2f s)\n",
           (double)events / secs(t_prod), secs(t_prod));

    /* 2. the mock's fetch ceiling: a bare consumer */
    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    rd_kafka_conf_set(cconf, "bootstrap.servers", boot, errstr, sizeof errstr);
    rd_kafka_conf_set(cconf, "group.id", "bare", errstr, sizeof errstr);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)parts);
    int64_t *ends = calloc((size_t)parts, sizeof *ends);
    long kept = 0; /* the mock keeps only ~5 MiB per partition: count what it holds */
    for (int32_t p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(cons, "tx", p, &lo, &hi, 10000);
        ends[p] = hi;
        kept += (long)(hi - lo);
        rd_kafka_topic_partition_list_add(l, "tx", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (kept < events)
        printf("  (the mock cluster kept %ld of the %ld events: it holds ~5 MiB per "
               "partition; figures below count what it kept)\n",
               kept, events);
    events = kept;
    rd_kafka_assign(cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    t0 = fr_mono_ns();
    long got = 0;
    int idle = 0;
    while (got < events && idle < 30) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 1000);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err)
            got++;
        rd_kafka_message_destroy(m);
    }
    if (got < events)
        die("bare consumer", "no message for 30 s");
    uint64_t t_cons = fr_mono_ns() - t0;
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    printf("  mock cluster fetch (bare consumer):   %10.0f events/s  (%.2f s)\n",
           (double)events / secs(t_cons), secs(t_cons));

    /* 3. freshet process */
    fr_store_t *store;
    if (fr_store_open(cfg, &store, err, sizeof err))
        die("store", err);
    fr_store_rd_t *rd;
    fr_store_rd_new(store, &rd);
    char *args[] = {(char *)bin, "process", "-c", cfgpath, NULL};
    pid_t pid;
    t0 = fr_mono_ns();
    if (posix_spawn(&pid, bin, NULL, NULL, args, environ))
        die("spawn", bin);
    uint64_t first = 0;
    for (;;) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        int done = 1, any = 0;
        fr_store_rd_begin(rd);
        for (int32_t p = 0; p < parts; p++) {
            fr_store_pos_t pos;
            if (fr_store_pos_get(rd, 0, p, &pos) == 0) {
                any |= pos.next_offset > 0;
                done &= (int64_t)pos.next_offset >= ends[p];
            } else {
                done = 0;
            }
        }
        fr_store_rd_end(rd);
        if (any && !first)
            first = fr_mono_ns();
        if (done)
            break;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            die("freshet process", "exited early");
        if (fr_mono_ns() - t0 > 600000000000ull) {
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
            die("freshet process", "not caught up in 600 s");
        }
    }
    uint64_t t_done = fr_mono_ns();
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    printf("  freshet process (decode+aggregate+commit): %10.0f events/s from its first commit "
           "(%.2f s), %.0f events/s from its start (%.2f s, incl. the group join)\n",
           (double)events / secs(t_done - first), secs(t_done - first),
           (double)events / secs(t_done - t0), secs(t_done - t0));
    fr_store_rd_free(rd);
    fr_store_close(store);
    fr_config_free(cfg);
    free(ends);
    fr_buf_destroy(&msg);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    return 0;
}
