/*
 * elog.c - the embedded log on LMDB (see elog.h).
 *
 * Sub-databases:
 *   log.<source>  u64 BE offset -> record bytes
 *   dlq           u64 BE seq    -> JSON {"source","reason","detail","received_ms","payload"}
 *   idem          source \0 key -> u64 expiry_ms | u64 body hash | answer
 *   idem_exp      u64 BE expiry | source \0 key -> (empty), to purge in order
 *   schemas       u64 fingerprint -> writer field list (event/fr_schema_encode)
 *   arrivals      u64 BE seq -> u64 first offset | u32 count | i64 append ms | source name:
 *                 one entry per request (a run of consecutive offsets of one source);
 *                 seq counts records of every source in the order they were
 *                 appended, so offline readers can replay all sources in arrival order
 *   meta          "wm.<source>" -> i64 watermark;
 *                 "seq" -> u64 the next arrival sequence number;
 *                 "arr0.<source>" -> u64 the first offset covered by arrivals
 *                 (records below it were appended before the index existed);
 *                 "rp" u64 BE seq -> u64 offset of the dead letter's replay;
 *                 "rr" u64 BE seq -> why its last replay was refused (text)
 *
 * The writer thread takes every queued request, applies them all in one
 * write transaction and commits once: one fsync for many requests (group
 * commit).  LMDB's single-writer lock keeps several processes correct; the
 * watermark is read inside the transaction for the same reason.
 */
#include "source/elog.h"

#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/mdb.h"
#include "core/hash.h"
#include "core/jw.h"
#include "event/admit.h"
#include "event/event.h"

/* Expired idempotency keys removed per write transaction, at most. */
#define PURGE_PER_TXN 256

struct fr_elog {
    MDB_env *env;
    MDB_dbi *logs; /* per source */
    MDB_dbi dlq, idem, idem_exp, schemas, meta, arrivals;
    const fr_config_t *cfg;
    uint64_t *fingerprints; /* per source */

    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done, cv_commit;
    fr_append_req_t *head, *tail;
    int stopping;
    uint64_t commit_seq;
    pthread_t writer;
    int writer_started;
};


static void set_err(char *err, size_t errlen, const char *what, int rc)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, rc > 0 || rc < -30800 ? mdb_strerror(rc) : fr_strerror(rc));
}

int fr_elog_open(const char *dir, const fr_config_t *cfg, fr_elog_t **out, char *err,
                 size_t errlen)
{
    return fr_elog_open_flags(dir, cfg, 0, out, err, errlen);
}

int fr_elog_open_flags(const char *dir, const fr_config_t *cfg, unsigned flags, fr_elog_t **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    fr_elog_t *log = calloc(1, sizeof *log);
    if (!log)
        return FR_ENOMEM;
    log->cfg = cfg;
    log->logs = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *log->logs);
    log->fingerprints = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *log->fingerprints);
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv_work, NULL);
    pthread_cond_init(&log->cv_done, NULL);
    pthread_cond_init(&log->cv_commit, NULL);
    int rc;
    MDB_txn *txn = NULL;
    if (!log->logs || !log->fingerprints) {
        rc = FR_ENOMEM;
        goto fail;
    }
    rc = fr_mkdir_p(dir);
    if (rc) {
        set_err(err, errlen, dir, rc);
        goto fail;
    }
    rc = mdb_env_create(&log->env);
    if (!rc)
        rc = mdb_env_set_mapsize(log->env, cfg->store.map_size_bytes);
    if (!rc)
        rc = mdb_env_set_maxdbs(log->env, (MDB_dbi)cfg->nsources + 8);
    if (!rc)
        rc = mdb_env_set_maxreaders(log->env, 512);
    if (!rc)
        rc = mdb_env_open(log->env, dir,
                          MDB_NOTLS | (flags & FR_ELOG_NOSYNC ? MDB_NOSYNC : 0u), 0644);
    if (rc) {
        set_err(err, errlen, dir, rc);
        rc = fr_mdb_rc(rc);
        goto fail;
    }
    rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "dlq", MDB_CREATE, &log->dlq);
    if (!rc)
        rc = mdb_dbi_open(txn, "idem", MDB_CREATE, &log->idem);
    if (!rc)
        rc = mdb_dbi_open(txn, "idem_exp", MDB_CREATE, &log->idem_exp);
    if (!rc)
        rc = mdb_dbi_open(txn, "schemas", MDB_CREATE, &log->schemas);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &log->meta);
    if (!rc)
        rc = mdb_dbi_open(txn, "arrivals", MDB_CREATE, &log->arrivals);
    for (size_t i = 0; !rc && i < cfg->nsources; i++) {
        char name[FR_CONFIG_MAX_NAME + 8];
        snprintf(name, sizeof name, "log.%s", cfg->sources[i].name);
        rc = mdb_dbi_open(txn, name, MDB_CREATE, &log->logs[i]);
        if (rc)
            break;
        /* remember the writer schema of records we will write */
        fr_buf_t b;
        fr_buf_init(&b, 1 << 20);
        log->fingerprints[i] = fr_schema_fingerprint(&cfg->sources[i]);
        uint64_t fp = log->fingerprints[i];
        MDB_val k = {sizeof fp, &fp}, v;
        if (mdb_get(txn, log->schemas, &k, &v) == MDB_NOTFOUND) {
            rc = fr_schema_encode(&cfg->sources[i], &b);
            if (rc) {
                fr_buf_destroy(&b);
                set_err(err, errlen, "schema", rc);
                goto fail;
            }
            v.mv_data = b.p;
            v.mv_size = b.len;
            rc = mdb_put(txn, log->schemas, &k, &v, 0);
        }
        fr_buf_destroy(&b);
    }
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        set_err(err, errlen, dir, rc);
        rc = fr_mdb_rc(rc);
        goto fail;
    }
    *out = log;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    fr_elog_close(log);
    return rc ? rc : FR_ESTORE;
}

