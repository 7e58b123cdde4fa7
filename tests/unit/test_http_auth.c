/*
 * test_http_auth.c - http_server and http_client with request signatures,
 * public paths, chunk token headers and TLS, on loopback: unsigned,
 * wrongly signed, tampered, stale and replayed requests are refused with
 * 401 before any handler runs; TLS works end to end with a self-signed
 * certificate made by the openssl command and fails with the wrong CA.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>
#include <jansson.h>

#include "auth.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"

#include "banned.h"

#define MIB (1024u * 1024)

static const char secret_a[] = "test secret A: 0123456789abcdef0123456789";
static const char secret_b[] = "test secret B: 0123456789abcdef0123456789";

static struct auth_key *ka, *kb;
static struct http_server *srv;
static char addr[64];
static char tmpdir[] = "/tmp/test_http_auth.XXXXXX";

/* Handler runs, to prove refused requests never reach one. */
static pthread_mutex_t runs_lock = PTHREAD_MUTEX_INITIALIZER;
static int runs;

static void count_run(void)
{
	pthread_mutex_lock(&runs_lock);
	runs++;
	pthread_mutex_unlock(&runs_lock);
}

static int get_runs(void)
{
	int n;

	pthread_mutex_lock(&runs_lock);
	n = runs;
	pthread_mutex_unlock(&runs_lock);
	return n;
}

/* POST /json: echo the object with "seen": true added. */
static void h_json(struct http_request *req, void *arg)
{
	json_t *obj = http_request_json(req);

	(void)arg;
	count_run();
	if (obj == NULL)
		return;
	json_object_set_new(obj, "seen", json_true());
	http_reply_json(req, 200, obj);
}

/* PUT /echo: echo the raw body. */
static void h_echo(struct http_request *req, void *arg)
{
	size_t len;
	const void *body = http_request_body(req, &len);
	void *copy = malloc(len ? len : 1);

	(void)arg;
	count_run();
	memcpy(copy, body, len);
	http_reply_buffer(req, 200, copy, len, "application/octet-stream");
}

/* GET /public: served to anyone. */
static void h_public(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_text(req, 200, "text/plain", "public page\n");
}

/* GET /token?handle=N: checks X-DFS-Token for a read of chunk N. */
static void h_token(struct http_request *req, void *arg)
{
	uint64_t handle = 0;
	int r;

	(void)arg;
	count_run();
	if (http_request_query_u64(req, "handle", UINT64_MAX, &handle) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "bad 'handle'");
		return;
	}
	r = auth_token_check(ka, http_request_header(req, AUTH_TOKEN_HEADER),
			     handle, AUTH_TOKEN_READ, time_now_ms());
	if (r != 0) {
		http_reply_error(req, DFS_ERR_FORBIDDEN, "%s",
				 auth_strerror(r));
		return;
	}
	http_reply_json(req, 200, json_pack("{s:I}", "handle",
					    (json_int_t)handle));
}

/* GET /blob?len=N: N bytes of a known pattern. */
static void h_blob(struct http_request *req, void *arg)
{
	uint64_t len = 0;
	unsigned char *buf;
	size_t i;

	(void)arg;
	count_run();
	if (http_request_query_u64(req, "len", 16 * MIB, &len) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "bad 'len'");
		return;
	}
	buf = malloc(len ? len : 1);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	http_reply_buffer(req, 200, buf, len, "application/octet-stream");
}

/* PUT /digest and /public-digest: 200 with the verified body digest
 * (struct auth_digest as it lies in memory), or 204 when there is none. */
static void h_digest(struct http_request *req, void *arg)
{
	const struct auth_digest *d = http_request_body_digest(req);
	struct auth_digest *copy;

	(void)arg;
	count_run();
	if (d == NULL) {
		http_reply_buffer(req, 204, NULL, 0, NULL);
		return;
	}
	copy = malloc(sizeof(*copy));
	*copy = *d;
	http_reply_buffer(req, 200, copy, sizeof(*copy),
			  "application/octet-stream");
}

