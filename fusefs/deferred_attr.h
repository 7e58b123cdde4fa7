/*
 * deferred_attr.h - attribute changes a mount keeps for a file's next
 * flush.
 *
 * cp -a sets times and mode on the file it is still writing (futimens,
 * fchmod), just before close. Sent at once, each is a master call of its
 * own, besides the size update of the close. While a handle of the file
 * on this mount holds unflushed writes, fusefs keeps such changes here
 * and sends them in the setattr that carries that size update
 * (PROTO_SET_EXTEND), at close or fsync: one call. Until then the mount
 * lays them over every attr it reports, so that its own users see them at
 * once; other mounts see them at close, together with the data
 * (close-to-open).
 *
 * Order: the master applies one setattr's fields in a fixed order, the
 * size update (mtime = now) before explicit times, so a kept mtime sent
 * with the size update of earlier writes wins over it, as it did when it
 * was set. A later write or size change makes a kept mtime obsolete
 * (deferred_attr_drop_mtime()); a setattr that cannot wait takes the kept
 * changes along under its own (deferred_attr_merge()).
 *
 * Plain data, no locking: inode_table.c keeps one per inode under its
 * lock.
 */
#ifndef FUSEFS_DEFERRED_ATTR_H
#define FUSEFS_DEFERRED_ATTR_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "dfs_client.h"

struct deferred_attr {
	struct dfs_setattr sa;  /* kept changes; sa.valid is 0 when none */
	struct timespec ctime;  /* wall time of the last one kept */
	int64_t first_ms;       /* time_mono_ms() of the first one kept */
	uint64_t gen;           /* bumped whenever "sa" changes */
};

/* True if setattr "sa" is of a kind that may wait: only mode, owner and
 * explicit times (a size change or "now" goes at once). */
bool deferred_attr_can_wait(const struct dfs_setattr *sa);

/* Keep "sa" (deferred_attr_can_wait()) over what is kept already, made
 * at wall time "now", monotonic "now_ms". */
void deferred_attr_keep(struct deferred_attr *d, const struct dfs_setattr *sa,
			struct timespec now, int64_t now_ms);

/* True if anything is kept. */
bool deferred_attr_any(const struct deferred_attr *d);

/* Add the kept changes to setattr *sa, under the fields *sa sets itself
 * (a size change or a new mtime of *sa supersedes a kept mtime). */
void deferred_attr_merge(const struct deferred_attr *d,
			 struct dfs_setattr *sa);

/* Lay the kept changes over attrs *a (ctime: the later of the two). */
void deferred_attr_overlay(const struct deferred_attr *d, struct dfs_attr *a);

/* The file's data or size changed after the kept mtime was set. */
void deferred_attr_drop_mtime(struct deferred_attr *d);

/* A setattr carrying the kept changes as of "gen" succeeded: forget them
 * unless more were kept since (those go with the next flush, the ones
 * sent included: applying them twice does no harm). */
void deferred_attr_sent(struct deferred_attr *d, uint64_t gen);

#endif
