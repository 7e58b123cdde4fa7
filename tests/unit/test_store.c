/*
 * test_store.c - unit tests of chunkd/store.c, the replica store, on a
 * temporary folder: round trips at unaligned offsets, holes, truncation,
 * checksum corruption, versions, reopening, I/O faults injected through
 * the store_io_ops seam, and the open files the store keeps (the fd
 * cache: closed before a replica's files go, bounded, reopened right).
 *
 * The store's object is linked into this test (see UNIT_EXTRA_* in the
 * Makefile); it is not part of libdfs.a.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>

#include "../../chunkd/store.h"
#include "../../chunkd/store_int.h"
#include "log.h"

/* Chunk size used by the tests: 16 checksum blocks. */
#define TEST_CHUNK (1024 * 1024)

/* Faults to inject, per file kind; counters of calls seen. */
struct faults {
	int pwrite_err[3];        /* next pwrite on that file fails so */
	int pwrite_short[3];      /* next pwrite writes only half, then fails */
	int fsync_calls[3];
	int pwrite_calls[3];
	int open_calls[3];
	int writeback_calls;      /* ranges recorded below, in call order */
	off_t writeback_off[8];
	off_t writeback_len[8];
};

struct fixture {
	char dir[64];
	struct store *st;
	struct faults faults;
	uint8_t *shadow;          /* expected content of the main test chunk */
	uint64_t shadow_len;
};

static ssize_t fault_pwrite(void *arg, enum store_file file, int fd,
			    const void *buf, size_t len, off_t off)
{
	struct faults *f = arg;
	int err = f->pwrite_err[file];

	f->pwrite_calls[file]++;
	if (f->pwrite_short[file] && len > 1) {
		f->pwrite_short[file] = 0;
		if (f->pwrite_err[file] == 0)
			f->pwrite_err[file] = -EIO;
		return store_posix_ops.pwrite(arg, file, fd, buf, len / 2,
					      off);
	}
	if (err != 0) {
		f->pwrite_err[file] = 0;
		return err;
	}
	return store_posix_ops.pwrite(arg, file, fd, buf, len, off);
}

static int fault_open(void *arg, enum store_file file, const char *path,
		      int flags, mode_t mode)
{
	struct faults *f = arg;

	f->open_calls[file]++;
	return store_posix_ops.open(arg, file, path, flags, mode);
}

static int fault_fsync(void *arg, enum store_file file, int fd)
{
	struct faults *f = arg;

	f->fsync_calls[file]++;
	return store_posix_ops.fsync(arg, file, fd);
}

static void fault_writeback(void *arg, enum store_file file, int fd,
			    off_t off, off_t len)
{
	struct faults *f = arg;

	assert_int_equal(file, STORE_FILE_DATA);
	if (f->writeback_calls < 8) {
		f->writeback_off[f->writeback_calls] = off;
		f->writeback_len[f->writeback_calls] = len;
	}
	f->writeback_calls++;
	store_posix_ops.writeback(arg, file, fd, off, len);
}

static struct store_io_ops fault_ops;

static struct store *open_store(struct fixture *fx)
{
	struct store *st = store_new(fx->dir, &fault_ops, &fx->faults);

	assert_non_null(st);
	assert_int_equal(store_set_chunk_size(st, TEST_CHUNK), 0);
	return st;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fault_ops = store_posix_ops;
	fault_ops.open = fault_open;
	fault_ops.pwrite = fault_pwrite;
	fault_ops.fsync = fault_fsync;
	fault_ops.writeback = fault_writeback;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->st = open_store(fx);
	fx->shadow = calloc(1, TEST_CHUNK);
	*state = fx;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	store_free(fx->st);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx->shadow);
	free(fx);
	return 0;
}

/* Deterministic bytes depending on position and seed. */
static void fill(uint8_t *buf, size_t len, uint64_t off, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)((off + i) * 2654435761u >> 13) ^ (uint8_t)seed;
}

/* Write through the store and into the shadow copy. */
static void shadow_write(struct fixture *fx, uint64_t h, uint64_t off,
			 size_t len, unsigned seed)
{
	uint8_t *buf = calloc(1, len + 1);

	fill(buf, len, off, seed);
	assert_int_equal(store_write(fx->st, h, 1, off, buf, len), 0);
	memcpy(fx->shadow + off, buf, len);
	if (len > 0 && off + len > fx->shadow_len)
		fx->shadow_len = off + len;
	free(buf);
}

static void shadow_truncate(struct fixture *fx, uint64_t h, uint64_t size)
{
	assert_int_equal(store_truncate(fx->st, h, 1, size), 0);
	if (size < fx->shadow_len)
		memset(fx->shadow + size, 0, fx->shadow_len - size);
	fx->shadow_len = size;
}

/* Read [off, off + len) and compare with the shadow copy. */
static void shadow_check(struct fixture *fx, uint64_t h, uint64_t off,
			 size_t len)
{
	uint8_t *buf = malloc(len + 1);

	memset(buf, 0xee, len);
	assert_int_equal(store_read(fx->st, h, 1, off, buf, len), 0);
	assert_memory_equal(buf, fx->shadow + off, len);
	free(buf);
}

/* Length of replica h in the chunk report (-1 if absent), version too. */
static int64_t report_length(struct store *st, uint64_t h, uint64_t *version)
{
	struct store_replica *reps;
	size_t n, i;
	int64_t len = -1;

	n = store_list(st, &reps);
	for (i = 0; i < n; i++)
		if (reps[i].handle == h) {
			len = (int64_t)reps[i].length;
			if (version != NULL)
				*version = reps[i].version;
		}
	free(reps);
	return len;
}

static void file_path(struct fixture *fx, uint64_t h, const char *suffix,
		      char *path)
{
	snprintf(path, PATH_MAX, "%s/chunks/%02x/%016llx%s", fx->dir,
		 (unsigned)(h & 0xff), (unsigned long long)h, suffix);
}

