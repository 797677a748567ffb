/*
 * cli.h - the command families of `freshet` (one file each); main.c only
 * dispatches.  Each takes argv with argv[0] the command's name and returns
 * the process exit status: 0 success, 1 failure, 2 bad usage.
 */
#ifndef FR_CLI_CLI_H
#define FR_CLI_CLI_H

/* `freshet training-set` (training_set.c). */
int fr_cli_training_set(int argc, char **argv);

#endif
