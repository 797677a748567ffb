/*
 * backfill.c - `freshet backfill` (see backfill.h).
 *
 * One engine in backfill mode (engine.h: the chosen views computed from
 * nothing, no positions written, states unstamped) reads one history
 * source to its end, committing every COMMIT_NS and at the end.  A
 * history is a fr_source_t like any other: files (source/file.h) or a
 * range of the source's Kafka topic (fr_kafka_source_open_history).
 *
 * The engine sees the store through hist_store: the online store as it is,
 * except that no source has a position and no fencing epoch is handed out,
 * and positions are never written.  So the history is read from its first
 * record with a watermark of its own (not the live processor's, which may
 * be far ahead of the history and would make all of it late), and the live
 * processor's positions, watermarks and epochs are neither read nor
 * changed: it carries on from where it was, on top of the backfilled state.
 */
#include "offline/backfill.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "engine/engine.h"
#include "event/registry.h"
#include "source/elog.h"
#include "source/kafka.h"
#include "source/file.h"
#include "store/store.h"

#define PROGRESS_NS 100000000ull /* the progress line changes at most 10 times a second */
#define RETRY_NS 100000000ull    /* back-off after a failed round */
#define MAX_FAILURES 300         /* failed rounds in a row (30 s) before giving up */
/* A backfill commits this often, not every processor.commit_interval_ms:
 * nobody reads fresh answers from it, and each commit rewrites every entity
 * touched since the one before (with many entities, most of them). */
#define COMMIT_NS 2000000000ull

static const char usage_text[] =
    "usage: freshet backfill -c FILE [--source NAME]\n"
    "                        (--jsonl PATH... | --avro PATH... | --from-kafka earliest|MS)\n"
    "                        [--views V1,V2] [--fresh [--force]] [--quiet] [-v]\n"
    "  Recomputes the online state of a source's feature views from its history;\n"
    "  the result equals what live processing of the same events, in the same\n"
    "  order, gives.\n"
    "  -c FILE           the configuration (store, sources, views)\n"
    "  --source NAME     the source the history belongs to (default: the only one)\n"
    "  --jsonl PATH...   JSON Lines files (one event per line), read in the order\n"
    "                    given as one history\n"
    "  --avro PATH...    Avro Object Container Files, likewise (any writer schema\n"
    "                    whose fields can be read as the source's)\n"
    "  --from-kafka earliest|MS\n"
    "                    the source's topic from its start, or from a time (epoch ms)\n"
    "  --views V1,V2     only these views of the source (default: all of them)\n"
    "  --fresh           refuse unless the views hold no state yet\n"
    "  --force           with --fresh, go on when the store cannot tell (Redis)\n"
    "  --quiet           no progress line (there is one only when stderr is a terminal)\n"
    "  -v                debug logging\n"
    "  The chosen views are computed from nothing: each entity of the history gets\n"
    "  exactly the state its events give, replacing what was stored; entities not\n"
    "  in the history keep theirs; other views are not touched.  The processor's\n"
    "  positions are not read or changed: stop it during a backfill, and give a\n"
    "  history that ends where its position begins.  Refused events (malformed,\n"
    "  late, ...) go to the dead-letter queue (`freshet dlq list`).\n"
    "Examples:\n"
    "  freshet backfill -c my.yaml --source transactions --jsonl tx-05.jsonl tx-06.jsonl\n"
    "  freshet backfill -c examples/kafka/freshet.yaml --from-kafka earliest --fresh\n"
    "Exit status: 0 done; 1 failed, or an Avro file could not be read to its end;\n"
    "2 bad usage.\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef enum { HIST_NONE = 0, HIST_JSONL, HIST_AVRO, HIST_KAFKA } hist_kind_t;

typedef struct {
    const char *config, *source, *views;
    hist_kind_t kind;
    const char **paths; /* files, in the order given */
    size_t npaths;
    int64_t from_ms; /* --from-kafka: -1 earliest */
    int fresh, force, quiet, verbose;
} opts_t;

/* ---- the store as the history sees it ------------------------------------------ */

