/*
 * http_client.c - HTTP client calls over libcurl (see http_client.h).
 *
 * A client owns a stack of curl easy handles guarded by a mutex. A call
 * pops one (or makes one), performs the exchange and pushes it back, so
 * each handle keeps its connections open for the next call and concurrent
 * callers never share a handle. Options that never change are set when a
 * handle is made; every call then sets all the per-call options (URL,
 * method, body, headers, sink), so nothing leaks from one call into the
 * next.
 *
 * Request bodies are sent from the caller's buffer (CURLOPT_POSTFIELDS
 * does not copy). "Expect: 100-continue" is disabled: it would cost a
 * round trip on every large write. Response bodies go into a buffer
 * sized from Content-Length when the peer sends one, or straight into
 * the caller's buffer with http_client_get_into().
 *
 * A signing client (struct http_client_sec) builds each call's header
 * list afresh, with an X-DFS-Auth line made just before the call over
 * exactly the method, target and body sent (CURLOPT_PATH_AS_IS keeps
 * curl from rewriting the target); so does a call with extra headers.
 * Other calls use the shared read-only lists.
 *
 * Plain http:// calls skip libcurl: they go through http_conn.c, whose
 * exchange is one sendmsg() and the recv() calls of the reply, on
 * connections the client keeps open (its pool replaces the handles').
 * The header lines, the signature and the sinks are the same.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "auth.h"
#include "http_client.h"
#include "http_conn.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

#include "banned.h"

/* Idle handles kept in the pool; more are freed when returned. */
#define HC_POOL_MAX 256

/* Connections each handle keeps open (master plus a few chunk servers). */
#define HC_MAXCONNECTS 8L

/*
 * Receive and send buffers of a handle. Received data is copied out of
 * the receive buffer, which is fastest while it stays in L2 (measured:
 * 64 KiB beats 256 KiB and 1 MiB on 1 MiB GETs); a large send buffer
 * means fewer syscalls per chunk write.
 */
#define HC_RECV_BUFFER (64L * 1024)
#define HC_SEND_BUFFER (512L * 1024)

/* Largest error body kept by http_client_get_into(); the rest is dropped. */
#define HC_ERR_BODY_MAX (64u * 1024)

/* URLs up to this length are built on the stack. */
#define HC_URL_STACK 1024

struct http_client {
	pthread_mutex_t lock;          /* guards pool and npool */
	CURL *pool[HC_POOL_MAX];       /* idle handles, a stack */
	size_t npool;                  /* handles in pool */
	long connect_timeout_ms;       /* from the options, read-only */
	long timeout_ms;               /* from the options, read-only */
	struct curl_slist *hdr_plain;  /* "Expect:", read-only */
	struct curl_slist *hdr_json;   /* plus JSON content type */
	struct curl_slist *hdr_octet;  /* plus octet-stream content type */
	const struct auth_key *auth;   /* borrowed; signs every call, or NULL */
	char *ca_file;                 /* CA bundle: https://; or NULL */
	struct hconn_pool *plain;      /* http:// connections, or NULL */
};

/* One call's request, as the caller gave it. */
struct hc_call {
	const char *method;
	const char *addr;
	const char *path;              /* target: path and query string */
	const char *const *headers;    /* extra lines, NULL-terminated */
	const void *body;              /* NULL: no body */
	size_t len;
	const char *content_type;      /* NULL: JSON when there is a body */
	const struct auth_digest *digest; /* the body's, or NULL: compute it */
};

/* Process-wide security settings taken by http_client_new(). */
static pthread_mutex_t hc_defaults_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct auth_key *hc_default_auth;  /* guarded by the lock */
static char *hc_default_ca;                     /* guarded by the lock */

