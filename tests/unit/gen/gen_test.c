/*
 * Unit tests of the synthetic event generator (src/gen/gen.c, gen_clicks.c):
 * determinism, the shape of the transaction stream, fraud bursts and their
 * chargebacks (every fraud transaction labelled once, delays, order, false
 * chargebacks), that fraud shows in what a card did just before (windowed
 * features) more than in a payment's own fields, the drift switch, and the
 * clickstream's learnable purchase propensity.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "gen/gen.c"        /* statics: zipf sampling, countries[], card_profile, last_fraud */
#include "gen/gen_clicks.c" /* statics: cats[] */

#define NOW 1700000000000LL

/* n events, one per line, at times NOW + i (or NOW when fixed), each
 * after the labels due by then (when labels is set). */
static void make_opts(const fr_gen_opts_t *o, size_t n, int fixed, int labels, fr_buf_t *out)
{
    fr_gen_t *g = fr_gen_new(o);
    cr_assert_not_null(g);
    fr_buf_init(out, (size_t)1 << 30);
    for (size_t i = 0; i < n; i++) {
        int64_t now = fixed ? NOW : NOW + (int64_t)i;
        while (labels && fr_gen_due(g, now, out) == 1)
            cr_assert_eq(fr_buf_addc(out, '\n'), 0);
        cr_assert_eq(fr_gen_next(g, now, out), 0);
        cr_assert_eq(fr_buf_addc(out, '\n'), 0);
    }
    fr_gen_free(g);
}

static void make(const fr_gen_opts_t *o, size_t n, int fixed, fr_buf_t *out)
{
    make_opts(o, n, fixed, 0, out);
}

Test(gen, same_seed_same_events_other_seed_other_events)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 42;
    o.label_delay_min_ms = 0;
    o.label_delay_max_ms = 5000;
    o.false_chargeback_rate = 0.01;
    fr_buf_t a, b, c;
    make_opts(&o, 20000, 0, 1, &a);
    make_opts(&o, 20000, 0, 1, &b);
    o.seed = 43;
    make_opts(&o, 20000, 0, 1, &c);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.p, b.p, a.len), 0);
    cr_assert_not_null(strstr(a.p, "\"is_fraud\":1"), "no label in 20000 events");
    cr_assert(a.len != c.len || memcmp(a.p, c.p, a.len) != 0);
    /* the first lines differ too, not just somewhere */
    cr_assert_neq(strncmp(a.p, c.p, (size_t)(strchr(a.p, '\n') - a.p)), 0);
    fr_buf_destroy(&a);
    fr_buf_destroy(&b);
    fr_buf_destroy(&c);
    /* clicks too */
    o = fr_gen_opts_default();
    o.kind = FR_GEN_CLICKS;
    make(&o, 5000, 0, &a);
    make(&o, 5000, 0, &b);
    cr_assert(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    fr_buf_destroy(&a);
    fr_buf_destroy(&b);
}

