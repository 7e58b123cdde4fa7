/*
 * test_secure.c - the shared security settings: options and the
 * environment, loading the secret, refusing bad files, server options,
 * chunk tokens made and checked, and the token header; plus a signed
 * server that refuses unsigned requests and bad tokens end to end.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "auth.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "proto.h"
#include "secure.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"

#include "banned.h"

static char tmpdir[] = "/tmp/test_secure.XXXXXX";

static int setup(void **state)
{
	(void)state;
	log_init("test_secure", LOG_LEVEL_ERROR);
	unsetenv("DFS_SECRET");
	unsetenv("DFS_CA");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	(void)state;
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return 0;
}

/* Write "text" to tmpdir/name with "mode"; returns the path. */
static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char secret_text[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

static void test_opts(void **state)
{
	struct secure_opts o = { 0 };

	(void)state;
	assert_true(secure_opts_set(&o, "secret", "s"));
	assert_true(secure_opts_set(&o, "ca", "c"));
	assert_true(secure_opts_set(&o, "tls-cert", "t"));
	assert_true(secure_opts_set(&o, "tls-key", "k"));
	assert_false(secure_opts_set(&o, "master", "m"));
	assert_string_equal(o.secret_file, "s");
	assert_string_equal(o.ca_file, "c");
	assert_string_equal(o.tls_cert_file, "t");
	assert_string_equal(o.tls_key_file, "k");
	assert_true(secure_getopt(&o, SECURE_OPT_SECRET, "s2"));
	assert_true(secure_getopt(&o, SECURE_OPT_TLS_KEY, "k2"));
	assert_false(secure_getopt(&o, 'x', "?"));
	assert_string_equal(o.secret_file, "s2");
	assert_string_equal(o.tls_key_file, "k2");
}

static void test_no_secret(void **state)
{
	struct secure_opts o = { 0 };
	char tok[AUTH_TOKEN_MAX] = "x";
	struct http_server_opts so = { 0 };

	(void)state;
	assert_int_equal(secure_init("test", &o, 0), 0);
	assert_null(secure_key());
	assert_null(secure_ca_file());
	assert_int_equal(secure_token_make(7, AUTH_TOKEN_READ, 1000, tok), 0);
	assert_string_equal(tok, "");
	secure_server_opts(&so, NULL);
	assert_null(so.auth);
	assert_null(so.tls_cert_file);
	secure_release();
}

static void test_bad_files(void **state)
{
	char *loose = write_file("loose", secret_text, 0644);
	char *good = write_file("good", secret_text, 0600);
	char *missing = xasprintf("%s/missing", tmpdir);
	struct secure_opts o = { 0 };

	(void)state;
	o.secret_file = loose;
	assert_int_equal(secure_init("test", &o, 0), -EPERM);
	assert_null(secure_key());
	o.secret_file = missing;
	assert_int_equal(secure_init("test", &o, 0), -ENOENT);
	o.secret_file = good;
	o.ca_file = missing;
	assert_int_equal(secure_init("test", &o, 0), -ENOENT);
	o.ca_file = NULL;
	o.tls_cert_file = good;
	assert_int_equal(secure_init("test", &o, 0), -EINVAL);
	o.tls_key_file = good;
	/* A daemon with a certificate needs a CA for its own calls. */
	assert_int_equal(secure_init("test", &o, SECURE_DAEMON), -EINVAL);
	assert_null(secure_key());
	free(loose);
	free(good);
	free(missing);
}

static void test_env_and_tokens(void **state)
{
	char *good = write_file("env", secret_text, 0600);
	struct secure_opts o = { 0 };
	struct secure_token_hdr th;
	char tok[AUTH_TOKEN_MAX];
	const char *const *h;
	int64_t now = time_now_ms();

	(void)state;
	setenv("DFS_SECRET", good, 1);
	assert_int_equal(secure_init("test", &o, 0), 0);
	assert_non_null(secure_key());
	assert_int_equal(secure_token_make(42, AUTH_TOKEN_READ |
						   AUTH_TOKEN_WRITE,
					   SECURE_TOKEN_TTL_MS, tok), 0);
	assert_int_equal(auth_token_check(secure_key(), tok, 42,
					  AUTH_TOKEN_WRITE, now), 0);
	assert_int_equal(auth_token_check(secure_key(), tok, 43,
					  AUTH_TOKEN_READ, now), -EACCES);
	assert_int_equal(auth_token_check(secure_key(), tok, 42,
					  AUTH_TOKEN_READ,
					  now + SECURE_TOKEN_TTL_MS + 1000),
			 -ETIMEDOUT);
	assert_null(secure_token_headers(&th, NULL));
	assert_null(secure_token_headers(&th, ""));
	h = secure_token_headers(&th, tok);
	assert_non_null(h);
	assert_null(h[1]);
	assert_int_equal(strncmp(h[0], "X-DFS-Token: ", 13), 0);
	assert_string_equal(h[0] + 13, tok);
	secure_release();
	assert_null(secure_key());
	unsetenv("DFS_SECRET");
	free(good);
}

/* A chunk read handler that checks its token like chunkd does. */
static void read_handler(struct http_request *req, void *arg)
{
	uint64_t handle;

	(void)arg;
	if (http_request_query_u64(req, "handle", INT64_MAX, &handle) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "bad handle");
		return;
	}
	if (secure_token_check(req, handle, AUTH_TOKEN_READ) != 0)
		return;
	http_reply_json(req, 200, NULL);
}

