/*
 * namespace.c - the metadata database: schema, opening, the pool of read
 * connections and every read query. Ops that change the database live in
 * ns_apply.c.
 *
 * Schema (no foreign keys; ns_apply.c keeps the tables consistent):
 *   meta(key PK, value)          format, chunk_size, next_ino, next_handle,
 *                                next_dent (readdir cookie counter),
 *                                inodes, files, chunks (counters)
 *   inodes(ino PK, mode, uid, gid, size, rdev, nlink, [amc]time_s/_ns,
 *          replication, parent, target)
 *                                parent: containing directory of a
 *                                directory (for the rename loop check),
 *                                0 for other types; target: symlinks
 *   dentries(parent, name, ino, id)  PK(parent, name); id is a cookie
 *                                assigned from next_dent, UNIQUE(parent, id)
 *   chunks(handle PK, ino, idx, version)  UNIQUE(ino, idx)
 *   replicas(handle, addr)       PK(handle, addr), index on addr
 *   servers(addr PK, rack)
 *   xattrs(ino, name, value)     PK(ino, name)
 *   sessions(id PK, since_s)     client sessions (ns_files.h); orphans
 *                                are inodes with nlink 0 (index
 *                                inodes_orphans_by_ctime)
 *   server_states(addr PK, state)  servers draining or decommissioned
 *                                (ns_server_state.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "log.h"
#include "namespace.h"
#include "namespace_int.h"
#include "timeutil.h"
#include "wal_vfs.h"
#include "xmalloc.h"
#include "banned.h"

static const char *const schema_sql =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value)"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS inodes(ino INTEGER PRIMARY KEY,"
	" mode INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
	" size INTEGER NOT NULL, rdev INTEGER NOT NULL, nlink INTEGER NOT NULL,"
	" atime_s INTEGER NOT NULL, atime_ns INTEGER NOT NULL,"
	" mtime_s INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
	" ctime_s INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
	" replication INTEGER NOT NULL, parent INTEGER NOT NULL DEFAULT 0,"
	" target TEXT);"
	"CREATE TABLE IF NOT EXISTS dentries(parent INTEGER NOT NULL,"
	" name TEXT NOT NULL, ino INTEGER NOT NULL, id INTEGER NOT NULL,"
	" PRIMARY KEY(parent, name)) WITHOUT ROWID;"
	"CREATE UNIQUE INDEX IF NOT EXISTS dentries_id ON dentries(parent, id);"
	"CREATE TABLE IF NOT EXISTS chunks(handle INTEGER PRIMARY KEY,"
	" ino INTEGER NOT NULL, idx INTEGER NOT NULL,"
	" version INTEGER NOT NULL, UNIQUE(ino, idx));"
	"CREATE TABLE IF NOT EXISTS replicas(handle INTEGER NOT NULL,"
	" addr TEXT NOT NULL, PRIMARY KEY(handle, addr)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS replicas_addr ON replicas(addr);"
	"CREATE TABLE IF NOT EXISTS servers(addr TEXT PRIMARY KEY,"
	" rack TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS xattrs(ino INTEGER NOT NULL,"
	" name TEXT NOT NULL, value BLOB NOT NULL,"
	" PRIMARY KEY(ino, name)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS inodes_orphans_by_ctime"
	" ON inodes(ctime_s, ctime_ns) WHERE nlink = 0;"
	/* Its predecessor, on ino: the reaper's query had to visit every
	 * orphan to find the old ones. */
	"DROP INDEX IF EXISTS inodes_orphans;"
	"CREATE TABLE IF NOT EXISTS sessions(id INTEGER PRIMARY KEY,"
	" since_s INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS server_states(addr TEXT PRIMARY KEY,"
	" state TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS unconfirmed_chunks("
	"handle INTEGER PRIMARY KEY);";