static const struct http_route routes[] = {
	{ "PUT", "/digest", h_digest, 1 * MIB, 0 },
	{ "PUT", "/public-digest", h_digest, 1 * MIB, 0 },
	{ "POST", "/json", h_json, 1 * MIB, 0 },
	{ "PUT", "/echo", h_echo, 2 * MIB, 0 },
	{ "GET", "/public", h_public, 0, 0 },
	{ "GET", "/token", h_token, 0, 0 },
	{ "GET", "/blob", h_blob, 0, 0 },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static const char *const public_paths[] = {"/public", "/public-digest",
					   NULL};

/* A client with its own settings (never the process defaults). */
static struct http_client *client(const struct auth_key *key,
				  const char *ca_file)
{
	struct http_client_sec sec = {.auth = key, .ca_file = ca_file};

	return http_client_new_sec(NULL, &sec);
}

static int setup(void **state)
{
	struct http_server_opts opts = {.listen = "127.0.0.1:0",
					.idle_timeout_s = 10};

	(void)state;
	log_init("test_http_auth", LOG_LEVEL_WARN);
	ka = auth_key_from_secret(secret_a, strlen(secret_a));
	kb = auth_key_from_secret(secret_b, strlen(secret_b));
	opts.auth = ka;
	opts.public_paths = public_paths;
	srv = http_server_new(&opts, routes, NROUTES, NULL);
	if (ka == NULL || kb == NULL || srv == NULL || mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(srv));
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	(void)state;
	http_server_free(srv);
	auth_key_free(ka);
	auth_key_free(kb);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return 0;
}

/* The "message" of an error reply body ("" if none). */
static const char *err_message(const struct http_result *res, char *buf,
			       size_t cap)
{
	json_t *obj = NULL;

	proto_error_status(res->body, res->len, &obj);
	snprintf(buf, cap, "%s",
		 json_string_value(json_object_get(obj, "message")) != NULL
			 ? json_string_value(json_object_get(obj, "message"))
			 : "");
	json_decref(obj);
	return buf;
}

/* No signature: 401 UNAUTH, and no handler runs. */
static void test_unsigned(void **state)
{
	struct http_client *hc = client(NULL, NULL);
	struct http_result res;
	json_t *reply = NULL;
	char msg[256];
	int ws = -2, before = get_runs();

	(void)state;
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, &reply, &ws),
			 -EKEYREJECTED);
	assert_int_equal(ws, DFS_ERR_UNAUTH);
	assert_null(reply);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", "abc",
					     3, "application/octet-stream",
					     4096, &res), 0);
	assert_int_equal(res.status, 401);
	assert_string_equal(err_message(&res, msg, sizeof(msg)),
			    "missing X-DFS-Auth header");
	http_result_release(&res);
	assert_int_equal(get_runs(), before);
	http_client_free(hc);
}

/* Signed calls of every kind go through. */
static void test_signed(void **state)
{
	struct http_client *hc = client(ka, NULL);
	json_t *req = json_pack("{s:i}", "a", 42), *reply = NULL;
	unsigned char *buf = malloc(MIB), *back = malloc(MIB);
	struct http_result res;
	size_t got = 0, i;
	long status = 0;

	(void)state;
	assert_int_equal(rpc_call(hc, addr, "/json", req, &reply, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(reply, "a")), 42);
	assert_true(json_is_true(json_object_get(reply, "seen")));
	json_decref(reply);
	json_decref(req);
	/* A 1 MiB raw body. */
	for (i = 0; i < MIB; i++)
		buf[i] = (unsigned char)(i * 13 + 1);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", buf, MIB,
					     "application/octet-stream", 2 * MIB,
					     &res), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, MIB);
	assert_memory_equal(res.body, buf, MIB);
	http_result_release(&res);
	/* An empty body, and a GET with a query string into a buffer. */
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", "", 0,
					     "application/octet-stream", 16,
					     &res), 0);
	assert_int_equal(res.status, 200);
	http_result_release(&res);
	assert_int_equal(http_client_get_into(hc, addr, "/blob?len=1048576",
					      back, MIB, &got, &status, NULL),
			 0);
	assert_int_equal(status, 200);
	assert_int_equal(got, MIB);
	assert_int_equal(back[MIB - 1], (unsigned char)((MIB - 1) * 7 + 3));
	free(buf);
	free(back);
	http_client_free(hc);
}

