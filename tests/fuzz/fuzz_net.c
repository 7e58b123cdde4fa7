/*
 * fuzz_net.c - what the network harnesses share (see fuzz_net.h).
 */
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "fuzz_net.h"
#include "http_client.h"

#include "banned.h"

/* The scratch directory to remove at exit. */
static char *fuzz_dir;

static int fuzz_rm_one(const char *path, const struct stat *st, int flag,
		       struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void fuzz_rm_dir(void)
{
	if (fuzz_dir != NULL)
		nftw(fuzz_dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *fuzz_tmpdir(const char *name)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char tmpl[256];

	snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base, name);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	fuzz_dir = strdup(tmpl);
	atexit(fuzz_rm_dir);
	return fuzz_dir;
}

unsigned fuzz_free_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	if (port == 0) {
		fprintf(stderr, "no free port\n");
		exit(1);
	}
	return port;
}

/* What the daemon thread runs. */
struct fuzz_daemon {
	fuzz_main_fn fn;
	int argc;
	char **argv;
};

static void *fuzz_daemon_main(void *arg)
{
	struct fuzz_daemon *d = arg;
	int r = d->fn(d->argc, d->argv);

	fprintf(stderr, "fuzz: the daemon returned %d\n", r);
	exit(1);
	return NULL;
}

void fuzz_daemon_start(fuzz_main_fn main_fn, int argc, char **argv)
{
	static struct fuzz_daemon d;
	pthread_t t;

	setenv("DFS_LOG_LEVEL", "error", 1);
	unsetenv("DFS_SECRET");
	unsetenv("DFS_CA");
	d.fn = main_fn;
	d.argc = argc;
	d.argv = argv;
	if (pthread_create(&t, NULL, fuzz_daemon_main, &d) != 0) {
		perror("pthread_create");
		exit(1);
	}
	pthread_detach(t);
}

void fuzz_wait_ready(struct http_client *hc, const char *addr,
		     const char *path)
{
	struct http_result res = { 0, NULL, 0 };
	int i;

	for (i = 0; i < 3000; i++) {
		if (http_client_request(hc, "GET", addr, path, NULL, 0, NULL,
					1 << 20, &res) == 0 &&
		    res.status == 200) {
			http_result_release(&res);
			return;
		}
		http_result_release(&res);
		usleep(10000);
	}
	fprintf(stderr, "fuzz: %s%s does not answer\n", addr, path);
	exit(1);
}

int fuzz_raw_exchange(unsigned port, const void *data, size_t len,
		      int timeout_ms)
{
	struct sockaddr_in sa = { 0 };
	struct pollfd pfd;
	char buf[4096];
	int fd, got = 0;
	ssize_t n;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	if (len > 0 && send(fd, data, len, MSG_NOSIGNAL) < 0)
		goto out;
	shutdown(fd, SHUT_WR);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, timeout_ms) > 0) {
		if ((n = recv(fd, buf, sizeof(buf), 0)) <= 0)
			break;
		got = 1;
	}
out:
	close(fd);
	return got;
}

char *fuzz_query(const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(len * 3 + 1), *p = out;
	size_t i;

	if (out == NULL)
		abort();
	for (i = 0; i < len; i++) {
		uint8_t c = data[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != 0 && strchr("%&=,.:_-/", c) != NULL)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}
