/*
 * test_http.c - http_server and http_client against each other on
 * loopback: JSON and raw round trips, body limits, errors, keep-alive,
 * concurrency, and bad input sent over raw sockets. Every test runs
 * twice: against a thread per connection, then against an event loop
 * with worker threads (quick routes on the event thread, the others and
 * deferred ones on workers).
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <jansson.h>

#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "proto.h"
#include "wire.h"

#include "banned.h"

#define ECHO_MAX (2u * 1024 * 1024)
#define SMALL_MAX 1024u
#define MIB (1024u * 1024)

/* Peers seen by /peer, to count the connections a client opened. */
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static char peers[256][64];
static int npeers;

static struct http_server *srv;
static struct http_client *hc;
static char addr[64];

/* POST /json: echo the object with "seen": true added. */
static void h_json(struct http_request *req, void *arg)
{
	json_t *obj = http_request_json(req);

	(void)arg;
	if (obj == NULL)
		return;
	json_object_set_new(obj, "seen", json_true());
	http_reply_json(req, 200, obj);
}

/* PUT /echo and POST /small: echo the raw body. */
static void h_echo(struct http_request *req, void *arg)
{
	size_t len;
	const void *body = http_request_body(req, &len);
	void *copy = malloc(len ? len : 1);

	(void)arg;
	memcpy(copy, body, len);
	http_reply_buffer(req, 200, copy, len, "application/octet-stream");
}

/* GET /blob?len=N: N bytes of a known pattern. */
static void h_blob(struct http_request *req, void *arg)
{
	uint64_t len;
	unsigned char *buf;
	size_t i;

	(void)arg;
	if (http_request_query_u64(req, "len", 64 * MIB, &len) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "bad 'len'");
		return;
	}
	buf = malloc(len ? len : 1);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	http_reply_buffer(req, 200, buf, len, "application/octet-stream");
}

/* GET /err: a wire error with an extra field. */
static void h_err(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_error_extra(req, DFS_ERR_NOENT,
			       json_pack("{s:s}", "failed", "h:1"),
			       "no such thing '%s'", "x");
}

/* GET /noreply: forgets to answer (the server must answer 500). */
static void h_noreply(struct http_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

/* GET /twice: answers twice (the second is ignored). */
static void h_twice(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_text(req, 200, "text/plain", "first");
	http_reply_text(req, 500, "text/plain", "second");
}

/* GET /query?n=..&s=..: echoes parsed parameters and a header. */
static void h_query(struct http_request *req, void *arg)
{
	uint64_t max = 1000000, n = 0;
	int r;

	if (http_request_query(req, "max") != NULL &&
	    http_request_query_u64(req, "max", UINT64_MAX, &max) != 0)
		max = 0;
	r = http_request_query_u64(req, "n", max, &n);
	const char *s = http_request_query(req, "s");
	const char *hdr = http_request_header(req, "x-test");

	(void)arg;
	http_reply_json(req, 200,
			json_pack("{s:i, s:I, s:s?, s:s?, s:s, s:s}", "r", r,
				  "n", (json_int_t)n, "s", s, "hdr", hdr,
				  "method", http_request_method(req), "path",
				  http_request_path(req)));
}

/* GET /peer: records the peer address. */
static void h_peer(struct http_request *req, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&peers_lock);
	if (npeers < 256)
		snprintf(peers[npeers++], sizeof(peers[0]), "%s",
			 http_request_peer(req));
	pthread_mutex_unlock(&peers_lock);
	http_reply_json(req, 200, NULL);
}

/* GET /slow: sleeps longer than the short client timeout. */
static void h_slow(struct http_request *req, void *arg)
{
	(void)arg;
	usleep(1500 * 1000);
	http_reply_json(req, 200, NULL);
}

/* GET /defer: a quick route that always asks to wait; answers whether
 * it then could. */
static void h_defer(struct http_request *req, void *arg)
{
	(void)arg;
	if (!http_request_can_wait(req)) {
		http_request_defer(req);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:b}", "waited", 1));
}

