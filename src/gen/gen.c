/*
 * gen.c - the synthetic event generator (see gen.h) and its fraud model;
 * the clickstream model is gen_clicks.c.
 *
 * Shape: nothing per card is stored.  A card's profile (home country,
 * amount distribution, favourite merchants, whether it travels) is
 * recomputed from a hash of (seed, card) each time the card is drawn, and a
 * traveller's trip on a given day from a hash of (card, day), so 10 cards or
 * 10^9 cost the same memory.  Skewed draws use the Zipf-Mandelbrot sampler
 * of gen_model.h, which needs no table either.
 *
 * What outlives an event: up to MAX_BURSTS open fraud bursts, each emitting
 * its next event once enough events (fast runs) or enough milliseconds
 * (slow runs) have gone by; and the chargebacks not yet due, in a binary
 * min-heap on (ts, transaction number) that grows by doubling up to
 * FR_GEN_MAX_PENDING.  A label holds only its ts and its transaction's
 * number: the transaction id is a bijective mix of (salt, number), so it is
 * unique within a run and recomputed when the label is written.
 */
#include "gen/gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "gen/gen_model.h"

#define MAX_BURSTS 32
#define BURST_MIN 3 /* events per burst: BURST_MIN .. BURST_MAX */
#define BURST_MAX 8
#define FAV_MIN 2 /* favourite merchants per card: FAV_MIN .. FAV_MAX */
#define FAV_MAX 8
#define P_FAVOURITE 0.85 /* normal events at a favourite merchant */
#define P_ABROAD 0.03    /* normal events of a card not on a trip, abroad */
#define P_HIGH 0.16      /* cards that are high spenders */
#define P_TRAVELLER 0.16 /* cards that travel */
#define P_TRIP_DAY 0.35  /* days a traveller spends on a trip */
#define P_ON_TRIP 0.8    /* a traveller's events abroad on a trip day */
#define P_BURST_ACTIVE 0.5  /* bursts on a card drawn like activity (else uniform) */
#define P_BURST_FOREIGN 0.75 /* bursts outside the card's home country */
#define P_NO_COUNTRY 0.02
#define AMOUNT_MIN_CENTS 50
#define AMOUNT_MAX_CENTS 5000000
#define SHIFT_AMOUNT 3
#define DAY_MS 86400000LL

/* Countries and their share (per mille) of cards' home countries, as
 * usual [0] and after the shift [1]. */
static const struct {
    char code[3];
    uint16_t weight[2];
} countries[] = {
    {"US", {520, 60}}, {"GB", {80, 30}}, {"DE", {65, 30}}, {"FR", {55, 25}},
    {"CA", {50, 20}},  {"BR", {40, 170}}, {"IN", {40, 160}}, {"JP", {30, 60}},
    {"AU", {22, 20}},  {"MX", {20, 140}}, {"ES", {18, 20}}, {"IT", {18, 20}},
    {"NL", {12, 10}},  {"SE", {8, 5}},   {"CH", {6, 5}},   {"PL", {6, 15}},
    {"KR", {5, 60}},   {"SG", {3, 60}},  {"ZA", {1, 40}},  {"NG", {1, 80}},
};
#define NCOUNTRIES (sizeof countries / sizeof countries[0])

typedef struct burst {
    uint64_t card;
    uint64_t due_n;  /* emit the next event once g->n reaches this ... */
    int64_t due_ms;  /* ... or now_ms reaches this */
    double mu;       /* log of the median amount */
    uint8_t country; /* index in countries[] */
    uint8_t left;    /* events still to emit */
} burst_t;

/* A chargeback waiting for its time. */
typedef struct label {
    int64_t ts;
    uint64_t n; /* the transaction's number: orders ties, gives its id */
} label_t;

