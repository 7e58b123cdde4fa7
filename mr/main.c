/*
 * main.c - the `mr` program: dispatch to a subcommand by table.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "log.h"

#include "banned.h"

struct mr_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
};

static const struct mr_cmd mr_cmds[] = {
	{ "coordinator", cmd_coordinator,
	  "[--listen ADDR] [--master ADDR] [--data DIR] ..." },
	{ "worker", cmd_worker,
	  "--chunkd ADDR [--coordinator ADDR] [--master ADDR] [--data DIR] "
	  "[--listen ADDR] ..." },
	{ "submit", cmd_submit,
	  "--input PATH... --output DIR (--app FILE.so | --mapper CMD "
	  "--reducer CMD) [--reduces R] [--param NAME=VALUE]..." },
	{ "status", cmd_status, "[JOB] [--json]" },
	{ "seq", cmd_seq,
	  "(--app FILE.so | --mapper CMD --reducer CMD) --output DIR "
	  "[--reduces R] [--param NAME=VALUE]... INPUT..." },
};

#define MR_NCMDS (sizeof(mr_cmds) / sizeof(mr_cmds[0]))

static void usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage:\n");
	for (i = 0; i < MR_NCMDS; i++)
		fprintf(fp, "  mr %s %s\n", mr_cmds[i].name,
			mr_cmds[i].synopsis);
	fprintf(fp, "'mr CMD --help' describes each command.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	log_init("mr", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < MR_NCMDS; i++)
		if (strcmp(argv[1], mr_cmds[i].name) == 0)
			return mr_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "mr: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
