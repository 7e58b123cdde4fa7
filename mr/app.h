/*
 * app.h - run an app's map, combine and reduce, whatever its kind: a C
 * shared object implementing include/mr_app.h, or streaming commands
 * (`/bin/sh -c CMD`, lines on stdin, key<TAB>value lines on stdout).
 *
 * Map output goes to a kv_emit_fn (a struct mapout); reduce output is
 * text, "key<TAB>value\n" lines, handed to an app_out_fn.
 *
 * Calling sequence for a map task:
 *     m = app_map_begin(app, &task, mapout_add, mo, &err);
 *     app_map_feed(m, lines, len, file_offset) ...
 *     app_map_end(m);             finishes (streaming: drains) and frees
 * and for a reduce task: app_reduce(app, &task, merge, out_fn, arg, &n).
 * An app may be used by several tasks at once.
 */
#ifndef MR_APP_INT_H
#define MR_APP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv.h"

struct app;
struct app_map;

/* What a task tells its app; all borrowed for the task's duration. */
struct app_task {
	const char *job;            /* job id */
	unsigned index;             /* task number */
	const char *file;           /* map: input file path, else NULL */
	char *const *params;        /* NULL-terminated "NAME=VALUE", or NULL */
	const atomic_bool *abort;   /* stop when it turns true (may be NULL) */
};

/* Reduce output sink: bytes of whole lines. 0 or -errno. */
typedef int (*app_out_fn)(void *arg, const char *data, size_t len);

/* Load a C app; NULL (logged) if it cannot be loaded or is invalid. */
struct app *app_open_so(const char *path);

/* Streaming app; the commands are copied. Never NULL. */
struct app *app_new_streaming(const char *mapper, const char *reducer);

/* Free an app (a C app's object stays loaded). NULL is a no-op. */
void app_free(struct app *a);

/* Name for logs and job status (borrowed). */
const char *app_name(const struct app *a);

/* The app's combiner as a kv_group_fn taking a struct app_task * as arg,
 * or NULL when the app has none (streaming apps have none). */
kv_group_fn app_combiner(const struct app *a);

/* Arg to pass with app_combiner(): the app and the task. */
struct app_combine_arg {
	struct app *app;
	const struct app_task *task;
};

/* Begin a map task; NULL with *err set on failure. */
struct app_map *app_map_begin(struct app *a, const struct app_task *t,
			      kv_emit_fn emit, void *emit_arg, int *err);

/* Map whole lines data[0..len) found at file offset "offset". */
int app_map_feed(struct app_map *m, const char *data, size_t len,
		 uint64_t offset);

/* Finish the map (a streaming mapper is drained and reaped) and free m.
 * With "ok" false (an earlier error) the child is just killed. */
int app_map_end(struct app_map *m, bool ok);

/* Reduce every key of a merge, writing output lines to out; *records_out
 * receives the number of lines. 0 or a negative errno. */
int app_reduce(struct app *a, const struct app_task *t, struct kv_merge *m,
	       app_out_fn out, void *out_arg, uint64_t *records_out);

#endif
