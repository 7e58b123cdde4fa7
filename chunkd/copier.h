/*
 * copier.h - re-replication on the receiving side: the copies the master
 * orders with EP_CHUNK_REPLICATE.
 *
 * Each copy runs in a thread of its own: it asks the source for the
 * replica's version and length (EP_CHUNK_INFO), pulls it in pieces
 * (EP_CHUNK_READ, checksums verified on the source) into a store import
 * (store.h), which installs it atomically once complete, and reports the
 * outcome to the master (EP_CS_COPY_DONE). Copies of all threads share
 * one bandwidth limit; at most max_copies run at a time, and never two
 * of the same chunk. Stopping makes running copies give up at their
 * next piece.
 *
 * Calling sequence:
 *     cp = copier_new(&opts, st);
 *     copier_start(cp, handle, version, source, self) ...   any thread
 *     copier_free(cp);                                       joins all
 */
#ifndef DFS_CHUNKD_COPIER_H
#define DFS_CHUNKD_COPIER_H

#include <stdint.h>

struct copier;
struct store;

struct copier_opts {
	const char *master;       /* masterd "host:port" (copied) */
	uint64_t bandwidth;       /* bytes per second, all copies; 0: none */
	unsigned max_copies;      /* copies at a time (>= 1) */
};

/* New copier over store "st" (borrowed, must outlive it). Never NULL. */
struct copier *copier_new(const struct copier_opts *opts, struct store *st);

/* Stop: running copies give up and are joined. NULL is a no-op. */
void copier_free(struct copier *cp);

/*
 * Start copying replica "handle" at "version" from "source"; "self" is
 * this server's address as the master knows it (for the report). Both
 * strings are copied. 0 once the copy runs; -EEXIST (the store holds that
 * version or a newer one), -EAGAIN (max_copies running, or a copy of the
 * same chunk), -EINVAL, or -errno when no thread can start.
 */
int copier_start(struct copier *cp, uint64_t handle, uint64_t version,
		 const char *source, const char *self);

#endif
