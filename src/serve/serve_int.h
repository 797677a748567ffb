/*
 * serve_int.h - what serve.c shares with the route modules beside it
 * (models_http.c): answering, and reading features through the circuit
 * breaker.  Not for use outside src/serve/.
 */
#ifndef FR_SERVE_SERVE_INT_H
#define FR_SERVE_SERVE_INT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/value.h"
#include "serve/serve.h"

/* Answers b (JSON) with status. */
enum MHD_Result fr_srv_send(struct MHD_Connection *c, int status, fr_buf_t *b);
/* Answers {"error": error, "detail": ...} with status. */
enum MHD_Result fr_srv_error(struct MHD_Connection *c, int status, const char *error,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answers 405 with an Allow header. */
enum MHD_Result fr_srv_405(struct MHD_Connection *c, const char *allow, const char *method,
                           const char *url);

const fr_config_t *fr_srv_cfg(const fr_server_t *srv);
fr_store_t *fr_srv_store(const fr_server_t *srv);

/* A store read through the circuit breaker: 0 with *rd begun, or an error
 * (serve empty-window values, degraded).  Pair with fr_srv_read_done. */
int fr_srv_read_begin(fr_server_t *srv, fr_store_rd_t **rd, int *ticket);
void fr_srv_read_done(fr_server_t *srv, fr_store_rd_t *rd, int ticket, bool ok);
/* View v's features of key at as_of into vals (inside a begun read); 0 or
 * a store error (vals then hold empty-window values). */
int fr_srv_read_view(fr_server_t *srv, fr_store_rd_t *rd, int v, const char *key, size_t klen,
                     int64_t as_of, fr_value_t *vals);
/* Whether as_of is in the accepted range of event times. */
bool fr_srv_as_of_ok(int64_t as_of);

/* The model routes (models_http.c): scoring, the registry, drift. */
typedef struct fr_srv_models fr_srv_models_t;
int fr_srv_models_new(fr_server_t *srv, fr_srv_models_t **out);
void fr_srv_models_free(fr_srv_models_t *m);
/* Whether url is one of theirs. */
bool fr_srv_models_path(const char *url);
enum MHD_Result fr_srv_models_route(fr_srv_models_t *m, struct MHD_Connection *c,
                                    const char *method, const char *url, const char *body,
                                    size_t len);

#endif