/* Whole content of a file into a new buffer; *len its size. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	int fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static void flip_byte(const char *path, off_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_roundtrip_unaligned(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	struct stat sb;

	shadow_write(fx, 0x1234ab, 12345, 200000, 1);
	shadow_check(fx, 0x1234ab, 12345, 200000);
	shadow_check(fx, 0x1234ab, 0, 300000);
	shadow_check(fx, 0x1234ab, 65536, 65536);
	shadow_check(fx, 0x1234ab, 65535, 2);
	shadow_write(fx, 0x1234ab, 70000, 1000, 2);
	shadow_write(fx, 0x1234ab, 130000, 70000, 3);
	shadow_write(fx, 0x1234ab, 0, 1, 4);
	shadow_check(fx, 0x1234ab, 0, 400000);
	shadow_check(fx, 0x1234ab, 69999, 1002);
	assert_int_equal(report_length(fx->st, 0x1234ab, NULL), 212345);
	file_path(fx, 0x1234ab, "", path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 212345);
	assert_int_equal(store_verify(fx->st, 0x1234ab), 0);
}

static void test_zeros_past_end(void **state)
{
	struct fixture *fx = *state;

	shadow_write(fx, 7, 0, 10, 1);
	shadow_check(fx, 7, 0, 200000);
	shadow_check(fx, 7, 500000, 1000);
	shadow_check(fx, 7, 5, 10);
	shadow_check(fx, 7, TEST_CHUNK - 1, 1);
	shadow_check(fx, 7, 0, 0);
}

static void test_sparse(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf;
	size_t len;
	char path[PATH_MAX];

	shadow_write(fx, 9, 700000, 5000, 1);
	assert_int_equal(report_length(fx->st, 9, NULL), 705000);
	shadow_check(fx, 9, 0, 705000);
	shadow_write(fx, 9, 10, 5, 2);
	shadow_write(fx, 9, 65530, 12, 3);
	shadow_check(fx, 9, 0, TEST_CHUNK);
	/* a gap extension from a partial block keeps old bytes covered */
	shadow_write(fx, 10, 0, 100, 4);
	memset(fx->shadow + 100, 0, 705000);
	fx->shadow_len = 100;
	shadow_write(fx, 10, 400000, 100, 5);
	shadow_check(fx, 10, 0, 500000);
	file_path(fx, 9, ".meta", path);
	buf = slurp(path, &len);
	assert_int_equal(len, STORE_META_HEADER + 11 * 4);
	free(buf);
}

static void test_truncate(void **state)
{
	struct fixture *fx = *state;

	shadow_write(fx, 11, 0, 300000, 1);
	shadow_truncate(fx, 11, 100000);
	assert_int_equal(report_length(fx->st, 11, NULL), 100000);
	shadow_check(fx, 11, 0, 300000);
	shadow_truncate(fx, 11, 500000);
	shadow_check(fx, 11, 0, 600000);
	shadow_write(fx, 11, 400000, 1000, 2);
	shadow_check(fx, 11, 0, 600000);
	shadow_truncate(fx, 11, 131072);
	shadow_check(fx, 11, 0, 600000);
	shadow_truncate(fx, 11, 131073);
	shadow_check(fx, 11, 131000, 1000);
	shadow_truncate(fx, 11, 0);
	assert_int_equal(report_length(fx->st, 11, NULL), 0);
	shadow_check(fx, 11, 0, 200000);
	shadow_truncate(fx, 11, TEST_CHUNK);
	shadow_check(fx, 11, 0, TEST_CHUNK);
	assert_int_equal(store_truncate(fx->st, 11, 1, TEST_CHUNK + 1),
			 -EINVAL);
	/* truncate creates an absent replica */
	assert_int_equal(store_truncate(fx->st, 12, 3, 70000), 0);
	assert_int_equal(report_length(fx->st, 12, NULL), 70000);
	assert_int_equal(store_verify(fx->st, 11), 0);
	assert_int_equal(store_verify(fx->st, 12), 0);
}

static void test_corruption(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], qpath[PATH_MAX];
	uint8_t buf[100];

	shadow_write(fx, 13, 0, 200000, 1);
	file_path(fx, 13, "", path);
	flip_byte(path, 70000);
	/* block 0 is intact */
	shadow_check(fx, 13, 0, 1000);
	assert_int_equal(store_read(fx->st, 13, 1, 69990, buf, sizeof(buf)),
			 -EBADMSG);
	/* the replica was taken out of service */
	assert_false(store_has(fx->st, 13));
	assert_int_equal(report_length(fx->st, 13, NULL), -1);
	assert_int_equal(store_read(fx->st, 13, 1, 0, buf, sizeof(buf)),
			 -ENOENT);
	snprintf(qpath, sizeof(qpath), "%s/corrupt/%016llx", fx->dir, 13ULL);
	assert_int_equal(access(qpath, F_OK), 0);
	assert_int_equal(access(path, F_OK), -1);

	/* a partial overwrite of a corrupt block fails, never launders it */
	shadow_write(fx, 14, 0, 200000, 2);
	file_path(fx, 14, "", path);
	flip_byte(path, 140000);
	assert_int_equal(store_write(fx->st, 14, 1, 140001, buf, 10),
			 -EBADMSG);
	assert_false(store_has(fx->st, 14));

	/* the scrubber's check finds corruption too */
	shadow_write(fx, 15, 0, 200000, 3);
	file_path(fx, 15, "", path);
	flip_byte(path, 199999);
	assert_int_equal(store_verify(fx->st, 15), -EBADMSG);
	assert_false(store_has(fx->st, 15));

	/* corrupt metadata (a checksum) is caught the same way */
	shadow_write(fx, 16, 0, 1000, 4);
	file_path(fx, 16, ".meta", path);
	flip_byte(path, STORE_META_HEADER + 1);
	assert_int_equal(store_read(fx->st, 16, 1, 0, buf, sizeof(buf)),
			 -EBADMSG);
}

