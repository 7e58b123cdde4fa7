/*
 * coord_json.c - the coordinator's JSON: job and task objects of
 * mr_proto.h, and finished jobs saved to and loaded from --data DIR.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "util.h"
#include "xmalloc.h"

#include "banned.h"

static const char *const coord_job_states[] = {
	[JOB_RUNNING] = "running",
	[JOB_PUBLISHING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
};

static const char *const coord_att_states[] = {
	[ATT_RUNNING] = "running",
	[ATT_SUCCEEDED] = "succeeded",
	[ATT_FAILED] = "failed",
	[ATT_KILLED] = "killed",
};

static const char *const coord_task_states[] = {
	[TASK_IDLE] = "idle",
	[TASK_RUNNING] = "running",
	[TASK_DONE] = "done",
};

const char *coord_job_state_name(enum coord_job_state s)
{
	return coord_job_states[s];
}

/* Set an unsigned counter field. */
static void cj_set_u(json_t *o, const char *key, uint64_t v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *cj_counters(const struct coord_job *j)
{
	struct task_stats m = { 0 }, r = { 0 };
	uint64_t local = 0;
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < j->nmaps; i++) {
		if (!j->maps[i].ever_done)
			continue;
		local += j->maps[i].local;
		m.bytes_read += j->maps[i].st.bytes_read;
		m.records_in += j->maps[i].st.records_in;
		m.records_out += j->maps[i].st.records_out;
	}
	for (i = 0; i < j->nreds; i++) {
		if (!j->reds[i].ever_done)
			continue;
		r.bytes_written += j->reds[i].st.bytes_written;
		r.shuffle_bytes += j->reds[i].st.shuffle_bytes;
		r.records_in += j->reds[i].st.records_in;
		r.records_out += j->reds[i].st.records_out;
	}
	cj_set_u(o, "maps", j->nmaps);
	cj_set_u(o, "reduces", j->nreds);
	cj_set_u(o, "data_local_maps", local);
	cj_set_u(o, "map_attempts", j->map_attempts);
	cj_set_u(o, "reduce_attempts", j->red_attempts);
	cj_set_u(o, "failed_attempts", j->failed_attempts);
	cj_set_u(o, "backup_tasks", j->backup_tasks);
	cj_set_u(o, "bytes_read", m.bytes_read);
	cj_set_u(o, "bytes_written", r.bytes_written);
	cj_set_u(o, "shuffle_bytes", r.shuffle_bytes);
	cj_set_u(o, "map_records_in", m.records_in);
	cj_set_u(o, "map_records_out", m.records_out);
	cj_set_u(o, "reduce_records_in", r.records_in);
	cj_set_u(o, "reduce_records_out", r.records_out);
	return o;
}

static json_t *cj_attempt(const struct coord_attempt *a)
{
	return json_pack("{s:I, s:s, s:s, s:b, s:b, s:I, s:I}", "attempt",
			 (json_int_t)a->id, "worker", a->w->addr, "state",
			 coord_att_states[a->state], "local", a->local,
			 "backup", a->backup, "start_ms",
			 (json_int_t)a->start_ms, "end_ms",
			 (json_int_t)a->end_ms);
}

static json_t *cj_task(const struct coord_task *t)
{
	json_t *arr = json_array();
	size_t k;

	for (k = 0; k < t->natt; k++)
		json_array_append_new(arr, cj_attempt(t->att[k]));
	return json_pack("{s:s, s:I, s:s, s:o}", "kind",
			 t->kind == KIND_MAP ? "map" : "reduce", "index",
			 (json_int_t)t->index, "state",
			 coord_task_states[t->state], "attempts", arr);
}

static json_t *cj_tasks(const struct coord_job *j)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < j->nmaps; i++)
		json_array_append_new(arr, cj_task(&j->maps[i]));
	for (i = 0; i < j->nreds; i++)
		json_array_append_new(arr, cj_task(&j->reds[i]));
	return arr;
}

static json_t *cj_inputs(const struct job_plan *p)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < p->ninputs; i++)
		json_array_append_new(arr, json_string(p->inputs[i]));
	return arr;
}

