/* breaker.c - see breaker.h. */
#include "serve/breaker.h"

void fr_breaker_init(fr_breaker_t *b, int threshold, int64_t open_ms)
{
    b->threshold = threshold > 0 ? threshold : 1;
    b->open_ms = open_ms > 0 ? open_ms : 1;
    b->fails = 0;
    b->open_until = 0;
    b->probing = 0;
    b->opened = 0;
}

int fr_breaker_allow(fr_breaker_t *b, int64_t now_ms)
{
    int64_t until = __atomic_load_n(&b->open_until, __ATOMIC_ACQUIRE);
    if (until == 0)
        return FR_BREAKER_PASS;
    if (now_ms < until)
        return FR_BREAKER_DENY;
    int expected = 0; /* half-open: exactly one probe at a time */
    return __atomic_compare_exchange_n(&b->probing, &expected, 1, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE)
               ? FR_BREAKER_PROBE
               : FR_BREAKER_DENY;
}

static void trip(fr_breaker_t *b, int64_t now_ms)
{
    __atomic_store_n(&b->open_until, now_ms + b->open_ms, __ATOMIC_RELEASE);
    __atomic_add_fetch(&b->opened, 1, __ATOMIC_RELAXED);
}

int fr_breaker_done(fr_breaker_t *b, int ticket, bool ok, int64_t now_ms)
{
    if (ticket == FR_BREAKER_PROBE) {
        __atomic_store_n(&b->fails, ok ? 0 : b->threshold, __ATOMIC_RELEASE);
        if (ok)
            __atomic_store_n(&b->open_until, 0, __ATOMIC_RELEASE);
        else
            trip(b, now_ms);
        __atomic_store_n(&b->probing, 0, __ATOMIC_RELEASE);
        return ok ? FR_BREAKER_CLOSED : 0;
    }
    if (ticket != FR_BREAKER_PASS)
        return 0;
    if (ok) {
        __atomic_store_n(&b->fails, 0, __ATOMIC_RELEASE);
        return 0;
    }
    int fails = __atomic_add_fetch(&b->fails, 1, __ATOMIC_ACQ_REL);
    int64_t zero = 0;
    /* only the call that crosses the threshold while closed opens it */
    if (fails >= b->threshold &&
        __atomic_compare_exchange_n(&b->open_until, &zero, now_ms + b->open_ms, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        __atomic_add_fetch(&b->opened, 1, __ATOMIC_RELAXED);
        return FR_BREAKER_OPENED;
    }
    return 0;
}

const char *fr_breaker_state(fr_breaker_t *b, int64_t now_ms)
{
    int64_t until = __atomic_load_n(&b->open_until, __ATOMIC_ACQUIRE);
    if (until == 0)
        return "closed";
    return now_ms < until ? "open" : "half_open";
}