static const struct http_route routes[] = {
	{ "POST", "/json", h_json, 1 * MIB, HTTP_ROUTE_QUICK },
	{ "PUT", "/echo", h_echo, ECHO_MAX, 0 },
	{ "POST", "/small", h_echo, SMALL_MAX, HTTP_ROUTE_QUICK },
	{ "GET", "/blob", h_blob, 0, 0 },
	{ "GET", "/err", h_err, 0, HTTP_ROUTE_QUICK },
	{ "GET", "/noreply", h_noreply, 0, HTTP_ROUTE_QUICK },
	{ "GET", "/twice", h_twice, 0, HTTP_ROUTE_QUICK },
	{ "GET", "/query", h_query, 0, 0 },
	{ "GET", "/peer", h_peer, 0, HTTP_ROUTE_QUICK },
	{ "GET", "/slow", h_slow, 0, 0 },
	{ "GET", "/defer", h_defer, 0, HTTP_ROUTE_QUICK },
};

/* Event threads of the server under test (0: a thread per connection). */
static unsigned event_threads;

static int setup(void **state)
{
	struct http_server_opts opts = { .listen = "127.0.0.1:0",
					 .idle_timeout_s = 10,
					 .event_threads = event_threads };

	(void)state;
	log_init("test_http", LOG_LEVEL_WARN);
	srv = http_server_new(&opts, routes, sizeof(routes) / sizeof(routes[0]),
			      NULL);
	if (srv == NULL || http_server_port(srv) == 0)
		return -1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(srv));
	hc = http_client_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	http_client_free(hc);
	http_server_free(srv);
	return 0;
}

/* A JSON object through rpc_call() and back. */
static void test_json_roundtrip(void **state)
{
	json_t *req = json_pack("{s:i, s:s}", "a", 42, "b", "hello");
	json_t *reply = NULL;
	int ws = -2;

	(void)state;
	assert_int_equal(rpc_call(hc, addr, "/json", req, &reply, &ws), 0);
	assert_int_equal(ws, DFS_OK);
	assert_non_null(reply);
	assert_int_equal(json_integer_value(json_object_get(reply, "a")), 42);
	assert_string_equal(json_string_value(json_object_get(reply, "b")),
			    "hello");
	assert_true(json_is_true(json_object_get(reply, "seen")));
	json_decref(reply);
	json_decref(req);

	/* A NULL request sends {}. */
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, &reply, NULL), 0);
	assert_int_equal(json_object_size(reply), 1);
	json_decref(reply);
}

/* Wire errors become negative errnos; extra fields are merged. */
static void test_rpc_errors(void **state)
{
	struct http_result res;
	json_t *reply = (json_t *)1, *obj = NULL;
	int ws = -2;

	(void)state;
	assert_int_equal(rpc_get(hc, addr, "/err", &reply, &ws), -ENOENT);
	assert_int_equal(ws, DFS_ERR_NOENT);
	assert_null(reply);

	assert_int_equal(http_client_request(hc, "GET", addr, "/err", NULL, 0,
					     NULL, 4096, &res), 0);
	assert_int_equal(res.status, 404);
	assert_int_equal(proto_error_status(res.body, res.len, &obj),
			 DFS_ERR_NOENT);
	assert_string_equal(json_string_value(json_object_get(obj, "error")),
			    "NOENT");
	assert_string_equal(json_string_value(json_object_get(obj, "failed")),
			    "h:1");
	assert_non_null(strstr(json_string_value(
				       json_object_get(obj, "message")),
			       "no such thing 'x'"));
	json_decref(obj);
	http_result_release(&res);

	/* A 2xx reply that is not a JSON object is a protocol error. */
	assert_int_equal(rpc_get(hc, addr, "/twice", &reply, &ws), -EPROTO);
	assert_null(reply);

	/* Malformed JSON body: 400 INVAL from http_request_json(). */
	assert_int_equal(http_client_request(hc, "POST", addr, "/json",
					     "{\"a\":", 5, NULL, 4096, &res),
			 0);
	assert_int_equal(res.status, 400);
	assert_int_equal(proto_error_status(res.body, res.len, NULL),
			 DFS_ERR_INVAL);
	http_result_release(&res);
	/* A JSON array is not an object either. */
	assert_int_equal(http_client_request(hc, "POST", addr, "/json", "[1]",
					     3, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 400);
	http_result_release(&res);
}

/* Fill a buffer with a pattern that depends on "seed". */
static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 31 + seed) ^ (i >> 9));
}

