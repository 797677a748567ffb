/*
 * gen.c - the synthetic transaction generator (see gen.h).
 *
 * Shape: nothing per card is stored.  A card's profile (home country,
 * amount distribution, favourite merchants) is recomputed from a hash of
 * (seed, card) each time the card is drawn, so 10 cards or 10^9 cost the
 * same memory and the generator is a few hundred bytes.  Skewed draws use
 * rejection-inversion sampling (Hörmann & Derflinger 1996) of a
 * Zipf-Mandelbrot law p(k) ~ (k + q)^-s, which needs no table either.
 * The random stream is xoshiro256** seeded through splitmix64; per-card
 * streams are splitmix64 on the card's hash.
 *
 * Fraud bursts are the only state that outlives an event: up to
 * MAX_BURSTS open bursts, each emitting its next event once enough events
 * (fast runs) or enough milliseconds (slow runs) have gone by.
 */
#include "gen/gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"

#define ZIPF_S 1.1
#define MAX_BURSTS 32
#define BURST_MIN 3 /* events per burst: BURST_MIN .. BURST_MAX */
#define BURST_MAX 8
#define FAV_MIN 2 /* favourite merchants per card: FAV_MIN .. FAV_MAX */
#define FAV_MAX 8
#define P_FAVOURITE 0.85 /* normal events at a favourite merchant */
#define P_ABROAD 0.04    /* normal events outside the home country */
#define P_NO_COUNTRY 0.02
#define AMOUNT_MIN_CENTS 50
#define AMOUNT_MAX_CENTS 5000000
#define MAX_IDS 1000000000000ull

/* Countries and their share (per mille) of cards' home countries. */
static const struct {
    char code[3];
    uint16_t weight;
} countries[] = {
    {"US", 520}, {"GB", 80}, {"DE", 65}, {"FR", 55}, {"CA", 50}, {"BR", 40}, {"IN", 40},
    {"JP", 30},  {"AU", 22}, {"MX", 20}, {"ES", 18}, {"IT", 18}, {"NL", 12}, {"SE", 8},
    {"CH", 6},   {"PL", 6},  {"KR", 5},  {"SG", 3},  {"ZA", 1},  {"NG", 1},
};
#define NCOUNTRIES (sizeof countries / sizeof countries[0])

/* Zipf-Mandelbrot over 1..n: h(x) = (x + q)^-s, H its antiderivative. */
typedef struct zipf {
    double n, q, s, oms; /* oms = 1 - s (< 0) */
    double lo, hi;       /* H(1.5) - h(1), H(n + 0.5) */
    double sc;           /* squeeze: x >= k - sc is accepted without testing */
} zipf_t;

typedef struct burst {
    uint64_t card;
    uint64_t due_n;  /* emit the next event once g->n reaches this ... */
    int64_t due_ms;  /* ... or now_ms reaches this */
    double mu;       /* log of the median amount */
    uint8_t country; /* index in countries[] */
    uint8_t left;    /* events still to emit */
} burst_t;

struct fr_gen {
    fr_gen_opts_t o;
    uint64_t s[4]; /* xoshiro256** state */
    uint64_t salt; /* mixes the seed into per-card hashes */
    zipf_t zcard, zmerch;
    double p_burst; /* chance that an event opens a burst */
    uint64_t n;     /* events generated */
    uint16_t cum[NCOUNTRIES];
    uint16_t total;
    int nbursts;
    burst_t bursts[MAX_BURSTS];
};

