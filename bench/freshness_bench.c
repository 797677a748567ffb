/*
 * freshness_bench - how long after an ingest is acknowledged does the event
 * show in served features?
 *
 *   freshness_bench -u http://127.0.0.1:PORT [-r RATE] [-d SECONDS] [options]  (--help)
 *
 * Each probe posts one event of a brand-new entity to
 * POST /v1/events/transactions (the demo source of examples/fraud), then,
 * from the moment the answer (the durable acknowledgement) arrives, polls
 * GET /v1/features/card_txn/{entity} every --poll-us until the answer says
 * "found":true with "degraded":false (after the first 10 ms the interval
 * grows to 5% of the time waited, so slow probes do not flood the server
 * with GETs).  ack -> visible is measured from the ingest answer to the
 * completion of the first GET that shows the entity, so it is an upper
 * bound, too high by at most one poll interval (--poll-us or 5%) plus one
 * GET round trip (tens of microseconds on loopback).
 *
 * Probes start on a fixed schedule (--rate per second), independent of how
 * long earlier ones take; at most --max-inflight are open at once (a probe
 * due while all are open starts late, and that wait is in its send ->
 * visible figure, not in ack -> visible).  A probe not visible within
 * --timeout-ms counts as a timeout.  All HTTP is done by libcurl's multi
 * interface in one thread, which sleeps in curl_multi_poll() with a timerfd
 * for the next due probe or poll.  Loopback URLs only.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "hist.h"

#define MAX_INFLIGHT 1024
#define MAX_ANSWER (64u << 10)
#define MAX_URL 512

static const char usage_text[] =
    "usage: freshness_bench -u http://127.0.0.1:PORT [options]\n"
    "  -u, --url BASE       server base URL (loopback only)\n"
    "  -r, --rate R         probes (new entities) per second (default 100)\n"
    "  -d, --duration S     seconds of probes (default 10, at most 3600)\n"
    "      --poll-us US     interval between GETs of one probe (default 500; grows\n"
    "                       to 5% of the time waited once that is longer)\n"
    "      --timeout-ms MS  a probe not visible by then is a timeout (default 5000)\n"
    "      --max-inflight N probes open at once, at most (default 64)\n"
    "      --label TEXT     name printed on the RESULT line\n"
    "  -h, --help           this text\n"
    "Posts to /v1/events/transactions and reads /v1/features/card_txn/{entity}\n"
    "(the source and view of examples/fraud/freshet.yaml).\n";

enum { P_FREE, P_POSTING, P_WAITING, P_GETTING };

typedef struct {
    CURL *h;
    int state;
    uint64_t n;        /* probe number: the entity is <prefix><n> */
    uint64_t due_ns;   /* scheduled start */
    uint64_t sent_ns;  /* POST handed to curl */
    uint64_t ack_ns;   /* POST answered */
    uint64_t next_poll_ns;
    uint64_t polls;
    char url[MAX_URL];
    char body[512];
    char ans[MAX_ANSWER];
    size_t alen;
    int truncated;
} probe_t;

typedef struct {
    const char *base;
    char prefix[64];
    double rate;
    uint64_t duration_ns, poll_ns, timeout_ns;
    unsigned max_inflight;
    CURLM *m;
    struct curl_slist *post_hdrs;
    probe_t *p;
    int tfd;
    /* results */
    hist_t ack, vis, total, polls;
    uint64_t started, visible, timeouts, post_errors, get_errors, degraded, late_starts;
} bench_t;


static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static int check_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;
    if (!u)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = strcmp(scheme, "http") == 0 &&
             (strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    probe_t *p = ud;
    size_t n = size * nmemb;
    if (p->alen + n + 1 > sizeof p->ans) {
        p->truncated = 1;
        return n;
    }
    memcpy(p->ans + p->alen, ptr, n);
    p->alen += n;
    p->ans[p->alen] = '\0';
    return n;
}