/* ---- writing ---------------------------------------------------------- */

static void *writer_main(void *arg);

static int start_writer(fr_elog_t *log)
{
    if (log->writer_started)
        return 0;
    if (pthread_create(&log->writer, NULL, writer_main, log))
        return FR_ENOMEM;
    log->writer_started = 1;
    return 0;
}

void fr_elog_close(fr_elog_t *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    log->stopping = 1;
    pthread_cond_broadcast(&log->cv_work);
    pthread_cond_broadcast(&log->cv_commit);
    pthread_mutex_unlock(&log->mu);
    if (log->writer_started)
        pthread_join(log->writer, NULL);
    if (log->env)
        mdb_env_close(log->env);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->cv_work);
    pthread_cond_destroy(&log->cv_done);
    pthread_cond_destroy(&log->cv_commit);
    free(log->logs);
    free(log->fingerprints);
    free(log);
}

int fr_elog_append(fr_elog_t *log, fr_append_req_t *req)
{
    req->next = NULL;
    req->done = 0;
    req->rc = 0;
    req->answer = NULL;
    req->replayed = false;
    pthread_mutex_lock(&log->mu);
    int rc = start_writer(log);
    if (rc || log->stopping) {
        pthread_mutex_unlock(&log->mu);
        return req->rc = rc ? rc : FR_ESTORE;
    }
    if (log->tail)
        log->tail->next = req;
    else
        log->head = req;
    log->tail = req;
    pthread_cond_signal(&log->cv_work);
    while (!req->done)
        pthread_cond_wait(&log->cv_done, &log->mu);
    pthread_mutex_unlock(&log->mu);
    return req->rc;
}

/* Per-transaction view of one source: its next offset and watermark. */
typedef struct {
    int loaded, dirty;
    uint64_t next;
    int64_t wm;
    int indexed; /* "arr0.<source>" is known to be stored */
} src_state_t;

/* The arrival sequence within one write transaction. */
typedef struct {
    int loaded, dirty;
    uint64_t next;
} seq_state_t;

