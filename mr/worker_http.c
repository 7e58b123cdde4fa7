/*
 * worker_http.c - the worker's HTTP routes: map output partitions for
 * reducers (MR_EP_MAP_OUTPUT) and a health probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_server.h"
#include "mapout.h"
#include "mr_proto.h"
#include "util.h"
#include "wire.h"
#include "worker.h"
#include "xmalloc.h"

#include "banned.h"

/* Largest partition served in one reply. */
#define WK_MAX_SERVE (2ull * 1024 * 1024 * 1024)

/* Read [off, off+len) of path into a new buffer. 0 or -errno. */
static int wk_read_range(const char *path, uint64_t off, uint64_t len,
			 char **buf)
{
	ssize_t n;
	size_t done = 0;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -ENOENT;
	*buf = xmalloc(len != 0 ? (size_t)len : 1);
	while (done < len) {
		n = pread(fd, *buf + done, (size_t)len - done,
			  (off_t)(off + done));
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	if (r != 0) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

static void wk_serve_output(struct http_request *req, void *arg)
{
	struct worker *w = arg;
	const char *job = http_request_query(req, "job");
	uint64_t map, attempt, part, off, len;
	char *dir = NULL, *path = NULL, *buf = NULL;
	int r;

	if (job == NULL || !util_name_is_safe(job) ||
	    http_request_query_u64(req, "map", MR_MAX_MAPS, &map) != 0 ||
	    http_request_query_u64(req, "attempt", UINT64_MAX, &attempt) != 0 ||
	    http_request_query_u64(req, "part", MR_MAX_REDUCES, &part) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "need job, map, attempt and part");
		return;
	}
	dir = wk_map_dir(w, job, map, attempt);
	path = xasprintf("%s/out", dir);
	r = mapout_segment(dir, (unsigned)part, &off, &len);
	if (r == 0 && len > WK_MAX_SERVE)
		r = -EFBIG;
	if (r == 0)
		r = wk_read_range(path, off, len, &buf);
	if (r != 0)
		http_reply_error(req, r == -ENOENT ? DFS_ERR_NOENT
						   : wire_status_from_errno(r),
				 "no output of map %" PRIu64 " attempt %" PRIu64
				 " part %" PRIu64 " here: %s", map, attempt,
				 part, strerror(-r));
	else
		http_reply_buffer(req, 200, buf, (size_t)len,
				  "application/octet-stream");
	free(dir);
	free(path);
}

static void wk_health(struct http_request *req, void *arg)
{
	struct worker *w = arg;
	struct wk_run *run;
	uint64_t wid;
	size_t n = 0;

	pthread_mutex_lock(&w->lock);
	wid = w->wid;
	for (run = w->runs; run != NULL; run = run->next)
		n++;
	pthread_mutex_unlock(&w->lock);
	http_reply_json(req, 200,
			json_pack("{s:s, s:s, s:s, s:I, s:I}", "role", "worker",
				  "addr", w->addr, "chunkd", w->chunkd,
				  "worker", (json_int_t)wid, "running",
				  (json_int_t)n));
}

static const struct http_route wk_route_table[] = {
	{ "GET", MR_EP_MAP_OUTPUT, wk_serve_output, 0, 0 },
	{ "GET", MR_EP_HEALTH, wk_health, 0, 0 },
};

const struct http_route *wk_routes(size_t *n)
{
	*n = sizeof(wk_route_table) / sizeof(wk_route_table[0]);
	return wk_route_table;
}
