/*
 * ingest.c - request body -> typed records -> embedded log (see ingest.h).
 *
 * JSON is parsed here once; the log keeps typed binary records.  Whether a
 * body is an array, one (possibly pretty-printed) object, or NDJSON is told
 * from its first bytes.  In NDJSON each line stands alone, so one malformed
 * line is a dead letter and the others go on.
 */
#include "serve/ingest.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jw.h"
#include "event/event.h"

/* Errors listed in an answer, at most (all are in the dead-letter queue). */
#define MAX_LISTED_ERRORS 20

typedef struct {
    fr_append_event_t *evs;
    json_t **docs;       /* the events' documents, to release */
    fr_reject_t *rejs;
    size_t *roff;        /* where each event's record starts in recs, or SIZE_MAX */
    size_t n, cap;
    size_t ndocs;
    size_t malformed;    /* events refused as malformed JSON */
} batch_t;

static int batch_grow(batch_t *b)
{
    if (b->n < b->cap)
        return 0;
    if (b->cap >= FR_INGEST_MAX_EVENTS)
        return FR_ELIMIT;
    size_t cap = b->cap ? b->cap * 2 : 64;
    if (cap > FR_INGEST_MAX_EVENTS)
        cap = FR_INGEST_MAX_EVENTS;
    fr_append_event_t *e = realloc(b->evs, cap * sizeof *e);
    if (!e)
        return FR_ENOMEM;
    b->evs = e;
    fr_reject_t *r = realloc(b->rejs, cap * sizeof *r);
    if (!r)
        return FR_ENOMEM;
    b->rejs = r;
    json_t **d = realloc(b->docs, cap * sizeof *d);
    if (!d)
        return FR_ENOMEM;
    b->docs = d;
    size_t *o = realloc(b->roff, cap * sizeof *o);
    if (!o)
        return FR_ENOMEM;
    b->roff = o;
    b->cap = cap;
    return 0;
}

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i < b->ndocs; i++)
        json_decref(b->docs[i]);
    free(b->evs);
    free(b->rejs);
    free(b->docs);
    free(b->roff);
}

/* Appends a blank event (no record yet) for the original text raw. */
static int batch_next(batch_t *b, const char *raw, size_t raw_len, fr_append_event_t **ev,
                      fr_reject_t **rej)
{
    int rc = batch_grow(b);
    if (rc)
        return rc;
    *ev = &b->evs[b->n];
    *rej = &b->rejs[b->n];
    memset(*ev, 0, sizeof **ev);
    (*ev)->raw = raw;
    (*ev)->raw_len = raw_len;
    b->roff[b->n++] = SIZE_MAX;
    return 0;
}

/*
 * Types one parsed event obj (raw[raw_len] its text, kept for the
 * dead-letter queue); records go to recs, their offsets fixed up later.
 * keep_json: the event came inside a larger body (an array, one object),
 * so a Kafka source produces obj written compactly rather than raw.  dup:
 * obj was parsed only by letting a repeated key win: the event is refused
 * (`duplicate_field`, why in dup_detail).
 */
static int add_event(const fr_config_t *cfg, int src, batch_t *b, json_t *obj, const char *raw,
                     size_t raw_len, int keep_json, const char *dup_detail, fr_buf_t *recs,
                     uint64_t fp, fr_value_t *vals)
{
    fr_append_event_t *ev;
    fr_reject_t *rej;
    int rc = batch_next(b, raw, raw_len, &ev, &rej);
    if (rc)
        return rc;
    ev->json = keep_json ? obj : NULL;
    const fr_source_spec_t *spec = &cfg->sources[src];
    if (dup_detail) {
        rej->reason = "duplicate_field";
        snprintf(rej->detail, sizeof rej->detail, "a field appears twice in the event: %.100s",
                 dup_detail);
        rc = FR_EPARSE;
    } else {
        rc = fr_event_from_json(spec, obj, vals, &ev->ts, rej);
    }
    if (!rc)
        rc = fr_event_check_keys(cfg, src, vals, rej);
    if (rc) {
        ev->reason = rej->reason;
        ev->detail = rej->detail;
        return 0;
    }
    b->roff[b->n - 1] = recs->len;  /* ev is the last event of the batch */
    return fr_record_encode(spec, fp, vals, ev->ts, recs);
}

