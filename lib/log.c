/*
 * log.c - one line per event on stderr, with a level (see log.h).
 *
 * A line is formatted into a stack buffer and written with one write(2),
 * so lines from concurrent threads never interleave. Lines longer than
 * the buffer are cut and end with "...".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#include "banned.h"

/* Longest line written, including the newline. */
#define LOG_LINE_MAX 4096

/* Lowest level printed; read without a lock on every log call. */
static atomic_int log_min_level = LOG_LEVEL_INFO;

/* Program name shown on every line; set once by log_init(). */
static char log_progname[64] = "dfs";

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

/* Level named by "s" (case-insensitive), or -1. */
static int log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]);
	     i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LEVEL_WARN;
	return -1;
}

void log_init(const char *progname, enum log_level level)
{
	const char *env = getenv("DFS_LOG_LEVEL");
	const char *slash;
	int l;

	if (progname != NULL) {
		slash = strrchr(progname, '/');
		if (slash != NULL)
			progname = slash + 1;
		snprintf(log_progname, sizeof(log_progname), "%s", progname);
	}
	if (env != NULL && (l = log_level_parse(env)) >= 0)
		level = (enum log_level)l;
	atomic_store(&log_min_level, (int)level);
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&log_min_level,
						  memory_order_relaxed);
}

/* Append printf output to buf[*off..cap), advancing *off; never overflows. */
static void log_append(char *buf, size_t cap, size_t *off, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static void log_append(char *buf, size_t cap, size_t *off, const char *fmt,
		       ...)
{
	va_list ap;
	int n;

	if (*off >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
	if (*off > cap)
		*off = cap;
}

/* Format one whole line and write it with a single write(2). */
static void log_vwrite(const char *level_name, int saved_errno,
		       bool with_errno, const char *file, const char *func,
		       const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX];
	/* Room kept at the end for "...\n". */
	const size_t cap = sizeof(buf) - 4;
	struct timespec ts;
	struct tm tm;
	const char *base = strrchr(file, '/');
	size_t off = 0;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	log_append(buf, cap, &off,
		   "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s: %s:%s: ",
		   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_progname,
		   (long)getpid(), level_name, base != NULL ? base + 1 : file,
		   func);
	if (off < cap) {
		n = vsnprintf(buf + off, cap - off, fmt, ap);
		if (n > 0)
			off += (size_t)n;
		if (off > cap)
			off = cap;
	}
	if (with_errno)
		log_append(buf, cap, &off, ": %s", strerror(saved_errno));
	if (off >= cap - 1) {
		off = cap - 1;
		memcpy(buf + off, "...", 3);
		off += 3;
	}
	buf[off++] = '\n';
	if (write(STDERR_FILENO, buf, off) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}

void log_emit(enum log_level level, bool with_errno, const char *file,
	      const char *func, const char *fmt, ...)
{
	int saved_errno = errno;
	const char *name = "?";
	va_list ap;

	if ((unsigned)level <= LOG_LEVEL_ERROR)
		name = log_level_names[level];
	va_start(ap, fmt);
	log_vwrite(name, saved_errno, with_errno, file, func, fmt, ap);
	va_end(ap);
	errno = saved_errno;
}

void log_fatal_exit(bool with_errno, const char *file, const char *func,
		    const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("fatal", saved_errno, with_errno, file, func, fmt, ap);
	va_end(ap);
	exit(1);
}
