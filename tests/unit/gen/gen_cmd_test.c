/*
 * Unit tests of `freshet generate` (src/gen/gen_cmd.c, gen_out.c): files,
 * stdout, a file per source, usage errors, rate limiting, histories
 * (spread, order, labels), the embedded log, and HTTP delivery against a
 * small libmicrohttpd server started by the test on loopback, which routes
 * by path and can fail requests on purpose to exercise retries with the
 * same Idempotency-Key; Kafka option errors, and runs against librdkafka's
 * mock cluster started in the test (a topic per source).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "event/registry.h"
#include "gen/gen.h"
#include "source/elog.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char tmpdir[64];
static char path[128];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/freshet-gen-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/out.ndjson", tmpdir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* Reads a file; checks every line is an event object; returns the lines. */
static size_t check_ndjson(const char *file, size_t *bytes)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "%s", file);
    char line[1024];
    size_t n = 0, total = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        cr_assert(len > 1 && line[len - 1] == '\n', "line %zu: %s", n + 1, line);
        total += len;
        json_error_t je;
        json_t *j = json_loadb(line, len - 1, 0, &je);
        cr_assert_not_null(j, "line %zu: %s (%s)", n + 1, line, je.text);
        cr_assert(json_is_string(json_object_get(j, "card_id")));
        cr_assert(json_is_real(json_object_get(j, "amount")));
        cr_assert(json_is_integer(json_object_get(j, "ts")));
        json_decref(j);
        n++;
    }
    fclose(f);
    if (bytes)
        *bytes = total;
    return n;
}

TestSuite(gen_cmd, .init = setup, .fini = teardown, .timeout = 60);

Test(gen_cmd, writes_n_events_to_a_file)
{
    char *argv[] = {"generate", "--count", "12345", "--seed", "7", "--to", path};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    cr_assert_eq(check_ndjson(path, NULL), 12345);
    /* a second run truncates rather than appends */
    char *again[] = {"generate", "--count=3", "--to", path, "-c", "ignored.yaml"};
    cr_assert_eq(fr_gen_cmd(ARGC(again), again), 0);
    cr_assert_eq(check_ndjson(path, NULL), 3);
}

Test(gen_cmd, default_count_and_options)
{
    char *argv[] = {"generate",    "--to",        path, "--cards",     "10",
                    "--merchants", "3",           "--fraud-rate", "0",
                    "--jitter-ms", "0",           "--seed",       "1"};
    int64_t before = fr_now_ms();
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    int64_t after = fr_now_ms();
    cr_assert_eq(check_ndjson(path, NULL), 10000);
    FILE *f = fopen(path, "r");
    char line[512];
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        int c = atoi(json_string_value(json_object_get(j, "card_id")) + 1);
        int m = atoi(json_string_value(json_object_get(j, "merchant_id")) + 1);
        int64_t ts = json_integer_value(json_object_get(j, "ts"));
        cr_assert(c >= 1 && c <= 10 && m >= 1 && m <= 3, "%s", line);
        cr_assert(ts >= before && ts <= after, "%s", line);
        json_decref(j);
    }
    fclose(f);
}

Test(gen_cmd, writes_to_stdout)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    char *argv[] = {"generate", "--count", "777", "--to", "-"};
    int rc = fr_gen_cmd(ARGC(argv), argv);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    cr_assert_eq(rc, 0);
    cr_assert_eq(check_ndjson(path, NULL), 777);
}

Test(gen_cmd, bad_usage_is_exit_code_2)
{
    char *a1[] = {"generate", "--count", "ten"};
    char *a2[] = {"generate", "--rate", "-5"};
    char *a3[] = {"generate", "--batch", "0"};
    char *a4[] = {"generate", "--batch", "100001"};
    char *a5[] = {"generate", "--fraud-rate", "2"};
    char *a6[] = {"generate", "--cards", "0"};
    char *a7[] = {"generate", "--no-such-option"};
    char *a8[] = {"generate", "stray"};
    char *a9[] = {"generate", "--count"};
    char *a10[] = {"generate", "--seed", "-1"};
    cr_assert_eq(fr_gen_cmd(ARGC(a1), a1), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a2), a2), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a3), a3), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a4), a4), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a5), a5), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a6), a6), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a7), a7), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a8), a8), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a9), a9), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a10), a10), 2);
    char *help[] = {"generate", "--help"};
    cr_assert_eq(fr_gen_cmd(ARGC(help), help), 0);
}

Test(gen_cmd, unwritable_destination_is_exit_code_1)
{
    char bad[200];
    snprintf(bad, sizeof bad, "%s/no/such/dir/out", tmpdir);
    char *argv[] = {"generate", "--count", "10", "--to", bad};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 1);
}

