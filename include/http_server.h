/*
 * http_server.h - the HTTP server every daemon embeds (libmicrohttpd).
 *
 * A server owns a listening socket and a thread per connection (handlers
 * may block: a chunk server forwards writes down its chain, the master
 * waits for its group commit), with a connection limit and an idle
 * timeout so slow or abandoned peers cannot starve others.
 *
 * Or, with opts.event_threads, a few event threads serve every
 * connection: waking one thread per request costs a virtual machine
 * tens of microseconds, more than a quick handler's own work. Routes
 * marked HTTP_ROUTE_QUICK run on the event thread and must not wait (no
 * disk flush, no call to another server, no lease someone else holds);
 * all other routes run on a pool of worker threads. A quick handler
 * that finds it would have to wait calls http_request_defer() before it
 * changes anything and returns; it then runs again on a worker.
 *
 * Requests are dispatched by a route table (method, exact path, handler,
 * largest body). The body is read whole, up to the route's max_body
 * (413 beyond), before the handler runs. A handler answers with exactly
 * one http_reply_*() call; if it returns without one, the server answers
 * 500.
 *
 * Optionally (struct http_server_opts) every request but those to public
 * paths must be signed with the cluster secret (auth.h), and the server
 * speaks TLS. Handlers that need a chunk access token read it with
 * http_request_header(req, AUTH_TOKEN_HEADER) and check it themselves.
 *
 * Calling sequence:
 *     srv = http_server_new(&opts, routes, nroutes, arg);
 *     ... http_server_port(srv) ...
 *     http_server_free(srv);      stops accepting, waits for handlers
 */
#ifndef DFS_HTTP_SERVER_H
#define DFS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct auth_digest;
struct auth_key;
struct http_server;
struct http_request;

/* Handler of one route; "arg" is the pointer given to http_server_new(). */
typedef void (*http_handler_fn)(struct http_request *req, void *arg);

/* What an observer (struct http_server_opts) learns of each request. */
struct http_request_stats {
	const char *method;     /* "GET", ...; borrowed for the call */
	const char *route;      /* path of the matched route, from the route
				 * table (so it outlives the call), or NULL
				 * when no route matched */
	unsigned status;        /* HTTP status sent; 0 if none was sent */
	size_t bytes_in;        /* request body bytes received */
	size_t bytes_out;       /* response body bytes */
	double seconds;         /* from the request line to completion */
};

/* Called once per finished request, on the connection's thread. */
typedef void (*http_observe_fn)(const struct http_request_stats *st,
				void *arg);

/* struct http_route flags. */
#define HTTP_ROUTE_QUICK 1u /* never waits: may run on an event thread */

struct http_route {
	const char *method;     /* "GET", "PUT", "POST" */
	const char *path;       /* exact path, no query string */
	http_handler_fn handler;
	size_t max_body;        /* largest request body accepted */
	unsigned flags;		/* HTTP_ROUTE_* */
};

struct http_server_opts {
	const char *listen;          /* "host:port"; port 0 picks a free one */
	unsigned max_connections;    /* 0: 1024 */
	/* Event threads serving every connection (see above); 0: a thread
	 * per connection, every handler may wait. */
	unsigned event_threads;
	unsigned idle_timeout_s;     /* 0: 60 */
	/* Memory of each connection, its read buffer included; 0: 64 KiB.
	 * libmicrohttpd zeroes the free part of it after every request, so
	 * a server of small requests does better with less. */
	size_t conn_memory;
	/*
	 * Request authentication (auth.h); NULL: none. When set, a request
	 * reaches its handler only with a valid X-DFS-Auth header over its
	 * method, target and body; others get 401 UNAUTH. A missing,
	 * malformed or stale header is refused before the body is read.
	 * Borrowed: the key must outlive the server.
	 */
	const struct auth_key *auth;
	/*
	 * NULL-terminated list of exact paths served without authentication
	 * (status page, metrics, liveness probe), e.g. {"/", "/metrics",
	 * "/health", NULL}. Borrowed; NULL: none.
	 */
	const char *const *public_paths;
	/*
	 * TLS: PEM files of the certificate (chain) and its private key;
	 * both set: the server speaks HTTPS only (libmicrohttpd's TLS is
	 * GnuTLS on Debian). Read once by http_server_new(). NULL: plain HTTP.
	 */
	const char *tls_cert_file;
	const char *tls_key_file;
	/*
	 * Request observer (metrics); NULL: none. Called with observe_arg
	 * once per request when it is done (answered, refused or dropped),
	 * on the connection's thread; it must be quick and must not block.
	 */
	http_observe_fn observe;
	void *observe_arg;
};

/* Start serving. Returns NULL (and logs why) if the address is bad or in
 * use, or the TLS files cannot be read or used. The route table and arg
 * are borrowed and must outlive the server. */
struct http_server *http_server_new(const struct http_server_opts *opts,
				    const struct http_route *routes,
				    size_t nroutes, void *arg);

/* Port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *srv);

/* Stop the server and wait for running handlers. NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* True if the handler may wait here: it runs on its own thread. */
bool http_request_can_wait(const struct http_request *req);

/* From a quick handler on an event thread that would have to wait: run
 * the handler again on a worker once it returns. It must not have
 * replied or changed anything. */
void http_request_defer(struct http_request *req);

/* Request accessors. Returned strings are borrowed from the request. */
const char *http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
/* Query parameter (decoded), or NULL when absent or when it holds a NUL
 * byte (%00), which a C string would silently cut short. */
const char *http_request_query(const struct http_request *req,
			       const char *key);
/* Request header (case-insensitive name) or NULL. */
const char *http_request_header(const struct http_request *req,
				const char *name);
/* "ip:port" of the peer. */
const char *http_request_peer(const struct http_request *req);
/* The body; *len is set to its length. Never NULL (empty body: ""). */
const void *http_request_body(const struct http_request *req, size_t *len);
/* The body's digest (auth.h) that its verified signature covers, or NULL
 * when the request was not signed (no secret, public path). */
const struct auth_digest *
http_request_body_digest(const struct http_request *req);

/*
 * Parse the body as a JSON object. Returns a new reference owned by the
 * caller, or NULL after answering 400 itself (the handler just returns).
 */
json_t *http_request_json(struct http_request *req);

/*
 * Parse query parameter "key" as an unsigned decimal no larger than max.
 * Returns 0, or -EINVAL when it is missing or malformed.
 */
int http_request_query_u64(const struct http_request *req, const char *key,
			   uint64_t max, uint64_t *out);

/* Answer with a JSON object; "obj" is stolen (may be NULL for {}). */
void http_reply_json(struct http_request *req, unsigned status, json_t *obj);

/* Answer with raw bytes; the server takes ownership of malloc()ed "buf". */
void http_reply_buffer(struct http_request *req, unsigned status, void *buf,
		       size_t len, const char *content_type);

/* Answer a wire error: {"err", "error", "message"} with the status's HTTP
 * code (wire_status_http()). */
void http_reply_error(struct http_request *req, int status, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

/* Like http_reply_error() with extra fields merged into the object
 * ("extra" is stolen, may be NULL). */
void http_reply_error_extra(struct http_request *req, int status,
			    json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Answer raw text with a content type (status pages, metrics). */
void http_reply_text(struct http_request *req, unsigned status,
		     const char *content_type, const char *text);

#endif
