/*
 * gen_cmd.c - `freshet generate`: the generator (gen.c) driven by the
 * clock, writing NDJSON to stdout, a file, or HTTP ingest, or producing
 * to Kafka as JSON or Avro (see gen.h; the Kafka sink is gen_kafka.c).
 *
 * One loop: take a token, generate an event into the pending buffer, hand
 * the buffer to the sink when it is full (bytes for stdout and files, the
 * batch size for HTTP) or when waiting for the next token would leave its
 * oldest event unsent for more than FLUSH_NS.  The token bucket refills from
 * the monotonic clock, so the long-run rate is exact however coarse the
 * sleeps are (at 1M events/s each nanosleep covers dozens of events).
 *
 * HTTP batches carry an Idempotency-Key made of the seed, pid, start time
 * and batch number, so a batch retried after a lost answer is applied once.
 *
 * Kafka needs no pending buffer: each event goes to librdkafka as it is
 * made, and librdkafka's own linger (5 ms) bounds how long it waits.  At
 * the end the loop waits for every delivery report; the summary counts
 * acknowledged events, and any failed delivery makes the exit status 1.
 * The first SIGINT/SIGTERM stops generating and waits for what was
 * produced; a second one drops what has not been sent yet.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "gen/gen.h"
#include "gen/gen_int.h"

#define FLUSH_NS 100000000ull     /* pending events wait at most this long */
#define PROGRESS_NS 250000000ull  /* progress line refresh */
#define FD_FLUSH_BYTES (256 << 10) /* stdout and files are written in chunks */
#define MAX_BATCH 100000           /* FR_INGEST_MAX_EVENTS */
#define MAX_ATTEMPTS 6             /* one try and five retries */
#define RETRY_BASE_NS 100000000ull /* 0.1, 0.2, 0.4, 0.8, 1.6 s between tries */
#define MAX_ANSWER (1 << 20)
#define MAX_RATE 1e9
#define KAFKA_EVENT_MAX 4096 /* one event for the Kafka sink (FR_GEN_MAX_EVENT) */

static volatile sig_atomic_t g_stop;

/* 1 after the first signal, 2 after a second one */
static void on_signal(int sig)
{
    (void)sig;
    if (g_stop < 2)
        g_stop = g_stop + 1;
}

static const char usage_text[] =
    "usage: freshet generate [--count N] [--rate R] [--to DEST] [options]\n"
    "  Writes synthetic card transactions (source `transactions` of\n"
    "  examples/fraud/freshet.yaml) as NDJSON, or produces them to Kafka.\n"
    "  --count N        events to generate (default 10000; 0 = until interrupted)\n"
    "  --rate R         events per second (default 0 = as fast as possible)\n"
    "  --to DEST        - (stdout, default), a file path,\n"
    "                   http://HOST:PORT/v1/events/SOURCE (POSTs NDJSON batches), or\n"
    "                   kafka://HOST:PORT[,HOST:PORT...]/TOPIC (a message per event,\n"
    "                   keyed by its entity; waits for every acknowledgement)\n"
    "  --batch N        events per HTTP request (default 500, at most 100000)\n"
    "  --format F       Kafka values: json (default, the NDJSON line) or avro\n"
    "                   (Confluent-framed; the schema is registered under the\n"
    "                   subject TOPIC-value)\n"
    "  -c FILE          Kafka: the configuration whose source types the events,\n"
    "                   whose schema registry takes the Avro schema and whose\n"
    "                   kafka: properties the producer uses (default: the built-in\n"
    "                   `transactions` source); the other sinks ignore it\n"
    "  --source NAME    with -c: the source (default: the first one)\n"
    "  --registry URL   Avro: a Confluent-compatible schema registry, e.g. a running\n"
    "                   freshet's http://HOST:PORT (default: the one of -c FILE)\n"
    "  --seed S         generator seed (default: from the clock)\n"
    "  --cards N        number of cards (default 100000)\n"
    "  --merchants N    number of merchants (default 5000)\n"
    "  --fraud-rate F   share of events in fraud-like bursts (default 0.005)\n"
    "  --jitter-ms MS   event times lag the clock by up to MS (default 2000)\n"
    "  --help           this text\n"
    "Examples:\n"
    "  freshet generate --count 5 --seed 7\n"
    "  freshet generate --to kafka://127.0.0.1:9092/transactions --format avro \\\n"
    "      -c examples/kafka/freshet.yaml --count 20000 --rate 5000\n"
    "Exit status: 0 done; 1 failed (destination unreachable, events not\n"
    "acknowledged, schema refused); 2 bad usage.\n";

