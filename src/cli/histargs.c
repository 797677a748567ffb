/*
 * histargs.c - the history options shared by the commands that replay
 * events offline (training-set, train): --jsonl/--avro SOURCE=PATH and
 * --from-kafka, and opening what each needed source reads (see cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/err.h"

int fr_cli_hist_init(fr_cli_hist_t *h, int argc)
{
    memset(h, 0, sizeof *h);
    h->kafka_from = -1;
    h->fargs = calloc((size_t)argc + 1, sizeof *h->fargs);
    h->fkinds = calloc((size_t)argc + 1, sizeof *h->fkinds);
    return h->fargs && h->fkinds ? 0 : FR_ENOMEM;
}

static int usage(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "freshet %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see freshet %s --help)\n", cmd);
    return 2;
}

int fr_cli_hist_opt(fr_cli_hist_t *h, const char *cmd, int kind, const char *arg)
{
    if (kind == 'k') {
        if (!strcmp(arg, "earliest")) {
            h->kafka_from = -1;
            return 0;
        }
        char *end;
        errno = 0;
        long long v = strtoll(arg, &end, 10);
        if (errno || end == arg || *end || v < 0 || arg[0] == '+')
            return usage(cmd, "--from-kafka wants 'earliest' or a time in epoch ms, not '%s'", arg);
        h->kafka_from = v;
        return 0;
    }
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return usage(cmd, "--jsonl and --avro want SOURCE=PATH, not '%s'", arg);
    h->fargs[h->nfargs] = arg;
    h->fkinds[h->nfargs++] = kind == 'j' ? FR_HIST_JSONL : FR_HIST_AVRO;
    return 0;
}

static int avro_lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    return fr_registry_schema(ctx, id, out);
}

int fr_cli_hist_open(fr_cli_hist_t *h, const fr_config_t *cfg, const uint8_t *need,
                     const char *cmd, const char *config_path)
{
    char err[1024];
    size_t ns = cfg->nsources ? cfg->nsources : 1;
    h->in = calloc(ns, sizeof *h->in);
    h->paths = calloc(h->nfargs + 1, sizeof *h->paths);
    if (!h->in || !h->paths) {
        fprintf(stderr, "freshet %s: out of memory\n", cmd);
        return 1;
    }
    /* files per source, in the order given */
    size_t np = 0;
    for (size_t i = 0; i < h->nfargs; i++) {
        const char *eq = strchr(h->fargs[i], '=');
        char name[FR_CONFIG_MAX_NAME + 1];
        size_t nl = (size_t)(eq - h->fargs[i]);
        snprintf(name, sizeof name, "%.*s", (int)(nl < FR_CONFIG_MAX_NAME ? nl : FR_CONFIG_MAX_NAME),
                 h->fargs[i]);
        if (nl > FR_CONFIG_MAX_NAME || fr_config_source_index(cfg, name) < 0) {
            fprintf(stderr, "freshet %s: --jsonl/--avro: unknown source '%s'\n", cmd, name);
            return 2;
        }
    }
    for (size_t s = 0; s < cfg->nsources; s++) {
        size_t first = np;
        for (size_t i = 0; i < h->nfargs; i++) {
            const char *eq = strchr(h->fargs[i], '=');
            size_t nl = (size_t)(eq - h->fargs[i]);
            if (nl != strlen(cfg->sources[s].name) || strncmp(h->fargs[i], cfg->sources[s].name, nl))
                continue;
            if (h->in[s].kind && h->in[s].kind != (fr_hist_kind_t)h->fkinds[i]) {
                fprintf(stderr, "freshet %s: source '%s' has both --jsonl and --avro files; give "
                                "one kind\n",
                        cmd, cfg->sources[s].name);
                return 2;
            }
            h->in[s].kind = (fr_hist_kind_t)h->fkinds[i];
            h->paths[np++] = eq + 1;
        }
        if (np > first) {
            h->in[s].paths = h->paths + first;
            h->in[s].npaths = np - first;
        }
    }
    int embedded = 0, avro_kafka = 0;
    for (size_t s = 0; s < cfg->nsources; s++) {
        if (!need[s]) {
            h->in[s].kind = FR_HIST_NONE;
            continue;
        }
        if (h->in[s].kind)
            continue;
        if (cfg->sources[s].kafka.enabled) {
            h->in[s].kind = FR_HIST_KAFKA;
            h->in[s].from_ms = h->kafka_from;
            avro_kafka |= cfg->sources[s].format == FR_FORMAT_AVRO;
        } else {
            h->in[s].kind = FR_HIST_EMBEDDED;
            embedded = 1;
        }
    }
    if (embedded) {
        char dir[4096], probe[4200];
        int n = snprintf(dir, sizeof dir, "%s/log", cfg->store.path);
        snprintf(probe, sizeof probe, "%s/data.mdb", dir);
        struct stat st;
        if (n < 0 || (size_t)n >= sizeof dir || stat(probe, &st)) {
            fprintf(stderr,
                    "freshet %s: no embedded log at %s (store.path in %s): nothing to read; "
                    "ingest events first, or give --jsonl/--avro files\n",
                    cmd, dir, config_path);
            return 1;
        }
        if (fr_elog_open(dir, cfg, &h->log, err, sizeof err)) {
            fprintf(stderr, "freshet %s: %s\n", cmd, err);
            return 1;
        }
    }
    if (avro_kafka && fr_registry_open(cfg, &h->reg, err, sizeof err)) {
        fprintf(stderr, "freshet %s: %s\n", cmd, err);
        return 1;
    }
    h->avro_lookup = avro_lookup;
    return 0;
}

void fr_cli_hist_close(fr_cli_hist_t *h)
{
    fr_registry_close(h->reg);
    fr_elog_close(h->log);
    free(h->in);
    free(h->paths);
    free(h->fargs);
    free(h->fkinds);
    memset(h, 0, sizeof *h);
}
