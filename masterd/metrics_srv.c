/*
 * metrics_srv.c - the master's Prometheus metrics (see metrics_srv.h).
 *
 * The collector reads the EP_OVERVIEW object (status_page.h), so the
 * page and the metrics never disagree on what a figure means.
 */
#include <pthread.h>
#include <string.h>
#include <jansson.h>

#include "dfs_proto.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "metrics_http.h"
#include "metrics_srv.h"
#include "status_page.h"
#include "banned.h"

/* A gauge (or mirrored counter) copied from an EP_OVERVIEW field. */
static const struct overview_metric {
	const char *field;
	enum metrics_type type;
	const char *name;
	const char *help;
} overview_metrics[] = {
	{ "files", METRICS_GAUGE, "dfs_master_files", "Regular files." },
	{ "bytes", METRICS_GAUGE, "dfs_master_file_bytes",
	  "Sum of the sizes of all regular files." },
	{ "chunks", METRICS_GAUGE, "dfs_master_chunks", "Chunks of files." },
	{ "under_replicated", METRICS_GAUGE,
	  "dfs_master_chunks_under_replicated",
	  "Chunks with fewer live replicas than their replication factor "
	  "(the re-replication queue)." },
	{ "missing", METRICS_GAUGE, "dfs_master_chunks_missing",
	  "Chunks with no live replica." },
	{ "corrupt", METRICS_GAUGE, "dfs_master_replicas_corrupt",
	  "Corrupt replicas kept aside until the chunk is repaired." },
	{ "capacity", METRICS_GAUGE, "dfs_master_capacity_bytes",
	  "Capacity of the live chunk servers." },
	{ "used", METRICS_GAUGE, "dfs_master_used_bytes",
	  "Bytes used on the live chunk servers." },
	{ "pending_deletes", METRICS_GAUGE,
	  "dfs_master_replicas_pending_delete",
	  "Replicas (of deleted files' chunks, or excess) the master holds "
	  "for their chunk servers' next heartbeats to delete." },
	{ "rereplicating", METRICS_GAUGE, "dfs_master_rereplication_running",
	  "Re-replication copies in flight." },
	{ "trimmed", METRICS_COUNTER,
	  "dfs_master_excess_replicas_removed_total",
	  "Excess replicas removed." },
	{ "ops", METRICS_COUNTER, "dfs_master_metadata_ops_total",
	  "Metadata operations applied (failed ones included)." },
	{ "commits", METRICS_COUNTER, "dfs_master_metadata_commits_total",
	  "Metadata transactions committed (group commits)." },
	{ "syncs", METRICS_COUNTER, "dfs_master_metadata_syncs_total",
	  "fsyncs of lazily synced metadata commits (--sync-interval)." },
	{ "db_resident_bytes", METRICS_GAUGE, "dfs_master_db_resident_bytes",
	  "Bytes of the metadata database and its WAL held in memory "
	  "(--db-memory)." },
	{ "db_resident_locked", METRICS_GAUGE, "dfs_master_db_resident_locked",
	  "1 if those pages are locked in memory, 0 if mlock was refused "
	  "(LimitMEMLOCK) and the kernel may reclaim them." },
	{ "leases", METRICS_GAUGE, "dfs_master_leases",
	  "Chunk leases in the master's table: valid ones, recently ended "
	  "ones, and chunks being granted one." },
	{ "checkpoints", METRICS_COUNTER,
	  "dfs_master_metadata_checkpoints_total",
	  "Checkpoints copying the metadata WAL into the database." },
	{ "full_reports", METRICS_COUNTER, "dfs_master_full_reports_total",
	  "Chunk reports listing every replica of a server (registrations "
	  "included); the heartbeats between list only the changes." },
	{ "reported_replicas", METRICS_COUNTER,
	  "dfs_master_reported_replicas_total",
	  "Replicas listed in chunk servers' reports (full reports and "
	  "changes)." },
	{ "reported_replicas_checked", METRICS_COUNTER,
	  "dfs_master_reported_replicas_checked_total",
	  "Reported replicas looked up in the chunk table one by one because "
	  "the replica table did not have them at the chunk's version." },
};

#define NOVERVIEW (sizeof(overview_metrics) / sizeof(overview_metrics[0]))

static const char *const addr_rack[] = { "addr", "rack", NULL };
static const char *const state_label[] = { "state", NULL };
static const char *const result_label[] = { "result", NULL };

/* Families written by the observer, made once. */
static struct {
	struct metrics_family *heartbeats;
	struct metrics_family *registrations;
} obs_fam;

static pthread_once_t obs_once = PTHREAD_ONCE_INIT;

