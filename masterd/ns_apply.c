/*
 * ns_apply.c - the ops that change the namespace (see namespace.h), run
 * on the write connection. Each op reads its arguments from the JSON op
 * with the proto getters (ops may come from a log later, so they are
 * checked like any input), checks the state, and changes it; ns_apply()
 * wraps it in a savepoint so a failing op leaves nothing behind.
 *
 * Invariants kept here (no foreign keys):
 *  - every dentry names an existing inode; a directory has exactly one
 *    dentry (except the root, which has none) and inodes.parent names it;
 *  - nlink of a directory is 2 + its subdirectories; of a file, its
 *    dentries; an inode whose nlink drops to 0 is deleted with its
 *    chunks, replica rows and xattrs, except a regular file that an op
 *    with "orphan" keeps nameless until the reap op (ns_files.h);
 *  - chunks of a file never sit at index >= ceil(size / chunk_size) after
 *    a truncation (they may past the size while a writer is extending);
 *  - meta next_ino / next_handle stay above every inode / handle in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "log.h"
#include "namespace.h"
#include "namespace_int.h"
#include "ns_files.h"
#include "ns_server_state.h"
#include "ns_xattr.h"
#include "proto.h"
#include "xmalloc.h"
#include "banned.h"

static const char *const wsql[W_COUNT] = {
	[W_SAVEPOINT] = "SAVEPOINT op",
	[W_RELEASE] = "RELEASE op",
	[W_ROLLBACK_TO] = "ROLLBACK TO op",
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_GET_INODE] = "SELECT " NS_ATTR_COLS ", parent FROM inodes"
			" WHERE ino = ?1",
	[W_LOOKUP] = "SELECT ino FROM dentries WHERE parent = ?1"
		     " AND name = ?2",
	[W_INS_INODE] = "INSERT INTO inodes(ino, mode, uid, gid, size, rdev,"
			" nlink, atime_s, atime_ns, mtime_s, mtime_ns, ctime_s,"
			" ctime_ns, replication, parent, target) VALUES (?1,"
			" ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
			" ?14, ?15, ?16)",
	[W_UPD_INODE] = "UPDATE inodes SET mode = ?2, uid = ?3, gid = ?4,"
			" size = ?5, rdev = ?6, nlink = ?7, atime_s = ?8,"
			" atime_ns = ?9, mtime_s = ?10, mtime_ns = ?11,"
			" ctime_s = ?12, ctime_ns = ?13, replication = ?14,"
			" parent = ?15 WHERE ino = ?1",
	[W_DEL_INODE] = "DELETE FROM inodes WHERE ino = ?1",
	[W_INS_DENT] = "INSERT INTO dentries(parent, name, ino, id)"
		       " VALUES (?1, ?2, ?3, ?4)",
	[W_DEL_DENT] = "DELETE FROM dentries WHERE parent = ?1 AND name = ?2",
	[W_SET_DENT_INO] = "UPDATE dentries SET ino = ?3 WHERE parent = ?1"
			   " AND name = ?2",
	[W_DIR_NONEMPTY] = "SELECT 1 FROM dentries WHERE parent = ?1 LIMIT 1",
	/* Read and bump in two statements: RETURNING would buffer its
	 * row in a temporary b-tree, opened and closed at every call. */
	[W_GET_NEXT_DENT] = "SELECT value FROM meta WHERE key = 'next_dent'",
	[W_SET_NEXT_DENT] = "UPDATE meta SET value = ?1 + 1"
			    " WHERE key = 'next_dent'",
	[W_BUMP_INO] = "UPDATE meta SET value = max(value, ?1 + 1)"
		       " WHERE key = 'next_ino'",
	[W_BUMP_HANDLE] = "UPDATE meta SET value = max(value, ?1 + 1)"
			  " WHERE key = 'next_handle'",
	[W_DEL_XATTRS] = "DELETE FROM xattrs WHERE ino = ?1",
	/* No IN (SELECT ...) or IN (list) in the ops' statements: SQLite
	 * builds a temporary b-tree for it at every call. */
	[W_CHUNKS_FROM] = "SELECT handle FROM chunks WHERE ino = ?1"
			  " AND idx >= ?2",
	[W_DEL_CHUNKS_FROM] = "DELETE FROM chunks WHERE ino = ?1"
			      " AND idx >= ?2",
	[W_INS_CHUNK] = "INSERT OR IGNORE INTO chunks(handle, ino, idx,"
			" version) VALUES (?1, ?2, ?3, 1)",
	[W_CHUNK_VERSION] = "SELECT version FROM chunks WHERE handle = ?1",
	[W_SET_VERSION] = "UPDATE chunks SET version = ?2 WHERE handle = ?1",
	[W_INS_REPLICA] = "INSERT OR IGNORE INTO replicas(handle, addr)"
			  " VALUES (?1, ?2)",
	[W_DEL_REPLICA] = "DELETE FROM replicas WHERE handle = ?1"
			  " AND addr = ?2",
	[W_DEL_REPLICAS] = "DELETE FROM replicas WHERE handle = ?1",
	[W_REPLICA_ADDRS] = "SELECT addr FROM replicas WHERE handle = ?1",
	[W_DEL_NEVER_WRITTEN] = "DELETE FROM chunks WHERE handle = ?1"
				" AND EXISTS (SELECT 1 FROM unconfirmed_chunks"
				" u WHERE u.handle = ?1)"
				" AND NOT EXISTS (SELECT 1 FROM replicas r"
				" WHERE r.handle = ?1)",
	[W_INS_UNCONFIRMED] = "INSERT OR IGNORE INTO unconfirmed_chunks(handle)"
			      " VALUES (?1)",
	[W_DEL_UNCONFIRMED] = "DELETE FROM unconfirmed_chunks WHERE handle = ?1",
	[W_DEL_UNWRITTEN] = "DELETE FROM chunks WHERE handle = ?1"
			    " AND idx * ?2 >= (SELECT size FROM inodes i"
			    " WHERE i.ino = chunks.ino)"
			    " AND NOT EXISTS (SELECT 1 FROM replicas r"
			    " WHERE r.handle = ?1)",
	[W_UPSERT_SERVER] = "INSERT INTO servers(addr, rack) VALUES (?1, ?2)"
			    " ON CONFLICT(addr) DO UPDATE SET"
			    " rack = excluded.rack",
	[W_ADD_COUNT] = "UPDATE meta SET value = value + ?2 WHERE key = ?1",
};

/* An inode row as the ops see it. */
struct ns_inode {
	struct dfs_attr a;
	/* Containing directory of a directory; 0 for other types. */
	uint64_t parent;
};

/* What one op works with. */
struct op_ctx {
	struct ns *ns;
	/* The op being applied (borrowed). */
	const json_t *op;
	/* Its "time", when the op has one. */
	struct timespec now;
	/* Reply object the op built, or NULL for {}. */
	json_t *result;
};

static sqlite3_stmt *wst(struct ns *ns, enum ns_wstmt i)
{
	return ns_stmt(ns->db, ns->wstmt, wsql, i);
}

