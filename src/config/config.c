/*
 * config.c - freshet.yaml (DESIGN §4b) into a validated fr_config_t.
 *
 * libfyaml builds the document: YAML syntax, duplicate keys, anchors,
 * aliases and merge keys are its job, and its diagnostics are collected
 * (never printed) so they come back through err like ours.  This file then
 * walks the tree once.  Every mapping is read against a table of the keys
 * allowed there, so a misspelt key is an error that lists the right ones.
 * The first error stops the walk and becomes one line,
 *   "FILE:LINE:COL: what was wrong; expected what".
 *
 * libfyaml 0.7 has no public "start mark of a node" for collections; we
 * learn it by reporting the node to a private collecting diagnostic object
 * (only on error paths).  Nodes copied by alias resolution have no position
 * of their own; an error about one points at its nearest located ancestor.
 *
 * The result owns every byte it points to, and fr_config_free tears down a
 * partly built config, so every error path is one `goto out`.
 */
#include "config/config.h"

#include "core/utf8.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/redis_url.h"
#include "core/buf.h"
#include "core/err.h"

#define SEC_MS INT64_C(1000)
#define DAY_MS (INT64_C(86400) * SEC_MS)
#define MAX_WINDOW_MS (3650 * DAY_MS) /* ten years keeps every sum of times in range */
#define KIB UINT64_C(1024)
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)

typedef struct ctx {
    const char *name;        /* the file, as the caller names it */
    char *err;
    size_t errlen;
    struct fy_diag *locator; /* reports made only to learn where a node starts */
    char *input;             /* libfyaml's name of our input (marks elsewhere are synthetic) */
    struct fy_node *here;    /* innermost mapping read: fallback position */
    const char *text;        /* the whole input, as libfyaml's marks count it (also to
                                place errors inside a scalar) */
    size_t len;
} ctx_t;

/* One key of a mapping as found: key node and value node (either may be
 * NULL: key absent; value empty). */
typedef struct slot {
    struct fy_node *k, *v;
} slot_t;

/* ------------------------------------------------------------------ */
/* positions and messages                                              */

static void quiet_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

static struct fy_diag *diag_new(void)
{
    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = quiet_output;
    dc.user = NULL;
    dc.colorize = false;
    struct fy_diag *d = fy_diag_create(&dc);
    if (d)
        fy_diag_set_collect_errors(d, true);
    return d;
}

/* Where libfyaml places n: 1-based line and column, and its input's name. */
static bool locate(ctx_t *c, struct fy_node *n, int *line, int *col, const char **file)
{
    fy_diag_reset_error(c->locator); /* drops earlier reports */
    fy_diag_node_report(c->locator, n, FYET_ERROR, "%s", "here");
    void *it = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(c->locator, &it);
    if (!e || !e->file || e->line <= 0 || e->column <= 0)
        return false;
    *line = e->line;
    *col = e->column;
    if (file)
        *file = e->file;
    return true;
}

/* The first key of a mapping or item of a sequence; NULL if none. */
static struct fy_node *first_child(struct fy_node *n)
{
    void *it = NULL;
    if (fy_node_get_type(n) == FYNT_SEQUENCE)
        return fy_node_sequence_iterate(n, &it);
    if (fy_node_get_type(n) == FYNT_MAPPING) {
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        return p ? fy_node_pair_key(p) : NULL;
    }
    return NULL;
}

static bool node_pos(ctx_t *c, struct fy_node *n, int *line, int *col)
{
    if (!n)
        return false;
    if (fy_node_get_type(n) == FYNT_SCALAR) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        if (!m)
            return false;
        *line = m->line + 1;
        *col = m->column + 1;
        /* the mark of a quoted scalar or an alias is just after its quote
         * or '*'; point at that */
        enum fy_node_style st = fy_node_get_style(n);
        if ((st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED || st == FYNS_ALIAS) &&
            *col > 1)
            (*col)--;
        return true;
    }
    const char *file = NULL;
    if (c->locator && locate(c, n, line, col, &file) && (!c->input || !strcmp(file, c->input)))
        return true;
    /* libfyaml cannot place some collections (e.g. a block mapping whose
     * last value is empty); their first entry starts at or just after them */
    return node_pos(c, first_child(n), line, col);
}

/* The position of the first located node among n, its ancestors, then the
 * mapping being read and its ancestors; 1:1 when none is. */
static void best_pos(ctx_t *c, struct fy_node *n, struct fy_node *alt, int *line, int *col)
{
    struct fy_node *try[3] = {n, alt, c->here};
    for (int i = 0; i < 3; i++)
        for (struct fy_node *p = try[i]; p; p = fy_node_get_parent(p))
            if (node_pos(c, p, line, col))
                return;
    *line = 1;
    *col = 1;
}

/* Keeps a message on one line whatever the file's names contain. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static int failv(ctx_t *c, struct fy_node *n, struct fy_node *alt, const char *fmt, va_list ap)
{
    if (!c->err || !c->errlen)
        return FR_ECONFIG;
    int line, col;
    best_pos(c, n, alt, &line, &col);
    int w = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->name, line, col);
    if (w >= 0 && (size_t)w < c->errlen)
        vsnprintf(c->err + w, c->errlen - (size_t)w, fmt, ap);
    one_line(c->err);
    return FR_ECONFIG;
}

/* Reports an error about node n (falling back as best_pos does). */
__attribute__((format(printf, 3, 4))) static int fail(ctx_t *c, struct fy_node *n,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, n, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

/* Reports an error about a slot: at its value, or its key when the value
 * is empty. */
__attribute__((format(printf, 3, 4))) static int fails(ctx_t *c, const slot_t *s,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int line, col;
    int rc = node_pos(c, s->v, &line, &col) ? failv(c, s->v, s->k, fmt, ap)
                                            : failv(c, s->k, s->v, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(ctx_t *c)
{
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: out of memory", c->name);
    return FR_ENOMEM;
}

/* "a, b, c" into a fixed buffer, ending in "..." if it does not fit. */
typedef struct list {
    char b[512];
    size_t n;
    bool full;
} list_t;

static void list_add(list_t *l, const char *s)
{
    if (l->full)
        return;
    size_t need = strlen(s) + (l->n ? 2 : 0);
    if (l->n + need + 6 >= sizeof l->b) { /* keep room for ", ..." */
        memcpy(l->b + l->n, l->n ? ", ..." : "...", l->n ? 6 : 4);
        l->n += l->n ? 5 : 3;
        l->full = true;
        return;
    }
    l->n += (size_t)snprintf(l->b + l->n, sizeof l->b - l->n, "%s%s", l->n ? ", " : "", s);
}

static const char *list_join(list_t *l, const char *const *names, size_t n)
{
    l->n = 0;
    l->full = false;
    l->b[0] = 0;
    for (size_t i = 0; i < n; i++)
        list_add(l, names[i]);
    return l->b;
}

/* ------------------------------------------------------------------ */
/* scalars                                                             */

static bool text_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Whether n stands for nothing: absent, empty, ~ or null (plain). */
static bool is_null(struct fy_node *n)
{
    if (!n)
        return true;
    if (fy_node_get_type(n) != FYNT_SCALAR || fy_node_get_style(n) != FYNS_PLAIN)
        return false;
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    return !s || len == 0 || text_is(s, len, "~") || text_is(s, len, "null") ||
           text_is(s, len, "Null") || text_is(s, len, "NULL");
}

/* The text of a scalar (NUL-terminated, owned by the document).  what
 * names the value in messages; expected says what it should have been. */
static int scalar_text(ctx_t *c, const slot_t *s, const char *what, const char *expected,
                       const char **out)
{
    if (is_null(s->v))
        return fails(c, s, "%s is empty; expected %s", what, expected);
    if (fy_node_get_type(s->v) != FYNT_SCALAR)
        return fails(c, s, "%s is a %s; expected %s", what,
                     fy_node_get_type(s->v) == FYNT_MAPPING ? "mapping" : "list", expected);
    size_t len = fy_node_get_scalar_length(s->v);
    const char *t = fy_node_get_scalar0(s->v);
    if (!t)
        return oom(c);
    if (strlen(t) != len)
        return fails(c, s, "%s contains a NUL byte; expected %s", what, expected);
    *out = t;
    return 0;
}

static bool parse_i64(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

/* A plain YAML number (core schema): digits, sign, point, exponent, and
 * .inf / .nan; -1 if s is not one, else 0 (integral) or 1 (float). */
static int number_kind(const char *s, double *d)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *d = *s == '-' ? -INFINITY : INFINITY;
        return 1;
    }
    if (s == p && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) {
        *d = NAN;
        return 1;
    }
    bool digit = false, frac = false;
    for (const char *q = p; *q; q++) {
        if (*q >= '0' && *q <= '9')
            digit = true;
        else if (*q == '.' || *q == 'e' || *q == 'E' ||
                 ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E')))
            frac = true;
        else
            return -1;
    }
    if (!digit)
        return -1;
    errno = 0;
    char *end;
    *d = strtod(s, &end);
    if (*end)
        return -1;
    return frac ? 1 : 0;
}

/* A slot's string, copied; replaces *out (a default) on success. */
static int get_string(ctx_t *c, const slot_t *s, const char *key, const char *expected, char **out)
{
    if (!s->k)
        return 0;
    const char *t;
    int rc = scalar_text(c, s, key, expected, &t);
    if (rc)
        return rc;
    if (!*t)
        return fails(c, s, "%s is empty; expected %s", key, expected);
    char *d = strdup(t);
    if (!d)
        return oom(c);
    free(*out);
    *out = d;
    return 0;
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

/* A name: [A-Za-z0-9_.-]+, at most FR_CONFIG_MAX_NAME bytes; borrowed. */
static int get_name(ctx_t *c, const slot_t *s, const char *what, const char **out)
{
    const char *t;
    int rc = scalar_text(c, s, what, "a name of letters, digits, '_', '.' or '-'", &t);
    if (rc)
        return rc;
    if (strlen(t) > FR_CONFIG_MAX_NAME)
        return fails(c, s, "%s '%.40s...' is %zu bytes long; expected at most %d", what, t,
                     strlen(t), FR_CONFIG_MAX_NAME);
    if (!valid_name(t))
        return fails(c, s, "%s '%s' is not a valid name; expected letters, digits, '_', '.' or '-'",
                     what, t);
    *out = t;
    return 0;
}

static int get_int(ctx_t *c, const slot_t *s, const char *key, int64_t min, int64_t max,
                   int64_t *out)
{
    if (!s->k)
        return 0;
    const char *t;
    char expected[96];
    snprintf(expected, sizeof expected, "an integer from %" PRId64 " to %" PRId64, min, max);
    int rc = scalar_text(c, s, key, expected, &t);
    if (rc)
        return rc;
    int64_t v;
    if (!parse_i64(t, &v))
        return fails(c, s, "%s '%s' is not an integer; expected %s", key, t, expected);
    if (v < min || v > max)
        return fails(c, s, "%s %" PRId64 " is out of range; expected %s", key, v, expected);
    *out = v;
    return 0;
}

static int get_int_as_int(ctx_t *c, const slot_t *s, const char *key, int min, int max, int *out)
{
    int64_t v = *out;
    int rc = get_int(c, s, key, min, max, &v);
    if (!rc)
        *out = (int)v;
    return rc;
}

static int get_bool(ctx_t *c, const slot_t *s, const char *key, bool *out)
{
    if (!s->k)
        return 0;
    const char *t;
    int rc = scalar_text(c, s, key, "true or false", &t);
    if (rc)
        return rc;
    if (!parse_bool(t, out))
        return fails(c, s, "%s '%s' is not a boolean; expected true or false", key, t);
    return 0;
}

#define DURATION_EXPECTED "a number followed by ms, s, m, h or d"

static void fmt_duration(char *b, size_t n, int64_t ms)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"d", DAY_MS}, {"h", 3600 * SEC_MS}, {"m", 60 * SEC_MS}, {"s", SEC_MS}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms && ms % units[i].ms == 0) {
            snprintf(b, n, "%" PRId64 "%s", ms / units[i].ms, units[i].u);
            return;
        }
    snprintf(b, n, "%" PRId64 "ms", ms);
}

/* Whether s is written as a duration (digits, then one of the units),
 * whatever its size. */
static bool duration_form(const char *s)
{
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    return !strcmp(s, "ms") || !strcmp(s, "s") || !strcmp(s, "m") || !strcmp(s, "h") ||
           !strcmp(s, "d");
}

static int get_duration(ctx_t *c, const slot_t *s, const char *key, int64_t min, int64_t max,
                        int64_t *out)
{
    if (!s->k)
        return 0;
    const char *t;
    int rc = scalar_text(c, s, key, DURATION_EXPECTED, &t);
    if (rc)
        return rc;
    int64_t v = fr_config_parse_duration(t);
    if (v < 0 && duration_form(t)) {
        char hi[32];
        fmt_duration(hi, sizeof hi, max);
        return fails(c, s, "%s '%.40s' is too large (over 64-bit milliseconds); expected at most %s",
                     key, t, hi);
    }
    if (v < 0)
        return fails(c, s, "%s '%s': expected %s", key, t, DURATION_EXPECTED);
    if (v < min || v > max) {
        char lo[32], hi[32];
        fmt_duration(lo, sizeof lo, min);
        fmt_duration(hi, sizeof hi, max);
        return fails(c, s, "%s '%s' is out of range; expected a duration from %s to %s", key, t,
                     lo, hi);
    }
    *out = v;
    return 0;
}

/* Bytes: an integer, or one with a unit: B, KiB, MiB, GiB, TiB (1024-based)
 * or KB, MB, GB, TB (1000-based).  -1 when malformed or too large. */
static int parse_bytes(const char *s, uint64_t *out)
{
    static const struct {
        const char *u;
        uint64_t mul;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", KIB},
                 {"MiB", MIB},
                 {"GiB", GIB},
                 {"TiB", GIB * KIB},
                 {"KB", 1000},
                 {"MB", 1000000},
                 {"GB", 1000000000},
                 {"TB", UINT64_C(1000000000000)}};
    uint64_t n = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(p, units[i].u)) {
            if (n > UINT64_MAX / units[i].mul)
                return -1;
            *out = n * units[i].mul;
            return 0;
        }
    return -1;
}

static int get_bytes(ctx_t *c, const slot_t *s, const char *key, uint64_t min, uint64_t max,
                     uint64_t *out)
{
    if (!s->k)
        return 0;
    const char *t;
    static const char expected[] = "bytes as an integer or a size such as 512MiB or 64GiB";
    int rc = scalar_text(c, s, key, expected, &t);
    if (rc)
        return rc;
    uint64_t v;
    if (parse_bytes(t, &v))
        return fails(c, s, "%s '%s' is not a size; expected %s", key, t, expected);
    if (v < min || v > max)
        return fails(c, s,
                     "%s %s is out of range; expected from %" PRIu64 " to %" PRIu64 " bytes", key,
                     t, min, max);
    *out = v;
    return 0;
}

/* One of names[]; *out receives its index. */
static int get_enum(ctx_t *c, const slot_t *s, const char *key, const char *const *names, size_t n,
                    int *out)
{
    if (!s->k)
        return 0;
    list_t l;
    list_join(&l, names, n);
    char expected[600];
    snprintf(expected, sizeof expected, "one of %s", l.b);
    const char *t;
    int rc = scalar_text(c, s, key, expected, &t);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t, names[i])) {
            *out = (int)i;
            return 0;
        }
    return fails(c, s, "%s '%s' is not known; expected %s", key, t, expected);
}

/* ------------------------------------------------------------------ */
/* collections                                                         */

/*
 * Reads mapping map (the value at `at`, which may be NULL for an empty
 * value) against keys[nkeys]: slots[i] receives key i, or stays empty.
 * A null value reads as an empty mapping.  what names the mapping.
 */