static void test_versions(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = "0123456789abcdef";
	uint64_t v = 0;

	assert_int_equal(store_write(fx->st, 20, 5, 0, buf, 16), 0);
	assert_int_equal(store_check_version(fx->st, 20, 5), 0);
	assert_int_equal(store_check_version(fx->st, 20, 4), -ESTALE);
	assert_int_equal(store_check_version(fx->st, 21, 4), 0);
	assert_int_equal(store_read(fx->st, 20, 4, 0, buf, 16), -ESTALE);
	assert_int_equal(store_read(fx->st, 20, 6, 0, buf, 16), -ESTALE);
	assert_int_equal(store_write(fx->st, 20, 6, 0, buf, 16), -ESTALE);
	assert_int_equal(store_truncate(fx->st, 20, 4, 0), -ESTALE);
	assert_int_equal(store_sync(fx->st, 20, 4), -ESTALE);
	assert_int_equal(store_read(fx->st, 21, 5, 0, buf, 16), -ENOENT);
	assert_int_equal(store_sync(fx->st, 21, 5), -ENOENT);
	assert_int_equal(store_set_version(fx->st, 20, 4, 6), -ESTALE);
	assert_int_equal(store_set_version(fx->st, 20, 5, 6), 0);
	assert_int_equal(store_read(fx->st, 20, 5, 0, buf, 16), -ESTALE);
	assert_int_equal(store_read(fx->st, 20, 6, 0, buf, 16), 0);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	assert_int_equal(report_length(fx->st, 20, &v), 16);
	assert_int_equal(v, 6);
	assert_int_equal(store_delete(fx->st, 20, 5), -ESTALE);
	assert_int_equal(store_delete(fx->st, 20, 6), 0);
	assert_int_equal(store_delete(fx->st, 20, 6), -ENOENT);
	assert_int_equal(report_length(fx->st, 20, NULL), -1);
}

/* A version change asked of an absent replica is a floor: the replica
 * cannot then be created at an older version (a writer whose lease was
 * revoked), only at that version or a newer one. */
static void test_version_floor(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = "0123456789abcdef";
	uint64_t h;

	assert_int_equal(store_set_version(fx->st, 30, 1, 2), -ENOENT);
	assert_int_equal(store_check_version(fx->st, 30, 1), -ESTALE);
	assert_int_equal(store_check_version(fx->st, 30, 2), 0);
	assert_int_equal(store_write(fx->st, 30, 1, 0, buf, 16), -ESTALE);
	assert_int_equal(store_truncate(fx->st, 30, 1, 16), -ESTALE);
	assert_int_equal(report_length(fx->st, 30, NULL), -1);
	/* The higher of two floors holds. */
	assert_int_equal(store_set_version(fx->st, 30, 2, 3), -ENOENT);
	assert_int_equal(store_set_version(fx->st, 30, 1, 2), -ENOENT);
	assert_int_equal(store_write(fx->st, 30, 2, 0, buf, 16), -ESTALE);
	assert_int_equal(store_write(fx->st, 30, 3, 0, buf, 16), 0);
	assert_int_equal(store_read(fx->st, 30, 3, 0, buf, 16), 0);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	/* Other chunks are not affected. */
	assert_int_equal(store_write(fx->st, 31, 1, 0, buf, 16), 0);
	/* A bounded table: the oldest floor goes first. */
	for (h = 1000; h <= 1000 + STORE_FLOORS_MAX; h++)
		assert_int_equal(store_set_version(fx->st, h, 1, 2), -ENOENT);
	assert_int_equal(store_check_version(fx->st, 1000, 1), 0);
	assert_int_equal(store_check_version(fx->st, 1001, 1), -ESTALE);
	assert_int_equal(store_check_version(fx->st, 1000 + STORE_FLOORS_MAX,
					     1),
			 -ESTALE);
}

