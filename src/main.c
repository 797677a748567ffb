/*
 * main.c - command-line dispatch: `freshet <command> [options]`.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/log.h"
#include "engine/engine.h"
#include "event/registry.h"
#include "gen/gen.h"
#include "offline/backfill.h"
#include "serve/demo.h"
#include "serve/ingest.h"
#include "serve/serve.h"
#include "source/elog.h"
#include "source/kafka.h"
#include "store/store.h"

#ifndef FRESHET_VERSION
#define FRESHET_VERSION "0.1.0"
#endif

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: freshet <command> [options]\n\n"
               "commands:\n"
               "  run       -c FILE [--demo]   ingest, process and serve in one process\n"
               "  serve     -c FILE            HTTP ingest and feature serving only\n"
               "  process   -c FILE            the processor only (log -> online store)\n"
               "  validate  -c FILE            check a configuration file\n"
               "  generate  [--to DEST] ...    synthetic transactions (stdout, file, HTTP, Kafka)\n"
               "  backfill  -c FILE --jsonl|--avro PATH...|--from-kafka earliest|MS\n"
               "                               views recomputed from history\n"
               "  training-set -c FILE --set NAME -o OUT   a point-in-time training set\n"
               "  dlq list|replay -c FILE      show / re-feed dead-lettered events\n"
               "  status    -c FILE            positions, ends and lag per source partition\n"
               "  schema    register|list|check -c FILE ...  the Avro schema registry\n\n"
               "`freshet <command> --help` tells more; `freshet --version` the version.\n");
}

typedef struct {
    const char *config;
    int demo;
    double demo_rate;
    const char *listen;
    int verbose;
    int no_ingest;
} common_t;

static int parse_common(int argc, char **argv, common_t *o, const char *cmd, const char *help)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"demo", no_argument, NULL, 'd'},
        {"demo-rate", required_argument, NULL, 'r'}, {"listen", required_argument, NULL, 'l'},
        {"verbose", no_argument, NULL, 'v'},         {"help", no_argument, NULL, 'h'},
        {"no-ingest", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->demo_rate = 200;
    optind = 1;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'd': o->demo = 1; break;
        case 'r':
            o->demo_rate = strtod(optarg, &end);
            if (*end || !(o->demo_rate > 0 && o->demo_rate <= 1e7)) {
                fprintf(stderr, "freshet %s: --demo-rate must be a number of events/s\n", cmd);
                return 2;
            }
            break;
        case 'l': o->listen = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'n': o->no_ingest = 1; break;
        case 'h': printf("usage: freshet %s %s\n", cmd, help); exit(0);
        default: fprintf(stderr, "usage: freshet %s %s\n", cmd, help); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "freshet %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return 2;
    }
    if (!o->config) {
        fprintf(stderr, "freshet %s: -c FILE is required\nusage: freshet %s %s\n", cmd, cmd, help);
        return 2;
    }
    if (o->verbose)
        fr_log_level = FR_LOG_DEBUG;
    return 0;
}

static fr_config_t *load_config(const char *path, const char *listen)
{
    char err[1024];
    fr_config_t *cfg = NULL;
    if (fr_config_load(path, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    if (listen) {
        const char *colon = strrchr(listen, ':');
        if (!colon) {
            fprintf(stderr, "--listen: expected HOST:PORT\n");
            fr_config_free(cfg);
            return NULL;
        }
        free(cfg->server.listen_host);
        cfg->server.listen_host = strndup(listen, (size_t)(colon - listen));
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || port < 0 || port > 65535) {
            fprintf(stderr, "--listen: bad port in '%s'\n", listen);
            fr_config_free(cfg);
            return NULL;
        }
        cfg->server.listen_port = (int)port;
    }
    return cfg;
}

static int schema_lookup(void *ctx, int source, uint64_t fp, fr_buf_t *out)
{
    (void)source;
    return fr_elog_schema_get(ctx, fp, out);
}

static int avro_lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    return fr_registry_schema(ctx, id, out);
}

/* Whether any source reads Avro (the processor then needs the registry). */
static int any_avro(const fr_config_t *cfg)
{
    for (size_t s = 0; s < cfg->nsources; s++)
        if (cfg->sources[s].format == FR_FORMAT_AVRO)
            return 1;
    return 0;
}

/* run / serve / process: which parts to start. */
enum { PART_SERVE = 1, PART_PROCESS = 2 };

