/*
 * training_set.c - `freshet training-set`: writes a point-in-time training
 * set (offline/trainset.h) and prints a one-line JSON summary.
 *
 * Each source the set reads takes its history from: files given with
 * --jsonl/--avro SOURCE=PATH, else its Kafka topic (a source with a kafka
 * block; from --from-kafka, the earliest retained by default), else the
 * embedded log under store.path.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "core/log.h"
#include "event/registry.h"
#include "offline/trainset.h"
#include "source/elog.h"

static const char usage_text[] =
    "usage: freshet training-set -c FILE --set NAME -o OUT [--spine FILE.csv|FILE.ndjson]\n"
    "                            [--from MS] [--to MS] [--cutoff MS] [--format csv|ndjson]\n"
    "                            [--from-kafka earliest|MS] [--jsonl SOURCE=PATH]...\n"
    "                            [--avro SOURCE=PATH]... [--quiet] [-v]\n"
    "  Writes a point-in-time training set: one row per spine row with its entity\n"
    "  keys, ts, features as of that point, on-demand features and label.\n"
    "  -c FILE           the configuration (training_sets, views, sources, store)\n"
    "  --set NAME        the training set (training_sets: in the configuration)\n"
    "  -o OUT            where the table goes ('-': standard output)\n"
    "  --spine FILE      rows from a CSV (header row) or NDJSON file instead of the\n"
    "                    configured spine source: each view's entity column, `ts`\n"
    "                    (epoch ms), the label key, and columns passed through;\n"
    "                    features are then taken at event time (ts <= t)\n"
    "  --from MS, --to MS  a source spine's rows: only events with from <= ts < to\n"
    "  --cutoff MS       rows are kept only when t + label horizon (or window) <= MS\n"
    "                    (default: the newest event time of the label source)\n"
    "  --format F        csv (default, or from OUT's extension) or ndjson\n"
    "  --from-kafka earliest|MS\n"
    "                    Kafka sources' topics from their start (default) or a time\n"
    "  --jsonl SOURCE=PATH, --avro SOURCE=PATH\n"
    "                    a source's history from files (repeat for more files, read in\n"
    "                    the order given)\n"
    "  --quiet           no progress line (there is one only when stderr is a terminal)\n"
    "  -v                debug logging\n"
    "  Sources without files read their Kafka topic (a kafka block) or the embedded\n"
    "  log under store.path.  The summary is one JSON line on standard output (on\n"
    "  standard error when OUT is '-'): rows, immature, label_rate, seconds, ...\n"
    "  Example:\n"
    "    freshet training-set -c examples/fraud/freshet.yaml --set fraud -o fraud.csv\n"
    "  Exit status: 0 written; 1 failed; 2 bad usage.\n";

typedef struct {
    const char *config, *set, *out, *spine, *format;
    int has_from, has_to, has_cutoff;
    int64_t from, to, cutoff;
    fr_cli_hist_t hist;
    int quiet, verbose;
} opts_t;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("freshet training-set: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(see freshet training-set --help)\n", stderr);
    return 2;
}

static int parse_ms(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || s[0] == '+')
        return -1;
    *out = v;
    return 0;
}

/* 0 ready; 1 --help printed; 2 bad usage (said). */
static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 's'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"spine", required_argument, NULL, 'S'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"cutoff", required_argument, NULL, 'C'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"from-kafka", required_argument, NULL, 'k'},
                                         {"jsonl", required_argument, NULL, 'j'},
                                         {"avro", required_argument, NULL, 'a'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:o:s:vhq", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 's': o->set = optarg; break;
        case 'o': o->out = optarg; break;
        case 'S': o->spine = optarg; break;
        case 'F': o->format = optarg; break;
        case 'f':
            if (parse_ms(optarg, &o->from))
                return usage_error("--from wants a time in epoch ms, not '%s'", optarg);
            o->has_from = 1;
            break;
        case 't':
            if (parse_ms(optarg, &o->to))
                return usage_error("--to wants a time in epoch ms, not '%s'", optarg);
            o->has_to = 1;
            break;
        case 'C':
            if (parse_ms(optarg, &o->cutoff))
                return usage_error("--cutoff wants a time in epoch ms, not '%s'", optarg);
            o->has_cutoff = 1;
            break;
        case 'k':
        case 'j':
        case 'a':
            if (fr_cli_hist_opt(&o->hist, "training-set", ch, optarg))
                return 2;
            break;
        case 'q': o->quiet = 1; break;
        case 'v': o->verbose = 1; break;
        case 'h': fputs(usage_text, stdout); return 1;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->config)
        return usage_error("%s", "-c FILE is required");
    if (!o->set)
        return usage_error("%s", "--set NAME is required");
    if (!o->out)
        return usage_error("%s", "-o OUT is required ('-' for standard output)");
    if (o->format && strcmp(o->format, "csv") && strcmp(o->format, "ndjson"))
        return usage_error("--format wants csv or ndjson, not '%s'", o->format);
    if (o->spine && (o->has_from || o->has_to))
        return usage_error("%s", "--from and --to select a source spine's rows; a spine file "
                                 "holds its rows already");
    if (o->has_from && o->has_to && o->from >= o->to)
        return usage_error("%s", "--from must be before --to");
    if (o->verbose)
        fr_log_level = FR_LOG_DEBUG;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

