/*
 * cli.h - the command families of `freshet` (one file each); main.c only
 * dispatches.  Each takes argv with argv[0] the command's name and returns
 * the process exit status: 0 success, 1 failure, 2 bad usage.
 */
#ifndef FR_CLI_CLI_H
#define FR_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "event/registry.h"
#include "offline/history.h"
#include "source/elog.h"

/*
 * The history options of the commands that replay events offline
 * (histargs.c): --jsonl/--avro SOURCE=PATH (files of a source, in the order
 * given) and --from-kafka earliest|MS; fr_cli_hist_open then chooses, for
 * each needed source, its files, else its Kafka topic, else the embedded
 * log, and opens the log and the registry as needed.
 */
typedef struct fr_cli_hist {
    const char **fargs;      /* SOURCE=PATH as given */
    int *fkinds;             /* FR_HIST_JSONL or FR_HIST_AVRO each */
    size_t nfargs;
    int64_t kafka_from;      /* -1: earliest */
    /* made by fr_cli_hist_open */
    fr_hist_input_t *in;     /* [nsources] */
    const char **paths;
    fr_elog_t *log;
    fr_registry_t *reg;
    fr_avro_lookup_fn avro_lookup; /* writer schemas from reg */
} fr_cli_hist_t;

/* Room for argc options.  0 or FR_ENOMEM. */
int fr_cli_hist_init(fr_cli_hist_t *h, int argc);
/* One option: kind 'j' (--jsonl), 'a' (--avro) or 'k' (--from-kafka).
 * 0, or 2 (a usage error, said on stderr). */
int fr_cli_hist_opt(fr_cli_hist_t *h, const char *cmd, int kind, const char *arg);
/* Inputs for the sources with need[s].  0; 1 (failed) or 2 (bad usage),
 * said on stderr. */
int fr_cli_hist_open(fr_cli_hist_t *h, const fr_config_t *cfg, const uint8_t *need,
                     const char *cmd, const char *config_path);
void fr_cli_hist_close(fr_cli_hist_t *h);

/* `freshet training-set` (training_set.c). */
int fr_cli_training_set(int argc, char **argv);
/* `freshet train` (train.c). */
int fr_cli_train(int argc, char **argv);
/* `freshet models list|show|alias|export` (models.c). */
int fr_cli_models(int argc, char **argv);
/* `freshet drift` (drift.c). */
int fr_cli_drift(int argc, char **argv);
/* `freshet consistency` (consistency.c). */
int fr_cli_consistency(int argc, char **argv);

#endif