static int cmd_node(int argc, char **argv, int parts)
{
    const char *help = parts == (PART_SERVE | PART_PROCESS)
                           ? "-c FILE [--demo] [--demo-rate N] [--listen HOST:PORT] [-v]\n"
                             "  Ingests events over HTTP into the embedded log, processes them into\n"
                             "  the online store and serves features.  --demo feeds synthetic\n"
                             "  transactions (default 200 events/s) into the first source."
                       : parts == PART_SERVE
                             ? "-c FILE [--listen HOST:PORT] [--no-ingest] [-v]\n"
                               "  HTTP ingest and feature serving; pair with `freshet process`.\n"
                               "  --no-ingest serves features only and opens no event log: for\n"
                               "  replicas on other machines reading a shared Redis store."
                             : "-c FILE [-v]\n  Applies the log to the online store, exactly once.";
    common_t o;
    int rc = parse_common(argc, argv, &o, argv[0], help);
    if (rc)
        return rc;
    if (o.no_ingest && parts != PART_SERVE) {
        fprintf(stderr, "--no-ingest is for `freshet serve`\n");
        return 2;
    }
    if (o.demo && !(parts & PART_SERVE)) {
        fprintf(stderr, "--demo needs `freshet run`\n");
        return 2;
    }
    fr_config_t *cfg = load_config(o.config, o.listen);
    if (!cfg)
        return 1;
    char err[1024] = "";
    fr_elog_t *log = NULL;
    fr_store_t *store = NULL;
    fr_engine_t *engine = NULL;
    fr_server_t *srv = NULL;
    fr_demo_t *demo = NULL;
    fr_registry_t *reg = NULL;
    fr_source_t *sources[FR_CONFIG_MAX_SOURCES] = {0};
    char dir[4096], base_url[300] = "";
    snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
    rc = fr_store_open(cfg, &store, err, sizeof err);
    if (!rc && !o.no_ingest)
        rc = fr_elog_open(dir, cfg, &log, err, sizeof err);
    /* the schema registry: served by run/serve (embedded), read by the
     * processor for Avro writer schemas */
    if (!rc && (parts & PART_SERVE || any_avro(cfg)))
        rc = fr_registry_open(cfg, &reg, err, sizeof err);
    if (rc)
        goto out;
    if (parts & PART_PROCESS) {
        for (size_t s = 0; !rc && s < cfg->nsources; s++)
            rc = cfg->sources[s].kafka.enabled
                     ? fr_kafka_source_open(cfg, (int)s, &sources[s], err, sizeof err)
                     : fr_elog_source_open(log, (int)s, &sources[s]);
        if (!rc)
            rc = fr_engine_new(cfg, store, sources, schema_lookup, log, &engine, err, sizeof err);
        if (rc)
            goto out;
        if (reg)
            fr_engine_set_avro_lookup(engine, avro_lookup, reg);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (parts & PART_SERVE) {
        fr_server_opts_t so = {
            .cfg = cfg, .store = store, .log = log, .engine = engine, .registry = reg};
        rc = fr_server_start(&so, &srv, err, sizeof err);
        if (rc)
            goto out;
        int v6 = strchr(cfg->server.listen_host, ':') != NULL;
        snprintf(base_url, sizeof base_url, "http://%s%s%s:%d", v6 ? "[" : "",
                 cfg->server.listen_host, v6 ? "]" : "", fr_server_port(srv));
        fr_info("freshet %s listening on %s (store: %s at %s)", FRESHET_VERSION, base_url,
                store->ops->kind, cfg->store.path);
    }
    if (o.demo) {
        rc = fr_demo_start(cfg, log, 0, o.demo_rate, (uint64_t)time(NULL), &demo);
        if (rc) {
            snprintf(err, sizeof err, "demo feeder: %s", fr_strerror(rc));
            goto out;
        }
        fr_info("demo: feeding %.0f synthetic events/s into source '%s'", o.demo_rate,
                cfg->sources[0].name);
        fr_info("try: curl -s %s/v1/features/%s/c000001", base_url,
                cfg->nviews ? cfg->views[0].name : "VIEW");
    }
    if (engine) {
        fr_info("processor: %zu sources, %zu views, commit every %" PRId64 " ms", cfg->nsources,
                cfg->nviews, cfg->processor.commit_interval_ms);
        rc = fr_engine_run(engine, &g_stop);
        if (rc)
            snprintf(err, sizeof err, "processor stopped: %s", fr_strerror(rc));
    } else {
        while (!g_stop)
            pause();
    }
    fr_info("stopping");
out:
    fr_demo_stop(demo);
    fr_server_stop(srv);
    fr_engine_free(engine);
    for (size_t s = 0; s < FR_CONFIG_MAX_SOURCES; s++)
        fr_source_close(sources[s]);
    fr_registry_close(reg);
    fr_elog_close(log);
    fr_store_close(store);
    fr_config_free(cfg);
    if (rc) {
        fprintf(stderr, "freshet %s: %s\n", argv[0], err[0] ? err : fr_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_validate(int argc, char **argv)
{
    common_t o;
    int rc = parse_common(argc, argv, &o, "validate", "-c FILE\n  Checks a configuration file.");
    if (rc)
        return rc;
    fr_config_t *cfg = load_config(o.config, NULL);
    if (!cfg)
        return 1;
    size_t nf = 0;
    for (size_t v = 0; v < cfg->nviews; v++)
        nf += cfg->views[v].naggs * cfg->views[v].nwindows;
    printf("%s: ok (%zu sources, %zu feature views, %zu features)\n", o.config, cfg->nsources,
           cfg->nviews, nf);
    fr_config_free(cfg);
    return 0;
}

typedef struct {
    const char *source;
    fr_elog_t *log;
} print_ctx_t;

static int print_dlq(void *ctx, uint64_t seq, const char *json, size_t len)
{
    const print_ctx_t *pc = ctx;
    const char *source = pc->source;
    if (source) {
        char pat[FR_CONFIG_MAX_NAME + 16];
        int n = snprintf(pat, sizeof pat, "{\"source\":\"%s\"", source);
        if ((size_t)n > len || memcmp(json, pat, (size_t)n) != 0)
            return 0;
    }
    uint64_t off;
    fr_buf_t why;
    fr_buf_init(&why, 4096);
    if (fr_elog_dlq_replayed(pc->log, seq, &off, &why) == 0) {
        printf("{\"seq\":%" PRIu64 ",\"replayed\":{\"offset\":%" PRIu64 "},%.*s\n", seq, off,
               (int)len - 1, json + 1);
    } else if (why.len) {
        fr_buf_t j;
        fr_buf_init(&j, 8192);
        fr_jw_str(&j, why.p, why.len);
        printf("{\"seq\":%" PRIu64 ",\"replay_refused\":%.*s,%.*s\n", seq, (int)j.len, j.p,
               (int)len - 1, json + 1);
        fr_buf_destroy(&j);
    } else {
        printf("{\"seq\":%" PRIu64 ",%.*s\n", seq, (int)len - 1, json + 1);
    }
    fr_buf_destroy(&why);
    return 0;
}

static int cmd_dlq(int argc, char **argv)
{
    const char *help =
        "list|replay -c FILE [--source NAME] [--from SEQ] [--limit N]\n"
        "  list    prints dead-lettered events as NDJSON, oldest first (a Kafka source's\n"
        "          from its dead-letter topic, with \"replayed\" per the stored positions).\n"
        "  replay  re-feeds them after the cause is fixed (a schema registered, the\n"
        "          configuration changed): each dead letter is applied once, even when a\n"
        "          replay is run again; those refused again become new dead letters.\n"
        "          Embedded: typed again and appended to the log.  Kafka (--source of a\n"
        "          Kafka source): produced again to the partition it came from.";
    int replay = argc >= 2 && !strcmp(argv[1], "replay");
    if (argc < 2 || (strcmp(argv[1], "list") != 0 && !replay)) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("usage: freshet dlq %s\n", help);
            return 0;
        }
        fprintf(stderr, "usage: freshet dlq %s\n", help);
        return 2;
    }
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"source", required_argument, NULL, 's'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *source = NULL;
    uint64_t from = 0, limit = UINT64_MAX;
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 's': source = optarg; break;
        case 'f': from = strtoull(optarg, NULL, 10); break;
        case 'n': limit = strtoull(optarg, NULL, 10); break;
        case 'h': printf("usage: freshet dlq %s\n", help); return 0;
        default: fprintf(stderr, "usage: freshet dlq %s\n", help); return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "freshet dlq %s: -c FILE is required\n", argv[1]);
        return 2;
    }
    fr_config_t *cfg = load_config(config, NULL);
    if (!cfg)
        return 1;
    int src = source ? fr_config_source_index(cfg, source) : -1;
    if (source && src < 0) {
        fprintf(stderr, "freshet dlq: no source named '%s'\n", source);
        fr_config_free(cfg);
        return 1;
    }
    char dir[4096], err[1024] = "";
    int rc;
    if (src >= 0 && cfg->sources[src].kafka.enabled) {
        /* the source's dead-letter topic; positions from the online store */
        fr_store_t *store = NULL;
        rc = fr_store_open(cfg, &store, err, sizeof err);
        size_t done = 0, skipped = 0;
        if (!rc && replay) {
            rc = fr_kafka_dlq_replay(cfg, src, store, &done, &skipped, err, sizeof err);
            if (!rc)
                printf("replayed %zu dead letters of %s into topic %s (%zu applied before, "
                       "skipped)\n",
                       done, source, cfg->sources[src].kafka.topic, skipped);
        } else if (!rc) {
            rc = fr_kafka_dlq_list(cfg, src, store, stdout, err, sizeof err);
        }
        fr_store_close(store);
    } else {
        snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
        fr_elog_t *log;
        rc = fr_elog_open(dir, cfg, &log, err, sizeof err);
        if (!rc) {
            if (replay) {
                size_t done = 0, refused = 0, skipped = 0;
                rc = fr_ingest_replay_dlq(cfg, log, src, &done, &refused, &skipped);
                if (!rc)
                    printf("replayed %zu dead letters: %zu appended to the log, %zu still "
                           "refused (kept, with the reason), %zu skipped (replayed before)\n",
                           done + refused, done, refused, skipped);
                else
                    snprintf(err, sizeof err, "replay: %s", fr_strerror(rc));
            } else {
                print_ctx_t pc = {.source = source, .log = log};
                rc = fr_elog_dlq_scan(log, from, limit, print_dlq, &pc);
            }
            fr_elog_close(log);
        }
    }
    if (rc)
        fprintf(stderr, "freshet dlq %s: %s\n", argv[1], err[0] ? err : fr_strerror(rc));
    fr_config_free(cfg);
    return rc ? 1 : 0;
}

