/*
 * cmds.h - the mr subcommands, one per file, dispatched by main.c.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.
 */
#ifndef MR_CMDS_H
#define MR_CMDS_H

/* `mr coordinator`: the job scheduler daemon (coordinator.c). */
int cmd_coordinator(int argc, char **argv);

/* `mr worker`: the task runner daemon (worker.c). */
int cmd_worker(int argc, char **argv);

/* `mr submit`: submit a job and follow it (submit.c). */
int cmd_submit(int argc, char **argv);

/* `mr status`: show a job (submit.c). */
int cmd_status(int argc, char **argv);

/* `mr seq`: sequential reference run on local files (seq.c). */
int cmd_seq(int argc, char **argv);

#endif
