/*
 * http_conn.h - HTTP/1.1 exchanges over plain TCP with kept-alive
 * connections: the transport of http_client.c for http:// (https://
 * goes through libcurl). Private to lib/.
 *
 * Why not libcurl for everything: the daemons and the mount talk in many
 * small calls (a create, a 4 KiB write fanned out to two servers), and
 * each curl_easy_perform() costs a multi handle's state machine, a URL
 * parse, a connection cache lookup and several poll() calls. Here an
 * exchange is one sendmsg() of the header block and the body, then
 * recv() calls; a response body goes straight into its final buffer.
 *
 * The request's header block is written here; replies are parsed by
 * http_parser (libhttp-parser), whatever their framing: Content-Length,
 * chunked, or up to the end of the connection.
 *
 * THREAD SAFETY: a pool may be used from many threads; each exchange
 * takes a connection out of it (or opens one) and gives it back once the
 * reply was read whole.
 */
#ifndef DFS_HTTP_CONN_H
#define DFS_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hconn_pool;

/* A request: the header lines come complete ("Name: value"), without
 * Host and Content-Length, which the exchange adds. */
struct hconn_req {
	const char *method;
	const char *addr;              /* host:port, [v6]:port */
	const char *target;            /* path and query string */
	const char *const *lines;      /* NULL-terminated, may be NULL */
	const void *body;              /* NULL: none */
	size_t len;
};

/*
 * Where a response body goes. room() gives space for the next bytes
 * (*n >= 1), knowing the status and the Content-Length (-1: none), or
 * returns NULL to abandon the exchange with its negative errno in *err;
 * filled() says how many bytes went in.
 */
struct hconn_sink {
	char *(*room)(void *arg, long status, int64_t length, size_t *n,
		      int *err);
	void (*filled)(void *arg, size_t n);
	void *arg;
};

/* New pool, never NULL; connect_timeout_ms bounds a connection's setup,
 * timeout_ms a whole exchange. */
struct hconn_pool *hconn_pool_new(long connect_timeout_ms, long timeout_ms);

/* Close every idle connection and free the pool. NULL is a no-op. */
void hconn_pool_free(struct hconn_pool *p);

/*
 * An exchange in two halves: hconn_send() sends the request on a kept
 * connection (or a new one) and returns; hconn_receive() reads the reply
 * into the sink and returns 0 with *status set, or -ECONNREFUSED (cannot
 * connect), -ETIMEDOUT, -EIO (anything else), or the sink's error. The
 * request stays borrowed until then: a kept connection that the peer had
 * closed is replaced once, before any byte of the reply came, and the
 * request sent again.
 */
struct hconn_call {
	struct hconn_pool *p;
	const struct hconn_req *rq;
	int64_t deadline;              /* of the whole exchange */
	int fd;                        /* -1: no connection */
	bool reused;                   /* fd came from the pool */
	int err;                       /* of the send, 0 if none */
};
void hconn_send(struct hconn_pool *p, const struct hconn_req *rq,
		struct hconn_call *c);
int hconn_receive(struct hconn_call *c, const struct hconn_sink *sink,
		  long *status);

#endif
