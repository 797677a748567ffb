/*
 * loadgen - an HTTP load generator for freshet's benchmarks, on libcurl's
 * multi interface (libcurl does all the HTTP; nothing here parses it).
 *
 *   loadgen -u URL [-r RATE] [-c CONNS] [-d SECONDS] [options]   (--help)
 *
 * Open loop (RATE > 0): request i is due at t0 + i/RATE whatever happened
 * to the ones before it, and its latency runs from that due time to its
 * completion.  A request that cannot start on time (all connections busy,
 * or this process starved of CPU) is not skipped and its wait is not
 * forgotten: it is what a real client would have seen, so coordinated
 * omission is not hidden.  The lag between due and actual send is reported
 * on its own, so one can tell a slow server from a slow generator.
 * Closed loop (RATE 0): CONNS requests always in flight, as fast as the
 * server answers; latency from the actual send.  That is the saturation
 * figure (the same thing wrk measures).
 *
 * Shape: T threads (default 1), each with its own curl multi handle, CONNS/T
 * reusable easy handles (so at most that many keep-alive connections) and a
 * share RATE/T of the schedule.  Each thread sleeps in curl_multi_poll()
 * with a timerfd armed at the next due time among its extra descriptors,
 * which gives microsecond-accurate sends without spinning a core that the
 * server under test needs.  Latencies go to fixed-size histograms
 * (hist.h), merged at the end.
 *
 * Bounds: the duration, an optional request count and a per-request timeout
 * bound the run; after the schedule ends, requests still queued or in flight
 * get at most --grace seconds, then are counted as unsent/unfinished.  Only
 * http:// URLs on a loopback host are accepted: this is a benchmark tool,
 * not something to point at other people's servers.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "hist.h"

#define MAX_CONNS 4096
#define MAX_THREADS 32
#define MAX_DURATION_S 3600
#define MAX_RATE 10000000.0
#define MAX_BODY_FILE (256u << 20) /* --body / --ndjson file */
#define MAX_ANSWER (4u << 20)      /* answer bytes kept for --sum / --expect */
#define MAX_URL 2048

static const char usage_text[] =
    "usage: loadgen -u URL [options]\n"
    "  -u, --url URL        http://127.0.0.1:PORT/path; may hold one %d, %Nd or %0Nd,\n"
    "                       replaced by a random id from --ids for each request\n"
    "  -r, --rate R         open loop: R requests/s on a fixed schedule, latency from\n"
    "                       the scheduled send time; 0 = closed loop (default 0)\n"
    "  -c, --conns N        keep-alive connections = requests in flight at most (default 32)\n"
    "  -t, --threads T      generator threads, each with N/T connections (default 1)\n"
    "  -d, --duration S     measured seconds (default 10, at most 3600)\n"
    "  -w, --warmup S       seconds run first and not measured (default 1)\n"
    "  -n, --requests N     stop scheduling after N measured requests (default: no cap)\n"
    "      --ids LO-HI      id range for %d (default 1-100000)\n"
    "      --body FILE      POST this file as the body of every request\n"
    "      --ndjson FILE    POST the lines of FILE in batches of --batch lines, in turn\n"
    "      --batch N        lines per --ndjson batch (default 1000)\n"
    "      --sum FIELD      sum the integer FIELD of each JSON answer (e.g. accepted)\n"
    "      --expect TEXT    count 2xx answers not containing TEXT as errors\n"
    "      --timeout-ms MS  per-request timeout (default 10000)\n"
    "      --grace S        after the schedule ends, wait at most S s for stragglers\n"
    "                       (default 5)\n"
    "      --seed S         random seed for ids (default 1)\n"
    "      --label TEXT     name printed on the RESULT line\n"
    "  -h, --help           this text\n"
    "Prints a summary and one machine-readable line starting with RESULT.\n";

typedef struct {
    const char *data;
    size_t len;
} body_t;

