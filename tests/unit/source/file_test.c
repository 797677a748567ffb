/*
 * Unit tests of the file sources (src/source/file.c): JSON Lines and Avro
 * container files over small files written here; offsets across files,
 * seek (back, forward, past the end), at_end, blank and CRLF lines and a
 * missing last newline, a long line refused without being held whole,
 * refusals in the dead-letter queue exactly once (even after a seek), the
 * watermark of Avro records across files and after a seek, a broken Avro
 * tail.  The source's .c is included to look at its arena.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/file.c"

#include "core/clock.h"
#include "event/event.h"

static char dir[64];
static fr_config_t *cfg;
static fr_elog_t *dlq;

#define HOUR 3600000ll

/* tx: JSON (read by both kinds); ax: format avro.  View horizon of tx: 24h. */
static const char *yaml =
    "store: { path: %s }\n"
    "sources:\n"
    "  - name: tx\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: n, type: long }\n"
    "      - { name: ts, type: long }\n"
    "  - name: ax\n"
    "    format: avro\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - { name: v, source: tx, entity: k, windows: [1h, 24h], aggregations: [{ fn: count }] }\n"
    "  - { name: a, source: ax, entity: k, windows: [1h], aggregations: [{ fn: count }] }\n";

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-file-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char text[2048], err[512], p[128];
    snprintf(text, sizeof text, yaml, dir);
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0, "%s",
                 err);
    snprintf(p, sizeof p, "%s/log", dir);
    cr_assert_eq(fr_elog_open_flags(p, cfg, FR_ELOG_NOSYNC, &dlq, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    fr_elog_close(dlq);
    fr_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(file, .init = setup, .fini = teardown, .timeout = 60);

/* Writes bytes to <dir>/<name>; returns the path (static storage per call
 * slot: up to 8 live at once). */
static const char *put(const char *name, const void *p, size_t n)
{
    static char paths[8][160];
    static int slot;
    char *path = paths[slot++ % 8];
    snprintf(path, 160, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static const char *puts_(const char *name, const char *s)
{
    return put(name, s, strlen(s));
}

static fr_source_t *open_src(fr_file_kind_t kind, const char **paths, size_t n)
{
    fr_source_t *s = NULL;
    char err[512];
    int rc = fr_file_source_open(cfg, 0, kind, paths, n, dlq, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s", err);
    return s;
}

/* Polls until a poll gives nothing; the records' offsets and payloads into
 * offs[] and texts (each payload NUL-terminated, copied). */
typedef struct {
    uint64_t off[256];
    char *text[256];
    size_t n;
} got_t;

static void got_free(got_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->text[i]);
    g->n = 0;
}

static void drain(fr_source_t *s, size_t max, got_t *g)
{
    fr_source_rec_t recs[64];
    for (;;) {
        size_t n = 99;
        cr_assert_eq(fr_source_poll(s, recs, max, &n, 0), 0);
        cr_assert_leq(n, max);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++) {
            cr_assert_lt(g->n, 256);
            cr_assert_eq(recs[i].partition, 0);
            cr_assert_eq(recs[i].replay_of, -1);
            g->off[g->n] = recs[i].offset;
            g->text[g->n] = strndup(recs[i].data, recs[i].len);
            g->n++;
        }
        fr_source_release(s);
    }
}

/* The dead-letter queue as parsed JSON objects (a new array). */
static int collect(void *ctx, uint64_t seq, const char *json, size_t len)
{
    (void)seq;
    json_t *j = json_loadb(json, len, 0, NULL);
    cr_assert_not_null(j);
    json_array_append_new(ctx, j);
    return 0;
}

static json_t *dead_letters(void)
{
    json_t *a = json_array();
    cr_assert_eq(fr_elog_dlq_scan(dlq, 0, 1000, collect, a), 0);
    return a;
}

static const char *field(json_t *a, size_t i, const char *name)
{
    const char *s = json_string_value(json_object_get(json_array_get(a, i), name));
    cr_assert_not_null(s, "dead letter %zu has no %s", i, name);
    return s;
}

/* ---- JSON Lines ------------------------------------------------------------------- */

Test(file, jsonl_lines_offsets_and_end)
{
    const char *p = puts_("a.jsonl", "{\"k\":\"a\"}\n"
                                     "\n"
                                     "   \t\r\n"
                                     "  {\"k\":\"b\"}\r\n"
                                     "{\"k\":\"c\"}  \n"
                                     "\r\n"
                                     "{\"k\":\"d\"}"); /* no last newline */
    fr_source_t *s = open_src(FR_FILE_JSONL, &p, 1);
    cr_assert_eq(s->ops->payload, FR_PAYLOAD_MESSAGE);
    cr_assert_not_null(s->ops->dead_letter);
    cr_assert_not(s->ops->at_end(s));
    got_t g = {0};
    drain(s, 64, &g);
    cr_assert_eq(g.n, 4);
    const char *want[] = {"{\"k\":\"a\"}", "{\"k\":\"b\"}", "{\"k\":\"c\"}  ", "{\"k\":\"d\"}"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(g.off[i], i);
        cr_assert_str_eq(g.text[i], want[i]);
    }
    cr_assert(s->ops->at_end(s));
    fr_file_progress_t pr;
    fr_file_source_progress(s, &pr);
    cr_assert_eq(pr.records, 4);
    cr_assert_eq(pr.bytes_read, pr.bytes_total);
    cr_assert_eq(pr.file, 1);
    cr_assert_eq(pr.nfiles, 1);
    got_free(&g);
    fr_source_close(s);
}

Test(file, jsonl_small_polls_and_several_files)
{
    const char *paths[3];
    paths[0] = puts_("1.jsonl", "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
    paths[1] = puts_("2.jsonl", ""); /* empty: no records */
    paths[2] = puts_("3.jsonl", "\n{\"i\":3}\n{\"i\":4}");
    fr_source_t *s = open_src(FR_FILE_JSONL, paths, 3);
    got_t g = {0};
    fr_source_rec_t recs[2];
    size_t n;
    /* two at a time: at_end only after the last is polled */
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(fr_source_poll(s, recs, 2, &n, 0), 0);
        cr_assert_eq(n, round < 2 ? 2u : 1u);
        for (size_t i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof want, "{\"i\":%" PRIu64 "}", recs[i].offset);
            cr_assert_eq(recs[i].offset, (uint64_t)(round * 2) + i);
            cr_assert_eq(recs[i].len, strlen(want));
            cr_assert(!memcmp(recs[i].data, want, recs[i].len));
        }
    }
    cr_assert(s->ops->at_end(s));
    cr_assert_eq(fr_source_poll(s, recs, 2, &n, 0), 0);
    cr_assert_eq(n, 0);
    /* back into the first file from the last, then forward */
    cr_assert_eq(fr_source_seek(s, 0, 1), 0);
    cr_assert_not(s->ops->at_end(s));
    drain(s, 64, &g);
    cr_assert_eq(g.n, 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(g.off[i], i + 1);
    got_free(&g);
    cr_assert_eq(fr_source_seek(s, 0, 3), 0); /* the first record of file 3 */
    drain(s, 64, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.off[0], 3);
    cr_assert_str_eq(g.text[0], "{\"i\":3}");
    got_free(&g);
    cr_assert_eq(fr_source_seek(s, 0, 0), 0);
    cr_assert_eq(fr_source_seek(s, 0, 2), 0); /* forward without polling */
    drain(s, 64, &g);
    cr_assert_eq(g.n, 3);
    cr_assert_eq(g.off[0], 2);
    got_free(&g);
    cr_assert_eq(fr_source_seek(s, 0, 100), 0); /* past the end */
    cr_assert(s->ops->at_end(s));
    drain(s, 64, &g);
    cr_assert_eq(g.n, 0);
    cr_assert_eq(fr_source_seek(s, 1, 0), FR_EINVAL);
    fr_source_close(s);
}

Test(file, jsonl_empty_file)
{
    const char *p = puts_("e.jsonl", "");
    fr_source_t *s = open_src(FR_FILE_JSONL, &p, 1);
    got_t g = {0};
    drain(s, 64, &g);
    cr_assert_eq(g.n, 0);
    cr_assert(s->ops->at_end(s));
    fr_source_close(s);
    p = puts_("blank.jsonl", "\n\r\n  \n");
    s = open_src(FR_FILE_JSONL, &p, 1);
    drain(s, 64, &g);
    cr_assert_eq(g.n, 0);
    cr_assert(s->ops->at_end(s));
    fr_source_close(s);
}

Test(file, jsonl_long_line_is_a_dead_letter_never_held_whole)
{
    cfg->sources[0].kafka.max_message_bytes = 1000;
    size_t big = (size_t)20 << 20;
    char *text = malloc(big + 64);
    cr_assert_not_null(text);
    size_t at = (size_t)sprintf(text, "{\"k\":\"a\"}\n{\"k\":\"");
    memset(text + at, 'x', big);
    at += big;
    at += (size_t)sprintf(text + at, "\"}\r\n{\"k\":\"c\"}\n");
    const char *p = put("long.jsonl", text, at);
    free(text);
    fr_source_t *s = open_src(FR_FILE_JSONL, &p, 1);
    got_t g = {0};
    drain(s, 64, &g);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.off[0], 0);
    cr_assert_eq(g.off[1], 2); /* the long line took offset 1 */
    /* never more than the limit (and the batch) in memory */
    cr_assert_lt(((fsrc_t *)s)->arena.cap, (size_t)1 << 20);
    json_t *d = dead_letters();
    cr_assert_eq(json_array_size(d), 1);
    cr_assert_str_eq(field(d, 0, "reason"), "too_large");
    cr_assert(strstr(field(d, 0, "detail"), "long.jsonl:2: "), "%s", field(d, 0, "detail"));
    cr_assert_eq(strlen(field(d, 0, "payload")), 1001); /* what was kept of it */
    cr_assert_str_eq(field(d, 0, "source"), "tx");
    json_decref(d);
    /* read again from the start: the refusal is not queued twice */
    got_free(&g);
    cr_assert_eq(fr_source_seek(s, 0, 0), 0);
    drain(s, 64, &g);
    cr_assert_eq(g.n, 2);
    d = dead_letters();
    cr_assert_eq(json_array_size(d), 1);
    json_decref(d);
    fr_file_progress_t pr;
    fr_file_source_progress(s, &pr);
    cr_assert_eq(pr.dead_letters, 1);
    cr_assert_eq(pr.records, 3);
    got_free(&g);
    fr_source_close(s);
}

Test(file, jsonl_dead_letters_from_the_processor)
{
    const char *paths[2];
    paths[0] = puts_("d1.jsonl", "{\"k\":\"a\"}\n");
    paths[1] = puts_("d2.jsonl", "\n\nnot json\n");
    fr_source_t *s = open_src(FR_FILE_JSONL, paths, 2);
    fr_source_rec_t recs[8];
    size_t n;
    cr_assert_eq(fr_source_poll(s, recs, 8, &n, 0), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(s->ops->dead_letter(s, &recs[1], "malformed_json", "bad"), 0);
    cr_assert_eq(s->ops->dead_letter(s, &recs[0], "late", "too old"), 0);
    json_t *d = dead_letters();
    cr_assert_eq(json_array_size(d), 0); /* queued until flush */
    json_decref(d);
    cr_assert_eq(s->ops->flush(s, 1000), 0);
    d = dead_letters();
    cr_assert_eq(json_array_size(d), 2);
    cr_assert_str_eq(field(d, 0, "reason"), "malformed_json");
    cr_assert(strstr(field(d, 0, "detail"), "d2.jsonl:3: bad"), "%s", field(d, 0, "detail"));
    cr_assert_str_eq(field(d, 0, "payload"), "not json");
    cr_assert_str_eq(field(d, 1, "reason"), "late");
    cr_assert(strstr(field(d, 1, "detail"), "d1.jsonl:1: too old"));
    json_decref(d);
    fr_source_close(s);
}

static int assign_calls;
static uint64_t assign_next;
static int assign_rc;

static int fake_assign(void *ctx, fr_source_t *s, const int32_t *parts, size_t n, uint64_t *next)
{
    (void)ctx;
    (void)s;
    cr_assert_eq(n, 1);
    cr_assert_eq(parts[0], 0);
    assign_calls++;
    next[0] = assign_next;
    return assign_rc;
}

Test(file, jsonl_takes_its_start_from_the_listener)
{
    const char *p = puts_("l.jsonl", "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
    fr_source_t *s = open_src(FR_FILE_JSONL, &p, 1);
    s->listener.assign = fake_assign;
    assign_rc = FR_EUNAVAIL;
    fr_source_rec_t recs[8];
    size_t n;
    cr_assert_eq(fr_source_poll(s, recs, 8, &n, 0), FR_EUNAVAIL);
    cr_assert_eq(n, 0);
    assign_rc = 0;
    assign_next = 1;
    got_t g = {0};
    drain(s, 64, &g);
    cr_assert_eq(assign_calls, 2);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.off[0], 1);
    got_free(&g);
    fr_source_close(s);
    /* UINT64_MAX: from the start */
    s = open_src(FR_FILE_JSONL, &p, 1);
    s->listener.assign = fake_assign;
    assign_next = UINT64_MAX;
    drain(s, 64, &g);
    cr_assert_eq(g.n, 3);
    got_free(&g);
    fr_source_close(s);
}

Test(file, open_refuses_bad_paths_and_kinds)
{
    char err[512];
    fr_source_t *s = (fr_source_t *)1;
    const char *missing = "/nonexistent/x.jsonl";
    cr_assert_eq(fr_file_source_open(cfg, 0, FR_FILE_JSONL, &missing, 1, dlq, &s, err, sizeof err),
                 -ENOENT);
    cr_assert_null(s);
    cr_assert(strstr(err, "/nonexistent/x.jsonl"), "%s", err);
    const char *dp = dir;
    cr_assert_eq(fr_file_source_open(cfg, 0, FR_FILE_JSONL, &dp, 1, dlq, &s, err, sizeof err),
                 FR_EINVAL);
    cr_assert(strstr(err, "not a regular file"), "%s", err);
    const char *p = puts_("ok.jsonl", "{}\n");
    cr_assert_eq(fr_file_source_open(cfg, 1, FR_FILE_JSONL, &p, 1, dlq, &s, err, sizeof err),
                 FR_EINVAL); /* an Avro source */
    cr_assert(strstr(err, "reads Avro"), "%s", err);
    cr_assert_eq(fr_file_source_open(cfg, 0, FR_FILE_JSONL, &p, 0, dlq, &s, err, sizeof err),
                 FR_EINVAL);
    cr_assert_eq(fr_file_source_open(cfg, 0, FR_FILE_AVRO, &p, 1, dlq, &s, err, sizeof err),
                 FR_ECORRUPT); /* not a container file */
    cr_assert(strstr(err, "ok.jsonl"), "%s", err);
    /* the second path is bad: nothing is opened */
    const char *two[2] = {p, missing};
    cr_assert_eq(fr_file_source_open(cfg, 0, FR_FILE_JSONL, two, 2, dlq, &s, err, sizeof err),
                 -ENOENT);
    cr_assert_null(s);
}

/* ---- Avro container files, written byte by byte ------------------------------------ */

/* The writer's schema differs from the source's: an extra leading field,
 * k nullable, n an int (the source reads a long). */
static const char wschema[] =
    "{\"type\":\"record\",\"name\":\"E\",\"fields\":["
    "{\"name\":\"extra\",\"type\":\"string\"},"
    "{\"name\":\"k\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"n\",\"type\":\"int\"},"
    "{\"name\":\"ts\",\"type\":\"long\"}]}";
static const char sync16[17] = "0123456789abcdef";

typedef struct {
    const char *k; /* NULL: the null branch */
    int64_t n, ts;
} arec_t;

static void zz(fr_buf_t *b, int64_t v)
{
    cr_assert_eq(fr_buf_add_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)), 0);
}

static void avstr(fr_buf_t *b, const char *s)
{
    zz(b, (int64_t)strlen(s));
    cr_assert_eq(fr_buf_add(b, s, strlen(s)), 0);
}

static void ocf_header(fr_buf_t *b)
{
    cr_assert_eq(fr_buf_add(b, "Obj\x01", 4), 0);
    zz(b, 2);
    avstr(b, "avro.schema");
    avstr(b, wschema);
    avstr(b, "avro.codec");
    avstr(b, "null");
    zz(b, 0);
    cr_assert_eq(fr_buf_add(b, sync16, 16), 0);
}

static void ocf_block(fr_buf_t *b, const arec_t *r, size_t n)
{
    fr_buf_t d;
    fr_buf_init(&d, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        avstr(&d, "extra");
        if (r[i].k) {
            zz(&d, 1);
            avstr(&d, r[i].k);
        } else {
            zz(&d, 0);
        }
        zz(&d, r[i].n);
        zz(&d, r[i].ts);
    }
    zz(b, (int64_t)n);
    zz(b, (int64_t)d.len);
    cr_assert_eq(fr_buf_add(b, d.p, d.len), 0);
    cr_assert_eq(fr_buf_add(b, sync16, 16), 0);
    fr_buf_destroy(&d);
}

static const char *ocf_file(const char *name, const arec_t *r, size_t n, size_t per_block)
{
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    ocf_header(&b);
    for (size_t i = 0; i < n; i += per_block)
        ocf_block(&b, r + i, n - i < per_block ? n - i : per_block);
    const char *p = put(name, b.p, b.len);
    fr_buf_destroy(&b);
    return p;
}

/* The typed records handed out, decoded as the source's. */
typedef struct {
    uint64_t off[64];
    char k[64][16];
    int64_t n[64], ts[64];
    size_t count;
} recs_t;

static void drain_typed(fr_source_t *s, recs_t *out)
{
    fr_record_proj_t pj;
    cr_assert_eq(fr_record_proj_identity(&pj, &cfg->sources[0]), 0);
    fr_source_rec_t recs[64];
    out->count = 0;
    for (;;) {
        size_t n = 0;
        cr_assert_eq(fr_source_poll(s, recs, 64, &n, 0), 0);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++) {
            fr_value_t v[3];
            int64_t ts;
            cr_assert_eq(fr_record_fingerprint(recs[i].data, recs[i].len),
                         fr_schema_fingerprint(&cfg->sources[0]));
            cr_assert_eq(fr_record_decode(&pj, recs[i].data, recs[i].len, v, &ts), 0);
            size_t c = out->count++;
            out->off[c] = recs[i].offset;
            cr_assert_eq(v[0].type, FR_T_STRING);
            snprintf(out->k[c], sizeof out->k[c], "%.*s", (int)v[0].len, v[0].u.s);
            cr_assert_eq(v[1].type, FR_T_LONG);
            out->n[c] = v[1].u.i;
            out->ts[c] = ts;
            cr_assert_eq(v[2].u.i, ts);
        }
        fr_source_release(s);
    }
    fr_record_proj_destroy(&pj);
}