/* A 1 MiB body goes up and comes back unchanged. */
static void test_echo_1mib(void **state)
{
	struct http_result res;
	unsigned char *buf = malloc(MIB);

	(void)state;
	fill(buf, MIB, 5);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", buf,
					     MIB, "application/octet-stream",
					     2 * MIB, &res), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, MIB);
	assert_memory_equal(res.body, buf, MIB);
	http_result_release(&res);

	/* Exactly the route's maximum is accepted. */
	buf = realloc(buf, ECHO_MAX);
	fill(buf, ECHO_MAX, 9);
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", buf,
					     ECHO_MAX, NULL, ECHO_MAX, &res),
			 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, ECHO_MAX);
	assert_memory_equal(res.body, buf, ECHO_MAX);
	http_result_release(&res);

	/* An empty body is fine too. */
	assert_int_equal(http_client_request(hc, "PUT", addr, "/echo", "", 0,
					     NULL, 16, &res), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, 0);
	http_result_release(&res);
	free(buf);
}

/* Bodies over max_body get 413 TOOBIG and the connection stays usable. */
static void test_oversize(void **state)
{
	struct http_result res;
	size_t big = 17 * MIB + 2 * SMALL_MAX;
	char *buf = calloc(1, big);
	int r;

	(void)state;
	assert_int_equal(http_client_request(hc, "POST", addr, "/small", buf,
					     SMALL_MAX + 1, NULL, 4096, &res),
			 0);
	assert_int_equal(res.status, 413);
	assert_int_equal(proto_error_status(res.body, res.len, NULL),
			 DFS_ERR_TOOBIG);
	http_result_release(&res);

	/* Several MiB over: still drained and answered. */
	assert_int_equal(http_client_request(hc, "POST", addr, "/small", buf,
					     4 * MIB, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 413);
	http_result_release(&res);

	assert_int_equal(http_client_request(hc, "POST", addr, "/small", buf,
					     SMALL_MAX, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, SMALL_MAX);
	http_result_release(&res);

	/* Far over: the server may just hang up; it must survive. */
	r = http_client_request(hc, "POST", addr, "/small", buf, big, NULL,
				4096, &res);
	if (r == 0) {
		assert_int_equal(res.status, 413);
		http_result_release(&res);
	} else {
		assert_int_equal(r, -EIO);
	}
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL), 0);

	/* The client refuses responses over max_resp. */
	assert_int_equal(http_client_request(hc, "GET", addr,
					     "/blob?len=100000", NULL, 0, NULL,
					     99999, &res), -EMSGSIZE);
	assert_null(res.body);
	free(buf);
}