static void obs_init(void)
{
	struct metrics *reg = metrics_default();

	obs_fam.heartbeats = metrics_counter(
		reg, "dfs_master_heartbeats_total",
		"Chunk server heartbeats answered.", NULL);
	obs_fam.registrations = metrics_counter(
		reg, "dfs_master_registrations_total",
		"Chunk server registrations answered.", NULL);
}

void metrics_srv_observe(const struct http_request_stats *st, void *arg)
{
	metrics_http_observe(st, arg);
	if (st->route == NULL || st->status != 200)
		return;
	pthread_once(&obs_once, obs_init);
	if (strcmp(st->route, EP_CS_HEARTBEAT) == 0)
		metrics_add(obs_fam.heartbeats, NULL, 1);
	else if (strcmp(st->route, EP_CS_REGISTER) == 0)
		metrics_add(obs_fam.registrations, NULL, 1);
}

static double field_num(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

/* Per-server gauges and the alive/dead counts. */
static void collect_servers(struct metrics *reg, const json_t *ov)
{
	struct metrics_family *up, *chunks, *cap, *used, *dels, *count;
	double alive = 0, dead = 0;
	const char *lv[2];
	json_t *s;
	size_t i;

	up = metrics_gauge(reg, "dfs_master_chunkserver_up",
			   "1 if the chunk server is alive.", addr_rack);
	chunks = metrics_gauge(reg, "dfs_master_chunkserver_chunks",
			       "Replicas the master places on the server.",
			       addr_rack);
	cap = metrics_gauge(reg, "dfs_master_chunkserver_capacity_bytes",
			    "Capacity the server last reported.", addr_rack);
	used = metrics_gauge(reg, "dfs_master_chunkserver_used_bytes",
			     "Bytes used the server last reported.", addr_rack);
	dels = metrics_gauge(reg, "dfs_master_chunkserver_pending_deletes",
			     "Replicas queued for the server's next heartbeat "
			     "to delete.",
			     addr_rack);
	count = metrics_gauge(reg, "dfs_master_chunkservers",
			      "Known chunk servers by state.", state_label);
	metrics_clear(up);
	metrics_clear(chunks);
	metrics_clear(cap);
	metrics_clear(used);
	metrics_clear(dels);
	json_array_foreach (json_object_get(ov, "chunkservers"), i, s) {
		lv[0] = json_string_value(json_object_get(s, "addr"));
		lv[1] = json_string_value(json_object_get(s, "rack"));
		if (lv[0] == NULL || lv[1] == NULL)
			continue;
		if (json_is_true(json_object_get(s, "alive")))
			alive++;
		else
			dead++;
		metrics_set(up, lv, json_is_true(json_object_get(s, "alive")));
		metrics_set(chunks, lv, field_num(s, "chunks"));
		metrics_set(cap, lv, field_num(s, "capacity"));
		metrics_set(used, lv, field_num(s, "used"));
		metrics_set(dels, lv, field_num(s, "pending_deletes"));
	}
	metrics_set(count, (const char *[]){ "alive" }, alive);
	metrics_set(count, (const char *[]){ "dead" }, dead);
}

static void collect(struct metrics *reg, void *arg)
{
	struct master *m = arg;
	struct metrics_family *f;
	const struct overview_metric *om;
	json_t *ov;
	size_t i;
	int r;

	if ((ov = status_page_overview_json(m, &r)) == NULL) {
		log_warnx("metrics: cannot read the cluster overview: %s",
			  strerror(-r));
		return;
	}
	for (i = 0; i < NOVERVIEW; i++) {
		om = &overview_metrics[i];
		f = metrics_family(reg, om->type, om->name, om->help, NULL,
				   NULL, 0);
		metrics_set(f, NULL, field_num(ov, om->field));
	}
	f = metrics_counter(reg, "dfs_master_rereplication_copies_total",
			    "Re-replication copies finished, by result.",
			    result_label);
	metrics_set(f, (const char *[]){ "ok" }, field_num(ov, "copied"));
	metrics_set(f, (const char *[]){ "failed" },
		    field_num(ov, "copy_failed"));
	metrics_set(metrics_gauge(reg, "dfs_master_start_time_seconds",
				  "When the master started, in seconds since "
				  "the epoch.",
				  NULL),
		    NULL, (double)m->start_ms / 1000.0);
	collect_servers(reg, ov);
	json_decref(ov);
}

int metrics_srv_start(struct master *m)
{
	pthread_once(&obs_once, obs_init);
	metrics_add_collector(metrics_default(), collect, m);
	return 0;
}

void metrics_srv_stop(struct master *m)
{
	metrics_remove_collector(metrics_default(), collect, m);
}
