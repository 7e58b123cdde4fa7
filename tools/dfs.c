/*
 * dfs.c - the DFS admin and client command line.
 *
 *     dfs [--master ADDR] COMMAND [OPTIONS] [ARGS]
 *
 * main() parses the global options, finds COMMAND in cli_cmds[] and runs
 * it (see cmd.h for how to add one). The master address comes from
 * --master, else $DFS_MASTER, else 127.0.0.1:9000. Exit status: 0 on
 * success, 1 when the operation failed, 2 on bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "dfs_client.h"
#include "log.h"
#include "secure.h"

#include "banned.h"

/* Every subcommand, in the order `dfs --help` lists them. */
static const struct cli_cmd cli_cmds[] = {
	{ "status", cmd_status, "[--json]",
	  "Show the chunk servers and the cluster's totals",
	  "  --json      print the master's status object (SPEC 5)\n" },
	{ "stat", cmd_stat, "[--json] PATH",
	  "Show a file's size, replication and chunks with their replicas",
	  "  --json      print one JSON object: path, size, replication,\n"
	  "              chunks[] of index, handle, version, size, replicas\n" },
	{ "fsck", cmd_fsck, "[--json] [PATH]",
	  "Check the health of every chunk under PATH (default /)",
	  "  --json      print one JSON object: files, chunks, healthy,\n"
	  "              under_replicated, missing, corrupt\n"
	  "Lists each missing, corrupt or under-replicated chunk with its\n"
	  "file; exits 1 when there is any.\n" },
	{ "ls", cmd_ls, "[-lR] [PATH...]",
	  "List directories (default /) or show files",
	  "  -l          long format: mode, links, owner, size, mtime\n"
	  "  -R          list subdirectories recursively\n" },
	{ "put", cmd_put, "[-fq] LOCAL DFSPATH",
	  "Copy a local file (- for stdin) into DFS",
	  "  -f          overwrite DFSPATH if it exists\n"
	  "  -q          no progress bar\n"
	  "DFSPATH may be an existing directory: the file keeps its name.\n" },
	{ "get", cmd_get, "[-fq] DFSPATH LOCAL",
	  "Copy a DFS file to a local file (- for stdout)",
	  "  -f          overwrite LOCAL if it exists\n"
	  "  -q          no progress bar\n"
	  "LOCAL may be an existing directory: the file keeps its name.\n" },
	{ "cat", cmd_cat, "PATH...", "Write DFS files to stdout", "" },
	{ "mkdir", cmd_mkdir, "[-p] PATH...", "Create directories",
	  "  -p          create missing parents; no error if PATH exists\n" },
	{ "rm", cmd_rm, "[-rf] PATH...", "Remove files (and directories)",
	  "  -r          remove directories and their contents\n"
	  "  -f          ignore missing paths\n" },
	{ "rmdir", cmd_rmdir, "PATH...", "Remove empty directories", "" },
	{ "mv", cmd_mv, "SRC DST",
	  "Rename atomically (into DST if it is a directory)", "" },
	{ "setrep", cmd_setrep, "[-Rw] N PATH...",
	  "Set the replication factor of files and directories",
	  "  -R          also every file and directory below a directory\n"
	  "  -w          wait until every chunk has N live replicas\n"
	  "A directory's factor is inherited by the files and directories\n"
	  "created in it later. Existing chunks gain or lose replicas in\n"
	  "the background (re-replication).\n" },
	{ "du", cmd_du, "[-sH] [PATH...]",
	  "Show the space used under paths (default /)",
	  "  -s          one total per PATH instead of one line per entry\n"
	  "  -H          sizes like 1.5G instead of bytes\n"
	  "Columns: bytes in files, raw bytes stored (times replication),\n"
	  "path. Hard-linked files count once.\n" },
	{ "df", cmd_df, "[-H]", "Show the cluster's capacity and use",
	  "  -H          sizes like 1.5G instead of bytes\n"
	  "Capacity, used and free space are summed over the live chunk\n"
	  "servers.\n" },
	{ "backup", cmd_backup, "PATH",
	  "Copy the metadata database to PATH on the master's host",
	  "PATH must be absolute and must not exist. The copy is one\n"
	  "consistent snapshot, taken while the master serves (it holds\n"
	  "its database exclusively: sqlite3 cannot open it meanwhile);\n"
	  "masterd can be started on a directory holding it as meta.db.\n" },
	{ "decommission", cmd_decommission,
	  "[-w] [--json] ADDR | --status [ADDR] | --cancel ADDR",
	  "Drain a chunk server so it can be removed",
	  "  -w, --wait  wait until ADDR is decommissioned\n"
	  "  --status    show the draining and decommissioned servers\n"
	  "              (or ADDR's state)\n"
	  "  --cancel    put ADDR back in normal service\n"
	  "  --json      print the master's reply object\n"
	  "The server gets no new chunks; every chunk it holds is copied\n"
	  "to other servers (at the re-replication rate) while it keeps\n"
	  "serving reads. Then it is 'decommissioned': safe to remove.\n"
	  "A master restart goes on with the drain.\n" },
	{ "balance", cmd_balance,
	  "[-w] [--threshold PCT] [--json] | --status | --stop",
	  "Move replicas until the servers' usage is even",
	  "  --threshold PCT  allowed distance of each server's usage from\n"
	  "                   the mean, in percentage points (default 10)\n"
	  "  -w, --wait  wait until the run ends; exit 1 unless balanced\n"
	  "  --status    show the balancer's state and each server's usage\n"
	  "  --stop      stop the run\n"
	  "  --json      print the master's reply object\n"
	  "The master moves replicas (copy, then delete) from the fullest\n"
	  "servers to the emptiest, never below a chunk's replication\n"
	  "factor and keeping its racks, at the re-replication rate.\n" },
};