static double timed_run(const char *count, const char *rate)
{
    char *argv[] = {"generate", "--count", (char *)count, "--rate", (char *)rate, "--to", path};
    uint64_t t0 = fr_mono_ns();
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    return (double)(fr_mono_ns() - t0) / 1e9;
}

Test(gen_cmd, rate_limit_holds_over_time)
{
    /* the first event goes at once, then one every 1/rate seconds; bounds
     * are loose on the slow side for loaded machines and sanitizers */
    double t = timed_run("31", "60");
    cr_assert(t >= 0.49 && t < 2.0, "31 events at 60/s took %.3f s", t);
    cr_assert_eq(check_ndjson(path, NULL), 31);
    t = timed_run("150000", "300000");
    cr_assert(t >= 0.49, "150000 events at 300000/s took %.3f s", t);
    cr_assert_eq(check_ndjson(path, NULL), 150000);
}

/* ---- a small HTTP ingest stand-in ---- */

#define MAX_REQ 256

typedef struct server {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    int fail_first;     /* answer 503 to the first try of every batch */
    int status;         /* when nonzero, answer every request with this */
    int short_answer;   /* answer accepted = n - 1 */
    size_t nreq;
    char keys[MAX_REQ][128];
    int answered[MAX_REQ]; /* status sent */
    size_t lines[MAX_REQ];
    char paths[MAX_REQ][64];
    int bad_type;
} server_t;

typedef struct conn {
    char *body;
    size_t len;
} conn_t;

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **state)
{
    (void)version;
    server_t *s = cls;
    conn_t *cn = *state;
    if (!cn) {
        cn = calloc(1, sizeof *cn);
        *state = cn;
        return MHD_YES;
    }
    if (*data_size) {
        cn->body = realloc(cn->body, cn->len + *data_size + 1);
        memcpy(cn->body + cn->len, data, *data_size);
        cn->len += *data_size;
        cn->body[cn->len] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    size_t lines = 0;
    for (size_t i = 0; i < cn->len; i++)
        lines += cn->body[i] == '\n';
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    pthread_mutex_lock(&s->mu);
    size_t i = s->nreq++;
    int status = 200;
    if (strcmp(method, "POST") || !type || strcmp(type, "application/x-ndjson"))
        s->bad_type = 1;
    if (s->status)
        status = s->status;
    else if (s->fail_first && (i == 0 || !key || strcmp(s->keys[i - 1], key) != 0))
        status = 503; /* a key not seen just before: its first try */
    if (i < MAX_REQ) {
        snprintf(s->keys[i], sizeof s->keys[i], "%s", key ? key : "");
        s->answered[i] = status;
        s->lines[i] = lines;
        snprintf(s->paths[i], sizeof s->paths[i], "%s", url);
    }
    pthread_mutex_unlock(&s->mu);
    char text[128];
    if (status == 200)
        snprintf(text, sizeof text, "{\"accepted\":%zu,\"rejected\":0,\"first_offset\":0}",
                 s->short_answer ? lines - 1 : lines);
    else
        snprintf(text, sizeof text, "{\"error\":\"test_says_%d\",\"detail\":\"on purpose\"}",
                 status);
    return reply(c, status, text);
}

static void done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    conn_t *cn = *state;
    if (cn) {
        free(cn->body);
        free(cn);
    }
    *state = NULL;
}

static server_t *server_start(void)
{
    server_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, s,
                            MHD_OPTION_NOTIFY_COMPLETED, done, s, MHD_OPTION_END);
    cr_assert_not_null(s->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info->port;
    return s;
}

static void server_stop(server_t *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int run_http(server_t *s, const char *count, const char *batch, const char *rate)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/events/transactions", s->port);
    char *argv[] = {"generate", "--count", (char *)count, "--batch", (char *)batch,
                    "--rate",   (char *)rate, "--to", url};
    return fr_gen_cmd(ARGC(argv), argv);
}

Test(gen_cmd, http_batches_each_with_its_own_key)
{
    server_t *s = server_start();
    cr_assert_eq(run_http(s, "1234", "100", "0"), 0);
    cr_assert_eq(s->nreq, 13);
    size_t total = 0;
    for (size_t i = 0; i < s->nreq; i++) {
        cr_assert_eq(s->answered[i], 200);
        cr_assert_eq(s->lines[i], i < 12 ? 100u : 34u);
        cr_assert_neq(s->keys[i][0], '\0');
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(s->keys[i], s->keys[j]);
        total += s->lines[i];
    }
    cr_assert_eq(total, 1234);
    cr_assert_eq(s->bad_type, 0);
    server_stop(s);
}

