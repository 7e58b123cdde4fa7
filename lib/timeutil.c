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
