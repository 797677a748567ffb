/*
 * hll.c - HyperLogLog registers for count_distinct (p = FR_AGG_HLL_P).
 *
 * Registers are one byte each in memory (HLL_M bytes) and 6 bits each when
 * encoded.  Small sets are counted from sparse entries at precision 25
 * (HyperLogLog++) by linear counting over 2^25 registers, where collisions
 * are negligible (at p = 14 a single collision among 33 values is already
 * a 3% error).  The dense estimate is linear counting in the small range
 * and, above, Ertl's "improved raw estimator" (O. Ertl, New
 * cardinality estimation algorithms for HyperLogLog sketches, 2017), which
 * needs no empirical bias tables and stays within the ~1.04/sqrt(m)
 * standard error across the whole range.  Pure functions, no state.
 */
#include <math.h>

#include "agg/agg_int.h"

/* Below this linear-counting estimate, linear counting is used (the
 * switch-over point of HyperLogLog++ for p = 14). */
#define LC_THRESHOLD 11500.0

static double sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (z != zp);
    return z;
}

static double tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != zp);
    return z / 3.0;
}

int64_t fr_hll_estimate(const uint8_t *regs)
{
    uint32_t c[HLL_MAXRANK + 1] = {0};
    for (uint32_t i = 0; i < HLL_M; i++)
        c[regs[i] <= HLL_MAXRANK ? regs[i] : HLL_MAXRANK]++;
    const double m = (double)HLL_M;
    if (c[0] == HLL_M)
        return 0;
    if (c[0] > 0) {
        double lc = m * log(m / (double)c[0]);
        if (lc <= LC_THRESHOLD)
            return llround(lc);
    }
    double z = m * tau(1.0 - (double)c[HLL_MAXRANK] / m);
    for (int k = HLL_Q; k >= 1; k--)
        z = 0.5 * (z + (double)c[k]);
    z += m * sigma((double)c[0] / m);
    double alpha = 1.0 / (2.0 * log(2.0));
    double e = alpha * m * m / z; /* +inf when every register is saturated */
    if (!(e < 9.0e18))
        return INT64_MAX;
    return llround(e);
}

int64_t fr_hll_sparse_estimate(uint32_t n)
{
    const double m = (double)(1u << HLL_SP);
    return llround(m * log(m / (m - (double)n)));
}

void fr_hll_merge(uint8_t *regs, const uint8_t *src)
{
    for (uint32_t i = 0; i < HLL_M; i++)
        regs[i] = src[i] > regs[i] ? src[i] : regs[i];
}

bool fr_hll_merge_packed(uint8_t *regs, const uint8_t *packed, uint32_t *nnz)
{
    uint32_t nz = 0;
    bool ok = true;
    for (uint32_t i = 0; i < HLL_M; i += 4) {
        const uint8_t *b = packed + (i / 4) * 3;
        uint32_t w = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
        for (uint32_t k = 0; k < 4; k++) {
            uint8_t r = (uint8_t)((w >> (6 * k)) & 63);
            if (r > HLL_MAXRANK)
                ok = false;
            nz += r != 0;
            if (r > regs[i + k])
                regs[i + k] = r;
        }
    }
    if (nnz)
        *nnz = nz;
    return ok;
}

void fr_hll_pack(uint8_t *out, const uint8_t *regs)
{
    for (uint32_t i = 0; i < HLL_M; i += 4) {
        uint32_t w = (uint32_t)regs[i] | (uint32_t)regs[i + 1] << 6 | (uint32_t)regs[i + 2] << 12 |
                     (uint32_t)regs[i + 3] << 18;
        uint8_t *b = out + (i / 4) * 3;
        b[0] = (uint8_t)w;
        b[1] = (uint8_t)(w >> 8);
        b[2] = (uint8_t)(w >> 16);
    }
}