/* Sorted, unique copy of store_take_changes()' handles into v; count. */
static size_t take_changes(struct store *st, uint64_t *v, size_t max,
			   bool *complete)
{
	uint64_t *h;
	size_t n, i, j, out = 0;

	n = store_take_changes(st, &h, complete);
	for (i = 0; i < n; i++) {
		for (j = 0; j < out && v[j] != h[i]; j++)
			;
		if (j == out) {
			assert_true(out < max);
			v[out++] = h[i];
		}
	}
	free(h);
	for (i = 1; i < out; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return out;
}

/* The changes a report of changes carries: a replica that appears, gets
 * a new version or goes; more data in a replica is no change. */
static void test_changes(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = "0123456789abcdef";
	uint64_t v[8];
	bool complete;

	assert_int_equal(store_write(fx->st, 50, 1, 0, buf, 16), 0);
	assert_int_equal(store_write(fx->st, 51, 1, 0, buf, 16), 0);
	assert_int_equal(take_changes(fx->st, v, 8, &complete), 2);
	assert_true(complete);
	assert_int_equal(v[0], 50);
	assert_int_equal(v[1], 51);
	/* Taken: nothing until the next change. */
	assert_int_equal(take_changes(fx->st, v, 8, &complete), 0);
	assert_int_equal(store_write(fx->st, 50, 1, 16, buf, 16), 0);
	assert_int_equal(store_truncate(fx->st, 51, 1, 4), 0);
	assert_int_equal(take_changes(fx->st, v, 8, &complete), 0);
	assert_int_equal(store_set_version(fx->st, 50, 1, 2), 0);
	assert_int_equal(store_delete(fx->st, 51, 1), 0);
	assert_int_equal(store_set_version(fx->st, 52, 1, 2), -ENOENT);
	assert_int_equal(take_changes(fx->st, v, 8, &complete), 2);
	assert_int_equal(v[0], 50);
	assert_int_equal(v[1], 51);
}

/* store_open_readonly() hands out the current files of a present
 * replica at its version only; they read what store_write() wrote. */
static void test_open_readonly(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = "0123456789abcdef", got[16];
	uint8_t hdr[STORE_META_HEADER];
	struct replica_meta m;
	int data, meta;

	assert_int_equal(store_write(fx->st, 30, 7, 0, buf, 16), 0);
	assert_int_equal(store_open_readonly(fx->st, 31, 7, &data, &meta),
			 -ENOENT);
	assert_int_equal(store_open_readonly(fx->st, 30, 6, &data, &meta),
			 -ESTALE);
	assert_true(data == -1 && meta == -1);
	assert_int_equal(store_open_readonly(fx->st, 30, 7, &data, &meta), 0);
	assert_int_equal(pread(data, got, 16, 0), 16);
	assert_memory_equal(got, buf, 16);
	assert_int_equal(pread(meta, hdr, sizeof(hdr), 0), sizeof(hdr));
	assert_int_equal(replica_meta_decode(hdr, &m), 0);
	assert_true(m.handle == 30 && m.version == 7 && m.length == 16);
	assert_int_equal(write(data, "x", 1), -1);
	close(data);
	close(meta);
	assert_int_equal(store_delete(fx->st, 30, 7), 0);
	assert_int_equal(store_open_readonly(fx->st, 30, 7, &data, &meta),
			 -ENOENT);
}

/* A replica set aside as corrupt is never recreated by a write or a
 * truncate (it would hold only that write); a new version is durable;
 * store_stat() tells version and length. */
static void test_set_aside_and_stat(void **state)
{
	struct fixture *fx = *state;
	struct store_replica rep;
	char path[PATH_MAX];
	uint8_t buf[64] = { 1 };
	int fsyncs;

	shadow_write(fx, 22, 0, 100000, 5);
	assert_int_equal(store_stat(fx->st, 22, &rep), 0);
	assert_int_equal(rep.version, 1);
	assert_int_equal(rep.length, 100000);
	file_path(fx, 22, "", path);
	flip_byte(path, 10);
	assert_int_equal(store_verify(fx->st, 22), -EBADMSG);
	assert_int_equal(store_stat(fx->st, 22, &rep), -ENOENT);
	assert_int_equal(store_write(fx->st, 22, 1, 0, buf, sizeof(buf)),
			 -EBADMSG);
	assert_int_equal(store_truncate(fx->st, 22, 1, 10), -EBADMSG);
	assert_false(store_has(fx->st, 22));
	/* Other handles are created as before. */
	assert_int_equal(store_write(fx->st, 23, 1, 0, buf, sizeof(buf)), 0);
	fsyncs = fx->faults.fsync_calls[STORE_FILE_META];
	assert_int_equal(store_set_version(fx->st, 23, 1, 2), 0);
	assert_true(fx->faults.fsync_calls[STORE_FILE_META] > fsyncs);
	assert_int_equal(store_stat(fx->st, 23, &rep), 0);
	assert_int_equal(rep.version, 2);
	assert_int_equal(rep.length, sizeof(buf));
}

static void test_bounds(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = {0};
	char path[PATH_MAX];

	assert_int_equal(store_write(fx->st, 30, 1, TEST_CHUNK - 8, buf, 16),
			 -EINVAL);
	assert_int_equal(store_write(fx->st, 30, 1, UINT64_MAX - 4, buf, 16),
			 -EINVAL);
	assert_int_equal(store_read(fx->st, 30, 1, TEST_CHUNK, buf, 1),
			 -EINVAL);
	assert_int_equal(store_write(fx->st, 1ULL << 63, 1, 0, buf, 16),
			 -EINVAL);
	assert_int_equal(store_write(fx->st, 30, 1ULL << 63, 0, buf, 16),
			 -EINVAL);
	assert_int_equal(store_write(fx->st, 30, 1, TEST_CHUNK - 16, buf, 16),
			 0);
	assert_int_equal(store_write(fx->st, 0xab, 1, 0, buf, 0), 0);
	file_path(fx, 0xab, "", path);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(report_length(fx->st, 0xab, NULL), 0);
	assert_int_equal(store_set_chunk_size(fx->st, 0), -EINVAL);
}

static void test_reopen(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	uint64_t v = 0;
	int fd;

	assert_int_equal(store_write(fx->st, 40, 3, 1000, "abc", 3), 0);
	shadow_write(fx, 41, 5000, 100000, 1);
	assert_int_equal(store_write(fx->st, 42, 9, 0, "xyz", 3), 0);
	assert_int_equal(store_set_chunk_size(fx->st, 2 * TEST_CHUNK), 0);
	store_free(fx->st);

	/* garbage metadata, data without metadata, a leftover temp file */
	file_path(fx, 42, ".meta", path);
	flip_byte(path, 17);
	file_path(fx, 43, "", path);
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);
	file_path(fx, 44, ".meta.tmp", path);
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);

	fx->st = store_new(fx->dir, &fault_ops, &fx->faults);
	assert_non_null(fx->st);
	assert_int_equal(store_chunk_size(fx->st), 2 * TEST_CHUNK);
	assert_int_equal(report_length(fx->st, 40, &v), 1003);
	assert_int_equal(v, 3);
	assert_int_equal(report_length(fx->st, 41, &v), 105000);
	assert_int_equal(v, 1);
	assert_int_equal(report_length(fx->st, 42, NULL), -1);
	assert_int_equal(report_length(fx->st, 43, NULL), -1);
	file_path(fx, 43, "", path);
	assert_int_equal(access(path, F_OK), -1);
	file_path(fx, 44, ".meta.tmp", path);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/corrupt/%016llx.meta", fx->dir, 42ULL);
	assert_int_equal(access(path, F_OK), 0);
	shadow_check(fx, 41, 0, 200000);
}

static void test_reopen_trims_data(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	struct stat sb;
	int fd;

	shadow_write(fx, 45, 0, 1000, 1);
	store_free(fx->st);
	/* as if a crash hit between the data and the metadata write */
	file_path(fx, 45, "", path);
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "junk", 4, 5000), 4);
	close(fd);
	fx->st = open_store(fx);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 1000);
	shadow_write(fx, 45, 8000, 10, 2);
	shadow_check(fx, 45, 0, 10000);
}

