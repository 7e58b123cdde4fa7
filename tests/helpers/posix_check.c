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
#include <sys/types.h>
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