/* Step a prepared and bound statement to completion, then reset it. */
static int step_done(struct ns *ns, sqlite3_stmt *st, enum ns_wstmt i)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(ns->db, rc, wsql[i]);
	return 0;
}

/* Run a statement binding up to two integers (unused ones are ignored
 * when the statement has fewer parameters). */
static int exec_ii(struct ns *ns, enum ns_wstmt i, uint64_t a, uint64_t b)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, i)) == NULL)
		return -EIO;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, (sqlite3_int64)b);
	return step_done(ns, st, i);
}

/* Run a statement binding an integer and a text. */
static int exec_is(struct ns *ns, enum ns_wstmt i, uint64_t a, const char *s)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, i)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
	sqlite3_bind_text(st, 2, s, -1, SQLITE_STATIC);
	return step_done(ns, st, i);
}

/* Run a statement and read one integer: 0, -ENOENT (no row), -EIO. */
static int query_u64(struct ns *ns, sqlite3_stmt *st, enum ns_wstmt i,
		     uint64_t *out)
{
	int rc, r;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = ns_sqlite_err(ns->db, rc, wsql[i]);
	}
	sqlite3_reset(st);
	return r;
}

static int inode_get(struct ns *ns, uint64_t ino, struct ns_inode *in)
{
	sqlite3_stmt *st;
	int rc, r;

	if ((st = wst(ns, W_GET_INODE)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ns_row_attr(st, 0, &in->a);
		in->parent = (uint64_t)sqlite3_column_int64(st, NS_ATTR_NCOLS);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = ns_sqlite_err(ns->db, rc, "get inode");
	}
	sqlite3_reset(st);
	return r;
}

/* The inode of a directory: -ENOENT, -ENOTDIR. */
static int dir_get(struct ns *ns, uint64_t ino, struct ns_inode *in)
{
	int r;

	if ((r = inode_get(ns, ino, in)) != 0)
		return r;
	return S_ISDIR(in->a.mode) ? 0 : -ENOTDIR;
}

/* Bind the columns shared by W_INS_INODE and W_UPD_INODE. */
static void bind_inode(sqlite3_stmt *st, const struct ns_inode *in)
{
	const struct dfs_attr *a = &in->a;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)a->ino);
	sqlite3_bind_int64(st, 2, a->mode);
	sqlite3_bind_int64(st, 3, a->uid);
	sqlite3_bind_int64(st, 4, a->gid);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)a->size);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)a->rdev);
	sqlite3_bind_int64(st, 7, a->nlink);
	sqlite3_bind_int64(st, 8, a->atime.tv_sec);
	sqlite3_bind_int64(st, 9, a->atime.tv_nsec);
	sqlite3_bind_int64(st, 10, a->mtime.tv_sec);
	sqlite3_bind_int64(st, 11, a->mtime.tv_nsec);
	sqlite3_bind_int64(st, 12, a->ctime.tv_sec);
	sqlite3_bind_int64(st, 13, a->ctime.tv_nsec);
	sqlite3_bind_int64(st, 14, a->replication);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)in->parent);
}

static int inode_put(struct ns *ns, const struct ns_inode *in)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, W_UPD_INODE)) == NULL)
		return -EIO;
	bind_inode(st, in);
	return step_done(ns, st, W_UPD_INODE);
}

/* Raise an in-memory counter to at least "v" (ns_reserve_*() then never
 * hands out a number an applied op used, even one from another master). */
static void counter_raise(_Atomic uint64_t *counter, uint64_t v)
{
	uint64_t cur = atomic_load(counter);

	while (cur < v && !atomic_compare_exchange_weak(counter, &cur, v))
		;
}

static int inode_insert(struct ns *ns, const struct ns_inode *in,
			const char *target)
{
	sqlite3_stmt *st;
	int r;

	if ((st = wst(ns, W_INS_INODE)) == NULL)
		return -EIO;
	bind_inode(st, in);
	if (target != NULL)
		sqlite3_bind_text(st, 16, target, -1, SQLITE_STATIC);
	if ((r = step_done(ns, st, W_INS_INODE)) != 0)
		return r;
	ns->d_inodes++;
	ns->d_files += S_ISREG(in->a.mode);
	counter_raise(&ns->next_ino, in->a.ino + 1);
	return exec_ii(ns, W_BUMP_INO, in->a.ino, 0);
}

/* Note the replica rows of chunk "handle" as freed (see
 * ns_set_freed_hook()). */
static int note_freed(struct ns *ns, uint64_t handle)
{
	struct ns_freed_replica *f;
	sqlite3_stmt *st;
	int rc;

	if (ns->freed_fn == NULL)
		return 0;
	if ((st = wst(ns, W_REPLICA_ADDRS)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ns->freed = xgrow(ns->freed, &ns->capfreed, ns->nfreed + 1,
				  sizeof(*ns->freed));
		f = &ns->freed[ns->nfreed++];
		f->handle = handle;
		snprintf(f->addr, sizeof(f->addr), "%s",
			 (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(ns->db, rc, wsql[W_REPLICA_ADDRS]);
	return 0;
}

/* Drop the chunks of "ino" from index "first" on, with their replica
 * rows; their servers are told after the commit (ns_set_freed_hook()),
 * or find out from their next full report. */
static int inode_drop_chunks(struct ns *ns, uint64_t ino, uint64_t first)
{
	sqlite3_stmt *st;
	uint64_t handle;
	int rc, r = 0;

	if ((st = wst(ns, W_CHUNKS_FROM)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)first);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		handle = (uint64_t)sqlite3_column_int64(st, 0);
		if ((r = note_freed(ns, handle)) == 0 &&
		    (r = exec_ii(ns, W_DEL_REPLICAS, handle, 0)) == 0)
			r = exec_ii(ns, W_DEL_UNCONFIRMED, handle, 0);
	}
	sqlite3_reset(st);
	if (r != 0)
		return r;
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(ns->db, rc, wsql[W_CHUNKS_FROM]);
	if ((r = exec_ii(ns, W_DEL_CHUNKS_FROM, ino, first)) != 0)
		return r;
	ns->d_chunks -= sqlite3_changes(ns->db);
	return 0;
}

/* Delete an inode with everything hanging off it. */
static int inode_delete(struct ns *ns, const struct ns_inode *in)
{
	int r;

	if ((r = inode_drop_chunks(ns, in->a.ino, 0)) != 0)
		return r;
	if ((r = exec_ii(ns, W_DEL_XATTRS, in->a.ino, 0)) != 0)
		return r;
	if ((r = exec_ii(ns, W_DEL_INODE, in->a.ino, 0)) != 0)
		return r;
	ns->d_inodes--;
	ns->d_files -= S_ISREG(in->a.mode);
	return 0;
}

/* One name of a non-directory went away: drop a link, delete at 0 --
 * unless the op asks to keep a regular file as an orphan (ns_files.h). */
static int inode_unlink(struct op_ctx *c, struct ns_inode *in)
{
	if (in->a.nlink <= 1 &&
	    !(S_ISREG(in->a.mode) &&
	      json_is_true(json_object_get(c->op, "orphan"))))
		return inode_delete(c->ns, in);
	in->a.nlink--;
	in->a.ctime = c->now;
	return inode_put(c->ns, in);
}

/* Inode named (parent, name): 0, -ENOENT. */
static int dent_lookup(struct ns *ns, uint64_t parent, const char *name,
		       uint64_t *ino)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, W_LOOKUP)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return query_u64(ns, st, W_LOOKUP, ino);
}

/* Add (parent, name) -> ino with a fresh cookie; -EEXIST if taken. */
static int dent_insert(struct ns *ns, uint64_t parent, const char *name,
		       uint64_t ino)
{
	sqlite3_stmt *st;
	uint64_t id = 0;
	int r;

	if ((st = wst(ns, W_GET_NEXT_DENT)) == NULL)
		return -EIO;
	if ((r = query_u64(ns, st, W_GET_NEXT_DENT, &id)) != 0)
		return r == -ENOENT ? -EIO : r;
	if ((r = exec_ii(ns, W_SET_NEXT_DENT, id, 0)) != 0)
		return r;
	if ((st = wst(ns, W_INS_DENT)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)id);
	return step_done(ns, st, W_INS_DENT);
}

static int dent_delete(struct ns *ns, uint64_t parent, const char *name)
{
	return exec_is(ns, W_DEL_DENT, parent, name);
}

static int dent_set_ino(struct ns *ns, uint64_t parent, const char *name,
			uint64_t ino)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, W_SET_DENT_INO)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
	return step_done(ns, st, W_SET_DENT_INO);
}

