/*
 * avro_bench.c - Avro decode + projection throughput on one core, for a
 * 6-field event shaped like examples/fraud's transactions plus a flag:
 * card_id, amount, merchant_id, country (optional), present (optional
 * boolean), ts.
 *
 *   avro_bench [events=5000000]
 *
 * Messages (64 Ki distinct ones, 10% without country) are encoded before
 * timing by fr_avro_encode and framed; the loop cycles over them and
 * checks each result.  Rows:
 *   walker          fr_avro_decode on the body (the reader's own schema)
 *   codec           fr_avro_codec_decode: frame, schema-id cache, walker
 *   evolved writer  fr_avro_decode, writer with ignored nested fields and
 *                   promotions (int ts, float amount, enum country)
 *   avro-c generic  fr_avro_decode_generic: the walker's check, then
 *                   avro_value_read into a reused generic value and the
 *                   projection from it (the reference path)
 * CPU time is reported next to wall time (the machine may be shared).
 * Prints figures only; never passes or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "event/avro.h"

#define NMSG 65536

static const char *yaml = "sources:\n"
                          "  - name: transactions\n"
                          "    format: avro\n"
                          "    timestamp: ts\n"
                          "    fields:\n"
                          "      - { name: card_id, type: string }\n"
                          "      - { name: amount, type: double }\n"
                          "      - { name: merchant_id, type: string }\n"
                          "      - { name: country, type: string, optional: true }\n"
                          "      - { name: present, type: boolean, optional: true }\n"
                          "      - { name: ts, type: long }\n";

/* An older producer: extra fields the reader skips, narrower types. */
static const char *evolved =
    "{\"type\":\"record\",\"name\":\"Txn\",\"fields\":["
    "{\"name\":\"device\",\"type\":{\"type\":\"record\",\"name\":\"Dev\",\"fields\":["
    "  {\"name\":\"os\",\"type\":\"string\"},{\"name\":\"score\",\"type\":\"float\"}]}},"
    "{\"name\":\"card_id\",\"type\":\"string\"},"
    "{\"name\":\"amount\",\"type\":\"float\"},"
    "{\"name\":\"merchant_id\",\"type\":\"string\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"country\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":\"C\",\"symbols\":"
    "[\"US\",\"GB\",\"DE\",\"FR\"]}]},"
    "{\"name\":\"present\",\"type\":[\"boolean\",\"null\"]},"
    "{\"name\":\"ts\",\"type\":\"long\"}]}";

typedef struct tm2 {
    uint64_t wall, cpu;
} tm2_t;

