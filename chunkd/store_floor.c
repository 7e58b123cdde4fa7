/*
 * store_floor.c - the versions that replicas this server does not hold
 * were moved to (see store_int.h, "Version floors").
 *
 * The master moves a chunk to a new version on every replica it lists
 * when it revokes a lease or grants a new one (masterd/versions.h). A
 * replica listed but never written has no files here, so there is
 * nothing to change; but the writer holding the old lease may still
 * create it at the old version, and that replica would be stale the
 * moment it exists: the write is acknowledged and its bytes are lost.
 * Remembering the new version as a floor turns that write into ESTALE,
 * which sends the writer back to the master for the new lease.
 *
 * Floors live in memory, in order of arrival, for STORE_FLOOR_TTL_MS (far
 * longer than any lease, LEASES_DEFAULT_MS being 60 s) and at most
 * STORE_FLOORS_MAX of them. Few ever exist: only a version change of a
 * chunk that is leased and never written makes one. A restarted server
 * has none; the master revokes the leases of the chunks it lost when it
 * comes back, and a late write that creates the replica on it alone fails
 * at the other replicas of the chain, which kept theirs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "timeutil.h"
#include "xmalloc.h"

#include "banned.h"

/* The floor of "handle", or NULL (st->mu held). */
static struct store_floor *floor_find(struct store *st, uint64_t handle)
{
	for (size_t i = 0; i < st->floors.n; i++)
		if (st->floors.v[i].handle == handle)
			return &st->floors.v[i];
	return NULL;
}

/* Drop floor i (st->mu held). */
static void floor_remove(struct store *st, size_t i)
{
	memmove(&st->floors.v[i], &st->floors.v[i + 1],
		(st->floors.n - i - 1) * sizeof(st->floors.v[0]));
	st->floors.n--;
}

/* Drop the expired floors, then the oldest ones while the table is full
 * (st->mu held). Floors are in order of arrival. */
static void floors_prune(struct store *st, int64_t now)
{
	size_t keep = 0;

	while (keep < st->floors.n &&
	       now - st->floors.v[keep].at_ms > STORE_FLOOR_TTL_MS)
		keep++;
	if (st->floors.n - keep >= STORE_FLOORS_MAX)
		keep = st->floors.n - STORE_FLOORS_MAX + 1;
	if (keep == 0)
		return;
	memmove(st->floors.v, &st->floors.v[keep],
		(st->floors.n - keep) * sizeof(st->floors.v[0]));
	st->floors.n -= keep;
}

void store_floor_raise(struct store *st, uint64_t handle, uint64_t version)
{
	int64_t now = time_mono_ms();
	struct store_floor *f;

	pthread_mutex_lock(&st->mu);
	if ((f = floor_find(st, handle)) != NULL) {
		if (f->version > version)
			version = f->version;
		floor_remove(st, (size_t)(f - st->floors.v));
	}
	floors_prune(st, now);
	st->floors.v = xgrow(st->floors.v, &st->floors.cap, st->floors.n + 1,
			     sizeof(st->floors.v[0]));
	st->floors.v[st->floors.n++] = (struct store_floor){
		.handle = handle, .version = version, .at_ms = now};
	pthread_mutex_unlock(&st->mu);
}

int store_floor_check_locked(struct store *st, uint64_t handle,
			     uint64_t version)
{
	const struct store_floor *f = floor_find(st, handle);

	if (f == NULL || version >= f->version)
		return 0;
	if (time_mono_ms() - f->at_ms > STORE_FLOOR_TTL_MS)
		return 0;
	return -ESTALE;
}

int store_floor_check(struct store *st, uint64_t handle, uint64_t version)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = store_floor_check_locked(st, handle, version);
	pthread_mutex_unlock(&st->mu);
	return r;
}

void store_floor_release(struct store *st)
{
	free(st->floors.v);
	st->floors.v = NULL;
	st->floors.n = st->floors.cap = 0;
}