/* The 16 hex digits of a txn_id "t...", as a number. */
static uint64_t txn_hex(const char *id)
{
    cr_assert(id && id[0] == 't' && strlen(id) == 17, "txn_id %s", id ? id : "(none)");
    uint64_t v = 0;
    for (int i = 1; i <= 16; i++) {
        char c = id[i];
        cr_assert((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "txn_id %s", id);
        v = v * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(gen, every_event_is_typed_json_within_the_jitter)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 7;
    o.jitter_ms = 2000;
    o.fraud_rate = 0.05; /* many bursts, so their events are checked too */
    fr_gen_t *g = fr_gen_new(&o);
    cr_assert_not_null(g);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    int64_t min_off = 0, max_off = -1;
    size_t n = 50000;
    uint64_t *ids = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        int64_t now = NOW + (int64_t)i / 10;
        fr_buf_reset(&b);
        cr_assert_eq(fr_gen_next(g, now, &b), 0);
        cr_assert(b.len > 0 && b.len < FR_GEN_MAX_EVENT);
        cr_assert_null(memchr(b.p, '\n', b.len));
        json_error_t je;
        json_t *j = json_loadb(b.p, b.len, 0, &je);
        cr_assert_not_null(j, "%s: %s", b.p, je.text);
        cr_assert(json_is_object(j));
        const char *card = json_string_value(json_object_get(j, "card_id"));
        const char *merch = json_string_value(json_object_get(j, "merchant_id"));
        json_t *amount = json_object_get(j, "amount"), *ts = json_object_get(j, "ts");
        json_t *country = json_object_get(j, "country");
        cr_assert_not_null(card, "%s", b.p);
        cr_assert_not_null(merch, "%s", b.p);
        cr_assert(card[0] == 'c' && strlen(card) == 7, "%s", card);
        cr_assert(merch[0] == 'm' && strlen(merch) == 5, "%s", merch);
        unsigned long cn = strtoul(card + 1, NULL, 10), mn = strtoul(merch + 1, NULL, 10);
        cr_assert(cn >= 1 && cn <= 100000, "%s", card);
        cr_assert(mn >= 1 && mn <= 5000, "%s", merch);
        cr_assert(json_is_real(amount), "%s", b.p);
        double a = json_real_value(amount);
        cr_assert(a >= 0.5 && a <= 50000, "%s", b.p);
        cr_assert_float_eq(a * 100, round(a * 100), 1e-6, "%s", b.p);
        cr_assert(json_is_integer(ts), "%s", b.p);
        int64_t t = json_integer_value(ts);
        cr_assert(t >= now - 2000 && t <= now, "%s at %lld", b.p, (long long)now);
        if (now - t < min_off || i == 0)
            min_off = now - t;
        if (now - t > max_off)
            max_off = now - t;
        if (country) {
            cr_assert(json_is_string(country), "%s", b.p);
            cr_assert_eq(strlen(json_string_value(country)), 2);
        }
        ids[i] = txn_hex(json_string_value(json_object_get(j, "txn_id")));
        cr_assert_eq(json_object_size(j), country ? 6u : 5u, "%s", b.p);
        json_decref(j);
    }
    /* the jitter spans its range, so events really arrive out of order */
    cr_assert(min_off <= 10 && max_off >= 1990, "%lld..%lld", (long long)min_off,
              (long long)max_off);
    /* every transaction has its own id */
    qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 1; i < n; i++)
        cr_assert_neq(ids[i], ids[i - 1], "txn_id repeated");
    free(ids);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

Test(gen, zero_jitter_is_now)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.jitter_ms = 0;
    fr_gen_t *g = fr_gen_new(&o);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    for (int i = 0; i < 1000; i++) {
        fr_buf_reset(&b);
        fr_gen_next(g, NOW, &b);
        cr_assert_not_null(strstr(b.p, "\"ts\":1700000000000}"), "%s", b.p);
    }
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

/* Copies the line at *cur into line (NUL-terminated, no newline) and moves
 * *cur past it; 0 at the end.  Lines are searched one at a time because
 * sanitizers make strstr on a long buffer walk all of it. */
static int next_line(const char **cur, char *line, size_t size)
{
    const char *l = *cur;
    if (!*l)
        return 0;
    const char *nl = strchr(l, '\n');
    cr_assert_not_null(nl);
    size_t n = (size_t)(nl - l);
    cr_assert(n < size);
    memcpy(line, l, n);
    line[n] = '\0';
    *cur = nl + 1;
    return 1;
}

static unsigned long field_num(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    cr_assert_not_null(p, "%s in %.100s", key, line);
    return strtoul(p + strlen(key), NULL, 10);
}

static int by_count_desc(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Share of all events made by the busiest 1% of ids 1..n. */
static double top1_share(unsigned *per, size_t n, size_t events)
{
    qsort(per + 1, n, sizeof *per, by_count_desc);
    size_t top = 0;
    for (size_t i = 1; i <= n / 100; i++)
        top += per[i];
    return (double)top / (double)events;
}

Test(gen, card_and_merchant_activity_is_skewed)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 99;
    size_t n = 200000;
    fr_buf_t b;
    make(&o, n, 1, &b);
    unsigned *cards = calloc(o.cards + 1, sizeof *cards);
    unsigned *merch = calloc(o.merchants + 1, sizeof *merch);
    size_t lines = 0, distinct = 0;
    char l[FR_GEN_MAX_EVENT];
    for (const char *cur = b.p; next_line(&cur, l, sizeof l); lines++) {
        unsigned long c = field_num(l, "\"card_id\":\"c");
        unsigned long m = field_num(l, "\"merchant_id\":\"m");
        cr_assert(c >= 1 && c <= o.cards);
        cr_assert(m >= 1 && m <= o.merchants);
        if (!cards[c]++)
            distinct++;
        merch[m]++;
    }
    cr_assert_eq(lines, n);
    /* the busiest card is c000001, yet no single card dominates */
    unsigned max = 0;
    for (size_t c = 1; c <= o.cards; c++)
        max = cards[c] > max ? cards[c] : max;
    cr_assert(cards[1] >= max * 9 / 10, "c000001 made %u, the busiest %u", cards[1], max);
    cr_assert(max < n / 20, "busiest card has %u of %zu events", max, n);
    /* many cards are active, but the top 1% carry far more than 1% */
    cr_assert(distinct > 20000, "%zu distinct cards", distinct);
    double cs = top1_share(cards, o.cards, n), ms = top1_share(merch, o.merchants, n);
    cr_log_info("top 1%% of cards: %.1f%% of events; of merchants: %.1f%%", cs * 100, ms * 100);
    cr_assert(cs > 0.30 && cs < 0.80, "top 1%% of cards make %.3f of events", cs);
    cr_assert(ms > 0.10, "top 1%% of merchants make %.3f of events", ms);
    free(cards);
    free(merch);
    fr_buf_destroy(&b);
}

Test(gen, zipf_sampler_follows_its_law)
{
    /* p(k) ~ (k + q)^-1.1 over 1..50, checked by chi-square */
    zipf_t z;
    zipf_init(&z, 50, 0.5);
    fr_gen_opts_t o = fr_gen_opts_default();
    fr_gen_t *g = fr_gen_new(&o);
    double expect[51], sum = 0;
    for (int k = 1; k <= 50; k++)
        sum += expect[k] = pow(k + 0.5, -1.1);
    size_t n = 1000000, got[51] = {0};
    for (size_t i = 0; i < n; i++) {
        uint64_t k = zipf_main(&g->r, &z);
        cr_assert(k >= 1 && k <= 50);
        got[k]++;
    }
    double chi2 = 0;
    for (int k = 1; k <= 50; k++) {
        double e = expect[k] / sum * (double)n;
        chi2 += (got[k] - e) * (got[k] - e) / e;
    }
    /* 49 degrees of freedom: the 99.9th percentile is about 85 */
    cr_assert(chi2 < 85, "chi2 = %.1f", chi2);
    /* the same with a large offset, as the card law has */
    zipf_init(&z, 50, 20);
    sum = 0;
    for (int k = 1; k <= 50; k++)
        sum += expect[k] = pow(k + 20.0, -1.1);
    memset(got, 0, sizeof got);
    for (size_t i = 0; i < n; i++)
        got[zipf_main(&g->r, &z)]++;
    chi2 = 0;
    for (int k = 1; k <= 50; k++) {
        double e = expect[k] / sum * (double)n;
        chi2 += (got[k] - e) * (got[k] - e) / e;
    }
    cr_assert(chi2 < 85, "chi2 = %.1f", chi2);
    /* a one-element law always answers 1 */
    zipf_init(&z, 1, 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(zipf_main(&g->r, &z), 1);
    fr_gen_free(g);
}

Test(gen, zipf_squeeze_never_accepts_a_rejected_draw)
{
    /* x >= k - sc must lie in the accepted part of every cell k >= 2 */
    const double qs[] = {0, 0.2, 1, 20, 2000};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        zipf_t z;
        zipf_init(&z, 1000000, qs[i]);
        for (double k = 2; k < 1000000; k = k < 5000 ? k + 1 : k * 1.01) {
            double kk = floor(k);
            double edge = zHinv(&z, zH(&z, kk + 0.5) - zh(&z, kk));
            cr_assert(edge <= kk - z.sc + 1e-9, "q %g k %g: edge %.12f, squeeze %.12f", qs[i],
                      kk, edge, kk - z.sc);
        }
    }
}

Test(gen, country_is_sometimes_missing_and_mostly_us)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 5;
    size_t n = 100000, missing = 0, us = 0, other = 0;
    fr_buf_t b;
    make(&o, n, 0, &b);
    char l[FR_GEN_MAX_EVENT];
    for (const char *cur = b.p; next_line(&cur, l, sizeof l);) {
        const char *c = strstr(l, "\"country\":\"");
        if (!c)
            missing++;
        else if (!strncmp(c + 11, "US\"", 3))
            us++;
        else
            other++;
    }
    double m = (double)missing / (double)n;
    cr_assert(m > 0.01 && m < 0.04, "country missing in %.4f of events", m);
    cr_assert(us > other, "US %zu, others %zu", us, other);
    cr_assert(other > n / 5, "others %zu", other);
    fr_buf_destroy(&b);
}