static int start_post(bench_t *b, probe_t *p, uint64_t now)
{
    snprintf(p->url, sizeof p->url, "%s/v1/events/transactions", b->base);
    snprintf(p->body, sizeof p->body,
             "{\"card_id\":\"%s%" PRIu64 "\",\"amount\":12.5,\"merchant_id\":\"m0001\","
             "\"country\":\"US\",\"txn_id\":\"%s%" PRIu64 "\",\"ts\":%" PRId64 "}",
             b->prefix, p->n, b->prefix, p->n, wall_ms());
    curl_easy_setopt(p->h, CURLOPT_URL, p->url);
    curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, b->post_hdrs);
    curl_easy_setopt(p->h, CURLOPT_POSTFIELDSIZE, (long)strlen(p->body));
    curl_easy_setopt(p->h, CURLOPT_POSTFIELDS, p->body);
    p->state = P_POSTING;
    p->sent_ns = now;
    p->alen = 0;
    p->truncated = 0;
    p->ans[0] = '\0';
    return curl_multi_add_handle(b->m, p->h) == CURLM_OK ? 0 : -1;
}

static int start_get(bench_t *b, probe_t *p)
{
    snprintf(p->url, sizeof p->url, "%s/v1/features/card_txn/%s%" PRIu64, b->base, b->prefix,
             p->n);
    curl_easy_setopt(p->h, CURLOPT_URL, p->url);
    curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(p->h, CURLOPT_HTTPGET, 1L);
    p->state = P_GETTING;
    p->polls++;
    p->alen = 0;
    p->truncated = 0;
    p->ans[0] = '\0';
    return curl_multi_add_handle(b->m, p->h) == CURLM_OK ? 0 : -1;
}

/* 1 when the answer shows the entity with real (not degraded) state. */
static int answer_visible(bench_t *b, probe_t *p)
{
    if (p->truncated)
        return 0;
    json_t *j = json_loadb(p->ans, p->alen, 0, NULL);
    if (!j)
        return 0;
    int found = json_is_true(json_object_get(j, "found"));
    int degraded = json_is_true(json_object_get(j, "degraded"));
    json_decref(j);
    if (degraded)
        b->degraded++;
    return found && !degraded;
}

static void on_done(bench_t *b, probe_t *p, CURLcode res, uint64_t now)
{
    long status = 0;
    curl_multi_remove_handle(b->m, p->h);
    if (res == CURLE_OK)
        curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &status);
    if (p->state == P_POSTING) {
        if (res != CURLE_OK || status != 200 || !strstr(p->ans, "\"accepted\":1")) {
            if (!b->post_errors)
                fprintf(stderr, "freshness_bench: ingest failed: %s, status %ld, %.200s\n",
                        curl_easy_strerror(res), status, p->ans);
            b->post_errors++;
            p->state = P_FREE;
            return;
        }
        p->ack_ns = now;
        hist_add(&b->ack, now - p->sent_ns);
        p->next_poll_ns = now; /* first look at once */
        p->state = P_WAITING;
        return;
    }
    /* P_GETTING */
    if (res != CURLE_OK || status != 200) {
        if (!b->get_errors)
            fprintf(stderr, "freshness_bench: GET failed: %s, status %ld\n",
                    curl_easy_strerror(res), status);
        b->get_errors++;
    } else if (answer_visible(b, p)) {
        b->visible++;
        hist_add(&b->vis, now - p->ack_ns);
        hist_add(&b->total, now - p->due_ns);
        hist_add(&b->polls, p->polls);
        p->state = P_FREE;
        return;
    }
    if (now - p->ack_ns >= b->timeout_ns) {
        b->timeouts++;
        p->state = P_FREE;
        return;
    }
    /* poll every --poll-us, or every 5% of the time waited so far if that
     * is longer: the figure stays within ~5% while a slow probe does not
     * add thousands of GETs to the load being measured */
    uint64_t gap = (now - p->ack_ns) / 20;
    p->state = P_WAITING;
    p->next_poll_ns = now + (gap > b->poll_ns ? gap : b->poll_ns);
}


