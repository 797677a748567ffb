/*
 * main.c - command-line dispatch: `freshet <command> [options]`.
 *
 * Conventions every command keeps: `--help` prints its usage, one or two
 * examples and its exit status on stdout (exit 0); a usage error (unknown
 * option or subcommand, a missing or bad value) is one line on stderr,
 * "freshet <command>: what is wrong; try `freshet <command> --help`",
 * and exit status 2; a failure at work is exit status 1.  Commands that
 * only read (status, dlq list) never create a store: with nothing at
 * store.path they say so in one line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static const char usage_text[] =
    "usage: freshet <command> [options]\n"
    "\n"
    "commands:\n"
    "  run       -c FILE [--demo]   ingest, process and serve in one process\n"
    "  serve     -c FILE            HTTP ingest and feature serving only\n"
    "  process   -c FILE            the processor only (log or topics -> online store)\n"
    "  validate  -c FILE            check a configuration file\n"
    "  status    -c FILE            positions, ends, lag and dead letters per source\n"
    "  generate  [--to DEST] ...    synthetic transactions (stdout, file, HTTP, Kafka)\n"
    "  backfill  -c FILE --jsonl|--avro PATH...|--from-kafka earliest|MS\n"
    "                               views recomputed from history\n"
    "  training-set -c FILE --set NAME -o OUT   a point-in-time training set\n"
    "  train     -c FILE --model NAME [--alias A]   train and register a model version\n"
    "  models    list|show|alias|export -c FILE ...   the model registry\n"
    "  drift     -c FILE --model NAME [--from MS --to MS]   input and score drift\n"
    "  consistency -c FILE --model NAME   served vectors against an offline recomputation\n"
    "  dlq       list|replay -c FILE   show / re-feed dead-lettered events\n"
    "  schema    register|list|check|delete -c FILE ...   the Avro schema registry\n"
    "\n"
    "`freshet <command> --help` (or `freshet help <command>`) tells more;\n"
    "`freshet --version` prints the version.\n"
    "Examples:\n"
    "  freshet run -c examples/fraud/freshet.yaml --demo\n"
    "  freshet status -c examples/fraud/freshet.yaml\n"
    "Exit status: 0 done; 1 failed; 2 bad usage (unknown command or option, bad value).\n";

/* One line on stderr for a usage error; returns 2. */
static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "freshet %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; try `freshet %s --help`\n", cmd);
    return 2;
}

/* Whether the LMDB environment in dir holds data (its data.mdb exists). */
static int env_exists(const char *path, const char *sub)
{
    char f[4200];
    struct stat st;
    snprintf(f, sizeof f, "%s/%s/data.mdb", path, sub);
    return stat(f, &st) == 0 && S_ISREG(st.st_mode);
}

/* "no store" in one line for a command that only reads; returns 1. */
static int no_store(const char *cmd, const fr_config_t *cfg, const char *what)
{
    fprintf(stderr,
            "freshet %s: no %s at %s (store.path of %s): nothing has run there yet; start "
            "`freshet run -c %s` first\n",
            cmd, what, cfg->store.path, cfg->path, cfg->path);
    return 1;
}

/* Options of run / serve / process / validate / status. */
enum {
    OPT_DEMO = 1u << 0,
    OPT_LISTEN = 1u << 1,
    OPT_VERBOSE = 1u << 2,
    OPT_NO_INGEST = 1u << 3,
};

typedef struct {
    const char *config;
    int demo, demo_rate_set;
    double demo_rate;
    const char *listen;
    int verbose;
    int no_ingest;
} common_t;

/* Whether s is HOST:PORT with a port 0..65535 and a non-empty host. */
static int listen_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && !errno && port >= 0 && port <= 65535;
}

/*
 * Parses the options `allowed` (OPT_*) lets cmd take, plus -c FILE and
 * --help.  0 ready; 2 bad usage (said); -1 help printed (exit 0).
 */
