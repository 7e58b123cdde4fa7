/*
 * wal_vfs.h - an SQLite VFS that writes each WAL commit with one system
 * call.
 *
 * SQLite appends a transaction to the WAL as two writes per page (a
 * 24-byte frame header, then the page): some 12 pwrite() calls for a
 * create, 10 % of masterd's CPU in a small-file workload. This VFS wraps
 * the default one and, for WAL files only, gathers consecutive frame
 * writes in memory and hands them to the kernel at once when the commit
 * frame (the one whose header carries the database size) is complete,
 * before SQLite publishes the commit in the WAL index (a commit of more
 * than 64 KiB of frames goes in 64 KiB pieces: SQLite's unix VFS writes
 * at most 128 KiB - 1 bytes per call). Any other access
 * to the WAL file (read, sync, truncate, size, a write that does not
 * follow the buffered ones or is not a frame header or page) writes the
 * buffer out first, so what SQLite reads back or syncs is always what
 * it wrote. Every other file passes straight through.
 *
 * It wraps SQLite's "unix-excl" VFS where there is one: the process
 * takes the database exclusively on first access (no other process,
 * e.g. a second masterd on the same directory, can open it: BUSY), and
 * its connections share the WAL index in the heap, not in a -shm file,
 * so the WAL locks of each transaction (six per committed create) are
 * taken in memory instead of with fcntl() calls: masterd's CPU per
 * create under 8 metadata clients fell from ~67 to ~53 µs.
 */
#ifndef DFS_MASTERD_WAL_VFS_H
#define DFS_MASTERD_WAL_VFS_H

#include <stdint.h>

/* Name to open connections with (sqlite3_open_v2's zVfs). */
#define WAL_VFS_NAME "dfs-wal"

/* Register the VFS once (thread-safe). 0 or -EIO. */
int wal_vfs_register(void);

/* Write calls to WAL files made so far, and frame writes buffered into
 * them (the unit tests check one write per commit). */
struct wal_vfs_stats {
	uint64_t flushes;
	uint64_t writes;
};
void wal_vfs_get_stats(struct wal_vfs_stats *st);

#endif