static const char *const rsql[R_COUNT] = {
	[R_BEGIN] = "BEGIN",
	[R_COMMIT] = "COMMIT",
	[R_GETATTR] = "SELECT " NS_ATTR_COLS " FROM inodes WHERE ino = ?1",
	[R_LOOKUP] = "SELECT " NS_ATTR_COLS " FROM inodes WHERE ino ="
		     " (SELECT ino FROM dentries WHERE parent = ?1"
		     " AND name = ?2)",
	[R_READDIR] = "SELECT d.name, d.id, i.ino, i.mode, i.uid, i.gid,"
		      " i.size, i.rdev, i.nlink, i.atime_s, i.atime_ns,"
		      " i.mtime_s, i.mtime_ns, i.ctime_s, i.ctime_ns,"
		      " i.replication FROM dentries d JOIN inodes i"
		      " ON i.ino = d.ino WHERE d.parent = ?1 AND d.id > ?2"
		      " ORDER BY d.id LIMIT ?3",
	[R_READLINK] = "SELECT mode, target FROM inodes WHERE ino = ?1",
	[R_CHUNKS] = "SELECT c.idx, c.handle, c.version, r.addr FROM chunks c"
		     " LEFT JOIN replicas r ON r.handle = c.handle"
		     " WHERE c.ino = ?1 AND c.idx >= ?2 AND c.idx < ?3"
		     " ORDER BY c.idx, r.addr",
	[R_CHUNK_VERSION] = "SELECT version FROM chunks WHERE handle = ?1",
	[R_SERVER_REPLICAS] = "SELECT r.handle, c.version FROM replicas r"
			      " LEFT JOIN chunks c ON c.handle = r.handle"
			      " WHERE r.addr = ?1 ORDER BY r.handle",
	[R_REPLICA_ROW] = "SELECT (SELECT version FROM chunks WHERE handle = ?1),"
			  " EXISTS (SELECT 1 FROM replicas"
			  " WHERE handle = ?1 AND addr = ?2)",
	[R_COUNTS] = "SELECT (SELECT value FROM meta WHERE key = 'inodes'),"
		     " (SELECT value FROM meta WHERE key = 'files'),"
		     " (SELECT value FROM meta WHERE key = 'chunks')",
	[R_ALL_CHUNKS] = "SELECT c.handle, i.replication, r.addr FROM chunks c"
			 " JOIN inodes i ON i.ino = c.ino"
			 " LEFT JOIN replicas r ON r.handle = c.handle"
			 " ORDER BY c.handle",
	[R_SERVERS] = "SELECT s.addr, s.rack, (SELECT count(*) FROM replicas r"
		      " WHERE r.addr = s.addr) FROM servers s ORDER BY s.addr",
	[R_UNCONFIRMED_ROWS] = "SELECT u.handle, r.addr FROM unconfirmed_chunks u"
			       " JOIN replicas r ON r.handle = u.handle"
			       " ORDER BY u.handle",
	[R_CHUNK_GET] = "SELECT c.idx, c.handle, c.version, r.addr, c.ino,"
			" i.replication FROM chunks c JOIN inodes i"
			" ON i.ino = c.ino LEFT JOIN replicas r"
			" ON r.handle = c.handle WHERE c.handle = ?1"
			" ORDER BY r.addr",
};

sqlite3_stmt *ns_stmt(sqlite3 *db, sqlite3_stmt **cache,
		      const char *const *sql, int i)
{
	int rc;

	if (cache[i] == NULL) {
		rc = sqlite3_prepare_v3(db, sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &cache[i],
					NULL);
		if (rc != SQLITE_OK) {
			log_errorx("cannot prepare statement '%s': %s", sql[i],
				   sqlite3_errmsg(db));
			cache[i] = NULL;
			return NULL;
		}
		return cache[i];
	}
	sqlite3_reset(cache[i]);
	sqlite3_clear_bindings(cache[i]);
	return cache[i];
}

void ns_row_attr(sqlite3_stmt *st, int col, struct dfs_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = (uint64_t)sqlite3_column_int64(st, col + 0);
	attr->mode = (uint32_t)sqlite3_column_int64(st, col + 1);
	attr->uid = (uint32_t)sqlite3_column_int64(st, col + 2);
	attr->gid = (uint32_t)sqlite3_column_int64(st, col + 3);
	attr->size = (uint64_t)sqlite3_column_int64(st, col + 4);
	attr->rdev = (uint64_t)sqlite3_column_int64(st, col + 5);
	attr->nlink = (uint32_t)sqlite3_column_int64(st, col + 6);
	attr->atime.tv_sec = sqlite3_column_int64(st, col + 7);
	attr->atime.tv_nsec = sqlite3_column_int64(st, col + 8);
	attr->mtime.tv_sec = sqlite3_column_int64(st, col + 9);
	attr->mtime.tv_nsec = sqlite3_column_int64(st, col + 10);
	attr->ctime.tv_sec = sqlite3_column_int64(st, col + 11);
	attr->ctime.tv_nsec = sqlite3_column_int64(st, col + 12);
	attr->replication = (uint32_t)sqlite3_column_int64(st, col + 13);
}

int ns_sqlite_err(sqlite3 *db, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_FULL:
		log_errorx("%s: database full: %s", what, sqlite3_errmsg(db));
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_warnx("%s: database busy: %s", what, sqlite3_errmsg(db));
		return -EAGAIN;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		log_errorx("%s: sqlite error %d: %s", what, rc,
			   sqlite3_errmsg(db));
		return -EIO;
	}
}

/* Run SQL text without results (open time only). */
static int db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		/* The process holds the database exclusively (wal_vfs.h). */
		log_errorx("cannot run '%.60s': %s%s", sql, msg ? msg : "?",
			   (rc & 0xff) == SQLITE_BUSY ?
				   " (another process holds it: is another "
				   "masterd running on this data directory?)" :
				   "");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* Counters kept in meta by the ops (statfs reads them), computed once
 * for a database that lacks them. */
static const char *const count_sql =
	"INSERT OR REPLACE INTO meta(key, value) VALUES"
	" ('inodes', (SELECT count(*) FROM inodes)),"
	" ('files', (SELECT count(*) FROM inodes"
	" WHERE (mode & 61440) = 32768)),"
	" ('chunks', (SELECT count(*) FROM chunks));";

/* Integer value of meta "key": 0, -ENOENT when absent, -EIO. */
static int meta_get(sqlite3 *db, const char *key, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = ns_sqlite_err(db, rc, "meta");
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = ns_sqlite_err(db, rc, "meta");
		goto out;
	}
	*out = (uint64_t)sqlite3_column_int64(st, 0);
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

