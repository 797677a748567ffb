/*
 * store_lmdb.c - the online store on LMDB.
 *
 * Sub-databases: "v.<view>" entity key -> stamp (u32 partition, u64 next
 * offset, u64 epoch) | encoded state; "pos" source name \0 u32 partition ->
 * u64 next offset | i64 watermark | i64 committed ms | u64 epoch | u64 replayed
 * (32 bytes without the last, as written before it existed); "kv"
 * "<ns>\0<group>\0<key>" -> value (key-value records, store.h).
 * A commit is one write transaction (states and positions together); readers
 * never block it, and any number of serving processes may read.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/mdb.h"
#include "store/store.h"

typedef struct {
    fr_store_t base;
    MDB_env *env;
    MDB_dbi *views;
    MDB_dbi pos;
    MDB_dbi kv;
} lstore_t;

typedef struct {
    fr_store_rd_t base;
    MDB_txn *txn;
    int active;
} lrd_t;


static int pos_key(const fr_config_t *cfg, int source, int32_t partition, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s", cfg->sources[source].name);
    if (len < 0 || (size_t)len + 5 > n)
        return -1;
    buf[len] = '\0';
    uint32_t p = (uint32_t)partition;
    for (int i = 0; i < 4; i++)
        buf[len + 1 + i] = (char)(p >> (24 - 8 * i));
    return len + 5;
}

static int l_rd_new(fr_store_t *s, fr_store_rd_t **out)
{
    lrd_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return FR_ENOMEM;
    rd->base.store = s;
    *out = &rd->base;
    return 0;
}

static int l_rd_begin(fr_store_rd_t *r)
{
    lrd_t *rd = (lrd_t *)r;
    lstore_t *ls = (lstore_t *)r->store;
    int rc = rd->txn ? mdb_txn_renew(rd->txn) : mdb_txn_begin(ls->env, NULL, MDB_RDONLY, &rd->txn);
    rd->active = rc == 0;
    return fr_mdb_rc(rc);
}

#define STAMP_BYTES 20

static int l_get(fr_store_rd_t *r, int view, const char *key, size_t klen, const void **val,
                 size_t *vlen, fr_store_stamp_t *stamp)
{
    lrd_t *rd = (lrd_t *)r;
    lstore_t *ls = (lstore_t *)r->store;
    if (!rd->active || klen == 0 || klen > 511)
        return klen ? FR_EINVAL : FR_ENOTFOUND;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(rd->txn, ls->views[view], &k, &v);
    if (rc)
        return fr_mdb_rc(rc);
    if (v.mv_size < STAMP_BYTES)
        return FR_ECORRUPT;
    const uint8_t *p = v.mv_data;
    if (stamp) {
        stamp->partition = (int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
        stamp->next_offset = fr_load_u64(p + 4);
        stamp->epoch = fr_load_u64(p + 12);
    }
    *val = p + STAMP_BYTES;
    *vlen = v.mv_size - STAMP_BYTES;
    return 0;
}

static int l_get_many(fr_store_rd_t *r, fr_store_get_t *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        keys[i].rc = l_get(r, keys[i].view, keys[i].key, keys[i].klen, &keys[i].val,
                           &keys[i].vlen, NULL);
    return 0;
}

static int decode_pos(const MDB_val *v, fr_store_pos_t *out)
{
    if (v->mv_size != 32 && v->mv_size != 40)
        return FR_ECORRUPT;
    out->replayed = v->mv_size == 40 ? fr_load_u64((char *)v->mv_data + 32) : 0;
    out->next_offset = fr_load_u64(v->mv_data);
    out->watermark = (int64_t)fr_load_u64((char *)v->mv_data + 8);
    out->committed_ms = (int64_t)fr_load_u64((char *)v->mv_data + 16);
    out->epoch = fr_load_u64((char *)v->mv_data + 24);
    return 0;
}

static int l_pos_get(fr_store_rd_t *r, int source, int32_t partition, fr_store_pos_t *out)
{
    lrd_t *rd = (lrd_t *)r;
    lstore_t *ls = (lstore_t *)r->store;
    char kb[FR_CONFIG_MAX_NAME + 16];
    int kl = pos_key(r->store->cfg, source, partition, kb, sizeof kb);
    if (kl < 0 || !rd->active)
        return FR_EINVAL;
    MDB_val k = {(size_t)kl, kb}, v;
    int rc = mdb_get(rd->txn, ls->pos, &k, &v);
    if (rc)
        return fr_mdb_rc(rc);
    out->source = source;
    out->partition = partition;
    return decode_pos(&v, out);
}

static void l_rd_end(fr_store_rd_t *r)
{
    lrd_t *rd = (lrd_t *)r;
    if (rd->active)
        mdb_txn_reset(rd->txn);
    rd->active = 0;
}

static void l_rd_free(fr_store_rd_t *r)
{
    lrd_t *rd = (lrd_t *)r;
    if (rd->txn)
        mdb_txn_abort(rd->txn);
    free(rd);
}

static int l_commit(fr_store_t *s, const fr_store_put_t *puts, size_t nputs,
                    const fr_store_pos_t *pos, size_t npos, uint64_t epoch)
{
    lstore_t *ls = (lstore_t *)s;
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    for (size_t i = 0; !rc && i < nputs; i++) {
        const fr_store_put_t *p = &puts[i];
        MDB_val k = {p->klen, (void *)p->key};
        if (epoch) {
            /* processors of a consumer group share the store: refuse a
             * zombie's write, skip one the stored state already holds */
            MDB_val old;
            if (mdb_get(txn, ls->views[p->view], &k, &old) == 0 && old.mv_size >= STAMP_BYTES) {
                const uint8_t *ob = old.mv_data;
                if (fr_load_u64(ob + 12) > epoch) {
                    rc = FR_ECONFLICT;
                    break;
                }
                uint32_t op = (uint32_t)ob[0] | (uint32_t)ob[1] << 8 | (uint32_t)ob[2] << 16 |
                              (uint32_t)ob[3] << 24;
                if (op == (uint32_t)p->stamp.partition &&
                    fr_load_u64(ob + 4) >= p->stamp.next_offset)
                    continue;
            }
        }
        if (!p->val) {
            rc = mdb_del(txn, ls->views[p->view], &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
            continue;
        }
        /* reserve, then write the stamp and the state in place: one copy */
        MDB_val v = {STAMP_BYTES + p->vlen, NULL};
        rc = mdb_put(txn, ls->views[p->view], &k, &v, MDB_RESERVE);
        if (rc)
            break;
        uint8_t *b = v.mv_data;
        uint32_t part = (uint32_t)p->stamp.partition;
        for (int j = 0; j < 4; j++)
            b[j] = (uint8_t)(part >> (8 * j));
        fr_store_u64(b + 4, p->stamp.next_offset);
        fr_store_u64(b + 12, p->stamp.epoch);
        memcpy(b + STAMP_BYTES, p->val, p->vlen);
    }
    int64_t now = fr_now_ms();
    for (size_t i = 0; !rc && i < npos; i++) {
        char kb[FR_CONFIG_MAX_NAME + 16];
        int kl = pos_key(s->cfg, pos[i].source, pos[i].partition, kb, sizeof kb);
        uint8_t vb[40];
        fr_store_u64(vb + 32, pos[i].replayed);
        fr_store_u64(vb, pos[i].next_offset);
        fr_store_u64(vb + 8, (uint64_t)pos[i].watermark);
        fr_store_u64(vb + 16, (uint64_t)now);
        fr_store_u64(vb + 24, epoch);
        MDB_val k = {(size_t)kl, kb}, v = {40, vb}, old;
        if (kl >= 0 && epoch && mdb_get(txn, ls->pos, &k, &old) == 0 && old.mv_size >= 32 &&
            fr_load_u64((const uint8_t *)old.mv_data + 24) > epoch) {
            rc = FR_ECONFLICT;
            break;
        }
        rc = kl < 0 ? EINVAL : mdb_put(txn, ls->pos, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc == FR_ECONFLICT ? rc : fr_mdb_write_rc(ls->env, rc);
    }
    return fr_mdb_write_rc(ls->env, mdb_txn_commit(txn));
}

