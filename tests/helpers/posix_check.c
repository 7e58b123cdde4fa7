/*
 * posix_check.c - POSIX behaviour of a mounted file system, syscall by
 * syscall (after libfuse's test/test_syscalls.c).
 *
 *     posix_check DIR [CHECK...]     run the checks (default: all) in DIR
 *     posix_check --list             print the check names
 *
 * Each check works in a fresh subdirectory DIR/<check>, prints "ok NAME"
 * or "FAIL NAME: file:line: expression (errno text)", and the program
 * exits 0 only if every check passed. The integration tests run it
 * against the DFS mount and, as a control, against a local directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

/* Offsets around chunk boundaries of the usual test (1 MiB) and default
 * (64 MiB) chunk sizes. */
#define MIB (1024LL * 1024)

/* Name of the check running, for failure messages. */
static const char *check_name;

/* Report a failed expectation; returns ok so callers can test it. */
static bool expect(bool ok, const char *expr, int line)
{
	if (!ok)
		printf("FAIL %s: posix_check.c:%d: %s (errno %d: %s)\n",
		       check_name, line, expr, errno, strerror(errno));
	return ok;
}

#define EXPECT(cond) expect((cond), #cond, __LINE__)

/* Fill buf with a pattern that depends on the absolute offset. */
static void pattern(char *buf, size_t len, long long off, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((off + (long long)i) * 31 + seed);
}

static bool is_pattern(const char *buf, size_t len, long long off, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != (char)((off + (long long)i) * 31 + seed))
			return false;
	return true;
}

static bool is_zero(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != 0)
			return false;
	return true;
}

static int check_create_excl(void)
{
	int fd;

	if (!EXPECT((fd = open("f", O_CREAT | O_EXCL | O_WRONLY, 0644)) >= 0))
		return -1;
	close(fd);
	if (!EXPECT(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644) < 0 &&
		    errno == EEXIST))
		return -1;
	if (!EXPECT(open("nope", O_RDONLY) < 0 && errno == ENOENT))
		return -1;
	return 0;
}

/* pwrite/pread at offsets straddling chunk boundaries. */
static int check_boundaries(void)
{
	static const long long offs[] = { 0, MIB - 3, 2 * MIB - 1,
					  64 * MIB - 5, 128 * MIB - 7 };
	char w[8192], r[8192];
	size_t i;
	int fd;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		pattern(w, sizeof(w), offs[i], 1);
		if (!EXPECT(pwrite(fd, w, sizeof(w), offs[i]) ==
			    (ssize_t)sizeof(w)))
			goto fail;
	}
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		if (!EXPECT(pread(fd, r, sizeof(r), offs[i]) ==
			    (ssize_t)sizeof(r)) ||
		    !EXPECT(is_pattern(r, sizeof(r), offs[i], 1)))
			goto fail;
	}
	/* A hole between two writes reads as zeros. */
	if (!EXPECT(pread(fd, r, sizeof(r), 32 * MIB) == (ssize_t)sizeof(r)) ||
	    !EXPECT(is_zero(r, sizeof(r))))
		goto fail;
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

static int check_append(void)
{
	char buf[64];
	int a, b;

	if (!EXPECT((a = open("f", O_CREAT | O_WRONLY | O_APPEND, 0644)) >= 0))
		return -1;
	if (!EXPECT((b = open("f", O_WRONLY | O_APPEND)) >= 0)) {
		close(a);
		return -1;
	}
	EXPECT(write(a, "one,", 4) == 4);
	EXPECT(write(b, "two,", 4) == 4);
	EXPECT(write(a, "three", 5) == 5);
	close(a);
	close(b);
	if (!EXPECT((a = open("f", O_RDONLY)) >= 0))
		return -1;
	memset(buf, 0, sizeof(buf));
	EXPECT(read(a, buf, sizeof(buf)) == 13);
	close(a);
	return EXPECT(strcmp(buf, "one,two,three") == 0) ? 0 : -1;
}

static int check_truncate(void)
{
	char w[4096], r[4096];
	struct stat st;
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	pattern(w, sizeof(w), 0, 2);
	ok &= EXPECT(pwrite(fd, w, sizeof(w), MIB - 2048) == (ssize_t)sizeof(w));
	ok &= EXPECT(ftruncate(fd, MIB) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == MIB);
	ok &= EXPECT(ftruncate(fd, 3 * MIB) == 0);
	ok &= EXPECT(pread(fd, r, sizeof(r), MIB - 2048) == (ssize_t)sizeof(r));
	ok &= EXPECT(memcmp(r, w, 2048) == 0);
	ok &= EXPECT(is_zero(r + 2048, 2048));
	ok &= EXPECT(truncate("f", 10) == 0);
	ok &= EXPECT(stat("f", &st) == 0 && st.st_size == 10);
	ok &= EXPECT(pread(fd, r, sizeof(r), 0) == 10);
	ok &= EXPECT(is_zero(r, 10));
	close(fd);
	return ok ? 0 : -1;
}

static int check_large_offset(void)
{
	const long long off = 5LL * 1024 * MIB + 12345;
	char w[100], r[100];
	struct stat st;
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	pattern(w, sizeof(w), off, 3);
	ok &= EXPECT(pwrite(fd, w, sizeof(w), off) == (ssize_t)sizeof(w));
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == off + 100);
	ok &= EXPECT(pread(fd, r, sizeof(r), off) == (ssize_t)sizeof(r));
	ok &= EXPECT(is_pattern(r, sizeof(r), off, 3));
	ok &= EXPECT(pread(fd, r, sizeof(r), off - 1000) == (ssize_t)sizeof(r));
	ok &= EXPECT(is_zero(r, sizeof(r)));
	close(fd);
	return ok ? 0 : -1;
}