Test(gen_cmd, http_retries_a_failed_batch_with_the_same_key)
{
    server_t *s = server_start();
    s->fail_first = 1;
    cr_assert_eq(run_http(s, "250", "100", "0"), 0);
    cr_assert_eq(s->nreq, 6); /* 3 batches, each refused once */
    size_t applied = 0;
    for (size_t i = 0; i < s->nreq; i += 2) {
        cr_assert_eq(s->answered[i], 503);
        cr_assert_eq(s->answered[i + 1], 200);
        cr_assert_str_eq(s->keys[i], s->keys[i + 1]);
        cr_assert_eq(s->lines[i], s->lines[i + 1]);
        applied += s->lines[i + 1];
    }
    cr_assert_eq(applied, 250);
    server_stop(s);
}

Test(gen_cmd, http_gives_up_after_repeated_failures)
{
    server_t *s = server_start();
    s->status = 500;
    cr_assert_eq(run_http(s, "10", "100", "0"), 1);
    cr_assert_eq(s->nreq, 6); /* one try and five retries */
    for (size_t i = 1; i < s->nreq; i++)
        cr_assert_str_eq(s->keys[i], s->keys[0]);
    server_stop(s);
}

Test(gen_cmd, http_client_errors_stop_at_once)
{
    server_t *s = server_start();
    s->status = 404;
    cr_assert_eq(run_http(s, "10", "100", "0"), 1);
    cr_assert_eq(s->nreq, 1);
    server_stop(s);
}

Test(gen_cmd, http_answer_must_count_the_batch)
{
    server_t *s = server_start();
    s->short_answer = 1;
    cr_assert_eq(run_http(s, "10", "100", "0"), 1);
    cr_assert_eq(s->nreq, 6);
    server_stop(s);
}

Test(gen_cmd, http_unreachable_is_an_error)
{
    server_t *s = server_start();
    int port = s->port;
    server_stop(s); /* nothing listens there now */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/events/transactions", port);
    char *argv[] = {"generate", "--count", "5", "--to", url};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 1);
}

Test(gen_cmd, slow_rates_send_promptly)
{
    /* at 20 events/s a batch of 500 would take 25 s to fill; pending events
     * go out within 100 ms instead */
    server_t *s = server_start();
    cr_assert_eq(run_http(s, "10", "500", "20"), 0);
    cr_assert(s->nreq >= 3, "%zu requests", s->nreq);
    size_t total = 0;
    for (size_t i = 0; i < s->nreq; i++)
        total += s->lines[i];
    cr_assert_eq(total, 10);
    server_stop(s);
}

/* ---- kinds, histories, routes ---- */

Test(gen_cmd, bad_kinds_histories_and_routes_are_exit_code_2)
{
    char lc[200];
    snprintf(lc, sizeof lc, "%s/x.yaml", tmpdir);
    char *bad[][12] = {
        {"generate", "--kind", "bogus"},
        {"generate", "--users", "5"},
        {"generate", "--kind", "clicks", "--cards", "5"},
        {"generate", "--kind", "clicks", "--shift-at", "now"},
        {"generate", "--kind", "clicks", "--label-delay", "1s..2s"},
        {"generate", "--kind", "clicks", "--items", "11"},
        {"generate", "--from", "now-1h"},
        {"generate", "--until", "now"},
        {"generate", "--from", "now", "--until", "now-1h"},
        {"generate", "--from", "now-1s", "--until", "now"}, /* shorter than the jitter */
        {"generate", "--from", "now-1h", "--until", "now", "--rate", "5", "--count", "10"},
        {"generate", "--from", "now-1h", "--until", "now", "--count", "0"},
        {"generate", "--from", "1000", "--until", "1001", "--jitter-ms", "0", "--rate", "1"},
        {"generate", "--from", "yesterday", "--until", "now"},
        {"generate", "--from", "now-7w", "--until", "now"},
        {"generate", "--from", "99999999999999999999", "--until", "now"},
        {"generate", "--label-delay", "5m..1m"},
        {"generate", "--label-delay", "5x..1m"},
        {"generate", "--label-delay", "1m"},
        {"generate", "--label-delay", "400d..401d"},
        {"generate", "--shift-at", "soon"},
        {"generate", "--to", "log"},
        {"generate", "--only", "nope"},
        {"generate", "--only", ""},
        {"generate", "--only", "transactions,"},
        {"generate", "--kind", "clicks", "--only", "chargebacks"},
        {"generate", "--to", "a%sb%s"},
        {"generate", "--to", "http://h:1/v1/events/transactions", "--only",
         "transactions,chargebacks"},
        {"generate", "--to", "log", "--source", "x"},
        {"generate", "--to", "log", "-c", lc, "--source", "transactions"},
        {"generate", "--source", "transactions", "--to", "http://h:1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int argc = 0;
        while (argc < 12 && bad[i][argc])
            argc++;
        cr_assert_eq(fr_gen_cmd(argc, bad[i]), 2, "case %zu (%s %s) not refused", i, bad[i][1],
                     bad[i][2] ? bad[i][2] : "");
    }
}

/* A parsed event of a run: its source, ts, txn_id and line number. */
typedef struct ev {
    int label; /* 1 for a chargeback */
    int64_t ts;
    char id[24];
    size_t line;
} ev_t;

/* Reads an NDJSON file of transactions and chargebacks (any order). */
static ev_t *read_events(const char *file, size_t *n)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "%s", file);
    size_t cap = 1024;
    ev_t *v = malloc(cap * sizeof *v);
    char line[1024];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        cr_assert_not_null(j, "%s line %zu: %s", file, *n + 1, line);
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        ev_t *e = &v[*n];
        e->label = json_object_get(j, "is_fraud") != NULL;
        cr_assert(e->label || json_is_string(json_object_get(j, "card_id")), "%s", line);
        e->ts = json_integer_value(json_object_get(j, "ts"));
        snprintf(e->id, sizeof e->id, "%s", json_string_value(json_object_get(j, "txn_id")));
        e->line = ++*n;
        json_decref(j);
    }
    fclose(f);
    return v;
}

