/*
 * open_files.h - files open on clients: sessions, holds, orphans and
 * record appends (EP_OPEN, EP_SESSION, EP_APPEND of dfs_proto.h).
 *
 * POSIX keeps a file whose last name goes (unlink, rename over it)
 * readable and writable through the descriptors open on it until the
 * last one closes, on every client. So:
 *  - every mount is a client session (a random 63-bit id) with a lease
 *    it renews every OPEN_FILES_RENEW_MS; a session not renewed for
 *    OPEN_FILES_TIMEOUT_MS (a crashed mount) ends, and so do its holds;
 *  - each open() through a mount is a hold of the inode by its session,
 *    taken by EP_OPEN (the open's getattr), dropped by EP_SESSION
 *    "closes" (sent in batches after the last close on the mount);
 *  - unlink and rename turn a regular file that loses its last name into
 *    an orphan (nlink 0, ns_files.h) instead of deleting it;
 *  - a thread (the reaper) deletes every orphan nobody holds, with its
 *    chunks (op "reap"), shortly after its last hold goes, but not
 *    before OPEN_FILES_GRACE_MS since its last name went: a client may
 *    have looked the name up just before (its kernel trusts a name for
 *    the entry timeout, 1 s by default) and open it a moment later.
 * Holds live in memory; sessions are also recorded in the database. A
 * restarted master loads them as "pending": their holds are unknown
 * until each client registers its open files again (EP_SESSION
 * "opens"), and no orphan is reaped while any session is pending (at
 * most OPEN_FILES_TIMEOUT_MS after the start, when pending sessions
 * expire).
 *
 * Races: EP_OPEN reads the inode and takes the hold under the table
 * lock; the reaper picks the orphans nobody holds under the same lock
 * and marks them doomed until their deletion committed. So an open
 * either holds the inode before the reaper picks it, or finds it doomed
 * or gone and fails (NOENT; the kernel then looks the name up again). An
 * orphan not doomed yet still opens: a client's cached name (at most
 * its entry timeout old) may name a file just unlinked or renamed over
 * elsewhere, and opening the old file is what a lookup made a moment
 * earlier would have given. An orphan never gets a name back (link
 * refuses nlink 0).
 *
 * Record append: EP_APPEND reserves "length" bytes at the end of a file
 * in one metadata op that grows the size (op "append"), so writers on
 * any number of clients get disjoint ranges and none is lost.
 *
 * Calling sequence (main.c): open_files_start(m) after the oplog and
 * before the HTTP server; routes open_files_routes[]; open_files_stop(m).
 */
#ifndef MASTERD_OPEN_FILES_H
#define MASTERD_OPEN_FILES_H

#include <stddef.h>

#include "http_server.h"

struct master;

/* Lease of a client session: renewal period asked of clients, and the
 * time after which an unrenewed session ends. */
#define OPEN_FILES_RENEW_MS 10000
#define OPEN_FILES_TIMEOUT_MS 60000

/* Least time an orphan is kept after its last name went (whole
 * seconds). */
#define OPEN_FILES_GRACE_MS 2000

/* Routes of EP_OPEN, EP_SESSION and EP_APPEND (arg: struct master). */
extern const struct http_route open_files_routes[];
extern const size_t open_files_nroutes;

/*
 * EP_CREATE with "session": submit the create op (borrowed) and set *res
 * (owned by the caller) to its result; if the request's "session" (in
 * "body", borrowed) is live, the new file is also held by it, as after
 * EP_OPEN, and the result says "held": true. Otherwise the client opens
 * it with EP_OPEN. 0, -EINVAL (a malformed "session") or the op's error.
 */
int open_files_create(struct master *m, const json_t *op,
		      const json_t *body, json_t **res);

/* Load the recorded sessions as pending and start the reaper thread;
 * sets m->files. 0 or a negative errno (logged). */
int open_files_start(struct master *m);

/* Stop the reaper and free the table (m->files becomes NULL). */
void open_files_stop(struct master *m);

#endif
