/*
 * metrics_srv.c - chunkd's Prometheus metrics (see metrics_srv.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "metrics.h"
#include "metrics_srv.h"
#include "store.h"

#include "banned.h"

static const char *const result_label[] = { "result", NULL };

/* Families of the master link, made once. */
static struct {
	struct metrics_family *heartbeats;
	struct metrics_family *registrations;
	struct metrics_family *local_opens;
} link_fam;

static pthread_once_t link_once = PTHREAD_ONCE_INIT;

static void link_init(void)
{
	struct metrics *m = metrics_default();

	link_fam.heartbeats = metrics_counter(
		m, "dfs_chunkd_heartbeats_total",
		"Heartbeats sent to the master, by result.", result_label);
	link_fam.registrations = metrics_counter(
		m, "dfs_chunkd_registrations_total",
		"Registrations with the master, by result.", result_label);
	link_fam.local_opens = metrics_counter(
		m, "dfs_chunkd_local_opens_total",
		"Replicas handed to clients of this machine through the "
		"local read socket, by result.",
		result_label);
}

void metrics_srv_master_call(bool registration, bool ok)
{
	const char *v[1] = { ok ? "ok" : "failed" };

	pthread_once(&link_once, link_init);
	metrics_add(registration ? link_fam.registrations
				 : link_fam.heartbeats,
		    v, 1);
}

void metrics_srv_local_open(bool ok)
{
	const char *v[1] = { ok ? "ok" : "failed" };

	pthread_once(&link_once, link_init);
	metrics_add(link_fam.local_opens, v, 1);
}

static void collect(struct metrics *m, void *arg)
{
	struct store *st = arg;
	struct store_usage u;
	uint64_t *corrupt = NULL;
	size_t ncorrupt;

	store_get_usage(st, &u);
	ncorrupt = store_corrupt_list(st, &corrupt);
	free(corrupt);
	metrics_set(metrics_gauge(m, "dfs_chunkd_chunks",
				  "Replicas held in the store.", NULL),
		    NULL, (double)u.chunks);
	metrics_set(metrics_gauge(m, "dfs_chunkd_capacity_bytes",
				  "Capacity of the store's file system.",
				  NULL),
		    NULL, (double)u.capacity);
	metrics_set(metrics_gauge(m, "dfs_chunkd_used_bytes",
				  "Bytes used by replicas.", NULL),
		    NULL, (double)u.used);
	metrics_set(metrics_gauge(m, "dfs_chunkd_corrupt_replicas",
				  "Replicas set aside after a checksum "
				  "failure, not yet removed.",
				  NULL),
		    NULL, (double)ncorrupt);
}

void metrics_srv_start(struct store *st)
{
	pthread_once(&link_once, link_init);
	metrics_add_collector(metrics_default(), collect, st);
}

void metrics_srv_stop(struct store *st)
{
	metrics_remove_collector(metrics_default(), collect, st);
}
