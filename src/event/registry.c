/*
 * registry.c - the schema registry's public functions (see registry.h) and
 * its embedded backend on LMDB.
 *
 * Sub-databases of <store.path>/registry:
 *   schemas   u32 BE id -> canonical schema text
 *   byhash    128-bit hash of a canonical text -> u32 BE id (DUPSORT: on a
 *             collision the texts are compared)
 *   subjects  subject \0 u32 BE version -> u32 BE id
 *   deleted   the same for soft-deleted versions: out of every listing,
 *             lookup and check, their numbers still taken
 *   config    subject -> level name ("FULL")
 *   meta      "next_id" -> u32 BE; "compat" -> the global level name
 *
 * A registration is one write transaction: LMDB's single-writer lock makes
 * "is it there? is it compatible? add it" atomic across threads and
 * processes, so ids stay unique and versions dense.  Reads are short read
 * transactions (MDB_NOTLS: any thread).  LMDB forbids opening one
 * environment twice in a process, so handles of one directory (by device
 * and inode) share one environment, counted.
 */
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/mdb.h"
#include "core/utf8.h"
#include "event/registry_int.h"

#define REG_MAP_SIZE ((size_t)4 << 30) /* address space; the file grows as used */
#define MAX_CANON (2 * FR_REGISTRY_MAX_SCHEMA)

typedef struct env {
    struct env *next;
    dev_t dev;
    ino_t ino;
    int refs;
    MDB_env *env;
    MDB_dbi schemas, byhash, subjects, deleted, config, meta;
} env_t;

static pthread_mutex_t g_envs_mu = PTHREAD_MUTEX_INITIALIZER;
static env_t *g_envs;

static const fr_registry_ops_t embedded_ops;

static void set_err(char *err, size_t errlen, const char *what, int mdb_rc)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, mdb_strerror(mdb_rc));
}

static int env_open(const char *dir, env_t *e, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&e->env);
    if (!rc)
        rc = mdb_env_set_mapsize(e->env, REG_MAP_SIZE);
    if (!rc)
        rc = mdb_env_set_maxdbs(e->env, 8);
    if (!rc)
        rc = mdb_env_set_maxreaders(e->env, 512);
    if (!rc)
        rc = mdb_env_open(e->env, dir, MDB_NOTLS, 0644);
    if (!rc)
        rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "schemas", MDB_CREATE, &e->schemas);
    if (!rc)
        rc = mdb_dbi_open(txn, "byhash", MDB_CREATE | MDB_DUPSORT, &e->byhash);
    if (!rc)
        rc = mdb_dbi_open(txn, "subjects", MDB_CREATE, &e->subjects);
    if (!rc)
        rc = mdb_dbi_open(txn, "deleted", MDB_CREATE, &e->deleted);
    if (!rc)
        rc = mdb_dbi_open(txn, "config", MDB_CREATE, &e->config);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &e->meta);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        set_err(err, errlen, dir, rc);
        if (e->env)
            mdb_env_close(e->env);
        e->env = NULL;
        return fr_mdb_rc(rc);
    }
    return 0;
}