/* An unlinked file stays usable through a descriptor opened before. */
static int check_unlink_open(void)
{
	char r[6] = { 0 };
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "hello", 5) == 5);
	ok &= EXPECT(fsync(fd) == 0);
	ok &= EXPECT(unlink("f") == 0);
	ok &= EXPECT(access("f", F_OK) < 0 && errno == ENOENT);
	ok &= EXPECT(pread(fd, r, 5, 0) == 5 && strcmp(r, "hello") == 0);
	ok &= EXPECT(pwrite(fd, "J", 1, 0) == 1);
	ok &= EXPECT(pread(fd, r, 5, 0) == 5 && strcmp(r, "Jello") == 0);
	close(fd);
	return ok ? 0 : -1;
}

static int check_rename(void)
{
	struct stat a, b;
	int fd, ok = 1;

	if (!EXPECT((fd = open("src", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "new", 3) == 3);
	close(fd);
	if (!EXPECT((fd = open("dst", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "old!", 4) == 4);
	close(fd);
	ok &= EXPECT(stat("src", &a) == 0);
	ok &= EXPECT(rename("src", "dst") == 0);
	ok &= EXPECT(stat("dst", &b) == 0 && a.st_ino == b.st_ino);
	ok &= EXPECT(b.st_size == 3);
	ok &= EXPECT(access("src", F_OK) < 0 && errno == ENOENT);
	ok &= EXPECT(rename("dst", "dst") == 0);
	ok &= EXPECT(mkdir("d", 0755) == 0 && mkdir("e", 0755) == 0);
	ok &= EXPECT(rename("d", "e") == 0);
	ok &= EXPECT(access("d", F_OK) < 0 && access("e", F_OK) == 0);
	ok &= EXPECT(rename("dst", "e") < 0 && errno == EISDIR);
	ok &= EXPECT(rename("e", "dst") < 0 && errno == ENOTDIR);
	ok &= EXPECT(renameat2(AT_FDCWD, "dst", AT_FDCWD, "dst2", 0) == 0);
	if (!EXPECT((fd = open("x", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	close(fd);
	ok &= EXPECT(renameat2(AT_FDCWD, "x", AT_FDCWD, "dst2",
			       RENAME_NOREPLACE) < 0 && errno == EEXIST);
	return ok ? 0 : -1;
}

static int check_rmdir(void)
{
	int fd, ok = 1;

	ok &= EXPECT(mkdir("d", 0755) == 0);
	if (!EXPECT((fd = open("d/f", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	close(fd);
	ok &= EXPECT(rmdir("d") < 0 && errno == ENOTEMPTY);
	ok &= EXPECT(access("d/f", F_OK) == 0);
	ok &= EXPECT(rmdir("d/f") < 0 && errno == ENOTDIR);
	ok &= EXPECT(unlink("d") < 0 && errno == EISDIR);
	ok &= EXPECT(unlink("d/f") == 0);
	ok &= EXPECT(rmdir("d") == 0);
	ok &= EXPECT(rmdir("d") < 0 && errno == ENOENT);
	return ok ? 0 : -1;
}

static int check_nlink(void)
{
	struct stat st;
	int ok = 1;

	ok &= EXPECT(mkdir("p", 0755) == 0);
	ok &= EXPECT(stat("p", &st) == 0 && st.st_nlink == 2);
	ok &= EXPECT(mkdir("p/a", 0755) == 0 && mkdir("p/b", 0755) == 0);
	ok &= EXPECT(stat("p", &st) == 0 && st.st_nlink == 4);
	ok &= EXPECT(rmdir("p/a") == 0);
	ok &= EXPECT(stat("p", &st) == 0 && st.st_nlink == 3);
	ok &= EXPECT(rename("p/b", "b") == 0);
	ok &= EXPECT(stat("p", &st) == 0 && st.st_nlink == 2);
	return ok ? 0 : -1;
}

/* Every entry of a big directory comes back once, also across
 * telldir/seekdir. */
static int check_readdir(void)
{
	enum { N = 300 };
	static bool seen[N];
	struct dirent *de;
	char name[32];
	long mid = -1;
	int i, n = 0, dots = 0, fd, ok = 1;
	DIR *d;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "e%03d", i);
		if (!EXPECT((fd = open(name, O_CREAT | O_WRONLY, 0644)) >= 0))
			return -1;
		close(fd);
	}
	if (!EXPECT((d = opendir(".")) != NULL))
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
			dots++;
			continue;
		}
		if (n == N / 2)
			mid = telldir(d);
		i = atoi(de->d_name + 1);
		ok &= EXPECT(i >= 0 && i < N && !seen[i]);
		if (i >= 0 && i < N)
			seen[i] = true;
		n++;
	}
	ok &= EXPECT(n == N && dots == 2);
	if (mid >= 0) {
		seekdir(d, mid);
		for (i = 0; (de = readdir(d)) != NULL;)
			if (de->d_name[0] != '.')
				i++;
		ok &= EXPECT(i == N - N / 2 - 1);
	}
	closedir(d);
	return ok ? 0 : -1;
}

static int check_times(void)
{
	struct timespec ts[2] = { { 1000000000, 123456789 },
				  { 2000000000, 987654321 } };
	struct stat a, b;
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	close(fd);
	ok &= EXPECT(utimensat(AT_FDCWD, "f", ts, 0) == 0);
	ok &= EXPECT(stat("f", &a) == 0);
	ok &= EXPECT(a.st_atim.tv_sec == 1000000000 &&
		     a.st_atim.tv_nsec == 123456789);
	ok &= EXPECT(a.st_mtim.tv_sec == 2000000000 &&
		     a.st_mtim.tv_nsec == 987654321);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_NOW;
	ok &= EXPECT(utimensat(AT_FDCWD, "f", ts, 0) == 0);
	ok &= EXPECT(stat("f", &b) == 0);
	ok &= EXPECT(b.st_atim.tv_sec == 1000000000);
	ok &= EXPECT(b.st_mtim.tv_sec >= time(NULL) - 60 &&
		     b.st_mtim.tv_sec <= time(NULL) + 60);
	/* A 64-bit time past 2038. */
	ts[0].tv_sec = ts[1].tv_sec = 4102444800LL;
	ts[0].tv_nsec = ts[1].tv_nsec = 1;
	ok &= EXPECT(utimensat(AT_FDCWD, "f", ts, 0) == 0);
	ok &= EXPECT(stat("f", &b) == 0 && b.st_mtim.tv_sec == 4102444800LL);
	return ok ? 0 : -1;
}

/* chmod changes ctime, not mtime; a write changes both. */
static int check_ctime(void)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct stat a, b, c;
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	ok &= EXPECT(fstat(fd, &a) == 0);
	nanosleep(&pause, NULL);
	ok &= EXPECT(fchmod(fd, 0600) == 0);
	ok &= EXPECT(fstat(fd, &b) == 0 && (b.st_mode & 07777) == 0600);
	ok &= EXPECT(b.st_ctim.tv_sec > a.st_ctim.tv_sec ||
		     (b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
		      b.st_ctim.tv_nsec > a.st_ctim.tv_nsec));
	ok &= EXPECT(b.st_mtim.tv_sec == a.st_mtim.tv_sec &&
		     b.st_mtim.tv_nsec == a.st_mtim.tv_nsec);
	nanosleep(&pause, NULL);
	ok &= EXPECT(write(fd, "x", 1) == 1);
	ok &= EXPECT(fsync(fd) == 0 && fdatasync(fd) == 0);
	close(fd);
	ok &= EXPECT(stat("f", &c) == 0);
	ok &= EXPECT(c.st_mtim.tv_sec > b.st_mtim.tv_sec ||
		     (c.st_mtim.tv_sec == b.st_mtim.tv_sec &&
		      c.st_mtim.tv_nsec > b.st_mtim.tv_nsec));
	return ok ? 0 : -1;
}

static int check_symlink(void)
{
	char buf[64] = { 0 };
	struct stat st;
	int ok = 1;

	ok &= EXPECT(symlink("target/../x", "l") == 0);
	ok &= EXPECT(readlink("l", buf, sizeof(buf) - 1) == 11);
	ok &= EXPECT(strcmp(buf, "target/../x") == 0);
	ok &= EXPECT(lstat("l", &st) == 0 && S_ISLNK(st.st_mode));
	ok &= EXPECT(st.st_size == 11);
	ok &= EXPECT(stat("l", &st) < 0 && errno == ENOENT);
	ok &= EXPECT(symlink("x", "l") < 0 && errno == EEXIST);
	ok &= EXPECT(unlink("l") == 0);
	return ok ? 0 : -1;
}

static int check_hardlink(void)
{
	struct stat a, b;
	char r[4] = { 0 };
	int fd, ok = 1;

	if (!EXPECT((fd = open("a", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "abc", 3) == 3);
	close(fd);
	ok &= EXPECT(link("a", "b") == 0);
	ok &= EXPECT(stat("a", &a) == 0 && stat("b", &b) == 0);
	ok &= EXPECT(a.st_ino == b.st_ino && a.st_nlink == 2);
	ok &= EXPECT(unlink("a") == 0);
	ok &= EXPECT(stat("b", &b) == 0 && b.st_nlink == 1);
	if (!EXPECT((fd = open("b", O_RDONLY)) >= 0))
		return -1;
	ok &= EXPECT(read(fd, r, 3) == 3 && strcmp(r, "abc") == 0);
	close(fd);
	ok &= EXPECT(mkdir("d", 0755) == 0);
	ok &= EXPECT(link("d", "d2") < 0 && errno == EPERM);
	return ok ? 0 : -1;
}

static int check_statfs(void)
{
	struct statvfs sv;

	if (!EXPECT(statvfs(".", &sv) == 0))
		return -1;
	return EXPECT(sv.f_blocks > 0 && sv.f_bsize > 0 &&
		      sv.f_bfree <= sv.f_blocks) ? 0 : -1;
}

/* An unlinked open file reports nlink 0 and keeps its size. */
static int check_unlink_fstat(void)
{
	struct stat st;
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "12345", 5) == 5);
	ok &= EXPECT(unlink("f") == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_nlink == 0);
	ok &= EXPECT(st.st_size == 5);
	ok &= EXPECT(ftruncate(fd, 2) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == 2);
	ok &= EXPECT(open("f", O_RDONLY) < 0 && errno == ENOENT);
	close(fd);
	return ok ? 0 : -1;
}

/* Open flags the kernel and the file system must honour together. */
static int check_open_flags(void)
{
	struct stat a, b;
	char buf[16] = { 0 };
	int fd, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "abcdef", 6) == 6);
	close(fd);
	ok &= EXPECT(mkdir("d", 0755) == 0);
	ok &= EXPECT(open("f", O_CREAT | O_EXCL | O_RDWR, 0644) < 0 &&
		     errno == EEXIST);
	ok &= EXPECT(symlink("f", "l") == 0);
	ok &= EXPECT(open("l", O_CREAT | O_EXCL | O_RDWR, 0644) < 0 &&
		     errno == EEXIST);
	ok &= EXPECT(open("l", O_RDONLY | O_NOFOLLOW) < 0 && errno == ELOOP);
	ok &= EXPECT(open("f", O_RDONLY | O_DIRECTORY) < 0 && errno == ENOTDIR);
	ok &= EXPECT(open("d", O_WRONLY) < 0 && errno == EISDIR);
	ok &= EXPECT(open("missing", O_RDONLY) < 0 && errno == ENOENT);
	ok &= EXPECT(open("f/x", O_RDONLY) < 0 && errno == ENOTDIR);
	/* A read-only descriptor does not write or truncate. */
	if (!EXPECT((fd = open("f", O_RDONLY)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "x", 1) < 0 && errno == EBADF);
	ok &= EXPECT(ftruncate(fd, 0) < 0 &&
		     (errno == EINVAL || errno == EBADF));
	ok &= EXPECT(read(fd, buf, sizeof(buf)) == 6);
	close(fd);
	/* O_APPEND writes at the end whatever the file offset. */
	if (!EXPECT((fd = open("f", O_RDWR | O_APPEND)) >= 0))
		return -1;
	ok &= EXPECT(lseek(fd, 0, SEEK_SET) == 0);
	ok &= EXPECT(write(fd, "XY", 2) == 2);
	ok &= EXPECT(lseek(fd, 0, SEEK_CUR) == 8);
	ok &= EXPECT(pread(fd, buf, 8, 0) == 8 &&
		     memcmp(buf, "abcdefXY", 8) == 0);
	close(fd);
	/* O_TRUNC empties the file and moves mtime, even when empty. */
	ok &= EXPECT(stat("f", &a) == 0);
	usleep(20000);
	if (!EXPECT((fd = open("f", O_WRONLY | O_TRUNC)) >= 0))
		return -1;
	ok &= EXPECT(fstat(fd, &b) == 0 && b.st_size == 0);
	close(fd);
	ok &= EXPECT(b.st_mtim.tv_sec > a.st_mtim.tv_sec ||
		     b.st_mtim.tv_nsec != a.st_mtim.tv_nsec);
	usleep(20000);
	if (!EXPECT((fd = open("f", O_WRONLY | O_TRUNC)) >= 0))
		return -1;
	ok &= EXPECT(fstat(fd, &a) == 0 && a.st_size == 0);
	close(fd);
	ok &= EXPECT(a.st_mtim.tv_sec > b.st_mtim.tv_sec ||
		     a.st_mtim.tv_nsec != b.st_mtim.tv_nsec);
	/* O_RDONLY | O_TRUNC leaves the data alone on Linux (unspecified
	 * by POSIX) only for files one cannot write; skip it. */
	return ok ? 0 : -1;
}

/* ftruncate through a descriptor and fallocate. */
static int check_fallocate(void)
{
	char buf[4096];
	struct stat st;
	int fd, ok = 1, r;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "data", 4) == 4);
	ok &= EXPECT(fallocate(fd, 0, 0, 3 * MIB + 5) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == 3 * MIB + 5);
	ok &= EXPECT(pread(fd, buf, 4, 0) == 4 && memcmp(buf, "data", 4) == 0);
	ok &= EXPECT(pread(fd, buf, sizeof(buf), 2 * MIB) ==
		     (ssize_t)sizeof(buf));
	ok &= EXPECT(is_zero(buf, sizeof(buf)));
	/* Inside the file: no change of size. */
	ok &= EXPECT(fallocate(fd, 0, 10, 100) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == 3 * MIB + 5);
	ok &= EXPECT(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * MIB) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == 3 * MIB + 5);
	ok &= EXPECT(posix_fallocate(fd, 4 * MIB, 10) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == 4 * MIB + 10);
	ok &= EXPECT(fallocate(fd, 0, -1, 10) < 0 && errno == EINVAL);
	/* Punching a hole: done, or refused cleanly. */
	r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2);
	ok &= EXPECT(r == 0 || errno == EOPNOTSUPP);
	if (r == 0)
		ok &= EXPECT(pread(fd, buf, 4, 0) == 4 &&
			     memcmp(buf, "\0\0ta", 4) == 0);
	ok &= EXPECT(ftruncate(fd, 1) == 0);
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_size == 1);
	ok &= EXPECT(ftruncate(fd, -1) < 0 && errno == EINVAL);
	close(fd);
	return ok ? 0 : -1;
}

/* renameat2 flags and the directory cases of rename(2). */
static int check_rename_flags(void)
{
	struct stat a, b, d;
	char buf[8] = { 0 };
	int fd, ok = 1;

	if (!EXPECT((fd = open("a", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "AAA", 3) == 3);
	close(fd);
	if (!EXPECT((fd = open("b", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "BB", 2) == 2);
	close(fd);
	ok &= EXPECT(stat("a", &a) == 0 && stat("b", &b) == 0);
	ok &= EXPECT(renameat2(AT_FDCWD, "a", AT_FDCWD, "b",
			       RENAME_EXCHANGE) == 0);
	ok &= EXPECT(stat("a", &d) == 0 && d.st_ino == b.st_ino &&
		     d.st_size == 2);
	ok &= EXPECT(stat("b", &d) == 0 && d.st_ino == a.st_ino &&
		     d.st_size == 3);
	ok &= EXPECT(renameat2(AT_FDCWD, "a", AT_FDCWD, "none",
			       RENAME_EXCHANGE) < 0 && errno == ENOENT);
	ok &= EXPECT(renameat2(AT_FDCWD, "a", AT_FDCWD, "b",
			       RENAME_EXCHANGE | RENAME_NOREPLACE) < 0 &&
		     errno == EINVAL);
	/* A file and a directory trade places, across directories. */
	ok &= EXPECT(mkdir("d1", 0755) == 0 && mkdir("d1/sub", 0755) == 0);
	ok &= EXPECT(mkdir("d2", 0755) == 0);
	ok &= EXPECT(rename("a", "d2/f") == 0);
	ok &= EXPECT(renameat2(AT_FDCWD, "d1/sub", AT_FDCWD, "d2/f",
			       RENAME_EXCHANGE) == 0);
	ok &= EXPECT(stat("d1/sub", &d) == 0 && S_ISREG(d.st_mode));
	ok &= EXPECT(stat("d2/f", &d) == 0 && S_ISDIR(d.st_mode));
	ok &= EXPECT(stat("d1", &d) == 0 && d.st_nlink == 2);
	ok &= EXPECT(stat("d2", &d) == 0 && d.st_nlink == 3);
	/* Directories: over an empty one, not over a full one, not into
	 * themselves, not onto a file. */
	ok &= EXPECT(mkdir("e", 0755) == 0 && mkdir("full", 0755) == 0);
	ok &= EXPECT(mkdir("full/x", 0755) == 0);
	ok &= EXPECT(rename("d2", "e") == 0);
	ok &= EXPECT(stat("e/f", &d) == 0 && S_ISDIR(d.st_mode));
	ok &= EXPECT(rename("e", "full") < 0 &&
		     (errno == ENOTEMPTY || errno == EEXIST));
	ok &= EXPECT(rename("e", "e/f/inside") < 0 && errno == EINVAL);
	ok &= EXPECT(rename("e", "b") < 0 && errno == ENOTDIR);
	ok &= EXPECT(renameat2(AT_FDCWD, "e", AT_FDCWD, "full",
			       RENAME_NOREPLACE) < 0 && errno == EEXIST);
	ok &= EXPECT(rename("missing", "x") < 0 && errno == ENOENT);
	ok &= EXPECT(rename("b", "nodir/x") < 0 && errno == ENOENT);
	/* A file renamed over itself through a hard link stays. */
	ok &= EXPECT(link("b", "b2") == 0 && rename("b", "b2") == 0);
	ok &= EXPECT(access("b", F_OK) == 0 && access("b2", F_OK) == 0);
	if (!EXPECT((fd = open("b2", O_RDONLY)) >= 0))
		return -1;
	ok &= EXPECT(read(fd, buf, sizeof(buf)) == 3);
	close(fd);
	return ok ? 0 : -1;
}

/* True if *b is later than *a. */
static bool ts_later(const struct timespec *b, const struct timespec *a)
{
	return b->tv_sec > a->tv_sec ||
	       (b->tv_sec == a->tv_sec && b->tv_nsec > a->tv_nsec);
}

static bool ts_same(const struct timespec *b, const struct timespec *a)
{
	return b->tv_sec == a->tv_sec && b->tv_nsec == a->tv_nsec;
}

/* Which timestamps each call moves, as POSIX says. */
static int check_timestamps(void)
{
	struct stat f0, f1, d0, d1;
	char buf[4];
	int fd, ok = 1;

	ok &= EXPECT(mkdir("d", 0755) == 0);
	if (!EXPECT((fd = open("d/f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	ok &= EXPECT(write(fd, "abc", 3) == 3);
	close(fd);
#define SNAP(f, d)                                                             \
	do {                                                                   \
		usleep(20000);                                                 \
		ok &= EXPECT(stat("d/f", &(f)) == 0 && stat("d", &(d)) == 0);  \
	} while (0)
	SNAP(f0, d0);
	/* A read moves none of mtime, ctime. */
	if (!EXPECT((fd = open("d/f", O_RDONLY)) >= 0))
		return -1;
	ok &= EXPECT(read(fd, buf, 3) == 3);
	close(fd);
	SNAP(f1, d1);
	ok &= EXPECT(ts_same(&f1.st_mtim, &f0.st_mtim) &&
		     ts_same(&f1.st_ctim, &f0.st_ctim));
	/* link: ctime of the file, mtime and ctime of the directory. */
	ok &= EXPECT(link("d/f", "d/g") == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_ctim, &f0.st_ctim));
	ok &= EXPECT(ts_same(&f1.st_mtim, &f0.st_mtim));
	ok &= EXPECT(ts_later(&d1.st_mtim, &d0.st_mtim) &&
		     ts_later(&d1.st_ctim, &d0.st_ctim));
	f0 = f1;
	d0 = d1;
	/* unlink of one name: ctime of the file, the directory's times. */
	ok &= EXPECT(unlink("d/g") == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_ctim, &f0.st_ctim) && f1.st_nlink == 1);
	ok &= EXPECT(ts_later(&d1.st_mtim, &d0.st_mtim));
	f0 = f1;
	d0 = d1;
	/* rename within the directory: ctime of the file (Linux), the
	 * directory's mtime. */
	ok &= EXPECT(rename("d/f", "d/h") == 0 && rename("d/h", "d/f") == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_ctim, &f0.st_ctim));
	ok &= EXPECT(ts_same(&f1.st_mtim, &f0.st_mtim));
	ok &= EXPECT(ts_later(&d1.st_mtim, &d0.st_mtim));
	f0 = f1;
	/* truncate: mtime and ctime. */
	ok &= EXPECT(truncate("d/f", 1) == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_mtim, &f0.st_mtim) &&
		     ts_later(&f1.st_ctim, &f0.st_ctim));
	f0 = f1;
	/* chmod and chown: ctime only. */
	ok &= EXPECT(chmod("d/f", 0600) == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_ctim, &f0.st_ctim) &&
		     ts_same(&f1.st_mtim, &f0.st_mtim));
	f0 = f1;
	ok &= EXPECT(chown("d/f", getuid(), getgid()) == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_ctim, &f0.st_ctim) &&
		     ts_same(&f1.st_mtim, &f0.st_mtim));
	f0 = f1;
	/* write: mtime and ctime, seen after close by stat. */
	if (!EXPECT((fd = open("d/f", O_WRONLY)) >= 0))
		return -1;
	ok &= EXPECT(pwrite(fd, "z", 1, 5) == 1);
	close(fd);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&f1.st_mtim, &f0.st_mtim) &&
		     ts_later(&f1.st_ctim, &f0.st_ctim) && f1.st_size == 6);
	f0 = f1;
	d0 = d1;
	/* mkdir in it: its mtime and link count. */
	ok &= EXPECT(mkdir("d/sub", 0755) == 0);
	SNAP(f1, d1);
	ok &= EXPECT(ts_later(&d1.st_mtim, &d0.st_mtim) && d1.st_nlink == 3);
#undef SNAP
	return ok ? 0 : -1;
}

/* Extended attributes in the user namespace. */
static int check_xattr(void)
{
	static char big[70000];
	char buf[256];
	struct stat a, b;
	ssize_t n;
	int fd, r, ok = 1;

	if (!EXPECT((fd = open("f", O_CREAT | O_RDWR, 0644)) >= 0))
		return -1;
	close(fd);
	ok &= EXPECT(getxattr("f", "user.none", buf, sizeof(buf)) < 0 &&
		     errno == ENODATA);
	ok &= EXPECT(listxattr("f", buf, sizeof(buf)) == 0);
	ok &= EXPECT(stat("f", &a) == 0);
	usleep(20000);
	ok &= EXPECT(setxattr("f", "user.color", "blue", 4, 0) == 0);
	ok &= EXPECT(stat("f", &b) == 0 && ts_later(&b.st_ctim, &a.st_ctim));
	/* Size probe, exact buffer, short buffer. */
	ok &= EXPECT(getxattr("f", "user.color", NULL, 0) == 4);
	ok &= EXPECT(getxattr("f", "user.color", buf, 4) == 4 &&
		     memcmp(buf, "blue", 4) == 0);
	ok &= EXPECT(getxattr("f", "user.color", buf, 3) < 0 &&
		     errno == ERANGE);
	/* Flags. */
	ok &= EXPECT(setxattr("f", "user.color", "red", 3, XATTR_CREATE) < 0 &&
		     errno == EEXIST);
	ok &= EXPECT(setxattr("f", "user.new", "x", 1, XATTR_REPLACE) < 0 &&
		     errno == ENODATA);
	ok &= EXPECT(setxattr("f", "user.color", "red", 3, XATTR_REPLACE) == 0);
	ok &= EXPECT(getxattr("f", "user.color", buf, sizeof(buf)) == 3 &&
		     memcmp(buf, "red", 3) == 0);
	/* Binary and empty values. */
	ok &= EXPECT(setxattr("f", "user.bin", "\0\1\2\377", 4, 0) == 0);
	ok &= EXPECT(getxattr("f", "user.bin", buf, sizeof(buf)) == 4 &&
		     memcmp(buf, "\0\1\2\377", 4) == 0);
	ok &= EXPECT(setxattr("f", "user.empty", "", 0, 0) == 0);
	ok &= EXPECT(getxattr("f", "user.empty", buf, sizeof(buf)) == 0);
	/* Listing: probe, then the names (in any order). */
	n = listxattr("f", NULL, 0);
	ok &= EXPECT(n == (ssize_t)(sizeof("user.color") + sizeof("user.bin") +
				    sizeof("user.empty")));
	ok &= EXPECT(listxattr("f", buf, 5) < 0 && errno == ERANGE);
	ok &= EXPECT(listxattr("f", buf, sizeof(buf)) == n);
	ok &= EXPECT(memmem(buf, (size_t)n, "user.color", 11) != NULL &&
		     memmem(buf, (size_t)n, "user.bin", 9) != NULL);
	/* A 64 KiB value fits (ext4 keeps at most a block: ENOSPC), more
	 * does not. */
	memset(big, 'v', sizeof(big));
	r = setxattr("f", "user.big", big, 65536, 0);
	ok &= EXPECT(r == 0 || errno == ENOSPC);
	if (r == 0) {
		ok &= EXPECT(getxattr("f", "user.big", NULL, 0) == 65536);
		ok &= EXPECT(removexattr("f", "user.big") == 0);
	}
	ok &= EXPECT(setxattr("f", "user.big", big, 65537, 0) < 0 &&
		     errno == E2BIG);
	/* Removal. */
	ok &= EXPECT(removexattr("f", "user.empty") == 0);
	ok &= EXPECT(removexattr("f", "user.empty") < 0 && errno == ENODATA);
	ok &= EXPECT(getxattr("f", "user.empty", buf, sizeof(buf)) < 0 &&
		     errno == ENODATA);
	/* Through a descriptor, on a directory, not on a symlink. */
	if (!EXPECT((fd = open("f", O_RDONLY)) >= 0))
		return -1;
	ok &= EXPECT(fsetxattr(fd, "user.fd", "1", 1, 0) == 0);
	ok &= EXPECT(fgetxattr(fd, "user.fd", buf, sizeof(buf)) == 1);
	close(fd);
	ok &= EXPECT(mkdir("d", 0755) == 0);
	ok &= EXPECT(setxattr("d", "user.dir", "yes", 3, 0) == 0);
	ok &= EXPECT(getxattr("d", "user.dir", buf, sizeof(buf)) == 3);
	ok &= EXPECT(symlink("f", "l") == 0);
	ok &= EXPECT(lsetxattr("l", "user.x", "1", 1, 0) < 0 &&
		     errno == EPERM);
	/* A hard link shares them; a rename keeps them. */
	ok &= EXPECT(link("f", "g") == 0 && rename("g", "h") == 0);
	ok &= EXPECT(getxattr("h", "user.color", buf, sizeof(buf)) == 3);
	return ok ? 0 : -1;
}

/* A FIFO and a socket node are made and listed with their type. */
static int check_mknod(void)
{
	struct stat st;
	int ok = 1;

	ok &= EXPECT(mkfifo("fifo", 0644) == 0);
	ok &= EXPECT(lstat("fifo", &st) == 0 && S_ISFIFO(st.st_mode));
	ok &= EXPECT(mknod("sock", S_IFSOCK | 0644, 0) == 0);
	ok &= EXPECT(lstat("sock", &st) == 0 && S_ISSOCK(st.st_mode));
	ok &= EXPECT(mkfifo("fifo", 0644) < 0 && errno == EEXIST);
	ok &= EXPECT(unlink("fifo") == 0 && unlink("sock") == 0);
	return ok ? 0 : -1;
}

/* Unprivileged user the permission check runs as ("nobody"). */
#define NOBODY 65534

/* Make a file with "mode" (exactly) and some content; as root. */
static bool make_file(const char *path, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, "data", 4) == 4 && fchmod(fd, mode) == 0;
	close(fd);
	return ok;
}

