/*
 * clock.h - wall and monotonic clocks.  Not for agg/, which takes time as
 * an argument.
 */
#ifndef FR_CORE_CLOCK_H
#define FR_CORE_CLOCK_H

#include <stdint.h>

/* Wall clock, epoch milliseconds. */
int64_t fr_now_ms(void);
/* Monotonic clock, nanoseconds from an arbitrary start. */
uint64_t fr_mono_ns(void);
/* Floor division that rounds toward minus infinity (d > 0). */
static inline int64_t fr_floordiv(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}

#endif