static int load_seq(fr_elog_t *log, MDB_txn *txn, seq_state_t *sq)
{
    if (sq->loaded)
        return 0;
    MDB_val k = {3, "seq"}, v;
    int rc = mdb_get(txn, log->meta, &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        return fr_mdb_rc(rc);
    sq->next = rc == 0 && v.mv_size == 8 ? fr_load_u64(v.mv_data) : 1;
    sq->loaded = 1;
    return 0;
}

/* Records that the accepted events of req (offsets first..first+n-1 of its
 * source) arrived now, after everything indexed before them. */
static int put_run(fr_elog_t *log, MDB_txn *txn, const fr_append_req_t *req, src_state_t *st,
                   seq_state_t *sq, int64_t now, fr_buf_t *b)
{
    const char *name = log->cfg->sources[req->source].name;
    if (req->accepted > UINT32_MAX)
        return FR_ELIMIT; /* far past any request's limit */
    int rc = load_seq(log, txn, sq);
    if (rc)
        return rc;
    if (!st->indexed) {
        char key[FR_CONFIG_MAX_NAME + 8];
        int kl = snprintf(key, sizeof key, "arr0.%s", name);
        MDB_val k = {(size_t)kl, key}, v;
        rc = mdb_get(txn, log->meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            uint8_t ob[8];
            fr_store_u64(ob, req->first_offset);
            v = (MDB_val){8, ob};
            rc = mdb_put(txn, log->meta, &k, &v, 0);
        }
        if (rc)
            return fr_mdb_rc(rc);
        st->indexed = 1;
    }
    fr_buf_reset(b);
    rc = fr_buf_add_u64(b, req->first_offset);
    if (!rc) {
        uint8_t nb[4] = {(uint8_t)req->accepted, (uint8_t)(req->accepted >> 8),
                         (uint8_t)(req->accepted >> 16), (uint8_t)(req->accepted >> 24)};
        rc = fr_buf_add(b, nb, 4);
    }
    rc = rc ? rc : fr_buf_add_u64(b, (uint64_t)now);
    rc = rc ? rc : fr_buf_add(b, name, strlen(name));
    if (rc)
        return rc;
    uint8_t kb[8];
    fr_store_be64(kb, sq->next);
    MDB_val k = {8, kb}, v = {b->len, b->p};
    rc = mdb_put(txn, log->arrivals, &k, &v, MDB_APPEND);
    if (rc)
        return fr_mdb_rc(rc);
    sq->next += req->accepted;
    sq->dirty = 1;
    return 0;
}

static int load_src(fr_elog_t *log, MDB_txn *txn, int s, src_state_t *st)
{
    if (st->loaded)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, log->logs[s], &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    st->next = rc == 0 && k.mv_size == 8 ? fr_load_be64(k.mv_data) + 1 : 0;
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return fr_mdb_rc(rc);
    char key[FR_CONFIG_MAX_NAME + 8];
    int kl = snprintf(key, sizeof key, "wm.%s", log->cfg->sources[s].name);
    MDB_val mk = {(size_t)kl, key};
    rc = mdb_get(txn, log->meta, &mk, &v);
    st->wm = rc == 0 && v.mv_size == 8 ? (int64_t)fr_load_u64(v.mv_data) : INT64_MIN;
    if (rc && rc != MDB_NOTFOUND)
        return fr_mdb_rc(rc);
    /* retention may have emptied the log: offsets never go back */
    kl = snprintf(key, sizeof key, "end.%s", log->cfg->sources[s].name);
    mk = (MDB_val){(size_t)kl, key};
    rc = mdb_get(txn, log->meta, &mk, &v);
    if (rc == 0 && v.mv_size == 8 && fr_load_u64(v.mv_data) > st->next)
        st->next = fr_load_u64(v.mv_data);
    if (rc && rc != MDB_NOTFOUND)
        return fr_mdb_rc(rc);
    st->loaded = 1;
    return 0;
}

static int put_dlq(fr_elog_t *log, MDB_txn *txn, uint64_t *seq, int src,
                   const fr_append_event_t *ev, int64_t now, fr_buf_t *b)
{
    if (*seq == UINT64_MAX) {
        MDB_cursor *c;
        int rc = mdb_cursor_open(txn, log->dlq, &c);
        if (rc)
            return fr_mdb_rc(rc);
        MDB_val k, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        *seq = rc == 0 && k.mv_size == 8 ? fr_load_be64(k.mv_data) + 1 : 1;
        mdb_cursor_close(c);
    }
    fr_buf_reset(b);
    const char *raw = ev->raw;
    size_t raw_len = ev->raw_len;
    char *dumped = NULL;
    if (!raw && ev->json) {
        dumped = json_dumps(ev->json, JSON_COMPACT | JSON_ENCODE_ANY);
        raw = dumped;
        raw_len = dumped ? strlen(dumped) : 0;
    }
    int truncated = raw_len > FR_DLQ_MAX_PAYLOAD;
    int rc = fr_buf_addstr(b, "{\"source\":");
    rc = rc ? rc : fr_jw_cstr(b, log->cfg->sources[src].name);
    rc = rc ? rc : fr_buf_addstr(b, ",\"reason\":");
    rc = rc ? rc : fr_jw_cstr(b, ev->reason);
    rc = rc ? rc : fr_buf_addstr(b, ",\"detail\":");
    rc = rc ? rc : fr_jw_cstr(b, ev->detail ? ev->detail : "");
    rc = rc ? rc : fr_buf_printf(b, ",\"received_ms\":%" PRId64 ",\"payload\":", now);
    rc = rc ? rc : fr_jw_str(b, raw ? raw : "", truncated ? FR_DLQ_MAX_PAYLOAD : raw_len);
    if (!rc && truncated)
        rc = fr_buf_addstr(b, ",\"truncated\":true");
    if (!rc && ev->replay_of)
        rc = fr_buf_printf(b, ",\"replay_of\":%" PRIu64, ev->replay_of);
    rc = rc ? rc : fr_buf_addc(b, '}');
    free(dumped);
    if (rc)
        return rc;
    uint8_t kb[8];
    fr_store_be64(kb, (*seq)++);
    MDB_val k = {8, kb}, v = {b->len, b->p};
    return fr_mdb_rc(mdb_put(txn, log->dlq, &k, &v, MDB_APPEND));
}

static int purge_idem(fr_elog_t *log, MDB_txn *txn, int64_t now)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, log->idem_exp, &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k, v;
    int n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < PURGE_PER_TXN;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size < 8 || (int64_t)fr_load_be64(k.mv_data) > now)
            break;
        MDB_val ik = {k.mv_size - 8, (char *)k.mv_data + 8}, iv;
        if (mdb_get(txn, log->idem, &ik, &iv) == 0 && iv.mv_size >= 8 &&
            (int64_t)fr_load_u64(iv.mv_data) <= now)
            mdb_del(txn, log->idem, &ik, NULL);
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : fr_mdb_rc(rc);
}

/* source \0 key; a key too long for LMDB (511 bytes, with the 8-byte expiry
 * prefix of idem_exp) is replaced by a 128-bit hash of it. */
static int idem_key(const fr_elog_t *log, const fr_append_req_t *req, fr_buf_t *kb)
{
    fr_buf_reset(kb);
    int rc = fr_buf_addstr(kb, log->cfg->sources[req->source].name);
    rc = rc ? rc : fr_buf_addc(kb, '\0');
    if (rc)
        return rc;
    if (kb->len + req->idem_len <= 400)
        return fr_buf_add(kb, req->idem_key, req->idem_len);
    return fr_buf_printf(kb, "#%016" PRIx64 "%016" PRIx64,
                         fr_hash64(req->idem_key, req->idem_len, 1),
                         fr_hash64(req->idem_key, req->idem_len, 2));
}