/*
 * The puts are written with a stamp of their own: no partition, and an
 * offset that grows with every commit of every backfill (the start time in
 * ms << 16, plus the commit's number).  A store that skips a state whose
 * stamp is not newer than the stored one (Redis, so that a replayed commit
 * changes nothing) then never skips a backfill's write over an earlier
 * backfill's, whatever histories they read.  The engine gives no meaning
 * to the offset of a state without a partition.
 */
typedef struct {
    fr_store_t base;
    fr_store_t *inner; /* borrowed */
    uint64_t stamp;    /* the next commit's */
    fr_store_put_t *puts;
    size_t cap;
} hist_store_t;

typedef struct {
    fr_store_rd_t base;
    fr_store_rd_t *inner;
} hist_rd_t;

static fr_store_rd_t *inner_rd(fr_store_rd_t *rd)
{
    return ((hist_rd_t *)rd)->inner;
}

static int h_rd_new(fr_store_t *s, fr_store_rd_t **out)
{
    hist_rd_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return FR_ENOMEM;
    int rc = fr_store_rd_new(((hist_store_t *)s)->inner, &rd->inner);
    if (rc) {
        free(rd);
        return rc;
    }
    rd->base.store = s;
    *out = &rd->base;
    return 0;
}

static int h_rd_begin(fr_store_rd_t *rd)
{
    return fr_store_rd_begin(inner_rd(rd));
}

static int h_get(fr_store_rd_t *rd, int view, const char *key, size_t klen, const void **val,
                 size_t *vlen, fr_store_stamp_t *stamp)
{
    return fr_store_get(inner_rd(rd), view, key, klen, val, vlen, stamp);
}

static int h_get_many(fr_store_rd_t *rd, fr_store_get_t *keys, size_t n)
{
    return fr_store_get_many(inner_rd(rd), keys, n);
}

static int h_pos_get(fr_store_rd_t *rd, int source, int32_t partition, fr_store_pos_t *out)
{
    (void)rd;
    (void)source;
    (void)partition;
    (void)out;
    return FR_ENOTFOUND; /* a history starts at its first record */
}

static void h_rd_end(fr_store_rd_t *rd)
{
    fr_store_rd_end(inner_rd(rd));
}

static void h_rd_free(fr_store_rd_t *rd)
{
    fr_store_rd_free(inner_rd(rd));
    free(rd);
}

static int h_commit(fr_store_t *s, const fr_store_put_t *puts, size_t nputs,
                    const fr_store_pos_t *pos, size_t npos, uint64_t epoch)
{
    hist_store_t *h = (hist_store_t *)s;
    (void)pos;
    (void)npos; /* positions of a history mean nothing to the live processor */
    if (!nputs)
        return 0;
    if (nputs > h->cap) {
        fr_store_put_t *p = realloc(h->puts, nputs * sizeof *p);
        if (!p)
            return FR_ENOMEM;
        h->puts = p;
        h->cap = nputs;
    }
    for (size_t i = 0; i < nputs; i++) {
        h->puts[i] = puts[i];
        h->puts[i].stamp.partition = -1;
        h->puts[i].stamp.next_offset = h->stamp;
    }
    h->stamp++;
    return fr_store_commit(h->inner, h->puts, nputs, NULL, 0, epoch);
}

static int h_entities(fr_store_t *s, int view, uint64_t *n)
{
    fr_store_t *in = ((hist_store_t *)s)->inner;
    if (!in->ops->entities) {
        *n = 1; /* unknown */
        return 0;
    }
    return in->ops->entities(in, view, n);
}

static int h_sync(fr_store_t *s)
{
    fr_store_t *in = ((hist_store_t *)s)->inner;
    return in->ops->sync ? in->ops->sync(in) : 0;
}

static void h_close(fr_store_t *s)
{
    (void)s; /* the inner store is the caller's */
}

/* No next_epoch: the engine keeps epoch 0 and fences no one. */
static const fr_store_ops_t hist_ops = {
    .kind = "backfill",
    .rd_new = h_rd_new,
    .rd_begin = h_rd_begin,
    .get = h_get,
    .get_many = h_get_many,
    .pos_get = h_pos_get,
    .rd_end = h_rd_end,
    .rd_free = h_rd_free,
    .commit = h_commit,
    .entities = h_entities,
    .sync = h_sync,
    .close = h_close,
};

