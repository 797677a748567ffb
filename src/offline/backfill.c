/*
 * backfill.c - `freshet backfill` (see backfill.h).
 *
 * The history (offline/history.h: files, or a range of the source's Kafka
 * topic, decoded and admitted as the processor does) is replayed through
 * agg/ into fresh states of the chosen views, all kept in memory; every
 * COMMIT_NS and at the end the states changed since are written to the
 * online store.  No position is read or written, and no fencing epoch is
 * taken: the live processor carries on from where it was, on top of the
 * backfilled states.
 *
 * States are written with a stamp of their own: no partition, and an
 * offset that grows with every commit of every backfill (the start time in
 * ms << 16, plus the commit's number).  A store that skips a state whose
 * stamp is not newer than the stored one (Redis, so that a replayed commit
 * changes nothing) then never skips a backfill's write over an earlier
 * backfill's, whatever histories they read.  The processor gives no
 * meaning to the offset of a state without a partition.
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
#include "agg/agg.h"
#include "core/map.h"
#include "event/event.h"
#include "offline/history.h"
#include "event/registry.h"
#include "source/elog.h"
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
    "  Exit status: 0 done; 1 failed, or an Avro file could not be read to its\n"
    "  end; 2 bad usage.\n";

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

/* ---- options -------------------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
    fputs("freshet backfill: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
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
    while ((ch = getopt_long(argc, argv, "c:vhq", opts, NULL)) != -1) {
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
        default: fputs(usage_text, stderr); return 2;
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

/* ---- the replay -------------------------------------------------------------------- */

/* Puts written per store commit, at most (a large backfill commits in parts). */
#define MAX_PUTS 100000

typedef struct {
    const fr_config_t *cfg;
    int src;
    const uint8_t *mask;
    fr_map_t *maps;       /* per view (chosen ones): key -> fr_agg_state_t; flags 1 = dirty */
    fr_store_t *store;
    uint64_t stamp;       /* the next commit's */
    fr_buf_t enc;
    fr_store_put_t *puts;
    uint64_t entities;    /* states written (distinct entities of the chosen views) */
} bf_t;

static int bf_apply(bf_t *b, const fr_hist_ev_t *ev)
{
    for (size_t v = 0; v < b->cfg->nviews; v++) {
        const fr_view_spec_t *vw = &b->cfg->views[v];
        if (!b->mask[v] || vw->source != ev->source || !fr_filter_match(&vw->filter, ev->vals))
            continue;
        char tmp[32];
        const char *key;
        int kl = fr_entity_key(&ev->vals[vw->entity], tmp, &key);
        if (kl <= 0)
            continue;
        uint64_t hash = fr_map_hash(key, (size_t)kl);
        fr_map_slot_t *sl = fr_map_find(&b->maps[v], key, (size_t)kl, hash);
        if (!sl) {
            fr_agg_state_t *st = fr_agg_state_new(&vw->plan);
            if (!st)
                return FR_ENOMEM;
            sl = fr_map_insert(&b->maps[v], key, (size_t)kl, hash, st);
            if (!sl) {
                fr_agg_state_free(st);
                return FR_ENOMEM;
            }
            b->entities++;
        }
        int rc = fr_agg_state_apply(sl->value, &vw->plan, ev->ts, ev->offset, ev->vals);
        if (rc)
            return rc;
        sl->flags = 1;
    }
    return 0;
}

static int bf_flush_puts(bf_t *b, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        b->puts[i].stamp = (fr_store_stamp_t){.partition = -1, .next_offset = b->stamp};
    /* values were appended to enc; point them there now that it moves no more */
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        b->puts[i].val = b->enc.p + at;
        at += b->puts[i].vlen;
    }
    int rc = fr_store_commit(b->store, b->puts, n, NULL, 0, 0);
    if (!rc)
        b->stamp++;
    return rc;
}

/* Writes every state changed since the last commit.  0 or a store error
 * (the states stay dirty: the next commit writes them again). */
static int bf_commit(bf_t *b)
{
    size_t n = 0;
    fr_buf_reset(&b->enc);
    for (size_t v = 0; v < b->cfg->nviews; v++) {
        if (!b->mask[v])
            continue;
        fr_map_t *m = &b->maps[v];
        for (size_t i = 0; i < m->cap; i++) {
            fr_map_slot_t *sl = &m->slots[i];
            if (!sl->hash || !sl->flags)
                continue;
            size_t before = b->enc.len;
            int rc = fr_agg_state_encode(sl->value, &b->cfg->views[v].plan, &b->enc);
            if (rc)
                return rc;
            b->puts[n] = (fr_store_put_t){.view = (int)v,
                                          .key = fr_map_key(sl),
                                          .klen = sl->klen,
                                          .vlen = b->enc.len - before};
            if (++n == MAX_PUTS) {
                rc = bf_flush_puts(b, n);
                if (rc)
                    return rc;
                n = 0;
                fr_buf_reset(&b->enc);
            }
        }
    }
    int rc = bf_flush_puts(b, n);
    if (rc)
        return rc;
    for (size_t v = 0; v < b->cfg->nviews; v++)
        if (b->mask[v])
            for (size_t i = 0; i < b->maps[v].cap; i++)
                b->maps[v].slots[i].flags = 0;
    if (b->store->ops->sync)
        rc = b->store->ops->sync(b->store);
    return rc;
}