/* ---- fraud and labels over a simulated history ---- */

typedef struct tx {
    int64_t ts;
    uint64_t card, id;
    double amount;
    int country;   /* index in countries[], or -1 */
    int fraud;     /* the generator's truth */
    int labels;    /* chargebacks seen for it */
    int64_t label_ts;
    size_t label_at; /* position in the stream of its (first) label */
} tx_t;

typedef struct hist {
    tx_t *tx;
    size_t n;
    uint64_t *ids; /* sorted ids, and the transaction of each */
    size_t *idx;
    size_t nlabels, stream_len;
} hist_t;

static int country_index(const char *code)
{
    for (size_t i = 0; i < NCOUNTRIES; i++)
        if (!strncmp(countries[i].code, code, 2))
            return (int)i;
    cr_assert_fail("unknown country %s", code);
    return -1;
}

static size_t find_tx(const hist_t *h, uint64_t id)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    cr_assert(lo < h->n && h->ids[lo] == id, "a label for an unknown transaction");
    return h->idx[lo];
}

static const hist_t *sort_ctx;
static int by_id(const void *a, const void *b)
{
    uint64_t x = sort_ctx->tx[*(const size_t *)a].id, y = sort_ctx->tx[*(const size_t *)b].id;
    return x < y ? -1 : x > y;
}

/*
 * n transactions at step_ms apart from NOW, with the labels due before
 * each, then those due by the end.  Checks every label on the way: it
 * names a transaction made before it, is released only once due, in ts
 * order, with a delay within the options.
 */
