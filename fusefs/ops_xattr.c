/*
 * ops_xattr.c - extended attributes at the mount.
 *
 * Only the "user." namespace is stored (on the master, dfs_setxattr()
 * and friends). Other namespaces are answered here without a master
 * call, with EOPNOTSUPP, as a file system without them answers. That
 * matters for speed: the kernel asks for "security.capability" before
 * every write to a file, and ls -l asks for "security.selinux" and
 * "system.posix_acl_access" of every file it lists unless the first
 * answer says the file system has no such attributes (ENODATA would
 * say only that this file has none).
 *
 * Size probes follow getxattr(2): a request with size 0 is answered with
 * the size needed; a buffer too small is ERANGE. The kernel itself
 * refuses names over 255 bytes (ERANGE) and values over 64 KiB (E2BIG),
 * and user attributes on anything but regular files and directories.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"
#include "inode_table.h"
#include "banned.h"

/* The one namespace stored. */
#define USER_PREFIX "user."

static bool is_user_name(const char *name)
{
	return strncmp(name, USER_PREFIX, strlen(USER_PREFIX)) == 0 &&
	       name[strlen(USER_PREFIX)] != '\0';
}

/* Answer a get or list request of "size" with len bytes at buf. */
static void reply_sized(fuse_req_t req, const void *buf, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	int r;

	if (!is_user_name(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = dfs_setxattr(fs_of(req)->client, ino, name, value, size, flags);
	/* The master set the inode's ctime. */
	inode_table_invalidate(fs_of(req)->inodes, ino);
	fuse_reply_err(req, -fs_inode_errno(r));
}

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size)
{
	void *value = NULL;
	size_t len;
	int r;

	if (!is_user_name(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	r = dfs_getxattr(fs_of(req)->client, ino, name, &value, &len);
	if (r != 0)
		fuse_reply_err(req, -fs_inode_errno(r));
	else
		reply_sized(req, value, len, size);
	free(value);
}

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *names = NULL;
	size_t len;
	int r;

	r = dfs_listxattr(fs_of(req)->client, ino, &names, &len);
	if (r != 0)
		fuse_reply_err(req, -fs_inode_errno(r));
	else
		reply_sized(req, names, len, size);
	free(names);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	int r;

	if (!is_user_name(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	r = dfs_removexattr(fs_of(req)->client, ino, name);
	inode_table_invalidate(fs_of(req)->inodes, ino);
	fuse_reply_err(req, -fs_inode_errno(r));
}