static int l_entities(fr_store_t *s, int view, uint64_t *n)
{
    lstore_t *ls = (lstore_t *)s;
    return fr_mdb_entries(ls->env, ls->views[view], n);
}

static int l_next_epoch(fr_store_t *s, uint64_t *epoch)
{
    lstore_t *ls = (lstore_t *)s;
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    static const char key[] = "\0epoch"; /* no source name is empty */
    MDB_val k = {sizeof key - 1, (void *)key}, v;
    uint64_t e = 1;
    rc = mdb_get(txn, ls->pos, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        e = fr_load_u64(v.mv_data) + 1;
    else if (rc && rc != MDB_NOTFOUND)
        goto out;
    uint8_t b[8];
    fr_store_u64(b, e);
    v = (MDB_val){8, b};
    rc = mdb_put(txn, ls->pos, &k, &v, 0);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        if (!rc)
            *epoch = e;
        return fr_mdb_rc(rc);
    }
out:
    mdb_txn_abort(txn);
    return fr_mdb_rc(rc);
}

static int l_sync(fr_store_t *s)
{
    return fr_mdb_rc(mdb_env_sync(((lstore_t *)s)->env, 1));
}

/* ---- key-value records ---- */

#define KV_KEY (FR_STORE_KV_MAX_NS + FR_STORE_KV_MAX_GROUP + FR_STORE_KV_MAX_KEY + 3)