static int cmd_status(int argc, char **argv)
{
    common_t o;
    int rc = parse_common(argc, argv, &o, "status",
                          "-c FILE\n"
                          "  Where each source stands, as NDJSON: per partition the committed\n"
                          "  position in the online store (and its fencing epoch), the end of\n"
                          "  the log or topic, and the lag; works beside any number of\n"
                          "  processors (it reads the store and the brokers only).");
    if (rc)
        return rc;
    fr_config_t *cfg = load_config(o.config, NULL);
    if (!cfg)
        return 1;
    char err[1024] = "";
    fr_store_t *store = NULL;
    fr_elog_t *log = NULL;
    rc = fr_store_open(cfg, &store, err, sizeof err);
    for (size_t s = 0; !rc && s < cfg->nsources; s++) {
        if (cfg->sources[s].kafka.enabled) {
            rc = fr_kafka_status(cfg, (int)s, store, stdout, err, sizeof err);
            continue;
        }
        if (!log) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
            rc = fr_elog_open(dir, cfg, &log, err, sizeof err);
            if (rc)
                break;
        }
        fr_store_rd_t *rd;
        fr_store_pos_t pos = {.watermark = INT64_MIN};
        rc = fr_store_rd_new(store, &rd);
        if (!rc && !(rc = fr_store_rd_begin(rd))) {
            if (fr_store_pos_get(rd, (int)s, 0, &pos))
                pos = (fr_store_pos_t){.watermark = INT64_MIN};
            fr_store_rd_end(rd);
        }
        fr_store_rd_free(rd);
        if (rc) {
            snprintf(err, sizeof err, "reading positions: %s", fr_strerror(rc));
            break;
        }
        uint64_t end = fr_elog_end_offset(log, (int)s);
        printf("{\"source\":\"%s\",\"log\":\"embedded\",\"partition\":0,"
               "\"committed_offset\":%" PRIu64 ",\"end_offset\":%" PRIu64 ",\"lag\":%" PRIu64,
               cfg->sources[s].name, pos.next_offset, end,
               end > pos.next_offset ? end - pos.next_offset : 0);
        if (pos.watermark != INT64_MIN)
            printf(",\"watermark\":%" PRId64, pos.watermark);
        printf(",\"dead_letters\":%" PRIu64 "}\n", fr_elog_dlq_count(log));
    }
    if (rc)
        fprintf(stderr, "freshet status: %s\n", err[0] ? err : fr_strerror(rc));
    fr_elog_close(log);
    fr_store_close(store);
    fr_config_free(cfg);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("freshet %s\n", FRESHET_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    argc--;
    argv++;
    if (!strcmp(cmd, "run"))
        return cmd_node(argc, argv, PART_SERVE | PART_PROCESS);
    if (!strcmp(cmd, "serve"))
        return cmd_node(argc, argv, PART_SERVE);
    if (!strcmp(cmd, "process"))
        return cmd_node(argc, argv, PART_PROCESS);
    if (!strcmp(cmd, "validate"))
        return cmd_validate(argc, argv);
    if (!strcmp(cmd, "generate"))
        return fr_gen_cmd(argc, argv);
    if (!strcmp(cmd, "backfill"))
        return fr_backfill_main(argc, argv);
    if (!strcmp(cmd, "training-set"))
        return fr_cli_training_set(argc, argv);
    if (!strcmp(cmd, "dlq"))
        return cmd_dlq(argc, argv);
    if (!strcmp(cmd, "status"))
        return cmd_status(argc, argv);
    if (!strcmp(cmd, "schema"))
        return fr_schema_main(argc, argv);
    fprintf(stderr, "freshet: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
