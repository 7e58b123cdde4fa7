/*
 * coord.h - the coordinator's scheduler: jobs, tasks, attempts, workers.
 *
 * One mutex guards all of it; HTTP handlers (coordinator.c) call in from
 * the server's threads, and a reaper thread started by coord_new() ticks
 * every 250 ms: it declares silent workers dead, abandons attempts that
 * made no progress for the task timeout, and publishes finished jobs.
 *
 * Invariants
 *  - A task is IDLE (waiting), RUNNING (one or more attempts run: the
 *    original and at most one backup) or DONE (one attempt won; its
 *    counters are the task's). The first successful completion wins;
 *    later ones and those of abandoned attempts are ignored.
 *  - A done map task's output lives on its winner's worker. When that
 *    worker dies before the job's reduces are all done, or a reducer
 *    reports the output unreachable, the map task goes back to IDLE.
 *  - Reduce tasks are handed out only while every map task is DONE.
 *  - Attempt ids are unique across coordinator restarts (they start at
 *    the start time in milliseconds).
 */
#ifndef MR_COORD_H
#define MR_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct coord;

struct coord_opts {
	const char *master;          /* DFS master address */
	const char *data_dir;        /* finished jobs saved here, or NULL */
	int64_t worker_timeout_ms;   /* silent this long: dead */
	int64_t task_timeout_ms;     /* no progress this long: abandoned */
	int64_t locality_wait_ms;    /* a map waits this long for locality */
	int64_t backup_after_ms;     /* least run time before a backup */
	unsigned max_failures;       /* task errors that fail the job */
};

/* New coordinator with its reaper thread. Never NULL. */
struct coord *coord_new(const struct coord_opts *opts);

/* Make pending and future polls return at once (before stopping the
 * HTTP server, so its handlers finish quickly). */
void coord_stop(struct coord *c);

/* Stop the reaper and free everything. NULL is a no-op. */
void coord_free(struct coord *c);

/* Store an app object; id receives its SHA-256 in hex. 0 or -errno. */
int coord_app_put(struct coord *c, const void *data, size_t len,
		  char id[65]);

/* Copy of an app object (caller frees *data). 0 or -ENOENT. */
int coord_app_get(struct coord *c, const char *id, void **data,
		  size_t *len);

/*
 * Submit a job (an MR_EP_SUBMIT request, borrowed). Talks to the master
 * without the lock. Returns 0 with *job_id set (caller frees), or a
 * negative errno with *err set to a message (caller frees).
 */
int coord_submit(struct coord *c, const json_t *req, char **job_id,
		 char **err);

/* The job object of mr_proto.h (new reference), or NULL if unknown. */
json_t *coord_job_json(struct coord *c, const char *id, bool tasks);

/* {"jobs": [...]} (new reference). */
json_t *coord_jobs_json(struct coord *c);

/* Register a worker; returns its id. *hb_ms receives the heartbeat
 * interval it should use. */
uint64_t coord_register(struct coord *c, const char *addr,
			const char *chunkd, unsigned slots, int64_t *hb_ms);

/* Heartbeat (MR_EP_HEARTBEAT request, borrowed); *reply is new. */
int coord_heartbeat(struct coord *c, const json_t *req, json_t **reply);

/*
 * Long poll: wait up to wait_ms for a task for worker wid. 0 with *task
 * set (new reference, or NULL when nothing came), -ENOENT for an unknown
 * or dead worker.
 */
int coord_poll(struct coord *c, uint64_t wid, int64_t wait_ms,
	       json_t **task);

/* A completion report (MR_EP_DONE request, borrowed). 0 or -EINVAL. */
int coord_done(struct coord *c, const json_t *req);

/* {"workers": n alive, "jobs": n, "running": n} for the health check. */
json_t *coord_health_json(struct coord *c);

#endif