struct fr_gen {
    fr_gen_opts_t o;
    rng_t r;
    uint64_t salt;     /* mixes the seed into per-card hashes */
    uint64_t id_salt;  /* mixes the seed into transaction ids */
    uint64_t n;        /* primary events generated */
    int last_fraud;    /* whether the last transaction was fraud (for tests) */
    /* fraud */
    zipf_t zcard, zmerch;
    double p_burst; /* chance that an event opens a burst */
    uint16_t cum[2][NCOUNTRIES];
    uint16_t total[2];
    int nbursts;
    burst_t bursts[MAX_BURSTS];
    label_t *heap;
    size_t nheap, capheap;
    /* clicks */
    clicks_t *clicks;
};

/* Card profile, derived from (salt, card). */
typedef struct profile {
    uint64_t h;  /* seed of the card's own streams */
    double mu;   /* log of the median amount */
    double sigma;
    unsigned nfav;
    unsigned home; /* index in countries[] */
    int traveller;
} profile_t;

typedef struct event {
    uint64_t card, merchant;
    int64_t cents;
    int country; /* index in countries[], or -1 when omitted */
    int64_t ts;
    int fraud;
} event_t;

/* ---- profiles ---- */

/* The country at uniform u of mix m (0 usual, 1 shifted). */
static unsigned pick_country(const fr_gen_t *g, double u, int m)
{
    unsigned r = (unsigned)(u * g->total[m]);
    unsigned i = 0;
    while (i < NCOUNTRIES - 1 && r >= g->cum[m][i])
        i++;
    return i;
}

/* The same, leaving out country `not`. */
static unsigned pick_other(const fr_gen_t *g, double u, unsigned not, int m)
{
    unsigned w = countries[not].weight[m];
    unsigned r = (unsigned)(u * (g->total[m] - w));
    unsigned acc = 0;
    for (unsigned i = 0; i < NCOUNTRIES; i++) {
        if (i == not)
            continue;
        acc += countries[i].weight[m];
        if (r < acc)
            return i;
    }
    return not == NCOUNTRIES - 1 ? NCOUNTRIES - 2 : NCOUNTRIES - 1;
}

static void card_profile(const fr_gen_t *g, uint64_t card, int shifted, profile_t *p)
{
    p->h = fr_mix64(g->salt ^ fr_mix64(card));
    uint64_t st = p->h;
    p->home = pick_country(g, u01(splitmix64(&st)), shifted);
    double u = u01(splitmix64(&st));
    if (u01(splitmix64(&st)) < P_HIGH) /* medians $150 to $600, log-uniform */
        p->mu = 5.0106352940962555 + u * 1.3862943611198906;
    else /* medians $8 to $150 */
        p->mu = 2.0794415416798357 + u * 2.9312230751356319;
    p->sigma = 0.4 + 0.6 * u01(splitmix64(&st));
    p->nfav = FAV_MIN + (unsigned)below(splitmix64(&st), FAV_MAX - FAV_MIN + 1);
    p->traveller = u01(splitmix64(&st)) < P_TRAVELLER;
}

/* Favourite j of a card: a draw from the merchant law on the card's stream. */
static uint64_t favourite(const fr_gen_t *g, const profile_t *p, unsigned j)
{
    uint64_t st = fr_mix64(p->h + 0x632be59bd9b4e019ull * (j + 1));
    return zipf_stream(&g->zmerch, &st);
}

/* Where a traveller is on the (UTC) day of ts: a country, or -1 at home. */
static int trip_country(const fr_gen_t *g, const profile_t *p, int64_t ts, int shifted)
{
    int64_t day = ts >= 0 ? ts / DAY_MS : -1 - (-(ts + 1)) / DAY_MS; /* floor */
    uint64_t st = fr_mix64(p->h ^ fr_mix64((uint64_t)day ^ 0x5851f42d4c957f2dull));
    if (u01(splitmix64(&st)) >= P_TRIP_DAY)
        return -1;
    return (int)pick_other(g, u01(splitmix64(&st)), p->home, shifted);
}

