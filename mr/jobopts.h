/*
 * jobopts.h - the job options `mr submit` and `mr seq` share: which app,
 * how many reduces, job parameters, output directory.
 *
 * Each command lists JOBOPTS_LONG entries in its getopt_long() table and
 * passes every option to jobopts_parse() before its own.
 */
#ifndef MR_JOBOPTS_H
#define MR_JOBOPTS_H

#include <getopt.h>

/* Option codes (beyond any character). */
enum jobopts_code {
	JOBOPT_APP = 1000,
	JOBOPT_MAPPER,
	JOBOPT_REDUCER,
	JOBOPT_REDUCES,
	JOBOPT_PARAM,
	JOBOPT_OUTPUT,
};

/* struct option entries for the codes above. */
#define JOBOPTS_LONG                                                           \
	{ "app", required_argument, NULL, JOBOPT_APP },                        \
	{ "mapper", required_argument, NULL, JOBOPT_MAPPER },                  \
	{ "reducer", required_argument, NULL, JOBOPT_REDUCER },                \
	{ "reduces", required_argument, NULL, JOBOPT_REDUCES },                \
	{ "param", required_argument, NULL, JOBOPT_PARAM },                    \
	{ "output", required_argument, NULL, JOBOPT_OUTPUT }

/* Default number of reduce tasks. */
#define JOBOPTS_DEFAULT_REDUCES 3

struct jobopts {
	const char *app;        /* --app FILE.so (borrowed from argv) */
	const char *mapper;     /* --mapper CMD */
	const char *reducer;    /* --reducer CMD */
	unsigned reduces;       /* --reduces R */
	char **params;          /* --param NAME=VALUE, owned */
	const char *output;     /* --output DIR */
};

void jobopts_init(struct jobopts *o);
void jobopts_release(struct jobopts *o);

/* Handle option code c with its argument: 1 if it was a job option,
 * 0 if not, -1 (message printed) if its value is bad. */
int jobopts_parse(struct jobopts *o, int c, const char *arg);

/* Check the combination after parsing: 0, or -1 with a message. */
int jobopts_check(const struct jobopts *o, const char *cmd);

#endif
