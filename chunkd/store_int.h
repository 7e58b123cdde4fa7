/*
 * store_int.h - what the files of the store module share: store.c (the
 * replica store proper), store_import.c (whole replicas copied in from
 * another server) and store_corrupt.c (replicas set aside as corrupt).
 * Private to the store module; everything else uses store.h.
 *
 * The locking rules of store.c (THREAD SAFETY NOTES there) apply to
 * every file: an entry's rw lock guards its files, st->mu the entry tree,
 * the entries' present/version/length fields, the fd cache and the
 * set-aside handles.
 *
 * Open files: a present replica may keep its two files open in its entry
 * (the fd cache, store.c). Whoever unlinks, renames or replaces a
 * replica's files holds the entry's rw lock for writing and closes them
 * first (store_fds_drop(); store_unlink_replica() does it).
 */
#ifndef DFS_CHUNKD_STORE_INT_H
#define DFS_CHUNKD_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "dfs_proto.h"
#include "store.h"

#define BS ((uint64_t)DFS_BLOCK_SIZE)

/* Folder of copies being imported (DIR/import), emptied at startup. */
#define STORE_IMPORT_DIR "import"

/* Folder of replicas set aside as corrupt (DIR/corrupt). */
#define STORE_CORRUPT_DIR "corrupt"

/* Folder of empty files kept ready for new replicas (DIR/spare). */
#define STORE_SPARE_DIR "spare"

/* Spare files kept open, so that a new replica opens nothing. */
#define STORE_SPARE_READY 32

/* A spare file and its descriptor (read and write). */
struct store_spare_fd {
	uint64_t id;
	int fd;
};

/* The spare files (store_spare.c): DIR/spare/<id>, %016llx. */
struct store_spares {
	pthread_mutex_t mu;     /* guards the fields below but stop */
	pthread_cond_t wake;    /* the filler waits on it */
	uint64_t *ids;		/* the spare files not open, a stack */
	size_t n, cap;          /* used and allocated slots of ids */
	struct store_spare_fd ready[STORE_SPARE_READY]; /* open ones */
	size_t nready;		/* used slots of ready, a stack */
	size_t pending;         /* files being moved in (store_spare_put) */
	uint64_t next_id;       /* the next new name */
	bool started;           /* store_spare_start() ran */
	bool enabled;           /* DIR/spare is usable; set at start */
	bool running;           /* the filler thread was started */
	atomic_bool stop;       /* store_spare_stop() was called */
	pthread_t thread;       /* the filler */
};

/* Version floors (store_floor.c): how long one is kept, and how many. */
#define STORE_FLOOR_TTL_MS (10 * 60 * 1000)
#define STORE_FLOORS_MAX 4096

/* The version an absent replica was moved to, and when (monotonic). */
struct store_floor {
	uint64_t handle;
	uint64_t version;
	int64_t at_ms;
};

/* The floors, in order of arrival; st->mu. */
struct store_floors {
	struct store_floor *v;
	size_t n, cap;
};

/* Open files of one replica (-1: closed). */
struct replica_fds {
	int data;
	int meta;
};

/* One replica's bookkeeping; lives while referenced or present. */
struct store_entry {
	uint64_t handle;          /* key, never changes */
	unsigned refs;            /* users holding a pointer; st->mu */
	bool present;             /* the replica exists on disk */
	uint64_t version;         /* its version, when present */
	uint64_t length;          /* bytes it holds, when present */
	atomic_bool dir_synced;   /* its folder entry reached the disk */
	pthread_rwlock_t rw;      /* readers share, mutations exclusive */
	pthread_mutex_t mut;      /* mutation order (store_lock) */
	struct replica_fds fds;   /* cached open files, only while present;
				   * st->mu, closed only under rw (write) */
	TAILQ_ENTRY(store_entry) lru; /* in st->lru while fds are open */
};

TAILQ_HEAD(store_lru, store_entry);

struct store {
	char *dir;                       /* the store folder */
	const struct store_io_ops *ops;  /* I/O backend */
	void *ops_arg;                   /* its argument */
	pthread_mutex_t mu;              /* see THREAD SAFETY NOTES */
	void *tree;                      /* tsearch() root of entries */
	uint64_t nreplicas;              /* present entries */
	uint64_t used;                   /* sum of their lengths */
	_Atomic uint64_t chunk_size;     /* largest offset + length */
	struct store_lru lru;            /* entries with open files, most
					  * recently used first; st->mu */
	unsigned nopen;                  /* entries on st->lru; st->mu */
	void *set_aside;                 /* tsearch() root of the handles
					  * in DIR/corrupt (uint64_t *);
					  * st->mu */
	_Atomic uint64_t avail;          /* free bytes at avail_at_ms */
	_Atomic int64_t avail_at_ms;     /* when measured (monotonic), or
					  * INT64_MIN: measure again */
	struct store_spares spares;      /* empty files for new replicas */
	uint64_t *changed;               /* handles whose replica appeared,
					  * went or changed version since
					  * store_take_changes(); st->mu */
	size_t nchanged, capchanged;     /* idem */
	bool changes_lost;               /* more changed than "changed"
					  * holds; st->mu */
	struct store_floors floors;      /* versions of absent replicas;
					  * st->mu */
};

