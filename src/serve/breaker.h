/*
 * breaker.h - a circuit breaker around store reads.
 *
 * Closed: calls go through; `threshold` failures in a row open it.  Open:
 * calls are refused at once (the caller serves defaults, degraded) for
 * open_ms.  Then half-open: one caller at a time is let through as a probe;
 * its success closes the circuit, its failure opens it again.
 *
 * Thread-safe (atomics); no allocation.  Time is passed in (ms).
 */
#ifndef FR_SERVE_BREAKER_H
#define FR_SERVE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fr_breaker {
    int threshold;
    int64_t open_ms;
    int fails;           /* failures in a row */
    int64_t open_until;  /* 0 when closed */
    int probing;         /* a half-open probe is out */
    uint64_t opened;     /* times it opened */
} fr_breaker_t;

void fr_breaker_init(fr_breaker_t *b, int threshold, int64_t open_ms);
enum { FR_BREAKER_DENY = 0, FR_BREAKER_PASS = 1, FR_BREAKER_PROBE = 2 };

/* Whether a call may go to the store now: DENY (serve defaults), PASS, or
 * PROBE (half-open: this caller is the one probe).  A PASS or PROBE ticket
 * must be reported with fr_breaker_done. */
int fr_breaker_allow(fr_breaker_t *b, int64_t now_ms);
/* Reports the outcome of an allowed call with its ticket.  Returns the
 * transition it made, for the log: FR_BREAKER_OPENED when this failure
 * opened a closed circuit, FR_BREAKER_CLOSED when this probe's success
 * closed it, else 0 (a failed probe re-opening it is not a transition). */
enum { FR_BREAKER_OPENED = 1, FR_BREAKER_CLOSED = 2 };
int fr_breaker_done(fr_breaker_t *b, int ticket, bool ok, int64_t now_ms);
/* "closed", "open" or "half_open". */
const char *fr_breaker_state(fr_breaker_t *b, int64_t now_ms);

#endif
