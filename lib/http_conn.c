/*
 * http_conn.c - HTTP/1.1 exchanges over plain TCP with kept-alive
 * connections (see http_conn.h).
 *
 * Sockets are non-blocking; every wait is a poll() bounded by the
 * exchange's deadline. Replies are parsed by http_parser (Debian's
 * libhttp-parser, Node.js's parser before llhttp): it reads the header
 * block and whatever body came in the same recv(); the rest of a body
 * whose length is known is received straight into the sink's buffers.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <http_parser.h>

#include "dfs_proto.h"
#include "http_conn.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

#include "banned.h"

/* Idle connections a pool keeps; one given back beyond that is closed. */
#define HCONN_IDLE_MAX 128

/* A connection idle longer than this is checked before it is reused
 * (the peer may have closed it: libmicrohttpd's idle timeout). */
#define HCONN_CHECK_IDLE_MS 1000

/* Bytes of a reply received at once while http_parser reads it, on the
 * stack: a malloc() of this size for every reply made glibc consolidate
 * its fast bins each time (malloc_consolidate(), the most expensive part
 * of fusefs's allocations). */
#define HCONN_RECV_BUF 16384

/* Request header blocks up to this size are built on the stack. */
#define HCONN_REQ_STACK 2048

struct hconn {
	int fd;
	int64_t idle_ms;               /* when it went idle (monotonic) */
	char addr[DFS_ADDR_MAX];
};

struct hconn_pool {
	pthread_mutex_t mu;            /* guards idle and nidle */
	struct hconn idle[HCONN_IDLE_MAX]; /* a stack, most recent last */
	size_t nidle;
	long connect_timeout_ms;       /* read-only */
	long timeout_ms;               /* read-only */
};

/* What the header block of a reply said. */
struct hconn_reply {
	long status;
	int64_t length;                /* Content-Length, -1: none */
	bool keep;                     /* the connection may be reused */
};

struct hconn_pool *hconn_pool_new(long connect_timeout_ms, long timeout_ms)
{
	struct hconn_pool *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->mu, NULL);
	p->connect_timeout_ms = connect_timeout_ms;
	p->timeout_ms = timeout_ms;
	return p;
}

void hconn_pool_free(struct hconn_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nidle; i++)
		close(p->idle[i].fd);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* True if an idle connection shows the peer closed it (or sent data
 * nobody asked for). */
static bool conn_is_dead(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) != 0;
}

/* An idle connection to addr, or -1. */
static int pool_take(struct hconn_pool *p, const char *addr)
{
	int64_t now = time_mono_ms();
	struct hconn c;
	size_t i;

	pthread_mutex_lock(&p->mu);
	for (i = p->nidle; i-- > 0;) {
		if (strcmp(p->idle[i].addr, addr) != 0)
			continue;
		c = p->idle[i];
		memmove(&p->idle[i], &p->idle[i + 1],
			(p->nidle - i - 1) * sizeof(p->idle[0]));
		p->nidle--;
		pthread_mutex_unlock(&p->mu);
		if (now - c.idle_ms < HCONN_CHECK_IDLE_MS ||
		    !conn_is_dead(c.fd))
			return c.fd;
		close(c.fd);
		pthread_mutex_lock(&p->mu);
		i = p->nidle;
	}
	pthread_mutex_unlock(&p->mu);
	return -1;
}

/* Keep a connection whose last reply was read whole. */
static void pool_give(struct hconn_pool *p, const char *addr, int fd)
{
	pthread_mutex_lock(&p->mu);
	if (p->nidle < HCONN_IDLE_MAX) {
		p->idle[p->nidle].fd = fd;
		p->idle[p->nidle].idle_ms = time_mono_ms();
		snprintf(p->idle[p->nidle].addr, DFS_ADDR_MAX, "%s", addr);
		p->nidle++;
		fd = -1;
	}
	pthread_mutex_unlock(&p->mu);
	if (fd >= 0)
		close(fd);
}

