/*
 * metrics_srv.h - chunkd's Prometheus metrics (EP_METRICS).
 *
 * Besides the request metrics every daemon has (metrics_http.h: chunk
 * reads and writes by endpoint, bytes in and out, latency histograms), a
 * collector reads the store at each scrape:
 *     dfs_chunkd_chunks, dfs_chunkd_capacity_bytes, dfs_chunkd_used_bytes,
 *     dfs_chunkd_corrupt_replicas
 * and the link to the master counts its calls:
 *     dfs_chunkd_heartbeats_total{result="ok"|"failed"}
 *     dfs_chunkd_registrations_total{result="ok"|"failed"}
 * and the local read socket its answers:
 *     dfs_chunkd_local_opens_total{result="ok"|"failed"}
 *
 * Calling sequence:
 *     metrics_srv_start(st);      once the store is open
 *     metrics_srv_stop(st);       before it is freed
 */
#ifndef DFS_CHUNKD_METRICS_SRV_H
#define DFS_CHUNKD_METRICS_SRV_H

#include <stdbool.h>

struct store;

/* Register the store's collector (st borrowed until metrics_srv_stop). */
void metrics_srv_start(struct store *st);

/* Unregister it; no scrape reads "st" once this returns. */
void metrics_srv_stop(struct store *st);

/* Count one call to the master: a registration or a heartbeat, and
 * whether it succeeded. Thread-safe. */
void metrics_srv_master_call(bool registration, bool ok);

/* Count one request of the local read socket (local_srv.h). */
void metrics_srv_local_open(bool ok);

#endif