static int by_id(const void *a, const void *b)
{
    const ev_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : x->label - y->label; /* the transaction first */
}

#define T0 1700000000000LL
#define HOUR 3600000LL

Test(gen_cmd, a_history_spreads_events_in_order_with_their_labels)
{
    char from[32], until[32];
    snprintf(from, sizeof from, "%lld", T0);
    snprintf(until, sizeof until, "%lld", T0 + HOUR);
    char *argv[] = {"generate", "--from",        from,      "--until",     until,
                    "--count",  "20000",         "--seed",  "4",           "--fraud-rate",
                    "0.02",     "--label-delay", "1s..5m",  "--to",        path};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    size_t n;
    ev_t *v = read_events(path, &n);
    size_t tx = 0, lab = 0;
    int64_t max_tx = T0 - 10000, last_label = INT64_MIN, first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        ev_t *e = &v[i];
        cr_assert(e->ts >= T0 && e->ts < T0 + HOUR, "ts %lld outside the history",
                  (long long)e->ts);
        if (e->label) {
            lab++;
            cr_assert(e->ts >= last_label, "chargebacks out of ts order at line %zu", e->line);
            last_label = e->ts;
            /* merged in ts order: a chargeback comes once the transactions reach its time */
            cr_assert(e->ts <= max_tx + 2000 + 100, "a chargeback at line %zu ahead of time",
                      e->line);
        } else {
            tx++;
            /* ts order up to the jitter */
            cr_assert(e->ts >= max_tx - 2000, "line %zu: ts %lld after %lld", e->line,
                      (long long)e->ts, (long long)max_tx);
            max_tx = e->ts > max_tx ? e->ts : max_tx;
            first = e->ts < first ? e->ts : first;
            last = e->ts > last ? e->ts : last;
        }
    }
    cr_assert_eq(tx, 20000);
    /* spread over the whole hour */
    cr_assert(first < T0 + 2500 && last > T0 + HOUR - 2500, "%lld..%lld", (long long)first,
              (long long)last);
    /* 2% fraud and 0.1% false chargebacks, minus the last 5 minutes' */
    cr_assert(lab > 250 && lab < 600, "%zu chargebacks", lab);
    /* each chargeback follows its transaction, 1 s to 5 min later */
    qsort(v, n, sizeof *v, by_id);
    for (size_t i = 0; i < n; i++) {
        if (!v[i].label)
            continue;
        cr_assert(i > 0 && !strcmp(v[i - 1].id, v[i].id) && !v[i - 1].label,
                  "chargeback %s has no transaction", v[i].id);
        cr_assert(i < 2 || strcmp(v[i - 2].id, v[i].id), "%s charged back twice", v[i].id);
        cr_assert(v[i].line > v[i - 1].line, "chargeback %s before its transaction", v[i].id);
        int64_t d = v[i].ts - v[i - 1].ts;
        cr_assert(d >= 1000 && d <= 300000, "delay %lld", (long long)d);
    }
    free(v);
    /* the same history again: the same bytes */
    FILE *f = fopen(path, "r");
    char *one = malloc(4 << 20), *two = malloc(4 << 20);
    size_t l1 = fread(one, 1, 4 << 20, f);
    fclose(f);
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    f = fopen(path, "r");
    size_t l2 = fread(two, 1, 4 << 20, f);
    fclose(f);
    cr_assert(l1 == l2 && !memcmp(one, two, l1), "a history is not reproducible");
    free(one);
    free(two);
}