static void simulate(const fr_gen_opts_t *o, size_t n, int64_t step_ms, hist_t *h)
{
    fr_gen_t *g = fr_gen_new(o);
    cr_assert_not_null(g);
    memset(h, 0, sizeof *h);
    h->tx = calloc(n, sizeof *h->tx);
    h->ids = calloc(n, sizeof *h->ids);
    h->idx = calloc(n, sizeof *h->idx);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    /* labels are checked at the end, once ids can be looked up */
    typedef struct {
        uint64_t id;
        int64_t ts, due;
        size_t at;
    } lab_t;
    size_t nl = 0, capl = 1024;
    lab_t *labs = malloc(capl * sizeof *labs);
    int64_t end = NOW + (int64_t)n * step_ms;
    for (size_t i = 0; i <= n; i++) {
        /* at the end, every label with ts <= end */
        int64_t now = i < n ? NOW + (int64_t)i * step_ms : end + fr_gen_label_lag(g);
        for (;;) {
            fr_buf_reset(&b);
            int rc = fr_gen_due(g, now, &b);
            cr_assert(rc == 0 || rc == 1);
            if (!rc)
                break;
            json_t *j = json_loadb(b.p, b.len, 0, NULL);
            cr_assert_not_null(j, "%s", b.p);
            cr_assert_eq(json_object_size(j), 3u, "%s", b.p);
            cr_assert_eq(json_integer_value(json_object_get(j, "is_fraud")), 1, "%s", b.p);
            if (nl == capl)
                labs = realloc(labs, (capl *= 2) * sizeof *labs);
            labs[nl].id = txn_hex(json_string_value(json_object_get(j, "txn_id")));
            labs[nl].ts = json_integer_value(json_object_get(j, "ts"));
            labs[nl].due = now;
            labs[nl].at = h->stream_len++;
            cr_assert(labs[nl].ts <= now, "a label released before its time");
            cr_assert(nl == 0 || labs[nl].ts >= labs[nl - 1].ts, "labels out of ts order");
            nl++;
            json_decref(j);
        }
        if (i == n)
            break;
        fr_buf_reset(&b);
        cr_assert_eq(fr_gen_next(g, now, &b), 0);
        json_t *j = json_loadb(b.p, b.len, 0, NULL);
        cr_assert_not_null(j, "%s", b.p);
        tx_t *t = &h->tx[i];
        t->ts = json_integer_value(json_object_get(j, "ts"));
        t->card = strtoull(json_string_value(json_object_get(j, "card_id")) + 1, NULL, 10);
        t->amount = json_real_value(json_object_get(j, "amount"));
        const char *c = json_string_value(json_object_get(j, "country"));
        t->country = c ? country_index(c) : -1;
        t->id = txn_hex(json_string_value(json_object_get(j, "txn_id")));
        t->fraud = g->last_fraud;
        t->label_at = SIZE_MAX;
        h->stream_len++;
        json_decref(j);
    }
    h->n = n;
    for (size_t i = 0; i < n; i++)
        h->idx[i] = i;
    sort_ctx = h;
    qsort(h->idx, n, sizeof *h->idx, by_id);
    for (size_t i = 0; i < n; i++)
        h->ids[i] = h->tx[h->idx[i]].id;
    for (size_t i = 0; i < nl; i++) {
        tx_t *t = &h->tx[find_tx(h, labs[i].id)];
        int64_t delay = labs[i].ts - t->ts;
        cr_assert(delay >= o->label_delay_min_ms && delay <= o->label_delay_max_ms,
                  "label delay %lld", (long long)delay);
        if (!t->labels++) {
            t->label_ts = labs[i].ts;
            t->label_at = labs[i].at;
        }
    }
    h->nlabels = nl;
    /* what is left is not due yet */
    cr_assert_eq(fr_gen_pending(g) > 0 || nl > 0, 1);
    fr_buf_reset(&b);
    if (fr_gen_pending(g)) {
        cr_assert_eq(fr_gen_due(g, end + fr_gen_label_lag(g), &b), 0);
        cr_assert_eq(fr_gen_due(g, INT64_MAX, &b), 1);
    }
    free(labs);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

static void hist_free(hist_t *h)
{
    free(h->tx);
    free(h->ids);
    free(h->idx);
}

Test(gen, every_fraud_transaction_gets_one_chargeback_after_it)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 21;
    o.fraud_rate = 0.02;
    o.false_chargeback_rate = 0;
    o.label_delay_min_ms = 30000;
    o.label_delay_max_ms = 90000;
    hist_t h;
    size_t n = 60000;
    simulate(&o, n, 100, &h);
    size_t fraud = 0, labelled = 0, mature = 0;
    int64_t end = NOW + (int64_t)n * 100, lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        tx_t *t = &h.tx[i];
        fraud += t->fraud;
        cr_assert(t->labels <= 1, "a transaction charged back %d times", t->labels);
        cr_assert(!t->labels || t->fraud, "a legitimate transaction charged back at rate 0");
        if (t->labels) {
            labelled++;
            cr_assert(t->label_at > i, "a chargeback before its transaction in the stream");
            int64_t d = t->label_ts - t->ts;
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* every fraud transaction whose label was due by the end has it */
        if (t->fraud && t->ts + o.label_delay_max_ms <= end) {
            mature++;
            cr_assert_eq(t->labels, 1, "fraud transaction %zu not charged back", i);
        }
    }
    double share = (double)fraud / (double)n;
    cr_log_info("fraud %zu of %zu (%.4f), labelled %zu, delays %lld..%lld ms", fraud, n, share,
                labelled, (long long)lo, (long long)hi);
    cr_assert(share > 0.016 && share < 0.024, "fraud share %.4f at rate 0.02", share);
    cr_assert(mature > fraud * 9 / 10);
    cr_assert_eq(labelled, h.nlabels);
    /* the delays spread over their range */
    cr_assert(lo < 35000 && hi > 85000, "delays %lld..%lld", (long long)lo, (long long)hi);
    hist_free(&h);
}

Test(gen, false_chargebacks_follow_their_rate)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 22;
    o.false_chargeback_rate = 0.01;
    o.label_delay_min_ms = 0;
    o.label_delay_max_ms = 1000;
    hist_t h;
    size_t n = 200000;
    simulate(&o, n, 10, &h);
    size_t legit = 0, charged = 0, fraud = 0, fraud_charged = 0;
    for (size_t i = 0; i + 200 < n; i++) { /* the last ones may not be due */
        if (h.tx[i].fraud) {
            fraud++;
            fraud_charged += h.tx[i].labels;
        } else {
            legit++;
            charged += h.tx[i].labels;
        }
    }
    double r = (double)charged / (double)legit;
    cr_log_info("false chargebacks: %zu of %zu legitimate (%.5f)", charged, legit, r);
    /* binomial: sd = sqrt(0.01 * 0.99 / ~199000) = 0.00022; 5 sd either side */
    cr_assert(r > 0.0089 && r < 0.0111, "false chargeback share %.5f at 0.01", r);
    cr_assert_eq(fraud_charged, fraud);
    hist_free(&h);
}

