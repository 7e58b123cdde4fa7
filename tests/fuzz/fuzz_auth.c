/*
 * fuzz_auth.c - libFuzzer harness for the X-DFS-Auth and token parsers.
 *
 * The input (cut at its first NUL) is tried as an X-DFS-Auth value
 * against auth_precheck() and auth_verify(), and as a chunk token against
 * auth_token_check(): made-up input must never verify. The whole input is
 * also signed as a request body (and, cleaned of CR/LF, as its target):
 * that signature must verify once, fail a second time (replay) and fail
 * for a body one byte shorter.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#include "banned.h"

#define FUZZ_NOW 1763900000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct auth_key *fuzz_key;
static struct auth_replay *fuzz_replay;
static int64_t fuzz_clock = FUZZ_NOW;

/* Stop the run: something verified that must not, or the reverse. */
static void fuzz_fail(const char *what)
{
	fprintf(stderr, "%s\n", what);
	abort();
}

/* Made-up headers and tokens never verify. */
static void check_parsers(const char *s)
{
	int r;

	auth_precheck(NULL, s, FUZZ_NOW);
	auth_precheck(fuzz_replay, s, FUZZ_NOW);
	if (auth_verify(fuzz_key, NULL, "GET", "/", NULL, 0, s, FUZZ_NOW) == 0)
		fuzz_fail("a made-up header verified");
	r = auth_token_check(fuzz_key, s, 1, AUTH_TOKEN_READ, FUZZ_NOW);
	if (r != -EACCES)
		fuzz_fail("a made-up token was not refused with EACCES");
	auth_strerror(r);
}

/* A real signature over the input verifies exactly once. */
static void check_roundtrip(const uint8_t *data, size_t size, const char *s)
{
	char uri[256], hdr[AUTH_HEADER_MAX], tok[AUTH_TOKEN_MAX];
	size_t i, n = 0;
	int64_t now = ++fuzz_clock;

	uri[n++] = '/';
	for (i = 0; s[i] != '\0' && n + 1 < sizeof(uri); i++)
		if (s[i] != '\r' && s[i] != '\n')
			uri[n++] = s[i];
	uri[n] = '\0';
	if (auth_sign(fuzz_key, "PUT", uri, data, size, now, hdr) != 0)
		fuzz_fail("cannot sign");
	if (size > 0 && auth_verify(fuzz_key, fuzz_replay, "PUT", uri, data,
				    size - 1, hdr, now) == 0)
		fuzz_fail("a shorter body verified");
	if (auth_verify(fuzz_key, fuzz_replay, "PUT", uri, data, size, hdr,
			now) != 0)
		fuzz_fail("a good signature failed");
	if (auth_verify(fuzz_key, fuzz_replay, "PUT", uri, data, size, hdr,
			now) != -EALREADY)
		fuzz_fail("a replay was not refused");
	if (auth_token_make(fuzz_key, (uint64_t)size, AUTH_TOKEN_WRITE, now,
			    tok) != 0 ||
	    auth_token_check(fuzz_key, tok, (uint64_t)size, AUTH_TOKEN_WRITE,
			     now) != 0)
		fuzz_fail("a good token failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (fuzz_key == NULL) {
		fuzz_key = auth_key_from_secret(
			"fuzzing secret, 32 bytes or more!!", 34);
		fuzz_replay = auth_replay_new(0, 1024);
	}
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	check_parsers(s);
	check_roundtrip(data, size, s);
	if (size >= AUTH_SECRET_MIN && size <= AUTH_SECRET_MAX && data[0] == 'K')
		auth_key_free(auth_key_from_secret(data, size));
	free(s);
	return 0;
}
