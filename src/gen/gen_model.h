/*
 * gen_model.h - private to src/gen: what the generator's models share.
 *
 * Random numbers (xoshiro256** seeded through splitmix64; per-entity
 * streams are splitmix64 on a hash of the entity), Zipf-Mandelbrot sampling
 * by rejection-inversion (Hörmann & Derflinger 1996), which needs no table,
 * and fast decimal writing for the JSON the models emit.  All static inline:
 * gen.c (the generator and its fraud model) and gen_clicks.c (the
 * clickstream model) include it, and unit tests reach the helpers through
 * gen.c.
 */
#ifndef FR_GEN_GEN_MODEL_H
#define FR_GEN_GEN_MODEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "gen/gen.h"

#define ZIPF_S 1.1
#define MAX_IDS 1000000000000ull

/* ---- random numbers ---- */

typedef struct rng {
    uint64_t s[4]; /* xoshiro256** state */
} rng_t;

static inline uint64_t splitmix64(uint64_t *x)
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

static inline void rng_seed(rng_t *r, uint64_t *x)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(x);
}

static inline uint64_t next64(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t v = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return v;
}

/* Uniform in [0, 1). */
static inline double u01(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

static inline double unif(rng_t *r)
{
    return u01(next64(r));
}

/* Uniform integer in [0, n), n > 0 (multiply-shift; bias below 2^-40). */
static inline uint64_t below(uint64_t x, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

/* Standard normal variate (Box-Muller, one of the pair). */
static inline double normal(double u1, double u2)
{
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* ---- Zipf-Mandelbrot sampling by rejection-inversion ---- */

/* p(k) ~ (k + q)^-s over 1..n: h(x) = (x + q)^-s, H its antiderivative. */
typedef struct zipf {
    double n, q, s, oms; /* oms = 1 - s (< 0) */
    double lo, hi;       /* H(1.5) - h(1), H(n + 0.5) */
    double sc;           /* squeeze: x >= k - sc is accepted without testing */
} zipf_t;

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

static inline void zipf_init(zipf_t *z, uint64_t n, double q)
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
static inline uint64_t zipf_try(const zipf_t *z, double u)
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

static inline uint64_t zipf_main(rng_t *r, const zipf_t *z)
{
    for (;;) {
        uint64_t k = zipf_try(z, unif(r));
        if (k)
            return k;
    }
}

static inline uint64_t zipf_stream(const zipf_t *z, uint64_t *st)
{
    for (;;) {
        uint64_t k = zipf_try(z, u01(splitmix64(st)));
        if (k)
            return k;
    }
}

/* ---- writing JSON ---- */

/* Writes v in decimal, at least width (<= 20) digits, at p; returns the end. */
static inline char *put_u64(char *p, uint64_t v, int width)
{
    static const char digits2[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";
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

static inline char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, -(uint64_t)v, 1);
    }
    return put_u64(p, (uint64_t)v, 1);
}

static inline char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUT(p, lit) put_str(p, lit, sizeof lit - 1)

/* ---- the clickstream model (gen_clicks.c) ---- */

typedef struct clicks clicks_t;

/* A clickstream for o (users, items) with per-user profiles salted by salt;
 * NULL when memory is short. */
clicks_t *fr_gen_clicks_new(const fr_gen_opts_t *o, uint64_t salt);
void fr_gen_clicks_free(clicks_t *c);
/* One click event, as fr_gen_next; r is the generator's stream. */
int fr_gen_clicks_next(clicks_t *c, rng_t *r, int64_t now_ms, fr_buf_t *out);

#endif