Test(file, avro_records_offsets_and_refusals)
{
    int64_t t = fr_now_ms() - 30 * 24 * HOUR;
    arec_t r[] = {
        {"a", 1, t},                       /* 0 */
        {"b", -2, t + HOUR},               /* 1 */
        {NULL, 3, t + HOUR},               /* 2 missing_field */
        {"", 4, t + HOUR},                 /* 3 bad_entity_key */
        {"c", 5, t + 30 * HOUR},           /* 4: watermark t+30h */
        {"d", 6, t + 5 * HOUR},            /* 5 late: < t+30h - 24h */
        {"e", 7, t + 6 * HOUR},            /* 6 exactly at the horizon: kept */
        {"f", 8, fr_now_ms() + 10 * HOUR}, /* 7 future_timestamp */
        {"g", 2147483647, t + 31 * HOUR},  /* 8 */
    };
    const char *p = ocf_file("r.avro", r, 9, 4);
    fr_source_t *s = open_src(FR_FILE_AVRO, &p, 1);
    cr_assert_eq(s->ops->payload, FR_PAYLOAD_RECORD);
    cr_assert_null(s->ops->dead_letter);
    recs_t g;
    drain_typed(s, &g);
    uint64_t want[] = {0, 1, 4, 6, 8};
    cr_assert_eq(g.count, 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(g.off[i], want[i]);
        cr_assert_str_eq(g.k[i], r[want[i]].k);
        cr_assert_eq(g.n[i], r[want[i]].n);
        cr_assert_eq(g.ts[i], r[want[i]].ts);
    }
    cr_assert(s->ops->at_end(s));
    json_t *d = dead_letters();
    cr_assert_eq(json_array_size(d), 4);
    const char *reasons[] = {"missing_field", "bad_entity_key", "late", "future_timestamp"};
    const char *where[] = {"r.avro: record 3: ", "r.avro: record 4: ", "r.avro: record 6: ",
                           "r.avro: record 8: "};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(field(d, i, "reason"), reasons[i]);
        cr_assert(strstr(field(d, i, "detail"), where[i]), "%s", field(d, i, "detail"));
    }
    cr_assert_str_eq(field(d, 0, "payload"), ""); /* not decoded */
    json_t *late = json_loads(field(d, 2, "payload"), 0, NULL);
    cr_assert_not_null(late); /* decoded: the fields as JSON */
    cr_assert_str_eq(json_string_value(json_object_get(late, "k")), "d");
    cr_assert_eq(json_integer_value(json_object_get(late, "n")), 6);
    cr_assert_eq(json_integer_value(json_object_get(late, "ts")), t + 5 * HOUR);
    json_decref(late);
    json_decref(d);
    fr_file_progress_t pr;
    fr_file_source_progress(s, &pr);
    cr_assert_eq(pr.records, 9);
    cr_assert_eq(pr.dead_letters, 4);
    cr_assert_eq(pr.broken_files, 0);
    fr_source_close(s);
}