/* Keeps doc (one event's document) alive with the batch. */
static void keep_doc(batch_t *b, json_t *doc)
{
    if (b->ndocs < b->n)
        b->docs[b->ndocs++] = doc;
    else
        json_decref(doc);
}

/*
 * Parses one JSON value from p[n], refusing repeated keys: a value whose
 * only fault is a repeated key is parsed again letting the last one win,
 * and *dup says so (why in je->text).  in_array: p is an array element (any
 * JSON value; more may follow), else an object or array alone on p[n].
 * NULL when p does not start with such a value; *used: its bytes.
 */
static json_t *load_one(const char *p, size_t n, int in_array, int *dup, size_t *used,
                        json_error_t *je)
{
    size_t flags = in_array ? JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK : 0;
    *dup = 0;
    json_t *v = json_loadb(p, n, flags | JSON_REJECT_DUPLICATES, je);
    *used = v ? (size_t)je->position : 0;
    if (!v && json_error_code(je) == json_error_duplicate_key) {
        json_error_t again;
        v = json_loadb(p, n, flags, &again);
        if (v) {
            *dup = 1; /* je keeps the duplicate's message */
            *used = (size_t)again.position;
        } else {
            *je = again;
        }
    }
    return v;
}

/* Drops every event of the batch (a body found to be broken part way). */
static void batch_clear(batch_t *b)
{
    for (size_t i = 0; i < b->ndocs; i++)
        json_decref(b->docs[i]);
    b->ndocs = 0;
    b->n = 0;
    b->malformed = 0;
}

static int add_malformed(batch_t *b, const char *raw, size_t raw_len, const json_error_t *je)
{
    fr_append_event_t *ev;
    fr_reject_t *rej;
    int rc = batch_next(b, raw, raw_len, &ev, &rej);
    if (rc)
        return rc;
    rej->reason = "malformed_json";
    snprintf(rej->detail, sizeof rej->detail, "%.120s (line %d, column %d)", je->text, je->line,
             je->column);
    ev->reason = rej->reason;
    ev->detail = rej->detail;
    b->malformed++;
    return 0;
}

static int error_json(fr_buf_t *out, int status, const char *error, const char *detail)
{
    fr_buf_reset(out);
    fr_buf_addstr(out, "{\"error\":");
    fr_jw_cstr(out, error);
    fr_buf_addstr(out, ",\"detail\":");
    fr_jw_cstr(out, detail);
    fr_buf_addc(out, '}');
    return status;
}

/* Renders the answer, prefixed by its 3-digit status (kept with the key). */
static int render(const fr_append_req_t *req, fr_buf_t *out)
{
    const batch_t *b = req->ctx;
    int status = req->accepted ? 200 : b->malformed == req->rejected ? 400 : 422;
    int rc = fr_buf_printf(out, "%03d{\"accepted\":%zu,\"rejected\":%zu,", status, req->accepted,
                           req->rejected);
    if (!rc && req->accepted)
        rc = fr_buf_printf(out, "\"first_offset\":%" PRIu64 ",\"last_offset\":%" PRIu64 ",",
                           req->first_offset, req->last_offset);
    else if (!rc)
        rc = fr_buf_addstr(out, "\"first_offset\":null,\"last_offset\":null,");
    rc = rc ? rc : fr_buf_addstr(out, "\"errors\":[");
    size_t listed = 0;
    for (size_t i = 0; !rc && i < req->n && listed < MAX_LISTED_ERRORS; i++) {
        const fr_append_event_t *ev = &req->events[i];
        if (!ev->reason)
            continue;
        rc = fr_buf_printf(out, "%s{\"index\":%zu,\"reason\":", listed++ ? "," : "", i);
        rc = rc ? rc : fr_jw_cstr(out, ev->reason);
        rc = rc ? rc : fr_buf_addstr(out, ",\"detail\":");
        rc = rc ? rc : fr_jw_cstr(out, ev->detail ? ev->detail : "");
        rc = rc ? rc : fr_buf_addc(out, '}');
    }
    rc = rc ? rc : fr_buf_addstr(out, "]}");
    return rc;
}

