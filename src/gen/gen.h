/*
 * gen.h - synthetic events for the demos, tests and benchmarks.
 *
 * Two kinds of stream, each matching an example configuration:
 *
 * fraud (examples/fraud/freshet.yaml): card transactions and, later,
 * their chargebacks (labels):
 *
 *   transactions {"card_id":"c000123","amount":12.34,"merchant_id":"m0042",
 *                 "country":"US","txn_id":"t5d1c0a9f3e2b4c67","ts":1700000000000}
 *   chargebacks  {"txn_id":"t5d1c0a9f3e2b4c67","is_fraud":1,"ts":1700000093512}
 *
 * clicks (examples/personalization/freshet.yaml): a clickstream
 *
 *   clicks {"user_id":"u000042","item_id":"i000317","category":"books",
 *           "event_type":"view","user_category":"u000042:books","ts":1700000000000}
 *
 * A generator is pure: all its state is in the fr_gen_t, its only inputs
 * besides the options are the times the caller passes, and the same options
 * with the same sequence of calls and times yield the same bytes.  It reads
 * no clock and keeps no global state, so any number of generators may run in
 * parallel threads (one thread per generator).
 *
 * What the fraud stream looks like:
 * - card activity is skewed (Zipf-Mandelbrot, s = 1.1): card "c000001" is
 *   the busiest, and the top 1% of cards make about half of all events;
 * - every card has a home country (US heavy, then GB, DE, FR, CA, BR, IN,
 *   JP, ...), a few favourite merchants (merchant popularity is skewed too)
 *   and a log-normal amount profile (medians $8..$150; one card in six is a
 *   high spender with a median of $150..$600); amounts have cents precision;
 * - most cards pay abroad about 3% of the time; one card in six travels: on
 *   about a third of the days (UTC) it is on a trip to one other country,
 *   where most of that day's payments are made;
 * - about fraud_rate of the events belong to fraud bursts (at most 32 open
 *   at once, so very high rates fall short): one card (drawn like ordinary
 *   activity half of the time, uniformly otherwise) suddenly making 3..8
 *   payments of 2.5..7 times its usual median at random merchants, in a
 *   country other than its home (three bursts in four) or at home, spaced by
 *   up to 50 events or 2..30 s of now_ms, whichever comes first.  So fraud
 *   shows in what the card did just before (several payments in minutes,
 *   new merchants, a country other than the last one, amounts far above the
 *   card's average) more than in one payment's amount or country: high
 *   spenders and travellers look alike there;
 * - every transaction of a burst gets a chargeback (is_fraud 1) whose ts is
 *   the transaction's ts plus a delay uniform in [label_delay_min_ms,
 *   label_delay_max_ms]; so does a share false_chargeback_rate of the
 *   legitimate ones (customers disputing what they bought: label noise,
 *   also is_fraud 1);
 * - from shift_at_ms on (event time), amounts are 3 times larger and home
 *   countries follow another mix (Latin America and Asia heavy): a drift to
 *   show;
 * - ts is now_ms minus a uniform jitter in [0, jitter_ms], so events arrive
 *   slightly out of order; about 2% of transactions omit `country`
 *   (optional).
 *
 * What the clickstream looks like: users (Zipf activity) browse in sessions
 * of 2..24 events, one category per session (mostly one of the user's 1..3
 * favourites), spaced 3..60 s of now_ms; a session views items (Zipf
 * popularity within the category), clicks some, adds some to the cart and
 * buys some of those.  How likely a session buys depends on the user (a
 * base propensity, log-uniform over 0.03..0.5), on whether the category is
 * a favourite, and grows with the session's views and carts: users who
 * viewed or carted items of a category in the last minutes are likelier to
 * purchase there soon, and users who bought before buy again.  At most 4096
 * sessions are open at once; when that many are open and none is due, the
 * one due soonest goes on, so fast runs compress sessions in time.
 *
 * Labels are released by fr_gen_due in event-time order, once now_ms reaches
 * their ts (or a little later when delays can be shorter than the jitter:
 * fr_gen_label_lag), so a caller that asks for them before each transaction streams
 * both sources in ts order (up to the jitter) and every chargeback after its
 * transaction.
 */
#ifndef FR_GEN_GEN_H
#define FR_GEN_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum fr_gen_kind {
    FR_GEN_FRAUD = 0,  /* transactions + chargebacks */
    FR_GEN_CLICKS = 1, /* clicks */
} fr_gen_kind_t;

/* Sources of a kind, at most; index 0 is the primary one (fr_gen_next),
 * index 1 the labels (fr_gen_due). */
#define FR_GEN_MAX_SOURCES 2

/* Labels waiting for their time, at most (FR_ELIMIT beyond). */
#define FR_GEN_MAX_PENDING ((size_t)1 << 22)