static int read_map(ctx_t *c, struct fy_node *map, struct fy_node *at, const char *what,
                    const char *const *keys, size_t nkeys, slot_t *slots)
{
    memset(slots, 0, nkeys * sizeof *slots);
    if (is_null(map))
        return 0;
    list_t l;
    list_join(&l, keys, nkeys);
    if (fy_node_get_type(map) != FYNT_MAPPING)
        return fail(c, map ? map : at, "%s is a %s; expected a mapping with keys %s", what,
                    fy_node_get_type(map) == FYNT_SCALAR ? "scalar" : "list", l.b);
    c->here = map;
    void *it = NULL;
    struct fy_node_pair *p;
    for (p = fy_node_mapping_iterate(map, &it); p; p = fy_node_mapping_iterate(map, &it)) {
        struct fy_node *k = fy_node_pair_key(p);
        if (!k || fy_node_get_type(k) != FYNT_SCALAR)
            return fail(c, k ? k : map, "a key in %s is not a plain name; expected one of %s",
                        what, l.b);
        const char *kt = fy_node_get_scalar0(k);
        if (!kt)
            return oom(c);
        size_t i = 0;
        while (i < nkeys && strcmp(kt, keys[i]) != 0)
            i++;
        if (i == nkeys)
            return fail(c, k, "unknown key '%.*s' in %s; expected one of %s", FR_CONFIG_MAX_NAME,
                        kt, what, l.b);
        slots[i].k = k;
        slots[i].v = fy_node_pair_value(p);
    }
    return 0;
}

static int missing(ctx_t *c, struct fy_node *map, struct fy_node *at, const char *what,
                   const char *key, const char *expected)
{
    return fail(c, map && !is_null(map) ? map : at, "%s has no '%s'; expected %s: %s", what, key,
                key, expected);
}

/*
 * Checks that a slot holds a list of min..max items; *n receives the count
 * (0 for an absent or empty value).  item names one item in messages.
 */
static int read_seq(ctx_t *c, const slot_t *s, const char *key, const char *item, size_t min,
                    size_t max, size_t *n)
{
    *n = 0;
    if (!is_null(s->v)) {
        if (fy_node_get_type(s->v) != FYNT_SEQUENCE)
            return fails(c, s, "%s is a %s; expected a list of %s", key,
                         fy_node_get_type(s->v) == FYNT_MAPPING ? "mapping" : "scalar", item);
        int cnt = fy_node_sequence_item_count(s->v);
        *n = cnt > 0 ? (size_t)cnt : 0;
    }
    if (*n < min)
        return fails(c, s, "%s is empty; expected a list of at least %zu %s", key, min, item);
    if (*n > max)
        return fail(c, fy_node_sequence_get_by_index(s->v, (int)max),
                    "%s has %zu entries; expected at most %zu %s", key, *n, max, item);
    return 0;
}

/* "LINE:COL" of n, for "first at" notes. */
static void where(ctx_t *c, struct fy_node *n, char *b, size_t len)
{
    int line, col;
    best_pos(c, n, NULL, &line, &col);
    snprintf(b, len, "%d:%d", line, col);
}

/* ------------------------------------------------------------------ */
/* sections                                                            */

enum { ST_BACKEND, ST_PATH, ST_MAP_SIZE, ST_RETENTION, ST_REDIS, ST__N };
static const char *const store_keys[] = {"backend", "path", "map_size", "log_retention", "redis"};
enum { RD_URL, RD_CLUSTER, RD_CTIMEOUT, RD_TIMEOUT, RD__N };
static const char *const redis_keys[] = {"url", "cluster", "connect_timeout_ms", "timeout_ms"};
static const char *const backends[] = {"lmdb", "redis"};

static int parse_store(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    slot_t s[ST__N], r[RD__N];
    int rc = read_map(c, sec->v, sec->k, "store", store_keys, ST__N, s);
    if (!rc) {
        int b = (int)cfg->store.backend;
        rc = get_enum(c, &s[ST_BACKEND], "backend", backends, 2, &b);
        cfg->store.backend = (fr_store_backend_t)b;
    }
    if (!rc)
        rc = get_string(c, &s[ST_PATH], "path", "a directory", &cfg->store.path);
    if (!rc)
        rc = get_bytes(c, &s[ST_MAP_SIZE], "map_size", MIB, UINT64_C(1) << 50,
                       &cfg->store.map_size_bytes);
    if (!rc)
        rc = get_duration(c, &s[ST_RETENTION], "log_retention", SEC_MS, 3650 * DAY_MS,
                          &cfg->store.log_retention_ms);
    if (!rc && s[ST_REDIS].k)
        rc = read_map(c, s[ST_REDIS].v, s[ST_REDIS].k, "store.redis", redis_keys, RD__N, r);
    if (!rc && s[ST_REDIS].k)
        rc = get_string(c, &r[RD_URL], "url", "a URL such as redis://127.0.0.1:6379",
                        &cfg->store.redis_url);
    if (!rc && s[ST_REDIS].k && r[RD_URL].k) {
        /* the store's own parser: what it would refuse at start is refused here */
        fr_redis_url_t u;
        char why[160];
        int urc = fr_redis_url_parse(cfg->store.redis_url, &u, why, sizeof why);
        if (urc == FR_ECONFIG)
            rc = fails(c, &r[RD_URL], "url: %s", why);
        else if (urc)
            rc = oom(c);
        if (!urc && u.db && r[RD_CLUSTER].k) {
            bool cl = false;
            rc = get_bool(c, &r[RD_CLUSTER], "cluster", &cl);
            if (!rc && cl)
                rc = fails(c, &r[RD_URL],
                           "url names database %d; expected none with cluster: true (a Redis "
                           "Cluster has database 0 only)",
                           u.db);
        }
        if (!urc)
            fr_redis_url_destroy(&u);
    }
    if (!rc && s[ST_REDIS].k)
        rc = get_bool(c, &r[RD_CLUSTER], "cluster", &cfg->store.redis_cluster);
    if (!rc && s[ST_REDIS].k)
        rc = get_int_as_int(c, &r[RD_CTIMEOUT], "connect_timeout_ms", 1, 600000,
                            &cfg->store.redis_connect_timeout_ms);
    if (!rc && s[ST_REDIS].k)
        rc = get_int_as_int(c, &r[RD_TIMEOUT], "timeout_ms", 1, 600000,
                            &cfg->store.redis_timeout_ms);
    return rc;
}

enum {
    SV_LISTEN,
    SV_THREADS,
    SV_TTL,
    SV_BODY,
    SV_BATCH,
    SV_KEY,
    SV_TIMEOUT,
    SV_BRK_FAIL,
    SV_BRK_OPEN,
    SV_MAXCONN,
    SV_MAXCONN_CLIENT,
    SV__N
};
static const char *const server_keys[] = {"listen",         "threads",   "idempotency_ttl",
                                          "max_body_bytes", "max_batch", "max_key_bytes",
                                          "timeout_s",      "breaker_failures",
                                          "breaker_open_ms", "max_connections",
                                          "max_connections_per_client"};

/* "host:port", "[v6]:port" or ":port" (all interfaces). */
static int parse_listen(ctx_t *c, const slot_t *s, fr_config_t *cfg)
{
    static const char expected[] = "host:port such as 127.0.0.1:8080 or [::1]:8080";
    const char *t;
    int rc = scalar_text(c, s, "listen", expected, &t);
    if (rc)
        return rc;
    const char *colon = strrchr(t, ':');
    int64_t port;
    if (!colon || !parse_i64(colon + 1, &port) || colon[1] == '-' || colon[1] == '+' || port < 0 ||
        port > 65535)
        return fails(c, s, "listen '%s' has no valid port; expected %s", t, expected);
    const char *h = t;
    size_t hl = (size_t)(colon - t);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl) || memchr(h, '[', hl) || memchr(h, ']', hl)) {
        return fails(c, s, "listen '%s' is ambiguous; expected %s (IPv6 in brackets)", t,
                     expected);
    }
    if (hl == 0) {
        h = "0.0.0.0";
        hl = 7;
    }
    char *host = strndup(h, hl);
    if (!host)
        return oom(c);
    /* the server binds an address, never a name it would have to look up
     * (which could name another machine): as fr_server_start reads it */
    unsigned char addr[16];
    if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1 &&
        inet_pton(AF_INET6, host, addr) != 1) {
        free(host);
        return fails(c, s, "listen host '%.*s' is not an IP address; expected %s, localhost, "
                           "or :port for all interfaces",
                     (int)(hl > 64 ? 64 : hl), h, expected);
    }
    free(cfg->server.listen_host);
    cfg->server.listen_host = host;
    cfg->server.listen_port = (int)port;
    return 0;
}

static int parse_server(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    slot_t s[SV__N];
    int rc = read_map(c, sec->v, sec->k, "server", server_keys, SV__N, s);
    if (!rc && s[SV_LISTEN].k)
        rc = parse_listen(c, &s[SV_LISTEN], cfg);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_THREADS], "threads", 1, 256, &cfg->server.threads);
    if (!rc)
        rc = get_duration(c, &s[SV_TTL], "idempotency_ttl", SEC_MS, 365 * DAY_MS,
                          &cfg->server.idempotency_ttl_ms);
    if (!rc)
        rc = get_bytes(c, &s[SV_BODY], "max_body_bytes", KIB, GIB, &cfg->server.max_body_bytes);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_BATCH], "max_batch", 1, 1000000, &cfg->server.max_batch);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_KEY], "max_key_bytes", 1, 500, &cfg->server.max_key_bytes);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_TIMEOUT], "timeout_s", 1, 86400, &cfg->server.timeout_s);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_BRK_FAIL], "breaker_failures", 1, 1000000,
                            &cfg->server.breaker_failures);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_BRK_OPEN], "breaker_open_ms", 1, 3600000,
                            &cfg->server.breaker_open_ms);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_MAXCONN], "max_connections", 1, 1000000,
                            &cfg->server.max_connections);
    if (!rc)
        rc = get_int_as_int(c, &s[SV_MAXCONN_CLIENT], "max_connections_per_client", 1, 1000000,
                            &cfg->server.max_connections_per_client);
    /* each HTTP thread takes its share of the connections */
    if (!rc && cfg->server.max_connections < cfg->server.threads)
        rc = fails(c, s[SV_MAXCONN].k ? &s[SV_MAXCONN] : &s[SV_THREADS],
                   "max_connections %d is below threads %d; expected at least one connection "
                   "per thread",
                   cfg->server.max_connections, cfg->server.threads);
    return rc;
}

enum { PR_COMMIT, PR_FUTURE, PR_CACHE, PR__N };
static const char *const processor_keys[] = {"commit_interval_ms", "max_future_ms",
                                             "cache_entities"};

static int parse_processor(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    slot_t s[PR__N];
    int rc = read_map(c, sec->v, sec->k, "processor", processor_keys, PR__N, s);
    if (!rc)
        rc = get_int(c, &s[PR_COMMIT], "commit_interval_ms", 1, 3600 * SEC_MS,
                     &cfg->processor.commit_interval_ms);
    if (!rc)
        rc = get_int(c, &s[PR_FUTURE], "max_future_ms", 0, MAX_WINDOW_MS,
                     &cfg->processor.max_future_ms);
    if (!rc) {
        int64_t v = (int64_t)cfg->processor.cache_entities;
        rc = get_int(c, &s[PR_CACHE], "cache_entities", 1, INT64_C(1000000000000), &v);
        cfg->processor.cache_entities = (uint64_t)v;
    }
    return rc;
}

/* The kind of a scalar as YAML's core schema reads it (quoted: string). */
typedef enum { Y_NULL, Y_BOOL, Y_INT, Y_FLOAT, Y_STRING } ykind_t;

static ykind_t yaml_kind(struct fy_node *n, const char *t, double *d)
{
    if (is_null(n))
        return Y_NULL;
    if (fy_node_get_style(n) != FYNS_PLAIN)
        return Y_STRING;
    bool b;
    if (parse_bool(t, &b))
        return Y_BOOL;
    int k = number_kind(t, d);
    return k < 0 ? Y_STRING : k == 0 ? Y_INT : Y_FLOAT;
}

/*
 * A scalar typed as a field of type `type` (named fname) into *v; strings
 * are copied (owned by v).  what names the value in messages.
 */