static int embedded_open(const fr_config_t *cfg, fr_registry_t *r, char *err, size_t errlen)
{
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/registry", cfg->store.path);
    if (n < 0 || (size_t)n >= sizeof dir) {
        snprintf(err, errlen, "store.path is too long");
        return FR_EINVAL;
    }
    int rc = fr_mkdir_p(dir);
    struct stat st;
    if (!rc && stat(dir, &st) != 0)
        rc = -errno;
    if (rc) {
        snprintf(err, errlen, "%s: %s", dir, fr_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&g_envs_mu);
    env_t *e = g_envs;
    while (e && !(e->dev == st.st_dev && e->ino == st.st_ino))
        e = e->next;
    if (e) {
        e->refs++;
    } else {
        e = calloc(1, sizeof *e);
        rc = e ? env_open(dir, e, err, errlen) : FR_ENOMEM;
        if (rc) {
            free(e);
            e = NULL;
        } else {
            e->dev = st.st_dev;
            e->ino = st.st_ino;
            e->refs = 1;
            e->next = g_envs;
            g_envs = e;
        }
    }
    pthread_mutex_unlock(&g_envs_mu);
    if (rc)
        return rc;
    r->ops = &embedded_ops;
    r->impl = e;
    return 0;
}

static void emb_close(fr_registry_t *r)
{
    env_t *e = r->impl;
    pthread_mutex_lock(&g_envs_mu);
    if (--e->refs == 0) {
        env_t **pp = &g_envs;
        while (*pp != e)
            pp = &(*pp)->next;
        *pp = e->next;
        mdb_env_close(e->env);
        free(e);
    }
    pthread_mutex_unlock(&g_envs_mu);
}

/* ---- keys and small reads ------------------------------------------------------ */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t ld32(const void *q)
{
    const uint8_t *p = q;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct {
    char b[FR_REGISTRY_MAX_SUBJECT + 8];
    size_t len;
} skey_t;

/* subject \0 version (BE) */
static void subj_key(skey_t *k, const char *subject, uint32_t version)
{
    size_t sl = strlen(subject);
    memcpy(k->b, subject, sl);
    k->b[sl] = '\0';
    be32((uint8_t *)k->b + sl + 1, version);
    k->len = sl + 5;
}

static int is_subject_key(const MDB_val *k, const char *subject, size_t sl)
{
    return k->mv_size == sl + 5 && memcmp(k->mv_data, subject, sl) == 0 &&
           ((const char *)k->mv_data)[sl] == '\0';
}

/* The latest version of subject in dbi (subjects or deleted) and its id
 * (FR_ENOTFOUND: none). */
static int latest_in(MDB_txn *txn, MDB_dbi dbi, const char *subject, int *version, uint32_t *id)
{
    size_t sl = strlen(subject);
    char kb[FR_REGISTRY_MAX_SUBJECT + 2];
    memcpy(kb, subject, sl);
    kb[sl] = '\x01'; /* just past every key of subject */
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k = {sl + 1, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && (!is_subject_key(&k, subject, sl) || v.mv_size != 4))
        rc = MDB_NOTFOUND;
    if (rc == 0) {
        *version = (int)ld32((const char *)k.mv_data + sl + 1);
        *id = ld32(v.mv_data);
    }
    mdb_cursor_close(c);
    return fr_mdb_rc(rc);
}

/* The latest live version of subject and its id (FR_ENOTFOUND: none). */
static int latest_txn(env_t *e, MDB_txn *txn, const char *subject, int *version, uint32_t *id)
{
    return latest_in(txn, e->subjects, subject, version, id);
}

typedef int (*ver_fn)(void *ctx, int version, uint32_t id);

/* Every version of subject, oldest first; FR_ENOTFOUND when none. */
static int each_version(env_t *e, MDB_txn *txn, const char *subject, ver_fn fn, void *ctx)
{
    size_t sl = strlen(subject);
    skey_t sk;
    subj_key(&sk, subject, 0);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, e->subjects, &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k = {sk.len, sk.b}, v;
    int any = 0, frc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (!is_subject_key(&k, subject, sl) || v.mv_size != 4)
            break;
        any = 1;
        frc = fn(ctx, (int)ld32((const char *)k.mv_data + sl + 1), ld32(v.mv_data));
        if (frc)
            break;
    }
    mdb_cursor_close(c);
    if (frc)
        return frc;
    if (rc && rc != MDB_NOTFOUND)
        return fr_mdb_rc(rc);
    return any ? 0 : FR_ENOTFOUND;
}

static int get_text(env_t *e, MDB_txn *txn, uint32_t id, MDB_val *v)
{
    uint8_t kb[4];
    be32(kb, id);
    MDB_val k = {4, kb};
    return fr_mdb_rc(mdb_get(txn, e->schemas, &k, v));
}

static void text_hash(const char *canon, size_t len, uint8_t out[16])
{
    fr_store_be64(out, fr_hash64(canon, len, 0x7265677331ULL));
    fr_store_be64(out + 8, fr_hash64(canon, len, 0x7265677332ULL));
}

/* The id of the canonical text, or FR_ENOTFOUND. */
static int find_text(env_t *e, MDB_txn *txn, const char *canon, size_t len, uint32_t *id)
{
    uint8_t h[16];
    text_hash(canon, len, h);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, e->byhash, &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k = {16, h}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size != 4)
            continue;
        MDB_val t;
        uint32_t cand = ld32(v.mv_data);
        if (get_text(e, txn, cand, &t) == 0 && t.mv_size == len &&
            memcmp(t.mv_data, canon, len) == 0) {
            *id = cand;
            break;
        }
    }
    mdb_cursor_close(c);
    return fr_mdb_rc(rc);
}

