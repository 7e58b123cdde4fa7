/*
 * chunk_srv.h - the master's side of the chunk servers: EP_CS_REGISTER
 * and EP_CS_HEARTBEAT, the table of known servers with their liveness,
 * and replica placement for new chunks.
 *
 * A server is known once it registered since this master started (a
 * heartbeat from any other server is answered "reregister"). It is alive
 * while its heartbeats arrive within the heartbeat timeout; a monitor
 * thread checks every 500 ms and logs each change. Servers are also
 * recorded in the database (server_register op) so the status shows them
 * after a master restart, as dead until they come back.
 *
 * Every register and heartbeat carries the server's full chunk report.
 * The master records which current replicas the server holds (adding and
 * removing replica rows through the oplog) and answers with the reported
 * handles the server should delete: those no chunk references any more,
 * and those at a version older than the master's. Chunks under a write
 * lease (or just after one) are left alone: their replicas are being
 * created.
 *
 * Thread-safe.
 */
#ifndef MASTERD_CHUNK_SRV_H
#define MASTERD_CHUNK_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfs_proto.h"
#include "http_server.h"

struct chunk_srv;
struct master;

/* Longest rack name, including the NUL. */
#define CS_RACK_MAX 64

/* What the status and statfs endpoints show of one server. */
struct chunk_srv_info {
	char addr[DFS_ADDR_MAX];
	char rack[CS_RACK_MAX];
	bool alive;
	uint64_t capacity;     /* bytes, as last reported */
	uint64_t used;         /* bytes, as last reported */
	uint64_t reported;     /* chunks in the last report */
};

/* Routes of the chunk server API (arg: struct master). */
extern const struct http_route chunk_srv_routes[];
extern const size_t chunk_srv_nroutes;

/*
 * New table for master "m" (borrowed; m->ns, m->oplog and m->leases must
 * be set), loaded with the servers the database knows (all dead), and
 * its monitor thread started. Never NULL.
 */
struct chunk_srv *chunk_srv_new(struct master *m);

/* Stop the monitor and free the table. NULL is a no-op. */
void chunk_srv_free(struct chunk_srv *cs);

/* Heartbeat interval told to servers: min(3000 ms, timeout / 3). */
int64_t chunk_srv_heartbeat_ms(const struct chunk_srv *cs);

/*
 * Choose up to "want" distinct live servers for a new chunk, least
 * loaded first (bytes used plus chunk_size for each chunk placed there
 * since its last heartbeat), on distinct racks first when racks are set.
 * Servers reporting less than a few MiB free are skipped. Writes the
 * addresses to out[] and returns how many (0 when no server can take
 * it); counts the new chunk against each chosen server.
 */
int chunk_srv_pick(struct chunk_srv *cs, unsigned want, uint64_t chunk_size,
		   char (*out)[DFS_ADDR_MAX]);

/*
 * True while the master is settling after a start: less than a heartbeat
 * timeout has passed and some server known from the database has not
 * registered again yet (placement would be poorer than it will be soon).
 */
bool chunk_srv_settling(struct chunk_srv *cs);

/* True if "addr" is a registered server that is alive. */
bool chunk_srv_is_alive(struct chunk_srv *cs, const char *addr);

/* Snapshot of every known server, sorted by address, as a new array
 * (caller frees; NULL when there is none). Returns the count. */
size_t chunk_srv_list(struct chunk_srv *cs, struct chunk_srv_info **out);

#endif
