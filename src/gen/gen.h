/*
 * gen.h - synthetic card transactions for the demo, tests and benchmarks.
 *
 * The generator writes events of the demo source `transactions`
 * (examples/fraud/freshet.yaml) as JSON objects:
 *
 *   {"card_id":"c000123","amount":12.34,"merchant_id":"m0042","country":"US","ts":1700000000000}
 *
 * It is pure: all its state is in the fr_gen_t, its only input besides the
 * seed is the time the caller passes, and the same seed with the same
 * sequence of times yields the same bytes.  It reads no clock and keeps no
 * global state, so any number of generators may run in parallel threads
 * (one thread per generator).
 *
 * What the stream looks like:
 * - card activity is skewed (Zipf-Mandelbrot, s = 1.1): card "c000001" is
 *   the busiest, and the top 1% of cards make about half of all events;
 * - every card has a home country (US heavy, then GB, DE, FR, CA, BR, IN,
 *   JP, ...), a few favourite merchants (merchant popularity is skewed too)
 *   and a log-normal amount profile; amounts have cents precision;
 * - about fraud_rate of the events belong to fraud-like bursts (at most 32
 *   open at once, so very high rates fall short): one card suddenly making
 *   3..8 high-amount transactions ($200..$1600 typical) at random merchants
 *   (rarely its own), in a foreign country, spaced by up to 50 events or 2..30 s
 *   of now_ms, whichever comes first;
 * - ts is now_ms minus a uniform jitter in [0, jitter_ms], so events arrive
 *   slightly out of order; about 2% of events omit `country` (optional).
 */
#ifndef FR_GEN_GEN_H
#define FR_GEN_GEN_H

#include <stdint.h>

#include "core/buf.h"

typedef struct fr_gen_opts {
    uint64_t seed;      /* any value; same seed + same times = same events */
    uint64_t cards;     /* number of cards, ids "c000001".. (default 100000) */
    uint64_t merchants; /* number of merchants, ids "m0001".. (default 5000) */
    double fraud_rate;  /* share of events in fraud bursts, [0, 1] (default 0.005) */
    int64_t jitter_ms;  /* ts = now_ms - uniform [0, jitter_ms], >= 0 (default 2000) */
} fr_gen_opts_t;

typedef struct fr_gen fr_gen_t;

/* The defaults above, with seed 1. */
fr_gen_opts_t fr_gen_opts_default(void);

/*
 * Creates a generator.  o is read, not kept (NULL = the defaults).  Returns
 * a generator to free with fr_gen_free, or NULL when an option is out of
 * range (cards or merchants 0 or above 1e12, fraud_rate outside [0, 1],
 * negative jitter_ms) or memory is short.
 */
fr_gen_t *fr_gen_new(const fr_gen_opts_t *o);

/* Frees g (NULL is fine). */
void fr_gen_free(fr_gen_t *g);

/*
 * Appends one event to out as a JSON object, without a newline; its ts is
 * in [now_ms - jitter_ms, now_ms].  Returns 0, or FR_ELIMIT / FR_ENOMEM
 * from the buffer, which is then left unchanged (the generator has still
 * moved on by one event).  Events are at most FR_GEN_MAX_EVENT bytes.
 */
#define FR_GEN_MAX_EVENT 256
int fr_gen_next(fr_gen_t *g, int64_t now_ms, fr_buf_t *out);

/*
 * The `freshet generate` command.  argv[0] is "generate"; options:
 *   --count N       events to generate (default 10000; 0 = until SIGINT/SIGTERM)
 *   --rate R        events per second (default 0 = as fast as possible, at
 *                   most 1e9); a token bucket on the monotonic clock holding
 *                   up to half a second of tokens, exact over time
 *   --seed S        generator seed (default: from the clock and pid; the
 *                   summary prints it)
 *   --cards N, --merchants N, --fraud-rate F, --jitter-ms MS   (fr_gen_opts_t)
 *   --to DEST       "-" NDJSON on stdout (default), a file path (NDJSON,
 *                   truncated), http[s]://HOST:PORT/v1/events/SOURCE:
 *                   NDJSON batches POSTed with libcurl, each carrying an
 *                   Idempotency-Key unique to the batch; a batch that fails
 *                   (transport error, 408, 429, 5xx, or a 2xx answer whose
 *                   "accepted" + "rejected" is not the batch size) is
 *                   retried up to 5 times, 0.1 s to 1.6 s apart, with the
 *                   same key; other 4xx answers stop the run at once;
 *                   or kafka://HOST:PORT[,HOST:PORT...]/TOPIC: one message
 *                   per event through an idempotent librdkafka producer
 *                   (linger.ms 5, murmur2 partitioning), keyed by the
 *                   event's entity (the first feature view's on the source:
 *                   card_id for the built-in one); the run waits for every
 *                   delivery report, and the summary counts acknowledged
 *                   events (gen_int.h, gen_kafka.c)
 *   --batch N       events per HTTP request (default 500, at most 100000)
 *   --format F      Kafka only: json (default; the NDJSON line itself) or
 *                   avro (Confluent-framed fr_avro_encode of the event typed
 *                   with fr_event_from_json; fr_avro_schema_json of the
 *                   source is registered under "<TOPIC>-value" first, and
 *                   the summary prints its id)
 *   -c FILE         Kafka only (other sinks ignore it): the configuration
 *                   whose source types the events, whose registry
 *                   (embedded, or schema_registry.url) takes the schema, and
 *                   whose source kafka: properties the producer applies;
 *                   without it, a built-in copy of examples/fraud/
 *                   freshet.yaml's `transactions`
 *   --source NAME   with -c: the source (default: the first)
 *   --registry URL  with --format avro: a Confluent-compatible registry
 *                   (e.g. a running `freshet run`'s http://HOST:PORT) in
 *                   place of the configuration's; Avro needs this or -c
 *   --help          usage on stdout
 * With --rate, no event waits more than about 100 ms for its batch or write,
 * so slow rates deliver events promptly.  On a terminal, stderr shows an updating progress line;
 * a one-line summary always ends on stderr.  SIGINT/SIGTERM stop the run
 * after flushing what was generated (Kafka: after every delivery report; a
 * second signal drops the messages not sent yet, counted as failed).
 * Returns the exit code: 0 success (also an unbounded run stopped by a
 * signal), 1 error (I/O, HTTP, a bounded run interrupted; Kafka: the
 * configuration, the registry refusing the schema (409) or unreachable,
 * the cluster unreachable within 10 s, an event not fitting the source,
 * any failed delivery), 2 bad usage (also --format, --source or
 * --registry without a kafka:// destination, a malformed kafka:// URL,
 * --format avro without --registry or -c);
 * errors and usage problems are explained on stderr.  Writing to a closed
 * pipe on stdout ends the process by SIGPIPE, as for any filter.
 * Call from the main thread; installs SIGINT/SIGTERM handlers for the
 * duration of the call and restores the previous ones.
 */
int fr_gen_cmd(int argc, char **argv);

#endif