static int parse_typed(ctx_t *c, const slot_t *e, const char *what, fr_type_t type,
                       const char *fname, fr_value_t *v)
{
    if (!is_null(e->v) && fy_node_get_type(e->v) != FYNT_SCALAR)
        return fails(c, e, "%s is a %s; expected a %s", what,
                     fy_node_get_type(e->v) == FYNT_MAPPING ? "mapping" : "list",
                     fr_type_name(type));
    const char *t = is_null(e->v) ? "" : fy_node_get_scalar0(e->v);
    if (!t)
        return oom(c);
    if (e->v && strlen(t) != fy_node_get_scalar_length(e->v))
        return fails(c, e, "%s contains a NUL byte; expected a %s", what, fr_type_name(type));
    double d = 0;
    ykind_t k = yaml_kind(e->v, t, &d);
    if (k == Y_NULL)
        return fails(c, e, "%s is empty; expected a %s", what, fr_type_name(type));
    static const char *const kind_names[] = {"null", "boolean", "long", "double", "string"};
    bool ok = (type == FR_T_STRING && k == Y_STRING) || (type == FR_T_BOOL && k == Y_BOOL) ||
              (type == FR_T_LONG && k == Y_INT) ||
              (type == FR_T_DOUBLE && (k == Y_INT || k == Y_FLOAT));
    if (!ok)
        return fails(c, e, "%s '%.*s' is a %s but field '%s' is a %s; expected a %s%s", what,
                     FR_CONFIG_MAX_NAME, t, kind_names[k], fname, fr_type_name(type),
                     fr_type_name(type), type == FR_T_STRING && k != Y_NULL ? " (quote it)" : "");
    switch (type) {
    case FR_T_STRING: {
        char *copy = strdup(t);
        if (!copy)
            return oom(c);
        v->type = FR_T_STRING;
        v->u.s = copy;
        v->len = (uint32_t)strlen(copy);
        break;
    }
    case FR_T_LONG:
        if (!parse_i64(t, &v->u.i))
            return fails(c, e, "%s '%s' is out of range; expected a 64-bit long", what, t);
        v->type = FR_T_LONG;
        break;
    case FR_T_DOUBLE:
        if (!isfinite(d))
            return fails(c, e, "%s '%s' is not finite; expected a finite double", what, t);
        v->type = FR_T_DOUBLE;
        v->u.d = d;
        break;
    default:
        parse_bool(t, &v->u.b);
        v->type = FR_T_BOOL;
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* sources                                                             */

enum { SR_NAME, SR_FORMAT, SR_TS, SR_UNIT, SR_FIELDS, SR_KAFKA, SR__N };
static const char *const source_keys[] = {"name",           "format", "timestamp",
                                          "timestamp_unit", "fields", "kafka"};
enum { FD_NAME, FD_TYPE, FD_OPTIONAL, FD_DEFAULT, FD__N };
static const char *const field_keys[] = {"name", "type", "optional", "default"};
static const char *const formats[] = {"json", "avro"};
static const char *const ts_units[] = {"ms", "s"};
static const char *const type_names[] = {"string", "long", "double", "boolean"};

/* Field names of src for which keep(field) holds, into l. */
static const char *field_list(list_t *l, const fr_source_spec_t *src,
                              bool (*keep)(const fr_field_spec_t *, const void *), const void *arg)
{
    l->n = 0;
    l->full = false;
    l->b[0] = 0;
    for (size_t i = 0; i < src->nfields; i++)
        if (!keep || keep(&src->fields[i], arg))
            list_add(l, src->fields[i].name);
    if (!l->n)
        snprintf(l->b, sizeof l->b, "none");
    return l->b;
}

static int parse_fields(ctx_t *c, const slot_t *s, fr_source_spec_t *src)
{
    size_t n;
    int rc = read_seq(c, s, "fields", "fields", 1, FR_CONFIG_MAX_FIELDS, &n);
    if (rc)
        return rc;
    src->fields = calloc(n, sizeof *src->fields);
    if (!src->fields)
        return oom(c);
    struct fy_node *names[FR_CONFIG_MAX_FIELDS];
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(s->v, &it); item;
         item = fy_node_sequence_iterate(s->v, &it)) {
        slot_t f[FD__N];
        rc = read_map(c, item, s->k, "a field", field_keys, FD__N, f);
        if (rc)
            return rc;
        if (!f[FD_NAME].k)
            return missing(c, item, s->k, "a field", "name", "the field's name in the events");
        if (!f[FD_TYPE].k)
            return missing(c, item, s->k, "a field", "type", "string, long, double or boolean");
        const char *name;
        rc = get_name(c, &f[FD_NAME], "field name", &name);
        if (rc)
            return rc;
        for (size_t i = 0; i < src->nfields; i++)
            if (!strcmp(src->fields[i].name, name)) {
                char at[32];
                where(c, names[i], at, sizeof at);
                return fails(c, &f[FD_NAME],
                             "duplicate field name '%s' in source '%s' (first at %s); expected "
                             "each field once",
                             name, src->name, at);
            }
        int type = 0;
        rc = get_enum(c, &f[FD_TYPE], "type", type_names, 4, &type);
        if (rc)
            return rc;
        fr_field_spec_t *fs = &src->fields[src->nfields];
        fs->type = fr_type_parse(type_names[type]);
        rc = get_bool(c, &f[FD_OPTIONAL], "optional", &fs->optional);
        if (rc)
            return rc;
        if (f[FD_DEFAULT].k) {
            char what[FR_CONFIG_MAX_NAME + 32];
            snprintf(what, sizeof what, "default of field '%s'", name);
            rc = parse_typed(c, &f[FD_DEFAULT], what, fs->type, name, &fs->def);
            if (rc)
                return rc;
            fs->has_default = true;
        }
        fs->name = strdup(name);
        if (!fs->name)
            return oom(c);
        names[src->nfields++] = f[FD_NAME].v;
    }
    return 0;
}

static int parse_kafka(ctx_t *c, const slot_t *s, fr_source_spec_t *src)
{
    fr_kafka_spec_t *k = &src->kafka;
    k->enabled = true;
    if (is_null(s->v))
        return fails(c, s, "kafka is empty; expected a mapping with at least brokers");
    if (fy_node_get_type(s->v) != FYNT_MAPPING)
        return fails(c, s, "kafka is a %s; expected a mapping with brokers, topic, group",
                     fy_node_get_type(s->v) == FYNT_SCALAR ? "scalar" : "list");
    c->here = s->v;
    int n = fy_node_mapping_item_count(s->v);
    k->props = calloc(n > 0 ? (size_t)n : 1, sizeof *k->props);
    if (!k->props)
        return oom(c);
    bool have_brokers = false;
    void *it = NULL;
    struct fy_node_pair *p;
    for (p = fy_node_mapping_iterate(s->v, &it); p; p = fy_node_mapping_iterate(s->v, &it)) {
        slot_t kv = {fy_node_pair_key(p), fy_node_pair_value(p)};
        if (!kv.k || fy_node_get_type(kv.k) != FYNT_SCALAR)
            return fail(c, kv.k ? kv.k : s->v,
                        "a key in kafka is not a plain name; expected brokers, topic, group or a "
                        "librdkafka property");
        const char *key = fy_node_get_scalar0(kv.k);
        if (!key)
            return oom(c);
        char **dst = !strcmp(key, "brokers")     ? &k->brokers
                     : !strcmp(key, "topic")     ? &k->topic
                     : !strcmp(key, "group")     ? &k->group
                     : !strcmp(key, "dlq_topic") ? &k->dlq_topic
                                                 : NULL;
        if (dst) {
            int rc = get_string(c, &kv, key, "a non-empty string", dst);
            if (rc)
                return rc;
            have_brokers |= dst == &k->brokers;
            continue;
        }
        if (!strcmp(key, "max_message_bytes")) {
            const char *val;
            int rc = scalar_text(c, &kv, key, "a size such as 1MiB", &val);
            if (rc)
                return rc;
            if (parse_bytes(val, &k->max_message_bytes) || k->max_message_bytes < 64 ||
                k->max_message_bytes > 256 * MIB)
                return fails(c, &kv, "max_message_bytes '%.*s' is not a size from 64 bytes to "
                                     "256MiB; expected e.g. 1MiB",
                             FR_CONFIG_MAX_NAME, val);
            continue;
        }
        if (k->nprops >= FR_CONFIG_MAX_KAFKA_PROPS)
            return fail(c, kv.k, "kafka has more than %d properties; expected at most %d",
                        FR_CONFIG_MAX_KAFKA_PROPS, FR_CONFIG_MAX_KAFKA_PROPS);
        const char *val;
        int rc = scalar_text(c, &kv, key, "a string, number or boolean", &val);
        if (rc)
            return rc;
        fr_kv_t *prop = &k->props[k->nprops];
        prop->key = strdup(key);
        prop->value = strdup(val);
        k->nprops++; /* counted now so that fr_config_free frees a half-made pair */
        if (!prop->key || !prop->value)
            return oom(c);
    }
    if (!have_brokers)
        return missing(c, s->v, s->k, "kafka", "brokers", "host:port[,host:port...]");
    if (!k->topic)
        k->topic = strdup(src->name);
    if (!k->group)
        k->group = strdup("freshet");
    if (!k->topic || !k->group)
        return oom(c);
    if (!k->dlq_topic) {
        size_t tl = strlen(k->topic) + 5;
        k->dlq_topic = malloc(tl);
        if (!k->dlq_topic)
            return oom(c);
        snprintf(k->dlq_topic, tl, "%s.dlq", k->topic);
    }
    if (!k->max_message_bytes)
        k->max_message_bytes = MIB;
    return 0;
}

static bool is_required_long(const fr_field_spec_t *f, const void *arg)
{
    (void)arg;
    return !f->optional && f->type == FR_T_LONG;
}

static int parse_source(ctx_t *c, struct fy_node *item, struct fy_node *at, fr_config_t *cfg,
                        struct fy_node **names)
{
    slot_t s[SR__N];
    int rc = read_map(c, item, at, "a source", source_keys, SR__N, s);
    if (rc)
        return rc;
    if (!s[SR_NAME].k)
        return missing(c, item, at, "a source", "name", "a unique name");
    const char *name;
    rc = get_name(c, &s[SR_NAME], "source name", &name);
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->nsources; i++)
        if (!strcmp(cfg->sources[i].name, name)) {
            char first[32];
            where(c, names[i], first, sizeof first);
            return fails(c, &s[SR_NAME],
                         "duplicate source name '%s' (first at %s); expected a unique name", name,
                         first);
        }
    fr_source_spec_t *src = &cfg->sources[cfg->nsources++];
    names[cfg->nsources - 1] = s[SR_NAME].v;
    src->ts_field = -1;
    src->ts_unit_ms = 1;
    src->name = strdup(name);
    if (!src->name)
        return oom(c);
    char what[FR_CONFIG_MAX_NAME + 16];
    snprintf(what, sizeof what, "source '%s'", name);
    int v = 0;
    rc = get_enum(c, &s[SR_FORMAT], "format", formats, 2, &v);
    if (rc)
        return rc;
    src->format = (fr_format_t)v;
    v = 0;
    rc = get_enum(c, &s[SR_UNIT], "timestamp_unit", ts_units, 2, &v);
    if (rc)
        return rc;
    src->ts_unit_ms = v ? 1000 : 1;
    if (!s[SR_FIELDS].k)
        return missing(c, item, at, what, "fields",
                       "a list of {name, type} including the timestamp field");
    rc = parse_fields(c, &s[SR_FIELDS], src);
    if (rc)
        return rc;
    list_t l;
    if (!s[SR_TS].k)
        return missing(c, item, at, what, "timestamp",
                       "the name of a required long field holding event time");
    const char *ts;
    rc = scalar_text(c, &s[SR_TS], "timestamp", "a field name", &ts);
    if (rc)
        return rc;
    src->ts_field = fr_source_field_index(src, ts);
    if (src->ts_field < 0)
        return fails(c, &s[SR_TS],
                     "timestamp field '%.*s' is not a field of source '%s'; expected a "
                     "required long field (candidates: %s)",
                     FR_CONFIG_MAX_NAME, ts, src->name,
                     field_list(&l, src, is_required_long, NULL));
    const fr_field_spec_t *tf = &src->fields[src->ts_field];
    if (tf->type != FR_T_LONG || tf->optional)
        return fails(c, &s[SR_TS],
                     "timestamp field '%s' is %s %s field; expected a required long field "
                     "(candidates: %s)",
                     ts, tf->optional ? "an optional" : "a", fr_type_name(tf->type),
                     field_list(&l, src, is_required_long, NULL));
    if (s[SR_KAFKA].k)
        rc = parse_kafka(c, &s[SR_KAFKA], src);
    return rc;
}

static int parse_sources(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    size_t n;
    int rc = read_seq(c, sec, "sources", "sources", 1, FR_CONFIG_MAX_SOURCES, &n);
    if (rc)
        return rc;
    cfg->sources = calloc(n, sizeof *cfg->sources);
    if (!cfg->sources)
        return oom(c);
    struct fy_node *names[FR_CONFIG_MAX_SOURCES];
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(sec->v, &it); !rc && item;
         item = fy_node_sequence_iterate(sec->v, &it))
        rc = parse_source(c, item, sec->k, cfg, names);
    return rc;
}

/* ------------------------------------------------------------------ */
/* feature views                                                       */

enum { VW_NAME, VW_SOURCE, VW_ENTITY, VW_WINDOWS, VW_GRAN, VW_FILTER, VW_AGGS, VW__N };
static const char *const view_keys[] = {"name",        "source", "entity",      "windows",
                                        "granularity", "filter", "aggregations"};
enum { FL_FIELD, FL_EQUALS, FL__N };
static const char *const filter_keys[] = {"field", "equals"};
enum { AG_FN, AG_FIELD, AG_NAME, AG__N };
static const char *const agg_keys[] = {"fn", "field", "name"};

static bool is_entity_field(const fr_field_spec_t *f, const void *arg)
{
    (void)arg;
    return !f->optional && (f->type == FR_T_STRING || f->type == FR_T_LONG);
}

static bool fn_takes(const fr_field_spec_t *f, const void *arg)
{
    return fr_fn_accepts(*(const fr_fn_t *)arg, f->type);
}

static int parse_windows(ctx_t *c, const slot_t *s, fr_view_spec_t *vw)
{
    size_t n;
    int rc = read_seq(c, s, "windows", "windows", 1, FR_AGG_MAX_WINDOWS, &n);
    if (rc)
        return rc;
    vw->windows = calloc(n, sizeof *vw->windows);
    if (!vw->windows)
        return oom(c);
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(s->v, &it); item;
         item = fy_node_sequence_iterate(s->v, &it)) {
        slot_t w = {s->k, item};
        const char *t;
        rc = scalar_text(c, &w, "window", DURATION_EXPECTED, &t);
        if (rc)
            return rc;
        int64_t ms = fr_config_parse_duration(t);
        if (ms < 0 && duration_form(t))
            return fails(c, &w,
                         "window '%.40s' is too large (over 64-bit milliseconds); expected a "
                         "whole number of seconds from 1s to 3650d",
                         t);
        if (ms < 0)
            return fails(c, &w, "window '%.*s': expected %s", FR_CONFIG_MAX_NAME, t,
                         DURATION_EXPECTED);
        if (ms == 0 || ms % SEC_MS || ms > MAX_WINDOW_MS)
            return fails(c, &w,
                         "window '%s' is %s; expected a whole number of seconds from 1s to 3650d",
                         t, ms == 0 ? "zero" : ms % SEC_MS ? "not whole seconds" : "too long");
        for (size_t i = 0; i < vw->nwindows; i++)
            if (vw->windows[i].window_ms == ms)
                return fails(c, &w, "window '%s' repeats window '%s'; expected distinct windows",
                             t, vw->windows[i].label);
        fr_window_conf_t *wc = &vw->windows[vw->nwindows];
        wc->label = strdup(t);
        if (!wc->label)
            return oom(c);
        vw->nwindows++;
        wc->window_ms = ms;
        wc->tile_ms = 0;
    }
    return 0;
}

static int parse_granularity(ctx_t *c, const slot_t *s, fr_view_spec_t *vw)
{
    if (is_null(s->v))
        return 0;
    if (fy_node_get_type(s->v) != FYNT_MAPPING)
        return fails(c, s, "granularity is a %s; expected a mapping of window to tile, e.g. "
                           "{ 5m: 5s }",
                     fy_node_get_type(s->v) == FYNT_SCALAR ? "scalar" : "list");
    c->here = s->v;
    void *it = NULL;
    struct fy_node_pair *p;
    for (p = fy_node_mapping_iterate(s->v, &it); p; p = fy_node_mapping_iterate(s->v, &it)) {
        slot_t key = {fy_node_pair_key(p), fy_node_pair_key(p)};
        slot_t val = {fy_node_pair_key(p), fy_node_pair_value(p)};
        list_t l;
        l.n = 0;
        l.full = false;
        l.b[0] = 0;
        for (size_t i = 0; i < vw->nwindows; i++)
            list_add(&l, vw->windows[i].label);
        const char *kt;
        int rc = scalar_text(c, &key, "granularity key", "a window of this view", &kt);
        if (rc)
            return rc;
        int64_t wms = fr_config_parse_duration(kt);
        size_t w = 0;
        while (w < vw->nwindows && vw->windows[w].window_ms != wms)
            w++;
        if (wms < 0 || w == vw->nwindows)
            return fails(c, &key,
                         "granularity for '%.*s' but the view has no such window; expected one "
                         "of %s",
                         FR_CONFIG_MAX_NAME, kt, l.b);
        if (vw->windows[w].tile_ms)
            return fails(c, &key, "granularity for window '%s' given twice; expected it once",
                         vw->windows[w].label);
        const char *vt;
        rc = scalar_text(c, &val, "granularity", "a tile size such as 5s", &vt);
        if (rc)
            return rc;
        int64_t g = fr_config_parse_duration(vt);
        if (g < 0 && duration_form(vt))
            return fails(c, &val,
                         "granularity '%.40s' is too large (over 64-bit milliseconds); expected "
                         "a whole number of seconds that divides %s",
                         vt, vw->windows[w].label);
        if (g < 0)
            return fails(c, &val, "granularity '%.*s': expected %s", FR_CONFIG_MAX_NAME, vt,
                         DURATION_EXPECTED);
        if (g == 0 || g % SEC_MS || vw->windows[w].window_ms % g)
            return fails(c, &val,
                         "granularity %s does not divide window %s into whole-second tiles; "
                         "expected a whole number of seconds that divides %s",
                         vt, vw->windows[w].label, vw->windows[w].label);
        vw->windows[w].tile_ms = g;
    }
    return 0;
}