/* First start: meta rows and the root directory, in the open
 * transaction. */
static int format_new(sqlite3 *db, uint64_t chunk_size, uint32_t repl)
{
	struct timespec now = time_now_ts();
	char *sql;
	int r;

	sql = xasprintf(
		"INSERT INTO meta(key, value) VALUES ('format', %d),"
		" ('chunk_size', %" PRIu64 "), ('next_ino', %d),"
		" ('next_handle', 1), ('next_dent', 1);"
		"INSERT INTO inodes(ino, mode, uid, gid, size, rdev, nlink,"
		" atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns,"
		" replication, parent) VALUES (%d, %u, 0, 0, 0, 0, 2,"
		" %lld, %ld, %lld, %ld, %lld, %ld, %u, %d);",
		NS_FORMAT, chunk_size, DFS_ROOT_INO + 1, DFS_ROOT_INO,
		(unsigned)(S_IFDIR | 0755), (long long)now.tv_sec, now.tv_nsec,
		(long long)now.tv_sec, now.tv_nsec, (long long)now.tv_sec,
		now.tv_nsec, repl, DFS_ROOT_INO);
	r = db_exec(db, sql);
	free(sql);
	if (r == 0)
		log_info("created a new file system (chunk size %" PRIu64
			 ", replication %u)",
			 chunk_size, repl);
	return r;
}

/* Create the schema if missing and load the meta values. */
static int load_schema(struct ns *ns, uint64_t chunk_size, uint32_t repl)
{
	uint64_t format = 0, v;
	int r;

	if ((r = db_exec(ns->db, "BEGIN IMMEDIATE")) != 0)
		return r;
	if ((r = db_exec(ns->db, schema_sql)) != 0)
		goto out;
	r = meta_get(ns->db, "format", &format);
	if (r == -ENOENT)
		r = format_new(ns->db, chunk_size ? chunk_size
						  : NS_DEFAULT_CHUNK_SIZE,
			       repl);
	else if (r == 0 && format != NS_FORMAT) {
		log_errorx("database '%s' has format %" PRIu64 ", expected %d",
			   ns->path, format, NS_FORMAT);
		r = -EINVAL;
	}
	if (r != 0)
		goto out;
	if ((r = meta_get(ns->db, "chunk_size", &ns->chunk_size)) != 0)
		goto out;
	if (meta_get(ns->db, "inodes", &v) == -ENOENT &&
	    (r = db_exec(ns->db, count_sql)) != 0)
		goto out;
	if ((r = meta_get(ns->db, "next_ino", &v)) != 0)
		goto out;
	atomic_store(&ns->next_ino, v);
	if ((r = meta_get(ns->db, "next_handle", &v)) != 0)
		goto out;
	atomic_store(&ns->next_handle, v);
	r = db_exec(ns->db, "COMMIT");
out:
	if (r != 0)
		db_exec(ns->db, "ROLLBACK");
	return r;
}

#define NS_STR(x) #x
#define NS_XSTR(x) NS_STR(x)

/* Connection settings shared by the writer and the readers, with a page
 * cache of "cache_kib" KiB (NS_WRITER_CACHE_KIB says why they differ). */
static int db_configure(sqlite3 *db, int cache_kib)
{
	char sql[96];

	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 1);
	snprintf(sql, sizeof(sql),
		 "PRAGMA cache_size = -%d; PRAGMA temp_store = MEMORY;",
		 cache_kib);
	return db_exec(db, sql);
}

/* Open the write connection: WAL, synchronous=FULL (ns_set_lazy_sync()
 * may relax it). */
static int open_writer(struct ns *ns)
{
	int rc;

	rc = sqlite3_open_v2(ns->path, &ns->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     WAL_VFS_NAME);
	if (rc != SQLITE_OK) {
		log_errorx("cannot open database '%s': %s", ns->path,
			   ns->db ? sqlite3_errmsg(ns->db) : "out of memory");
		return -EIO;
	}
	if (db_configure(ns->db, NS_WRITER_CACHE_KIB) != 0)
		return -EIO;
	return db_exec(ns->db, "PRAGMA page_size = " NS_XSTR(NS_PAGE_SIZE) ";"
			       "PRAGMA journal_mode = WAL;"
			       "PRAGMA synchronous = FULL;"
			       "PRAGMA foreign_keys = OFF;");
}