/* Everything the threads share; read-only once they start. */
typedef struct {
    /* URL pattern split around its one conversion */
    char prefix[MAX_URL], suffix[MAX_URL];
    int has_id, zero_pad, width;
    uint64_t id_lo, id_hi;
    double rate;
    unsigned conns, threads;
    uint64_t warmup_ns, duration_ns, grace_ns, max_requests;
    long timeout_ms;
    body_t *bodies; /* NULL for GET */
    size_t nbodies;
    const char *content_type;
    const char *sum_field;
    const char *expect;
    uint64_t seed;
    uint64_t t_start; /* monotonic ns: first due time */
} conf_t;

struct worker;

typedef struct {
    CURL *h;
    struct worker *w;
    uint64_t due_ns;   /* when it should have been sent */
    uint64_t sent_ns;  /* when it was handed to curl */
    int measured;      /* due inside the measured window */
    char url[MAX_URL];
    char *ans;         /* answer bytes, kept only for --sum / --expect */
    size_t alen, acap;
    int truncated;
} slot_t;

typedef struct worker {
    const conf_t *c;
    unsigned id;
    CURLM *m;
    struct curl_slist *hdrs;
    slot_t *slots;
    unsigned nslots;
    unsigned *freel; /* stack of free slot indexes */
    unsigned nfree;
    int tfd;
    uint64_t rng;
    uint64_t interval_ns; /* between this thread's due times; 0 = closed loop */
    uint64_t offset_ns;   /* first due time after t_start */
    uint64_t next_i;      /* index of the next request to schedule */
    uint64_t body_i;
    uint64_t quota;       /* measured requests this thread may schedule */
    /* results (measured requests only) */
    hist_t lat;      /* due (open) or sent (closed) -> done */
    hist_t lag;      /* due -> sent, open loop */
    uint64_t done, ok, http_err, transport_err, unexpected, unsent, unfinished;
    int64_t sum;
    uint64_t sum_missing;
    uint64_t last_done_ns; /* completion of the last measured request */
    uint64_t status_counts[6]; /* 1xx..5xx, [0] other */
    CURLcode first_curl_err;
    long first_bad_status;
    int rc;
} worker_t;


static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}


/* Splits the URL pattern around its single %d / %Nd / %0Nd ("%%" is a
 * literal percent sign).  Returns 0 or -1 with a message printed. */
static int parse_pattern(conf_t *c, const char *pat)
{
    size_t n = strlen(pat);
    if (n >= MAX_URL - 64) {
        fprintf(stderr, "loadgen: URL too long\n");
        return -1;
    }
    char *out = c->prefix;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (pat[i] != '%') {
            out[o++] = pat[i];
            continue;
        }
        if (pat[i + 1] == '%') {
            out[o++] = '%';
            i++;
            continue;
        }
        if (c->has_id) {
            fprintf(stderr, "loadgen: the URL may hold only one %%d\n");
            return -1;
        }
        size_t j = i + 1;
        if (pat[j] == '0') {
            c->zero_pad = 1;
            j++;
        }
        int width = 0;
        while (pat[j] >= '0' && pat[j] <= '9' && width < 100)
            width = width * 10 + (pat[j++] - '0');
        if (pat[j] != 'd' || width > 40) {
            fprintf(stderr, "loadgen: only %%d, %%Nd and %%0Nd are allowed in the URL\n");
            return -1;
        }
        c->width = width;
        c->has_id = 1;
        out[o] = '\0';
        out = c->suffix;
        o = 0;
        i = j;
    }
    out[o] = '\0';
    return 0;
}

/* Formats the URL for id into buf (size MAX_URL).  parse_pattern() keeps
 * the pattern short enough that it always fits. */