/* ---- options -------------------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
    fputs("freshet backfill: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("; try `freshet backfill --help`\n", stderr);
    return 2;
}

static int set_kind(opts_t *o, hist_kind_t k)
{
    if (o->kind && o->kind != k)
        return -1;
    o->kind = k;
    return 0;
}

/* 0 ready; 1 --help was printed; 2 bad usage (said). */
static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"source", required_argument, NULL, 's'},
                                         {"jsonl", required_argument, NULL, 'j'},
                                         {"avro", required_argument, NULL, 'a'},
                                         {"from-kafka", required_argument, NULL, 'k'},
                                         {"views", required_argument, NULL, 'w'},
                                         {"fresh", no_argument, NULL, 'f'},
                                         {"force", no_argument, NULL, 'F'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *kafka_arg = NULL;
    optind = 0; /* full re-initialisation: the command may run more than once */
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:vhq", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 's': o->source = optarg; break;
        case 'j':
        case 'a':
            if (set_kind(o, ch == 'j' ? HIST_JSONL : HIST_AVRO))
                return usage_error("%s", "give one history: --jsonl, --avro or --from-kafka");
            o->paths[o->npaths++] = optarg;
            break;
        case 'k':
            if (set_kind(o, HIST_KAFKA) || kafka_arg)
                return usage_error("%s", "give one history: --jsonl, --avro or --from-kafka");
            kafka_arg = optarg;
            break;
        case 'w': o->views = optarg; break;
        case 'f': o->fresh = 1; break;
        case 'F': o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case 'v': o->verbose = 1; break;
        case 'h': fputs(usage_text, stdout); return 1;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o->kind != HIST_JSONL && o->kind != HIST_AVRO)
            return usage_error("unexpected argument '%s'", argv[i]);
        o->paths[o->npaths++] = argv[i]; /* --jsonl a b c: more files of that kind */
    }
    if (!o->config)
        return usage_error("%s", "-c FILE is required");
    if (!o->kind)
        return usage_error("%s", "say where the history is: --jsonl, --avro or --from-kafka");
    if (o->force && !o->fresh)
        return usage_error("%s", "--force goes with --fresh");
    for (size_t i = 0; i < o->npaths; i++)
        if (!o->paths[i][0])
            return usage_error("%s", "an empty file name");
    if (kafka_arg) {
        if (!strcmp(kafka_arg, "earliest")) {
            o->from_ms = -1;
        } else {
            char *end;
            errno = 0;
            long long v = strtoll(kafka_arg, &end, 10);
            if (errno || end == kafka_arg || *end || v < 0 || kafka_arg[0] == '+')
                return usage_error("--from-kafka wants 'earliest' or a time in epoch ms, not '%s'",
                                   kafka_arg);
            o->from_ms = v;
        }
    }
    if (o->verbose)
        fr_log_level = FR_LOG_DEBUG;
    return 0;
}