/*
 * The server hands handlers the digest of the body it verified; a
 * request signed from a known digest (a forwarded body) is accepted,
 * one signed from the digest of other bytes is refused before its
 * handler runs. Public paths verify nothing and have no digest.
 */
static void test_body_digest(void **state)
{
	static const char body[] = "forwarded chunk data";
	struct auth_digest d, wrong;
	struct http_client *hc = client(ka, NULL);
	struct http_result res;
	int before;

	(void)state;
	assert_int_equal(auth_body_digest(ka, body, strlen(body), &d), 0);
	assert_int_equal(auth_body_digest(ka, "other", 5, &wrong), 0);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/digest", body,
					     strlen(body), NULL, 64, &res), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, sizeof(d));
	assert_memory_equal(res.body, &d, sizeof(d));
	http_result_release(&res);
	assert_int_equal(http_client_request_digest(hc, "PUT", addr, "/digest",
						    NULL, body, strlen(body),
						    &d, NULL, 64, &res),
			 0);
	assert_int_equal(res.status, 200);
	assert_memory_equal(res.body, &d, sizeof(d));
	http_result_release(&res);
	before = get_runs();
	assert_int_equal(http_client_request_digest(hc, "PUT", addr, "/digest",
						    NULL, body, strlen(body),
						    &wrong, NULL, 64, &res),
			 0);
	assert_int_equal(res.status, 401);
	http_result_release(&res);
	assert_int_equal(get_runs(), before);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/public-digest",
					     body, strlen(body), NULL, 64,
					     &res), 0);
	assert_int_equal(res.status, 204);
	http_result_release(&res);
	http_client_free(hc);
}

/*
 * A large body is signed with a keyed digest; the server hands its
 * handler that digest, and a copy signed from it (a forwarded chunk
 * write) is accepted, while a keyed digest of the same body under a body
 * nonce of its own, or of other bytes, is refused before the handler.
 */
static void test_keyed_body_digest(void **state)
{
	size_t len = AUTH_KEYED_BODY_MIN * 3 + 17;
	char *body = malloc(len);
	struct http_client *hc = client(ka, NULL);
	struct http_result res;
	struct auth_digest d, other;
	int before;

	(void)state;
	assert_non_null(body);
	memset(body, 'k', len);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/digest", body,
					     len, NULL, 64, &res),
			 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, sizeof(d));
	memcpy(&d, res.body, sizeof(d));
	http_result_release(&res);
	assert_true(d.keyed);
	assert_int_equal(http_client_request_digest(hc, "PUT", addr, "/digest",
						    NULL, body, len, &d, NULL,
						    64, &res),
			 0);
	assert_int_equal(res.status, 200);
	assert_memory_equal(res.body, &d, sizeof(d));
	http_result_release(&res);

	before = get_runs();
	body[len / 2] = 'K';
	assert_int_equal(http_client_request_digest(hc, "PUT", addr, "/digest",
						    NULL, body, len, &d, NULL,
						    64, &res),
			 0);
	assert_int_equal(res.status, 401);
	http_result_release(&res);
	assert_int_equal(auth_body_digest(ka, body, len, &other), 0);
	body[len / 2] = 'k';
	assert_int_equal(http_client_request_digest(hc, "PUT", addr, "/digest",
						    NULL, body, len, &other,
						    NULL, 64, &res),
			 0);
	assert_int_equal(res.status, 401);
	http_result_release(&res);
	assert_int_equal(get_runs(), before);
	http_client_free(hc);
	free(body);
}

/* Signed with another cluster's secret: 401 "bad signature". */
static void test_wrong_key(void **state)
{
	struct http_client *hc = client(kb, NULL);
	struct http_result res;
	char msg[256];
	int before = get_runs();

	(void)state;
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL),
			 -EKEYREJECTED);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", "abc",
					     3, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 401);
	assert_string_equal(err_message(&res, msg, sizeof(msg)),
			    "bad signature or token");
	http_result_release(&res);
	assert_int_equal(get_runs(), before);
	http_client_free(hc);
}