static int parse_common(int argc, char **argv, common_t *o, const char *cmd, const char *help,
                        unsigned allowed)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"demo", no_argument, NULL, 'd'},
        {"demo-rate", required_argument, NULL, 'r'}, {"listen", required_argument, NULL, 'l'},
        {"verbose", no_argument, NULL, 'v'},         {"help", no_argument, NULL, 'h'},
        {"no-ingest", no_argument, NULL, 'n'},       {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->demo_rate = 200;
    optind = 1;
    opterr = 0;
    int ch, li = -1;
    char *end;
    while ((ch = getopt_long(argc, argv, ":c:vh", opts, &li)) != -1) {
        unsigned need = ch == 'd' || ch == 'r' ? OPT_DEMO
                        : ch == 'l'            ? OPT_LISTEN
                        : ch == 'v'            ? OPT_VERBOSE
                        : ch == 'n'            ? OPT_NO_INGEST
                                               : 0;
        char name[32];
        if (li >= 0)
            snprintf(name, sizeof name, "--%s", opts[li].name);
        else
            snprintf(name, sizeof name, "-%c", ch);
        li = -1;
        if (need && !(allowed & need))
            return usage_error(cmd, "%s is not an option of %s", name, cmd);
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'd': o->demo = 1; break;
        case 'r':
            errno = 0;
            o->demo_rate = strtod(optarg, &end);
            o->demo_rate_set = 1;
            if (end == optarg || *end || errno || !(o->demo_rate > 0 && o->demo_rate <= 1e7))
                return usage_error(cmd, "--demo-rate wants events per second, 0 < N <= 1e7, "
                                        "not '%s'",
                                   optarg);
            break;
        case 'l':
            if (!listen_ok(optarg))
                return usage_error(cmd, "--listen wants HOST:PORT (port 0..65535), not '%s'",
                                   optarg);
            o->listen = optarg;
            break;
        case 'v': o->verbose = 1; break;
        case 'n': o->no_ingest = 1; break;
        case 'h': printf("usage: freshet %s %s", cmd, help); return -1;
        case ':': return usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->config)
        return usage_error(cmd, "-c FILE is required");
    if (o->demo_rate_set && !o->demo)
        return usage_error(cmd, "--demo-rate goes with --demo");
    if (o->verbose)
        fr_log_level = FR_LOG_DEBUG;
    return 0;
}

/* Loads the configuration, first in a child process (a fault of the YAML
 * library on a hostile file then ends the child, and the command says so);
 * prints why on failure.  Called before any thread starts. */