static int level_txn(env_t *e, MDB_txn *txn, const char *subject, fr_compat_t *level)
{
    MDB_val k, v;
    if (subject) {
        k = (MDB_val){strlen(subject), (void *)subject};
    } else {
        k = (MDB_val){6, "compat"};
    }
    int rc = mdb_get(txn, subject ? e->config : e->meta, &k, &v);
    if (rc)
        return fr_mdb_rc(rc);
    char name[32];
    if (v.mv_size >= sizeof name)
        return FR_ECORRUPT;
    memcpy(name, v.mv_data, v.mv_size);
    name[v.mv_size] = '\0';
    int l = fr_compat_parse(name);
    if (l < 0)
        return FR_ECORRUPT;
    *level = (fr_compat_t)l;
    return 0;
}

/* The subject's level, else the global one, else BACKWARD. */
static int effective_level(env_t *e, MDB_txn *txn, const char *subject, fr_compat_t *level)
{
    int rc = level_txn(e, txn, subject, level);
    if (rc == FR_ENOTFOUND)
        rc = level_txn(e, txn, NULL, level);
    if (rc == FR_ENOTFOUND) {
        *level = FR_COMPAT_BACKWARD;
        rc = 0;
    }
    return rc;
}

/* ---- compatibility inside a transaction ------------------------------------------ */

typedef struct {
    env_t *e;
    MDB_txn *txn;
    const av_schema_t *parsed;
    fr_compat_t level;
} chk_t;

static int check_one(chk_t *k, int version, uint32_t id, char *reason, size_t rlen)
{
    MDB_val t;
    int rc = get_text(k->e, k->txn, id, &t);
    if (rc)
        return rc == FR_ENOTFOUND ? FR_ECORRUPT : rc;
    av_schema_t *old;
    char why[256];
    rc = fr_avsc_parse(t.mv_data, t.mv_size, &old, why, sizeof why);
    if (rc) {
        if (reason && rlen)
            snprintf(reason, rlen, "version %d does not parse: %s", version, why);
        return rc == FR_ENOMEM ? rc : FR_ECORRUPT;
    }
    char name[32];
    snprintf(name, sizeof name, "version %d", version);
    rc = fr_compat_check(k->level, k->parsed, old, name, reason, rlen);
    fr_avsc_free(old);
    return rc;
}

typedef struct {
    chk_t *k;
    char *reason;
    size_t rlen;
} all_t;

static int check_each(void *ctx, int version, uint32_t id)
{
    all_t *a = ctx;
    return check_one(a->k, version, id, a->reason, a->rlen);
}

static int check_txn(env_t *e, MDB_txn *txn, const char *subject, const av_schema_t *parsed,
                     int version, char *reason, size_t rlen)
{
    chk_t k = {.e = e, .txn = txn, .parsed = parsed};
    int latest;
    uint32_t latest_id;
    int rc = latest_txn(e, txn, subject, &latest, &latest_id);
    if (rc == FR_ENOTFOUND && reason && rlen)
        snprintf(reason, rlen, "no subject '%s'", subject);
    if (!rc)
        rc = effective_level(e, txn, subject, &k.level);
    MDB_val v;
    if (!rc && version > 0) {
        skey_t sk;
        subj_key(&sk, subject, (uint32_t)version);
        MDB_val key = {sk.len, sk.b};
        rc = fr_mdb_rc(mdb_get(txn, e->subjects, &key, &v));
        if (rc == FR_ENOTFOUND && reason && rlen)
            snprintf(reason, rlen, "subject '%s' has no version %d", subject, version);
    }
    if (rc || k.level == FR_COMPAT_NONE)
        return rc;
    if (version > 0)
        return check_one(&k, version, ld32(v.mv_data), reason, rlen);
    if (version == 0 && (k.level == FR_COMPAT_BACKWARD || k.level == FR_COMPAT_FORWARD ||
                         k.level == FR_COMPAT_FULL))
        return check_one(&k, latest, latest_id, reason, rlen);
    /* transitive: every version, oldest first */
    all_t a = {&k, reason, rlen};
    return each_version(e, txn, subject, check_each, &a);
}