/* A growable response buffer with a hard maximum. */
struct hc_sink {
	CURL *h;          /* handle, to read Content-Length once headers
			   * came (NULL on the plain path) */
	char *buf;        /* malloc()ed, NUL-terminated when non-NULL */
	size_t len;       /* bytes received */
	size_t cap;       /* bytes allocated, minus one for the NUL */
	size_t max;       /* largest body accepted */
	bool too_big;     /* the body went over max */
};

/*
 * Sink of http_client_get_into(): the caller's buffer for a 200 reply, a
 * bounded error buffer for any other status.
 */
struct hc_into {
	CURL *h;          /* handle, to read the response code */
	char *buf;        /* caller's buffer */
	size_t cap;       /* its size */
	size_t got;       /* bytes written into it */
	bool too_big;     /* a 200 body went over cap */
	struct hc_sink err; /* non-200 body */
	int dest;         /* plain path: enum hc_into_dest of the last room */
	char drop[512];   /* plain path: error bytes beyond err.max */
};

static pthread_once_t hc_global_once = PTHREAD_ONCE_INIT;

/* curl_global_init() is not thread-safe: run it once. */
static void hc_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialize libcurl");
}

/* Append to a header list, dying only on allocation failure. */
static struct curl_slist *hc_slist_add(struct curl_slist *l, const char *s)
{
	struct curl_slist *n = curl_slist_append(l, s);

	if (n == NULL)
		fatalx("out of memory building curl headers");
	return n;
}

void http_client_set_defaults(const struct http_client_sec *sec)
{
	pthread_mutex_lock(&hc_defaults_lock);
	free(hc_default_ca);
	hc_default_auth = sec != NULL ? sec->auth : NULL;
	hc_default_ca = sec != NULL && sec->ca_file != NULL
				? xstrdup(sec->ca_file)
				: NULL;
	pthread_mutex_unlock(&hc_defaults_lock);
}

/* Take the security settings of a new client. */
static void hc_set_sec(struct http_client *hc,
		       const struct http_client_sec *sec)
{
	if (sec != NULL) {
		hc->auth = sec->auth;
		hc->ca_file = sec->ca_file ? xstrdup(sec->ca_file) : NULL;
		return;
	}
	pthread_mutex_lock(&hc_defaults_lock);
	hc->auth = hc_default_auth;
	hc->ca_file = hc_default_ca != NULL ? xstrdup(hc_default_ca) : NULL;
	pthread_mutex_unlock(&hc_defaults_lock);
}

struct http_client *http_client_new(const struct http_client_opts *opts)
{
	return http_client_new_sec(opts, NULL);
}

struct http_client *http_client_new_sec(const struct http_client_opts *opts,
					const struct http_client_sec *sec)
{
	struct http_client *hc = xcalloc(1, sizeof(*hc));

	pthread_once(&hc_global_once, hc_global_init);
	pthread_mutex_init(&hc->lock, NULL);
	hc->connect_timeout_ms = 3000;
	hc->timeout_ms = 60000;
	if (opts != NULL && opts->connect_timeout_ms > 0)
		hc->connect_timeout_ms = opts->connect_timeout_ms;
	if (opts != NULL && opts->timeout_ms > 0)
		hc->timeout_ms = opts->timeout_ms;
	hc->hdr_plain = hc_slist_add(NULL, "Expect:");
	hc->hdr_json = hc_slist_add(hc_slist_add(NULL, "Expect:"),
				    "Content-Type: application/json");
	hc->hdr_octet = hc_slist_add(hc_slist_add(NULL, "Expect:"),
				     "Content-Type: application/octet-stream");
	hc_set_sec(hc, sec);
	if (hc->ca_file == NULL)
		hc->plain = hconn_pool_new(hc->connect_timeout_ms,
					   hc->timeout_ms);
	return hc;
}

void http_client_free(struct http_client *hc)
{
	size_t i;

	if (hc == NULL)
		return;
	for (i = 0; i < hc->npool; i++)
		curl_easy_cleanup(hc->pool[i]);
	curl_slist_free_all(hc->hdr_plain);
	curl_slist_free_all(hc->hdr_json);
	curl_slist_free_all(hc->hdr_octet);
	hconn_pool_free(hc->plain);
	pthread_mutex_destroy(&hc->lock);
	free(hc->ca_file);
	free(hc);
}

