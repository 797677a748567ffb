/*
 * admit.c - see admit.h.
 */
#include "event/admit.h"

#include <stddef.h>

fr_admit_t fr_admit(int64_t ts_ms, int64_t now_ms, int64_t max_future_ms, int64_t watermark,
                    int64_t horizon_ms)
{
    if (ts_ms < FR_TS_MIN_MS || ts_ms > FR_TS_MAX_MS)
        return FR_ADMIT_OUT_OF_RANGE;
    int64_t limit;
    if (!__builtin_add_overflow(now_ms, max_future_ms, &limit) && ts_ms > limit)
        return FR_ADMIT_FUTURE;
    int64_t low;
    if (horizon_ms > 0 && watermark != INT64_MIN &&
        !__builtin_sub_overflow(watermark, horizon_ms, &low) && ts_ms < low)
        return FR_ADMIT_LATE;
    return FR_ADMIT_OK;
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
    case FR_ADMIT_OUT_OF_RANGE: return "event time is outside the accepted range";
    case FR_ADMIT_FUTURE:
        return "event time is further ahead of the clock than processor.max_future_ms";
    case FR_ADMIT_LATE: return "event time is older than the watermark minus the largest window";
    default: return NULL;
    }
}