static void test_fault_data_write(void **state)
{
	struct fixture *fx = *state;
	char mpath[PATH_MAX], dpath[PATH_MAX];
	uint8_t *before, *after, buf[70000];
	size_t blen, alen;
	struct stat sb;

	shadow_write(fx, 50, 0, 100000, 1);
	file_path(fx, 50, ".meta", mpath);
	file_path(fx, 50, "", dpath);
	before = slurp(mpath, &blen);

	/* overwrite and extend, failing at once */
	fill(buf, sizeof(buf), 0, 9);
	fx->faults.pwrite_err[STORE_FILE_DATA] = -EIO;
	assert_int_equal(store_write(fx->st, 50, 1, 50000, buf, sizeof(buf)),
			 -EIO);
	after = slurp(mpath, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(after);
	assert_int_equal(report_length(fx->st, 50, NULL), 100000);
	assert_int_equal(stat(dpath, &sb), 0);
	assert_int_equal(sb.st_size, 100000);
	shadow_check(fx, 50, 0, 200000);

	/* ENOSPC half way through an extension: length unchanged */
	fx->faults.pwrite_short[STORE_FILE_DATA] = 1;
	fx->faults.pwrite_err[STORE_FILE_DATA] = -ENOSPC;
	assert_int_equal(store_write(fx->st, 50, 1, 150000, buf, sizeof(buf)),
			 -ENOSPC);
	after = slurp(mpath, &alen);
	assert_memory_equal(after, before, blen);
	free(after);
	assert_int_equal(stat(dpath, &sb), 0);
	assert_int_equal(sb.st_size, 100000);
	shadow_check(fx, 50, 0, 300000);
	free(before);

	/* a failed creation leaves nothing behind but an empty replica */
	fx->faults.pwrite_err[STORE_FILE_DATA] = -EIO;
	assert_int_equal(store_write(fx->st, 51, 1, 0, buf, 100), -EIO);
	assert_int_equal(report_length(fx->st, 51, NULL), 0);
	assert_int_equal(store_verify(fx->st, 51), 0);
}

static void test_fault_meta_write(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[100] = {1};

	shadow_write(fx, 52, 0, 1000, 1);
	fx->faults.pwrite_err[STORE_FILE_META] = -EIO;
	assert_int_equal(store_write(fx->st, 52, 1, 2000, buf, sizeof(buf)),
			 -EIO);
	assert_int_equal(report_length(fx->st, 52, NULL), 1000);
	/* the failed creation of a new replica's metadata */
	fx->faults.pwrite_err[STORE_FILE_META] = -EIO;
	assert_int_equal(store_write(fx->st, 53, 1, 0, buf, sizeof(buf)),
			 -EIO);
	assert_false(store_has(fx->st, 53));
}

static void test_sync(void **state)
{
	struct fixture *fx = *state;

	shadow_write(fx, 60, 0, 1000, 1);
	assert_int_equal(store_sync(fx->st, 60, 1), 0);
	assert_int_equal(fx->faults.fsync_calls[STORE_FILE_DATA], 1);
	assert_int_equal(fx->faults.fsync_calls[STORE_FILE_META], 1);
	assert_int_equal(fx->faults.fsync_calls[STORE_FILE_DIR], 1);
	assert_int_equal(store_sync(fx->st, 60, 1), 0);
	assert_int_equal(fx->faults.fsync_calls[STORE_FILE_DATA], 2);
	assert_int_equal(fx->faults.fsync_calls[STORE_FILE_DIR], 1);
}

static void test_usage_and_lock(void **state)
{
	struct fixture *fx = *state;
	struct store_lock *lk = NULL, *lk2 = NULL;
	struct store_usage u;

	shadow_write(fx, 70, 0, 1000, 1);
	assert_int_equal(store_write(fx->st, 71, 1, 0, "x", 1), 0);
	store_get_usage(fx->st, &u);
	assert_int_equal(u.chunks, 2);
	assert_int_equal(u.used, 1001);
	assert_true(u.capacity > u.used);
	assert_int_equal(store_lock(fx->st, 70, 100, &lk), 0);
	assert_int_equal(store_lock(fx->st, 71, 100, &lk2), 0);
	store_unlock(lk2);
	/* the holder may mutate; a second locker times out */
	shadow_write(fx, 70, 10, 10, 2);
	assert_int_equal(store_lock(fx->st, 70, 50, &lk2), -EAGAIN);
	store_unlock(lk);
	assert_int_equal(store_lock(fx->st, 999, 50, &lk), 0);
	store_unlock(lk);
	assert_false(store_has(fx->st, 999));
}

/* Random writes, truncates and reads against the shadow copy. */
static void test_random_ops(void **state)
{
	struct fixture *fx = *state;
	unsigned seed = 12345, i;
	uint64_t off, len;

	assert_int_equal(store_write(fx->st, 80, 1, 0, "", 0), 0);
	for (i = 0; i < 2000; i++) {
		off = (uint64_t)rand_r(&seed) % TEST_CHUNK;
		len = (uint64_t)rand_r(&seed) % (rand_r(&seed) % 4 ? 3000 : 300000);
		if (len > TEST_CHUNK - off)
			len = TEST_CHUNK - off;
		switch (rand_r(&seed) % 8) {
		case 0:
			shadow_truncate(fx, 80, off);
			break;
		case 1:
		case 2:
		case 3:
			shadow_check(fx, 80, off, len);
			break;
		default:
			shadow_write(fx, 80, off, len, i);
		}
	}
	shadow_check(fx, 80, 0, TEST_CHUNK);
	assert_int_equal(store_verify(fx->st, 80), 0);
}

/* Concurrent readers and lock-holding writers on one replica. */
struct worker {
	struct store *st;
	int id;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[20000], got[20000];
	struct store_lock *lk;
	int i;

	for (i = 0; i < 200; i++) {
		fill(buf, sizeof(buf), (uint64_t)w->id, (unsigned)i);
		if (store_lock(w->st, 90, 10000, &lk) != 0)
			return (void *)(intptr_t)1;
		if (store_write(w->st, 90, 1, (uint64_t)w->id * 100000 + 7,
				buf, sizeof(buf)) != 0)
			return (void *)(intptr_t)2;
		store_unlock(lk);
		if (store_read(w->st, 90, 1, (uint64_t)w->id * 100000 + 7, got,
			       sizeof(got)) != 0)
			return (void *)(intptr_t)3;
		if (memcmp(buf, got, sizeof(buf)) != 0)
			return (void *)(intptr_t)4;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *fx = *state;
	struct worker w[4];
	pthread_t t[4];
	void *res;
	int i;

	for (i = 0; i < 4; i++) {
		w[i].st = fx->st;
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]),
				 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
	assert_int_equal(store_verify(fx->st, 90), 0);
}

/* Open descriptors of this process whose target does (spare) or does
 * not (!spare) name a file in a spare folder. */
static int count_fds_of(bool spare)
{
	DIR *d = opendir("/proc/self/fd");
	char link[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	ssize_t len;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		/* A descriptor closed since readdir() saw it is the spare
		 * filler's: the store closes none of its own meanwhile. */
		if ((len = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[len] = '\0';
		if ((strstr(target, "/spare/") != NULL) == spare)
			n++;
	}
	closedir(d);
	return spare ? n : n - 1; /* the one opendir() holds */
}

/* Open file descriptors of this process, but for the spare files that
 * the store's filler thread makes and keeps open. */
static int count_fds(void)
{
	return count_fds_of(false);
}

/* Inode numbers of the files in DIR/spare (at most max) into inos, all
 * of which must be empty; their count. */
static size_t spare_inodes(struct fixture *fx, ino_t *inos, size_t max)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/spare", fx->dir);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/spare/%s", fx->dir,
			 de->d_name);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_size, 0);
		inos[n++] = sb.st_ino;
	}
	closedir(d);
	return n;
}