json_t *coord_job_to_json(const struct coord_job *j, bool tasks)
{
	int64_t end = j->finished_ms != 0 ? j->finished_ms : time_now_ms();
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:I, "
		      "s:I, s:I, s:I, s:o}",
		      "id", j->id, "state", coord_job_states[j->state],
		      "error", j->error != NULL ? j->error : "",
		      "app", j->plan->app_name, "inputs", cj_inputs(j->plan),
		      "output", j->plan->output,
		      "maps", (json_int_t)j->nmaps,
		      "reduces", (json_int_t)j->nreds,
		      "maps_done", (json_int_t)j->maps_done,
		      "reduces_done", (json_int_t)j->reds_done,
		      "submitted_ms", (json_int_t)j->submitted_ms,
		      "finished_ms", (json_int_t)j->finished_ms,
		      "elapsed_ms", (json_int_t)(end - j->submitted_ms),
		      "counters", cj_counters(j));
	if (tasks)
		json_object_set_new(o, "tasks", cj_tasks(j));
	return o;
}

/* The reduce task's list of map outputs to fetch. */
static json_t *cj_map_outputs(const struct coord_job *j)
{
	const struct coord_attempt *a;
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < j->nmaps; i++) {
		a = j->maps[i].done;
		if (a == NULL)
			continue;
		json_array_append_new(arr, json_pack("{s:I, s:s, s:I}", "map",
						     (json_int_t)i, "addr",
						     a->w->addr, "attempt",
						     (json_int_t)a->id));
	}
	return arr;
}

json_t *coord_task_to_json(const struct coord_attempt *a)
{
	const struct coord_task *t = a->task;
	const struct coord_job *j = t->job;
	const struct job_plan *p = j->plan;
	const struct map_input *mi;
	json_t *o;

	o = json_pack("{s:I, s:s, s:s, s:I, s:s, s:O, s:I}", "attempt",
		      (json_int_t)a->id, "job", j->id, "kind",
		      t->kind == KIND_MAP ? "map" : "reduce", "index",
		      (json_int_t)t->index, "app", p->app, "params", p->params,
		      "reduces", (json_int_t)j->nreds);
	if (p->mapper != NULL) {
		json_object_set_new(o, "mapper", json_string(p->mapper));
		json_object_set_new(o, "reducer", json_string(p->reducer));
	}
	if (t->kind == KIND_REDUCE) {
		json_object_set_new(o, "output", json_string(p->output));
		json_object_set_new(o, "maps", cj_map_outputs(j));
		return o;
	}
	mi = &p->maps[t->index];
	json_object_set_new(o, "file", json_string(mi->file));
	cj_set_u(o, "ino", mi->ino);
	cj_set_u(o, "size", mi->size);
	cj_set_u(o, "chunk_size", mi->chunk_size);
	json_object_set_new(o, "chunk", proto_chunk_to_json(&mi->chunk));
	return o;
}

void coord_save_job(struct coord *c, const struct coord_job *j)
{
	json_t *o;
	char *dir, *path, *text;
	int r;

	if (c->data_dir == NULL || j->plan == NULL)
		return;
	dir = xasprintf("%s/jobs", c->data_dir);
	path = xasprintf("%s/%s.json", dir, j->id);
	o = coord_job_to_json(j, true);
	text = json_dumps(o, JSON_COMPACT);
	if ((r = util_mkdir_p(dir)) == 0 && text != NULL)
		r = util_write_file(path, text, strlen(text));
	if (r != 0)
		log_warnx("cannot save job '%s': %s", path, strerror(-r));
	free(text);
	json_decref(o);
	free(path);
	free(dir);
}

/* Load one saved job file. */
static void coord_load_job(struct coord *c, const char *path)
{
	struct coord_job *j;
	json_error_t jerr;
	const char *id = NULL, *state = NULL;
	json_t *o = json_load_file(path, 0, &jerr);

	if (o == NULL || proto_get_str(o, "id", MR_JOB_ID_MAX - 1, &id) != 0 ||
	    proto_get_str(o, "state", 32, &state) != 0 ||
	    !util_name_is_safe(id)) {
		log_warnx("ignoring bad job file '%s'", path);
		json_decref(o);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->state = strcmp(state, "succeeded") == 0 ? JOB_SUCCEEDED
						   : JOB_FAILED;
	j->saved = o;
	TAILQ_INSERT_TAIL(&c->jobs, j, link);
}

static int cj_cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

void coord_load_jobs(struct coord *c)
{
	struct dirent **ents = NULL;
	char *dir, *path;
	size_t len;
	int n, i;

	if (c->data_dir == NULL)
		return;
	dir = xasprintf("%s/jobs", c->data_dir);
	n = scandir(dir, &ents, NULL, cj_cmp_names);
	for (i = 0; i < n; i++) {
		len = strlen(ents[i]->d_name);
		if (len > 5 &&
		    strcmp(ents[i]->d_name + len - 5, ".json") == 0) {
			path = xasprintf("%s/%s", dir, ents[i]->d_name);
			coord_load_job(c, path);
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
	free(dir);
}