typedef struct run {
    /* options */
    uint64_t count;
    double rate;
    uint64_t batch;
    const char *to;
    fr_gen_opts_t go;
    /* state */
    fr_gen_t *gen;
    fr_buf_t pend;     /* NDJSON not yet handed to the sink */
    uint64_t npend;    /* events in pend */
    uint64_t pend_ns;  /* when the oldest pending event was made */
    uint64_t made;     /* events generated */
    uint64_t sent;     /* events handed over (written, or acknowledged) */
    uint64_t t0_ns;
    /* progress */
    int progress;
    uint64_t prog_ns, prog_made;
    /* fd sink */
    int fd; /* -1 when HTTP */
    /* HTTP sink */
    CURL *curl;
    fr_buf_t answer;
    char curl_err[CURL_ERROR_SIZE];
    char key_prefix[96];
    uint64_t batchno, requests, retries, accepted, rejected;
    /* Kafka sink */
    fr_gen_kafka_opts_t ko;
    int format_set;
    fr_gen_kafka_t *kafka;
    fr_buf_t ev; /* the event being sent */
    char err[1024];
} run_t;

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

static int parse_double(const char *s, double *v)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || *end || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

static int is_http(const char *to)
{
    return !strncmp(to, "http://", 7) || !strncmp(to, "https://", 8);
}

static int is_kafka(const char *to)
{
    return !strncmp(to, "kafka://", 8);
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL); /* EINTR: the caller looks at g_stop and the clock */
}

/* ---- sinks ---- */

static int write_all(run_t *r, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(r->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(r->err, sizeof r->err, "writing %s: %s",
                     strcmp(r->to, "-") ? r->to : "stdout", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static size_t on_answer(char *p, size_t size, size_t n, void *ctx)
{
    fr_buf_t *b = ctx;
    return fr_buf_add(b, p, size * n) ? 0 : size * n;
}

static int http_open(run_t *r)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        snprintf(r->err, sizeof r->err, "libcurl initialisation failed");
        return -1;
    }
    r->curl = curl_easy_init();
    if (!r->curl) {
        curl_global_cleanup();
        snprintf(r->err, sizeof r->err, "libcurl initialisation failed");
        return -1;
    }
    CURL *c = r->curl;
    curl_easy_setopt(c, CURLOPT_URL, r->to);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "freshet-generate");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->answer);
    snprintf(r->key_prefix, sizeof r->key_prefix, "Idempotency-Key: gen-%" PRIx64 "-%ld-%" PRId64,
             r->go.seed, (long)getpid(), fr_now_ms());
    return 0;
}

static void http_close(run_t *r)
{
    if (r->curl) {
        curl_easy_cleanup(r->curl);
        curl_global_cleanup();
        r->curl = NULL;
    }
}

/* One POST of the pending batch.  0 done; 1 failed, worth a retry; -1
 * failed for good.  r->err says why. */