static int parse_filter(ctx_t *c, const slot_t *s, const fr_source_spec_t *src,
                        fr_view_spec_t *vw)
{
    slot_t f[FL__N];
    int rc = read_map(c, s->v, s->k, "filter", filter_keys, FL__N, f);
    if (rc)
        return rc;
    if (is_null(s->v))
        return fails(c, s, "filter is empty; expected { field: NAME, equals: VALUE }");
    if (!f[FL_FIELD].k)
        return missing(c, s->v, s->k, "filter", "field", "a field of the view's source");
    if (!f[FL_EQUALS].k)
        return missing(c, s->v, s->k, "filter", "equals", "the value events must carry");
    list_t l;
    const char *fname;
    rc = scalar_text(c, &f[FL_FIELD], "filter field", "a field name", &fname);
    if (rc)
        return rc;
    int fi = fr_source_field_index(src, fname);
    if (fi < 0)
        return fails(c, &f[FL_FIELD],
                     "filter field '%.*s' is not a field of source '%s'; expected one of: %s",
                     FR_CONFIG_MAX_NAME, fname, src->name, field_list(&l, src, NULL, NULL));
    rc = parse_typed(c, &f[FL_EQUALS], "filter value", src->fields[fi].type, src->fields[fi].name,
                     &vw->filter.equals);
    if (rc)
        return rc;
    vw->filter.enabled = true;
    vw->filter.field = fi;
    return 0;
}

static int parse_aggs(ctx_t *c, const slot_t *s, const fr_source_spec_t *src, fr_view_spec_t *vw)
{
    size_t n;
    int rc = read_seq(c, s, "aggregations", "aggregations", 1, FR_AGG_MAX_AGGS, &n);
    if (rc)
        return rc;
    vw->aggs = calloc(n, sizeof *vw->aggs);
    if (!vw->aggs)
        return oom(c);
    const char *fn_names[FR_FN__COUNT];
    for (int i = 0; i < FR_FN__COUNT; i++)
        fn_names[i] = fr_fn_name((fr_fn_t)i);
    struct fy_node *where_named[FR_AGG_MAX_AGGS];
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(s->v, &it); item;
         item = fy_node_sequence_iterate(s->v, &it)) {
        slot_t a[AG__N];
        list_t l;
        rc = read_map(c, item, s->k, "an aggregation", agg_keys, AG__N, a);
        if (rc)
            return rc;
        if (!a[AG_FN].k)
            return missing(c, item, s->k, "an aggregation", "fn",
                           list_join(&l, fn_names, FR_FN__COUNT));
        const char *fnt;
        char expected[600];
        snprintf(expected, sizeof expected, "one of %s", list_join(&l, fn_names, FR_FN__COUNT));
        rc = scalar_text(c, &a[AG_FN], "fn", expected, &fnt);
        if (rc)
            return rc;
        int fn = fr_fn_parse(fnt);
        if (fn < 0 || fn >= FR_FN__COUNT)
            return fails(c, &a[AG_FN], "unknown aggregation function '%.*s'; expected %s",
                         FR_CONFIG_MAX_NAME, fnt, expected);
        fr_agg_conf_t *ac = &vw->aggs[vw->naggs];
        fr_agg_spec_t *sp = &vw->plan.aggs[vw->naggs];
        ac->fn = (fr_fn_t)fn;
        sp->fn = (fr_fn_t)fn;
        sp->field = -1;
        sp->type = FR_T_NULL;
        vw->naggs++;
        if (fr_fn_needs_field(ac->fn)) {
            if (!a[AG_FIELD].k) {
                char what[64], exp[600];
                snprintf(what, sizeof what, "aggregation '%s'", fnt);
                snprintf(exp, sizeof exp, "a field to aggregate (candidates: %s)",
                         field_list(&l, src, fn_takes, &ac->fn));
                return missing(c, item, s->k, what, "field", exp);
            }
            const char *ft;
            rc = scalar_text(c, &a[AG_FIELD], "field", "a field name", &ft);
            if (rc)
                return rc;
            int fi = fr_source_field_index(src, ft);
            if (fi < 0)
                return fails(c, &a[AG_FIELD],
                             "field '%.*s' is not a field of source '%s'; expected a field %s "
                             "accepts (candidates: %s)",
                             FR_CONFIG_MAX_NAME, ft, src->name, fnt,
                             field_list(&l, src, fn_takes, &ac->fn));
            fr_type_t ty = src->fields[fi].type;
            if (!fr_fn_accepts(ac->fn, ty)) {
                char types[64] = "";
                size_t tn = 0, nt = 0;
                for (int t = FR_T_STRING; t <= FR_T_BOOL; t++)
                    nt += fr_fn_accepts(ac->fn, (fr_type_t)t);
                for (int t = FR_T_STRING, i = 0; t <= FR_T_BOOL; t++)
                    if (fr_fn_accepts(ac->fn, (fr_type_t)t))
                        tn += (size_t)snprintf(types + tn, sizeof types - tn, "%s%s",
                                               i++ == 0 ? "" : (size_t)i == nt ? " or " : ", ",
                                               fr_type_name((fr_type_t)t));
                return fails(c, &a[AG_FIELD],
                             "%s cannot aggregate field '%s' of type %s; expected a %s field "
                             "(candidates: %s)",
                             fnt, ft, fr_type_name(ty), types,
                             field_list(&l, src, fn_takes, &ac->fn));
            }
            ac->field = strdup(ft);
            if (!ac->field)
                return oom(c);
            sp->field = fi;
            sp->type = ty;
        } else if (a[AG_FIELD].k) {
            return fail(c, a[AG_FIELD].k, "%s takes no field; expected no 'field' key", fnt);
        }
        char defname[2 * FR_CONFIG_MAX_NAME + 32];
        const char *name = defname;
        if (a[AG_NAME].k) {
            rc = get_name(c, &a[AG_NAME], "aggregation name", &name);
            if (rc)
                return rc;
        } else {
            if (ac->field)
                snprintf(defname, sizeof defname, "%s_%s", ac->field, fnt);
            else
                snprintf(defname, sizeof defname, "%s", fnt);
            if (strlen(defname) > FR_CONFIG_MAX_NAME)
                return fail(c, item,
                            "default aggregation name '%s' is longer than %d bytes; expected "
                            "an explicit shorter name",
                            defname, FR_CONFIG_MAX_NAME);
        }
        where_named[vw->naggs - 1] = a[AG_NAME].k ? a[AG_NAME].v : item;
        for (size_t i = 0; i + 1 < vw->naggs; i++)
            if (!strcmp(vw->aggs[i].name, name)) {
                char first[32];
                where(c, where_named[i], first, sizeof first);
                return fail(c, where_named[vw->naggs - 1],
                            "duplicate aggregation name '%s' in view '%s' (first at %s); "
                            "expected a unique name (set name:)",
                            name, vw->name, first);
            }
        ac->name = strdup(name);
        if (!ac->name)
            return oom(c);
    }
    return 0;
}

static int parse_view(ctx_t *c, struct fy_node *item, struct fy_node *at, fr_config_t *cfg,
                      struct fy_node **names)
{
    slot_t s[VW__N];
    list_t l;
    int rc = read_map(c, item, at, "a feature view", view_keys, VW__N, s);
    if (rc)
        return rc;
    if (!s[VW_NAME].k)
        return missing(c, item, at, "a feature view", "name", "a unique name");
    const char *name;
    rc = get_name(c, &s[VW_NAME], "feature view name", &name);
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->nviews; i++)
        if (!strcmp(cfg->views[i].name, name)) {
            char first[32];
            where(c, names[i], first, sizeof first);
            return fails(c, &s[VW_NAME],
                         "duplicate feature view name '%s' (first at %s); expected a unique name",
                         name, first);
        }
    fr_view_spec_t *vw = &cfg->views[cfg->nviews++];
    names[cfg->nviews - 1] = s[VW_NAME].v;
    vw->source = vw->entity = -1;
    vw->filter.field = -1;
    vw->name = strdup(name);
    if (!vw->name)
        return oom(c);
    char what[FR_CONFIG_MAX_NAME + 24];
    snprintf(what, sizeof what, "feature view '%s'", name);

    if (!s[VW_SOURCE].k)
        return missing(c, item, at, what, "source", "the name of a source");
    const char *sn;
    rc = scalar_text(c, &s[VW_SOURCE], "source", "the name of a source", &sn);
    if (rc)
        return rc;
    vw->source = fr_config_source_index(cfg, sn);
    if (vw->source < 0) {
        l.n = 0;
        l.full = false;
        l.b[0] = 0;
        for (size_t i = 0; i < cfg->nsources; i++)
            list_add(&l, cfg->sources[i].name);
        return fails(c, &s[VW_SOURCE], "unknown source '%.*s'; expected one of %s",
                     FR_CONFIG_MAX_NAME, sn, l.b);
    }
    const fr_source_spec_t *src = &cfg->sources[vw->source];

    if (!s[VW_ENTITY].k)
        return missing(c, item, at, what, "entity",
                       "a required string or long field of the source");
    const char *en;
    rc = scalar_text(c, &s[VW_ENTITY], "entity", "a field name", &en);
    if (rc)
        return rc;
    vw->entity = fr_source_field_index(src, en);
    if (vw->entity < 0)
        return fails(c, &s[VW_ENTITY],
                     "entity '%.*s' is not a field of source '%s'; expected a required string "
                     "or long field (candidates: %s)",
                     FR_CONFIG_MAX_NAME, en, src->name, field_list(&l, src, is_entity_field, NULL));
    const fr_field_spec_t *ef = &src->fields[vw->entity];
    if (ef->optional)
        return fails(c, &s[VW_ENTITY],
                     "entity '%s' is an optional field of source '%s'; expected a required "
                     "string or long field (candidates: %s)",
                     en, src->name, field_list(&l, src, is_entity_field, NULL));
    if (ef->type != FR_T_STRING && ef->type != FR_T_LONG)
        return fails(c, &s[VW_ENTITY],
                     "entity '%s' is a %s field; expected a required string or long field "
                     "(candidates: %s)",
                     en, fr_type_name(ef->type), field_list(&l, src, is_entity_field, NULL));

    if (!s[VW_WINDOWS].k)
        return missing(c, item, at, what, "windows", "a list such as [5m, 1h, 24h]");
    rc = parse_windows(c, &s[VW_WINDOWS], vw);
    if (!rc && s[VW_GRAN].k)
        rc = parse_granularity(c, &s[VW_GRAN], vw);
    if (rc)
        return rc;
    for (size_t w = 0; w < vw->nwindows; w++)
        if (!vw->windows[w].tile_ms)
            vw->windows[w].tile_ms = fr_agg_default_tile_ms(vw->windows[w].window_ms);

    if (s[VW_FILTER].k) {
        rc = parse_filter(c, &s[VW_FILTER], src, vw);
        if (rc)
            return rc;
    }
    if (!s[VW_AGGS].k)
        return missing(c, item, at, what, "aggregations",
                       "a list of { fn, field, name }");
    rc = parse_aggs(c, &s[VW_AGGS], src, vw);
    if (rc)
        return rc;

    vw->plan.naggs = vw->naggs;
    vw->plan.nwindows = vw->nwindows;
    for (size_t w = 0; w < vw->nwindows; w++) {
        vw->plan.windows[w].window_ms = vw->windows[w].window_ms;
        vw->plan.windows[w].tile_ms = vw->windows[w].tile_ms;
    }
    if (fr_agg_plan_init(&vw->plan))
        return fails(c, &s[VW_WINDOWS],
                     "feature view '%s' has windows and aggregations the aggregator refuses; "
                     "expected tiles that divide their windows",
                     vw->name);

    vw->feature_names = calloc(vw->naggs * vw->nwindows, sizeof *vw->feature_names);
    if (!vw->feature_names)
        return oom(c);
    for (size_t a = 0; a < vw->naggs; a++)
        for (size_t w = 0; w < vw->nwindows; w++) {
            size_t len = strlen(vw->aggs[a].name) + 1 + strlen(vw->windows[w].label) + 1;
            char *fname = malloc(len);
            if (!fname)
                return oom(c);
            snprintf(fname, len, "%s_%s", vw->aggs[a].name, vw->windows[w].label);
            vw->feature_names[a * vw->nwindows + w] = fname;
        }
    fr_source_spec_t *msrc = &cfg->sources[vw->source];
    for (size_t w = 0; w < vw->nwindows; w++)
        if (vw->windows[w].window_ms > msrc->horizon_ms)
            msrc->horizon_ms = vw->windows[w].window_ms;
    return 0;
}

static int parse_views(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    size_t n;
    int rc = read_seq(c, sec, "feature_views", "feature views", 0, FR_CONFIG_MAX_VIEWS, &n);
    if (rc || !n)
        return rc;
    cfg->views = calloc(n, sizeof *cfg->views);
    if (!cfg->views)
        return oom(c);
    struct fy_node *names[FR_CONFIG_MAX_VIEWS];
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(sec->v, &it); !rc && item;
         item = fy_node_sequence_iterate(sec->v, &it))
        rc = parse_view(c, item, sec->k, cfg, names);
    return rc;
}

/* ------------------------------------------------------------------ */
/* training sets                                                       */

enum { TS_NAME, TS_SPINE, TS_POINT, TS_FEATURES, TS_LABEL, TS__N };
static const char *const tset_keys[] = {"name", "spine", "point", "features", "label"};
static const char *const points[] = {"arrival", "event_time"};
enum { LB_SOURCE, LB_KEY, LB_FIELD, LB_HORIZON, LB_DEFAULT, LB_ENTITY, LB_FN, LB_FILTER,
       LB_WINDOW, LB_THRESHOLD, LB__N };
static const char *const label_keys[] = {"source",  "key", "field",  "horizon", "default",
                                         "entity",  "fn",  "filter", "window",  "threshold"};

fr_type_t fr_view_feature_type(const fr_config_t *cfg, const fr_view_spec_t *vw, size_t f)
{
    (void)cfg;
    const fr_agg_spec_t *a = &vw->plan.aggs[f / vw->nwindows];
    return fr_fn_result_type(a->fn, a->type);
}

/* The spine's field named like field f of source src, or -1 when the spine
 * is a file (checked when it is read); FR_ECONFIG when the spine source
 * lacks it. */
static int spine_has(ctx_t *c, const slot_t *s, const fr_config_t *cfg, const fr_tset_spec_t *ts,
                     const char *what, const char *fname)
{
    if (ts->spine < 0)
        return 0;
    const fr_source_spec_t *sp = &cfg->sources[ts->spine];
    if (fr_source_field_index(sp, fname) >= 0)
        return 0;
    list_t l;
    return fails(c, s, "%s needs field '%s' in the spine, but source '%s' has none; expected one "
                       "of: %s",
                 what, fname, sp->name, field_list(&l, sp, NULL, NULL));
}

/* Whether the spine carries what on-demand feature od reads: its request
 * fields, and the entity of each view it reads (through earlier on-demand
 * features too). */