static void health_handler(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_json(req, 200, NULL);
}

static const struct http_route routes[] = {
	{ "GET", "/chunk/read", read_handler, 0, 0 },
	{ "GET", "/health", health_handler, 0, 0 },
};

/* GET addr/path with client hc and a token (NULL: none); the status. */
static long get(struct http_client *hc, const char *addr, const char *path,
		const char *token)
{
	struct http_result res = { 0, NULL, 0 };
	struct secure_token_hdr th;
	long status;

	assert_int_equal(http_client_request_hdr(hc, "GET", addr, path,
						 secure_token_headers(&th,
								      token),
						 NULL, 0, NULL, 65536, &res),
			 0);
	status = res.status;
	http_result_release(&res);
	return status;
}

static void test_server(void **state)
{
	static const char *const public_paths[] = { "/health", NULL };
	char *good = write_file("srv", secret_text, 0600);
	struct secure_opts o = { .secret_file = good };
	struct http_server_opts so = { .listen = "127.0.0.1:0" };
	struct http_client *signed_hc, *plain_hc;
	struct http_client_sec none = { NULL, NULL };
	struct http_server *srv;
	char addr[64], tok[AUTH_TOKEN_MAX];

	(void)state;
	assert_int_equal(secure_init("test", &o, SECURE_DAEMON), 0);
	secure_server_opts(&so, public_paths);
	assert_ptr_equal(so.auth, secure_key());
	assert_ptr_equal(so.public_paths, public_paths);
	srv = http_server_new(&so, routes, 2, NULL);
	assert_non_null(srv);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(srv));
	signed_hc = http_client_new(NULL);
	plain_hc = http_client_new_sec(NULL, &none);
	assert_int_equal(get(plain_hc, addr, "/health", NULL), 200);
	assert_int_equal(get(plain_hc, addr, "/chunk/read?handle=5", NULL),
			 401);
	assert_int_equal(get(signed_hc, addr, "/chunk/read?handle=5", NULL),
			 403);
	assert_int_equal(secure_token_make(5, AUTH_TOKEN_READ, 60000, tok), 0);
	assert_int_equal(get(signed_hc, addr, "/chunk/read?handle=5", tok),
			 200);
	assert_int_equal(get(signed_hc, addr, "/chunk/read?handle=6", tok),
			 403);
	assert_int_equal(secure_token_make(5, AUTH_TOKEN_READ, -1000, tok), 0);
	assert_int_equal(get(signed_hc, addr, "/chunk/read?handle=5", tok),
			 403);
	/* A %00 in a query value is refused, not cut short. */
	assert_int_equal(secure_token_make(5, AUTH_TOKEN_READ, 60000, tok), 0);
	assert_int_equal(get(signed_hc, addr, "/chunk/read?handle=5%00x",
			     tok), 400);
	http_client_free(signed_hc);
	http_client_free(plain_hc);
	http_server_free(srv);
	secure_release();
	free(good);
}

/* The chunk object carries its token (optional, printable, bounded). */
static void test_chunk_token(void **state)
{
	struct dfs_chunk a = { .index = 1, .handle = 7, .version = 2 }, b;
	char big[AUTH_TOKEN_MAX + 8];
	json_t *obj;

	(void)state;
	a.nreplicas = 1;
	snprintf(a.replicas[0], DFS_ADDR_MAX, "127.0.0.1:9100");
	obj = proto_chunk_to_json(&a);
	assert_null(json_object_get(obj, "token"));
	assert_int_equal(proto_chunk_from_json(obj, &b), 0);
	assert_string_equal(b.token, "");
	json_decref(obj);
	snprintf(a.token, sizeof(a.token), "7.1.1763900001000.ab12");
	obj = proto_chunk_to_json(&a);
	assert_int_equal(proto_chunk_from_json(obj, &b), 0);
	assert_string_equal(b.token, a.token);
	json_object_set_new(obj, "token", json_string("a b"));
	assert_int_equal(proto_chunk_from_json(obj, &b), -EINVAL);
	json_object_set_new(obj, "token", json_string("a\r\nX: y"));
	assert_int_equal(proto_chunk_from_json(obj, &b), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(obj, "token", json_string(big));
	assert_int_equal(proto_chunk_from_json(obj, &b), -EINVAL);
	json_object_set_new(obj, "token", json_integer(5));
	assert_int_equal(proto_chunk_from_json(obj, &b), -EINVAL);
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_no_secret),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_env_and_tokens),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_chunk_token),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
