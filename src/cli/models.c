/*
 * models.c - `freshet models list|show|alias|export`: the model registry in
 * the online store (model/modelreg.h), from the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jw.h"
#include "model/modelreg.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: freshet models list   -c FILE\n"
    "       freshet models show   -c FILE NAME[@VERSION|@ALIAS] [--reference]\n"
    "       freshet models alias  -c FILE NAME ALIAS VERSION\n"
    "       freshet models alias  -c FILE NAME ALIAS --delete\n"
    "       freshet models export -c FILE NAME[@VERSION|@ALIAS] -o model.ubj\n"
    "  The model registry in the online store (every process and serving replica\n"
    "  on the store sees the same one).\n"
    "  list     one JSON line per model: its versions and aliases\n"
    "  show     a version as JSON: inputs in order, fingerprints, metrics, training\n"
    "           metadata; --reference adds the drift reference bins.  NAME alone is\n"
    "           the champion alias when it exists, else the newest version\n"
    "  alias    points ALIAS (e.g. champion, challenger) at VERSION, or deletes it;\n"
    "           serving replicas follow within models.reload_ms\n"
    "  export   writes the XGBoost model (UBJSON) as Python's xgboost loads it:\n"
    "           xgboost.Booster(model_file=\"model.ubj\")\n"
    "  Examples:\n"
    "    freshet models show -c examples/fraud/freshet.yaml fraud@champion\n"
    "    freshet models alias -c examples/fraud/freshet.yaml fraud champion 3\n"
    "  Exit status: 0 done; 1 failed (no such model, version or alias; store\n"
    "  unreachable); 2 bad usage.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("freshet models: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("; try `freshet models --help`\n", stderr);
    return 2;
}

static int list_models(fr_store_t *st)
{
    fr_store_kv_names_t names;
    memset(&names, 0, sizeof names);
    int rc = fr_modelreg_models(st, &names);
    if (rc) {
        fprintf(stderr, "freshet models: listing: %s\n", fr_strerror(rc));
        return 1;
    }
    int ret = 0;
    for (size_t i = 0; i < names.n && !ret; i++) {
        const char *name = names.v[i];
        uint32_t *vs = NULL;
        size_t nv = 0;
        fr_model_alias_t *as = NULL;
        size_t na = 0;
        rc = fr_modelreg_versions(st, name, &vs, &nv);
        if (!rc)
            rc = fr_modelreg_aliases(st, name, &as, &na);
        if (rc) {
            fprintf(stderr, "freshet models: %s: %s\n", name, fr_strerror(rc));
            ret = 1;
        } else {
            fr_buf_t b;
            fr_buf_init(&b, 1 << 20);
            fr_buf_addstr(&b, "{\"model\":");
            fr_jw_cstr(&b, name);
            fr_buf_addstr(&b, ",\"versions\":[");
            for (size_t k = 0; k < nv; k++)
                fr_buf_printf(&b, "%s%u", k ? "," : "", vs[k]);
            fr_buf_addstr(&b, "],\"aliases\":{");
            for (size_t k = 0; k < na; k++) {
                if (k)
                    fr_buf_addc(&b, ',');
                fr_jw_key(&b, as[k].name);
                fr_buf_printf(&b, "%u", as[k].version);
            }
            fr_buf_addstr(&b, "}}\n");
            fputs(b.p, stdout);
            fr_buf_destroy(&b);
        }
        free(vs);
        free(as);
    }
    fr_store_kv_names_free(&names);
    return ret;
}

/* The version spec names into *out (with the model when with_model). */
static int get_version(fr_store_t *st, const char *spec, int flags, fr_model_version_t **out)
{
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t v;
    int rc = fr_modelreg_resolve(st, spec, name, &v);
    if (!rc)
        rc = fr_modelreg_get(st, name, v, flags, out);
    if (rc == FR_EINVAL) {
        fprintf(stderr, "freshet models: '%s' is not NAME, NAME@VERSION or NAME@ALIAS\n", spec);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "freshet models: %s: %s\n", spec,
                rc == FR_ENOTFOUND ? "no such model, version or alias" : fr_strerror(rc));
        return 1;
    }
    return 0;
}

