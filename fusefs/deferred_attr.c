/*
 * deferred_attr.c - attribute changes kept for a file's next flush (see
 * deferred_attr.h).
 */
#include <sys/stat.h>

#include "deferred_attr.h"
#include "dfs_proto.h"
#include "timeutil.h"
#include "banned.h"

/* The fields a kept setattr may set. */
#define KEEPABLE (PROTO_SET_MODE | PROTO_SET_UID | PROTO_SET_GID | \
		  PROTO_SET_ATIME | PROTO_SET_MTIME)

bool deferred_attr_can_wait(const struct dfs_setattr *sa)
{
	return sa->valid != 0 && (sa->valid & ~(unsigned)KEEPABLE) == 0;
}

bool deferred_attr_any(const struct deferred_attr *d)
{
	return d->sa.valid != 0;
}

/* Copy the fields named in "valid" from src to dst, and name them. */
static void copy_fields(struct dfs_setattr *dst, const struct dfs_setattr *src,
			unsigned valid)
{
	if (valid & PROTO_SET_MODE)
		dst->mode = src->mode;
	if (valid & PROTO_SET_UID)
		dst->uid = src->uid;
	if (valid & PROTO_SET_GID)
		dst->gid = src->gid;
	if (valid & PROTO_SET_ATIME)
		dst->atime = src->atime;
	if (valid & PROTO_SET_MTIME)
		dst->mtime = src->mtime;
	dst->valid |= valid;
}

void deferred_attr_keep(struct deferred_attr *d, const struct dfs_setattr *sa,
			struct timespec now, int64_t now_ms)
{
	if (d->sa.valid == 0)
		d->first_ms = now_ms;
	copy_fields(&d->sa, sa, sa->valid & KEEPABLE);
	d->ctime = now;
	d->gen++;
}

void deferred_attr_merge(const struct deferred_attr *d,
			 struct dfs_setattr *sa)
{
	unsigned kept = d->sa.valid;

	/* *sa came later: its own fields win. */
	kept &= ~(sa->valid & (PROTO_SET_MODE | PROTO_SET_UID | PROTO_SET_GID));
	if (sa->valid & (PROTO_SET_ATIME | PROTO_SET_ATIME_NOW))
		kept &= ~(unsigned)PROTO_SET_ATIME;
	/* A truncate sets mtime to now, after the kept one was set. */
	if (sa->valid & (PROTO_SET_MTIME | PROTO_SET_MTIME_NOW | PROTO_SET_SIZE))
		kept &= ~(unsigned)PROTO_SET_MTIME;
	copy_fields(sa, &d->sa, kept);
}

void deferred_attr_overlay(const struct deferred_attr *d, struct dfs_attr *a)
{
	const struct dfs_setattr *sa = &d->sa;

	if (sa->valid == 0)
		return;
	if (sa->valid & PROTO_SET_MODE)
		a->mode = (a->mode & S_IFMT) | (sa->mode & 07777);
	if (sa->valid & PROTO_SET_UID)
		a->uid = sa->uid;
	if (sa->valid & PROTO_SET_GID)
		a->gid = sa->gid;
	if (sa->valid & PROTO_SET_ATIME)
		a->atime = sa->atime;
	if (sa->valid & PROTO_SET_MTIME)
		a->mtime = sa->mtime;
	if (time_ts_after(&d->ctime, &a->ctime))
		a->ctime = d->ctime;
}

void deferred_attr_drop_mtime(struct deferred_attr *d)
{
	if (!(d->sa.valid & PROTO_SET_MTIME))
		return;
	d->sa.valid &= ~(unsigned)PROTO_SET_MTIME;
	d->gen++;
}

void deferred_attr_sent(struct deferred_attr *d, uint64_t gen)
{
	if (d->gen == gen)
		d->sa.valid = 0;
}
