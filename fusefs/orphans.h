/*
 * orphans.h - files unlinked while this mount still has them open.
 *
 * POSIX keeps an unlinked file readable and writable through its open
 * descriptors until the last close; the master deletes an inode (and its
 * chunks) as soon as its last name goes. So when the last name of a
 * regular file that this mount has open is about to go (unlink, or a
 * rename over it), the mount gives the inode a hidden name first, in the
 * directory ORPHANS_DIR at the root (moved there by unlink, hard-linked
 * there before a rename, so the rename stays atomic), and removes that
 * name at the last close (fs_release) or at unmount.
 *
 * ORPHANS_DIR is hidden from lookups and listings of the root. A name is
 * "<ino>.<pid>.<seq>", unique across mounts. Files open on other mounts
 * are not protected: that needs the master to know who has what open.
 * Names left by a mount that crashed stay until removed by hand.
 *
 * The check costs a lookup per unlink or rename, paid only while some
 * file is open through this mount.
 */
#ifndef FUSEFS_ORPHANS_H
#define FUSEFS_ORPHANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs;

/* Name of the hidden directory at the root. */
#define ORPHANS_DIR ".dfs-orphans"

/* True if (parent, name) is the hidden directory. */
bool orphans_is_hidden(uint64_t parent, const char *name);

/* Unlink parent/name, keeping the inode alive under a hidden name if it
 * is open here and this is its last name. 0 or -errno. */
int orphans_unlink(struct fs *fs, uint64_t parent, const char *name);

/* Before a rename onto newparent/newname: if that name exists, is the
 * last name of a file open here, give the file a hidden name. 0 or
 * -errno (the rename should not go ahead then). */
int orphans_keep_target(struct fs *fs, uint64_t newparent,
			const char *newname);

/* Remove hidden names handed back by inode_table_release(), and free
 * them and the array. */
void orphans_drop(struct fs *fs, char **names, size_t n);

/* inode_table_free() callback: remove one hidden name (arg: struct fs). */
void orphans_drop_one(const char *name, void *arg);

#endif