/* The checks of check_perms() made as NOBODY; returns the failures. */
static int perms_as_nobody(void)
{
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	struct stat st;
	char buf[8];
	int fd, ok = 1;

	/* Directories without write permission. */
	ok &= EXPECT(open("ro/new", O_CREAT | O_WRONLY, 0644) < 0 &&
		     errno == EACCES);
	ok &= EXPECT(mkdir("ro/sub", 0755) < 0 && errno == EACCES);
	ok &= EXPECT(unlink("ro/rootfile") < 0 && errno == EACCES);
	ok &= EXPECT(rename("ro/rootfile", "ro/x") < 0 && errno == EACCES);
	ok &= EXPECT(symlink("x", "ro/l") < 0 && errno == EACCES);
	ok &= EXPECT(rename("open", "ro/open") < 0 && errno == EACCES);
	/* Files by mode. */
	ok &= EXPECT(open("secret", O_RDONLY) < 0 && errno == EACCES);
	ok &= EXPECT(open("pub", O_WRONLY) < 0 && errno == EACCES);
	ok &= EXPECT(open("pub", O_RDWR | O_TRUNC) < 0 && errno == EACCES);
	ok &= EXPECT(truncate("pub", 0) < 0 && errno == EACCES);
	if (EXPECT((fd = open("pub", O_RDONLY)) >= 0)) {
		ok &= EXPECT(read(fd, buf, 4) == 4);
		close(fd);
	}
	/* No search permission. */
	ok &= EXPECT(stat("closed/x", &st) < 0 && errno == EACCES);
	ok &= EXPECT(opendir("closed") == NULL && errno == EACCES);
	/* Only the owner changes mode, owner and explicit times. */
	ok &= EXPECT(chmod("pub", 0777) < 0 && errno == EPERM);
	ok &= EXPECT(chown("pub", NOBODY, (gid_t)-1) < 0 && errno == EPERM);
	ok &= EXPECT(utimensat(AT_FDCWD, "pub", ts, 0) < 0 && errno == EPERM);
	ok &= EXPECT(utimensat(AT_FDCWD, "pub", NULL, 0) < 0 &&
		     errno == EACCES);
	ok &= EXPECT(utimensat(AT_FDCWD, "shared", NULL, 0) == 0);
	ok &= EXPECT(setxattr("pub", "user.x", "1", 1, 0) < 0 &&
		     errno == EACCES);
	ok &= EXPECT(getxattr("pub", "user.x", buf, sizeof(buf)) < 0 &&
		     errno == ENODATA);
	/* The sticky bit: others' entries stay. */
	if (EXPECT((fd = open("tmp/rootfile", O_WRONLY)) >= 0))
		close(fd);
	ok &= EXPECT(unlink("tmp/rootfile") < 0 && errno == EPERM);
	ok &= EXPECT(rename("tmp/rootfile", "tmp/z") < 0 && errno == EPERM);
	ok &= EXPECT(rmdir("tmp/rootdir") < 0 && errno == EPERM);
	ok &= EXPECT((fd = open("tmp/mine", O_CREAT | O_WRONLY, 0644)) >= 0);
	if (fd >= 0)
		close(fd);
	ok &= EXPECT(rename("tmp/mine", "tmp/mine2") == 0);
	ok &= EXPECT(unlink("tmp/mine2") == 0);
	/* New files belong to their creator, who may chmod them. */
	if (EXPECT((fd = open("open/mine", O_CREAT | O_WRONLY, 0644)) >= 0)) {
		ok &= EXPECT(fstat(fd, &st) == 0 && st.st_uid == NOBODY &&
			     st.st_gid == NOBODY);
		ok &= EXPECT(fchmod(fd, 0600) == 0);
		ok &= EXPECT(utimensat(AT_FDCWD, "open/mine", ts, 0) == 0);
		close(fd);
	}
	ok &= EXPECT(chown("open/mine", 0, (gid_t)-1) < 0 && errno == EPERM);
	return ok ? 0 : 1;
}