/*
 * Checkpoints. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses its threshold, stalling the writer (and every op of its batch)
 * while pages are copied and the database is fsync()ed. Instead the
 * writer's WAL hook wakes a thread that checkpoints on its own connection
 * (PASSIVE: it never blocks the writer or readers). A WAL can only start
 * over once a checkpoint copied all of it while no write was in progress,
 * which a busy writer may never allow; so past NS_CKPT_WRITER_BYTES the
 * writer checkpoints itself, which is cheap as most pages are copied.
 * Until then the WAL only grows, and the checkpointer is woken once per
 * NS_CKPT_BYTES of growth, not after every commit: each checkpoint
 * fsync()s the WAL and the database, and one per commit cost more than
 * the commits themselves.
 */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct ns *ns = arg;

	if (pages < ns->ckpt_woken_at)
		ns->ckpt_woken_at = 0; /* the WAL started over */
	if (pages >= ns->ckpt_writer_pages) {
		ns->ckpt_runs++;
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);
	} else if (pages >= ns->ckpt_pages &&
		   pages - ns->ckpt_woken_at >= ns->ckpt_pages) {
		ns->ckpt_woken_at = pages;
		pthread_mutex_lock(&ns->ckpt_lock);
		ns->ckpt_due = true;
		pthread_cond_signal(&ns->ckpt_cond);
		pthread_mutex_unlock(&ns->ckpt_lock);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct ns *ns = arg;
	int rc;

	pthread_mutex_lock(&ns->ckpt_lock);
	while (!ns->ckpt_stop) {
		if (!ns->ckpt_due) {
			pthread_cond_wait(&ns->ckpt_cond, &ns->ckpt_lock);
			continue;
		}
		ns->ckpt_due = false;
		pthread_mutex_unlock(&ns->ckpt_lock);
		ns->ckpt_runs++;
		rc = sqlite3_wal_checkpoint_v2(ns->ckpt_db, NULL,
					       SQLITE_CHECKPOINT_PASSIVE, NULL,
					       NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warnx("checkpoint of '%s' failed: %s", ns->path,
				  sqlite3_errmsg(ns->ckpt_db));
		pthread_mutex_lock(&ns->ckpt_lock);
	}
	pthread_mutex_unlock(&ns->ckpt_lock);
	return NULL;
}

/* The writer's page size, for the checkpoint thresholds. */
static int page_size(struct ns *ns, int *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(ns->db, "PRAGMA page_size", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return ns_sqlite_err(ns->db, rc, "PRAGMA page_size");
	if (*out < 512) {
		log_errorx("database '%s' has page size %d", ns->path, *out);
		return -EIO;
	}
	return 0;
}

/* Open the checkpointer's connection, start it, hook the writer. */
static int start_checkpointer(struct ns *ns)
{
	int rc, r, size = 0;

	if ((r = page_size(ns, &size)) != 0)
		return r;
	ns->ckpt_pages = NS_CKPT_BYTES / size;
	ns->ckpt_writer_pages = NS_CKPT_WRITER_BYTES / size;

	rc = sqlite3_open_v2(ns->path, &ns->ckpt_db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     WAL_VFS_NAME);
	if (rc != SQLITE_OK ||
	    db_configure(ns->ckpt_db, NS_READER_CACHE_KIB) != 0) {
		log_errorx("cannot open database '%s' for checkpoints",
			   ns->path);
		return -EIO;
	}
	if ((r = pthread_create(&ns->ckpt_thread, NULL, ckpt_main, ns)) != 0) {
		log_errorx("cannot start the checkpoint thread: %s",
			   strerror(r));
		return -r;
	}
	ns->ckpt_started = true;
	sqlite3_wal_hook(ns->db, wal_hook, ns);
	return 0;
}

static void stop_checkpointer(struct ns *ns)
{
	if (ns->ckpt_started) {
		pthread_mutex_lock(&ns->ckpt_lock);
		ns->ckpt_stop = true;
		pthread_cond_signal(&ns->ckpt_cond);
		pthread_mutex_unlock(&ns->ckpt_lock);
		pthread_join(ns->ckpt_thread, NULL);
		ns->ckpt_started = false;
	}
	sqlite3_close(ns->ckpt_db);
	ns->ckpt_db = NULL;
}

/* A random epoch of directory change counts: 1 .. 2^62. */
static uint64_t new_epoch(void)
{
	uint64_t e = 0;

	if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
		e = (uint64_t)time_now_ms() * 1000003u ^ (uint64_t)getpid();
	return (e & ((1ULL << 62) - 1)) + 1;
}

int ns_open(const char *path, uint64_t chunk_size, uint32_t replication,
	    struct ns **out)
{
	struct ns *ns;
	int r;

	/* No global memory statistics: they take a process-wide mutex on
	 * every allocation. Fails harmlessly if SQLite is initialised. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (wal_vfs_register() != 0)
		return -EIO;
	ns = xcalloc(1, sizeof(*ns));
	ns->path = xstrdup(path);
	pthread_mutex_init(&ns->pool_lock, NULL);
	pthread_mutex_init(&ns->ckpt_lock, NULL);
	pthread_cond_init(&ns->ckpt_cond, NULL);
	pthread_mutex_init(&ns->sync_lock, NULL);
	pthread_mutex_init(&ns->repl_lock, NULL);
	ns->wal_fd = -1;
	ns->dir_changes = xcalloc(NS_DIR_COUNTERS, sizeof(uint64_t));
	ns->dir_epoch = new_epoch();
	if ((r = open_writer(ns)) != 0)
		goto out;
	if ((r = load_schema(ns, chunk_size, replication)) != 0)
		goto out;
	if ((r = start_checkpointer(ns)) != 0)
		goto out;
	if (chunk_size != 0 && chunk_size != ns->chunk_size)
		log_warnx("database '%s' has chunk size %" PRIu64
			  "; ignoring requested chunk size %" PRIu64,
			  path, ns->chunk_size, chunk_size);
	*out = ns;
	ns = NULL;
	r = 0;
out:
	ns_free(ns);
	return r;
}

uint64_t ns_checkpoints(struct ns *ns)
{
	return ns->ckpt_runs;
}

int ns_set_lazy_sync(struct ns *ns, bool lazy)
{
	return db_exec(ns->db, lazy ? "PRAGMA synchronous = NORMAL;"
				    : "PRAGMA synchronous = FULL;");
}

/*
 * With synchronous=NORMAL a WAL commit is written (pwrite) but not
 * fsync()ed. fdatasync() of the WAL file through a descriptor of our own
 * makes every commit written so far durable, as synchronous=FULL would
 * have at each one, and touches none of the write connection's state:
 * any thread may sync while the writer commits. The WAL file lives as
 * long as the database is open in WAL mode (a checkpoint only rewinds
 * it); before it exists nothing was committed through it.
 */
int ns_sync(struct ns *ns)
{
	char *wal;
	int r = 0;

	pthread_mutex_lock(&ns->sync_lock);
	if (ns->wal_fd < 0) {
		wal = xasprintf("%s-wal", ns->path);
		ns->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
		if (ns->wal_fd < 0 && errno != ENOENT) {
			r = -errno;
			log_error("cannot open '%s' to sync it", wal);
		}
		free(wal);
	}
	if (ns->wal_fd >= 0 && fdatasync(ns->wal_fd) != 0) {
		r = -errno;
		log_error("cannot sync the WAL of '%s'", ns->path);
	}
	pthread_mutex_unlock(&ns->sync_lock);
	return r;
}

static void reader_close(struct ns_reader *rd)
{
	int i;

	for (i = 0; i < R_COUNT; i++)
		sqlite3_finalize(rd->stmt[i]);
	sqlite3_close(rd->db);
	free(rd);
}

void ns_free(struct ns *ns)
{
	int i;

	if (ns == NULL)
		return;
	stop_checkpointer(ns);
	for (i = 0; i < ns->npool; i++)
		reader_close(ns->pool[i]);
	for (i = 0; i < W_COUNT; i++)
		sqlite3_finalize(ns->wstmt[i]);
	if (ns->db != NULL && sqlite3_close(ns->db) != SQLITE_OK)
		log_errorx("cannot close database '%s': %s", ns->path,
			   sqlite3_errmsg(ns->db));
	if (ns->wal_fd >= 0)
		close(ns->wal_fd);
	pthread_mutex_destroy(&ns->sync_lock);
	pthread_mutex_destroy(&ns->repl_lock);
	pthread_mutex_destroy(&ns->pool_lock);
	pthread_cond_destroy(&ns->ckpt_cond);
	pthread_mutex_destroy(&ns->ckpt_lock);
	free(ns->freed);
	free(ns->dir_changes);
	free(ns->path);
	free(ns);
}

uint64_t ns_chunk_size(const struct ns *ns)
{
	return ns->chunk_size;
}

uint64_t ns_reserve_ino(struct ns *ns)
{
	return atomic_fetch_add(&ns->next_ino, 1);
}

uint64_t ns_reserve_handle(struct ns *ns)
{
	return atomic_fetch_add(&ns->next_handle, 1);
}

static struct ns_reader *reader_open(struct ns *ns)
{
	struct ns_reader *rd;
	int rc;

	rd = xcalloc(1, sizeof(*rd));
	rd->ns = ns;
	rc = sqlite3_open_v2(ns->path, &rd->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
			     WAL_VFS_NAME);
	if (rc != SQLITE_OK ||
	    db_configure(rd->db, NS_READER_CACHE_KIB) != 0) {
		log_errorx("cannot open database '%s' for reading: %s",
			   ns->path,
			   rd->db ? sqlite3_errmsg(rd->db) : "out of memory");
		reader_close(rd);
		return NULL;
	}
	return rd;
}

struct ns_reader *ns_reader_get(struct ns *ns)
{
	struct ns_reader *rd = NULL;

	pthread_mutex_lock(&ns->pool_lock);
	if (ns->npool > 0)
		rd = ns->pool[--ns->npool];
	pthread_mutex_unlock(&ns->pool_lock);
	if (rd == NULL)
		rd = reader_open(ns);
	return rd;
}

void ns_reader_put(struct ns_reader *rd)
{
	struct ns *ns;
	int i;

	if (rd == NULL)
		return;
	ns = rd->ns;
	for (i = 0; i < R_COUNT; i++)
		if (rd->stmt[i] != NULL)
			sqlite3_reset(rd->stmt[i]);
	if (!sqlite3_get_autocommit(rd->db))
		sqlite3_exec(rd->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&ns->pool_lock);
	if (ns->npool < NS_POOL_MAX) {
		ns->pool[ns->npool++] = rd;
		rd = NULL;
	}
	pthread_mutex_unlock(&ns->pool_lock);
	if (rd != NULL)
		reader_close(rd);
}

static sqlite3_stmt *rstmt(struct ns_reader *rd, enum ns_rstmt i)
{
	return ns_stmt(rd->db, rd->stmt, rsql, i);
}

/* Step a statement without results and reset it. */
static int rd_step_done(struct ns_reader *rd, enum ns_rstmt i)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = rstmt(rd, i)) == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(rd->db, rc, rsql[i]);
	return 0;
}

int ns_read_begin(struct ns_reader *rd)
{
	if (!sqlite3_get_autocommit(rd->db))
		return 0;
	return rd_step_done(rd, R_BEGIN);
}

void ns_read_end(struct ns_reader *rd)
{
	if (!sqlite3_get_autocommit(rd->db))
		rd_step_done(rd, R_COMMIT);
}

/* Begin a snapshot unless the caller holds one; *owned tells whether
 * the matching read_leave() must end it. */
static int read_enter(struct ns_reader *rd, bool *owned)
{
	*owned = sqlite3_get_autocommit(rd->db) != 0;
	if (!*owned)
		return 0;
	return rd_step_done(rd, R_BEGIN);
}

static void read_leave(struct ns_reader *rd, bool owned)
{
	if (owned)
		ns_read_end(rd);
}

/* Step a statement expected to give at most one attr row. */
static int step_attr(struct ns_reader *rd, sqlite3_stmt *st,
		     struct dfs_attr *attr)
{
	int rc, r;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ns_row_attr(st, 0, attr);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = ns_sqlite_err(rd->db, rc, "attr query");
	}
	sqlite3_reset(st);
	return r;
}

