/*
 * http_server.c - the HTTP server every daemon embeds (see http_server.h).
 *
 * libmicrohttpd runs one thread per connection (poll(), so descriptors
 * above FD_SETSIZE are fine). For each request MHD calls the access
 * handler several times: once with the headers, then once per piece of
 * body, then once with *upload_data_size == 0 when the body is complete.
 * The first call picks the route and sizes the body buffer (from
 * Content-Length when the peer sent one, so a large write is received
 * without reallocation); the middle calls append to it; the last call
 * runs the route's handler, which queues exactly one response.
 *
 * Requests that cannot be served (unknown path, wrong method, body over
 * the route's limit) are answered with a wire error once their body has
 * been read and dropped, which keeps the connection usable and lets the
 * peer read the answer (a peer still sending when the server closes gets
 * a reset, not the reply). A body more than HTTP_DRAIN_MAX bytes over the
 * limit is not worth reading: when Content-Length announces one, the 413
 * goes out at once and MHD closes the connection after it; when a chunked
 * body grows that far, the connection is closed without a reply.
 *
 * Per-request state (struct http_request) is made by MHD's URI log
 * callback, which sees the request target exactly as sent (before MHD
 * splits off the query string and decodes it), and lives until MHD's
 * completion notification, which frees it whatever happened.
 *
 * With request authentication on (opts->auth), the first call also
 * checks that X-DFS-Auth is present, well formed and fresh; if not, the
 * request is refused like an unknown path (body dropped, 401 once it is
 * read). The MAC over method, raw target and body and the replay check
 * run on the last call, before the handler; requests to public paths
 * skip both. Refusals of signed requests for other reasons (404, 405,
 * 413) are answered without checking the MAC: the endpoint list is
 * public anyway.
 *
 * Event loop (opts->event_threads > 0): libmicrohttpd serves every
 * connection from that many epoll threads instead of a thread each.
 * Routes marked HTTP_ROUTE_QUICK run on the event thread; any other
 * handler, and a quick one that asks to wait (http_request_defer()),
 * runs on a thread of a work pool while its connection is suspended.
 * The worker's reply is kept in the request and queued by the event
 * thread when MHD calls the access handler again after the resume
 * (libmicrohttpd queues a response on a connection's own thread only).
 *
 * TLS (opts->tls_cert_file and tls_key_file) is libmicrohttpd's own,
 * which is GnuTLS on Debian; the PEM texts are read once and handed to
 * it in memory.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth.h"
#include "buf_pool.h"
#include "http_server.h"
#include "json_writer.h"
#include "log.h"
#include "timeutil.h"
#include "wire.h"
#include "work_pool.h"
#include "xmalloc.h"

#include "banned.h"

/* Bytes past a route's max_body read and dropped to answer 413 cleanly. */
#define HTTP_DRAIN_MAX (16u * 1024 * 1024)

/* Bodies of known length from this size up come from a pool of buffers
 * kept for reuse, of at most HTTP_BODY_POOL_BYTES in all. */
#define HTTP_BODY_POOL_MIN (64u * 1024)
#define HTTP_BODY_POOL_BYTES (32u * 1024 * 1024)

/* First allocation for a body of unknown length. */
#define HTTP_BODY_MIN_ALLOC (64u * 1024)

/*
 * MHD's per-connection memory by default; the read buffer lives in it,
 * and a bigger read buffer means fewer, larger pieces of body per
 * callback.
 */
#define HTTP_CONN_MEMORY (64u * 1024)

/* Longest "host:port" of a peer, IPv6 in brackets. */
#define HTTP_PEER_MAX (INET6_ADDRSTRLEN + 16)

/* Most threads running waiting handlers of an event-loop server. */
#define HTTP_WORKERS_MAX 256

/* Longest wait, when an event-loop server is freed, for the answers
 * still being sent. */
#define HTTP_DRAIN_MS 1000

/* Largest TLS certificate or key file read. */
#define HTTP_PEM_MAX (1024u * 1024)