static int64_t amount_cents(fr_gen_t *g, double mu, double sigma, int shifted)
{
    double u1 = unif(&g->r), u2 = unif(&g->r);
    double c = floor(exp(mu + sigma * normal(u1, u2)) * 100.0 + 0.5);
    if (shifted)
        c *= SHIFT_AMOUNT;
    if (!(c >= AMOUNT_MIN_CENTS))
        c = AMOUNT_MIN_CENTS;
    if (c > AMOUNT_MAX_CENTS)
        c = AMOUNT_MAX_CENTS;
    return (int64_t)c;
}

/* ---- writing ---- */

static char *put_hex16(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        p[i] = hex[v & 15];
        v >>= 4;
    }
    return p + 16;
}

static uint64_t txn_id(const fr_gen_t *g, uint64_t n)
{
    return fr_mix64(g->id_salt + n);
}

static int emit_txn(fr_buf_t *out, const event_t *e, uint64_t id)
{
    char line[FR_GEN_MAX_EVENT];
    char *p = line;
    p = PUT(p, "{\"card_id\":\"c");
    p = put_u64(p, e->card, 6);
    p = PUT(p, "\",\"amount\":");
    p = put_u64(p, (uint64_t)e->cents / 100, 1);
    *p++ = '.';
    p = put_u64(p, (uint64_t)e->cents % 100, 2);
    p = PUT(p, ",\"merchant_id\":\"m");
    p = put_u64(p, e->merchant, 4);
    *p++ = '"';
    if (e->country >= 0) {
        p = PUT(p, ",\"country\":\"");
        p = put_str(p, countries[e->country].code, 2);
        *p++ = '"';
    }
    p = PUT(p, ",\"txn_id\":\"t");
    p = put_hex16(p, id);
    p = PUT(p, "\",\"ts\":");
    p = put_i64(p, e->ts);
    *p++ = '}';
    FR_ASSERT(p <= line + sizeof line);
    return fr_buf_add(out, line, (size_t)(p - line));
}

static int emit_label(fr_buf_t *out, const label_t *l, uint64_t id)
{
    char line[FR_GEN_MAX_EVENT];
    char *p = line;
    p = PUT(p, "{\"txn_id\":\"t");
    p = put_hex16(p, id);
    p = PUT(p, "\",\"is_fraud\":1,\"ts\":");
    p = put_i64(p, l->ts);
    *p++ = '}';
    FR_ASSERT(p <= line + sizeof line);
    return fr_buf_add(out, line, (size_t)(p - line));
}

/* ---- fraud bursts ---- */

/* Schedules the next event of burst b. */
static void burst_schedule(fr_gen_t *g, burst_t *b, int64_t now_ms)
{
    b->due_n = g->n + 1 + below(next64(&g->r), 50);
    int64_t gap = 2000 + (int64_t)below(next64(&g->r), 28000);
    if (__builtin_add_overflow(now_ms, gap, &b->due_ms))
        b->due_ms = INT64_MAX;
}

/* Opens a burst; fills e with its first event. */
static void burst_open(fr_gen_t *g, int64_t now_ms, int shifted, event_t *e)
{
    burst_t *b = &g->bursts[g->nbursts++];
    b->card = unif(&g->r) < P_BURST_ACTIVE ? zipf_main(&g->r, &g->zcard)
                                            : 1 + below(next64(&g->r), g->o.cards);
    profile_t p;
    card_profile(g, b->card, shifted, &p);
    unsigned c = p.home;
    double u = unif(&g->r);
    if (unif(&g->r) < P_BURST_FOREIGN)
        c = pick_other(g, u, p.home, shifted);
    b->country = (uint8_t)c;
    b->left = (uint8_t)(BURST_MIN + below(next64(&g->r), BURST_MAX - BURST_MIN + 1));
    b->mu = p.mu + log(2.5 + 4.5 * unif(&g->r)); /* 2.5 to 7 times the card's median */
    e->card = b->card;
    e->country = (int)c;
    e->merchant = 1 + below(next64(&g->r), g->o.merchants);
    e->cents = amount_cents(g, b->mu, 0.3, shifted);
    e->fraud = 1;
    if (--b->left)
        burst_schedule(g, b, now_ms);
    else
        g->nbursts--;
}