static int apply_req(fr_elog_t *log, MDB_txn *txn, fr_append_req_t *req, src_state_t *srcs,
                     seq_state_t *sq, uint64_t *dlq_seq, int64_t now, fr_buf_t *b, fr_buf_t *kb)
{
    int rc;
    const fr_config_t *cfg = log->cfg;
    if (req->idem_key) {
        rc = idem_key(log, req, kb);
        if (rc)
            return rc;
        MDB_val k = {kb->len, kb->p}, v;
        rc = mdb_get(txn, log->idem, &k, &v);
        if (rc == 0 && v.mv_size >= 16 && (int64_t)fr_load_u64(v.mv_data) > now) {
            if (fr_load_u64((char *)v.mv_data + 8) != req->body_hash)
                return FR_ECONFLICT;
            req->answer = malloc(v.mv_size - 16 + 1);
            if (!req->answer)
                return FR_ENOMEM;
            memcpy(req->answer, (char *)v.mv_data + 16, v.mv_size - 16);
            req->answer[v.mv_size - 16] = '\0';
            req->answer_len = v.mv_size - 16;
            req->replayed = true;
            return 0;
        }
        if (rc && rc != MDB_NOTFOUND)
            return fr_mdb_rc(rc);
    }
    src_state_t *st = &srcs[req->source];
    rc = load_src(log, txn, req->source, st);
    if (rc)
        return rc;
    const fr_source_spec_t *spec = &cfg->sources[req->source];
    req->accepted = req->rejected = 0;
    for (size_t i = 0; i < req->n; i++) {
        fr_append_event_t *ev = &req->events[i];
        uint8_t rpk[10] = {'r', 'p'};
        MDB_val rk = {10, rpk}, rv;
        if (ev->replay_of) {
            fr_store_be64(rpk + 2, ev->replay_of);
            rc = mdb_get(txn, log->meta, &rk, &rv);
            if (rc == 0) {
                ev->skipped = true; /* replayed before */
                continue;
            }
            if (rc != MDB_NOTFOUND)
                return fr_mdb_rc(rc);
        }
        if (!ev->reason) {
            fr_admit_t a = fr_admit(ev->ts, now, cfg->processor.max_future_ms, st->wm,
                                    spec->horizon_ms);
            if (a != FR_ADMIT_OK) {
                ev->reason = fr_admit_reason(a);
                ev->detail = fr_admit_detail(a);
            }
        }
        if (ev->reason && ev->replay_of) {
            /* still refused: the dead letter stays, unreplayed, with why */
            char why[256];
            int wl = snprintf(why, sizeof why, "%s: %s", ev->reason, ev->detail ? ev->detail : "");
            rpk[1] = 'r';
            rv = (MDB_val){(size_t)(wl < (int)sizeof why ? wl : (int)sizeof why - 1), why};
            rc = mdb_put(txn, log->meta, &rk, &rv, 0);
            if (rc)
                return fr_mdb_rc(rc);
            req->rejected++;
            continue;
        }
        if (ev->reason) {
            rc = put_dlq(log, txn, dlq_seq, req->source, ev, now, b);
            if (rc)
                return rc;
            req->rejected++;
            continue;
        }
        uint8_t kbuf[8];
        fr_store_be64(kbuf, st->next);
        MDB_val k = {8, kbuf}, v = {ev->rec_len, (void *)ev->rec};
        rc = mdb_put(txn, log->logs[req->source], &k, &v, MDB_APPEND);
        if (!rc && ev->replay_of) {
            uint8_t ob[8];
            fr_store_u64(ob, st->next);
            rv = (MDB_val){8, ob};
            rc = mdb_put(txn, log->meta, &rk, &rv, 0);
        }
        if (rc)
            return fr_mdb_rc(rc);
        ev->offset = st->next++;
        st->dirty = 1;
        if (req->accepted++ == 0)
            req->first_offset = ev->offset;
        req->last_offset = ev->offset;
        if (ev->ts > st->wm) {
            st->wm = ev->ts;
            st->dirty = 1;
        }
    }
    if (req->accepted) {
        rc = put_run(log, txn, req, st, sq, now, b);
        if (rc)
            return rc;
    }
    if (req->idem_key) {
        fr_buf_reset(b);
        int64_t exp = now + cfg->server.idempotency_ttl_ms;
        rc = fr_buf_add_u64(b, (uint64_t)exp);
        rc = rc ? rc : fr_buf_add_u64(b, req->body_hash);
        rc = rc ? rc : req->render(req, b);
        if (rc)
            return rc;
        MDB_val k = {kb->len, kb->p}, v = {b->len, b->p};
        rc = mdb_put(txn, log->idem, &k, &v, 0);
        if (rc)
            return fr_mdb_rc(rc);
        fr_buf_reset(b);
        uint8_t eb[8];
        fr_store_be64(eb, (uint64_t)exp);
        rc = fr_buf_add(b, eb, 8);
        rc = rc ? rc : fr_buf_add(b, kb->p, kb->len);
        if (rc)
            return rc;
        MDB_val ek = {b->len, b->p}, ev = {0, NULL};
        rc = mdb_put(txn, log->idem_exp, &ek, &ev, 0);
        if (rc)
            return fr_mdb_rc(rc);
    }
    return 0;
}

