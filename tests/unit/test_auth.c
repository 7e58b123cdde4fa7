/*
 * test_auth.c - the cluster secret file, request signatures (tampering,
 * skew, replay, a full replay cache, threads, nonces after a fork, many
 * keys) and chunk access tokens.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "auth.h"
#include "log.h"
#include "xmalloc.h"

#include "banned.h"

#define NOW 1763900000000LL
#define URI "/chunk/write?handle=7&version=1&offset=0&chain=h:1,h:2"

static const char secret_a[] = "0123456789abcdef0123456789abcdef0123456789";
static const char secret_b[] = "0123456789abcdef0123456789abcdef012345678X";

static struct auth_key *ka, *kb;
static char tmpdir[] = "/tmp/test_auth.XXXXXX";

static int setup(void **state)
{
	(void)state;
	log_init("test_auth", LOG_LEVEL_ERROR);
	ka = auth_key_from_secret(secret_a, strlen(secret_a));
	kb = auth_key_from_secret(secret_b, strlen(secret_b));
	if (ka == NULL || kb == NULL || mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	(void)state;
	auth_key_free(ka);
	auth_key_free(kb);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return 0;
}

/* Write "text" to tmpdir/name with "mode"; returns the path (caller frees). */
static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* Secrets in memory: too short or too long is refused. */
static void test_key_from_secret(void **state)
{
	char big[AUTH_SECRET_MAX + 1];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_null(auth_key_from_secret(secret_a, AUTH_SECRET_MIN - 1));
	assert_null(auth_key_from_secret(NULL, 40));
	assert_null(auth_key_from_secret(big, sizeof(big)));
	auth_key_free(auth_key_from_secret(big, AUTH_SECRET_MAX));
	auth_key_free(NULL);
}

/* Key files: permissions, type and size are enforced. */
static void test_key_file(void **state)
{
	struct auth_key *k = (struct auth_key *)1;
	char *p;

	(void)state;
	p = write_file("ok", "0123456789abcdef0123456789abcdef\n", 0600);
	assert_int_equal(auth_key_load(p, &k), 0);
	assert_non_null(k);
	auth_key_free(k);
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(auth_key_load(p, &k), 0);
	auth_key_free(k);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(auth_key_load(p, &k), -EPERM);
	assert_null(k);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(auth_key_load(p, &k), -EPERM);
	assert_int_equal(chmod(p, 0602), 0);
	assert_int_equal(auth_key_load(p, &k), -EPERM);
	free(p);

	/* 31 bytes once the newline is cut. */
	p = write_file("short", "0123456789abcdef0123456789abcde\n\n", 0600);
	assert_int_equal(auth_key_load(p, &k), -EINVAL);
	free(p);
	p = xasprintf("%s/missing", tmpdir);
	assert_int_equal(auth_key_load(p, &k), -ENOENT);
	free(p);
	assert_int_equal(auth_key_load(tmpdir, &k), -EINVAL);
	assert_int_equal(auth_key_load("/dev/null", &k), -EINVAL);
}

