/*
 * registry_cmd.c - `freshet schema register | list | check | delete` (see
 * registry.h): the schema registry from the command line.
 *
 * The registry is the one the configuration names: the embedded LMDB one
 * under store.path (which a running server may have open too), or the
 * external one at schema_registry.url, reached over HTTP within
 * schema_registry.timeout_ms per request.  Exit status: 0 done, 1 refused
 * (invalid, incompatible, unreachable, not found), 2 usage (one line).
 * list and check only read: they never create an embedded registry.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jw.h"
#include "event/registry.h"

static const char usage_text[] =
    "usage: freshet schema register -c FILE --subject S (--file F | --schema JSON)\n"
    "       freshet schema list     -c FILE [--subject S]\n"
    "       freshet schema check    -c FILE --subject S (--file F | --schema JSON)\n"
    "       freshet schema delete   -c FILE --subject S [--permanent]\n"
    "  register  registers an Avro schema under subject S and prints its id; a\n"
    "            schema incompatible with S's versions (under S's compatibility\n"
    "            level, BACKWARD by default) is refused with the reason\n"
    "  list      prints every subject, or with --subject every version of S, as\n"
    "            one JSON object a line\n"
    "  check     tells whether the schema could be registered under S\n"
    "  delete    deletes subject S (soft: its versions leave every listing and\n"
    "            check, their schemas stay readable by id); --permanent after a\n"
    "            soft delete removes them for good, and S starts again at version 1\n"
    "  The registry is the embedded one (store.path/registry) unless FILE sets\n"
    "  schema_registry.url.  Kafka subjects are named TOPIC-value.\n"
    "Examples:\n"
    "  freshet schema register -c examples/kafka/freshet.yaml --subject transactions-value \\\n"
    "      --file examples/kafka/transactions.avsc\n"
    "  freshet schema delete -c examples/kafka/freshet.yaml --subject transactions-value\n"
    "Exit status: 0 done; 1 refused or failed (invalid, incompatible, not found,\n"
    "registry unreachable); 2 bad usage.\n";

typedef struct {
    const char *config, *subject, *file, *schema;
} opts_t;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "freshet schema: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; try `freshet schema --help`\n");
    return 2;
}

/* Reads path (at most FR_REGISTRY_MAX_SCHEMA bytes) into b.  0 or 1 with a
 * message printed. */
static int read_file(const char *path, fr_buf_t *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "freshet schema: %s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = fr_buf_add(b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (rc == FR_ELIMIT) {
        fprintf(stderr, "freshet schema: %s: larger than %u bytes\n", path, FR_REGISTRY_MAX_SCHEMA);
        return 1;
    }
    if (rc || bad) {
        fprintf(stderr, "freshet schema: %s: cannot read\n", path);
        return 1;
    }
    return 0;
}

/* Whether the embedded registry of cfg exists (its data.mdb). */
static int registry_exists(const fr_config_t *cfg)
{
    char f[4200];
    struct stat st;
    snprintf(f, sizeof f, "%s/registry/data.mdb", cfg->store.path);
    return stat(f, &st) == 0;
}

/* ---- list ------------------------------------------------------------------- */

typedef struct {
    fr_buf_t names; /* NUL-separated */
} names_t;

static int add_name(void *ctx, const char *subject)
{
    names_t *n = ctx;
    return fr_buf_add(&n->names, subject, strlen(subject) + 1);
}

typedef struct {
    fr_buf_t line;
    const char *subject;
    int count, last_version;
    uint32_t last_id;
} sum_t;

static int add_summary(void *ctx, int version, uint32_t id, const char *schema, size_t len)
{
    (void)schema;
    (void)len;
    sum_t *s = ctx;
    s->last_version = version;
    s->last_id = id;
    return fr_buf_printf(&s->line, "%s%d", s->count++ ? "," : "", version);
}

static int print_version(void *ctx, int version, uint32_t id, const char *schema, size_t len)
{
    const char *subject = ctx;
    fr_buf_t b;
    fr_buf_init(&b, (size_t)8 << 20);
    int rc = fr_buf_addstr(&b, "{\"subject\":");
    rc = rc ? rc : fr_jw_cstr(&b, subject);
    rc = rc ? rc : fr_buf_printf(&b, ",\"version\":%d,\"id\":%" PRIu32 ",\"schema\":", version, id);
    rc = rc ? rc : fr_jw_str(&b, schema, len);
    rc = rc ? rc : fr_buf_addstr(&b, "}\n");
    if (!rc)
        fwrite(b.p, 1, b.len, stdout);
    fr_buf_destroy(&b);
    return rc;
}

