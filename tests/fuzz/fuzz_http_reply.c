/*
 * fuzz_http_reply.c - libFuzzer harness for the replies the HTTP client
 * reads on its plain http:// path (lib/http_conn.c): status line,
 * headers, Content-Length, interim replies, bodies short or long, and
 * the sinks of http_client_request() and http_client_get_into().
 *
 * A server thread in the fuzzer's process accepts one connection per
 * call, reads the request's header block, answers with the input's bytes
 * as they are and hangs up. Each input is tried through both calls of a
 * new client (no connection kept from one input to the next). Whatever
 * the bytes, a call must return, and a reply it accepts must be within
 * the limits the caller gave.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "http_client.h"
#include "log.h"

#include "banned.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Limits of the calls. */
#define REPLY_MAX 4096
#define INTO_CAP 2048

static pthread_mutex_t reply_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *reply_data;           /* a copy of the input being tried */
static size_t reply_len;
static int listen_fd = -1;
static char server_addr[64];

/* Read a request's header block (the client sends no body here). */
static void read_request(int fd)
{
	char buf[4096];
	size_t n = 0;
	ssize_t k;

	while (n < sizeof(buf) - 1) {
		k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (k <= 0)
			return;
		n += (size_t)k;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return;
	}
}

/* The server: one connection at a time, the current input as reply. */
static void *serve(void *arg)
{
	int fd;

	(void)arg;
	for (;;) {
		fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		read_request(fd);
		pthread_mutex_lock(&reply_lock);
		if (reply_len > 0 &&
		    send(fd, reply_data, reply_len, MSG_NOSIGNAL) < 0)
			(void)errno;
		pthread_mutex_unlock(&reply_lock);
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	pthread_t th;

	(void)argc;
	(void)argv;
	log_init("fuzz_http_reply", LOG_LEVEL_ERROR);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa,
				  sizeof(sa)) != 0 ||
	    listen(listen_fd, 16) != 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sa, &len) != 0) {
		perror("fuzz_http_reply: listen");
		exit(1);
	}
	snprintf(server_addr, sizeof(server_addr), "127.0.0.1:%u",
		 ntohs(sa.sin_port));
	if (pthread_create(&th, NULL, serve, NULL) != 0)
		exit(1);
	pthread_detach(th);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_client_opts opts = {.connect_timeout_ms = 1000,
					.timeout_ms = 2000};
	struct http_client *hc = http_client_new(&opts);
	struct http_result res;
	char into[INTO_CAP], *err = NULL;
	size_t got = 0;
	long status = 0;

	/* A copy: the server may still be sending it after this returns. */
	pthread_mutex_lock(&reply_lock);
	free(reply_data);
	reply_data = malloc(size + 1);
	if (reply_data == NULL)
		abort();
	memcpy(reply_data, data, size);
	reply_len = size;
	pthread_mutex_unlock(&reply_lock);

	if (http_client_request(hc, "GET", server_addr, "/x", NULL, 0, NULL,
				REPLY_MAX, &res) == 0) {
		if (res.status < 100 || res.status > 599 ||
		    res.len > REPLY_MAX ||
		    (res.len > 0 && res.body[res.len] != '\0'))
			abort();
		http_result_release(&res);
	}
	if (http_client_get_into(hc, server_addr, "/y", into, sizeof(into),
				 &got, &status, &err) == 0 &&
	    (got > sizeof(into) || status < 100 || status > 599 ||
	     (status != 200 && got != 0)))
		abort();
	free(err);
	http_client_free(hc);
	return 0;
}
