/*
 * benchutil.h - small helpers shared by the bench programs (header-only:
 * each program is one file plus this).
 */
#ifndef FR_BENCHUTIL_H
#define FR_BENCHUTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "core/clock.h"

/* CLOCK_MONOTONIC in ns, the clock timerfds use (see arm_timer). */
static inline uint64_t mono_ns(void)
{
    return fr_mono_ns();
}

static inline int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static inline void arm_timer(int tfd, uint64_t at_ns)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(at_ns / 1000000000u);
    its.it_value.tv_nsec = (long)(at_ns % 1000000000u);
    if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
        its.it_value.tv_nsec = 1;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

#endif
