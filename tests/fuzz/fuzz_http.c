/*
 * fuzz_http.c - libFuzzer harness for the HTTP server every daemon
 * embeds: request parsing (libmicrohttpd), routing, the signature check
 * (X-DFS-Auth before and after the body), body limits, query and JSON
 * accessors.
 *
 * Two servers run in the fuzzer's process with request authentication
 * on, one public path and a few routes whose handlers read everything a
 * real handler reads: one with a thread per connection, one with an
 * event loop (as masterd's), where some routes run on the event thread,
 * one on a worker, and one hands some requests over to a worker
 * (http_request_defer()). Every input goes to both. Inputs come in two
 * kinds, chosen by the first byte:
 *  - raw (even): the rest goes as is down a fresh connection, so any
 *    bytes at all meet the parser and the router;
 *  - signed (odd): the rest is "METHOD TARGET\n" then the body; the
 *    harness signs it with the cluster key and sends it with the HTTP
 *    client, so routing, limits and handlers get past authentication.
 * The server must keep answering its public path; a signed request for a
 * route must never get 401.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "auth.h"
#include "fuzz_net.h"
#include "http_client.h"
#include "http_server.h"
#include "proto.h"
#include "wire.h"

#include "banned.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server with a thread per connection, then the event loop. */
#define FUZZ_SERVERS 2

static struct http_server *fuzz_srv[FUZZ_SERVERS];
static struct http_client *fuzz_plain, *fuzz_signed;
static struct auth_key *fuzz_key;
static char fuzz_addr[FUZZ_SERVERS][64];

/* Read what real handlers read: query numbers, headers, the peer. */
static void fuzz_query_handler(struct http_request *req, void *arg)
{
	uint64_t a = 0, b = 0;
	const char *tok = http_request_header(req, AUTH_TOKEN_HEADER);
	int r;

	(void)arg;
	http_request_peer(req);
	http_request_query(req, "chain");
	if (http_request_query_u64(req, "handle", INT64_MAX, &a) != 0 ||
	    http_request_query_u64(req, "offset", 1 << 20, &b) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "bad query");
		return;
	}
	r = auth_token_check(fuzz_key, tok, a, AUTH_TOKEN_READ, 0);
	http_reply_json(req, 200, json_pack("{s:I, s:I, s:i}", "a",
					    (json_int_t)a, "b", (json_int_t)b,
					    "token", r));
}

static void fuzz_json_handler(struct http_request *req, void *arg)
{
	struct dfs_chunk ch;
	const char *name;
	json_t *body;

	(void)arg;
	if ((body = http_request_json(req)) == NULL)
		return;
	proto_get_name(body, "name", &name);
	proto_chunk_from_json(json_object_get(body, "chunk"), &ch);
	http_reply_json(req, 200, body);
}

static void fuzz_data_handler(struct http_request *req, void *arg)
{
	size_t len;
	const void *p = http_request_body(req, &len);
	char *copy = malloc(len + 1);

	(void)arg;
	/* On the event loop, a body starting with an odd byte takes the
	 * path of a handler that would have to wait. */
	if (!http_request_can_wait(req) && len > 0 &&
	    (*(const unsigned char *)p & 1)) {
		free(copy);
		http_request_defer(req);
		return;
	}
	if (copy == NULL) {
		http_reply_error(req, DFS_ERR_AGAIN, "no memory");
		return;
	}
	memcpy(copy, p, len);
	http_reply_buffer(req, 200, copy, len, "application/octet-stream");
}

static void fuzz_health(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_text(req, 200, "text/plain", "ok\n");
}

static const struct http_route fuzz_routes[] = {
	{ "GET", "/q", fuzz_query_handler, 0, HTTP_ROUTE_QUICK },
	{ "POST", "/json", fuzz_json_handler, 4096, 0 },
	{ "PUT", "/data", fuzz_data_handler, 65536, HTTP_ROUTE_QUICK },
	{ "GET", "/health", fuzz_health, 0, HTTP_ROUTE_QUICK },
};