/*
 * Learnability without a model.  Over two simulated days (2 payments a
 * second), with labels as the stream carries them (false chargebacks
 * included), the chargeback rate among payments whose card made >= 2
 * payments in the 5 minutes before, and among payments less than a minute
 * after the card's previous one, against the others: what the card_txn
 * view's txn_count_5m and since_last_5m see.  (A payment's own fields are
 * checked next: they overlap.)
 */
Test(gen, fraud_shows_in_windowed_features, .timeout = 120)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 23;
    o.cards = 20000;
    o.label_delay_min_ms = 1000;
    o.label_delay_max_ms = 600000;
    hist_t h;
    size_t n = 345600;
    int64_t step = 500;
    simulate(&o, n, step, &h);
    /* per card: the times of its last payments, newest last */
    enum { KEEP = 8 };
    typedef struct past {
        int64_t ts[KEEP];
        size_t n;
    } past_t;
    past_t *past = calloc(o.cards + 1, sizeof *past);
    size_t burst_n = 0, burst_pos = 0, calm_n = 0, calm_pos = 0;
    size_t quick_n = 0, quick_pos = 0, slow_n = 0, slow_pos = 0;
    int64_t end = NOW + (int64_t)n * step;
    for (size_t i = 0; i < n; i++) {
        tx_t *t = &h.tx[i];
        past_t *p = &past[t->card];
        size_t kept = p->n < KEEP ? p->n : KEEP, recent = 0;
        int64_t newest = INT64_MIN;
        for (size_t k = 0; k < kept; k++) {
            int64_t ts = p->ts[k];
            recent += ts > t->ts - 300000 && ts <= t->ts;
            if (ts <= t->ts && ts > newest)
                newest = ts;
        }
        p->ts[p->n++ % KEEP] = t->ts;
        if (t->ts + o.label_delay_max_ms > end)
            continue; /* its label may not have come */
        size_t y = t->labels > 0;
        if (recent >= 2) {
            burst_n++;
            burst_pos += y;
        } else {
            calm_n++;
            calm_pos += y;
        }
        if (newest != INT64_MIN && t->ts - newest < 60000) {
            quick_n++;
            quick_pos += y;
        } else {
            slow_n++;
            slow_pos += y;
        }
    }
    double burst = (double)burst_pos / (double)burst_n, calm = (double)calm_pos / (double)calm_n;
    double quick = (double)quick_pos / (double)quick_n, slow = (double)slow_pos / (double)slow_n;
    cr_log_info("chargeback rate: >= 2 payments in the 5 min before %.4f (%zu), else %.4f (%zu); "
                "< 1 min after the previous one %.4f (%zu), else %.4f (%zu)",
                burst, burst_n, calm, calm_n, quick, quick_n, slow, slow_n);
    cr_assert(burst_n > 10000 && quick_n > 10000);
    cr_assert(burst > 2.5 * calm, "burst %.4f vs %.4f", burst, calm);
    cr_assert(quick > 4 * slow, "quick %.4f vs %.4f", quick, slow);
    free(past);
    hist_free(&h);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A payment's own fields are a weaker signal: legitimate cards pay abroad
 * (travellers) and pay large amounts (high spenders), and fraud amounts
 * overlap theirs. */
Test(gen, legitimate_cards_travel_and_spend_like_fraud)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 24;
    o.fraud_rate = 0.02;
    fr_gen_t *g = fr_gen_new(&o);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    size_t n = 200000, nl = 0, nf = 0, legit_abroad = 0, fraud_abroad = 0, legit_big = 0;
    double *legit = malloc(n * sizeof *legit), *fraud = malloc(n * sizeof *fraud);
    for (size_t i = 0; i < n; i++) {
        fr_buf_reset(&b);
        /* 3 days, so that travellers' trips come and go */
        cr_assert_eq(fr_gen_next(g, NOW + (int64_t)i * 1296, &b), 0);
        unsigned long card = field_num(b.p, "\"card_id\":\"c");
        double amount = strtod(strstr(b.p, "\"amount\":") + 9, NULL);
        const char *c = strstr(b.p, "\"country\":\"");
        if (!c)
            continue;
        profile_t p;
        card_profile(g, card, 0, &p);
        int abroad = strncmp(c + 11, countries[p.home].code, 2) != 0;
        if (g->last_fraud) {
            fraud[nf++] = amount;
            fraud_abroad += (size_t)abroad;
        } else {
            legit[nl++] = amount;
            legit_abroad += (size_t)abroad;
            legit_big += amount >= 200;
        }
    }
    qsort(legit, nl, sizeof *legit, cmp_double);
    double p95 = legit[nl * 95 / 100];
    size_t below = 0;
    for (size_t i = 0; i < nf; i++)
        below += fraud[i] <= p95;
    double la = (double)legit_abroad / (double)nl, fa = (double)fraud_abroad / (double)nf;
    cr_log_info("abroad: legitimate %.3f, fraud %.3f; legitimate >= $200: %.3f; fraud below the "
                "legitimate 95th percentile ($%.2f): %.3f",
                la, fa, (double)legit_big / (double)nl, p95, (double)below / (double)nf);
    cr_assert(la > 0.05 && la < 0.25, "legitimate payments abroad %.3f", la);
    cr_assert(fa > 0.6 && fa < 0.9, "fraud payments abroad %.3f", fa);
    cr_assert((double)legit_big / (double)nl > 0.05);
    cr_assert((double)below / (double)nf > 0.3, "fraud amounts above nearly all legitimate ones");
    free(legit);
    free(fraud);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

