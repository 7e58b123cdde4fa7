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

#endif
