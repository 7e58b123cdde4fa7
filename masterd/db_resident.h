/*
 * db_resident.h - keep the metadata database's files in memory.
 *
 * masterd's read connections read their pages from the files (SQLite
 * empties a connection's own cache whenever another one commits), so a
 * page that left the kernel's page cache makes the next metadata
 * operation wait for the disk. A `drop_caches`, or memory pressure (a
 * large copy on a machine short of memory), empties it: after a 1 GiB
 * cold read and a `drop_caches`, the next 2,000 creates read 10 MB back
 * and each took about three times as long inside masterd (README,
 * "Measured figures").
 *
 * This module maps each file read-only, shared, and faults its pages
 * into the mapping as the file grows, with the pages locked (mlock) when
 * the process may: the kernel drops no mapped page for a `drop_caches`
 * and reclaims no locked page under pressure, and SQLite's own reads and
 * writes (pread, pwrite) find them in the page cache the mapping shares.
 * Nothing reads the mapping; it only holds the pages.
 *
 * A thread looks at the files' sizes every poll interval and locks and
 * faults in what they grew by; every DB_RESIDENT_REFRESH_MS it faults the whole range
 * in again, for pages that the kernel reclaimed while they could not be
 * locked. A file that does not exist yet is looked for again; one that
 * was replaced (another inode) is mapped afresh.
 *
 * Memory: each file holds at most max_bytes. A machine that cannot keep
 * its metadata in memory runs as before, with the part beyond the
 * bound read from the disk.
 *
 * Threads: the functions are thread-safe; db_resident_get_stats() takes
 * no lock.
 */
#ifndef DFS_MASTERD_DB_RESIDENT_H
#define DFS_MASTERD_DB_RESIDENT_H

#include <stdbool.h>
#include <stdint.h>

/* Interval of the full refresh. */
#define DB_RESIDENT_REFRESH_MS 30000

struct db_resident;

/* Start keeping the files "paths" (NULL-terminated, at most 4, copied)
 * resident, up to max_bytes each, looking for growth every poll_ms.
 * Never NULL. */
struct db_resident *db_resident_start(const char *const *paths,
				      uint64_t max_bytes, int poll_ms);

/* Stop the thread, release the mappings. NULL is a no-op. */
void db_resident_stop(struct db_resident *r);

struct db_resident_stats {
	/* Bytes of the files held in memory (whole pages). */
	uint64_t bytes;
	/* Every held page is locked (false: mlock was refused; the pages
	 * are mapped but the kernel may reclaim them). */
	bool locked;
};

void db_resident_get_stats(struct db_resident *r,
			   struct db_resident_stats *st);

/* Look at the files now instead of at the next poll (tests). */
void db_resident_poll_now(struct db_resident *r);

#endif
