/* Unit tests of the synthetic transaction generator (src/gen/gen.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "gen/gen.c" /* statics: zipf sampling, countries[] */

#define NOW 1700000000000LL

/* n events, one per line, at times NOW + i (or NOW when fixed). */
static void make(const fr_gen_opts_t *o, size_t n, int fixed, fr_buf_t *out)
{
    fr_gen_t *g = fr_gen_new(o);
    cr_assert_not_null(g);
    fr_buf_init(out, (size_t)1 << 30);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(fr_gen_next(g, fixed ? NOW : NOW + (int64_t)i, out), 0);
        cr_assert_eq(fr_buf_addc(out, '\n'), 0);
    }
    fr_gen_free(g);
}

Test(gen, same_seed_same_events_other_seed_other_events)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 42;
    fr_buf_t a, b, c;
    make(&o, 20000, 0, &a);
    make(&o, 20000, 0, &b);
    o.seed = 43;
    make(&o, 20000, 0, &c);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.p, b.p, a.len), 0);
    cr_assert(a.len != c.len || memcmp(a.p, c.p, a.len) != 0);
    /* the first lines differ too, not just somewhere */
    cr_assert_neq(strncmp(a.p, c.p, (size_t)(strchr(a.p, '\n') - a.p)), 0);
    fr_buf_destroy(&a);
    fr_buf_destroy(&b);
    fr_buf_destroy(&c);
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
    for (int i = 0; i < 50000; i++) {
        int64_t now = NOW + i / 10;
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
        cr_assert_eq(json_object_size(j), country ? 5u : 4u, "%s", b.p);
        json_decref(j);
    }
    /* the jitter spans its range, so events really arrive out of order */
    cr_assert(min_off <= 10 && max_off >= 1990, "%lld..%lld", (long long)min_off,
              (long long)max_off);
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
    cr_assert_eq(cards[1], max);
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
        uint64_t k = zipf_main(g, &z);
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
        got[zipf_main(g, &z)]++;
    chi2 = 0;
    for (int k = 1; k <= 50; k++) {
        double e = expect[k] / sum * (double)n;
        chi2 += (got[k] - e) * (got[k] - e) / e;
    }
    cr_assert(chi2 < 85, "chi2 = %.1f", chi2);
    /* a one-element law always answers 1 */
    zipf_init(&z, 1, 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(zipf_main(g, &z), 1);
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

/* Fraud bursts: cards that suddenly pay large amounts abroad, several
 * times; with fraud_rate 0 there are none. */
static size_t burst_like_events(double fraud_rate)
{
    fr_gen_opts_t o = fr_gen_opts_default();
    o.seed = 11;
    o.fraud_rate = fraud_rate;
    fr_gen_t *g = fr_gen_new(&o);
    cr_assert_not_null(g);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    size_t n = 100000, count = 0;
    for (size_t i = 0; i < n; i++) {
        fr_buf_reset(&b);
        cr_assert_eq(fr_gen_next(g, NOW + (int64_t)i, &b), 0);
        unsigned long card = field_num(b.p, "\"card_id\":\"c");
        double amount = strtod(strstr(b.p, "\"amount\":") + 9, NULL);
        const char *c = strstr(b.p, "\"country\":\"");
        profile_t p;
        card_profile(g, card, &p);
        if (c && strncmp(c + 11, countries[p.home].code, 2) != 0 && amount >= 200)
            count++;
    }
    fr_buf_destroy(&b);
    fr_gen_free(g);
    return count;
}

Test(gen, fraud_bursts_follow_the_fraud_rate)
{
    size_t none = burst_like_events(0), some = burst_like_events(0.01);
    /* normal travel spending can look like this too, but rarely */
    cr_log_info("large foreign events: %zu without fraud, %zu at 1%%", none, some);
    cr_assert(none < 300, "%zu", none);
    cr_assert(some > none + 600, "%zu vs %zu", some, none);
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
    /* with 100k cards, repeats of a card come from bursts */
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

Test(gen, a_full_buffer_is_left_unchanged)
{
    fr_gen_t *g = fr_gen_new(NULL);
    cr_assert_not_null(g);
    fr_buf_t b;
    fr_buf_init(&b, 40);
    cr_assert_eq(fr_buf_addstr(&b, "prefix"), 0);
    cr_assert_eq(fr_gen_next(g, NOW, &b), FR_ELIMIT);
    cr_assert_eq(b.len, 6);
    cr_assert_str_eq(b.p, "prefix");
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
    o.jitter_ms = -1;
    cr_assert_null(fr_gen_new(&o));
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
}

Test(gen, negative_times_are_valid_json)
{
    fr_gen_t *g = fr_gen_new(NULL);
    fr_buf_t b;
    fr_buf_init(&b, 4096);
    cr_assert_eq(fr_gen_next(g, 5, &b), 0);
    json_t *j = json_loadb(b.p, b.len, 0, NULL);
    cr_assert_not_null(j, "%s", b.p);
    int64_t t = json_integer_value(json_object_get(j, "ts"));
    cr_assert(t >= 5 - 2000 && t <= 5);
    json_decref(j);
    fr_buf_destroy(&b);
    fr_gen_free(g);
}