/* 1 if directory "ino" has entries, 0 if empty, or a negative errno. */
static int dir_nonempty(struct ns *ns, uint64_t ino)
{
	sqlite3_stmt *st;
	uint64_t one;
	int r;

	if ((st = wst(ns, W_DIR_NONEMPTY)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	r = query_u64(ns, st, W_DIR_NONEMPTY, &one);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

/* 1 if directory "anc" is "ino" or one of its ancestors, else 0, or a
 * negative errno. Walks inodes.parent up to the root. */
static int dir_is_ancestor(struct ns *ns, uint64_t anc, uint64_t ino)
{
	struct ns_inode in;
	unsigned depth;
	int r;

	for (depth = 0; depth < 1000000; depth++) {
		if (ino == anc)
			return 1;
		if (ino == DFS_ROOT_INO)
			return 0;
		if ((r = inode_get(ns, ino, &in)) != 0)
			return r == -ENOENT ? -EIO : r;
		ino = in.parent;
	}
	log_errorx("directory loop above inode %llu", (unsigned long long)ino);
	return -EIO;
}

_Static_assert(NS_DIR_COUNTERS == 1 << 16, "dir_counter() takes 16 bits");

/* The change counter of directory "ino" (proto.h): the top 16 bits of a
 * multiplicative hash, so that neighbouring numbers spread. */
static uint64_t *dir_counter(struct ns *ns, uint64_t ino)
{
	return &ns->dir_changes[(ino * 0x9E3779B97F4A7C15ULL) >> 48];
}

/* Set a's change count (and epoch) to the counter's value. */
static void dir_note_count(struct ns *ns, struct dfs_attr *a)
{
	a->dir_changes = *dir_counter(ns, a->ino);
	a->dir_epoch = ns->dir_epoch;
}

/* Touch a directory whose entries changed, and count the change: once
 * per op and directory, so that the client that made it sees its count
 * move by one when nobody else changed the directory. (A failed op
 * counts too: a count that moves more only costs a client its list.) */
static int dir_touch(struct op_ctx *c, struct ns_inode *dir)
{
	dir->a.mtime = c->now;
	dir->a.ctime = c->now;
	++*dir_counter(c->ns, dir->a.ino);
	dir_note_count(c->ns, &dir->a);
	return inode_put(c->ns, dir);
}

/* Reply with the attributes of "in". */
static int reply_attr(struct op_ctx *c, const struct ns_inode *in)
{
	c->result = proto_attr_to_json(&in->a);
	return 0;
}

/* The reply object, made {} if the op has not set one yet. */
static json_t *reply_obj(struct op_ctx *c)
{
	if (c->result == NULL)
		c->result = json_object();
	return c->result;
}

/*
 * Add the attributes of a directory the op changed (as written in this
 * transaction) under "key": a client that caches attributes then needs
 * no getattr of the directory after the change.
 */
static void reply_dir(struct op_ctx *c, const char *key,
		      const struct ns_inode *dir)
{
	json_object_set_new(reply_obj(c), key, proto_attr_to_json(&dir->a));
}

/*
 * Add what became of inode "ino", which lost or changed a name: its
 * number under "ino_key" and, if it still exists, its attributes under
 * "attr_key" (read back in this transaction), so that a client drops or
 * refreshes its cached attributes (nlink, ctime).
 */
static int reply_named(struct op_ctx *c, const char *ino_key,
		       const char *attr_key, uint64_t ino)
{
	struct ns_inode in;
	int r;

	json_object_set_new(reply_obj(c), ino_key,
			    json_integer((json_int_t)ino));
	if ((r = inode_get(c->ns, ino, &in)) == -ENOENT)
		return 0;
	if (r != 0)
		return r;
	json_object_set_new(c->result, attr_key, proto_attr_to_json(&in.a));
	return 0;
}

/* An inode number argument (1 .. NS_MAX_ID). */
static int get_ino(const json_t *op, const char *key, uint64_t *out)
{
	int r;

	if ((r = proto_get_u64(op, key, NS_MAX_ID, out)) != 0)
		return r;
	return *out == 0 ? -EINVAL : 0;
}

/* A replication factor argument, if present. */
static int opt_replication(const json_t *op, uint32_t *out)
{
	uint64_t v = *out;
	int r;

	if ((r = proto_opt_u64(op, "replication", DFS_MAX_REPLICAS, &v)) != 0)
		return r;
	if (v == 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/*
 * Common part of create, mkdir and symlink: read parent, name, ino, uid,
 * gid; check the parent; fill a new inode stamped with the op's time.
 */
static int new_inode_args(struct op_ctx *c, struct ns_inode *dir,
			  const char **name, struct ns_inode *in)
{
	int r;

	memset(in, 0, sizeof(*in));
	if ((r = get_ino(c->op, "parent", &dir->a.ino)) != 0 ||
	    (r = proto_get_name(c->op, "name", name)) != 0 ||
	    (r = get_ino(c->op, "ino", &in->a.ino)) != 0 ||
	    (r = proto_get_u32(c->op, "uid", &in->a.uid)) != 0 ||
	    (r = proto_get_u32(c->op, "gid", &in->a.gid)) != 0)
		return r;
	if ((r = dir_get(c->ns, dir->a.ino, dir)) != 0)
		return r;
	in->a.replication = dir->a.replication;
	if ((r = opt_replication(c->op, &in->a.replication)) != 0)
		return r;
	/* BSD group semantics under a set-group-ID directory. */
	if (dir->a.mode & S_ISGID)
		in->a.gid = dir->a.gid;
	in->a.atime = c->now;
	in->a.mtime = c->now;
	in->a.ctime = c->now;
	return 0;
}

/* Enter a new inode under (dir, name) and reply with its attributes. */
static int link_new(struct op_ctx *c, struct ns_inode *dir, const char *name,
		    struct ns_inode *in, const char *target)
{
	int r;

	if ((r = dent_insert(c->ns, dir->a.ino, name, in->a.ino)) != 0)
		return r;
	if ((r = inode_insert(c->ns, in, target)) != 0)
		return r;
	if (S_ISDIR(in->a.mode))
		dir->a.nlink++;
	if ((r = dir_touch(c, dir)) != 0)
		return r;
	if (S_ISDIR(in->a.mode))
		dir_note_count(c->ns, &in->a);
	reply_attr(c, in);
	reply_dir(c, "parent_attr", dir);
	return 0;
}

static bool mknod_type_ok(uint32_t type)
{
	return type == S_IFREG || type == S_IFIFO || type == S_IFSOCK ||
	       type == S_IFCHR || type == S_IFBLK;
}

static int alloc_one(struct op_ctx *c, uint64_t ino, const json_t *ch);

/* A create's optional "chunks": chunks of the new regular file placed
 * with it (EP_CREATE "chunk"), allocated as alloc_chunks does. */
static int create_chunks(struct op_ctx *c, const struct ns_inode *in)
{
	const json_t *chunks = json_object_get(c->op, "chunks"), *ch;
	size_t i;
	int r;

	if (chunks == NULL)
		return 0;
	if (!json_is_array(chunks) || !S_ISREG(in->a.mode))
		return -EINVAL;
	json_array_foreach (chunks, i, ch)
		if ((r = alloc_one(c, in->a.ino, ch)) != 0)
			return r;
	return 0;
}

static int op_create(struct op_ctx *c)
{
	struct ns_inode dir, in;
	const char *name;
	uint32_t mode, type;
	int r;

	if ((r = new_inode_args(c, &dir, &name, &in)) != 0)
		return r;
	if ((r = proto_get_u32(c->op, "mode", &mode)) != 0 ||
	    (r = proto_opt_u64(c->op, "rdev", UINT32_MAX, &in.a.rdev)) != 0)
		return r;
	type = (mode & S_IFMT) ? (mode & S_IFMT) : S_IFREG;
	if (!mknod_type_ok(type))
		return -EINVAL;
	in.a.mode = type | (mode & 07777);
	in.a.nlink = 1;
	if ((r = link_new(c, &dir, name, &in, NULL)) != 0)
		return r;
	return create_chunks(c, &in);
}

static int op_mkdir(struct op_ctx *c)
{
	struct ns_inode dir, in;
	const char *name;
	uint32_t mode;
	int r;

	if ((r = new_inode_args(c, &dir, &name, &in)) != 0)
		return r;
	if ((r = proto_get_u32(c->op, "mode", &mode)) != 0)
		return r;
	in.a.mode = S_IFDIR | (mode & 07777) | (dir.a.mode & S_ISGID);
	in.a.nlink = 2;
	in.parent = dir.a.ino;
	return link_new(c, &dir, name, &in, NULL);
}

static int op_symlink(struct op_ctx *c)
{
	struct ns_inode dir, in;
	const char *name, *target;
	int r;

	if ((r = new_inode_args(c, &dir, &name, &in)) != 0)
		return r;
	if ((r = proto_get_str(c->op, "target", DFS_PATH_MAX, &target)) != 0)
		return r;
	if (target[0] == '\0')
		return -ENOENT;
	in.a.mode = S_IFLNK | 0777;
	in.a.nlink = 1;
	in.a.size = strlen(target);
	return link_new(c, &dir, name, &in, target);
}

static int op_link(struct op_ctx *c)
{
	struct ns_inode dir, in;
	const char *name;
	int r;

	if ((r = get_ino(c->op, "ino", &in.a.ino)) != 0 ||
	    (r = get_ino(c->op, "parent", &dir.a.ino)) != 0 ||
	    (r = proto_get_name(c->op, "name", &name)) != 0)
		return r;
	if ((r = inode_get(c->ns, in.a.ino, &in)) != 0)
		return r;
	if (S_ISDIR(in.a.mode))
		return -EPERM;
	if (in.a.nlink == 0)
		return -ENOENT;
	if ((r = dir_get(c->ns, dir.a.ino, &dir)) != 0)
		return r;
	if ((r = dent_insert(c->ns, dir.a.ino, name, in.a.ino)) != 0)
		return r;
	in.a.nlink++;
	in.a.ctime = c->now;
	if ((r = inode_put(c->ns, &in)) != 0 || (r = dir_touch(c, &dir)) != 0)
		return r;
	reply_attr(c, &in);
	reply_dir(c, "parent_attr", &dir);
	return 0;
}

/* Parent directory and the inode an unlink/rmdir op names. */
static int remove_args(struct op_ctx *c, struct ns_inode *dir,
		       const char **name, struct ns_inode *in)
{
	uint64_t ino;
	int r;

	if ((r = get_ino(c->op, "parent", &dir->a.ino)) != 0 ||
	    (r = proto_get_name(c->op, "name", name)) != 0)
		return r;
	if ((r = dir_get(c->ns, dir->a.ino, dir)) != 0)
		return r;
	if ((r = dent_lookup(c->ns, dir->a.ino, *name, &ino)) != 0)
		return r;
	return inode_get(c->ns, ino, in) == 0 ? 0 : -EIO;
}

static int op_unlink(struct op_ctx *c)
{
	struct ns_inode dir, in;
	const char *name;
	int r;

	if ((r = remove_args(c, &dir, &name, &in)) != 0)
		return r;
	if (S_ISDIR(in.a.mode))
		return -EISDIR;
	if ((r = dent_delete(c->ns, dir.a.ino, name)) != 0 ||
	    (r = inode_unlink(c, &in)) != 0 || (r = dir_touch(c, &dir)) != 0)
		return r;
	reply_dir(c, "parent_attr", &dir);
	return reply_named(c, "ino", "attr", in.a.ino);
}

static int op_rmdir(struct op_ctx *c)
{
	struct ns_inode dir, in;
	const char *name;
	int r;

	if ((r = remove_args(c, &dir, &name, &in)) != 0)
		return r;
	if (!S_ISDIR(in.a.mode))
		return -ENOTDIR;
	if ((r = dir_nonempty(c->ns, in.a.ino)) != 0)
		return r > 0 ? -ENOTEMPTY : r;
	if ((r = dent_delete(c->ns, dir.a.ino, name)) != 0 ||
	    (r = inode_delete(c->ns, &in)) != 0)
		return r;
	dir.a.nlink--;
	if ((r = dir_touch(c, &dir)) != 0)
		return r;
	reply_dir(c, "parent_attr", &dir);
	return reply_named(c, "ino", "attr", in.a.ino);
}

/* State of one rename op. sd and dd point to the same struct when the
 * source and destination directories are the same. */
struct rename_ctx {
	struct op_ctx *c;
	struct ns_inode dirs[2];
	struct ns_inode *sd, *dd;
	const char *sn, *dn;
	uint64_t s_ino, d_ino;
	bool exists;            /* the new name existed (d_ino) */
	struct ns_inode src, dst;
	uint32_t flags;
};

/* Write back both directories, stamped. */
static int rename_touch_dirs(struct rename_ctx *rc)
{
	int r;

	if ((r = dir_touch(rc->c, rc->sd)) != 0)
		return r;
	return rc->dd == rc->sd ? 0 : dir_touch(rc->c, rc->dd);
}

/* Directory "in" moves from directory "from" to "to". */
static void move_dir_links(struct ns_inode *in, struct ns_inode *from,
			   struct ns_inode *to)
{
	if (!S_ISDIR(in->a.mode) || from == to)
		return;
	from->a.nlink--;
	to->a.nlink++;
	in->parent = to->a.ino;
}

/* 0 unless directory "in" would end up inside itself under "dir". */
static int check_no_loop(struct ns *ns, const struct ns_inode *in,
			 uint64_t dir)
{
	int r;

	if (!S_ISDIR(in->a.mode))
		return 0;
	r = dir_is_ancestor(ns, in->a.ino, dir);
	return r > 0 ? -EINVAL : r;
}

static int rename_exchange(struct rename_ctx *rc)
{
	struct ns *ns = rc->c->ns;
	int r;

	if ((r = check_no_loop(ns, &rc->src, rc->dd->a.ino)) != 0 ||
	    (r = check_no_loop(ns, &rc->dst, rc->sd->a.ino)) != 0)
		return r;
	if ((r = dent_set_ino(ns, rc->sd->a.ino, rc->sn, rc->d_ino)) != 0 ||
	    (r = dent_set_ino(ns, rc->dd->a.ino, rc->dn, rc->s_ino)) != 0)
		return r;
	move_dir_links(&rc->src, rc->sd, rc->dd);
	move_dir_links(&rc->dst, rc->dd, rc->sd);
	rc->src.a.ctime = rc->c->now;
	rc->dst.a.ctime = rc->c->now;
	if ((r = inode_put(ns, &rc->src)) != 0 ||
	    (r = inode_put(ns, &rc->dst)) != 0)
		return r;
	return rename_touch_dirs(rc);
}

/* Remove the existing target of a plain rename, after type checks. */
static int rename_drop_target(struct rename_ctx *rc)
{
	struct ns *ns = rc->c->ns;
	int r;

	if (S_ISDIR(rc->src.a.mode) && !S_ISDIR(rc->dst.a.mode))
		return -ENOTDIR;
	if (!S_ISDIR(rc->src.a.mode) && S_ISDIR(rc->dst.a.mode))
		return -EISDIR;
	if ((r = dent_delete(ns, rc->dd->a.ino, rc->dn)) != 0)
		return r;
	if (!S_ISDIR(rc->dst.a.mode))
		return inode_unlink(rc->c, &rc->dst);
	if ((r = dir_nonempty(ns, rc->dst.a.ino)) != 0)
		return r > 0 ? -ENOTEMPTY : r;
	rc->dd->a.nlink--;
	return inode_delete(ns, &rc->dst);
}

static int rename_move(struct rename_ctx *rc, bool target_exists)
{
	struct ns *ns = rc->c->ns;
	int r;

	if ((r = check_no_loop(ns, &rc->src, rc->dd->a.ino)) != 0)
		return r;
	if (target_exists && (r = rename_drop_target(rc)) != 0)
		return r;
	if ((r = dent_delete(ns, rc->sd->a.ino, rc->sn)) != 0 ||
	    (r = dent_insert(ns, rc->dd->a.ino, rc->dn, rc->s_ino)) != 0)
		return r;
	move_dir_links(&rc->src, rc->sd, rc->dd);
	rc->src.a.ctime = rc->c->now;
	if ((r = inode_put(ns, &rc->src)) != 0)
		return r;
	return rename_touch_dirs(rc);
}

/* Read the op's arguments and both directories. */
static int rename_args(struct rename_ctx *rc)
{
	const json_t *op = rc->c->op;
	uint64_t sp, dp, flags = 0;
	int r;

	if ((r = get_ino(op, "parent", &sp)) != 0 ||
	    (r = proto_get_name(op, "name", &rc->sn)) != 0 ||
	    (r = get_ino(op, "newparent", &dp)) != 0 ||
	    (r = proto_get_name(op, "newname", &rc->dn)) != 0 ||
	    (r = proto_opt_u64(op, "flags", UINT32_MAX, &flags)) != 0)
		return r;
	rc->flags = (uint32_t)flags;
	if ((flags & ~(uint64_t)(PROTO_RENAME_NOREPLACE |
				 PROTO_RENAME_EXCHANGE)) != 0 ||
	    flags == (PROTO_RENAME_NOREPLACE | PROTO_RENAME_EXCHANGE))
		return -EINVAL;
	rc->sd = &rc->dirs[0];
	rc->dd = sp == dp ? rc->sd : &rc->dirs[1];
	if ((r = dir_get(rc->c->ns, sp, rc->sd)) != 0)
		return r;
	if (rc->dd != rc->sd && (r = dir_get(rc->c->ns, dp, rc->dd)) != 0)
		return r;
	return 0;
}

/* The rename proper, once rename_args() read both directories. */
static int rename_run(struct rename_ctx *rc)
{
	struct ns *ns = rc->c->ns;
	int r;

	if ((r = dent_lookup(ns, rc->sd->a.ino, rc->sn, &rc->s_ino)) != 0)
		return r;
	r = dent_lookup(ns, rc->dd->a.ino, rc->dn, &rc->d_ino);
	if (r != 0 && r != -ENOENT)
		return r;
	rc->exists = r == 0;
	if ((rc->flags & PROTO_RENAME_EXCHANGE) && !rc->exists)
		return -ENOENT;
	if ((rc->flags & PROTO_RENAME_NOREPLACE) && rc->exists)
		return -EEXIST;
	/* Two names of one file: nothing to do. */
	if (rc->exists && rc->d_ino == rc->s_ino)
		return 0;
	if (inode_get(ns, rc->s_ino, &rc->src) != 0 ||
	    (rc->exists && inode_get(ns, rc->d_ino, &rc->dst) != 0))
		return -EIO;
	if (rc->flags & PROTO_RENAME_EXCHANGE)
		return rename_exchange(rc);
	return rename_move(rc, rc->exists);
}

/* Reply with both directories, the inode that moved and the one the new
 * name held before, if any (replaced or, with EXCHANGE, moved too). */
static int rename_reply(struct rename_ctx *rc)
{
	int r;

	reply_dir(rc->c, "parent_attr", rc->sd);
	reply_dir(rc->c, "newparent_attr", rc->dd);
	if ((r = reply_named(rc->c, "ino", "attr", rc->s_ino)) != 0)
		return r;
	if (!rc->exists || rc->d_ino == rc->s_ino)
		return 0;
	return reply_named(rc->c, "target_ino", "target_attr", rc->d_ino);
}

static int op_rename(struct op_ctx *c)
{
	struct rename_ctx rc = { .c = c };
	int r;

	if ((r = rename_args(&rc)) != 0 || (r = rename_run(&rc)) != 0)
		return r;
	return rename_reply(&rc);
}

/* Set a new size; chunks wholly past a smaller size are dropped. */
static int set_size(struct op_ctx *c, struct ns_inode *in, uint64_t size)
{
	uint64_t cs = c->ns->chunk_size;
	int r;

	if (!S_ISREG(in->a.mode))
		return S_ISDIR(in->a.mode) ? -EISDIR : -EINVAL;
	if (size > NS_MAX_FILE_SIZE)
		return -EFBIG;
	if (size < in->a.size &&
	    (r = inode_drop_chunks(c->ns, in->a.ino, (size + cs - 1) / cs)) != 0)
		return r;
	in->a.size = size;
	in->a.mtime = c->now;
	return 0;
}

/* Data was written up to "end": the size grows to it (never shrinks)
 * and mtime is "now". */
static int extend_size(struct ns_inode *in, uint64_t end,
		       struct timespec now)
{
	if (!S_ISREG(in->a.mode))
		return S_ISDIR(in->a.mode) ? -EISDIR : -EINVAL;
	if (end > NS_MAX_FILE_SIZE)
		return -EFBIG;
	if (end > in->a.size)
		in->a.size = end;
	in->a.mtime = now;
	return 0;
}

/* atime or mtime of a setattr: explicit, "now", or unchanged. */
static int setattr_time(struct op_ctx *c, unsigned valid, unsigned set_bit,
			unsigned now_bit, const char *key, struct timespec *ts)
{
	if (valid & now_bit) {
		*ts = c->now;
		return 0;
	}
	if (!(valid & set_bit))
		return 0;
	return proto_time_from_json(json_object_get(c->op, key), ts);
}

static int op_setattr(struct op_ctx *c)
{
	struct ns_inode in;
	uint32_t valid, v;
	uint64_t size;
	int r;

	if ((r = get_ino(c->op, "ino", &in.a.ino)) != 0 ||
	    (r = proto_get_u32(c->op, "valid", &valid)) != 0)
		return r;
	if ((r = inode_get(c->ns, in.a.ino, &in)) != 0)
		return r;
	if ((valid & PROTO_SET_MODE) &&
	    (r = proto_get_u32(c->op, "mode", &v)) == 0)
		in.a.mode = (in.a.mode & S_IFMT) | (v & 07777);
	if (r == 0 && (valid & PROTO_SET_UID))
		r = proto_get_u32(c->op, "uid", &in.a.uid);
	if (r == 0 && (valid & PROTO_SET_GID))
		r = proto_get_u32(c->op, "gid", &in.a.gid);
	if (r == 0 && (valid & PROTO_SET_SIZE) &&
	    (r = proto_get_u64(c->op, "size", NS_MAX_ID, &size)) == 0)
		r = set_size(c, &in, size);
	if (r == 0 && (valid & PROTO_SET_EXTEND) &&
	    (r = proto_get_u64(c->op, "extend", NS_MAX_ID, &size)) == 0)
		r = extend_size(&in, size, c->now);
	if (r == 0)
		r = setattr_time(c, valid, PROTO_SET_ATIME, PROTO_SET_ATIME_NOW,
				 "atime", &in.a.atime);
	if (r == 0)
		r = setattr_time(c, valid, PROTO_SET_MTIME, PROTO_SET_MTIME_NOW,
				 "mtime", &in.a.mtime);
	if (r != 0)
		return r;
	in.a.ctime = c->now;
	if ((r = inode_put(c->ns, &in)) != 0)
		return r;
	return reply_attr(c, &in);
}

static int op_extend(struct op_ctx *c)
{
	struct ns_inode in;
	uint64_t size;
	int r;

	if ((r = get_ino(c->op, "ino", &in.a.ino)) != 0 ||
	    (r = proto_get_u64(c->op, "size", NS_MAX_ID, &size)) != 0)
		return r;
	if ((r = inode_get(c->ns, in.a.ino, &in)) != 0)
		return r;
	if ((r = extend_size(&in, size, c->now)) != 0)
		return r;
	in.a.ctime = c->now;
	if ((r = inode_put(c->ns, &in)) != 0)
		return r;
	return reply_attr(c, &in);
}

static int op_set_replication(struct op_ctx *c)
{
	struct ns_inode in;
	int r;

	if ((r = get_ino(c->op, "ino", &in.a.ino)) != 0)
		return r;
	if ((r = inode_get(c->ns, in.a.ino, &in)) != 0)
		return r;
	if (!json_is_integer(json_object_get(c->op, "replication")))
		return -EINVAL;
	if ((r = opt_replication(c->op, &in.a.replication)) != 0)
		return r;
	c->ns->repl_set = true;
	in.a.ctime = c->now;
	if ((r = inode_put(c->ns, &in)) != 0)
		return r;
	return reply_attr(c, &in);
}

/* Check an array of replica addresses. */
static int check_addrs(const json_t *arr)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) > DFS_MAX_REPLICAS)
		return -EINVAL;
	json_array_foreach (arr, i, v)
		if (!json_is_string(v) ||
		    json_string_length(v) >= DFS_ADDR_MAX ||
		    !proto_addr_is_valid(json_string_value(v)))
			return -EINVAL;
	return 0;
}

/* Insert replica rows for every address of a checked array. */
static int add_replicas(struct ns *ns, uint64_t handle, const json_t *arr)
{
	size_t i;
	json_t *v;
	int r;

	json_array_foreach (arr, i, v)
		if ((r = exec_is(ns, W_INS_REPLICA, handle,
				 json_string_value(v))) != 0)
			return r;
	return 0;
}

/* One element of alloc_chunks; an index that already has a chunk is
 * skipped (another writer allocated it first). */
static int alloc_one(struct op_ctx *c, uint64_t ino, const json_t *ch)
{
	struct ns *ns = c->ns;
	uint64_t idx, handle;
	sqlite3_stmt *st;
	bool inserted;
	json_t *reps;
	int r;

	reps = json_object_get(ch, "replicas");
	if ((r = proto_get_u64(ch, "index", NS_MAX_FILE_SIZE / ns->chunk_size,
			       &idx)) != 0 ||
	    (r = get_ino(ch, "handle", &handle)) != 0 ||
	    (r = check_addrs(reps)) != 0)
		return r;
	if ((st = wst(ns, W_INS_CHUNK)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)idx);
	if ((r = step_done(ns, st, W_INS_CHUNK)) != 0)
		return r;
	inserted = sqlite3_changes(ns->db) > 0;
	ns->d_chunks += inserted;
	counter_raise(&ns->next_handle, handle + 1);
	if ((r = exec_ii(ns, W_BUMP_HANDLE, handle, 0)) != 0 || !inserted)
		return r;
	if ((r = exec_ii(ns, W_INS_UNCONFIRMED, handle, 0)) != 0)
		return r;
	return add_replicas(ns, handle, reps);
}

static int op_alloc_chunks(struct op_ctx *c)
{
	struct ns_inode in;
	json_t *chunks, *ch;
	size_t i;
	int r;

	if ((r = get_ino(c->op, "ino", &in.a.ino)) != 0)
		return r;
	if ((r = inode_get(c->ns, in.a.ino, &in)) != 0)
		return r;
	if (!S_ISREG(in.a.mode))
		return -EINVAL;
	chunks = json_object_get(c->op, "chunks");
	if (!json_is_array(chunks))
		return -EINVAL;
	json_array_foreach (chunks, i, ch)
		if ((r = alloc_one(c, in.a.ino, ch)) != 0)
			return r;
	return 0;
}

/* Current version of a chunk: 0, -ENOENT. */
static int chunk_version(struct ns *ns, uint64_t handle, uint64_t *version)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, W_CHUNK_VERSION)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
	return query_u64(ns, st, W_CHUNK_VERSION, version);
}