static int write_group(fr_elog_t *log, fr_append_req_t *group, fr_buf_t *b, fr_buf_t *kb)
{
    const fr_config_t *cfg = log->cfg;
    src_state_t srcs[FR_CONFIG_MAX_SOURCES];
    memset(srcs, 0, sizeof srcs);
    seq_state_t sq = {0};
    uint64_t dlq_seq = UINT64_MAX;
    int64_t now = fr_now_ms();
    MDB_txn *txn;
    int rc = fr_mdb_rc(mdb_txn_begin(log->env, NULL, 0, &txn));
    if (rc)
        return rc;
    rc = purge_idem(log, txn, now);
    for (fr_append_req_t *r = group; !rc && r; r = r->next) {
        /* a request that fails on its own (key reused) leaves the rest be */
        int rrc = apply_req(log, txn, r, srcs, &sq, &dlq_seq, now, b, kb);
        if (rrc == FR_ECONFLICT)
            r->rc = rrc;
        else
            rc = rrc;
    }
    for (size_t s = 0; !rc && s < cfg->nsources; s++) {
        if (!srcs[s].dirty)
            continue;
        char key[FR_CONFIG_MAX_NAME + 8];
        int kl = snprintf(key, sizeof key, "wm.%s", cfg->sources[s].name);
        uint8_t vb[8];
        fr_store_u64(vb, (uint64_t)srcs[s].wm);
        MDB_val k = {(size_t)kl, key}, v = {8, vb};
        rc = fr_mdb_rc(mdb_put(txn, log->meta, &k, &v, 0));
        kl = snprintf(key, sizeof key, "end.%s", cfg->sources[s].name);
        fr_store_u64(vb, srcs[s].next);
        k = (MDB_val){(size_t)kl, key};
        if (!rc)
            rc = fr_mdb_rc(mdb_put(txn, log->meta, &k, &v, 0));
    }
    if (!rc && sq.dirty) {
        uint8_t vb[8];
        fr_store_u64(vb, sq.next);
        MDB_val k = {3, "seq"}, v = {8, vb};
        rc = fr_mdb_rc(mdb_put(txn, log->meta, &k, &v, 0));
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return fr_mdb_rc(mdb_txn_commit(txn));
}

static void *writer_main(void *arg)
{
    fr_elog_t *log = arg;
    fr_buf_t b, kb;
    fr_buf_init(&b, 1u << 24);
    fr_buf_init(&kb, 1u << 16);
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (!log->head && !log->stopping)
            pthread_cond_wait(&log->cv_work, &log->mu);
        if (!log->head)
            break;
        fr_append_req_t *group = log->head;
        log->head = log->tail = NULL;
        pthread_mutex_unlock(&log->mu);

        int rc = write_group(log, group, &b, &kb);

        pthread_mutex_lock(&log->mu);
        for (fr_append_req_t *r = group, *next; r; r = next) {
            next = r->next;
            if (rc) {
                r->rc = rc;
                free(r->answer);
                r->answer = NULL;
                r->replayed = false;
            }
            r->done = 1;
        }
        log->commit_seq++;
        pthread_cond_broadcast(&log->cv_done);
        pthread_cond_broadcast(&log->cv_commit);
    }
    pthread_mutex_unlock(&log->mu);
    fr_buf_destroy(&b);
    fr_buf_destroy(&kb);
    return NULL;
}

uint64_t fr_elog_wait(fr_elog_t *log, uint64_t seen, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&log->mu);
    while (log->commit_seq == seen && !log->stopping)
        if (pthread_cond_timedwait(&log->cv_commit, &log->mu, &ts))
            break;
    uint64_t s = log->commit_seq;
    pthread_mutex_unlock(&log->mu);
    return s;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
    fr_source_t base;
    fr_elog_t *log;
    MDB_txn *txn; /* reset between polls, renewed on the next */
    uint64_t next;
    uint64_t end; /* next offset to be written, as of the last poll */
} esrc_t;

static int es_partitions(fr_source_t *s, int32_t *parts, size_t max, size_t *n)
{
    (void)s;
    *n = 0;
    if (max) {
        parts[0] = 0;
        *n = 1;
    }
    return 0;
}

static int es_seek(fr_source_t *s, int32_t partition, uint64_t offset)
{
    esrc_t *e = (esrc_t *)s;
    if (partition != 0)
        return FR_EINVAL;
    e->next = offset;
    return 0;
}

static void es_release(fr_source_t *s)
{
    esrc_t *e = (esrc_t *)s;
    if (e->txn)
        mdb_txn_reset(e->txn);
}

static int es_read(esrc_t *e, fr_source_rec_t *recs, size_t max, size_t *n)
{
    int rc = e->txn ? mdb_txn_renew(e->txn)
                    : mdb_txn_begin(e->log->env, NULL, MDB_RDONLY, &e->txn);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_cursor *c;
    rc = mdb_cursor_open(e->txn, e->log->logs[e->base.index], &c);
    if (rc) {
        mdb_txn_reset(e->txn);
        return fr_mdb_rc(rc);
    }
    uint8_t kb[8];
    fr_store_be64(kb, e->next);
    MDB_val k = {8, kb}, v;
    size_t got = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && got < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8)
            continue;
        recs[got] = (fr_source_rec_t){.partition = 0,
                                      .offset = fr_load_be64(k.mv_data),
                                      .data = v.mv_data,
                                      .len = v.mv_size,
                                      .replay_of = -1};
        e->next = recs[got].offset + 1;
        got++;
    }
    if (rc == 0 || got) {
        /* learn the end for lag reporting */
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            e->end = fr_load_be64(k.mv_data) + 1;
    } else {
        e->end = e->next;
    }
    mdb_cursor_close(c);
    *n = got;
    if (!got)
        mdb_txn_reset(e->txn);
    return 0;
}

