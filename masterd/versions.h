/*
 * versions.h - new chunk versions: the step that makes a replica which
 * missed mutations recognisably stale (SPEC 3).
 *
 * A new lease of an existing chunk, a dropped replica and a revoked lease
 * all call versions_bump(). It asks every replica to keep to move to
 * version + 1 (EP_CHUNK_SETVERSION) first, and only then commits the new
 * version and the replicas that took it (bump_version op). If the master
 * dies in between, the replicas report the newer version and the master
 * adopts it (namespace.h), so the order never leaves every replica
 * looking stale.
 *
 * A replica answering NOENT has no data: it is kept only when every
 * replica says so (a chunk allocated and never written); otherwise it is
 * dropped like one that did not answer or answered anything else.
 *
 * The caller holds the chunk's grant lock (leases_lock()).
 */
#ifndef MASTERD_VERSIONS_H
#define MASTERD_VERSIONS_H

#include "proto.h"

struct master;

/*
 * Move chunk c (c->handle at c->version, with the replicas to keep in
 * c->replicas) to version + 1. On success c->version is the new version
 * and c->replicas the replicas that took it, in their original order.
 * -EAGAIN when no replica took it (nothing changed in the database),
 * or the error of the commit (-EIO, ...).
 */
int versions_bump(struct master *m, struct dfs_chunk *c);

#endif