/* Wait until fd is ready for "events" or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left;
	int n;

	for (;;) {
		left = deadline - time_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Split "host:port" or "[v6]:port" into host and port. */
static int split_addr(const char *addr, char *host, size_t hsize,
		      const char **port)
{
	const char *colon = strrchr(addr, ':');
	size_t n;

	if (colon == NULL || colon == addr)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n == 0 || n >= hsize)
		return -EINVAL;
	memcpy(host, addr, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

/* Finish a non-blocking connect of fd. */
static int connect_wait(int fd, int64_t deadline)
{
	socklen_t len = sizeof(int);
	int err = 0, r;

	if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -errno;
	return -err;
}

/* Connect to one address of the peer. fd or -errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
	int fd, one = 1, r = 0;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		r = errno == EINPROGRESS ? connect_wait(fd, deadline) : -errno;
	if (r != 0) {
		close(fd);
		return r;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return fd;
}

/* A new connection to addr: fd, or -ECONNREFUSED, -ETIMEDOUT, -EIO. */
static int conn_open(const struct hconn_pool *p, const char *addr,
		     int64_t deadline)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	int64_t until = time_mono_ms() + p->connect_timeout_ms;
	char host[DFS_ADDR_MAX];
	const char *port;
	int r, fd = -ECONNREFUSED;

	if (until > deadline)
		until = deadline;
	if (split_addr(addr, host, sizeof(host), &port) != 0)
		return -EIO;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_debug("cannot resolve '%s': %s", addr, gai_strerror(r));
		return -EIO;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = connect_one(ai, until);
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd >= 0 || fd == -ETIMEDOUT)
		return fd;
	return -ECONNREFUSED;
}