/* Unknown paths are 404 NOTFOUND, wrong methods 405. */
static void test_not_found(void **state)
{
	struct http_result res;
	int ws;

	(void)state;
	assert_int_equal(http_client_request(hc, "GET", addr, "/nope", NULL, 0,
					     NULL, 4096, &res), 0);
	assert_int_equal(res.status, 404);
	assert_int_equal(proto_error_status(res.body, res.len, NULL),
			 DFS_ERR_NOTFOUND);
	http_result_release(&res);

	assert_int_equal(rpc_call(hc, addr, "/nope", NULL, NULL, &ws),
			 -wire_status_to_errno(DFS_ERR_NOTFOUND));
	assert_int_equal(ws, DFS_ERR_NOTFOUND);

	/* A body sent to an unknown path is dropped, not kept. */
	assert_int_equal(http_client_request(hc, "PUT", addr, "/nope?x=1",
					     "abc", 3, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 404);
	http_result_release(&res);

	assert_int_equal(http_client_request(hc, "GET", addr, "/json", NULL, 0,
					     NULL, 4096, &res), 0);
	assert_int_equal(res.status, 405);
	http_result_release(&res);
	assert_int_equal(http_client_request(hc, "POST", addr, "/blob", "x", 1,
					     NULL, 4096, &res), 0);
	assert_int_equal(res.status, 405);
	http_result_release(&res);
}

/* A handler that does not answer gets 500; a second answer is ignored. */
static void test_handler_replies(void **state)
{
	struct http_result res;

	(void)state;
	assert_int_equal(http_client_request(hc, "GET", addr, "/noreply", NULL,
					     0, NULL, 4096, &res), 0);
	assert_int_equal(res.status, 500);
	assert_int_equal(proto_error_status(res.body, res.len, NULL),
			 DFS_ERR_IO);
	http_result_release(&res);

	assert_int_equal(http_client_request(hc, "GET", addr, "/twice", NULL, 0,
					     NULL, 4096, &res), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "first");
	http_result_release(&res);
}

/* Query parameters, headers, method and path reach the handler. */
static void test_query(void **state)
{
	static const struct {
		const char *path;
		int r;
		json_int_t n;
	} cases[] = {
		{"/query?n=123&s=a%2Cb", 0, 123},
		{"/query?n=1000000", 0, 1000000},
		{"/query?n=1000001", -EINVAL, 0},
		{"/query?n=-1", -EINVAL, 0},
		{"/query?n=12a", -EINVAL, 0},
		{"/query?n=", -EINVAL, 0},
		{"/query?n=99999999999999999999999", -EINVAL, 0},
		{"/query", -EINVAL, 0},
		{"/query?max=5&n=5", 0, 5},
		{"/query?max=5&n=7", -EINVAL, 0},
		{"/query?max=5&n=10", -EINVAL, 0},
		{"/query?max=0&n=0", 0, 0},
		{"/query?max=18446744073709551615&n=9223372036854775807", 0,
		 INT64_MAX},
		{"/query?max=18446744073709551616&n=1", -EINVAL, 0},
		{"/query?n=%2B5", -EINVAL, 0},
		{"/query?n=%205", -EINVAL, 0},
	};
	json_t *reply;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rpc_get(hc, addr, cases[i].path, &reply, NULL),
				 0);
		assert_int_equal(json_integer_value(json_object_get(reply, "r")),
				 cases[i].r);
		assert_int_equal(json_integer_value(json_object_get(reply, "n")),
				 cases[i].n);
		assert_string_equal(json_string_value(json_object_get(
					    reply, "method")), "GET");
		assert_string_equal(json_string_value(json_object_get(
					    reply, "path")), "/query");
		if (i == 0)
			assert_string_equal(json_string_value(json_object_get(
						    reply, "s")), "a,b");
		json_decref(reply);
	}
}