static int http_try(run_t *r, struct curl_slist *hdrs)
{
    CURL *c = r->curl;
    fr_buf_reset(&r->answer);
    r->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->pend.p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->pend.len);
    r->requests++;
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(r->err, sizeof r->err, "%s", r->curl_err[0] ? r->curl_err : curl_easy_strerror(cc));
        return 1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_t *j = json_loadb(r->answer.p ? r->answer.p : "", r->answer.len, 0, NULL);
    int ret;
    if (status >= 200 && status < 300) {
        json_t *a = json_object_get(j, "accepted"), *rj = json_object_get(j, "rejected");
        if (json_is_integer(a) && json_is_integer(rj) && json_integer_value(a) >= 0 &&
            json_integer_value(rj) >= 0 &&
            (uint64_t)(json_integer_value(a) + json_integer_value(rj)) == r->npend) {
            r->accepted += (uint64_t)json_integer_value(a);
            r->rejected += (uint64_t)json_integer_value(rj);
            ret = 0;
        } else {
            snprintf(r->err, sizeof r->err,
                     "HTTP %ld with an unexpected answer (want accepted + rejected = %" PRIu64
                     "): %.200s",
                     status, r->npend, r->answer.p ? r->answer.p : "");
            ret = 1;
        }
    } else {
        const char *e = json_string_value(json_object_get(j, "error"));
        const char *d = json_string_value(json_object_get(j, "detail"));
        if (e)
            snprintf(r->err, sizeof r->err, "HTTP %ld: %s%s%s", status, e, d ? ": " : "",
                     d ? d : "");
        else
            snprintf(r->err, sizeof r->err, "HTTP %ld: %.200s", status,
                     r->answer.p ? r->answer.p : "");
        ret = status == 408 || status == 429 || status >= 500 ? 1 : -1;
    }
    json_decref(j);
    return ret;
}

static int http_send(run_t *r)
{
    char key[160];
    snprintf(key, sizeof key, "%s-%" PRIu64, r->key_prefix, r->batchno++);
    struct curl_slist *h = NULL, *t;
    const char *lines[] = {"Content-Type: application/x-ndjson", "Expect:", key};
    for (size_t i = 0; i < 3; i++) {
        t = curl_slist_append(h, lines[i]);
        if (!t) {
            curl_slist_free_all(h);
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        h = t;
    }
    int rc = -1;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt) {
            if (g_stop)
                break;
            r->retries++;
            sleep_ns(RETRY_BASE_NS << (attempt - 1));
        }
        rc = http_try(r, h);
        if (rc <= 0)
            break;
    }
    curl_slist_free_all(h);
    if (rc) {
        char why[sizeof r->err];
        memcpy(why, r->err, sizeof why);
        snprintf(r->err, sizeof r->err, "POST %s: batch %" PRIu64 " failed%s: %.400s", r->to,
                 r->batchno - 1, rc > 0 ? " after retries" : "", why);
        return -1;
    }
    return 0;
}

/* Hands the pending events to the sink. */
static int flush(run_t *r)
{
    if (!r->npend)
        return 0;
    int rc = r->curl ? http_send(r) : write_all(r, r->pend.p, r->pend.len);
    if (rc)
        return rc;
    r->sent += r->npend;
    r->npend = 0;
    fr_buf_reset(&r->pend);
    return 0;
}

/* ---- progress ---- */

static void progress(run_t *r, uint64_t now)
{
    if (!r->progress || now - r->prog_ns < PROGRESS_NS)
        return;
    double dt = (double)(now - r->prog_ns) / 1e9;
    fprintf(stderr, "\r\033[Kgenerate: %" PRIu64 " events, %.0f events/s", r->made,
            (double)(r->made - r->prog_made) / dt);
    if (r->curl)
        fprintf(stderr, ", %" PRIu64 " acknowledged, %" PRIu64 " retries", r->sent, r->retries);
    if (r->kafka) {
        fr_gen_kafka_stats_t st;
        fr_gen_kafka_stats(r->kafka, &st);
        fprintf(stderr, ", %" PRIu64 " acknowledged, %" PRIu64 " failed", st.acked, st.failed);
    }
    r->prog_ns = now;
    r->prog_made = r->made;
}

static void summary(run_t *r)
{
    double dt = (double)(fr_mono_ns() - r->t0_ns) / 1e9;
    if (r->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "generate: %" PRIu64 " events in %.3f s (%.0f events/s) to %s, seed %" PRIu64,
            r->sent, dt, dt > 0 ? (double)r->sent / dt : 0.0,
            strcmp(r->to, "-") ? r->to : "stdout", r->go.seed);
    if (r->curl)
        fprintf(stderr,
                "; %" PRIu64 " requests, %" PRIu64 " retries, %" PRIu64 " accepted, %" PRIu64
                " rejected",
                r->requests, r->retries, r->accepted, r->rejected);
    if (r->kafka) {
        fr_gen_kafka_stats_t st;
        fr_gen_kafka_stats(r->kafka, &st);
        fprintf(stderr,
                "; %" PRIu64 " produced, %" PRIu64 " acknowledged, %" PRIu64 " failed; source %s",
                st.queued, st.acked, st.failed, st.source);
        if (st.subject)
            fprintf(stderr, "; Avro schema id %" PRIu32 " (subject %s, registry %s)", st.schema_id,
                    st.subject, st.registry);
        else
            fputs("; JSON", stderr);
    }
    if (g_stop)
        fputs(" (interrupted)", stderr);
    fputc('\n', stderr);
}

