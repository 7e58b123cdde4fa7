/*
 * timeutil.c - clocks (see timeutil.h).
 */
#include <stdint.h>
#include <time.h>

#include "timeutil.h"

#include "banned.h"

/* Milliseconds of a timespec. */
static int64_t ts_to_ms(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

int64_t time_now_ms(void)
{
	struct timespec ts = time_now_ts();

	return ts_to_ms(&ts);
}

int64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_to_ms(&ts);
}

struct timespec time_now_ts(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

struct timespec time_mono_after_ts(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
