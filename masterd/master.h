/*
 * master.h - the master daemon's shared context.
 *
 * One struct master exists per process. main.c fills the configuration,
 * creates the modules in order (namespace, oplog, leases, chunk server
 * client, chunk servers, replicator, HTTP server) and passes the struct as the "arg" of every HTTP route, so
 * its fields are visible: each handler needs a few of the modules. The
 * pointers are set before the HTTP server starts and never change while
 * it runs; every module does its own locking.
 */
#ifndef MASTERD_MASTER_H
#define MASTERD_MASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "dfs_proto.h"

/* Options of masterd (see the option table in main.c). */
struct master_config {
	/* Data directory; the database is DIR/meta.db. */
	const char *data_dir;
	/* "host:port" the API listens on. */
	const char *listen;
	/* Requested chunk size of a new file system (0: default). */
	uint64_t chunk_size;
	/* Replication factor of the root of a new file system. */
	uint32_t replication;
	/* A chunk server without a heartbeat for this long is dead. */
	int64_t heartbeat_timeout_ms;
	/* Interval between a chunk server's full reports, ms (0: every
	 * report is full; chunk_srv.h). */
	int64_t full_report_ms;
	bool full_report_set;
	/* Cluster secret key file (--secret; secure.h), or NULL. */
	const char *secret_file;
	/* Most re-replication copies in flight per server (as source or
	 * as target). */
	uint32_t repl_copies;
	/* MapReduce coordinator whose jobs the status page shows, or
	 * NULL. */
	const char *coordinator;
	/* Longest time a metadata commit may stay unsynced (oplog.h), ms;
	 * 0: every commit is fsync()ed before it is answered. */
	uint32_t sync_interval_ms;
	bool sync_interval_set;
	/* Most bytes of each database file kept in memory (db_resident.h);
	 * 0: none. */
	uint64_t db_memory;
	bool db_memory_set;
	/* Event threads of the HTTP server (http_server.h); 0: a thread
	 * per connection. */
	unsigned event_threads;
	bool event_threads_set;
};

struct master {
	struct master_config cfg;
	/* Metadata database. */
	struct ns *ns;
	/* Holds the database's pages in memory. */
	struct db_resident *resident;
	/* Group-commit queue: every namespace change goes through it. */
	struct oplog *oplog;
	/* Write leases per chunk. */
	struct leases *leases;
	/* Leases of directories' names, per client session. */
	struct dir_leases *dir_leases;
	/* Chunk server table, liveness monitor, placement. */
	struct chunk_srv *cs;
	/* Re-replication, excess and corrupt replicas. */
	struct replicator *repl;
	/* Calls to chunk servers (new versions, copy orders). */
	struct http_client *hc;
	/* The API server. */
	struct http_server *http;
	/* Client sessions, open-file holds, the orphan reaper. */
	struct open_files *files;
	/* Draining and decommissioned servers (decommission.h). */
	struct decommission *decom;
	/* Replica moves that even out server usage (balancer.h). */
	struct balancer *bal;
	/* Start time, ms since the epoch. */
	int64_t start_ms;
	/* "host:port" actually listened on (port 0 resolved). */
	char addr[DFS_ADDR_MAX];
};

#endif