Test(gen_cmd, a_history_at_a_rate_and_labels_days_later)
{
    char from[32], until[32];
    snprintf(from, sizeof from, "%lld", T0);
    snprintf(until, sizeof until, "%lld", T0 + 6 * 24 * HOUR);
    /* 0.05 events a second for six days: 25920; chargebacks 1 to 4 days later */
    char *argv[] = {"generate", "--from", from,   "--until", until, "--rate",
                    "0.05",     "--seed", "5",    "--fraud-rate", "0.05", "--to", path};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    size_t n, tx = 0, lab = 0;
    ev_t *v = read_events(path, &n);
    for (size_t i = 0; i < n; i++)
        tx += !v[i].label;
    lab = n - tx;
    cr_assert_eq(tx, 25920);
    cr_assert(lab > 300, "%zu chargebacks", lab);
    qsort(v, n, sizeof *v, by_id);
    for (size_t i = 1; i < n; i++) {
        if (!v[i].label)
            continue;
        int64_t d = v[i].ts - v[i - 1].ts;
        cr_assert(d >= 24 * HOUR && d <= 96 * HOUR, "delay %lld", (long long)d);
    }
    free(v);
}

Test(gen_cmd, a_file_per_source_and_only_some_sources)
{
    char from[32], until[32], dir[200], pattern[200], file[260];
    snprintf(from, sizeof from, "%lld", T0);
    snprintf(until, sizeof until, "%lld", T0 + HOUR);
    snprintf(dir, sizeof dir, "%s/out/", tmpdir); /* made by the run */
    char *argv[] = {"generate",      "--from", from,     "--until", until,        "--count",
                    "5000",          "--seed", "6",      "--fraud-rate", "0.05", "--label-delay",
                    "1s..1m",        "--to",   dir};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    size_t n;
    snprintf(file, sizeof file, "%stransactions.ndjson", dir);
    ev_t *v = read_events(file, &n);
    cr_assert_eq(n, 5000);
    for (size_t i = 0; i < n; i++)
        cr_assert(!v[i].label);
    free(v);
    snprintf(file, sizeof file, "%schargebacks.ndjson", dir);
    v = read_events(file, &n);
    size_t labels = n;
    cr_assert(labels > 100, "%zu", labels);
    for (size_t i = 0; i < n; i++)
        cr_assert(v[i].label);
    free(v);
    /* a pattern, and --only */
    snprintf(pattern, sizeof pattern, "%s/p-%%s.json", tmpdir);
    char *only[] = {"generate",      "--from", from,     "--until", until,        "--count",
                    "5000",          "--seed", "6",      "--fraud-rate", "0.05", "--label-delay",
                    "1s..1m",        "--to",   pattern,  "--only",  "chargebacks"};
    cr_assert_eq(fr_gen_cmd(ARGC(only), only), 0);
    snprintf(file, sizeof file, "%s/p-chargebacks.json", tmpdir);
    v = read_events(file, &n);
    cr_assert_eq(n, labels); /* the same history, the same labels */
    free(v);
    snprintf(file, sizeof file, "%s/p-transactions.json", tmpdir);
    cr_assert_neq(access(file, F_OK), 0, "a file for a source left out");
    /* clicks */
    char *clicks[] = {"generate", "--kind", "clicks", "--count", "3000", "--to", dir};
    cr_assert_eq(fr_gen_cmd(ARGC(clicks), clicks), 0);
    snprintf(file, sizeof file, "%sclicks.ndjson", dir);
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f);
    char line[512];
    size_t lines = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        cr_assert(json_is_string(json_object_get(j, "user_category")), "%s", line);
        json_decref(j);
        lines++;
    }
    fclose(f);
    cr_assert_eq(lines, 3000);
}