static bool has_inode(const ino_t *inos, size_t n, ino_t ino)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (inos[i] == ino)
			return true;
	return false;
}

/* Wait (at most 20 s) until the filler thread has made its first batch
 * and gone idle; the number of spare files. */
static size_t spare_settle(struct fixture *fx, ino_t *inos, size_t max)
{
	size_t n = 0, last = (size_t)-1;
	int i;

	for (i = 0; i < 400; i++) {
		n = spare_inodes(fx, inos, max);
		if (n == last && n >= 1024)
			break;
		last = n;
		usleep(50 * 1000);
	}
	assert_true(n >= 1024);
	return n;
}

/* Opens of data and metadata files seen by the backend so far. */
static int replica_opens(const struct fixture *fx)
{
	return fx->faults.open_calls[STORE_FILE_DATA] +
	       fx->faults.open_calls[STORE_FILE_META];
}

/* Once the filler has opened its spare files, a new replica opens no
 * file; later writes, a sync and reads reuse its descriptors. */
static void test_fd_cache_reuse(void **state)
{
	struct fixture *fx = *state;
	ino_t *inos = calloc(4096, sizeof(*inos));
	int opens;

	spare_settle(fx, inos, 4096);
	opens = replica_opens(fx);
	shadow_write(fx, 100, 0, 4096, 1);
	assert_int_equal(replica_opens(fx) - opens, 0);
	shadow_write(fx, 100, 4096, 5000, 2);
	assert_int_equal(store_sync(fx->st, 100, 1), 0);
	shadow_check(fx, 100, 0, 9096);
	assert_int_equal(store_verify(fx->st, 100), 0);
	assert_int_equal(store_set_version(fx->st, 100, 1, 2), 0);
	assert_int_equal(replica_opens(fx) - opens, 0);
	free(inos);
}

/* Pages of [off, off + len) of a file that are in the page cache. */
static size_t cached_pages(const char *path, size_t off, size_t len)
{
	size_t page = 4096, n = 0;
	unsigned char *vec = calloc(len / page + 1, 1);
	int fd = open(path, O_RDONLY);
	uint8_t *m;

	assert_true(fd >= 0);
	m = mmap(NULL, off + len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m + off, len, vec), 0);
	for (size_t i = 0; i < len / page; i++)
		n += vec[i] & 1;
	munmap(m, off + len);
	close(fd);
	free(vec);
	return n;
}

/*
 * A large write from a page-aligned buffer at an aligned offset goes
 * around the page cache (O_DIRECT): none of its pages are cached after
 * it, even over pages a read had cached; an unaligned buffer's write goes
 * through the cache. Every read sees the bytes last written.
 */
static void test_direct_write(void **state)
{
	struct fixture *fx = *state;
	size_t len = TEST_CHUNK / 2, pages = len / 4096;
	uint8_t *buf = NULL, *got = malloc(len);
	char path[PATH_MAX];

	assert_int_equal(posix_memalign((void **)&buf, 4096, len + 4096), 0);
	file_path(fx, 120, "", path);
	fill(buf, len, 0, 1);
	assert_int_equal(store_write(fx->st, 120, 1, 0, buf, len), 0);
	assert_int_equal(cached_pages(path, 0, len), 0);
	assert_int_equal(store_read(fx->st, 120, 1, 0, got, len), 0);
	assert_memory_equal(got, buf, len);
	assert_int_equal(cached_pages(path, 0, len), pages);

	fill(buf, len, 0, 2);
	assert_int_equal(store_write(fx->st, 120, 1, 0, buf, len), 0);
	assert_int_equal(cached_pages(path, 0, len), 0);
	assert_int_equal(store_read(fx->st, 120, 1, 0, got, len), 0);
	assert_memory_equal(got, buf, len);

	fill(buf + 1, len, len, 3);
	assert_int_equal(store_write(fx->st, 120, 1, len, buf + 1, len), 0);
	assert_int_equal(cached_pages(path, len, len), pages);
	assert_int_equal(store_read(fx->st, 120, 1, len, got, len), 0);
	assert_memory_equal(got, buf + 1, len);
	assert_int_equal(store_verify(fx->st, 120), 0);
	free(buf);
	free(got);
}

/* Deleting a replica closes its files; one written again under the same
 * handle reads its own bytes, not the old file's. */
