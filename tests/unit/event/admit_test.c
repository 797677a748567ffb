/* Unit tests of src/event/admit: the admission rule of DESIGN §2, table-driven
 * over the edges of int64, of the accepted range and of the windows. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "event/admit.h"

#define NOW INT64_C(1700000000000)
#define FUT INT64_C(300000)          /* processor.max_future_ms by default */
#define DAY INT64_C(86400000)
#define TEN_YEARS (3650 * DAY)       /* the largest window the config allows */
#define NONE INT64_MIN               /* no watermark yet */

typedef struct {
    int64_t ts, now, max_future, wm, horizon;
    fr_admit_t want;
    const char *why;
} row_t;

static const row_t rows[] = {
    /* the range, whatever else holds */
    {INT64_MIN, NOW, FUT, NONE, DAY, FR_ADMIT_OUT_OF_RANGE, "INT64_MIN"},
    {INT64_MIN + 1, NOW, FUT, NONE, DAY, FR_ADMIT_OUT_OF_RANGE, "INT64_MIN + 1 (the probe's poison)"},
    {INT64_MIN + 1, NOW, FUT, NOW, DAY, FR_ADMIT_OUT_OF_RANGE, "INT64_MIN + 1 beside a watermark"},
    {-1, NOW, FUT, NONE, DAY, FR_ADMIT_OUT_OF_RANGE, "one ms before 1970"},
    {FR_TS_MIN_MS, NOW, FUT, NONE, DAY, FR_ADMIT_OK, "1970-01-01T00:00:00.000Z"},
    {FR_TS_MAX_MS, FR_TS_MAX_MS, 0, NONE, DAY, FR_ADMIT_OK, "9999-12-31T23:59:59.999Z at that time"},
    {FR_TS_MAX_MS + 1, FR_TS_MAX_MS + 1, 0, NONE, DAY, FR_ADMIT_OUT_OF_RANGE, "year 10000"},
    {INT64_MAX, INT64_MAX, INT64_MAX, NONE, DAY, FR_ADMIT_OUT_OF_RANGE, "INT64_MAX"},
    {INT64_MAX - 1, NOW, FUT, NONE, DAY, FR_ADMIT_OUT_OF_RANGE, "INT64_MAX - 1"},

    /* future: ts - now > max_future, at the edge and with clocks at the limits */
    {NOW + FUT, NOW, FUT, NONE, DAY, FR_ADMIT_OK, "exactly max_future ahead"},
    {NOW + FUT + 1, NOW, FUT, NONE, DAY, FR_ADMIT_FUTURE, "one ms past max_future"},
    {NOW, NOW, 0, NONE, DAY, FR_ADMIT_OK, "max_future 0, ts = now"},
    {NOW + 1, NOW, 0, NONE, DAY, FR_ADMIT_FUTURE, "max_future 0, ts = now + 1"},
    {FR_TS_MAX_MS, NOW, FUT, NONE, DAY, FR_ADMIT_FUTURE, "range end, far ahead"},
    {FR_TS_MAX_MS, INT64_MIN, INT64_MAX, NONE, DAY, FR_ADMIT_FUTURE, "ts - now overflows"},
    {0, INT64_MIN, FUT, NONE, DAY, FR_ADMIT_FUTURE, "clock at INT64_MIN"},
    {0, INT64_MAX, FUT, NONE, DAY, FR_ADMIT_OK, "clock at INT64_MAX"},
    {NOW + TEN_YEARS, NOW, TEN_YEARS, NONE, DAY, FR_ADMIT_OK, "the largest max_future"},
    {NOW + 1, NOW, -5, NONE, DAY, FR_ADMIT_FUTURE, "a negative max_future counts as 0"},
    {FR_TS_MAX_MS, NOW, FUT, NOW, DAY, FR_ADMIT_FUTURE, "future comes before late"},

    /* late: ts < watermark - horizon */
    {NOW - DAY, NOW, FUT, NOW, DAY, FR_ADMIT_OK, "exactly one window behind"},
    {NOW - DAY - 1, NOW, FUT, NOW, DAY, FR_ADMIT_LATE, "one ms more than a window behind"},
    {0, NOW, FUT, NOW, TEN_YEARS, FR_ADMIT_LATE, "1970 behind a ten-year window"},
    {NOW - TEN_YEARS, NOW, FUT, NOW, TEN_YEARS, FR_ADMIT_OK, "ten years behind a ten-year window"},
    {NOW - TEN_YEARS - 1, NOW, FUT, NOW, TEN_YEARS, FR_ADMIT_LATE, "just over ten years behind"},
    {0, FR_TS_MAX_MS, FUT, FR_TS_MAX_MS, INT64_MAX, FR_ADMIT_OK, "wm - horizon overflows"},
    {0, NOW, FUT, INT64_MIN + 1, DAY, FR_ADMIT_OK, "a poisoned stored watermark"},
    {0, NOW, FUT, INT64_MIN + 1, INT64_MAX, FR_ADMIT_OK, "poisoned watermark, huge window"},
    {0, NOW, FUT, INT64_MAX, 1, FR_ADMIT_LATE, "a watermark at INT64_MAX"},
    {FR_TS_MAX_MS, FR_TS_MAX_MS, 0, INT64_MAX, INT64_MAX, FR_ADMIT_OK, "INT64_MAX - INT64_MAX"},

    /* no watermark yet: nothing is late */
    {0, NOW, FUT, NONE, DAY, FR_ADMIT_OK, "watermark none"},
    {0, NOW, FUT, NONE, TEN_YEARS, FR_ADMIT_OK, "watermark none, long window"},

    /* a source that feeds no view (labels) has no lateness */
    {0, NOW, FUT, NOW, 0, FR_ADMIT_OK, "no view: 1970 after now"},
    {NOW - 1, NOW, FUT, NOW, 0, FR_ADMIT_OK, "no view: one ms behind"},
    {NOW - 1, NOW, FUT, NOW, -1, FR_ADMIT_OK, "negative horizon: no view"},
    {NOW - 1, NOW, FUT, NOW, INT64_MIN, FR_ADMIT_OK, "horizon INT64_MIN: no view"},
    {-1, NOW, FUT, NOW, 0, FR_ADMIT_OUT_OF_RANGE, "no view still checks the range"},
    {NOW + FUT + 1, NOW, FUT, NOW, 0, FR_ADMIT_FUTURE, "no view still checks the future"},
};

