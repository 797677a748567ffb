/*
 * serve.h - the HTTP server (libmicrohttpd, epoll, a pool of threads):
 * ingest, feature reads, health, status, and the embedded schema
 * registry's Confluent REST subset (DESIGN §4).
 *
 * Every error is a JSON body {"error": "...", "detail": "..."} with a 4xx or
 * 5xx status; bodies, keys and batches are bounded by the server section of
 * the configuration.
 */
#ifndef FR_SERVE_SERVE_H
#define FR_SERVE_SERVE_H

#include "config/config.h"
#include "engine/engine.h"
#include "event/registry.h"
#include "source/elog.h"
#include "store/store.h"

typedef struct fr_server fr_server_t;

typedef struct fr_server_opts {
    const fr_config_t *cfg; /* borrowed: all outlive the server */
    fr_store_t *store;
    fr_elog_t *log;         /* NULL: this server takes no events */
    fr_engine_t *engine;    /* NULL: no processor in this process */
    fr_registry_t *registry; /* NULL: the server opens the embedded schema registry itself
                                (none when schema_registry.url is set) */
} fr_server_opts_t;

/* Binds server.listen and starts serving.  0 or an error with err filled. */
int fr_server_start(const fr_server_opts_t *opts, fr_server_t **out, char *err, size_t errlen);
/* Stops accepting, finishes requests in flight, frees. */
void fr_server_stop(fr_server_t *srv);
/* The port actually bound (useful with port 0). */
int fr_server_port(const fr_server_t *srv);

#endif
