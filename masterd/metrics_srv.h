/*
 * metrics_srv.h - the master's Prometheus metrics (EP_METRICS).
 *
 * Besides the request metrics every daemon has (metrics_http.h), a
 * collector refreshes, at each scrape, the cluster's figures from the
 * same sources as the status page:
 *     dfs_master_chunkservers{state="alive"|"dead"}
 *     dfs_master_chunkserver_up{addr,rack}, _chunks{addr,rack},
 *     _capacity_bytes{addr,rack}, _used_bytes{addr,rack}
 *     dfs_master_capacity_bytes, dfs_master_used_bytes
 *     dfs_master_files, dfs_master_file_bytes, dfs_master_chunks
 *     dfs_master_chunks_under_replicated, dfs_master_chunks_missing,
 *     dfs_master_replicas_corrupt
 *     dfs_master_rereplication_running, dfs_master_rereplication_
 *     copies_total{result="ok"|"failed"}, dfs_master_excess_replicas_
 *     removed_total
 *     dfs_master_metadata_ops_total, dfs_master_metadata_commits_total
 *     dfs_master_start_time_seconds
 * and the observer counts dfs_master_heartbeats_total and
 * dfs_master_registrations_total from the chunk server API's requests.
 *
 * Calling sequence:
 *     metrics_srv_start(m);       registers the collector
 *     opts.observe = metrics_srv_observe; opts.observe_arg = m;
 *     metrics_srv_stop(m);        after the HTTP server stopped
 */
#ifndef MASTERD_METRICS_SRV_H
#define MASTERD_METRICS_SRV_H

#include "http_server.h"

struct master;

/* Register the collector of master "m" (borrowed) on the default
 * registry. 0 (it cannot fail). */
int metrics_srv_start(struct master *m);

/* Unregister it; no scrape uses "m" once this returns. */
void metrics_srv_stop(struct master *m);

/* The master's http_observe_fn (arg: struct master). Thread-safe. */
void metrics_srv_observe(const struct http_request_stats *st, void *arg);

#endif