static void make_url(const conf_t *c, uint64_t id, char *buf)
{
    int n;
    if (!c->has_id)
        n = snprintf(buf, MAX_URL, "%s", c->prefix);
    else if (c->zero_pad)
        n = snprintf(buf, MAX_URL, "%s%0*" PRIu64 "%s", c->prefix, c->width, id, c->suffix);
    else
        n = snprintf(buf, MAX_URL, "%s%*" PRIu64 "%s", c->prefix, c->width, id, c->suffix);
    if (n < 0 || n >= MAX_URL)
        buf[0] = '\0'; /* unreachable: curl then fails the request visibly */
}

/* Accepts only http:// on a loopback address; libcurl parses the URL. */
static int check_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;
    if (!u)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "http") != 0)
        goto out;
    ok = strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
         strncmp(host, "127.", 4) == 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 0 || (uint64_t)st.st_size > MAX_BODY_FILE) {
        fprintf(stderr, "loadgen: %s: unreadable or larger than %u bytes\n", path,
                MAX_BODY_FILE);
        fclose(f);
        return NULL;
    }
    char *p = malloc((size_t)st.st_size + 1);
    if (!p) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(p, 1, (size_t)st.st_size, f);
    fclose(f);
    if (n != (size_t)st.st_size) {
        fprintf(stderr, "loadgen: %s: short read\n", path);
        free(p);
        return NULL;
    }
    p[n] = '\0';
    *len = n;
    return p;
}

/* Splits an NDJSON file into batches of `batch` lines (views into data). */
static int split_ndjson(conf_t *c, const char *data, size_t len, uint64_t batch)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    if (len && data[len - 1] != '\n')
        lines++;
    if (!lines) {
        fprintf(stderr, "loadgen: --ndjson file is empty\n");
        return -1;
    }
    size_t nb = (lines + batch - 1) / batch;
    c->bodies = calloc(nb, sizeof *c->bodies);
    if (!c->bodies)
        return -1;
    size_t start = 0, k = 0, inb = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        if (++inb == batch) {
            c->bodies[k].data = data + start;
            c->bodies[k].len = i + 1 - start;
            k++;
            start = i + 1;
            inb = 0;
        }
    }
    if (start < len) {
        c->bodies[k].data = data + start;
        c->bodies[k].len = len - start;
        k++;
    }
    c->nbodies = k;
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    slot_t *s = ud;
    size_t n = size * nmemb;
    const conf_t *c = s->w->c;
    if (!c->sum_field && !c->expect)
        return n;
    if (s->alen + n + 1 > s->acap) {
        size_t cap = s->acap ? s->acap : 4096;
        while (cap < s->alen + n + 1 && cap < MAX_ANSWER)
            cap *= 2;
        if (cap < s->alen + n + 1) {
            s->truncated = 1;
            return n;
        }
        char *p = realloc(s->ans, cap);
        if (!p) {
            s->truncated = 1;
            return n;
        }
        s->ans = p;
        s->acap = cap;
    }
    memcpy(s->ans + s->alen, ptr, n);
    s->alen += n;
    s->ans[s->alen] = '\0';
    return n;
}

static int slot_setup(worker_t *w, slot_t *s)
{
    const conf_t *c = w->c;
    s->w = w;
    s->h = curl_easy_init();
    if (!s->h)
        return -1;
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s->h, CURLOPT_PROXY, "");
    curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, w->hdrs);
    return 0;
}

/* Hands slot s to curl with a request due at due_ns. */
static int slot_start(worker_t *w, slot_t *s, uint64_t due_ns, uint64_t now, int measured)
{
    const conf_t *c = w->c;
    uint64_t id = c->id_lo;
    if (c->has_id)
        id += next_rand(&w->rng) % (c->id_hi - c->id_lo + 1);
    make_url(c, id, s->url);
    curl_easy_setopt(s->h, CURLOPT_URL, s->url);
    if (c->bodies) {
        const body_t *b = &c->bodies[(w->body_i++ * c->threads + w->id) % c->nbodies];
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, b->data);
    }
    s->due_ns = due_ns;
    s->sent_ns = now;
    s->measured = measured;
    s->alen = 0;
    s->truncated = 0;
    if (curl_multi_add_handle(w->m, s->h) != CURLM_OK)
        return -1;
    return 0;
}

