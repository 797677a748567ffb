/*
 * gen_out.c - the batch outputs of `freshet generate` (see gen_int.h):
 * NDJSON batches to a file descriptor, to an HTTP ingest URL, or into a
 * source of the embedded log.
 *
 * HTTP batches carry an Idempotency-Key made of the run's prefix and the
 * batch number, so a batch retried after a lost answer is applied once.
 *
 * The log output calls fr_ingest (serve/ingest.h), the function behind
 * POST /v1/events/{source}: events are typed, checked for lateness and
 * future times in the log's writer, refused ones kept as dead letters, and
 * the call returns once the batch is durable.  The generator's command
 * files sit with the other commands at the top of the layers; gen.c
 * itself stays below serve/ (the demo feeder uses it).  The log may be
 * held by a running `freshet run` at the same time: LMDB serialises the
 * writers of all processes, and the writer reads the next offset and the
 * watermark inside its transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "gen/gen_int.h"
#include "serve/ingest.h"

#define MAX_ATTEMPTS 6             /* one try and five retries */
#define RETRY_BASE_NS 100000000ull /* 0.1, 0.2, 0.4, 0.8, 1.6 s between tries */
#define MAX_ANSWER (1 << 20)

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL); /* EINTR: the caller looks at its stop flag */
}

static void out_init(fr_gen_out_t *o, fr_gen_out_kind_t kind, const char *name, size_t pend_max)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->fd = -1;
    snprintf(o->name, sizeof o->name, "%s", name);
    fr_buf_init(&o->pend, pend_max);
    fr_buf_init(&o->answer, MAX_ANSWER);
}

int fr_gen_out_open_fd(fr_gen_out_t *o, const char *path, size_t pend_max, char *err,
                       size_t errlen)
{
    int out = !strcmp(path, "-");
    out_init(o, FR_GEN_OUT_FD, out ? "stdout" : path, pend_max);
    if (out) {
        o->fd = STDOUT_FILENO;
        return 0;
    }
    o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    o->own_fd = 1;
    return 0;
}

static size_t on_answer(char *p, size_t size, size_t n, void *ctx)
{
    fr_buf_t *b = ctx;
    return fr_buf_add(b, p, size * n) ? 0 : size * n;
}

int fr_gen_out_open_http(fr_gen_out_t *o, const char *url, const char *key_prefix,
                         size_t pend_max, char *err, size_t errlen)
{
    out_init(o, FR_GEN_OUT_HTTP, url, pend_max);
    snprintf(o->key_prefix, sizeof o->key_prefix, "%s", key_prefix);
    o->curl = curl_easy_init();
    if (!o->curl) {
        snprintf(err, errlen, "libcurl initialisation failed");
        return -1;
    }
    CURL *c = o->curl;
    curl_easy_setopt(c, CURLOPT_URL, o->name);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "freshet-generate");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, o->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &o->answer);
    return 0;
}

int fr_gen_out_open_log(fr_gen_out_t *o, const fr_config_t *cfg, fr_elog_t *log, int src,
                        size_t pend_max, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    char name[FR_GEN_OUT_MAX_NAME];
    snprintf(name, sizeof name, "log:%s", cfg->sources[src].name);
    out_init(o, FR_GEN_OUT_LOG, name, pend_max);
    o->cfg = cfg;
    o->log = log;
    o->src = src;
    return 0;
}

/* ---- sending ---- */