Test(gen, a_burst_is_several_events_of_one_card)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.fraud_rate = 1; /* every event that can be is a burst event */
    o.seed = 3;
    fr_gen_t *g = fr_gen_new(&o);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(fr_gen_next(g, NOW, &b), 0);
        fr_buf_addc(&b, '\n');
    }
    /* cards repeat within bursts far more than activity alone would */
    unsigned *seen = calloc(o.cards + 1, sizeof *seen);
    size_t repeats = 0;
    char l[FR_GEN_MAX_EVENT];
    for (const char *cur = b.p; next_line(&cur, l, sizeof l);)
        if (seen[field_num(l, "\"card_id\":\"c")]++)
            repeats++;
    cr_assert(repeats > 1000, "%zu repeats", repeats);
    free(seen);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

/* From shift_at_ms on: amounts three times larger, home countries from
 * another mix; before it, nothing changes. */
Test(gen, the_shift_changes_amounts_and_countries_from_its_time)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 25;
    o.jitter_ms = 0;
    fr_buf_t plain, shifted;
    size_t n = 100000;
    make(&o, n, 0, &plain);
    o.shift_at_ms = NOW + (int64_t)n / 2;
    make(&o, n, 0, &shifted);
    /* the first half is byte for byte the same */
    const char *a = plain.p, *s = shifted.p;
    char la[FR_GEN_MAX_EVENT], ls[FR_GEN_MAX_EVENT];
    double before[2] = {0}, after[2] = {0};
    size_t us[2][2] = {{0}}, cnt[2][2] = {{0}};
    for (size_t i = 0; i < n; i++) {
        cr_assert(next_line(&a, la, sizeof la) && next_line(&s, ls, sizeof ls));
        int late = i >= n / 2;
        if (!late)
            cr_assert_str_eq(la, ls);
        const char *lines[2] = {la, ls};
        for (int k = 0; k < 2; k++) {
            double amount = strtod(strstr(lines[k], "\"amount\":") + 9, NULL);
            (late ? after : before)[k] += log(amount);
            const char *c = strstr(lines[k], "\"country\":\"");
            if (c && late) {
                cnt[k][1]++;
                us[k][1] += !strncmp(c + 11, "US", 2);
            }
        }
    }
    double gm_plain = exp(after[0] / (double)(n / 2)), gm_shift = exp(after[1] / (double)(n / 2));
    double us_plain = (double)us[0][1] / (double)cnt[0][1];
    double us_shift = (double)us[1][1] / (double)cnt[1][1];
    cr_log_info("geometric mean amount after the shift: %.2f plain, %.2f shifted; US share %.3f "
                "plain, %.3f shifted",
                gm_plain, gm_shift, us_plain, us_shift);
    cr_assert(gm_shift / gm_plain > 2.5 && gm_shift / gm_plain < 3.5);
    cr_assert(us_plain > 0.4 && us_shift < 0.15, "US %.3f -> %.3f", us_plain, us_shift);
    fr_buf_destroy(&plain);
    fr_buf_destroy(&shifted);
}

Test(gen, a_full_buffer_is_left_unchanged)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.false_chargeback_rate = 1; /* a label for every transaction */
    o.label_delay_min_ms = o.label_delay_max_ms = 0;
    o.jitter_ms = 0;
    fr_gen_t *g = fr_gen_new(&o);
    cr_assert_not_null(g);
    cr_assert_eq(fr_gen_label_lag(g), 0);
    fr_buf_t b;
    fr_buf_init(&b, 40);
    cr_assert_eq(fr_buf_addstr(&b, "prefix"), 0);
    cr_assert_eq(fr_gen_next(g, NOW, &b), FR_ELIMIT);
    cr_assert_eq(b.len, 6);
    cr_assert_str_eq(b.p, "prefix");
    /* its label is made all the same, and stays until it fits */
    cr_assert_eq(fr_gen_pending(g), 1);
    cr_assert_eq(fr_gen_due(g, NOW, &b), FR_ELIMIT);
    cr_assert_eq(b.len, 6);
    cr_assert_eq(fr_gen_pending(g), 1);
    fr_buf_t big;
    fr_buf_init(&big, 4096);
    cr_assert_eq(fr_gen_due(g, NOW, &big), 1);
    cr_assert_eq(fr_gen_pending(g), 0);
    cr_assert_eq(fr_gen_due(g, NOW, &big), 0);
    fr_buf_destroy(&big);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

Test(gen, too_many_waiting_labels_stop_the_stream_unchanged)
{
    fr_gen_t *g = fr_gen_new(NULL);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    cr_assert_eq(fr_gen_next(g, NOW, &b), 0);
    /* pretend the heap is full: nothing is drawn, nothing is written */
    size_t n = g->nheap, cap = g->capheap;
    uint64_t made = g->n, s0 = g->r.s[0];
    g->nheap = g->capheap = FR_GEN_MAX_PENDING;
    fr_buf_reset(&b);
    cr_assert_eq(fr_gen_next(g, NOW, &b), FR_ELIMIT);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(g->n, made);
    cr_assert_eq(g->r.s[0], s0);
    g->nheap = n;
    g->capheap = cap;
    cr_assert_eq(fr_gen_next(g, NOW, &b), 0);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

Test(gen, options_out_of_range_are_refused)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.cards = 0;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.merchants = 0;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.fraud_rate = 1.5;
    cr_assert_null(fr_gen_new(&o));
    o.fraud_rate = NAN;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.false_chargeback_rate = -0.1;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.jitter_ms = -1;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.label_delay_min_ms = -1;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.label_delay_min_ms = 10;
    o.label_delay_max_ms = 9;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.label_delay_max_ms = FR_GEN_MAX_DELAY_MS + 1;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.kind = (fr_gen_kind_t)7;
    cr_assert_null(fr_gen_new(&o));
    o = fr_gen_opts_default();
    o.kind = FR_GEN_CLICKS;
    o.users = 0;
    cr_assert_null(fr_gen_new(&o));
    o.users = 10;
    o.items = 11;
    cr_assert_null(fr_gen_new(&o));
    o.items = 12;
    fr_gen_t *g = fr_gen_new(&o);
    cr_assert_not_null(g);
    fr_gen_free(g);
    fr_gen_free(NULL);
}