int ns_getattr(struct ns_reader *rd, uint64_t ino, struct dfs_attr *attr)
{
	sqlite3_stmt *st;

	if ((st = rstmt(rd, R_GETATTR)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	return step_attr(rd, st, attr);
}

/* Lookup assuming "dir" is the attr of the parent. */
static int lookup_in(struct ns_reader *rd, const struct dfs_attr *dir,
		     const char *name, struct dfs_attr *attr)
{
	sqlite3_stmt *st;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if ((st = rstmt(rd, R_LOOKUP)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)dir->ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return step_attr(rd, st, attr);
}

int ns_lookup(struct ns_reader *rd, uint64_t parent, const char *name,
	      struct dfs_attr *attr)
{
	struct dfs_attr dir;
	bool owned;
	int r;

	if ((r = read_enter(rd, &owned)) != 0)
		return r;
	if ((r = ns_getattr(rd, parent, &dir)) == 0)
		r = lookup_in(rd, &dir, name, attr);
	read_leave(rd, owned);
	return r;
}

/* Copy the next path component after *p into name; 0 at the end of the
 * path (name empty), or a negative errno. */
static int next_component(const char **p, char name[DFS_NAME_MAX + 1])
{
	const char *s = *p;
	size_t len;

	while (*s == '/')
		s++;
	len = strcspn(s, "/");
	*p = s + len;
	if (len > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(name, s, len);
	name[len] = '\0';
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	return 0;
}

int ns_resolve(struct ns_reader *rd, const char *path, struct dfs_attr *attr)
{
	char name[DFS_NAME_MAX + 1];
	struct dfs_attr cur;
	bool owned;
	int r;

	if (path[0] != '/' || strlen(path) > DFS_PATH_MAX)
		return -EINVAL;
	if ((r = read_enter(rd, &owned)) != 0)
		return r;
	if ((r = ns_getattr(rd, DFS_ROOT_INO, &cur)) != 0)
		goto out;
	for (;;) {
		if ((r = next_component(&path, name)) != 0)
			goto out;
		if (name[0] == '\0')
			break;
		if ((r = lookup_in(rd, &cur, name, &cur)) != 0)
			goto out;
	}
	*attr = cur;
	r = 0;
out:
	read_leave(rd, owned);
	return r;
}

/* Rows of R_READDIR to the callback; sets *eof. */
static int readdir_rows(struct ns_reader *rd, sqlite3_stmt *st, unsigned max,
			ns_readdir_fn fn, void *arg, bool *eof)
{
	struct dfs_attr attr;
	unsigned n = 0;
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == max) {
			*eof = false;
			return 0;
		}
		ns_row_attr(st, 2, &attr);
		r = fn((const char *)sqlite3_column_text(st, 0),
		       (uint64_t)sqlite3_column_int64(st, 1), &attr, arg);
		if (r != 0) {
			*eof = false;
			return r < 0 ? r : 0;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(rd->db, rc, "readdir");
	*eof = true;
	return 0;
}

int ns_readdir(struct ns_reader *rd, uint64_t ino, uint64_t cookie,
	       unsigned max, ns_readdir_fn fn, void *arg, bool *eof)
{
	struct dfs_attr dir;
	sqlite3_stmt *st = NULL;
	bool owned;
	int r;

	if ((r = read_enter(rd, &owned)) != 0)
		return r;
	if ((r = ns_getattr(rd, ino, &dir)) != 0)
		goto out;
	if (!S_ISDIR(dir.mode)) {
		r = -ENOTDIR;
		goto out;
	}
	if ((st = rstmt(rd, R_READDIR)) == NULL) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(cookie & NS_MAX_ID));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max + 1);
	r = readdir_rows(rd, st, max, fn, arg, eof);
out:
	if (st != NULL)
		sqlite3_reset(st);
	read_leave(rd, owned);
	return r;
}

int ns_readlink(struct ns_reader *rd, uint64_t ino, char **target)
{
	sqlite3_stmt *st;
	const char *t;
	int rc, r;

	if ((st = rstmt(rd, R_READLINK)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else if (rc != SQLITE_ROW) {
		r = ns_sqlite_err(rd->db, rc, "readlink");
	} else if (!S_ISLNK((uint32_t)sqlite3_column_int64(st, 0)) ||
		   (t = (const char *)sqlite3_column_text(st, 1)) == NULL) {
		r = -EINVAL;
	} else {
		*target = xstrdup(t);
		r = 0;
	}
	sqlite3_reset(st);
	return r;
}

/* Append an address to a chunk's replica list (extra ones are dropped). */
static void chunk_add_replica(struct dfs_chunk *c, const char *addr)
{
	if (addr == NULL || c->nreplicas >= DFS_MAX_REPLICAS ||
	    strlen(addr) >= DFS_ADDR_MAX)
		return;
	memcpy(c->replicas[c->nreplicas], addr, strlen(addr) + 1);
	c->nreplicas++;
}

/* Group R_CHUNKS rows (one per replica) into chunks for the callback. */
static int chunk_rows(struct ns_reader *rd, sqlite3_stmt *st, ns_chunk_fn fn,
		      void *arg)
{
	struct dfs_chunk c;
	bool have = false;
	uint64_t handle;
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		handle = (uint64_t)sqlite3_column_int64(st, 1);
		if (have && handle != c.handle) {
			if ((r = fn(&c, arg)) != 0)
				return r < 0 ? r : 0;
			have = false;
		}
		if (!have) {
			memset(&c, 0, sizeof(c));
			c.index = (uint64_t)sqlite3_column_int64(st, 0);
			c.handle = handle;
			c.version = (uint64_t)sqlite3_column_int64(st, 2);
			have = true;
		}
		chunk_add_replica(&c, (const char *)sqlite3_column_text(st, 3));
	}
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(rd->db, rc, "chunks");
	if (have && (r = fn(&c, arg)) != 0)
		return r < 0 ? r : 0;
	return 0;
}

int ns_chunks(struct ns_reader *rd, uint64_t ino, uint64_t first,
	      uint64_t count, ns_chunk_fn fn, void *arg)
{
	sqlite3_stmt *st;
	uint64_t end;
	int r;

	if (first > NS_MAX_ID)
		return 0;
	end = count > NS_MAX_ID - first ? NS_MAX_ID : first + count;
	if ((st = rstmt(rd, R_CHUNKS)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)first);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)end);
	r = chunk_rows(rd, st, fn, arg);
	sqlite3_reset(st);
	return r;
}

/* Rows of R_CHUNK_GET (one per replica) into one chunk. */
static int chunk_get_rows(struct ns_reader *rd, sqlite3_stmt *st,
			  struct dfs_chunk *c, struct ns_chunk_owner *owner)
{
	bool have = false;
	int rc;

	memset(c, 0, sizeof(*c));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!have) {
			c->index = (uint64_t)sqlite3_column_int64(st, 0);
			c->handle = (uint64_t)sqlite3_column_int64(st, 1);
			c->version = (uint64_t)sqlite3_column_int64(st, 2);
			owner->ino = (uint64_t)sqlite3_column_int64(st, 4);
			owner->replication =
				(uint32_t)sqlite3_column_int64(st, 5);
			have = true;
		}
		chunk_add_replica(c, (const char *)sqlite3_column_text(st, 3));
	}
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(rd->db, rc, "chunk");
	return have ? 0 : -ENOENT;
}

