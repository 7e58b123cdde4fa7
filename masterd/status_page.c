/*
 * status_page.c - the status web page and its data (see status_page.h).
 *
 * EP_OVERVIEW extends the EP_STATUS object (client_srv_status()) with
 * what the page shows beyond it; EP_JOBS relays the coordinator's job
 * list. The page itself is a constant (status_html.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_srv.h"
#include "client_srv.h"
#include "db_resident.h"
#include "http_client.h"
#include "leases.h"
#include "log.h"
#include "master.h"
#include "mr_proto.h"
#include "namespace.h"
#include "ns_stats.h"
#include "oplog.h"
#include "proto.h"
#include "replicator.h"
#include "status_page.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* How long a fetched job list is served again. */
#define JOBS_CACHE_MS 1000

/* Timeouts of the call to the coordinator: the page must not hang. */
#define JOBS_CONNECT_TIMEOUT_MS 500
#define JOBS_TIMEOUT_MS 1500

/* Most jobs the page lists (the newest). */
#define JOBS_MAX 20

/* The job list cache; one per process (one master per process). */
static struct {
	/* Guards everything below; held across a fetch, so concurrent
	 * pages share one call to the coordinator. */
	pthread_mutex_t lock;
	/* Client for the coordinator; NULL before start. */
	struct http_client *hc;
	/* Last EP_JOBS reply made, or NULL. */
	json_t *reply;
	/* When it was made (monotonic ms). */
	int64_t made_ms;
} jobs_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

int status_page_start(struct master *m)
{
	struct http_client_opts o = { JOBS_CONNECT_TIMEOUT_MS,
				      JOBS_TIMEOUT_MS };

	(void)m;
	pthread_mutex_lock(&jobs_cache.lock);
	jobs_cache.hc = http_client_new(&o);
	pthread_mutex_unlock(&jobs_cache.lock);
	return 0;
}

void status_page_stop(struct master *m)
{
	(void)m;
	pthread_mutex_lock(&jobs_cache.lock);
	http_client_free(jobs_cache.hc);
	jobs_cache.hc = NULL;
	json_decref(jobs_cache.reply);
	jobs_cache.reply = NULL;
	pthread_mutex_unlock(&jobs_cache.lock);
}

/* Capacity figures over the live servers of a status object. */
static void overview_capacity(json_t *st)
{
	uint64_t cap = 0, used = 0, free_b = 0, c, u, live = 0;
	json_t *s;
	size_t i;

	json_array_foreach (json_object_get(st, "chunkservers"), i, s) {
		if (!json_is_true(json_object_get(s, "alive")))
			continue;
		c = (uint64_t)json_integer_value(json_object_get(s, "capacity"));
		u = (uint64_t)json_integer_value(json_object_get(s, "used"));
		live++;
		cap += c;
		used += u;
		free_b += c > u ? c - u : 0;
	}
	json_object_set_new(st, "capacity", json_integer((json_int_t)cap));
	json_object_set_new(st, "used", json_integer((json_int_t)used));
	json_object_set_new(st, "free", json_integer((json_int_t)free_b));
	json_object_set_new(st, "live_servers", json_integer((json_int_t)live));
}

/* Replicas waiting for their servers' next heartbeat to be deleted, over
 * all servers: the deletions a client's unlink has not yet freed. */
static void overview_deletes(json_t *st)
{
	json_int_t pending = 0;
	json_t *s;
	size_t i;

	json_array_foreach (json_object_get(st, "chunkservers"), i, s)
		pending += json_integer_value(
			json_object_get(s, "pending_deletes"));
	json_object_set_new(st, "pending_deletes", json_integer(pending));
}

/* Bytes in files and the root's replication factor. */
static int overview_namespace(struct master *m, json_t *st)
{
	struct ns_reader *rd;
	struct dfs_attr root;
	uint64_t bytes = 0;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if ((r = ns_stats_file_bytes(rd, &bytes)) == 0)
		r = ns_getattr(rd, DFS_ROOT_INO, &root);
	ns_reader_put(rd);
	if (r != 0)
		return r;
	json_object_set_new(st, "bytes", json_integer((json_int_t)bytes));
	json_object_set_new(st, "replication",
			    json_integer((json_int_t)root.replication));
	return 0;
}

