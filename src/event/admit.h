/*
 * admit.h - whether an event with a typed time is admitted to a source
 * (DESIGN §2 "Late and future events"), in one place for every path that
 * admits events: HTTP ingest (source/elog.c), the processor on Kafka and
 * JSON Lines (engine/engine.c), Avro backfill files (source/file.c), and
 * the offline engine.
 *
 * Pure: no I/O and no clock; `now` is an argument.  The checks run in a
 * fixed order, range, then future, then late, and the first that fails is
 * the answer.  Every comparison is overflow-safe for any int64 argument,
 * so a hostile time can neither crash a sanitizer build nor poison a
 * watermark: only times inside [FR_TS_MIN_MS, FR_TS_MAX_MS] are ever
 * admitted, hence only they can become a watermark.
 */
#ifndef FR_EVENT_ADMIT_H
#define FR_EVENT_ADMIT_H

#include <stdint.h>

/* The accepted event-time range, ms since the epoch, inclusive:
 * 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z.  Every sum or
 * difference of two such times and a window (at most ten years) fits in
 * an int64 many times over. */
#define FR_TS_MIN_MS INT64_C(0)
#define FR_TS_MAX_MS INT64_C(253402300799999)

typedef enum {
    FR_ADMIT_OK = 0,
    FR_ADMIT_OUT_OF_RANGE, /* ts outside [FR_TS_MIN_MS, FR_TS_MAX_MS] */
    FR_ADMIT_FUTURE,       /* ts more than max_future_ms ahead of now */
    FR_ADMIT_LATE,         /* ts < watermark - horizon */
} fr_admit_t;

/*
 * Whether an event at ts_ms is admitted, given the wall clock now_ms, the
 * source's processor.max_future_ms (>= 0), its watermark (INT64_MIN: none
 * yet) and its horizon (the largest window of its views).  horizon_ms <= 0
 * means the source feeds no view: it has no lateness (DESIGN §2), so any
 * order is accepted.  Any int64 values are safe.
 */
fr_admit_t fr_admit(int64_t ts_ms, int64_t now_ms, int64_t max_future_ms, int64_t watermark,
                    int64_t horizon_ms);

/* The dead-letter reason of a refusal: "timestamp_out_of_range",
 * "future_timestamp", "late" (NULL for FR_ADMIT_OK).  Static strings. */
const char *fr_admit_reason(fr_admit_t a);
/* One human sentence on a refusal ("" for FR_ADMIT_OK).  Static. */
const char *fr_admit_detail(fr_admit_t a);

#endif