/* "<ns>\0<group>\0<key>" into buf (KV_KEY bytes); its length.  key may
 * be NULL: then up to and including the group's NUL. */
static size_t kv_key(char *buf, const char *ns, const char *group, const char *key)
{
    size_t a = strlen(ns), b = strlen(group), c = key ? strlen(key) : 0;
    memcpy(buf, ns, a + 1);
    memcpy(buf + a + 1, group, b + 1);
    if (key)
        memcpy(buf + a + b + 2, key, c);
    return a + b + 2 + c;
}

static int l_kv_get(fr_store_t *s, const char *ns, const char *group, const char *key,
                    void **val, size_t *vlen)
{
    lstore_t *ls = (lstore_t *)s;
    char kb[KV_KEY];
    MDB_val k = {kv_key(kb, ns, group, key), kb}, v;
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = fr_mdb_rc(mdb_get(txn, ls->kv, &k, &v));
    if (!rc) {
        *val = malloc(v.mv_size + 1);
        if (*val) {
            memcpy(*val, v.mv_data, v.mv_size);
            ((char *)*val)[v.mv_size] = '\0';
            *vlen = v.mv_size;
        } else {
            rc = FR_ENOMEM;
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

static int l_kv_put(fr_store_t *s, const char *ns, const char *group, const char *key,
                    const void *val, size_t vlen, int only_new)
{
    lstore_t *ls = (lstore_t *)s;
    char kb[KV_KEY];
    MDB_val k = {kv_key(kb, ns, group, key), kb}, v = {vlen, (void *)val};
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = mdb_put(txn, ls->kv, &k, &v, only_new ? MDB_NOOVERWRITE : 0);
    if (rc) {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST ? FR_ECONFLICT : fr_mdb_rc(rc);
    }
    return fr_mdb_rc(mdb_txn_commit(txn));
}

static int l_kv_del(fr_store_t *s, const char *ns, const char *group, const char *key)
{
    lstore_t *ls = (lstore_t *)s;
    char kb[KV_KEY];
    MDB_val k = {kv_key(kb, ns, group, key), kb};
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = mdb_del(txn, ls->kv, &k, NULL);
    if (rc) {
        mdb_txn_abort(txn);
        return fr_mdb_rc(rc);
    }
    return fr_mdb_rc(mdb_txn_commit(txn));
}

/* A counter's decimal text; -1 when it is not one. */
static int parse_counter(const MDB_val *v, uint64_t *out)
{
    const char *p = v->mv_data;
    uint64_t n = 0;
    if (v->mv_size == 0 || v->mv_size > 20)
        return -1;
    for (size_t i = 0; i < v->mv_size; i++) {
        if (p[i] < '0' || p[i] > '9' || n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(p[i] - '0');
    }
    *out = n;
    return 0;
}

static int l_kv_incr(fr_store_t *s, const char *ns, const char *group, const char *key,
                     uint64_t *out)
{
    lstore_t *ls = (lstore_t *)s;
    char kb[KV_KEY], num[24];
    MDB_val k = {kv_key(kb, ns, group, key), kb}, v;
    MDB_txn *txn;
    uint64_t n = 0;
    int rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = mdb_get(txn, ls->kv, &k, &v);
    if (rc == 0 && (parse_counter(&v, &n) || n == INT64_MAX))
        rc = FR_ETYPE;
    else if (rc == MDB_NOTFOUND)
        rc = 0;
    if (!rc) {
        n++;
        int len = snprintf(num, sizeof num, "%llu", (unsigned long long)n);
        v = (MDB_val){(size_t)len, num};
        rc = mdb_put(txn, ls->kv, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc == FR_ETYPE ? rc : fr_mdb_rc(rc);
    }
    rc = fr_mdb_rc(mdb_txn_commit(txn));
    if (!rc)
        *out = n;
    return rc;
}

static int l_kv_list(fr_store_t *s, const char *ns, const char *group, const char *prefix,
                     fr_store_kv_names_t *out)
{
    lstore_t *ls = (lstore_t *)s;
    char kb[KV_KEY], seek[KV_KEY];
    size_t nsl = strlen(ns) + 1; /* with its NUL */
    size_t pl = nsl, gofs = 0;
    if (group) {
        pl = kv_key(kb, ns, group, prefix);
        gofs = nsl + strlen(group) + 1;
    } else {
        memcpy(kb, ns, nsl);
    }
    memcpy(seek, kb, pl);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    /* every LMDB code is made a freshet one at once: FR_ENOTFOUND ends */
    int rc = fr_mdb_rc(mdb_txn_begin(ls->env, NULL, MDB_RDONLY, &txn));
    if (rc) {
        txn = NULL;
        goto out;
    }
    rc = fr_mdb_rc(mdb_cursor_open(txn, ls->kv, &cur));
    MDB_val k = {pl, seek}, v;
    int op = MDB_SET_RANGE;
    while (!rc) {
        rc = fr_mdb_rc(mdb_cursor_get(cur, &k, &v, op));
        if (rc || k.mv_size < pl || memcmp(k.mv_data, kb, pl))
            break;
        op = MDB_NEXT;
        const char *p = (const char *)k.mv_data;
        if (group) {
            rc = fr_store_kv_names_add(out, p + gofs, k.mv_size - gofs);
            continue;
        }
        /* one name per group, then on past "<ns>\0<group>\0..." */
        size_t gl = strnlen(p + nsl, k.mv_size - nsl);
        if (nsl + gl + 1 >= sizeof seek || gl == k.mv_size - nsl) {
            rc = FR_ECORRUPT;
            break;
        }
        rc = fr_store_kv_names_add(out, p + nsl, gl);
        memcpy(seek, p, nsl + gl);
        seek[nsl + gl] = '\1';
        k = (MDB_val){nsl + gl + 1, seek};
        op = MDB_SET_RANGE;
    }
    if (rc == FR_ENOTFOUND)
        rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

static void l_close(fr_store_t *s)
{
    lstore_t *ls = (lstore_t *)s;
    if (ls->env)
        mdb_env_close(ls->env);
    free(ls->views);
    free(ls);
}

static const fr_store_ops_t lmdb_ops = {
    .kind = "lmdb",
    .rd_new = l_rd_new,
    .rd_begin = l_rd_begin,
    .get = l_get,
    .get_many = l_get_many,
    .pos_get = l_pos_get,
    .rd_end = l_rd_end,
    .rd_free = l_rd_free,
    .commit = l_commit,
    .next_epoch = l_next_epoch,
    .entities = l_entities,
    .sync = l_sync,
    .kv_get = l_kv_get,
    .kv_put = l_kv_put,
    .kv_del = l_kv_del,
    .kv_incr = l_kv_incr,
    .kv_list = l_kv_list,
    .close = l_close,
};

int fr_store_lmdb_open(const fr_config_t *cfg, const char *dir, fr_store_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    lstore_t *ls = calloc(1, sizeof *ls);
    if (!ls)
        return FR_ENOMEM;
    ls->base.ops = &lmdb_ops;
    ls->base.cfg = cfg;
    ls->views = calloc(cfg->nviews ? cfg->nviews : 1, sizeof *ls->views);
    MDB_txn *txn = NULL;
    int rc = ls->views ? 0 : ENOMEM;
    if (!rc)
        rc = -fr_mkdir_p(dir); /* a positive errno, like LMDB's */
    if (!rc)
        rc = mdb_env_create(&ls->env);
    if (!rc)
        rc = mdb_env_set_mapsize(ls->env, cfg->store.map_size_bytes);
    if (!rc)
        rc = mdb_env_set_maxdbs(ls->env, (MDB_dbi)cfg->nviews + 4);
    if (!rc)
        rc = mdb_env_set_maxreaders(ls->env, 512);
    if (!rc)
        /* NOMETASYNC: a system crash may undo the last commits, never half of
         * one; states and positions roll back together and are rebuilt from
         * the durable log (which is trimmed only after l_sync).  It saves one
         * of the two fsyncs per commit. */
        rc = mdb_env_open(ls->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0644);
    if (!rc)
        rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "pos", MDB_CREATE, &ls->pos);
    if (!rc)
        rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &ls->kv);
    for (size_t i = 0; !rc && i < cfg->nviews; i++) {
        char name[FR_CONFIG_MAX_NAME + 8];
        snprintf(name, sizeof name, "v.%s", cfg->views[i].name);
        rc = mdb_dbi_open(txn, name, MDB_CREATE, &ls->views[i]);
    }
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
        if (txn)
            mdb_txn_abort(txn);
        l_close(&ls->base);
        return fr_mdb_rc(rc);
    }
    *out = &ls->base;
    return 0;
}
