/*
 * ns_files.c - sessions, orphans and record appends in the database (see
 * ns_files.h). Statements are prepared per call; these ops are rare next
 * to lookups, except appends, which cost one statement each.
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
#include "proto.h"
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

/* Run a statement binding one integer, and finalize it. */
static int exec_id(sqlite3 *db, const char *sql, uint64_t id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = prepare(db, sql)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : ns_sqlite_err(db, rc, sql);
}

/* A session id argument: 1 .. NS_MAX_ID. */
static int get_id(const json_t *v, uint64_t *id)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return -EINVAL;
	*id = (uint64_t)json_integer_value(v);
	return 0;
}

int ns_files_op_session_add(struct ns *ns, const json_t *op,
			    const struct timespec *now)
{
	sqlite3_stmt *st;
	uint64_t id;
	int rc, r;

	if ((r = get_id(json_object_get(op, "session"), &id)) != 0)
		return r;
	st = prepare(ns->db, "INSERT OR IGNORE INTO sessions(id, since_s)"
			     " VALUES (?1, ?2)");
	if (st == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(st, 2, now->tv_sec);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : ns_sqlite_err(ns->db, rc, "session");
}

int ns_files_op_session_del(struct ns *ns, const json_t *op)
{
	const json_t *ids = json_object_get(op, "sessions"), *v;
	uint64_t id;
	size_t i;
	int r;

	if (!json_is_array(ids))
		return -EINVAL;
	json_array_foreach (ids, i, v) {
		if ((r = get_id(v, &id)) != 0)
			return r;
		r = exec_id(ns->db, "DELETE FROM sessions WHERE id = ?1", id);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Why an append found no regular file "ino" to grow. */
static int append_error(struct ns *ns, uint64_t ino)
{
	sqlite3_stmt *st;
	uint32_t mode;
	int rc, r;

	if ((st = prepare(ns->db, "SELECT mode FROM inodes WHERE ino = ?1")) ==
	    NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else if (rc != SQLITE_ROW) {
		r = ns_sqlite_err(ns->db, rc, "append");
	} else {
		mode = (uint32_t)sqlite3_column_int64(st, 0);
		r = S_ISDIR(mode) ? -EISDIR : S_ISREG(mode) ? -EFBIG : -EINVAL;
	}
	sqlite3_finalize(st);
	return r;
}

int ns_files_op_append(struct ns *ns, const json_t *op,
		       const struct timespec *now, json_t **result)
{
	struct dfs_attr attr;
	sqlite3_stmt *st;
	uint64_t ino, len, offset = 0;
	int rc, r;

	memset(&attr, 0, sizeof(attr));
	if ((r = proto_get_u64(op, "ino", NS_MAX_ID, &ino)) != 0 ||
	    (r = proto_get_u64(op, "length", NS_APPEND_MAX, &len)) != 0)
		return r;
	st = prepare(ns->db,
		     "UPDATE inodes SET size = size + ?2, mtime_s = ?3,"
		     " mtime_ns = ?4, ctime_s = ?3, ctime_ns = ?4"
		     " WHERE ino = ?1 AND (mode & 61440) = 32768"
		     " AND size <= ?5 - ?2 RETURNING size - ?2, " NS_ATTR_COLS);
	if (st == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)len);
	sqlite3_bind_int64(st, 3, now->tv_sec);
	sqlite3_bind_int64(st, 4, now->tv_nsec);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)NS_MAX_FILE_SIZE);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		offset = (uint64_t)sqlite3_column_int64(st, 0);
		ns_row_attr(st, 1, &attr);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(ns->db, rc, "append");
	if (sqlite3_changes(ns->db) != 1)
		return append_error(ns, ino);
	*result = proto_attr_to_json(&attr);
	json_object_set_new(*result, "offset",
			    json_integer((json_int_t)offset));
	return 0;
}

/* Run a read query of ids, handing each to fn; "args" (n of them) are
 * bound to ?1, ?2, ... */
static int read_ids(struct ns_reader *rd, const char *sql,
		    const int64_t *args, int n, ns_id_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if ((st = prepare(rd->db, sql)) == NULL)
		return -EIO;
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, args[i]);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = fn((uint64_t)sqlite3_column_int64(st, 0), arg)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = ns_sqlite_err(rd->db, rc, sql);
	sqlite3_finalize(st);
	return r < 0 ? r : 0;
}

int ns_sessions(struct ns_reader *rd, ns_id_fn fn, void *arg)
{
	return read_ids(rd, "SELECT id FROM sessions ORDER BY id", NULL, 0,
			fn, arg);
}

int ns_orphans(struct ns_reader *rd, unsigned max,
	       const struct timespec *before, ns_id_fn fn, void *arg)
{
	int64_t args[3] = { max, before->tv_sec, before->tv_nsec };

	return read_ids(rd, NS_ORPHANS_SQL, args, 3, fn, arg);
}