/* The next event of a due burst, if any. */
static int burst_due(fr_gen_t *g, int64_t now_ms, int shifted, event_t *e)
{
    for (int i = 0; i < g->nbursts; i++) {
        burst_t *b = &g->bursts[i];
        if (g->n < b->due_n && now_ms < b->due_ms)
            continue;
        e->card = b->card;
        e->country = b->country;
        e->merchant = 1 + below(next64(&g->r), g->o.merchants);
        e->cents = amount_cents(g, b->mu, 0.3, shifted);
        e->fraud = 1;
        if (--b->left)
            burst_schedule(g, b, now_ms);
        else
            g->bursts[i] = g->bursts[--g->nbursts];
        return 1;
    }
    return 0;
}

static void normal_event(fr_gen_t *g, int shifted, event_t *e)
{
    profile_t p;
    e->card = zipf_main(&g->r, &g->zcard);
    card_profile(g, e->card, shifted, &p);
    if (unif(&g->r) < P_FAVOURITE) {
        double u = unif(&g->r);
        e->merchant = favourite(g, &p, (unsigned)(u * u * p.nfav)); /* first ones preferred */
    } else {
        e->merchant = zipf_main(&g->r, &g->zmerch);
    }
    int trip = p.traveller ? trip_country(g, &p, e->ts, shifted) : -1;
    double u = unif(&g->r), v = unif(&g->r);
    if (trip >= 0 && u < P_ON_TRIP)
        e->country = trip;
    else if (trip < 0 && u < P_ABROAD)
        e->country = (int)pick_other(g, v, p.home, shifted);
    else
        e->country = (int)p.home;
    e->cents = amount_cents(g, p.mu, p.sigma, shifted);
    e->fraud = 0;
}

/* ---- labels ---- */

static int label_less(const label_t *a, const label_t *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->n < b->n);
}

/* Room for one more label, so that making an event cannot fail half way. */
static int heap_reserve(fr_gen_t *g)
{
    if (g->nheap < g->capheap)
        return 0;
    if (g->capheap >= FR_GEN_MAX_PENDING)
        return FR_ELIMIT;
    size_t cap = g->capheap ? g->capheap * 2 : 1024;
    if (cap > FR_GEN_MAX_PENDING)
        cap = FR_GEN_MAX_PENDING;
    label_t *h = realloc(g->heap, cap * sizeof *h);
    if (!h)
        return FR_ENOMEM;
    g->heap = h;
    g->capheap = cap;
    return 0;
}

static void heap_push(fr_gen_t *g, label_t l)
{
    FR_ASSERT(g->nheap < g->capheap);
    size_t i = g->nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!label_less(&l, &g->heap[up]))
            break;
        g->heap[i] = g->heap[up];
        i = up;
    }
    g->heap[i] = l;
}

static void heap_pop(fr_gen_t *g)
{
    label_t last = g->heap[--g->nheap];
    size_t i = 0, n = g->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && label_less(&g->heap[c + 1], &g->heap[c]))
            c++;
        if (!label_less(&g->heap[c], &last))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n)
        g->heap[i] = last;
}

/* Charges back transaction number n of time ts after the label delay. */
static void charge_back(fr_gen_t *g, int64_t ts, uint64_t n)
{
    uint64_t span = (uint64_t)(g->o.label_delay_max_ms - g->o.label_delay_min_ms) + 1;
    int64_t delay = g->o.label_delay_min_ms + (int64_t)below(next64(&g->r), span);
    label_t l = {.n = n};
    if (__builtin_add_overflow(ts, delay, &l.ts))
        l.ts = INT64_MAX;
    heap_push(g, l);
}

/* ---- the generator ---- */

