/*
 * decommission.h - taking chunk servers out of service (EP_DECOMMISSION).
 *
 * `dfs decommission ADDR` marks a server "draining": it takes no new
 * chunks and no copies any more (chunk_srv.h placement), and its
 * replicas stop counting towards their chunks' replication factors, so
 * the replicator (replicator.h) copies every chunk it holds onto other
 * servers at its usual bounded rate. The server keeps its replicas and
 * serves reads meanwhile. A checker thread looks at the draining servers
 * every second: once every chunk with a replica there has its full
 * factor on servers in normal service, the server becomes
 * "decommissioned" (safe to remove) and the replicator removes its
 * now-excess replicas. Cancelling puts the server back in normal service
 * (excess replicas are then trimmed as usual).
 *
 * States are recorded in the database (ns_server_state.h) when they
 * change and read back at start, so a restarted master goes on with a
 * drain. EP_STATUS shows each server's "state".
 *
 * Calling sequence (main.c module table):
 *     decommission_start(m);   after the chunk server table, before the
 *                              replicator; sets m->decom
 *     routes: decommission_routes[] (arg: struct master)
 *     decommission_stop(m);
 */
#ifndef MASTERD_DECOMMISSION_H
#define MASTERD_DECOMMISSION_H

#include <stddef.h>

#include "http_server.h"

struct master;
struct decommission;

/* Routes (EP_DECOMMISSION; arg: struct master). */
extern const struct http_route decommission_routes[];
extern const size_t decommission_nroutes;

/* Load the recorded states into m->cs and start the checker; sets
 * m->decom. 0 (failures to read the states are logged). */
int decommission_start(struct master *m);

/* Stop the checker and free m->decom. */
void decommission_stop(struct master *m);

#endif
