/*
 * child.h - a streaming-mode child process: `/bin/sh -c CMD` with a pipe
 * on its stdin and one on its stdout (stderr is inherited).
 *
 * Input is written while output lines are read, in one poll() loop, so a
 * child that writes before it has read everything never deadlocks with
 * us. A child that closes its stdin early just gets no more input.
 * Every wait is bounded: the loop wakes up at least every 200 ms and
 * kills the child when the caller's abort flag is set.
 *
 * Calling sequence:
 *     c = child_spawn(cmd, env, &abort_flag);
 *     child_feed(c, data, len, on_line, arg) ...
 *     child_finish(c, on_line, arg);     closes stdin, drains, reaps
 *     child_free(c);                      kills it if still running
 */
#ifndef MR_CHILD_H
#define MR_CHILD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct child;

/* One output line without its '\n'; 0, or a negative errno to stop. */
typedef int (*child_line_fn)(void *arg, const char *line, size_t len);

/*
 * Start `/bin/sh -c cmd` with the current environment plus "env" (a
 * NULL-terminated array of "NAME=VALUE", may be NULL). "abort" (may be
 * NULL) is polled; when it turns true the child is killed and calls
 * return -ECANCELED. Returns NULL with *err set on failure.
 */
struct child *child_spawn(const char *cmd, char *const *env,
			  const atomic_bool *abort, int *err);

/* Write data to the child's stdin, handing complete output lines to fn.
 * 0 or a negative errno (-E2BIG for an output line over 128 MiB). */
int child_feed(struct child *c, const char *data, size_t len,
	       child_line_fn fn, void *arg);

/* Close stdin, hand the remaining output to fn (a last line without '\n'
 * included) and reap the child. 0 if it exited with status 0, -EIO if it
 * failed (logged), or the error of fn. */
int child_finish(struct child *c, child_line_fn fn, void *arg);

/* Kill (if running) and free. NULL is a no-op. */
void child_free(struct child *c);

#endif
