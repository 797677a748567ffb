/*
 * history.h - the history of several sources as one stream of typed,
 * admitted events in arrival order: the one way offline work (training
 * sets, backfill) replays events through agg/.
 *
 * Each source's history comes from one input:
 *   - the embedded log: every embedded source together, in the order the
 *     log appended them (its arrival index, elog.h); these events were
 *     admitted at ingest and are all given;
 *   - a Kafka source's topic, every partition from the earliest retained
 *     message or a time to its end as of opening;
 *   - JSON Lines or Avro container files, read one after another as one
 *     history.
 * Topic and file events are decoded and admitted here exactly as the
 * processor does (DESIGN §2: range, future, then late against the
 * partition's own watermark); refused ones are counted by reason and, when
 * asked, handed to the source's dead-letter queue.
 *
 * Arrival order across inputs: events are merged by arrival time (the
 * log's append time, Kafka's message timestamp; for files, the event time)
 * keeping each partition's own order; at equal times the embedded log
 * comes first, then sources in configuration order, then partitions.  A
 * topic whose partitions run far apart in time is merged with at most
 * HIST_MAX_BUFFERED events held: beyond that the earliest held is given
 * even if a lagging partition might still hold earlier ones.
 *
 * A history belongs to one thread.
 */
#ifndef FR_OFFLINE_HISTORY_H
#define FR_OFFLINE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/value.h"
#include "event/avro.h"
#include "source/elog.h"

typedef enum {
    FR_HIST_NONE = 0, /* not read */
    FR_HIST_EMBEDDED, /* the embedded log */
    FR_HIST_KAFKA,    /* the source's topic */
    FR_HIST_JSONL,    /* files */
    FR_HIST_AVRO
} fr_hist_kind_t;

typedef struct fr_hist_input {
    fr_hist_kind_t kind;
    int64_t from_ms;           /* KAFKA: -1 the earliest retained, else from this time */
    const char *const *paths;  /* JSONL, AVRO: the files, in order (borrowed) */
    size_t npaths;
} fr_hist_input_t;

typedef struct fr_hist_opts {
    const fr_hist_input_t *inputs; /* [cfg->nsources], borrowed for the call */
    fr_elog_t *log;       /* EMBEDDED inputs read it (borrowed, outlives the history) */
    fr_elog_t *dlq;       /* files put refused events here; NULL: counted only */
    int dead_letters;     /* topics: refused messages to the dead-letter topic (else counted) */
    fr_avro_lookup_fn avro_lookup; /* Avro messages' writer schemas */
    void *avro_ctx;
    int64_t now_ms;       /* the clock for future timestamps */
} fr_hist_opts_t;

/* One event, valid until the next fr_history_next or close. */
typedef struct fr_hist_ev {
    int source;
    int32_t partition;
    uint64_t offset;      /* in its partition */
    int64_t time;         /* arrival time (ms) used for the merge; INT64_MIN unknown */
    int64_t ts;           /* event time, ms */
    const fr_value_t *vals; /* [the source's nfields]; strings point into rec */
    const void *rec;      /* the event as a typed record of the source as configured */
    size_t rec_len;
    int stable;           /* rec stays valid until the history closes (not only until
                             the next call) */
} fr_hist_ev_t;

typedef struct fr_history fr_history_t;

/* Opens the inputs of cfg (borrowed, outlives the history).  0, or an
 * error with err filled. */
int fr_history_open(const fr_config_t *cfg, const fr_hist_opts_t *o, fr_history_t **out,
                    char *err, size_t errlen);

/*
 * The next event into *ev.  0; FR_ENOTFOUND past the last one; FR_EUNAVAIL
 * (a broker or registry did not answer: call again later, nothing is
 * lost); another error with the reason in fr_history_error.
 */
int fr_history_next(fr_history_t *h, fr_hist_ev_t *ev);

typedef struct fr_hist_stats {
    uint64_t read;        /* events and messages read from the inputs */
    uint64_t given;       /* events given by fr_history_next */
    uint64_t refused;     /* refused: undecodable, out of range, future, late (files: dead
                             letters appended so far) */
    uint64_t late, future;
    uint64_t total;       /* records the embedded log held at opening (0 unknown) */
    /* files */
    uint64_t bytes_read, bytes_total;
    size_t file, nfiles;  /* the file being read, of how many (one source's) */
    size_t broken_files;  /* Avro files whose tail could not be read */
} fr_hist_stats_t;

void fr_history_stats(const fr_history_t *h, fr_hist_stats_t *out);
/*
 * The oldest event time an event of source s given from now on can have,
 * by admission: the least, over the partitions that may still give events,
 * of the greatest event time given from the partition minus the source's
 * horizon.  INT64_MIN when unbounded (no lateness, or a partition that has
 * given nothing yet); INT64_MAX when nothing more will come.
 */
int64_t fr_history_low_bound(const fr_history_t *h, int source);

/* What stopped the history, one line ("" when nothing did). */
const char *fr_history_error(const fr_history_t *h);
/* Makes the dead letters handed over so far durable.  0 or an error. */
int fr_history_flush(fr_history_t *h);
void fr_history_close(fr_history_t *h);

#endif
