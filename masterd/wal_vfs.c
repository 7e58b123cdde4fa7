/*
 * wal_vfs.c - one write per WAL commit (see wal_vfs.h).
 *
 * Why holding frames back is safe: other connections read only frames
 * of committed transactions, which SQLite publishes in the WAL index
 * after its last frame write returns, and this file writes the buffer
 * out within that write. The connection that wrote the frames gets them
 * written before it reads, syncs, sizes or truncates the WAL. A crash
 * with frames still held loses only a transaction that had not
 * committed, which WAL recovery ignores as it would a torn tail. A
 * failed write-out is returned to the call that caused it, inside the
 * transaction that wrote the frames, so SQLite rolls that back.
 *
 * Only writes of a frame header (24 bytes) or a page (a power of two
 * from 512 to 65536 bytes) that continue the held ones are held; any
 * other write (the 32-byte WAL header, a rewrite of an earlier frame)
 * writes the held ones out and goes straight through.
 *
 * THREAD SAFETY: a file belongs to one connection, used by one thread at
 * a time; the counters are atomic.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "log.h"
#include "wal_vfs.h"
#include "banned.h"

/* A WAL frame header: page number, database size in pages after a
 * commit (0 in other frames), salts, checksums. */
#define WAL_FRAME_HEADER 24
#define WAL_COMMIT_FIELD 4

/* Most bytes held before writing out (a large transaction is written
 * in pieces of this size). */
#define WAL_HOLD_MAX (1024 * 1024)

/* Most bytes handed to the wrapped file's xWrite at once. SQLite's unix
 * VFS takes at most 128 KiB - 1 per call: it masks the length with
 * 0x1ffff (os_unix.c, seekAndWriteFd()), and a remainder that masks to
 * 0 is written as 0 bytes and reported as a full disk (SQLITE_FULL).
 * SQLite itself never writes more than a page (64 KiB) at once. */
#define WAL_WRITE_MAX (64 * 1024)

struct wal_file {
	sqlite3_file base;          /* pMethods: wal_io */
	sqlite3_file *real;         /* the wrapped file, after this struct */
	bool is_wal;                /* opened as a WAL file */
	unsigned char *buf;         /* held frame writes (owned) */
	size_t len, cap;            /* bytes held / allocated */
	sqlite3_int64 off;          /* file offset of buf[0] */
	bool commit_next;           /* a commit frame's header is held */
};

/* The wrapper sits first, the wrapped file after it, aligned. */
#define WAL_FILE_SIZE ((sizeof(struct wal_file) + 15) & ~(size_t)15)

static sqlite3_vfs wal_vfs;
static sqlite3_vfs *wal_base;
static pthread_once_t wal_once = PTHREAD_ONCE_INIT;
static int wal_register_rc = SQLITE_ERROR;
static _Atomic uint64_t wal_flushes, wal_writes;

/* Write out what is held, in pieces of at most WAL_WRITE_MAX bytes. */
static int hold_flush(struct wal_file *f)
{
	size_t done, piece;
	int rc = SQLITE_OK;

	f->commit_next = false;
	if (f->len == 0)
		return SQLITE_OK;
	for (done = 0; done < f->len && rc == SQLITE_OK; done += piece) {
		piece = f->len - done < WAL_WRITE_MAX ? f->len - done
						      : WAL_WRITE_MAX;
		rc = f->real->pMethods->xWrite(f->real, f->buf + done,
					       (int)piece,
					       f->off + (sqlite3_int64)done);
		wal_flushes++;
	}
	f->len = 0;
	return rc;
}

/* Make room for "amt" more bytes; false if there is no memory. */
static bool hold_reserve(struct wal_file *f, size_t amt)
{
	size_t cap = f->cap != 0 ? f->cap : 64 * 1024;
	unsigned char *p;

	if (f->len + amt <= f->cap)
		return true;
	while (cap < f->len + amt)
		cap *= 2;
	if ((p = realloc(f->buf, cap)) == NULL)
		return false;
	f->buf = p;
	f->cap = cap;
	return true;
}

static bool is_frame_part(int amt)
{
	return amt == WAL_FRAME_HEADER ||
	       (amt >= 512 && amt <= 65536 && (amt & (amt - 1)) == 0);
}

static bool is_commit_header(const void *data, int amt)
{
	const unsigned char *p = data;

	return amt == WAL_FRAME_HEADER &&
	       (p[WAL_COMMIT_FIELD] | p[WAL_COMMIT_FIELD + 1] |
		p[WAL_COMMIT_FIELD + 2] | p[WAL_COMMIT_FIELD + 3]) != 0;
}

static int wal_write(sqlite3_file *file, const void *data, int amt,
		     sqlite3_int64 ofst)
{
	struct wal_file *f = (struct wal_file *)file;
	bool follows = f->len == 0 || ofst == f->off + (sqlite3_int64)f->len;
	/* This write completes a commit frame: out with it, whatever else
	 * writes the held bytes out before. */
	bool ends_commit = f->commit_next && amt != WAL_FRAME_HEADER;
	int rc;

	if (!f->is_wal)
		return f->real->pMethods->xWrite(f->real, data, amt, ofst);
	if (!is_frame_part(amt) || !follows ||
	    f->len + (size_t)amt > WAL_HOLD_MAX ||
	    !hold_reserve(f, (size_t)amt)) {
		if ((rc = hold_flush(f)) != SQLITE_OK)
			return rc;
		if (!is_frame_part(amt) || !hold_reserve(f, (size_t)amt)) {
			wal_flushes++;
			return f->real->pMethods->xWrite(f->real, data, amt,
							 ofst);
		}
	}
	if (f->len == 0)
		f->off = ofst;
	memcpy(f->buf + f->len, data, (size_t)amt);
	f->len += (size_t)amt;
	wal_writes++;
	if (ends_commit)
		return hold_flush(f);
	f->commit_next = is_commit_header(data, amt);
	return SQLITE_OK;
}