/* ---- the backend -------------------------------------------------------------------- */

static int emb_schema(fr_registry_t *r, uint32_t id, fr_buf_t *out)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val v;
    rc = get_text(e, txn, id, &v);
    fr_buf_reset(out);
    if (!rc)
        rc = fr_buf_add(out, v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
    return rc;
}

typedef struct {
    uint32_t id;
    int found;
} has_t;

static int has_id(void *ctx, int version, uint32_t id)
{
    (void)version;
    has_t *h = ctx;
    if (id == h->id)
        h->found = 1;
    return 0;
}

static int emb_reg(fr_registry_t *r, const char *subject, const char *text, size_t len,
                   const av_schema_t *parsed, const char *canon, size_t clen, uint32_t *id,
                   char *reason, size_t rlen)
{
    (void)text;
    (void)len;
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc) {
        if (reason && rlen)
            snprintf(reason, rlen, "registry store: %s", mdb_strerror(rc));
        return fr_mdb_rc(rc);
    }
    uint32_t existing = 0, latest_id = 0, deleted_id = 0;
    int latest = 0, deleted = 0;
    rc = find_text(e, txn, canon, clen, &existing);
    if (rc == FR_ENOTFOUND)
        rc = 0;
    if (!rc)
        rc = latest_txn(e, txn, subject, &latest, &latest_id);
    if (rc == FR_ENOTFOUND)
        rc = 0;
    /* soft-deleted versions keep their numbers: a new one comes after them */
    if (!rc)
        rc = latest_in(txn, e->deleted, subject, &deleted, &deleted_id);
    if (rc == FR_ENOTFOUND)
        rc = 0;
    if (rc)
        goto out;
    if (existing && latest) {
        has_t h = {existing, 0};
        rc = each_version(e, txn, subject, has_id, &h);
        if (rc)
            goto out;
        if (h.found) {
            *id = existing; /* registered already: idempotent */
            goto out;
        }
    }
    if (latest) {
        rc = check_txn(e, txn, subject, parsed, 0, reason, rlen);
        if (rc)
            goto out;
    }
    if (deleted > latest)
        latest = deleted;
    if (latest >= INT32_MAX) {
        rc = FR_ELIMIT;
        goto out;
    }
    if (!existing) {
        MDB_val nk = {7, "next_id"}, nv;
        rc = mdb_get(txn, e->meta, &nk, &nv);
        existing = rc == 0 && nv.mv_size == 4 ? ld32(nv.mv_data) : 1;
        rc = rc == MDB_NOTFOUND ? 0 : fr_mdb_rc(rc);
        if (!rc && existing == UINT32_MAX)
            rc = FR_ELIMIT;
        uint8_t ib[4], nb[4], h[16];
        be32(ib, existing);
        be32(nb, existing + 1);
        text_hash(canon, clen, h);
        MDB_val ik = {4, ib}, tv = {clen, (void *)canon}, hk = {16, h}, nvv = {4, nb};
        if (!rc)
            rc = fr_mdb_rc(mdb_put(txn, e->schemas, &ik, &tv, 0));
        if (!rc)
            rc = fr_mdb_rc(mdb_put(txn, e->byhash, &hk, &ik, 0));
        if (!rc)
            rc = fr_mdb_rc(mdb_put(txn, e->meta, &nk, &nvv, 0));
        if (rc)
            goto out;
    }
    skey_t sk;
    subj_key(&sk, subject, (uint32_t)latest + 1);
    uint8_t ib[4];
    be32(ib, existing);
    MDB_val k = {sk.len, sk.b}, v = {4, ib};
    rc = fr_mdb_rc(mdb_put(txn, e->subjects, &k, &v, 0));
    if (!rc) {
        rc = fr_mdb_rc(mdb_txn_commit(txn));
        txn = NULL;
    }
    if (!rc)
        *id = existing;