static int op_set_replicas(struct op_ctx *c)
{
	uint64_t handle, version;
	json_t *reps;
	int r;

	reps = json_object_get(c->op, "replicas");
	if ((r = get_ino(c->op, "handle", &handle)) != 0 ||
	    (r = check_addrs(reps)) != 0)
		return r;
	if ((r = chunk_version(c->ns, handle, &version)) != 0)
		return r;
	if ((r = exec_ii(c->ns, W_DEL_REPLICAS, handle, 0)) != 0)
		return r;
	return add_replicas(c->ns, handle, reps);
}

static int op_bump_version(struct op_ctx *c)
{
	uint64_t handle, version, cur = 0;
	json_t *reps;
	int r;

	if ((r = get_ino(c->op, "handle", &handle)) != 0 ||
	    (r = proto_get_u64(c->op, "version", NS_MAX_ID, &version)) != 0)
		return r;
	if ((r = chunk_version(c->ns, handle, &cur)) != 0)
		return r;
	if (version <= cur)
		return -EINVAL;
	reps = json_object_get(c->op, "replicas");
	if (reps != NULL && (r = check_addrs(reps)) != 0)
		return r;
	if ((r = exec_ii(c->ns, W_SET_VERSION, handle, version)) != 0)
		return r;
	if (reps == NULL)
		return 0;
	if ((r = exec_ii(c->ns, W_DEL_REPLICAS, handle, 0)) != 0)
		return r;
	return add_replicas(c->ns, handle, reps);
}

