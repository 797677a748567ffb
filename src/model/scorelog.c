/*
 * scorelog.c - the served-vector log (see scorelog.h).
 */
#include "model/scorelog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

typedef struct entry {
    struct entry *next;
    int64_t t;
    size_t len;
    char model[FR_CONFIG_MAX_NAME + 1];
    char line[];
} entry_t;

struct fr_scorelog {
    fr_store_t *store;
    int64_t retention_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    entry_t *head, *tail;
    size_t n, bytes;
    int stopping;
    pthread_t writer;
    uint64_t seq;
    int64_t pruned_hour; /* groups of hours before this are gone */
    fr_scorelog_stats_t st;
};

static void *writer_main(void *arg);

int fr_scorelog_open(fr_store_t *store, const fr_config_t *cfg, fr_scorelog_t **out)
{
    fr_scorelog_t *l = calloc(1, sizeof *l);
    if (!l)
        return FR_ENOMEM;
    l->store = store;
    l->retention_ms = cfg->models.log_retention_ms;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->writer, NULL, writer_main, l)) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        free(l);
        return FR_ENOMEM;
    }
    *out = l;
    return 0;
}

void fr_scorelog_close(fr_scorelog_t *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->writer, NULL);
    for (entry_t *e = l->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

void fr_scorelog_add(fr_scorelog_t *l, const char *model, int64_t t_ms, const char *line,
                     size_t len)
{
    entry_t *e = malloc(sizeof *e + len);
    pthread_mutex_lock(&l->mu);
    if (!e || l->n >= FR_SCORELOG_MAX_QUEUED || l->bytes + len > FR_SCORELOG_MAX_BYTES) {
        l->st.dropped++;
        pthread_mutex_unlock(&l->mu);
        free(e);
        return;
    }
    e->next = NULL;
    e->t = t_ms;
    e->len = len;
    snprintf(e->model, sizeof e->model, "%s", model);
    memcpy(e->line, line, len);
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
    l->bytes += len;
    l->st.queued++;
    pthread_mutex_unlock(&l->mu);
}

void fr_scorelog_stats(fr_scorelog_t *l, fr_scorelog_stats_t *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    pthread_mutex_unlock(&l->mu);
}

static void group_name(char *g, size_t n, const char *model, int64_t t)
{
    snprintf(g, n, "%s@%" PRId64, model, t / FR_SCORELOG_HOUR_MS);
}

/* Stores entries (a list) grouped by model and hour, one record each. */
static void store_batch(fr_scorelog_t *l, entry_t *list)
{
    fr_buf_t b;
    fr_buf_init(&b, (size_t)FR_SCORELOG_MAX_BYTES + 65536);
    while (list) {
        /* the first entry's model and hour; take every entry of both */
        char model[FR_CONFIG_MAX_NAME + 1];
        snprintf(model, sizeof model, "%s", list->model);
        int64_t hour = list->t / FR_SCORELOG_HOUR_MS, first = list->t;
        entry_t *rest = NULL, **rtail = &rest;
        size_t n = 0;
        fr_buf_reset(&b);
        for (entry_t *e = list, *next; e; e = next) {
            next = e->next;
            if (!strcmp(e->model, model) && e->t / FR_SCORELOG_HOUR_MS == hour) {
                fr_buf_add(&b, e->line, e->len);
                fr_buf_addc(&b, '\n');
                n++;
                free(e);
            } else {
                e->next = NULL;
                *rtail = e;
                rtail = &e->next;
            }
        }
        list = rest;
        char group[FR_CONFIG_MAX_NAME + 32], key[64];
        group_name(group, sizeof group, model, first);
        snprintf(key, sizeof key, "%015" PRId64 "-%ld-%" PRIu64, first < 0 ? (int64_t)0 : first,
                 (long)getpid(), l->seq++);
        int rc = fr_store_kv_put(l->store, FR_SCORELOG_NS, group, key, b.p, b.len);
        pthread_mutex_lock(&l->mu);
        if (rc) {
            if (!l->st.write_errors)
                fr_warn("score log: writing to the store failed: %s (entries dropped)",
                        fr_strerror(rc));
            l->st.write_errors++;
            l->st.dropped += n;
        } else {
            l->st.written += n;
        }
        pthread_mutex_unlock(&l->mu);
    }
    fr_buf_destroy(&b);
}

/* Deletes the groups of hours past retention (those of every model). */
static void prune(fr_scorelog_t *l, int64_t now)
{
    if (l->retention_ms <= 0)
        return;
    int64_t keep_from = (now - l->retention_ms) / FR_SCORELOG_HOUR_MS;
    if (keep_from <= l->pruned_hour)
        return;
    fr_store_kv_names_t groups = {0};
    if (fr_store_kv_list(l->store, FR_SCORELOG_NS, NULL, NULL, &groups) == 0) {
        for (size_t i = 0; i < groups.n; i++) {
            const char *at = strrchr(groups.v[i], '@');
            char *end;
            long long h = at ? strtoll(at + 1, &end, 10) : 0;
            if (!at || *end || h >= keep_from)
                continue;
            fr_store_kv_names_t keys = {0};
            if (fr_store_kv_list(l->store, FR_SCORELOG_NS, groups.v[i], NULL, &keys) == 0)
                for (size_t k = 0; k < keys.n; k++)
                    fr_store_kv_del(l->store, FR_SCORELOG_NS, groups.v[i], keys.v[k]);
            fr_store_kv_names_free(&keys);
        }
        l->pruned_hour = keep_from;
    }
    fr_store_kv_names_free(&groups);
}

static void *writer_main(void *arg)
{
    fr_scorelog_t *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (!l->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += FR_SCORELOG_FLUSH_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        entry_t *list = l->head;
        l->head = l->tail = NULL;
        l->n = 0;
        l->bytes = 0;
        int stop = l->stopping;
        pthread_mutex_unlock(&l->mu);
        if (list)
            store_batch(l, list);
        prune(l, fr_now_ms());
        pthread_mutex_lock(&l->mu);
        if (stop && !l->head)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int fr_scorelog_scan(fr_store_t *store, const char *model, int64_t from_ms, int64_t to_ms,
                     int (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    if (to_ms <= from_ms)
        return 0;
    int64_t h0 = from_ms / FR_SCORELOG_HOUR_MS, h1 = (to_ms - 1) / FR_SCORELOG_HOUR_MS;
    for (int64_t h = h0; h <= h1; h++) {
        char group[FR_CONFIG_MAX_NAME + 32];
        group_name(group, sizeof group, model, h * FR_SCORELOG_HOUR_MS);
        fr_store_kv_names_t keys = {0};
        int rc = fr_store_kv_list(store, FR_SCORELOG_NS, group, NULL, &keys);
        if (rc == FR_EINVAL) {
            fr_store_kv_names_free(&keys);
            return rc;
        }
        for (size_t k = 0; !rc && k < keys.n; k++) {
            void *val = NULL;
            size_t vlen = 0;
            rc = fr_store_kv_get(store, FR_SCORELOG_NS, group, keys.v[k], &val, &vlen);
            if (rc == FR_ENOTFOUND) {
                rc = 0; /* pruned meanwhile */
                continue;
            }
            const char *p = val, *end = p + (rc ? 0 : vlen);
            while (!rc && p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (len)
                    rc = fn(ctx, p, len);
                p += len + 1;
            }
            free(val);
        }
        fr_store_kv_names_free(&keys);
        if (rc)
            return rc;
    }
    return 0;
}