/* Public paths need nothing; unknown paths still need a signature. */
static void test_public_and_unknown(void **state)
{
	struct http_client *plain = client(NULL, NULL);
	struct http_client *hc = client(ka, NULL);
	struct http_result res;

	(void)state;
	assert_int_equal(http_client_request(plain, "GET", addr, "/public",
					     NULL, 0, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "public page\n");
	http_result_release(&res);
	/* A public path takes any method's refusal without auth. */
	assert_int_equal(http_client_request(plain, "POST", addr, "/public",
					     "{}", 2, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 405);
	http_result_release(&res);
	/* Unknown paths: 401 without a signature, 404 with one. */
	assert_int_equal(http_client_request(plain, "GET", addr, "/nope",
					     NULL, 0, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 401);
	http_result_release(&res);
	assert_int_equal(http_client_request(hc, "GET", addr, "/nope", NULL, 0,
					     NULL, 4096, &res), 0);
	assert_int_equal(res.status, 404);
	http_result_release(&res);
	http_client_free(plain);
	http_client_free(hc);
}

/* Connect a raw socket to the test server. */
static int raw_connect(void)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)http_server_port(srv));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/*
 * Send one request on a fresh connection ("Connection: close") and read
 * the whole reply (NUL-terminated) into out.
 */
static void raw_request(const char *method, const char *target,
			const char *auth, const char *body, char *out,
			size_t cap)
{
	struct timeval tv = {.tv_sec = 5};
	int fd = raw_connect();
	size_t got = 0;
	ssize_t n;
	char *req;

	req = xasprintf("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			"%s%s%sContent-Length: %zu\r\n\r\n%s",
			method, target, auth != NULL ? AUTH_HEADER ": " : "",
			auth != NULL ? auth : "", auth != NULL ? "\r\n" : "",
			strlen(body), body);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
			 (ssize_t)strlen(req));
	out[0] = '\0';
	while (got + 1 < cap &&
	       (n = recv(fd, out + got, cap - 1 - got, 0)) > 0) {
		got += (size_t)n;
		out[got] = '\0';
	}
	close(fd);
	free(req);
}

/* Announce a 1 GB body without a signature; read the reply, send none. */
static void raw_huge_upload(char *out, size_t cap)
{
	static const char req[] = "PUT /echo HTTP/1.1\r\nHost: x\r\n"
				  "Content-Length: 1000000000\r\n\r\n";
	struct timeval tv = {.tv_sec = 5};
	int fd = raw_connect();
	size_t got = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL),
			 (ssize_t)(sizeof(req) - 1));
	out[0] = '\0';
	while (got + 1 < cap &&
	       (n = recv(fd, out + got, cap - 1 - got, 0)) > 0) {
		got += (size_t)n;
		out[got] = '\0';
	}
	close(fd);
}

/* The same signed request twice: the second is a replay. */
static void test_replay(void **state)
{
	char h[AUTH_HEADER_MAX], out[4096];

	(void)state;
	assert_int_equal(auth_sign(ka, "POST", "/json", "{\"a\":1}", 7,
				   time_now_ms(), h), 0);
	raw_request("POST", "/json", h, "{\"a\":1}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	assert_non_null(strstr(out, "\"seen\":true"));
	raw_request("POST", "/json", h, "{\"a\":1}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_non_null(strstr(out, "replayed request"));
}