/* A replica newer than the chunk: a lease whose version reached the
 * replicas but not the database. Adopt its version; the other rows are
 * stale now. */
static int replica_adopt(struct ns *ns, uint64_t handle, uint64_t version,
			 uint64_t cur)
{
	int r;

	log_info("chunk %016llx: adopting version %llu reported by a "
		 "replica (database had %llu)",
		 (unsigned long long)handle, (unsigned long long)version,
		 (unsigned long long)cur);
	if ((r = exec_ii(ns, W_SET_VERSION, handle, version)) != 0)
		return r;
	return exec_ii(ns, W_DEL_REPLICAS, handle, 0);
}

/* Record that "addr" holds a current replica of each [handle, version]
 * of "add" (stale or unknown ones are ignored, newer ones adopted). */
static int replicas_add(struct ns *ns, const char *addr, const json_t *add)
{
	uint64_t handle, version, cur = 0;
	size_t i;
	json_t *v;
	int r;

	json_array_foreach (add, i, v) {
		if ((r = proto_get_pair(v, &handle, &version)) != 0)
			return r;
		r = chunk_version(ns, handle, &cur);
		if (r == -ENOENT || (r == 0 && version < cur))
			continue;
		if (r != 0)
			return r;
		if (version > cur &&
		    (r = replica_adopt(ns, handle, version, cur)) != 0)
			return r;
		if ((r = exec_is(ns, W_INS_REPLICA, handle, addr)) != 0)
			return r;
	}
	return 0;
}