Test(file, avro_seek_judges_records_as_the_first_time)
{
    int64_t t = fr_now_ms() - 30 * 24 * HOUR;
    /* record 1 is within the horizon of record 0 only: after a seek to 1,
     * the watermark must be record 0's again, not record 2's */
    arec_t r[] = {{"a", 0, t + 100 * HOUR}, {"b", 1, t + 90 * HOUR}, {"c", 2, t + 200 * HOUR},
                  {"d", 3, t + 150 * HOUR}};
    const char *p = ocf_file("s.avro", r, 4, 2);
    fr_source_t *s = open_src(FR_FILE_AVRO, &p, 1);
    recs_t g;
    drain_typed(s, &g);
    cr_assert_eq(g.count, 3);
    cr_assert_eq(g.off[1], 1);
    cr_assert_eq(g.off[2], 2); /* record 3 is late */
    for (uint64_t at = 0; at < 4; at++) {
        cr_assert_eq(fr_source_seek(s, 0, at), 0);
        drain_typed(s, &g);
        cr_assert_eq(g.count, at < 3 ? 3 - at : 0, "seek to %" PRIu64, at);
        if (at <= 1)
            cr_assert_eq(g.off[1 - at], 1, "seek to %" PRIu64, at);
    }
    json_t *d = dead_letters();
    cr_assert_eq(json_array_size(d), 1); /* the late one, once */
    cr_assert_str_eq(field(d, 0, "reason"), "late");
    json_decref(d);
    fr_source_close(s);
}

