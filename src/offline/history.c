/*
 * history.c - several sources' histories as one stream (see history.h).
 *
 * The stream is a merge of "subs": the embedded log (one sub for every
 * embedded source: the log's arrival index orders them already) and one
 * sub per partition of each topic or file input.  The embedded sub peeks
 * one record at a time straight from the log's read snapshot (its bytes
 * stay valid until the history closes); the others hold queues of copied,
 * already admitted events, filled by polling their source.  The merge
 * gives the head with the smallest (arrival time, sub number) once every
 * sub that may still produce has a head, so each partition's order is
 * kept and no event is given before an earlier one that could still come.
 */
#include "offline/history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/admit.h"
#include "event/decode.h"
#include "event/event.h"
#include "source/file.h"
#include "source/kafka.h"

#define HIST_MAX_BUFFERED 200000 /* events held in queues for the merge, at most */
#define POLL_BATCH 1024
#define POLL_WAIT_MS 200         /* a topic's poll waits this long for messages */
#define MAX_PROJ 16              /* writer schemas remembered per embedded source */
#define MAX_PARTS 65536

typedef struct qrec {
    int64_t time, ts;
    uint64_t offset;
    uint32_t len;
    unsigned char data[]; /* a typed record of the source under its own fingerprint */
} qrec_t;

typedef struct {
    int stream;        /* -1: the embedded log */
    int32_t partition;
    qrec_t **q;        /* ring */
    size_t head, len, cap;
    int ended;         /* nothing more will come into the queue */
    int64_t gwm;       /* greatest event time given from it (INT64_MIN: none) */
} sub_t;

/* A topic or file input of one source. */
typedef struct {
    int source;
    fr_source_t *src;
    fr_decoder_t *dec;     /* messages (topics, JSON Lines) */
    int64_t *wm;           /* per partition: greatest admitted event time */
    int *sub;              /* per partition: index in h->subs, -1 none yet */
    size_t nparts;         /* entries of wm and sub */
    int at_end;
    int known;             /* every partition has its sub */
    int file;              /* a file source (counts its own reads and refusals) */
} stream_t;

typedef struct {
    fr_record_proj_t p[MAX_PROJ];
    size_t n;
} projs_t;

struct fr_history {
    const fr_config_t *cfg;
    fr_hist_opts_t o;
    fr_elog_hist_t *eh;    /* embedded inputs, NULL when none */
    uint8_t *ewant;        /* [nsources] */
    projs_t *projs;        /* [nsources] writer projections of embedded records */
    fr_record_proj_t *ident; /* [nsources] identity projections */
    uint64_t *fps;         /* [nsources] current fingerprints */
    stream_t *streams;
    size_t nstreams;
    sub_t *subs;
    size_t nsubs, subs_cap;
    int emb_sub;           /* index of the embedded sub, -1 none */
    int64_t *egwm;         /* [nsources] greatest event time given per embedded source */
    fr_elog_hist_rec_t peek;
    int peeked;            /* peek holds the embedded sub's head */
    size_t buffered;
    fr_source_rec_t *recs;
    fr_value_t *vals;      /* decode scratch, [max nfields] */
    fr_buf_t enc;          /* record scratch */
    fr_buf_t schema;
    qrec_t *given;         /* the queued event given last (freed on the next call) */
    fr_hist_stats_t st;
    char err[512];
};

/* ---- opening ----------------------------------------------------------------- */

static int sub_for(fr_history_t *h, int si, int32_t part, int *out);

static int open_stream(fr_history_t *h, int s, const fr_hist_input_t *in, char *err,
                       size_t errlen)
{
    const fr_config_t *cfg = h->cfg;
    stream_t *st = &h->streams[h->nstreams];
    memset(st, 0, sizeof *st);
    st->source = s;
    int rc;
    if (in->kind == FR_HIST_KAFKA) {
        rc = fr_kafka_source_open_history(cfg, s, in->from_ms, &st->src, err, errlen);
    } else {
        rc = fr_file_source_open(cfg, s, in->kind == FR_HIST_JSONL ? FR_FILE_JSONL : FR_FILE_AVRO,
                                 in->paths, in->npaths, h->o.dlq, &st->src, err, errlen);
    }
    if (rc)
        return rc;
    h->nstreams++;
    st->file = in->kind != FR_HIST_KAFKA;
    if (st->src->ops->payload == FR_PAYLOAD_MESSAGE) {
        rc = fr_decoder_new(cfg, s, h->o.avro_lookup, h->o.avro_ctx, &st->dec);
        if (rc) {
            snprintf(err, errlen, "source %s: %s", cfg->sources[s].name, fr_strerror(rc));
            return rc;
        }
    }
    return 0;
}