typedef struct fr_gen_opts {
    fr_gen_kind_t kind; /* default FR_GEN_FRAUD */
    uint64_t seed;      /* any value; same seed + same calls = same events */
    int64_t jitter_ms;  /* ts = now_ms - uniform [0, jitter_ms], >= 0 (default 2000) */
    /* fraud */
    uint64_t cards;     /* number of cards, ids "c000001".. (default 100000) */
    uint64_t merchants; /* number of merchants, ids "m0001".. (default 5000) */
    double fraud_rate;  /* share of transactions in fraud bursts, [0, 1] (default 0.005) */
    int64_t label_delay_min_ms; /* chargeback ts = transaction ts + uniform [min, max] */
    int64_t label_delay_max_ms; /* (default 10 s .. 5 min); 0 <= min <= max <= 366 days */
    double false_chargeback_rate; /* share of legitimate transactions charged back,
                                     [0, 1] (default 0.001) */
    int64_t shift_at_ms; /* from this event time on, the shifted stream
                            (default INT64_MAX: never) */
    /* clicks */
    uint64_t users; /* number of users, ids "u000001".. (default 50000) */
    uint64_t items; /* number of items, ids "i000001".. (default 20000) */
} fr_gen_opts_t;

#define FR_GEN_LIVE_DELAY_MIN_MS 10000LL
#define FR_GEN_LIVE_DELAY_MAX_MS 300000LL
#define FR_GEN_MAX_DELAY_MS (366LL * 86400000)

typedef struct fr_gen fr_gen_t;

/* The defaults above, with seed 1. */
fr_gen_opts_t fr_gen_opts_default(void);

/*
 * Creates a generator.  o is read, not kept (NULL = the defaults).  Returns
 * a generator to free with fr_gen_free, or NULL when an option is out of
 * range (an unknown kind; cards, merchants, users or items 0 or above 1e12;
 * a rate outside [0, 1]; negative jitter_ms; label delays outside
 * 0 <= min <= max <= FR_GEN_MAX_DELAY_MS) or memory is short.
 */
fr_gen_t *fr_gen_new(const fr_gen_opts_t *o);

/* Frees g (NULL is fine). */
void fr_gen_free(fr_gen_t *g);

/*
 * Appends one event of the primary source (a transaction or a click) to out
 * as a JSON object, without a newline; its ts is in [now_ms - jitter_ms,
 * now_ms].  Returns 0; FR_ELIMIT / FR_ENOMEM from the buffer, which is then
 * left unchanged (the generator has still moved on by one event); or
 * FR_ELIMIT / FR_ENOMEM before making anything, when FR_GEN_MAX_PENDING
 * labels are waiting or room for one more cannot be allocated (take labels
 * with fr_gen_due, or lower the rate or the delays).  Events are at most
 * FR_GEN_MAX_EVENT bytes.
 */
#define FR_GEN_MAX_EVENT 256
int fr_gen_next(fr_gen_t *g, int64_t now_ms, fr_buf_t *out);

/*
 * Appends the waiting label with the smallest (ts, creation order) to out
 * as a JSON object without a newline, if its ts <= due_ms - lag (see
 * fr_gen_label_lag).  Returns 1 when one was written, 0 when none is due
 * (none ever for a kind without labels), or FR_ELIMIT / FR_ENOMEM from the
 * buffer, which is left unchanged with the label still waiting.
 *
 * A caller that passes due_ms = now before each fr_gen_next(now), with
 * now never going back, gets the labels in non-decreasing ts order, each
 * after its transaction.  To take, at the end, every label with ts <= T,
 * pass T + fr_gen_label_lag(g).
 */
int fr_gen_due(fr_gen_t *g, int64_t due_ms, fr_buf_t *out);

/*
 * How long after its ts a label is released: max(0, jitter_ms -
 * label_delay_min_ms).  A transaction made at now has a ts as early as
 * now - jitter_ms, so its label's ts may be as early as now - jitter_ms +
 * label_delay_min_ms; holding labels that long keeps their order.
 */
int64_t fr_gen_label_lag(const fr_gen_t *g);

/* Labels waiting (made, not yet returned by fr_gen_due). */
size_t fr_gen_pending(const fr_gen_t *g);

/* The number of sources of a kind (0 for an unknown kind), and the name of
 * source i of a kind (a static string), or NULL past the end. */
int fr_gen_nsources(fr_gen_kind_t kind);
const char *fr_gen_source_name(fr_gen_kind_t kind, int i);

/*
 * A configuration (YAML text, static, NUL-terminated; *len its length when
 * len is not NULL) declaring exactly the sources of a kind as the example
 * configuration does, each with one feature view naming its entity where
 * the example has one (chargebacks have none).  The Kafka sink types events
 * with it when no -c FILE is given; tests check it against the examples.
 */
const char *fr_gen_builtin_config(fr_gen_kind_t kind, size_t *len);

/*
 * The `freshet generate` command (usage: its --help, docs/operations.md
 * "Test traffic").  argv[0] is "generate".  Returns the exit code: 0
 * success (also an unbounded run stopped by a signal), 1 error, 2 bad usage;
 * errors and usage problems are explained on stderr.  Writing to a closed
 * pipe on stdout ends the process by SIGPIPE, as for any filter.  Call from
 * the main thread; installs SIGINT/SIGTERM handlers for the duration of the
 * call and restores the previous ones.
 */
int fr_gen_cmd(int argc, char **argv);

#endif
