/*
 * backfill.h - `freshet backfill`: the online state of a source's feature
 * views recomputed from its history (files, or a range of its Kafka
 * topic), equal to what live processing of the same events gives.
 */
#ifndef FR_OFFLINE_BACKFILL_H
#define FR_OFFLINE_BACKFILL_H

/*
 * The command (argv[0] is "backfill"; see its --help).  Prints a progress
 * line on stderr when it is a terminal, then a one-line summary on stdout.
 * Returns the exit status: 0 done, 1 failed (or an Avro file could not be
 * read to its end), 2 bad usage.
 */
int fr_backfill_main(int argc, char **argv);

#endif
