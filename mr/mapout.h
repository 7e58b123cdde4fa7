/*
 * mapout.h - the output side of a map task: pairs partitioned by key hash
 * into R sorted partitions in one local file.
 *
 * Pairs are grouped by key in an in-memory hash table (an arena of keys
 * with chains of values). When the arena passes its memory limit the
 * combiner, if any, folds each key's values; if the table is still large
 * it is spilled to disk as a sorted run. mapout_finish() merges the spills
 * (combining again) into DIR/out, with DIR/out.index giving the offset
 * and length of each partition (R little-endian u64 pairs).
 *
 * Calling sequence:
 *     mo = mapout_new(&opts);
 *     mapout_add(mo, key, klen, val, vlen) ...
 *     mapout_finish(mo, part_sizes);
 *     mapout_free(mo);             removes the spills, keeps DIR/out
 */
#ifndef MR_MAPOUT_H
#define MR_MAPOUT_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

struct mapout;

struct mapout_opts {
	const char *dir;        /* existing directory for spills and output */
	unsigned nparts;        /* R, at least 1 */
	size_t mem_limit;       /* arena bytes before combining/spilling */
	kv_group_fn combine;    /* combiner, NULL for none */
	void *combine_arg;
};

/* New collector (opts and dir are copied). Never NULL. */
struct mapout *mapout_new(const struct mapout_opts *opts);

/* Free, removing spill files. NULL is a no-op. */
void mapout_free(struct mapout *mo);

/* Add one pair (a kv_emit_fn; arg is the struct mapout). 0 or -errno. */
int mapout_add(void *mo, const char *key, size_t klen, const char *val,
	       size_t vlen);

/* Pairs added so far. */
uint64_t mapout_records(const struct mapout *mo);

/*
 * Write DIR/out and DIR/out.index; sizes[i] receives the byte length of
 * partition i (nparts entries). 0 or a negative errno.
 */
int mapout_finish(struct mapout *mo, uint64_t *sizes);

/*
 * Locate partition "part" of the map output in DIR: its offset and
 * length in DIR/out. 0, -ENOENT (no output), -EINVAL (bad part or index).
 */
int mapout_segment(const char *dir, unsigned part, uint64_t *off,
		   uint64_t *len);

#endif