static fr_config_t *load_config(const char *path, const char *listen)
{
    char err[1024];
    fr_config_t *cfg = NULL;
    if (fr_config_check_isolated(path, err, sizeof err) ||
        fr_config_load(path, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    if (listen) { /* checked by listen_ok */
        const char *colon = strrchr(listen, ':');
        char *host = strndup(listen, (size_t)(colon - listen));
        if (!host) {
            fprintf(stderr, "freshet: out of memory\n");
            fr_config_free(cfg);
            return NULL;
        }
        free(cfg->server.listen_host);
        cfg->server.listen_host = host;
        cfg->server.listen_port = (int)strtol(colon + 1, NULL, 10);
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

static const char help_run[] =
    "-c FILE [--demo [--demo-rate N]] [--listen HOST:PORT] [-v]\n"
    "  Ingest, processor and HTTP server in one process: events POSTed to\n"
    "  /v1/events/SOURCE go to the embedded log (or to the source's Kafka topic),\n"
    "  the processor applies them to the online store exactly once, and features\n"
    "  are served over HTTP (docs/http-api.md).  Runs until SIGINT (Ctrl-C) or\n"
    "  SIGTERM; everything stays under store.path for the next start.\n"
    "  -c FILE             the configuration (docs/configuration.md)\n"
    "  --demo              also feed synthetic card transactions into the first\n"
    "                      source (default 200 events/s)\n"
    "  --demo-rate N       demo events per second\n"
    "  --listen HOST:PORT  instead of server.listen (port 0: any free port)\n"
    "  -v                  debug logging\n"
    "Examples:\n"
    "  freshet run -c examples/fraud/freshet.yaml --demo\n"
    "  freshet run -c my.yaml --listen 127.0.0.1:9000 -v\n"
    "Exit status: 0 stopped by a signal; 1 failed (configuration, store, port in\n"
    "use, processor error); 2 bad usage.\n";

static const char help_serve[] =
    "-c FILE [--listen HOST:PORT] [--no-ingest] [-v]\n"
    "  HTTP ingest and feature serving without a processor: pair it with one\n"
    "  `freshet process` on the same configuration.  Runs until SIGINT/SIGTERM.\n"
    "  -c FILE             the configuration\n"
    "  --listen HOST:PORT  instead of server.listen (port 0: any free port)\n"
    "  --no-ingest         serve features only and open no event log: a replica\n"
    "                      (on any machine) reading a shared Redis store\n"
    "  -v                  debug logging\n"
    "  (--demo is for `freshet run`: here nothing would apply the demo's events.)\n"
    "Examples:\n"
    "  freshet serve -c my.yaml            # beside `freshet process -c my.yaml`\n"
    "  freshet serve -c redis.yaml --no-ingest --listen 127.0.0.1:8081\n"
    "Exit status: 0 stopped by a signal; 1 failed (configuration, store, port in\n"
    "use); 2 bad usage.\n";

static const char help_process[] =
    "-c FILE [-v]\n"
    "  The processor alone: applies the embedded log, or the sources' Kafka topics\n"
    "  as a member of their consumer group, to the online store, exactly once,\n"
    "  until SIGINT/SIGTERM.  Any number may run on Kafka sources (one per\n"
    "  embedded log).\n"
    "  -c FILE  the configuration\n"
    "  -v       debug logging\n"
    "Examples:\n"
    "  freshet process -c my.yaml\n"
    "Exit status: 0 stopped by a signal; 1 failed (configuration, store, brokers,\n"
    "fenced by a newer owner of its partitions); 2 bad usage.\n";

static int cmd_node(int argc, char **argv, int parts)
{
    const char *help = parts == (PART_SERVE | PART_PROCESS) ? help_run
                       : parts == PART_SERVE                ? help_serve
                                                            : help_process;
    unsigned allowed = OPT_VERBOSE | (parts & PART_SERVE ? OPT_LISTEN : 0) |
                       (parts == (PART_SERVE | PART_PROCESS) ? OPT_DEMO : 0) |
                       (parts == PART_SERVE ? OPT_NO_INGEST : 0);
    common_t o;
    int rc = parse_common(argc, argv, &o, argv[0], help, allowed);
    if (rc)
        return rc < 0 ? 0 : rc;
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

static const char help_validate[] =
    "-c FILE\n"
    "  Checks a configuration file without starting or creating anything.\n"
    "  Prints \"FILE: ok (N sources, N feature views, N features)\", or the first\n"
    "  problem on stderr as FILE:LINE:COLUMN: what is wrong and what was expected.\n"
    "Examples:\n"
    "  freshet validate -c examples/fraud/freshet.yaml\n"
    "Exit status: 0 valid; 1 invalid or unreadable; 2 bad usage.\n";

static int cmd_validate(int argc, char **argv)
{
    common_t o;
    int rc = parse_common(argc, argv, &o, "validate", help_validate, 0);
    if (rc)
        return rc < 0 ? 0 : rc;
    fr_config_t *cfg = load_config(o.config, NULL);
    if (!cfg)
        return 1;
    size_t nf = 0;
    for (size_t v = 0; v < cfg->nviews; v++)
        nf += cfg->views[v].naggs * cfg->views[v].nwindows;
    printf("%s: ok (%zu sources, %zu feature views, %zu features", o.config, cfg->nsources,
           cfg->nviews, nf);
    if (cfg->nondemand)
        printf(", %zu on-demand features", cfg->nondemand);
    printf(")\n");
    fr_config_free(cfg);
    return 0;
}

/* ---- dlq ---------------------------------------------------------------- */

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

static const char help_dlq[] =
    "list|replay -c FILE [--source NAME] [--from SEQ] [--limit N]\n"
    "  list    prints dead-lettered events as NDJSON, oldest first, with their\n"
    "          reason and detail: the embedded queue under store.path (\"seq\"), then\n"
    "          each Kafka source's dead-letter topic (\"dlq_offset\"; \"replayed\" per\n"
    "          the stored positions).  A payload that is not UTF-8 text (binary\n"
    "          Avro) is given as \"payload_b64\" instead of \"payload\".\n"
    "  replay  re-feeds them after the cause is fixed (a schema registered, the\n"
    "          configuration changed): each dead letter is applied once, even when a\n"
    "          replay is run again; those refused again become new dead letters.\n"
    "          Embedded: typed again and appended to the log.  Kafka: produced again\n"
    "          to the partition it came from.\n"
    "  --source NAME  only this source (default: every source)\n"
    "  --from SEQ, --limit N  list: the embedded queue from sequence number SEQ,\n"
    "          at most N entries\n"
    "  Reads only what exists: with no store at store.path it says so.\n"
    "Examples:\n"
    "  freshet dlq list -c examples/fraud/freshet.yaml --limit 10\n"
    "  freshet dlq replay -c examples/kafka/freshet.yaml --source transactions\n"
    "Exit status: 0 done; 1 failed (no store, brokers unreachable, ...); 2 bad usage.\n";

/* Parses a whole decimal number; 0 or -1. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static int cmd_dlq(int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : NULL;
    if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) {
        printf("usage: freshet dlq %s", help_dlq);
        return 0;
    }
    if (!sub || sub[0] == '-')
        return usage_error("dlq", "missing subcommand: list or replay");
    int replay = !strcmp(sub, "replay");
    if (!replay && strcmp(sub, "list") != 0)
        return usage_error("dlq", "unknown subcommand '%s': expected list or replay", sub);
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"source", required_argument, NULL, 's'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *source = NULL;
    uint64_t from = 0, limit = UINT64_MAX;
    optind = 2;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 's': source = optarg; break;
        case 'f':
            if (replay || parse_u64(optarg, &from))
                return usage_error("dlq", replay ? "--from is for list"
                                                 : "--from wants a sequence number, not '%s'",
                                   optarg);
            break;
        case 'n':
            if (replay || parse_u64(optarg, &limit))
                return usage_error("dlq", replay ? "--limit is for list"
                                                 : "--limit wants a whole number, not '%s'",
                                   optarg);
            break;
        case 'h': printf("usage: freshet dlq %s", help_dlq); return 0;
        case ':': return usage_error("dlq", "%s needs a value", argv[optind - 1]);
        default: return usage_error("dlq", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("dlq", "unexpected argument '%s'", argv[optind]);
    if (!config)
        return usage_error("dlq", "-c FILE is required");
    fr_config_t *cfg = load_config(config, NULL);
    if (!cfg)
        return 1;
    int src = source ? fr_config_source_index(cfg, source) : -1;
    if (source && src < 0) {
        fr_config_free(cfg);
        return usage_error("dlq", "no source named '%s' in %s", source, config);
    }
    char cmd[16], err[1024] = "";
    snprintf(cmd, sizeof cmd, "dlq %s", sub);
    int nkafka = 0, any_embedded = 0;
    for (size_t s = 0; s < cfg->nsources; s++)
        if (src < 0 || (int)s == src) {
            nkafka += cfg->sources[s].kafka.enabled;
            any_embedded |= !cfg->sources[s].kafka.enabled;
        }
    int has_log = env_exists(cfg->store.path, "log");
    int has_store = cfg->store.backend != FR_STORE_LMDB || env_exists(cfg->store.path, "store");
    int rc = 0, status = 0;
    /* the embedded queue: embedded sources' dead letters, and backfill's */
    if (!has_log && (any_embedded || !has_store)) {
        status = no_store(cmd, cfg, "store");
        goto out;
    }
    if (has_log && (any_embedded || !replay)) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
        fr_elog_t *log;
        rc = fr_elog_open(dir, cfg, &log, err, sizeof err);
        if (!rc) {
            if (replay) {
                fr_ingest_replay_t n = {0};
                rc = fr_ingest_replay_dlq(cfg, log, src, &n);
                if (!rc)
                    printf("replayed %zu dead letters: %zu appended to the log, %zu still "
                           "refused (kept, with the reason), %zu skipped (replayed before), "
                           "%zu truncated, not replayable\n",
                           n.replayed + n.refused, n.replayed, n.refused, n.skipped,
                           n.truncated);
                else
                    snprintf(err, sizeof err, "replay: %s", fr_strerror(rc));
            } else {
                print_ctx_t pc = {.source = source, .log = log};
                rc = fr_elog_dlq_scan(log, from, limit, print_dlq, &pc);
            }
            fr_elog_close(log);
        }
    }
    /* each Kafka source's dead-letter topic; positions from the online store */
    if (!rc && nkafka && !has_store) {
        status = no_store(cmd, cfg, "store");
        goto out;
    }
    fr_store_t *store = NULL;
    if (!rc && nkafka)
        rc = fr_store_open(cfg, &store, err, sizeof err);
    for (size_t s = 0; !rc && s < cfg->nsources; s++) {
        if (!cfg->sources[s].kafka.enabled || (src >= 0 && (int)s != src))
            continue;
        if (replay) {
            size_t done = 0, skipped = 0, ingest = 0;
            rc = fr_kafka_dlq_replay(cfg, (int)s, store, &done, &skipped, &ingest, err,
                                     sizeof err);
            if (!rc)
                printf("replayed %zu dead letters of %s into topic %s (%zu applied before, "
                       "skipped; %zu refused at HTTP ingest, not replayable: send them again)\n",
                       done, cfg->sources[s].name, cfg->sources[s].kafka.topic, skipped, ingest);
        } else {
            rc = fr_kafka_dlq_list(cfg, (int)s, store, stdout, err, sizeof err);
        }
    }
    fr_store_close(store);
    if (rc) {
        fprintf(stderr, "freshet %s: %s\n", cmd, err[0] ? err : fr_strerror(rc));
        status = 1;
    }
out:
    fr_config_free(cfg);
    return status;
}

/* ---- status ------------------------------------------------------------- */

static const char help_status[] =
    "-c FILE\n"
    "  Where each source stands, as NDJSON: per partition the committed\n"
    "  position in the online store (and its fencing epoch), the end of the log\n"
    "  or topic, the lag and the watermark; then per Kafka source a summary with\n"
    "  its total lag and the messages in its dead-letter topic.  Works beside any\n"
    "  number of processors: it reads the store and the brokers only, and never\n"
    "  creates a store (with nothing at store.path it says so).\n"
    "Examples:\n"
    "  freshet status -c examples/fraud/freshet.yaml\n"
    "  freshet status -c examples/kafka/freshet.yaml\n"
    "Exit status: 0 done; 1 no store, or the store or the brokers unreachable;\n"
    "2 bad usage.\n";

static int cmd_status(int argc, char **argv)
{
    common_t o;
    int rc = parse_common(argc, argv, &o, "status", help_status, 0);
    if (rc)
        return rc < 0 ? 0 : rc;
    fr_config_t *cfg = load_config(o.config, NULL);
    if (!cfg)
        return 1;
    int any_embedded = 0;
    for (size_t s = 0; s < cfg->nsources; s++)
        any_embedded |= !cfg->sources[s].kafka.enabled;
    if ((cfg->store.backend == FR_STORE_LMDB && !env_exists(cfg->store.path, "store")) ||
        (any_embedded && !env_exists(cfg->store.path, "log"))) {
        int st = no_store("status", cfg, "store");
        fr_config_free(cfg);
        return st;
    }
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

/* ---- dispatch ----------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} command_t;

static int cmd_run(int argc, char **argv)
{
    return cmd_node(argc, argv, PART_SERVE | PART_PROCESS);
}

static int cmd_serve(int argc, char **argv)
{
    return cmd_node(argc, argv, PART_SERVE);
}

static int cmd_process(int argc, char **argv)
{
    return cmd_node(argc, argv, PART_PROCESS);
}

static const command_t commands[] = {
    {"run", cmd_run},           {"serve", cmd_serve},       {"process", cmd_process},
    {"validate", cmd_validate}, {"generate", fr_gen_cmd},   {"backfill", fr_backfill_main},
    {"dlq", cmd_dlq},           {"status", cmd_status},     {"schema", fr_schema_main},
    {"training-set", fr_cli_training_set}, {"train", fr_cli_train},
    {"models", fr_cli_models},  {"drift", fr_cli_drift},
    {"consistency", fr_cli_consistency},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "freshet: missing command; try `freshet --help`\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("freshet %s\n", FRESHET_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || (!strcmp(cmd, "help") && argc == 2)) {
        fputs(usage_text, stdout);
        return 0;
    }
    char *help_argv[3];
    if (!strcmp(cmd, "help")) { /* freshet help CMD: freshet CMD --help */
        cmd = argv[2];
        help_argv[0] = argv[2];
        help_argv[1] = "--help";
        help_argv[2] = NULL;
        argc = 2;
        argv = help_argv;
    } else {
        argc--;
        argv++;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc, argv);
    fprintf(stderr, "freshet: unknown command '%s'; try `freshet --help`\n", cmd);
    return 2;
}
