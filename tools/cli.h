/*
 * cli.h - shared state and helpers of the `dfs` command line.
 *
 * tools/dfs.c parses the global options into a struct cli, finds the
 * subcommand in its table and calls it with the remaining arguments
 * (argv[0] is the subcommand name). A subcommand returns the process exit
 * status: CLI_OK, CLI_FAIL (the operation failed; a message was printed)
 * or CLI_USAGE (bad arguments; the usage was printed).
 *
 * Connections are made lazily: cli_client() and cli_http() create the
 * client library handle and the raw HTTP client on first use, so
 * `dfs --help` never needs a master.
 *
 * Messages follow one shape, "dfs: CMD 'PATH': strerror", printed by
 * cli_err(); a failure to reach the master names its address.
 */
#ifndef DFS_CLI_H
#define DFS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dfs_client.h"
#include "dfs_proto.h"

struct http_client;

/* Exit statuses of the dfs program and of every subcommand. */
enum cli_status {
	CLI_OK = 0,
	CLI_FAIL = 1,
	CLI_USAGE = 2,
};

/* Global state shared by the subcommands. */
struct cli {
	/* Master address, from --master or $DFS_MASTER (borrowed). */
	const char *master;
	/* Client library handle; NULL until cli_client(). */
	struct dfs_client *client;
	/* Raw HTTP client for endpoints without a library wrapper. */
	struct http_client *http;
};

/* Handler of one subcommand; argv[0] is the subcommand's name. */
typedef int (*cli_fn)(struct cli *cli, int argc, char **argv);

/* One row of the subcommand table. */
struct cli_cmd {
	/* Name typed after "dfs". */
	const char *name;
	/* Handler. */
	cli_fn fn;
	/* Synopsis after "dfs NAME", for usage lines. */
	const char *synopsis;
	/* One-line summary for `dfs --help`. */
	const char *summary;
	/* Option and argument details for `dfs NAME --help`; may be "". */
	const char *details;
};

/* Client library handle, created on first use (never NULL). */
struct dfs_client *cli_client(struct cli *cli);

/* Raw HTTP client, created on first use (never NULL). */
struct http_client *cli_http(struct cli *cli);

/* Free what cli_client() and cli_http() created. */
void cli_release(struct cli *cli);

/* Row of the table for "name" (tools/dfs.c), or NULL. */
const struct cli_cmd *cli_cmd_find(const char *name);

/* Print "usage: dfs NAME SYNOPSIS" and the details of a command to stdout
 * (help) or stderr (after a usage error). */
void cli_cmd_usage(const struct cli_cmd *cmd, bool to_stderr);

/*
 * Parse a subcommand's options with getopt_long (argv[0] is the command).
 * "shortopts" and "longopts" must not use 'h' or "help": -h and --help
 * are added here and print the command's help. For every other option
 * "fn" is called with getopt's result and optarg; it returns 0, or
 * non-zero for a bad value. Returns the index of the first operand,
 * -CLI_OK after help was printed, or -CLI_USAGE after a usage error.
 */
int cli_parse_opts(int argc, char **argv, const char *shortopts,
		   const struct option *longopts,
		   int (*fn)(int opt, const char *arg, void *ctx), void *ctx);

/*
 * Normalize a DFS path into "out": absolute ("a/b" means "/a/b"), no
 * empty, "." or ".." components (".." is resolved lexically), no trailing
 * slash. 0, -ENAMETOOLONG or -EINVAL (empty path or NUL).
 */
int cli_path_norm(const char *in, char *out, size_t size);

/* Last component of a normalized path ("" for "/"); borrowed from path. */
const char *cli_path_base(const char *path);

/* "dir/name" into out (dir normalized). 0 or -ENAMETOOLONG. */
int cli_path_join(const char *dir, const char *name, char *out,
		  size_t size);

/*
 * Resolve the parent directory of normalized "path": *parent receives its
 * inode and "name" points at the last component inside path. -EINVAL for
 * "/", else 0 or the resolve error (-ENOENT, -ENOTDIR, ...).
 */
int cli_resolve_parent(struct cli *cli, const char *path, uint64_t *parent,
		       const char **name);

/*
 * Print "dfs: CMD 'WHAT': strerror(err)" to stderr (err positive or
 * negative; WHAT may be NULL: "dfs: CMD: strerror(err)"). Failures to
 * reach the master say so and name its address.
 * Returns CLI_FAIL for convenience.
 */
int cli_err(struct cli *cli, const char *cmd, const char *what, int err);

/* Print "dfs: CMD: message" to stderr; returns CLI_FAIL. */
int cli_errx(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "dfs: CMD: message" and the usage line to stderr; returns
 * CLI_USAGE. */
int cli_usage_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "12.3M"-style size into buf (at least 16 bytes); returns buf. */
const char *cli_human_size(uint64_t bytes, char *buf, size_t size);

/* Print a JSON object on stdout, indented, with a final newline.
 * CLI_OK or CLI_FAIL. */
int cli_print_json(const json_t *obj);

/* Convenience getters for printing replies: the field's value, or 0 / ""
 * when absent or mistyped. */
uint64_t cli_json_u64(const json_t *obj, const char *key);
const char *cli_json_str(const json_t *obj, const char *key);

#endif
