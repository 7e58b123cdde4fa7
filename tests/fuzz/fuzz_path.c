/*
 * fuzz_path.c - libFuzzer harness for DFS path normalization
 * (cli_path_norm() and cli_path_join() of the dfs command line).
 *
 * The input (cut at its first NUL) is normalized into buffers of several
 * sizes. An accepted path must be absolute, without empty, "." or ".."
 * components or a trailing slash, with every component a valid name, fit
 * its buffer, and normalize to itself again; joining a name to it must
 * give a normalized path too. Whatever it is, nothing may crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cli.c looks commands up in dfs.c's table, which is not linked in. */
const struct cli_cmd *cli_cmd_find(const char *name)
{
	(void)name;
	return NULL;
}

static void fuzz_fail(const char *what, const char *in, const char *out)
{
	fprintf(stderr, "%s: '%s' -> '%s'\n", what, in, out);
	abort();
}

/* A normalized path: "/" or ("/" name)+ with valid names. */
static bool fuzz_is_normal(const char *p)
{
	char name[DFS_NAME_MAX + 2];
	const char *s, *e;
	size_t n;

	if (p[0] != '/')
		return false;
	if (strcmp(p, "/") == 0)
		return true;
	for (s = p + 1;; s = e + 1) {
		e = strchrnul(s, '/');
		n = (size_t)(e - s);
		if (n == 0 || n > DFS_NAME_MAX)
			return false;
		memcpy(name, s, n);
		name[n] = '\0';
		if (!proto_name_is_valid(name))
			return false;
		if (*e == '\0')
			return true;
	}
}

static void fuzz_one(const char *in, size_t size)
{
	char *out = malloc(size), *again = malloc(size), *joined;
	size_t jsize = size + DFS_NAME_MAX + 2;

	joined = malloc(jsize);
	if (out == NULL || again == NULL || joined == NULL)
		abort();
	if (cli_path_norm(in, out, size) == 0) {
		if (strlen(out) >= size || !fuzz_is_normal(out))
			fuzz_fail("not normal", in, out);
		if (cli_path_norm(out, again, size) != 0 ||
		    strcmp(out, again) != 0)
			fuzz_fail("not idempotent", in, out);
		if (cli_path_join(out, "x", joined, jsize) == 0 &&
		    !fuzz_is_normal(joined))
			fuzz_fail("bad join", out, joined);
		if (strcmp(cli_path_base(out), strrchr(out, '/') + 1) != 0)
			fuzz_fail("bad base", in, out);
	}
	free(out);
	free(again);
	free(joined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);

	if (in == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	fuzz_one(in, 2);
	fuzz_one(in, 64);
	fuzz_one(in, DFS_PATH_MAX);
	free(in);
	return 0;
}