void http_result_release(struct http_result *res)
{
	if (res == NULL)
		return;
	free(res->body);
	res->body = NULL;
	res->len = 0;
	res->status = 0;
}

/* A new handle with the options that hold for every call. */
static CURL *hc_handle_new(const struct http_client *hc)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		fatalx("cannot create a curl handle");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, hc->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, hc->timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, HC_MAXCONNECTS);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, HC_RECV_BUFFER);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, HC_SEND_BUFFER);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/*
	 * Cluster traffic never goes through a proxy: without this, an
	 * http_proxy or ALL_PROXY in a user's environment sent every call of
	 * `dfs`, `mr` and a hand-started mount to the proxy, and curl read
	 * those variables again for every call.
	 */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (hc->auth != NULL)
		curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	if (hc->ca_file != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, hc->ca_file);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	return h;
}

/* Borrow a handle from the pool, or make one. */
static CURL *hc_handle_get(struct http_client *hc)
{
	CURL *h = NULL;

	pthread_mutex_lock(&hc->lock);
	if (hc->npool > 0)
		h = hc->pool[--hc->npool];
	pthread_mutex_unlock(&hc->lock);
	return h != NULL ? h : hc_handle_new(hc);
}

/* Give a handle back (its open connections stay with it). */
static void hc_handle_put(struct http_client *hc, CURL *h)
{
	pthread_mutex_lock(&hc->lock);
	if (hc->npool < HC_POOL_MAX) {
		hc->pool[hc->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&hc->lock);
	if (h != NULL)
		curl_easy_cleanup(h);
}

/* Negative errno for a failed transfer. */
static int hc_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/*
 * Shared header list for a body of this content type; *own is set when
 * the list was built for this call and must be freed.
 */
static struct curl_slist *hc_headers_plain(struct http_client *hc,
					   bool has_body,
					   const char *content_type,
					   struct curl_slist **own)
{
	char line[256];

	*own = NULL;
	if (!has_body)
		return hc->hdr_plain;
	if (content_type == NULL)
		return hc->hdr_json;
	if (strcmp(content_type, "application/json") == 0)
		return hc->hdr_json;
	if (strcmp(content_type, "application/octet-stream") == 0)
		return hc->hdr_octet;
	snprintf(line, sizeof(line), "Content-Type: %s", content_type);
	*own = hc_slist_add(hc_slist_add(NULL, "Expect:"), line);
	return *own;
}

/* True if no extra header line holds CR or LF. */
static bool hc_lines_ok(const char *const *lines)
{
	for (; lines != NULL && *lines != NULL; lines++)
		if (strpbrk(*lines, "\r\n") != NULL)
			return false;
	return true;
}

/*
 * Header list of one call: the shared lists when there is nothing to
 * add, else a list of its own (*own, freed by the caller) with the
 * content type, the signature and the extra lines. 0, or -EINVAL for a
 * bad extra line or a call auth_sign() refuses, -EIO if signing fails.
 */
/* The X-DFS-Auth line of a call of a signing client into line (size
 * bytes). 0, -EINVAL or -EIO as auth_sign(). */
static int hc_auth_line(const struct http_client *hc,
			const struct hc_call *call, char *line, size_t size)
{
	char sig[AUTH_HEADER_MAX];
	int r;

	r = call->digest != NULL
		    ? auth_sign_digest(hc->auth, call->method, call->path,
				       call->digest, time_now_ms(), sig)
		    : auth_sign(hc->auth, call->method, call->path, call->body,
				call->body != NULL ? call->len : 0,
				time_now_ms(), sig);
	if (r == 0)
		snprintf(line, size, "%s: %s", AUTH_HEADER, sig);
	return r;
}

static int hc_headers(struct http_client *hc, const struct hc_call *call,
		      struct curl_slist **own, struct curl_slist **list)
{
	char line[256];
	const char *const *x;
	struct curl_slist *l;
	int r;

	*own = NULL;
	if (hc->auth == NULL && call->headers == NULL) {
		*list = hc_headers_plain(hc, call->body != NULL,
					 call->content_type, own);
		return 0;
	}
	if (!hc_lines_ok(call->headers))
		return -EINVAL;
	l = hc_slist_add(NULL, "Expect:");
	if (call->body != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s",
			 call->content_type != NULL ? call->content_type
						    : "application/json");
		l = hc_slist_add(l, line);
	}
	if (hc->auth != NULL) {
		if ((r = hc_auth_line(hc, call, line, sizeof(line))) != 0) {
			curl_slist_free_all(l);
			return r;
		}
		l = hc_slist_add(l, line);
	}
	for (x = call->headers; x != NULL && *x != NULL; x++)
		l = hc_slist_add(l, *x);
	*own = *list = l;
	return 0;
}