static const char *const fuzz_public[] = { "/health", NULL };

/* Start server i (0: a thread per connection, 1: an event loop). */
static void fuzz_start(int i)
{
	static char listen[FUZZ_SERVERS][64];
	struct http_server_opts so = { 0 };

	snprintf(listen[i], sizeof(listen[i]), "127.0.0.1:%u",
		 fuzz_free_port());
	snprintf(fuzz_addr[i], sizeof(fuzz_addr[i]), "%s", listen[i]);
	so.listen = listen[i];
	so.idle_timeout_s = 2;
	so.event_threads = (unsigned)i;
	so.auth = fuzz_key;
	so.public_paths = fuzz_public;
	fuzz_srv[i] = http_server_new(
		&so, fuzz_routes, sizeof(fuzz_routes) / sizeof(fuzz_routes[0]),
		NULL);
	if (fuzz_srv[i] == NULL)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_client_sec sec = { 0 };
	struct http_client_opts co = { 1000, 5000 };

	(void)argc;
	(void)argv;
	setenv("DFS_LOG_LEVEL", "error", 1);
	fuzz_key = auth_key_from_secret("fuzzing secret of 32 bytes or more",
					34);
	for (int i = 0; i < FUZZ_SERVERS; i++)
		fuzz_start(i);
	fuzz_plain = http_client_new_sec(&co, &sec);
	sec.auth = fuzz_key;
	fuzz_signed = http_client_new_sec(&co, &sec);
	return 0;
}

/* A signed request "METHOD TARGET\nbody" through the client, to
 * server i. */
static void fuzz_signed_request(int i, const uint8_t *data, size_t size)
{
	struct http_result res = { 0, NULL, 0 };
	const uint8_t *nl = memchr(data, '\n', size), *sp;
	char method[16], *target;
	size_t mlen;
	int r;

	if (nl == NULL || (sp = memchr(data, ' ', (size_t)(nl - data))) ==
				  NULL)
		return;
	mlen = (size_t)(sp - data);
	if (mlen == 0 || mlen >= sizeof(method))
		return;
	memcpy(method, data, mlen);
	method[mlen] = '\0';
	if (strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != mlen)
		return;
	target = fuzz_query(sp + 1, (size_t)(nl - sp - 1));
	r = -EINVAL;
	if (target[0] == '/')
		r = http_client_request(fuzz_signed, method, fuzz_addr[i],
					target, nl + 1,
					(size_t)(data + size - nl - 1), NULL,
					1 << 20, &res);
	/* A request left unanswered (a handler that never replied, a
	 * deferred one never resumed) hangs until the client gives up. */
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "signed %s '%s' to server %d: no answer\n",
			method, target, i);
		abort();
	}
	if (r == 0 && res.status == 401) {
		fprintf(stderr, "signed %s '%s' refused: %.*s\n", method,
			target, (int)res.len, res.body ? res.body : "");
		abort();
	}
	http_result_release(&res);
	free(target);
}

/* Send one input to server i; abort if it stops answering. */
static void fuzz_one(int i, const uint8_t *data, size_t size)
{
	struct http_result res = { 0, NULL, 0 };

	if (data[0] & 1)
		fuzz_signed_request(i, data + 1, size - 1);
	else
		fuzz_raw_exchange(http_server_port(fuzz_srv[i]), data + 1,
				  size - 1, 200);
	if (http_client_request(fuzz_plain, "GET", fuzz_addr[i], "/health",
				NULL, 0, NULL, 4096, &res) != 0 ||
	    res.status != 200) {
		fprintf(stderr, "server %d stopped answering\n", i);
		abort();
	}
	http_result_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	for (int i = 0; i < FUZZ_SERVERS; i++)
		fuzz_one(i, data, size);
	return 0;
}
