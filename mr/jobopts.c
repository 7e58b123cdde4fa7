/*
 * jobopts.c - options shared by `mr submit` and `mr seq` (see jobopts.h).
 */
#include <stdio.h>
#include <string.h>

#include "jobopts.h"
#include "mr_proto.h"
#include "util.h"

#include "banned.h"

void jobopts_init(struct jobopts *o)
{
	memset(o, 0, sizeof(*o));
	o->reduces = JOBOPTS_DEFAULT_REDUCES;
}

void jobopts_release(struct jobopts *o)
{
	util_params_free(o->params);
	o->params = NULL;
}

int jobopts_parse(struct jobopts *o, int c, const char *arg)
{
	unsigned long long v;
	char **p;

	switch (c) {
	case JOBOPT_APP:
		o->app = arg;
		return 1;
	case JOBOPT_MAPPER:
		o->mapper = arg;
		return 1;
	case JOBOPT_REDUCER:
		o->reducer = arg;
		return 1;
	case JOBOPT_OUTPUT:
		o->output = arg;
		return 1;
	case JOBOPT_REDUCES:
		if (!util_parse_uint(arg, 1, MR_MAX_REDUCES, &v)) {
			fprintf(stderr, "mr: bad --reduces '%s' (1..%d)\n",
				arg, MR_MAX_REDUCES);
			return -1;
		}
		o->reduces = (unsigned)v;
		return 1;
	case JOBOPT_PARAM:
		if ((p = util_params_add(o->params, arg)) == NULL) {
			fprintf(stderr, "mr: bad --param '%s' (NAME=VALUE)\n",
				arg);
			return -1;
		}
		o->params = p;
		return 1;
	default:
		return 0;
	}
}

int jobopts_check(const struct jobopts *o, const char *cmd)
{
	if (o->output == NULL) {
		fprintf(stderr, "mr %s: --output DIR is required\n", cmd);
		return -1;
	}
	if ((o->app != NULL) == (o->mapper != NULL || o->reducer != NULL)) {
		fprintf(stderr,
			"mr %s: give either --app FILE.so or --mapper CMD "
			"--reducer CMD\n", cmd);
		return -1;
	}
	if (o->app == NULL && (o->mapper == NULL || o->reducer == NULL)) {
		fprintf(stderr, "mr %s: streaming mode needs both --mapper "
			"and --reducer\n", cmd);
		return -1;
	}
	return 0;
}