struct http_server {
	struct MHD_Daemon *daemon;       /* the running MHD instance */
	const struct http_route *routes; /* borrowed route table */
	size_t nroutes;                  /* entries in routes */
	void *arg;                       /* handed to every handler */
	unsigned port;                   /* port actually bound */
	const struct auth_key *auth;     /* borrowed; NULL: no request auth */
	struct auth_replay *replay;      /* nonces seen, when auth is set */
	const char *const *public_paths; /* borrowed, NULL-terminated */
	char *tls_cert;                  /* PEM text for MHD, or NULL */
	char *tls_key;                   /* PEM text for MHD, or NULL */
	http_observe_fn observe;         /* request observer, or NULL */
	void *observe_arg;               /* its argument */
	struct work_pool *workers;	 /* event loop: runs the handlers
					  * that may wait; NULL: a thread
					  * per connection */
	_Atomic unsigned live;		 /* requests begun, not completed */
	struct buf_pool *bodies;	 /* large body buffers for reuse */
};

/* Why a request will not reach a handler. */
enum http_refusal {
	HTTP_REFUSE_NONE = 0,
	HTTP_REFUSE_NOTFOUND,  /* no route has this path */
	HTTP_REFUSE_METHOD,    /* a route has the path, not the method */
	HTTP_REFUSE_TOOBIG,    /* body over the route's max_body */
	HTTP_REFUSE_NOMEM,     /* could not allocate the body buffer */
	HTTP_REFUSE_UNAUTH,    /* missing or bad X-DFS-Auth */
};

/*
 * One request; made when its request line arrives (http_uri_seen()),
 * freed by the completion callback. Only the connection's thread
 * touches it, or the worker running its handler while the connection
 * is suspended.
 */
struct http_request {
	struct http_server *srv;         /* server it arrived on */
	struct MHD_Connection *conn;     /* MHD connection; NULL until the
					  * headers are in */
	char *uri;                       /* target as sent, query included */
	const struct http_route *route;  /* matched route, NULL if none */
	const char *method;              /* borrowed from MHD */
	const char *path;                /* borrowed from MHD */
	char *body;			 /* owned body, NUL-terminated */
	size_t len;                      /* body bytes received */
	size_t cap;                      /* bytes allocated for body - 1 */
	size_t body_size;		 /* body is from the pool, of this
					  * size; 0: malloc()ed */
	size_t max_body;                 /* limit of the route (0 if none) */
	size_t dropped;                  /* body bytes dropped after refusal */
	enum http_refusal refusal;       /* set when no handler will run */
	int auth_err;                    /* why auth failed (auth.h codes) */
	bool need_auth;                  /* X-DFS-Auth must be verified */
	bool has_digest;                 /* body_digest was verified */
	struct auth_digest body_digest;	 /* of the body */
	bool reply_early;                /* refuse before the body arrives */
	bool replied;			 /* a response was queued, or kept
					  * in "kept" */
	bool on_worker;			 /* the handler runs on a worker */
	bool deferred;			 /* http_request_defer() was called */
	struct MHD_Response *kept;	 /* a worker's reply, queued by the
					  * event thread after the resume */
	char peer[HTTP_PEER_MAX];        /* "ip:port", filled lazily */
	struct timespec start;           /* request line seen (monotonic) */
	unsigned status;                 /* HTTP status queued, 0 if none */
	size_t bytes_out;                /* response body length queued */
};

/*
 * MHD's error log, routed to ours. Peers that hang up or time out make
 * MHD talk, which is not an event worth a warning.
 */
static void http_mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_info("libmicrohttpd: %s", buf);
}

void http_reply_buffer(struct http_request *req, unsigned status, void *buf,
		       size_t len, const char *content_type)
{
	struct MHD_Response *resp = NULL;

	if (req->replied) {
		log_warnx("second reply to '%s' ignored", req->path);
		goto out;
	}
	resp = MHD_create_response_from_buffer_with_free_callback(len, buf,
								  free);
	if (resp == NULL) {
		log_errorx("cannot create response for '%s'", req->path);
		goto out;
	}
	/* The response owns the buffer from here on. */
	buf = NULL;
	if (content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					content_type);
	if (req->on_worker) {
		req->kept = resp;
		resp = NULL;
		req->replied = true;
		req->status = status;
		req->bytes_out = len;
	} else if (MHD_queue_response(req->conn, status, resp) == MHD_YES) {
		req->replied = true;
		req->status = status;
		req->bytes_out = len;
	} else
		log_warnx("cannot queue response to '%s' for %s", req->path,
			  http_request_peer(req));
out:
	if (resp != NULL)
		MHD_destroy_response(resp);
	free(buf);
}

