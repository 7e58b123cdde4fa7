/*
 * store.c - the replica store (see store.h for the on-disk format, the
 * invariants and the locking rules).
 *
 * THREAD SAFETY NOTES
 * st->mu guards the entry tree, every entry's "refs", the "present",
 * "version" and "length" fields of every entry (written with both st->mu
 * and the entry's rw lock held for writing, so holders of either may read
 * them), st->nreplicas and st->used, the fd cache (every entry's "fds"
 * and "lru", st->lru, st->nopen) and the set-aside handles. An entry's
 * rw lock guards its files; cached fds are used under it in either mode
 * and closed only under it in write mode. Lock order: entry mut
 * (store_lock), then entry rw, then st->mu; the fd cache's eviction
 * takes another entry's rw while holding st->mu, but only with a trylock.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"
#include "dfs_proto.h"
#include "log.h"
#include "replica_meta.h"
#include "xmalloc.h"
#include "store.h"
#include "store_int.h"

#include "banned.h"

/* Bytes of a replica's data written before they are sent to disk (see
 * writeback_kick()). */
#define STORE_WRITEBACK_BYTES (8ULL << 20)

/* Data writes of this many bytes or more, aligned to STORE_DIRECT_ALIGN
 * in memory, length and offset, bypass the page cache. */
#define STORE_DIRECT_MIN (256u * 1024)
#define STORE_DIRECT_ALIGN 4096u

struct store_lock {
	struct store *st;
	struct store_entry *ent;  /* referenced, its mut held */
};

/* A mutation seen from the block checksums' side. */
struct change {
	uint64_t old_len;         /* replica length before */
	uint64_t new_len;         /* and after */
	uint64_t off;             /* written range, len 0 for a truncate */
	const uint8_t *buf;
	size_t len;
};

/* Zeros for holes and checksums of zero blocks. */
static const uint8_t zero_block[DFS_BLOCK_SIZE];

/*
 * ---------------------------------------------------------------------
 * POSIX backend
 * ---------------------------------------------------------------------
 */

static int posix_open(void *arg, enum store_file file, const char *path,
		      int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	(void)arg;
	(void)file;
	return fd < 0 ? -errno : fd;
}

static ssize_t posix_pread(void *arg, enum store_file file, int fd, void *buf,
			   size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	(void)arg;
	(void)file;
	return n < 0 ? -errno : n;
}

/* True if a data write may go around the page cache (see
 * posix_pwrite_direct()). */
static bool direct_ok(enum store_file file, const void *buf, size_t len,
		      off_t off)
{
	return file == STORE_FILE_DATA && len >= STORE_DIRECT_MIN &&
	       (uintptr_t)buf % STORE_DIRECT_ALIGN == 0 &&
	       len % STORE_DIRECT_ALIGN == 0 && off % STORE_DIRECT_ALIGN == 0;
}

/*
 * A large aligned data write goes around the page cache, through a
 * descriptor of its own opened with O_DIRECT (the cached one also
 * serves buffered reads). On a virtual machine that hands free memory
 * back to its host, every new page-cache page costs a fault in the host:
 * copying data into them was 14 to 49 % of a chunk server's samples in
 * sequential writes. The kernel writes back and drops any cached pages
 * of the range first, so buffered reads stay coherent. -EINVAL when the
 * file system refuses O_DIRECT or this alignment: the caller writes
 * through the page cache instead.
 */
static ssize_t posix_pwrite_direct(int fd, const void *buf, size_t len,
				   off_t off)
{
	char path[64];
	ssize_t n;
	int dfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (dfd < 0)
		return -EINVAL;
	n = pwrite(dfd, buf, len, off);
	if (n < 0)
		n = -errno;
	close(dfd);
	return n;
}

