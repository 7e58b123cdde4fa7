/*
 * task.c - map and reduce task bodies shared by worker and seq (see
 * task.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "app.h"
#include "kv.h"
#include "mapout.h"
#include "task.h"

#include "banned.h"

/* Bytes from data up to and including the line end at or after "want"
 * bytes (or all of it). */
static size_t task_batch_len(const char *data, size_t len, size_t want)
{
	const char *nl;

	if (len <= want)
		return len;
	nl = memchr(data + want, '\n', len - want);
	return nl != NULL ? (size_t)(nl - data) + 1 : len;
}

/* Lines in [p, p + len): newlines, plus a last unterminated line. */
static uint64_t task_count_lines(const char *p, size_t len)
{
	const char *end = p + len, *nl;
	uint64_t n = 0;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n++;
		p = nl != NULL ? nl + 1 : end;
	}
	return n;
}

int task_map_lines(struct app_map *m, const char *data, size_t len,
		   uint64_t offset, struct task_stats *st,
		   atomic_uint_least64_t *progress)
{
	size_t done = 0, n;
	int r;

	while (done < len) {
		n = task_batch_len(data + done, len - done, TASK_MAP_BATCH);
		if ((r = app_map_feed(m, data + done, n, offset + done)) != 0)
			return r;
		st->records_in += task_count_lines(data + done, n);
		st->bytes_read += n;
		done += n;
		if (progress != NULL)
			atomic_fetch_add(progress, n);
	}
	return 0;
}

int task_map(struct app *a, const struct app_task *t, const char *dir,
	     unsigned nparts, size_t mem_limit, const char *data, size_t len,
	     uint64_t offset, uint64_t *sizes, struct task_stats *st,
	     atomic_uint_least64_t *progress)
{
	struct app_combine_arg ca = { a, t };
	struct mapout_opts o = {
		.dir = dir,
		.nparts = nparts,
		.mem_limit = mem_limit,
		.combine = app_combiner(a),
		.combine_arg = &ca,
	};
	struct mapout *mo = mapout_new(&o);
	struct app_map *m;
	int r, e;

	if ((m = app_map_begin(a, t, mapout_add, mo, &r)) == NULL)
		goto out;
	r = task_map_lines(m, data, len, offset, st, progress);
	e = app_map_end(m, r == 0);
	if (r == 0)
		r = e;
	if (r != 0)
		goto out;
	r = mapout_finish(mo, sizes);
	st->records_out = mapout_records(mo);
out:
	mapout_free(mo);
	return r;
}

/* Counts output bytes on their way to the caller's sink. */
struct task_out {
	app_out_fn out;
	void *arg;
	uint64_t bytes;
};

static int task_out_fn(void *arg, const char *data, size_t len)
{
	struct task_out *o = arg;

	o->bytes += len;
	return o->out(o->arg, data, len);
}

int task_reduce(struct app *a, const struct app_task *t,
		const struct kv_run *runs, size_t nruns, app_out_fn out,
		void *out_arg, struct task_stats *st)
{
	struct task_out o = { out, out_arg, 0 };
	struct kv_merge *m = kv_merge_new(runs, nruns);
	int r;

	r = app_reduce(a, t, m, task_out_fn, &o, &st->records_out);
	st->records_in = kv_merge_records(m);
	st->bytes_written = o.bytes;
	kv_merge_free(m);
	return r;
}