/*
 * Remove the rows of "addr" for the handles of "list" (NULL: none); a
 * chunk left without rows goes too if statement "drop" says it may:
 *
 * W_DEL_UNWRITTEN ("remove"): the chunk lies wholly past the end of its
 * file. It was allocated and never written (its writer died between
 * EP_CHUNKS and the write), no server has it and no byte of the file is
 * in it. Left behind, a later write there found a chunk without replicas
 * and failed, and a truncate growing the file over it would make it a
 * lost chunk; gone, it is a hole, and a write allocates it afresh.
 *
 * W_DEL_NEVER_WRITTEN ("unwritten": rows their server never reported,
 * the master's unconfirmed rows, chunk_srv.h): wherever it lies, if no
 * server ever reported it (unconfirmed_chunks). An acknowledged write
 * is on every replica, so such a chunk holds no acknowledged byte, and
 * as a hole it reads as zeros instead of as lost.
 */
static int rows_remove(struct ns *ns, const char *addr, const json_t *list,
		       enum ns_wstmt drop)
{
	uint64_t handle;
	size_t i;
	json_t *v;
	int r, gone;

	if (list != NULL && !json_is_array(list))
		return -EINVAL;
	json_array_foreach (list, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return -EINVAL;
		handle = (uint64_t)json_integer_value(v);
		if ((r = exec_is(ns, W_DEL_REPLICA, handle, addr)) != 0 ||
		    (r = exec_ii(ns, drop, handle, ns->chunk_size)) != 0)
			return r;
		gone = sqlite3_changes(ns->db);
		ns->d_chunks -= gone;
		if (gone > 0 &&
		    (r = exec_ii(ns, W_DEL_UNCONFIRMED, handle, 0)) != 0)
			return r;
	}
	return 0;
}

