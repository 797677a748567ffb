/* store.c - picks the backend the configuration names. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

int fr_store_open(const fr_config_t *cfg, fr_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->store.backend == FR_STORE_LMDB) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/store", cfg->store.path);
        return fr_store_lmdb_open(cfg, dir, out, err, errlen);
    }
    if (cfg->store.backend == FR_STORE_REDIS)
        return fr_store_redis_open(cfg, out, err, errlen);
    snprintf(err, errlen, "store backend not available in this build");
    return FR_ECONFIG;
}
