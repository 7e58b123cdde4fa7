/*
 * admin_srv.h - the master's operations API: the status web page and
 * its data (status_page.h), Prometheus metrics (metrics_srv.h) and
 * EP_SETREP, the replication factor of a file or a whole tree.
 *
 * EP_SETREP walks the tree in one read snapshot, then submits one
 * set_replication op (namespace.h) per inode whose factor changes. The
 * replicator then brings each existing chunk to its file's new factor
 * (copies, or removal of the excess replicas); new files inherit their
 * directory's factor when they are created.
 *
 * Calling sequence:
 *     admin_srv_start(m);     before the HTTP server starts
 *     routes: admin_srv_routes[] (arg: struct master)
 *     admin_srv_stop(m);      after it stopped
 */
#ifndef MASTERD_ADMIN_SRV_H
#define MASTERD_ADMIN_SRV_H

#include <stddef.h>

#include "http_server.h"

struct master;

/* Routes of the operations API (arg: struct master). */
extern const struct http_route admin_srv_routes[];
extern const size_t admin_srv_nroutes;

/* Start the status page's job cache and the metrics collector for "m"
 * (borrowed). 0 (it cannot fail). */
int admin_srv_start(struct master *m);

/* Stop them. */
void admin_srv_stop(struct master *m);

#endif