/* Write out what is held before anything else touches a WAL file. */
static int flush_first(struct wal_file *f)
{
	return f->is_wal ? hold_flush(f) : SQLITE_OK;
}

static int wal_close(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = flush_first(f), rc2;

	rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	f->len = f->cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 ofst)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if ((rc = flush_first(f)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xRead(f->real, buf, amt, ofst);
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if ((rc = flush_first(f)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if ((rc = flush_first(f)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xSync(f->real, flags);
}

static int wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if ((rc = flush_first(f)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xFileSize(f->real, size);
}

static int wal_file_control(sqlite3_file *file, int op, void *arg)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if ((rc = flush_first(f)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

/*
 * The rest forward unchanged.
 */

static sqlite3_file *real_of(sqlite3_file *file)
{
	return ((struct wal_file *)file)->real;
}

static int wal_lock(sqlite3_file *file, int lock)
{
	return real_of(file)->pMethods->xLock(real_of(file), lock);
}

static int wal_unlock(sqlite3_file *file, int lock)
{
	return real_of(file)->pMethods->xUnlock(real_of(file), lock);
}

static int wal_check_reserved(sqlite3_file *file, int *out)
{
	return real_of(file)->pMethods->xCheckReservedLock(real_of(file), out);
}

static int wal_sector_size(sqlite3_file *file)
{
	return real_of(file)->pMethods->xSectorSize(real_of(file));
}

static int wal_device_characteristics(sqlite3_file *file)
{
	return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}

static int wal_shm_map(sqlite3_file *file, int region, int size, int extend,
		       void volatile **out)
{
	return real_of(file)->pMethods->xShmMap(real_of(file), region, size,
						 extend, out);
}

static int wal_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	return real_of(file)->pMethods->xShmLock(real_of(file), offset, n,
						  flags);
}

static void wal_shm_barrier(sqlite3_file *file)
{
	real_of(file)->pMethods->xShmBarrier(real_of(file));
}

static int wal_shm_unmap(sqlite3_file *file, int delete_flag)
{
	return real_of(file)->pMethods->xShmUnmap(real_of(file), delete_flag);
}

static int wal_fetch(sqlite3_file *file, sqlite3_int64 ofst, int amt,
		     void **out)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if ((rc = flush_first(f)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xFetch(f->real, ofst, amt, out);
}

static int wal_unfetch(sqlite3_file *file, sqlite3_int64 ofst, void *p)
{
	return real_of(file)->pMethods->xUnfetch(real_of(file), ofst, p);
}

static const sqlite3_io_methods wal_io = {
	.iVersion = 3,
	.xClose = wal_close,
	.xRead = wal_read,
	.xWrite = wal_write,
	.xTruncate = wal_truncate,
	.xSync = wal_sync,
	.xFileSize = wal_file_size,
	.xLock = wal_lock,
	.xUnlock = wal_unlock,
	.xCheckReservedLock = wal_check_reserved,
	.xFileControl = wal_file_control,
	.xSectorSize = wal_sector_size,
	.xDeviceCharacteristics = wal_device_characteristics,
	.xShmMap = wal_shm_map,
	.xShmLock = wal_shm_lock,
	.xShmBarrier = wal_shm_barrier,
	.xShmUnmap = wal_shm_unmap,
	.xFetch = wal_fetch,
	.xUnfetch = wal_unfetch,
};

static int wal_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
		    int flags, int *out_flags)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)((char *)file + WAL_FILE_SIZE);
	f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = wal_base->xOpen(wal_base, name, f->real, flags, out_flags);
	if (rc == SQLITE_OK && f->real->pMethods->iVersion < wal_io.iVersion) {
		log_errorx("SQLite's file methods are version %d, need %d",
			   f->real->pMethods->iVersion, wal_io.iVersion);
		f->real->pMethods->xClose(f->real);
		f->real->pMethods = NULL;
		rc = SQLITE_CANTOPEN;
	}
	/* SQLite closes a file whose pMethods is set, even after an error
	 * (sqlite3_io_methods); mirror the wrapped file's. */
	file->pMethods = f->real->pMethods != NULL ? &wal_io : NULL;
	return rc;
}

static void wal_register_once(void)
{
	/* "unix-excl": the process holds the database exclusively and its
	 * connections share the WAL index in its heap, so their WAL locks
	 * cost no fcntl() each (six per committed transaction). */
	wal_base = sqlite3_vfs_find("unix-excl");
	if (wal_base == NULL)
		wal_base = sqlite3_vfs_find(NULL);
	if (wal_base == NULL || wal_base->iVersion < 2) {
		log_errorx("no default SQLite VFS to wrap");
		return;
	}
	wal_vfs = *wal_base;
	wal_vfs.zName = WAL_VFS_NAME;
	wal_vfs.szOsFile = (int)WAL_FILE_SIZE + wal_base->szOsFile;
	wal_vfs.pNext = NULL;
	wal_vfs.xOpen = wal_open;
	wal_register_rc = sqlite3_vfs_register(&wal_vfs, 0);
	if (wal_register_rc != SQLITE_OK)
		log_errorx("cannot register the SQLite VFS '%s': %s",
			   WAL_VFS_NAME, sqlite3_errstr(wal_register_rc));
}

int wal_vfs_register(void)
{
	pthread_once(&wal_once, wal_register_once);
	return wal_register_rc == SQLITE_OK ? 0 : -EIO;
}

void wal_vfs_get_stats(struct wal_vfs_stats *st)
{
	st->flushes = wal_flushes;
	st->writes = wal_writes;
}