/* An HTTP server per path: a history goes to each source's route. */
Test(gen_cmd, http_routes_each_source_to_its_path)
{
    server_t *s = server_start();
    char url[128], from[32], until[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    snprintf(from, sizeof from, "%lld", T0);
    snprintf(until, sizeof until, "%lld", T0 + HOUR);
    char *argv[] = {"generate", "--from",       from,   "--until",       until,    "--count",
                    "3000",     "--fraud-rate", "0.05", "--label-delay", "1s..1m", "--batch",
                    "400",      "--seed",       "10",   "--to",          url};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    size_t tx = 0, lab = 0;
    for (size_t i = 0; i < s->nreq; i++) {
        cr_assert_eq(s->answered[i], 200);
        if (!strcmp(s->paths[i], "/v1/events/transactions"))
            tx += s->lines[i];
        else if (!strcmp(s->paths[i], "/v1/events/chargebacks"))
            lab += s->lines[i];
        else
            cr_assert_fail("POST to %s", s->paths[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(s->keys[i], s->keys[j]);
    }
    cr_assert_eq(tx, 3000);
    cr_assert(lab > 50, "%zu chargebacks", lab);
    cr_assert_eq(s->bad_type, 0);
    server_stop(s);
    /* the full URL of one source carries that source only */
    s = server_start();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/events/chargebacks", s->port);
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    size_t only = 0;
    for (size_t i = 0; i < s->nreq; i++) {
        cr_assert_str_eq(s->paths[i], "/v1/events/chargebacks");
        only += s->lines[i];
    }
    cr_assert_eq(only, lab);
    server_stop(s);
}

static const char log_cfg_fmt[] = "store: { path: %s/data }\n"
                                  "sources:\n"
                                  "  - name: transactions\n"
                                  "    timestamp: ts\n"
                                  "    fields:\n"
                                  "      - { name: card_id, type: string }\n"
                                  "      - { name: amount, type: double }\n"
                                  "      - { name: txn_id, type: string }\n"
                                  "      - { name: ts, type: long }\n"
                                  "%s"
                                  "feature_views:\n"
                                  "  - { name: card, source: transactions, entity: card_id,\n"
                                  "      windows: [1h], aggregations: [ { fn: count } ] }\n";

static const char chargebacks_yaml[] = "  - name: chargebacks\n"
                                       "    timestamp: ts\n"
                                       "    fields:\n"
                                       "      - { name: txn_id, type: string }\n"
                                       "      - { name: is_fraud, type: long }\n"
                                       "      - { name: ts, type: long }\n";

/* The history into the embedded log, as HTTP ingest would append it. */
Test(gen_cmd, a_history_into_the_embedded_log)
{
    char cfg[200], from[32], until[32];
    snprintf(cfg, sizeof cfg, "%s/log.yaml", tmpdir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, log_cfg_fmt, tmpdir, "");
    fclose(f);
    int64_t t0 = fr_now_ms() - 2 * HOUR;
    snprintf(from, sizeof from, "%lld", (long long)t0);
    snprintf(until, sizeof until, "%lld", (long long)(t0 + HOUR));
    char *argv[] = {"generate", "--from", from, "--until", until, "--count", "4000",
                    "--seed", "8", "--fraud-rate", "0.05", "--label-delay", "1s..1m",
                    "--batch", "300", "--to", "log", "-c", cfg};
    /* the configuration has no chargebacks source: refused unless left out */
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 1);
    f = fopen(cfg, "w");
    fprintf(f, log_cfg_fmt, tmpdir, chargebacks_yaml);
    fclose(f);
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 0);
    /* the same history to a file tells how many chargebacks to expect */
    char *same[] = {"generate", "--from", from, "--until", until, "--count", "4000",
                    "--seed", "8", "--fraud-rate", "0.05", "--label-delay", "1s..1m",
                    "--to", path};
    cr_assert_eq(fr_gen_cmd(ARGC(same), same), 0);
    size_t n;
    ev_t *v = read_events(path, &n);
    size_t labels = 0;
    for (size_t i = 0; i < n; i++)
        labels += (size_t)v[i].label;
    free(v);
    cr_assert(labels > 50);
    fr_config_t *c = NULL;
    char err[512];
    cr_assert_eq(fr_config_load(cfg, &c, err, sizeof err), 0, "%s", err);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/data/log", tmpdir);
    fr_elog_t *log = NULL;
    cr_assert_eq(fr_elog_open(dir, c, &log, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fr_elog_end_offset(log, 0), 4000);
    cr_assert_eq(fr_elog_end_offset(log, 1), labels);
    cr_assert_eq(fr_elog_dlq_count(log), 0);
    cr_assert(fr_elog_watermark(log, 0) < t0 + HOUR && fr_elog_watermark(log, 0) > t0);
    fr_elog_close(log);
    fr_config_free(c);
    /* only the transactions, into another source by --source */
    char *only[] = {"generate", "--from", from, "--until", until, "--count", "4000",
                    "--seed", "8", "--fraud-rate", "0.05", "--label-delay", "1s..1m",
                    "--to", "log", "-c", cfg, "--only", "chargebacks", "--source",
                    "transactions"};
    cr_assert_eq(fr_gen_cmd(ARGC(only), only), 1); /* chargebacks lack card_id: all refused */
}

/* ---- Kafka ---- */

Test(gen_cmd, kafka_usage_errors_are_exit_code_2)
{
    /* refused while parsing options: nothing is opened or contacted */
    char *a1[] = {"generate", "--format", "avro"};
    char *a2[] = {"generate", "--format", "json", "--to", path};
    char *a3[] = {"generate", "--format", "xml", "--to", "kafka://127.0.0.1:1/t"};
    char *a4[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "--only",
                  "transactions,chargebacks"};
    char *a5[] = {"generate", "--to", "kafka://127.0.0.1:1/a%sb%s"};
    char *a6[] = {"generate", "--to", "kafka:///t"};
    char *a7[] = {"generate", "--to", "kafka://host/t"};
    char *a8[] = {"generate", "--to", "kafka://host:0/t"};
    char *a9[] = {"generate", "--to", "kafka://host:65536/t"};
    char *a10[] = {"generate", "--to", "kafka://host:1,/t"};
    char *a11[] = {"generate", "--to", "kafka://host:1/a b"};
    char *a12[] = {"generate", "--to", "kafka://host:1/a/b"};
    char *a13[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "--format", "avro"};
    char *a14[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "--source", "x"};
    char *a15[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "--registry", "http://h:1"};
    char *a16[] = {"generate", "--to",       "kafka://127.0.0.1:1/t", "--format",
                   "avro",     "--registry", "ftp://h:1"};
    char *a17[] = {"generate", "--source", "transactions"};
    char *a18[] = {"generate", "--registry", "http://h:1", "--to", path};
    char *a19[] = {"generate", "--format"};
    char *a20[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "--source", ""};
    cr_assert_eq(fr_gen_cmd(ARGC(a1), a1), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a2), a2), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a3), a3), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a4), a4), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a5), a5), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a6), a6), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a7), a7), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a8), a8), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a9), a9), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a10), a10), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a11), a11), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a12), a12), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a13), a13), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a14), a14), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a15), a15), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a16), a16), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a17), a17), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a18), a18), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a19), a19), 2);
    cr_assert_eq(fr_gen_cmd(ARGC(a20), a20), 2);
}