static int es_poll(fr_source_t *s, fr_source_rec_t *recs, size_t max, size_t *n, int timeout_ms)
{
    esrc_t *e = (esrc_t *)s;
    pthread_mutex_lock(&e->log->mu);
    uint64_t seq = e->log->commit_seq; /* any commit after this wakes the wait */
    pthread_mutex_unlock(&e->log->mu);
    int rc = es_read(e, recs, max, n);
    if (rc || *n || timeout_ms <= 0)
        return rc;
    fr_elog_wait(e->log, seq, timeout_ms);
    return es_read(e, recs, max, n);
}

/* The next offset to be written to the source's log (0 on error). */
static uint64_t es_end(esrc_t *e)
{
    MDB_txn *txn;
    if (mdb_txn_begin(e->log->env, NULL, MDB_RDONLY, &txn))
        return 0;
    MDB_cursor *c;
    uint64_t end = 0;
    MDB_val k, v;
    if (mdb_cursor_open(txn, e->log->logs[e->base.index], &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            end = fr_load_be64(k.mv_data) + 1;
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return end;
}

static int es_wait(fr_source_t *s, int timeout_ms)
{
    esrc_t *e = (esrc_t *)s;
    pthread_mutex_lock(&e->log->mu);
    uint64_t seq = e->log->commit_seq; /* any commit after this wakes the wait */
    pthread_mutex_unlock(&e->log->mu);
    if (es_end(e) > e->next)
        return 0;
    fr_elog_wait(e->log, seq, timeout_ms);
    return 0;
}

/* The configured index of the source named name[len], or -1. */
static int source_by_name(const fr_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        if (strlen(cfg->sources[i].name) == len && !memcmp(cfg->sources[i].name, name, len))
            return (int)i;
    return -1;
}

/* A run of the arrival index, decoded. */
typedef struct {
    uint64_t seq, first;
    uint32_t count;
    int64_t append_ms;
    const char *name;
    size_t nlen;
} run_t;

static int run_decode(const MDB_val *k, const MDB_val *v, run_t *r)
{
    if (k->mv_size != 8 || v->mv_size < 20)
        return FR_ECORRUPT;
    const uint8_t *p = v->mv_data;
    r->seq = fr_load_be64(k->mv_data);
    r->first = fr_load_u64(p);
    r->count = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
               (uint32_t)p[11] << 24;
    r->append_ms = (int64_t)fr_load_u64(p + 12);
    r->name = (const char *)p + 20;
    r->nlen = v->mv_size - 20;
    return 0;
}

/* Drops runs at the front of the arrival index whose records retention
 * has removed (up to max of them); a run of a source no longer configured
 * goes too.  Runs stay in order, so a live run in front keeps later dead
 * ones until it goes itself. */
static int purge_runs(fr_elog_t *log, MDB_txn *txn, size_t max)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, log->arrivals, &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k, v;
    for (size_t n = 0; n < max; n++) {
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc)
            break;
        run_t r;
        if (run_decode(&k, &v, &r) == 0) {
            int src = source_by_name(log->cfg, r.name, r.nlen);
            if (src >= 0) {
                MDB_cursor *lc;
                rc = mdb_cursor_open(txn, log->logs[src], &lc);
                if (rc)
                    break;
                MDB_val lk, lv;
                int lrc = mdb_cursor_get(lc, &lk, &lv, MDB_FIRST);
                mdb_cursor_close(lc);
                if (lrc && lrc != MDB_NOTFOUND) {
                    rc = lrc;
                    break;
                }
                if (lrc == 0 && lk.mv_size == 8 && fr_load_be64(lk.mv_data) < r.first + r.count)
                    break; /* some of its records are still there */
            }
        }
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : fr_mdb_rc(rc);
}

static int es_trim(fr_source_t *s, int32_t partition, uint64_t below, int64_t cutoff_ms,
                   size_t max, size_t *n)
{
    esrc_t *e = (esrc_t *)s;
    *n = 0;
    if (partition != 0)
        return FR_EINVAL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->log->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, e->log->logs[e->base.index], &c);
    if (rc) {
        mdb_txn_abort(txn);
        return fr_mdb_rc(rc);
    }
    MDB_val k, v;
    size_t done = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && done < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) {
        /* the record's event time sits after version and fingerprint */
        if (k.mv_size != 8 || fr_load_be64(k.mv_data) >= below || v.mv_size < 17 ||
            (int64_t)fr_load_u64((char *)v.mv_data + 9) >= cutoff_ms)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        done++;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return fr_mdb_rc(rc);
    }
    rc = done ? purge_runs(e->log, txn, max) : 0;
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (!rc)
        *n = done;
    return fr_mdb_rc(rc);
}

static uint64_t es_lag(fr_source_t *s)
{
    esrc_t *e = (esrc_t *)s;
    return e->end > e->next ? e->end - e->next : 0;
}

static void es_close(fr_source_t *s)
{
    esrc_t *e = (esrc_t *)s;
    if (e->txn)
        mdb_txn_abort(e->txn);
    free(e);
}

static const fr_source_ops_t elog_source_ops = {
    .kind = "embedded",
    .partitions = es_partitions,
    .seek = es_seek,
    .poll = es_poll,
    .wait = es_wait,
    .trim = es_trim,
    .release = es_release,
    .lag = es_lag,
    .close = es_close,
};

int fr_elog_source_open(fr_elog_t *log, int src, fr_source_t **out)
{
    esrc_t *e = calloc(1, sizeof *e);
    if (!e)
        return FR_ENOMEM;
    e->base.ops = &elog_source_ops;
    e->base.index = src;
    e->log = log;
    *out = &e->base;
    return 0;
}

