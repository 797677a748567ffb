/*
 * consistency.c - `freshet consistency`: are the vectors a model served the
 * ones the offline pipeline computes for the same requests?
 *
 * The served vectors come from the score log (request, as_of, served time,
 * inputs).  The logged requests become a spine file, built twice through
 * the model's training set: once at the arrival point (features over the
 * events that had arrived when the request was served) and once at event
 * time (over every event with ts <= as_of, whenever it arrived).  An input
 * whose served value differs from the event-time value is a mismatch, with
 * its reason:
 *   not_applied  the served value differs from the arrival value too: an
 *                event had arrived but was not applied to the store yet
 *                (processing lag), or the store could not be read;
 *   late_event   served and arrival values agree: an event with ts <= as_of
 *                arrived after the request was served.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "model/modelreg.h"
#include "model/scorelog.h"
#include "offline/trainset.h"
#include "store/store.h"

#define MAX_EXAMPLES 10

static const char usage_text[] =
    "usage: freshet consistency -c FILE --model NAME[@VERSION|@ALIAS] [--from MS] [--to MS]\n"
    "                           [--from-kafka earliest|MS] [--jsonl SOURCE=PATH]...\n"
    "  Recomputes offline, through the model's training set, the inputs of the\n"
    "  requests the model served in [from, to) (the score log; default the last\n"
    "  24 hours) and reports, per input, the served values that differ from the\n"
    "  value at the request's as_of over every event (mismatches), and why:\n"
    "  not_applied (an event had arrived but the store had not applied it when the\n"
    "  request was served) or late_event (an event of the past arrived after it).\n"
    "  One JSON object on stdout.\n"
    "  Example:\n"
    "    freshet consistency -c examples/fraud/freshet.yaml --model fraud\n"
    "  Exit status: 0 checked (whatever it found); 1 failed; 2 bad usage.\n";

typedef struct {
    json_t **req;      /* logged request objects */
    json_t **served;   /* logged inputs arrays */
    int64_t *t, *as_of;
    size_t n, cap;
    uint32_t version;
    int64_t from, to;
} logged_t;

static int on_line(void *ctx, const char *line, size_t len)
{
    logged_t *l = ctx;
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    json_t *t = json_object_get(j, "t"), *v = json_object_get(j, "version"),
           *a = json_object_get(j, "as_of"), *r = json_object_get(j, "request"),
           *in = json_object_get(j, "inputs");
    if (!json_is_integer(t) || !json_is_integer(v) || !json_is_integer(a) ||
        !json_is_object(r) || !json_is_array(in) ||
        (uint32_t)json_integer_value(v) != l->version || json_integer_value(t) < l->from ||
        json_integer_value(t) >= l->to) {
        json_decref(j);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        json_t **rq = realloc(l->req, cap * sizeof *rq);
        if (rq)
            l->req = rq;
        json_t **sv = rq ? realloc(l->served, cap * sizeof *sv) : NULL;
        if (sv)
            l->served = sv;
        int64_t *tt = sv ? realloc(l->t, cap * sizeof *tt) : NULL;
        if (tt)
            l->t = tt;
        int64_t *aa = tt ? realloc(l->as_of, cap * sizeof *aa) : NULL;
        if (!aa) {
            json_decref(j);
            return FR_ENOMEM;
        }
        l->as_of = aa;
        l->cap = cap;
    }
    l->req[l->n] = json_incref(r);
    l->served[l->n] = json_incref(in);
    l->t[l->n] = json_integer_value(t);
    l->as_of[l->n] = json_integer_value(a);
    l->n++;
    json_decref(j);
    return 0;
}

/* Recomputed rows: per logged entry, per input, a value (JSON). */
typedef struct {
    size_t ninputs;
    const fr_model_version_t *v;
    int *col_of_input; /* per input: its column, or -1 */
    int entry_col;
    size_t ncols;
    fr_type_t *types;
    json_t **vals;     /* [entries][ninputs] */
    size_t nentries;
} recomputed_t;

static int on_header(void *ctx, const fr_tset_col_t *cols, size_t n)
{
    recomputed_t *r = ctx;
    r->ncols = n;
    r->types = calloc(n, sizeof *r->types);
    if (!r->types)
        return FR_ENOMEM;
    r->entry_col = -1;
    for (size_t i = 0; i < n; i++) {
        r->types[i] = cols[i].type;
        if (!strcmp(cols[i].name, "_entry"))
            r->entry_col = (int)i;
        for (size_t k = 0; k < r->ninputs; k++)
            if (!strcmp(cols[i].name, r->v->inputs[k].name))
                r->col_of_input[k] = (int)i;
    }
    return r->entry_col < 0 ? FR_EINVAL : 0;
}

