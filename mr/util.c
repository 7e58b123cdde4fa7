/*
 * util.c - local-filesystem and option helpers (see util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "xmalloc.h"

#include "banned.h"

char *util_map_file(const char *path, size_t *len)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NULL;
	}
	*len = (size_t)st.st_size;
	if (*len == 0) {
		close(fd);
		return (char *)"";
	}
	p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

void util_unmap(char *p, size_t len)
{
	if (p != NULL && len != 0)
		munmap(p, len);
}

int util_mkdir_p(const char *path)
{
	char *p = xstrdup(path);
	char *s;
	int r = 0;

	for (s = p + 1; r == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			r = -errno;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return r;
}

static int util_rm_one(const char *path, const struct stat *st, int type,
		       struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) != 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) != 0 && errno != ENOENT ? -1 : 0;
}

int util_rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, util_rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return errno != 0 ? -errno : -EIO;
	return 0;
}

int util_write_file(const char *path, const void *data, size_t len)
{
	static atomic_uint seq;
	char *tmp = xasprintf("%s.tmp.%ld.%u", path, (long)getpid(),
			      atomic_fetch_add(&seq, 1));
	const char *p = data;
	ssize_t n;
	int fd, r;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out_close;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		r = -errno;
		goto out_close;
	}
	r = 0;
out_close:
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r != 0)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

bool util_name_is_safe(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
			     "vwxyz0123456789_.-");

	return n > 0 && n < 64 && s[n] == '\0' && s[0] != '.';
}

/* True if nv looks like NAME=VALUE with a non-empty NAME. */
static bool util_param_is_valid(const char *nv)
{
	const char *eq = strchr(nv, '=');

	return eq != NULL && eq != nv &&
	       strcspn(nv, "=") == (size_t)(eq - nv);
}

char **util_params_add(char **params, const char *nv)
{
	size_t n = 0;

	if (!util_param_is_valid(nv))
		return NULL;
	while (params != NULL && params[n] != NULL)
		n++;
	params = xrealloc(params, (n + 2) * sizeof(*params));
	params[n] = xstrdup(nv);
	params[n + 1] = NULL;
	return params;
}

json_t *util_params_to_json(char *const *params)
{
	json_t *obj = json_object();
	char *name;
	size_t i;

	for (i = 0; params != NULL && params[i] != NULL; i++) {
		name = xstrdup(params[i]);
		*strchr(name, '=') = '\0';
		json_object_set_new(obj, name,
				    json_string(params[i] + strlen(name) + 1));
		free(name);
	}
	return obj;
}

char **util_params_from_json(const json_t *obj, int *err)
{
	char **params = xcalloc(1, sizeof(*params));
	const char *name;
	json_t *v;
	char *nv;

	*err = 0;
	if (obj == NULL || json_is_null(obj))
		return params;
	if (!json_is_object(obj) || json_object_size(obj) > 1000)
		goto bad;
	json_object_foreach((json_t *)obj, name, v) {
		if (!json_is_string(v) || name[0] == '\0' ||
		    strchr(name, '=') != NULL || json_string_length(v) > 65536)
			goto bad;
		nv = xasprintf("%s=%s", name, json_string_value(v));
		params = util_params_add(params, nv);
		free(nv);
		if (params == NULL) {
			*err = -EINVAL;
			return NULL;
		}
	}
	return params;
bad:
	util_params_free(params);
	*err = -EINVAL;
	return NULL;
}

void util_params_free(char **params)
{
	size_t i;

	for (i = 0; params != NULL && params[i] != NULL; i++)
		free(params[i]);
	free(params);
}

bool util_parse_uint(const char *s, unsigned long long min,
		     unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

void util_sleep_ms(long ms, const atomic_bool *stop)
{
	struct timespec ts;
	long slice;

	while (ms > 0 && (stop == NULL || !atomic_load(stop))) {
		slice = ms < 100 ? ms : 100;
		ts.tv_sec = 0;
		ts.tv_nsec = slice * 1000000L;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}