/* Permissions enforced for an unprivileged user (needs root to set up;
 * skipped otherwise): a child drops to uid/gid NOBODY and tries. */
static int check_perms(void)
{
	int status, ok = 1;
	pid_t pid;

	if (geteuid() != 0) {
		printf("skip perms: not root\n");
		return 0;
	}
	ok &= EXPECT(mkdir("ro", 0755) == 0 && make_file("ro/rootfile", 0644));
	ok &= EXPECT(make_file("secret", 0600) && make_file("pub", 0644));
	ok &= EXPECT(make_file("shared", 0666));
	ok &= EXPECT(mkdir("closed", 0700) == 0 && make_file("closed/x", 0644));
	ok &= EXPECT(mkdir("tmp", 0755) == 0 && chmod("tmp", 01777) == 0);
	ok &= EXPECT(make_file("tmp/rootfile", 0666));
	ok &= EXPECT(mkdir("tmp/rootdir", 0755) == 0);
	ok &= EXPECT(mkdir("open", 0755) == 0 && chmod("open", 0777) == 0);
	if (!ok)
		return -1;
	fflush(stdout);
	if ((pid = fork()) < 0)
		return EXPECT(pid >= 0) ? 0 : -1;
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 ||
		    setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(2);
		status = perms_as_nobody();
		fflush(stdout);
		_exit(status);
	}
	ok &= EXPECT(waitpid(pid, &status, 0) == pid);
	ok &= EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return ok ? 0 : -1;
}

