/*
 * store_import.c - whole replicas copied in from another server (see
 * store.h): written under DIR/import/ with fresh checksums, fsync()ed,
 * then moved into DIR/chunks/XX/ (data first, metadata last, so a crash
 * in between leaves a data file without metadata, which the startup scan
 * removes) and entered in the store under the entry's write lock.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "log.h"
#include "xmalloc.h"
#include "store.h"
#include "store_int.h"

#include "banned.h"

struct store_import {
	struct store *st;          /* borrowed */
	uint64_t handle;
	uint64_t version;
	uint64_t length;           /* bytes expected */
	uint64_t done;             /* bytes written so far */
	int data_fd;               /* DIR/import/HANDLE */
	int meta_fd;               /* DIR/import/HANDLE.meta */
	uint32_t *sums;            /* one per block, host order */
	char data_path[PATH_MAX];
	char meta_path[PATH_MAX];
};

/* 0 unless the store holds "handle" at "version" or a newer one. */
static int check_newer(struct store *st, uint64_t handle, uint64_t version)
{
	struct store_entry *ent;
	int r = 0;

	if ((ent = store_entry_get(st, handle, false)) == NULL)
		return 0;
	pthread_rwlock_rdlock(&ent->rw);
	if (ent->present && ent->version >= version)
		r = -EEXIST;
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	return r;
}

/* Open (truncating) one file of the import. */
static int import_open(struct store_import *imp, enum store_file file,
		       const char *suffix, char *path)
{
	struct store *st = imp->st;

	snprintf(path, PATH_MAX, "%s/" STORE_IMPORT_DIR "/%016llx%s", st->dir,
		 (unsigned long long)imp->handle, suffix);
	return st->ops->open(st->ops_arg, file, path,
			     O_RDWR | O_CREAT | O_TRUNC, 0644);
}

int store_import_begin(struct store *st, uint64_t handle, uint64_t version,
		       uint64_t length, struct store_import **out)
{
	struct store_import *imp = NULL;
	char dir[PATH_MAX];
	int r;

	if (handle > STORE_MAX_ID || version > STORE_MAX_ID ||
	    length > store_chunk_size(st))
		return -EINVAL;
	if ((r = check_newer(st, handle, version)) != 0)
		return r;
	if (store_avail(st) < length)
		return -ENOSPC;
	snprintf(dir, sizeof(dir), "%s/" STORE_IMPORT_DIR, st->dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	imp = xcalloc(1, sizeof(*imp));
	imp->st = st;
	imp->handle = handle;
	imp->version = version;
	imp->length = length;
	imp->meta_fd = -1;
	imp->sums = xcalloc((length + BS - 1) / BS + 1, sizeof(*imp->sums));
	if ((r = imp->data_fd = import_open(imp, STORE_FILE_DATA, "",
					    imp->data_path)) < 0 ||
	    (r = imp->meta_fd = import_open(imp, STORE_FILE_META, ".meta",
					    imp->meta_path)) < 0) {
		store_import_abort(imp);
		return r;
	}
	*out = imp;
	return 0;
}

int store_import_write(struct store_import *imp, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t b, off;
	int r;

	if (len > imp->length - imp->done || imp->done % BS != 0)
		return -EINVAL;
	if ((r = store_write_full(imp->st, STORE_FILE_DATA, imp->data_fd, buf,
				  len, imp->done)) != 0)
		return r;
	for (off = 0; off < len; off += BS) {
		b = (imp->done + off) / BS;
		imp->sums[b] = checksum_block(p + off,
					      len - off < BS ? len - off : BS);
	}
	imp->done += len;
	return 0;
}

/* Write the metadata (header and checksums) and fsync both files. */
static int import_finish_files(struct store_import *imp)
{
	struct store *st = imp->st;
	uint64_t i, n = (imp->length + BS - 1) / BS;
	int r;

	for (i = 0; i < n; i++)
		imp->sums[i] = htole32(imp->sums[i]);
	if ((r = store_meta_write_header(st, imp->meta_fd, imp->handle,
					 imp->version, imp->length)) != 0 ||
	    (n > 0 && (r = store_write_full(st, STORE_FILE_META, imp->meta_fd,
					    imp->sums, n * 4,
					    STORE_META_HEADER)) != 0) ||
	    (r = st->ops->fsync(st->ops_arg, STORE_FILE_DATA,
				imp->data_fd)) != 0 ||
	    (r = st->ops->fsync(st->ops_arg, STORE_FILE_META, imp->meta_fd)) !=
		    0)
		return r;
	return 0;
}

/* Move the files into place and enter the replica (ent->rw held for
 * writing). */
static int import_install(struct store_import *imp, struct store_entry *ent)
{
	struct store *st = imp->st;
	char path[PATH_MAX];
	int r;

	if (ent->present && ent->version >= imp->version)
		return -EEXIST;
	if (ent->present) {
		log_info("chunk %016llx: replacing v%" PRIu64 " by a copy at "
			 "v%" PRIu64,
			 (unsigned long long)imp->handle, ent->version,
			 imp->version);
		if ((r = store_unlink_replica(st, ent)) != 0)
			return r;
		store_entry_set(st, ent, false, 0, 0);
	}
	store_replica_path(st, imp->handle, "", path);
	if (rename(imp->data_path, path) != 0)
		return -errno;
	store_replica_path(st, imp->handle, ".meta", path);
	if (rename(imp->meta_path, path) != 0) {
		r = -errno;
		store_replica_path(st, imp->handle, "", path);
		unlink(path);
		return r;
	}
	store_entry_set(st, ent, true, imp->version, imp->length);
	r = store_sync_dir(st, imp->handle);
	atomic_store(&ent->dir_synced, r == 0);
	return 0;
}

int store_import_commit(struct store_import *imp)
{
	struct store_entry *ent;
	int r;

	if (imp->done != imp->length) {
		r = -EINVAL;
		goto out;
	}
	if ((r = import_finish_files(imp)) != 0)
		goto out;
	ent = store_entry_get(imp->st, imp->handle, true);
	pthread_rwlock_wrlock(&ent->rw);
	r = import_install(imp, ent);
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(imp->st, ent);
out:
	store_import_abort(imp);
	return r;
}

void store_import_abort(struct store_import *imp)
{
	struct store *st;

	if (imp == NULL)
		return;
	st = imp->st;
	if (imp->data_fd >= 0)
		st->ops->close(st->ops_arg, STORE_FILE_DATA, imp->data_fd);
	if (imp->meta_fd >= 0)
		st->ops->close(st->ops_arg, STORE_FILE_META, imp->meta_fd);
	if (imp->data_path[0] != '\0')
		unlink(imp->data_path);
	if (imp->meta_path[0] != '\0')
		unlink(imp->meta_path);
	free(imp->sums);
	free(imp);
}
