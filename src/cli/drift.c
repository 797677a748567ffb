/*
 * drift.c - `freshet drift`: how far a model version's served inputs and
 * scores, as the score log kept them, have moved from its training rows
 * (DESIGN §2c), over a period (default: the last drift.window).  The same
 * bins, PSI and JS distance as GET /v1/drift, from every replica's scores.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "model/drift.h"
#include "model/modelreg.h"
#include "model/scorelog.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: freshet drift -c FILE --model NAME[@VERSION|@ALIAS] [--from MS] [--to MS]\n"
    "  PSI and Jensen-Shannon distance of each input and of the score, between the\n"
    "  version's training rows and the vectors it served in [from, to) (from the\n"
    "  score log; default: the last drift.window), with ok/warn/alert at\n"
    "  drift.psi_warn and drift.psi_alert.  One JSON object on stdout, as GET\n"
    "  /v1/drift/{model} answers.\n"
    "  Example:\n"
    "    freshet drift -c examples/fraud/freshet.yaml --model fraud\n"
    "  Exit status: 0 done; 1 failed; 2 bad usage.\n";

typedef struct {
    const fr_drift_ref_t *ref;
    uint32_t version;
    int64_t from, to;
    uint64_t *counts;
    float *x;
    size_t ninputs;
    uint64_t n, skipped;
} scan_t;

static int on_line(void *ctx, const char *line, size_t len)
{
    scan_t *s = ctx;
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    json_t *t = j ? json_object_get(j, "t") : NULL, *v = j ? json_object_get(j, "version") : NULL;
    json_t *in = j ? json_object_get(j, "inputs") : NULL, *sc = j ? json_object_get(j, "score") : NULL;
    if (!json_is_integer(t) || !json_is_integer(v) || !json_is_array(in) || !json_is_number(sc) ||
        json_array_size(in) != s->ninputs) {
        s->skipped++;
        json_decref(j);
        return 0;
    }
    int64_t ts = json_integer_value(t);
    if (ts >= s->from && ts < s->to && (uint32_t)json_integer_value(v) == s->version) {
        for (size_t i = 0; i < s->ninputs; i++) {
            json_t *x = json_array_get(in, i);
            s->x[i] = json_is_number(x) ? (float)json_number_value(x)
                      : json_is_true(x) ? 1.0f
                      : json_is_false(x) ? 0.0f
                                         : NAN;
        }
        fr_drift_ref_add(s->ref, s->counts, s->x, (float)json_number_value(sc));
        s->n++;
    }
    json_decref(j);
    return 0;
}

static void put_stat(fr_buf_t *b, const fr_drift_stat_t *st)
{
    fr_buf_addstr(b, "{\"psi\":");
    if (isfinite(st->psi))
        fr_jw_double(b, st->psi);
    else
        fr_buf_addstr(b, "null");
    fr_buf_addstr(b, ",\"js\":");
    if (isfinite(st->js))
        fr_jw_double(b, st->js);
    else
        fr_buf_addstr(b, "null");
    fr_buf_printf(b, ",\"count\":%" PRIu64 ",\"status\":\"%s\"}", st->count,
                  fr_drift_status_name(st->status));
}

int fr_cli_drift(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *spec = NULL;
    int64_t from = INT64_MIN, to = INT64_MIN;
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'm': spec = optarg; break;
        case 'f':
        case 't': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0) {
                fprintf(stderr, "freshet drift: --%s wants a time in epoch ms, not '%s'; try "
                                "`freshet drift --help`\n",
                        ch == 'f' ? "from" : "to", optarg);
                return 2;
            }
            if (ch == 'f')
                from = v;
            else
                to = v;
            break;
        }
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            fprintf(stderr, "freshet drift: %s '%s'; try `freshet drift --help`\n",
                    ch == ':' ? "a value is needed after" : "unknown option", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc || !config || !spec) {
        fprintf(stderr, "freshet drift: %s; try `freshet drift --help`\n",
                optind < argc ? "unexpected argument" : !config ? "-c FILE is required"
                                                                : "--model NAME is required");
        return 2;
    }
    char err[1024];
    fr_config_t *cfg = NULL;
    fr_store_t *st = NULL;
    fr_model_version_t *v = NULL;
    fr_drift_ref_t *ref = NULL;
    scan_t sc = {0};
    fr_drift_stat_t *stats = NULL;
    int ret = 1;
    if (fr_config_load(config, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (to == INT64_MIN)
        to = fr_now_ms() + 1;
    if (from == INT64_MIN)
        from = to - cfg->drift.window_ms;
    if (fr_store_open(cfg, &st, err, sizeof err)) {
        fprintf(stderr, "freshet drift: %s\n", err);
        goto done;
    }
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version;
    int rc = fr_modelreg_resolve(st, spec, name, &version);
    if (!rc)
        rc = fr_modelreg_get(st, name, version, 0, &v);
    if (rc) {
        fprintf(stderr, "freshet drift: %s: %s\n", spec,
                rc == FR_ENOTFOUND ? "no such model, version or alias" : fr_strerror(rc));
        goto done;
    }
    if (!v->ref_len || fr_drift_ref_decode(v->ref, v->ref_len, &ref) ||
        fr_drift_ref_columns(ref) != v->ninputs + 1) {
        fprintf(stderr, "freshet drift: %s@%u has no usable drift reference\n", name, version);
        goto done;
    }
    sc = (scan_t){.ref = ref, .version = version, .from = from, .to = to,
                  .ninputs = v->ninputs};
    sc.counts = calloc(fr_drift_ref_bins(ref), sizeof *sc.counts);
    sc.x = calloc(v->ninputs ? v->ninputs : 1, sizeof *sc.x);
    stats = calloc(v->ninputs + 1, sizeof *stats);
    if (!sc.counts || !sc.x || !stats)
        goto done;
    rc = fr_scorelog_scan(st, name, from, to, on_line, &sc);
    if (rc) {
        fprintf(stderr, "freshet drift: reading the score log: %s\n", fr_strerror(rc));
        goto done;
    }
    fr_drift_thresholds_t th = {cfg->drift.psi_warn, cfg->drift.psi_alert};
    for (size_t c = 0; c <= v->ninputs; c++)
        fr_drift_compare(ref, c, sc.counts, &th, &stats[c]);
    fr_buf_t b;
    fr_buf_init(&b, (size_t)16 << 20);
    fr_buf_addstr(&b, "{\"model\":");
    fr_jw_cstr(&b, name);
    fr_buf_printf(&b, ",\"version\":%u,\"from\":%" PRId64 ",\"to\":%" PRId64
                      ",\"window_ms\":%" PRId64 ",\"count\":%" PRIu64 ",\"inputs\":{",
                  version, from, to, to - from, sc.n);
    for (size_t i = 0; i < v->ninputs; i++) {
        if (i)
            fr_buf_addc(&b, ',');
        fr_jw_key(&b, v->inputs[i].name);
        put_stat(&b, &stats[i]);
    }
    fr_buf_addstr(&b, "},\"score\":");
    put_stat(&b, &stats[v->ninputs]);
    fr_buf_addstr(&b, "}\n");
    fputs(b.p, stdout);
    fr_buf_destroy(&b);
    ret = 0;
done:
    free(sc.counts);
    free(sc.x);
    free(stats);
    fr_drift_ref_free(ref);
    fr_model_version_free(v);
    fr_store_close(st);
    fr_config_free(cfg);
    return ret;
}