/* "confirmed": chunks a server reported holding are no longer
 * unconfirmed. */
static int chunks_confirm(struct ns *ns, const json_t *list)
{
	size_t i;
	json_t *v;
	int r;

	if (list != NULL && !json_is_array(list))
		return -EINVAL;
	json_array_foreach (list, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return -EINVAL;
		r = exec_ii(ns, W_DEL_UNCONFIRMED,
			    (uint64_t)json_integer_value(v), 0);
		if (r != 0)
			return r;
	}
	return 0;
}

static int op_replicas_update(struct op_ctx *c)
{
	json_t *add;
	const char *addr;
	int r;

	add = json_object_get(c->op, "add");
	if ((r = proto_get_str(c->op, "addr", DFS_ADDR_MAX - 1, &addr)) != 0)
		return r;
	if (add != NULL && !json_is_array(add))
		return -EINVAL;
	if (add != NULL && (r = replicas_add(c->ns, addr, add)) != 0)
		return r;
	r = rows_remove(c->ns, addr, json_object_get(c->op, "remove"),
			W_DEL_UNWRITTEN);
	if (r != 0)
		return r;
	r = rows_remove(c->ns, addr, json_object_get(c->op, "unwritten"),
			W_DEL_NEVER_WRITTEN);
	if (r != 0)
		return r;
	return chunks_confirm(c->ns, json_object_get(c->op, "confirmed"));
}

static int op_server_register(struct op_ctx *c)
{
	const char *addr, *rack;
	sqlite3_stmt *st;
	int r;

	if ((r = proto_get_str(c->op, "addr", DFS_ADDR_MAX - 1, &addr)) != 0 ||
	    (r = proto_get_str(c->op, "rack", DFS_NAME_MAX, &rack)) != 0)
		return r;
	if (!proto_addr_is_valid(addr))
		return -EINVAL;
	if ((st = wst(c->ns, W_UPSERT_SERVER)) == NULL)
		return -EIO;
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rack, -1, SQLITE_STATIC);
	return step_done(c->ns, st, W_UPSERT_SERVER);
}

