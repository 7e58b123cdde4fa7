/*
 * store_corrupt.c - replicas set aside as corrupt (see store.h). A
 * replica whose block failed its checksum is moved to DIR/corrupt/ by
 * store.c; its handle is reported to the master until the master says
 * the chunk was replaced from a good copy, then the files go.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"
#include "store.h"
#include "store_int.h"

#include "banned.h"

/* Handle of a DIR/corrupt name "HHHHHHHHHHHHHHHH" or "....meta". */
static bool corrupt_name(const char *name, uint64_t *handle)
{
	char *end;

	if (strlen(name) < 16 || name[0] == '.')
		return false;
	errno = 0;
	*handle = strtoull(name, &end, 16);
	return errno == 0 && end == name + 16 &&
	       (*end == '\0' || strcmp(end, ".meta") == 0) &&
	       *handle <= STORE_MAX_ID;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t store_corrupt_list(struct store *st, uint64_t **out)
{
	char path[PATH_MAX];
	uint64_t *v = NULL, h;
	size_t n = 0, cap = 0, i, k = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/" STORE_CORRUPT_DIR, st->dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!corrupt_name(de->d_name, &h))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = h;
	}
	closedir(d);
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), u64_cmp);
	for (i = 0; i < n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	*out = v;
	return k;
}

int store_corrupt_drop(struct store *st, uint64_t handle)
{
	char path[PATH_MAX];
	int r = -ENOENT;

	store_corrupt_path(st, handle, ".meta", path);
	if (unlink(path) == 0)
		r = 0;
	else if (errno != ENOENT)
		return -errno;
	store_corrupt_path(st, handle, "", path);
	if (unlink(path) == 0)
		r = 0;
	else if (errno != ENOENT)
		return -errno;
	if (r == 0)
		log_info("chunk %016llx: corrupt copy removed",
			 (unsigned long long)handle);
	return r;
}