void http_reply_json(struct http_request *req, unsigned status, json_t *obj)
{
	size_t len = 2;
	char *text;

	text = obj != NULL ? json_writer_dump(obj, &len) : xstrdup("{}");
	json_decref(obj);
	http_reply_buffer(req, status, text, len, "application/json");
}

void http_reply_text(struct http_request *req, unsigned status,
		     const char *content_type, const char *text)
{
	size_t len = strlen(text);
	char *copy = xmalloc(len + 1);

	memcpy(copy, text, len + 1);
	http_reply_buffer(req, status, copy, len, content_type);
}

/* Answer {"err", "error", "message"} plus "extra" with an HTTP code. */
static void http_reply_error_code(struct http_request *req, unsigned code,
				  int status, json_t *extra, const char *msg)
{
	json_t *obj = json_pack("{s:i, s:s}", "err", status, "error",
				wire_status_name(status));
	/* Messages may quote peer input, which need not be UTF-8. */
	json_t *jmsg = json_string(msg);

	if (jmsg == NULL)
		jmsg = json_string("(message not UTF-8)");
	json_object_set_new(obj, "message", jmsg);
	if (extra != NULL)
		json_object_update(obj, extra);
	json_decref(extra);
	http_reply_json(req, code, obj);
}

/* Format a message and answer it as a wire error. */
static void http_reply_verror(struct http_request *req, int status,
			      json_t *extra, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	http_reply_error_code(req, wire_status_http(status), status, extra,
			      msg);
}

void http_reply_error(struct http_request *req, int status, const char *fmt,
		      ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_reply_verror(req, status, NULL, fmt, ap);
	va_end(ap);
}

void http_reply_error_extra(struct http_request *req, int status,
			    json_t *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_reply_verror(req, status, extra, fmt, ap);
	va_end(ap);
}

const char *http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_query(const struct http_request *req,
			       const char *key)
{
	const char *v = NULL;
	size_t n = 0;

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND,
					  key, strlen(key), &v, &n) != MHD_YES ||
	    v == NULL)
		return NULL;
	/* A decoded %00 would cut the value short unseen: refuse it. */
	return strlen(v) == n ? v : NULL;
}

