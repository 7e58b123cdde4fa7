/*
 * fsck.h - the master's EP_FSCK endpoint: the health of every chunk of
 * the files at or under a path (SPEC 5 `dfs fsck`).
 *
 * It walks the namespace from the path in one read snapshot, counts
 * files and chunks and classifies each chunk against the live chunk
 * servers and the replicator's corrupt marks (definitions in
 * dfs_proto.h at EP_FSCK), listing the unhealthy ones with their paths.
 * A file with several names is counted under the first name met.
 */
#ifndef MASTERD_FSCK_H
#define MASTERD_FSCK_H

#include "http_server.h"

/* Handler of EP_FSCK (arg: struct master). */
void fsck_handle(struct http_request *req, void *arg);

#endif
