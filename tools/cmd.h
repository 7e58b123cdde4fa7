/*
 * cmd.h - the subcommands of `dfs`, one handler each.
 *
 * How to add a subcommand: write `int cmd_foo(struct cli *, int, char **)`
 * in the cmd_*.c file of its group (it parses its own options with
 * cli_parse_opts(), argv[0] being "foo"), declare it here, and add one row
 * {name, handler, synopsis, summary, details} to the table in dfs.c. The
 * handler returns an enum cli_status; it prints its own error messages
 * with cli_err() and never exits.
 */
#ifndef DFS_CMD_H
#define DFS_CMD_H

#include "cli.h"

/* cmd_admin.c: cluster-wide views. */
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_stat(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);

/* cmd_fsck.c: chunk health. */
int cmd_fsck(struct cli *cli, int argc, char **argv);

/* cmd_ns.c: the namespace. */
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_mkdir(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_rmdir(struct cli *cli, int argc, char **argv);
int cmd_mv(struct cli *cli, int argc, char **argv);

/* cmd_data.c: file contents in and out. */
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_cat(struct cli *cli, int argc, char **argv);

/* cmd_ops.c: operations. */
int cmd_setrep(struct cli *cli, int argc, char **argv);
int cmd_du(struct cli *cli, int argc, char **argv);
int cmd_df(struct cli *cli, int argc, char **argv);

/* cmd_cluster.c: decommissioning and balancing. */
int cmd_decommission(struct cli *cli, int argc, char **argv);
int cmd_balance(struct cli *cli, int argc, char **argv);

#endif