static int write_all(fr_gen_out_t *o, char *err, size_t errlen)
{
    const char *p = o->pend.p;
    size_t n = o->pend.len;
    while (n) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "writing %s: %s", o->name, strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads {"accepted":A,"rejected":R} with A + R = the batch; 0 or -1. */
static int count_answer(fr_gen_out_t *o, json_t *j)
{
    json_t *a = json_object_get(j, "accepted"), *r = json_object_get(j, "rejected");
    if (!json_is_integer(a) || !json_is_integer(r) || json_integer_value(a) < 0 ||
        json_integer_value(r) < 0 ||
        (uint64_t)json_integer_value(a) + (uint64_t)json_integer_value(r) != o->npend)
        return -1;
    o->accepted += (uint64_t)json_integer_value(a);
    o->rejected += (uint64_t)json_integer_value(r);
    return 0;
}

/* One POST of the pending batch.  0 done; 1 failed, worth a retry; -1
 * failed for good.  err says why. */
static int http_try(fr_gen_out_t *o, struct curl_slist *hdrs, char *err, size_t errlen)
{
    CURL *c = o->curl;
    fr_buf_reset(&o->answer);
    o->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->pend.p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->pend.len);
    o->requests++;
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", o->curl_err[0] ? o->curl_err : curl_easy_strerror(cc));
        return 1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    const char *text = o->answer.p ? o->answer.p : "";
    json_t *j = json_loadb(text, o->answer.len, 0, NULL);
    int ret;
    if (status >= 200 && status < 300) {
        ret = count_answer(o, j) ? 1 : 0;
        if (ret)
            snprintf(err, errlen,
                     "HTTP %ld with an unexpected answer (want accepted + rejected = %" PRIu64
                     "): %.200s",
                     status, o->npend, text);
    } else {
        const char *e = json_string_value(json_object_get(j, "error"));
        const char *d = json_string_value(json_object_get(j, "detail"));
        if (e)
            snprintf(err, errlen, "HTTP %ld: %s%s%s", status, e, d ? ": " : "", d ? d : "");
        else
            snprintf(err, errlen, "HTTP %ld: %.200s", status, text);
        ret = status == 408 || status == 429 || status >= 500 ? 1 : -1;
    }
    json_decref(j);
    return ret;
}

static int http_send(fr_gen_out_t *o, const volatile sig_atomic_t *stop, char *err,
                     size_t errlen)
{
    char key[224];
    snprintf(key, sizeof key, "Idempotency-Key: %s-%" PRIu64, o->key_prefix, o->batchno++);
    struct curl_slist *h = NULL, *t;
    const char *lines[] = {"Content-Type: application/x-ndjson", "Expect:", key};
    for (size_t i = 0; i < 3; i++) {
        t = curl_slist_append(h, lines[i]);
        if (!t) {
            curl_slist_free_all(h);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        h = t;
    }
    int rc = -1;
    char why[512] = "";
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt) {
            if (stop && *stop)
                break;
            o->retries++;
            sleep_ns(RETRY_BASE_NS << (attempt - 1));
        }
        rc = http_try(o, h, why, sizeof why);
        if (rc <= 0)
            break;
    }
    curl_slist_free_all(h);
    if (rc) {
        snprintf(err, errlen, "POST %s: batch %" PRIu64 " failed%s: %.400s", o->name,
                 o->batchno - 1, rc > 0 ? " after retries" : "", why);
        return -1;
    }
    return 0;
}

static int log_send(fr_gen_out_t *o, char *err, size_t errlen)
{
    fr_buf_reset(&o->answer);
    o->requests++;
    int status = fr_ingest(o->cfg, o->log, o->src, o->pend.p, o->pend.len, NULL, 0, &o->answer);
    const char *text = o->answer.p ? o->answer.p : "";
    json_t *j = json_loadb(text, o->answer.len, 0, NULL);
    int rc = status == 200 ? count_answer(o, j) : -1;
    if (rc) {
        const char *e = json_string_value(json_object_get(j, "error"));
        const char *d = json_string_value(json_object_get(j, "detail"));
        if (e)
            snprintf(err, errlen, "appending to source '%s' of the log: %d %s%s%s",
                     o->cfg->sources[o->src].name, status, e, d ? ": " : "", d ? d : "");
        else
            snprintf(err, errlen, "appending to source '%s' of the log: %d %.300s",
                     o->cfg->sources[o->src].name, status, text);
    }
    json_decref(j);
    return rc;
}

int fr_gen_out_flush(fr_gen_out_t *o, const volatile sig_atomic_t *stop, char *err,
                     size_t errlen)
{
    if (!o->npend)
        return 0;
    int rc = o->kind == FR_GEN_OUT_HTTP  ? http_send(o, stop, err, errlen)
             : o->kind == FR_GEN_OUT_LOG ? log_send(o, err, errlen)
                                         : write_all(o, err, errlen);
    if (rc)
        return rc;
    o->sent += o->npend;
    o->npend = 0;
    fr_buf_reset(&o->pend);
    return 0;
}

int fr_gen_out_close(fr_gen_out_t *o, char *err, size_t errlen)
{
    int rc = 0;
    if (o->own_fd && o->fd >= 0 && close(o->fd)) {
        snprintf(err, errlen, "writing %s: %s", o->name, strerror(errno));
        rc = -1;
    }
    o->fd = -1;
    o->own_fd = 0;
    if (o->curl)
        curl_easy_cleanup(o->curl);
    o->curl = NULL;
    fr_buf_destroy(&o->pend);
    fr_buf_destroy(&o->answer);
    return rc;
}