/* Under a set-group-ID directory, new entries take its group and new
 * directories the bit too (needs root for chown). */
static int check_sgid_dir(void)
{
	struct stat st;
	int fd, ok = 1;

	if (geteuid() != 0) {
		printf("skip sgid_dir: not root\n");
		return 0;
	}
	ok &= EXPECT(mkdir("d", 0755) == 0 && chown("d", 0, 4321) == 0);
	ok &= EXPECT(chmod("d", 02775) == 0);
	if (!EXPECT((fd = open("d/f", O_CREAT | O_WRONLY, 0644)) >= 0))
		return -1;
	ok &= EXPECT(fstat(fd, &st) == 0 && st.st_gid == 4321);
	close(fd);
	ok &= EXPECT(mkdir("d/sub", 0755) == 0);
	ok &= EXPECT(stat("d/sub", &st) == 0 && st.st_gid == 4321 &&
		     (st.st_mode & S_ISGID));
	ok &= EXPECT(symlink("f", "d/l") == 0);
	ok &= EXPECT(lstat("d/l", &st) == 0 && st.st_gid == 4321);
	return ok ? 0 : -1;
}

/* One check: a name and a function run inside its own directory. */
struct check {
	const char *name;
	int (*fn)(void);
};

static const struct check checks[] = {
	{ "create_excl", check_create_excl },
	{ "boundaries", check_boundaries },
	{ "append", check_append },
	{ "truncate", check_truncate },
	{ "large_offset", check_large_offset },
	{ "unlink_open", check_unlink_open },
	{ "rename", check_rename },
	{ "rmdir", check_rmdir },
	{ "nlink", check_nlink },
	{ "readdir", check_readdir },
	{ "times", check_times },
	{ "ctime", check_ctime },
	{ "symlink", check_symlink },
	{ "hardlink", check_hardlink },
	{ "statfs", check_statfs },
	{ "unlink_fstat", check_unlink_fstat },
	{ "open_flags", check_open_flags },
	{ "fallocate", check_fallocate },
	{ "rename_flags", check_rename_flags },
	{ "timestamps", check_timestamps },
	{ "xattr", check_xattr },
	{ "mknod", check_mknod },
	{ "perms", check_perms },
	{ "sgid_dir", check_sgid_dir },
};