Test(file, avro_watermark_runs_across_files)
{
    int64_t t = fr_now_ms() - 30 * 24 * HOUR;
    arec_t r1[] = {{"a", 0, t + 100 * HOUR}};
    arec_t r2[] = {{"b", 1, t + 50 * HOUR}, {"c", 2, t + 99 * HOUR}};
    const char *paths[3];
    paths[0] = ocf_file("w1.avro", r1, 1, 1);
    paths[1] = ocf_file("w0.avro", r1, 0, 1); /* a file without records */
    paths[2] = ocf_file("w2.avro", r2, 2, 2);
    fr_source_t *s = open_src(FR_FILE_AVRO, paths, 3);
    recs_t g;
    drain_typed(s, &g);
    cr_assert_eq(g.count, 2);
    cr_assert_eq(g.off[0], 0);
    cr_assert_eq(g.off[1], 2);
    cr_assert_str_eq(g.k[1], "c");
    json_t *d = dead_letters();
    cr_assert_eq(json_array_size(d), 1);
    cr_assert_str_eq(field(d, 0, "reason"), "late");
    cr_assert(strstr(field(d, 0, "detail"), "w2.avro: record 1: "));
    json_decref(d);
    /* back into the last file: its starting watermark is the first file's */
    cr_assert_eq(fr_source_seek(s, 0, 1), 0);
    drain_typed(s, &g);
    cr_assert_eq(g.count, 1);
    cr_assert_eq(g.off[0], 2);
    fr_source_close(s);
}