int fr_history_open(const fr_config_t *cfg, const fr_hist_opts_t *o, fr_history_t **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    fr_history_t *h = calloc(1, sizeof *h);
    if (!h)
        return FR_ENOMEM;
    size_t ns = cfg->nsources ? cfg->nsources : 1;
    h->cfg = cfg;
    h->o = *o;
    h->o.inputs = NULL;
    h->emb_sub = -1;
    fr_buf_init(&h->enc, (size_t)64 << 20);
    fr_buf_init(&h->schema, (size_t)1 << 20);
    h->ewant = calloc(ns, 1);
    h->projs = calloc(ns, sizeof *h->projs);
    h->ident = calloc(ns, sizeof *h->ident);
    h->fps = calloc(ns, sizeof *h->fps);
    h->egwm = calloc(ns, sizeof *h->egwm);
    h->streams = calloc(ns, sizeof *h->streams);
    h->recs = calloc(POLL_BATCH, sizeof *h->recs);
    h->vals = calloc(FR_CONFIG_MAX_FIELDS, sizeof *h->vals);
    int rc = FR_ENOMEM;
    if (!h->ewant || !h->projs || !h->ident || !h->fps || !h->egwm || !h->streams || !h->recs ||
        !h->vals)
        goto fail;
    for (size_t s = 0; s < ns; s++)
        h->egwm[s] = INT64_MIN;
    int emb = 0;
    for (size_t s = 0; s < cfg->nsources; s++) {
        h->fps[s] = fr_schema_fingerprint(&cfg->sources[s]);
        rc = fr_record_proj_identity(&h->ident[s], &cfg->sources[s]);
        if (rc)
            goto fail;
        const fr_hist_input_t *in = &o->inputs[s];
        if (in->kind == FR_HIST_EMBEDDED) {
            h->ewant[s] = 1;
            emb = 1;
        } else if (in->kind != FR_HIST_NONE) {
            rc = open_stream(h, (int)s, in, err, errlen);
            if (rc)
                goto fail;
        }
    }
    if (emb) {
        if (!o->log) {
            snprintf(err, errlen, "no embedded log to read");
            rc = FR_EINVAL;
            goto fail;
        }
        rc = fr_elog_hist_open(o->log, h->ewant, &h->eh);
        if (rc) {
            snprintf(err, errlen, "the embedded log: %s", fr_strerror(rc));
            goto fail;
        }
        uint64_t rd, total;
        fr_elog_hist_progress(h->eh, &rd, &total);
        h->st.total = total;
        h->subs_cap = 8;
        h->subs = calloc(h->subs_cap, sizeof *h->subs);
        if (!h->subs) {
            rc = FR_ENOMEM;
            goto fail;
        }
        h->subs[0] = (sub_t){.stream = -1, .gwm = INT64_MIN};
        h->nsubs = 1;
        h->emb_sub = 0;
    }
    for (size_t si = 0; si < h->nstreams; si++) {
        if (h->streams[si].src->ops->part_info)
            continue;
        int sbi;
        rc = sub_for(h, (int)si, 0, &sbi); /* files: partition 0 */
        if (rc)
            goto fail;
    }
    *out = h;
    return 0;
fail:
    fr_history_close(h);
    return rc;
}

void fr_history_close(fr_history_t *h)
{
    if (!h)
        return;
    fr_elog_hist_close(h->eh);
    for (size_t i = 0; i < h->nstreams; i++) {
        stream_t *st = &h->streams[i];
        fr_source_close(st->src);
        fr_decoder_free(st->dec);
        free(st->wm);
        free(st->sub);
    }
    for (size_t i = 0; i < h->nsubs; i++) {
        sub_t *sb = &h->subs[i];
        for (size_t k = 0; k < sb->len; k++)
            free(sb->q[(sb->head + k) % sb->cap]);
        free(sb->q);
    }
    if (h->projs)
        for (size_t s = 0; s < h->cfg->nsources; s++)
            for (size_t k = 0; k < h->projs[s].n; k++)
                fr_record_proj_destroy(&h->projs[s].p[k]);
    if (h->ident)
        for (size_t s = 0; s < h->cfg->nsources; s++)
            fr_record_proj_destroy(&h->ident[s]);
    free(h->given);
    free(h->subs);
    free(h->streams);
    free(h->ewant);
    free(h->projs);
    free(h->ident);
    free(h->fps);
    free(h->egwm);
    free(h->recs);
    free(h->vals);
    fr_buf_destroy(&h->enc);
    fr_buf_destroy(&h->schema);
    free(h);
}