static const char kcfg_fmt[] =
    "store: { path: %s/data }\n"
    "sources:\n"
    "  - name: transactions\n"
    "    format: avro\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: card_id, type: string }\n"
    "      - { name: amount, type: double }\n"
    "      - { name: merchant_id, type: string }\n"
    "      - { name: country, type: string, optional: true }\n"
    "      - { name: ts, type: long }\n"
    "  - name: orders\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: order_id, type: string }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - { name: card, source: transactions, entity: card_id, windows: [5m],\n"
    "      aggregations: [ { fn: count } ] }\n"
    "  - { name: order, source: orders, entity: order_id, windows: [5m],\n"
    "      aggregations: [ { fn: count } ] }\n";

static char cfgpath[160];

static void write_kafka_config(void)
{
    snprintf(cfgpath, sizeof cfgpath, "%s/k.yaml", tmpdir);
    FILE *f = fopen(cfgpath, "w");
    cr_assert_not_null(f);
    fprintf(f, kcfg_fmt, tmpdir);
    fclose(f);
}

Test(gen_cmd, kafka_errors_before_the_cluster_are_exit_code_1)
{
    write_kafka_config();
    char *a1[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "-c", "/nonexistent/k.yaml"};
    char *a2[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "-c", cfgpath, "--source", "nope"};
    char *a3[] = {"generate", "--to",       "kafka://127.0.0.1:1/t", "--format",
                  "avro",     "--registry", "http://127.0.0.1:1"};
    cr_assert_eq(fr_gen_cmd(ARGC(a1), a1), 1);
    cr_assert_eq(fr_gen_cmd(ARGC(a2), a2), 1);
    cr_assert_eq(fr_gen_cmd(ARGC(a3), a3), 1);
    /* an incompatible schema already under the subject: 409, nothing produced */
    char err[512] = "";
    fr_config_t *cfg = NULL;
    cr_assert_eq(fr_config_load(cfgpath, &cfg, err, sizeof err), 0, "%s", err);
    fr_registry_t *reg = NULL;
    cr_assert_eq(fr_registry_open(cfg, &reg, err, sizeof err), 0, "%s", err);
    static const char other[] =
        "{\"type\":\"record\",\"name\":\"x\",\"fields\":[{\"name\":\"qty\",\"type\":\"int\"}]}";
    uint32_t id;
    cr_assert_eq(fr_registry_register(reg, "t-value", other, sizeof other - 1, &id, err, sizeof err),
                 0, "%s", err);
    fr_registry_close(reg);
    fr_config_free(cfg);
    char *a4[] = {"generate", "--to", "kafka://127.0.0.1:1/t", "--format", "avro", "-c", cfgpath};
    cr_assert_eq(fr_gen_cmd(ARGC(a4), a4), 1);
}

/* librdkafka's mock cluster, in this process */
typedef struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char url[512];
} mock_t;

static void mock_start(mock_t *m)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", e, sizeof e);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    cr_assert_not_null(m->rk, "%s", e);
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    cr_assert_not_null(m->mc);
    for (const char *t = "tao"; *t; t++) {
        char name[2] = {*t, 0};
        cr_assert_eq(rd_kafka_mock_topic_create(m->mc, name, 2, 1), 0);
    }
    cr_assert_eq(rd_kafka_mock_topic_create(m->mc, "transactions", 2, 1), 0);
    cr_assert_eq(rd_kafka_mock_topic_create(m->mc, "chargebacks", 2, 1), 0);
}