Test(admit, table)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row_t *r = &rows[i];
        fr_admit_t got = fr_admit(r->ts, r->now, r->max_future, r->wm, r->horizon);
        cr_expect_eq(got, r->want, "row %zu (%s): got %d, want %d", i, r->why, (int)got,
                     (int)r->want);
    }
}

Test(admit, reasons_and_details)
{
    cr_assert_null(fr_admit_reason(FR_ADMIT_OK));
    cr_assert_str_eq(fr_admit_detail(FR_ADMIT_OK), "");
    cr_assert_str_eq(fr_admit_reason(FR_ADMIT_OUT_OF_RANGE), "timestamp_out_of_range");
    cr_assert_str_eq(fr_admit_reason(FR_ADMIT_FUTURE), "future_timestamp");
    cr_assert_str_eq(fr_admit_reason(FR_ADMIT_LATE), "late");
    cr_assert(strstr(fr_admit_detail(FR_ADMIT_OUT_OF_RANGE), "253402300799999"));
    cr_assert(strstr(fr_admit_detail(FR_ADMIT_FUTURE), "max_future_ms"));
    cr_assert(strstr(fr_admit_detail(FR_ADMIT_LATE), "watermark"));
}

/* An independent check of the rule over a seeded sweep of values near every
 * edge that matters, with the arithmetic done in 128 bits. */
Test(admit, agrees_with_wide_arithmetic)
{
    static const int64_t edges[] = {INT64_MIN,     INT64_MIN + 1, -DAY,         -1,
                                    0,             1,             NOW - DAY,    NOW,
                                    NOW + FUT,     NOW + FUT + 1, FR_TS_MAX_MS, FR_TS_MAX_MS + 1,
                                    INT64_MAX - 1, INT64_MAX};
    static const int64_t horizons[] = {INT64_MIN, -1, 0, 1, DAY, TEN_YEARS, INT64_MAX};
    size_t ne = sizeof edges / sizeof edges[0], nh = sizeof horizons / sizeof horizons[0];
    for (size_t a = 0; a < ne; a++)
        for (size_t b = 0; b < ne; b++)
            for (size_t c = 0; c < ne; c++)
                for (size_t h = 0; h < nh; h++) {
                    int64_t ts = edges[a], now = edges[b], wm = edges[c], hz = horizons[h];
                    __int128 want_future = (__int128)ts - now > FUT;
                    fr_admit_t want = FR_ADMIT_OK;
                    if (ts < 0 || ts > FR_TS_MAX_MS)
                        want = FR_ADMIT_OUT_OF_RANGE;
                    else if (want_future)
                        want = FR_ADMIT_FUTURE;
                    else if (hz > 0 && wm != INT64_MIN && (__int128)ts < (__int128)wm - hz)
                        want = FR_ADMIT_LATE;
                    cr_assert_eq(fr_admit(ts, now, FUT, wm, hz), want,
                                 "ts %lld now %lld wm %lld horizon %lld", (long long)ts,
                                 (long long)now, (long long)wm, (long long)hz);
                }
}