void fr_history_stats(const fr_history_t *h, fr_hist_stats_t *out)
{
    *out = h->st;
    for (size_t i = 0; i < h->nstreams; i++) {
        if (!h->streams[i].file)
            continue;
        fr_file_progress_t p;
        fr_file_source_progress(h->streams[i].src, &p);
        out->read += p.records;
        out->refused += p.dead_letters;
        out->broken_files += p.broken_files;
        out->bytes_read += p.bytes_read;
        out->bytes_total += p.bytes_total;
        out->file = p.file;
        out->nfiles = p.nfiles;
    }
}

const char *fr_history_error(const fr_history_t *h)
{
    return h->err;
}

int fr_history_flush(fr_history_t *h)
{
    for (size_t i = 0; i < h->nstreams; i++) {
        fr_source_t *s = h->streams[i].src;
        if (s->ops->flush) {
            int rc = s->ops->flush(s, 10000);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- queues ------------------------------------------------------------------- */

static int sub_for(fr_history_t *h, int si, int32_t part, int *out)
{
    stream_t *st = &h->streams[si];
    if (part < 0 || part >= MAX_PARTS)
        return FR_ECORRUPT;
    if ((size_t)part >= st->nparts) {
        size_t n = (size_t)part + 1;
        int64_t *wm = realloc(st->wm, n * sizeof *wm);
        if (!wm)
            return FR_ENOMEM;
        st->wm = wm;
        int *sub = realloc(st->sub, n * sizeof *sub);
        if (!sub)
            return FR_ENOMEM;
        st->sub = sub;
        for (size_t i = st->nparts; i < n; i++) {
            st->wm[i] = INT64_MIN;
            st->sub[i] = -1;
        }
        st->nparts = n;
    }
    if (st->sub[part] < 0) {
        if (h->nsubs == h->subs_cap) {
            size_t cap = h->subs_cap ? h->subs_cap * 2 : 8;
            sub_t *s = realloc(h->subs, cap * sizeof *s);
            if (!s)
                return FR_ENOMEM;
            h->subs = s;
            h->subs_cap = cap;
        }
        h->subs[h->nsubs] = (sub_t){.stream = si, .partition = part, .gwm = INT64_MIN};
        st->sub[part] = (int)h->nsubs++;
    }
    *out = st->sub[part];
    return 0;
}

static int sub_push(fr_history_t *h, sub_t *sb, qrec_t *r)
{
    if (sb->len == sb->cap) {
        size_t cap = sb->cap ? sb->cap * 2 : 64;
        qrec_t **q = malloc(cap * sizeof *q);
        if (!q)
            return FR_ENOMEM;
        for (size_t i = 0; i < sb->len; i++)
            q[i] = sb->q[(sb->head + i) % sb->cap];
        free(sb->q);
        sb->q = q;
        sb->cap = cap;
        sb->head = 0;
    }
    sb->q[(sb->head + sb->len) % sb->cap] = r;
    sb->len++;
    h->buffered++;
    return 0;
}

/* Hands a refused record to the dead-letter queue where asked. */
static int refuse(fr_history_t *h, stream_t *st, const fr_source_rec_t *r, const char *reason,
                  const char *detail)
{
    if (!st->file)
        h->st.refused++; /* a file source counts its dead letters itself */
    if (!strcmp(reason, "late"))
        h->st.late++;
    else if (!strcmp(reason, "future_timestamp"))
        h->st.future++;
    if (!st->src->ops->dead_letter || (!st->file && !h->o.dead_letters))
        return 0;
    return st->src->ops->dead_letter(st->src, r, reason, detail);
}

/*
 * Decodes, admits and queues the records of one poll of stream si.  A
 * registry that does not answer makes the partition seek back to the
 * record (nothing is lost) and FR_EUNAVAIL is returned after the rest of
 * the batch (other partitions) is queued.
 */
static int take_batch(fr_history_t *h, int si, size_t n)
{
    stream_t *st = &h->streams[si];
    const fr_source_spec_t *spec = &h->cfg->sources[st->source];
    int unavail = 0;
    int32_t blocked = -1;
    for (size_t i = 0; i < n; i++) {
        const fr_source_rec_t *r = &h->recs[i];
        if (unavail && r->partition == blocked)
            continue;
        if (!st->file)
            h->st.read++;
        int sbi;
        int rc = sub_for(h, si, r->partition, &sbi);
        if (rc)
            return rc;
        int64_t ts = 0;
        fr_reject_t rej = {0};
        if (st->dec) {
            rc = fr_decoder_decode(st->dec, r->data, r->len, h->vals, &ts, &rej);
            if (rc == FR_EUNAVAIL) {
                if (!unavail) {
                    unavail = 1;
                    blocked = r->partition;
                    if (!st->file)
                        h->st.read--;
                    int src = fr_source_seek(st->src, r->partition, r->offset);
                    if (src)
                        return src;
                }
                continue;
            }
            if (rc == FR_ENOMEM)
                return rc;
            if (rc) {
                rc = refuse(h, st, r, rej.reason ? rej.reason : "undecodable", rej.detail);
                if (rc)
                    return rc;
                continue;
            }
        } else {
            /* typed records (Avro files): admitted by the file source already */
            rc = fr_record_decode(&h->ident[st->source], r->data, r->len, h->vals, &ts);
            if (rc) {
                rc = refuse(h, st, r, "corrupt_record", "the record cannot be decoded");
                if (rc)
                    return rc;
                continue;
            }
        }
        int64_t *wm = &st->wm[r->partition];
        if (st->dec) {
            fr_admit_t a = fr_admit(ts, h->o.now_ms, h->cfg->processor.max_future_ms, *wm,
                                    spec->horizon_ms);
            if (a != FR_ADMIT_OK) {
                rc = refuse(h, st, r, fr_admit_reason(a), fr_admit_detail(a));
                if (rc)
                    return rc;
                continue;
            }
        }
        if (ts > *wm)
            *wm = ts;
        fr_buf_reset(&h->enc);
        rc = fr_record_encode(spec, h->fps[st->source], h->vals, ts, &h->enc);
        if (rc)
            return rc;
        qrec_t *q = malloc(sizeof *q + h->enc.len);
        if (!q)
            return FR_ENOMEM;
        q->time = r->time_ms > 0 && r->time_ms != INT64_MIN ? r->time_ms : ts;
        q->ts = ts;
        q->offset = r->offset;
        q->len = (uint32_t)h->enc.len;
        memcpy(q->data, h->enc.p, h->enc.len);
        rc = sub_push(h, &h->subs[sbi], q);
        if (rc) {
            free(q);
            return rc;
        }
    }
    return unavail ? FR_EUNAVAIL : 0;
}

/* Learns the partitions of stream si (every one gets its sub, so the merge
 * waits for each) and marks the subs that will get nothing more. */
static void mark_ended(fr_history_t *h, int si)
{
    stream_t *st = &h->streams[si];
    if (st->src->ops->at_end && st->src->ops->at_end(st->src))
        st->at_end = 1;
    fr_source_part_info_t info[256];
    size_t n = 0;
    if (!st->src->ops->part_info) {
        st->known = 1; /* one partition, made at open */
    } else if (st->src->ops->part_info(st->src, info, 256, &n) == 0 && n) {
        st->known = 1;
        for (size_t i = 0; i < n; i++) {
            int sbi;
            if (sub_for(h, si, info[i].partition, &sbi))
                continue;
            if (info[i].position != UINT64_MAX && info[i].end != UINT64_MAX &&
                info[i].position >= info[i].end)
                h->subs[sbi].ended = 1;
        }
    }
    if (st->at_end)
        for (size_t p = 0; p < st->nparts; p++)
            if (st->sub[p] >= 0)
                h->subs[st->sub[p]].ended = 1;
}

/* Polls stream si once.  0 (maybe nothing came), or an error. */
static int poll_stream(fr_history_t *h, int si)
{
    stream_t *st = &h->streams[si];
    if (st->at_end)
        return 0;
    size_t n = 0;
    int wait = !strcmp(st->src->ops->kind, "file") ? 0 : POLL_WAIT_MS;
    int rc = fr_source_poll(st->src, h->recs, POLL_BATCH, &n, wait);
    if (rc) {
        if (!strcmp(st->src->ops->kind, "file")) {
            char e[400];
            if (fr_file_source_error(st->src, e, sizeof e)) {
                snprintf(h->err, sizeof h->err, "%s", e);
                return rc;
            }
            return FR_EUNAVAIL; /* the dead-letter queue: retry */
        }
        return rc == FR_EIO ? rc : FR_EUNAVAIL;
    }
    rc = take_batch(h, si, n);
    fr_source_release(st->src);
    if (rc && rc != FR_EUNAVAIL)
        return rc;
    mark_ended(h, si);
    if (rc == FR_EUNAVAIL)
        return rc;
    if (!n && !st->at_end && wait)
        return FR_EUNAVAIL; /* nothing came in the wait: the caller may retry */
    return 0;
}

/* ---- the merge ------------------------------------------------------------------ */

static int get_proj(fr_history_t *h, int s, uint64_t fp, const fr_record_proj_t **out)
{
    if (fp == h->fps[s]) {
        *out = &h->ident[s];
        return 0;
    }
    projs_t *ps = &h->projs[s];
    for (size_t i = 0; i < ps->n; i++)
        if (ps->p[i].fingerprint == fp) {
            *out = &ps->p[i];
            return 0;
        }
    fr_buf_reset(&h->schema);
    int rc = fr_elog_schema_get(h->o.log, fp, &h->schema);
    if (rc)
        return rc == FR_ENOTFOUND ? FR_ECORRUPT : rc;
    if (ps->n == MAX_PROJ) {
        fr_record_proj_destroy(&ps->p[0]);
        memmove(&ps->p[0], &ps->p[1], (MAX_PROJ - 1) * sizeof ps->p[0]);
        ps->n--;
    }
    rc = fr_record_proj_from_schema(&ps->p[ps->n], &h->cfg->sources[s], fp, h->schema.p,
                                    h->schema.len);
    if (rc)
        return rc;
    *out = &ps->p[ps->n++];
    return 0;
}

/* Fills *ev from the embedded record in h->peek. */
static int give_embedded(fr_history_t *h, fr_hist_ev_t *ev)
{
    const fr_elog_hist_rec_t *r = &h->peek;
    h->peeked = 0;
    const fr_record_proj_t *pj;
    uint64_t fp = fr_record_fingerprint(r->data, r->len);
    int rc = get_proj(h, r->source, fp, &pj);
    int64_t ts = 0;
    if (!rc)
        rc = fr_record_decode(pj, r->data, r->len, h->vals, &ts);
    if (rc) {
        snprintf(h->err, sizeof h->err, "the embedded log of source %s: record %" PRIu64 ": %s",
                 h->cfg->sources[r->source].name, r->offset, fr_strerror(rc));
        return rc == FR_ENOMEM ? rc : FR_ECORRUPT;
    }
    const void *rec = r->data;
    size_t len = r->len;
    if (pj != &h->ident[r->source]) {
        /* an older writer's record: the configured shape, for whoever keeps it */
        fr_buf_reset(&h->enc);
        rc = fr_record_encode(&h->cfg->sources[r->source], h->fps[r->source], h->vals, ts,
                              &h->enc);
        if (rc)
            return rc;
        rec = h->enc.p;
        len = h->enc.len;
        rc = fr_record_decode(&h->ident[r->source], rec, len, h->vals, &ts);
        if (rc)
            return FR_ECORRUPT;
    }
    if (ts > h->egwm[r->source])
        h->egwm[r->source] = ts;
    *ev = (fr_hist_ev_t){.source = r->source,
                         .partition = 0,
                         .offset = r->offset,
                         .time = r->append_ms,
                         .ts = ts,
                         .vals = h->vals,
                         .rec = rec,
                         .rec_len = len,
                         .stable = rec == r->data};
    h->st.read++;
    h->st.given++;
    return 0;
}

/* Ensures sub i has its head, or is exhausted.  0, or an error (FR_EUNAVAIL: retry). */
static int fill(fr_history_t *h, size_t i)
{
    sub_t *sb = &h->subs[i];
    if (sb->stream < 0) {
        if (h->peeked || sb->ended)
            return 0;
        int rc = fr_elog_hist_next(h->eh, &h->peek);
        if (rc == FR_ENOTFOUND) {
            sb->ended = 1;
            return 0;
        }
        if (rc)
            return rc;
        h->peeked = 1;
        return 0;
    }
    while (!sb->len && !sb->ended) {
        if (h->buffered >= HIST_MAX_BUFFERED)
            return 0; /* give what is held rather than hold more */
        int rc = poll_stream(h, sb->stream);
        sb = &h->subs[i]; /* polling may grow the subs */
        if (rc)
            return rc;
    }
    return 0;
}

static int64_t head_time(const fr_history_t *h, const sub_t *sb)
{
    if (sb->stream < 0)
        return h->peek.append_ms;
    return sb->q[sb->head]->time;
}

static int has_head(const fr_history_t *h, const sub_t *sb)
{
    return sb->stream < 0 ? h->peeked : sb->len > 0;
}

/* Whether a's head comes before b's: by arrival time, then the embedded
 * log, sources in configuration order, partitions. */
static int before(const fr_history_t *h, const sub_t *a, const sub_t *b)
{
    int64_t ta = head_time(h, a), tb = head_time(h, b);
    if (ta != tb)
        return ta < tb;
    int sa = a->stream < 0 ? -1 : h->streams[a->stream].source;
    int sb = b->stream < 0 ? -1 : h->streams[b->stream].source;
    if (sa != sb)
        return sa < sb;
    return a->partition < b->partition;
}

int fr_history_next(fr_history_t *h, fr_hist_ev_t *ev)
{
    free(h->given);
    h->given = NULL;
    /* streams that have not shown any partition yet: poll until they do */
    for (size_t si = 0; si < h->nstreams; si++) {
        stream_t *st = &h->streams[si];
        while (!st->at_end && !st->known) {
            if (h->buffered >= HIST_MAX_BUFFERED)
                break;
            int rc = poll_stream(h, (int)si);
            if (rc)
                return rc;
        }
    }
    for (size_t i = 0; i < h->nsubs; i++) {
        int rc = fill(h, i);
        if (rc)
            return rc;
    }
    int best = -1;
    for (size_t i = 0; i < h->nsubs; i++) {
        const sub_t *sb = &h->subs[i];
        if (has_head(h, sb) && (best < 0 || before(h, sb, &h->subs[best])))
            best = (int)i;
    }
    if (best < 0)
        return FR_ENOTFOUND;
    sub_t *sb = &h->subs[best];
    if (sb->stream < 0)
        return give_embedded(h, ev);
    qrec_t *q = sb->q[sb->head];
    sb->head = (sb->head + 1) % sb->cap;
    sb->len--;
    h->buffered--;
    h->given = q;
    stream_t *st = &h->streams[sb->stream];
    int64_t ts = 0;
    int rc = fr_record_decode(&h->ident[st->source], q->data, q->len, h->vals, &ts);
    if (rc)
        return FR_ECORRUPT;
    if (ts > sb->gwm)
        sb->gwm = ts;
    *ev = (fr_hist_ev_t){.source = st->source,
                         .partition = sb->partition,
                         .offset = q->offset,
                         .time = q->time,
                         .ts = q->ts,
                         .vals = h->vals,
                         .rec = q->data,
                         .rec_len = q->len};
    h->st.given++;
    return 0;
}

int64_t fr_history_low_bound(const fr_history_t *h, int source)
{
    int64_t hz = h->cfg->sources[source].horizon_ms;
    if (hz <= 0)
        return INT64_MIN;
    int64_t lo = INT64_MAX;
    if (h->ewant[source]) {
        const sub_t *sb = &h->subs[h->emb_sub];
        if (!sb->ended || h->peeked) {
            if (h->egwm[source] == INT64_MIN)
                return INT64_MIN;
            int64_t l;
            if (__builtin_sub_overflow(h->egwm[source], hz, &l))
                return INT64_MIN;
            lo = l;
        }
    }
    for (size_t si = 0; si < h->nstreams; si++) {
        const stream_t *st = &h->streams[si];
        if (st->source != source)
            continue;
        if (!st->known)
            return INT64_MIN;
        for (size_t p = 0; p < st->nparts; p++) {
            if (st->sub[p] < 0)
                continue;
            const sub_t *sb = &h->subs[st->sub[p]];
            if (sb->ended && !sb->len)
                continue; /* gives nothing more */
            if (sb->gwm == INT64_MIN)
                return INT64_MIN;
            int64_t l;
            if (__builtin_sub_overflow(sb->gwm, hz, &l))
                return INT64_MIN;
            if (l < lo)
                lo = l;
        }
    }
    return lo;
}