const char *http_request_header(const struct http_request *req,
				const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_peer(const struct http_request *req)
{
	/* The cache is per request and only its thread touches it. */
	struct http_request *mreq = (struct http_request *)req;
	const union MHD_ConnectionInfo *ci;
	char host[INET6_ADDRSTRLEN], serv[16];
	const struct sockaddr *sa;
	socklen_t salen;

	if (mreq->peer[0] != '\0')
		return mreq->peer;
	ci = MHD_get_connection_info(mreq->conn,
				     MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		goto unknown;
	sa = ci->client_addr;
	salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		goto unknown;
	snprintf(mreq->peer, sizeof(mreq->peer),
		 sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
	return mreq->peer;
unknown:
	snprintf(mreq->peer, sizeof(mreq->peer), "unknown");
	return mreq->peer;
}

const void *http_request_body(const struct http_request *req, size_t *len)
{
	*len = req->len;
	return req->body != NULL ? req->body : "";
}

const struct auth_digest *
http_request_body_digest(const struct http_request *req)
{
	return req->has_digest ? &req->body_digest : NULL;
}

json_t *http_request_json(struct http_request *req)
{
	json_error_t jerr;
	json_t *obj;

	obj = json_loadb(req->body != NULL ? req->body : "", req->len,
			 JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		http_reply_error(req, DFS_ERR_INVAL, "malformed JSON body: %s",
				 jerr.text);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		http_reply_error(req, DFS_ERR_INVAL,
				 "JSON body is not an object");
		return NULL;
	}
	return obj;
}

/* Parse a whole unsigned decimal string no larger than max. */
static int http_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int http_request_query_u64(const struct http_request *req, const char *key,
			   uint64_t max, uint64_t *out)
{
	return http_parse_u64(http_request_query(req, key), max, out);
}

/* Route for method and path, or NULL with req->refusal set. */
static const struct http_route *http_route_find(struct http_server *srv,
						struct http_request *req)
{
	bool path_known = false;
	size_t i;

	for (i = 0; i < srv->nroutes; i++) {
		if (strcmp(srv->routes[i].path, req->path) != 0)
			continue;
		path_known = true;
		if (strcmp(srv->routes[i].method, req->method) == 0)
			return &srv->routes[i];
	}
	req->refusal = path_known ? HTTP_REFUSE_METHOD : HTTP_REFUSE_NOTFOUND;
	return NULL;
}

/*
 * A body buffer of len bytes. A large one comes from the server's pool
 * (buf_pool.h): memory already mapped, starting on a page.
 */
static char *http_body_alloc(struct http_request *req, size_t len)
{
	if (len < HTTP_BODY_POOL_MIN)
		return malloc(len);
	return buf_pool_get(req->srv->bodies, len, &req->body_size);
}

/* Free the body buffer, or give it back to the pool. */
static void http_body_free(struct http_request *req)
{
	if (req->body_size > 0)
		buf_pool_put(req->srv->bodies, req->body, req->body_size);
	else
		free(req->body);
	req->body = NULL;
	req->body_size = 0;
}

/* Allocate the body buffer up front when Content-Length is known. */
static void http_body_prealloc(struct http_request *req)
{
	const char *cl = http_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t want;

	if (cl == NULL || http_parse_u64(cl, UINT64_MAX, &want) != 0 ||
	    want == 0)
		return;
	if (want > req->max_body) {
		req->refusal = HTTP_REFUSE_TOOBIG;
		req->reply_early = want - req->max_body > HTTP_DRAIN_MAX;
		return;
	}
	req->body = http_body_alloc(req, (size_t)want + 1);
	if (req->body == NULL) {
		req->refusal = HTTP_REFUSE_NOMEM;
		return;
	}
	req->cap = (size_t)want;
}

/* True if "path" is served without authentication. */
static bool http_path_is_public(const struct http_server *srv,
				const char *path)
{
	const char *const *p;

	for (p = srv->public_paths; p != NULL && *p != NULL; p++)
		if (strcmp(*p, path) == 0)
			return true;
	return false;
}

/*
 * Refuse at once a request whose X-DFS-Auth is missing, malformed or
 * stale, so its body is dropped, not stored (and not even read when
 * Content-Length announces more than is worth draining); the MAC is
 * checked once the body is in (http_auth_verify()).
 */
static void http_auth_precheck(struct http_request *req)
{
	struct http_server *srv = req->srv;
	const char *cl;
	uint64_t want;

	req->need_auth = srv->auth != NULL &&
			 !http_path_is_public(srv, req->path);
	if (!req->need_auth)
		return;
	req->auth_err = auth_precheck(srv->replay,
				      http_request_header(req, AUTH_HEADER),
				      time_now_ms());
	if (req->auth_err == 0)
		return;
	req->refusal = HTTP_REFUSE_UNAUTH;
	cl = http_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && http_parse_u64(cl, UINT64_MAX, &want) == 0 &&
	    want > HTTP_DRAIN_MAX)
		req->reply_early = true;
}

/* Check the signature over the whole request; false if refused. */
static bool http_auth_verify(struct http_request *req)
{
	struct http_server *srv = req->srv;

	req->auth_err =
		auth_verify_body(srv->auth, srv->replay, req->method,
				 req->uri != NULL ? req->uri : req->path,
				 req->body != NULL ? req->body : "", req->len,
				 http_request_header(req, AUTH_HEADER),
				 time_now_ms(), &req->body_digest);
	if (req->auth_err == 0) {
		req->has_digest = true;
		return true;
	}
	req->refusal = HTTP_REFUSE_UNAUTH;
	return false;
}

/*
 * Fill in a request whose headers just arrived ("req" is the one made by
 * http_uri_seen(), or NULL if MHD did not call it).
 */
static struct http_request *http_request_start(struct http_server *srv,
					       struct http_request *req,
					       struct MHD_Connection *conn,
					       const char *url,
					       const char *method)
{
	if (req == NULL) {
		req = xcalloc(1, sizeof(*req));
		clock_gettime(CLOCK_MONOTONIC, &req->start);
	}
	req->srv = srv;
	req->conn = conn;
	req->method = method;
	req->path = url;
	req->route = http_route_find(srv, req);
	http_auth_precheck(req);
	if (req->route != NULL && req->refusal == HTTP_REFUSE_NONE) {
		req->max_body = req->route->max_body;
		http_body_prealloc(req);
	}
	return req;
}

/* Make room for "more" bytes past req->len, within max_body. */
static int http_body_reserve(struct http_request *req, size_t more)
{
	size_t need = req->len + more;
	size_t ncap;
	char *nbody;

	if (need <= req->cap)
		return 0;
	if (req->body_size > 0)
		return -ENOMEM; /* a pooled body has its Content-Length */
	ncap = req->cap != 0 ? req->cap : HTTP_BODY_MIN_ALLOC;
	while (ncap < need)
		ncap = ncap > req->max_body / 2 ? req->max_body : ncap * 2;
	if (ncap > req->max_body)
		ncap = req->max_body;
	nbody = realloc(req->body, ncap + 1);
	if (nbody == NULL)
		return -ENOMEM;
	req->body = nbody;
	req->cap = ncap;
	return 0;
}

/*
 * Take one piece of body. Returns false when the connection must be
 * closed (a refused request kept sending far too much).
 */
static bool http_body_take(struct http_request *req, const char *data,
			   size_t size)
{
	if (req->refusal == HTTP_REFUSE_NONE && size > req->max_body - req->len)
		req->refusal = HTTP_REFUSE_TOOBIG;
	if (req->refusal == HTTP_REFUSE_NONE &&
	    http_body_reserve(req, size) != 0)
		req->refusal = HTTP_REFUSE_NOMEM;
	if (req->refusal != HTTP_REFUSE_NONE) {
		req->dropped += size;
		return req->dropped <= HTTP_DRAIN_MAX;
	}
	memcpy(req->body + req->len, data, size);
	req->len += size;
	return true;
}

/* Answer a request that never reached a handler. */
static void http_reply_refusal(struct http_request *req)
{
	switch (req->refusal) {
	case HTTP_REFUSE_NOTFOUND:
		http_reply_error(req, DFS_ERR_NOTFOUND, "no endpoint '%s'",
				 req->path);
		break;
	case HTTP_REFUSE_METHOD:
		http_reply_error_code(req, MHD_HTTP_METHOD_NOT_ALLOWED,
				      DFS_ERR_NOTSUP, NULL,
				      "method not allowed");
		break;
	case HTTP_REFUSE_TOOBIG:
		http_reply_error(req, DFS_ERR_TOOBIG,
				 "body over %zu bytes", req->max_body);
		break;
	case HTTP_REFUSE_UNAUTH:
		log_info("refused %s '%s' from %s: %s", req->method, req->path,
			 http_request_peer(req), auth_strerror(req->auth_err));
		http_reply_error(req, DFS_ERR_UNAUTH, "%s",
				 auth_strerror(req->auth_err));
		break;
	case HTTP_REFUSE_NOMEM:
	default:
		http_reply_error(req, DFS_ERR_AGAIN,
				 "out of memory for request body");
		break;
	}
}

bool http_request_can_wait(const struct http_request *req)
{
	return req->srv->workers == NULL || req->on_worker;
}

void http_request_defer(struct http_request *req)
{
	if (http_request_can_wait(req))
		log_warnx("'%s' deferred where it can wait", req->path);
	else
		req->deferred = true;
}

/* After the handler: answer 500 if it did not reply. */
static void http_reply_if_missing(struct http_request *req)
{
	if (req->replied)
		return;
	log_errorx("handler of '%s' did not reply", req->path);
	http_reply_error(req, DFS_ERR_IO, "internal error");
}

/* Run the route's handler; answer 500 if it did not. */
static void http_run_handler(struct http_request *req)
{
	req->route->handler(req, req->srv->arg);
	http_reply_if_missing(req);
}

/* A worker: run the handler of a suspended request, then resume it. */
static void http_worker_run(void *arg)
{
	struct http_request *req = arg;

	http_run_handler(req);
	MHD_resume_connection(req->conn);
}

/*
 * Hand the request to a worker (event thread, in the access handler).
 * The connection is suspended first: the worker may resume it before
 * this returns.
 */
static void http_hand_to_worker(struct http_request *req)
{
	int r;

	req->on_worker = true;
	MHD_suspend_connection(req->conn);
	if ((r = work_pool_submit(req->srv->workers, http_worker_run, req)) ==
	    0)
		return;
	http_reply_error(req, DFS_ERR_AGAIN, "server %s",
			 r == -ESHUTDOWN ? "stopping" : "busy");
	MHD_resume_connection(req->conn);
}

/* The whole body arrived: run the handler, or refuse. */
static void http_dispatch(struct http_request *req)
{
	if (req->refusal == HTTP_REFUSE_NONE && req->need_auth)
		http_auth_verify(req);
	if (req->refusal != HTTP_REFUSE_NONE) {
		http_reply_refusal(req);
		return;
	}
	if (req->body != NULL)
		req->body[req->len] = '\0';
	if (req->srv->workers != NULL &&
	    !(req->route->flags & HTTP_ROUTE_QUICK)) {
		http_hand_to_worker(req);
		return;
	}
	req->route->handler(req, req->srv->arg);
	if (req->deferred && !req->replied) {
		http_hand_to_worker(req);
		return;
	}
	http_reply_if_missing(req);
}

/* Queue the reply a worker kept (event thread, after the resume). */
static enum MHD_Result http_queue_kept(struct http_request *req)
{
	enum MHD_Result r;

	r = MHD_queue_response(req->conn, req->status, req->kept);
	MHD_destroy_response(req->kept);
	req->kept = NULL;
	if (r != MHD_YES)
		log_warnx("cannot queue response to '%s' for %s", req->path,
			  http_request_peer(req));
	return r;
}

/* MHD access handler: see the comment at the top of the file. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn,
				   const char *url, const char *method,
				   const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct http_request *req = *con_cls;

	(void)version;
	if (req == NULL || req->conn == NULL) {
		*con_cls = req = http_request_start(cls, req, conn, url,
						    method);
		if (req->reply_early) {
			http_reply_refusal(req);
			return req->replied ? MHD_YES : MHD_NO;
		}
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		if (!http_body_take(req, upload_data, *upload_data_size)) {
			log_warnx("dropping %s: body far over %zu bytes for "
				  "'%s'", http_request_peer(req),
				  req->max_body, req->path);
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->on_worker)
		return req->kept != NULL ? http_queue_kept(req) : MHD_YES;
	if (req->replied)
		return MHD_YES;
	http_dispatch(req);
	/* on_worker first: a worker may be writing "replied" by now. */
	return req->on_worker || req->replied ? MHD_YES : MHD_NO;
}

/* Tell the server's observer, if any, how a request went. */
static void http_observe(struct http_request *req)
{
	struct http_server *srv = req->srv;
	struct http_request_stats st;
	struct timespec now;

	if (srv == NULL || srv->observe == NULL || req->method == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	st.method = req->method;
	st.route = req->route != NULL ? req->route->path : NULL;
	st.status = req->status;
	st.bytes_in = req->len + req->dropped;
	st.bytes_out = req->bytes_out;
	st.seconds = (double)(now.tv_sec - req->start.tv_sec) +
		     (double)(now.tv_nsec - req->start.tv_nsec) / 1e9;
	srv->observe(&st, srv->observe_arg);
}

/* MHD completion notification: free the request whatever happened. */
static void http_completed(void *cls, struct MHD_Connection *conn,
			   void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	atomic_fetch_sub(&req->srv->live, 1);
	http_observe(req);
	if (req->kept != NULL)
		MHD_destroy_response(req->kept);
	free(req->uri);
	http_body_free(req);
	free(req);
	*con_cls = NULL;
}

/*
 * MHD's URI log callback, called once per request with the target as
 * sent, before MHD splits and decodes it: the request starts here so the
 * signature can be checked over exactly what the client signed.
 */
static void *http_uri_seen(void *cls, const char *uri,
			   struct MHD_Connection *conn)
{
	struct http_request *req = xcalloc(1, sizeof(*req));

	(void)conn;
	req->srv = cls;
	atomic_fetch_add(&req->srv->live, 1);
	req->uri = xstrdup(uri != NULL ? uri : "");
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	return req;
}

/* Split "host:port" (host may be "[v6]" or empty) into its parts. */
static int http_split_listen(const char *listen, char *host, size_t hostlen,
			     const char **port)
{
	const char *colon = strrchr(listen, ':');
	size_t n;

	if (colon == NULL || colon[1] == '\0')
		return -EINVAL;
	n = (size_t)(colon - listen);
	if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
		listen++;
		n -= 2;
	}
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, listen, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

/* Resolve a listen address; *res is freed with freeaddrinfo(). */
static int http_resolve(const char *listen, struct addrinfo **res)
{
	struct addrinfo hints;
	char host[256];
	const char *port;
	int r;

	if ((r = http_split_listen(listen, host, sizeof(host), &port)) != 0) {
		log_errorx("bad listen address '%s' (want HOST:PORT)", listen);
		return r;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = host[0] == '\0' ? AF_INET : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints,
			     res)) != 0) {
		log_errorx("cannot resolve listen address '%s': %s", listen,
			   gai_strerror(r));
		return -EINVAL;
	}
	return 0;
}