#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

const struct cli_cmd *cli_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

static void dfs_usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"usage: dfs [--master ADDR] [--secret FILE] [--ca FILE] COMMAND "
		"[OPTIONS] [ARGS]\n"
		"\n"
		"The DFS admin and client command line.\n"
		"\n"
		"Options:\n"
		"  -m, --master ADDR  master host:port (default $DFS_MASTER,\n"
		"                     else 127.0.0.1:9000)\n"
		"      --secret FILE  cluster secret that signs every request\n"
		"                     (default $DFS_SECRET)\n"
		"      --ca FILE      CA certificate of the daemons' TLS\n"
		"                     certificates: use https (default $DFS_CA)\n"
		"  -h, --help         show this help\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < CLI_NCMDS; i++)
		fprintf(out, "  %-12s %s\n", cli_cmds[i].name,
			cli_cmds[i].summary);
	fprintf(out,
		"\n"
		"'dfs COMMAND --help' describes a command. Paths are DFS paths\n"
		"(\"/a/b\"). Exit status: 0 success, 1 failure, 2 bad usage.\n");
}

/* Security options (secure.h), gathered by dfs_parse_global(). */
static struct secure_opts dfs_sec;

/* Parse the global options; returns the index of COMMAND or -status. */
static int dfs_parse_global(int argc, char **argv, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "master", required_argument, NULL, 'm' },
		SECURE_LONGOPTS_CLIENT,
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hm:", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'h':
			dfs_usage(stdout);
			return -CLI_OK;
		case 'm':
			cli->master = optarg;
			break;
		case ':':
			fprintf(stderr, "dfs: option '%s' requires an argument\n",
				argv[optind - 1]);
			return -CLI_USAGE;
		default:
			if (secure_getopt(&dfs_sec, opt, optarg))
				break;
			fprintf(stderr, "dfs: unknown option '%s'\n",
				argv[optind - 1]);
			return -CLI_USAGE;
		}
	}
	if (!proto_addr_is_valid(cli->master)) {
		fprintf(stderr, "dfs: bad master address '%s' (want HOST:PORT)\n",
			cli->master);
		return -CLI_USAGE;
	}
	if (optind >= argc) {
		dfs_usage(stderr);
		return -CLI_USAGE;
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct cli cli = { .master = dfs_default_master() };
	const struct cli_cmd *cmd;
	int i, r;

	log_init("dfs", LOG_LEVEL_ERROR);
	if ((i = dfs_parse_global(argc, argv, &cli)) <= 0)
		return -i;
	if (strcmp(argv[i], "help") == 0 && i + 1 < argc &&
	    (cmd = cli_cmd_find(argv[i + 1])) != NULL) {
		cli_cmd_usage(cmd, false);
		return CLI_OK;
	}
	if (strcmp(argv[i], "help") == 0) {
		dfs_usage(stdout);
		return CLI_OK;
	}
	if ((cmd = cli_cmd_find(argv[i])) == NULL) {
		fprintf(stderr,
			"dfs: unknown command '%s' (see 'dfs --help')\n",
			argv[i]);
		return CLI_USAGE;
	}
	if (secure_init("dfs", &dfs_sec, 0) != 0)
		return CLI_FAIL;
	r = cmd->fn(&cli, argc - i, argv + i);
	cli_release(&cli);
	secure_release();
	return r;
}