int ns_chunk_get(struct ns_reader *rd, uint64_t handle, struct dfs_chunk *c,
		 struct ns_chunk_owner *owner)
{
	struct ns_chunk_owner dummy;
	sqlite3_stmt *st;
	int r;

	if ((st = rstmt(rd, R_CHUNK_GET)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
	r = chunk_get_rows(rd, st, c, owner != NULL ? owner : &dummy);
	sqlite3_reset(st);
	return r;
}

int ns_chunk_version(struct ns_reader *rd, uint64_t handle,
		     uint64_t *version)
{
	sqlite3_stmt *st;
	int rc, r;

	if ((st = rstmt(rd, R_CHUNK_VERSION)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = (uint64_t)sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = ns_sqlite_err(rd->db, rc, "chunk version");
	}
	sqlite3_reset(st);
	return r;
}

int ns_server_handles(struct ns_reader *rd, const char *addr,
		      uint64_t **handles, size_t *n)
{
	struct ns_replica_row *rows;
	uint64_t *v = NULL;
	size_t i;
	int r;

	if ((r = ns_server_replicas(rd, addr, &rows, n)) != 0)
		return r;
	if (*n > 0)
		v = xmalloc(*n * sizeof(*v));
	for (i = 0; i < *n; i++)
		v[i] = rows[i].handle;
	free(rows);
	*handles = v;
	return 0;
}

int ns_server_replicas(struct ns_reader *rd, const char *addr,
		       struct ns_replica_row **rows, size_t *n)
{
	struct ns_replica_row *v = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	if ((st = rstmt(rd, R_SERVER_REPLICAS)) == NULL)
		return -EIO;
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len].handle = (uint64_t)sqlite3_column_int64(st, 0);
		v[len].has_chunk = sqlite3_column_type(st, 1) != SQLITE_NULL;
		v[len].version = (uint64_t)sqlite3_column_int64(st, 1);
		len++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return ns_sqlite_err(rd->db, rc, "server replicas");
	}
	*rows = v;
	*n = len;
	return 0;
}

int ns_replica_row_get(struct ns_reader *rd, uint64_t handle,
		       const char *addr, struct ns_replica_row *row,
		       bool *has_row)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = rstmt(rd, R_REPLICA_ROW)) == NULL)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
	sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row->handle = handle;
		row->has_chunk = sqlite3_column_type(st, 0) != SQLITE_NULL;
		row->version = (uint64_t)sqlite3_column_int64(st, 0);
		*has_row = sqlite3_column_int(st, 1) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return ns_sqlite_err(rd->db, rc, "replica row");
	return 0;
}

