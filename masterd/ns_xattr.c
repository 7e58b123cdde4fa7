/*
 * ns_xattr.c - extended attributes of inodes (see ns_xattr.h).
 *
 * Statements are prepared per call: attributes change and are read
 * rarely next to lookups and writes, and the namespace's statement
 * caches stay the business of namespace.c and ns_apply.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "dfs_client.h"
#include "log.h"
#include "namespace.h"
#include "namespace_int.h"
#include "ns_xattr.h"
#include "proto.h"
#include "xmalloc.h"
#include "banned.h"

/* Prepare "sql" on db; NULL (logged) on failure. */
static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		ns_sqlite_err(db, rc, sql);
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Run a bound statement to its end and finalize it. */
static int step_final(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : ns_sqlite_err(db, rc, what);
}

/* Set the ctime of "ino" to now: 0, -ENOENT (no such inode), -EIO. */
static int touch_ctime(struct ns *ns, uint64_t ino,
		       const struct timespec *now)
{
	sqlite3_stmt *st;
	int r;

	st = prepare(ns->db, "UPDATE inodes SET ctime_s = ?2, ctime_ns = ?3"
			     " WHERE ino = ?1");
	if (st == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, now->tv_sec);
	sqlite3_bind_int64(st, 3, now->tv_nsec);
	if ((r = step_final(ns->db, st, "touch ctime")) != 0)
		return r;
	return sqlite3_changes(ns->db) == 1 ? 0 : -ENOENT;
}

/* The "ino" and "name" of an xattr op. */
static int op_target(const json_t *op, uint64_t *ino, const char **name)
{
	int r;

	if ((r = proto_get_u64(op, "ino", NS_MAX_ID, ino)) != 0 ||
	    (r = proto_get_str(op, "name", DFS_PATH_MAX, name)) != 0)
		return r;
	if (*ino == 0 || (*name)[0] == '\0')
		return -EINVAL;
	return strlen(*name) > NS_XATTR_NAME_MAX ? -ERANGE : 0;
}

/* 1 if "ino" has attribute "name", 0 if not; *list receives the bytes
 * its names take in a listxattr(2) buffer. Negative errno on failure. */
static int xattr_probe(sqlite3 *db, uint64_t ino, const char *name,
		       int64_t *list)
{
	sqlite3_stmt *st;
	int rc, r;

	st = prepare(db, "SELECT coalesce(sum(length(CAST(name AS BLOB)) + 1),"
			 " 0), coalesce(sum(name = ?2), 0) FROM xattrs"
			 " WHERE ino = ?1");
	if (st == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*list = sqlite3_column_int64(st, 0);
		r = sqlite3_column_int64(st, 1) > 0;
	} else {
		r = ns_sqlite_err(db, rc, "xattr probe");
	}
	sqlite3_finalize(st);
	return r;
}

/* Store the value; the checks of ns_xattr_op_set() are done. */
static int xattr_store(struct ns *ns, uint64_t ino, const char *name,
		       const void *value, size_t len)
{
	sqlite3_stmt *st;

	st = prepare(ns->db, "INSERT INTO xattrs(ino, name, value)"
			     " VALUES (?1, ?2, ?3) ON CONFLICT(ino, name)"
			     " DO UPDATE SET value = excluded.value");
	if (st == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, len > 0 ? value : "", (int)len,
			  SQLITE_STATIC);
	return step_final(ns->db, st, "set xattr");
}

int ns_xattr_op_set(struct ns *ns, const json_t *op,
		    const struct timespec *now)
{
	const char *name, *text;
	void *value = NULL;
	uint64_t ino, flags = 0;
	int64_t list = 0;
	size_t len = 0;
	int r, exists;

	if ((r = op_target(op, &ino, &name)) != 0 ||
	    (r = proto_get_str(op, "value", NS_XATTR_SIZE_MAX * 2, &text)) ||
	    (r = proto_opt_u64(op, "flags", 3, &flags)) != 0)
		goto out;
	if (flags == (NS_XATTR_CREATE | NS_XATTR_REPLACE)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = dfs_xattr_decode(text, NS_XATTR_SIZE_MAX, &value, &len)))
		goto out;
	if ((r = touch_ctime(ns, ino, now)) != 0)
		goto out;
	if ((exists = xattr_probe(ns->db, ino, name, &list)) < 0) {
		r = exists;
		goto out;
	}
	if ((flags & NS_XATTR_CREATE) && exists)
		r = -EEXIST;
	else if ((flags & NS_XATTR_REPLACE) && !exists)
		r = -ENODATA;
	else if (!exists && list + (int64_t)strlen(name) + 1 >
				    NS_XATTR_LIST_MAX)
		r = -ENOSPC;
	else
		r = xattr_store(ns, ino, name, value, len);
out:
	free(value);
	return r;
}

int ns_xattr_op_remove(struct ns *ns, const json_t *op,
		       const struct timespec *now)
{
	const char *name;
	sqlite3_stmt *st;
	uint64_t ino;
	int r;

	if ((r = op_target(op, &ino, &name)) != 0)
		return r;
	if ((r = touch_ctime(ns, ino, now)) != 0)
		return r;
	st = prepare(ns->db, "DELETE FROM xattrs WHERE ino = ?1 AND name = ?2");
	if (st == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if ((r = step_final(ns->db, st, "remove xattr")) != 0)
		return r;
	return sqlite3_changes(ns->db) > 0 ? 0 : -ENODATA;
}

/* 0 if inode "ino" exists, -ENOENT if not, -EIO. */
static int inode_exists(struct ns_reader *rd, uint64_t ino)
{
	struct dfs_attr attr;

	return ns_getattr(rd, ino, &attr);
}

int ns_getxattr(struct ns_reader *rd, uint64_t ino, const char *name,
		void **value, size_t *len)
{
	sqlite3_stmt *st = NULL;
	const void *blob;
	int rc, r;

	*value = NULL;
	*len = 0;
	if ((r = ns_read_begin(rd)) != 0)
		return r;
	if ((r = inode_exists(rd, ino)) != 0)
		goto out;
	st = prepare(rd->db, "SELECT value FROM xattrs WHERE ino = ?1"
			     " AND name = ?2");
	if (st == NULL) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENODATA;
	} else if (rc != SQLITE_ROW) {
		r = ns_sqlite_err(rd->db, rc, "get xattr");
	} else {
		blob = sqlite3_column_blob(st, 0);
		*len = (size_t)sqlite3_column_bytes(st, 0);
		if (*len > 0) {
			*value = xmalloc(*len);
			memcpy(*value, blob, *len);
		}
		r = 0;
	}
out:
	sqlite3_finalize(st);
	ns_read_end(rd);
	return r;
}

int ns_listxattr(struct ns_reader *rd, uint64_t ino, ns_xattr_fn fn,
		 void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = ns_read_begin(rd)) != 0)
		return r;
	if ((r = inode_exists(rd, ino)) != 0)
		goto out;
	st = prepare(rd->db, "SELECT name FROM xattrs WHERE ino = ?1"
			     " ORDER BY name");
	if (st == NULL) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn((const char *)sqlite3_column_text(st, 0), arg);
		if (r != 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? 0 : ns_sqlite_err(rd->db, rc, "list xattr");
out:
	sqlite3_finalize(st);
	ns_read_end(rd);
	return r < 0 ? r : 0;
}