/* The 3-digit status that prefixes a rendered answer. */
static int status_of(const char *p)
{
    return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/*
 * An array body, element by element (each one's text is its dead letter's
 * payload, byte for byte).  0, or FR_ELIMIT (too many events), FR_ENOMEM;
 * an array broken anywhere is one malformed dead letter, the whole body.
 */
static int parse_array(const fr_config_t *cfg, int src, const char *body, size_t len, batch_t *b,
                       fr_buf_t *recs, uint64_t fp, fr_value_t *vals)
{
    const char *end = body + len, *q = skip_ws(body, end) + 1; /* past '[' */
    json_error_t je;
    memset(&je, 0, sizeof je);
    int rc = 0;
    q = skip_ws(q, end);
    if (q < end && *q == ']') {
        q++;
    } else {
        for (;;) {
            if (b->n >= FR_INGEST_MAX_EVENTS)
                return FR_ELIMIT;
            int dup;
            size_t used;
            json_t *el = load_one(q, (size_t)(end - q), 1, &dup, &used, &je);
            if (!el)
                goto broken;
            rc = add_event(cfg, src, b, el, q, used, 1, dup ? je.text : NULL, recs, fp, vals);
            keep_doc(b, el);
            if (rc)
                return rc;
            q = skip_ws(q + used, end);
            if (q < end && *q == ',') {
                q = skip_ws(q + 1, end);
                continue;
            }
            if (q < end && *q == ']') {
                q++;
                break;
            }
            snprintf(je.text, sizeof je.text, "expected ',' or ']' in the array");
            goto broken;
        }
    }
    if (skip_ws(q, end) == end)
        return 0;
    snprintf(je.text, sizeof je.text, "unexpected text after the array");
broken:
    batch_clear(b);
    return add_malformed(b, body, len, &je); /* nothing usable: a dead letter, 400 */
}

/*
 * Parses and types a body (one object, an array, or NDJSON) into b, the
 * records of accepted events into recs.  0, or the HTTP status of an
 * answer already in out (nothing usable).
 */
static int parse_body(const fr_config_t *cfg, int src, const char *body, size_t len, batch_t *b,
                      fr_buf_t *recs, fr_buf_t *out)
{
    fr_value_t vals[FR_CONFIG_MAX_FIELDS];
    int status = 0, rc = 0;
    uint64_t fp = fr_schema_fingerprint(&cfg->sources[src]);
    const char *end = body + len, *p = skip_ws(body, end);
    json_error_t je;
    int ndjson = 1;

    if (p == end) {
        status = error_json(out, 400, "empty_body", "expected a JSON object, an array, or NDJSON");
        return status;
    }
    if (*p == '[') {
        ndjson = 0;
        rc = parse_array(cfg, src, body, len, b, recs, fp, vals);
    } else if (*p == '{') {
        int dup;
        size_t used;
        json_t *doc = load_one(p, (size_t)(end - p), 1, &dup, &used, &je);
        if (doc && !json_is_object(doc)) {
            json_decref(doc);
            doc = NULL;
        }
        if (doc && skip_ws(p + used, end) == end) {
            /* one object (perhaps over several lines) */
            ndjson = 0;
            rc = add_event(cfg, src, b, doc, p, used, 1, dup ? je.text : NULL, recs, fp, vals);
            keep_doc(b, doc);
        } else {
            json_decref(doc); /* more after one object, or none: NDJSON */
        }
    }
    /* NDJSON: one document per line */
    for (const char *line = body; ndjson && !rc && line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        const char *s = skip_ws(line, le);
        if (s < le) {
            int dup;
            size_t used;
            json_t *doc = load_one(s, (size_t)(le - s), 0, &dup, &used, &je);
            if (!doc) {
                rc = add_malformed(b, s, (size_t)(le - s), &je);
            } else {
                rc = add_event(cfg, src, b, doc, s, (size_t)(le - s), 0, dup ? je.text : NULL,
                               recs, fp, vals);
                keep_doc(b, doc);
            }
        }
        line = nl ? nl + 1 : end;
    }
    if (rc == FR_ELIMIT) {
        status = error_json(out, 413, "too_many_events", "a request carries at most 100000 events");
        return status;
    }
    if (rc) {
        status = error_json(out, 503, "overloaded", fr_strerror(rc));
        return status;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->evs[i].reason) {
            /* rejs may have moved since (batch_grow): point at its home now */
            b->evs[i].detail = b->rejs[i].detail;
            continue;
        }
        size_t endo = recs->len;
        for (size_t j = i + 1; j < b->n; j++)
            if (b->roff[j] != SIZE_MAX) {
                endo = b->roff[j];
                break;
            }
        b->evs[i].rec = recs->p + b->roff[i];
        b->evs[i].rec_len = endo - b->roff[i];
    }
    return 0;
}

