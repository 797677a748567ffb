/*
 * mdb.h - small LMDB helpers shared by the LMDB-backed modules (the
 * embedded log and the LMDB store).
 */
#ifndef FR_CORE_MDB_H
#define FR_CORE_MDB_H

#include <lmdb.h>
#include <stdint.h>

#include "core/err.h"

/* An LMDB return code as a freshet one: 0, FR_ENOTFOUND, -errno, or
 * FR_ESTORE for LMDB's own failures (map full, corrupt, ...). */
static inline int fr_mdb_rc(int rc)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return FR_ENOTFOUND;
    if (rc > 0)
        return -rc;
    return FR_ESTORE;
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
