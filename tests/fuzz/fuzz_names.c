/*
 * fuzz_names.c - libFuzzer harness for proto_name_is_valid() and
 * proto_addr_is_valid().
 *
 * The input (cut at its first NUL) is checked as a file name component
 * and as a "host:port" address; an accepted value must have the
 * documented shape, and proto_get_name() on the same string in a JSON
 * object must agree with proto_name_is_valid().
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "proto.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the run: a validator accepted something it must not. */
static void fuzz_fail(const char *what, const char *s)
{
	fprintf(stderr, "%s accepted '%s'\n", what, s);
	abort();
}

/* An accepted name: 1..255 bytes, no '/', not "." or "..". */
static void check_name(const char *s)
{
	size_t n = strlen(s);
	bool valid = proto_name_is_valid(s);
	json_t *obj;
	const char *out;
	int r;

	if (valid && (n == 0 || n > DFS_NAME_MAX || strchr(s, '/') != NULL ||
		      strcmp(s, ".") == 0 || strcmp(s, "..") == 0))
		fuzz_fail("proto_name_is_valid", s);
	/* Not UTF-8: jansson refuses the string, nothing to compare. */
	obj = json_pack("{s:s}", "n", s);
	if (obj == NULL)
		return;
	r = proto_get_name(obj, "n", &out);
	if ((r == 0) != valid || (r != 0 && n > DFS_NAME_MAX &&
				  r != -ENAMETOOLONG))
		fuzz_fail("proto_get_name", s);
	json_decref(obj);
}

/* An accepted address: short enough, a host, ':' and a port 1..65535. */
static void check_addr(const char *s)
{
	const char *colon;
	char *end;
	long port;

	if (!proto_addr_is_valid(s))
		return;
	colon = strrchr(s, ':');
	if (strlen(s) >= DFS_ADDR_MAX || colon == NULL || colon == s)
		fuzz_fail("proto_addr_is_valid", s);
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535 ||
	    strpbrk(s, " /?#@\t\r\n") != NULL)
		fuzz_fail("proto_addr_is_valid", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	check_name(s);
	check_addr(s);
	proto_name_is_valid(NULL);
	proto_addr_is_valid(NULL);
	free(s);
	return 0;
}