static tm2_t now2(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (tm2_t){fr_mono_ns(), (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec};
}

static void rate(const char *what, size_t n, tm2_t a, tm2_t b, double bytes)
{
    double cpu = (double)(b.cpu - a.cpu), wall = (double)(b.wall - a.wall);
    printf("%-15s %10.0f events/s  %6.1f ns/event (cpu)   wall: %.0f events/s, %.2f s, "
           "%.0f bytes/event\n",
           what, (double)n / (cpu / 1e9), cpu / (double)n, (double)n / (wall / 1e9), wall / 1e9,
           bytes);
}

static uint64_t rs = 42;
static uint64_t rnd(void)
{
    rs += 0x9e3779b97f4a7c15ULL;
    return fr_mix64(rs);
}

typedef struct msgs {
    fr_buf_t b;
    size_t off[NMSG + 1];
} msgs_t;

static void zig(fr_buf_t *b, int64_t v)
{
    fr_buf_add_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int lookup(void *ctx, uint32_t id, fr_buf_t *out)
{
    (void)id;
    return fr_buf_addstr(out, ctx);
}

typedef int (*decode_fn)(void *, const void *, size_t, fr_value_t *, int64_t *, fr_reject_t *);

static int dec_walker(void *pj, const void *p, size_t n, fr_value_t *v, int64_t *ts,
                      fr_reject_t *rej)
{
    return fr_avro_decode(pj, p, n, v, ts, rej);
}
static int dec_generic(void *pj, const void *p, size_t n, fr_value_t *v, int64_t *ts,
                       fr_reject_t *rej)
{
    return fr_avro_decode_generic(pj, p, n, v, ts, rej);
}
static int dec_codec(void *c, const void *p, size_t n, fr_value_t *v, int64_t *ts, fr_reject_t *rej)
{
    return fr_avro_codec_decode(c, p, n, v, ts, rej);
}

/* Decodes nev messages cycling over m; returns a checksum. */
static uint64_t run(const char *what, decode_fn fn, void *arg, const msgs_t *m, size_t nev)
{
    fr_value_t v[6];
    fr_reject_t rej;
    uint64_t sum = 0;
    tm2_t a = now2();
    for (size_t i = 0; i < nev; i++) {
        size_t k = i & (NMSG - 1);
        int64_t ts;
        if (fn(arg, m->b.p + m->off[k], m->off[k + 1] - m->off[k], v, &ts, &rej)) {
            fprintf(stderr, "%s: decode failed: %s %s\n", what, rej.reason, rej.detail);
            exit(1);
        }
        sum += (uint64_t)ts + v[0].len + v[2].len + (v[3].type == FR_T_STRING) + (uint64_t)v[1].u.d;
    }
    tm2_t b = now2();
    rate(what, nev, a, b, (double)m->off[NMSG] / NMSG);
    return sum;
}

int main(int argc, char **argv)
{
    size_t nev = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
    if (!nev) {
        fprintf(stderr, "usage: avro_bench [events]\n");
        return 2;
    }
    char err[512];
    fr_config_t *cfg;
    if (fr_config_parse("bench.yaml", yaml, strlen(yaml), &cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const fr_source_spec_t *src = &cfg->sources[0];
    fr_buf_t schema;
    fr_buf_init(&schema, 1 << 16);
    if (fr_avro_schema_json(src, &schema))
        return 1;

    /* Inputs: the same events as bodies, framed messages, and evolved bodies. */
    static const char *countries[4] = {"US", "GB", "DE", "FR"};
    static msgs_t body, framed, old;
    fr_buf_init(&body.b, 64u << 20);
    fr_buf_init(&framed.b, 64u << 20);
    fr_buf_init(&old.b, 64u << 20);
    for (size_t i = 0; i < NMSG; i++) {
        char card[24], merchant[24];
        snprintf(card, sizeof card, "card_%07u", (unsigned)(rnd() % 1000000));
        snprintf(merchant, sizeof merchant, "m%06u", (unsigned)(rnd() % 50000));
        int c = (int)(rnd() % 4);
        bool has_country = rnd() % 10 != 0;
        double amount = (double)(rnd() % 100000) / 100.0;
        int64_t ts = 1700000000000LL + (int64_t)i * 7;
        fr_value_t v[6] = {
            {.type = FR_T_STRING, .len = (uint32_t)strlen(card), .u.s = card},
            {.type = FR_T_DOUBLE, .u.d = amount},
            {.type = FR_T_STRING, .len = (uint32_t)strlen(merchant), .u.s = merchant},
            has_country ? (fr_value_t){.type = FR_T_STRING, .len = 2, .u.s = countries[c]}
                        : (fr_value_t){.type = FR_T_NULL},
            {.type = FR_T_BOOL, .u.b = rnd() & 1},
            {.type = FR_T_LONG, .u.i = ts},
        };
        body.off[i] = body.b.len;
        framed.off[i] = framed.b.len;
        old.off[i] = old.b.len;
        if (fr_avro_encode(src, v, &body.b) || fr_avro_frame(1, &framed.b) ||
            fr_avro_encode(src, v, &framed.b)) {
            fprintf(stderr, "encode failed\n");
            return 1;
        }
        /* the evolved writer's encoding of the same event */
        fr_buf_t *o = &old.b;
        zig(o, 7);
        fr_buf_add(o, "android", 7);
        fr_buf_add_u32(o, 0x3f000000); /* 0.5f */
        zig(o, (int64_t)v[0].len);
        fr_buf_add(o, card, v[0].len);
        float af = (float)amount;
        uint32_t bits;
        memcpy(&bits, &af, 4);
        fr_buf_add_u32(o, bits);
        zig(o, (int64_t)v[2].len);
        fr_buf_add(o, merchant, v[2].len);
        zig(o, 2);
        zig(o, 3);
        fr_buf_add(o, "web", 3);
        zig(o, 4);
        fr_buf_add(o, "card", 4);
        zig(o, 0);
        zig(o, has_country ? 1 : 0);
        if (has_country)
            zig(o, c);
        zig(o, 0);
        fr_buf_add_u8(o, v[4].u.b);
        zig(o, ts);
    }
    body.off[NMSG] = body.b.len;
    framed.off[NMSG] = framed.b.len;
    old.off[NMSG] = old.b.len;

    fr_avro_proj_t *pj, *pjold;
    fr_avro_codec_t *codec;
    if (fr_avro_proj_new(src, schema.p, schema.len, &pj, err, sizeof err) ||
        fr_avro_proj_new(src, evolved, strlen(evolved), &pjold, err, sizeof err) ||
        fr_avro_codec_new(src, lookup, schema.p, 1 << 20, &codec)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("avro_bench: %zu events, 6 fields (3 strings, double, optional boolean, long), "
           "%d distinct messages\n",
           nev, NMSG);
    uint64_t sum = 0;
    sum += run("walker", dec_walker, pj, &body, nev);
    sum += run("codec", dec_codec, codec, &framed, nev);
    sum += run("evolved writer", dec_walker, pjold, &old, nev);
    sum += run("avro-c generic", dec_generic, pj, &body, nev / 5 ? nev / 5 : 1);
    printf("(checksum %llu)\n", (unsigned long long)sum);
    fr_avro_codec_free(codec);
    fr_avro_proj_free(pj);
    fr_avro_proj_free(pjold);
    fr_buf_destroy(&body.b);
    fr_buf_destroy(&framed.b);
    fr_buf_destroy(&old.b);
    fr_buf_destroy(&schema);
    fr_config_free(cfg);
    return 0;
}
