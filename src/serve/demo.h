/*
 * demo.h - the in-process demo feeder behind `freshet run --demo`: the
 * synthetic transaction generator (gen/) writing into the ingest path at a
 * steady rate, exactly as HTTP clients would, and the chargebacks it makes
 * into the configuration's `chargebacks` source when there is one.
 */
#ifndef FR_SERVE_DEMO_H
#define FR_SERVE_DEMO_H

#include "config/config.h"
#include "source/elog.h"

typedef struct fr_demo fr_demo_t;

/* Starts feeding source src at rate events/s (and chargebacks, see above)
 * from a thread of its own.  cfg and log are borrowed until fr_demo_stop.
 * 0 or FR_ENOMEM. */
int fr_demo_start(const fr_config_t *cfg, fr_elog_t *log, int src, double rate, uint64_t seed,
                  fr_demo_t **out);
/* Stops the feeder and frees it. */
void fr_demo_stop(fr_demo_t *d);

#endif
