/*
 * hist.h - a fixed-size latency histogram for the bench/ programs.
 *
 * Log-linear buckets in the style of HdrHistogram: values below 128 ns are
 * exact, above that every power of two is split into 128 buckets, so a
 * reported value is at most 1/128 (0.8%) above the true one.  Values are
 * nanoseconds up to 2^40 (about 18 minutes); larger ones are clamped.  The
 * table has a fixed size (HIST_NBUCKETS), so recording never allocates and
 * a long run costs no more memory than a short one.
 *
 * Header-only (static inline) because each bench program is one .c file.
 * Not thread-safe: one histogram per thread, merged with hist_merge().
 */
#ifndef FRESHET_BENCH_HIST_H
#define FRESHET_BENCH_HIST_H

#include <stdint.h>
#include <string.h>

#define HIST_SUB 128u
#define HIST_MAX_BITS 40u
#define HIST_NBUCKETS ((HIST_MAX_BITS - 6u) * HIST_SUB)

typedef struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t min;
    double sum;
    uint64_t b[HIST_NBUCKETS];
} hist_t;

static inline void hist_init(hist_t *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static inline unsigned hist_index(uint64_t v)
{
    if (v >= (1ull << HIST_MAX_BITS))
        v = (1ull << HIST_MAX_BITS) - 1;
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned shift = msb - 7u;
    return (shift + 1u) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* Highest value that falls into bucket i. */
static inline uint64_t hist_bucket_high(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned shift = i / HIST_SUB - 1u;
    uint64_t lo = (uint64_t)(i % HIST_SUB + HIST_SUB) << shift;
    return lo + ((1ull << shift) - 1u);
}

static inline void hist_add(hist_t *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
    if (v < h->min)
        h->min = v;
}

static inline void hist_merge(hist_t *into, const hist_t *from)
{
    for (unsigned i = 0; i < HIST_NBUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
    if (from->min < into->min)
        into->min = from->min;
}

/* Value at percentile p (0 < p <= 100): the highest value of the bucket
 * holding the ceil(p% * count)-th smallest sample, never above the maximum
 * seen.  0 when the histogram is empty. */
static inline uint64_t hist_pct(const hist_t *h, double p)
{
    if (!h->count)
        return 0;
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

#endif
