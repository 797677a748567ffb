/*
 * mdb.h - small LMDB helpers shared by the LMDB-backed modules (the
 * embedded log and the LMDB store).
 */
#ifndef FR_CORE_MDB_H
#define FR_CORE_MDB_H

#include <lmdb.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "core/err.h"

/* An LMDB return code as a freshet one: 0, FR_ENOTFOUND, FR_EMAPFULL (the
 * map is full: store.map_size), -errno, or FR_ESTORE for LMDB's other
 * failures (corrupt, panic, ...). */
static inline int fr_mdb_rc(int rc)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return FR_ENOTFOUND;
    if (rc == MDB_MAP_FULL)
        return FR_EMAPFULL;
    if (rc > 0)
        return -rc;
    return FR_ESTORE;
}

/* Below this many free bytes a failed write is taken for a full disk. */
#define FR_MDB_LOW_SPACE ((uint64_t)1 << 20)

/*
 * The freshet code of a failed write transaction of env: fr_mdb_rc, except
 * that LMDB reports a write cut short by a full filesystem as EIO (it
 * cannot tell); when the filesystem holding env has less than
 * FR_MDB_LOW_SPACE free, that is -ENOSPC.
 */
static inline int fr_mdb_write_rc(MDB_env *env, int rc)
{
    rc = fr_mdb_rc(rc);
    const char *path = NULL;
    struct statvfs sv;
    if (rc == FR_EIO && mdb_env_get_path(env, &path) == 0 && path && statvfs(path, &sv) == 0 &&
        (uint64_t)sv.f_bavail * sv.f_frsize < FR_MDB_LOW_SPACE)
        return -ENOSPC;
    return rc;
}

/* Entries in dbi, read in a short read transaction.  0 or an error. */
static inline int fr_mdb_entries(MDB_env *env, MDB_dbi dbi, uint64_t *n)
{
    MDB_txn *txn;
    MDB_stat st;
    *n = 0;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fr_mdb_rc(rc);
    rc = mdb_stat(txn, dbi, &st);
    mdb_txn_abort(txn);
    if (!rc)
        *n = st.ms_entries;
    return fr_mdb_rc(rc);
}

#endif