/* Counters of the oplog and the replicator. */
static void overview_counters(struct master *m, json_t *st)
{
	struct replicator_stats rs;
	struct oplog_stats os;
	struct chunk_srv_report_stats cr;

	oplog_get_stats(m->oplog, &os);
	replicator_get_stats(m->repl, &rs);
	chunk_srv_report_stats(m->cs, &cr);
	json_object_update_new(
		st, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			      "s:I, s:I, s:I}",
			      "ops", (json_int_t)os.ops, "commits",
			      (json_int_t)os.batches, "syncs",
			      (json_int_t)os.syncs, "checkpoints",
			      (json_int_t)ns_checkpoints(m->ns), "corrupt",
			      (json_int_t)rs.corrupt, "rereplicating",
			      (json_int_t)rs.running, "copied",
			      (json_int_t)rs.copied, "copy_failed",
			      (json_int_t)rs.failed, "trimmed",
			      (json_int_t)rs.trimmed, "full_reports",
			      (json_int_t)cr.full, "reported_replicas",
			      (json_int_t)cr.pairs, "reported_replicas_checked",
			      (json_int_t)cr.checked));
}

/* What db_resident holds of the database files. */
static void overview_resident(struct master *m, json_t *st)
{
	struct db_resident_stats rs;

	db_resident_get_stats(m->resident, &rs);
	json_object_set_new(st, "db_resident_bytes",
			    json_integer((json_int_t)rs.bytes));
	json_object_set_new(st, "db_resident_locked",
			    json_integer(rs.locked ? 1 : 0));
}

json_t *status_page_overview_json(struct master *m, int *err)
{
	uint64_t missing = 0;
	json_t *st;

	if ((st = client_srv_status(m, err, &missing)) == NULL)
		return NULL;
	if ((*err = overview_namespace(m, st)) != 0) {
		json_decref(st);
		return NULL;
	}
	overview_capacity(st);
	overview_deletes(st);
	overview_counters(m, st);
	overview_resident(m, st);
	json_object_set_new(st, "leases",
			    json_integer((json_int_t)leases_count(m->leases)));
	json_object_update_new(
		st,
		json_pack("{s:I, s:I, s:I, s:s, s:I, s:I}", "missing",
			  (json_int_t)missing, "chunk_size",
			  (json_int_t)ns_chunk_size(m->ns),
			  "heartbeat_timeout_ms",
			  (json_int_t)m->cfg.heartbeat_timeout_ms, "addr",
			  m->addr, "start_ms", (json_int_t)m->start_ms,
			  "now_ms", (json_int_t)time_now_ms()));
	return st;
}

/* The newest JOBS_MAX jobs of a coordinator reply, newest first. */
static json_t *jobs_newest(const json_t *reply)
{
	const json_t *all = json_object_get(reply, "jobs");
	json_t *out = json_array();
	size_t n = json_array_size(all), i;

	for (i = n; i > 0 && json_array_size(out) < JOBS_MAX; i--)
		json_array_append(out, json_array_get(all, i - 1));
	return out;
}

/* Ask the coordinator for its jobs; a new EP_JOBS reply (lock held). */
static json_t *jobs_fetch(const char *coordinator)
{
	json_t *reply = NULL, *out;
	int r;

	r = rpc_get(jobs_cache.hc, coordinator, MR_EP_JOBS, &reply, NULL);
	if (r != 0) {
		log_debug("cannot list jobs of coordinator '%s': %s",
			  coordinator, strerror(-r));
		return json_pack("{s:s, s:[], s:s}", "coordinator",
				 coordinator, "jobs", "error", strerror(-r));
	}
	out = json_pack("{s:s, s:o}", "coordinator", coordinator, "jobs",
			jobs_newest(reply));
	json_decref(reply);
	return out;
}

/* The EP_JOBS reply: cached if fresh, else fetched (new reference). */
static json_t *jobs_reply(struct master *m)
{
	int64_t now = time_mono_ms();
	json_t *out;

	if (m->cfg.coordinator == NULL)
		return json_pack("{s:n, s:[]}", "coordinator", "jobs");
	pthread_mutex_lock(&jobs_cache.lock);
	if (jobs_cache.hc == NULL) {
		out = json_pack("{s:s, s:[], s:s}", "coordinator",
				m->cfg.coordinator, "jobs", "error",
				"stopping");
		goto out;
	}
	if (jobs_cache.reply == NULL ||
	    now - jobs_cache.made_ms >= JOBS_CACHE_MS) {
		json_decref(jobs_cache.reply);
		jobs_cache.reply = jobs_fetch(m->cfg.coordinator);
		jobs_cache.made_ms = time_mono_ms();
	}
	out = json_incref(jobs_cache.reply);
out:
	pthread_mutex_unlock(&jobs_cache.lock);
	return out;
}

void status_page_handle(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_text(req, 200, "text/html; charset=utf-8",
			status_page_html);
}

void status_page_overview(struct http_request *req, void *arg)
{
	json_t *st;
	int r;

	if ((st = status_page_overview_json(arg, &r)) == NULL) {
		http_reply_error(req, wire_status_from_errno(r),
				 "overview: %s", strerror(-r));
		return;
	}
	http_reply_json(req, 200, st);
}

void status_page_jobs(struct http_request *req, void *arg)
{
	http_reply_json(req, 200, jobs_reply(arg));
}