/* http_client_get_into() writes into the caller's buffer. */
static void test_get_into(void **state)
{
	size_t cap = 300000, got = 0, i;
	unsigned char *buf = malloc(cap);
	char *err = NULL;
	long status = 0;

	(void)state;
	assert_int_equal(http_client_get_into(hc, addr, "/blob?len=300000", buf,
					      cap, &got, &status, &err), 0);
	assert_int_equal(status, 200);
	assert_int_equal(got, 300000);
	assert_null(err);
	for (i = 0; i < got; i++)
		if (buf[i] != (unsigned char)(i * 7 + 3))
			fail_msg("byte %zu differs", i);

	/* Shorter body than the buffer. */
	assert_int_equal(http_client_get_into(hc, addr, "/blob?len=10", buf,
					      cap, &got, &status, &err), 0);
	assert_int_equal(got, 10);

	/* Longer body than the buffer. */
	assert_int_equal(http_client_get_into(hc, addr, "/blob?len=300001",
					      buf, cap, &got, &status, &err),
			 -EMSGSIZE);

	/* Error status: the body comes back in err. */
	assert_int_equal(http_client_get_into(hc, addr, "/err", buf, cap, &got,
					      &status, &err), 0);
	assert_int_equal(status, 404);
	assert_int_equal(got, 0);
	assert_non_null(err);
	assert_int_equal(proto_error_status(err, strlen(err), NULL),
			 DFS_ERR_NOENT);
	free(err);
	/* err_body may be NULL. */
	assert_int_equal(http_client_get_into(hc, addr, "/err", buf, cap, &got,
					      &status, NULL), 0);
	assert_int_equal(status, 404);
	free(buf);
}

/* 100 mixed calls, bodies included, reuse one connection. */
static void test_keepalive(void **state)
{
	struct http_result res;
	char body[8192];
	int i;

	(void)state;
	pthread_mutex_lock(&peers_lock);
	npeers = 0;
	pthread_mutex_unlock(&peers_lock);
	memset(body, 'k', sizeof(body));
	for (i = 0; i < 100; i++) {
		assert_int_equal(rpc_get(hc, addr, "/peer", NULL, NULL), 0);
		assert_int_equal(http_client_request(hc, "PUT", addr, "/echo",
						     body, (size_t)i * 80, NULL,
						     sizeof(body), &res), 0);
		assert_int_equal(res.len, (size_t)i * 80);
		http_result_release(&res);
		assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL),
				 0);
	}
	assert_int_equal(npeers, 100);
	for (i = 1; i < npeers; i++)
		assert_string_equal(peers[i], peers[0]);
}

/* A kept-alive connection the server closed is replaced without the
 * caller noticing: closed for idleness (found before the call), and
 * closed by a server that restarted on the same port a moment ago (found
 * by the call itself, which goes again on a new connection). */
static void test_closed_keepalive(void **state)
{
	struct http_server_opts so = {.listen = "127.0.0.1:0",
				      .idle_timeout_s = 1};
	struct http_client *c = http_client_new(NULL);
	struct http_server *s;
	char a[64];
	int i;

	(void)state;
	s = http_server_new(&so, routes, sizeof(routes) / sizeof(routes[0]),
			    NULL);
	assert_non_null(s);
	snprintf(a, sizeof(a), "127.0.0.1:%u", http_server_port(s));
	so.listen = a;
	pthread_mutex_lock(&peers_lock);
	npeers = 0;
	pthread_mutex_unlock(&peers_lock);
	assert_int_equal(rpc_get(c, a, "/peer", NULL, NULL), 0);
	usleep(2500 * 1000);
	assert_int_equal(rpc_get(c, a, "/peer", NULL, NULL), 0);
	assert_int_equal(npeers, 2);
	assert_string_not_equal(peers[0], peers[1]);
	for (i = 0; i < 3; i++) {
		http_server_free(s);
		s = http_server_new(&so, routes,
				    sizeof(routes) / sizeof(routes[0]), NULL);
		assert_non_null(s);
		assert_int_equal(rpc_call(c, a, "/json", NULL, NULL, NULL), 0);
	}
	http_server_free(s);
	http_client_free(c);
}

/* Calls in two halves: several sent before any is received, received
 * in another order, each with its own reply; a send to a dead address
 * reports at the receive. */