static void slot_done(worker_t *w, slot_t *s, CURLcode res, uint64_t now)
{
    const conf_t *c = w->c;
    curl_multi_remove_handle(w->m, s->h);
    w->freel[w->nfree++] = (unsigned)(s - w->slots);
    if (!s->measured)
        return;
    w->done++;
    w->last_done_ns = now;
    hist_add(&w->lat, now - (c->rate > 0 ? s->due_ns : s->sent_ns));
    if (c->rate > 0)
        hist_add(&w->lag, s->sent_ns - s->due_ns);
    if (res != CURLE_OK) {
        if (!w->transport_err)
            w->first_curl_err = res;
        w->transport_err++;
        return;
    }
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    w->status_counts[status >= 100 && status < 600 ? status / 100 : 0]++;
    if (status < 200 || status > 299) {
        if (!w->http_err)
            w->first_bad_status = status;
        w->http_err++;
        return;
    }
    if (c->expect && (s->truncated || !s->ans || !strstr(s->ans, c->expect))) {
        w->unexpected++;
        return;
    }
    if (c->sum_field) {
        json_t *j = s->ans && !s->truncated ? json_loadb(s->ans, s->alen, 0, NULL) : NULL;
        json_t *v = j ? json_object_get(j, c->sum_field) : NULL;
        if (json_is_integer(v))
            w->sum += json_integer_value(v);
        else
            w->sum_missing++;
        json_decref(j);
    }
    w->ok++;
}


