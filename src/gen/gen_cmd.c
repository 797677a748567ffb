/*
 * gen_cmd.c - `freshet generate`: the generator (gen.c) driven by the
 * clock or over a past period, its sources routed to stdout, files, HTTP
 * ingest, the embedded log or Kafka (usage_text below; docs/operations.md
 * "Test traffic").
 *
 * One loop: before each primary event (a transaction or a click) the labels
 * whose time has come are taken, then the event is made at `now`.  Live,
 * `now` is the wall clock and a token bucket on the monotonic clock paces
 * the primary events (the long-run rate is exact however coarse the sleeps
 * are); over a history [--from, --until), `now` steps evenly through the
 * period as fast as the sinks take it, and labels due by the end come last.
 * So every sink sees each source in event-time order (up to the jitter)
 * and a chargeback after its transaction.
 *
 * Batch outputs (gen_out.c) get one pending batch each; every output is
 * flushed at once, in order, when one is full or when waiting for the next
 * token would leave the oldest pending event unsent for more than FLUSH_NS.
 * Kafka (gen_kafka.c) takes events one at a time; librdkafka's linger
 * bounds how long they wait, and at the end the loop waits for every
 * delivery report.  The first SIGINT/SIGTERM stops generating and delivers
 * what was made; a second one drops what Kafka has not sent yet.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/hash.h"
#include "gen/gen.h"
#include "gen/gen_int.h"
#include "source/elog.h"

#define FLUSH_NS 100000000ull      /* pending events wait at most this long */
#define PROGRESS_NS 250000000ull   /* progress line refresh */
#define FD_FLUSH_BYTES (256 << 10) /* stdout and files are written in chunks */
#define MAX_BATCH 100000           /* FR_INGEST_MAX_EVENTS */
#define LOG_BATCH 10000            /* events per log append unless --batch says */
#define MAX_RATE 1e9
#define MAX_COUNT 1000000000000ull
#define MAX_TIME_MS (1LL << 53) /* times and durations given on the command line */
#define KAFKA_EVENT_MAX 4096    /* one event for the Kafka sink (FR_GEN_MAX_EVENT) */
#define HISTORY_DELAY_MIN_MS 86400000LL /* chargebacks 1 to 4 days later over a history */
#define HISTORY_DELAY_MAX_MS (4 * 86400000LL)

static volatile sig_atomic_t g_stop;

/* 1 after the first signal, 2 after a second one */
static void on_signal(int sig)
{
    (void)sig;
    if (g_stop < 2)
        g_stop = g_stop + 1;
}

static const char usage_text[] =
    "usage: freshet generate [--kind fraud|clicks] [--count N] [--rate R] [--to DEST] [options]\n"
    "  Synthetic events for the examples: --kind fraud (default) writes card\n"
    "  transactions (source `transactions`) and their chargebacks (`chargebacks`,\n"
    "  the labels) as examples/fraud/freshet.yaml declares them; --kind clicks a\n"
    "  clickstream (`clicks`, examples/personalization/freshet.yaml).\n"
    "  --count N        primary events (transactions or clicks) to generate\n"
    "                   (default 10000; 0 = until interrupted); labels come on top\n"
    "  --rate R         events per second (default 0 = as fast as possible); over a\n"
    "                   history, events per second of event time instead of --count\n"
    "  --from T --until T   a history: events spread evenly over [from, until) of\n"
    "                   event time, written as fast as the destination takes them;\n"
    "                   labels due after --until are left out.  T is epoch ms, now, or\n"
    "                   now-DURATION / now+DURATION (e.g. now-7d; units ms s m h d)\n"
    "  --to DEST        where the events go (every source, unless --only):\n"
    "                   - (stdout, default) or FILE: one NDJSON stream, sources mixed\n"
    "                     in the order made;  DIR/ or an existing directory:\n"
    "                     DIR/SOURCE.ndjson (DIR made when missing);  a path with\n"
    "                     %s: the source's name replaces it (out/%s.ndjson)\n"
    "                   http://HOST:PORT: NDJSON batches POSTed to\n"
    "                     /v1/events/SOURCE for each source;  a URL ending in\n"
    "                     /v1/events/NAME carries one source: NAME if the kind has\n"
    "                     it, else the primary one\n"
    "                   log (with -c FILE): appended to the embedded log under\n"
    "                     the configuration's store.path, source by source of the\n"
    "                     same name, as HTTP ingest appends (a running freshet may\n"
    "                     hold the store)\n"
    "                   kafka://HOST:PORT[,HOST:PORT...]: a topic per source, named\n"
    "                     like it (kafka://.../prefix-%s: the name replaces %s);\n"
    "                     kafka://HOST:PORT/TOPIC carries one source (the primary\n"
    "                     one, or --only's) to TOPIC.  A message per event, keyed by\n"
    "                     its entity; waits for every acknowledgement\n"
    "  --only S[,S]     only these sources (e.g. --only transactions)\n"
    "  --batch N        events per HTTP request (default 500) or log append (default\n"
    "                   10000), at most 100000\n"
    "  --format F       Kafka values: json (default, the NDJSON line) or avro\n"
    "                   (Confluent-framed; each schema registered under TOPIC-value)\n"
    "  -c FILE          log: the configuration (store, sources).  Kafka: the\n"
    "                   configuration whose sources type the events, whose schema\n"
    "                   registry takes Avro schemas and whose first source's kafka:\n"
    "                   properties the producer uses (default: built-in copies of\n"
    "                   the example's sources).  Other destinations ignore it\n"
    "  --source NAME    log and Kafka, one source emitted: the configuration's source\n"
    "                   that takes it (default: the one of the same name)\n"
    "  --registry URL   Avro: a Confluent-compatible schema registry, e.g. a running\n"
    "                   freshet's http://HOST:PORT (default: the one of -c FILE)\n"
    "  --seed S         generator seed (default: from the clock)\n"
    "  --jitter-ms MS   event times lag the clock by up to MS (default 2000)\n"
    " fraud:\n"
    "  --cards N        number of cards (default 100000)\n"
    "  --merchants N    number of merchants (default 5000)\n"
    "  --fraud-rate F   share of transactions in fraud bursts (default 0.005)\n"
    "  --label-delay D..D   a chargeback comes this long after its transaction\n"
    "                   (default 10s..5m live, 1d..4d over a history; units ms s m h d)\n"
    "  --false-chargeback-rate F   share of legitimate transactions charged back\n"
    "                   anyway (default 0.001)\n"
    "  --shift-at T     from event time T on: amounts x3, another country mix (drift)\n"
    " clicks:\n"
    "  --users N        number of users (default 50000)\n"
    "  --items N        number of items (default 20000, at least 12)\n"
    "  --help           this text\n"
    "Examples:\n"
    "  freshet generate --count 5 --seed 7\n"
    "  freshet generate --from now-7d --until now --rate 20 --to log -c examples/fraud/freshet.yaml\n"
    "  freshet generate --to kafka://127.0.0.1:9092/transactions --format avro \\\n"
    "      -c examples/kafka/freshet.yaml --count 20000 --rate 5000\n"
    "Exit status: 0 done; 1 failed (destination unreachable, events not\n"
    "acknowledged, schema refused); 2 bad usage.\n";