/* ---- the loop ---- */

static int generate(run_t *r)
{
    double tokens = 1, cap = r->rate > 0 ? fmax(2.0, r->rate * 0.5) : 0;
    uint64_t last = r->t0_ns;
    size_t flush_at = r->curl ? SIZE_MAX : FD_FLUSH_BYTES;
    uint64_t batch = r->curl ? r->batch : UINT64_MAX;
    while (!g_stop && (r->count == 0 || r->made < r->count)) {
        if (r->rate > 0) {
            uint64_t now = fr_mono_ns();
            tokens = fmin(cap, tokens + (double)(now - last) * r->rate / 1e9);
            last = now;
            if (tokens < 1) {
                uint64_t wait = (uint64_t)((1 - tokens) / r->rate * 1e9) + 1;
                if (r->npend && now + wait - r->pend_ns >= FLUSH_NS) {
                    if (flush(r))
                        return -1;
                    continue;
                }
                progress(r, now);
                if (r->kafka)
                    fr_gen_kafka_poll(r->kafka, 0); /* delivery reports */
                sleep_ns(wait);
                continue;
            }
            tokens -= 1;
            if (!r->npend)
                r->pend_ns = now;
        } else if ((r->made & 4095) == 0) {
            progress(r, fr_mono_ns());
        }
        if (r->kafka) {
            fr_buf_reset(&r->ev);
            int rc = fr_gen_next(r->gen, fr_now_ms(), &r->ev);
            if (rc) {
                snprintf(r->err, sizeof r->err, "generating: %s", fr_strerror(rc));
                return -1;
            }
            if (fr_gen_kafka_send(r->kafka, r->ev.p, r->ev.len, r->err, sizeof r->err))
                return -1;
            r->made++;
            continue;
        }
        int rc = fr_gen_next(r->gen, fr_now_ms(), &r->pend);
        if (!rc)
            rc = fr_buf_addc(&r->pend, '\n');
        if (rc) {
            snprintf(r->err, sizeof r->err, "generating: %s", fr_strerror(rc));
            return -1;
        }
        r->made++;
        if (++r->npend >= batch || r->pend.len >= flush_at) {
            if (flush(r))
                return -1;
        }
    }
    return flush(r);
}

/* Waits for the delivery report of every message produced; a second
 * signal drops those not sent yet.  0, or -1 when some failed. */
static int kafka_finish(run_t *r)
{
    int purged = 0;
    while (fr_gen_kafka_flush(r->kafka, 100)) {
        if (g_stop >= 2 && !purged) {
            fr_gen_kafka_purge(r->kafka);
            purged = 1;
        }
        progress(r, fr_mono_ns());
    }
    fr_gen_kafka_stats_t st;
    fr_gen_kafka_stats(r->kafka, &st);
    r->sent = st.acked;
    if (!st.failed)
        return 0;
    snprintf(r->err, sizeof r->err,
             "%" PRIu64 " of %" PRIu64 " messages were not delivered to %s: %s", st.failed,
             st.queued, r->to, st.error ? st.error : "unknown error");
    return -1;
}

/* Options that only the Kafka sink takes, and its URL: NULL when fine, else
 * what is wrong (in buf or static). */
