/* Unit tests of the circuit breaker (src/serve/breaker.c). */
#include <criterion/criterion.h>

#include "serve/breaker.h"

Test(breaker, opens_after_threshold_and_recovers_through_one_probe)
{
    fr_breaker_t b;
    fr_breaker_init(&b, 3, 1000);
    int64_t t = 10000;
    cr_assert_eq(fr_breaker_allow(&b, t), FR_BREAKER_PASS);
    cr_assert_eq(fr_breaker_done(&b, FR_BREAKER_PASS, false, t), 0);
    fr_breaker_done(&b, FR_BREAKER_PASS, false, t);
    cr_assert_str_eq(fr_breaker_state(&b, t), "closed");
    cr_assert_eq(fr_breaker_done(&b, FR_BREAKER_PASS, false, t), FR_BREAKER_OPENED);
    cr_assert_str_eq(fr_breaker_state(&b, t), "open");
    /* calls that were in flight when it opened do not extend it */
    cr_assert_eq(fr_breaker_done(&b, FR_BREAKER_PASS, false, t + 500), 0);
    cr_assert_eq(fr_breaker_allow(&b, t + 999), FR_BREAKER_DENY);
    /* half-open: one probe only */
    cr_assert_str_eq(fr_breaker_state(&b, t + 1000), "half_open");
    cr_assert_eq(fr_breaker_allow(&b, t + 1000), FR_BREAKER_PROBE);
    cr_assert_eq(fr_breaker_allow(&b, t + 1001), FR_BREAKER_DENY);
    /* the probe fails: open again for open_ms */
    cr_assert_eq(fr_breaker_done(&b, FR_BREAKER_PROBE, false, t + 1002), 0);
    cr_assert_str_eq(fr_breaker_state(&b, t + 1500), "open");
    cr_assert_eq(fr_breaker_allow(&b, t + 2001), FR_BREAKER_DENY);
    cr_assert_eq(fr_breaker_allow(&b, t + 2002), FR_BREAKER_PROBE);
    cr_assert_eq(fr_breaker_done(&b, FR_BREAKER_PROBE, true, t + 2003), FR_BREAKER_CLOSED);
    cr_assert_str_eq(fr_breaker_state(&b, t + 2003), "closed");
    cr_assert_eq(fr_breaker_allow(&b, t + 2004), FR_BREAKER_PASS);
    cr_assert_eq(b.opened, 2);
}

Test(breaker, successes_reset_the_count)
{
    fr_breaker_t b;
    fr_breaker_init(&b, 2, 50);
    for (int i = 0; i < 10; i++) {
        fr_breaker_done(&b, FR_BREAKER_PASS, false, 1);
        fr_breaker_done(&b, FR_BREAKER_PASS, true, 1);
    }
    cr_assert_str_eq(fr_breaker_state(&b, 1), "closed");
}
