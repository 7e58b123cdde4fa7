/*
 * dir_leases.h - leases on the names of directories, held by client
 * sessions (taken and waited for by client_srv.c's changes of names).
 *
 * A mount that keeps the complete list of a directory's names
 * (fusefs/dir_names.h) may answer a lookup of a missing name itself only
 * while nobody else can add that name: while it holds a lease on the
 * directory. The master grants or renews one with a change of that
 * directory made by the session, before the change is applied, when no
 * other client's change of it is under way and nobody waits for it. A
 * change by anyone else waits until the lease ends (at most "lease_ms"
 * after its last renewal), and no lease of that directory is renewed
 * while it waits. A master that starts makes every change wait
 * "lease_ms" first: leases granted by the process before it may still
 * run.
 *
 * The client counts its lease from the moment it sent the request, so
 * it ends before the master's, which starts later.
 *
 * Calling sequence, for each directory a change touches:
 *     how = dir_lease_enter(dl, dir, session, want);
 *         (or: if (!dir_lease_try_enter(dl, dir, session, want, &how))
 *                  ... wait elsewhere, then dir_lease_enter() ...)
 *     ... apply the change; reply with the lease if DIR_LEASE_RENEWED ...
 *     dir_lease_leave(dl, dir, how);
 *
 * Thread-safe (one mutex).
 */
#ifndef MASTERD_DIR_LEASES_H
#define MASTERD_DIR_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A lease's length at the master, and the length a client is told: the
 * client counts from before the master granted it, so less is safe. */
#define DIR_LEASE_MS 250
#define DIR_LEASE_CLIENT_MS 200

/* No lease for a directory that changed hands (a change by another
 * session than the one before) this recently: where several clients
 * write, a lease would make them take turns. */
#define DIR_LEASE_BACKOFF_MS 2000

/* Idle directories (no lease, change or waiter left) are swept out when
 * this many are tracked, or the tree doubled since the last sweep, or
 * after this many leases' time. */
#define DIR_LEASE_SWEEP_MIN 1024
#define DIR_LEASE_SWEEP_LEASES 40

struct dir_leases;

/* Leases of lease_ms each; changes wait lease_ms from now first. */
struct dir_leases *dir_leases_new(int64_t lease_ms);
void dir_leases_free(struct dir_leases *dl);

/* What dir_lease_enter() let a change through as. */
enum dir_lease_how {
	DIR_LEASE_RENEWED,      /* the session holds the lease, from now */
	DIR_LEASE_HOLDER,       /* it holds it, not renewed (someone waits) */
	DIR_LEASE_OTHER,        /* no lease of its own: a change under way */
};

/* Before a change of directory "dir" by session "session" (0: a client
 * without one): wait out another session's lease; then, if "want", take
 * or renew the lease for "session" when nothing stands against it. */
enum dir_lease_how dir_lease_enter(struct dir_leases *dl, uint64_t dir,
				   uint64_t session, bool want);

/* Like dir_lease_enter() where waiting is not allowed (an event thread):
 * false, and nothing entered, if the change would have to wait. */
bool dir_lease_try_enter(struct dir_leases *dl, uint64_t dir, uint64_t session,
			 bool want, enum dir_lease_how *how);

/* The change that dir_lease_enter() let through as "how" is applied (or
 * failed). */
void dir_lease_leave(struct dir_leases *dl, uint64_t dir,
		     enum dir_lease_how how);

/* Directories tracked (with a lease, a change, a waiter, or not yet
 * swept out); for tests. */
size_t dir_leases_entries(struct dir_leases *dl);

#endif
