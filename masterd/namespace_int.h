/*
 * namespace_int.h - declarations shared by namespace.c (database, readers)
 * and ns_apply.c (ops). Private to the namespace module.
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT)
 * into a per-connection cache indexed by a small enum; ns_stmt() hands one
 * out reset and with its bindings cleared. Callers reset it again when
 * done so that no statement keeps a read snapshot open.
 */
#ifndef MASTERD_NAMESPACE_INT_H
#define MASTERD_NAMESPACE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "namespace.h"

/* Database format written to meta "format"; bump on schema changes. */
#define NS_FORMAT 1

/* Idle readers kept open in the pool. */
#define NS_POOL_MAX 32

/* Page size of a new database. A commit writes every page it changed
 * to the WAL, some 5 per create; 1 KiB pages cut the bytes written and
 * synced per op to a quarter of SQLite's default 4 KiB (mdbench, 1
 * client: 22 KB -> 6.5 KB per create). An existing database keeps its
 * size. */
#define NS_PAGE_SIZE 1024

/*
 * Page cache of each connection, in KiB. The writer's cache survives its
 * own commits and holds the hot b-tree pages. A reader's does not: each
 * read transaction that follows a commit empties it, and SQLite empties a
 * cache by walking every bucket of its page hash table, which only ever
 * grows, to twice the most pages the cache once held. At 64 MiB of 1 KiB
 * pages a reader that once served a large listing walked up to 131,072
 * buckets at the first read after every commit (16 % of masterd's CPU in
 * a create loop on a database of ~100,000 files). 512 KiB keeps a
 * reader's walk under 1,024 buckets and still holds a listing of
 * thousands of entries between commits.
 */
#define NS_WRITER_CACHE_KIB 65536
#define NS_READER_CACHE_KIB 512

/* WAL bytes after which the checkpointer thread copies the WAL into the
 * database (and again each NS_CKPT_BYTES more), and after which the
 * writer does it itself (so that the WAL cannot grow without bound under
 * a steady stream of commits). */
#define NS_CKPT_BYTES (4 << 20)
#define NS_CKPT_WRITER_BYTES (32 << 20)

/* Directory change counters (proto.h "Directory change counts"). */
#define NS_DIR_COUNTERS 65536

/*
 * The orphans old enough to delete (ns_orphans()), oldest first: a
 * range of the index of orphans by ctime, so the reaper's query every
 * REAP_INTERVAL_MS stops at the first orphan still in its grace instead
 * of visiting all of them (an rm -rf leaves thousands there, and the
 * scan was 6 % of the master's CPU while it ran). ?1 most rows, ?2 ?3
 * the ctime they must be older than. test_namespace checks its plan.
 */
#define NS_ORPHANS_SQL                           \
	"SELECT ino FROM inodes WHERE nlink = 0" \
	" AND (ctime_s, ctime_ns) < (?2, ?3)"    \
	" ORDER BY ctime_s, ctime_ns LIMIT ?1"

/* The attribute columns, in the order ns_row_attr() reads them. */
#define NS_ATTR_COLS                                                           \
	"ino, mode, uid, gid, size, rdev, nlink, atime_s, atime_ns, "          \
	"mtime_s, mtime_ns, ctime_s, ctime_ns, replication"
#define NS_ATTR_NCOLS 14

/* Statements of the write connection (ns_apply.c). */
enum ns_wstmt {
	W_SAVEPOINT,
	W_RELEASE,
	W_ROLLBACK_TO,
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_GET_INODE,
	W_LOOKUP,
	W_INS_INODE,
	W_UPD_INODE,
	W_DEL_INODE,
	W_INS_DENT,
	W_DEL_DENT,
	W_SET_DENT_INO,
	W_DIR_NONEMPTY,
	W_GET_NEXT_DENT,
	W_SET_NEXT_DENT,
	W_BUMP_INO,
	W_BUMP_HANDLE,
	W_DEL_XATTRS,
	W_CHUNKS_FROM,
	W_DEL_CHUNKS_FROM,
	W_INS_CHUNK,
	W_CHUNK_VERSION,
	W_SET_VERSION,
	W_INS_REPLICA,
	W_DEL_REPLICA,
	W_DEL_REPLICAS,
	W_DEL_UNWRITTEN,
	W_DEL_NEVER_WRITTEN,
	W_INS_UNCONFIRMED,
	W_DEL_UNCONFIRMED,
	W_REPLICA_ADDRS,
	W_UPSERT_SERVER,
	W_ADD_COUNT,
	W_COUNT
};