/* What was signed is what must arrive: body, target, spelling, time. */
static void test_tampered(void **state)
{
	char h[AUTH_HEADER_MAX], out[4096];
	int before = get_runs();

	(void)state;
	assert_int_equal(auth_sign(ka, "POST", "/json", "{\"a\":1}", 7,
				   time_now_ms(), h), 0);
	raw_request("POST", "/json", h, "{\"a\":2}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	raw_request("POST", "/json?x=1", h, "{\"a\":1}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	/* "/%6Ason" decodes to "/json", but it is not what was signed. */
	raw_request("POST", "/%6Ason", h, "{\"a\":1}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	raw_request("PUT", "/json", h, "{\"a\":1}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 40"));
	/* Signed a minute and a half ago: refused before the body. */
	assert_int_equal(auth_sign(ka, "POST", "/json", "{}", 2,
				   time_now_ms() - 90000, h), 0);
	raw_request("POST", "/json", h, "{}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_non_null(strstr(out, "clock skew"));
	raw_request("POST", "/json", "v1 garbage", "{}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_non_null(strstr(out, "malformed"));
	/* A huge unsigned upload is answered before any of it is read. */
	raw_huge_upload(out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_int_equal(get_runs(), before);
	/* The untouched original still works (its nonce was never used). */
	assert_int_equal(auth_sign(ka, "POST", "/json", "{\"a\":1}", 7,
				   time_now_ms(), h), 0);
	raw_request("POST", "/json", h, "{\"a\":1}", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
}

/* Extra headers carry a chunk token; bad header lines are refused. */
static void test_token_header(void **state)
{
	struct http_client *hc = client(ka, NULL);
	char tok[AUTH_TOKEN_MAX], line[AUTH_TOKEN_MAX + 32];
	const char *hdrs[] = {line, NULL};
	const char *bad[] = {"X-DFS-Token: a\r\nX-Evil: 1", NULL};
	struct http_result res;
	char buf[64];
	size_t got;
	long status;
	char *err = NULL;

	(void)state;
	assert_int_equal(auth_token_make(ka, 77, AUTH_TOKEN_READ,
					 time_now_ms() + 60000, tok), 0);
	snprintf(line, sizeof(line), "%s: %s", AUTH_TOKEN_HEADER, tok);
	assert_int_equal(http_client_request_hdr(hc, "GET", addr,
						 "/token?handle=77", hdrs, NULL,
						 0, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 200);
	http_result_release(&res);
	assert_int_equal(http_client_request_hdr(hc, "GET", addr,
						 "/token?handle=78", hdrs, NULL,
						 0, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 403);
	http_result_release(&res);
	assert_int_equal(http_client_get_into_hdr(hc, addr, "/token?handle=77",
						  hdrs, buf, sizeof(buf), &got,
						  &status, &err), 0);
	assert_int_equal(status, 200);
	assert_null(err);
	assert_int_equal(http_client_get_into_hdr(hc, addr, "/token?handle=7",
						  NULL, buf, sizeof(buf), &got,
						  &status, &err), 0);
	assert_int_equal(status, 403);
	assert_non_null(strstr(err, "bad signature or token"));
	free(err);
	assert_int_equal(http_client_request_hdr(hc, "GET", addr, "/token",
						 bad, NULL, 0, NULL, 4096,
						 &res), -EINVAL);
	assert_int_equal(http_client_get_into_hdr(hc, addr, "/token", bad, buf,
						  sizeof(buf), &got, &status,
						  NULL), -EINVAL);
	http_client_free(hc);
}

/* Process-wide defaults reach http_client_new(). */
static void test_defaults(void **state)
{
	struct http_client_sec sec = {.auth = ka};
	struct http_client *hc;

	(void)state;
	http_client_set_defaults(&sec);
	hc = http_client_new(NULL);
	http_client_set_defaults(NULL);
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL), 0);
	http_client_free(hc);
	hc = http_client_new(NULL);
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL),
			 -EKEYREJECTED);
	http_client_free(hc);
}

/* Many threads sign and send at once: no false replay. */
static void *signed_thread(void *p)
{
	struct http_client *hc = p;
	json_t *req = json_pack("{s:i}", "n", 1);
	intptr_t ok = 0;
	int i;

	for (i = 0; i < 200; i++)
		ok += rpc_call(hc, addr, "/json", req, NULL, NULL) == 0;
	json_decref(req);
	return (void *)ok;
}

static void test_concurrent(void **state)
{
	struct http_client *hc = client(ka, NULL);
	pthread_t th[4];
	void *ok;
	int i, total = 0;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, signed_thread,
						hc), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], &ok);
		total += (int)(intptr_t)ok;
	}
	assert_int_equal(total, 800);
	http_client_free(hc);
}