/* Port the daemon is bound to, or 0. */
static unsigned http_bound_port(struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info != NULL && info->port != 0)
		return info->port;
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (info == NULL ||
	    getsockname(info->listen_fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Start MHD on a resolved address. */
static struct MHD_Daemon *http_start(struct http_server *srv,
				     const struct http_server_opts *opts,
				     const struct addrinfo *ai)
{
	unsigned flags = MHD_USE_ERROR_LOG;
	unsigned nthreads = opts->event_threads;
	size_t conn_memory = opts->conn_memory ? opts->conn_memory :
						 HTTP_CONN_MEMORY;
	unsigned max_conn = opts->max_connections ? opts->max_connections
						  : 1024;
	unsigned timeout = opts->idle_timeout_s ? opts->idle_timeout_s : 60;
	struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};

	if (nthreads > 0)
		flags |= MHD_USE_EPOLL_INTERNAL_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME;
	else
		flags |= MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL_INTERNAL_THREAD;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->tls_cert != NULL) {
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
						 srv->tls_key};
		tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						 srv->tls_cert};
	}
	return MHD_start_daemon(flags, 0, NULL, NULL, http_access, srv,
				MHD_OPTION_ARRAY, tls,
				MHD_OPTION_URI_LOG_CALLBACK, http_uri_seen, srv,
				MHD_OPTION_EXTERNAL_LOGGER, http_mhd_logger,
				srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_CONNECTION_LIMIT, max_conn,
				MHD_OPTION_CONNECTION_TIMEOUT, timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, conn_memory,
				MHD_OPTION_NOTIFY_COMPLETED, http_completed,
				srv, MHD_OPTION_THREAD_POOL_SIZE,
				nthreads > 1 ? nthreads : 0, MHD_OPTION_END);
}