out:
    if (txn)
        mdb_txn_abort(txn);
    if (rc && rc != FR_ECONFLICT && rc != FR_EPARSE && reason && rlen && !reason[0])
        snprintf(reason, rlen, "registry store: %s", fr_strerror(rc));
    return rc;
}

static int emb_check(fr_registry_t *r, const char *subject, const char *text, size_t len,
                     const av_schema_t *parsed, int version, char *reason, size_t rlen)
{
    (void)text;
    (void)len;
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = check_txn(e, txn, subject, parsed, version, reason, rlen);
    mdb_txn_abort(txn);
    return rc;
}

static int emb_latest(fr_registry_t *r, const char *subject, uint32_t *id, int *version,
                      fr_buf_t *schema)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = latest_txn(e, txn, subject, version, id);
    if (!rc && schema) {
        MDB_val v;
        fr_buf_reset(schema);
        rc = get_text(e, txn, *id, &v);
        rc = rc == FR_ENOTFOUND ? FR_ECORRUPT : rc;
        if (!rc)
            rc = fr_buf_add(schema, v.mv_data, v.mv_size);
    }
    mdb_txn_abort(txn);
    return rc;
}

static int emb_subjects(fr_registry_t *r, fr_registry_subject_fn fn, void *ctx, char *err,
                        size_t errlen)
{
    env_t *e = r->impl;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (!rc) {
        rc = mdb_cursor_open(txn, e->subjects, &c);
        if (rc)
            mdb_txn_abort(txn);
    }
    if (rc) {
        set_err(err, errlen, "registry store", rc);
        return fr_mdb_rc(rc);
    }
    char last[FR_REGISTRY_MAX_SUBJECT + 1] = "";
    int have = 0, frc = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 5 || k.mv_size - 5 > FR_REGISTRY_MAX_SUBJECT)
            continue;
        size_t sl = k.mv_size - 5;
        if (have && strlen(last) == sl && memcmp(last, k.mv_data, sl) == 0)
            continue;
        memcpy(last, k.mv_data, sl);
        last[sl] = '\0';
        have = 1;
        frc = fn(ctx, last);
        if (frc)
            break;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (frc)
        return frc;
    if (rc && rc != MDB_NOTFOUND) {
        set_err(err, errlen, "registry store", rc);
        return fr_mdb_rc(rc);
    }
    return 0;
}

typedef struct {
    env_t *e;
    MDB_txn *txn;
    fr_registry_version_fn fn;
    void *ctx;
} vers_t;

static int call_version(void *ctx, int version, uint32_t id)
{
    vers_t *vs = ctx;
    MDB_val t;
    int rc = get_text(vs->e, vs->txn, id, &t);
    if (rc)
        return rc == FR_ENOTFOUND ? FR_ECORRUPT : rc;
    return vs->fn(vs->ctx, version, id, t.mv_data, t.mv_size);
}

static int emb_versions(fr_registry_t *r, const char *subject, fr_registry_version_fn fn, void *ctx,
                        char *err, size_t errlen)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        set_err(err, errlen, "registry store", rc);
        return fr_mdb_rc(rc);
    }
    vers_t vs = {e, txn, fn, ctx};
    rc = each_version(e, txn, subject, call_version, &vs);
    mdb_txn_abort(txn);
    if (rc == FR_ENOTFOUND && err && errlen)
        snprintf(err, errlen, "no subject '%s'", subject);
    return rc;
}

/* The first version of subject in dbi (0 with *version, *id), or
 * FR_ENOTFOUND. */