static void test_fd_cache_delete_recreate(void **state)
{
	struct fixture *fx = *state;
	uint8_t a[3000], b[1000], got[3000];
	int base = count_fds();

	fill(a, sizeof(a), 0, 1);
	fill(b, sizeof(b), 0, 2);
	assert_int_equal(store_write(fx->st, 101, 1, 0, a, sizeof(a)), 0);
	assert_int_equal(store_read(fx->st, 101, 1, 0, got, sizeof(a)), 0);
	assert_int_equal(count_fds(), base + 2);
	assert_int_equal(store_delete(fx->st, 101, 1), 0);
	assert_int_equal(count_fds(), base);
	assert_int_equal(store_write(fx->st, 101, 4, 0, b, sizeof(b)), 0);
	assert_int_equal(store_read(fx->st, 101, 4, 0, got, sizeof(got)), 0);
	assert_memory_equal(got, b, sizeof(b));
	memset(a, 0, sizeof(a));
	assert_memory_equal(got + sizeof(b), a, sizeof(got) - sizeof(b));
	assert_int_equal(report_length(fx->st, 101, NULL), sizeof(b));
}

/* Quarantine closes the files; the set-aside state survives a restart
 * and ends with the master's drop, after which a write recreates the
 * replica. */
static void test_fd_cache_quarantine(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[100] = {7}, got[100];
	char path[PATH_MAX];
	uint64_t *v = NULL;
	int base = count_fds();

	shadow_write(fx, 102, 0, 100000, 3);
	assert_int_equal(count_fds(), base + 2);
	file_path(fx, 102, "", path);
	flip_byte(path, 5);
	assert_int_equal(store_read(fx->st, 102, 1, 0, got, sizeof(got)),
			 -EBADMSG);
	assert_int_equal(count_fds(), base);
	assert_int_equal(store_corrupt_list(fx->st, &v), 1);
	assert_int_equal(v[0], 102);
	free(v);

	store_free(fx->st);
	fx->st = open_store(fx);
	assert_int_equal(store_write(fx->st, 102, 1, 0, buf, sizeof(buf)),
			 -EBADMSG);
	assert_int_equal(store_corrupt_list(fx->st, &v), 1);
	free(v);
	assert_int_equal(store_corrupt_drop(fx->st, 102), 0);
	assert_int_equal(store_corrupt_list(fx->st, &v), 0);
	assert_null(v);
	assert_int_equal(store_corrupt_drop(fx->st, 102), -ENOENT);
	assert_int_equal(store_write(fx->st, 102, 1, 0, buf, sizeof(buf)), 0);
	assert_int_equal(store_read(fx->st, 102, 1, 0, got, sizeof(got)), 0);
	assert_memory_equal(got, buf, sizeof(buf));
}

/* An import replacing a replica whose files are open installs the new
 * files, and reads see them. */
static void test_fd_cache_import_replace(void **state)
{
	struct fixture *fx = *state;
	uint8_t a[5000], b[7000], got[7000];
	struct store_import *imp = NULL;
	int base = count_fds();

	fill(a, sizeof(a), 0, 4);
	fill(b, sizeof(b), 0, 5);
	assert_int_equal(store_write(fx->st, 103, 1, 0, a, sizeof(a)), 0);
	assert_int_equal(count_fds(), base + 2);
	assert_int_equal(store_import_begin(fx->st, 103, 2, sizeof(b), &imp),
			 0);
	assert_int_equal(store_import_write(imp, b, sizeof(b)), 0);
	assert_int_equal(store_import_commit(imp), 0);
	assert_int_equal(count_fds(), base);
	assert_int_equal(store_read(fx->st, 103, 2, 0, got, sizeof(got)), 0);
	assert_memory_equal(got, b, sizeof(b));
	assert_int_equal(store_verify(fx->st, 103), 0);
}

/* The cache stays bounded; replicas whose files were closed to make
 * room read right when opened again. */
static void test_fd_cache_bounded(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[64], got[64];
	int base = count_fds();
	uint64_t h;

	for (h = 200; h < 400; h++) {
		fill(buf, sizeof(buf), h, (unsigned)h);
		assert_int_equal(store_write(fx->st, h, 1, 0, buf, sizeof(buf)),
				 0);
	}
	assert_true(count_fds() <= base + 2 * 64);
	assert_true(count_fds() >= base + 2);
	for (h = 200; h < 400; h++) {
		fill(buf, sizeof(buf), h, (unsigned)h);
		assert_int_equal(store_read(fx->st, h, 1, 0, got, sizeof(got)),
				 0);
		assert_memory_equal(got, buf, sizeof(buf));
	}
	assert_true(count_fds() <= base + 2 * 64);
	store_free(fx->st);
	assert_int_equal(count_fds(), base);
	fx->st = open_store(fx);
}

/*
 * Spare files (store_spare.c): what a deleted replica leaves goes to
 * DIR/spare, and a new replica's files come from there.
 */

static void test_spare_recycles_inodes(void **state)
{
	struct fixture *fx = *state;
	ino_t *inos = calloc(4096, sizeof(*inos));
	char data[PATH_MAX], meta[PATH_MAX];
	struct stat sd, sm;
	size_t n;

	spare_settle(fx, inos, 4096);
	shadow_write(fx, 60, 0, 3000, 1);
	file_path(fx, 60, "", data);
	file_path(fx, 60, ".meta", meta);
	assert_int_equal(stat(data, &sd), 0);
	assert_int_equal(stat(meta, &sm), 0);

	/* the deleted replica's inodes become empty spare files */
	assert_int_equal(store_delete(fx->st, 60, 1), 0);
	assert_int_equal(access(data, F_OK), -1);
	n = spare_inodes(fx, inos, 4096);
	assert_true(has_inode(inos, n, sd.st_ino));
	assert_true(has_inode(inos, n, sm.st_ino));

	/* a new replica takes spare files and holds only its own bytes */
	memset(fx->shadow, 0, TEST_CHUNK);
	fx->shadow_len = 0;
	shadow_write(fx, 61, 100, 10, 2);
	file_path(fx, 61, "", data);
	file_path(fx, 61, ".meta", meta);
	assert_int_equal(stat(data, &sd), 0);
	assert_int_equal(stat(meta, &sm), 0);
	assert_int_equal(sd.st_size, 110);
	assert_true(has_inode(inos, n, sd.st_ino));
	assert_true(has_inode(inos, n, sm.st_ino));
	n = spare_inodes(fx, inos, 4096);
	assert_false(has_inode(inos, n, sd.st_ino));
	assert_false(has_inode(inos, n, sm.st_ino));
	shadow_check(fx, 61, 0, 4096);
	assert_int_equal(report_length(fx->st, 61, NULL), 110);
	free(inos);
}

