/*
 * file.c - bounded sources over files (see file.h).
 *
 * Reading is one loop over "the next record of the history": the current
 * file's next line (JSON Lines) or record (Avro); at a file's end the next
 * file opens and its first offset and starting watermark are remembered.
 * What a record becomes (handed over, or refused here) follows from the
 * file's bytes, the watermark and the clock fixed at open alone, so
 * reading a stretch again after a seek decides the same way; the source
 * only remembers the offset below which its own refusals are in the
 * dead-letter queue already (dead_upto).
 *
 * Memory is bounded whatever the input: a poll's records live in one arena
 * that takes no more records past BATCH_BYTES (its maximum adds one longest
 * line and one typed record); a line is kept up to the source's limit and
 * the rest of it only counted; queued dead letters keep at most
 * FR_DLQ_MAX_PAYLOAD + 1 bytes of payload each (the log keeps 64 KiB and
 * marks the cut) and are appended once DLQ_QUEUE_MAX of them or
 * DLQ_QUEUE_BYTES are waiting.
 */
#include "source/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jw.h"
#include "event/avro.h"
#include "event/event.h"

#define BATCH_RECORDS 4096                 /* records handed out per poll, at most */
#define BATCH_BYTES ((size_t)8 << 20)      /* a poll takes no more records past this */
#define RECORD_ROOM ((size_t)4 << 20)      /* one typed record, or an Avro payload */
#define READ_CHUNK ((size_t)64 << 10)      /* JSON Lines are read in chunks of this */
#define DEFAULT_MAX_LINE ((size_t)1 << 20) /* without kafka.max_message_bytes */
#define DLQ_QUEUE_MAX 1024                 /* dead letters queued before appending */
#define DLQ_QUEUE_BYTES ((size_t)4 << 20)
#define DETAIL_MAX 512

enum { R_EOF = 0, R_REC = 1, R_DEAD = 2 }; /* what next_record found; < 0: an error */

/* Where a handed-out record came from, for dead letters' detail. */
typedef struct {
    uint32_t file;
    uint64_t where; /* JSON Lines: line number; Avro: record number (both from 1) */
} recmeta_t;

/* A queued dead letter: its strings are in dq_bytes (NUL-terminated detail). */
typedef struct {
    const char *reason; /* static */
    size_t detail, payload, plen;
} dead_t;

typedef struct {
    fr_source_t base;
    const fr_config_t *cfg;
    const fr_source_spec_t *spec;
    int src;
    fr_file_kind_t kind;
    fr_elog_t *dlq;
    char **paths;
    uint64_t *sizes;
    size_t npaths;
    uint64_t *first;   /* [npaths + 1] offset of file i's first record (known for i <= fi) */
    int64_t *wm_first; /* [npaths + 1] the watermark as file i starts (Avro) */
    uint8_t *broken;   /* [npaths] file i's tail could not be read (Avro) */
    size_t max_line;
    uint64_t fingerprint;
    int64_t now_ms; /* the clock for future timestamps (Avro) */
    /* where reading stands */
    size_t fi;       /* file being read; npaths once every file is read */
    int open;        /* file fi is open */
    uint64_t next;   /* offset of the next record */
    uint64_t where;  /* lines (JSON Lines) or records (Avro) of file fi read */
    uint64_t fbytes; /* bytes of file fi consumed (JSON Lines) */
    uint64_t done_bytes;
    int64_t wm;         /* greatest event time accepted (Avro); INT64_MIN: none */
    uint64_t dead_upto; /* refusals below this offset are dead-lettered already */
    int assigned;       /* the listener said where to start (JSON Lines) */
    /* JSON Lines */
    FILE *fp;
    char *rbuf;
    size_t rpos, rlen;
    int eof;
    /* Avro */
    fr_avro_file_t *af;
    int tail_broken;
    fr_value_t *vals;
    /* the last poll's records */
    fr_buf_t arena;
    size_t *roff;
    recmeta_t *meta;
    /* the refusal next_record found */
    const char *reason;
    char detail[DETAIL_MAX];
    /* dead letters not yet appended */
    dead_t *dq;
    fr_append_event_t *dq_ev;
    size_t ndq;
    fr_buf_t dq_bytes;
    uint64_t ndead;
    /* a final error */
    int err;
    char why[DETAIL_MAX];
} fsrc_t;