static void test_send_receive(void **state)
{
	struct http_call *calls[4];
	struct http_result res;
	char bodies[4][3000], dead[64];
	struct http_server_opts so = {.listen = "127.0.0.1:0"};
	struct http_server *tmp;
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		memset(bodies[i], 'a' + i, sizeof(bodies[i]));
		calls[i] = http_client_send(hc, "PUT", addr, "/echo", NULL,
					    bodies[i], (size_t)(1000 * i), NULL,
					    "application/octet-stream");
		assert_non_null(calls[i]);
	}
	for (i = 3; i >= 0; i--) {
		assert_int_equal(http_client_receive(calls[i], 4096, &res), 0);
		assert_int_equal(res.status, 200);
		assert_int_equal(res.len, (size_t)(1000 * i));
		if (i > 0)
			assert_memory_equal(res.body, bodies[i], res.len);
		http_result_release(&res);
	}
	tmp = http_server_new(&so, routes, 1, NULL);
	assert_non_null(tmp);
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", http_server_port(tmp));
	http_server_free(tmp);
	calls[0] = http_client_send(hc, "POST", dead, "/json", NULL, "{}", 2,
				    NULL, NULL);
	assert_int_equal(http_client_receive(calls[0], 4096, &res),
			 -ECONNREFUSED);
	assert_null(res.body);
}

/* A server of canned replies: each connection gets the next one. */
struct canned {
	int fd;                        /* listening socket */
	const char *const *replies;    /* NULL-terminated */
	char addr[64];
	pthread_t th;
};

/* Answer each connection's first request with the next reply, then
 * close it (so a reply with no length ends there). */
static void *canned_serve(void *arg)
{
	struct canned *cs = arg;
	char buf[4096];
	size_t n;
	ssize_t k;
	int fd, i;

	for (i = 0; cs->replies[i] != NULL; i++) {
		if ((fd = accept(cs->fd, NULL, NULL)) < 0)
			return NULL;
		n = 0;
		while (n < sizeof(buf) - 1 &&
		       (k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0) {
			n += (size_t)k;
			buf[n] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		assert_true(send(fd, cs->replies[i], strlen(cs->replies[i]),
				 MSG_NOSIGNAL) > 0);
		shutdown(fd, SHUT_WR);
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void canned_start(struct canned *cs, const char *const *replies)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	cs->replies = replies;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cs->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cs->fd >= 0);
	assert_int_equal(bind(cs->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(cs->fd, 8), 0);
	assert_int_equal(getsockname(cs->fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(cs->addr, sizeof(cs->addr), "127.0.0.1:%u",
		 ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&cs->th, NULL, canned_serve, cs), 0);
}

/* The framings of a reply other than a plain Content-Length: chunked,
 * after an interim 100, up to the end of the connection, none (204);
 * a reply that is not HTTP fails with EIO. Each reply's connection is
 * closed after it, so every call opens a new one. */
static void test_reply_framing(void **state)
{
	static const char *const replies[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		NULL};
	static const struct {
		int rc;
		long status;
		const char *body;
	} want[] = {
		{0, 200, "hello, world"}, {0, 201, "abc"},
		{0, 200, "to the end"},   {0, 204, ""},
		{-EIO, 0, NULL},          {-EIO, 0, NULL},
	};
	struct http_client *c = http_client_new(NULL);
	struct http_result res;
	struct canned cs;
	size_t i;

	(void)state;
	canned_start(&cs, replies);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&res, 0, sizeof(res));
		assert_int_equal(http_client_request(c, "GET", cs.addr, "/x",
						     NULL, 0, NULL, 4096,
						     &res),
				 want[i].rc);
		if (want[i].rc != 0)
			continue;
		assert_int_equal(res.status, want[i].status);
		assert_int_equal(res.len, strlen(want[i].body));
		if (res.len > 0)
			assert_memory_equal(res.body, want[i].body, res.len);
		http_result_release(&res);
	}
	pthread_join(cs.th, NULL);
	close(cs.fd);
	http_client_free(c);
}

/* Worker of test_concurrent: its own pattern, many calls. */
static void *concurrent_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	size_t len = 64 * 1024 + seed * 1000;
	unsigned char *buf = malloc(len);
	struct http_result res;
	long bad = 0;
	json_t *req, *reply;
	int i;

	fill(buf, len, seed);
	for (i = 0; i < 50; i++) {
		if (http_client_request(hc, "PUT", addr, "/echo", buf, len,
					NULL, len, &res) != 0 ||
		    res.status != 200 || res.len != len ||
		    memcmp(res.body, buf, len) != 0)
			bad++;
		http_result_release(&res);
		req = json_pack("{s:i}", "i", i);
		if (rpc_call(hc, addr, "/json", req, &reply, NULL) != 0 ||
		    json_integer_value(json_object_get(reply, "i")) != i)
			bad++;
		json_decref(reply);
		json_decref(req);
	}
	free(buf);
	return (void *)bad;
}

/* Many threads share one client and one server. */
static void test_concurrent(void **state)
{
	pthread_t th[16];
	void *bad;
	int i;

	(void)state;
	for (i = 0; i < 16; i++)
		assert_int_equal(pthread_create(&th[i], NULL, concurrent_worker,
						(void *)(uintptr_t)i), 0);
	for (i = 0; i < 16; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((uintptr_t)bad, 0);
	}
}

struct slow_call {
	int r;
	pthread_t tid;
};

static void *slow_caller(void *arg)
{
	struct slow_call *sc = arg;
	struct http_client *own = http_client_new(NULL);

	sc->r = rpc_get(own, addr, "/slow", NULL, NULL);
	http_client_free(own);
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A handler that waits (1.5 s) holds up no other request, and a quick
 * handler that defers is answered from where it may wait. */
static void test_waiting_handler(void **state)
{
	struct slow_call sc = { .r = -1 };
	json_t *reply = NULL;
	int64_t t0;
	int i;

	(void)state;
	assert_int_equal(pthread_create(&sc.tid, NULL, slow_caller, &sc), 0);
	usleep(100 * 1000);
	t0 = now_ms();
	for (i = 0; i < 50; i++)
		assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL),
				 0);
	assert_int_equal(rpc_get(hc, addr, "/defer", &reply, NULL), 0);
	assert_true(json_is_true(json_object_get(reply, "waited")));
	json_decref(reply);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(pthread_join(sc.tid, NULL), 0);
	assert_int_equal(sc.r, 0);
}