Test(gen, small_and_huge_populations)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.cards = 1;
    o.merchants = 1;
    fr_buf_t b;
    make(&o, 1000, 0, &b);
    char l[FR_GEN_MAX_EVENT];
    for (const char *cur = b.p; next_line(&cur, l, sizeof l);) {
        cr_assert_eq(strncmp(l, "{\"card_id\":\"c000001\"", 20), 0, "%.80s", l);
        cr_assert_eq(field_num(l, "\"merchant_id\":\"m"), 1);
    }
    fr_buf_destroy(&b);
    o.cards = 1000000000000ull;
    o.merchants = 1000000000000ull;
    make(&o, 10000, 0, &b);
    size_t wide = 0;
    for (const char *cur = b.p; next_line(&cur, l, sizeof l);) {
        unsigned long long c = strtoull(strstr(l, "\"card_id\":\"c") + 12, NULL, 10);
        cr_assert(c >= 1 && c <= o.cards);
        wide += c > 999999;
    }
    cr_assert(wide > 5000, "%zu", wide);
    fr_buf_destroy(&b);
    o = fr_gen_opts_default();
    o.kind = FR_GEN_CLICKS;
    o.users = 1000000000000ull;
    o.items = 1000000000000ull;
    make(&o, 1000, 0, &b);
    for (const char *cur = b.p; next_line(&cur, l, sizeof l);)
        cr_assert_not_null(json_loads(l, JSON_DECODE_ANY, NULL), "%s", l);
    fr_buf_destroy(&b);
}

Test(gen, extreme_times_are_valid_json)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.false_chargeback_rate = 1;
    o.label_delay_min_ms = o.label_delay_max_ms = FR_GEN_MAX_DELAY_MS;
    fr_gen_t *g = fr_gen_new(&o);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    const int64_t times[] = {5, INT64_MIN, INT64_MIN + 1000, INT64_MAX, -1};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        fr_buf_reset(&b);
        cr_assert_eq(fr_gen_next(g, times[i], &b), 0);
        json_t *j = json_loadb(b.p, b.len, 0, NULL);
        cr_assert_not_null(j, "%s", b.p);
        int64_t t = json_integer_value(json_object_get(j, "ts"));
        cr_assert(t <= times[i] && (times[i] < INT64_MIN + 2000 || t >= times[i] - 2000), "%s",
                  b.p);
        json_decref(j);
    }
    /* labels saturate rather than wrap */
    fr_buf_reset(&b);
    size_t got = 0;
    while (fr_gen_due(g, INT64_MAX, &b) == 1) {
        got++;
        fr_buf_addc(&b, '\n');
    }
    cr_assert_eq(got, sizeof times / sizeof times[0]);
    char l[FR_GEN_MAX_EVENT];
    int64_t prev = INT64_MIN;
    for (const char *cur = b.p; next_line(&cur, l, sizeof l);) {
        json_t *j = json_loads(l, 0, NULL);
        cr_assert_not_null(j, "%s", l);
        int64_t t = json_integer_value(json_object_get(j, "ts"));
        cr_assert(t >= prev, "%s", l);
        prev = t;
        json_decref(j);
    }
    cr_assert_eq(prev, INT64_MAX);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

/* ---- the clickstream ---- */

static const char *const event_types[] = {"view", "click", "add_to_cart", "purchase"};

Test(gen, every_click_is_typed_json)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.kind = FR_GEN_CLICKS;
    o.seed = 31;
    cr_assert_eq(fr_gen_nsources(FR_GEN_CLICKS), 1);
    cr_assert_str_eq(fr_gen_source_name(FR_GEN_CLICKS, 0), "clicks");
    cr_assert_null(fr_gen_source_name(FR_GEN_CLICKS, 1));
    fr_gen_t *g = fr_gen_new(&o);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    size_t types[4] = {0};
    for (int i = 0; i < 50000; i++) {
        int64_t now = NOW + i * 50;
        fr_buf_reset(&b);
        cr_assert_eq(fr_gen_next(g, now, &b), 0);
        cr_assert(b.len < FR_GEN_MAX_EVENT);
        cr_assert_eq(fr_gen_due(g, INT64_MAX, &b), 0); /* no labels */
        json_t *j = json_loadb(b.p, b.len, 0, NULL);
        cr_assert_not_null(j, "%s", b.p);
        cr_assert_eq(json_object_size(j), 6u, "%s", b.p);
        const char *user = json_string_value(json_object_get(j, "user_id"));
        const char *item = json_string_value(json_object_get(j, "item_id"));
        const char *cat = json_string_value(json_object_get(j, "category"));
        const char *type = json_string_value(json_object_get(j, "event_type"));
        const char *uc = json_string_value(json_object_get(j, "user_category"));
        int64_t ts = json_integer_value(json_object_get(j, "ts"));
        cr_assert(user && item && cat && type && uc, "%s", b.p);
        cr_assert(user[0] == 'u' && strlen(user) == 7, "%s", b.p);
        unsigned long it = strtoul(item + 1, NULL, 10);
        cr_assert(item[0] == 'i' && it >= 1 && it <= o.items, "%s", b.p);
        /* an item's category is (id - 1) mod 12 */
        cr_assert_str_eq(cat, cats[(it - 1) % NCATS].name, "%s", b.p);
        char want[64];
        snprintf(want, sizeof want, "%s:%s", user, cat);
        cr_assert_str_eq(uc, want);
        int k = -1;
        for (int t = 0; t < 4; t++)
            if (!strcmp(type, event_types[t]))
                k = t;
        cr_assert(k >= 0, "%s", b.p);
        types[k]++;
        cr_assert(ts <= now && ts >= now - 2000);
        json_decref(j);
    }
    cr_log_info("views %zu, clicks %zu, carts %zu, purchases %zu", types[0], types[1], types[2],
                types[3]);
    /* a funnel: each step rarer than the one before, none missing */
    cr_assert(types[0] > types[1] && types[1] > types[2] && types[2] > types[3] && types[3] > 100);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}