static const char *check_kafka_opts(run_t *r, char *buf, size_t len)
{
    if (!is_kafka(r->to)) {
        if (r->format_set)
            return "--format is for --to kafka://HOST:PORT/TOPIC";
        if (r->ko.source)
            return "--source is for --to kafka://HOST:PORT/TOPIC";
        if (r->ko.registry)
            return "--registry is for --to kafka://HOST:PORT/TOPIC --format avro";
        return NULL;
    }
    fr_gen_kafka_url_t u;
    char why[200];
    if (fr_gen_kafka_url_parse(r->to, &u, why, sizeof why)) {
        snprintf(buf, len, "--to %.300s: %s (expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC)",
                 r->to, why);
        return buf;
    }
    if (r->ko.source && !r->ko.config)
        return "--source names a source of -c FILE";
    if (r->ko.registry && r->ko.format != FR_FORMAT_AVRO)
        return "--registry is for --format avro";
    if (r->ko.format == FR_FORMAT_AVRO && !r->ko.config && !r->ko.registry)
        return "--format avro needs a schema registry: --registry URL, or -c FILE (its "
               "schema_registry.url or embedded registry)";
    return NULL;
}

int fr_gen_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'n'},     {"rate", required_argument, NULL, 'r'},
        {"to", required_argument, NULL, 'o'},        {"batch", required_argument, NULL, 'b'},
        {"seed", required_argument, NULL, 's'},      {"cards", required_argument, NULL, 'C'},
        {"merchants", required_argument, NULL, 'M'}, {"fraud-rate", required_argument, NULL, 'f'},
        {"jitter-ms", required_argument, NULL, 'j'}, {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'F'},    {"source", required_argument, NULL, 'S'},
        {"registry", required_argument, NULL, 'R'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    run_t r;
    memset(&r, 0, sizeof r);
    r.count = 10000;
    r.batch = 500;
    r.to = "-";
    r.fd = -1;
    r.go = fr_gen_opts_default();
    r.ko.format = FR_FORMAT_JSON;
    r.ko.stop = &g_stop;
    int seeded = 0;
    const char *bad = NULL;
    char badbuf[768];
    optind = 0; /* full re-initialisation: fr_gen_cmd may run more than once */
    int ch;
    opterr = 0;
    while (!bad && (ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        uint64_t u;
        double d;
        switch (ch) {
        case 'n':
            if (parse_u64(optarg, &r.count))
                bad = "--count wants a whole number >= 0";
            break;
        case 'r':
            if (parse_double(optarg, &r.rate) || r.rate < 0 || r.rate > MAX_RATE)
                bad = "--rate wants events per second, 0 (unlimited) to 1e9";
            break;
        case 'o':
            r.to = optarg;
            if (!*optarg)
                bad = "--to wants -, a file path, an http:// URL or a kafka:// URL";
            break;
        case 'b':
            if (parse_u64(optarg, &r.batch) || r.batch < 1 || r.batch > MAX_BATCH)
                bad = "--batch wants 1 to 100000";
            break;
        case 's':
            if (parse_u64(optarg, &r.go.seed))
                bad = "--seed wants a whole number >= 0";
            seeded = 1;
            break;
        case 'C':
            if (parse_u64(optarg, &r.go.cards) || r.go.cards < 1 || r.go.cards > 1000000000000ull)
                bad = "--cards wants 1 to 1e12";
            break;
        case 'M':
            if (parse_u64(optarg, &r.go.merchants) || r.go.merchants < 1 ||
                r.go.merchants > 1000000000000ull)
                bad = "--merchants wants 1 to 1e12";
            break;
        case 'f':
            if (parse_double(optarg, &d) || d < 0 || d > 1)
                bad = "--fraud-rate wants a number from 0 to 1";
            else
                r.go.fraud_rate = d;
            break;
        case 'j':
            if (parse_u64(optarg, &u) || u > (uint64_t)INT64_MAX / 2)
                bad = "--jitter-ms wants milliseconds >= 0";
            else
                r.go.jitter_ms = (int64_t)u;
            break;
        case 'c': r.ko.config = optarg; break;
        case 'F':
            r.format_set = 1;
            if (!strcmp(optarg, "json"))
                r.ko.format = FR_FORMAT_JSON;
            else if (!strcmp(optarg, "avro"))
                r.ko.format = FR_FORMAT_AVRO;
            else
                bad = "--format wants json or avro";
            break;
        case 'S':
            r.ko.source = optarg;
            if (!*optarg)
                bad = "--source wants a source name";
            break;
        case 'R':
            r.ko.registry = optarg;
            if (!is_http(optarg))
                bad = "--registry wants an http:// or https:// URL";
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        case ':':
            fprintf(stderr,
                    "freshet generate: %s needs a value; try `freshet generate --help`\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr,
                    "freshet generate: unknown option '%s'; try `freshet generate --help`\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!bad && optind < argc) {
        fprintf(stderr,
                "freshet generate: unexpected argument '%s'; try `freshet generate --help`\n",
                argv[optind]);
        return 2;
    }
    if (!bad)
        bad = check_kafka_opts(&r, badbuf, sizeof badbuf);
    if (bad) {
        fprintf(stderr, "freshet generate: %s; try `freshet generate --help`\n", bad);
        return 2;
    }
    if (!seeded)
        r.go.seed = fr_mix64((uint64_t)fr_now_ms() ^ fr_mix64((uint64_t)getpid() ^ fr_mono_ns())) %
                    1000000000u; /* short enough to retype */

    int ret = 1;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts a sleep short */
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    fr_buf_init(&r.pend, r.batch * (FR_GEN_MAX_EVENT + 1) + FD_FLUSH_BYTES);
    fr_buf_init(&r.answer, MAX_ANSWER);
    fr_buf_init(&r.ev, KAFKA_EVENT_MAX);
    r.gen = fr_gen_new(&r.go);
    if (!r.gen) {
        snprintf(r.err, sizeof r.err, "out of memory");
        goto out;
    }
    if (is_kafka(r.to)) {
        r.ko.to = r.to;
        if (fr_gen_kafka_open(&r.ko, &r.kafka, r.err, sizeof r.err))
            goto out;
        fr_gen_kafka_stats_t st;
        fr_gen_kafka_stats(r.kafka, &st);
        if (r.ko.config && st.source_format != r.ko.format)
            fprintf(stderr, "freshet generate: note: source '%s' reads %s; producing %s\n",
                    st.source, st.source_format == FR_FORMAT_AVRO ? "avro" : "json",
                    r.ko.format == FR_FORMAT_AVRO ? "avro" : "json");
    } else if (is_http(r.to)) {
        if (http_open(&r))
            goto out;
    } else if (!strcmp(r.to, "-")) {
        r.fd = STDOUT_FILENO;
    } else {
        r.fd = open(r.to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (r.fd < 0) {
            snprintf(r.err, sizeof r.err, "cannot open %s: %s", r.to, strerror(errno));
            goto out;
        }
    }
    r.progress = isatty(STDERR_FILENO) && !(r.fd == STDOUT_FILENO && isatty(STDOUT_FILENO));
    r.t0_ns = r.prog_ns = fr_mono_ns();
    fflush(stdout); /* our writes to fd 1 bypass stdio */
    int rc = generate(&r);
    if (r.kafka) {
        /* what was produced is delivered even when the loop failed */
        char loop_err[sizeof r.err];
        memcpy(loop_err, r.err, sizeof loop_err);
        int frc = kafka_finish(&r);
        if (rc)
            memcpy(r.err, loop_err, sizeof r.err); /* the first error is the story */
        else
            rc = frc;
    }
    if (!rc && r.fd >= 0 && r.fd != STDOUT_FILENO) {
        rc = close(r.fd);
        r.fd = -1;
        if (rc)
            snprintf(r.err, sizeof r.err, "writing %s: %s", r.to, strerror(errno));
    }
    summary(&r);
    if (!rc)
        ret = g_stop && r.count && r.made < r.count ? 1 : 0;
    if (!rc && ret)
        snprintf(r.err, sizeof r.err, "interrupted after %" PRIu64 " of %" PRIu64 " events",
                 r.made, r.count);
out:
    if (ret && r.err[0])
        fprintf(stderr, "freshet generate: %s\n", r.err);
    if (r.fd >= 0 && r.fd != STDOUT_FILENO)
        close(r.fd);
    http_close(&r);
    fr_gen_kafka_close(r.kafka);
    fr_gen_free(r.gen);
    fr_buf_destroy(&r.pend);
    fr_buf_destroy(&r.answer);
    fr_buf_destroy(&r.ev);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return ret;
}