static const fr_source_ops_t jsonl_ops, avro_ops;

static fsrc_t *fsrc(fr_source_t *s)
{
    FR_ASSERT(s->ops == &jsonl_ops || s->ops == &avro_ops);
    return (fsrc_t *)s;
}

/* Cuts b back to len bytes (keeping its NUL terminator). */
static void buf_cut(fr_buf_t *b, size_t len)
{
    if (b->p && len < b->len) {
        b->len = len;
        b->p[len] = '\0';
    }
}

static int fail(fsrc_t *f, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(fsrc_t *f, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    f->err = rc;
    return rc;
}

/* "<path>:<line>: <detail>" or "<path>: record <n>: <detail>" into out. */
static void describe(const fsrc_t *f, uint32_t file, uint64_t where, const char *detail, char *out,
                     size_t n)
{
    const char *path = f->paths[file];
    size_t pl = strlen(path);
    if (pl > 160)
        path += pl - 160; /* the end of a long path says the most */
    if (f->kind == FR_FILE_JSONL)
        snprintf(out, n, "%s:%" PRIu64 ": %s", path, where, detail);
    else
        snprintf(out, n, "%s: record %" PRIu64 ": %s", path, where, detail);
}

/* ---- dead letters ---------------------------------------------------------- */

/* Appends the queued dead letters in one request.  0, or FR_EUNAVAIL with
 * the queue kept (the log failed: retry). */
static int flush_queue(fsrc_t *f)
{
    if (!f->ndq)
        return 0;
    if (!f->dlq) {
        /* a reader that keeps no dead letters (training sets): counted only */
        f->ndead += f->ndq;
        f->ndq = 0;
        fr_buf_reset(&f->dq_bytes);
        return 0;
    }
    for (size_t i = 0; i < f->ndq; i++)
        f->dq_ev[i] = (fr_append_event_t){.raw = f->dq_bytes.p + f->dq[i].payload,
                                          .raw_len = f->dq[i].plen,
                                          .reason = f->dq[i].reason,
                                          .detail = f->dq_bytes.p + f->dq[i].detail};
    fr_append_req_t req = {.source = f->src, .events = f->dq_ev, .n = f->ndq};
    int rc = fr_elog_append(f->dlq, &req);
    free(req.answer);
    if (rc)
        return FR_EUNAVAIL;
    f->ndead += f->ndq;
    f->ndq = 0;
    fr_buf_reset(&f->dq_bytes);
    return 0;
}

/* Queues one dead letter (reason static; detail and payload copied).  0, or
 * FR_EUNAVAIL / FR_ENOMEM with nothing queued. */
static int queue_dead(fsrc_t *f, const char *reason, const char *detail, const void *payload,
                      size_t plen)
{
    if (plen > FR_DLQ_MAX_PAYLOAD + 1)
        plen = FR_DLQ_MAX_PAYLOAD + 1; /* the log keeps 64 KiB and says it cut */
    if (f->ndq == DLQ_QUEUE_MAX || f->dq_bytes.len > DLQ_QUEUE_BYTES) {
        int rc = flush_queue(f);
        if (rc)
            return rc;
    }
    size_t at = f->dq_bytes.len, dlen = strlen(detail);
    int rc = fr_buf_add(&f->dq_bytes, detail, dlen + 1);
    size_t poff = f->dq_bytes.len;
    if (!rc && plen)
        rc = fr_buf_add(&f->dq_bytes, payload, plen);
    if (rc) {
        buf_cut(&f->dq_bytes, at);
        return rc == FR_ELIMIT ? FR_ENOMEM : rc;
    }
    f->dq[f->ndq++] = (dead_t){.reason = reason, .detail = at, .payload = poff, .plen = plen};
    return 0;
}

/* ---- reading --------------------------------------------------------------- */

static void close_file(fsrc_t *f)
{
    if (f->fp)
        fclose(f->fp);
    f->fp = NULL;
    fr_avro_file_close(f->af);
    f->af = NULL;
    f->open = 0;
}

static int open_file(fsrc_t *f)
{
    const char *path = f->paths[f->fi];
    f->where = f->fbytes = 0;
    f->rpos = f->rlen = 0;
    f->eof = f->tail_broken = 0;
    if (f->kind == FR_FILE_JSONL) {
        f->fp = fopen(path, "rb");
        if (!f->fp)
            return fail(f, -errno, "%s: cannot open: %s", path, strerror(errno));
    } else {
        char msg[DETAIL_MAX];
        int rc = fr_avro_file_open(path, f->spec, &f->af, msg, sizeof msg);
        if (rc)
            return fail(f, rc, "%s", msg);
    }
    f->open = 1;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/*
 * The next non-blank line of the open JSON Lines file, into the arena from
 * its current end: R_REC (the line without its leading blanks and its CR),
 * R_DEAD (too long: its first max_line + 1 bytes are there), R_EOF, or an
 * error.  Reads at most max_line + 1 bytes of a line into memory.
 */
static int jsonl_read(fsrc_t *f)
{
    for (;;) {
        size_t start = f->arena.len;
        uint64_t total = 0;
        int consumed = 0, eol = 0, nonblank = 0;
        char last = 0;
        while (!eol) {
            if (f->rpos == f->rlen) {
                if (f->eof)
                    break;
                size_t got = fread(f->rbuf, 1, READ_CHUNK, f->fp);
                if (got == 0) {
                    if (ferror(f->fp))
                        return fail(f, FR_EIO, "%s: cannot read: %s", f->paths[f->fi],
                                    strerror(errno ? errno : EIO));
                    f->eof = 1;
                    break;
                }
                f->rpos = 0;
                f->rlen = got;
            }
            const char *p = f->rbuf + f->rpos;
            size_t avail = f->rlen - f->rpos;
            const char *nl = memchr(p, '\n', avail);
            size_t take = nl ? (size_t)(nl - p) : avail;
            uint64_t cap = (uint64_t)f->max_line + 1;
            size_t keep = total < cap ? (size_t)(cap - total) : 0;
            if (keep > take)
                keep = take;
            if (keep) {
                int rc = fr_buf_add(&f->arena, p, keep);
                if (rc)
                    return fail(f, FR_ENOMEM, "%s: out of memory", f->paths[f->fi]);
            }
            for (size_t i = 0; !nonblank && i < take; i++)
                nonblank = !is_blank(p[i]);
            if (take)
                last = p[take - 1];
            total += take;
            eol = nl != NULL;
            consumed = 1;
            f->rpos += take + (size_t)eol;
            f->fbytes += take + (uint64_t)eol;
        }
        if (!consumed)
            return R_EOF;
        f->where++;
        if (!nonblank) {
            buf_cut(&f->arena, start);
            continue; /* a blank line is no record */
        }
        uint64_t len = total - (last == '\r');
        if (len > f->max_line) {
            f->reason = "too_large";
            snprintf(f->detail, sizeof f->detail,
                     "the line is %" PRIu64 " bytes, over the source's limit of %zu "
                     "(kafka.max_message_bytes, 1 MiB by default)",
                     len, f->max_line);
            return R_DEAD;
        }
        buf_cut(&f->arena, start + (size_t)len);
        size_t s = start;
        while (s < f->arena.len && is_blank(f->arena.p[s]))
            s++;
        if (s > start) {
            memmove(f->arena.p + start, f->arena.p + s, f->arena.len - s);
            buf_cut(&f->arena, f->arena.len - (s - start));
        }
        return R_REC;
    }
}

/* The decoded fields as a JSON object at the arena's end (nothing if it
 * cannot be written). */
static void payload_json(fsrc_t *f)
{
    fr_buf_t *b = &f->arena;
    size_t start = b->len;
    int rc = fr_buf_addc(b, '{');
    for (size_t i = 0; !rc && i < f->spec->nfields; i++) {
        if (i)
            rc = fr_buf_addc(b, ',');
        rc = rc ? rc : fr_jw_key(b, f->spec->fields[i].name);
        rc = rc ? rc : fr_jw_value(b, &f->vals[i]);
    }
    rc = rc ? rc : fr_buf_addc(b, '}');
    if (rc)
        buf_cut(b, start);
}

/*
 * The next record of the open Avro file: R_REC (a typed record at the
 * arena's end), R_DEAD (refused: by the decoder, for its entity key, a
 * future time or lateness; or the rest of a broken file), R_EOF, or an
 * error.  Accepted records advance the watermark.
 */
static int avro_read(fsrc_t *f)
{
    if (f->tail_broken)
        return R_EOF;
    size_t start = f->arena.len;
    fr_reject_t rej = {0};
    int64_t ts = 0;
    int rc = fr_avro_file_next(f->af, f->vals, &ts, &rej);
    if (rc == FR_ENOTFOUND)
        return R_EOF;
    f->where++;
    if (rc == FR_ECORRUPT) {
        /* the container is broken from here on: every later call says so */
        f->tail_broken = 1;
        f->broken[f->fi] = 1;
        f->reason = "malformed_avro";
        snprintf(f->detail, sizeof f->detail,
                 "the file cannot be read from here on; the rest of it is skipped: %s", rej.detail);
        return R_DEAD;
    }
    if (rc && (rc > -FR_EBASE || !rej.reason))
        return fail(f, rc, "%s: %s", f->paths[f->fi], rej.reason ? rej.detail : fr_strerror(rc));
    int decoded = rc == 0;
    if (!rc)
        rc = fr_event_check_keys(f->cfg, f->src, f->vals, &rej);
    if (!rc && ts > f->now_ms + f->cfg->processor.max_future_ms) {
        rej.reason = "future_timestamp";
        snprintf(rej.detail, sizeof rej.detail,
                 "event time is further ahead of the clock than processor.max_future_ms");
        rc = FR_ELIMIT;
    }
    int64_t low;
    if (!rc && f->wm != INT64_MIN && !__builtin_sub_overflow(f->wm, f->spec->horizon_ms, &low) &&
        ts < low) {
        rej.reason = "late";
        snprintf(rej.detail, sizeof rej.detail,
                 "event time is older than the watermark minus the largest window");
        rc = FR_ELIMIT;
    }
    if (rc) {
        f->reason = rej.reason;
        snprintf(f->detail, sizeof f->detail, "%s", rej.detail);
        if (decoded)
            payload_json(f);
        return R_DEAD;
    }
    if (ts > f->wm)
        f->wm = ts;
    rc = fr_record_encode(f->spec, f->fingerprint, f->vals, ts, &f->arena);
    if (rc) {
        buf_cut(&f->arena, start);
        return fail(f, rc == FR_ELIMIT ? FR_ENOMEM : rc, "%s: record %" PRIu64 ": %s",
                    f->paths[f->fi], f->where, fr_strerror(rc));
    }
    return R_REC;
}

/* The next record of the history, at the arena's end: R_REC, R_DEAD (why
 * in reason/detail, the payload at the arena's end), R_EOF after the last
 * file, or a final error.  The caller gives it offset f->next. */
static int next_record(fsrc_t *f)
{
    for (;;) {
        if (f->err)
            return f->err;
        if (f->fi >= f->npaths)
            return R_EOF;
        if (!f->open) {
            int rc = open_file(f);
            if (rc)
                return rc;
        }
        int rc = f->kind == FR_FILE_JSONL ? jsonl_read(f) : avro_read(f);
        if (rc != R_EOF)
            return rc;
        /* this file is done: the next one starts where it ended */
        close_file(f);
        f->done_bytes += f->sizes[f->fi];
        f->fi++;
        f->first[f->fi] = f->next;
        f->wm_first[f->fi] = f->wm;
    }
}

/* ---- the source's operations ------------------------------------------------- */

static int f_partitions(fr_source_t *s, int32_t *parts, size_t max, size_t *n)
{
    (void)s;
    *n = 0;
    if (max) {
        parts[0] = 0;
        *n = 1;
    }
    return 0;
}

static int f_seek(fr_source_t *s, int32_t partition, uint64_t offset)
{
    fsrc_t *f = fsrc(s);
    if (partition != 0)
        return FR_EINVAL;
    if (f->err)
        return f->err;
    if (offset < f->next) {
        /* back: reopen the file that holds offset, read up to it again */
        size_t k = f->fi < f->npaths ? f->fi : f->npaths - 1;
        while (k > 0 && f->first[k] > offset)
            k--;
        close_file(f);
        f->fi = k;
        f->next = f->first[k];
        f->wm = f->wm_first[k];
        f->done_bytes = 0;
        for (size_t i = 0; i < k; i++)
            f->done_bytes += f->sizes[i];
    }
    int rc = 0;
    while (f->next < offset) {
        fr_buf_reset(&f->arena);
        rc = next_record(f);
        if (rc <= 0)
            break; /* past the end: nothing more to read */
        f->next++;
    }
    fr_buf_reset(&f->arena);
    return rc < 0 ? rc : 0;
}

/* JSON Lines: the processor says where partition 0 starts (its listener
 * path is the one for sources that dead-letter at processing time). */
static int take_assignment(fsrc_t *f)
{
    int32_t part = 0;
    uint64_t next = 0;
    if (f->base.listener.assign) {
        int rc = f->base.listener.assign(f->base.listener.ctx, &f->base, &part, 1, &next);
        if (rc)
            return rc;
    }
    f->assigned = 1;
    return f_seek(&f->base, 0, next == UINT64_MAX ? 0 : next);
}

static int f_poll(fr_source_t *s, fr_source_rec_t *recs, size_t max, size_t *n, int timeout_ms)
{
    fsrc_t *f = fsrc(s);
    (void)timeout_ms; /* files never make one wait */
    *n = 0;
    if (f->err)
        return f->err;
    if (!f->assigned) {
        int rc = take_assignment(f);
        if (rc)
            return rc;
    }
    uint64_t first = f->next;
    fr_buf_reset(&f->arena);
    size_t got = 0, lim = max < BATCH_RECORDS ? max : BATCH_RECORDS;
    int rc = 0;
    while (got < lim && f->arena.len < BATCH_BYTES) {
        size_t start = f->arena.len;
        rc = next_record(f);
        if (rc <= 0)
            break;
        uint64_t off = f->next++;
        if (rc == R_DEAD) {
            if (off >= f->dead_upto) {
                char d[DETAIL_MAX];
                describe(f, (uint32_t)f->fi, f->where, f->detail, d, sizeof d);
                rc = queue_dead(f, f->reason, d, f->arena.p + start, f->arena.len - start);
                if (rc)
                    break;
                f->dead_upto = off + 1;
            }
            buf_cut(&f->arena, start);
            rc = 0;
            continue;
        }
        f->roff[got] = start;
        f->meta[got] = (recmeta_t){.file = (uint32_t)f->fi, .where = f->where};
        recs[got] = (fr_source_rec_t){.partition = 0,
                                      .offset = off,
                                      .len = f->arena.len - start,
                                      .opaque = &f->meta[got],
                                      .replay_of = -1};
        got++;
    }
    if (rc < 0 && f->err && got == 0)
        return rc; /* final (a file that cannot be read): nothing to hand over */
    if ((rc < 0 && !f->err) || flush_queue(f)) {
        /* the dead-letter queue failed: nothing of this poll is handed
         * over, and it is read again from its first record */
        if (rc >= 0 || rc == FR_EUNAVAIL)
            rc = FR_EUNAVAIL;
        int src = f_seek(s, 0, first);
        return src ? src : rc;
    }
    for (size_t i = 0; i < got; i++)
        recs[i].data = f->arena.p + f->roff[i];
    *n = got;
    return 0;
}

static int f_wait(fr_source_t *s, int timeout_ms)
{
    (void)s;
    (void)timeout_ms; /* nothing is ever appended to a file source */
    return 0;
}

static void f_release(fr_source_t *s)
{
    (void)s; /* the arena is reused by the next poll */
}

static uint64_t f_lag(fr_source_t *s)
{
    (void)s;
    return 0; /* unknown without reading ahead */
}

static int f_dead_letter(fr_source_t *s, const fr_source_rec_t *r, const char *reason,
                         const char *detail)
{
    fsrc_t *f = fsrc(s);
    const recmeta_t *m = r->opaque;
    char d[DETAIL_MAX];
    describe(f, m->file, m->where, detail ? detail : "", d, sizeof d);
    return queue_dead(f, reason, d, r->data, r->len);
}

static int f_flush(fr_source_t *s, int timeout_ms)
{
    (void)timeout_ms;
    return flush_queue(fsrc(s));
}

static int f_at_end(fr_source_t *s)
{
    fsrc_t *f = fsrc(s);
    return f->fi >= f->npaths;
}

static void f_close(fr_source_t *s)
{
    fsrc_t *f = fsrc(s);
    flush_queue(f); /* normally empty: the processor flushed at its last commit */
    close_file(f);
    for (size_t i = 0; f->paths && i < f->npaths; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f->sizes);
    free(f->first);
    free(f->wm_first);
    free(f->broken);
    free(f->rbuf);
    free(f->vals);
    free(f->roff);
    free(f->meta);
    free(f->dq);
    free(f->dq_ev);
    fr_buf_destroy(&f->arena);
    fr_buf_destroy(&f->dq_bytes);
    free(f);
}

static const fr_source_ops_t jsonl_ops = {
    .kind = "jsonl",
    .payload = FR_PAYLOAD_MESSAGE,
    .partitions = f_partitions,
    .seek = f_seek,
    .poll = f_poll,
    .wait = f_wait,
    .release = f_release,
    .lag = f_lag,
    .dead_letter = f_dead_letter,
    .flush = f_flush,
    .at_end = f_at_end,
    .close = f_close,
};

/* Avro records are checked here, so the processor hands nothing back: no
 * dead_letter (which also puts the source on the processor's path for
 * fixed partitions, seeked at its start). */
static const fr_source_ops_t avro_ops = {
    .kind = "avro-file",
    .payload = FR_PAYLOAD_RECORD,
    .partitions = f_partitions,
    .seek = f_seek,
    .poll = f_poll,
    .wait = f_wait,
    .release = f_release,
    .lag = f_lag,
    .at_end = f_at_end,
    .close = f_close,
};

/* ---- opening ------------------------------------------------------------------ */

/* Checks that path is a regular file that can be read (and for Avro, that
 * its header and first block are sound); its size into *size. */
static int check_file(fsrc_t *f, const char *path, uint64_t *size, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int rc = -errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    int rc = fstat(fileno(fp), &st) ? -errno : 0;
    if (rc)
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    else if (!S_ISREG(st.st_mode)) {
        rc = FR_EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path);
    }
    fclose(fp);
    if (rc)
        return rc;
    *size = (uint64_t)st.st_size;
    if (f->kind == FR_FILE_AVRO) {
        fr_avro_file_t *af = NULL;
        rc = fr_avro_file_open(path, f->spec, &af, err, errlen);
        fr_avro_file_close(af);
    }
    return rc;
}

int fr_file_source_open(const fr_config_t *cfg, int src, fr_file_kind_t kind,
                        const char *const *paths, size_t npaths, fr_elog_t *dlq, fr_source_t **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    if (src < 0 || (size_t)src >= cfg->nsources || !npaths) {
        snprintf(err, errlen, "%s", !npaths ? "no files to read" : "bad arguments");
        return FR_EINVAL;
    }
    const fr_source_spec_t *spec = &cfg->sources[src];
    if (kind == FR_FILE_JSONL && spec->format != FR_FORMAT_JSON) {
        snprintf(err, errlen,
                 "source '%s' reads Avro: its history cannot come from JSON Lines files (use "
                 "Avro container files)",
                 spec->name);
        return FR_EINVAL;
    }
    fsrc_t *f = calloc(1, sizeof *f);
    if (!f)
        goto nomem;
    f->base.ops = kind == FR_FILE_JSONL ? &jsonl_ops : &avro_ops;
    f->base.index = src;
    f->cfg = cfg;
    f->spec = spec;
    f->src = src;
    f->kind = kind;
    f->dlq = dlq;
    f->max_line =
        spec->kafka.max_message_bytes ? (size_t)spec->kafka.max_message_bytes : DEFAULT_MAX_LINE;
    f->fingerprint = fr_schema_fingerprint(spec);
    f->now_ms = fr_now_ms();
    f->wm = INT64_MIN;
    f->assigned = kind != FR_FILE_JSONL;
    fr_buf_init(&f->arena, BATCH_BYTES + f->max_line + 1 + RECORD_ROOM);
    fr_buf_init(&f->dq_bytes, DLQ_QUEUE_BYTES + FR_DLQ_MAX_PAYLOAD + 1 + DETAIL_MAX + 64);
    f->paths = calloc(npaths, sizeof *f->paths);
    f->sizes = calloc(npaths, sizeof *f->sizes);
    f->first = calloc(npaths + 1, sizeof *f->first);
    f->wm_first = calloc(npaths + 1, sizeof *f->wm_first);
    f->broken = calloc(npaths, 1);
    f->roff = calloc(BATCH_RECORDS, sizeof *f->roff);
    f->meta = calloc(BATCH_RECORDS, sizeof *f->meta);
    f->dq = calloc(DLQ_QUEUE_MAX, sizeof *f->dq);
    f->dq_ev = calloc(DLQ_QUEUE_MAX, sizeof *f->dq_ev);
    if (kind == FR_FILE_JSONL)
        f->rbuf = malloc(READ_CHUNK);
    else
        f->vals = calloc(FR_CONFIG_MAX_FIELDS, sizeof *f->vals);
    if (!f->paths || !f->sizes || !f->first || !f->wm_first || !f->broken || !f->roff || !f->meta ||
        !f->dq || !f->dq_ev || (!f->rbuf && !f->vals))
        goto nomem;
    f->npaths = npaths;
    f->wm_first[0] = INT64_MIN;
    for (size_t i = 0; i < npaths; i++) {
        f->paths[i] = strdup(paths[i]);
        if (!f->paths[i])
            goto nomem;
        int rc = check_file(f, paths[i], &f->sizes[i], err, errlen);
        if (rc) {
            f_close(&f->base);
            return rc;
        }
    }
    *out = &f->base;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    if (f)
        f_close(&f->base);
    return FR_ENOMEM;
}

void fr_file_source_progress(fr_source_t *s, fr_file_progress_t *out)
{
    fsrc_t *f = fsrc(s);
    uint64_t total = 0;
    size_t broken = 0;
    for (size_t i = 0; i < f->npaths; i++) {
        total += f->sizes[i];
        broken += f->broken[i];
    }
    *out = (fr_file_progress_t){
        .file = f->fi,
        .nfiles = f->npaths,
        .bytes_read = f->done_bytes + (f->open && f->kind == FR_FILE_JSONL ? f->fbytes : 0),
        .bytes_total = total,
        .records = f->next,
        .dead_letters = f->ndead,
        .broken_files = broken,
    };
}

int fr_file_source_error(fr_source_t *s, char *buf, size_t len)
{
    fsrc_t *f = fsrc(s);
    if (f->err && buf && len) {
        const char *why = f->why[0] ? f->why : fr_strerror(f->err);
        size_t n = strlen(why);
        if (n >= len)
            n = len - 1; /* cut: the caller's buffer decides */
        memcpy(buf, why, n);
        buf[n] = '\0';
    }
    return f->err;
}