/* Statements of read connections (namespace.c). */
enum ns_rstmt {
	R_BEGIN,
	R_COMMIT,
	R_GETATTR,
	R_LOOKUP,
	R_READDIR,
	R_READLINK,
	R_CHUNKS,
	R_CHUNK_VERSION,
	R_SERVER_REPLICAS,
	R_REPLICA_ROW,
	R_COUNTS,
	R_ALL_CHUNKS,
	R_SERVERS,
	R_UNCONFIRMED_ROWS,
	R_CHUNK_GET,
	R_COUNT
};

/* Entries of the directory replication cache (ns_repl.c). */
#define NS_REPL_SLOTS 64

/* One directory's replication factor, as read at generation "gen". */
struct ns_repl_slot {
	uint64_t dir; /* inode number; 0: empty */
	uint64_t gen; /* repl_gen before it was read */
	uint32_t replication;
};

struct ns {
	/* Path of the database file (owned). */
	char *path;
	/* The write connection; used by the writer thread only. */
	sqlite3 *db;
	/* Prepared statements of "db", by enum ns_wstmt. */
	sqlite3_stmt *wstmt[W_COUNT];
	/* Chunk size, fixed when the database was created. */
	uint64_t chunk_size;
	/* Change counts of directories, by hash of the inode number, and
	 * this process's epoch of them, never 0 (writer only). */
	uint64_t *dir_changes;
	uint64_t dir_epoch;
	/* Changes to the meta counters by the op being applied (writer
	 * only); written with the op, so a failed op undoes them too. */
	int64_t d_inodes, d_files, d_chunks;
	/* Next inode number / handle ns_reserve_*() hands out. */
	_Atomic uint64_t next_ino;
	_Atomic uint64_t next_handle;
	/* Guards pool[] and npool. */
	pthread_mutex_t pool_lock;
	/* Idle read connections. */
	struct ns_reader *pool[NS_POOL_MAX];
	int npool;
	/* The checkpointer thread and its own connection. */
	pthread_t ckpt_thread;
	sqlite3 *ckpt_db;
	bool ckpt_started;
	/* Guards ckpt_due and ckpt_stop; ckpt_cond wakes the thread. */
	pthread_mutex_t ckpt_lock;
	/* Guards wal_fd, ns_sync()'s own descriptor of the WAL file (-1
	 * until the WAL exists). */
	pthread_mutex_t sync_lock;
	int wal_fd;
	pthread_cond_t ckpt_cond;
	bool ckpt_due;
	bool ckpt_stop;
	/* The two thresholds above in pages of this database. */
	int ckpt_pages, ckpt_writer_pages;
	/* WAL size when the writer last woke the checkpointer (writer
	 * only). */
	int ckpt_woken_at;
	/* Checkpoints run, by the checkpointer or the writer. */
	_Atomic uint64_t ckpt_runs;
	/* The replicas of the chunks the transaction under way dropped
	 * (writer only), handed to freed_fn once it commits. */
	struct ns_freed_replica *freed;
	size_t nfreed, capfreed;
	ns_freed_fn freed_fn;
	void *freed_arg;
	/* Directories' replication factors (ns_repl.c): repl_lock guards
	 * repl_slots; repl_gen moves on after each transaction that set a
	 * factor, which makes every slot stale; repl_set says that the
	 * transaction under way sets one (writer only). */
	pthread_mutex_t repl_lock;
	struct ns_repl_slot repl_slots[NS_REPL_SLOTS];
	_Atomic uint64_t repl_gen;
	bool repl_set;
};

struct ns_reader {
	/* Owner of the pool this reader returns to (borrowed). */
	struct ns *ns;
	/* Read-only connection. */
	sqlite3 *db;
	/* Prepared statements of "db", by enum ns_rstmt. */
	sqlite3_stmt *stmt[R_COUNT];
};

/*
 * Statement number "i" of a connection, prepared on first use from
 * sql[i] into cache[i], handed out reset with no bindings. NULL (logged)
 * if it cannot be prepared.
 */
sqlite3_stmt *ns_stmt(sqlite3 *db, sqlite3_stmt **cache,
		      const char *const *sql, int i);

/* Fill *attr from NS_ATTR_COLS starting at column "col" of a row. */
void ns_row_attr(sqlite3_stmt *st, int col, struct dfs_attr *attr);

/* Negative errno for an SQLite result code (logs unexpected ones with
 * the connection's message). */
int ns_sqlite_err(sqlite3 *db, int rc, const char *what);

#endif
