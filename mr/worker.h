/*
 * worker.h - state of `mr worker`, shared by its modules:
 *   worker.c        options, registration, heartbeats, task slots
 *   worker_task.c   running one map or reduce attempt
 *   worker_http.c   serving map output to reducers
 *
 * Local layout under --data DIR:
 *   DIR/apps/<sha256>.so                  cached app objects
 *   DIR/out/<job>/m<map>-a<attempt>/out   map output (+ out.index)
 *   DIR/red/<job>/r<part>-a<attempt>/in   fetched reduce input
 */
#ifndef MR_WORKER_H
#define MR_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "dfs_proto.h"
#include "mr_proto.h"

struct app;
struct http_route;

/* One attempt being run; on w->runs while it runs. */
struct wk_run {
	uint64_t attempt;
	char job[MR_JOB_ID_MAX];
	atomic_bool abort;                  /* set by heartbeat replies */
	atomic_uint_least64_t progress;     /* bytes read so far */
	struct wk_run *next;
};

/* A cached C app, by object id. */
struct wk_app {
	char id[65];
	struct app *app;
	struct wk_app *next;
};

struct worker {
	const char *coordinator;      /* options (borrowed from argv) */
	const char *master;
	const char *chunkd;
	char *data;                   /* --data DIR */
	char addr[DFS_ADDR_MAX];      /* where map output is served */
	unsigned slots;
	size_t map_memory;
	struct http_client *ctl;      /* calls to the coordinator */
	struct http_client *bulk;     /* chunk reads and shuffle fetches */
	struct dfs_client *dc;
	pthread_mutex_t app_lock;     /* one app fetch at a time */
	pthread_mutex_t lock;         /* guards the fields below */
	uint64_t wid;                 /* 0 while not registered */
	int64_t hb_ms;
	struct wk_run *runs;
	struct wk_app *apps;
	atomic_bool stop;
};

/*
 * Run one task object (mr_proto.h) as worker "wid" and return the
 * MR_EP_DONE report to send (new reference). Never fails: errors become
 * an "ok": false report.
 */
json_t *wk_run_task(struct worker *w, const json_t *task, uint64_t wid);

/* Directory of a map attempt's output (new string). */
char *wk_map_dir(const struct worker *w, const char *job, uint64_t map,
		 uint64_t attempt);

/* Routes of the worker's HTTP server (static table). */
const struct http_route *wk_routes(size_t *n);

#endif