int fr_cli_models(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"reference", no_argument, NULL, 'r'},
                                         {"delete", no_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *out = NULL;
    int reference = 0, del = 0, ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'o': out = optarg; break;
        case 'r': reference = 1; break;
        case 'd': del = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s", "missing subcommand: list, show, alias or export");
    const char *sub = argv[optind++];
    int nargs = argc - optind;
    char **args = argv + optind;
    int want = !strcmp(sub, "list")     ? 0
               : !strcmp(sub, "show")   ? 1
               : !strcmp(sub, "export") ? 1
               : !strcmp(sub, "alias")  ? (del ? 2 : 3)
                                        : -1;
    if (want < 0)
        return usage_error("unknown subcommand '%s' (list, show, alias, export)", sub);
    if (!config)
        return usage_error("%s", "-c FILE is required");
    if (nargs != want)
        return usage_error("wrong number of arguments for '%s'", sub);
    if (!strcmp(sub, "export") && !out)
        return usage_error("%s", "export needs -o FILE");
    if (reference && strcmp(sub, "show"))
        return usage_error("%s", "--reference goes with show");
    if (del && strcmp(sub, "alias"))
        return usage_error("%s", "--delete goes with alias");
    uint32_t version = 0;
    if (!strcmp(sub, "alias")) {
        if (!fr_modelreg_name_ok(args[0]))
            return usage_error("'%s' is not a model name", args[0]);
        if (!fr_modelreg_alias_ok(args[1]))
            return usage_error("'%s' is not an alias name ([a-z][a-z0-9_-]*)", args[1]);
        if (!del) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(args[2], &end, 10);
            if (errno || end == args[2] || *end || v < 1 || v > UINT32_MAX)
                return usage_error("VERSION '%s' is not a version number", args[2]);
            version = (uint32_t)v;
        }
    }

    char err[1024];
    fr_config_t *cfg = NULL;
    fr_store_t *st = NULL;
    int ret = 1;
    if (fr_config_load(config, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (fr_store_open(cfg, &st, err, sizeof err)) {
        fprintf(stderr, "freshet models: %s\n", err);
        goto done;
    }
    if (!strcmp(sub, "list")) {
        ret = list_models(st);
    } else if (!strcmp(sub, "alias")) {
        int rc = del ? fr_modelreg_alias_del(st, args[0], args[1])
                     : fr_modelreg_alias_set(st, args[0], args[1], version);
        if (rc)
            fprintf(stderr, "freshet models: %s %s: %s\n", args[0], args[1],
                    rc == FR_ENOTFOUND ? (del ? "no such alias" : "no such version")
                                       : fr_strerror(rc));
        else if (del)
            printf("{\"model\":\"%s\",\"alias\":\"%s\",\"deleted\":true}\n", args[0], args[1]);
        else
            printf("{\"model\":\"%s\",\"alias\":\"%s\",\"version\":%u}\n", args[0], args[1],
                   version);
        ret = rc ? 1 : 0;
    } else {
        int exp = !strcmp(sub, "export");
        fr_model_version_t *v = NULL;
        ret = get_version(st, args[0], exp ? FR_MODELREG_WITH_MODEL : 0, &v);
        if (!ret && exp) {
            FILE *f = fopen(out, "wb");
            if (!f || fwrite(v->model, 1, v->model_len, f) != v->model_len || fclose(f)) {
                fprintf(stderr, "freshet models: %s: %s\n", out, strerror(errno));
                ret = 1;
            } else {
                printf("{\"model\":\"%s\",\"version\":%u,\"bytes\":%zu,\"output\":", v->name,
                       v->version, v->model_len);
                fr_buf_t b;
                fr_buf_init(&b, 8192);
                fr_jw_cstr(&b, out);
                printf("%s}\n", b.p);
                fr_buf_destroy(&b);
            }
        } else if (!ret) {
            fr_buf_t b;
            fr_buf_init(&b, (size_t)64 << 20);
            if (fr_model_version_json(v, reference, &b) == 0)
                printf("%s\n", b.p);
            else
                ret = 1;
            fr_buf_destroy(&b);
        }
        fr_model_version_free(v);
    }
done:
    fr_store_close(st);
    fr_config_free(cfg);
    return ret;
}
