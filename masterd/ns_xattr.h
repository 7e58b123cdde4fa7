/*
 * ns_xattr.h - extended attributes in the namespace database (table
 * xattrs), a part of the namespace module (namespace.h).
 *
 * Names are stored whole ("user.color"); the master does not restrict
 * the namespace prefix, the mount does (only user.* reaches it). Values
 * are binary, 0 .. NS_XATTR_SIZE_MAX bytes, base64 in ops and on the
 * wire (dfs_xattr_encode() and dfs_xattr_decode() of dfs_client.h). An
 * inode's names, each counted with a terminating NUL, add up to
 * NS_XATTR_LIST_MAX bytes at most, so one listxattr(2) buffer holds
 * them.
 *
 * Ops (applied through ns_apply(); "time" is [s, ns]):
 *     setxattr     ino name value flags time
 *                  flags: 1 create only (EEXIST), 2 replace only
 *                  (ENODATA), as XATTR_CREATE / XATTR_REPLACE
 *     removexattr  ino name time
 * Both set the inode's ctime. Errors: ENOENT (no inode), ENODATA,
 * EEXIST, ENOSPC (list full), EINVAL (malformed op), ERANGE (name or
 * value too long). An inode's attributes go with it (ns_apply.c).
 */
#ifndef MASTERD_NS_XATTR_H
#define MASTERD_NS_XATTR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

struct ns;
struct ns_reader;

/* Longest attribute name and value, and the list size, as on Linux. */
#define NS_XATTR_NAME_MAX 255
#define NS_XATTR_SIZE_MAX 65536
#define NS_XATTR_LIST_MAX 65536

/* The "flags" bits of a setxattr op. */
enum ns_xattr_flags {
	NS_XATTR_CREATE = 1 << 0,
	NS_XATTR_REPLACE = 1 << 1,
};

/* The setxattr / removexattr ops of the writer (called by ns_apply()
 * inside its savepoint; "op" borrowed). 0 or a negative errno. */
int ns_xattr_op_set(struct ns *ns, const json_t *op,
		    const struct timespec *now);
int ns_xattr_op_remove(struct ns *ns, const json_t *op,
		       const struct timespec *now);

/* Value of attribute "name" of inode "ino" into *value (malloc()ed,
 * caller frees; NULL when empty) and *len. 0, -ENOENT (no inode),
 * -ENODATA or -EIO. */
int ns_getxattr(struct ns_reader *rd, uint64_t ino, const char *name,
		void **value, size_t *len);

/* Called per attribute name (borrowed for the call); non-zero stops. */
typedef int (*ns_xattr_fn)(const char *name, void *arg);

/* Every attribute name of inode "ino", in name order. 0, -ENOENT, -EIO
 * or a callback's negative value. */
int ns_listxattr(struct ns_reader *rd, uint64_t ino, ns_xattr_fn fn,
		 void *arg);

#endif