fr_gen_opts_t fr_gen_opts_default(void)
{
    fr_gen_opts_t o = {.kind = FR_GEN_FRAUD,
                       .seed = 1,
                       .jitter_ms = 2000,
                       .cards = 100000,
                       .merchants = 5000,
                       .fraud_rate = 0.005,
                       .label_delay_min_ms = FR_GEN_LIVE_DELAY_MIN_MS,
                       .label_delay_max_ms = FR_GEN_LIVE_DELAY_MAX_MS,
                       .false_chargeback_rate = 0.001,
                       .shift_at_ms = INT64_MAX,
                       .users = 50000,
                       .items = 20000};
    return o;
}

static int ids_ok(uint64_t n)
{
    return n >= 1 && n <= MAX_IDS;
}

static int rate_ok(double r)
{
    return r >= 0 && r <= 1; /* also refuses NaN */
}

fr_gen_t *fr_gen_new(const fr_gen_opts_t *o)
{
    fr_gen_opts_t def = fr_gen_opts_default();
    if (!o)
        o = &def;
    if ((o->kind != FR_GEN_FRAUD && o->kind != FR_GEN_CLICKS) || !ids_ok(o->cards) ||
        !ids_ok(o->merchants) || !ids_ok(o->users) || !ids_ok(o->items) ||
        !rate_ok(o->fraud_rate) || !rate_ok(o->false_chargeback_rate) || o->jitter_ms < 0 ||
        o->label_delay_min_ms < 0 || o->label_delay_min_ms > o->label_delay_max_ms ||
        o->label_delay_max_ms > FR_GEN_MAX_DELAY_MS)
        return NULL;
    fr_gen_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->o = *o;
    uint64_t x = o->seed;
    rng_seed(&g->r, &x);
    g->salt = splitmix64(&x);
    g->id_salt = splitmix64(&x);
    if (o->kind == FR_GEN_CLICKS) {
        g->clicks = fr_gen_clicks_new(o, g->salt);
        if (!g->clicks) {
            free(g);
            return NULL;
        }
        return g;
    }
    /* The offset q flattens the head: with 100k cards the busiest card makes
     * about 1% of events and the top 1% of cards about half of them. */
    zipf_init(&g->zcard, o->cards, (double)o->cards / 5000.0);
    zipf_init(&g->zmerch, o->merchants, (double)o->merchants / 1000.0);
    double len = (BURST_MIN + BURST_MAX) / 2.0, f = o->fraud_rate;
    g->p_burst = f >= 1 ? 1 : f / (len * (1 - f) + f);
    for (int m = 0; m < 2; m++) {
        unsigned sum = 0;
        for (size_t i = 0; i < NCOUNTRIES; i++) {
            sum += countries[i].weight[m];
            g->cum[m][i] = (uint16_t)sum;
        }
        g->total[m] = (uint16_t)sum;
    }
    return g;
}

void fr_gen_free(fr_gen_t *g)
{
    if (!g)
        return;
    fr_gen_clicks_free(g->clicks);
    free(g->heap);
    free(g);
}

int fr_gen_next(fr_gen_t *g, int64_t now_ms, fr_buf_t *out)
{
    if (g->clicks) {
        g->n++;
        return fr_gen_clicks_next(g->clicks, &g->r, now_ms, out);
    }
    int rc = heap_reserve(g);
    if (rc)
        return rc;
    event_t e;
    int64_t jitter = (int64_t)below(next64(&g->r), (uint64_t)g->o.jitter_ms + 1);
    if (__builtin_sub_overflow(now_ms, jitter, &e.ts))
        e.ts = INT64_MIN;
    int shifted = e.ts >= g->o.shift_at_ms;
    if (!burst_due(g, now_ms, shifted, &e)) {
        if (g->nbursts < MAX_BURSTS && g->p_burst > 0 && unif(&g->r) < g->p_burst)
            burst_open(g, now_ms, shifted, &e);
        else
            normal_event(g, shifted, &e);
    }
    if (unif(&g->r) < P_NO_COUNTRY)
        e.country = -1;
    uint64_t n = g->n++;
    g->last_fraud = e.fraud;
    if (e.fraud ||
        (g->o.false_chargeback_rate > 0 && unif(&g->r) < g->o.false_chargeback_rate))
        charge_back(g, e.ts, n);
    return emit_txn(out, &e, txn_id(g, n));
}