int fr_ingest(const fr_config_t *cfg, fr_elog_t *log, int src, const char *body, size_t len,
              const char *idem, size_t idem_len, fr_buf_t *out)
{
    batch_t b = {0};
    fr_buf_t recs;
    fr_buf_init(&recs, (size_t)1 << 30);
    int rc = 0;
    int status = parse_body(cfg, src, body, len, &b, &recs, out);
    if (status)
        goto out;
    fr_append_req_t req = {
        .source = src,
        .events = b.evs,
        .n = b.n,
        .idem_key = idem,
        .idem_len = idem_len,
        .body_hash = fr_hash64(body, len, 0x69646d),
        .render = render,
        .ctx = &b,
    };
    rc = fr_elog_append(log, &req);
    if (rc == FR_ECONFLICT) {
        status = error_json(out, 422, "idempotency_key_reused",
                            "this Idempotency-Key was used with a different body");
    } else if (rc) {
        status = error_json(out, 503, "log_unavailable", fr_strerror(rc));
    } else if (req.replayed) {
        fr_buf_reset(out);
        status = req.answer_len > 3 ? status_of(req.answer) : 500;
        fr_buf_add(out, req.answer + 3, req.answer_len > 3 ? req.answer_len - 3 : 0);
    } else {
        fr_buf_reset(out);
        if (render(&req, out) || out->len < 3) {
            status = error_json(out, 500, "internal", "answer too large");
        } else {
            status = status_of(out->p);
            memmove(out->p, out->p + 3, out->len - 3);
            out->len -= 3;
            out->p[out->len] = '\0';
        }
    }
    free(req.answer);
out:
    batch_free(&b);
    fr_buf_destroy(&recs);
    return status;
}

/* ---- replaying the embedded dead-letter queue ---- */

/* Dead letters replayed per append request, at most. */
#define REPLAY_BATCH 500

typedef struct {
    const fr_config_t *cfg;
    fr_elog_t *log;
    int only;           /* a source index, or -1 for all */
    uint64_t next_seq;  /* where the next scan starts */
    /* the batch being built: one source */
    int src;
    json_t *entries[REPLAY_BATCH];
    uint64_t seqs[REPLAY_BATCH];
    size_t n;
    fr_ingest_replay_t counts;
    int rc;
} replay_t;

/*
 * The payload of a dead letter, byte for byte, appended to out: NULL; or a
 * refusal reason when the stored payload is not what was received
 * ("payload_altered": written before payloads were kept exactly, with
 * U+FFFD where bytes were not UTF-8; or its length disagrees).
 */
static const char *entry_payload(const json_t *e, fr_buf_t *out)
{
    const json_t *text = json_object_get(e, "payload"), *b64 = json_object_get(e, "payload_b64");
    const json_t *nb = json_object_get(e, "payload_bytes");
    size_t start = out->len;
    int rc;
    if (json_is_string(b64))
        rc = fr_b64_decode(out, json_string_value(b64), json_string_length(b64));
    else if (json_is_string(text))
        rc = fr_buf_add(out, json_string_value(text), json_string_length(text));
    else
        return "payload_missing";
    if (rc)
        return rc == FR_EPARSE ? "payload_altered" : "payload_too_large";
    size_t n = out->len - start;
    if (json_is_integer(nb))
        return json_integer_value(nb) >= 0 && (uint64_t)json_integer_value(nb) == n
                   ? NULL
                   : "payload_altered";
    /* an older entry: text with U+FFFD may stand for other bytes */
    return n && memmem(out->p + start, n, "\xef\xbf\xbd", 3) ? "payload_altered" : NULL;
}

/* Types and appends the batch: each event marked as the replay of its
 * dead letter, so the log appends (or refuses) it and marks the dead
 * letter in one transaction, and skips a dead letter replayed before. */
