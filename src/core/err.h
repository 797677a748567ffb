/*
 * err.h - freshet's error codes.
 *
 * A function that can fail returns int: 0 on success or a negative code.
 * Codes in (-FR_EBASE, 0) are negated errno values; codes at or below
 * -FR_EBASE are freshet's own.  fr_strerror() names either kind.
 */
#ifndef FR_CORE_ERR_H
#define FR_CORE_ERR_H

#include <errno.h>

#define FR_EBASE 10000

enum {
    FR_OK = 0,
    FR_ENOMEM = -ENOMEM,
    FR_EINVAL = -EINVAL,
    FR_EIO = -EIO,
    FR_EPARSE = -(FR_EBASE + 1),     /* input is not well-formed */
    FR_ETYPE = -(FR_EBASE + 2),      /* a value has the wrong type */
    FR_EMISSING = -(FR_EBASE + 3),   /* a required field is absent */
    FR_ELIMIT = -(FR_EBASE + 4),     /* a configured maximum was reached */
    FR_ENOTFOUND = -(FR_EBASE + 5),  /* no such key, entity, view ... */
    FR_ESTORE = -(FR_EBASE + 6),     /* the store failed */
    FR_ECONFIG = -(FR_EBASE + 7),    /* configuration is invalid */
    FR_ECORRUPT = -(FR_EBASE + 8),   /* stored bytes do not decode */
    FR_EMISMATCH = -(FR_EBASE + 9),  /* stored data was made by another plan */
    FR_ECONFLICT = -(FR_EBASE + 10), /* e.g. idempotency key reused */
    FR_EUNAVAIL = -(FR_EBASE + 11),  /* a peer (broker, registry) is unreachable: retry */
    FR_EMAPFULL = -(FR_EBASE + 12),  /* an LMDB map is full: store.map_size is too small */
};

/* Returns a static string naming rc; never NULL. */
const char *fr_strerror(int rc);

#define FR_ASSERT(cond)                                                       \
    do {                                                                      \
        if (!(cond))                                                          \
            fr_assert_fail(#cond, __FILE__, __LINE__);                        \
    } while (0)

/* Prints the failed condition and aborts.  Kept in release builds. */
_Noreturn void fr_assert_fail(const char *cond, const char *file, int line);

#endif