static int first_in(MDB_txn *txn, MDB_dbi dbi, const char *subject, int *version, uint32_t *id)
{
    size_t sl = strlen(subject);
    skey_t sk;
    subj_key(&sk, subject, 0);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return fr_mdb_rc(rc);
    MDB_val k = {sk.len, sk.b}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && (!is_subject_key(&k, subject, sl) || v.mv_size != 4))
        rc = MDB_NOTFOUND;
    if (rc == 0) {
        *version = (int)ld32((const char *)k.mv_data + sl + 1);
        *id = ld32(v.mv_data);
    }
    mdb_cursor_close(c);
    return fr_mdb_rc(rc);
}

static int emb_delete(fr_registry_t *r, const char *subject, int permanent,
                      fr_registry_deleted_fn fn, void *ctx, char *reason, size_t rlen)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    int version, live, dead;
    uint32_t id;
    rc = first_in(txn, e->subjects, subject, &version, &id);
    live = rc == 0;
    if (rc == FR_ENOTFOUND)
        rc = first_in(txn, e->deleted, subject, &version, &id);
    dead = !live && rc == 0;
    if (rc == FR_ENOTFOUND) {
        snprintf(reason, rlen, "Subject '%s' not found.", subject);
        goto out;
    }
    if (rc)
        goto out;
    if (!permanent && dead) {
        rc = FR_ECONFLICT;
        snprintf(reason, rlen,
                 "Subject '%s' was soft deleted. Set permanent=true to delete permanently",
                 subject);
        goto out;
    }
    if (permanent && live) {
        rc = FR_ECONFLICT;
        snprintf(reason, rlen,
                 "Subject '%s' was not deleted first before being permanently deleted", subject);
        goto out;
    }
    /* soft: live versions move to `deleted`; permanent: deleted ones go */
    MDB_dbi from = permanent ? e->deleted : e->subjects;
    for (;;) {
        rc = first_in(txn, from, subject, &version, &id);
        if (rc == FR_ENOTFOUND) {
            rc = 0;
            break;
        }
        skey_t sk;
        subj_key(&sk, subject, (uint32_t)version);
        uint8_t ib[4];
        be32(ib, id);
        MDB_val k = {sk.len, sk.b}, v = {4, ib};
        if (!rc)
            rc = fr_mdb_rc(mdb_del(txn, from, &k, NULL));
        if (!rc && !permanent)
            rc = fr_mdb_rc(mdb_put(txn, e->deleted, &k, &v, 0));
        if (!rc && fn)
            rc = fn(ctx, version);
        if (rc)
            goto out;
    }
    if (permanent) { /* the subject's level goes with it */
        MDB_val k = {strlen(subject), (void *)subject};
        rc = mdb_del(txn, e->config, &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : fr_mdb_rc(rc);
    }
    if (!rc) {
        rc = fr_mdb_rc(mdb_txn_commit(txn));
        txn = NULL;
    }
out:
    if (txn)
        mdb_txn_abort(txn);
    if (rc && rc != FR_ENOTFOUND && rc != FR_ECONFLICT && !reason[0])
        snprintf(reason, rlen, "registry store: %s", fr_strerror(rc));
    return rc;
}

static const fr_registry_ops_t embedded_ops = {
    .kind = "embedded",
    .schema = emb_schema,
    .reg = emb_reg,
    .check = emb_check,
    .latest = emb_latest,
    .subjects = emb_subjects,
    .versions = emb_versions,
    .del = emb_delete,
    .close = emb_close,
};

/* ---- embedded extras for the REST answers ---------------------------------------------- */

int fr_registry_embedded(const fr_registry_t *r)
{
    return r->ops == &embedded_ops;
}

int fr_registry_level_get(fr_registry_t *r, const char *subject, fr_compat_t *level)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = level_txn(e, txn, subject, level);
    mdb_txn_abort(txn);
    return rc;
}

int fr_registry_level_set(fr_registry_t *r, const char *subject, fr_compat_t level)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    const char *name = fr_compat_name(level);
    MDB_val k = subject ? (MDB_val){strlen(subject), (void *)subject} : (MDB_val){6, "compat"};
    MDB_val v = {strlen(name), (void *)name};
    rc = mdb_put(txn, subject ? e->config : e->meta, &k, &v, 0);
    if (!rc)
        return fr_mdb_rc(mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return fr_mdb_rc(rc);
}

