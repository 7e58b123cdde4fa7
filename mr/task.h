/*
 * task.h - running one map or reduce task body, shared by the worker and
 * `mr seq`: feeding a split's lines to an app, and reducing sorted runs
 * into "key<TAB>value" lines.
 */
#ifndef MR_TASK_H
#define MR_TASK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "kv.h"

/* Counters of one task attempt (reported to the coordinator). */
struct task_stats {
	uint64_t bytes_read;        /* map input bytes */
	uint64_t bytes_written;     /* reduce output bytes */
	uint64_t shuffle_bytes;     /* reduce input fetched */
	uint64_t records_in;        /* map: lines; reduce: values */
	uint64_t records_out;       /* map: pairs emitted; reduce: lines */
};

/* Bytes of input handed to an app per map call. */
#define TASK_MAP_BATCH (1 << 20)

/*
 * Map the whole lines data[0..len), found at file offset "offset", in
 * batches cut at line ends. Adds to st->records_in and st->bytes_read and
 * to *progress (may be NULL) as it goes. 0 or a negative errno.
 */
int task_map_lines(struct app_map *m, const char *data, size_t len,
		   uint64_t offset, struct task_stats *st,
		   atomic_uint_least64_t *progress);

/*
 * Run a whole map over data (all of one split's lines) into a mapout in
 * dir with nparts partitions; sizes[] receives each partition's bytes.
 */
int task_map(struct app *a, const struct app_task *t, const char *dir,
	     unsigned nparts, size_t mem_limit, const char *data, size_t len,
	     uint64_t offset, uint64_t *sizes, struct task_stats *st,
	     atomic_uint_least64_t *progress);

/*
 * Reduce the merge of nruns sorted runs with the app, writing lines to
 * out. Fills st->records_in/records_out/bytes_written.
 */
int task_reduce(struct app *a, const struct app_task *t,
		const struct kv_run *runs, size_t nruns, app_out_fn out,
		void *out_arg, struct task_stats *st);

#endif
