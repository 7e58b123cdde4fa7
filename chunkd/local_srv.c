/*
 * local_srv.c - the local read socket of chunkd (see local_srv.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth.h"
#include "local_sock.h"
#include "local_srv.h"
#include "log.h"
#include "metrics_srv.h"
#include "secure.h"
#include "store.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* How often the thread looks at the stop flag, and the bound on one
 * client's exchange. */
#define LOCAL_POLL_MS 200
#define LOCAL_IO_TIMEOUT_MS 1000

struct local_srv {
	struct store *st;       /* borrowed */
	int sock;               /* the listening socket */
	pthread_t thread;
	atomic_bool stop;
};

/* Parse "HANDLE VERSION TOKEN". 0 or -EINVAL. */
static int parse_request(const char *msg, uint64_t *handle,
			 uint64_t *version, char *token)
{
	unsigned long long h, v;
	char tok[AUTH_TOKEN_MAX + 1];

	if (sscanf(msg, "%llu %llu %128s", &h, &v, tok) != 3)
		return -EINVAL;
	*handle = h;
	*version = v;
	snprintf(token, AUTH_TOKEN_MAX + 1, "%s", strcmp(tok, "-") ? tok : "");
	return 0;
}

/* Answer one request; fds[] receives what to send back. */
static int open_for(struct local_srv *ls, const char *msg, int *fds)
{
	char token[AUTH_TOKEN_MAX + 1];
	uint64_t handle, version;
	int r;

	if ((r = parse_request(msg, &handle, &version, token)) != 0)
		return r;
	if (secure_key() != NULL &&
	    (r = auth_token_check(secure_key(), token, handle, AUTH_TOKEN_READ,
				  time_now_ms())) != 0) {
		log_info("refused a local read of chunk %016" PRIx64 ": %s",
			 handle, auth_strerror(r));
		return -EACCES;
	}
	return store_open_readonly(ls->st, handle, version, &fds[0], &fds[1]);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { LOCAL_IO_TIMEOUT_MS / 1000,
			      (LOCAL_IO_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One connection: a request, a reply, done. */
static void serve_one(struct local_srv *ls, int conn)
{
	char msg[LOCAL_SOCK_MSG_MAX], reply[32];
	int fds[LOCAL_SOCK_NFDS] = { -1, -1 }, got[LOCAL_SOCK_NFDS], ngot, r;

	set_timeouts(conn);
	if ((r = local_sock_recv(conn, msg, sizeof(msg), got, &ngot)) != 0)
		return;
	for (int i = 0; i < ngot; i++)
		close(got[i]);
	r = open_for(ls, msg, fds);
	metrics_srv_local_open(r == 0);
	snprintf(reply, sizeof(reply), "%d", r);
	if ((r = local_sock_send(conn, reply, fds,
				 r == 0 ? LOCAL_SOCK_NFDS : 0)) != 0)
		log_debug("local read socket: cannot answer: %s",
			  strerror(-r));
	for (int i = 0; i < LOCAL_SOCK_NFDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void *local_main(void *arg)
{
	struct local_srv *ls = arg;
	struct pollfd p = { .fd = ls->sock, .events = POLLIN };
	int conn;

	while (!atomic_load(&ls->stop)) {
		if (poll(&p, 1, LOCAL_POLL_MS) <= 0)
			continue;
		conn = accept4(ls->sock, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		serve_one(ls, conn);
		close(conn);
	}
	return NULL;
}

struct local_srv *local_srv_new(const char *addr, struct store *st)
{
	struct local_srv *ls = xcalloc(1, sizeof(*ls));
	struct sockaddr_un sa;
	socklen_t len;
	int r;

	ls->st = st;
	local_sock_addr(addr, &sa, &len);
	ls->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ls->sock < 0 || bind(ls->sock, (struct sockaddr *)&sa, len) != 0 ||
	    listen(ls->sock, 64) != 0) {
		log_warn("no local read socket for '%s'; local clients read "
			 "over HTTP", addr);
		goto fail;
	}
	if ((r = pthread_create(&ls->thread, NULL, local_main, ls)) != 0) {
		errno = r;
		log_warn("cannot start the local read socket's thread");
		goto fail;
	}
	return ls;
fail:
	if (ls->sock >= 0)
		close(ls->sock);
	free(ls);
	return NULL;
}

void local_srv_free(struct local_srv *ls)
{
	if (ls == NULL)
		return;
	atomic_store(&ls->stop, true);
	pthread_join(ls->thread, NULL);
	close(ls->sock);
	free(ls);
}