/* Make a self-signed certificate for 127.0.0.1 and localhost. */
static void make_cert(const char *name)
{
	char *cmd = xasprintf(
		"openssl req -x509 -newkey ec -pkeyopt "
		"ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=%s "
		"-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
		"-keyout '%s/%s.key' -out '%s/%s.crt' 2>/dev/null",
		name, tmpdir, name, tmpdir, name);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* TLS end to end with auth; the wrong CA or plain HTTP fail. */
static void test_tls(void **state)
{
	struct http_server_opts o = {.listen = "127.0.0.1:0", .auth = ka};
	char *crt = xasprintf("%s/a.crt", tmpdir);
	char *key = xasprintf("%s/a.key", tmpdir);
	char *other = xasprintf("%s/b.crt", tmpdir);
	unsigned char *buf = malloc(MIB);
	struct http_client *hc, *bad, *plain;
	struct http_server *tsrv;
	struct http_result res;
	char taddr[64];
	size_t got;
	long status;

	(void)state;
	make_cert("a");
	make_cert("b");
	o.tls_cert_file = crt;
	o.tls_key_file = key;
	tsrv = http_server_new(&o, routes, NROUTES, NULL);
	assert_non_null(tsrv);
	snprintf(taddr, sizeof(taddr), "127.0.0.1:%u", http_server_port(tsrv));

	hc = client(ka, crt);
	assert_int_equal(rpc_call(hc, taddr, "/json", NULL, NULL, NULL), 0);
	assert_int_equal(http_client_get_into(hc, taddr, "/blob?len=1048576",
					      buf, MIB, &got, &status, NULL),
			 0);
	assert_int_equal(status, 200);
	assert_int_equal(got, MIB);
	assert_int_equal(http_client_request(hc, "PUT", taddr, "/echo", buf,
					     MIB, "application/octet-stream",
					     2 * MIB, &res), 0);
	assert_int_equal(res.status, 200);
	assert_memory_equal(res.body, buf, MIB);
	http_result_release(&res);
	/* "localhost" is in the certificate too. */
	snprintf(taddr, sizeof(taddr), "localhost:%u", http_server_port(tsrv));
	assert_int_equal(rpc_call(hc, taddr, "/json", NULL, NULL, NULL), 0);
	snprintf(taddr, sizeof(taddr), "127.0.0.1:%u", http_server_port(tsrv));

	/* A CA that did not sign the server's certificate. */
	bad = client(ka, other);
	assert_int_equal(rpc_call(bad, taddr, "/json", NULL, NULL, NULL),
			 -EIO);
	/* Plain HTTP to a TLS port gets no HTTP answer. */
	plain = client(ka, NULL);
	assert_true(rpc_call(plain, taddr, "/json", NULL, NULL, NULL) < 0);
	/* TLS without a signature is still refused. */
	http_client_free(hc);
	hc = client(NULL, crt);
	assert_int_equal(rpc_call(hc, taddr, "/json", NULL, NULL, NULL),
			 -EKEYREJECTED);

	http_client_free(hc);
	http_client_free(bad);
	http_client_free(plain);
	http_server_free(tsrv);
	free(crt);
	free(key);
	free(other);
	free(buf);
}

/* Bad TLS settings: the server does not start. */
static void test_tls_errors(void **state)
{
	struct http_server_opts o = {.listen = "127.0.0.1:0"};
	char *crt = xasprintf("%s/c.crt", tmpdir);
	char *key = xasprintf("%s/c.key", tmpdir);
	char *junk = xasprintf("%s/junk.pem", tmpdir);
	FILE *f;

	(void)state;
	make_cert("c");
	f = fopen(junk, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nnot base64\n", f);
	fclose(f);
	o.tls_cert_file = crt;
	assert_null(http_server_new(&o, routes, NROUTES, NULL));
	o.tls_cert_file = NULL;
	o.tls_key_file = key;
	assert_null(http_server_new(&o, routes, NROUTES, NULL));
	o.tls_cert_file = "/nonexistent/cert.pem";
	assert_null(http_server_new(&o, routes, NROUTES, NULL));
	o.tls_cert_file = junk;
	assert_null(http_server_new(&o, routes, NROUTES, NULL));
	o.tls_cert_file = crt;
	o.tls_key_file = junk;
	assert_null(http_server_new(&o, routes, NROUTES, NULL));
	/* A key of another certificate. */
	make_cert("d");
	free(key);
	key = xasprintf("%s/d.key", tmpdir);
	o.tls_key_file = key;
	assert_null(http_server_new(&o, routes, NROUTES, NULL));
	/* The right pair starts. */
	free(key);
	key = xasprintf("%s/c.key", tmpdir);
	o.tls_key_file = key;
	http_server_free(http_server_new(&o, routes, NROUTES, NULL));
	free(crt);
	free(key);
	free(junk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_body_digest),
		cmocka_unit_test(test_keyed_body_digest),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_public_and_unknown),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_token_header),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_tls_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
