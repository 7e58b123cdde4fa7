/*
 * child.c - streaming-mode child processes (see child.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "xmalloc.h"

#include "banned.h"

extern char **environ;

/* Longest output line accepted. */
#define CHILD_LINE_MAX (128u * 1024 * 1024)

/* Poll period, so an abort is noticed quickly. */
#define CHILD_POLL_MS 200

struct child {
	pid_t pid;              /* 0 once reaped */
	int in_fd;              /* our end of its stdin, -1 once closed */
	int out_fd;             /* our end of its stdout, -1 at EOF */
	char *cmd;
	const atomic_bool *abort;
	char *buf;              /* partial output line */
	size_t len;
	size_t cap;
};

/* Environment for the child: ours plus extras (pointers borrowed). */
static char **child_env(char *const *extra)
{
	size_t n = 0, m = 0, i;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	env = xcalloc(n + m + 1, sizeof(*env));
	for (i = 0; i < n; i++)
		env[i] = environ[i];
	for (i = 0; i < m; i++)
		env[n + i] = extra[i];
	return env;
}

struct child *child_spawn(const char *cmd, char *const *env,
			  const atomic_bool *abort, int *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char sh[] = "sh", dash_c[] = "-c";
	char *argv[] = { sh, dash_c, (char *)cmd, NULL };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	struct child *c = NULL;
	char **envp = NULL;
	pid_t pid;
	int r;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		r = -errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	/* The child starts with no signal blocked and SIGPIPE back to its
	 * default (mr ignores it and blocks SIGTERM in its threads). */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
					       POSIX_SPAWN_SETSIGDEF);
	envp = child_env(env);
	r = -posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		goto out;
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->in_fd = in[1];
	c->out_fd = out[0];
	c->cmd = xstrdup(cmd);
	c->abort = abort;
	in[1] = out[0] = -1;
	fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(envp);
	*err = r;
	return c;
}

/* Hand every complete line in the buffer to fn; keep the rest. */
static int child_lines(struct child *c, child_line_fn fn, void *arg)
{
	size_t start = 0;
	char *nl;
	int r = 0;

	while (start < c->len &&
	       (nl = memchr(c->buf + start, '\n', c->len - start)) != NULL) {
		if ((r = fn(arg, c->buf + start,
			    (size_t)(nl - c->buf) - start)) != 0)
			break;
		start = (size_t)(nl - c->buf) + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	return r;
}

/* Read what the child wrote; 0, or -errno. Sets out_fd -1 at EOF. */
static int child_read(struct child *c, child_line_fn fn, void *arg)
{
	ssize_t n;

	if (c->cap - c->len < 65536) {
		if (c->cap > CHILD_LINE_MAX)
			return -E2BIG;
		c->cap = c->cap != 0 ? c->cap * 2 : 1 << 17;
		c->buf = xrealloc(c->buf, c->cap);
	}
	n = read(c->out_fd, c->buf + c->len, c->cap - c->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0) {
		close(c->out_fd);
		c->out_fd = -1;
		return 0;
	}
	c->len += (size_t)n;
	return child_lines(c, fn, arg);
}

/* Stop feeding: close our end of the child's stdin. */
static void child_close_in(struct child *c)
{
	if (c->in_fd >= 0)
		close(c->in_fd);
	c->in_fd = -1;
}

/*
 * Pump until data is written (data != NULL) or until EOF on stdout
 * (data == NULL).
 */
static int child_pump(struct child *c, const char *data, size_t len,
		      child_line_fn fn, void *arg)
{
	struct pollfd pfd[2];
	size_t done = 0;
	ssize_t n;
	int r, nfd;

	while (data != NULL ? done < len && c->in_fd >= 0 : c->out_fd >= 0) {
		if (c->abort != NULL && atomic_load(c->abort))
			return -ECANCELED;
		nfd = 0;
		if (c->out_fd >= 0)
			pfd[nfd++] = (struct pollfd){ c->out_fd, POLLIN, 0 };
		if (data != NULL)
			pfd[nfd++] = (struct pollfd){ c->in_fd, POLLOUT, 0 };
		if (poll(pfd, (nfds_t)nfd, CHILD_POLL_MS) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (c->out_fd >= 0 && pfd[0].revents != 0 &&
		    (r = child_read(c, fn, arg)) != 0)
			return r;
		if (data == NULL || pfd[nfd - 1].revents == 0)
			continue;
		n = write(c->in_fd, data + done, len - done);
		if (n > 0)
			done += (size_t)n;
		else if (n < 0 && errno == EPIPE)
			child_close_in(c);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return 0;
}

int child_feed(struct child *c, const char *data, size_t len,
	       child_line_fn fn, void *arg)
{
	if (c->in_fd < 0)
		return 0;
	return child_pump(c, data, len, fn, arg);
}

/* Wait for the child to exit, killing it if it lingers past EOF. */
static int child_reap(struct child *c)
{
	int status = 0, i;

	for (i = 0; i < 100; i++) {
		pid_t p = waitpid(c->pid, &status, WNOHANG);

		if (p == c->pid || (p < 0 && errno != EINTR))
			break;
		if (c->abort != NULL && atomic_load(c->abort))
			kill(c->pid, SIGKILL);
		usleep(50000);
	}
	if (i == 100) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &status, 0);
	}
	c->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		log_warnx("command '%s' exited with status %d", c->cmd,
			  WEXITSTATUS(status));
	else
		log_warnx("command '%s' killed by signal %d", c->cmd,
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -EIO;
}

int child_finish(struct child *c, child_line_fn fn, void *arg)
{
	int r;

	child_close_in(c);
	if ((r = child_pump(c, NULL, 0, fn, arg)) != 0)
		return r;
	if (c->len != 0) {
		r = fn(arg, c->buf, c->len);
		c->len = 0;
		if (r != 0)
			return r;
	}
	return child_reap(c);
}

void child_free(struct child *c)
{
	if (c == NULL)
		return;
	child_close_in(c);
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	free(c->buf);
	free(c->cmd);
	free(c);
}
