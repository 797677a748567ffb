/* err.c - fr_strerror and the assertion handler. */
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fr_strerror(int rc)
{
    switch (rc) {
    case FR_OK: return "ok";
    case FR_EPARSE: return "malformed input";
    case FR_ETYPE: return "wrong type";
    case FR_EMISSING: return "missing required field";
    case FR_ELIMIT: return "limit exceeded";
    case FR_ENOTFOUND: return "not found";
    case FR_ESTORE: return "store failure";
    case FR_ECONFIG: return "invalid configuration";
    case FR_ECORRUPT: return "corrupt stored data";
    case FR_EMISMATCH: return "stored data does not match the current plan";
    case FR_ECONFLICT: return "conflict";
    case FR_EUNAVAIL: return "unavailable";
    case FR_EMAPFULL: return "store map full: raise store.map_size";
    default: break;
    }
    if (rc < 0 && rc > -FR_EBASE)
        return strerror(-rc);
    return "unknown error";
}

void fr_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "freshet: assertion failed: %s (%s:%d)\n", cond, file, line);
    abort();
}