static void *worker_run(void *arg)
{
    worker_t *w = arg;
    const conf_t *c = w->c;
    const uint64_t t0 = c->t_start;
    const uint64_t measure_from = t0 + c->warmup_ns;
    const uint64_t sched_end = measure_from + c->duration_ns;
    const uint64_t hard_end = sched_end + c->grace_ns;
    uint64_t measured_sched = 0;
    int stop_sched = 0;

    /* all threads begin together, at t0 */
    struct timespec ts0 = {.tv_sec = (time_t)(t0 / 1000000000u), .tv_nsec = (long)(t0 % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts0, NULL) == EINTR)
        ;

    for (;;) {
        uint64_t now = mono_ns();
        /* hand due requests to free connections */
        while (!stop_sched && w->nfree) {
            uint64_t due;
            if (w->interval_ns) {
                due = t0 + w->offset_ns + w->next_i * w->interval_ns;
                if (due > now)
                    break;
            } else {
                due = now;
            }
            if (due >= sched_end || (due >= measure_from && measured_sched >= w->quota)) {
                stop_sched = 1;
                break;
            }
            int measured = due >= measure_from;
            slot_t *s = &w->slots[w->freel[--w->nfree]];
            if (slot_start(w, s, due, now, measured)) {
                w->freel[w->nfree++] = (unsigned)(s - w->slots);
                w->rc = -1;
                return NULL;
            }
            w->next_i++;
            measured_sched += measured;
        }
        if (!stop_sched && w->interval_ns) {
            uint64_t due = t0 + w->offset_ns + w->next_i * w->interval_ns;
            if (due >= sched_end)
                stop_sched = 1;
        }
        if (!stop_sched && !w->interval_ns && now >= sched_end)
            stop_sched = 1;

        int running = 0;
        curl_multi_perform(w->m, &running);
        int left;
        CURLMsg *msg;
        uint64_t tdone = mono_ns();
        while ((msg = curl_multi_info_read(w->m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            slot_t *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            slot_done(w, s, msg->data.result, tdone);
        }

        int in_flight = (int)(w->nslots - w->nfree);
        if (stop_sched && in_flight == 0)
            break;
        now = mono_ns();
        if (now >= hard_end) {
            /* stragglers: count what never finished or never started */
            for (unsigned i = 0; i < w->nslots; i++) {
                slot_t *s = &w->slots[i];
                int busy = 1;
                for (unsigned k = 0; k < w->nfree; k++)
                    busy &= w->freel[k] != i;
                if (busy) {
                    curl_multi_remove_handle(w->m, s->h);
                    w->unfinished += s->measured;
                }
            }
            break;
        }
        /* sleep until curl has work or the next request is due */
        int timeout_ms = 100;
        struct curl_waitfd extra = {.fd = w->tfd, .events = CURL_WAIT_POLLIN, .revents = 0};
        unsigned nextra = 0;
        if (!stop_sched && w->nfree) {
            uint64_t due = w->interval_ns ? t0 + w->offset_ns + w->next_i * w->interval_ns : now;
            if (due <= now)
                continue; /* due already: loop without sleeping */
            arm_timer(w->tfd, due);
            nextra = 1;
        }
        curl_multi_poll(w->m, nextra ? &extra : NULL, nextra, timeout_ms, NULL);
        if (extra.revents) {
            uint64_t exp;
            ssize_t r = read(w->tfd, &exp, sizeof exp);
            (void)r;
        }
    }
    /* open loop: requests due in the measured window that never started */
    if (w->interval_ns) {
        uint64_t first = c->warmup_ns > w->offset_ns
                             ? (c->warmup_ns - w->offset_ns + w->interval_ns - 1) / w->interval_ns
                             : 0;
        uint64_t last = c->warmup_ns + c->duration_ns > w->offset_ns
                            ? (c->warmup_ns + c->duration_ns - w->offset_ns + w->interval_ns - 1) /
                                  w->interval_ns
                            : 0;
        uint64_t want = last > first ? last - first : 0;
        if (want > w->quota)
            want = w->quota;
        w->unsent = want > measured_sched ? want - measured_sched : 0;
    }
    return NULL;
}

static int worker_init(worker_t *w, const conf_t *c, unsigned id)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->id = id;
    w->tfd = -1;
    hist_init(&w->lat);
    hist_init(&w->lag);
    w->rng = c->seed * 0x100000001b3ULL + id + 1;
    w->nslots = c->conns / c->threads + (id < c->conns % c->threads);
    if (c->rate > 0) {
        double per = c->rate / c->threads;
        w->interval_ns = (uint64_t)(1e9 / per);
        if (!w->interval_ns)
            w->interval_ns = 1;
        w->offset_ns = (uint64_t)(1e9 / c->rate * id);
    }
    w->quota = c->max_requests / c->threads + (id < c->max_requests % c->threads);
    if (!c->max_requests)
        w->quota = UINT64_MAX;
    w->m = curl_multi_init();
    w->slots = calloc(w->nslots, sizeof *w->slots);
    w->freel = calloc(w->nslots, sizeof *w->freel);
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!w->m || !w->slots || !w->freel || w->tfd < 0)
        return -1;
    curl_multi_setopt(w->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->nslots);
    curl_multi_setopt(w->m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)w->nslots);
    curl_multi_setopt(w->m, CURLMOPT_MAXCONNECTS, (long)w->nslots);
    curl_multi_setopt(w->m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    w->hdrs = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    if (c->bodies && w->hdrs) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", c->content_type);
        struct curl_slist *l = curl_slist_append(w->hdrs, ct);
        if (!l)
            return -1;
        w->hdrs = l;
    }
    if (!w->hdrs)
        return -1;
    for (unsigned i = 0; i < w->nslots; i++) {
        if (slot_setup(w, &w->slots[i]))
            return -1;
        w->freel[w->nfree++] = w->nslots - 1 - i;
    }
    return 0;
}