/* Set the method and body of the next transfer. */
static void hc_set_method(CURL *h, const char *method, const void *body,
			  size_t len)
{
	bool is_get = strcmp(method, "GET") == 0;

	if (is_get && body == NULL) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
		return;
	}
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
			 strcmp(method, "POST") == 0 ? NULL : method);
}

/* The Content-Length of the reply a curl sink receives, or -1. */
static int64_t hc_sink_length(const struct hc_sink *s)
{
	curl_off_t cl = -1;

	if (s->h != NULL)
		curl_easy_getinfo(s->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	return cl;
}

/* Make room for "more" bytes in a sink, a reply of Content-Length cl (-1:
 * unknown); false when over its maximum. */
static bool hc_sink_reserve(struct hc_sink *s, size_t more, int64_t cl)
{
	size_t ncap;
	char *nbuf;

	if (more > s->max - s->len)
		return false;
	if (s->len + more <= s->cap && s->buf != NULL)
		return true;
	if (s->buf == NULL && cl > 0 && (uint64_t)cl <= s->max &&
	    (size_t)cl >= more)
		ncap = (size_t)cl;
	else
		ncap = s->cap != 0 ? s->cap * 2 : 16384;
	if (ncap < s->len + more)
		ncap = s->len + more;
	if (ncap > s->max)
		ncap = s->max;
	nbuf = realloc(s->buf, ncap + 1);
	if (nbuf == NULL)
		return false;
	s->buf = nbuf;
	s->cap = ncap;
	return true;
}

/* Append to a sink; false (and too_big set) when it cannot take it. */
static bool hc_sink_add(struct hc_sink *s, const char *data, size_t n)
{
	if (!hc_sink_reserve(s, n, s->buf == NULL ? hc_sink_length(s) : -1)) {
		s->too_big = true;
		return false;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return true;
}

/* curl write callback into a struct hc_sink. */
static size_t hc_sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	size_t n = size * nmemb;

	return hc_sink_add(arg, data, n) ? n : 0;
}

/* curl write callback of http_client_get_into(). */
static size_t hc_into_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hc_into *in = arg;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(in->h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		/* An error body is informative only: keep what fits. */
		hc_sink_add(&in->err, data, n);
		return n;
	}
	if (n > in->cap - in->got) {
		in->too_big = true;
		return 0;
	}
	memcpy(in->buf + in->got, data, n);
	in->got += n;
	return n;
}

/* Perform one exchange on a handle whose sink and method are set. */
static CURLcode hc_perform(const struct http_client *hc, CURL *h,
			   const char *addr, const char *path,
			   struct curl_slist *headers)
{
	const char *scheme = hc->ca_file != NULL ? "https" : "http";
	char stack_url[HC_URL_STACK];
	char *url = stack_url;
	CURLcode rc;
	int n;

