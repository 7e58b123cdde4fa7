/*
 * timeutil.h - clocks.
 */
#ifndef DFS_TIMEUTIL_H
#define DFS_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t time_now_ms(void);

/* Monotonic milliseconds, for timeouts. */
int64_t time_mono_ms(void);

/* CLOCK_REALTIME now. */
struct timespec time_now_ts(void);

/* CLOCK_MONOTONIC "ms" milliseconds from now: a deadline for
 * pthread_cond_timedwait() on a condition made with that clock. */
struct timespec time_mono_after_ts(int64_t ms);

/* True if a is later than b. */
static inline int time_ts_after(const struct timespec *a,
				const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

#endif