int64_t fr_gen_label_lag(const fr_gen_t *g)
{
    int64_t lag = g->o.jitter_ms - g->o.label_delay_min_ms;
    return g->clicks || lag < 0 ? 0 : lag;
}

int fr_gen_due(fr_gen_t *g, int64_t due_ms, fr_buf_t *out)
{
    int64_t lag = fr_gen_label_lag(g), upto;
    if (__builtin_sub_overflow(due_ms, lag, &upto))
        upto = INT64_MIN;
    if (!g->nheap || g->heap[0].ts > upto)
        return 0;
    int rc = emit_label(out, &g->heap[0], txn_id(g, g->heap[0].n));
    if (rc)
        return rc;
    heap_pop(g);
    return 1;
}

size_t fr_gen_pending(const fr_gen_t *g)
{
    return g->nheap;
}

/* ---- sources ---- */

static const char *const source_names[][FR_GEN_MAX_SOURCES] = {
    [FR_GEN_FRAUD] = {"transactions", "chargebacks"},
    [FR_GEN_CLICKS] = {"clicks", NULL},
};

int fr_gen_nsources(fr_gen_kind_t kind)
{
    return kind == FR_GEN_FRAUD ? 2 : kind == FR_GEN_CLICKS ? 1 : 0;
}

const char *fr_gen_source_name(fr_gen_kind_t kind, int i)
{
    if (i < 0 || i >= fr_gen_nsources(kind))
        return NULL;
    return source_names[kind][i];
}

/* The sources of examples/fraud/freshet.yaml and examples/personalization/
 * freshet.yaml (keep in step: gen_kafka_test checks they agree), with one
 * view naming each entity. */
static const char fraud_yaml[] = "sources:\n"
                                 "  - name: transactions\n"
                                 "    format: json\n"
                                 "    timestamp: ts\n"
                                 "    timestamp_unit: ms\n"
                                 "    fields:\n"
                                 "      - { name: card_id, type: string }\n"
                                 "      - { name: amount, type: double }\n"
                                 "      - { name: merchant_id, type: string }\n"
                                 "      - { name: country, type: string, optional: true }\n"
                                 "      - { name: txn_id, type: string }\n"
                                 "      - { name: ts, type: long }\n"
                                 "  - name: chargebacks\n"
                                 "    format: json\n"
                                 "    timestamp: ts\n"
                                 "    fields:\n"
                                 "      - { name: txn_id, type: string }\n"
                                 "      - { name: is_fraud, type: long }\n"
                                 "      - { name: ts, type: long }\n"
                                 "feature_views:\n"
                                 "  - name: card_txn\n"
                                 "    source: transactions\n"
                                 "    entity: card_id\n"
                                 "    windows: [5m]\n"
                                 "    aggregations:\n"
                                 "      - { fn: count, name: txn_count }\n";

static const char clicks_yaml[] = "sources:\n"
                                  "  - name: clicks\n"
                                  "    format: json\n"
                                  "    timestamp: ts\n"
                                  "    fields:\n"
                                  "      - { name: user_id, type: string }\n"
                                  "      - { name: item_id, type: string }\n"
                                  "      - { name: category, type: string }\n"
                                  "      - { name: event_type, type: string }\n"
                                  "      - { name: user_category, type: string }\n"
                                  "      - { name: ts, type: long }\n"
                                  "feature_views:\n"
                                  "  - name: user\n"
                                  "    source: clicks\n"
                                  "    entity: user_id\n"
                                  "    windows: [10m]\n"
                                  "    aggregations:\n"
                                  "      - { fn: count, name: events }\n";

const char *fr_gen_builtin_config(fr_gen_kind_t kind, size_t *len)
{
    const char *y = kind == FR_GEN_CLICKS ? clicks_yaml : fraud_yaml;
    if (len)
        *len = kind == FR_GEN_CLICKS ? sizeof clicks_yaml - 1 : sizeof fraud_yaml - 1;
    return y;
}