static int replay_flush(replay_t *r)
{
    if (!r->n)
        return 0;
    const fr_config_t *cfg = r->cfg;
    const fr_source_spec_t *spec = &cfg->sources[r->src];
    uint64_t fp = fr_schema_fingerprint(spec);
    fr_append_event_t evs[REPLAY_BATCH];
    fr_reject_t rejs[REPLAY_BATCH];
    json_t *docs[REPLAY_BATCH] = {0};
    size_t roff[REPLAY_BATCH];
    fr_value_t vals[FR_CONFIG_MAX_FIELDS];
    fr_buf_t recs, payloads;
    fr_buf_init(&recs, (size_t)1 << 30);
    fr_buf_init(&payloads, (size_t)REPLAY_BATCH * (FR_DLQ_MAX_PAYLOAD + 1));
    size_t poff[REPLAY_BATCH + 1];
    const char *why[REPLAY_BATCH];
    int rc = 0;
    /* every payload first (the buffer may move while it grows) */
    for (size_t i = 0; !rc && i < r->n; i++) {
        poff[i] = payloads.len;
        why[i] = entry_payload(r->entries[i], &payloads);
        if (why[i] && payloads.p) {
            payloads.len = poff[i]; /* nothing of it is used */
            payloads.p[poff[i]] = '\0';
        }
    }
    poff[r->n] = payloads.len;
    for (size_t i = 0; !rc && i < r->n; i++) {
        fr_append_event_t *ev = &evs[i];
        memset(ev, 0, sizeof *ev);
        ev->replay_of = r->seqs[i];
        roff[i] = SIZE_MAX;
        if (why[i]) {
            ev->reason = why[i];
            ev->detail = "the dead letter's stored payload is not the bytes received; it is "
                         "not replayed";
            continue;
        }
        ev->raw = payloads.p ? payloads.p + poff[i] : "";
        ev->raw_len = poff[i + 1] - poff[i];
        json_error_t je;
        docs[i] = json_loadb(ev->raw, ev->raw_len, JSON_REJECT_DUPLICATES, &je);
        if (!docs[i]) {
            ev->reason = json_error_code(&je) == json_error_duplicate_key ? "duplicate_field"
                                                                           : "malformed_json";
            ev->detail = "the dead letter's payload is still not valid JSON";
            continue;
        }
        int trc = fr_event_from_json(spec, docs[i], vals, &ev->ts, &rejs[i]);
        if (!trc)
            trc = fr_event_check_keys(cfg, r->src, vals, &rejs[i]);
        if (trc) {
            ev->reason = rejs[i].reason;
            ev->detail = rejs[i].detail;
            continue;
        }
        roff[i] = recs.len;
        rc = fr_record_encode(spec, fp, vals, ev->ts, &recs);
    }
    for (size_t i = 0; !rc && i < r->n; i++) {
        if (roff[i] == SIZE_MAX)
            continue;
        size_t end = recs.len;
        for (size_t j = i + 1; j < r->n; j++)
            if (roff[j] != SIZE_MAX) {
                end = roff[j];
                break;
            }
        evs[i].rec = recs.p + roff[i];
        evs[i].rec_len = end - roff[i];
    }
    if (!rc) {
        fr_append_req_t req = {.source = r->src, .events = evs, .n = r->n};
        rc = fr_elog_append(r->log, &req);
        free(req.answer);
    }
    for (size_t i = 0; !rc && i < r->n; i++) {
        if (evs[i].skipped)
            r->counts.skipped++;
        else if (evs[i].reason)
            r->counts.refused++;
        else
            r->counts.replayed++;
    }
    for (size_t i = 0; i < r->n; i++) {
        json_decref(docs[i]);
        json_decref(r->entries[i]);
    }
    r->n = 0;
    fr_buf_destroy(&recs);
    fr_buf_destroy(&payloads);
    return rc;
}

static int replay_entry(void *ctx, uint64_t seq, const char *json, size_t len)
{
    replay_t *r = ctx;
    r->next_seq = seq + 1;
    json_error_t je;
    json_t *e = json_loadb(json, len, 0, &je);
    const char *name = e ? json_string_value(json_object_get(e, "source")) : NULL;
    int src = name ? fr_config_source_index(r->cfg, name) : -1;
    if (src < 0 || (r->only >= 0 && src != r->only)) {
        json_decref(e); /* another source's */
        return 0;
    }
    uint64_t off;
    if (fr_elog_dlq_replayed(r->log, seq, &off, NULL) == 0) {
        r->counts.skipped++;
        json_decref(e);
        return 0;
    }
    if (json_is_true(json_object_get(e, "truncated"))) {
        r->counts.truncated++; /* cut when it was stored: nothing whole to re-feed */
        json_decref(e);
        return 0;
    }
    if (r->n && (src != r->src || r->n == REPLAY_BATCH)) {
        r->rc = replay_flush(r);
        if (r->rc) {
            json_decref(e);
            return 1;
        }
    }
    r->src = src;
    r->entries[r->n] = e;
    r->seqs[r->n++] = seq;
    return 0;
}