/* Delete the orphans of "inos" (nameless files nobody holds open any
 * more, see ns_files.h); inodes that are gone or have a name are
 * skipped. */
static int op_reap(struct op_ctx *c)
{
	const json_t *inos = json_object_get(c->op, "inos"), *v;
	struct ns_inode in;
	size_t i;
	int r;

	if (!json_is_array(inos))
		return -EINVAL;
	json_array_foreach (inos, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return -EINVAL;
		r = inode_get(c->ns, (uint64_t)json_integer_value(v), &in);
		if (r == -ENOENT || (r == 0 && (in.a.nlink != 0 ||
						!S_ISREG(in.a.mode))))
			continue;
		if (r != 0 || (r = inode_delete(c->ns, &in)) != 0)
			return r;
	}
	return 0;
}

/* Ops of ns_files.h and ns_xattr.h. */
static int op_append(struct op_ctx *c)
{
	return ns_files_op_append(c->ns, c->op, &c->now, &c->result);
}

static int op_session_add(struct op_ctx *c)
{
	return ns_files_op_session_add(c->ns, c->op, &c->now);
}

static int op_session_del(struct op_ctx *c)
{
	return ns_files_op_session_del(c->ns, c->op);
}

static int op_setxattr(struct op_ctx *c)
{
	return ns_xattr_op_set(c->ns, c->op, &c->now);
}

static int op_removexattr(struct op_ctx *c)
{
	return ns_xattr_op_remove(c->ns, c->op, &c->now);
}

/* The op of ns_server_state.h. */
static int op_server_state(struct op_ctx *c)
{
	return ns_server_state_op(c->ns, c->op);
}

/* The op table: name, function, whether the op carries "time". */
static const struct op_def {
	const char *name;
	int (*fn)(struct op_ctx *c);
	bool timed;
} op_defs[] = {
	{ "alloc_chunks", op_alloc_chunks, false },
	{ "append", op_append, true },
	{ "bump_version", op_bump_version, false },
	{ "create", op_create, true },
	{ "extend", op_extend, true },
	{ "link", op_link, true },
	{ "mkdir", op_mkdir, true },
	{ "reap", op_reap, false },
	{ "removexattr", op_removexattr, true },
	{ "rename", op_rename, true },
	{ "replicas_update", op_replicas_update, false },
	{ "rmdir", op_rmdir, true },
	{ "server_register", op_server_register, false },
	{ "server_state", op_server_state, false },
	{ "session_add", op_session_add, true },
	{ "session_del", op_session_del, false },
	{ "set_replicas", op_set_replicas, false },
	{ "set_replication", op_set_replication, true },
	{ "setattr", op_setattr, true },
	{ "setxattr", op_setxattr, true },
	{ "symlink", op_symlink, true },
	{ "unlink", op_unlink, true },
};

static const struct op_def *op_find(const json_t *op)
{
	const char *name = json_string_value(json_object_get(op, "op"));
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(op_defs) / sizeof(op_defs[0]); i++)
		if (strcmp(op_defs[i].name, name) == 0)
			return &op_defs[i];
	return NULL;
}

/* Run a transaction-control statement. */
static int exec_ctl(struct ns *ns, enum ns_wstmt i)
{
	sqlite3_stmt *st;

	if ((st = wst(ns, i)) == NULL)
		return -EIO;
	return step_done(ns, st, i);
}

/* Add the op's counter changes to meta. */
static int flush_counts(struct ns *ns)
{
	const struct {
		const char *key;
		int64_t delta;
	} counts[] = { { "inodes", ns->d_inodes },
		       { "files", ns->d_files },
		       { "chunks", ns->d_chunks } };
	sqlite3_stmt *st;
	size_t i;
	int r;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (counts[i].delta == 0)
			continue;
		if ((st = wst(ns, W_ADD_COUNT)) == NULL)
			return -EIO;
		sqlite3_bind_text(st, 1, counts[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, counts[i].delta);
		if ((r = step_done(ns, st, W_ADD_COUNT)) != 0)
			return r;
	}
	return 0;
}

/* Apply one op in a savepoint of the open transaction. */
static int apply_in_savepoint(struct ns *ns, const struct op_def *def,
			      struct op_ctx *c, json_t **result)
{
	size_t nfreed = ns->nfreed;
	int r;

	if ((r = exec_ctl(ns, W_SAVEPOINT)) != 0)
		return r;
	ns->d_inodes = ns->d_files = ns->d_chunks = 0;
	r = def->fn(c);
	if (r == 0)
		r = flush_counts(ns);
	if (r == 0 && (r = exec_ctl(ns, W_RELEASE)) == 0) {
		*result = c->result != NULL ? c->result : json_object();
		return 0;
	}
	json_decref(c->result);
	exec_ctl(ns, W_ROLLBACK_TO);
	exec_ctl(ns, W_RELEASE);
	ns->nfreed = nfreed;
	return r;
}

/*
 * Outside ns_begin()/ns_commit() an op gets a transaction of its own,
 * begun IMMEDIATE: a deferred one would start reading and then have to
 * upgrade to a write, which fails at once (SQLITE_BUSY, no busy wait)
 * when the checkpointer holds a lock at that moment.
 */
int ns_apply(struct ns *ns, const json_t *op, json_t **result)
{
	struct op_ctx c = { .ns = ns, .op = op };
	const struct op_def *def;
	bool own;
	int r;

	*result = NULL;
	if (!json_is_object(op) || (def = op_find(op)) == NULL)
		return -EINVAL;
	if (def->timed &&
	    proto_time_from_json(json_object_get(op, "time"), &c.now) != 0)
		return -EINVAL;
	own = sqlite3_get_autocommit(ns->db) != 0;
	if (own && (r = ns_begin(ns)) != 0)
		return r;
	r = apply_in_savepoint(ns, def, &c, result);
	if (!own)
		return r;
	if (r == 0 && (r = ns_commit(ns)) != 0) {
		json_decref(*result);
		*result = NULL;
	}
	if (r != 0)
		ns_rollback(ns);
	return r;
}

int ns_begin(struct ns *ns)
{
	ns->nfreed = 0;
	return exec_ctl(ns, W_BEGIN);
}

/* After a transaction that set a replication factor, committed or not:
 * cached factors read before now may be stale (ns_repl.c). */
static void repl_settle(struct ns *ns)
{
	if (ns->repl_set)
		atomic_fetch_add(&ns->repl_gen, 1);
	ns->repl_set = false;
}

int ns_commit(struct ns *ns)
{
	int r = exec_ctl(ns, W_COMMIT);

	repl_settle(ns);
	if (r == 0 && ns->nfreed > 0)
		ns->freed_fn(ns->freed_arg, ns->freed, ns->nfreed);
	ns->nfreed = 0;
	return r;
}

void ns_rollback(struct ns *ns)
{
	ns->nfreed = 0;
	if (!sqlite3_get_autocommit(ns->db))
		exec_ctl(ns, W_ROLLBACK);
	repl_settle(ns);
}

void ns_set_freed_hook(struct ns *ns, ns_freed_fn fn, void *arg)
{
	ns->freed_fn = fn;
	ns->freed_arg = arg;
}