/* Read a PEM file whole into a new string; NULL (logged) on failure. */
static char *http_read_pem(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL) {
		log_error("cannot open TLS file '%s'", path);
		return NULL;
	}
	buf = xmalloc(HTTP_PEM_MAX + 1);
	n = fread(buf, 1, HTTP_PEM_MAX + 1, f);
	if (ferror(f) || n == 0 || n > HTTP_PEM_MAX) {
		log_errorx("cannot read TLS file '%s' (unreadable, empty or "
			   "over %u bytes)", path, HTTP_PEM_MAX);
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* Wipe and free PEM text (the key is secret). */
static void http_free_pem(char *pem)
{
	if (pem == NULL)
		return;
	explicit_bzero(pem, strlen(pem));
	free(pem);
}

/*
 * Check with OpenSSL that the PEM texts hold a certificate and the
 * private key that goes with it, for a clear message (GnuTLS inside MHD
 * would only fail to start, and leaks on that path).
 */
static int http_tls_check(const struct http_server *srv,
			  const struct http_server_opts *opts)
{
	BIO *cb = BIO_new_mem_buf(srv->tls_cert, -1);
	BIO *kb = BIO_new_mem_buf(srv->tls_key, -1);
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int r = -EINVAL;

	if (cb == NULL || kb == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((cert = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL) {
		log_errorx("TLS file '%s' holds no PEM certificate",
			   opts->tls_cert_file);
		goto out;
	}
	if ((key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		log_errorx("TLS file '%s' holds no unencrypted PEM private key",
			   opts->tls_key_file);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		log_errorx("TLS key '%s' does not match certificate '%s'",
			   opts->tls_key_file, opts->tls_cert_file);
		goto out;
	}
	r = 0;
out:
	/* Leave no parse errors queued for the thread's next TLS user. */
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	BIO_free(cb);
	BIO_free(kb);
	return r;
}

/* Read the TLS files named in opts, if any. 0 or negative errno (logged). */
static int http_tls_load(struct http_server *srv,
			 const struct http_server_opts *opts)
{
	if (opts->tls_cert_file == NULL && opts->tls_key_file == NULL)
		return 0;
	if (opts->tls_cert_file == NULL || opts->tls_key_file == NULL) {
		log_errorx("TLS needs both a certificate and a key file");
		return -EINVAL;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		log_errorx("libmicrohttpd was built without TLS");
		return -ENOTSUP;
	}
	if ((srv->tls_cert = http_read_pem(opts->tls_cert_file)) == NULL ||
	    (srv->tls_key = http_read_pem(opts->tls_key_file)) == NULL)
		return -EIO;
	return http_tls_check(srv, opts);
}

/* Free a server that is not running (any more). */
static void http_server_release(struct http_server *srv)
{
	work_pool_free(srv->workers);
	buf_pool_free(srv->bodies);
	http_free_pem(srv->tls_cert);
	http_free_pem(srv->tls_key);
	auth_replay_free(srv->replay);
	free(srv);
}

struct http_server *http_server_new(const struct http_server_opts *opts,
				    const struct http_route *routes,
				    size_t nroutes, void *arg)
{
	struct http_server *srv = NULL;
	struct addrinfo *ai = NULL;

	/* A peer that hangs up must not kill the daemon on write(). */
	signal(SIGPIPE, SIG_IGN);
	if (opts->listen == NULL) {
		log_errorx("no listen address");
		goto out;
	}
	if (http_resolve(opts->listen, &ai) != 0)
		goto out;
	srv = xcalloc(1, sizeof(*srv));
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->arg = arg;
	srv->auth = opts->auth;
	srv->public_paths = opts->public_paths;
	srv->observe = opts->observe;
	srv->observe_arg = opts->observe_arg;
	srv->bodies = buf_pool_new(HTTP_BODY_POOL_BYTES);
	if (srv->auth != NULL)
		srv->replay = auth_replay_new(0, 0);
	if (http_tls_load(srv, opts) != 0)
		goto out_release;
	if (opts->event_threads > 0)
		srv->workers = work_pool_new(HTTP_WORKERS_MAX);
	srv->daemon = http_start(srv, opts, ai);
	if (srv->daemon == NULL) {
		log_errorx("cannot listen on '%s' (%s)", opts->listen,
			   srv->tls_cert != NULL
				   ? "address in use, or bad TLS certificate "
				     "or key?"
				   : "address in use?");
		goto out_release;
	}
	srv->port = http_bound_port(srv->daemon);
	goto out;
out_release:
	http_server_release(srv);
	srv = NULL;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return srv;
}

unsigned http_server_port(const struct http_server *srv)
{
	return srv->port;
}

/*
 * Wait, at most HTTP_DRAIN_MS, for the requests under way to complete:
 * the answers of handlers that just finished on workers are sent by the
 * event thread, and stopping the daemon first would cut them off.
 */
static void http_drain(struct http_server *srv)
{
	int64_t deadline = time_mono_ms() + HTTP_DRAIN_MS;
	const struct timespec tick = { 0, 1000 * 1000 };

	while (atomic_load(&srv->live) > 0 && time_mono_ms() < deadline)
		nanosleep(&tick, NULL);
}

void http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	/* Running handlers hold suspended connections, which MHD must not
	 * be stopped with: they finish first, and later ones are refused. */
	if (srv->workers != NULL) {
		work_pool_close(srv->workers);
		http_drain(srv);
	}
	MHD_stop_daemon(srv->daemon);
	http_server_release(srv);
}