/* A generated secret: mode 0600, 64 hex digits, loads, never replaced. */
static void test_secret_generate(void **state)
{
	char *p = xasprintf("%s/gen", tmpdir);
	char *p2 = xasprintf("%s/gen2", tmpdir);
	char buf[128] = {0};
	struct auth_key *k = NULL, *k2 = NULL;
	char h1[AUTH_HEADER_MAX];
	struct stat st;
	mode_t old = umask(0);
	int fd;

	(void)state;
	assert_int_equal(auth_secret_generate(p), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fd = open(p, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 65);
	close(fd);
	assert_int_equal(strspn(buf, "0123456789abcdef"), 64);
	assert_int_equal(buf[64], '\n');
	assert_int_equal(auth_secret_generate(p), -EEXIST);
	assert_int_equal(auth_key_load(p, &k), 0);

	/* Two generated secrets differ: a signature of one fails the other. */
	assert_int_equal(auth_secret_generate(p2), 0);
	assert_int_equal(auth_key_load(p2, &k2), 0);
	assert_int_equal(auth_sign(k, "GET", "/", NULL, 0, NOW, h1), 0);
	assert_int_equal(auth_verify(k2, NULL, "GET", "/", NULL, 0, h1, NOW),
			 -EACCES);
	assert_int_equal(auth_verify(k, NULL, "GET", "/", NULL, 0, h1, NOW), 0);
	auth_key_free(k);
	auth_key_free(k2);
	free(p);
	free(p2);
}

/* Sign and verify, with and without a body; the header's shape. */
static void test_sign_verify(void **state)
{
	char h[AUTH_HEADER_MAX], h2[AUTH_HEADER_MAX];
	static const char body[] = "{\"ino\":1}";

	(void)state;
	assert_int_equal(auth_sign(ka, "POST", "/api/getattr", body,
				   strlen(body), NOW, h), 0);
	assert_int_equal(strncmp(h, "v1 1763900000000 ", 17), 0);
	assert_int_equal(strlen(h), 3 + 13 + 1 + 32 + 1 + 64);
	assert_int_equal(auth_verify(ka, NULL, "POST", "/api/getattr", body,
				     strlen(body), h, NOW), 0);
	/* Two signatures of the same request differ (fresh nonce). */
	assert_int_equal(auth_sign(ka, "POST", "/api/getattr", body,
				   strlen(body), NOW, h2), 0);
	assert_string_not_equal(h, h2);
	/* No body: NULL and "" are the same empty body. */
	assert_int_equal(auth_sign(ka, "GET", URI, NULL, 0, NOW, h), 0);
	assert_int_equal(auth_verify(ka, NULL, "GET", URI, "", 0, h, NOW), 0);
	/* Bad inputs to sign. */
	assert_int_equal(auth_sign(ka, "", "/", NULL, 0, NOW, h), -EINVAL);
	assert_int_equal(auth_sign(ka, "GET", "", NULL, 0, NOW, h), -EINVAL);
	assert_int_equal(auth_sign(ka, "GET", "/a\nb", NULL, 0, NOW, h),
			 -EINVAL);
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, -1, h), -EINVAL);
}

/*
 * A signature made from a body's digest verifies against the body, and
 * one made from the body verifies against its digest: a server that
 * forwards a verified body signs the copy without hashing it again. A
 * digest of other bytes does not verify.
 */
static void test_sign_verify_digest(void **state)
{
	static const char body[] = "8 MiB of chunk data, forwarded";
	static const char other[] = "8 MiB of chunk data, tampered!";
	struct auth_digest d, d_other, d_empty;
	char h[AUTH_HEADER_MAX];

	(void)state;
	assert_int_equal(auth_body_digest(ka, body, strlen(body), &d), 0);
	assert_int_equal(auth_body_digest(ka, other, strlen(other), &d_other),
			 0);
	assert_int_equal(auth_body_digest(ka, NULL, 0, &d_empty), 0);
	assert_false(d.keyed);
	assert_memory_not_equal(d.bytes, d_other.bytes, AUTH_DIGEST_LEN);

	assert_int_equal(auth_sign_digest(ka, "PUT", URI, &d, NOW, h), 0);
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, body, strlen(body),
				     h, NOW), 0);
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, other,
				     strlen(other), h, NOW), -EACCES);
	assert_int_equal(auth_verify_digest(ka, NULL, "PUT", URI, &d_other, h,
					    NOW),
			 -EACCES);

	assert_int_equal(auth_sign(ka, "PUT", URI, body, strlen(body), NOW, h),
			 0);
	assert_int_equal(auth_verify_digest(ka, NULL, "PUT", URI, &d, h, NOW),
			 0);
	assert_int_equal(auth_verify_digest(kb, NULL, "PUT", URI, &d, h, NOW),
			 -EACCES);
	assert_int_equal(auth_sign(ka, "GET", URI, NULL, 0, NOW, h), 0);
	assert_int_equal(
		auth_verify_digest(ka, NULL, "GET", URI, &d_empty, h, NOW), 0);
	assert_int_equal(auth_sign_digest(ka, "GET", "/a\nb", &d, NOW, h),
			 -EINVAL);
}

/*
 * A large body gets a keyed digest ("v2"): the signature verifies against
 * the body, a changed byte anywhere or another key is refused, and the
 * digest a verifier computes from the header signs a forwarded copy that
 * verifies in turn. Each signing draws a new body nonce. A keyed digest
 * does not pass for a SHA-256 one, nor the other way round.
 */
