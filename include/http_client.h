/*
 * http_client.h - HTTP client calls with connections reused.
 *
 * Plain http:// calls go over this project's own HTTP/1.1 transport
 * (lib/http_conn.h); https:// ones over libcurl, whose TLS it does not
 * redo. Either way a client keeps its connections open between calls and
 * concurrent calls from many threads are fine. Every call has a timeout.
 *
 * Return values: 0 when an HTTP exchange completed (whatever its status,
 * which is reported separately), or a negative errno when it did not:
 * -ECONNREFUSED (nobody listening), -ETIMEDOUT, -EIO (anything else,
 * TLS handshake and certificate failures included).
 *
 * Security (struct http_client_sec, optional): with a cluster key every
 * request carries an X-DFS-Auth signature (auth.h) made just before it
 * is sent; with a CA file every URL is https:// and the server's
 * certificate must chain to that CA and name the host of ADDR. A program
 * sets both once for all its clients with http_client_set_defaults(),
 * or per client with http_client_new_sec().
 */
#ifndef DFS_HTTP_CLIENT_H
#define DFS_HTTP_CLIENT_H

#include <stddef.h>

struct auth_digest;
struct auth_key;
struct http_client;

struct http_client_opts {
	long connect_timeout_ms;  /* 0: 3000 */
	long timeout_ms;          /* whole request; 0: 60000 */
};

/* Security settings of a client; zero (or NULL) fields: none. */
struct http_client_sec {
	const struct auth_key *auth; /* borrowed: sign every request */
	const char *ca_file;         /* PEM CA bundle: https:// and verify */
};

/*
 * New client; opts may be NULL for the defaults. Never NULL. It takes the
 * process-wide security settings (http_client_set_defaults()).
 */
struct http_client *http_client_new(const struct http_client_opts *opts);

/*
 * New client with its own security settings; sec NULL means the
 * process-wide ones. ca_file is copied; the key is borrowed and must
 * outlive the client. Never NULL.
 */
struct http_client *http_client_new_sec(const struct http_client_opts *opts,
					const struct http_client_sec *sec);

/*
 * Set the security settings every later http_client_new() takes (sec
 * NULL: none). Call from main() before making clients: clients made
 * earlier keep what they had. ca_file is copied; the key is borrowed and
 * must stay valid while clients use it.
 */
void http_client_set_defaults(const struct http_client_sec *sec);

/* Free the client and close its connections. NULL is a no-op. */
void http_client_free(struct http_client *hc);

/* A response body owned by the caller (free with http_result_release). */
struct http_result {
	long status;     /* HTTP status code */
	char *body;      /* malloc()ed, NUL-terminated, may be NULL if empty */
	size_t len;      /* body length without the terminating NUL */
};

void http_result_release(struct http_result *res);

/*
 * Send METHOD http://ADDR/PATH (PATH starts with '/' and may carry a query
 * string) with an optional body and read the whole response into *res.
 * "content_type" may be NULL (application/json when a body is given).
 * Responses larger than max_resp bytes fail with -EMSGSIZE.
 */
int http_client_request(struct http_client *hc, const char *method,
			const char *addr, const char *path, const void *body,
			size_t len, const char *content_type, size_t max_resp,
			struct http_result *res);

/*
 * GET http://ADDR/PATH straight into a caller buffer of "cap" bytes
 * (no copy): on a 200 reply *got is the body length (at most cap; longer
 * bodies fail with -EMSGSIZE). On any other status *status is set and the
 * body, if any, is returned in *err_body (caller frees, may be NULL).
 */
int http_client_get_into(struct http_client *hc, const char *addr,
			 const char *path, void *buf, size_t cap, size_t *got,
			 long *status, char **err_body);

/*
 * The same two calls with extra request headers: "headers" is a
 * NULL-terminated array of "Name: value" lines (may be NULL), borrowed
 * for the call, e.g. {"X-DFS-Token: 42.1.1763900001000.ab12...", NULL}.
 * A line holding CR or LF fails with -EINVAL before anything is sent.
 */
int http_client_request_hdr(struct http_client *hc, const char *method,
			    const char *addr, const char *path,
			    const char *const *headers, const void *body,
			    size_t len, const char *content_type,
			    size_t max_resp, struct http_result *res);
/*
 * http_client_request_hdr() for a body whose digest (auth.h) is known:
 * the signature uses "digest" (NULL: computed from the body as usual)
 * instead of reading the body again. A server forwarding a request it
 * verified passes http_request_body_digest().
 */
int http_client_request_digest(struct http_client *hc, const char *method,
			       const char *addr, const char *path,
			       const char *const *headers, const void *body,
			       size_t len, const struct auth_digest *digest,
			       const char *content_type, size_t max_resp,
			       struct http_result *res);
int http_client_get_into_hdr(struct http_client *hc, const char *addr,
			     const char *path, const char *const *headers,
			     void *buf, size_t cap, size_t *got, long *status,
			     char **err_body);

/*
 * A call in two halves, for a caller with work to do while the peer
 * answers (a chunk server applying a write it also sent to the other
 * replicas): http_client_send() sends the request of
 * http_client_request_digest() and returns at once, never NULL;
 * http_client_receive() reads the reply into *res as that call would
 * and ends the call. Every sent call is received exactly once, and the
 * arguments of the send stay valid until then. Over https (libcurl) the
 * whole exchange happens in the receive.
 */
struct http_call;
struct http_call *http_client_send(struct http_client *hc, const char *method,
				   const char *addr, const char *path,
				   const char *const *headers, const void *body,
				   size_t len, const struct auth_digest *digest,
				   const char *content_type);
int http_client_receive(struct http_call *call, size_t max_resp,
			struct http_result *res);

#endif