int fr_elog_dlq_scan(fr_elog_t *log, uint64_t from, size_t limit,
                     int (*fn)(void *ctx, uint64_t seq, const char *json, size_t len), void *ctx)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, log->dlq, &c);
    if (rc) {
        mdb_txn_abort(txn);
        return fr_mdb_rc(rc);
    }
    uint8_t kb[8];
    fr_store_be64(kb, from);
    MDB_val k = {8, kb}, v;
    size_t n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && n < limit;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++)
        if (k.mv_size == 8 && fn(ctx, fr_load_be64(k.mv_data), v.mv_data, v.mv_size))
            break;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return 0;
}

int fr_elog_dlq_replayed(fr_elog_t *log, uint64_t seq, uint64_t *offset, fr_buf_t *refused)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    uint8_t kb[10] = {'r', 'p'};
    fr_store_be64(kb + 2, seq);
    MDB_val k = {10, kb}, v;
    rc = fr_mdb_rc(mdb_get(txn, log->meta, &k, &v));
    if (!rc)
        *offset = v.mv_size == 8 ? fr_load_u64(v.mv_data) : UINT64_MAX;
    if (rc == FR_ENOTFOUND && refused) {
        kb[1] = 'r';
        if (mdb_get(txn, log->meta, &k, &v) == 0)
            fr_buf_add(refused, v.mv_data, v.mv_size);
    }
    mdb_txn_abort(txn);
    return rc;
}

int fr_elog_dlq_last(fr_elog_t *log, uint64_t *seq)
{
    MDB_txn *txn;
    *seq = 0;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, log->dlq, &c);
    if (!rc) {
        MDB_val k, v;
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            *seq = fr_load_be64(k.mv_data);
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return fr_mdb_rc(rc);
}

uint64_t fr_elog_dlq_count(fr_elog_t *log)
{
    uint64_t n;
    return fr_mdb_entries(log->env, log->dlq, &n) ? 0 : n;
}

int64_t fr_elog_watermark(fr_elog_t *log, int src)
{
    MDB_txn *txn;
    if (mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn))
        return INT64_MIN;
    src_state_t st = {0};
    int rc = load_src(log, txn, src, &st);
    mdb_txn_abort(txn);
    return rc ? INT64_MIN : st.wm;
}

uint64_t fr_elog_end_offset(fr_elog_t *log, int src)
{
    MDB_txn *txn;
    if (mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn))
        return 0;
    src_state_t st = {0};
    int rc = load_src(log, txn, src, &st);
    mdb_txn_abort(txn);
    return rc ? 0 : st.next;
}

int fr_elog_schema_get(fr_elog_t *log, uint64_t fp, fr_buf_t *out)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k = {sizeof fp, &fp}, v;
    rc = fr_mdb_rc(mdb_get(txn, log->schemas, &k, &v));
    if (!rc)
        rc = fr_buf_add(out, v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
    return rc;
}

/* ---- history: every source in arrival order ------------------------------ */

struct fr_elog_hist {
    fr_elog_t *log;
    MDB_txn *txn;
    const uint8_t *want; /* [nsources] */
    size_t nsources;
    MDB_cursor **lc;     /* per source log cursor (NULL: not read) */
    uint64_t *arr0;      /* per source: first offset the arrival index covers */
    /* legacy phase: records below arr0, merged by event time */
    int legacy;          /* still in the legacy phase */
    MDB_val *lk, *lv;    /* per source: the next legacy record (lk.mv_size 0: none) */
    /* indexed phase */
    MDB_cursor *ac;      /* over arrivals */
    int ac_started;
    run_t run;
    int run_src;         /* -1: no current run */
    uint64_t run_next;   /* next offset of the run to return */
    int run_positioned;  /* lc[run_src] is on run_next - 1 */
    uint64_t total, read;
};

static int64_t rec_ts(const MDB_val *v)
{
    return v->mv_size >= 17 ? (int64_t)fr_load_u64((const char *)v->mv_data + 9) : INT64_MIN;
}

/* Moves source s's legacy head to its next record below arr0 (op: MDB_FIRST or MDB_NEXT). */
static int legacy_advance(fr_elog_hist_t *h, size_t s, MDB_cursor_op op)
{
    MDB_val k, v;
    int rc = mdb_cursor_get(h->lc[s], &k, &v, op);
    while (rc == 0 && k.mv_size != 8)
        rc = mdb_cursor_get(h->lc[s], &k, &v, MDB_NEXT);
    if (rc == 0 && fr_load_be64(k.mv_data) < h->arr0[s]) {
        h->lk[s] = k;
        h->lv[s] = v;
        return 0;
    }
    h->lk[s].mv_size = 0;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : fr_mdb_rc(rc);
}

