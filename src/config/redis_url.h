/*
 * redis_url.h - the store.redis.url syntax, in one place for the
 * configuration check (fr_config_load, so `freshet validate` refuses what
 * the Redis store would) and the Redis store that connects with it.
 *
 *   redis://[user][:password@]host[:port][/db]
 *
 * Credentials may be percent-encoded (a '/' or '%' in a password must be).
 * rediss:// (TLS) is refused: this build's hiredis has no TLS.
 */
#ifndef FR_CONFIG_REDIS_URL_H
#define FR_CONFIG_REDIS_URL_H

#include <stddef.h>

typedef struct fr_redis_url {
    char host[256];    /* a name, IPv4, or IPv6 without brackets */
    int port;          /* 6379 when not given */
    char *user, *pass; /* owned, percent-decoded; NULL when absent */
    int db;            /* 0 when not given */
} fr_redis_url_t;

/*
 * Parses url into *out.  0; or FR_ECONFIG with err holding what is wrong
 * (never the credentials), or FR_ENOMEM.  On failure *out owns nothing.
 * Release a parsed URL with fr_redis_url_destroy.
 */
int fr_redis_url_parse(const char *url, fr_redis_url_t *out, char *err, size_t errlen);

/* Frees (and first wipes) the credentials. */
void fr_redis_url_destroy(fr_redis_url_t *u);

#endif
