/*
 * fuzz_http.c - libFuzzer harness for the HTTP server every daemon
 * embeds: request parsing (libmicrohttpd), routing, the signature check
 * (X-DFS-Auth before and after the body), body limits, query and JSON
 * accessors.
 *
 * One server runs in the fuzzer's process with request authentication
 * on, one public path and a few routes whose handlers read everything a
 * real handler reads. Inputs come in two kinds, chosen by the first
 * byte:
 *  - raw (even): the rest goes as is down a fresh connection, so any
 *    bytes at all meet the parser and the router;
 *  - signed (odd): the rest is "METHOD TARGET\n" then the body; the
 *    harness signs it with the cluster key and sends it with the HTTP
 *    client, so routing, limits and handlers get past authentication.
 * The server must keep answering its public path; a signed request for a
 * route must never get 401.
 */
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

static struct http_server *fuzz_srv;
static struct http_client *fuzz_plain, *fuzz_signed;
static struct auth_key *fuzz_key;
static char fuzz_addr[64];

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
	{ "GET", "/q", fuzz_query_handler, 0, 0 },
	{ "POST", "/json", fuzz_json_handler, 4096, 0 },
	{ "PUT", "/data", fuzz_data_handler, 65536, 0 },
	{ "GET", "/health", fuzz_health, 0, 0 },
};

static const char *const fuzz_public[] = { "/health", NULL };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char listen[64];
	struct http_server_opts so = { 0 };
	struct http_client_sec sec = { 0 };
	struct http_client_opts co = { 1000, 5000 };

	(void)argc;
	(void)argv;
	setenv("DFS_LOG_LEVEL", "error", 1);
	fuzz_key = auth_key_from_secret("fuzzing secret of 32 bytes or more",
					34);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", fuzz_free_port());
	snprintf(fuzz_addr, sizeof(fuzz_addr), "%s", listen);
	so.listen = listen;
	so.idle_timeout_s = 2;
	so.auth = fuzz_key;
	so.public_paths = fuzz_public;
	fuzz_srv = http_server_new(&so, fuzz_routes,
				   sizeof(fuzz_routes) / sizeof(fuzz_routes[0]),
				   NULL);
	if (fuzz_srv == NULL)
		abort();
	fuzz_plain = http_client_new_sec(&co, &sec);
	sec.auth = fuzz_key;
	fuzz_signed = http_client_new_sec(&co, &sec);
	return 0;
}

/* A signed request "METHOD TARGET\nbody" through the client. */
static void fuzz_signed_request(const uint8_t *data, size_t size)
{
	struct http_result res = { 0, NULL, 0 };
	const uint8_t *nl = memchr(data, '\n', size), *sp;
	char method[16], *target;
	size_t mlen;

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
	if (target[0] == '/' &&
	    http_client_request(fuzz_signed, method, fuzz_addr, target,
				nl + 1, (size_t)(data + size - nl - 1),
				NULL, 1 << 20, &res) == 0 &&
	    res.status == 401) {
		fprintf(stderr, "signed %s '%s' refused: %.*s\n", method,
			target, (int)res.len, res.body ? res.body : "");
		abort();
	}
	http_result_release(&res);
	free(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_result res = { 0, NULL, 0 };

	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_signed_request(data + 1, size - 1);
	else
		fuzz_raw_exchange(http_server_port(fuzz_srv), data + 1,
				  size - 1, 200);
	if (http_client_request(fuzz_plain, "GET", fuzz_addr, "/health", NULL,
				0, NULL, 4096, &res) != 0 ||
	    res.status != 200) {
		fprintf(stderr, "the server stopped answering\n");
		abort();
	}
	http_result_release(&res);
	return 0;
}