int fr_elog_hist_open(fr_elog_t *log, const uint8_t *want, fr_elog_hist_t **out)
{
    *out = NULL;
    const fr_config_t *cfg = log->cfg;
    fr_elog_hist_t *h = calloc(1, sizeof *h);
    if (!h)
        return FR_ENOMEM;
    size_t ns = cfg->nsources ? cfg->nsources : 1;
    h->log = log;
    h->want = want;
    h->nsources = cfg->nsources;
    h->run_src = -1;
    h->legacy = 1;
    h->lc = calloc(ns, sizeof *h->lc);
    h->arr0 = calloc(ns, sizeof *h->arr0);
    h->lk = calloc(ns, sizeof *h->lk);
    h->lv = calloc(ns, sizeof *h->lv);
    int rc = FR_ENOMEM;
    if (!h->lc || !h->arr0 || !h->lk || !h->lv)
        goto fail;
    rc = fr_mdb_rc(mdb_txn_begin(log->env, NULL, MDB_RDONLY, &h->txn));
    if (rc)
        goto fail;
    rc = fr_mdb_rc(mdb_cursor_open(h->txn, log->arrivals, &h->ac));
    for (size_t s = 0; !rc && s < cfg->nsources; s++) {
        if (!want[s])
            continue;
        rc = fr_mdb_rc(mdb_cursor_open(h->txn, log->logs[s], &h->lc[s]));
        if (rc)
            break;
        MDB_stat st;
        if (mdb_stat(h->txn, log->logs[s], &st) == 0)
            h->total += st.ms_entries;
        char key[FR_CONFIG_MAX_NAME + 8];
        int kl = snprintf(key, sizeof key, "arr0.%s", cfg->sources[s].name);
        MDB_val k = {(size_t)kl, key}, v;
        int grc = mdb_get(h->txn, log->meta, &k, &v);
        h->arr0[s] = grc == 0 && v.mv_size == 8 ? fr_load_u64(v.mv_data) : UINT64_MAX;
        if (grc && grc != MDB_NOTFOUND)
            rc = fr_mdb_rc(grc);
        if (!rc)
            rc = legacy_advance(h, s, MDB_FIRST);
    }
    if (rc)
        goto fail;
    *out = h;
    return 0;
fail:
    fr_elog_hist_close(h);
    return rc;
}

void fr_elog_hist_close(fr_elog_hist_t *h)
{
    if (!h)
        return;
    for (size_t s = 0; h->lc && s < h->nsources; s++)
        if (h->lc[s])
            mdb_cursor_close(h->lc[s]);
    if (h->ac)
        mdb_cursor_close(h->ac);
    if (h->txn)
        mdb_txn_abort(h->txn);
    free(h->lc);
    free(h->arr0);
    free(h->lk);
    free(h->lv);
    free(h);
}

void fr_elog_hist_progress(const fr_elog_hist_t *h, uint64_t *read, uint64_t *total)
{
    *read = h->read;
    *total = h->total;
}

/* The next legacy record (smallest (ts, source, offset)), or 0 with
 * rec->data NULL when there is none left. */
static int legacy_next(fr_elog_hist_t *h, fr_elog_hist_rec_t *rec)
{
    int best = -1;
    int64_t best_ts = 0;
    for (size_t s = 0; s < h->nsources; s++) {
        if (!h->lc[s] || !h->lk[s].mv_size)
            continue;
        int64_t ts = rec_ts(&h->lv[s]);
        if (best < 0 || ts < best_ts) {
            best = (int)s;
            best_ts = ts;
        }
    }
    rec->data = NULL;
    if (best < 0)
        return 0;
    *rec = (fr_elog_hist_rec_t){.source = best,
                                .offset = fr_load_be64(h->lk[best].mv_data),
                                .seq = 0,
                                .append_ms = INT64_MIN,
                                .data = h->lv[best].mv_data,
                                .len = h->lv[best].mv_size};
    /* the cursor moves now: copy nothing, the values stay valid in this
     * read-only transaction until it ends */
    return legacy_advance(h, (size_t)best, MDB_NEXT);
}

int fr_elog_hist_next(fr_elog_hist_t *h, fr_elog_hist_rec_t *rec)
{
    int rc;
    if (h->legacy) {
        rc = legacy_next(h, rec);
        if (rc)
            return rc;
        if (rec->data) {
            h->read++;
            return 0;
        }
        h->legacy = 0;
    }
    for (;;) {
        if (h->run_src >= 0 && h->run_next < h->run.first + h->run.count) {
            MDB_cursor *c = h->lc[h->run_src];
            MDB_val k, v;
            uint8_t kb[8];
            if (h->run_positioned) {
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            } else {
                fr_store_be64(kb, h->run_next);
                k = (MDB_val){8, kb};
                rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            }
            if (rc && rc != MDB_NOTFOUND)
                return fr_mdb_rc(rc);
            uint64_t off = rc == 0 && k.mv_size == 8 ? fr_load_be64(k.mv_data) : UINT64_MAX;
            if (off >= h->run.first + h->run.count) {
                h->run_src = -1; /* the rest of the run is gone (retention) */
                continue;
            }
            h->run_positioned = 1;
            h->run_next = off + 1;
            *rec = (fr_elog_hist_rec_t){.source = h->run_src,
                                        .offset = off,
                                        .seq = h->run.seq + (off - h->run.first),
                                        .append_ms = h->run.append_ms,
                                        .data = v.mv_data,
                                        .len = v.mv_size};
            h->read++;
            return 0;
        }
        MDB_val k, v;
        rc = mdb_cursor_get(h->ac, &k, &v, h->ac_started ? MDB_NEXT : MDB_FIRST);
        h->ac_started = 1;
        if (rc == MDB_NOTFOUND)
            return FR_ENOTFOUND;
        if (rc)
            return fr_mdb_rc(rc);
        run_t r;
        if (run_decode(&k, &v, &r))
            continue;
        int src = source_by_name(h->log->cfg, r.name, r.nlen);
        if (src < 0 || !h->want[src] || !r.count)
            continue;
        h->run = r;
        h->run_src = src;
        h->run_next = r.first;
        h->run_positioned = 0;
    }
}
