/*
 * coord.c - the coordinator's scheduler (see coord.h): task assignment
 * with locality, completions, failure detection and backup tasks.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coord_int.h"
#include "dfs_client.h"
#include "http_client.h"
#include "log.h"
#include "plan.h"
#include "proto.h"
#include "timeutil.h"
#include "xmalloc.h"

#include "banned.h"

/* Reaper period, and the longest a poller sleeps between checks. */
#define COORD_TICK_MS 250

/* ------------------------------------------------------------------ */
/* Lookups and small state changes (lock held)                          */
/* ------------------------------------------------------------------ */

static struct coord_worker *coord_find_worker(struct coord *c, uint64_t id)
{
	struct coord_worker *w;

	TAILQ_FOREACH(w, &c->workers, link)
		if (w->id == id)
			return w;
	return NULL;
}

static struct coord_attempt *coord_find_attempt(struct coord *c,
						uint64_t id)
{
	if (id < c->att_base || id - c->att_base >= c->natts)
		return NULL;
	return c->atts[id - c->att_base];
}

static struct coord_job *coord_find_job(struct coord *c, const char *id)
{
	struct coord_job *j;

	TAILQ_FOREACH(j, &c->jobs, link)
		if (strcmp(j->id, id) == 0)
			return j;
	return NULL;
}

static void coord_task_idle(struct coord_task *t, int64_t now)
{
	t->state = TASK_IDLE;
	t->idle_since_ms = now;
}

/* End a running attempt in state s. */
static void coord_att_end(struct coord_attempt *a, enum coord_att_state s)
{
	if (a->state != ATT_RUNNING)
		return;
	a->state = s;
	a->end_ms = time_now_ms();
	a->task->running--;
}

/* A running attempt failed: count it and let its task run again. */
static void coord_att_fail(struct coord_attempt *a, int64_t now)
{
	struct coord_task *t = a->task;

	if (a->state != ATT_RUNNING)
		return;
	coord_att_end(a, ATT_FAILED);
	t->job->failed_attempts++;
	if (t->state != TASK_DONE && t->running == 0)
		coord_task_idle(t, now);
}

/* A done map task whose output is lost runs again. */
static void coord_map_reset(struct coord_task *t, int64_t now)
{
	if (t->kind != KIND_MAP || t->state != TASK_DONE)
		return;
	log_info("job %s: map %u output on '%s' lost, running it again",
		 t->job->id, t->index, t->done->w->addr);
	t->done = NULL;
	t->job->maps_done--;
	coord_task_idle(t, now);
}

static struct coord_task *coord_job_task(struct coord_job *j, size_t i)
{
	return i < j->nmaps ? &j->maps[i] : &j->reds[i - j->nmaps];
}

/* Kill every running attempt of a job. */
static void coord_job_kill_all(struct coord_job *j)
{
	struct coord_task *t;
	size_t i, k;

	for (i = 0; i < j->nmaps + j->nreds; i++) {
		t = coord_job_task(j, i);
		for (k = 0; k < t->natt; k++)
			coord_att_end(t->att[k], ATT_KILLED);
	}
}

static void coord_job_fail(struct coord *c, struct coord_job *j,
			   char *msg)
{
	if (j->state != JOB_RUNNING && j->state != JOB_PUBLISHING) {
		free(msg);
		return;
	}
	log_warnx("job %s failed: %s", j->id, msg);
	free(j->error);
	j->error = msg;
	j->state = JOB_FAILED;
	j->finished_ms = time_now_ms();
	coord_job_kill_all(j);
	coord_save_job(c, j);
}

/* A worker is gone: its running attempts fail and the map outputs it
 * held for unfinished jobs are produced again. */