static void worker_destroy(worker_t *w)
{
    for (unsigned i = 0; w->slots && i < w->nslots; i++) {
        if (w->slots[i].h)
            curl_easy_cleanup(w->slots[i].h);
        free(w->slots[i].ans);
    }
    if (w->m)
        curl_multi_cleanup(w->m);
    curl_slist_free_all(w->hdrs);
    free(w->slots);
    free(w->freel);
    if (w->tfd >= 0)
        close(w->tfd);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    static conf_t c;
    const char *url = NULL, *body_file = NULL, *ndjson_file = NULL, *label = "loadgen";
    uint64_t batch = 1000, v;
    double d;
    char *file_data = NULL;
    worker_t *ws = NULL;
    int rc = 2;
    c.conns = 32;
    c.threads = 1;
    c.duration_ns = 10ull * 1000000000u;
    c.warmup_ns = 1000000000u;
    c.grace_ns = 5000000000ull;
    c.timeout_ms = 10000;
    c.id_lo = 1;
    c.id_hi = 100000;
    c.seed = 1;

    enum { O_IDS = 256, O_BODY, O_NDJSON, O_BATCH, O_SUM, O_EXPECT, O_TIMEOUT, O_GRACE,
           O_SEED, O_LABEL };
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},      {"rate", required_argument, NULL, 'r'},
        {"conns", required_argument, NULL, 'c'},    {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'w'},
        {"requests", required_argument, NULL, 'n'}, {"ids", required_argument, NULL, O_IDS},
        {"body", required_argument, NULL, O_BODY},  {"ndjson", required_argument, NULL, O_NDJSON},
        {"batch", required_argument, NULL, O_BATCH}, {"sum", required_argument, NULL, O_SUM},
        {"expect", required_argument, NULL, O_EXPECT},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"grace", required_argument, NULL, O_GRACE}, {"seed", required_argument, NULL, O_SEED},
        {"label", required_argument, NULL, O_LABEL}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "u:r:c:t:d:w:n:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'u':
            url = optarg;
            break;
        case 'r':
            bad = parse_double(optarg, 0, MAX_RATE, &c.rate);
            break;
        case 'c':
            bad = parse_u64(optarg, 1, MAX_CONNS, &v);
            c.conns = (unsigned)v;
            break;
        case 't':
            bad = parse_u64(optarg, 1, MAX_THREADS, &v);
            c.threads = (unsigned)v;
            break;
        case 'd':
            bad = parse_double(optarg, 0.001, MAX_DURATION_S, &d);
            c.duration_ns = (uint64_t)(d * 1e9);
            break;
        case 'w':
            bad = parse_double(optarg, 0, MAX_DURATION_S, &d);
            c.warmup_ns = (uint64_t)(d * 1e9);
            break;
        case 'n':
            bad = parse_u64(optarg, 1, UINT64_MAX / 2, &c.max_requests);
            break;
        case O_IDS: {
            char *dash = strchr(optarg, '-');
            if (!dash) {
                bad = 1;
                break;
            }
            *dash = '\0';
            bad = parse_u64(optarg, 0, UINT64_MAX / 2, &c.id_lo) ||
                  parse_u64(dash + 1, 0, UINT64_MAX / 2, &c.id_hi) || c.id_hi < c.id_lo;
            break;
        }
        case O_BODY:
            body_file = optarg;
            break;
        case O_NDJSON:
            ndjson_file = optarg;
            break;
        case O_BATCH:
            bad = parse_u64(optarg, 1, 100000, &batch);
            break;
        case O_SUM:
            c.sum_field = optarg;
            break;
        case O_EXPECT:
            c.expect = optarg;
            break;
        case O_TIMEOUT:
            bad = parse_u64(optarg, 1, 3600000, &v);
            c.timeout_ms = (long)v;
            break;
        case O_GRACE:
            bad = parse_double(optarg, 0, 600, &d);
            c.grace_ns = (uint64_t)(d * 1e9);
            break;
        case O_SEED:
            bad = parse_u64(optarg, 0, UINT64_MAX, &c.seed);
            break;
        case O_LABEL:
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
            fprintf(stderr, "loadgen: bad value '%s' for -%c\n", optarg,
                    ch < 256 ? ch : '-');
            return 2;
        }
    }
    if (!url || optind != argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (body_file && ndjson_file) {
        fprintf(stderr, "loadgen: --body and --ndjson exclude each other\n");
        return 2;
    }
    if (c.threads > c.conns) {
        fprintf(stderr, "loadgen: more threads than connections\n");
        return 2;
    }
    if (parse_pattern(&c, url))
        return 2;
    {
        char sample[MAX_URL];
        make_url(&c, c.id_lo, sample);
        if (check_loopback(sample)) {
            fprintf(stderr, "loadgen: only http:// URLs on a loopback host are allowed: %s\n",
                    sample);
            return 2;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "loadgen: curl_global_init failed\n");
        return 1;
    }
    size_t flen = 0;
    if (body_file || ndjson_file) {
        file_data = read_file(body_file ? body_file : ndjson_file, &flen);
        if (!file_data)
            goto out;
        if (body_file) {
            c.bodies = calloc(1, sizeof *c.bodies);
            if (!c.bodies)
                goto out;
            c.bodies[0].data = file_data;
            c.bodies[0].len = flen;
            c.nbodies = 1;
            c.content_type = "application/json";
        } else {
            if (split_ndjson(&c, file_data, flen, batch))
                goto out;
            c.content_type = "application/x-ndjson";
        }
    }

    ws = calloc(c.threads, sizeof *ws);
    if (!ws)
        goto out;
    for (unsigned i = 0; i < c.threads; i++) {
        if (worker_init(&ws[i], &c, i)) {
            fprintf(stderr, "loadgen: cannot set up thread %u\n", i);
            goto out;
        }
    }
    printf("%s: %s, %s, %u connections, %u thread%s, %.3g s (+%.3g s warm-up)%s%s\n", label,
           c.rate > 0 ? "open loop" : "closed loop", url, c.conns, c.threads,
           c.threads > 1 ? "s" : "", c.duration_ns / 1e9, c.warmup_ns / 1e9,
           c.bodies ? ", POST " : "", c.bodies ? (body_file ? body_file : ndjson_file) : "");
    if (c.rate > 0)
        printf("  target %.0f req/s (one every %.1f us)\n", c.rate, 1e6 / c.rate);
    fflush(stdout);

    double cpu0 = cpu_seconds();
    c.t_start = mono_ns() + 20000000u;
    pthread_t *tids = calloc(c.threads, sizeof *tids);
    if (!tids)
        goto out;
    unsigned started = 0;
    for (; started < c.threads; started++)
        if (pthread_create(&tids[started], NULL, worker_run, &ws[started]))
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    if (started < c.threads) {
        fprintf(stderr, "loadgen: cannot start threads\n");
        goto out;
    }
    uint64_t t_end = mono_ns();
    double cpu = cpu_seconds() - cpu0;

    /* merge */
    static hist_t lat, lag;
    hist_init(&lat);
    hist_init(&lag);
    uint64_t done = 0, ok = 0, http_err = 0, tr_err = 0, unexp = 0, unsent = 0, unfin = 0;
    uint64_t sum_missing = 0, sc[6] = {0};
    int64_t sum = 0;
    for (unsigned i = 0; i < c.threads; i++) {
        worker_t *w = &ws[i];
        if (w->rc) {
            fprintf(stderr, "loadgen: thread %u failed\n", i);
            goto out;
        }
        hist_merge(&lat, &w->lat);
        hist_merge(&lag, &w->lag);
        done += w->done;
        ok += w->ok;
        http_err += w->http_err;
        tr_err += w->transport_err;
        unexp += w->unexpected;
        unsent += w->unsent;
        unfin += w->unfinished;
        sum += w->sum;
        sum_missing += w->sum_missing;
        for (int k = 0; k < 6; k++)
            sc[k] += w->status_counts[k];
        if (w->transport_err)
            fprintf(stderr, "  thread %u: first transport error: %s\n", i,
                    curl_easy_strerror(w->first_curl_err));
        if (w->http_err)
            fprintf(stderr, "  thread %u: first bad status: %ld\n", i, w->first_bad_status);
    }
    /* rate over the measured span: the schedule's length, stretched when
     * stragglers finished after it, shortened when --requests ended it */
    uint64_t last_done = 0;
    for (unsigned i = 0; i < c.threads; i++)
        if (ws[i].last_done_ns > last_done)
            last_done = ws[i].last_done_ns;
    double secs = c.duration_ns / 1e9;
    double span = last_done > c.t_start + c.warmup_ns
                      ? (double)(last_done - c.t_start - c.warmup_ns) / 1e9
                      : 0;
    if (span > secs || (c.max_requests && span > 0))
        secs = span;
    double rps = (double)done / secs;
    uint64_t errors = http_err + tr_err + unexp + unsent + unfin;
    printf("  requests %" PRIu64 " in %.2f s: %.1f req/s; ok %" PRIu64 ", errors %" PRIu64
           " (http %" PRIu64 ", transport %" PRIu64 ", unexpected body %" PRIu64
           ", unsent %" PRIu64 ", unfinished %" PRIu64 ")\n",
           done, secs, rps, ok, errors, http_err, tr_err, unexp, unsent, unfin);
    printf("  status 2xx %" PRIu64 " 3xx %" PRIu64 " 4xx %" PRIu64 " 5xx %" PRIu64 "\n", sc[2],
           sc[3], sc[4], sc[5]);
    printf("  latency (%s): p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n",
           c.rate > 0 ? "from scheduled send" : "from send", ms(hist_pct(&lat, 50)),
           ms(hist_pct(&lat, 90)), ms(hist_pct(&lat, 99)), ms(hist_pct(&lat, 99.9)), ms(lat.max),
           lat.count ? lat.sum / lat.count / 1e6 : 0.0);
    if (c.rate > 0)
        printf("  send lag (scheduled -> handed to curl): p50 %.3f  p99 %.3f  max %.3f ms\n",
               ms(hist_pct(&lag, 50)), ms(hist_pct(&lag, 99)), ms(lag.max));
    printf("  loadgen CPU: %.2f s over %.2f s wall (%.0f%% of one core)\n", cpu,
           (double)(t_end - c.t_start) / 1e9, 100.0 * cpu / ((double)(t_end - c.t_start) / 1e9));
    if (c.sum_field)
        printf("  sum of '%s': %" PRId64 " (%.1f per second)%s\n", c.sum_field, sum,
               (double)sum / secs, sum_missing ? " (some answers lacked it)" : "");
    printf("RESULT label=%s mode=%s target_rps=%.0f conns=%u threads=%u duration_s=%.3f "
           "requests=%" PRIu64 " rps=%.1f errors=%" PRIu64 " http_errors=%" PRIu64
           " transport_errors=%" PRIu64 " unexpected=%" PRIu64 " unsent=%" PRIu64
           " unfinished=%" PRIu64 " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f"
           " lag_p99_ms=%.3f loadgen_cpu_s=%.2f",
           label, c.rate > 0 ? "open" : "closed", c.rate, c.conns, c.threads, secs, done, rps,
           errors, http_err, tr_err, unexp, unsent, unfin, ms(hist_pct(&lat, 50)),
           ms(hist_pct(&lat, 90)), ms(hist_pct(&lat, 99)), ms(hist_pct(&lat, 99.9)), ms(lat.max),
           ms(hist_pct(&lag, 99)), cpu);
    if (c.sum_field)
        printf(" sum_%s=%" PRId64 " sum_per_s=%.1f", c.sum_field, sum, (double)sum / secs);
    printf("\n");
    rc = errors ? 1 : 0;
out:
    for (unsigned i = 0; ws && i < c.threads; i++)
        worker_destroy(&ws[i]);
    free(ws);
    free(c.bodies);
    free(file_data);
    curl_global_cleanup();
    return rc;
}
