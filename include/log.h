/*
 * log.h - one line per event on stderr, with a level.
 *
 * Format: "2026-11-23T16:51:25.123Z masterd[123] warn: file.c:func: msg".
 * The warn and fatal forms append ": strerror(errno)", the x forms do not.
 * Arguments are not evaluated when the level is filtered out. Thread-safe:
 * each line is written with a single write(2).
 */
#ifndef DFS_LOG_H
#define DFS_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3,
};

/* Set the program name shown on every line and the lowest level printed.
 * The DFS_LOG_LEVEL environment variable (debug, info, warn, error)
 * overrides "level" when set. */
void log_init(const char *progname, enum log_level level);

/* True when lines of this level are printed. */
bool log_enabled(enum log_level level);

void log_emit(enum log_level level, bool with_errno, const char *file,
	      const char *func, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

void log_fatal_exit(bool with_errno, const char *file, const char *func,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

#define log_at_(lvl, e, ...)                                                   \
	do {                                                                   \
		if (log_enabled(lvl))                                          \
			log_emit(lvl, e, __FILE__, __func__, __VA_ARGS__);     \
	} while (0)

#define log_debug(...) log_at_(LOG_LEVEL_DEBUG, false, __VA_ARGS__)
#define log_info(...) log_at_(LOG_LEVEL_INFO, false, __VA_ARGS__)
#define log_warn(...) log_at_(LOG_LEVEL_WARN, true, __VA_ARGS__)
#define log_warnx(...) log_at_(LOG_LEVEL_WARN, false, __VA_ARGS__)
#define log_error(...) log_at_(LOG_LEVEL_ERROR, true, __VA_ARGS__)
#define log_errorx(...) log_at_(LOG_LEVEL_ERROR, false, __VA_ARGS__)
#define fatal(...) log_fatal_exit(true, __FILE__, __func__, __VA_ARGS__)
#define fatalx(...) log_fatal_exit(false, __FILE__, __func__, __VA_ARGS__)

#endif