static void coord_worker_lost(struct coord *c, struct coord_worker *w,
			      const char *why, int64_t now)
{
	struct coord_job *j;
	struct coord_task *t;
	size_t i, k;

	if (!w->alive)
		return;
	w->alive = false;
	log_warnx("worker %" PRIu64 " '%s' lost: %s", w->id, w->addr, why);
	TAILQ_FOREACH(j, &c->jobs, link) {
		if (j->state != JOB_RUNNING)
			continue;
		for (i = 0; i < j->nmaps + j->nreds; i++) {
			t = coord_job_task(j, i);
			for (k = 0; k < t->natt; k++)
				if (t->att[k]->w == w)
					coord_att_fail(t->att[k], now);
			if (t->state == TASK_DONE && t->done->w == w &&
			    j->reds_done < j->nreds)
				coord_map_reset(t, now);
		}
	}
	pthread_cond_broadcast(&c->cond);
}

/* ------------------------------------------------------------------ */
/* Assignment (lock held)                                               */
/* ------------------------------------------------------------------ */

static struct coord_attempt *coord_att_new(struct coord *c,
					   struct coord_task *t,
					   struct coord_worker *w, bool local,
					   bool backup, int64_t now)
{
	struct coord_attempt *a = xcalloc(1, sizeof(*a));

	a->id = c->att_base + c->natts;
	c->atts = xrealloc(c->atts, (c->natts + 1) * sizeof(*c->atts));
	c->atts[c->natts++] = a;
	a->task = t;
	a->w = w;
	a->state = ATT_RUNNING;
	a->local = local;
	a->backup = backup;
	a->start_ms = time_now_ms();
	a->mono_start_ms = now;
	a->progress_ms = now;
	t->att = xrealloc(t->att, (t->natt + 1) * sizeof(*t->att));
	t->att[t->natt++] = a;
	t->running++;
	t->state = TASK_RUNNING;
	if (t->kind == KIND_MAP)
		t->job->map_attempts++;
	else
		t->job->red_attempts++;
	if (backup) {
		t->backed_up = true;
		t->job->backup_tasks++;
	}
	log_info("job %s: %s %u attempt %" PRIu64 " on '%s'%s%s", t->job->id,
		 t->kind == KIND_MAP ? "map" : "reduce", t->index, a->id,
		 w->addr, local ? " (data-local)" : "",
		 backup ? " (backup)" : "");
	return a;
}

/* True if worker w sits next to a replica of map task t's chunk. */
static bool coord_holds(const struct coord_worker *w,
			const struct coord_task *t)
{
	const struct dfs_chunk *ch = &t->job->plan->maps[t->index].chunk;
	int i;

	for (i = 0; i < ch->nreplicas; i++)
		if (strcmp(ch->replicas[i], w->chunkd) == 0)
			return true;
	return false;
}

/* True if some live worker sits next to a replica of t's chunk. */
static bool coord_has_local_worker(struct coord *c,
				   const struct coord_task *t)
{
	struct coord_worker *w;

	TAILQ_FOREACH(w, &c->workers, link)
		if (w->alive && coord_holds(w, t))
			return true;
	return false;
}

/* Run time a task of this phase may take before it gets a backup. */
static int64_t coord_backup_after(struct coord *c, struct coord_task *ts,
				  size_t n)
{
	int64_t sum = 0, th;
	size_t i, done = 0;

	for (i = 0; i < n; i++) {
		if (ts[i].state != TASK_DONE)
			continue;
		sum += ts[i].done->end_ms - ts[i].done->start_ms;
		done++;
	}
	th = done != 0 ? 2 * sum / (int64_t)done : 0;
	return th > c->o.backup_after_ms ? th : c->o.backup_after_ms;
}

/* True if t should get a backup copy on w now. */
static bool coord_wants_backup(const struct coord_task *t,
			       const struct coord_worker *w, int64_t after,
			       int64_t now)
{
	const struct coord_attempt *a;
	size_t k;

	if (t->state != TASK_RUNNING || t->running != 1 || t->backed_up)
		return false;
	for (k = 0; k < t->natt; k++) {
		a = t->att[k];
		if (a->state == ATT_RUNNING)
			return a->w != w && now - a->mono_start_ms > after;
	}
	return false;
}

/* Pick a task of phase ts[0..n) for w: idle and local first (maps),
 * then idle, then a backup of a slow task once none is idle. */