/* kafka://BOOTSTRAP/topic in m->url */
static char *mock_url(mock_t *m, const char *topic)
{
    snprintf(m->url, sizeof m->url, "kafka://%s/%s", rd_kafka_mock_cluster_bootstraps(m->mc),
             topic);
    return m->url;
}

static void mock_stop(mock_t *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
}

/* Counts the messages of topic (2 partitions) and checks every key is the
 * card_id of its value (json 1) or is a card id (Avro, json 0), or that
 * messages are chargebacks without a key (json 2). */
static size_t mock_count(mock_t *m, const char *topic, int json)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *bs = rd_kafka_mock_cluster_bootstraps(m->mc);
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bs, e, sizeof e), 0);
    rd_kafka_conf_set(conf, "group.id", "unit-check", e, sizeof e);
    rd_kafka_conf_set(conf, "log_level", "0", e, sizeof e);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    cr_assert_not_null(c, "%s", e);
    int64_t lo, hi, total = 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(rd_kafka_query_watermark_offsets(c, topic, p, &lo, &hi, 10000), 0);
        total += hi;
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    cr_assert_eq(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t n = 0;
    uint64_t end = fr_mono_ns() + 30000000000ull;
    while ((int64_t)n < total && fr_mono_ns() < end) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 200);
        if (!msg)
            continue;
        if (!msg->err && json == 2) {
            n++;
            cr_assert_eq(msg->key_len, 0);
            cr_assert(msg->len > 10 && !memcmp(msg->payload, "{\"txn_id\":", 10));
        } else if (!msg->err) {
            n++;
            cr_assert(msg->key_len == 7 && ((char *)msg->key)[0] == 'c', "key %.*s",
                      (int)msg->key_len, (char *)msg->key);
            if (json) {
                json_t *j = json_loadb(msg->payload, msg->len, 0, NULL);
                const char *card = json_string_value(json_object_get(j, "card_id"));
                cr_assert(card && strlen(card) == msg->key_len &&
                          !memcmp(card, msg->key, msg->key_len));
                json_decref(j);
            } else {
                cr_assert(msg->len > 5 && ((unsigned char *)msg->payload)[0] == 0);
            }
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

Test(gen_cmd, kafka_json_and_avro_to_a_mock_cluster)
{
    write_kafka_config();
    mock_t m;
    mock_start(&m);
    char *json[] = {"generate", "--to", mock_url(&m, "t"), "--count", "3000", "--seed", "5"};
    cr_assert_eq(fr_gen_cmd(ARGC(json), json), 0);
    cr_assert_eq(mock_count(&m, "t", 1), 3000);
    /* Avro through the configuration's embedded registry, with a rate */
    char *avro[] = {"generate", "--to",    mock_url(&m, "a"), "--format", "avro", "-c",
                    cfgpath,    "--count", "200",             "--rate",   "2000"};
    cr_assert_eq(fr_gen_cmd(ARGC(avro), avro), 0);
    cr_assert_eq(mock_count(&m, "a", 0), 200);
    /* a topic per source: a history with its chargebacks */
    char from[32], until[32], file[200];
    snprintf(from, sizeof from, "%lld", T0);
    snprintf(until, sizeof until, "%lld", T0 + HOUR);
    snprintf(m.url, sizeof m.url, "kafka://%s", rd_kafka_mock_cluster_bootstraps(m.mc));
    char *both[] = {"generate", "--to", m.url, "--from", from, "--until", until, "--count",
                    "2000", "--fraud-rate", "0.05", "--label-delay", "1s..1m", "--seed", "9"};
    cr_assert_eq(fr_gen_cmd(ARGC(both), both), 0);
    snprintf(file, sizeof file, "%s/ref-%%s.ndjson", tmpdir);
    char *ref[] = {"generate", "--to", file, "--from", from, "--until", until, "--count",
                   "2000", "--fraud-rate", "0.05", "--label-delay", "1s..1m", "--seed", "9"};
    cr_assert_eq(fr_gen_cmd(ARGC(ref), ref), 0);
    snprintf(file, sizeof file, "%s/ref-chargebacks.ndjson", tmpdir);
    size_t labels;
    free(read_events(file, &labels));
    cr_assert(labels > 20);
    cr_assert_eq(mock_count(&m, "transactions", 1), 2000);
    cr_assert_eq(mock_count(&m, "chargebacks", 2), labels);
    mock_stop(&m);
}

Test(gen_cmd, kafka_events_that_do_not_fit_the_source_are_exit_code_1)
{
    write_kafka_config();
    mock_t m;
    mock_start(&m);
    char *argv[] = {"generate", "--to",   mock_url(&m, "o"), "-c", cfgpath, "--source",
                    "orders",   "--count", "5"};
    cr_assert_eq(fr_gen_cmd(ARGC(argv), argv), 1);
    cr_assert_eq(mock_count(&m, "o", 1), 0);
    mock_stop(&m);
}