/* Card profile, derived from (salt, card). */
typedef struct profile {
    uint64_t h;  /* seed of the card's own stream */
    double mu;   /* log of the median amount */
    double sigma;
    unsigned nfav;
    unsigned home; /* index in countries[] */
} profile_t;

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next64(fr_gen_t *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1). */
static inline double u01(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

static inline double unif(fr_gen_t *g)
{
    return u01(next64(g));
}

/* Uniform integer in [0, n), n > 0 (multiply-shift; bias below 2^-40). */
static inline uint64_t below(uint64_t x, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

/* Standard normal variate (Box-Muller, one of the pair). */
static double normal(double u1, double u2)
{
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* ---- Zipf-Mandelbrot sampling by rejection-inversion ---- */

static inline double zh(const zipf_t *z, double x)
{
    return exp(-z->s * log(x + z->q));
}

static inline double zH(const zipf_t *z, double x)
{
    return exp(z->oms * log(x + z->q)) / z->oms;
}

static inline double zHinv(const zipf_t *z, double y)
{
    return exp(log(y * z->oms) / z->oms) - z->q;
}

static void zipf_init(zipf_t *z, uint64_t n, double q)
{
    z->n = (double)n;
    z->q = q;
    z->s = ZIPF_S;
    z->oms = 1.0 - ZIPF_S;
    z->lo = zH(z, 1.5) - zh(z, 1.0);
    z->hi = zH(z, z->n + 0.5);
    /* The rejected part of rank k's cell is [k - 0.5, Hinv(H(k + 0.5) - h(k)))
     * in x; it is widest at k = 2 (h flattens as k grows), so x at or above
     * k - sc with sc taken at k = 2 is always accepted.  Most draws stop
     * there, saving two logarithms and exponentials. */
    z->sc = 2.0 - zHinv(z, zH(z, 2.5) - zh(z, 2.0));
}

/*
 * One try with uniform u: a rank in 1..n, or 0 when rejected.  The interval
 * [lo, hi] of H values is cut at H(k + 0.5); rank k keeps a piece of length
 * h(k) of its cell (convexity makes the cell at least that long), and rank 1
 * its whole cell, which starts at lo = H(1.5) - h(1).
 */
static uint64_t zipf_try(const zipf_t *z, double u)
{
    double y = z->lo + u * (z->hi - z->lo);
    double x = zHinv(z, y);
    double k = floor(x + 0.5);
    if (!(k >= 1.0)) /* also catches NaN */
        k = 1.0;
    if (k > z->n)
        k = z->n;
    if (k - x <= z->sc || y >= zH(z, k + 0.5) - zh(z, k))
        return (uint64_t)k;
    return 0;
}

static uint64_t zipf_main(fr_gen_t *g, const zipf_t *z)
{
    for (;;) {
        uint64_t k = zipf_try(z, unif(g));
        if (k)
            return k;
    }
}

static uint64_t zipf_stream(const zipf_t *z, uint64_t *st)
{
    for (;;) {
        uint64_t k = zipf_try(z, u01(splitmix64(st)));
        if (k)
            return k;
    }
}

/* ---- profiles and events ---- */

static unsigned pick_country(const fr_gen_t *g, double u)
{
    unsigned r = (unsigned)(u * g->total);
    unsigned i = 0;
    while (i < NCOUNTRIES - 1 && r >= g->cum[i])
        i++;
    return i;
}

static void card_profile(const fr_gen_t *g, uint64_t card, profile_t *p)
{
    p->h = fr_mix64(g->salt ^ fr_mix64(card));
    uint64_t st = p->h;
    p->home = pick_country(g, u01(splitmix64(&st)));
    /* medians from $8 to $150, log-uniform; spreads from 0.4 to 1.0 */
    p->mu = 2.0794415416798357 + u01(splitmix64(&st)) * 2.9312230751356319;
    p->sigma = 0.4 + 0.6 * u01(splitmix64(&st));
    p->nfav = FAV_MIN + (unsigned)below(splitmix64(&st), FAV_MAX - FAV_MIN + 1);
}

/* Favourite j of a card: a draw from the merchant law on the card's stream. */
static uint64_t favourite(const fr_gen_t *g, const profile_t *p, unsigned j)
{
    uint64_t st = fr_mix64(p->h + 0x632be59bd9b4e019ull * (j + 1));
    return zipf_stream(&g->zmerch, &st);
}

static int64_t amount_cents(fr_gen_t *g, double mu, double sigma)
{
    double u1 = unif(g), u2 = unif(g);
    double c = floor(exp(mu + sigma * normal(u1, u2)) * 100.0 + 0.5);
    if (!(c >= AMOUNT_MIN_CENTS))
        c = AMOUNT_MIN_CENTS;
    if (c > AMOUNT_MAX_CENTS)
        c = AMOUNT_MAX_CENTS;
    return (int64_t)c;
}

static const char digits2[201] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";

/* Writes v in decimal, at least width (<= 20) digits, at p; returns the end. */
static char *put_u64(char *p, uint64_t v, int width)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *q = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digits2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    while (e - q < width)
        *--q = '0';
    memcpy(p, q, (size_t)(e - q));
    return p + (e - q);
}

static char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUT(p, lit) put_str(p, lit, sizeof lit - 1)

typedef struct event {
    uint64_t card, merchant;
    int64_t cents;
    int country; /* index in countries[], or -1 when omitted */
    int64_t ts;
} event_t;

static int emit(fr_buf_t *out, const event_t *e)
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
    p = PUT(p, ",\"ts\":");
    if (e->ts < 0) {
        *p++ = '-';
        p = put_u64(p, -(uint64_t)e->ts, 1);
    } else {
        p = put_u64(p, (uint64_t)e->ts, 1);
    }
    *p++ = '}';
    FR_ASSERT(p <= line + sizeof line);
    return fr_buf_add(out, line, (size_t)(p - line));
}

/* Schedules the next event of burst b. */
static void burst_schedule(fr_gen_t *g, burst_t *b, int64_t now_ms)
{
    b->due_n = g->n + 1 + below(next64(g), 50);
    b->due_ms = now_ms + 2000 + (int64_t)below(next64(g), 28000);
}

/* Opens a burst on a random card, abroad; fills e with its first event. */
static void burst_open(fr_gen_t *g, int64_t now_ms, event_t *e)
{
    burst_t *b = &g->bursts[g->nbursts++];
    b->card = 1 + below(next64(g), g->o.cards);
    profile_t p;
    card_profile(g, b->card, &p);
    unsigned c;
    do {
        c = pick_country(g, unif(g));
    } while (c == p.home);
    b->country = (uint8_t)c;
    b->left = (uint8_t)(BURST_MIN + below(next64(g), BURST_MAX - BURST_MIN + 1));
    b->mu = 5.298317366548036 + unif(g) * 2.0794415416798357; /* medians $200..$1600 */
    e->card = b->card;
    e->country = (int)c;
    e->merchant = 1 + below(next64(g), g->o.merchants);
    e->cents = amount_cents(g, b->mu, 0.35);
    if (--b->left)
        burst_schedule(g, b, now_ms);
    else
        g->nbursts--;
}

/* The next event of a due burst, if any. */
static int burst_due(fr_gen_t *g, int64_t now_ms, event_t *e)
{
    for (int i = 0; i < g->nbursts; i++) {
        burst_t *b = &g->bursts[i];
        if (g->n < b->due_n && now_ms < b->due_ms)
            continue;
        e->card = b->card;
        e->country = b->country;
        e->merchant = 1 + below(next64(g), g->o.merchants);
        e->cents = amount_cents(g, b->mu, 0.35);
        if (--b->left)
            burst_schedule(g, b, now_ms);
        else
            g->bursts[i] = g->bursts[--g->nbursts];
        return 1;
    }
    return 0;
}

static void normal_event(fr_gen_t *g, event_t *e)
{
    profile_t p;
    e->card = zipf_main(g, &g->zcard);
    card_profile(g, e->card, &p);
    if (unif(g) < P_FAVOURITE) {
        double u = unif(g);
        e->merchant = favourite(g, &p, (unsigned)(u * u * p.nfav)); /* first ones preferred */
    } else {
        e->merchant = zipf_main(g, &g->zmerch);
    }
    e->country = (int)(unif(g) < P_ABROAD ? pick_country(g, unif(g)) : p.home);
    e->cents = amount_cents(g, p.mu, p.sigma);
}

fr_gen_opts_t fr_gen_opts_default(void)
{
    fr_gen_opts_t o = {
        .seed = 1, .cards = 100000, .merchants = 5000, .fraud_rate = 0.005, .jitter_ms = 2000};
    return o;
}

fr_gen_t *fr_gen_new(const fr_gen_opts_t *o)
{
    fr_gen_opts_t def = fr_gen_opts_default();
    if (!o)
        o = &def;
    if (o->cards < 1 || o->cards > MAX_IDS || o->merchants < 1 || o->merchants > MAX_IDS ||
        !(o->fraud_rate >= 0 && o->fraud_rate <= 1) || o->jitter_ms < 0)
        return NULL;
    fr_gen_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->o = *o;
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
    g->salt = splitmix64(&x);
    /* The offset q flattens the head: with 100k cards the busiest card makes
     * about 1% of events and the top 1% of cards about half of them. */
    zipf_init(&g->zcard, o->cards, (double)o->cards / 5000.0);
    zipf_init(&g->zmerch, o->merchants, (double)o->merchants / 1000.0);
    double len = (BURST_MIN + BURST_MAX) / 2.0, f = o->fraud_rate;
    g->p_burst = f >= 1 ? 1 : f / (len * (1 - f) + f);
    unsigned sum = 0;
    for (size_t i = 0; i < NCOUNTRIES; i++) {
        sum += countries[i].weight;
        g->cum[i] = (uint16_t)sum;
    }
    g->total = (uint16_t)sum;
    return g;
}

void fr_gen_free(fr_gen_t *g)
{
    free(g);
}

int fr_gen_next(fr_gen_t *g, int64_t now_ms, fr_buf_t *out)
{
    event_t e;
    if (!burst_due(g, now_ms, &e)) {
        if (g->nbursts < MAX_BURSTS && g->p_burst > 0 && unif(g) < g->p_burst)
            burst_open(g, now_ms, &e);
        else
            normal_event(g, &e);
    }
    if (unif(g) < P_NO_COUNTRY)
        e.country = -1;
    e.ts = now_ms - (int64_t)below(next64(g), (uint64_t)g->o.jitter_ms + 1);
    g->n++;
    return emit(out, &e);
}
