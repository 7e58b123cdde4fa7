/*
 * orphans.c - hidden names for unlinked files still open on this mount
 * (see orphans.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "inode_table.h"
#include "log.h"
#include "orphans.h"
#include "banned.h"

/* Inode of ORPHANS_DIR once known (0 before); atomic. */
static uint64_t orphans_ino;

/* Makes hidden names unique within this process; atomic. */
static uint64_t orphans_seq;

bool orphans_is_hidden(uint64_t parent, const char *name)
{
	return parent == DFS_ROOT_INO && strcmp(name, ORPHANS_DIR) == 0;
}

/* Inode of ORPHANS_DIR, made if missing. 0 or -errno. */
static int orphans_dir(struct fs *fs, uint64_t *ino)
{
	struct dfs_attr a;
	int r;

	*ino = __atomic_load_n(&orphans_ino, __ATOMIC_ACQUIRE);
	if (*ino != 0)
		return 0;
	r = dfs_mkdir(fs->client, DFS_ROOT_INO, ORPHANS_DIR, 0700, 0, 0, &a);
	if (r == -EEXIST)
		r = dfs_lookup(fs->client, DFS_ROOT_INO, ORPHANS_DIR, &a);
	if (r != 0)
		return r;
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	__atomic_store_n(&orphans_ino, a.ino, __ATOMIC_RELEASE);
	*ino = a.ino;
	return 0;
}

/* A new hidden name for inode "ino". */
static void orphan_name(uint64_t ino, char *buf, size_t size)
{
	uint64_t seq = __atomic_add_fetch(&orphans_seq, 1, __ATOMIC_RELAXED);

	snprintf(buf, size, "%llu.%ld.%llu", (unsigned long long)ino,
		 (long)getpid(), (unsigned long long)seq);
}

/* The inode behind parent/name if its going would delete a file open
 * here; *ino 0 otherwise. 0 or -errno (ENOENT: no such name). */
static int doomed_open_file(struct fs *fs, uint64_t parent,
			    const char *name, uint64_t *ino)
{
	struct dfs_attr a;
	int r;

	*ino = 0;
	if (!inode_table_any_open(fs->inodes))
		return 0;
	if ((r = dfs_lookup(fs->client, parent, name, &a)) != 0)
		return r;
	if (S_ISREG(a.mode) && a.nlink <= 1 &&
	    inode_table_is_open(fs->inodes, a.ino))
		*ino = a.ino;
	return 0;
}

/* Record hidden name "hidden" of inode "ino", or remove it at once if
 * the file was closed meanwhile. */
static void orphans_record(struct fs *fs, uint64_t dir, uint64_t ino,
			   const char *hidden)
{
	int r;

	if (inode_table_add_orphan(fs->inodes, ino, hidden))
		return;
	if ((r = dfs_unlink(fs->client, dir, hidden)) != 0)
		log_warnx("removing hidden name '%s' of inode %llu: %s",
			  hidden, (unsigned long long)ino, strerror(-r));
}

int orphans_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	char hidden[DFS_NAME_MAX + 1];
	uint64_t ino, dir;
	int r;

	if (orphans_is_hidden(parent, name))
		return -EPERM;
	r = doomed_open_file(fs, parent, name, &ino);
	if (r != 0 || ino == 0)
		return r != 0 ? r : dfs_unlink(fs->client, parent, name);
	if ((r = orphans_dir(fs, &dir)) != 0)
		return r;
	orphan_name(ino, hidden, sizeof(hidden));
	if ((r = dfs_rename(fs->client, parent, name, dir, hidden, 0)) != 0)
		return r;
	log_debug("unlinked open inode %llu kept as '%s'",
		  (unsigned long long)ino, hidden);
	orphans_record(fs, dir, ino, hidden);
	return 0;
}

int orphans_keep_target(struct fs *fs, uint64_t newparent,
			const char *newname)
{
	char hidden[DFS_NAME_MAX + 1];
	uint64_t ino, dir;
	int r;

	r = doomed_open_file(fs, newparent, newname, &ino);
	if (r == -ENOENT || (r == 0 && ino == 0))
		return 0;
	if (r != 0)
		return r;
	if ((r = orphans_dir(fs, &dir)) != 0)
		return r;
	orphan_name(ino, hidden, sizeof(hidden));
	if ((r = dfs_link(fs->client, ino, dir, hidden, NULL)) != 0)
		return r;
	orphans_record(fs, dir, ino, hidden);
	return 0;
}

void orphans_drop_one(const char *name, void *arg)
{
	struct fs *fs = arg;
	uint64_t dir;
	int r;

	if ((r = orphans_dir(fs, &dir)) == 0)
		r = dfs_unlink(fs->client, dir, name);
	if (r != 0 && r != -ENOENT)
		log_warnx("removing hidden name '%s': %s", name, strerror(-r));
}

void orphans_drop(struct fs *fs, char **names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		orphans_drop_one(names[i], fs);
		free(names[i]);
	}
	free(names);
}