int ns_count(struct ns_reader *rd, struct ns_counts *counts)
{
	sqlite3_stmt *st;
	int rc;

	memset(counts, 0, sizeof(*counts));
	if ((st = rstmt(rd, R_COUNTS)) == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		counts->inodes = (uint64_t)sqlite3_column_int64(st, 0);
		counts->files = (uint64_t)sqlite3_column_int64(st, 1);
		counts->chunks = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : ns_sqlite_err(rd->db, rc, "counts");
}

/* One chunk gathered from R_ALL_CHUNKS rows. */
struct health_acc {
	uint64_t handle;
	uint32_t replication;
	int naddrs;
	char *addrs[DFS_MAX_REPLICAS];
};

static void health_reset(struct health_acc *h)
{
	int i;

	for (i = 0; i < h->naddrs; i++)
		free(h->addrs[i]);
	h->naddrs = 0;
}

static int health_flush(struct health_acc *h, ns_health_fn fn, void *arg)
{
	int r;

	r = fn(h->handle, h->replication, (const char *const *)h->addrs,
	       h->naddrs, arg);
	health_reset(h);
	return r;
}

int ns_foreach_chunk(struct ns_reader *rd, ns_health_fn fn, void *arg)
{
	struct health_acc h = { 0 };
	bool have = false;
	const char *addr;
	sqlite3_stmt *st;
	int rc, r = 0;

	if ((st = rstmt(rd, R_ALL_CHUNKS)) == NULL)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t handle = (uint64_t)sqlite3_column_int64(st, 0);

		if (have && handle != h.handle &&
		    (r = health_flush(&h, fn, arg)) != 0)
			goto out;
		h.handle = handle;
		h.replication = (uint32_t)sqlite3_column_int64(st, 1);
		have = true;
		addr = (const char *)sqlite3_column_text(st, 2);
		if (addr != NULL && h.naddrs < DFS_MAX_REPLICAS)
			h.addrs[h.naddrs++] = xstrdup(addr);
	}
	if (rc != SQLITE_DONE)
		r = ns_sqlite_err(rd->db, rc, "all chunks");
	else if (have)
		r = health_flush(&h, fn, arg);
out:
	health_reset(&h);
	sqlite3_reset(st);
	return r < 0 ? r : 0;
}