Test(file, avro_broken_tail_is_one_dead_letter_and_reading_goes_on)
{
    int64_t t = fr_now_ms() - 30 * 24 * HOUR;
    arec_t r[] = {{"a", 0, t}, {"b", 1, t}, {"c", 2, t}, {"d", 3, t}};
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    ocf_header(&b);
    ocf_block(&b, r, 2);
    size_t second = b.len;
    ocf_block(&b, r + 2, 2);
    b.p[b.len - 3] ^= 0x55; /* the second block's sync marker */
    (void)second;
    const char *paths[2];
    paths[0] = put("broken.avro", b.p, b.len);
    fr_buf_destroy(&b);
    paths[1] = ocf_file("next.avro", r, 1, 1);
    fr_source_t *s = open_src(FR_FILE_AVRO, paths, 2);
    recs_t g;
    drain_typed(s, &g);
    cr_assert_eq(g.count, 3);
    cr_assert_eq(g.off[0], 0);
    cr_assert_eq(g.off[1], 1);
    cr_assert_eq(g.off[2], 3); /* the broken tail took offset 2 */
    cr_assert_str_eq(g.k[2], "a");
    json_t *d = dead_letters();
    cr_assert_eq(json_array_size(d), 1);
    cr_assert_str_eq(field(d, 0, "reason"), "malformed_avro");
    cr_assert(strstr(field(d, 0, "detail"), "broken.avro: record 3: "), "%s",
              field(d, 0, "detail"));
    json_decref(d);
    fr_file_progress_t pr;
    fr_file_source_progress(s, &pr);
    cr_assert_eq(pr.broken_files, 1);
    cr_assert_eq(fr_file_source_error(s, NULL, 0), 0);
    /* read again: the same records, no second dead letter */
    cr_assert_eq(fr_source_seek(s, 0, 0), 0);
    drain_typed(s, &g);
    cr_assert_eq(g.count, 3);
    d = dead_letters();
    cr_assert_eq(json_array_size(d), 1);
    json_decref(d);
    fr_source_close(s);
}

Test(file, a_file_that_disappears_is_a_final_error)
{
    const char *paths[2];
    paths[0] = puts_("g1.jsonl", "{}\n");
    paths[1] = puts_("g2.jsonl", "{}\n");
    fr_source_t *s = open_src(FR_FILE_JSONL, paths, 2);
    cr_assert_eq(unlink(paths[1]), 0);
    fr_source_rec_t recs[8];
    size_t n;
    cr_assert_eq(fr_source_poll(s, recs, 8, &n, 0), 0);
    cr_assert_eq(n, 1); /* what came before is handed over */
    cr_assert_eq(fr_source_poll(s, recs, 8, &n, 0), -ENOENT);
    cr_assert_eq(n, 0);
    char msg[256];
    cr_assert_eq(fr_file_source_error(s, msg, sizeof msg), -ENOENT);
    cr_assert(strstr(msg, "g2.jsonl"), "%s", msg);
    cr_assert_eq(fr_source_poll(s, recs, 8, &n, 0), -ENOENT);
    fr_source_close(s);
}