/*
 * Version floors (store_floor.c): a version change asked of a replica
 * that is absent is remembered for STORE_FLOOR_TTL_MS, and creating that
 * replica at an older version is refused. store_floor_raise() records
 * one (the higher version wins); store_floor_check() is 0 if a replica
 * may be created at "version", else -ESTALE (_locked: st->mu held);
 * store_floor_release() frees them all (store_free()).
 */
void store_floor_raise(struct store *st, uint64_t handle, uint64_t version);
int store_floor_check(struct store *st, uint64_t handle, uint64_t version);
int store_floor_check_locked(struct store *st, uint64_t handle,
			     uint64_t version);
void store_floor_release(struct store *st);

/* DIR/chunks/XX/HANDLE<suffix> into path (PATH_MAX bytes). */
void store_replica_path(const struct store *st, uint64_t handle,
			const char *suffix, char *path);

/* DIR/corrupt/HANDLE<suffix> into path (PATH_MAX bytes). */
void store_corrupt_path(const struct store *st, uint64_t handle,
			const char *suffix, char *path);

/* Write exactly len bytes at off through the backend. 0 or -errno. */
int store_write_full(struct store *st, enum store_file file, int fd,
		     const void *buf, size_t len, uint64_t off);

/* Write the 64-byte metadata header of a replica. 0 or -errno. */
int store_meta_write_header(struct store *st, int fd, uint64_t handle,
			    uint64_t version, uint64_t length);

/* Entry of "handle" with a reference taken; created (absent) if
 * "create", else NULL when there is none. */
struct store_entry *store_entry_get(struct store *st, uint64_t handle,
				    bool create);

/* Drop a reference; an absent entry nobody uses leaves the tree. */
void store_entry_put(struct store *st, struct store_entry *ent);

/* Record the replica's state (caller holds ent->rw for writing). */
void store_entry_set(struct store *st, struct store_entry *ent, bool present,
		     uint64_t version, uint64_t length);

/*
 * A replica's files (store_fds.c). store_fds_open() opens both files of
 * an existing replica (0 or -errno) and store_fds_close() closes what is
 * open; the fd cache: store_fds_get() gives the cached files of a present
 * replica, opening and caching them if needed (caller holds ent->rw;
 * never close them), store_fds_keep() caches files just opened for ent
 * (*fds: the ones to use), store_fds_release() closes every cached file
 * (store_free()).
 */
int store_fds_open(struct store *st, uint64_t handle, int flags,
		   struct replica_fds *fds);
void store_fds_close(struct store *st, struct replica_fds *fds);
int store_fds_get(struct store *st, struct store_entry *ent,
		  struct replica_fds *fds);
void store_fds_keep(struct store *st, struct store_entry *ent,
		    struct replica_fds *mine, struct replica_fds *fds);
void store_fds_release(struct store *st);

/* Bytes still available to the store's file system, as measured at
 * most STORE_AVAIL_TTL_MS ago. */
uint64_t store_avail(struct store *st);

/* Forget the measured free space (after ENOSPC or freeing space). */
void store_avail_forget(struct store *st);

/* Close the cached files of a replica (caller holds ent->rw for
 * writing). A no-op when none are open. */
void store_fds_drop(struct store *st, struct store_entry *ent);

/* fsync the folder holding a replica's files. 0 or -errno. */
int store_sync_dir(struct store *st, uint64_t handle);

/* Close and remove both files of a replica (caller holds ent->rw for
 * writing). 0 or -errno of the first failure. */
int store_unlink_replica(struct store *st, struct store_entry *ent);

/*
 * Spare files (store_spare.c): empty files in DIR/spare that new
 * replicas take instead of creating files, and that deleted replicas'
 * files go back to, so the write path neither allocates nor frees
 * inodes. store_spare_start() scans DIR/spare and starts the thread that
 * keeps it filled; store_spare_stop() stops it (store_free).
 * store_spare_take() hands out a spare file: 0, its path in "path"
 * (PATH_MAX bytes) and in *fd a descriptor open for reading and writing,
 * or -1 when the caller has to open it (the caller renames it into
 * place, or removes it), or -ENOENT when there is none. The filler
 * keeps up to STORE_SPARE_READY of them open, off the write path.
 * store_spare_put() moves the
 * file at "path" into the folder and empties it: true when "path" is
 * gone (else the caller unlinks it).
 */
int store_spare_take(struct store *st, char *path, int *fd);
bool store_spare_put(struct store *st, const char *path);
void store_spare_start(struct store *st);
void store_spare_stop(struct store *st);

/* Fill the set of set-aside handles from DIR/corrupt (startup). */
void store_corrupt_load(struct store *st);

/* Record that "handle" has a copy in DIR/corrupt now. */
void store_corrupt_note(struct store *st, uint64_t handle);

/* True if "handle" has a copy in DIR/corrupt (no file system access). */
bool store_corrupt_has(struct store *st, uint64_t handle);

/* Forget every set-aside handle (store_free). */
void store_corrupt_release(struct store *st);

#endif
