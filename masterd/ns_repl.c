/*
 * ns_repl.c - the replication factor of a directory, for placing the
 * first chunk of a file created in it (see namespace.h).
 *
 * A create places its file's chunk 0 before its op is applied, on as
 * many servers as the factor the file will inherit from its parent.
 * Reading the parent's row for that took a read transaction per create,
 * and since every commit empties a read connection's page cache, the
 * pages were read again each time: a tenth of masterd's time in a run of
 * creates through the mount. Factors change only by set_replication, so
 * they are kept in a small table: an entry holds while repl_gen has not
 * moved since before it was read, and ns_commit() and ns_rollback() move
 * repl_gen once a transaction that set a factor is over. A read that
 * began before that commit was visible carries the older generation, so
 * nothing stale outlives the commit's return.
 *
 * THREAD SAFETY: repl_lock guards repl_slots; repl_gen is atomic and
 * moved by the writer only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "namespace.h"
#include "namespace_int.h"
#include "banned.h"

/* The slot of directory "dir" (Fibonacci hashing into NS_REPL_SLOTS). */
static struct ns_repl_slot *repl_slot(struct ns *ns, uint64_t dir)
{
	_Static_assert(NS_REPL_SLOTS == 64, "the shift takes 6 bits");
	return &ns->repl_slots[(dir * 0x9E3779B97F4A7C15ULL) >> 58];
}

/* The factor of "dir" from the database. */
static int repl_read(struct ns *ns, uint64_t dir, uint32_t *replication)
{
	struct ns_reader *rd;
	struct dfs_attr attr;
	int r;

	if ((rd = ns_reader_get(ns)) == NULL)
		return -EIO;
	r = ns_getattr(rd, dir, &attr);
	ns_reader_put(rd);
	if (r == 0 && !S_ISDIR(attr.mode))
		r = -ENOTDIR;
	if (r == 0)
		*replication = attr.replication;
	return r;
}

int ns_dir_replication(struct ns *ns, uint64_t dir, uint32_t *replication)
{
	struct ns_repl_slot *s = repl_slot(ns, dir);
	uint64_t gen;
	bool hit;
	int r;

	pthread_mutex_lock(&ns->repl_lock);
	gen = atomic_load(&ns->repl_gen);
	hit = s->dir == dir && s->gen == gen;
	if (hit)
		*replication = s->replication;
	pthread_mutex_unlock(&ns->repl_lock);
	if (hit)
		return 0;
	if ((r = repl_read(ns, dir, replication)) != 0)
		return r;
	pthread_mutex_lock(&ns->repl_lock);
	s->dir = dir;
	s->gen = gen;
	s->replication = *replication;
	pthread_mutex_unlock(&ns->repl_lock);
	return 0;
}