static void test_keyed_body(void **state)
{
	size_t len = AUTH_KEYED_BODY_MIN + 4093;
	unsigned char *body = malloc(len);
	char h[AUTH_HEADER_MAX], h2[AUTH_HEADER_MAX], fwd[AUTH_HEADER_MAX];
	struct auth_digest d, d2, sha;
	size_t at[] = { 0, 1, AUTH_KEYED_BODY_MIN, len - 1 };

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 131 + 7);
	assert_int_equal(auth_sign(ka, "POST", URI, body, len, NOW, h), 0);
	assert_int_equal(strncmp(h, "v2 1763900000000 ", 17), 0);
	assert_int_equal(strlen(h), 3 + 13 + 1 + 32 + 1 + 32 + 1 + 64);
	assert_true(strlen(h) < AUTH_HEADER_MAX);
	assert_int_equal(auth_verify(ka, NULL, "POST", URI, body, len, h, NOW),
			 0);
	assert_int_equal(auth_verify(kb, NULL, "POST", URI, body, len, h, NOW),
			 -EACCES);
	assert_int_equal(auth_verify(ka, NULL, "POST", URI, body, len - 1, h,
				     NOW),
			 -EACCES);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		body[at[i]] ^= 0x20;
		assert_int_equal(auth_verify(ka, NULL, "POST", URI, body, len,
					     h, NOW),
				 -EACCES);
		body[at[i]] ^= 0x20;
	}
	/* Another body nonce in the header, or another version. */
	snprintf(h2, sizeof(h2), "%s", h);
	h2[17 + 33] = h2[17 + 33] == '0' ? '1' : '0';
	assert_int_equal(auth_verify(ka, NULL, "POST", URI, body, len, h2, NOW),
			 -EACCES);
	snprintf(h2, sizeof(h2), "%s", h);
	h2[1] = '1';
	assert_int_equal(auth_verify(ka, NULL, "POST", URI, body, len, h2, NOW),
			 -EBADMSG);

	/* The verifier's digest signs the forwarded copy. */
	assert_int_equal(auth_verify_body(ka, NULL, "POST", URI, body, len, h,
					  NOW, &d),
			 0);
	assert_true(d.keyed);
	assert_int_equal(auth_verify_digest(ka, NULL, "POST", URI, &d, h, NOW),
			 0);
	assert_int_equal(auth_sign_digest(ka, "POST", "/fwd", &d, NOW, fwd), 0);
	assert_memory_equal(fwd + 17 + 33, h + 17 + 33, 32); /* body nonce */
	assert_int_equal(
		auth_verify(ka, NULL, "POST", "/fwd", body, len, fwd, NOW), 0);

	/* A new body nonce each time, so a new tag. */
	assert_int_equal(auth_body_digest(ka, body, len, &d2), 0);
	assert_true(d2.keyed);
	assert_memory_not_equal(d.bytes, d2.bytes, AUTH_DIGEST_LEN);
	assert_int_equal(auth_sign(ka, "POST", URI, body, len, NOW, h2), 0);
	assert_memory_not_equal(h + 17 + 33, h2 + 17 + 33, 32);

	/* Kinds do not mix: a SHA-256 digest against a v2 header, a keyed
	 * one against a v1 header. */
	sha.keyed = false;
	memcpy(sha.bytes, d.bytes, AUTH_DIGEST_LEN);
	assert_int_equal(auth_verify_digest(ka, NULL, "POST", URI, &sha, h,
					    NOW),
			 -EACCES);
	assert_int_equal(auth_sign_digest(ka, "POST", URI, &sha, NOW, h2), 0);
	assert_int_equal(strncmp(h2, "v1 ", 3), 0);
	assert_int_equal(auth_verify_digest(ka, NULL, "POST", URI, &d, h2, NOW),
			 -EACCES);
	/* A digest under another body nonce than the header's. */
	assert_int_equal(auth_verify_digest(ka, NULL, "POST", URI, &d2, h, NOW),
			 -EACCES);
	free(body);
}

/* Replace the len characters at "at" of a copy of h. */
static void patch(char *dst, const char *h, size_t at, const char *with)
{
	snprintf(dst, AUTH_HEADER_MAX, "%s", h);
	memcpy(dst + at, with, strlen(with));
}