int fr_registry_version_get(fr_registry_t *r, const char *subject, int version, int *subject_found,
                            uint32_t *id, fr_buf_t *schema)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    *subject_found = 0;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    int latest;
    uint32_t lid;
    rc = latest_txn(e, txn, subject, &latest, &lid);
    if (!rc) {
        *subject_found = 1;
        skey_t sk;
        subj_key(&sk, subject, (uint32_t)version);
        MDB_val k = {sk.len, sk.b}, v;
        rc = fr_mdb_rc(mdb_get(txn, e->subjects, &k, &v));
        if (!rc)
            *id = ld32(v.mv_data);
    }
    if (!rc && schema) {
        MDB_val t;
        fr_buf_reset(schema);
        rc = get_text(e, txn, *id, &t);
        rc = rc == FR_ENOTFOUND ? FR_ECORRUPT : rc;
        if (!rc)
            rc = fr_buf_add(schema, t.mv_data, t.mv_size);
    }
    mdb_txn_abort(txn);
    return rc;
}

typedef struct {
    uint32_t id;
    int version;
} find_t;

static int find_version(void *ctx, int version, uint32_t id)
{
    find_t *f = ctx;
    if (id == f->id && !f->version)
        f->version = version;
    return 0;
}

int fr_registry_lookup(fr_registry_t *r, const char *subject, const char *canon, size_t len,
                       int *version, uint32_t *id)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    find_t f = {0, 0};
    rc = find_text(e, txn, canon, len, &f.id);
    if (!rc)
        rc = each_version(e, txn, subject, find_version, &f);
    if (!rc && !f.version)
        rc = FR_ENOTFOUND;
    if (!rc) {
        *version = f.version;
        *id = f.id;
    }
    mdb_txn_abort(txn);
    return rc;
}

int fr_registry_uses(fr_registry_t *r, uint32_t id, fr_registry_use_fn fn, void *ctx)
{
    env_t *e = r->impl;
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = mdb_cursor_open(txn, e->subjects, &c);
    if (rc) {
        mdb_txn_abort(txn);
        return fr_mdb_rc(rc);
    }
    MDB_val k, v;
    char subject[FR_REGISTRY_MAX_SUBJECT + 1];
    int frc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 5 || k.mv_size - 5 > FR_REGISTRY_MAX_SUBJECT || v.mv_size != 4 ||
            ld32(v.mv_data) != id)
            continue;
        size_t sl = k.mv_size - 5;
        memcpy(subject, k.mv_data, sl);
        subject[sl] = '\0';
        frc = fn(ctx, subject, (int)ld32((const char *)k.mv_data + sl + 1));
        if (frc)
            break;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (frc)
        return frc;
    return rc == MDB_NOTFOUND ? 0 : fr_mdb_rc(rc);
}

int fr_registry_check_parsed(fr_registry_t *r, const char *subject, const av_schema_t *parsed,
                             int version, char *reason, size_t rlen)
{
    return emb_check(r, subject, NULL, 0, parsed, version, reason, rlen);
}

/* ---- the public functions --------------------------------------------------------------- */