static int spine_has_refs(ctx_t *c, const slot_t *s, const fr_config_t *cfg,
                          const fr_tset_spec_t *ts, int od)
{
    const fr_ondemand_spec_t *o = &cfg->ondemand[od];
    char what[2 * FR_CONFIG_MAX_NAME + 32];
    for (size_t i = 0; i < o->nrefs; i++) {
        const fr_ondemand_ref_t *r = &o->refs[i];
        int rc = 0;
        if (r->kind == FR_REF_FIELD) {
            snprintf(what, sizeof what, "on-demand feature '%s'", o->name);
            rc = spine_has(c, s, cfg, ts, what, r->name);
        } else if (r->kind == FR_REF_FEATURE) {
            const fr_view_spec_t *vw = &cfg->views[r->view];
            snprintf(what, sizeof what, "on-demand feature '%s' (view '%s')", o->name, vw->name);
            rc = spine_has(c, s, cfg, ts, what, cfg->sources[vw->source].fields[vw->entity].name);
        } else {
            rc = spine_has_refs(c, s, cfg, ts, r->ondemand);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_tset_features(ctx_t *c, const slot_t *s, const fr_config_t *cfg,
                               fr_tset_spec_t *ts)
{
    size_t n;
    int rc = read_seq(c, s, "features", "features", 1, FR_CONFIG_MAX_TSET_FEATURES, &n);
    if (rc)
        return rc;
    ts->features = calloc(n, sizeof *ts->features);
    if (!ts->features)
        return oom(c);
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(s->v, &it); item;
         item = fy_node_sequence_iterate(s->v, &it)) {
        slot_t e = {s->k, item};
        const char *t;
        rc = scalar_text(c, &e, "a feature", "a view, view:feature, a field of the spine or an "
                                              "on-demand feature", &t);
        if (rc)
            return rc;
        fr_tsf_spec_t *f = &ts->features[ts->nfeatures];
        f->view = f->feature = f->field = f->ondemand = -1;
        f->name = strdup(t);
        if (!f->name)
            return oom(c);
        ts->nfeatures++;
        for (size_t i = 0; i + 1 < ts->nfeatures; i++)
            if (!strcmp(ts->features[i].name, t))
                return fails(c, &e, "feature '%.*s' is listed twice; expected each once",
                             FR_CONFIG_MAX_NAME, t);
        const char *colon = strchr(t, ':');
        if (colon) {
            char vn[FR_CONFIG_MAX_NAME + 1];
            size_t vl = (size_t)(colon - t);
            if (vl > FR_CONFIG_MAX_NAME)
                return fails(c, &e, "feature '%.40s...': the view name is too long", t);
            memcpy(vn, t, vl);
            vn[vl] = '\0';
            int v = fr_config_view_index(cfg, vn);
            if (v < 0)
                return fails(c, &e, "feature '%.*s': unknown view '%s'", FR_CONFIG_MAX_NAME, t, vn);
            const fr_view_spec_t *vw = &cfg->views[v];
            for (size_t k = 0; k < vw->naggs * vw->nwindows; k++)
                if (!strcmp(vw->feature_names[k], colon + 1)) {
                    f->kind = FR_TSF_FEATURE;
                    f->view = v;
                    f->feature = (int)k;
                    f->type = fr_view_feature_type(cfg, vw, k);
                }
            if (f->kind != FR_TSF_FEATURE)
                return fails(c, &e, "feature '%.*s': view '%s' has no feature '%.*s'; expected "
                                    "e.g. %s:%s",
                             FR_CONFIG_MAX_NAME, t, vn, FR_CONFIG_MAX_NAME, colon + 1, vn,
                             vw->feature_names[0]);
        } else if ((f->view = fr_config_view_index(cfg, t)) >= 0) {
            f->kind = FR_TSF_VIEW;
        } else if ((f->ondemand = fr_config_ondemand_index(cfg, t)) >= 0) {
            f->kind = FR_TSF_ONDEMAND;
            f->type = cfg->ondemand[f->ondemand].type;
            rc = spine_has_refs(c, &e, cfg, ts, f->ondemand);
            if (rc)
                return rc;
        } else if (ts->spine >= 0 &&
                   (f->field = fr_source_field_index(&cfg->sources[ts->spine], t)) >= 0) {
            f->kind = FR_TSF_FIELD;
            f->type = cfg->sources[ts->spine].fields[f->field].type;
        } else if (ts->spine < 0) {
            /* a file spine: the column is found when the file is read; its
             * type is the one sources declare for a field of that name */
            f->kind = FR_TSF_FIELD;
            f->type = FR_T_NULL;
            for (size_t si = 0; si < cfg->nsources && f->type == FR_T_NULL; si++) {
                int fi = fr_source_field_index(&cfg->sources[si], t);
                if (fi >= 0)
                    f->type = cfg->sources[si].fields[fi].type;
            }
            if (f->type == FR_T_NULL)
                return fails(c, &e, "feature '%.*s' is not a view, a view:feature, an on-demand "
                                    "feature or a field of any source",
                             FR_CONFIG_MAX_NAME, t);
        } else {
            list_t l;
            return fails(c, &e, "feature '%.*s' is not a view, a view:feature, an on-demand "
                                "feature or a field of spine source '%s' (fields: %s)",
                         FR_CONFIG_MAX_NAME, t, cfg->sources[ts->spine].name,
                         field_list(&l, &cfg->sources[ts->spine], NULL, NULL));
        }
        if (f->view >= 0) {
            const fr_view_spec_t *vw = &cfg->views[f->view];
            const fr_source_spec_t *vs = &cfg->sources[vw->source];
            char what[2 * FR_CONFIG_MAX_NAME + 16];
            snprintf(what, sizeof what, "view '%s'", vw->name);
            rc = spine_has(c, &e, cfg, ts, what, vs->fields[vw->entity].name);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static bool is_label_value(const fr_field_spec_t *f, const void *arg)
{
    (void)arg;
    return f->type == FR_T_LONG || f->type == FR_T_DOUBLE || f->type == FR_T_BOOL;
}

static int label_field(ctx_t *c, const slot_t *s, const fr_source_spec_t *ls, const char *key,
                       const char *expected, int *out)
{
    const char *t;
    int rc = scalar_text(c, s, key, expected, &t);
    if (rc)
        return rc;
    *out = fr_source_field_index(ls, t);
    if (*out < 0) {
        list_t l;
        return fails(c, s, "label %s '%.*s' is not a field of source '%s'; expected one of: %s",
                     key, FR_CONFIG_MAX_NAME, t, ls->name, field_list(&l, ls, NULL, NULL));
    }
    return 0;
}

static int parse_label(ctx_t *c, const slot_t *s, const fr_config_t *cfg, fr_tset_spec_t *ts)
{
    slot_t l[LB__N];
    list_t names;
    fr_label_spec_t *lb = &ts->label;
    int rc = read_map(c, s->v, s->k, "label", label_keys, LB__N, l);
    if (rc)
        return rc;
    if (is_null(s->v))
        return fails(c, s, "label is empty; expected { source, key, field, horizon, default } or "
                           "{ source, entity, fn, window }");
    if (!l[LB_SOURCE].k)
        return missing(c, s->v, s->k, "label", "source", "the label events' source");
    const char *sn;
    rc = scalar_text(c, &l[LB_SOURCE], "label source", "a source name", &sn);
    if (rc)
        return rc;
    lb->source = fr_config_source_index(cfg, sn);
    if (lb->source < 0) {
        names.n = 0;
        names.full = false;
        names.b[0] = 0;
        for (size_t i = 0; i < cfg->nsources; i++)
            list_add(&names, cfg->sources[i].name);
        return fails(c, &l[LB_SOURCE], "unknown label source '%.*s'; expected one of %s",
                     FR_CONFIG_MAX_NAME, sn, names.b);
    }
    const fr_source_spec_t *ls = &cfg->sources[lb->source];
    lb->key = lb->field = lb->entity = -1;
    lb->filter.field = -1;
    bool join = l[LB_KEY].k != NULL, win = l[LB_ENTITY].k || l[LB_FN].k || l[LB_WINDOW].k;
    if (join && win)
        return fails(c, &l[LB_KEY], "label has both key (a joined label) and entity/fn/window (a "
                                    "forward window); expected one kind");
    if (!join && !win)
        return missing(c, s->v, s->k, "label", "key",
                       "the field joining labels to spine rows (or entity, fn, window for a "
                       "forward-window label)");
    if (join) {
        lb->kind = FR_LABEL_JOIN;
        for (int k = LB_FILTER; k <= LB_THRESHOLD; k++)
            if (l[k].k)
                return fails(c, &l[k], "%s belongs to forward-window labels; a joined label has "
                                       "source, key, field, horizon, default",
                             label_keys[k]);
        rc = label_field(c, &l[LB_KEY], ls, "key", "a field name", &lb->key);
        if (!rc)
            rc = spine_has(c, &l[LB_KEY], cfg, ts, "the label key", ls->fields[lb->key].name);
        if (rc)
            return rc;
        lb->type = FR_T_LONG;
        if (l[LB_FIELD].k) {
            rc = label_field(c, &l[LB_FIELD], ls, "field", "a field name", &lb->field);
            if (rc)
                return rc;
            if (!is_label_value(&ls->fields[lb->field], NULL))
                return fails(c, &l[LB_FIELD], "label field '%s' is a %s; expected a long, double "
                                              "or boolean field (candidates: %s)",
                             ls->fields[lb->field].name, fr_type_name(ls->fields[lb->field].type),
                             field_list(&names, ls, is_label_value, NULL));
            lb->type = ls->fields[lb->field].type;
        }
        if (!l[LB_HORIZON].k)
            return missing(c, s->v, s->k, "label", "horizon",
                           "how long after a row's time its label may come, e.g. 30d");
        rc = get_duration(c, &l[LB_HORIZON], "horizon", 0, MAX_WINDOW_MS, &lb->horizon_ms);
        if (!rc && l[LB_DEFAULT].k && !is_null(l[LB_DEFAULT].v))
            rc = parse_typed(c, &l[LB_DEFAULT], "label default", lb->type,
                             lb->field >= 0 ? ls->fields[lb->field].name : "label", &lb->def);
        return rc;
    }
    lb->kind = FR_LABEL_WINDOW;
    for (int k = LB_KEY; k <= LB_DEFAULT; k++)
        if (k != LB_FIELD && l[k].k)
            return fails(c, &l[k], "%s belongs to joined labels; a forward-window label has "
                                   "source, entity, fn, field, filter, window, threshold",
                         label_keys[k]);
    if (!l[LB_ENTITY].k)
        return missing(c, s->v, s->k, "label", "entity", "the field that matches rows, e.g. user_id");
    if (!l[LB_FN].k)
        return missing(c, s->v, s->k, "label", "fn", "an aggregation such as count or sum");
    if (!l[LB_WINDOW].k)
        return missing(c, s->v, s->k, "label", "window", "how far ahead it looks, e.g. 30m");
    rc = label_field(c, &l[LB_ENTITY], ls, "entity", "a field name", &lb->entity);
    if (!rc)
        rc = spine_has(c, &l[LB_ENTITY], cfg, ts, "the label entity", ls->fields[lb->entity].name);
    if (rc)
        return rc;
    const char *fn;
    rc = scalar_text(c, &l[LB_FN], "fn", "an aggregation", &fn);
    if (rc)
        return rc;
    int f = fr_fn_parse(fn);
    if (f < 0)
        return fails(c, &l[LB_FN], "unknown fn '%.*s'; expected count, sum, avg, min, max, stddev, "
                                   "count_distinct, last or since_last",
                     FR_CONFIG_MAX_NAME, fn);
    fr_agg_spec_t *as = &lb->plan.aggs[0];
    as->fn = (fr_fn_t)f;
    as->field = -1;
    as->type = FR_T_NULL;
    if (fr_fn_needs_field(as->fn)) {
        if (!l[LB_FIELD].k)
            return missing(c, s->v, s->k, "label", "field", "the field the aggregation reads");
        rc = label_field(c, &l[LB_FIELD], ls, "field", "a field name", &as->field);
        if (rc)
            return rc;
        as->type = ls->fields[as->field].type;
        if (!fr_fn_accepts(as->fn, as->type))
            return fails(c, &l[LB_FIELD], "fn %s cannot read %s field '%s'", fn,
                         fr_type_name(as->type), ls->fields[as->field].name);
        lb->field = as->field;
    } else if (l[LB_FIELD].k) {
        return fails(c, &l[LB_FIELD], "fn %s takes no field", fn);
    }
    rc = get_duration(c, &l[LB_WINDOW], "window", 1, MAX_WINDOW_MS, &lb->window_ms);
    if (rc)
        return rc;
    if (l[LB_FILTER].k) {
        fr_view_spec_t tmp = {.filter = {.field = -1}};
        rc = parse_filter(c, &l[LB_FILTER], ls, &tmp);
        if (rc)
            return rc;
        lb->filter = tmp.filter;
    }
    if (l[LB_THRESHOLD].k) {
        fr_value_t th = {0};
        rc = parse_typed(c, &l[LB_THRESHOLD], "threshold", FR_T_DOUBLE, "threshold", &th);
        if (rc)
            return rc;
        lb->has_threshold = true;
        lb->threshold = th.u.d;
    }
    lb->plan.naggs = 1;
    lb->plan.nwindows = 1;
    lb->plan.windows[0].window_ms = lb->window_ms;
    lb->plan.windows[0].tile_ms = 1;
    if (fr_agg_plan_init(&lb->plan))
        return fails(c, &l[LB_FN], "the label's aggregation is refused by the aggregator");
    lb->type = fr_fn_result_type(as->fn, as->type);
    if (lb->has_threshold && lb->type != FR_T_LONG && lb->type != FR_T_DOUBLE)
        return fails(c, &l[LB_THRESHOLD], "threshold needs a numeric label; fn %s gives a %s", fn,
                     fr_type_name(lb->type));
    if (lb->has_threshold)
        lb->type = FR_T_LONG;
    return 0;
}

static int parse_tset(ctx_t *c, struct fy_node *item, struct fy_node *at, fr_config_t *cfg,
                      struct fy_node **names)
{
    slot_t s[TS__N];
    int rc = read_map(c, item, at, "a training set", tset_keys, TS__N, s);
    if (rc)
        return rc;
    if (!s[TS_NAME].k)
        return missing(c, item, at, "a training set", "name", "a unique name");
    const char *name;
    rc = get_name(c, &s[TS_NAME], "training set name", &name);
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->ntsets; i++)
        if (!strcmp(cfg->tsets[i].name, name)) {
            char first[32];
            where(c, names[i], first, sizeof first);
            return fails(c, &s[TS_NAME],
                         "duplicate training set name '%s' (first at %s); expected a unique name",
                         name, first);
        }
    fr_tset_spec_t *ts = &cfg->tsets[cfg->ntsets++];
    names[cfg->ntsets - 1] = s[TS_NAME].v;
    ts->spine = -1;
    ts->label.source = -1;
    ts->name = strdup(name);
    if (!ts->name)
        return oom(c);
    if (s[TS_SPINE].k) {
        const char *sn;
        rc = scalar_text(c, &s[TS_SPINE], "spine", "a source name", &sn);
        if (rc)
            return rc;
        ts->spine = fr_config_source_index(cfg, sn);
        if (ts->spine < 0) {
            list_t l = {.n = 0};
            l.b[0] = 0;
            for (size_t i = 0; i < cfg->nsources; i++)
                list_add(&l, cfg->sources[i].name);
            return fails(c, &s[TS_SPINE],
                         "unknown spine source '%.*s'; expected one of %s (or no spine, and "
                         "--spine FILE on the command line)",
                         FR_CONFIG_MAX_NAME, sn, l.b);
        }
    }
    int pt = FR_POINT_ARRIVAL;
    rc = get_enum(c, &s[TS_POINT], "point", points, 2, &pt);
    if (rc)
        return rc;
    ts->point = ts->spine < 0 ? FR_POINT_EVENT_TIME : (fr_point_t)pt;
    if (s[TS_POINT].k && ts->spine < 0 && pt == FR_POINT_ARRIVAL)
        return fails(c, &s[TS_POINT], "point: arrival needs a source spine (a file spine has no "
                                      "arrival order); expected event_time, or a spine source");
    if (!s[TS_FEATURES].k)
        return missing(c, item, at, "a training set", "features",
                       "a list of views, view:feature, spine fields or on-demand features");
    rc = parse_tset_features(c, &s[TS_FEATURES], cfg, ts);
    if (!rc && s[TS_LABEL].k)
        rc = parse_label(c, &s[TS_LABEL], cfg, ts);
    return rc;
}

static int parse_tsets(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    size_t n;
    int rc = read_seq(c, sec, "training_sets", "training sets", 0, FR_CONFIG_MAX_TSETS, &n);
    if (rc || !n)
        return rc;
    cfg->tsets = calloc(n, sizeof *cfg->tsets);
    if (!cfg->tsets)
        return oom(c);
    struct fy_node *names[FR_CONFIG_MAX_TSETS];
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(sec->v, &it); !rc && item;
         item = fy_node_sequence_iterate(sec->v, &it))
        rc = parse_tset(c, item, sec->k, cfg, names);
    return rc;
}

/* ------------------------------------------------------------------ */
/* on-demand features                                                  */

enum { OD_NAME, OD_EXPR, OD__N };
static const char *const ondemand_keys[] = {"name", "expr"};

/* Words of the expression language, which cannot name a feature. */
static const char *const expr_words[] = {"and", "or", "not", "true", "false", "null"};

/* What the resolver knows while one expression compiles. */
typedef struct odctx {
    fr_config_t *cfg;
    size_t self;              /* index of the feature being compiled */
    const char *const *names; /* every entry's name as written (NULL if none), for messages */
    size_t nnames;
    fr_ondemand_spec_t *od;
    size_t cap;
    char msg[700];            /* the resolver's own message, when it refuses a name */
} odctx_t;

/* The type of name as a field: the one every source declaring it gives;
 * FR_T_NULL when none does, and -1 (with a message) when they differ. */
static int field_type(odctx_t *o, const char *name, fr_type_t *type)
{
    const fr_config_t *cfg = o->cfg;
    int first = -1;
    *type = FR_T_NULL;
    for (size_t s = 0; s < cfg->nsources; s++) {
        int f = fr_source_field_index(&cfg->sources[s], name);
        if (f < 0)
            continue;
        fr_type_t t = cfg->sources[s].fields[f].type;
        if (first >= 0 && t != *type) {
            snprintf(o->msg, sizeof o->msg,
                     "field '%s' has an ambiguous type: a %s in source '%s' but a %s in source "
                     "'%s'; expected one type wherever it is declared",
                     name, fr_type_name(*type), cfg->sources[first].name, fr_type_name(t),
                     cfg->sources[s].name);
            return -1;
        }
        if (first < 0)
            first = (int)s;
        *type = t;
    }
    return 0;
}

static int od_resolve(void *ctx, const char *name, size_t len, int *slot, fr_type_t *type)
{
    odctx_t *o = ctx;
    const fr_config_t *cfg = o->cfg;
    fr_ondemand_ref_t r = {.view = -1, .feature = -1, .ondemand = -1};
    bool found = false;
    list_t l;
    (void)len;
    /* an on-demand feature above this one */
    for (size_t i = 0; i < o->nnames && !found; i++) {
        if (!o->names[i] || strcmp(o->names[i], name))
            continue;
        if (i >= o->self) {
            if (i == o->self)
                snprintf(o->msg, sizeof o->msg, "'%s' refers to itself", name);
            else
                snprintf(o->msg, sizeof o->msg,
                         "on-demand feature '%s' is defined below this one; expected only "
                         "those above it",
                         name);
            return FR_ENOTFOUND;
        }
        r.kind = FR_REF_ONDEMAND;
        r.ondemand = (int)i;
        r.type = cfg->ondemand[i].type;
        found = true;
    }
    /* a field of the request */
    if (!found) {
        if (field_type(o, name, &r.type))
            return FR_ETYPE;
        r.kind = FR_REF_FIELD;
        found = r.type != FR_T_NULL;
    }
    /* view.feature (a view's name may hold dots: each split is tried) */
    int known_view = -1;
    for (const char *dot = strchr(name, '.'); dot && !found; dot = strchr(dot + 1, '.')) {
        size_t vl = (size_t)(dot - name);
        for (size_t v = 0; v < cfg->nviews && !found; v++) {
            const fr_view_spec_t *vw = &cfg->views[v];
            if (strlen(vw->name) != vl || memcmp(vw->name, name, vl))
                continue;
            known_view = (int)v;
            for (size_t f = 0; f < vw->naggs * vw->nwindows; f++)
                if (!strcmp(vw->feature_names[f], dot + 1)) {
                    const fr_agg_spec_t *a = &vw->plan.aggs[f / vw->nwindows];
                    r.kind = FR_REF_FEATURE;
                    r.view = (int)v;
                    r.feature = (int)f;
                    r.type = fr_fn_result_type(a->fn, a->type);
                    found = true;
                    break;
                }
        }
    }
    if (!found) {
        l.n = 0;
        l.full = false;
        l.b[0] = 0;
        if (known_view >= 0) {
            const fr_view_spec_t *vw = &cfg->views[known_view];
            for (size_t f = 0; f < vw->naggs * vw->nwindows; f++)
                list_add(&l, vw->feature_names[f]);
            snprintf(o->msg, sizeof o->msg,
                     "view '%s' has no feature '%s'; expected one of %s", vw->name,
                     name + strlen(vw->name) + 1, l.b);
        } else if (strchr(name, '.')) {
            for (size_t v = 0; v < cfg->nviews; v++)
                list_add(&l, cfg->views[v].name);
            snprintf(o->msg, sizeof o->msg,
                     "unknown name '%s': no field has that name and no feature view is named "
                     "'%.*s'; expected view.feature with a view of %s",
                     name, (int)(strchr(name, '.') - name), name, l.n ? l.b : "(none)");
        } else {
            snprintf(o->msg, sizeof o->msg,
                     "unknown name '%s'; expected a field of a source, an on-demand feature "
                     "defined above, or view.feature",
                     name);
        }
        return FR_ENOTFOUND;
    }
    fr_ondemand_spec_t *od = o->od;
    if (od->nrefs == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 4;
        fr_ondemand_ref_t *p = realloc(od->refs, nc * sizeof *p);
        if (!p)
            return FR_ENOMEM;
        od->refs = p;
        o->cap = nc;
    }
    r.name = strdup(name);
    if (!r.name)
        return FR_ENOMEM;
    od->refs[od->nrefs] = r;
    *slot = (int)od->nrefs++;
    *type = r.type;
    return 0;
}

/*
 * Where byte off of scalar n's value lies in the file.  The value is the
 * scalar as YAML decoded it; the file holds it with quotes, escapes and
 * folded lines.  Walking both from the scalar's start, a byte of the value
 * is matched with the next equal byte of the file, what is left unmatched
 * (escape backslashes, doubled quotes, indentation) is skipped.  False
 * when n has no place in the file (a copy made by an alias).
 */
static bool place_in_scalar(ctx_t *c, struct fy_node *n, size_t off, int *line, int *col)
{
    struct fy_token *t = fy_node_get_scalar_token(n);
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    size_t vlen = 0;
    const char *v = fy_node_get_scalar(n, &vlen);
    if (!m || !v || !c->text || m->input_pos >= c->len)
        return false;
    int ln = m->line + 1, cl = m->column + 1;
    size_t r = m->input_pos;
    if (off > vlen)
        off = vlen;
    for (size_t i = 0; i <= off && r < c->len; i++) {
        /* find the file's byte for value byte i (or, at the end, stop) */
        if (i < vlen)
            while (r < c->len && c->text[r] != v[i]) {
                if (c->text[r] == '\n')
                    ln++, cl = 1;
                else if (((unsigned char)c->text[r] & 0xc0) != 0x80)
                    cl++;
                r++;
            }
        if (i == off || r >= c->len)
            break;
        if (c->text[r] == '\n')
            ln++, cl = 1;
        else if (((unsigned char)c->text[r] & 0xc0) != 0x80)
            cl++;
        r++;
    }
    *line = ln;
    *col = cl;
    return true;
}

__attribute__((format(printf, 4, 5))) static int fail_at(ctx_t *c, int line, int col,
                                                         const char *fmt, ...)
{
    if (!c->err || !c->errlen)
        return FR_ECONFIG;
    va_list ap;
    va_start(ap, fmt);
    int w = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->name, line, col);
    if (w >= 0 && (size_t)w < c->errlen)
        vsnprintf(c->err + w, c->errlen - (size_t)w, fmt, ap);
    va_end(ap);
    one_line(c->err);
    return FR_ECONFIG;
}

static bool is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static int parse_one_ondemand(ctx_t *c, struct fy_node *item, struct fy_node *at, fr_config_t *cfg,
                              odctx_t *o, struct fy_node **where_named)
{
    slot_t s[OD__N];
    int rc = read_map(c, item, at, "an on-demand feature", ondemand_keys, OD__N, s);
    if (rc)
        return rc;
    if (!s[OD_NAME].k)
        return missing(c, item, at, "an on-demand feature", "name", "a unique name");
    const char *name;
    rc = get_name(c, &s[OD_NAME], "on-demand feature name", &name);
    if (rc)
        return rc;
    if (!is_identifier(name))
        return fails(c, &s[OD_NAME],
                     "on-demand feature name '%s' is not an identifier; expected letters, digits "
                     "and '_', not starting with a digit",
                     name);
    for (size_t i = 0; i < sizeof expr_words / sizeof expr_words[0]; i++)
        if (!strcmp(name, expr_words[i]))
            return fails(c, &s[OD_NAME],
                         "on-demand feature name '%s' is a word of the expression language; "
                         "expected another name",
                         name);
    char first[32];
    for (size_t i = 0; i < cfg->nondemand; i++)
        if (!strcmp(cfg->ondemand[i].name, name)) {
            where(c, where_named[i], first, sizeof first);
            return fails(c, &s[OD_NAME],
                         "duplicate on-demand feature name '%s' (first at %s); expected a "
                         "unique name",
                         name, first);
        }
    if (fr_config_view_index(cfg, name) >= 0)
        return fails(c, &s[OD_NAME],
                     "on-demand feature name '%s' is the name of a feature view; expected "
                     "another name",
                     name);
    for (size_t i = 0; i < cfg->nsources; i++)
        if (fr_source_field_index(&cfg->sources[i], name) >= 0)
            return fails(c, &s[OD_NAME],
                         "on-demand feature name '%s' is the name of a field of source '%s'; "
                         "expected another name",
                         name, cfg->sources[i].name);
    fr_ondemand_spec_t *od = &cfg->ondemand[cfg->nondemand++];
    where_named[cfg->nondemand - 1] = s[OD_NAME].v;
    od->name = strdup(name);
    if (!od->name)
        return oom(c);
    char what[FR_CONFIG_MAX_NAME + 32];
    snprintf(what, sizeof what, "on-demand feature '%s'", name);
    if (!s[OD_EXPR].k)
        return missing(c, item, at, what, "expr",
                       "an expression such as \"amount / card_txn.amount_avg_1h\"");
    const char *text;
    rc = scalar_text(c, &s[OD_EXPR], "expr", "an expression", &text);
    if (rc)
        return rc;
    od->expr = strdup(text);
    if (!od->expr)
        return oom(c);
    o->self = cfg->nondemand - 1;
    o->od = od;
    o->cap = 0;
    o->msg[0] = 0;
    size_t off = 0;
    char msg[300];
    rc = fr_expr_compile_at(od->expr, strlen(od->expr), od_resolve, o, &od->prog, &od->type, &off,
                            msg, sizeof msg);
    if (rc == FR_ENOMEM)
        return oom(c);
    if (rc) {
        const char *why = o->msg[0] ? o->msg : msg;
        int line, col;
        if (place_in_scalar(c, s[OD_EXPR].v, off, &line, &col))
            return fail_at(c, line, col, "%s: %s", what, why);
        return fails(c, &s[OD_EXPR], "%s: at %zu bytes into expr: %s", what, off, why);
    }
    return 0;
}

/* models and drift                                                    */

enum { MD_RELOAD, MD_SAMPLE, MD_RETENTION, MD_LIST, MD__N };
static const char *const models_keys[] = {"reload_ms", "log_sample", "log_retention", "list"};
enum { MO_NAME, MO_TSET, MO_XGB, MO__N };
static const char *const model_keys[] = {"name", "training_set", "xgboost"};
enum { DR_WINDOW, DR_WARN, DR_ALERT, DR__N };
static const char *const drift_keys[] = {"window", "psi_warn", "psi_alert"};

/* A number in [lo, hi] into *out. */
static int get_real(ctx_t *c, const slot_t *s, const char *key, double lo, double hi, double *out)
{
    if (!s->k)
        return 0;
    const char *t;
    char expected[96];
    snprintf(expected, sizeof expected, "a number from %g to %g", lo, hi);
    int rc = scalar_text(c, s, key, expected, &t);
    if (rc)
        return rc;
    double d;
    if (number_kind(t, &d) < 0 || !isfinite(d))
        return fails(c, s, "%s '%.*s' is not a number; expected %s", key, FR_CONFIG_MAX_NAME, t,
                     expected);
    if (d < lo || d > hi)
        return fails(c, s, "%s %s is out of range; expected %s", key, t, expected);
    *out = d;
    return 0;
}

static int parse_model(ctx_t *c, struct fy_node *item, struct fy_node *at, fr_config_t *cfg,
                       struct fy_node **names)
{
    slot_t s[MO__N];
    int rc = read_map(c, item, at, "a model", model_keys, MO__N, s);
    if (rc)
        return rc;
    if (!s[MO_NAME].k)
        return missing(c, item, at, "a model", "name", "a unique name");
    const char *name;
    rc = get_name(c, &s[MO_NAME], "model name", &name);
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->models.n; i++)
        if (!strcmp(cfg->models.list[i].name, name)) {
            char first[32];
            where(c, names[i], first, sizeof first);
            return fails(c, &s[MO_NAME], "duplicate model name '%s' (first at %s); expected a "
                                         "unique name",
                         name, first);
        }
    fr_model_spec_t *m = &cfg->models.list[cfg->models.n++];
    names[cfg->models.n - 1] = s[MO_NAME].v;
    m->tset = -1;
    m->name = strdup(name);
    if (!m->name)
        return oom(c);
    if (!s[MO_TSET].k)
        return missing(c, item, at, "a model", "training_set",
                       "the training set its rows and inputs come from");
    const char *tn;
    rc = scalar_text(c, &s[MO_TSET], "training_set", "a training set's name", &tn);
    if (rc)
        return rc;
    m->tset = fr_config_tset_index(cfg, tn);
    if (m->tset < 0) {
        list_t l = {.n = 0};
        l.b[0] = 0;
        for (size_t i = 0; i < cfg->ntsets; i++)
            list_add(&l, cfg->tsets[i].name);
        return fails(c, &s[MO_TSET], "unknown training set '%.*s'; expected one of: %s",
                     FR_CONFIG_MAX_NAME, tn, cfg->ntsets ? l.b : "(none configured)");
    }
    const fr_tset_spec_t *ts = &cfg->tsets[m->tset];
    if (ts->label.kind == FR_LABEL_NONE)
        return fails(c, &s[MO_TSET], "training set '%s' has no label; a model learns one",
                     ts->name);
    const slot_t *x = &s[MO_XGB];
    if (!x->k || is_null(x->v))
        return 0;
    if (fy_node_get_type(x->v) != FYNT_MAPPING)
        return fails(c, x, "xgboost is a %s; expected a mapping of xgboost parameters such as "
                           "{ objective: \"binary:logistic\", max_depth: 6, eta: 0.1, rounds: 200 }",
                     fy_node_get_type(x->v) == FYNT_SCALAR ? "scalar" : "list");
    int cnt = fy_node_mapping_item_count(x->v);
    if (cnt > FR_CONFIG_MAX_MODEL_PARAMS)
        return fails(c, x, "xgboost has %d parameters; expected at most %d", cnt,
                     FR_CONFIG_MAX_MODEL_PARAMS);
    m->params = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *m->params);
    if (!m->params)
        return oom(c);
    void *it = NULL;
    struct fy_node_pair *p;
    for (p = fy_node_mapping_iterate(x->v, &it); p; p = fy_node_mapping_iterate(x->v, &it)) {
        slot_t kv = {fy_node_pair_key(p), fy_node_pair_value(p)};
        if (!kv.k || fy_node_get_type(kv.k) != FYNT_SCALAR)
            return fail(c, kv.k ? kv.k : x->v, "a key in xgboost is not a plain name");
        const char *key = fy_node_get_scalar0(kv.k);
        if (!key)
            return oom(c);
        const char *val;
        rc = scalar_text(c, &kv, key, "a string, number or boolean", &val);
        if (rc)
            return rc;
        if (!strcmp(key, "tree_method") && strcmp(val, "hist"))
            return fails(c, &kv, "tree_method '%.*s': freshet trains with hist; expected hist "
                                 "or no tree_method",
                         FR_CONFIG_MAX_NAME, val);
        fr_kv_t *kp = &m->params[m->nparams];
        kp->key = strdup(key);
        kp->value = strdup(val);
        m->nparams++;
        if (!kp->key || !kp->value)
            return oom(c);
    }
    return 0;
}

