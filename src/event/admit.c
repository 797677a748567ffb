/*
 * admit.c - the admission rule of DESIGN §2 (see admit.h).
 *
 * Written with the overflow builtins rather than by reasoning about the
 * ranges of the arguments: the watermark comes from storage, now from a
 * clock and the limits from configuration, and none of them is trusted
 * here.
 */
#include "event/admit.h"

#include <stddef.h>

fr_admit_t fr_admit(int64_t ts_ms, int64_t now_ms, int64_t max_future_ms, int64_t watermark,
                    int64_t horizon_ms)
{
    if (ts_ms < FR_TS_MIN_MS || ts_ms > FR_TS_MAX_MS)
        return FR_ADMIT_OUT_OF_RANGE;
    /* future: ts - now > max_future; a difference too large for an int64
     * is only possible with ts far ahead (ts >= 0 here) */
    int64_t ahead;
    if (__builtin_sub_overflow(ts_ms, now_ms, &ahead))
        return FR_ADMIT_FUTURE;
    if (ahead > (max_future_ms < 0 ? 0 : max_future_ms))
        return FR_ADMIT_FUTURE;
    if (horizon_ms <= 0 || watermark == INT64_MIN)
        return FR_ADMIT_OK;
    /* late: ts < watermark - horizon; below INT64_MIN nothing is late */
    int64_t low;
    if (__builtin_sub_overflow(watermark, horizon_ms, &low))
        return FR_ADMIT_OK;
    return ts_ms < low ? FR_ADMIT_LATE : FR_ADMIT_OK;
}

const char *fr_admit_reason(fr_admit_t a)
{
    switch (a) {
    case FR_ADMIT_OUT_OF_RANGE: return "timestamp_out_of_range";
    case FR_ADMIT_FUTURE: return "future_timestamp";
    case FR_ADMIT_LATE: return "late";
    default: return NULL;
    }
}

const char *fr_admit_detail(fr_admit_t a)
{
    switch (a) {
    case FR_ADMIT_OUT_OF_RANGE:
        return "event time is outside the accepted range, 0 (1970-01-01) to 253402300799999 "
               "(9999-12-31T23:59:59.999Z) in ms";
    case FR_ADMIT_FUTURE:
        return "event time is further ahead of the clock than processor.max_future_ms";
    case FR_ADMIT_LATE: return "event time is older than the watermark minus the largest window";
    default: return "";
    }
}