typedef enum dest { DEST_FD, DEST_FILES, DEST_HTTP, DEST_LOG, DEST_KAFKA } dest_t;

typedef struct run {
    /* options */
    uint64_t count;
    int count_set;
    double rate;
    uint64_t batch;
    int batch_set;
    const char *to;
    const char *only;
    const char *config;
    const char *source; /* --source */
    int history;
    int64_t from_ms, until_ms;
    int delay_set;
    fr_gen_opts_t go;
    /* routing */
    dest_t dest;
    int nsrc;               /* sources of the kind */
    int sel[FR_GEN_MAX_SOURCES];   /* emitted */
    int route[FR_GEN_MAX_SOURCES]; /* output or Kafka stream of each source, -1 none */
    fr_gen_out_t outs[FR_GEN_MAX_SOURCES];
    int nouts;
    /* log */
    fr_config_t *cfg;
    fr_elog_t *log;
    /* Kafka */
    fr_gen_kafka_opts_t ko;
    int format_set;
    fr_gen_kafka_t *kafka;
    char topics[FR_GEN_MAX_SOURCES][FR_GEN_KAFKA_MAX_TOPIC + 1];
    char brokers[FR_GEN_KAFKA_MAX_BROKERS + 1];
    int curl_inited;
    /* state */
    fr_gen_t *gen;
    fr_buf_t ev;              /* the event being made */
    uint64_t npend;           /* events pending in all outputs */
    uint64_t pend_ns;         /* when the oldest pending event was made */
    uint64_t made[FR_GEN_MAX_SOURCES]; /* generated, per source */
    uint64_t t0_ns;
    int64_t now_ms;           /* the generation time of the last event */
    /* progress */
    int progress;
    uint64_t prog_ns, prog_made;
    char err[1024];
} run_t;

/* ---- option values ---- */

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

/* A duration: digits with an optional unit (ms, s, m, h, d; none = ms), at
 * most MAX_TIME_MS.  n bytes of s. */
static int parse_duration(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    if (n == 0 || s[0] < '0' || s[0] > '9')
        return -1;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (uint64_t)MAX_TIME_MS)
            return -1;
    }
    uint64_t unit;
    size_t ul = n - i;
    if (ul == 0 || (ul == 2 && !memcmp(s + i, "ms", 2)))
        unit = 1;
    else if (ul == 1 && s[i] == 's')
        unit = 1000;
    else if (ul == 1 && s[i] == 'm')
        unit = 60000;
    else if (ul == 1 && s[i] == 'h')
        unit = 3600000;
    else if (ul == 1 && s[i] == 'd')
        unit = 86400000;
    else
        return -1;
    if (v > (uint64_t)MAX_TIME_MS / unit)
        return -1;
    *out = (int64_t)(v * unit);
    return 0;
}

/* A time: epoch ms (may be negative), now, now-DURATION or now+DURATION,
 * within +-MAX_TIME_MS. */