/* Send every byte of iov[0..n-1] (modified). */
static int send_all(int fd, struct iovec *iov, int n, int64_t deadline)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	ssize_t k;
	int r;

	while (msg.msg_iovlen > 0) {
		k = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
				return r;
			continue;
		}
		if (k < 0)
			return -errno;
		while (msg.msg_iovlen > 0 &&
		       (size_t)k >= msg.msg_iov[0].iov_len) {
			k -= (ssize_t)msg.msg_iov[0].iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov[0].iov_base =
				(char *)msg.msg_iov[0].iov_base + k;
			msg.msg_iov[0].iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* Receive up to n bytes: the count, 0 at the end of the stream, or
 * -errno. "wait" polls first (nothing is expected to be there yet). */
static ssize_t recv_some(int fd, void *buf, size_t n, bool wait,
			 int64_t deadline)
{
	ssize_t k;
	int r;

	for (;;) {
		if (wait && (r = wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		k = recv(fd, buf, n, 0);
		if (k >= 0)
			return k;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			wait = errno != EINTR;
		else
			return -errno;
	}
}

/* Length of the request header block of rq (with its final CRLF). */
static size_t head_length(const struct hconn_req *rq)
{
	size_t n = strlen(rq->method) + strlen(rq->target) +
		   strlen(rq->addr) + 64;

	for (const char *const *l = rq->lines; l != NULL && *l != NULL; l++)
		n += strlen(*l) + 2;
	return n;
}

/* Write the request header block into buf (size from head_length()). */
static size_t head_write(const struct hconn_req *rq, char *buf, size_t size)
{
	size_t n;

	n = (size_t)snprintf(buf, size, "%s %s HTTP/1.1\r\nHost: %s\r\n",
			     rq->method, rq->target, rq->addr);
	for (const char *const *l = rq->lines; l != NULL && *l != NULL; l++)
		n += (size_t)snprintf(buf + n, size - n, "%s\r\n", *l);
	if (rq->body != NULL || strcmp(rq->method, "GET") != 0)
		n += (size_t)snprintf(buf + n, size - n,
				      "Content-Length: %zu\r\n", rq->len);
	n += (size_t)snprintf(buf + n, size - n, "\r\n");
	return n;
}

/* Send the request on fd. */
static int send_request(int fd, const struct hconn_req *rq, int64_t deadline)
{
	char stack[HCONN_REQ_STACK];
	size_t need = head_length(rq);
	char *head = need <= sizeof(stack) ? stack : xmalloc(need);
	struct iovec iov[2];
	int r;

	iov[0].iov_base = head;
	iov[0].iov_len = head_write(rq, head, need);
	iov[1].iov_base = (void *)rq->body;
	iov[1].iov_len = rq->body != NULL ? rq->len : 0;
	r = send_all(fd, iov, iov[1].iov_len > 0 ? 2 : 1, deadline);
	if (head != stack)
		free(head);
	return r;
}

/* The sink's room for at most "max" more bytes of body, or NULL with
 * its error in *err. */
static char *sink_room(const struct hconn_sink *sink,
		       const struct hconn_reply *rep, uint64_t max,
		       size_t *room, int *err)
{
	char *dst;

	*err = -EIO;
	dst = sink->room(sink->arg, rep->status, rep->length, room, err);
	if (dst != NULL && *room > max)
		*room = (size_t)max;
	return dst;
}

/* Hand "n" bytes of body (already received, at src) to the sink. */
static int sink_copy(const struct hconn_sink *sink,
		     const struct hconn_reply *rep, const char *src, size_t n)
{
	size_t room;
	char *dst;
	int err;

	while (n > 0) {
		if ((dst = sink_room(sink, rep, n, &room, &err)) == NULL)
			return err;
		memcpy(dst, src, room);
		sink->filled(sink->arg, room);
		src += room;
		n -= room;
	}
	return 0;
}

/* Receive the rest of the body (or up to the end of the stream when the
 * length is unknown) straight into the sink. */
static int sink_recv(int fd, const struct hconn_sink *sink,
		     const struct hconn_reply *rep, uint64_t left,
		     int64_t deadline)
{
	size_t room;
	ssize_t k;
	char *dst;
	int err;

	while (left > 0) {
		if ((dst = sink_room(sink, rep, left, &room, &err)) == NULL)
			return err;
		k = recv_some(fd, dst, room, false, deadline);
		if (k < 0)
			return (int)k;
		if (k == 0)
			return rep->length < 0 ? 0 : -ECONNRESET;
		sink->filled(sink->arg, (size_t)k);
		left -= (uint64_t)k;
	}
	return 0;
}

/* What http_parser's callbacks saw of one reply. */
struct reply_parse {
	const struct hconn_sink *sink;
	struct hconn_reply *rep;
	bool head_done;                /* the final header block is parsed */
	bool chunked;                  /* its body comes in chunks */
	bool done;                     /* the whole reply is parsed */
	int err;                       /* the sink's error, 0 if none */
};

static int on_headers_complete(http_parser *p)
{
	struct reply_parse *rp = p->data;

	if (p->status_code < 100 || p->status_code > 599)
		return -1;
	/* An interim (1xx) reply has no body; the parser goes on to the
	 * next one. */
	if (p->status_code < 200)
		return 0;
	rp->chunked = (p->flags & F_CHUNKED) != 0;
	rp->rep->status = p->status_code;
	rp->rep->length = -1;
	if ((p->flags & F_CONTENTLENGTH) != 0 && !rp->chunked) {
		if (p->content_length > INT64_MAX)
			return -1;
		rp->rep->length = (int64_t)p->content_length;
	}
	rp->rep->keep = http_should_keep_alive(p) != 0;
	rp->head_done = true;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct reply_parse *rp = p->data;

	rp->err = sink_copy(rp->sink, rp->rep, at, n);
	return rp->err != 0 ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct reply_parse *rp = p->data;

	if (rp->head_done) {
		rp->done = true;
		/* Stop here: whatever follows is not part of this reply. */
		http_parser_pause(p, 1);
	}
	return 0;
}

/*
 * Read the reply on fd into the sink. http_parser reads the header
 * block (skipping interim replies) and whatever body came with it; the
 * rest of a body of known length, or one that ends with the connection,
 * is received straight into the sink, while a chunked one goes on
 * through the parser.
 */
static int read_reply(int fd, const struct hconn_sink *sink,
		      struct hconn_reply *rep, bool *any, int64_t deadline)
{
	static const http_parser_settings settings = {
		.on_headers_complete = on_headers_complete,
		.on_body = on_body,
		.on_message_complete = on_message_complete,
	};
	struct reply_parse rp = {.sink = sink, .rep = rep};
	enum http_errno e;
	http_parser parser;
	char buf[HCONN_RECV_BUF];
	size_t parsed;
	ssize_t k;
	int r = 0;

	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &rp;
	while (!rp.done) {
		if (rp.head_done && !rp.chunked) {
			r = sink_recv(fd, sink, rep,
				      rep->length < 0 ? UINT64_MAX
						      : parser.content_length,
				      deadline);
			break;
		}
		k = recv_some(fd, buf, HCONN_RECV_BUF, !*any, deadline);
		if (k <= 0) {
			r = k == 0 ? -ECONNRESET : (int)k;
			break;
		}
		*any = true;
		parsed = http_parser_execute(&parser, &settings, buf,
					     (size_t)k);
		e = HTTP_PARSER_ERRNO(&parser);
		if (rp.err != 0) {
			r = rp.err;
			break;
		}
		if (e != HPE_OK && !(e == HPE_PAUSED && rp.done)) {
			r = -EIO;
			break;
		}
		/* More than the reply: the stream is out of step. */
		if (rp.done && parsed < (size_t)k)
			rep->keep = false;
	}
	return r;
}

/* Map a failure to the errnos of http_client.h. */
static int public_errno(int r)
{
	switch (r) {
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EMSGSIZE:
	case -EINVAL:
		return r;
	default:
		return -EIO;
	}
}

/* Take a kept-alive connection (unless "fresh") or open one, and send
 * the request on it. 0, or -errno with c->fd -1 when there is no
 * connection. */
static int call_send(struct hconn_call *c, bool fresh)
{
	int r;

	c->fd = fresh ? -1 : pool_take(c->p, c->rq->addr);
	c->reused = c->fd >= 0;
	if (!c->reused && (c->fd = conn_open(c->p, c->rq->addr,
					     c->deadline)) < 0) {
		r = c->fd;
		c->fd = -1;
		return r;
	}
	return send_request(c->fd, c->rq, c->deadline);
}

void hconn_send(struct hconn_pool *p, const struct hconn_req *rq,
		struct hconn_call *c)
{
	c->p = p;
	c->rq = rq;
	c->deadline = time_mono_ms() + p->timeout_ms;
	c->err = call_send(c, false);
}

int hconn_receive(struct hconn_call *c, const struct hconn_sink *sink,
		  long *status)
{
	struct hconn_reply rep = {0};
	int r = c->err, attempt;
	bool any;

	for (attempt = 0; c->fd >= 0; attempt++) {
		any = false;
		if (r == 0)
			r = read_reply(c->fd, sink, &rep, &any, c->deadline);
		else if ((r == -EPIPE || r == -ECONNRESET) &&
			 read_reply(c->fd, sink, &rep, &any, c->deadline) ==
				 0) {
			/* The peer answered before the body's end (a
			 * refusal) and hung up. */
			rep.keep = false;
			r = 0;
		}
		if (r == 0) {
			if (rep.keep)
				pool_give(c->p, c->rq->addr, c->fd);
			else
				close(c->fd);
			c->fd = -1;
			*status = rep.status;
			return 0;
		}
		close(c->fd);
		c->fd = -1;
		/* The peer closed a kept-alive connection before this
		 * request reached it: once more on a new one. */
		if (attempt > 0 || !c->reused || any || r == -ETIMEDOUT ||
		    r == -EMSGSIZE)
			break;
		r = call_send(c, true);
	}
	return public_errno(r);
}