typedef struct {
    int show;
    uint64_t t0, shown;
    const char *set;
} progress_t;

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t rows)
{
    progress_t *p = ctx;
    if (!p->show || fr_mono_ns() - p->shown < 100000000ull)
        return;
    p->shown = fr_mono_ns();
    double dt = (double)(p->shown - p->t0) / 1e9;
    fprintf(stderr, "\r\033[Ktraining-set %s: %s: ", p->set, phase);
    if (total)
        fprintf(stderr, "%5.1f%% of %" PRIu64 " events", 100.0 * (double)done / (double)total,
                total);
    else
        fprintf(stderr, "%" PRIu64 " events", done);
    fprintf(stderr, ", %" PRIu64 " rows (%.0f/s)", rows, dt > 0 ? (double)rows / dt : 0.0);
}

int fr_cli_training_set(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    if (fr_cli_hist_init(&o.hist, argc)) {
        fputs("freshet training-set: out of memory\n", stderr);
        return 1;
    }
    int ret = parse_opts(argc, argv, &o);
    if (ret) {
        fr_cli_hist_close(&o.hist);
        return ret == 1 ? 0 : 2;
    }
    ret = 1;
    char err[1024] = "";
    fr_config_t *cfg = NULL;
    uint8_t *need = NULL;
    FILE *out = NULL;
    int rc = fr_config_load(o.config, &cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    int ts = fr_config_tset_index(cfg, o.set);
    if (ts < 0) {
        fprintf(stderr, "freshet training-set: unknown training set '%s'", o.set);
        for (size_t i = 0; i < cfg->ntsets; i++)
            fprintf(stderr, "%s%s", i ? ", " : " (the configuration has: ", cfg->tsets[i].name);
        fprintf(stderr, "%s\n", cfg->ntsets ? ")" : " (the configuration has none)");
        ret = 2;
        goto done;
    }
    const fr_tset_spec_t *spec = &cfg->tsets[ts];
    if (!o.spine && spec->spine < 0) {
        fprintf(stderr, "freshet training-set: training set '%s' has no spine source: give "
                        "--spine FILE\n",
                spec->name);
        ret = 2;
        goto done;
    }
    need = calloc(cfg->nsources ? cfg->nsources : 1, 1);
    if (!need) {
        fputs("freshet training-set: out of memory\n", stderr);
        goto done;
    }
    fr_tset_sources(cfg, ts, o.spine != NULL, need);
    if (spec->label.kind == FR_LABEL_JOIN)
        need[spec->label.source] = 1;
    ret = fr_cli_hist_open(&o.hist, cfg, need, "training-set", o.config);
    if (ret)
        goto done;
    ret = 1;
    fr_tset_format_t fmt = FR_TSET_CSV;
    if (o.format ? !strcmp(o.format, "ndjson")
                 : ends_with(o.out, ".ndjson") || ends_with(o.out, ".jsonl") ||
                       ends_with(o.out, ".json"))
        fmt = FR_TSET_NDJSON;
    int to_stdout = !strcmp(o.out, "-");
    out = to_stdout ? stdout : fopen(o.out, "wb");
    if (!out) {
        fprintf(stderr, "freshet training-set: %s: %s\n", o.out, strerror(errno));
        goto done;
    }
    progress_t pr = {.show = !o.quiet && isatty(STDERR_FILENO), .t0 = fr_mono_ns(),
                     .set = spec->name};
    fr_tset_opts_t to = {.tset = ts,
                         .spine_path = o.spine,
                         .has_from = o.has_from,
                         .has_to = o.has_to,
                         .from_ms = o.from,
                         .to_ms = o.to,
                         .has_cutoff = o.has_cutoff,
                         .cutoff_ms = o.cutoff,
                         .format = fmt,
                         .out = out,
                         .warn = stderr,
                         .inputs = o.hist.in,
                         .log = o.hist.log,
                         .avro_lookup = o.hist.avro_lookup,
                         .avro_ctx = o.hist.reg,
                         .now_ms = fr_now_ms(),
                         .progress = on_progress,
                         .progress_ctx = &pr};
    fr_tset_summary_t sum;
    rc = fr_tset_build(cfg, &to, &sum, err, sizeof err);
    if (pr.show)
        fputs("\r\033[K", stderr);
    if (!to_stdout) {
        if (fclose(out) && !rc) {
            snprintf(err, sizeof err, "%s: %s", o.out, strerror(errno));
            rc = FR_EIO;
        }
        out = NULL;
    }
    if (rc) {
        fprintf(stderr, "freshet training-set: %s\n", err[0] ? err : fr_strerror(rc));
        goto done;
    }
    if (sum.inexact)
        fprintf(stderr,
                "freshet training-set: warning: %" PRIu64 " values needed events no longer "
                "retained; please report this\n",
                sum.inexact);
    double secs = (double)(fr_mono_ns() - pr.t0) / 1e9;
    fr_buf_t b;
    fr_buf_init(&b, 1 << 16);
    fr_buf_addstr(&b, "{\"set\":");
    fr_jw_cstr(&b, spec->name);
    fr_buf_printf(&b, ",\"rows\":%" PRIu64 ",\"immature\":%" PRIu64 ",\"label_rate\":", sum.rows,
                  sum.immature);
    if (sum.labelled)
        fr_jw_double(&b, sum.label_sum / (double)sum.labelled);
    else
        fr_buf_addstr(&b, "null");
    fr_buf_printf(&b,
                  ",\"seconds\":%.3f,\"events\":%" PRIu64 ",\"refused\":%" PRIu64
                  ",\"recomputed\":%" PRIu64,
                  secs, sum.events, sum.refused, sum.recomputed);
    if (o.spine)
        fr_buf_printf(&b, ",\"bad_rows\":%" PRIu64, sum.bad_rows);
    if (sum.cutoff_ms != INT64_MIN)
        fr_buf_printf(&b, ",\"cutoff\":%" PRId64, sum.cutoff_ms);
    fr_buf_addstr(&b, ",\"format\":");
    fr_jw_cstr(&b, fmt == FR_TSET_CSV ? "csv" : "ndjson");
    fr_buf_addstr(&b, ",\"output\":");
    fr_jw_cstr(&b, o.out);
    fr_buf_addstr(&b, "}\n");
    fputs(b.p ? b.p : "", to_stdout ? stderr : stdout);
    fr_buf_destroy(&b);
    ret = 0;
done:
    if (out && out != stdout)
        fclose(out);
    fr_cli_hist_close(&o.hist);
    fr_config_free(cfg);
    free(need);
    return ret;
}