static int parse_time(const char *s, int64_t *out)
{
    if (!strncmp(s, "now", 3)) {
        int64_t now = fr_now_ms(), d = 0;
        if (s[3] && ((s[3] != '-' && s[3] != '+') || parse_duration(s + 4, strlen(s + 4), &d)))
            return -1;
        *out = s[3] == '-' ? now - d : now + d; /* |now| and d are far below 2^62 */
        return *out > MAX_TIME_MS || *out < -MAX_TIME_MS ? -1 : 0;
    }
    const char *d = s + (*s == '-');
    uint64_t v;
    if (parse_u64(d, &v) || v > (uint64_t)MAX_TIME_MS)
        return -1;
    *out = *s == '-' ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* MIN..MAX, two durations. */
static int parse_delays(const char *s, int64_t *lo, int64_t *hi)
{
    const char *dots = strstr(s, "..");
    if (!dots || parse_duration(s, (size_t)(dots - s), lo) ||
        parse_duration(dots + 2, strlen(dots + 2), hi) || *lo > *hi ||
        *hi > FR_GEN_MAX_DELAY_MS)
        return -1;
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

/* ---- routing ---- */

static int source_of_kind(const run_t *r, const char *name, size_t len)
{
    for (int i = 0; i < r->nsrc; i++) {
        const char *n = fr_gen_source_name(r->go.kind, i);
        if (strlen(n) == len && !memcmp(n, name, len))
            return i;
    }
    return -1;
}

static void source_list(const run_t *r, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->nsrc && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "",
                               fr_gen_source_name(r->go.kind, i));
}

static int nselected(const run_t *r)
{
    int n = 0;
    for (int i = 0; i < r->nsrc; i++)
        n += r->sel[i];
    return n;
}

static int first_selected(const run_t *r)
{
    for (int i = 0; i < r->nsrc; i++)
        if (r->sel[i])
            return i;
    return -1;
}

/* --only: the sources emitted (default all).  NULL or what is wrong. */
static const char *pick_sources(run_t *r, char *buf, size_t len)
{
    for (int i = 0; i < r->nsrc; i++)
        r->sel[i] = !r->only;
    if (!r->only)
        return NULL;
    for (const char *p = r->only;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!n)
            return "--only wants source names separated by commas, e.g. --only transactions";
        int s = source_of_kind(r, p, n);
        if (s < 0) {
            char names[256];
            source_list(r, names, sizeof names);
            snprintf(buf, len, "--only: '%.*s' is not a source of --kind %s (%s)",
                     (int)(n > 100 ? 100 : n), p,
                     r->go.kind == FR_GEN_CLICKS ? "clicks" : "fraud", names);
            return buf;
        }
        r->sel[s] = 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return nselected(r) ? NULL : "--only wants source names, e.g. --only transactions";
}

/* A destination that carries one source: which one.  NULL or what is wrong. */
static const char *single_source(run_t *r, int named)
{
    if (r->only && nselected(r) > 1)
        return "this --to carries one source; --only may name one";
    int keep = r->only ? first_selected(r) : named >= 0 ? named : 0;
    for (int i = 0; i < r->nsrc; i++)
        r->sel[i] = i == keep;
    return NULL;
}

/* The kind of destination and the sources it carries.  NULL or what is
 * wrong (in buf or static). */
static const char *plan(run_t *r, char *buf, size_t len)
{
    const char *bad = pick_sources(r, buf, len);
    if (bad)
        return bad;
    const char *to = r->to;
    if (!strcmp(to, "-")) {
        r->dest = DEST_FD;
    } else if (!strcmp(to, "log")) {
        r->dest = DEST_LOG;
        if (!r->config)
            return "--to log needs -c FILE (the configuration whose store takes the events)";
    } else if (is_kafka(to)) {
        r->dest = DEST_KAFKA;
        fr_gen_kafka_url_t u;
        char why[200];
        if (fr_gen_kafka_url_parse(to, &u, why, sizeof why)) {
            snprintf(buf, len,
                     "--to %.300s: %s (expected kafka://HOST:PORT[,HOST:PORT...][/TOPIC])", to,
                     why);
            return buf;
        }
        bad = fr_gen_kafka_url_single(&u) ? single_source(r, -1) : NULL;
        if (bad)
            return bad;
        snprintf(r->brokers, sizeof r->brokers, "%s", u.brokers);
        for (int i = 0; i < r->nsrc; i++) {
            if (r->sel[i] && fr_gen_kafka_topic(&u, fr_gen_source_name(r->go.kind, i),
                                                r->topics[i], sizeof r->topics[i], why,
                                                sizeof why)) {
                snprintf(buf, len, "--to %.300s: %s", to, why);
                return buf;
            }
        }
    } else if (is_http(to)) {
        r->dest = DEST_HTTP;
        const char *ev = strstr(to, "/v1/events/");
        if (ev && !strchr(ev + 11, '/')) {
            const char *name = ev + 11;
            bad = single_source(r, source_of_kind(r, name, strlen(name)));
            if (bad)
                return bad;
        }
    } else {
        const char *pct = strstr(to, "%s");
        struct stat sb;
        size_t n = strlen(to);
        if (pct) {
            if (strstr(pct + 2, "%s"))
                return "--to: a file pattern has one %s";
            r->dest = DEST_FILES;
        } else if (to[n - 1] == '/' || (stat(to, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            r->dest = DEST_FILES;
        } else {
            r->dest = DEST_FD;
        }
    }
    if (r->dest != DEST_KAFKA) {
        if (r->format_set)
            return "--format is for --to kafka://HOST:PORT[/TOPIC]";
        if (r->ko.registry)
            return "--registry is for --to kafka://HOST:PORT[/TOPIC] --format avro";
    }
    if (r->source) {
        if (r->dest != DEST_KAFKA && r->dest != DEST_LOG)
            return "--source is for --to log or --to kafka://HOST:PORT[/TOPIC]";
        if (!r->config)
            return "--source names a source of -c FILE";
        if (nselected(r) != 1)
            return "--source is for one source emitted (--only S, or a single topic)";
    }
    if (r->dest == DEST_KAFKA) {
        if (r->ko.registry && r->ko.format != FR_FORMAT_AVRO)
            return "--registry is for --format avro";
        if (r->ko.format == FR_FORMAT_AVRO && !r->config && !r->ko.registry)
            return "--format avro needs a schema registry: --registry URL, or -c FILE (its "
                   "schema_registry.url or embedded registry)";
    }
    return NULL;
}

/* The file of source s under a DIR/ or pattern destination. */
static int file_of(const run_t *r, int s, char *path, size_t len)
{
    const char *name = fr_gen_source_name(r->go.kind, s), *pct = strstr(r->to, "%s");
    size_t n = strlen(r->to);
    int w = pct ? snprintf(path, len, "%.*s%s%s", (int)(pct - r->to), r->to, name, pct + 2)
                : snprintf(path, len, "%s%s%s.ndjson", r->to, r->to[n - 1] == '/' ? "" : "/",
                           name);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* The configuration's source taking generated source s (log and Kafka). */
static const char *target_source(const run_t *r, int s)
{
    return r->source ? r->source : fr_gen_source_name(r->go.kind, s);
}

static int open_log(run_t *r, size_t pend_max)
{
    int rc = fr_config_load(r->config, &r->cfg, r->err, sizeof r->err);
    if (rc)
        return -1;
    for (int i = 0; i < r->nsrc; i++) {
        if (!r->sel[i])
            continue;
        const char *name = target_source(r, i);
        int s = fr_config_source_index(r->cfg, name);
        if (s < 0) {
            snprintf(r->err, sizeof r->err,
                     "%s has no source '%s' (use --only to leave it out, or --source)", r->config,
                     name);
            return -1;
        }
        if (r->cfg->sources[s].kafka.enabled) {
            snprintf(r->err, sizeof r->err,
                     "source '%s' of %s reads Kafka topic '%s', not the embedded log: use --to "
                     "kafka://...",
                     name, r->config, r->cfg->sources[s].kafka.topic);
            return -1;
        }
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/log", r->cfg->store.path);
    char why[512] = "";
    rc = fr_elog_open(dir, r->cfg, &r->log, why, sizeof why);
    if (rc) {
        snprintf(r->err, sizeof r->err, "opening the log %.400s: %s", dir,
                 why[0] ? why : fr_strerror(rc));
        return -1;
    }
    for (int i = 0; i < r->nsrc; i++) {
        if (!r->sel[i])
            continue;
        int s = fr_config_source_index(r->cfg, target_source(r, i));
        r->route[i] = r->nouts;
        if (fr_gen_out_open_log(&r->outs[r->nouts++], r->cfg, r->log, s, pend_max, r->err,
                                sizeof r->err))
            return -1;
    }
    return 0;
}

static int open_kafka(run_t *r)
{
    r->ko.brokers = r->brokers;
    r->ko.config = r->config;
    r->ko.kind = r->go.kind;
    r->ko.stop = &g_stop;
    for (int i = 0; i < r->nsrc; i++) {
        if (!r->sel[i])
            continue;
        r->route[i] = (int)r->ko.nstreams;
        r->ko.streams[r->ko.nstreams].topic = r->topics[i];
        r->ko.streams[r->ko.nstreams].source = target_source(r, i);
        r->ko.nstreams++;
    }
    if (fr_gen_kafka_open(&r->ko, &r->kafka, r->err, sizeof r->err))
        return -1;
    fr_gen_kafka_stats_t st;
    fr_gen_kafka_stats(r->kafka, &st);
    for (size_t i = 0; r->config && i < st.nstreams; i++)
        if (st.streams[i].source_format != r->ko.format)
            fprintf(stderr, "freshet generate: note: source '%s' reads %s; producing %s\n",
                    st.streams[i].source,
                    st.streams[i].source_format == FR_FORMAT_AVRO ? "avro" : "json",
                    r->ko.format == FR_FORMAT_AVRO ? "avro" : "json");
    return 0;
}

/* Opens the destination of every emitted source. */
static int open_sinks(run_t *r)
{
    if (r->dest == DEST_LOG && !r->batch_set)
        r->batch = LOG_BATCH;
    size_t pend_max = r->batch * (FR_GEN_MAX_EVENT + 1) + FD_FLUSH_BYTES;
    for (int i = 0; i < FR_GEN_MAX_SOURCES; i++)
        r->route[i] = -1;
    switch (r->dest) {
    case DEST_KAFKA: return open_kafka(r);
    case DEST_LOG: return open_log(r, pend_max);
    case DEST_FD:
        for (int i = 0; i < r->nsrc; i++)
            r->route[i] = r->sel[i] ? 0 : -1;
        r->nouts = 1;
        return fr_gen_out_open_fd(&r->outs[0], r->to, pend_max, r->err, sizeof r->err);
    case DEST_FILES:
        if (!strstr(r->to, "%s")) { /* a directory: made when missing */
            int rc = fr_mkdir_p(r->to);
            if (rc) {
                snprintf(r->err, sizeof r->err, "cannot make directory %.300s: %s", r->to,
                         fr_strerror(rc));
                return -1;
            }
        }
        for (int i = 0; i < r->nsrc; i++) {
            char path[FR_GEN_OUT_MAX_NAME];
            if (!r->sel[i])
                continue;
            if (file_of(r, i, path, sizeof path)) {
                snprintf(r->err, sizeof r->err, "--to %.200s: the file name is too long", r->to);
                return -1;
            }
            r->route[i] = r->nouts;
            if (fr_gen_out_open_fd(&r->outs[r->nouts++], path, pend_max, r->err, sizeof r->err))
                return -1;
        }
        return 0;
    case DEST_HTTP: {
        if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
            snprintf(r->err, sizeof r->err, "libcurl initialisation failed");
            return -1;
        }
        r->curl_inited = 1;
        const char *ev = strstr(r->to, "/v1/events/");
        int single = ev && !strchr(ev + 11, '/');
        size_t n = strlen(r->to);
        while (!single && n > 0 && r->to[n - 1] == '/')
            n--;
        for (int i = 0; i < r->nsrc; i++) {
            char url[FR_GEN_OUT_MAX_NAME], key[128];
            if (!r->sel[i])
                continue;
            int w = single ? snprintf(url, sizeof url, "%s", r->to)
                           : snprintf(url, sizeof url, "%.*s/v1/events/%s", (int)n, r->to,
                                      fr_gen_source_name(r->go.kind, i));
            if (w < 0 || (size_t)w >= sizeof url) {
                snprintf(r->err, sizeof r->err, "--to %.200s: the URL is too long", r->to);
                return -1;
            }
            snprintf(key, sizeof key, "gen-%" PRIx64 "-%ld-%" PRId64 "-%d", r->go.seed,
                     (long)getpid(), fr_now_ms(), i);
            r->route[i] = r->nouts;
            if (fr_gen_out_open_http(&r->outs[r->nouts++], url, key, pend_max, r->err,
                                     sizeof r->err))
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

/* ---- emitting ---- */

static int flush_all(run_t *r)
{
    for (int i = 0; i < r->nouts; i++)
        if (fr_gen_out_flush(&r->outs[i], &g_stop, r->err, sizeof r->err))
            return -1;
    r->npend = 0;
    return 0;
}

/* Hands r->ev, an event of source s, to its destination. */
static int deliver(run_t *r, int s)
{
    int o = r->route[s];
    if (o < 0)
        return 0;
    if (r->kafka)
        return fr_gen_kafka_send(r->kafka, (size_t)o, r->ev.p, r->ev.len, r->err, sizeof r->err)
                   ? -1
                   : 0;
    fr_gen_out_t *out = &r->outs[o];
    int rc = fr_buf_add(&out->pend, r->ev.p, r->ev.len);
    if (!rc)
        rc = fr_buf_addc(&out->pend, '\n');
    if (rc) {
        snprintf(r->err, sizeof r->err, "generating: %s", fr_strerror(rc));
        return -1;
    }
    if (!r->npend++ && r->rate > 0)
        r->pend_ns = fr_mono_ns();
    out->npend++;
    if (out->kind == FR_GEN_OUT_FD ? out->pend.len >= FD_FLUSH_BYTES : out->npend >= r->batch)
        return flush_all(r);
    return 0;
}

/* Every label due by due_ms. */
static int labels(run_t *r, int64_t due_ms)
{
    for (;;) {
        fr_buf_reset(&r->ev);
        int rc = fr_gen_due(r->gen, due_ms, &r->ev);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            snprintf(r->err, sizeof r->err, "generating: %s", fr_strerror(rc));
            return -1;
        }
        r->made[1]++;
        if (deliver(r, 1))
            return -1;
    }
}

/* One primary event at now_ms, after the labels due by then. */
static int primary(run_t *r, int64_t now_ms)
{
    if (labels(r, now_ms))
        return -1;
    fr_buf_reset(&r->ev);
    int rc = fr_gen_next(r->gen, now_ms, &r->ev);
    if (rc) {
        snprintf(r->err, sizeof r->err, "generating: %s%s", fr_strerror(rc),
                 rc == FR_ELIMIT && fr_gen_pending(r->gen) >= FR_GEN_MAX_PENDING
                     ? " (too many chargebacks waiting: lower --rate or --label-delay)"
                     : "");
        return -1;
    }
    r->made[0]++;
    r->now_ms = now_ms;
    return deliver(r, 0);
}

static uint64_t sent_total(const run_t *r, int s)
{
    if (r->kafka) {
        fr_gen_kafka_stats_t st;
        fr_gen_kafka_stats(r->kafka, &st);
        if (s >= 0)
            return r->route[s] >= 0 ? st.streams[r->route[s]].acked : 0;
        return st.acked;
    }
    if (s >= 0 && r->dest == DEST_FD) /* one stream: count by what was made */
        return r->route[s] >= 0 ? r->made[s] : 0;
    uint64_t n = 0;
    for (int i = 0; i < r->nouts; i++)
        if (s < 0 || r->route[s] == i)
            n += r->outs[i].sent;
    return n;
}

/* ---- progress ---- */

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%MZ", &tm))
        snprintf(buf, len, "%" PRId64, ms);
}

static void progress(run_t *r, uint64_t now)
{
    if (!r->progress || now - r->prog_ns < PROGRESS_NS)
        return;
    double dt = (double)(now - r->prog_ns) / 1e9;
    uint64_t made = r->made[0] + r->made[1];
    fprintf(stderr, "\r\033[Kgenerate: %" PRIu64 " events, %.0f events/s", made,
            (double)(made - r->prog_made) / dt);
    if (r->nsrc > 1)
        fprintf(stderr, " (%" PRIu64 " %s)", r->made[1], fr_gen_source_name(r->go.kind, 1));
    if (r->history) {
        char at[40];
        fmt_time(r->now_ms, at, sizeof at);
        fprintf(stderr, ", %.0f%%, at %s", 100.0 * (double)r->made[0] / (double)r->count, at);
    }
    if (r->dest == DEST_HTTP || r->dest == DEST_LOG || r->kafka)
        fprintf(stderr, ", %" PRIu64 " acknowledged", sent_total(r, -1));
    r->prog_ns = now;
    r->prog_made = made;
}

static void summary(run_t *r)
{
    double dt = (double)(fr_mono_ns() - r->t0_ns) / 1e9;
    uint64_t sent = sent_total(r, -1);
    if (r->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "generate: %" PRIu64 " events in %.3f s (%.0f events/s) to %s, seed %" PRIu64,
            sent, dt, dt > 0 ? (double)sent / dt : 0.0, strcmp(r->to, "-") ? r->to : "stdout",
            r->go.seed);
    for (int i = 0; i < r->nsrc; i++)
        if (r->sel[i])
            fprintf(stderr, "%s %s %" PRIu64, i ? "," : ";", fr_gen_source_name(r->go.kind, i),
                    sent_total(r, i));
    if (r->history) {
        char a[40], b[40];
        fmt_time(r->from_ms, a, sizeof a);
        fmt_time(r->until_ms, b, sizeof b);
        fprintf(stderr, "; history %s..%s", a, b);
    }
    size_t pending = fr_gen_pending(r->gen);
    if (pending && r->nsrc > 1 && r->sel[1])
        fprintf(stderr, "; %zu %s not due %s", pending, fr_gen_source_name(r->go.kind, 1),
                r->history ? "by --until, left out" : "yet, left out");
    if (r->dest == DEST_HTTP || r->dest == DEST_LOG) {
        uint64_t req = 0, ret = 0, acc = 0, rej = 0;
        for (int i = 0; i < r->nouts; i++) {
            req += r->outs[i].requests;
            ret += r->outs[i].retries;
            acc += r->outs[i].accepted;
            rej += r->outs[i].rejected;
        }
        if (r->dest == DEST_HTTP)
            fprintf(stderr, "; %" PRIu64 " requests, %" PRIu64 " retries", req, ret);
        else
            fprintf(stderr, "; %" PRIu64 " appends to %s", req, r->cfg->store.path);
        fprintf(stderr, ", %" PRIu64 " accepted, %" PRIu64 " rejected", acc, rej);
    }
    if (r->kafka) {
        fr_gen_kafka_stats_t st;
        fr_gen_kafka_stats(r->kafka, &st);
        fprintf(stderr, "; %" PRIu64 " produced, %" PRIu64 " acknowledged, %" PRIu64 " failed",
                st.queued, st.acked, st.failed);
        for (size_t i = 0; i < st.nstreams; i++) {
            fprintf(stderr, "; source %s to topic %s", st.streams[i].source, st.streams[i].topic);
            if (st.streams[i].subject)
                fprintf(stderr, ", Avro schema id %" PRIu32 " (subject %s, registry %s)",
                        st.streams[i].schema_id, st.streams[i].subject, st.registry);
        }
        if (!st.registry)
            fputs("; JSON", stderr);
    }
    if (g_stop)
        fputs(" (interrupted)", stderr);
    fputc('\n', stderr);
}

/* ---- the loops ---- */

static int live(run_t *r)
{
    double tokens = 1, cap = r->rate > 0 ? fmax(2.0, r->rate * 0.5) : 0;
    uint64_t last = r->t0_ns;
    while (!g_stop && (r->count == 0 || r->made[0] < r->count)) {
        if (r->rate > 0) {
            uint64_t now = fr_mono_ns();
            tokens = fmin(cap, tokens + (double)(now - last) * r->rate / 1e9);
            last = now;
            if (tokens < 1) {
                if (labels(r, fr_now_ms())) /* labels come on time while waiting */
                    return -1;
                uint64_t wait = (uint64_t)((1 - tokens) / r->rate * 1e9) + 1;
                if (r->npend && now + wait - r->pend_ns >= FLUSH_NS) {
                    if (flush_all(r))
                        return -1;
                    continue;
                }
                progress(r, now);
                if (r->kafka)
                    fr_gen_kafka_poll(r->kafka, 0); /* delivery reports */
                sleep_ns(wait > FLUSH_NS ? FLUSH_NS : wait);
                continue;
            }
            tokens -= 1;
        } else if ((r->made[0] & 4095) == 0) {
            progress(r, fr_mono_ns());
        }
        if (primary(r, fr_now_ms()))
            return -1;
    }
    return flush_all(r);
}

static int history(run_t *r)
{
    /* event i at lo + i * span / count: ts (now - jitter) stays in [from, until) */
    int64_t lo = r->from_ms + r->go.jitter_ms, span = r->until_ms - lo;
    for (uint64_t i = 0; !g_stop && i < r->count; i++) {
        if ((i & 4095) == 0)
            progress(r, fr_mono_ns());
        int64_t now = lo + (int64_t)((__int128)i * span / (__int128)r->count);
        if (primary(r, now))
            return -1;
    }
    if (!g_stop && labels(r, r->until_ms - 1 + fr_gen_label_lag(r->gen)))
        return -1;
    return flush_all(r);
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
    if (!st.failed)
        return 0;
    snprintf(r->err, sizeof r->err,
             "%" PRIu64 " of %" PRIu64 " messages were not delivered to %s: %s", st.failed,
             st.queued, r->to, st.error ? st.error : "unknown error");
    return -1;
}

/* ---- options ---- */

enum {
    O_COUNT = 256, O_RATE, O_TO, O_BATCH, O_SEED, O_CARDS, O_MERCHANTS, O_FRAUD, O_JITTER,
    O_FORMAT, O_SOURCE, O_REGISTRY, O_KIND, O_ONLY, O_FROM, O_UNTIL, O_DELAY, O_FALSE, O_SHIFT,
    O_USERS, O_ITEMS
};

/* Options that only one kind takes. */
typedef struct kind_opts {
    const char *fraud_only, *clicks_only;
} kind_opts_t;

static const char *parse_opt(run_t *r, int ch, const char *arg, kind_opts_t *ko)
{
    uint64_t u;
    double d;
    switch (ch) {
    case O_COUNT:
        r->count_set = 1;
        if (parse_u64(arg, &r->count) || r->count > MAX_COUNT)
            return "--count wants a whole number from 0 to 1e12";
        break;
    case O_RATE:
        if (parse_double(arg, &r->rate) || r->rate < 0 || r->rate > MAX_RATE)
            return "--rate wants events per second, 0 (unlimited) to 1e9";
        break;
    case O_TO:
        r->to = arg;
        if (!*arg)
            return "--to wants -, a file or directory, an http:// URL, log or a kafka:// URL";
        break;
    case O_BATCH:
        r->batch_set = 1;
        if (parse_u64(arg, &r->batch) || r->batch < 1 || r->batch > MAX_BATCH)
            return "--batch wants 1 to 100000";
        break;
    case O_SEED:
        if (parse_u64(arg, &r->go.seed))
            return "--seed wants a whole number >= 0";
        break;
    case O_CARDS:
        ko->fraud_only = "--cards";
        if (parse_u64(arg, &r->go.cards) || r->go.cards < 1 || r->go.cards > MAX_COUNT)
            return "--cards wants 1 to 1e12";
        break;
    case O_MERCHANTS:
        ko->fraud_only = "--merchants";
        if (parse_u64(arg, &r->go.merchants) || r->go.merchants < 1 ||
            r->go.merchants > MAX_COUNT)
            return "--merchants wants 1 to 1e12";
        break;
    case O_FRAUD:
        ko->fraud_only = "--fraud-rate";
        if (parse_double(arg, &d) || d < 0 || d > 1)
            return "--fraud-rate wants a number from 0 to 1";
        r->go.fraud_rate = d;
        break;
    case O_FALSE:
        ko->fraud_only = "--false-chargeback-rate";
        if (parse_double(arg, &d) || d < 0 || d > 1)
            return "--false-chargeback-rate wants a number from 0 to 1";
        r->go.false_chargeback_rate = d;
        break;
    case O_DELAY:
        ko->fraud_only = "--label-delay";
        r->delay_set = 1;
        if (parse_delays(arg, &r->go.label_delay_min_ms, &r->go.label_delay_max_ms))
            return "--label-delay wants MIN..MAX, durations such as 30s..10m or 1d..4d (at "
                   "most 366d, MIN <= MAX)";
        break;
    case O_SHIFT:
        ko->fraud_only = "--shift-at";
        if (parse_time(arg, &r->go.shift_at_ms))
            return "--shift-at wants a time: epoch ms, now, or now+DURATION (e.g. now+10m)";
        break;
    case O_JITTER:
        if (parse_u64(arg, &u) || u > (uint64_t)MAX_TIME_MS)
            return "--jitter-ms wants milliseconds >= 0";
        r->go.jitter_ms = (int64_t)u;
        break;
    case O_USERS:
        ko->clicks_only = "--users";
        if (parse_u64(arg, &r->go.users) || r->go.users < 1 || r->go.users > MAX_COUNT)
            return "--users wants 1 to 1e12";
        break;
    case O_ITEMS:
        ko->clicks_only = "--items";
        if (parse_u64(arg, &r->go.items) || r->go.items < 12 || r->go.items > MAX_COUNT)
            return "--items wants 12 to 1e12";
        break;
    case O_KIND:
        if (!strcmp(arg, "fraud"))
            r->go.kind = FR_GEN_FRAUD;
        else if (!strcmp(arg, "clicks"))
            r->go.kind = FR_GEN_CLICKS;
        else
            return "--kind wants fraud or clicks";
        break;
    case O_ONLY:
        r->only = arg;
        if (!*arg)
            return "--only wants source names, e.g. --only transactions";
        break;
    case O_FROM:
        r->history |= 1;
        if (parse_time(arg, &r->from_ms))
            return "--from wants a time: epoch ms, now, or now-DURATION (e.g. now-7d)";
        break;
    case O_UNTIL:
        r->history |= 2;
        if (parse_time(arg, &r->until_ms))
            return "--until wants a time: epoch ms, now, or now-DURATION (e.g. now-1h)";
        break;
    case 'c': r->config = arg; break;
    case O_FORMAT:
        r->format_set = 1;
        if (!strcmp(arg, "json"))
            r->ko.format = FR_FORMAT_JSON;
        else if (!strcmp(arg, "avro"))
            r->ko.format = FR_FORMAT_AVRO;
        else
            return "--format wants json or avro";
        break;
    case O_SOURCE:
        r->source = arg;
        if (!*arg)
            return "--source wants a source name";
        break;
    case O_REGISTRY:
        r->ko.registry = arg;
        if (!is_http(arg))
            return "--registry wants an http:// or https:// URL";
        break;
    }
    return NULL;
}

/* Checks across options once all are read.  NULL or what is wrong. */
static const char *check_opts(run_t *r, const kind_opts_t *ko, char *buf, size_t len)
{
    if (r->go.kind == FR_GEN_CLICKS && ko->fraud_only) {
        snprintf(buf, len, "%s is for --kind fraud", ko->fraud_only);
        return buf;
    }
    if (r->go.kind == FR_GEN_FRAUD && ko->clicks_only) {
        snprintf(buf, len, "%s is for --kind clicks", ko->clicks_only);
        return buf;
    }
    if (r->history) {
        if (r->history != 3)
            return "a history needs both --from and --until";
        if (r->from_ms >= r->until_ms)
            return "--from must be before --until";
        if (r->until_ms - r->from_ms <= r->go.jitter_ms)
            return "the history must be longer than --jitter-ms";
        if (r->rate > 0 && r->count_set)
            return "over a history, give --rate (events per second of event time) or "
                   "--count, not both";
        if (r->rate > 0) {
            double n = floor(r->rate * (double)(r->until_ms - r->from_ms) / 1000.0);
            if (n < 1 || n > (double)MAX_COUNT)
                return "--rate over --from..--until makes no event, or more than 1e12";
            r->count = (uint64_t)n;
        } else if (r->count == 0) {
            return "--count 0 (until interrupted) is for live runs, not a history";
        }
        if (!r->delay_set) {
            r->go.label_delay_min_ms = HISTORY_DELAY_MIN_MS;
            r->go.label_delay_max_ms = HISTORY_DELAY_MAX_MS;
        }
    }
    return plan(r, buf, len);
}

int fr_gen_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, O_COUNT},
        {"rate", required_argument, NULL, O_RATE},
        {"to", required_argument, NULL, O_TO},
        {"batch", required_argument, NULL, O_BATCH},
        {"seed", required_argument, NULL, O_SEED},
        {"cards", required_argument, NULL, O_CARDS},
        {"merchants", required_argument, NULL, O_MERCHANTS},
        {"fraud-rate", required_argument, NULL, O_FRAUD},
        {"jitter-ms", required_argument, NULL, O_JITTER},
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, O_FORMAT},
        {"source", required_argument, NULL, O_SOURCE},
        {"registry", required_argument, NULL, O_REGISTRY},
        {"kind", required_argument, NULL, O_KIND},
        {"only", required_argument, NULL, O_ONLY},
        {"from", required_argument, NULL, O_FROM},
        {"until", required_argument, NULL, O_UNTIL},
        {"label-delay", required_argument, NULL, O_DELAY},
        {"false-chargeback-rate", required_argument, NULL, O_FALSE},
        {"shift-at", required_argument, NULL, O_SHIFT},
        {"users", required_argument, NULL, O_USERS},
        {"items", required_argument, NULL, O_ITEMS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    run_t *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "freshet generate: out of memory\n");
        return 1;
    }
    r->count = 10000;
    r->batch = 500;
    r->to = "-";
    r->go = fr_gen_opts_default();
    r->ko.format = FR_FORMAT_JSON;
    int seeded = 0, ret = 2;
    kind_opts_t ko = {0};
    const char *bad = NULL;
    char badbuf[768];
    optind = 0; /* full re-initialisation: fr_gen_cmd may run more than once */
    int ch;
    opterr = 0;
    while (!bad && (ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(usage_text, stdout);
            free(r);
            return 0;
        }
        if (ch == '?' || ch == ':') {
            fprintf(stderr, "freshet generate: %s '%s'; try `freshet generate --help`\n",
                    ch == ':' ? "a value is needed after" : "unknown option", argv[optind - 1]);
            free(r);
            return 2;
        }
        seeded |= ch == O_SEED;
        bad = parse_opt(r, ch, optarg, &ko);
    }
    if (!bad && optind < argc) {
        snprintf(badbuf, sizeof badbuf, "unexpected argument '%.200s'", argv[optind]);
        bad = badbuf;
    }
    r->nsrc = fr_gen_nsources(r->go.kind);
    if (!bad)
        bad = check_opts(r, &ko, badbuf, sizeof badbuf);
    if (bad) {
        fprintf(stderr, "freshet generate: %s; try `freshet generate --help`\n", bad);
        free(r);
        return 2;
    }
    if (!seeded)
        r->go.seed = fr_mix64((uint64_t)fr_now_ms() ^ fr_mix64((uint64_t)getpid() ^ fr_mono_ns())) %
                     1000000000u; /* short enough to retype */

    ret = 1;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts a sleep short */
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    fr_buf_init(&r->ev, KAFKA_EVENT_MAX);
    r->gen = fr_gen_new(&r->go);
    if (!r->gen) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    if (open_sinks(r))
        goto out;
    r->progress = isatty(STDERR_FILENO) && !(r->dest == DEST_FD && !strcmp(r->to, "-") &&
                                             isatty(STDOUT_FILENO));
    r->t0_ns = r->prog_ns = fr_mono_ns();
    fflush(stdout); /* our writes to fd 1 bypass stdio */
    int rc = r->history ? history(r) : live(r);
    if (r->kafka) {
        /* what was produced is delivered even when the loop failed */
        char loop_err[sizeof r->err];
        memcpy(loop_err, r->err, sizeof loop_err);
        int frc = kafka_finish(r);
        if (rc)
            memcpy(r->err, loop_err, sizeof r->err); /* the first error is the story */
        else
            rc = frc;
    }
    for (int i = 0; !rc && i < r->nouts; i++)
        rc = fr_gen_out_close(&r->outs[i], r->err, sizeof r->err);
    summary(r);
    if (!rc)
        ret = g_stop && r->count && r->made[0] < r->count ? 1 : 0;
    if (!rc && ret)
        snprintf(r->err, sizeof r->err, "interrupted after %" PRIu64 " of %" PRIu64 " events",
                 r->made[0], r->count);
out:
    if (ret && r->err[0])
        fprintf(stderr, "freshet generate: %s\n", r->err);
    for (int i = 0; i < FR_GEN_MAX_SOURCES; i++) {
        char ignored[256]; /* the first error is the one reported */
        fr_gen_out_close(&r->outs[i], ignored, sizeof ignored);
    }
    if (r->curl_inited)
        curl_global_cleanup();
    fr_gen_kafka_close(r->kafka);
    fr_elog_close(r->log);
    fr_config_free(r->cfg);
    fr_gen_free(r->gen);
    fr_buf_destroy(&r->ev);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(r);
    return ret;
}