static int parse_ondemand(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    size_t n;
    int rc = read_seq(c, sec, "on_demand", "on-demand features", 0, FR_CONFIG_MAX_ONDEMAND, &n);
    if (rc || !n)
        return rc;
    cfg->ondemand = calloc(n, sizeof *cfg->ondemand);
    if (!cfg->ondemand)
        return oom(c);
    /* every name first, so that a reference to one further down is
     * reported as such rather than as unknown */
    const char *names[FR_CONFIG_MAX_ONDEMAND];
    struct fy_node *where_named[FR_CONFIG_MAX_ONDEMAND];
    size_t nn = 0;
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(sec->v, &it); item && nn < n;
         item = fy_node_sequence_iterate(sec->v, &it)) {
        struct fy_node *v = fy_node_get_type(item) == FYNT_MAPPING
                                ? fy_node_mapping_lookup_by_string(item, "name", FY_NT)
                                : NULL;
        names[nn++] = v && fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
    }
    odctx_t o = {.cfg = cfg, .names = names, .nnames = nn};
    it = NULL;
    for (item = fy_node_sequence_iterate(sec->v, &it); !rc && item;
         item = fy_node_sequence_iterate(sec->v, &it))
        rc = parse_one_ondemand(c, item, sec->k, cfg, &o, where_named);
    return rc;
}