int fr_ingest_replay_dlq(const fr_config_t *cfg, fr_elog_t *log, int src, fr_ingest_replay_t *out)
{
    replay_t *r = calloc(1, sizeof *r);
    if (!r)
        return FR_ENOMEM;
    r->cfg = cfg;
    r->log = log;
    r->only = src;
    r->next_seq = 0;
    /* the dead letters there when the replay starts */
    uint64_t last = 0;
    int rc = fr_elog_dlq_last(log, &last);
    while (!rc && r->next_seq <= last) {
        uint64_t before = r->next_seq;
        size_t lim = last - r->next_seq + 1 < 4096 ? (size_t)(last - r->next_seq + 1) : 4096;
        rc = fr_elog_dlq_scan(log, r->next_seq, lim, replay_entry, r);
        if (!rc)
            rc = r->rc;
        if (r->next_seq == before)
            break;
    }
    if (!rc)
        rc = replay_flush(r);
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->entries[i]);
    *out = r->counts;
    free(r);
    return rc;
}

/* ---- ingest into a Kafka source's topic ---- */

static int by_partition_offset(const void *a, const void *b)
{
    const fr_kafka_msg_t *x = *(fr_kafka_msg_t *const *)a, *y = *(fr_kafka_msg_t *const *)b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int fr_ingest_kafka(const fr_config_t *cfg, fr_kafka_producer_t *prod, int src, const char *body,
                    size_t len, fr_buf_t *out)
{
    batch_t b = {0};
    fr_buf_t recs, vals_buf;
    fr_buf_init(&recs, (size_t)1 << 30);
    fr_buf_init(&vals_buf, (size_t)1 << 31);
    fr_kafka_msg_t *msgs = NULL;
    size_t *voff = NULL;
    fr_record_proj_t pj = {0};
    fr_kafka_writer_t *avro = NULL;
    int status = parse_body(cfg, src, body, len, &b, &recs, out);
    if (status)
        goto out;
    const fr_source_spec_t *spec = &cfg->sources[src];
    size_t typed = 0;
    for (size_t i = 0; i < b.n; i++)
        typed += !b.evs[i].reason;
    if (typed && spec->format == FR_FORMAT_AVRO) {
        /* Avro: the topic's registered writer schema, or none: refused whole */
        char why[1536];
        int arc = fr_kafka_writer_get(prod, &avro, why, sizeof why);
        if (arc) {
            status = arc == FR_EUNAVAIL ? error_json(out, 503, "registry_unavailable", why)
                                        : error_json(out, 409, "schema_incompatible", why);
            goto out;
        }
    }
    int entity = -1; /* the key: the entity of the source's first view */
    for (size_t v = 0; v < cfg->nviews && entity < 0; v++)
        if (cfg->views[v].source == src)
            entity = cfg->views[v].entity;
    msgs = calloc(b.n ? b.n : 1, sizeof *msgs);
    voff = calloc(b.n + 1, sizeof *voff);
    int rc = !msgs || !voff ? FR_ENOMEM : fr_record_proj_identity(&pj, spec);
    /* values: JSON sources and dead letters take the event as it came (an
     * NDJSON line) or re-serialised; Avro sources the typed event written
     * with the registered schema (an event it cannot hold is refused) */
    for (size_t i = 0; !rc && i < b.n; i++) {
        fr_append_event_t *ev = &b.evs[i];
        voff[i] = vals_buf.len;
        if (avro && !ev->reason) {
            fr_value_t vals[FR_CONFIG_MAX_FIELDS];
            int64_t ts;
            fr_reject_t *rej = &b.rejs[i];
            rc = fr_record_decode(&pj, ev->rec, ev->rec_len, vals, &ts);
            if (!rc)
                rc = fr_kafka_writer_encode(avro, vals, &vals_buf, rej);
            if (rc == FR_ETYPE || rc == FR_EMISSING) {
                ev->reason = rej->reason;
                ev->detail = rej->detail;
                rc = 0;
            } else {
                continue;
            }
        }
        if (ev->json && !ev->reason) {
            char *d = json_dumps(ev->json, JSON_COMPACT | JSON_ENCODE_ANY);
            rc = d ? fr_buf_addstr(&vals_buf, d) : FR_ENOMEM;
            free(d);
        } else if (ev->raw) {
            rc = fr_buf_add(&vals_buf, ev->raw, ev->raw_len);
        }
    }
    if (!rc)
        voff[b.n] = vals_buf.len;
    char (*keys)[24] = NULL;
    if (!rc && !(keys = calloc(b.n ? b.n : 1, sizeof *keys)))
        rc = FR_ENOMEM;
    size_t accepted = 0, rejected = 0;
    for (size_t i = 0; !rc && i < b.n; i++) {
        fr_append_event_t *ev = &b.evs[i];
        fr_kafka_msg_t *m = &msgs[i];
        m->val = vals_buf.p + voff[i];
        m->vlen = voff[i + 1] - voff[i];
        if (ev->reason) {
            m->reason = ev->reason;
            m->detail = ev->detail;
            rejected++;
            continue;
        }
        fr_value_t vals[FR_CONFIG_MAX_FIELDS];
        int64_t ts;
        if (entity >= 0 && fr_record_decode(&pj, ev->rec, ev->rec_len, vals, &ts) == 0) {
            const char *k;
            int kl = fr_entity_key(&vals[entity], keys[i], &k);
            if (kl > 0) {
                m->key = k; /* into the record, or keys[i] for a long */
                m->klen = (size_t)kl;
            }
        }
        accepted++;
    }
    if (!rc)
        rc = fr_kafka_produce(prod, msgs, b.n, 15000);
    free(keys);
    fr_kafka_writer_put(prod, avro);
    avro = NULL;
    if (rc == FR_ENOMEM) {
        status = error_json(out, 503, "overloaded", fr_strerror(rc));
        goto out;
    }
    if (rc) {
        status = error_json(out, 503, "kafka_unavailable",
                            "the brokers did not acknowledge every event; retrying the request "
                            "may produce some twice");
        goto out;
    }
    status = accepted ? 200 : b.malformed == rejected ? 400 : 422;
    fr_buf_reset(out);
    int w = fr_buf_printf(out, "{\"accepted\":%zu,\"rejected\":%zu,\"first_offset\":null,"
                               "\"last_offset\":null,\"partitions\":{",
                          accepted, rejected);
    /* per partition the first and last offset given to accepted events */
    int listed = 0;
    fr_kafka_msg_t **acc = calloc(accepted ? accepted : 1, sizeof *acc);
    size_t na = 0;
    for (size_t i = 0; acc && i < b.n; i++)
        if (!msgs[i].reason)
            acc[na++] = &msgs[i];
    if (!acc)
        w = FR_ENOMEM;
    else
        qsort(acc, na, sizeof *acc, by_partition_offset);
    for (size_t i = 0; !w && i < na;) {
        size_t j = i;
        while (j + 1 < na && acc[j + 1]->partition == acc[i]->partition)
            j++;
        w = fr_buf_printf(out, "%s\"%" PRId32 "\":{\"first\":%" PRId64 ",\"last\":%" PRId64 "}",
                          listed++ ? "," : "", acc[i]->partition, acc[i]->offset, acc[j]->offset);
        i = j + 1;
    }
    free(acc);
    w = w ? w : fr_buf_addstr(out, "},\"errors\":[");
    listed = 0;
    for (size_t i = 0; !w && i < b.n && listed < MAX_LISTED_ERRORS; i++) {
        if (!b.evs[i].reason)
            continue;
        w = fr_buf_printf(out, "%s{\"index\":%zu,\"reason\":", listed++ ? "," : "", i);
        w = w ? w : fr_jw_cstr(out, b.evs[i].reason);
        w = w ? w : fr_buf_addstr(out, ",\"detail\":");
        w = w ? w : fr_jw_cstr(out, b.evs[i].detail ? b.evs[i].detail : "");
        w = w ? w : fr_buf_addc(out, '}');
    }
    w = w ? w : fr_buf_addstr(out, "]}");
    if (w)
        status = error_json(out, 500, "internal", "answer too large");
out:
    fr_kafka_writer_put(prod, avro);
    fr_record_proj_destroy(&pj);
    free(msgs);
    free(voff);
    batch_free(&b);
    fr_buf_destroy(&recs);
    fr_buf_destroy(&vals_buf);
    return status;
}