/* Any change to method, URI, body, stamp, nonce or MAC is refused. */
static void test_tampering(void **state)
{
	static const char body[] = "chunk data, 8 MiB of it in real life";
	size_t blen = strlen(body);
	char h[AUTH_HEADER_MAX], t[AUTH_HEADER_MAX];
	size_t nonce_at = 3 + 13 + 1, mac_at = nonce_at + 33;

	(void)state;
	assert_int_equal(auth_sign(ka, "PUT", URI, body, blen, NOW, h), 0);
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, body, blen, h,
				     NOW), 0);
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, body, blen - 1, h,
				     NOW), -EACCES);
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI,
				     "Chunk data, 8 MiB of it in real life",
				     blen, h, NOW), -EACCES);
	assert_int_equal(auth_verify(ka, NULL, "POST", URI, body, blen, h,
				     NOW), -EACCES);
	assert_int_equal(auth_verify(ka, NULL, "PUT",
				     "/chunk/write?handle=8&version=1&offset=0"
				     "&chain=h:1,h:2", body, blen, h, NOW),
			 -EACCES);
	assert_int_equal(auth_verify(ka, NULL, "PUT", "/chunk/write", body,
				     blen, h, NOW), -EACCES);
	assert_int_equal(auth_verify(kb, NULL, "PUT", URI, body, blen, h,
				     NOW), -EACCES);
	/* Stamp moved by one millisecond. */
	patch(t, h, 3 + 12, "1");
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, body, blen, t,
				     NOW), -EACCES);
	/* One nonce digit, one MAC digit. */
	patch(t, h, nonce_at, h[nonce_at] == '0' ? "1" : "0");
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, body, blen, t,
				     NOW), -EACCES);
	patch(t, h, mac_at + 63, h[mac_at + 63] == '0' ? "1" : "0");
	assert_int_equal(auth_verify(ka, NULL, "PUT", URI, body, blen, t,
				     NOW), -EACCES);
}

/* Malformed or missing headers never verify. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"v1",
		"v1 ",
		"v2 1763900000000 00000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000",
		"v1 01763900000000 00000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000",
		"v1 -1 00000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000",
		"v1 99999999999999999999 00000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000",
		"v1 1763900000000 0000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000",
		"v1 1763900000000 0000000000000000000000000000000A "
		"0000000000000000000000000000000000000000000000000000000000000000",
		"v1 1763900000000 00000000000000000000000000000000 "
		"000000000000000000000000000000000000000000000000000000000000000",
		"v1 1763900000000 00000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000 ",
		"v1 1763900000000  00000000000000000000000000000000 "
		"000000000000000000000000000000000000000000000000000000000000000",
		" v1 1763900000000 00000000000000000000000000000000 "
		"0000000000000000000000000000000000000000000000000000000000000000",
	};
	char h[AUTH_HEADER_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0,
					     bad[i], NOW), -EBADMSG);
		assert_int_equal(auth_precheck(NULL, bad[i], NOW), -EBADMSG);
	}
	assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0, NULL, NOW),
			 -ENOKEY);
	assert_int_equal(auth_precheck(NULL, NULL, NOW), -ENOKEY);
	/* Well formed but made up: bad signature. */
	assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0,
				     "v1 1763900000000 "
				     "00000000000000000000000000000000 "
				     "00000000000000000000000000000000"
				     "00000000000000000000000000000000",
				     NOW), -EACCES);
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW, h), 0);
	assert_int_equal(auth_precheck(NULL, h, NOW), 0);
	assert_string_equal(auth_strerror(-EALREADY), "replayed request");
}

/* Stamps more than the skew away, either way, are refused. */
static void test_skew(void **state)
{
	struct auth_replay *rp = auth_replay_new(5000, 0);
	char h[AUTH_HEADER_MAX];

	(void)state;
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW - 61000, h),
			 0);
	assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0, h, NOW),
			 -ERANGE);
	assert_int_equal(auth_precheck(NULL, h, NOW), -ERANGE);
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW + 61000, h),
			 0);
	assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0, h, NOW),
			 -ERANGE);
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW - 59000, h),
			 0);
	assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0, h, NOW),
			 0);
	/* A cache with a 5 s skew. */
	assert_int_equal(auth_verify(ka, rp, "GET", "/", NULL, 0, h, NOW),
			 -ERANGE);
	assert_int_equal(auth_precheck(rp, h, NOW), -ERANGE);
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW + 5000, h), 0);
	assert_int_equal(auth_verify(ka, rp, "GET", "/", NULL, 0, h, NOW), 0);
	auth_replay_free(rp);
	auth_replay_free(NULL);
}

