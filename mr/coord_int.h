/*
 * coord_int.h - the coordinator's state, shared by coord.c (scheduling)
 * and coord_json.c (rendering and saving jobs). Every field is guarded by
 * struct coord's lock unless noted.
 */
#ifndef MR_COORD_INT_H
#define MR_COORD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

#include "coord.h"
#include "dfs_proto.h"
#include "mr_proto.h"
#include "plan.h"
#include "task.h"

enum coord_kind {
	KIND_MAP,
	KIND_REDUCE,
};

enum coord_task_state {
	TASK_IDLE,
	TASK_RUNNING,
	TASK_DONE,
};

enum coord_att_state {
	ATT_RUNNING,
	ATT_SUCCEEDED,
	ATT_FAILED,
	ATT_KILLED,       /* lost a race, or its job ended */
};

enum coord_job_state {
	JOB_RUNNING,
	JOB_PUBLISHING,   /* every reduce done; _SUCCESS being written */
	JOB_SUCCEEDED,
	JOB_FAILED,
};

struct coord_worker {
	uint64_t id;
	char addr[DFS_ADDR_MAX];     /* where it serves map output */
	char chunkd[DFS_ADDR_MAX];   /* its co-located chunk server */
	unsigned slots;
	int64_t last_seen_ms;        /* monotonic */
	bool alive;
	TAILQ_ENTRY(coord_worker) link;
};

struct coord_task;

struct coord_attempt {
	uint64_t id;
	struct coord_task *task;
	struct coord_worker *w;
	enum coord_att_state state;
	bool local;                  /* map read a co-located replica */
	bool backup;                 /* a backup copy */
	int64_t start_ms;            /* wall clock, for status */
	int64_t end_ms;
	int64_t mono_start_ms;       /* monotonic */
	int64_t progress_ms;         /* monotonic time progress last grew */
	uint64_t progress;
};

struct coord_task {
	struct coord_job *job;
	enum coord_kind kind;
	unsigned index;
	enum coord_task_state state;
	int64_t idle_since_ms;       /* monotonic */
	unsigned errors;             /* attempts failed by the app */
	unsigned running;            /* attempts in ATT_RUNNING */
	bool backed_up;              /* a backup was launched */
	struct coord_attempt **att;  /* every attempt, oldest first */
	size_t natt;
	struct coord_attempt *done;  /* the winner, NULL unless DONE */
	bool ever_done;              /* completed once (st, local valid) */
	bool local;                  /* the last winner was data-local */
	struct task_stats st;        /* the last winner's counters */
};

struct coord_job {
	char id[MR_JOB_ID_MAX];
	enum coord_job_state state;
	char *error;
	struct job_plan *plan;       /* NULL for a job loaded from disk */
	json_t *saved;               /* job object of a loaded job */
	struct coord_task *maps;
	struct coord_task *reds;
	size_t nmaps;
	size_t nreds;
	size_t maps_done;
	size_t reds_done;
	int64_t submitted_ms;        /* wall clock */
	int64_t finished_ms;
	int64_t maps_done_mono_ms;   /* when the last map finished */
	uint64_t map_attempts;
	uint64_t red_attempts;
	uint64_t failed_attempts;
	uint64_t backup_tasks;
	TAILQ_ENTRY(coord_job) link;
};

TAILQ_HEAD(coord_job_list, coord_job);
TAILQ_HEAD(coord_worker_list, coord_worker);

/* An uploaded app object. */
struct coord_app {
	char id[65];
	void *data;
	size_t len;
	struct coord_app *next;
};

struct coord {
	struct coord_opts o;
	char *master;                /* copies of the opts strings */
	char *data_dir;
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* tasks may be available */
	struct coord_job_list jobs;
	struct coord_worker_list workers;
	struct coord_app *apps;
	struct coord_attempt **atts; /* by id - att_base */
	size_t natts;
	uint64_t att_base;
	uint64_t next_worker;
	unsigned next_job;
	char job_prefix[32];         /* "job_YYYYMMDDHHMMSS" */
	struct dfs_client *dc;       /* thread-safe, no lock needed */
	struct http_client *hc;
	pthread_t reaper;
	atomic_bool stop;
};

/* Job object of mr_proto.h (lock held). */
json_t *coord_job_to_json(const struct coord_job *j, bool tasks);

/* Task object of mr_proto.h for an attempt (lock held). */
json_t *coord_task_to_json(const struct coord_attempt *a);

/* Save a finished job under data_dir/jobs (lock held; best effort). */
void coord_save_job(struct coord *c, const struct coord_job *j);

/* Load saved jobs from data_dir/jobs at start. */
void coord_load_jobs(struct coord *c);

/* Name of a state, for JSON. */
const char *coord_job_state_name(enum coord_job_state s);

#endif
