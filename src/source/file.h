/*
 * file.h - bounded sources over files, for backfill (offline/backfill.c):
 * JSON Lines and Avro Object Container Files.
 *
 * One source reads its files one after another, in the order given, as one
 * history: one partition (0), offsets counting records from 0 across all
 * the files (file 2's first record follows file 1's last), one watermark
 * running across them.  A history split into several files is read exactly
 * as the same events in one file would be: ties in `last` and lateness
 * follow that order.
 *
 * JSON Lines: one JSON object per line (LF or CRLF; the last line may lack
 * its newline).  Blank lines (nothing but spaces, tabs, CR) are not records
 * and take no offset, as in NDJSON ingest.  Records are handed over as
 * messages (FR_PAYLOAD_MESSAGE): the processor decodes them as JSON and
 * checks lateness and future timestamps exactly as for Kafka messages, and
 * hands refusals back through the dead_letter op.  A line longer than the
 * source's kafka.max_message_bytes (1 MiB without a kafka block) is never
 * held whole: its first bytes are kept and it becomes a dead letter
 * "too_large" here.  JSON Lines need a source of format json.
 *
 * Avro: each record of each file is read with the file's writer schema and
 * projected onto the source's fields (event/avro.h), then handed over as a
 * typed record (FR_PAYLOAD_RECORD) under the source's own fingerprint.
 * The processor does not check typed records, so this source does what
 * ingest does for them: entity keys, future timestamps (against the clock
 * as the source was opened, so a record re-read after a seek is judged the
 * same way), then lateness against its own watermark (ts < watermark - the
 * source's horizon_ms).  A file broken from some block on (corrupt, or
 * truncated) gives one dead letter "malformed_avro" for the rest, which is
 * skipped; reading goes on with the next file.
 *
 * Dead letters (both kinds: reasons "late", "future_timestamp", the
 * decoders' reasons, "too_large") go to the embedded log's dead-letter
 * queue with the file and line (or record number) in their detail; the
 * payload is the line, or for Avro the decoded fields as a JSON object
 * (nothing when the record could not be decoded).  They are queued and
 * appended in groups: before a poll returns (those found by the source),
 * on flush (those the processor handed back), and on close.
 *
 * seek works to any offset (backwards by reopening the file that holds it
 * and reading up to it), so the processor can re-read after a store error;
 * refusals already dead-lettered are not dead-lettered again.
 *
 * A source belongs to one thread.
 */
#ifndef FR_SOURCE_FILE_H
#define FR_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "source/elog.h"
#include "source/source.h"

typedef enum { FR_FILE_JSONL = 0, FR_FILE_AVRO } fr_file_kind_t;

/*
 * A source over paths[npaths] (copied) of kind, for configured source src
 * of cfg.  cfg and dlq (the embedded log that receives the dead letters)
 * are borrowed and must outlive the source.  Every file is opened and
 * checked here (it exists, is readable; an Avro file's header and first
 * block are sound and its schema can be read as the source's), so a bad
 * path is reported before anything is read.  0 with *out owned by the
 * caller (fr_source_close, or hand it to fr_engine_new).  dlq may be NULL:
 * dead letters are then counted, not kept (readers that only look, such as
 * training sets).  FR_EINVAL (no
 * paths; JSON Lines for a source of format avro), -errno (cannot open or
 * read a file), FR_ECORRUPT / FR_EPARSE / FR_EMISMATCH (an Avro file, as
 * fr_avro_file_open says), FR_ENOMEM; err holds one line naming the file.
 */
int fr_file_source_open(const fr_config_t *cfg, int src, fr_file_kind_t kind,
                        const char *const *paths, size_t npaths, fr_elog_t *dlq, fr_source_t **out,
                        char *err, size_t errlen);

typedef struct fr_file_progress {
    size_t file, nfiles;   /* file being read (nfiles once all are read) */
    uint64_t bytes_read;   /* bytes consumed: of files done, plus the current
                              one's (JSON Lines only; Avro counts whole files) */
    uint64_t bytes_total;  /* sizes of all the files when opened */
    uint64_t records;      /* records read (the next offset) */
    uint64_t dead_letters; /* dead letters appended to the queue */
    size_t broken_files;   /* Avro files whose tail could not be read */
} fr_file_progress_t;

/* Where s (a file source) stands.  Any time between polls. */
void fr_file_source_progress(fr_source_t *s, fr_file_progress_t *out);

/*
 * The error that stopped s (a file that could not be read or reopened):
 * its code, with a one-line message in buf; 0 when none.  Such an error is
 * final: every later poll returns it.  (A dead-letter queue that cannot be
 * written is not final: poll and flush return FR_EUNAVAIL, keep what is
 * queued, and the processor retries.)
 */
int fr_file_source_error(fr_source_t *s, char *buf, size_t len);

#endif