/* The same signed request is accepted once. */
static void test_replay(void **state)
{
	struct auth_replay *rp = auth_replay_new(0, 0);
	char h[AUTH_HEADER_MAX], h2[AUTH_HEADER_MAX];

	(void)state;
	assert_int_equal(auth_sign(ka, "POST", "/api/unlink", "{}", 2, NOW, h),
			 0);
	assert_int_equal(auth_verify(ka, rp, "POST", "/api/unlink", "{}", 2,
				     h, NOW), 0);
	assert_int_equal(auth_verify(ka, rp, "POST", "/api/unlink", "{}", 2,
				     h, NOW + 1000), -EALREADY);
	/* A bad signature does not burn its nonce... */
	assert_int_equal(auth_sign(ka, "POST", "/api/unlink", "{}", 2, NOW,
				   h2), 0);
	assert_int_equal(auth_verify(ka, rp, "POST", "/api/rmdir", "{}", 2,
				     h2, NOW), -EACCES);
	assert_int_equal(auth_verify(ka, rp, "POST", "/api/unlink", "{}", 2,
				     h2, NOW), 0);
	/* ...and long after, the stamp is out of the window anyway. */
	assert_int_equal(auth_verify(ka, rp, "POST", "/api/unlink", "{}", 2,
				     h, NOW + 120000), -ERANGE);
	auth_replay_free(rp);
}

/*
 * A cache that holds 16 nonces: old nonces expire and make room; when 16
 * live ones fill it, the oldest stamps are refused, never replayed.
 */
static void test_replay_full(void **state)
{
	struct auth_replay *rp = auth_replay_new(1000, 16);
	char h[40][AUTH_HEADER_MAX];
	int i, accepted = 0;

	(void)state;
	for (i = 0; i < 40; i++) {
		assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW + i,
					   h[i]), 0);
		assert_int_equal(auth_verify(ka, rp, "GET", "/", NULL, 0, h[i],
					     NOW + i), 0);
	}
	/* Every replay fails, by nonce or by the floor. */
	for (i = 0; i < 40; i++) {
		int r = auth_verify(ka, rp, "GET", "/", NULL, 0, h[i], NOW + 40);

		assert_true(r == -EALREADY || r == -ERANGE);
		if (i < 24)
			assert_int_equal(r, -ERANGE);
	}
	/* Fresh stamps still pass. */
	for (i = 0; i < 40; i++) {
		assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW + 100 + i,
					   h[i]), 0);
		accepted += auth_verify(ka, rp, "GET", "/", NULL, 0, h[i],
					NOW + 100 + i) == 0;
	}
	assert_int_equal(accepted, 40);
	/* Once the window passed, the ring empties and takes any stamp. */
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW + 5000, h[0]),
			 0);
	assert_int_equal(auth_verify(ka, rp, "GET", "/", NULL, 0, h[0],
				     NOW + 5000), 0);
	auth_replay_free(rp);
}

/* Many threads: distinct requests all pass, a shared one passes once. */
struct verify_arg {
	struct auth_replay *rp;
	const char *shared;
	int ok_own;
	int ok_shared;
};

static void *verify_thread(void *p)
{
	struct verify_arg *a = p;
	char h[AUTH_HEADER_MAX];
	int i;

	for (i = 0; i < 2000; i++) {
		if (auth_sign(ka, "POST", "/x", "b", 1, NOW, h) == 0 &&
		    auth_verify(ka, a->rp, "POST", "/x", "b", 1, h, NOW) == 0)
			a->ok_own++;
		if (i % 100 == 0 && auth_verify(ka, a->rp, "POST", "/x", "b", 1,
						a->shared, NOW) == 0)
			a->ok_shared++;
	}
	return NULL;
}