#define NCHECKS (sizeof(checks) / sizeof(checks[0]))

/* Run one check in DIR/<name>; 0 if it passed. */
static int run_check(int dirfd, const struct check *c)
{
	int r;

	check_name = c->name;
	if (mkdirat(dirfd, c->name, 0755) != 0 || fchdir(dirfd) != 0 ||
	    chdir(c->name) != 0) {
		printf("FAIL %s: cannot make its directory: %s\n", c->name,
		       strerror(errno));
		return -1;
	}
	r = c->fn();
	if (r == 0)
		printf("ok %s\n", c->name);
	fflush(stdout);
	return r;
}

int main(int argc, char **argv)
{
	int dirfd, i, failed = 0, ran = 0;
	size_t j;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (j = 0; j < NCHECKS; j++)
			printf("%s\n", checks[j].name);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: posix_check DIR [CHECK...] | --list\n");
		return 2;
	}
	if ((dirfd = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0) {
		fprintf(stderr, "posix_check: '%s': %s\n", argv[1],
			strerror(errno));
		return 2;
	}
	umask(022);
	for (j = 0; j < NCHECKS; j++) {
		for (i = 2; i < argc && strcmp(argv[i], checks[j].name); i++)
			;
		if (argc > 2 && i == argc)
			continue;
		ran++;
		if (run_check(dirfd, &checks[j]) != 0)
			failed++;
	}
	close(dirfd);
	if (ran == 0) {
		fprintf(stderr, "posix_check: no such check\n");
		return 2;
	}
	printf("%d of %d checks failed\n", failed, ran);
	return failed ? 1 : 0;
}