/* The filler keeps spare files open; a new replica takes one, and
 * freeing the store closes the ones left. */
static void test_spare_ready(void **state)
{
	struct fixture *fx = *state;
	ino_t *inos = calloc(4096, sizeof(*inos));
	char data[PATH_MAX];
	struct stat sd;
	size_t n;

	n = spare_settle(fx, inos, 4096);
	assert_int_equal(count_fds_of(true), STORE_SPARE_READY);
	shadow_write(fx, 64, 0, 3000, 5);
	file_path(fx, 64, "", data);
	assert_int_equal(stat(data, &sd), 0);
	assert_true(has_inode(inos, n, sd.st_ino));
	shadow_check(fx, 64, 0, 3000);
	store_free(fx->st);
	assert_int_equal(count_fds_of(true), 0);
	fx->st = open_store(fx);
	shadow_check(fx, 64, 0, 3000);
	free(inos);
}

static void test_spare_reopen(void **state)
{
	struct fixture *fx = *state;
	ino_t *inos = calloc(4096, sizeof(*inos));
	char path[PATH_MAX], data[PATH_MAX];
	struct stat sb;
	size_t n;
	int fd;

	n = spare_settle(fx, inos, 4096);
	shadow_write(fx, 63, 0, 3000, 4); /* takes 2 spare files */
	store_free(fx->st);
	/* as if a crash hit a deletion between its rename and emptying */
	snprintf(path, sizeof(path), "%s/spare/%016x", fx->dir, 0);
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "leftover bytes", 14, 0), 14);
	close(fd);
	snprintf(path, sizeof(path), "%s/spare/stray", fx->dir);
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);

	/* a name that a replica's file shares (a rename cut short) */
	file_path(fx, 63, "", data);
	snprintf(path, sizeof(path), "%s/spare/%016x", fx->dir, 1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(link(data, path), 0);

	fx->st = open_store(fx);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/spare/%016x", fx->dir, i);
		assert_int_equal(access(path, F_OK), -1);
	}
	assert_int_equal(stat(data, &sb), 0);
	assert_int_equal(sb.st_size, 3000);
	assert_int_equal(sb.st_nlink, 1);
	shadow_check(fx, 63, 0, 3000);
	snprintf(path, sizeof(path), "%s/spare/stray", fx->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(spare_inodes(fx, inos, 4096), n - 4);

	/* every spare file can become a replica that reads back right */
	memset(fx->shadow, 0, TEST_CHUNK);
	fx->shadow_len = 0;
	shadow_write(fx, 62, 0, 5000, 3);
	shadow_check(fx, 62, 0, 8192);
	free(inos);
}

/*
 * A sequential write sends each 8 MiB window of a replica to disk once
 * the window is complete (with the window before it, for stragglers);
 * writes that complete no window start nothing.
 */
static void test_writeback_windows(void **state)
{
	struct fixture *fx = *state;
	const size_t mib = 1024 * 1024;
	uint8_t *buf = calloc(1, 8 * mib);
	struct faults *f = &fx->faults;
	uint64_t off;

	assert_int_equal(store_set_chunk_size(fx->st, 32 * mib), 0);
	for (off = 0; off < 24 * mib; off += mib)
		assert_int_equal(store_write(fx->st, 70, 1, off, buf, mib), 0);
	assert_int_equal(f->writeback_calls, 3);
	assert_int_equal(f->writeback_off[0], 0);
	assert_int_equal(f->writeback_len[0], 8 * mib);
	assert_int_equal(f->writeback_off[1], 0);
	assert_int_equal(f->writeback_len[1], 16 * mib);
	assert_int_equal(f->writeback_off[2], 8 * mib);
	assert_int_equal(f->writeback_len[2], 16 * mib);

	/* Small writes inside a window, and one that ends just short of
	 * its edge, start nothing; the next byte completes it. */
	assert_int_equal(store_write(fx->st, 71, 1, 4096, buf, 4096), 0);
	assert_int_equal(store_write(fx->st, 71, 1, 0, buf, 8 * mib - 1), 0);
	assert_int_equal(f->writeback_calls, 3);
	assert_int_equal(store_write(fx->st, 71, 1, 8 * mib - 1, buf, 1), 0);
	assert_int_equal(f->writeback_calls, 4);
	assert_int_equal(f->writeback_off[3], 0);
	assert_int_equal(f->writeback_len[3], 8 * mib);
	free(buf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_roundtrip_unaligned),
		T(test_zeros_past_end),
		T(test_sparse),
		T(test_truncate),
		T(test_corruption),
		T(test_versions),
		T(test_version_floor),
		T(test_changes),
		T(test_open_readonly),
		T(test_set_aside_and_stat),
		T(test_bounds),
		T(test_reopen),
		T(test_reopen_trims_data),
		T(test_fault_data_write),
		T(test_fault_meta_write),
		T(test_sync),
		T(test_usage_and_lock),
		T(test_random_ops),
		T(test_threads),
		T(test_fd_cache_reuse),
		T(test_direct_write),
		T(test_fd_cache_delete_recreate),
		T(test_fd_cache_quarantine),
		T(test_fd_cache_import_replace),
		T(test_fd_cache_bounded),
		T(test_spare_recycles_inodes),
		T(test_spare_ready),
		T(test_spare_reopen),
		T(test_writeback_windows),
	};

	log_init("test_store", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
