/*
 * admit.h - which events a source accepts (DESIGN §2): event times inside
 * the accepted range, not too far ahead of the clock, not late.
 */
#ifndef FR_EVENT_ADMIT_H
#define FR_EVENT_ADMIT_H

#include <stdint.h>

#define FR_TS_MIN_MS INT64_C(0)
#define FR_TS_MAX_MS INT64_C(253402300799999)

typedef enum { FR_ADMIT_OK = 0, FR_ADMIT_OUT_OF_RANGE, FR_ADMIT_FUTURE, FR_ADMIT_LATE } fr_admit_t;

fr_admit_t fr_admit(int64_t ts_ms, int64_t now_ms, int64_t max_future_ms, int64_t watermark,
                    int64_t horizon_ms);
const char *fr_admit_reason(fr_admit_t a);
const char *fr_admit_detail(fr_admit_t a);

#endif