static void list_sources(const fr_config_t *cfg, char *out, size_t n)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t s = 0; s < cfg->nsources && at < n; s++) {
        int w = snprintf(out + at, n - at, "%s%s", s ? ", " : "", cfg->sources[s].name);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

/* The views to backfill into mask (all of src's without --views).  0, or 2
 * (said why). */
static int pick_views(const fr_config_t *cfg, int src, const char *list, uint8_t *mask,
                      size_t *nviews)
{
    *nviews = 0;
    if (!list) {
        for (size_t v = 0; v < cfg->nviews; v++)
            if (cfg->views[v].source == src) {
                mask[v] = 1;
                (*nviews)++;
            }
        if (!*nviews) {
            fprintf(stderr, "freshet backfill: source '%s' has no feature views: nothing to do\n",
                    cfg->sources[src].name);
            return 2;
        }
        return 0;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[FR_CONFIG_MAX_NAME + 1];
        if (len == 0 || len > FR_CONFIG_MAX_NAME) {
            fprintf(stderr,
                    "freshet backfill: --views wants view names separated by commas, "
                    "not '%s'\n",
                    list);
            return 2;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        int v = fr_config_view_index(cfg, name);
        if (v < 0) {
            fprintf(stderr, "freshet backfill: unknown view '%s'\n", name);
            return 2;
        }
        if (cfg->views[v].source != src) {
            fprintf(stderr, "freshet backfill: view '%s' reads source '%s', not '%s'\n", name,
                    cfg->sources[cfg->views[v].source].name, cfg->sources[src].name);
            return 2;
        }
        if (!mask[v])
            (*nviews)++;
        mask[v] = 1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* --fresh: 0 when every chosen view is empty; 1 (said why) otherwise. */
static int check_fresh(const fr_config_t *cfg, fr_store_t *store, const uint8_t *mask, int force)
{
    int redis = !strcmp(store->ops->kind, "redis");
    for (size_t v = 0; v < cfg->nviews; v++) {
        if (!mask[v])
            continue;
        uint64_t n = 1;
        int rc = store->ops->entities ? store->ops->entities(store, (int)v, &n) : 0;
        if (rc) {
            fprintf(stderr, "freshet backfill: cannot tell whether view '%s' is empty: %s\n",
                    cfg->views[v].name, fr_strerror(rc));
            return 1;
        }
        if (!n)
            continue;
        if (force && (redis || !store->ops->entities))
            continue; /* the store cannot tell: the user vouches for it */
        if (redis || !store->ops->entities)
            fprintf(stderr,
                    "freshet backfill: --fresh: the %s store cannot tell whether view '%s' is "
                    "empty (it holds keys); add --force if it is, or drop --fresh to recompute "
                    "the views over what is stored\n",
                    store->ops->kind, cfg->views[v].name);
        else
            fprintf(stderr,
                    "freshet backfill: --fresh: view '%s' already holds state (%" PRIu64
                    " entities); drop --fresh to recompute it from the history, replacing the "
                    "stored states of the entities the history holds\n",
                    cfg->views[v].name, n);
        return 1;
    }
    return 0;
}

/* ---- the history ------------------------------------------------------------------- */

/*
 * The history of source src as a bounded source, into *out.  Files put
 * their dead letters in the embedded log's queue (opened into *dlq, which
 * the caller closes after the source).  0, or an error with err filled.
 */
static int avro_lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    return fr_registry_schema(ctx, id, out);
}

static int open_history(const fr_config_t *cfg, int src, const opts_t *o, fr_elog_t **dlq,
                        fr_source_t **out, char *err, size_t errlen)
{
    if (o->kind == HIST_KAFKA) {
        /* a range of the source's topic: its refusals go to the topic's
         * dead-letter topic, as in live processing */
        *dlq = NULL;
        return fr_kafka_source_open_history(cfg, src, o->from_ms, out, err, errlen);
    }
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
    if (n < 0 || (size_t)n >= sizeof dir) {
        snprintf(err, errlen, "store.path is too long");
        return FR_EINVAL;
    }
    int rc = fr_elog_open(dir, cfg, dlq, err, errlen);
    if (rc)
        return rc;
    return fr_file_source_open(cfg, src, o->kind == HIST_JSONL ? FR_FILE_JSONL : FR_FILE_AVRO,
                               o->paths, o->npaths, *dlq, out, err, errlen);
}

typedef struct {
    uint64_t read, dead, entities;
    size_t broken_files;
} counts_t;

static void count(const opts_t *o, fr_engine_t *e, fr_source_t *hist, counts_t *c)
{
    fr_engine_stats_t st;
    fr_engine_stats(e, &st);
    memset(c, 0, sizeof *c);
    /* exact unless the views outgrew processor.cache_entities (backfilled
     * views over stored states are never evicted; over empty ones they may be) */
    c->entities = st.entities_cached;
    if (o->kind == HIST_JSONL || o->kind == HIST_AVRO) {
        fr_file_progress_t p;
        fr_file_source_progress(hist, &p);
        c->read = p.records; /* every dead letter, the processor's too, goes through it */
        c->dead = p.dead_letters;
        c->broken_files = p.broken_files;
    } else {
        c->read = st.records;
        c->dead = st.undecodable;
    }
}

static void progress(const opts_t *o, const char *name, fr_engine_t *e, fr_source_t *hist,
                     uint64_t t0_ns)
{
    counts_t c;
    count(o, e, hist, &c);
    double dt = (double)(fr_mono_ns() - t0_ns) / 1e9;
    double rate = dt > 0 ? (double)c.read / dt : 0;
    fprintf(stderr, "\r\033[Kbackfill %s: ", name);
    if (o->kind == HIST_JSONL) {
        fr_file_progress_t p;
        fr_file_source_progress(hist, &p);
        double pct = p.bytes_total ? 100.0 * (double)p.bytes_read / (double)p.bytes_total : 100;
        fprintf(stderr, "%5.1f%% of %.1f MB, ", pct > 100 ? 100 : pct, (double)p.bytes_total / 1e6);
    } else if (o->kind == HIST_AVRO) {
        fr_file_progress_t p;
        fr_file_source_progress(hist, &p);
        fprintf(stderr, "file %zu of %zu, ", p.file < p.nfiles ? p.file + 1 : p.nfiles, p.nfiles);
    }
    fprintf(stderr, "%" PRIu64 " records (%.0f/s), %" PRIu64 " dead letters", c.read, rate, c.dead);
}

static void nap(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* A failure that retrying cannot mend. */
static int final_error(int rc)
{
    return rc == FR_ENOMEM || rc == FR_ECONFLICT;
}

int fr_backfill_main(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    o.paths = calloc((size_t)argc + 1, sizeof *o.paths);
    if (!o.paths) {
        fputs("freshet backfill: out of memory\n", stderr);
        return 1;
    }
    int ret = parse_opts(argc, argv, &o);
    if (ret) {
        free(o.paths);
        return ret == 1 ? 0 : 2;
    }
    ret = 1;
    char err[1024] = "";
    fr_config_t *cfg = NULL;
    fr_store_t *store = NULL;
    fr_elog_t *dlq = NULL;
    fr_source_t *hist = NULL;
    fr_engine_t *e = NULL;
    fr_registry_t *reg = NULL;
    fr_source_t *sources[FR_CONFIG_MAX_SOURCES] = {0};
    uint8_t mask[FR_CONFIG_MAX_VIEWS] = {0};
    hist_store_t hs = {0};
    struct sigaction sa, old_int, old_term;
    int signals = 0;

    int rc = fr_config_load(o.config, &cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    int src = -1;
    char names[512];
    list_sources(cfg, names, sizeof names);
    if (o.source) {
        src = fr_config_source_index(cfg, o.source);
        if (src < 0) {
            fprintf(stderr, "freshet backfill: unknown source '%s' (the configuration has: %s)\n",
                    o.source, names);
            ret = 2;
            goto out;
        }
    } else if (cfg->nsources == 1) {
        src = 0;
    } else {
        fprintf(stderr, "freshet backfill: --source NAME is required (the configuration has: %s)\n",
                names);
        ret = 2;
        goto out;
    }
    const fr_source_spec_t *spec = &cfg->sources[src];
    size_t nviews;
    ret = pick_views(cfg, src, o.views, mask, &nviews);
    if (ret)
        goto out;
    ret = 1;
    if (o.kind == HIST_JSONL && spec->format != FR_FORMAT_JSON) {
        fprintf(stderr,
                "freshet backfill: source '%s' reads Avro: give its history as --avro "
                "container files\n",
                spec->name);
        ret = 2;
        goto out;
    }
    if (o.kind == HIST_KAFKA && !spec->kafka.enabled) {
        fprintf(stderr,
                "freshet backfill: source '%s' has no kafka block: --from-kafka reads "
                "a source's topic\n",
                spec->name);
        ret = 2;
        goto out;
    }

    rc = fr_store_open(cfg, &store, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet backfill: %s\n", err);
        goto out;
    }
    if (o.fresh && check_fresh(cfg, store, mask, o.force))
        goto out;
    rc = open_history(cfg, src, &o, &dlq, &hist, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet backfill: %s\n", err);
        goto out;
    }
    hs = (hist_store_t){.base = {.ops = &hist_ops, .cfg = cfg},
                        .inner = store,
                        .stamp = (uint64_t)fr_now_ms() << 16};
    sources[src] = hist;
    rc = fr_engine_new(cfg, &hs.base, sources, NULL, NULL, &e, err, sizeof err);
    /* the engine owns the history now (hist stays a borrowed pointer), or
     * it failed and closed it, or failed before taking it */
    fr_source_close(sources[src]);
    sources[src] = NULL;
    if (rc)
        hist = NULL;
    if (!rc && spec->format == FR_FORMAT_AVRO && o.kind == HIST_KAFKA) {
        /* Avro messages: writer schemas from the registry */
        rc = fr_registry_open(cfg, &reg, err, sizeof err);
        if (!rc)
            fr_engine_set_avro_lookup(e, avro_lookup, reg);
    }
    if (!rc)
        rc = fr_engine_set_backfill(e, mask);
    if (!rc)
        fr_engine_set_autocommit(e, 0); /* commits every COMMIT_NS, below */
    if (rc) {
        fprintf(stderr, "freshet backfill: %s\n", err[0] ? err : fr_strerror(rc));
        goto out;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signals = 1;

    int show = !o.quiet && isatty(STDERR_FILENO);
    uint64_t t0 = fr_mono_ns(), shown = 0, committed = t0;
    int failures = 0, interrupted = 0;
    const char *what = "processing";
    for (;;) {
        if (g_stop) {
            interrupted = 1;
            break;
        }
        rc = fr_engine_step(e, 0, NULL);
        if (!rc && fr_mono_ns() - committed >= COMMIT_NS) {
            rc = fr_engine_commit(e);
            committed = fr_mono_ns();
        }
        if (rc) {
            if (o.kind != HIST_KAFKA && fr_file_source_error(hist, err, sizeof err)) {
                what = NULL; /* err says it */
                break;
            }
            if (final_error(rc) || ++failures > MAX_FAILURES)
                break;
            if (failures == 1)
                fr_warn("backfill: %s; retrying", fr_strerror(rc));
            nap(RETRY_NS);
            continue;
        }
        failures = 0;
        if (hist->ops->at_end(hist))
            break;
        if (show && fr_mono_ns() - shown >= PROGRESS_NS) {
            progress(&o, spec->name, e, hist, t0);
            shown = fr_mono_ns();
        }
    }
    if (show)
        fputs("\r\033[K", stderr);
    if (rc) {
        fprintf(stderr, "freshet backfill: %s%s%s\n", what ? what : "", what ? " failed: " : "",
                what ? fr_strerror(rc) : err);
        fprintf(stderr, "freshet backfill: the views may hold part of the history: run the "
                        "backfill again\n");
        goto out;
    }
    /* what is pending, even after an interruption: the store then holds
     * the part read so far, which the message below says */
    for (int i = 0;; i++) {
        rc = fr_engine_commit(e);
        if (!rc || final_error(rc) || i == 50)
            break;
        nap(RETRY_NS);
    }
    if (rc) {
        fprintf(stderr,
                "freshet backfill: the last commit failed: %s; the views may hold part "
                "of the history: run the backfill again\n",
                fr_strerror(rc));
        goto out;
    }
    counts_t c;
    count(&o, e, hist, &c);
    double secs = (double)(fr_mono_ns() - t0) / 1e9;
    if (interrupted) {
        fprintf(stderr,
                "freshet backfill: interrupted after %" PRIu64 " records; the views "
                "hold part of the history: run the backfill again\n",
                c.read);
        goto out;
    }
    printf("backfill %s: %" PRIu64 " records read, %" PRIu64 " applied, %" PRIu64
           " dead-lettered, %" PRIu64 " entity states written to %zu view%s in %.3f s\n",
           spec->name, c.read, c.read - c.dead, c.dead, c.entities, nviews, nviews == 1 ? "" : "s",
           secs);
    if (c.broken_files) {
        fprintf(stderr,
                "freshet backfill: %zu Avro file%s could not be read to the end: the "
                "rest of each is one malformed_avro dead letter\n",
                c.broken_files, c.broken_files == 1 ? "" : "s");
        goto out;
    }
    ret = 0;
out:
    fr_engine_free(e); /* closes the history */
    fr_registry_close(reg);
    free(hs.puts);
    fr_elog_close(dlq);
    fr_store_close(store);
    fr_config_free(cfg);
    if (signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    free(o.paths);
    return ret;
}
