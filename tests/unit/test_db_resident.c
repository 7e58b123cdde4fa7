/*
 * test_db_resident.c - masterd/db_resident.h keeps files' pages in
 * memory: what it holds survives POSIX_FADV_DONTNEED (which drops an
 * unheld file's clean pages, as drop_caches does), through growth,
 * shrinking, a file that appears late, a file replaced by another, and
 * the bound on bytes per file.
 *
 * Residency is read with mincore() on a mapping of the test's own. The
 * files live in /var/tmp, which is on a disk (a tmpfs ignores
 * DONTNEED); a control file that is not held checks that DONTNEED does
 * drop pages there.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../masterd/db_resident.h"

#include "banned.h"

#define MIB (1024 * 1024)

struct fixture {
	char dir[64];
	char db[96];
	char wal[96];
	char other[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/var/tmp/test_db_resident.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/meta.db", f->dir);
	snprintf(f->wal, sizeof(f->wal), "%s/meta.db-wal", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->db);
	unlink(f->wal);
	unlink(f->other);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Write "size" bytes of "byte" to path (replacing it), synced so that
 * DONTNEED can drop the pages. */
static void write_file(const char *path, size_t size, int byte)
{
	char *buf = malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	memset(buf, byte, size);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(buf);
}

/* Ask the kernel to drop path's cached pages. */
static void drop_pages(const char *path)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* Pages of path in the page cache, and its size in pages. */
static size_t resident_pages(const char *path, size_t *total)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(path, O_RDONLY);
	size_t size, n, i, in = 0;
	unsigned char *vec;
	void *p;

	assert_true(fd >= 0);
	size = (size_t)lseek(fd, 0, SEEK_END);
	n = (size + (size_t)page - 1) / (size_t)page;
	*total = n;
	if (n == 0) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	vec = malloc(n);
	assert_non_null(vec);
	assert_int_equal(mincore(p, size, vec), 0);
	for (i = 0; i < n; i++)
		in += vec[i] & 1;
	free(vec);
	munmap(p, size);
	close(fd);
	return in;
}

static bool fully_resident(const char *path)
{
	size_t total, in = resident_pages(path, &total);

	return in == total;
}

static uint64_t held_bytes(struct db_resident *r)
{
	struct db_resident_stats st;

	db_resident_get_stats(r, &st);
	return st.bytes;
}

static struct db_resident *start(struct fixture *f, uint64_t max)
{
	const char *paths[] = { f->db, f->wal, NULL };

	/* A long poll: the test drives the refreshes with poll_now. */
	return db_resident_start(paths, max, 60000);
}

/* The control: DONTNEED drops an unheld file's pages here. */
static void test_control_file_is_dropped(void **state)
{
	struct fixture *f = *state;
	size_t total;

	write_file(f->other, 2 * MIB, 'o');
	drop_pages(f->other);
	assert_true(resident_pages(f->other, &total) < total / 2);
}

/* Held pages stay through DONTNEED, and so do the file's new pages. */
static void test_holds_and_follows_growth(void **state)
{
	struct fixture *f = *state;
	struct db_resident *r;
	int fd;
	char *buf = calloc(1, 2 * MIB);

	assert_non_null(buf);
	write_file(f->db, MIB, 'd');
	r = start(f, 64 * MIB);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), MIB);
	drop_pages(f->db);
	assert_true(fully_resident(f->db));

	fd = open(f->db, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, 2 * MIB), 2 * MIB);
	close(fd);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), 3 * MIB);
	drop_pages(f->db);
	assert_true(fully_resident(f->db));

	/* Shrinking gives the pages past the end back. */
	assert_int_equal(truncate(f->db, MIB / 2), 0);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), MIB / 2);
	db_resident_stop(r);
	free(buf);

	/* Stopped: the pages can go again. */
	drop_pages(f->db);
	assert_false(fully_resident(f->db));
}

/* A file that appears after the start (the WAL) is held once seen. */
static void test_file_appearing_later(void **state)
{
	struct fixture *f = *state;
	struct db_resident *r;

	write_file(f->db, 64 * 1024, 'd');
	r = start(f, 64 * MIB);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), 64 * 1024);
	write_file(f->wal, MIB, 'w');
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), 64 * 1024 + MIB);
	drop_pages(f->wal);
	assert_true(fully_resident(f->wal));
	db_resident_stop(r);
}

/* A file replaced by another under its name: the new one is held. */
static void test_replaced_file(void **state)
{
	struct fixture *f = *state;
	struct db_resident *r;

	write_file(f->db, MIB, 'a');
	r = start(f, 64 * MIB);
	db_resident_poll_now(r);
	write_file(f->other, 2 * MIB, 'b');
	assert_int_equal(rename(f->other, f->db), 0);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), 2 * MIB);
	drop_pages(f->db);
	assert_true(fully_resident(f->db));
	db_resident_stop(r);
}

/* At most max bytes of each file; 0 holds nothing. */
static void test_bound(void **state)
{
	struct fixture *f = *state;
	struct db_resident *r;
	size_t total, in;

	write_file(f->db, 3 * MIB, 'd');
	r = start(f, MIB);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), MIB);
	drop_pages(f->db);
	in = resident_pages(f->db, &total);
	assert_true(in >= MIB / (size_t)sysconf(_SC_PAGESIZE) && in < total);
	db_resident_stop(r);

	r = start(f, 0);
	db_resident_poll_now(r);
	assert_int_equal(held_bytes(r), 0);
	db_resident_stop(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_file_is_dropped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_holds_and_follows_growth,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_appearing_later,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
