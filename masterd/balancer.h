/*
 * balancer.h - evening out the chunk servers' usage (EP_BALANCE).
 *
 * `dfs balance [--threshold PCT]` starts a run of the balancer, a master
 * background thread. The usage of a server is its used bytes over its
 * capacity, as last reported; the mean is the cluster's used bytes over
 * its capacity, both over the live servers in normal service (draining
 * and decommissioned servers are left out, see decommission.h). The
 * cluster is balanced when every such server's usage is within the
 * threshold (percentage points, default 10) of the mean.
 *
 * A run works in rounds. Each round plans up to BAL_BATCH_MAX moves
 * from the fullest servers to the emptiest ones, projecting the usage a
 * move changes by a chunk's size: a move takes a chunk whose live
 * replicas in normal service are exactly its replication factor, that
 * no client writes (no lease), whose replica set keeps as many racks
 * (up to 2) as before, from a server it is on to one it is not on. A
 * move copies the replica (replicator_copy(): the replicator's per-server
 * copy slots and the chunk servers' copy bandwidth bound the rate), and
 * once the new replica is recorded, removes the one on the fuller server
 * (as an excess replica: deleted through that server's next report), so
 * a chunk never drops below its factor. The replicator leaves a moving
 * chunk alone (replicator_pin()). After a round's moves finished the
 * run waits two heartbeats for fresh usage reports, then plans again.
 * The run ends when the cluster is balanced, when it is stopped, or
 * when three rounds in a row find nothing to move ("blocked").
 *
 * Calling sequence (main.c module table):
 *     balancer_start(m);   after the replicator; sets m->bal
 *     routes: balancer_routes[] (arg: struct master)
 *     balancer_stop(m);    (moves in flight are forgotten: the copies
 *                          end as excess replicas the replicator trims)
 */
#ifndef MASTERD_BALANCER_H
#define MASTERD_BALANCER_H

#include <stddef.h>

#include "http_server.h"

struct master;
struct balancer;

/* Routes (EP_BALANCE; arg: struct master). */
extern const struct http_route balancer_routes[];
extern const size_t balancer_nroutes;

/* Start the (idle) balancer thread; sets m->bal. 0. */
int balancer_start(struct master *m);

/* Stop the thread, unpin its chunks and free m->bal. */
void balancer_stop(struct master *m);

#endif
