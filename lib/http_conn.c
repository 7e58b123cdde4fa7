/*
 * http_conn.c - HTTP/1.1 exchanges over plain TCP with kept-alive
 * connections (see http_conn.h).
 *
 * Sockets are non-blocking; every wait is a poll() bounded by the
 * exchange's deadline. A reply is read into a header buffer first; what
 * follows the header block there is the start of the body, and the rest
 * of the body is received straight into the sink's buffers.
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
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* Largest reply header block. */
#define HCONN_HEAD_MAX 16384

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

/* The value of header line "line" if its name is "name" (with the
 * colon), else NULL. */
static const char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) != 0)
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* Parse the NUL-terminated header block "head" into *rep. */
static int parse_head(char *head, struct hconn_reply *rep)
{
	char *line, *next, *end;
	const char *v;
	unsigned long long cl;

	if (strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ' ||
	    head[9] < '1' || head[9] > '5')
		return -EIO;
	rep->status = strtol(head + 9, &end, 10);
	if (end != head + 12)
		return -EIO;
	rep->keep = head[7] == '1';
	rep->length = -1;
	for (line = strstr(head, "\r\n"); line != NULL; line = next) {
		line += 2;
		if ((next = strstr(line, "\r\n")) != NULL)
			*next = '\0';
		if ((v = header_value(line, "content-length:")) != NULL) {
			errno = 0;
			cl = strtoull(v, &end, 10);
			if (errno != 0 || end == v || cl > INT64_MAX)
				return -EIO;
			rep->length = (int64_t)cl;
		} else if ((v = header_value(line, "transfer-encoding:")) !=
			   NULL) {
			if (strcasecmp(v, "identity") != 0)
				return -EIO;
		} else if ((v = header_value(line, "connection:")) != NULL) {
			if (strcasestr(v, "close") != NULL)
				rep->keep = false;
		}
		if (next == NULL)
			break;
	}
	if (rep->length < 0)
		rep->keep = false;
	return 0;
}

/*
 * Read the reply's header block into head (HCONN_HEAD_MAX bytes),
 * skipping interim (1xx) replies. On success *got is the number of bytes
 * in head and *body where the body starts among them. *any is set once
 * a byte of the reply arrived.
 */
static int read_head(int fd, char *head, size_t *got, size_t *body,
		     struct hconn_reply *rep, bool *any, int64_t deadline)
{
	size_t n = 0, from = 0;
	char *end;
	ssize_t k;
	int r;

	for (;;) {
		head[n] = '\0';
		end = strstr(head + from, "\r\n\r\n");
		if (end == NULL) {
			from = n > 3 ? n - 3 : 0;
			if (n == HCONN_HEAD_MAX - 1)
				return -EIO;
			k = recv_some(fd, head + n, HCONN_HEAD_MAX - 1 - n,
				      n == 0, deadline);
			if (k <= 0)
				return k == 0 ? -ECONNRESET : (int)k;
			*any = true;
			n += (size_t)k;
			continue;
		}
		end[2] = '\0';
		if ((r = parse_head(head, rep)) != 0)
			return r;
		*body = (size_t)(end + 4 - head);
		if (rep->status >= 200 || rep->status == 101)
			break;
		memmove(head, head + *body, n - *body);
		n -= *body;
		from = 0;
	}
	*got = n;
	return 0;
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

/* Read the reply on fd into the sink. */
static int read_reply(int fd, const struct hconn_sink *sink,
		      struct hconn_reply *rep, bool *any, int64_t deadline)
{
	char *head = xmalloc(HCONN_HEAD_MAX);
	size_t got = 0, body = 0, have;
	uint64_t left;
	int r;

	r = read_head(fd, head, &got, &body, rep, any, deadline);
	if (r != 0)
		goto out;
	have = got - body;
	left = rep->length < 0 ? UINT64_MAX : (uint64_t)rep->length;
	if (have > left) {
		/* More than the reply: the stream is out of step. */
		rep->keep = false;
		have = (size_t)left;
	}
	if ((r = sink_copy(sink, rep, head + body, have)) == 0)
		r = sink_recv(fd, sink, rep, left - have, deadline);
out:
	free(head);
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