int ns_unconfirmed_rows(struct ns_reader *rd, ns_unconfirmed_fn fn,
			void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = rstmt(rd, R_UNCONFIRMED_ROWS)) == NULL)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn((uint64_t)sqlite3_column_int64(st, 0),
		   (const char *)sqlite3_column_text(st, 1), arg);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return ns_sqlite_err(rd->db, rc, "unconfirmed chunks");
	return 0;
}

int ns_servers(struct ns_reader *rd, ns_server_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if ((st = rstmt(rd, R_SERVERS)) == NULL)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn((const char *)sqlite3_column_text(st, 0),
		       (const char *)sqlite3_column_text(st, 1),
		       (uint64_t)sqlite3_column_int64(st, 2), arg);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = ns_sqlite_err(rd->db, rc, "servers");
	sqlite3_reset(st);
	return r < 0 ? r : 0;
}

/* Why a backup to "path" failed: -ENOENT when the directory to hold
 * it is missing (or not a directory), else -EIO. */
static int backup_failure(const char *path)
{
	const char *slash = strrchr(path, '/');
	struct stat sb;
	bool missing;
	char *dir;

	if (slash == NULL || slash == path)
		return -EIO;
	dir = xasprintf("%.*s", (int)(slash - path), path);
	if (stat(dir, &sb) != 0)
		missing = errno == ENOENT || errno == ENOTDIR;
	else
		missing = !S_ISDIR(sb.st_mode);
	free(dir);
	return missing ? -ENOENT : -EIO;
}

int ns_backup(struct ns *ns, const char *path)
{
	struct ns_reader *rd;
	sqlite3_stmt *st = NULL;
	struct stat sb;
	int rc, r = 0;

	/* SQLite refuses an existing file too, but only says "error". */
	if (lstat(path, &sb) == 0)
		return -EEXIST;
	if ((rd = ns_reader_get(ns)) == NULL)
		return -EIO;
	rc = sqlite3_prepare_v2(rd->db, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		log_errorx("cannot back the database up to '%s': %s", path,
			   sqlite3_errmsg(rd->db));
		r = backup_failure(path);
	}
	sqlite3_finalize(st);
	ns_reader_put(rd);
	return r;
}