static ssize_t posix_pwrite(void *arg, enum store_file file, int fd,
			    const void *buf, size_t len, off_t off)
{
	ssize_t n;

	(void)arg;
	if (direct_ok(file, buf, len, off)) {
		n = posix_pwrite_direct(fd, buf, len, off);
		if (n != -EINVAL)
			return n;
	}
	n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static int posix_fsync(void *arg, enum store_file file, int fd)
{
	(void)arg;
	(void)file;
	return fsync(fd) < 0 ? -errno : 0;
}

static int posix_ftruncate(void *arg, enum store_file file, int fd, off_t len)
{
	(void)arg;
	(void)file;
	return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int posix_close(void *arg, enum store_file file, int fd)
{
	(void)arg;
	(void)file;
	return close(fd) < 0 ? -errno : 0;
}

static void posix_writeback(void *arg, enum store_file file, int fd,
			    off_t off, off_t len)
{
	(void)arg;
	(void)file;
	/* Advisory: on failure the pages go at the next fsync instead. */
	(void)sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
}

const struct store_io_ops store_posix_ops = {
	.open = posix_open,
	.pread = posix_pread,
	.pwrite = posix_pwrite,
	.fsync = posix_fsync,
	.ftruncate = posix_ftruncate,
	.close = posix_close,
	.writeback = posix_writeback,
};

/*
 * ---------------------------------------------------------------------
 * Paths and whole-buffer I/O
 * ---------------------------------------------------------------------
 */

/* DIR/chunks/XX/HANDLE<suffix> into path (PATH_MAX bytes). */
void store_replica_path(const struct store *st, uint64_t handle,
			const char *suffix, char *path)
{
	snprintf(path, PATH_MAX, "%s/chunks/%02x/%016llx%s", st->dir,
		 (unsigned)(handle & 0xff), (unsigned long long)handle, suffix);
}

/* Read exactly len bytes at off; bytes past the end of file read as
 * zeros. 0 or -errno. */
static int read_full(struct store *st, enum store_file file, int fd,
		     void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = st->ops->pread(st->ops_arg, file, fd, p, len, (off_t)off);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write exactly len bytes at off. 0 or -errno. */
int store_write_full(struct store *st, enum store_file file, int fd,
		     const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = st->ops->pwrite(st->ops_arg, file, fd, p, len, (off_t)off);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Number of checksum blocks of a replica of "length" bytes. */
static uint64_t nblocks(uint64_t length)
{
	return (length + BS - 1) / BS;
}

/*
 * ---------------------------------------------------------------------
 * Metadata file
 * ---------------------------------------------------------------------
 */

int store_meta_write_header(struct store *st, int fd, uint64_t handle,
			    uint64_t version, uint64_t length)
{
	struct replica_meta m = { handle, version, length };
	uint8_t hdr[STORE_META_HEADER];

	replica_meta_encode(hdr, &m);
	return store_write_full(st, STORE_FILE_META, fd, hdr, sizeof(hdr), 0);
}

/* Checksums of blocks lo .. lo + n - 1 into sums. 0 or -errno. */
static int meta_read_sums(struct store *st, int fd, uint64_t lo, size_t n,
			  uint32_t *sums)
{
	size_t i;
	int r;

	r = read_full(st, STORE_FILE_META, fd, sums, n * 4,
		      STORE_META_HEADER + lo * 4);
	for (i = 0; r == 0 && i < n; i++)
		sums[i] = le32toh(sums[i]);
	return r;
}

/* Checksums in place into their on-disk byte order. */
static void sums_to_le(uint32_t *sums, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sums[i] = htole32(sums[i]);
}

/* Store checksums of blocks lo .. lo + n - 1 (sums is clobbered). */
static int meta_write_sums(struct store *st, int fd, uint64_t lo, size_t n,
			   uint32_t *sums)
{
	if (n == 0)
		return 0;
	sums_to_le(sums, n);
	return store_write_full(st, STORE_FILE_META, fd, sums, n * 4,
				STORE_META_HEADER + lo * 4);
}

/*
 * ---------------------------------------------------------------------
 * Entries
 * ---------------------------------------------------------------------
 */

static int entry_cmp(const void *a, const void *b)
{
	const struct store_entry *x = a, *y = b;

	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

/* Entry of "handle" with a reference taken; created (absent) if "create",
 * else NULL when there is none. */
struct store_entry *store_entry_get(struct store *st, uint64_t handle,
				    bool create)
{
	struct store_entry key = {.handle = handle}, *ent = NULL;
	void **node;

	pthread_mutex_lock(&st->mu);
	node = tfind(&key, &st->tree, entry_cmp);
	if (node != NULL) {
		ent = *node;
	} else if (create) {
		ent = xcalloc(1, sizeof(*ent));
		ent->handle = handle;
		ent->fds.data = ent->fds.meta = -1;
		atomic_init(&ent->dir_synced, true);
		pthread_rwlock_init(&ent->rw, NULL);
		pthread_mutex_init(&ent->mut, NULL);
		if (tsearch(ent, &st->tree, entry_cmp) == NULL)
			fatalx("out of memory");
	}
	if (ent != NULL)
		ent->refs++;
	pthread_mutex_unlock(&st->mu);
	return ent;
}

static void entry_destroy(struct store_entry *ent)
{
	pthread_rwlock_destroy(&ent->rw);
	pthread_mutex_destroy(&ent->mut);
	free(ent);
}

/* tdestroy() callback. */
static void entry_destroy_node(void *node)
{
	entry_destroy(node);
}

/* Drop a reference; an absent entry nobody uses leaves the tree. */
void store_entry_put(struct store *st, struct store_entry *ent)
{
	bool gone;

	if (ent == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	gone = --ent->refs == 0 && !ent->present;
	if (gone)
		tdelete(ent, &st->tree, entry_cmp);
	pthread_mutex_unlock(&st->mu);
	if (gone)
		entry_destroy(ent);
}

/* Note that the replica of "handle" appeared, went or changed version
 * (st->mu held). */
static void note_change(struct store *st, uint64_t handle)
{
	if (st->changes_lost)
		return;
	if (st->nchanged == STORE_CHANGES_MAX) {
		st->changes_lost = true;
		return;
	}
	st->changed = xgrow(st->changed, &st->capchanged, st->nchanged + 1,
			    sizeof(*st->changed));
	st->changed[st->nchanged++] = handle;
}

/* Record the replica's state (caller holds ent->rw for writing). */
void store_entry_set(struct store *st, struct store_entry *ent, bool present,
		     uint64_t version, uint64_t length)
{
	pthread_mutex_lock(&st->mu);
	assert(present || ent->fds.data < 0);
	if (ent->present != present || (present && ent->version != version))
		note_change(st, ent->handle);
	if (ent->present) {
		st->nreplicas--;
		st->used -= ent->length;
	}
	ent->present = present;
	ent->version = present ? version : 0;
	ent->length = present ? length : 0;
	if (present) {
		st->nreplicas++;
		st->used += length;
	}
	pthread_mutex_unlock(&st->mu);
}

/*
 * ---------------------------------------------------------------------
 * Opening, creating, quarantining replicas
 * ---------------------------------------------------------------------
 */


void store_corrupt_path(const struct store *st, uint64_t handle,
			const char *suffix, char *path)
{
	snprintf(path, PATH_MAX, "%s/" STORE_CORRUPT_DIR "/%016llx%s", st->dir,
		 (unsigned long long)handle, suffix);
}

/*
 * A new empty file for a replica, opened for reading and writing, under
 * the name "src": a spare file when there is one (store_spare.c says
 * why), else "fallback" created afresh. The caller renames "src" into
 * place once its content is right. The fd or -errno.
 */
static int file_create(struct store *st, enum store_file file,
		       const char *fallback, char *src)
{
	int fd;

	if (store_spare_take(st, src, &fd) == 0) {
		if (fd < 0)
			fd = st->ops->open(st->ops_arg, file, src, O_RDWR, 0);
		if (fd >= 0)
			return fd;
		log_warnx("cannot open spare file '%s': %s", src,
			  strerror(-fd));
		if (unlink(src) != 0 && errno != ENOENT)
			log_warn("cannot remove '%s'", src);
	}
	snprintf(src, PATH_MAX, "%s", fallback);
	return st->ops->open(st->ops_arg, file, src,
			     O_RDWR | O_CREAT | O_TRUNC, 0644);
}

/* Give up a file file_create() made: close it, remove "src". */
static void file_abandon(struct store *st, enum store_file file, int fd,
			 const char *src)
{
	st->ops->close(st->ops_arg, file, fd);
	if (unlink(src) != 0 && errno != ENOENT)
		log_warn("cannot remove '%s'", src);
}

/* Remove the file at "path", keeping its inode as a spare file when
 * there is room. 0 or -errno. */
static int file_remove(struct store *st, const char *path)
{
	if (store_spare_put(st, path))
		return 0;
	return unlink(path) == 0 ? 0 : -errno;
}

/*
 * Write the first metadata file of a replica: a spare or temp file,
 * renamed into place once its header is whole, so a crash never leaves a
 * ".meta" that a restart would take for a damaged replica (the startup
 * scan empties a spare file and removes a leftover temp file). The file
 * stays open: the open fd (read and write) or -errno.
 */
static int meta_create(struct store *st, uint64_t handle, uint64_t version)
{
	char tmp[PATH_MAX], src[PATH_MAX], path[PATH_MAX];
	int fd, r;

	store_replica_path(st, handle, ".meta.tmp", tmp);
	store_replica_path(st, handle, ".meta", path);
	fd = file_create(st, STORE_FILE_META, tmp, src);
	if (fd < 0)
		return fd;
	r = store_meta_write_header(st, fd, handle, version, 0);
	if (r == 0 && rename(src, path) != 0)
		r = -errno;
	if (r == 0)
		return fd;
	file_abandon(st, STORE_FILE_META, fd, src);
	return r;
}

/*
 * Create an empty replica at "version" (ent->rw held for writing, replica
 * absent) and cache its files, opened once here: *fds gets them. The
 * data file comes first and the metadata last, so a crash in between
 * leaves a data file without metadata, which the startup scan removes.
 * A replica set aside as corrupt and not dropped yet is not recreated
 * (it would hold only this mutation; only a whole copy, store_import,
 * brings it back). 0, -EBADMSG (set aside), -ENOSPC or -errno.
 */
static int replica_create(struct store *st, struct store_entry *ent,
			  uint64_t version, struct replica_fds *fds)
{
	struct replica_fds mine = {-1, -1};
	char path[PATH_MAX], src[PATH_MAX];
	int r;

	if (store_corrupt_has(st, ent->handle)) {
		log_warnx("chunk %016llx: not recreating a replica set aside "
			  "as corrupt",
			  (unsigned long long)ent->handle);
		return -EBADMSG;
	}
	if (store_avail(st) < store_chunk_size(st))
		return -ENOSPC;
	store_replica_path(st, ent->handle, "", path);
	if ((mine.data = file_create(st, STORE_FILE_DATA, path, src)) < 0)
		return mine.data;
	if (strcmp(src, path) != 0 && rename(src, path) != 0) {
		r = -errno;
		file_abandon(st, STORE_FILE_DATA, mine.data, src);
		return r;
	}
	if ((r = meta_create(st, ent->handle, version)) < 0) {
		file_abandon(st, STORE_FILE_DATA, mine.data, path);
		return r;
	}
	mine.meta = r;
	atomic_store(&ent->dir_synced, false);
	store_entry_set(st, ent, true, version, 0);
	store_fds_keep(st, ent, &mine, fds);
	return 0;
}

/* The files of a replica for a mutation at "version", creating it if
 * absent (ent->rw held for writing). 0, -ESTALE or -errno. */
static int replica_prepare(struct store *st, struct store_entry *ent,
			   uint64_t version, struct replica_fds *fds)
{
	int r;

	fds->data = fds->meta = -1;
	if (!ent->present) {
		if ((r = store_floor_check(st, ent->handle, version)) != 0)
			return r;
		return replica_create(st, ent, version, fds);
	}
	if (ent->version != version)
		return -ESTALE;
	return store_fds_get(st, ent, fds);
}

/* Move the files of "handle" to DIR/corrupt/ (or remove them if that
 * fails). */
static void quarantine_files(struct store *st, uint64_t handle)
{
	static const char *const suffixes[] = {"", ".meta"};
	char from[PATH_MAX], to[PATH_MAX];
	size_t i;

	snprintf(to, sizeof(to), "%s/" STORE_CORRUPT_DIR, st->dir);
	if (mkdir(to, 0755) != 0 && errno != EEXIST)
		log_warn("cannot create '%s'", to);
	for (i = 0; i < 2; i++) {
		store_replica_path(st, handle, suffixes[i], from);
		store_corrupt_path(st, handle, suffixes[i], to);
		if (rename(from, to) == 0)
			store_corrupt_note(st, handle);
		else if (errno != ENOENT && unlink(from) != 0)
			log_warn("cannot remove '%s'", from);
	}
}

/* Take a corrupt replica out of service (ent->rw held for writing). */
static void quarantine(struct store *st, struct store_entry *ent)
{
	if (!ent->present)
		return;
	log_warnx("chunk %016llx v%" PRIu64 ": corrupt replica moved to "
		  "'%s/corrupt'",
		  (unsigned long long)ent->handle, ent->version, st->dir);
	store_fds_drop(st, ent);
	quarantine_files(st, ent->handle);
	store_entry_set(st, ent, false, 0, 0);
}

/* After a read found corruption under a shared lock: quarantine the
 * replica if it is still the one that was read. */
static void quarantine_after_read(struct store *st, struct store_entry *ent,
				  uint64_t version)
{
	pthread_rwlock_wrlock(&ent->rw);
	if (ent->present && ent->version == version)
		quarantine(st, ent);
	pthread_rwlock_unlock(&ent->rw);
}

/*
 * ---------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------
 */

/* Compare a block's bytes with its stored checksum. */
static int block_verify(const struct store_entry *ent, uint64_t b,
			const void *data, size_t len, uint32_t want)
{
	uint32_t got = checksum_block(data, len);

	if (got == want)
		return 0;
	log_warnx("chunk %016llx v%" PRIu64 ": checksum mismatch in block "
		  "%" PRIu64 " (stored %08x, computed %08x)",
		  (unsigned long long)ent->handle, ent->version, b, want, got);
	return -EBADMSG;
}

/* Read whole blocks lo .. hi straight into dst and verify them. */
static int read_run(struct store *st, const struct store_entry *ent,
		    const struct replica_fds *fds, uint64_t lo, uint64_t hi,
		    uint8_t *dst, const uint32_t *sums)
{
	uint64_t end = min_u64((hi + 1) * BS, ent->length), b;
	int r;

	r = read_full(st, STORE_FILE_DATA, fds->data, dst, end - lo * BS,
		      lo * BS);
	for (b = lo; r == 0 && b <= hi; b++)
		r = block_verify(ent, b, dst + (b - lo) * BS,
				 min_u64(BS, end - b * BS), sums[b - lo]);
	return r;
}

/* Read block b into tmp, verify it, copy [from, to) of the replica. */
static int read_partial(struct store *st, const struct store_entry *ent,
			const struct replica_fds *fds, uint64_t b,
			uint8_t *tmp, uint32_t sum, uint64_t from,
			uint64_t to, uint8_t *dst)
{
	uint64_t ext = min_u64(BS, ent->length - b * BS);
	int r;

	if ((r = read_full(st, STORE_FILE_DATA, fds->data, tmp, ext,
			   b * BS)) != 0 ||
	    (r = block_verify(ent, b, tmp, ext, sum)) != 0)
		return r;
	memcpy(dst, tmp + (from - b * BS), to - from);
	return 0;
}

/* True if block b lies wholly inside [off, end) of a replica. */
static bool block_inside(const struct store_entry *ent, uint64_t b,
			 uint64_t off, uint64_t end)
{
	uint64_t bs = b * BS;

	return bs >= off && bs + min_u64(BS, ent->length - bs) <= end;
}

/*
 * Read [off, off + len) of an open replica into buf, verifying every
 * block touched: whole blocks straight into buf, at most two partial
 * ones through a scratch block. Bytes past the length are zeros.
 */
static int read_blocks(struct store *st, const struct store_entry *ent,
		       const struct replica_fds *fds, uint64_t off,
		       uint8_t *buf, size_t len)
{
	uint64_t end = min_u64(off + len, ent->length), lo, hi, b, e;
	uint32_t *sums = NULL;
	uint8_t *tmp = NULL;
	int r = 0;

	if (off >= end) {
		memset(buf, 0, len);
		return 0;
	}
	lo = off / BS;
	hi = (end - 1) / BS;
	sums = xmalloc((hi - lo + 1) * 4);
	if ((r = meta_read_sums(st, fds->meta, lo, hi - lo + 1, sums)) != 0)
		goto out;
	for (b = lo; r == 0 && b <= hi; b = e + 1) {
		e = b;
		if (!block_inside(ent, b, off, end)) {
			if (tmp == NULL)
				tmp = xmalloc(BS);
			r = read_partial(st, ent, fds, b, tmp, sums[b - lo],
					 max_u64(off, b * BS),
					 min_u64(end, (b + 1) * BS),
					 buf + (max_u64(off, b * BS) - off));
			continue;
		}
		while (e < hi && block_inside(ent, e + 1, off, end))
			e++;
		r = read_run(st, ent, fds, b, e, buf + (b * BS - off),
			     sums + (b - lo));
	}
	if (r == 0)
		memset(buf + (end - off), 0, off + len - end);
out:
	free(sums);
	free(tmp);
	return r;
}

/* Validate handle, version and a byte range against the chunk size. */
static int check_range(const struct store *st, uint64_t handle,
		       uint64_t version, uint64_t off, uint64_t len)
{
	uint64_t cs = store_chunk_size(st);

	if (handle > STORE_MAX_ID || version > STORE_MAX_ID || off > cs ||
	    len > cs - off)
		return -EINVAL;
	return 0;
}

int store_read(struct store *st, uint64_t handle, uint64_t version,
	       uint64_t off, void *buf, size_t len)
{
	struct replica_fds fds = {-1, -1};
	struct store_entry *ent;
	int r;

	if ((r = check_range(st, handle, version, off, len)) != 0)
		return r;
	if ((ent = store_entry_get(st, handle, false)) == NULL)
		return -ENOENT;
	pthread_rwlock_rdlock(&ent->rw);
	if (!ent->present)
		r = -ENOENT;
	else if (ent->version != version)
		r = -ESTALE;
	else if ((r = store_fds_get(st, ent, &fds)) == 0)
		r = read_blocks(st, ent, &fds, off, buf, len);
	pthread_rwlock_unlock(&ent->rw);
	if (r == -EBADMSG)
		quarantine_after_read(st, ent, version);
	store_entry_put(st, ent);
	return r;
}

int store_open_readonly(struct store *st, uint64_t handle, uint64_t version,
			int *data, int *meta)
{
	struct store_entry *ent;
	char path[PATH_MAX];
	int r = 0;

	*data = *meta = -1;
	if (handle > STORE_MAX_ID || version > STORE_MAX_ID)
		return -EINVAL;
	if ((ent = store_entry_get(st, handle, false)) == NULL)
		return -ENOENT;
	/* Shared: the files cannot be replaced or removed meanwhile. */
	pthread_rwlock_rdlock(&ent->rw);
	if (!ent->present)
		r = -ENOENT;
	else if (ent->version != version)
		r = -ESTALE;
	if (r == 0) {
		store_replica_path(st, handle, "", path);
		if ((*data = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			r = -errno;
	}
	if (r == 0) {
		store_replica_path(st, handle, ".meta", path);
		if ((*meta = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			r = -errno;
	}
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	if (r != 0) {
		if (*data >= 0)
			close(*data);
		*data = *meta = -1;
	}
	return r;
}

int store_verify(struct store *st, uint64_t handle)
{
	struct replica_fds fds = {-1, -1};
	struct store_entry *ent;
	uint64_t off, version = 0;
	uint8_t *buf;
	int r;

	if ((ent = store_entry_get(st, handle, false)) == NULL)
		return -ENOENT;
	buf = xmalloc(16 * BS);
	pthread_rwlock_rdlock(&ent->rw);
	r = ent->present ? store_fds_get(st, ent, &fds) : -ENOENT;
	version = ent->version;
	for (off = 0; r == 0 && off < ent->length; off += 16 * BS)
		r = read_blocks(st, ent, &fds, off, buf,
				min_u64(16 * BS, ent->length - off));
	pthread_rwlock_unlock(&ent->rw);
	if (r == -EBADMSG)
		quarantine_after_read(st, ent, version);
	store_entry_put(st, ent);
	free(buf);
	return r;
}

/*
 * ---------------------------------------------------------------------
 * Mutations
 * ---------------------------------------------------------------------
 */

/* True if the write of "c" overlaps [from, to). */
static bool change_overlaps(const struct change *c, uint64_t from, uint64_t to)
{
	return c->len > 0 && c->off < to && c->off + c->len > from;
}

/*
 * New checksum of block b of a replica that is being read-modify-written:
 * its old bytes (verified first), zeros up to the new extent, the write
 * on top.
 */
static int block_merge_sum(struct store *st, const struct store_entry *ent,
			   const struct replica_fds *fds,
			   const struct change *c, uint64_t b, uint8_t *tmp,
			   uint32_t *sum)
{
	uint64_t bs = b * BS, ext = min_u64(BS, c->new_len - bs);
	uint64_t old_ext = bs < c->old_len ? min_u64(BS, c->old_len - bs) : 0;
	uint64_t from, to;
	uint32_t old_sum;
	int r;

	if (old_ext > 0) {
		if ((r = read_full(st, STORE_FILE_DATA, fds->data, tmp,
				   old_ext, bs)) != 0 ||
		    (r = meta_read_sums(st, fds->meta, b, 1, &old_sum)) != 0 ||
		    (r = block_verify(ent, b, tmp, old_ext, old_sum)) != 0)
			return r;
	}
	if (ext > old_ext)
		memset(tmp + old_ext, 0, ext - old_ext);
	if (change_overlaps(c, bs, bs + ext)) {
		from = max_u64(c->off, bs);
		to = min_u64(c->off + c->len, bs + ext);
		memcpy(tmp + (from - bs), c->buf + (from - c->off), to - from);
	}
	*sum = checksum_block(tmp, ext);
	return 0;
}

/* New checksums of blocks lo .. hi after change "c" into sums. */
static int change_sums(struct store *st, const struct store_entry *ent,
		       const struct replica_fds *fds, const struct change *c,
		       uint64_t lo, uint64_t hi, uint32_t *sums)
{
	uint64_t b, bs, ext;
	uint8_t *tmp = NULL;
	int r = 0;

	for (b = lo; r == 0 && b <= hi; b++) {
		bs = b * BS;
		ext = min_u64(BS, c->new_len - bs);
		if (c->len > 0 && c->off <= bs && c->off + c->len >= bs + ext) {
			sums[b - lo] = checksum_block(c->buf + (bs - c->off),
						      ext);
		} else if (bs >= c->old_len &&
			   !change_overlaps(c, bs, bs + ext)) {
			sums[b - lo] = checksum_block(zero_block, ext);
		} else {
			if (tmp == NULL)
				tmp = xmalloc(BS);
			r = block_merge_sum(st, ent, fds, c, b, tmp,
					    &sums[b - lo]);
		}
	}
	free(tmp);
	return r;
}

/* Most checksums that go out in one write with the header. */
#define META_HEADER_SUMS_MAX 256

/* The header with "length" and the checksums of the first n blocks, in
 * one write: they are adjacent in the file (sums is clobbered). 0 or
 * -errno. */
static int meta_write_header_sums(struct store *st, int fd,
				  const struct store_entry *ent,
				  uint64_t length, uint32_t *sums, size_t n)
{
	struct replica_meta m = { ent->handle, ent->version, length };
	uint8_t buf[STORE_META_HEADER + META_HEADER_SUMS_MAX * 4];

	replica_meta_encode(buf, &m);
	sums_to_le(sums, n);
	memcpy(buf + STORE_META_HEADER, sums, n * 4);
	return store_write_full(st, STORE_FILE_META, fd, buf,
				STORE_META_HEADER + n * 4, 0);
}

/* Write the metadata of a change: checksums of the n blocks from lo,
 * then the header when the length changed. */
static int change_commit_meta(struct store *st, struct store_entry *ent,
			      const struct replica_fds *fds,
			      const struct change *c, uint64_t lo, size_t n,
			      uint32_t *sums)
{
	int r;

	/* A small file's write: one call instead of two. */
	if (c->new_len != c->old_len && lo == 0 && n <= META_HEADER_SUMS_MAX)
		return meta_write_header_sums(st, fds->meta, ent, c->new_len,
					      sums, n);
	if ((r = meta_write_sums(st, fds->meta, lo, n, sums)) != 0)
		return r;
	if (c->new_len != c->old_len)
		return store_meta_write_header(st, fds->meta, ent->handle,
					       ent->version, c->new_len);
	return 0;
}

/*
 * Early writeback. A replica's data would otherwise wait in the page
 * cache until the client's fsync() or the kernel's dirty limits (10 % of
 * memory): a 1 GiB write at replication 3 then spends seconds with the
 * disk idle and the CPUs busy, and the fsync seconds the other way round.
 * A write that completes a STORE_WRITEBACK_BYTES window of a replica
 * starts the disk on that window and the one before it, which catches
 * requests of the client's that arrived out of order; pages already on
 * their way are skipped.
 */
static void writeback_kick(struct store *st, int fd, uint64_t off,
			   size_t len)
{
	uint64_t end = off + len;
	uint64_t edge = end / STORE_WRITEBACK_BYTES * STORE_WRITEBACK_BYTES;
	uint64_t from;

	if (st->ops->writeback == NULL || edge <= off)
		return;
	from = edge > 2 * STORE_WRITEBACK_BYTES
		       ? edge - 2 * STORE_WRITEBACK_BYTES
		       : 0;
	st->ops->writeback(st->ops_arg, STORE_FILE_DATA, fd, (off_t)from,
			   (off_t)(edge - from));
}

/* Apply a write to an open replica (ent->rw held for writing). */
static int apply_write(struct store *st, struct store_entry *ent,
		       const struct replica_fds *fds, uint64_t off,
		       const void *buf, size_t len)
{
	struct change c = {.old_len = ent->length, .off = off,
			   .buf = buf, .len = len};
	uint64_t end = off + len, lo, hi;
	uint32_t *sums;
	int r;

	if (len == 0)
		return 0;
	c.new_len = max_u64(c.old_len, end);
	lo = (end > c.old_len ? min_u64(off, c.old_len) : off) / BS;
	hi = (end - 1) / BS;
	sums = xmalloc((hi - lo + 1) * 4);
	if ((r = change_sums(st, ent, fds, &c, lo, hi, sums)) != 0)
		goto out;
	if ((r = store_write_full(st, STORE_FILE_DATA, fds->data, buf, len,
				  off)) != 0 ||
	    (r = change_commit_meta(st, ent, fds, &c, lo, hi - lo + 1,
				    sums)) != 0)
		goto out_trim;
	store_entry_set(st, ent, true, ent->version, c.new_len);
	writeback_kick(st, fds->data, off, len);
	r = 0;
	goto out;
out_trim:
	/* keep the data file no longer than the metadata says */
	if (end > c.old_len)
		st->ops->ftruncate(st->ops_arg, STORE_FILE_DATA, fds->data,
				   (off_t)c.old_len);
out:
	free(sums);
	return r;
}

/*
 * Truncate an open replica (ent->rw held for writing). Growing writes the
 * data length first and the metadata last; shrinking the reverse, so a
 * crash in between leaves a data file longer than its metadata says,
 * which the scan at startup trims.
 */
static int apply_truncate(struct store *st, struct store_entry *ent,
			  const struct replica_fds *fds, uint64_t size)
{
	struct change c = {.old_len = ent->length, .new_len = size};
	uint64_t lo = min_u64(size, c.old_len) / BS;
	uint32_t *sums;
	size_t n;
	int r;

	if (size == c.old_len)
		return 0;
	if (size > c.old_len)
		n = (size - 1) / BS - lo + 1;
	else
		n = size % BS != 0; /* only a partial last block changes */
	sums = xmalloc(n * 4 + 4);
	if (n > 0 &&
	    (r = change_sums(st, ent, fds, &c, lo, lo + n - 1, sums)) != 0)
		goto out;
	if (size > c.old_len &&
	    (r = st->ops->ftruncate(st->ops_arg, STORE_FILE_DATA, fds->data,
				    (off_t)size)) != 0)
		goto out;
	if ((r = change_commit_meta(st, ent, fds, &c, lo, n, sums)) != 0)
		goto out;
	if (size < c.old_len &&
	    ((r = st->ops->ftruncate(st->ops_arg, STORE_FILE_DATA, fds->data,
				     (off_t)size)) != 0 ||
	     (r = st->ops->ftruncate(st->ops_arg, STORE_FILE_META, fds->meta,
				     (off_t)(STORE_META_HEADER +
					     nblocks(size) * 4))) != 0))
		goto out;
	store_entry_set(st, ent, true, ent->version, size);
	r = 0;
out:
	free(sums);
	return r;
}

/* What a mutation does once its replica is open for writing. */
struct mutation {
	uint64_t off;             /* write offset, or truncate size */
	const void *buf;          /* write data; NULL for a truncate */
	size_t len;
};

/* Lock, open (creating at "version" if absent) and mutate a replica. */
static int mutate(struct store *st, uint64_t handle, uint64_t version,
		  const struct mutation *m)
{
	struct replica_fds fds = {-1, -1};
	struct store_entry *ent;
	int r;

	ent = store_entry_get(st, handle, true);
	pthread_rwlock_wrlock(&ent->rw);
	if ((r = replica_prepare(st, ent, version, &fds)) == 0)
		r = m->buf != NULL ? apply_write(st, ent, &fds, m->off,
						 m->buf, m->len)
				   : apply_truncate(st, ent, &fds, m->off);
	if (r == -ENOSPC)
		store_avail_forget(st);
	if (r == -EBADMSG)
		quarantine(st, ent);
	else if (r < 0 && r != -ESTALE)
		store_fds_drop(st, ent); /* the next call reopens afresh */
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	return r;
}

int store_write(struct store *st, uint64_t handle, uint64_t version,
		uint64_t off, const void *buf, size_t len)
{
	struct mutation m = {.off = off, .buf = buf ? buf : "", .len = len};
	int r;

	if ((r = check_range(st, handle, version, off, len)) != 0)
		return r;
	if (buf == NULL && len > 0)
		return -EINVAL;
	return mutate(st, handle, version, &m);
}

int store_truncate(struct store *st, uint64_t handle, uint64_t version,
		   uint64_t size)
{
	struct mutation m = {.off = size, .buf = NULL, .len = 0};
	int r;

	if ((r = check_range(st, handle, version, 0, size)) != 0)
		return r;
	return mutate(st, handle, version, &m);
}

/* fsync the folder holding a replica's files. */
int store_sync_dir(struct store *st, uint64_t handle)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/chunks/%02x", st->dir,
		 (unsigned)(handle & 0xff));
	fd = st->ops->open(st->ops_arg, STORE_FILE_DIR, path,
			   O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	r = st->ops->fsync(st->ops_arg, STORE_FILE_DIR, fd);
	st->ops->close(st->ops_arg, STORE_FILE_DIR, fd);
	return r;
}

int store_sync(struct store *st, uint64_t handle, uint64_t version)
{
	struct replica_fds fds = {-1, -1};
	struct store_entry *ent;
	int r;

	if ((ent = store_entry_get(st, handle, false)) == NULL)
		return -ENOENT;
	pthread_rwlock_rdlock(&ent->rw);
	if (!ent->present)
		r = -ENOENT;
	else if (ent->version != version)
		r = -ESTALE;
	else if ((r = store_fds_get(st, ent, &fds)) == 0 &&
		 (r = st->ops->fsync(st->ops_arg, STORE_FILE_DATA,
				     fds.data)) == 0 &&
		 (r = st->ops->fsync(st->ops_arg, STORE_FILE_META,
				     fds.meta)) == 0 &&
		 !atomic_load(&ent->dir_synced) &&
		 (r = store_sync_dir(st, handle)) == 0)
		atomic_store(&ent->dir_synced, true);
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	return r;
}

int store_set_version(struct store *st, uint64_t handle,
		      uint64_t old_version, uint64_t new_version)
{
	struct replica_fds fds = {-1, -1};
	struct store_entry *ent;
	int r;

	if (new_version > STORE_MAX_ID)
		return -EINVAL;
	/* The entry even when absent: its lock orders the floor against a
	 * mutation creating the replica. */
	ent = store_entry_get(st, handle, true);
	pthread_rwlock_wrlock(&ent->rw);
	if (!ent->present) {
		store_floor_raise(st, handle, new_version);
		r = -ENOENT;
	} else if (ent->version != old_version)
		r = -ESTALE;
	else if ((r = store_fds_get(st, ent, &fds)) == 0 &&
		 (r = store_meta_write_header(st, fds.meta, handle, new_version,
					      ent->length)) == 0 &&
		 (r = st->ops->fsync(st->ops_arg, STORE_FILE_META,
				     fds.meta)) == 0)
		store_entry_set(st, ent, true, new_version, ent->length);
	else if (r != -ENOENT && r != -ESTALE)
		store_fds_drop(st, ent);
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	return r;
}

/* Close and remove both files of a replica (ent->rw held for writing).
 * 0 or -errno of the first failure. */
int store_unlink_replica(struct store *st, struct store_entry *ent)
{
	uint64_t handle = ent->handle;
	char path[PATH_MAX];
	int r, err;

	store_fds_drop(st, ent);
	store_avail_forget(st);
	store_replica_path(st, handle, ".meta", path);
	if ((r = file_remove(st, path)) == -ENOENT)
		r = 0;
	store_replica_path(st, handle, "", path);
	if ((err = file_remove(st, path)) != 0 && err != -ENOENT && r == 0)
		r = err;
	return r;
}

int store_delete(struct store *st, uint64_t handle, uint64_t version)
{
	struct store_entry *ent;
	int r;

	if ((ent = store_entry_get(st, handle, false)) == NULL)
		return -ENOENT;
	pthread_rwlock_wrlock(&ent->rw);
	if (!ent->present)
		r = -ENOENT;
	else if (version != 0 && ent->version != version)
		r = -ESTALE;
	else if ((r = store_unlink_replica(st, ent)) == 0)
		store_entry_set(st, ent, false, 0, 0);
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	return r;
}

/*
 * ---------------------------------------------------------------------
 * Locks, versions, the chunk report
 * ---------------------------------------------------------------------
 */

int store_lock(struct store *st, uint64_t handle, int timeout_ms,
	       struct store_lock **lk)
{
	struct store_entry *ent = store_entry_get(st, handle, true);
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_timedlock(&ent->mut, &deadline) != 0) {
		store_entry_put(st, ent);
		return -EAGAIN;
	}
	*lk = xmalloc(sizeof(**lk));
	(*lk)->st = st;
	(*lk)->ent = ent;
	return 0;
}

void store_unlock(struct store_lock *lk)
{
	if (lk == NULL)
		return;
	pthread_mutex_unlock(&lk->ent->mut);
	store_entry_put(lk->st, lk->ent);
	free(lk);
}

int store_check_version(struct store *st, uint64_t handle, uint64_t version)
{
	struct store_entry key = {.handle = handle}, *ent;
	void **node;
	int r = 0;

	pthread_mutex_lock(&st->mu);
	node = tfind(&key, &st->tree, entry_cmp);
	ent = node != NULL ? *node : NULL;
	if (ent != NULL && ent->present)
		r = ent->version != version ? -ESTALE : 0;
	else
		r = store_floor_check_locked(st, handle, version);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int store_stat(struct store *st, uint64_t handle, struct store_replica *out)
{
	struct store_entry key = {.handle = handle}, *ent;
	void **node;
	int r = -ENOENT;

	pthread_mutex_lock(&st->mu);
	node = tfind(&key, &st->tree, entry_cmp);
	ent = node != NULL ? *node : NULL;
	if (ent != NULL && ent->present) {
		out->handle = handle;
		out->version = ent->version;
		out->length = ent->length;
		r = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return r;
}

bool store_has(struct store *st, uint64_t handle)
{
	struct store_entry key = {.handle = handle};
	void **node;
	bool has;

	pthread_mutex_lock(&st->mu);
	node = tfind(&key, &st->tree, entry_cmp);
	has = node != NULL && ((struct store_entry *)*node)->present;
	pthread_mutex_unlock(&st->mu);
	return has;
}

/* Where store_list()'s tree walk puts replicas. */
struct list_ctx {
	struct store_replica *out;
	size_t n;
	size_t cap;
};

static void list_visit(const void *node, VISIT which, void *arg)
{
	const struct store_entry *ent = *(struct store_entry *const *)node;
	struct list_ctx *ctx = arg;

	if ((which != postorder && which != leaf) || !ent->present ||
	    ctx->n == ctx->cap)
		return;
	ctx->out[ctx->n].handle = ent->handle;
	ctx->out[ctx->n].version = ent->version;
	ctx->out[ctx->n].length = ent->length;
	ctx->n++;
}

size_t store_list(struct store *st, struct store_replica **out)
{
	struct list_ctx ctx = {NULL, 0, 0};

	pthread_mutex_lock(&st->mu);
	ctx.cap = st->nreplicas;
	if (ctx.cap > 0) {
		ctx.out = xmalloc(ctx.cap * sizeof(*ctx.out));
		twalk_r(st->tree, list_visit, &ctx);
	}
	pthread_mutex_unlock(&st->mu);
	*out = ctx.out;
	return ctx.n;
}

size_t store_take_changes(struct store *st, uint64_t **out, bool *complete)
{
	size_t n;

	pthread_mutex_lock(&st->mu);
	*out = st->changed;
	n = st->nchanged;
	*complete = !st->changes_lost;
	st->changed = NULL;
	st->nchanged = st->capchanged = 0;
	st->changes_lost = false;
	pthread_mutex_unlock(&st->mu);
	return n;
}

void store_get_usage(struct store *st, struct store_usage *u)
{
	pthread_mutex_lock(&st->mu);
	u->chunks = st->nreplicas;
	u->used = st->used;
	pthread_mutex_unlock(&st->mu);
	u->capacity = u->used + store_avail(st);
}

/*
 * ---------------------------------------------------------------------
 * Chunk size
 * ---------------------------------------------------------------------
 */

uint64_t store_chunk_size(const struct store *st)
{
	return atomic_load(&st->chunk_size);
}

/* Save the chunk size to DIR/chunk_size (temp file, fsync, rename). */
static int chunk_size_save(struct store *st, uint64_t chunk_size)
{
	char tmp[PATH_MAX], path[PATH_MAX], text[32];
	int fd, n, r = 0;

	snprintf(path, sizeof(path), "%s/chunk_size", st->dir);
	snprintf(tmp, sizeof(tmp), "%s/chunk_size.tmp", st->dir);
	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", chunk_size);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, text, (size_t)n) != n || fsync(fd) != 0)
		r = errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r != 0)
		unlink(tmp);
	return r;
}

int store_set_chunk_size(struct store *st, uint64_t chunk_size)
{
	if (chunk_size == 0 || chunk_size > STORE_MAX_CHUNK_SIZE)
		return -EINVAL;
	if (atomic_exchange(&st->chunk_size, chunk_size) == chunk_size)
		return 0;
	return chunk_size_save(st, chunk_size);
}

/* Load DIR/chunk_size if present. */
static void chunk_size_load(struct store *st)
{
	char path[PATH_MAX], text[32] = "", *end;
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/chunk_size", st->dir);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(text, sizeof(text), f) != NULL) {
		errno = 0;
		v = strtoull(text, &end, 10);
		if (errno == 0 && end != text && v > 0 &&
		    v <= STORE_MAX_CHUNK_SIZE)
			atomic_store(&st->chunk_size, v);
		else
			log_warnx("ignoring malformed '%s'", path);
	}
	fclose(f);
}

/*
 * ---------------------------------------------------------------------
 * Startup scan
 * ---------------------------------------------------------------------
 */

/* Parse "HHHHHHHHHHHHHHHH<suffix>" (16 lower-case hex digits). */
static bool parse_name(const char *name, uint64_t *handle,
		       const char **suffix)
{
	uint64_t h = 0;
	int i;
	char c;

	for (i = 0; i < 16; i++) {
		c = name[i];
		if (c >= '0' && c <= '9')
			h = h << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			h = h << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*handle = h;
	*suffix = name + 16;
	return h <= STORE_MAX_ID;
}

/* Check the metadata of a replica; 0 and its version and length, or a
 * negative errno saying why it is unusable. Trims a data file that a
 * crash left longer than the metadata says. */
static int scan_load_meta(struct store *st, uint64_t handle,
			  uint64_t *version, uint64_t *length)
{
	uint8_t hdr[STORE_META_HEADER];
	struct replica_meta m;
	char path[PATH_MAX];
	struct stat sb;
	int fd = -1, r;

	store_replica_path(st, handle, ".meta", path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
		r = -errno;
		goto out;
	}
	if ((r = read_full(st, STORE_FILE_META, fd, hdr, sizeof(hdr), 0)) != 0 ||
	    (r = replica_meta_decode(hdr, &m)) != 0)
		goto out;
	*version = m.version;
	*length = m.length;
	r = -EBADMSG;
	if (m.handle != handle ||
	    (uint64_t)sb.st_size < STORE_META_HEADER + nblocks(*length) * 4)
		goto out;
	store_replica_path(st, handle, "", path);
	if (stat(path, &sb) != 0) {
		r = -errno;
		goto out;
	}
	if ((uint64_t)sb.st_size > *length && truncate(path, (off_t)*length) != 0) {
		r = -errno;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Add the replica whose metadata file is DIR/chunks/XX/<handle>.meta. */
static void scan_replica(struct store *st, uint64_t handle)
{
	struct store_entry *ent;
	uint64_t version = 0, length = 0;
	int r;

	r = scan_load_meta(st, handle, &version, &length);
	if (r != 0) {
		log_warnx("chunk %016llx: unreadable replica (%s), moved to "
			  "'%s/corrupt'",
			  (unsigned long long)handle, strerror(-r), st->dir);
		quarantine_files(st, handle);
		return;
	}
	ent = store_entry_get(st, handle, true);
	pthread_rwlock_wrlock(&ent->rw);
	store_entry_set(st, ent, true, version, length);
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
}

/* Deal with one name found in DIR/chunks/XX. */
static void scan_name(struct store *st, unsigned sub, const char *name)
{
	char path[PATH_MAX];
	const char *suffix;
	uint64_t handle;

	if (name[0] == '.')
		return;
	if (!parse_name(name, &handle, &suffix) || (handle & 0xff) != sub ||
	    (strcmp(suffix, "") != 0 && strcmp(suffix, ".meta") != 0 &&
	     strcmp(suffix, ".meta.tmp") != 0)) {
		log_warnx("ignoring stray file '%s/chunks/%02x/%s'", st->dir,
			  sub, name);
		return;
	}
	if (strcmp(suffix, ".meta") == 0) {
		scan_replica(st, handle);
		return;
	}
	store_replica_path(st, handle, ".meta", path);
	if (strcmp(suffix, "") == 0 && access(path, F_OK) == 0)
		return;
	store_replica_path(st, handle, suffix, path);
	log_info("chunk %016llx: removing '%s' left by an interrupted creation",
		 (unsigned long long)handle, path);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("cannot remove '%s'", path);
}

/* Create DIR/chunks/XX if needed and scan it. 0 or -errno. */
static int scan_subdir(struct store *st, unsigned sub)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/chunks/%02x", st->dir, sub);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		log_warn("cannot create '%s'", path);
		return -errno;
	}
	if ((d = opendir(path)) == NULL) {
		log_warn("cannot open '%s'", path);
		return -errno;
	}
	while ((de = readdir(d)) != NULL)
		scan_name(st, sub, de->d_name);
	closedir(d);
	return 0;
}

/* Remove what an interrupted copy left in DIR/import. */
static void import_cleanup(struct store *st)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/" STORE_IMPORT_DIR, st->dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/" STORE_IMPORT_DIR "/%s",
			 st->dir, de->d_name);
		log_info("removing '%s' left by an interrupted copy", path);
		if (unlink(path) != 0 && errno != ENOENT)
			log_warn("cannot remove '%s'", path);
	}
	closedir(d);
}

/* Create DIR and DIR/chunks and scan every replica. 0 or -errno. */
static int store_scan(struct store *st)
{
	char path[PATH_MAX];
	unsigned sub;
	int r;

	snprintf(path, sizeof(path), "%s/chunks", st->dir);
	if ((mkdir(st->dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST)) {
		log_warn("cannot create '%s'", path);
		return -errno;
	}
	for (sub = 0; sub < 256; sub++)
		if ((r = scan_subdir(st, sub)) != 0)
			return r;
	import_cleanup(st);
	return 0;
}

struct store *store_new(const char *dir, const struct store_io_ops *ops,
			void *ops_arg)
{
	struct store *st = xcalloc(1, sizeof(*st));
	struct store_usage u;

	st->dir = xstrdup(dir);
	st->ops = ops != NULL ? ops : &store_posix_ops;
	st->ops_arg = ops_arg;
	pthread_mutex_init(&st->mu, NULL);
	TAILQ_INIT(&st->lru);
	atomic_init(&st->chunk_size, STORE_DEFAULT_CHUNK_SIZE);
	atomic_init(&st->avail, 0);
	atomic_init(&st->avail_at_ms, INT64_MIN);
	if (strlen(dir) + 64 > PATH_MAX || store_scan(st) != 0) {
		log_errorx("cannot use '%s' as a chunk store", dir);
		store_free(st);
		return NULL;
	}
	store_corrupt_load(st);
	chunk_size_load(st);
	store_spare_start(st);
	store_get_usage(st, &u);
	log_info("store '%s': %" PRIu64 " replicas, %" PRIu64 " bytes, "
		 "chunk size %" PRIu64,
		 dir, u.chunks, u.used, store_chunk_size(st));
	return st;
}

const char *store_dir(const struct store *st)
{
	return st->dir;
}

void store_free(struct store *st)
{
	if (st == NULL)
		return;
	store_spare_stop(st);
	store_fds_release(st);
	store_corrupt_release(st);
	tdestroy(st->tree, entry_destroy_node);
	free(st->changed);
	store_floor_release(st);
	pthread_mutex_destroy(&st->mu);
	free(st->dir);
	free(st);
}