/* The binary value at *p as JSON (a new reference); advances *p. */
static json_t *take(const uint8_t **p, const uint8_t *end)
{
    if (*p >= end)
        return NULL;
    fr_type_t t = (fr_type_t)*(*p)++;
    uint64_t u;
    switch (t) {
    case FR_T_NULL: return json_null();
    case FR_T_BOOL:
        if (*p >= end)
            return NULL;
        return json_boolean(*(*p)++);
    case FR_T_LONG:
    case FR_T_DOUBLE:
        if (end - *p < 8)
            return NULL;
        u = fr_load_u64(*p);
        *p += 8;
        if (t == FR_T_LONG)
            return json_integer((json_int_t)(int64_t)u);
        double d;
        memcpy(&d, &u, 8);
        return isfinite(d) ? json_real(d) : json_null();
    case FR_T_STRING: {
        if (end - *p < 4)
            return NULL;
        uint32_t len = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 |
                       (uint32_t)(*p)[3] << 24;
        *p += 4;
        if ((size_t)(end - *p) < len)
            return NULL;
        json_t *s = json_stringn((const char *)*p, len);
        *p += len;
        return s;
    }
    default: return NULL;
    }
}

static int on_row(void *ctx, const void *row, size_t len)
{
    recomputed_t *r = ctx;
    const uint8_t *p = row, *end = p + len;
    json_t **tmp = calloc(r->ncols, sizeof *tmp);
    if (!tmp)
        return FR_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < r->ncols && !rc; i++)
        if (!(tmp[i] = take(&p, end)))
            rc = FR_ECORRUPT;
    if (!rc) {
        json_t *e = tmp[r->entry_col];
        json_int_t idx = json_is_integer(e) ? json_integer_value(e) : -1;
        if (idx >= 0 && (size_t)idx < r->nentries)
            for (size_t k = 0; k < r->ninputs; k++) {
                int c = r->col_of_input[k];
                json_t **slot = &r->vals[(size_t)idx * r->ninputs + k];
                json_decref(*slot);
                *slot = c >= 0 ? json_incref(tmp[c]) : json_null();
            }
    }
    for (size_t i = 0; i < r->ncols; i++)
        json_decref(tmp[i]);
    free(tmp);
    return rc;
}

/* Whether two input values are the same (numbers by value: 3 == 3.0). */
static int same(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b) ||
               (json_is_integer(a) && json_is_integer(b) &&
                json_integer_value(a) == json_integer_value(b));
    return json_equal(a, b);
}

static int build(const fr_config_t *cfg, int tset, const char *spine, const char *arrival,
                 fr_cli_hist_t *h, recomputed_t *r, char *err, size_t errlen)
{
    fr_tset_opts_t o = {.tset = tset,
                        .spine_path = spine,
                        .arrival_col = "_arrival_ms",
                        .own_after_arrival = !arrival,
                        .no_label = true,
                        .format = FR_TSET_BINARY,
                        .header = on_header,
                        .row = on_row,
                        .row_ctx = r,
                        .warn = stderr,
                        .inputs = h->in,
                        .log = h->log,
                        .avro_lookup = h->avro_lookup,
                        .avro_ctx = h->reg,
                        .now_ms = fr_now_ms()};
    fr_tset_summary_t sum;
    free(r->types);
    r->types = NULL;
    return fr_tset_build(cfg, &o, &sum, err, errlen);
}