static int parse_models(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    slot_t s[MD__N];
    int rc = read_map(c, sec->v, sec->k, "models", models_keys, MD__N, s);
    if (!rc)
        rc = get_int(c, &s[MD_RELOAD], "reload_ms", 10, 3600 * SEC_MS, &cfg->models.reload_ms);
    if (!rc)
        rc = get_real(c, &s[MD_SAMPLE], "log_sample", 0, 1, &cfg->models.log_sample);
    if (!rc)
        rc = get_duration(c, &s[MD_RETENTION], "log_retention", SEC_MS, 3650 * DAY_MS,
                          &cfg->models.log_retention_ms);
    size_t n;
    if (!rc)
        rc = read_seq(c, &s[MD_LIST], "list", "models", 0, FR_CONFIG_MAX_MODELS, &n);
    if (rc || !n)
        return rc;
    cfg->models.list = calloc(n, sizeof *cfg->models.list);
    if (!cfg->models.list)
        return oom(c);
    struct fy_node *names[FR_CONFIG_MAX_MODELS];
    void *it = NULL;
    struct fy_node *item;
    for (item = fy_node_sequence_iterate(s[MD_LIST].v, &it); !rc && item;
         item = fy_node_sequence_iterate(s[MD_LIST].v, &it))
        rc = parse_model(c, item, s[MD_LIST].k, cfg, names);
    return rc;
}

static int parse_drift(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    slot_t s[DR__N];
    int rc = read_map(c, sec->v, sec->k, "drift", drift_keys, DR__N, s);
    if (!rc)
        rc = get_duration(c, &s[DR_WINDOW], "window", 60 * SEC_MS, 30 * DAY_MS,
                          &cfg->drift.window_ms);
    if (!rc)
        rc = get_real(c, &s[DR_WARN], "psi_warn", 0, 100, &cfg->drift.psi_warn);
    if (!rc)
        rc = get_real(c, &s[DR_ALERT], "psi_alert", 0, 100, &cfg->drift.psi_alert);
    if (!rc && cfg->drift.psi_alert < cfg->drift.psi_warn)
        rc = fails(c, s[DR_ALERT].k ? &s[DR_ALERT] : &s[DR_WARN],
                   "psi_alert %g is below psi_warn %g; expected psi_warn <= psi_alert",
                   cfg->drift.psi_alert, cfg->drift.psi_warn);
    return rc;
}

/* ------------------------------------------------------------------ */
/* the document                                                        */

enum {
    TOP_STORE,
    TOP_SERVER,
    TOP_PROCESSOR,
    TOP_SOURCES,
    TOP_VIEWS,
    TOP_REGISTRY,
    TOP_ONDEMAND,
    TOP_TSETS,
    TOP_MODELS,
    TOP_DRIFT,
    TOP__N
};
static const char *const top_keys[] = {"store",         "server",          "processor",
                                       "sources",       "feature_views",   "schema_registry",
                                       "on_demand",     "training_sets",   "models",
                                       "drift"};

enum { RG_URL, RG_TIMEOUT, RG__N };
static const char *const registry_keys[] = {"url", "timeout_ms"};

static int parse_registry(ctx_t *c, const slot_t *sec, fr_config_t *cfg)
{
    slot_t r[RG__N];
    int rc = read_map(c, sec->v, sec->k, "schema_registry", registry_keys, RG__N, r);
    if (!rc && r[RG_URL].k)
        rc = get_string(c, &r[RG_URL], "url", "a URL such as http://127.0.0.1:8081",
                        &cfg->registry.url);
    if (!rc && cfg->registry.url && strncmp(cfg->registry.url, "http://", 7) &&
        strncmp(cfg->registry.url, "https://", 8))
        rc = fails(c, &r[RG_URL], "url '%.*s' is not an http(s) URL; expected e.g. "
                                  "http://127.0.0.1:8081",
                   FR_CONFIG_MAX_NAME, cfg->registry.url);
    if (!rc)
        rc = get_int_as_int(c, &r[RG_TIMEOUT], "timeout_ms", 1, 600000, &cfg->registry.timeout_ms);
    return rc;
}

static int set_defaults(fr_config_t *cfg, const char *name)
{
    cfg->path = strdup(name);
    cfg->store.backend = FR_STORE_LMDB;
    cfg->store.path = strdup("./data");
    cfg->store.map_size_bytes = 64 * GIB;
    cfg->store.log_retention_ms = 7 * DAY_MS;
    cfg->store.redis_url = strdup("redis://127.0.0.1:6379");
    cfg->store.redis_cluster = false;
    cfg->server.listen_host = strdup("127.0.0.1");
    cfg->server.listen_port = 8080;
    cfg->server.threads = 4;
    cfg->server.idempotency_ttl_ms = DAY_MS;
    cfg->server.max_body_bytes = 16 * MIB;
    cfg->server.max_batch = 10000;
    cfg->server.max_key_bytes = 256;
    cfg->server.timeout_s = 30;
    cfg->server.breaker_failures = 5;
    cfg->server.breaker_open_ms = 1000;
    cfg->server.max_connections = 10000;
    cfg->server.max_connections_per_client = 1000;
    cfg->store.redis_connect_timeout_ms = 1000;
    cfg->store.redis_timeout_ms = 250;
    cfg->processor.commit_interval_ms = 50;
    cfg->processor.max_future_ms = 300000;
    cfg->processor.cache_entities = 2000000;
    cfg->registry.timeout_ms = 2000;
    cfg->models.reload_ms = 1000;
    cfg->models.log_sample = 1.0;
    cfg->models.log_retention_ms = 7 * DAY_MS;
    cfg->drift.window_ms = 3600 * SEC_MS;
    cfg->drift.psi_warn = 0.1;
    cfg->drift.psi_alert = 0.25;
    return cfg->path && cfg->store.path && cfg->store.redis_url && cfg->server.listen_host
               ? 0
               : FR_ENOMEM;
}

static int parse_doc(ctx_t *c, struct fy_node *root, fr_config_t *cfg)
{
    list_t l;
    slot_t s[TOP__N];
    if (is_null(root))
        return fail(c, NULL, "the configuration is empty; expected a mapping with keys %s",
                    list_join(&l, top_keys, TOP__N));
    int rc = read_map(c, root, NULL, "the configuration", top_keys, TOP__N, s);
    if (!rc)
        rc = parse_store(c, &s[TOP_STORE], cfg);
    if (!rc)
        rc = parse_server(c, &s[TOP_SERVER], cfg);
    if (!rc)
        rc = parse_processor(c, &s[TOP_PROCESSOR], cfg);
    if (!rc && !s[TOP_SOURCES].k)
        rc = missing(c, root, NULL, "the configuration", "sources",
                     "a list of sources (name, fields, timestamp)");
    if (!rc)
        rc = parse_sources(c, &s[TOP_SOURCES], cfg);
    if (!rc)
        rc = parse_views(c, &s[TOP_VIEWS], cfg);
    if (!rc && s[TOP_REGISTRY].k)
        rc = parse_registry(c, &s[TOP_REGISTRY], cfg);
    if (!rc)
        rc = parse_ondemand(c, &s[TOP_ONDEMAND], cfg);
    if (!rc && s[TOP_TSETS].k)
        rc = parse_tsets(c, &s[TOP_TSETS], cfg);
    if (!rc && s[TOP_MODELS].k)
        rc = parse_models(c, &s[TOP_MODELS], cfg);
    if (!rc && s[TOP_DRIFT].k)
        rc = parse_drift(c, &s[TOP_DRIFT], cfg);
    return rc;
}

/*
 * Whether the document stays small once aliases are expanded: a few lines
 * of YAML can otherwise stand for billions of nodes ("billion laughs"), or
 * for an endless one (an alias inside its own anchor).  The walk stops at
 * the first limit crossed, so it costs at most MAX_EXPANDED_NODES steps.
 * *bad receives the outermost alias being expanded then (or the node).
 */
#define MAX_EXPANDED_NODES 1000000
#define MAX_EXPANDED_DEPTH 256

