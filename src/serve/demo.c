/*
 * demo.c - the demo feeder (see demo.h).  Batches of NDJSON every 100 ms,
 * event times at "now", so the README's curl shows live features.  When
 * the configuration has a `chargebacks` source, the chargebacks the
 * generator releases (10 s to 5 min after their transactions) follow in a
 * batch of their own, after the transactions of the same round, in
 * event-time order.
 */
#include "serve/demo.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "gen/gen.h"
#include "serve/ingest.h"

struct fr_demo {
    const fr_config_t *cfg;
    fr_elog_t *log;
    int src;
    int labels; /* the chargebacks source, or -1 */
    double rate;
    fr_gen_t *gen;
    pthread_t th;
    int stop; /* read and written with __atomic */
};

static void ingest(fr_demo_t *d, int src, const fr_buf_t *body, fr_buf_t *out)
{
    fr_buf_reset(out);
    int status = fr_ingest(d->cfg, d->log, src, body->p, body->len, NULL, 0, out);
    if (status != 200)
        fr_warn("demo feeder: ingest into '%s' answered %d: %s", d->cfg->sources[src].name,
                status, out->p ? out->p : "");
}

static void *feed(void *arg)
{
    fr_demo_t *d = arg;
    fr_buf_t body, lbody, out;
    fr_buf_init(&body, (size_t)64 << 20);
    fr_buf_init(&lbody, (size_t)64 << 20);
    fr_buf_init(&out, (size_t)1 << 20);
    double carry = 0;
    uint64_t total = 0;
    while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
        carry += d->rate / 10.0;
        fr_buf_reset(&body);
        int64_t now = fr_now_ms();
        for (; carry >= 1; carry -= 1) {
            if (fr_gen_next(d->gen, now, &body) == 0)
                fr_buf_addc(&body, '\n');
        }
        fr_buf_reset(&lbody);
        while (fr_gen_due(d->gen, now, &lbody) == 1) {
            fr_buf_addc(&lbody, '\n');
            if (d->labels < 0)
                fr_buf_reset(&lbody); /* nowhere to go: dropped */
        }
        if (body.len)
            ingest(d, d->src, &body, &out);
        if (lbody.len)
            ingest(d, d->labels, &lbody, &out);
        if (++total % 300 == 0)
            fr_info("demo feeder: running at %.0f events/s", d->rate);
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    fr_buf_destroy(&body);
    fr_buf_destroy(&lbody);
    fr_buf_destroy(&out);
    return NULL;
}

int fr_demo_start(const fr_config_t *cfg, fr_elog_t *log, int src, double rate, uint64_t seed,
                  fr_demo_t **out)
{
    fr_demo_t *d = calloc(1, sizeof *d);
    if (!d)
        return FR_ENOMEM;
    d->cfg = cfg;
    d->log = log;
    d->src = src;
    d->labels = fr_config_source_index(cfg, "chargebacks");
    if (d->labels >= 0 && cfg->sources[d->labels].kafka.enabled)
        d->labels = -1; /* the feeder writes the embedded log only */
    d->rate = rate;
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = seed;
    d->gen = fr_gen_new(&o);
    if (!d->gen || pthread_create(&d->th, NULL, feed, d)) {
        fr_gen_free(d->gen);
        free(d);
        return FR_ENOMEM;
    }
    *out = d;
    return 0;
}

void fr_demo_stop(fr_demo_t *d)
{
    if (!d)
        return;
    __atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
    pthread_join(d->th, NULL);
    fr_gen_free(d->gen);
    free(d);
}