int fr_cli_consistency(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"from-kafka", required_argument, NULL, 'k'},
                                         {"jsonl", required_argument, NULL, 'j'},
                                         {"avro", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *spec = NULL;
    int64_t from = INT64_MIN, to = INT64_MIN;
    fr_cli_hist_t hist;
    if (fr_cli_hist_init(&hist, argc)) {
        fputs("freshet consistency: out of memory\n", stderr);
        return 1;
    }
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
                fprintf(stderr, "freshet consistency: --%s wants a time in epoch ms, not '%s'; "
                                "try `freshet consistency --help`\n",
                        ch == 'f' ? "from" : "to", optarg);
                fr_cli_hist_close(&hist);
                return 2;
            }
            if (ch == 'f')
                from = v;
            else
                to = v;
            break;
        }
        case 'k':
        case 'j':
        case 'a':
            if (fr_cli_hist_opt(&hist, "consistency", ch, optarg)) {
                fr_cli_hist_close(&hist);
                return 2;
            }
            break;
        case 'h':
            fputs(usage_text, stdout);
            fr_cli_hist_close(&hist);
            return 0;
        default:
            fprintf(stderr, "freshet consistency: %s '%s'; try `freshet consistency --help`\n",
                    ch == ':' ? "a value is needed after" : "unknown option", argv[optind - 1]);
            fr_cli_hist_close(&hist);
            return 2;
        }
    }
    if (optind < argc || !config || !spec) {
        fprintf(stderr, "freshet consistency: %s; try `freshet consistency --help`\n",
                optind < argc ? "unexpected argument"
                : !config     ? "-c FILE is required"
                              : "--model NAME is required");
        fr_cli_hist_close(&hist);
        return 2;
    }
    char err[1024] = "";
    fr_config_t *cfg = NULL;
    fr_store_t *st = NULL;
    fr_model_version_t *v = NULL;
    logged_t lg = {0};
    recomputed_t ra = {0}, re = {0};
    uint8_t *need = NULL;
    char spine[] = "/tmp/freshet-consistency-XXXXXX.ndjson";
    int spine_fd = -1, ret = 1;
    size_t ni = 0;
    if (fr_config_load(config, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        fr_cli_hist_close(&hist);
        return 1;
    }
    if (to == INT64_MIN)
        to = fr_now_ms() + 1;
    if (from == INT64_MIN)
        from = to - INT64_C(86400000);
    if (fr_store_open(cfg, &st, err, sizeof err)) {
        fprintf(stderr, "freshet consistency: %s\n", err);
        goto done;
    }
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t version;
    int rc = fr_modelreg_resolve(st, spec, name, &version);
    if (!rc)
        rc = fr_modelreg_get(st, name, version, 0, &v);
    if (rc) {
        fprintf(stderr, "freshet consistency: %s: %s\n", spec,
                rc == FR_ENOTFOUND ? "no such model, version or alias" : fr_strerror(rc));
        goto done;
    }
    int mi = fr_config_model_index(cfg, name);
    if (mi < 0) {
        fprintf(stderr, "freshet consistency: model '%s' is not in %s\n", name, config);
        goto done;
    }
    int tset = cfg->models.list[mi].tset;
    lg = (logged_t){.version = version, .from = from, .to = to};
    rc = fr_scorelog_scan(st, name, from, to, on_line, &lg);
    if (rc) {
        fprintf(stderr, "freshet consistency: reading the score log: %s\n", fr_strerror(rc));
        goto done;
    }
    ni = v->ninputs;
    if (lg.n) {
        /* the logged requests as a spine file: every field any request has */
        json_t *keys = json_object();
        for (size_t i = 0; i < lg.n; i++) {
            const char *k;
            json_t *x;
            json_object_foreach(lg.req[i], k, x) json_object_set(keys, k, json_null());
        }
        spine_fd = mkstemps(spine, 7);
        FILE *f = spine_fd >= 0 ? fdopen(spine_fd, "w") : NULL;
        if (!f) {
            fprintf(stderr, "freshet consistency: a temporary file: %s\n", strerror(errno));
            json_decref(keys);
            goto done;
        }
        spine_fd = -1;
        for (size_t i = 0; i < lg.n; i++) {
            json_t *row = json_deep_copy(keys);
            json_object_update_existing(row, lg.req[i]);
            json_object_set_new(row, "ts", json_integer(lg.as_of[i]));
            json_object_set_new(row, "_arrival_ms", json_integer(lg.t[i]));
            json_object_set_new(row, "_entry", json_integer((json_int_t)i));
            char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s)
                fprintf(f, "%s\n", s);
            free(s);
            json_decref(row);
        }
        json_decref(keys);
        if (fclose(f)) {
            fprintf(stderr, "freshet consistency: writing a temporary file failed\n");
            goto done;
        }
        need = calloc(cfg->nsources ? cfg->nsources : 1, 1);
        if (!need)
            goto done;
        fr_tset_sources(cfg, tset, true, need);
        ret = fr_cli_hist_open(&hist, cfg, need, "consistency", config);
        if (ret)
            goto done;
        ret = 1;
        recomputed_t *rs[2] = {&ra, &re};
        for (int w = 0; w < 2; w++) {
            recomputed_t *r = rs[w];
            r->ninputs = ni;
            r->v = v;
            r->nentries = lg.n;
            r->col_of_input = malloc((ni ? ni : 1) * sizeof *r->col_of_input);
            r->vals = calloc(lg.n * (ni ? ni : 1), sizeof *r->vals);
            if (!r->col_of_input || !r->vals)
                goto done;
            for (size_t k = 0; k < ni; k++)
                r->col_of_input[k] = -1;
            rc = build(cfg, tset, spine, w == 0 ? "_arrival_ms" : NULL, &hist, r, err,
                       sizeof err);
            if (rc) {
                fprintf(stderr, "freshet consistency: recomputing: %s\n",
                        err[0] ? err : fr_strerror(rc));
                goto done;
            }
        }
    }
    /* compare */
    uint64_t *na = calloc(ni ? ni : 1, sizeof *na), *nl = calloc(ni ? ni : 1, sizeof *nl);
    if (!na || !nl) {
        free(na);
        free(nl);
        goto done;
    }
    size_t mismatched = 0, examples = 0;
    fr_buf_t ex;
    fr_buf_init(&ex, (size_t)1 << 20);
    for (size_t i = 0; i < lg.n; i++) {
        int any = 0;
        for (size_t k = 0; k < ni; k++) {
            json_t *sv = json_array_get(lg.served[i], k);
            json_t *av = ra.vals[i * ni + k], *ev = re.vals[i * ni + k];
            if (same(sv, ev))
                continue;
            any = 1;
            const char *why = same(sv, av) ? "late_event" : "not_applied";
            if (!strcmp(why, "late_event"))
                nl[k]++;
            else
                na[k]++;
            if (examples < MAX_EXAMPLES) {
                if (examples++)
                    fr_buf_addc(&ex, ',');
                fr_buf_printf(&ex, "{\"t\":%" PRId64 ",\"as_of\":%" PRId64 ",\"input\":", lg.t[i],
                              lg.as_of[i]);
                fr_jw_cstr(&ex, v->inputs[k].name);
                char *a = json_dumps(sv, JSON_ENCODE_ANY), *b = json_dumps(av, JSON_ENCODE_ANY),
                     *c = json_dumps(ev, JSON_ENCODE_ANY);
                fr_buf_printf(&ex, ",\"served\":%s,\"arrival\":%s,\"event_time\":%s,\"reason\":\"%s\"}",
                              a ? a : "null", b ? b : "null", c ? c : "null", why);
                free(a);
                free(b);
                free(c);
            }
        }
        mismatched += any;
    }
    fr_buf_t out;
    fr_buf_init(&out, (size_t)16 << 20);
    fr_buf_addstr(&out, "{\"model\":");
    fr_jw_cstr(&out, name);
    fr_buf_printf(&out, ",\"version\":%u,\"from\":%" PRId64 ",\"to\":%" PRId64
                        ",\"requests\":%zu,\"mismatched_requests\":%zu,\"inputs\":{",
                  version, from, to, lg.n, mismatched);
    uint64_t total = 0;
    for (size_t k = 0; k < ni; k++) {
        if (k)
            fr_buf_addc(&out, ',');
        fr_jw_key(&out, v->inputs[k].name);
        fr_buf_printf(&out, "{\"mismatches\":%" PRIu64 ",\"not_applied\":%" PRIu64
                            ",\"late_event\":%" PRIu64 "}",
                      na[k] + nl[k], na[k], nl[k]);
        total += na[k] + nl[k];
    }
    fr_buf_printf(&out, "},\"mismatches\":%" PRIu64 ",\"examples\":[%s]}\n", total,
                  ex.p ? ex.p : "");
    fputs(out.p, stdout);
    fr_buf_destroy(&out);
    fr_buf_destroy(&ex);
    free(na);
    free(nl);
    ret = 0;
done:
    if (spine_fd >= 0)
        close(spine_fd);
    unlink(spine);
    recomputed_t *rs[2] = {&ra, &re};
    for (int w = 0; w < 2; w++) {
        for (size_t i = 0; rs[w]->vals && i < lg.n * (ni ? ni : 1); i++)
            json_decref(rs[w]->vals[i]);
        free(rs[w]->vals);
        free(rs[w]->col_of_input);
        free(rs[w]->types);
    }
    for (size_t i = 0; i < lg.n; i++) {
        json_decref(lg.req[i]);
        json_decref(lg.served[i]);
    }
    free(lg.req);
    free(lg.served);
    free(lg.t);
    free(lg.as_of);
    free(need);
    fr_model_version_free(v);
    fr_store_close(st);
    fr_cli_hist_close(&hist);
    fr_config_free(cfg);
    return ret;
}