int fr_registry_open(const fr_config_t *cfg, fr_registry_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    fr_registry_t *r = calloc(1, sizeof *r);
    if (!r)
        return FR_ENOMEM;
    int rc = cfg->registry.url ? fr_registry_remote_open(cfg->registry.url,
                                                         cfg->registry.timeout_ms, r, err, errlen)
                               : embedded_open(cfg, r, err, errlen);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void fr_registry_close(fr_registry_t *r)
{
    if (!r)
        return;
    r->ops->close(r);
    free(r);
}

const char *fr_registry_kind(const fr_registry_t *r)
{
    return r->ops->kind;
}

const char *fr_registry_url(const fr_registry_t *r)
{
    return fr_registry_embedded(r) ? NULL : fr_registry_remote_url(r);
}

int fr_registry_subject_ok(const char *s, char *reason, size_t rlen)
{
    size_t n = s ? strlen(s) : 0;
    const char *why = NULL;
    if (n == 0)
        why = "a subject name is 1 to 255 bytes";
    else if (n > FR_REGISTRY_MAX_SUBJECT)
        why = "a subject name is at most 255 bytes";
    else if (fr_utf8_check(s, n) != n)
        why = "a subject name must be UTF-8";
    for (size_t i = 0; !why && i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            why = "a subject name may not hold control characters";
    if (!why)
        return 0;
    if (reason && rlen)
        snprintf(reason, rlen, "%s", why);
    return FR_EINVAL;
}

/* Size check, parse and canonical text of a schema to register or check. */
static int prepare(const char *schema, size_t len, av_schema_t **parsed, fr_buf_t *canon,
                   char *reason, size_t rlen)
{
    *parsed = NULL;
    if (len > FR_REGISTRY_MAX_SCHEMA) {
        if (reason && rlen)
            snprintf(reason, rlen, "the schema is %zu bytes; at most %u", len,
                     FR_REGISTRY_MAX_SCHEMA);
        return FR_ELIMIT;
    }
    int rc = fr_avsc_parse(schema, len, parsed, reason, rlen);
    if (!rc && canon)
        rc = fr_avsc_canonical(*parsed, canon);
    if (rc == FR_ELIMIT && reason && rlen)
        snprintf(reason, rlen, "the schema's canonical text is over %u bytes", MAX_CANON);
    if (rc) {
        fr_avsc_free(*parsed);
        *parsed = NULL;
    }
    return rc;
}

int fr_registry_schema(fr_registry_t *r, uint32_t id, fr_buf_t *out)
{
    return r->ops->schema(r, id, out);
}

int fr_registry_register(fr_registry_t *r, const char *subject, const char *schema, size_t len,
                         uint32_t *id, char *reason, size_t reasonlen)
{
    if (reason && reasonlen)
        reason[0] = '\0';
    int rc = fr_registry_subject_ok(subject, reason, reasonlen);
    if (rc)
        return rc;
    av_schema_t *parsed;
    fr_buf_t canon;
    fr_buf_init(&canon, MAX_CANON);
    rc = prepare(schema, len, &parsed, &canon, reason, reasonlen);
    if (!rc)
        rc =
            r->ops->reg(r, subject, schema, len, parsed, canon.p, canon.len, id, reason, reasonlen);
    fr_avsc_free(parsed);
    fr_buf_destroy(&canon);
    return rc;
}

int fr_registry_check(fr_registry_t *r, const char *subject, const char *schema, size_t len,
                      char *reason, size_t reasonlen)
{
    if (reason && reasonlen)
        reason[0] = '\0';
    int rc = fr_registry_subject_ok(subject, reason, reasonlen);
    if (rc)
        return rc;
    av_schema_t *parsed;
    rc = prepare(schema, len, &parsed, NULL, reason, reasonlen);
    if (!rc)
        rc = r->ops->check(r, subject, schema, len, parsed, 0, reason, reasonlen);
    fr_avsc_free(parsed);
    return rc;
}

int fr_registry_latest(fr_registry_t *r, const char *subject, uint32_t *id, int *version,
                       fr_buf_t *schema)
{
    int rc = fr_registry_subject_ok(subject, NULL, 0);
    return rc ? rc : r->ops->latest(r, subject, id, version, schema);
}

int fr_registry_subjects(fr_registry_t *r, fr_registry_subject_fn fn, void *ctx, char *err,
                         size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    return r->ops->subjects(r, fn, ctx, err, errlen);
}

int fr_registry_versions(fr_registry_t *r, const char *subject, fr_registry_version_fn fn,
                         void *ctx, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    int rc = fr_registry_subject_ok(subject, err, errlen);
    return rc ? rc : r->ops->versions(r, subject, fn, ctx, err, errlen);
}

int fr_registry_delete(fr_registry_t *r, const char *subject, int permanent,
                       fr_registry_deleted_fn fn, void *ctx, char *reason, size_t reasonlen)
{
    char why[512] = "";
    int rc = fr_registry_subject_ok(subject, why, sizeof why);
    if (!rc)
        rc = r->ops->del(r, subject, permanent, fn, ctx, why, sizeof why);
    if (reason && reasonlen)
        snprintf(reason, reasonlen, "%s", why);
    return rc;
}