static bool expansion_ok(struct fy_node *n, struct fy_node *via, int depth, size_t *count,
                         struct fy_node **bad)
{
    if (!n)
        return true;
    if (++*count > MAX_EXPANDED_NODES || depth > MAX_EXPANDED_DEPTH) {
        *bad = via ? via : n;
        return false;
    }
    if (fy_node_is_alias(n)) {
        /* libfyaml 0.7.12 reads an alias name as a path and overruns its
         * buffer on some (a star, slash, dash): only plain anchor names go to it */
        size_t al = 0;
        const char *an = fy_node_get_scalar(n, &al);
        for (size_t i = 0; an && i < al; i++)
            if (!isalnum((unsigned char)an[i]) && an[i] != '_' && an[i] != '-' && an[i] != '.')
                an = NULL;
        if (!an || !al) {
            *bad = n;
            *count = SIZE_MAX; /* tells the caller why */
            return false;
        }
        /* an unknown alias is left to fy_document_resolve to report */
        struct fy_node *t = fy_node_resolve_alias(n);
        return !t || expansion_ok(t, via ? via : n, depth + 1, count, bad);
    }
    void *it = NULL;
    if (fy_node_get_type(n) == FYNT_SEQUENCE) {
        struct fy_node *item;
        for (item = fy_node_sequence_iterate(n, &it); item; item = fy_node_sequence_iterate(n, &it))
            if (!expansion_ok(item, via, depth + 1, count, bad))
                return false;
    } else if (fy_node_get_type(n) == FYNT_MAPPING) {
        struct fy_node_pair *p;
        for (p = fy_node_mapping_iterate(n, &it); p; p = fy_node_mapping_iterate(n, &it))
            if (!expansion_ok(fy_node_pair_key(p), via, depth + 1, count, bad) ||
                !expansion_ok(fy_node_pair_value(p), via, depth + 1, count, bad))
                return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* libfyaml 0.7.12 faults kept away from                               */
/*
 * Each was found by fuzzing the configuration parser; the text is checked
 * for them before (or instead of) handing it over.  Both refusals name
 * something YAML writers avoid anyway.
 *
 * 1. A ':' value indicator followed by whitespace holding a tab and then a
 *    block indicator (- ? : | >) makes the scanner free a simple key twice
 *    on the error path ("cannot use tab for indentation"): a segfault in
 *    fy_indent_vacuum_internal when the parser is cleaned up (upstream
 *    0bb4406, after 0.7.12).  Found by a scan of the raw text.
 * 2. A single-quoted scalar holding two escaped quotes in a row ('''' in
 *    its text) is misread (an extra quote; upstream c0a716e), and reading
 *    its text leaks the iterator's chunk array when it has more than eight
 *    chunks (upstream 0af6061).  Found from the scalar's marks, without
 *    reading its text.
 */

/* Where fault 1 would strike (the offending tab), or SIZE_MAX.  Quotes,
 * comments and block scalars are not told apart: telling them apart the
 * way the scanner does would take a YAML scanner, and a colon, a tab and
 * a block indicator in a row is rare in any of them (refused there too). */
static size_t tab_before_block_indicator(const char *t, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (t[i] != ':' || (t[i + 1] != ' ' && t[i + 1] != '\t'))
            continue;
        size_t j = i + 1, tab = SIZE_MAX;
        for (; j < n && (t[j] == ' ' || t[j] == '\t'); j++)
            if (t[j] == '\t' && tab == SIZE_MAX)
                tab = j;
        if (tab == SIZE_MAX || j == n)
            continue;
        int blank_after = j + 1 == n || strchr(" \t\r\n", t[j + 1]);
        if (strchr("?:|>", t[j]) || (t[j] == '-' && blank_after))
            return tab;
    }
    return SIZE_MAX;
}

/* Whether token tk (a scalar of text[len]) is a single-quoted scalar that
 * fault 2 misreads.  Reads the input, never the token's text. */
static bool sq_misread(const char *text, size_t len, struct fy_token *tk)
{
    if (!tk || fy_token_get_type(tk) != FYTT_SCALAR ||
        fy_token_scalar_style(tk) != FYSS_SINGLE_QUOTED)
        return false;
    const struct fy_mark *a = fy_token_start_mark(tk), *b = fy_token_end_mark(tk);
    if (!a || !b || a->input_pos > b->input_pos || b->input_pos > len)
        return true; /* cannot tell: as if misread */
    return memmem(text + a->input_pos, b->input_pos - a->input_pos, "\'\'\'\'", 4) != NULL;
}

/* The first scalar under n (aliases not followed) that fault 2 misreads. */
static struct fy_node *find_sq_misread(const char *text, size_t len, struct fy_node *n, int depth)
{
    if (!n || depth > MAX_EXPANDED_DEPTH)
        return NULL;
    if (fy_node_get_type(n) == FYNT_SCALAR)
        return fy_node_is_alias(n) || !sq_misread(text, len, fy_node_get_scalar_token(n))
                   ? NULL
                   : n;
    void *it = NULL;
    struct fy_node *bad = NULL;
    if (fy_node_get_type(n) == FYNT_SEQUENCE) {
        struct fy_node *item;
        for (item = fy_node_sequence_iterate(n, &it); item && !bad;
             item = fy_node_sequence_iterate(n, &it))
            bad = find_sq_misread(text, len, item, depth + 1);
    } else if (fy_node_get_type(n) == FYNT_MAPPING) {
        struct fy_node_pair *p;
        for (p = fy_node_mapping_iterate(n, &it); p && !bad; p = fy_node_mapping_iterate(n, &it)) {
            bad = find_sq_misread(text, len, fy_node_pair_key(p), depth + 1);
            if (!bad)
                bad = find_sq_misread(text, len, fy_node_pair_value(p), depth + 1);
        }
    }
    return bad;
}

/* libfyaml's first error (syntax, duplicate key, bad alias) as our line. */
static int yaml_error(ctx_t *c, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e;
    for (e = fy_diag_errors_iterate(diag, &it); e; e = fy_diag_errors_iterate(diag, &it)) {
        if (e->type != FYET_ERROR)
            continue;
        int line = e->line > 0 ? e->line : 1, col = e->column > 0 ? e->column : 1;
        const char *msg = e->msg ? e->msg : "error";
        if (c->err && c->errlen) {
            size_t tl = 0;
            int dup = !strcmp(msg, "duplicate key");
            const char *tok = dup && e->fyt && !sq_misread(c->text, c->len, e->fyt)
                                  ? fy_token_get_text(e->fyt, &tl)
                                  : NULL;
            if (tok)
                snprintf(c->err, c->errlen,
                         "%s:%d:%d: duplicate key '%.*s'; expected each key once per mapping",
                         c->name, line, col, (int)(tl > 64 ? 64 : tl), tok);
            else
                snprintf(c->err, c->errlen, "%s:%d:%d: invalid YAML: %s", c->name, line, col,
                         msg);
            one_line(c->err);
        }
        return FR_ECONFIG;
    }
    return 0;
}

int fr_config_parse(const char *name, const char *text, size_t len, fr_config_t **out, char *err,
                    size_t errlen)
{
    ctx_t c = {.name = name ? name : "<config>", .err = err, .errlen = errlen,
               .text = len ? text : "", .len = len};
    struct fy_diag *diag = NULL;
    struct fy_parser *fyp = NULL;
    struct fy_document *doc = NULL, *doc2 = NULL;
    fr_config_t *cfg = NULL;
    int rc;

    if (err && errlen)
        err[0] = 0;
    *out = NULL;
    cfg = calloc(1, sizeof *cfg);
    if (!cfg || set_defaults(cfg, c.name)) {
        rc = oom(&c);
        goto out;
    }
    diag = diag_new();
    c.locator = diag_new();
    if (!diag || !c.locator) {
        rc = oom(&c);
        goto out;
    }
    /* YAML text is Unicode; refusing invalid UTF-8 here also keeps it away
     * from libfyaml 0.7.12, whose directive scanner never returns on
     * "%\xff" */
    size_t bad_at = fr_utf8_check(len ? text : "", len);
    /* nor control characters, which YAML does not allow either (and a NUL
     * makes libfyaml 0.7.12 read past its buffer when it reports errors) */
    for (size_t i = 0; i < bad_at; i++) {
        unsigned char ch = (unsigned char)text[i];
        if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f) {
            bad_at = i;
            break;
        }
    }
    if (bad_at < len) {
        int line = 1, col = 1;
        for (size_t i = 0; i < bad_at; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        if (err && errlen) {
            snprintf(err, errlen,
                     "%s:%d:%d: byte 0x%02x is not allowed; expected UTF-8 text without control "
                     "characters",
                     c.name, line, col, (unsigned char)text[bad_at]);
            one_line(err);
        }
        rc = FR_ECONFIG;
        goto out;
    }
    size_t tab = tab_before_block_indicator(text, len);
    if (tab != SIZE_MAX) {
        int line = 1, col = 1;
        for (size_t i = 0; i < tab; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        if (err && errlen)
            snprintf(err, errlen,
                     "%s:%d:%d: a tab before a block indicator after ':'; expected spaces "
                     "(YAML does not indent with tabs)",
                     c.name, line, col);
        rc = FR_ECONFIG;
        goto out;
    }
    struct fy_parse_cfg pc = {
        .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_JSON_NONE,
        .diag = diag,
    };
    /* one document: a parser, so that a second one is seen (building a
     * document from the string would drop it silently) */
    fyp = fy_parser_create(&pc);
    /* libfyaml wants text to read; an empty string still needs a pointer */
    if (!fyp || fy_parser_set_string(fyp, len ? text : "", len)) {
        rc = oom(&c);
        goto out;
    }
    doc = fy_parse_load_document(fyp);
    rc = yaml_error(&c, diag);
    if (rc)
        goto out;
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    struct fy_node *misread = find_sq_misread(c.text, len, root, 0);
    if (misread) {
        rc = fail(&c, misread,
                  "a single-quoted string with two escaped quotes in a row (''''); expected a "
                  "double-quoted string, which the YAML library reads right");
        goto out;
    }
    if (doc) {
        doc2 = fy_parse_load_document(fyp);
        rc = yaml_error(&c, diag);
        if (rc)
            goto out;
        if (doc2) {
            struct fy_node *r2 = fy_document_root(doc2);
            if (r2)
                rc = fail(&c, r2, "a second YAML document; expected one document per file");
            else
                rc = fail(&c, root, "a second (empty) YAML document follows this one; expected "
                                    "one document per file");
            goto out;
        }
    }
    if (root) {
        size_t count = 0;
        struct fy_node *bad = NULL;
        if (!expansion_ok(root, NULL, 0, &count, &bad)) {
            if (count == SIZE_MAX)
                rc = fail(&c, bad,
                          "alias name not allowed; expected an anchor name of letters, digits, "
                          "'_', '-' and '.'");
            else if (count > MAX_EXPANDED_NODES)
                rc = fail(&c, bad,
                          "aliases expand to more than %d nodes; expected a smaller document",
                          MAX_EXPANDED_NODES);
            else
                rc = fail(&c, bad,
                          "aliases nest deeper than %d (an alias inside its own anchor?); "
                          "expected a smaller document",
                          MAX_EXPANDED_DEPTH);
            goto out;
        }
        if (fy_document_resolve(doc)) {
            rc = yaml_error(&c, diag);
            if (!rc)
                rc = fail(&c, root, "invalid YAML: cannot resolve aliases and merge keys");
            goto out;
        }
        root = fy_document_root(doc);
    }
    /* The name libfyaml gives our input, learnt from a scalar (always
     * placed): positions reported in any other input are synthetic. */
    struct fy_node *first = root;
    while (first && fy_node_get_type(first) != FYNT_SCALAR)
        first = first_child(first);
    if (first) {
        int line, col;
        const char *file = NULL;
        if (locate(&c, first, &line, &col, &file)) {
            c.input = strdup(file);
            if (!c.input) {
                rc = oom(&c);
                goto out;
            }
        }
    }
    rc = parse_doc(&c, root, cfg);
    if (rc)
        goto out;
    *out = cfg;
    cfg = NULL;
out:
    fr_config_free(cfg);
    if (doc2)
        fy_parse_document_destroy(fyp, doc2);
    if (doc)
        fy_parse_document_destroy(fyp, doc);
    if (fyp)
        fy_parser_destroy(fyp);
    if (diag)
        fy_diag_destroy(diag);
    if (c.locator)
        fy_diag_destroy(c.locator);
    free(c.input);
    return rc;
}

/* A relative store.path made relative to the directory of the file at
 * path ("a/b/x.yaml", "./data" -> "a/b/data"); unchanged when absolute or
 * when the file is in the current directory.  0, FR_ELIMIT, FR_ENOMEM. */
static int rebase_store_path(fr_config_t *cfg, const char *path)
{
    const char *sp = cfg->store.path, *slash = strrchr(path, '/');
    if (sp[0] == '/' || !slash)
        return 0;
    while (sp[0] == '.' && sp[1] == '/')
        sp += 2;
    size_t dl = (size_t)(slash - path) + 1; /* with the slash: "/x.yaml" keeps "/" */
    size_t sl = strlen(sp);
    if (dl + sl >= 4096)
        return FR_ELIMIT;
    char *p = malloc(dl + sl + 1);
    if (!p)
        return FR_ENOMEM;
    memcpy(p, path, dl);
    memcpy(p + dl, sp, sl + 1);
    if (sl == 0 || strcmp(sp, ".") == 0) /* "./" or ".": the directory itself */
        p[dl > 1 ? dl - 1 : dl] = '\0';
    free(cfg->store.path);
    cfg->store.path = p;
    return 0;
}

int fr_config_load(const char *path, fr_config_t **out, char *err, size_t errlen)
{
    fr_buf_t b;
    char chunk[8192];
    int rc = 0;

    *out = NULL;
    fr_buf_init(&b, FR_CONFIG_MAX_FILE_BYTES);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno ? errno : EIO;
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n) {
            rc = fr_buf_add(&b, chunk, n);
            if (rc == FR_ELIMIT) {
                if (err && errlen)
                    snprintf(err, errlen, "%s: the file is larger than %d bytes", path,
                             FR_CONFIG_MAX_FILE_BYTES);
                rc = FR_ECONFIG;
                goto out;
            }
            if (rc) {
                if (err && errlen)
                    snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
        }
        if (n < sizeof chunk) {
            if (ferror(f)) {
                rc = errno ? -errno : FR_EIO;
                if (err && errlen)
                    snprintf(err, errlen, "%s: cannot read: %s", path, fr_strerror(rc));
                goto out;
            }
            break;
        }
    }
    rc = fr_config_parse(path, b.p ? b.p : "", b.len, out, err, errlen);
    if (!rc) {
        rc = rebase_store_path(*out, path);
        if (rc) {
            fr_config_free(*out);
            *out = NULL;
            if (err && errlen)
                snprintf(err, errlen, "%s: store.path: %s", path,
                         rc == FR_ELIMIT ? "too long" : fr_strerror(rc));
        }
    }
out:
    fclose(f);
    fr_buf_destroy(&b);
    return rc;
}

int fr_config_check_isolated(const char *path, char *err, size_t errlen)
{
    int fd[2];
    if (pipe(fd)) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot check it apart: %s", path, strerror(e));
        return -e;
    }
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd[0]);
        close(fd[1]);
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot check it apart: %s", path, strerror(e));
        return -e;
    }
    if (pid == 0) {
        close(fd[0]);
        char msg[1024] = "";
        fr_config_t *cfg = NULL;
        int rc = fr_config_load(path, &cfg, msg, sizeof msg);
        size_t n = strlen(msg), off = 0;
        while (rc && off < n) {
            ssize_t w = write(fd[1], msg + off, n - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        /* _exit: the parent loads the file again; nothing here is kept */
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    char msg[1024];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd[0], msg + got, sizeof msg - 1 - got);
        if (r > 0 && (got += (size_t)r) < sizeof msg - 1)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    msg[got] = '\0';
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            int e = errno;
            if (err && errlen)
                snprintf(err, errlen, "%s: cannot check it apart: %s", path, strerror(e));
            return -e;
        }
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (err && errlen) {
        if (WIFSIGNALED(st))
            snprintf(err, errlen,
                     "%s: the YAML parser crashed reading this file (signal %d); it is not a "
                     "usable configuration: check its indentation (spaces, not tabs) and quoting",
                     path, WTERMSIG(st));
        else
            snprintf(err, errlen, "%s", got ? msg : "the configuration could not be loaded");
    }
    return FR_ECONFIG;
}

void fr_config_free(fr_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsources; i++) {
        fr_source_spec_t *s = &cfg->sources[i];
        free(s->name);
        for (size_t f = 0; f < s->nfields; f++) {
            free(s->fields[f].name);
            if (s->fields[f].has_default && s->fields[f].def.type == FR_T_STRING)
                free((void *)(uintptr_t)s->fields[f].def.u.s);
        }
        free(s->fields);
        free(s->kafka.brokers);
        free(s->kafka.topic);
        free(s->kafka.group);
        free(s->kafka.dlq_topic);
        for (size_t p = 0; p < s->kafka.nprops; p++) {
            free(s->kafka.props[p].key);
            free(s->kafka.props[p].value);
        }
        free(s->kafka.props);
    }
    for (size_t i = 0; i < cfg->nviews; i++) {
        fr_view_spec_t *v = &cfg->views[i];
        if (v->feature_names)
            for (size_t f = 0; f < v->naggs * v->nwindows; f++)
                free(v->feature_names[f]);
        free(v->feature_names);
        for (size_t w = 0; w < v->nwindows; w++)
            free(v->windows[w].label);
        free(v->windows);
        for (size_t a = 0; a < v->naggs; a++) {
            free(v->aggs[a].name);
            free(v->aggs[a].field);
        }
        free(v->aggs);
        if (v->filter.equals.type == FR_T_STRING)
            free((void *)(uintptr_t)v->filter.equals.u.s);
        free(v->name);
    }
    for (size_t i = 0; i < cfg->ntsets; i++) {
        fr_tset_spec_t *t = &cfg->tsets[i];
        for (size_t f = 0; f < t->nfeatures; f++)
            free(t->features[f].name);
        free(t->features);
        if (t->label.def.type == FR_T_STRING)
            free((void *)(uintptr_t)t->label.def.u.s);
        if (t->label.filter.equals.type == FR_T_STRING)
            free((void *)(uintptr_t)t->label.filter.equals.u.s);
        free(t->name);
    }
    free(cfg->tsets);
    for (size_t i = 0; i < cfg->nondemand; i++) {
        fr_ondemand_spec_t *od = &cfg->ondemand[i];
        free(od->name);
        free(od->expr);
        fr_expr_free(od->prog);
        for (size_t r = 0; r < od->nrefs; r++)
            free(od->refs[r].name);
        free(od->refs);
    }
    free(cfg->ondemand);
    for (size_t i = 0; i < cfg->models.n; i++) {
        fr_model_spec_t *m = &cfg->models.list[i];
        for (size_t k = 0; k < m->nparams; k++) {
            free(m->params[k].key);
            free(m->params[k].value);
        }
        free(m->params);
        free(m->name);
    }
    free(cfg->models.list);
    free(cfg->sources);
    free(cfg->views);
    free(cfg->path);
    free(cfg->store.path);
    free(cfg->store.redis_url);
    free(cfg->server.listen_host);
    free(cfg->registry.url);
    free(cfg);
}

int fr_config_source_index(const fr_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        if (cfg->sources[i].name && !strcmp(cfg->sources[i].name, name))
            return (int)i;
    return -1;
}

int fr_config_view_index(const fr_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nviews; i++)
        if (cfg->views[i].name && !strcmp(cfg->views[i].name, name))
            return (int)i;
    return -1;
}

int fr_config_tset_index(const fr_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntsets; i++)
        if (cfg->tsets[i].name && !strcmp(cfg->tsets[i].name, name))
            return (int)i;
    return -1;
}

int fr_config_ondemand_index(const fr_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nondemand; i++)
        if (cfg->ondemand[i].name && !strcmp(cfg->ondemand[i].name, name))
            return (int)i;
    return -1;
}

int fr_config_model_index(const fr_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->models.n; i++)
        if (cfg->models.list[i].name && !strcmp(cfg->models.list[i].name, name))
            return (int)i;
    return -1;
}

int fr_source_field_index(const fr_source_spec_t *src, const char *name)
{
    for (size_t i = 0; i < src->nfields; i++)
        if (!strcmp(src->fields[i].name, name))
            return (int)i;
    return -1;
}

int64_t fr_config_parse_duration(const char *s)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", SEC_MS}, {"m", 60 * SEC_MS}, {"h", 3600 * SEC_MS}, {"d", DAY_MS}};
    if (!s || *s < '0' || *s > '9')
        return -1;
    int64_t n = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (n > (INT64_MAX - (*s - '0')) / 10)
            return -1;
        n = n * 10 + (*s - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(s, units[i].u))
            return n > INT64_MAX / units[i].ms ? -1 : n * units[i].ms;
    return -1;
}