static struct coord_attempt *coord_pick_phase(struct coord *c,
					      struct coord_task *ts, size_t n,
					      struct coord_worker *w,
					      int64_t now)
{
	struct coord_task *any = NULL, *slow = NULL, *t;
	bool idle_left = false;
	int64_t after = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		t = &ts[i];
		if (t->state == TASK_IDLE) {
			idle_left = true;
			if (t->kind == KIND_REDUCE)
				return coord_att_new(c, t, w, false, false,
						     now);
			if (coord_holds(w, t))
				return coord_att_new(c, t, w, true, false, now);
			if (any == NULL &&
			    (now - t->idle_since_ms >= c->o.locality_wait_ms ||
			     !coord_has_local_worker(c, t)))
				any = t;
		} else if (!idle_left && slow == NULL &&
			   t->state == TASK_RUNNING && !t->backed_up) {
			if (after < 0)
				after = coord_backup_after(c, ts, n);
			if (coord_wants_backup(t, w, after, now))
				slow = t;
		}
	}
	if (any != NULL)
		return coord_att_new(c, any, w, false, false, now);
	if (!idle_left && slow != NULL)
		return coord_att_new(c, slow, w,
				     slow->kind == KIND_MAP &&
					     coord_holds(w, slow),
				     true, now);
	return NULL;
}

/* The next attempt for worker w, or NULL. Jobs are served in order. */
static struct coord_attempt *coord_pick(struct coord *c,
					struct coord_worker *w, int64_t now)
{
	struct coord_attempt *a;
	struct coord_job *j;