static void bf_destroy(bf_t *b)
{
    for (size_t v = 0; b->maps && v < b->cfg->nviews; v++) {
        fr_map_t *m = &b->maps[v];
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].hash)
                fr_agg_state_free(m->slots[i].value);
        fr_map_destroy(m);
    }
    free(b->maps);
    free(b->puts);
    fr_buf_destroy(&b->enc);
}

static int avro_lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    return fr_registry_schema(ctx, id, out);
}

static void progress(const opts_t *o, const char *name, fr_history_t *h, uint64_t t0_ns)
{
    fr_hist_stats_t st;
    fr_history_stats(h, &st);
    double dt = (double)(fr_mono_ns() - t0_ns) / 1e9;
    double rate = dt > 0 ? (double)st.read / dt : 0;
    fprintf(stderr, "\r\033[Kbackfill %s: ", name);
    if (o->kind == HIST_JSONL) {
        double pct = st.bytes_total ? 100.0 * (double)st.bytes_read / (double)st.bytes_total : 100;
        fprintf(stderr, "%5.1f%% of %.1f MB, ", pct > 100 ? 100 : pct,
                (double)st.bytes_total / 1e6);
    } else if (o->kind == HIST_AVRO) {
        fprintf(stderr, "file %zu of %zu, ", st.file < st.nfiles ? st.file + 1 : st.nfiles,
                st.nfiles);
    }
    fprintf(stderr, "%" PRIu64 " records (%.0f/s), %" PRIu64 " dead letters", st.read, rate,
            st.refused);
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
    fr_history_t *hist = NULL;
    fr_registry_t *reg = NULL;
    fr_hist_input_t *in = NULL;
    uint8_t mask[FR_CONFIG_MAX_VIEWS] = {0};
    bf_t bf = {0};
    fr_buf_init(&bf.enc, (size_t)1 << 34);
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
    in = calloc(cfg->nsources, sizeof *in);
    bf.maps = calloc(cfg->nviews ? cfg->nviews : 1, sizeof *bf.maps);
    bf.puts = calloc(MAX_PUTS, sizeof *bf.puts);
    if (!in || !bf.maps || !bf.puts) {
        fputs("freshet backfill: out of memory\n", stderr);
        goto out;
    }
    for (size_t v = 0; v < cfg->nviews; v++)
        fr_map_init(&bf.maps[v]);
    bf.cfg = cfg;
    bf.src = src;
    bf.mask = mask;
    bf.store = store;
    bf.stamp = (uint64_t)fr_now_ms() << 16;
    if (o.kind == HIST_KAFKA) {
        /* a range of the source's topic: its refusals were dead-lettered by
         * live processing already, so they are counted only */
        in[src] = (fr_hist_input_t){.kind = FR_HIST_KAFKA, .from_ms = o.from_ms};
        if (spec->format == FR_FORMAT_AVRO) {
            rc = fr_registry_open(cfg, &reg, err, sizeof err);
            if (rc) {
                fprintf(stderr, "freshet backfill: %s\n", err);
                goto out;
            }
        }
    } else {
        char dir[4096];
        int n = snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
        if (n < 0 || (size_t)n >= sizeof dir) {
            fputs("freshet backfill: store.path is too long\n", stderr);
            goto out;
        }
        rc = fr_elog_open(dir, cfg, &dlq, err, sizeof err);
        if (rc) {
            fprintf(stderr, "freshet backfill: %s\n", err);
            goto out;
        }
        in[src] = (fr_hist_input_t){.kind = o.kind == HIST_JSONL ? FR_HIST_JSONL : FR_HIST_AVRO,
                                    .paths = o.paths,
                                    .npaths = o.npaths};
    }
    fr_hist_opts_t ho = {.inputs = in,
                         .dlq = dlq,
                         .avro_lookup = reg ? avro_lookup : NULL,
                         .avro_ctx = reg,
                         .now_ms = fr_now_ms()};
    rc = fr_history_open(cfg, &ho, &hist, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet backfill: %s\n", err);
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
        fr_hist_ev_t ev;
        rc = fr_history_next(hist, &ev);
        if (rc == FR_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (!rc)
            rc = bf_apply(&bf, &ev);
        if (!rc && fr_mono_ns() - committed >= COMMIT_NS) {
            rc = bf_commit(&bf);
            committed = fr_mono_ns();
        }
        if (rc) {
            if (fr_history_error(hist)[0]) {
                snprintf(err, sizeof err, "%s", fr_history_error(hist));
                what = NULL; /* err says it */
                break;
            }
            if (final_error(rc) || ++failures > MAX_FAILURES)
                break;
            if (failures == 1 && rc != FR_EUNAVAIL)
                fr_warn("backfill: %s; retrying", fr_strerror(rc));
            nap(RETRY_NS);
            continue;
        }
        failures = 0;
        if (show && fr_mono_ns() - shown >= PROGRESS_NS) {
            progress(&o, spec->name, hist, t0);
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
        rc = bf_commit(&bf);
        if (!rc)
            rc = fr_history_flush(hist);
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
    fr_hist_stats_t c;
    fr_history_stats(hist, &c);
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
           spec->name, c.read, c.read - c.refused, c.refused, bf.entities, nviews,
           nviews == 1 ? "" : "s", secs);
    if (c.broken_files) {
        fprintf(stderr,
                "freshet backfill: %zu Avro file%s could not be read to the end: the "
                "rest of each is one malformed_avro dead letter\n",
                c.broken_files, c.broken_files == 1 ? "" : "s");
        goto out;
    }
    ret = 0;
out:
    fr_history_close(hist);
    bf_destroy(&bf);
    free(in);
    fr_registry_close(reg);
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