/* An event-loop server freed while a handler waits lets it answer
 * first. (With a thread per connection, libmicrohttpd shuts the socket
 * down first: the peer gets a transport error, and the free still waits
 * for the handler.) */
static void test_free_while_waiting(void **state)
{
	struct http_server_opts opts = { .listen = "127.0.0.1:0",
					 .event_threads = event_threads };
	struct http_server *tmp;
	struct slow_call sc = { .r = -1 };
	char saved[sizeof(addr)];

	(void)state;
	tmp = http_server_new(&opts, routes, sizeof(routes) / sizeof(routes[0]),
			      NULL);
	assert_non_null(tmp);
	memcpy(saved, addr, sizeof(addr));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(tmp));
	assert_int_equal(pthread_create(&sc.tid, NULL, slow_caller, &sc), 0);
	usleep(300 * 1000);
	http_server_free(tmp);
	assert_int_equal(pthread_join(sc.tid, NULL), 0);
	memcpy(addr, saved, sizeof(addr));
	if (event_threads > 0)
		assert_int_equal(sc.r, 0);
}

/* Transport errors: refused connection, timeout. */
static void test_transport_errors(void **state)
{
	struct http_client_opts o = {.timeout_ms = 300};
	struct http_client *fast = http_client_new(&o);
	struct http_server_opts so = {.listen = "127.0.0.1:0"};
	struct http_server *tmp;
	char dead[64];
	int ws = 0;

	(void)state;
	tmp = http_server_new(&so, routes, 1, NULL);
	assert_non_null(tmp);
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", http_server_port(tmp));
	http_server_free(tmp);
	assert_int_equal(rpc_call(hc, dead, "/json", NULL, NULL, &ws),
			 -ECONNREFUSED);
	assert_int_equal(ws, -1);
	assert_int_equal(rpc_get(fast, addr, "/slow", NULL, NULL), -ETIMEDOUT);
	http_client_free(fast);
}