static int cmd_list(fr_registry_t *r, const opts_t *o)
{
    char err[1024] = "";
    int rc;
    if (o->subject) {
        rc =
            fr_registry_versions(r, o->subject, print_version, (void *)o->subject, err, sizeof err);
        if (rc == FR_ENOTFOUND) {
            fprintf(stderr, "freshet schema list: no subject '%s'\n", o->subject);
            return 1;
        }
    } else {
        names_t n;
        fr_buf_init(&n.names, (size_t)64 << 20);
        rc = fr_registry_subjects(r, add_name, &n, err, sizeof err);
        for (size_t off = 0; !rc && off < n.names.len; off += strlen(n.names.p + off) + 1) {
            sum_t s = {.subject = n.names.p + off};
            fr_buf_init(&s.line, (size_t)1 << 20);
            rc = fr_buf_addstr(&s.line, "{\"subject\":");
            rc = rc ? rc : fr_jw_cstr(&s.line, s.subject);
            rc = rc ? rc : fr_buf_addstr(&s.line, ",\"versions\":[");
            rc = rc ? rc : fr_registry_versions(r, s.subject, add_summary, &s, err, sizeof err);
            rc = rc ? rc
                    : fr_buf_printf(&s.line, "],\"latest\":{\"version\":%d,\"id\":%" PRIu32 "}}\n",
                                    s.last_version, s.last_id);
            if (rc == FR_ENOTFOUND) /* deleted meanwhile */
                rc = 0;
            else if (!rc)
                fwrite(s.line.p, 1, s.line.len, stdout);
            fr_buf_destroy(&s.line);
        }
        fr_buf_destroy(&n.names);
    }
    if (rc) {
        fprintf(stderr, "freshet schema list: %s\n", err[0] ? err : fr_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- register, check ------------------------------------------------------------ */

/* Why register or check failed, on stderr. */
static void report(const char *cmd, const char *subject, int rc, const char *reason)
{
    if (rc == FR_EUNAVAIL && reason[0]) {
        fprintf(stderr, "freshet schema %s: %s\n", cmd, reason);
        return;
    }
    const char *what = rc == FR_EPARSE      ? "invalid schema"
                       : rc == FR_ECONFLICT ? "incompatible"
                       : rc == FR_ELIMIT    ? "too large"
                                            : fr_strerror(rc);
    fprintf(stderr, "freshet schema %s: subject '%s': %s: %s\n", cmd, subject, what,
            reason[0] ? reason : fr_strerror(rc));
}

static int cmd_register(fr_registry_t *r, const opts_t *o, const fr_buf_t *schema)
{
    char reason[2048];
    uint32_t id;
    int rc =
        fr_registry_register(r, o->subject, schema->p, schema->len, &id, reason, sizeof reason);
    if (!rc) {
        printf("subject '%s': schema id %" PRIu32 "\n", o->subject, id);
        return 0;
    }
    report("register", o->subject, rc, reason);
    return 1;
}

static int cmd_check(fr_registry_t *r, const opts_t *o, const fr_buf_t *schema)
{
    char reason[2048];
    int rc = fr_registry_check(r, o->subject, schema->p, schema->len, reason, sizeof reason);
    if (!rc) {
        printf("subject '%s': compatible\n", o->subject);
        return 0;
    }
    if (rc == FR_ENOTFOUND) {
        fprintf(stderr, "freshet schema check: no subject '%s'%s%s\n", o->subject,
                reason[0] ? ": " : "", reason);
        return 1;
    }
    report("check", o->subject, rc, reason);
    return 1;
}

/* ---- delete ------------------------------------------------------------------ */

typedef struct {
    fr_buf_t list;
    int n;
} deleted_t;

static int note_deleted(void *ctx, int version)
{
    deleted_t *d = ctx;
    return fr_buf_printf(&d->list, "%s%d", d->n++ ? ", " : "", version);
}

static int cmd_delete(fr_registry_t *r, const opts_t *o, int permanent)
{
    char reason[1024];
    deleted_t d = {.n = 0};
    fr_buf_init(&d.list, (size_t)1 << 20);
    int rc = fr_registry_delete(r, o->subject, permanent, note_deleted, &d, reason, sizeof reason);
    if (!rc)
        printf("subject '%s': %s deleted version%s %.*s%s\n", o->subject,
               permanent ? "permanently" : "soft", d.n == 1 ? "" : "s", (int)d.list.len,
               d.list.p ? d.list.p : "",
               permanent ? "" : " (schemas stay readable by id; --permanent removes the versions)");
    else if (rc == FR_ENOTFOUND)
        fprintf(stderr, "freshet schema delete: no subject '%s'\n", o->subject);
    else if (rc == FR_ECONFLICT && permanent)
        fprintf(stderr, "freshet schema delete: subject '%s' must be deleted without "
                        "--permanent first\n", o->subject);
    else if (rc == FR_ECONFLICT)
        fprintf(stderr, "freshet schema delete: subject '%s' was deleted already; "
                        "--permanent removes it for good\n", o->subject);
    else
        fprintf(stderr, "freshet schema delete: %s\n", reason[0] ? reason : fr_strerror(rc));
    fr_buf_destroy(&d.list);
    return rc ? 1 : 0;
}

int fr_schema_main(int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : NULL;
    if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!sub || sub[0] == '-')
        return usage_error("missing subcommand: register, list, check or delete");
    int reg = !strcmp(sub, "register"), list = !strcmp(sub, "list"), chk = !strcmp(sub, "check");
    int del = !strcmp(sub, "delete");
    if (!reg && !list && !chk && !del)
        return usage_error("unknown subcommand '%s': expected register, list, check or delete",
                           sub);
    static const struct option lopts[] = {
        {"config", required_argument, NULL, 'c'}, {"subject", required_argument, NULL, 's'},
        {"file", required_argument, NULL, 'f'},   {"schema", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {"permanent", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    opts_t o = {0};
    int permanent = 0;
    optind = 2;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o.config = optarg; break;
        case 's': o.subject = optarg; break;
        case 'f': o.file = optarg; break;
        case 'j': o.schema = optarg; break;
        case 'P': permanent = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case ':': return usage_error("%s: %s needs a value", sub, argv[optind - 1]);
        default: return usage_error("%s: unknown option '%s'", sub, argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.config)
        return usage_error("%s: -c FILE is required", sub);
    if (!list && !o.subject)
        return usage_error("%s: --subject S is required", sub);
    if ((list || del) && (o.file || o.schema))
        return usage_error("%s: takes no schema", sub);
    if (permanent && !del)
        return usage_error("%s: --permanent is for delete", sub);
    if (!list && !del && !!o.file == !!o.schema)
        return usage_error("%s: give the schema with one of --file F or --schema JSON", sub);
    char reason[512];
    if (o.subject && fr_registry_subject_ok(o.subject, reason, sizeof reason))
        return usage_error("--subject: %s", reason);

    fr_buf_t schema;
    fr_buf_init(&schema, FR_REGISTRY_MAX_SCHEMA);
    if (o.file && read_file(o.file, &schema)) {
        fr_buf_destroy(&schema);
        return 1;
    }
    if (o.schema && fr_buf_addstr(&schema, o.schema)) {
        fr_buf_destroy(&schema);
        fprintf(stderr, "freshet schema: --schema: larger than %u bytes\n", FR_REGISTRY_MAX_SCHEMA);
        return 1;
    }
    char err[1024];
    fr_config_t *cfg = NULL;
    fr_registry_t *r = NULL;
    int status = 1;
    if (fr_config_load(o.config, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    if ((list || chk) && !cfg->registry.url && !registry_exists(cfg)) {
        fprintf(stderr,
                "freshet schema %s: no schema registry at %s/registry (store.path of %s): "
                "nothing was registered there yet\n",
                sub, cfg->store.path, cfg->path);
        goto out;
    }
    int rc = fr_registry_open(cfg, &r, err, sizeof err);
    if (rc) {
        fprintf(stderr, "freshet schema: cannot open the schema registry: %s\n",
                err[0] ? err : fr_strerror(rc));
        goto out;
    }
    status = list  ? cmd_list(r, &o)
             : reg ? cmd_register(r, &o, &schema)
             : del ? cmd_delete(r, &o, permanent)
                   : cmd_check(r, &o, &schema);
out:
    fr_registry_close(r);
    fr_config_free(cfg);
    fr_buf_destroy(&schema);
    return status;
}