typedef struct click {
    int64_t ts;
    uint64_t user;
    unsigned cat;
    int type;
} click_t;

static int type_of(const char *s)
{
    for (int t = 0; t < 4; t++)
        if (!strcmp(s, event_types[t]))
            return t;
    return -1;
}

/*
 * The purchase propensity a model can learn: for each event, whether the
 * same user buys within the next 30 minutes, by what the user did just
 * before: a cart in the same category in the last 10 minutes, a purchase in
 * the day before (per-user base rates), or neither.
 */
Test(gen, clicks_purchase_propensity_is_learnable, .timeout = 120)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.kind = FR_GEN_CLICKS;
    o.seed = 32;
    o.users = 5000;
    size_t n = 150000;
    int64_t step = 400; /* 2.5 events a second: about 17 hours */
    fr_gen_t *g = fr_gen_new(&o);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    click_t *c = calloc(n, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        fr_buf_reset(&b);
        cr_assert_eq(fr_gen_next(g, NOW + (int64_t)i * step, &b), 0);
        json_t *j = json_loadb(b.p, b.len, 0, NULL);
        c[i].ts = json_integer_value(json_object_get(j, "ts"));
        c[i].user = strtoull(json_string_value(json_object_get(j, "user_id")) + 1, NULL, 10);
        const char *cat = json_string_value(json_object_get(j, "category"));
        for (unsigned k = 0; k < NCATS; k++)
            if (!strcmp(cat, cats[k].name))
                c[i].cat = k;
        c[i].type = type_of(json_string_value(json_object_get(j, "event_type")));
        json_decref(j);
    }
    /* per user: the time of the next purchase after each event, by a
     * backward pass; the last cart per (user, category) and the last
     * purchase, by a forward pass */
    int64_t *next_buy = malloc(n * sizeof *next_buy);
    int64_t *user_next = malloc((o.users + 1) * sizeof *user_next);
    for (size_t u = 0; u <= o.users; u++)
        user_next[u] = INT64_MAX;
    for (size_t i = n; i-- > 0;) {
        next_buy[i] = user_next[c[i].user];
        if (c[i].type == 3)
            user_next[c[i].user] = c[i].ts;
    }
    int64_t(*last_cart)[NCATS] = malloc((o.users + 1) * sizeof *last_cart);
    int64_t *last_buy = malloc((o.users + 1) * sizeof *last_buy);
    for (size_t u = 0; u <= o.users; u++) {
        last_buy[u] = INT64_MIN / 2;
        for (size_t k = 0; k < NCATS; k++)
            last_cart[u][k] = INT64_MIN / 2;
    }
    size_t nn[3] = {0}, yy[3] = {0}; /* carted lately, bought lately, neither */
    int64_t end = c[n - 1].ts;
    for (size_t i = 0; i < n; i++) {
        const click_t *e = &c[i];
        if (e->ts + 1800000 <= end) {
            int y = next_buy[i] <= e->ts + 1800000;
            int g3 = e->ts - last_cart[e->user][e->cat] <= 600000 ? 0
                     : e->ts - last_buy[e->user] <= 86400000     ? 1
                                                                 : 2;
            nn[g3]++;
            yy[g3] += (size_t)y;
        }
        if (e->type == 2)
            last_cart[e->user][e->cat] = e->ts;
        if (e->type == 3)
            last_buy[e->user] = e->ts;
    }
    double r[3];
    for (int k = 0; k < 3; k++)
        r[k] = (double)yy[k] / (double)nn[k];
    cr_log_info("a purchase within 30 min: after a cart in the category in the last 10 min "
                "%.3f (%zu), after a purchase in the last day %.3f (%zu), else %.3f (%zu)",
                r[0], nn[0], r[1], nn[1], r[2], nn[2]);
    cr_assert(nn[0] > 1000 && nn[1] > 1000 && nn[2] > 1000);
    cr_assert(r[0] > 2 * r[2], "carted %.3f vs %.3f", r[0], r[2]);
    cr_assert(r[1] > 1.3 * r[2], "bought before %.3f vs %.3f", r[1], r[2]);
    free(last_cart);
    free(last_buy);
    free(next_buy);
    free(user_next);
    free(c);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}