/* Listening on a port in use or a bad address fails cleanly. */
static void test_listen_errors(void **state)
{
	struct http_server_opts so = {.listen = addr};

	(void)state;
	assert_null(http_server_new(&so, routes, 1, NULL));
	so.listen = "nonsense";
	assert_null(http_server_new(&so, routes, 1, NULL));
	so.listen = "127.0.0.1:notaport";
	assert_null(http_server_new(&so, routes, 1, NULL));
	so.listen = "256.1.1.1:0";
	assert_null(http_server_new(&so, routes, 1, NULL));
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
 * Send "req" on a fresh connection and read until the peer closes or
 * "until" appears; returns the bytes read (NUL-terminated).
 */
static size_t raw_exchange(const char *req, size_t len, const char *until,
			   char *out, size_t cap)
{
	struct timeval tv = {.tv_sec = 5};
	int fd = raw_connect();
	size_t got = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (len > 0)
		assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	out[0] = '\0';
	while (got + 1 < cap &&
	       (n = recv(fd, out + got, cap - 1 - got, 0)) > 0) {
		got += (size_t)n;
		out[got] = '\0';
		if (until != NULL && strstr(out, until) != NULL)
			break;
	}
	close(fd);
	return got;
}

/* Garbage, truncated and chunked requests never hurt the server. */
static void test_bad_input(void **state)
{
	static const char chunked[] =
		"PUT /echo HTTP/1.1\r\nHost: x\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	static const char truncated[] =
		"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
		"only a few bytes";
	static const char huge_cl[] =
		"PUT /echo HTTP/1.1\r\nHost: x\r\n"
		"Content-Length: 99999999999999999999\r\n\r\n";
	static const char neg_cl[] =
		"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n";
	static const char garbage[] = "\x01\x02 nonsense \xff\r\n\r\n";
	static const char huge_body[] =
		"POST /small HTTP/1.1\r\nHost: x\r\n"
		"Content-Length: 100000000\r\n\r\n";
	static const char get_body[] =
		"GET /peer HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
	char out[8192];

	(void)state;
	raw_exchange(chunked, sizeof(chunked) - 1, "hello world", out,
		     sizeof(out));
	assert_non_null(strstr(out, "200 OK"));
	assert_non_null(strstr(out, "hello world"));

	/* The peer stops half way and closes its side. */
	{
		int fd = raw_connect();

		assert_true(send(fd, truncated, sizeof(truncated) - 1,
				 MSG_NOSIGNAL) > 0);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	raw_exchange(huge_cl, sizeof(huge_cl) - 1, NULL, out, sizeof(out));
	raw_exchange(neg_cl, sizeof(neg_cl) - 1, NULL, out, sizeof(out));
	raw_exchange(garbage, sizeof(garbage) - 1, NULL, out, sizeof(out));
	/* A body announced far over the limit is refused before it comes. */
	raw_exchange(huge_body, sizeof(huge_body) - 1, "TOOBIG", out,
		     sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 413"));
	/* A body on a route that takes none is over its limit of 0. */
	raw_exchange(get_body, sizeof(get_body) - 1, "TOOBIG", out,
		     sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 413"));
	assert_int_equal(rpc_call(hc, addr, "/json", NULL, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_rpc_errors),
		cmocka_unit_test(test_echo_1mib),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_handler_replies),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_get_into),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_closed_keepalive),
		cmocka_unit_test(test_reply_framing),
		cmocka_unit_test(test_send_receive),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_waiting_handler),
		cmocka_unit_test(test_free_while_waiting),
		cmocka_unit_test(test_transport_errors),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_bad_input),
	};

	int failed;

	failed = cmocka_run_group_tests_name("thread per connection", tests,
					     setup, teardown);
	event_threads = 1;
	failed += cmocka_run_group_tests_name("event loop", tests, setup,
					      teardown);
	return failed;
}