static void test_replay_threads(void **state)
{
	struct auth_replay *rp = auth_replay_new(0, 0);
	struct verify_arg args[4];
	pthread_t th[4];
	char shared[AUTH_HEADER_MAX];
	int i, own = 0, sh = 0;

	(void)state;
	assert_int_equal(auth_sign(ka, "POST", "/x", "b", 1, NOW, shared), 0);
	for (i = 0; i < 4; i++) {
		args[i] = (struct verify_arg){.rp = rp, .shared = shared};
		assert_int_equal(pthread_create(&th[i], NULL, verify_thread,
						&args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		own += args[i].ok_own;
		sh += args[i].ok_shared;
	}
	assert_int_equal(own, 8000);
	assert_int_equal(sh, 1);
	auth_replay_free(rp);
}

/* Tokens: good, wrong handle, wrong mode, expired, tampered, other key. */
static void test_tokens(void **state)
{
	char t[AUTH_TOKEN_MAX], x[AUTH_TOKEN_MAX + 8];
	size_t n;

	(void)state;
	assert_int_equal(auth_token_make(ka, 42, AUTH_TOKEN_READ, NOW + 1000,
					 t), 0);
	assert_int_equal(strncmp(t, "42.1.1763900001000.", 19), 0);
	assert_int_equal(strlen(t), 19 + 64);
	assert_int_equal(auth_token_check(ka, t, 42, AUTH_TOKEN_READ, NOW), 0);
	assert_int_equal(auth_token_check(ka, t, 42, AUTH_TOKEN_READ,
					  NOW + 1000), 0);
	assert_int_equal(auth_token_check(ka, t, 42, AUTH_TOKEN_READ,
					  NOW + 1001), -ETIMEDOUT);
	assert_int_equal(auth_token_check(ka, t, 43, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	assert_int_equal(auth_token_check(ka, t, 42, AUTH_TOKEN_WRITE, NOW),
			 -EACCES);
	assert_int_equal(auth_token_check(ka, t, 42,
					  AUTH_TOKEN_READ | AUTH_TOKEN_WRITE,
					  NOW), -EACCES);
	assert_int_equal(auth_token_check(ka, t, 42, 0, NOW), -EACCES);
	assert_int_equal(auth_token_check(kb, t, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	/* Tampered: handle, mode, expiry, MAC; non-canonical spellings. */
	snprintf(x, sizeof(x), "43%s", t + 2);
	assert_int_equal(auth_token_check(ka, x, 43, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	snprintf(x, sizeof(x), "42.3%s", t + 4);
	assert_int_equal(auth_token_check(ka, x, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	snprintf(x, sizeof(x), "42.1.1863900001000%s", t + 18);
	assert_int_equal(auth_token_check(ka, x, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	snprintf(x, sizeof(x), "042%s", t + 2);
	assert_int_equal(auth_token_check(ka, x, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	snprintf(x, sizeof(x), "%s", t);
	n = strlen(x);
	x[n - 1] = x[n - 1] == '0' ? '1' : '0';
	assert_int_equal(auth_token_check(ka, x, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	x[n - 1] = '\0';
	assert_int_equal(auth_token_check(ka, x, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	assert_int_equal(auth_token_check(ka, NULL, 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	assert_int_equal(auth_token_check(ka, "", 42, AUTH_TOKEN_READ, NOW),
			 -EACCES);
	/* An expired token with a bad MAC is just bad. */
	assert_int_equal(auth_token_check(kb, t, 42, AUTH_TOKEN_READ,
					  NOW + 5000), -EACCES);

	/* Read-write covers both; the largest handle works. */
	assert_int_equal(auth_token_make(ka, UINT64_MAX,
					 AUTH_TOKEN_READ | AUTH_TOKEN_WRITE,
					 NOW, t), 0);
	assert_int_equal(auth_token_check(ka, t, UINT64_MAX, AUTH_TOKEN_WRITE,
					  NOW), 0);
	assert_int_equal(auth_token_check(ka, t, UINT64_MAX, AUTH_TOKEN_READ,
					  NOW), 0);
	/* Bad arguments to make. */
	assert_int_equal(auth_token_make(ka, 1, 0, NOW, t), -EINVAL);
	assert_int_equal(auth_token_make(ka, 1, 4, NOW, t), -EINVAL);
	assert_int_equal(auth_token_make(ka, 1, AUTH_TOKEN_READ, -1, t),
			 -EINVAL);
}

/* A token's MAC is not a request MAC and the other way round. */
static void test_key_separation(void **state)
{
	char t[AUTH_TOKEN_MAX], h[AUTH_HEADER_MAX], forged[AUTH_HEADER_MAX];
	const char *mac;

	(void)state;
	assert_int_equal(auth_token_make(ka, 1, AUTH_TOKEN_READ, NOW, t), 0);
	assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW, h), 0);
	mac = strrchr(t, '.') + 1;
	snprintf(forged, sizeof(forged), "%.50s%s", h, mac);
	assert_int_equal(auth_verify(ka, NULL, "GET", "/", NULL, 0, forged,
				     NOW), -EACCES);
	assert_string_not_equal(mac, h + 50);
}

/* The nonce of header h (32 hex digits after the stamp) into out. */
static void nonce_of(const char *h, char *out)
{
	const char *p = strchr(h + 3, ' ') + 1;

	memcpy(out, p, 32);
	out[32] = '\0';
}

static int cmp_nonce(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * Nonces never repeat: not within a process, not between a process and
 * its forked child, whose count goes on from the parent's; the child's
 * signatures verify.
 */
static void test_nonces_unique(void **state)
{
	enum { N = 2000 };
	static char nonces[2 * N][33];
	char h[AUTH_HEADER_MAX];
	int fds[2], status, i;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < N / 2; i++) {
		assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW, h), 0);
		nonce_of(h, nonces[i]);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (i = 0; i < N; i++) {
			if (auth_sign(ka, "GET", "/", NULL, 0, NOW, h) != 0 ||
			    auth_verify(ka, NULL, "GET", "/", NULL, 0, h,
					NOW) != 0 ||
			    write(fds[1], h, AUTH_HEADER_MAX) !=
				    AUTH_HEADER_MAX)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	for (i = N / 2; i < N; i++) {
		assert_int_equal(auth_sign(ka, "GET", "/", NULL, 0, NOW, h), 0);
		nonce_of(h, nonces[i]);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(read(fds[0], h, AUTH_HEADER_MAX),
				 AUTH_HEADER_MAX);
		nonce_of(h, nonces[N + i]);
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	qsort(nonces, 2 * N, sizeof(nonces[0]), cmp_nonce);
	for (i = 1; i < 2 * N; i++)
		assert_string_not_equal(nonces[i - 1], nonces[i]);
}

/*
 * Each thread keeps an HMAC context per key it used last: more keys than
 * it keeps, taken in turn, and a key freed and another made (likely at
 * the same address) each sign with their own key.
 */
static void test_many_keys(void **state)
{
	enum { KEYS = 7 };
	struct auth_key *k[KEYS], *again;
	char secret[64], h[AUTH_HEADER_MAX], t[AUTH_TOKEN_MAX];
	int i, round;

	(void)state;
	for (i = 0; i < KEYS; i++) {
		snprintf(secret, sizeof(secret),
			 "secret number %d of test_many_keys, long enough", i);
		k[i] = auth_key_from_secret(secret, strlen(secret));
		assert_non_null(k[i]);
	}
	for (round = 0; round < 3; round++) {
		for (i = 0; i < KEYS; i++) {
			assert_int_equal(auth_sign(k[i], "GET", "/", NULL, 0,
						   NOW, h), 0);
			assert_int_equal(auth_verify(k[i], NULL, "GET", "/",
						     NULL, 0, h, NOW), 0);
			assert_int_equal(auth_verify(k[(i + 1) % KEYS], NULL,
						     "GET", "/", NULL, 0, h,
						     NOW), -EACCES);
			assert_int_equal(auth_token_make(k[i], 9,
							 AUTH_TOKEN_READ,
							 NOW + 1000, t), 0);
			assert_int_equal(auth_token_check(k[i], t, 9,
							  AUTH_TOKEN_READ,
							  NOW), 0);
		}
	}
	auth_key_free(k[0]);
	again = auth_key_from_secret(secret_b, strlen(secret_b));
	assert_int_equal(auth_sign(again, "GET", "/", NULL, 0, NOW, h), 0);
	assert_int_equal(auth_verify(kb, NULL, "GET", "/", NULL, 0, h, NOW),
			 0);
	assert_int_equal(auth_verify(k[1], NULL, "GET", "/", NULL, 0, h, NOW),
			 -EACCES);
	auth_key_free(again);
	for (i = 1; i < KEYS; i++)
		auth_key_free(k[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_from_secret),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_secret_generate),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_sign_verify_digest),
		cmocka_unit_test(test_keyed_body),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_skew),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_full),
		cmocka_unit_test(test_replay_threads),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_key_separation),
		cmocka_unit_test(test_nonces_unique),
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