static int run(bench_t *b)
{
    const uint64_t interval = (uint64_t)(1e9 / b->rate);
    const uint64_t t0 = mono_ns() + 10000000u;
    const uint64_t sched_end = t0 + b->duration_ns;
    const uint64_t hard_end = sched_end + b->timeout_ns + 1000000000u;
    uint64_t next_i = 0;
    for (;;) {
        uint64_t now = mono_ns();
        /* new probes */
        while (t0 + next_i * interval <= now && t0 + next_i * interval < sched_end) {
            probe_t *p = NULL;
            for (unsigned i = 0; i < b->max_inflight && !p; i++)
                if (b->p[i].state == P_FREE)
                    p = &b->p[i];
            if (!p)
                break;
            p->n = next_i;
            p->due_ns = t0 + next_i * interval;
            p->polls = 0;
            if (now - p->due_ns > 1000000u)
                b->late_starts++;
            if (start_post(b, p, now))
                return -1;
            b->started++;
            next_i++;
        }
        /* polls that are due */
        uint64_t wake = t0 + next_i * interval < sched_end ? t0 + next_i * interval : UINT64_MAX;
        int open = 0;
        for (unsigned i = 0; i < b->max_inflight; i++) {
            probe_t *p = &b->p[i];
            if (p->state != P_FREE)
                open = 1;
            if (p->state != P_WAITING)
                continue;
            if (p->next_poll_ns <= now) {
                if (start_get(b, p))
                    return -1;
            } else if (p->next_poll_ns < wake) {
                wake = p->next_poll_ns;
            }
        }
        if (!open && t0 + next_i * interval >= sched_end)
            break;
        if (now >= hard_end) {
            for (unsigned i = 0; i < b->max_inflight; i++) {
                probe_t *p = &b->p[i];
                if (p->state == P_POSTING || p->state == P_GETTING)
                    curl_multi_remove_handle(b->m, p->h);
                if (p->state != P_FREE)
                    b->timeouts++;
                p->state = P_FREE;
            }
            break;
        }
        int running;
        curl_multi_perform(b->m, &running);
        CURLMsg *msg;
        int left;
        uint64_t tdone = mono_ns();
        int any = 0;
        while ((msg = curl_multi_info_read(b->m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            probe_t *p = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            on_done(b, p, msg->data.result, tdone);
            any = 1;
        }
        if (any)
            continue; /* a probe may want its first GET at once */
        now = mono_ns();
        if (wake <= now)
            continue;
        struct curl_waitfd extra = {.fd = b->tfd, .events = CURL_WAIT_POLLIN, .revents = 0};
        unsigned nextra = 0;
        if (wake != UINT64_MAX) {
            arm_timer(b->tfd, wake);
            nextra = 1;
        }
        curl_multi_poll(b->m, nextra ? &extra : NULL, nextra, 100, NULL);
        if (extra.revents) {
            uint64_t exp;
            ssize_t r = read(b->tfd, &exp, sizeof exp);
            (void)r;
        }
    }
    return 0;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

int main(int argc, char **argv)
{
    static bench_t b;
    const char *label = "freshness";
    double dur = 10, poll_us = 500, timeout_ms = 5000, inflight = 64;
    int rc = 1;
    b.rate = 100;
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},       {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},  {"poll-us", required_argument, NULL, 'p'},
        {"timeout-ms", required_argument, NULL, 'T'}, {"max-inflight", required_argument, NULL, 'm'},
        {"label", required_argument, NULL, 'l'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "u:r:d:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'u':
            b.base = optarg;
            break;
        case 'r':
            bad = parse_double(optarg, 0.01, 100000, &b.rate);
            break;
        case 'd':
            bad = parse_double(optarg, 0.01, 3600, &dur);
            break;
        case 'p':
            bad = parse_double(optarg, 10, 1e6, &poll_us);
            break;
        case 'T':
            bad = parse_double(optarg, 1, 600000, &timeout_ms);
            break;
        case 'm':
            bad = parse_double(optarg, 1, MAX_INFLIGHT, &inflight);
            break;
        case 'l':
            label = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "freshness_bench: bad value '%s'\n", optarg);
            return 2;
        }
    }
    if (!b.base || optind != argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (strlen(b.base) > 200 || check_loopback(b.base)) {
        fprintf(stderr, "freshness_bench: only http:// URLs on a loopback host are allowed\n");
        return 2;
    }
    b.duration_ns = (uint64_t)(dur * 1e9);
    b.poll_ns = (uint64_t)(poll_us * 1e3);
    b.timeout_ns = (uint64_t)(timeout_ms * 1e6);
    b.max_inflight = (unsigned)inflight;
    snprintf(b.prefix, sizeof b.prefix, "fresh-%ld-%ld-", (long)getpid(), (long)time(NULL));
    hist_init(&b.ack);
    hist_init(&b.vis);
    hist_init(&b.total);
    hist_init(&b.polls);
    b.tfd = -1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    b.m = curl_multi_init();
    b.p = calloc(b.max_inflight, sizeof *b.p);
    b.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct curl_slist *h1 = curl_slist_append(NULL, "Content-Type: application/json");
    b.post_hdrs = h1 ? curl_slist_append(h1, "Expect:") : NULL;
    if (!b.post_hdrs)
        curl_slist_free_all(h1);
    if (!b.m || !b.p || b.tfd < 0 || !b.post_hdrs)
        goto out;
    curl_multi_setopt(b.m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)b.max_inflight);
    curl_multi_setopt(b.m, CURLMOPT_MAXCONNECTS, (long)b.max_inflight);
    for (unsigned i = 0; i < b.max_inflight; i++) {
        probe_t *p = &b.p[i];
        p->h = curl_easy_init();
        if (!p->h)
            goto out;
        curl_easy_setopt(p->h, CURLOPT_PRIVATE, p);
        curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p);
        curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(p->h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(p->h, CURLOPT_PROXY, "");
        curl_easy_setopt(p->h, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(p->h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    }
    printf("%s: %.0f probes/s for %.3g s against %s, poll every %.0f us, timeout %.0f ms\n",
           label, b.rate, dur, b.base, poll_us, timeout_ms);
    fflush(stdout);
    if (run(&b)) {
        fprintf(stderr, "freshness_bench: curl failure\n");
        goto out;
    }
    printf("  probes %" PRIu64 ": visible %" PRIu64 ", timeouts %" PRIu64 ", ingest errors %" PRIu64
           ", GET errors %" PRIu64 ", degraded answers %" PRIu64 ", started >1 ms late %" PRIu64
           "\n",
           b.started, b.visible, b.timeouts, b.post_errors, b.get_errors, b.degraded,
           b.late_starts);
    printf("  ingest ack (POST 1 event): p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n",
           ms(hist_pct(&b.ack, 50)), ms(hist_pct(&b.ack, 99)), ms(hist_pct(&b.ack, 99.9)),
           ms(b.ack.max));
    printf("  ack -> visible:            p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n",
           ms(hist_pct(&b.vis, 50)), ms(hist_pct(&b.vis, 99)), ms(hist_pct(&b.vis, 99.9)),
           ms(b.vis.max));
    printf("  scheduled send -> visible: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n",
           ms(hist_pct(&b.total, 50)), ms(hist_pct(&b.total, 99)), ms(hist_pct(&b.total, 99.9)),
           ms(b.total.max));
    printf("  GETs per probe: p50 %" PRIu64 "  p99 %" PRIu64 "  max %" PRIu64 "\n",
           hist_pct(&b.polls, 50), hist_pct(&b.polls, 99), b.polls.max);
    printf("RESULT label=%s probes=%" PRIu64 " visible=%" PRIu64 " timeouts=%" PRIu64
           " errors=%" PRIu64 " degraded=%" PRIu64 " ack_p50_ms=%.3f ack_p99_ms=%.3f"
           " fresh_p50_ms=%.3f fresh_p99_ms=%.3f fresh_p999_ms=%.3f fresh_max_ms=%.3f"
           " total_p99_ms=%.3f\n",
           label, b.started, b.visible, b.timeouts, b.post_errors + b.get_errors, b.degraded,
           ms(hist_pct(&b.ack, 50)), ms(hist_pct(&b.ack, 99)), ms(hist_pct(&b.vis, 50)),
           ms(hist_pct(&b.vis, 99)), ms(hist_pct(&b.vis, 99.9)), ms(b.vis.max),
           ms(hist_pct(&b.total, 99)));
    rc = b.timeouts || b.post_errors ? 1 : 0;
out:
    for (unsigned i = 0; b.p && i < b.max_inflight; i++)
        if (b.p[i].h)
            curl_easy_cleanup(b.p[i].h);
    free(b.p);
    if (b.m)
        curl_multi_cleanup(b.m);
    curl_slist_free_all(b.post_hdrs);
    if (b.tfd >= 0)
        close(b.tfd);
    curl_global_cleanup();
    return rc;
}