	n = snprintf(stack_url, sizeof(stack_url), "%s://%s%s", scheme, addr,
		     path);
	if (n < 0)
		return CURLE_URL_MALFORMAT;
	if ((size_t)n >= sizeof(stack_url))
		url = xasprintf("%s://%s%s", scheme, addr, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(h);
	/* Drop pointers into our stack and buffers before the next call. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	if (url != stack_url)
		free(url);
	return rc;
}

/*
 * ---------------------------------------------------------------------
 * The plain http:// path (http_conn.c)
 * ---------------------------------------------------------------------
 */

/* Most extra header lines a call may carry on the plain path. */
#define HC_PLAIN_LINES 16

/* Where the last room of an hc_into went. */
enum hc_into_dest {
	HC_INTO_BODY,
	HC_INTO_ERR,
	HC_INTO_DROP,
};

/* hconn_sink room() of a struct hc_sink. */
static char *hc_sink_room(void *arg, long status, int64_t length, size_t *n,
			  int *err)
{
	struct hc_sink *s = arg;
	size_t want;

	(void)status;
	if (length >= 0 && (uint64_t)length > s->max)
		want = SIZE_MAX;
	else if (length >= 0)
		want = (size_t)length - s->len;
	else
		want = s->max - s->len < 16384 ? s->max - s->len : 16384;
	if (want == 0 || !hc_sink_reserve(s, want, length)) {
		s->too_big = true;
		*err = -EMSGSIZE;
		return NULL;
	}
	*n = s->cap - s->len;
	return s->buf + s->len;
}

/* hconn_sink filled() of a struct hc_sink. */
static void hc_sink_filled(void *arg, size_t n)
{
	struct hc_sink *s = arg;

	s->len += n;
	s->buf[s->len] = '\0';
}

/* hconn_sink room() of http_client_get_into(): the caller's buffer for a
 * 200 reply; for any other, the bounded error sink, then a scratch
 * buffer for what goes over it. */
static char *hc_into_room(void *arg, long status, int64_t length, size_t *n,
			  int *err)
{
	struct hc_into *in = arg;
	size_t want;

	if (status == 200) {
		if ((length >= 0 && (uint64_t)length > in->cap) ||
		    in->got == in->cap) {
			in->too_big = true;
			*err = -EMSGSIZE;
			return NULL;
		}
		in->dest = HC_INTO_BODY;
		*n = in->cap - in->got;
		return in->buf + in->got;
	}
	want = in->err.max - in->err.len;
	if (want > 4096)
		want = 4096;
	if (want > 0 && hc_sink_reserve(&in->err, want, -1)) {
		in->dest = HC_INTO_ERR;
		*n = in->err.cap - in->err.len;
		return in->err.buf + in->err.len;
	}
	in->dest = HC_INTO_DROP;
	*n = sizeof(in->drop);
	return in->drop;
}

/* hconn_sink filled() of http_client_get_into(). */
static void hc_into_filled(void *arg, size_t n)
{
	struct hc_into *in = arg;

	if (in->dest == HC_INTO_BODY)
		in->got += n;
	else if (in->dest == HC_INTO_ERR)
		hc_sink_filled(&in->err, n);
}

/*
 * The header lines of a call on the plain path into lines[] (HC_PLAIN_LINES
 * + 3 entries, NULL-terminated): its content type and signature, whose
 * texts go into ctype and auth (256 bytes each), then the caller's.
 */
static int hc_plain_lines(const struct http_client *hc,
			  const struct hc_call *call, const char **lines,
			  char *ctype, char *auth)
{
	const char *const *x;
	size_t n = 0;
	int r;

	if (!hc_lines_ok(call->headers))
		return -EINVAL;
	if (call->body != NULL) {
		snprintf(ctype, 256, "Content-Type: %s",
			 call->content_type != NULL ? call->content_type
						    : "application/json");
		lines[n++] = ctype;
	}
	if (hc->auth != NULL) {
		if ((r = hc_auth_line(hc, call, auth, 256)) != 0)
			return r;
		lines[n++] = auth;
	}
	for (x = call->headers; x != NULL && *x != NULL; x++) {
		if (n == HC_PLAIN_LINES + 2)
			return -EINVAL;
		lines[n++] = *x;
	}
	lines[n] = NULL;
	return 0;
}

/* A call on the plain path, from its send to its receive; on the stack
 * for a one-shot call, allocated by http_client_send() otherwise. */
struct http_call {
	struct http_client *hc;
	struct hc_call call;           /* the caller's, borrowed */
	int err;                       /* building the request failed */
	bool plain;                    /* sent over http_conn.c */
	const char *lines[HC_PLAIN_LINES + 3];
	char ctype[256], auth[256];    /* texts of lines[] */
	struct hconn_req rq;
	struct hconn_call hcall;
};

/* Build the request of c (c->hc and c->call set) and send it. */
static void hc_plain_send(struct http_call *c)
{
	c->plain = true;
	c->err = hc_plain_lines(c->hc, &c->call, c->lines, c->ctype, c->auth);
	if (c->err != 0)
		return;
	c->rq = (struct hconn_req){
		.method = c->call.method, .addr = c->call.addr,
		.target = c->call.path, .lines = c->lines,
		.body = c->call.body, .len = c->call.len,
	};
	hconn_send(c->hc->plain, &c->rq, &c->hcall);
}

/* The reply of a call hc_plain_send() sent, into "sink". */
static int hc_plain_receive(struct http_call *c, const struct hconn_sink *sink,
			    long *status)
{
	return c->err != 0 ? c->err : hconn_receive(&c->hcall, sink, status);
}

/* The reply of a call hc_plain_send() sent, as an http_result. */
static int hc_plain_result(struct http_call *c, size_t max_resp,
			   struct http_result *res)
{
	struct hc_sink sink = {.max = max_resp};
	struct hconn_sink hs = {hc_sink_room, hc_sink_filled, &sink};
	int r;

	r = hc_plain_receive(c, &hs, &res->status);
	if (r == 0) {
		res->body = sink.buf;
		res->len = sink.len;
	} else {
		res->status = 0;
		free(sink.buf);
	}
	return r;
}

/* http_client_request_hdr() on the plain path. */
static int hc_plain_request(struct http_client *hc, const struct hc_call *call,
			    size_t max_resp, struct http_result *res)
{
	struct http_call c = {.hc = hc, .call = *call};

	hc_plain_send(&c);
	return hc_plain_result(&c, max_resp, res);
}

/* http_client_request_hdr() for a described call. */
static int hc_request(struct http_client *hc, const struct hc_call *call,
		      size_t max_resp, struct http_result *res)
{
	struct hc_sink sink = {.max = max_resp};
	struct curl_slist *own = NULL, *headers;
	CURL *h = NULL;
	CURLcode rc;
	int r;

	memset(res, 0, sizeof(*res));
	if (hc->plain != NULL)
		return hc_plain_request(hc, call, max_resp, res);
	if ((r = hc_headers(hc, call, &own, &headers)) != 0)
		goto out;
	h = hc_handle_get(hc);
	sink.h = h;
	hc_set_method(h, call->method, call->body, call->len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hc_sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	rc = hc_perform(hc, h, call->addr, call->path, headers);
	if (rc != CURLE_OK) {
		r = sink.too_big ? -EMSGSIZE : hc_errno(rc);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
	res->body = sink.buf;
	res->len = sink.len;
	sink.buf = NULL;
	r = 0;
out:
	if (h != NULL)
		hc_handle_put(hc, h);
	curl_slist_free_all(own);
	free(sink.buf);
	return r;
}

struct http_call *http_client_send(struct http_client *hc, const char *method,
				   const char *addr, const char *path,
				   const char *const *headers, const void *body,
				   size_t len, const struct auth_digest *digest,
				   const char *content_type)
{
	struct http_call *c = xcalloc(1, sizeof(*c));

	c->hc = hc;
	c->call = (struct hc_call){
		.method = method, .addr = addr, .path = path,
		.headers = headers, .body = body, .len = len,
		.content_type = content_type, .digest = digest,
	};
	if (hc->plain != NULL)
		hc_plain_send(c);
	return c;
}

int http_client_receive(struct http_call *c, size_t max_resp,
			struct http_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	r = c->plain ? hc_plain_result(c, max_resp, res)
		     : hc_request(c->hc, &c->call, max_resp, res);
	free(c);
	return r;
}

int http_client_request(struct http_client *hc, const char *method,
			const char *addr, const char *path, const void *body,
			size_t len, const char *content_type, size_t max_resp,
			struct http_result *res)
{
	return http_client_request_hdr(hc, method, addr, path, NULL, body, len,
				       content_type, max_resp, res);
}

int http_client_request_hdr(struct http_client *hc, const char *method,
			    const char *addr, const char *path,
			    const char *const *headers, const void *body,
			    size_t len, const char *content_type,
			    size_t max_resp, struct http_result *res)
{
	return http_client_request_digest(hc, method, addr, path, headers,
					  body, len, NULL, content_type,
					  max_resp, res);
}

int http_client_request_digest(struct http_client *hc, const char *method,
			       const char *addr, const char *path,
			       const char *const *headers, const void *body,
			       size_t len, const struct auth_digest *digest,
			       const char *content_type, size_t max_resp,
			       struct http_result *res)
{
	struct hc_call call = {
		.method = method, .addr = addr, .path = path,
		.headers = headers, .body = body, .len = len,
		.content_type = content_type, .digest = digest,
	};

	return hc_request(hc, &call, max_resp, res);
}

int http_client_get_into(struct http_client *hc, const char *addr,
			 const char *path, void *buf, size_t cap, size_t *got,
			 long *status, char **err_body)
{
	return http_client_get_into_hdr(hc, addr, path, NULL, buf, cap, got,
					status, err_body);
}

int http_client_get_into_hdr(struct http_client *hc, const char *addr,
			     const char *path, const char *const *headers,
			     void *buf, size_t cap, size_t *got, long *status,
			     char **err_body)
{
	struct hc_call call = {.method = "GET", .addr = addr, .path = path,
			       .headers = headers};
	struct hc_into in = {.buf = buf, .cap = cap};
	struct curl_slist *own = NULL, *list;
	CURL *h = NULL;
	CURLcode rc;
	int r;

	*got = 0;
	*status = 0;
	if (err_body != NULL)
		*err_body = NULL;
	in.err.max = HC_ERR_BODY_MAX;
	if (hc->plain != NULL) {
		struct hconn_sink hs = {hc_into_room, hc_into_filled, &in};
		struct http_call pc = {.hc = hc, .call = call};

		hc_plain_send(&pc);
		if ((r = hc_plain_receive(&pc, &hs, status)) != 0) {
			*status = 0;
			goto out;
		}
		*got = in.got;
		if (err_body != NULL) {
			*err_body = in.err.buf;
			in.err.buf = NULL;
		}
		goto out;
	}
	if ((r = hc_headers(hc, &call, &own, &list)) != 0)
		goto out;
	h = hc_handle_get(hc);
	in.h = h;
	in.err.h = h;
	hc_set_method(h, "GET", NULL, 0);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hc_into_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &in);
	rc = hc_perform(hc, h, addr, path, list);
	if (rc != CURLE_OK) {
		r = in.too_big ? -EMSGSIZE : hc_errno(rc);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	*got = in.got;
	if (err_body != NULL) {
		*err_body = in.err.buf;
		in.err.buf = NULL;
	}
	r = 0;
out:
	if (h != NULL)
		hc_handle_put(hc, h);
	curl_slist_free_all(own);
	free(in.err.buf);
	return r;
}