	TAILQ_FOREACH(j, &c->jobs, link) {
		if (j->state != JOB_RUNNING)
			continue;
		if (j->maps_done < j->nmaps)
			a = coord_pick_phase(c, j->maps, j->nmaps, w, now);
		else if (now >= j->maps_done_mono_ms +
					j->plan->reduce_delay_ms)
			a = coord_pick_phase(c, j->reds, j->nreds, w, now);
		else
			a = NULL;
		if (a != NULL)
			return a;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */
/* ------------------------------------------------------------------ */

int coord_poll(struct coord *c, uint64_t wid, int64_t wait_ms,
	       json_t **task)
{
	int64_t now = time_mono_ms(), end = now + wait_ms;
	struct coord_attempt *a;
	struct coord_worker *w;
	struct timespec ts;
	int r = 0;

	*task = NULL;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		w = coord_find_worker(c, wid);
		if (w == NULL || !w->alive || atomic_load(&c->stop)) {
			r = -ENOENT;
			break;
		}
		w->last_seen_ms = now;
		if ((a = coord_pick(c, w, now)) != NULL) {
			*task = coord_task_to_json(a);
			break;
		}
		if (now >= end)
			break;
		ts = time_mono_after_ts(end - now < COORD_TICK_MS
						? end - now
						: COORD_TICK_MS);
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		now = time_mono_ms();
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

uint64_t coord_register(struct coord *c, const char *addr,
			const char *chunkd, unsigned slots, int64_t *hb_ms)
{
	struct coord_worker *w, *old;
	int64_t now = time_mono_ms();

	w = xcalloc(1, sizeof(*w));
	snprintf(w->addr, sizeof(w->addr), "%s", addr);
	snprintf(w->chunkd, sizeof(w->chunkd), "%s", chunkd);
	w->slots = slots;
	w->last_seen_ms = now;
	w->alive = true;
	pthread_mutex_lock(&c->lock);
	TAILQ_FOREACH(old, &c->workers, link)
		if (old->alive && strcmp(old->addr, addr) == 0)
			coord_worker_lost(c, old, "registered again", now);
	w->id = ++c->next_worker;
	TAILQ_INSERT_TAIL(&c->workers, w, link);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	log_info("worker %" PRIu64 " registered: '%s' next to chunk server "
		 "'%s', %u slots", w->id, addr, chunkd, slots);
	*hb_ms = c->o.worker_timeout_ms / 3;
	if (*hb_ms > 1000)
		*hb_ms = 1000;
	if (*hb_ms < 100)
		*hb_ms = 100;
	return w->id;
}

/* Note one reported attempt; false if the worker should abort it. */
static bool coord_note_progress(struct coord *c, struct coord_worker *w,
				const json_t *e, int64_t now)
{
	uint64_t id = 0, progress = 0;
	struct coord_attempt *a;

	if (proto_get_u64(e, "attempt", UINT64_MAX, &id) != 0)
		return true;
	proto_opt_u64(e, "progress", UINT64_MAX, &progress);
	a = coord_find_attempt(c, id);
	if (a == NULL || a->w != w || a->state != ATT_RUNNING)
		return false;
	if (progress > a->progress) {
		a->progress = progress;
		a->progress_ms = now;
	}
	return true;
}

int coord_heartbeat(struct coord *c, const json_t *req, json_t **reply)
{
	json_t *abort = json_array(), *jobs = json_array(), *e;
	const json_t *arr = json_object_get(req, "attempts");
	int64_t now = time_mono_ms();
	struct coord_worker *w;
	struct coord_job *j;
	uint64_t wid = 0;
	bool rereg = false;
	size_t i;

	proto_get_u64(req, "worker", UINT64_MAX, &wid);
	pthread_mutex_lock(&c->lock);
	w = coord_find_worker(c, wid);
	if (w == NULL || !w->alive) {
		rereg = true;
		goto out;
	}
	w->last_seen_ms = now;
	json_array_foreach(arr, i, e)
		if (!coord_note_progress(c, w, e, now))
			json_array_append(abort, json_object_get(e, "attempt"));
	TAILQ_FOREACH(j, &c->jobs, link)
		if (j->state == JOB_RUNNING || j->state == JOB_PUBLISHING)
			json_array_append_new(jobs, json_string(j->id));
out:
	pthread_mutex_unlock(&c->lock);
	*reply = json_pack("{s:o, s:o, s:b}", "abort", abort, "jobs", jobs,
			   "reregister", rereg);
	return 0;
}

/* Counters of a completion report. */
static void coord_parse_stats(const json_t *req, struct task_stats *st)
{
	const json_t *cn = json_object_get(req, "counters");

	memset(st, 0, sizeof(*st));
	proto_opt_u64(cn, "bytes_read", UINT64_MAX, &st->bytes_read);
	proto_opt_u64(cn, "bytes_written", UINT64_MAX, &st->bytes_written);
	proto_opt_u64(cn, "shuffle_bytes", UINT64_MAX, &st->shuffle_bytes);
	proto_opt_u64(cn, "records_in", UINT64_MAX, &st->records_in);
	proto_opt_u64(cn, "records_out", UINT64_MAX, &st->records_out);
}

/* Attempt a completed its task first. */
static void coord_task_win(struct coord_attempt *a,
			   const struct task_stats *st, int64_t now)
{
	struct coord_task *t = a->task;
	struct coord_job *j = t->job;
	size_t k;

	coord_att_end(a, ATT_SUCCEEDED);
	t->state = TASK_DONE;
	t->done = a;
	t->ever_done = true;
	t->local = a->local;
	t->st = *st;
	for (k = 0; k < t->natt; k++)
		coord_att_end(t->att[k], ATT_KILLED);
	if (t->kind == KIND_MAP) {
		if (++j->maps_done == j->nmaps)
			j->maps_done_mono_ms = now;
		return;
	}
	if (++j->reds_done == j->nreds && j->state == JOB_RUNNING) {
		j->state = JOB_PUBLISHING;
		coord_job_kill_all(j);
	}
}

/* Attempt a failed: reset the map outputs a reducer could not fetch, or
 * count an app error against the task. */
static void coord_task_failed(struct coord *c, struct coord_attempt *a,
			      const json_t *req, int64_t now)
{
	const json_t *lost = json_object_get(req, "lost"), *e;
	struct coord_task *t = a->task;
	struct coord_attempt *la;
	const char *msg = "unknown error";
	size_t i;

	proto_get_str(req, "error", 1024, &msg);
	log_warnx("job %s: %s %u attempt %" PRIu64 " on '%s' failed: %s",
		  t->job->id, t->kind == KIND_MAP ? "map" : "reduce",
		  t->index, a->id, a->w->addr, msg);
	coord_att_fail(a, now);
	if (json_array_size(lost) > 0) {
		json_array_foreach(lost, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 0)
				continue;
			la = coord_find_attempt(
				c, (uint64_t)json_integer_value(e));
			if (la != NULL && la->task->done == la)
				coord_map_reset(la->task, now);
		}
		return;
	}
	if (++t->errors >= c->o.max_failures)
		coord_job_fail(c, t->job,
			       xasprintf("%s %u failed %u times, last: %s",
					 t->kind == KIND_MAP ? "map" : "reduce",
					 t->index, t->errors, msg));
}

int coord_done(struct coord *c, const json_t *req)
{
	uint64_t wid = 0, id = 0;
	struct coord_attempt *a;
	struct task_stats st;
	int64_t now = time_mono_ms();
	bool ok = false;

	if (proto_get_u64(req, "worker", UINT64_MAX, &wid) != 0 ||
	    proto_get_u64(req, "attempt", UINT64_MAX, &id) != 0 ||
	    proto_get_bool(req, "ok", &ok) != 0)
		return -EINVAL;
	coord_parse_stats(req, &st);
	pthread_mutex_lock(&c->lock);
	a = coord_find_attempt(c, id);
	if (a == NULL || a->w->id != wid || a->state != ATT_RUNNING ||
	    a->task->job->state != JOB_RUNNING) {
		log_debug("ignoring completion of attempt %" PRIu64, id);
		goto out;
	}
	if (ok && a->task->state != TASK_DONE)
		coord_task_win(a, &st, now);
	else if (ok)
		coord_att_end(a, ATT_SUCCEEDED);
	else
		coord_task_failed(c, a, req, now);
	pthread_cond_broadcast(&c->cond);
out:
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reaper                                                               */
/* ------------------------------------------------------------------ */

/* Abandon running attempts of j without progress for the task timeout. */
static void coord_check_stalls(struct coord *c, struct coord_job *j,
			       int64_t now)
{
	struct coord_attempt *a;
	struct coord_task *t;
	size_t i, k;

	for (i = 0; i < j->nmaps + j->nreds; i++) {
		t = coord_job_task(j, i);
		if (t->running == 0)
			continue;
		for (k = 0; k < t->natt; k++) {
			a = t->att[k];
			if (a->state != ATT_RUNNING ||
			    now - a->progress_ms <= c->o.task_timeout_ms)
				continue;
			log_warnx("job %s: attempt %" PRIu64 " on '%s' made no "
				  "progress for %" PRId64 " ms, abandoned",
				  j->id, a->id, a->w->addr,
				  now - a->progress_ms);
			coord_att_fail(a, now);
		}
	}
}

/* Publish job j (lock held on entry and exit, dropped meanwhile). */
static void coord_publish(struct coord *c, struct coord_job *j)
{
	char *output = xstrdup(j->plan->output);
	int r;

	pthread_mutex_unlock(&c->lock);
	r = plan_publish(c->dc, output);
	pthread_mutex_lock(&c->lock);
	free(output);
	if (j->state != JOB_PUBLISHING)
		return;
	if (r != 0) {
		coord_job_fail(c, j, xasprintf("cannot publish output: %s",
					       strerror(-r)));
		return;
	}
	j->state = JOB_SUCCEEDED;
	j->finished_ms = time_now_ms();
	log_info("job %s succeeded in %" PRId64 " ms", j->id,
		 j->finished_ms - j->submitted_ms);
	coord_save_job(c, j);
}

static void coord_tick(struct coord *c)
{
	int64_t now = time_mono_ms();
	struct coord_worker *w;
	struct coord_job *j;

	pthread_mutex_lock(&c->lock);
	TAILQ_FOREACH(w, &c->workers, link)
		if (w->alive && now - w->last_seen_ms > c->o.worker_timeout_ms)
			coord_worker_lost(c, w, "no heartbeat", now);
	TAILQ_FOREACH(j, &c->jobs, link)
		if (j->state == JOB_RUNNING)
			coord_check_stalls(c, j, now);
	TAILQ_FOREACH(j, &c->jobs, link)
		if (j->state == JOB_PUBLISHING)
			coord_publish(c, j);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void *coord_reaper(void *arg)
{
	struct coord *c = arg;
	struct timespec ts = { 0, COORD_TICK_MS * 1000000L };

	while (!atomic_load(&c->stop)) {
		nanosleep(&ts, NULL);
		coord_tick(c);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Jobs and apps                                                        */
/* ------------------------------------------------------------------ */

static void coord_tasks_init(struct coord_job *j, struct coord_task *ts,
			     size_t n, enum coord_kind kind, int64_t now)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ts[i].job = j;
		ts[i].kind = kind;
		ts[i].index = (unsigned)i;
		coord_task_idle(&ts[i], now);
	}
}

/* A new job for plan p (taken over), appended to the queue. */
static struct coord_job *coord_job_new(struct coord *c, struct job_plan *p)
{
	struct coord_job *j = xcalloc(1, sizeof(*j));
	int64_t now = time_mono_ms();

	do {
		snprintf(j->id, sizeof(j->id), "%s_%04u", c->job_prefix,
			 ++c->next_job);
	} while (coord_find_job(c, j->id) != NULL);
	j->plan = p;
	j->state = JOB_RUNNING;
	j->submitted_ms = time_now_ms();
	j->nmaps = p->nmaps;
	j->nreds = p->reduces;
	j->maps = xcalloc(j->nmaps + 1, sizeof(*j->maps));
	j->reds = xcalloc(j->nreds + 1, sizeof(*j->reds));
	coord_tasks_init(j, j->maps, j->nmaps, KIND_MAP, now);
	coord_tasks_init(j, j->reds, j->nreds, KIND_REDUCE, now);
	j->maps_done_mono_ms = now;
	TAILQ_INSERT_TAIL(&c->jobs, j, link);
	return j;
}

static struct coord_app *coord_find_app(struct coord *c, const char *id)
{
	struct coord_app *a;

	for (a = c->apps; a != NULL; a = a->next)
		if (strcmp(a->id, id) == 0)
			return a;
	return NULL;
}

int coord_submit(struct coord *c, const json_t *req, char **job_id,
		 char **err)
{
	struct job_plan *p;
	struct coord_job *j;
	bool known;
	int r;

	*job_id = NULL;
	if ((p = plan_from_request(req, err)) == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	known = p->app[0] == '\0' || coord_find_app(c, p->app) != NULL;
	pthread_mutex_unlock(&c->lock);
	if (!known) {
		*err = xasprintf("unknown app '%s': upload it first", p->app);
		r = -ENOENT;
		goto out;
	}
	if ((r = plan_prepare(p, c->dc, c->hc, err)) != 0)
		goto out;
	pthread_mutex_lock(&c->lock);
	j = coord_job_new(c, p);
	*job_id = xstrdup(j->id);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	log_info("job %s submitted: %zu maps, %zu reduces, app '%s', output "
		 "'%s'", *job_id, j->nmaps, j->nreds, p->app_name, p->output);
	p = NULL;
	r = 0;
out:
	plan_free(p);
	return r;
}

json_t *coord_job_json(struct coord *c, const char *id, bool tasks)
{
	struct coord_job *j;
	json_t *o = NULL;

	pthread_mutex_lock(&c->lock);
	j = coord_find_job(c, id);
	if (j != NULL && j->saved != NULL) {
		o = json_deep_copy(j->saved);
		if (!tasks)
			json_object_del(o, "tasks");
	} else if (j != NULL) {
		o = coord_job_to_json(j, tasks);
	}
	pthread_mutex_unlock(&c->lock);
	return o;
}

json_t *coord_jobs_json(struct coord *c)
{
	json_t *arr = json_array(), *o;
	struct coord_job *j;

	pthread_mutex_lock(&c->lock);
	TAILQ_FOREACH(j, &c->jobs, link) {
		if (j->saved != NULL) {
			o = json_deep_copy(j->saved);
			json_object_del(o, "tasks");
		} else {
			o = coord_job_to_json(j, false);
		}
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&c->lock);
	return json_pack("{s:o}", "jobs", arr);
}

json_t *coord_health_json(struct coord *c)
{
	size_t alive = 0, jobs = 0, running = 0;
	struct coord_worker *w;
	struct coord_job *j;

	pthread_mutex_lock(&c->lock);
	TAILQ_FOREACH(w, &c->workers, link)
		alive += w->alive;
	TAILQ_FOREACH(j, &c->jobs, link) {
		jobs++;
		running += j->state == JOB_RUNNING;
	}
	pthread_mutex_unlock(&c->lock);
	return json_pack("{s:s, s:I, s:I, s:I}", "role", "coordinator",
			 "workers", (json_int_t)alive, "jobs",
			 (json_int_t)jobs, "running", (json_int_t)running);
}

int coord_app_put(struct coord *c, const void *data, size_t len,
		  char id[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	struct coord_app *a;

	if (len == 0)
		return -EINVAL;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return -EIO;
	for (i = 0; i < 32; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	pthread_mutex_lock(&c->lock);
	if (coord_find_app(c, id) == NULL) {
		a = xcalloc(1, sizeof(*a));
		memcpy(a->id, id, 65);
		a->data = xmalloc(len);
		memcpy(a->data, data, len);
		a->len = len;
		a->next = c->apps;
		c->apps = a;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int coord_app_get(struct coord *c, const char *id, void **data,
		  size_t *len)
{
	struct coord_app *a;
	int r = -ENOENT;

	pthread_mutex_lock(&c->lock);
	if ((a = coord_find_app(c, id)) != NULL) {
		*data = xmalloc(a->len);
		memcpy(*data, a->data, a->len);
		*len = a->len;
		r = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

struct coord *coord_new(const struct coord_opts *opts)
{
	struct coord *c = xcalloc(1, sizeof(*c));
	pthread_condattr_t ca;
	struct http_client_opts ho = { 3000, 30000 };
	struct tm tm;
	time_t now = time(NULL);

	c->o = *opts;
	c->master = xstrdup(opts->master);
	c->o.master = c->master;
	c->data_dir = opts->data_dir != NULL ? xstrdup(opts->data_dir) : NULL;
	c->o.data_dir = c->data_dir;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	TAILQ_INIT(&c->jobs);
	TAILQ_INIT(&c->workers);
	c->att_base = (uint64_t)time_now_ms();
	gmtime_r(&now, &tm);
	strftime(c->job_prefix, sizeof(c->job_prefix), "job_%Y%m%d%H%M%S",
		 &tm);
	c->dc = dfs_client_new(c->master);
	c->hc = http_client_new(&ho);
	coord_load_jobs(c);
	if (pthread_create(&c->reaper, NULL, coord_reaper, c) != 0)
		fatal("cannot start the reaper thread");
	return c;
}

static void coord_job_free(struct coord_job *j)
{
	struct coord_task *t;
	size_t i, k;

	for (i = 0; i < j->nmaps + j->nreds; i++) {
		t = coord_job_task(j, i);
		for (k = 0; k < t->natt; k++)
			free(t->att[k]);
		free(t->att);
	}
	free(j->maps);
	free(j->reds);
	plan_free(j->plan);
	json_decref(j->saved);
	free(j->error);
	free(j);
}

void coord_stop(struct coord *c)
{
	atomic_store(&c->stop, true);
	pthread_mutex_lock(&c->lock);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void coord_free(struct coord *c)
{
	struct coord_worker *w;
	struct coord_job *j;
	struct coord_app *a;

	if (c == NULL)
		return;
	coord_stop(c);
	pthread_join(c->reaper, NULL);
	while ((j = TAILQ_FIRST(&c->jobs)) != NULL) {
		TAILQ_REMOVE(&c->jobs, j, link);
		coord_job_free(j);
	}
	while ((w = TAILQ_FIRST(&c->workers)) != NULL) {
		TAILQ_REMOVE(&c->workers, w, link);
		free(w);
	}
	while ((a = c->apps) != NULL) {
		c->apps = a->next;
		free(a->data);
		free(a);
	}
	free(c->atts);
	dfs_client_free(c->dc);
	http_client_free(c->hc);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->master);
	free(c->data_dir);
	free(c);
}
