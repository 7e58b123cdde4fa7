/*
 * crash.c - word count (exactly the output of wc) that makes its worker
 * fail at random, to exercise recovery: on each map or reduce call it
 * exits the whole worker process with probability "crash_prob" (job
 * parameter, default 0.1), or stalls for "stall_ms" milliseconds (default
 * 10000) with probability "stall_prob" (default 0.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mr_app.h"

static int is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static double param_num(struct mr_ctx *ctx, const char *name, double def)
{
	const char *v = ctx->param(ctx, name);

	return v != NULL ? strtod(v, NULL) : def;
}

/* A uniform draw in [0, 1), different in every call and process. */
static double draw(void)
{
	struct timespec ts;
	unsigned seed;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed = (unsigned)ts.tv_nsec ^ (unsigned)getpid() * 2654435761u ^
	       (unsigned)(size_t)&ts;
	return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

static void maybe_crash(struct mr_ctx *ctx)
{
	double crash = param_num(ctx, "crash_prob", 0.1);
	double stall = param_num(ctx, "stall_prob", 0.1);
	double x = draw();
	struct timespec ts;
	long ms;

	if (x < crash) {
		fprintf(stderr, "crash app: exiting the worker on purpose\n");
		_exit(1);
	}
	if (x < crash + stall) {
		ms = (long)param_num(ctx, "stall_ms", 10000);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static int crash_map(struct mr_ctx *ctx, const char *data, size_t len)
{
	size_t i = 0, start;
	int r;

	maybe_crash(ctx);
	while (i < len) {
		while (i < len && !is_letter(data[i]))
			i++;
		start = i;
		while (i < len && is_letter(data[i]))
			i++;
		if (i > start &&
		    (r = ctx->emit(ctx, data + start, i - start, "1", 1)) != 0)
			return r;
	}
	return 0;
}

static int sum_values(struct mr_ctx *ctx, const char *key, size_t klen)
{
	unsigned long long sum = 0, v;
	const char *val;
	size_t vlen, i;
	char buf[32];
	int r, n;

	while ((r = ctx->next(ctx, &val, &vlen)) == 1) {
		for (v = 0, i = 0; i < vlen && val[i] >= '0' && val[i] <= '9';
		     i++)
			v = v * 10 + (unsigned long long)(val[i] - '0');
		sum += v;
	}
	if (r < 0)
		return r;
	n = snprintf(buf, sizeof(buf), "%llu", sum);
	return ctx->emit(ctx, key, klen, buf, (size_t)n);
}

/* The reduce may crash once per task: on its first key only. */
static int crash_reduce(struct mr_ctx *ctx, const char *key, size_t klen)
{
	static __thread const char *seen_job;
	static __thread unsigned seen_task = ~0u;

	if (seen_job != ctx->job || seen_task != ctx->task) {
		seen_job = ctx->job;
		seen_task = ctx->task;
		maybe_crash(ctx);
	}
	return sum_values(ctx, key, klen);
}

const struct mr_app mr_app = {
	.abi = MR_APP_ABI,
	.name = "crash",
	.map = crash_map,
	.reduce = crash_reduce,
	.combine = sum_values,
};
