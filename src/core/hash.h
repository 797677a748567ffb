/*
 * hash.h - 64-bit hashing of byte strings.
 *
 * One well-mixed 64-bit hash serves hash tables, HyperLogLog and key
 * fingerprints.  Its value is part of stored state (count_distinct keeps
 * hashes), so the function must never change once released.
 */
#ifndef FR_CORE_HASH_H
#define FR_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t fr_hash64(const void *p, size_t n, uint64_t seed);

/* A bijective 64-bit finaliser (murmur3 fmix64). */
static inline uint64_t fr_mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

#endif
