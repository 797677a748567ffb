/*
 * hash.c - fr_hash64: 8 bytes a step, a 64x64->128 multiply fold per step
 * and a murmur finaliser.  Fast on short keys (entity ids, merchant ids).
 */
#include "core/hash.h"

#include <string.h>

static inline uint64_t fold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t fr_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL;
    uint64_t h = seed ^ k0 ^ ((uint64_t)n * k1);
    while (n >= 8) {
        h = fold(h ^ load64(p), k1);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t t = 0;
        for (size_t i = 0; i < n; i++)
            t |= (uint64_t)p[i] << (8 * i);
        h = fold(h ^ t ^ ((uint64_t)n << 56), k0);
    }
    return fr_mix64(h);
}
