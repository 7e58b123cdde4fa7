/*
 * worker_task.c - one map or reduce attempt on a worker.
 *
 * Map: the split's chunk is read straight from the files of a replica on
 * this machine (dfs_chunk_read_local()), else from a chunk server, the
 * local one first when it holds a replica (a GET of EP_CHUNK_READ), and
 * through the client library only as a fallback. Lines belong to the split where
 * they start: a split other than the file's first skips the partial line
 * at its start (looking at the byte before it), and every split reads
 * past its end to finish its last line.
 *
 * Reduce: every map's partition is fetched into one local file, the runs
 * are merged and reduced into OUTPUT/_temporary/part-NNNNN.attempt-A,
 * which is then renamed to OUTPUT/part-NNNNN (without replacing: when
 * another attempt published first, its identical output stays).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "dfs_client.h"
#include "dfsutil.h"
#include "http_client.h"
#include "kv.h"
#include "log.h"
#include "plan.h"
#include "proto.h"
#include "secure.h"
#include "task.h"
#include "util.h"
#include "worker.h"
#include "xmalloc.h"

#include "banned.h"

/* Piece read at a time while finishing a split's last line. */
#define WK_TAIL_STEP (64 * 1024)

/* Longest line a split may finish past its end. */
#define WK_TAIL_MAX (256u * 1024 * 1024)

/* Reduce output buffered before a DFS write. */
#define WK_OUT_BUF (4u * 1024 * 1024)

/* Tries of one shuffle fetch on transport errors. */
#define WK_FETCH_TRIES 3

/* Largest map output partition fetched. */
#define WK_MAX_SEGMENT (2ull * 1024 * 1024 * 1024)

/* A task parsed from its object, with its app. */
struct wk_task {
	const json_t *obj;
	uint64_t attempt;
	const char *job;
	unsigned index;
	unsigned reduces;
	char **params;
	struct app *app;
	bool own_app;                 /* streaming: freed after the task */
	struct wk_run *run;
	struct task_stats st;
	char *error;                  /* failure message */
	json_t *lost;                 /* reduce: map attempts not fetched */
	json_t *parts;                /* map: partition sizes */
};

char *wk_map_dir(const struct worker *w, const char *job, uint64_t map,
		 uint64_t attempt)
{
	return xasprintf("%s/out/%s/m%" PRIu64 "-a%" PRIu64, w->data, job,
			 map, attempt);
}

/* ------------------------------------------------------------------ */
/* Apps                                                                 */
/* ------------------------------------------------------------------ */

/* True if data hashes to the hex SHA-256 id. */
static bool wk_sha_matches(const void *data, size_t len, const char *id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[65];
	unsigned n = 0, i;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return false;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return strcmp(hex, id) == 0;
}

/* Fetch app object id from the coordinator into path. */
static int wk_fetch_app(struct worker *w, const char *id, const char *path)
{
	struct http_result res = { 0 };
	char *q = xasprintf("%s?id=%s", MR_EP_APP, id);
	char *dir = xasprintf("%s/apps", w->data);
	int r;

	r = http_client_request(w->ctl, "GET", w->coordinator, q, NULL, 0,
				NULL, MR_MAX_APP, &res);
	if (r == 0 && res.status != 200)
		r = -ENOENT;
	if (r == 0 && !wk_sha_matches(res.body, res.len, id))
		r = -EBADMSG;
	if (r == 0 && (r = util_mkdir_p(dir)) == 0)
		r = util_write_file(path, res.body, res.len);
	http_result_release(&res);
	free(q);
	free(dir);
	return r;
}

/* The cached C app "id", or NULL. */
static struct app *wk_app_find(struct worker *w, const char *id)
{
	struct wk_app *wa;
	struct app *a = NULL;

	pthread_mutex_lock(&w->lock);
	for (wa = w->apps; wa != NULL && a == NULL; wa = wa->next)
		if (strcmp(wa->id, id) == 0)
			a = wa->app;
	pthread_mutex_unlock(&w->lock);
	return a;
}

/* The C app "id", fetched and loaded on first use (one fetch at a time,
 * so concurrent tasks of a new job share it). */
static struct app *wk_app_get(struct worker *w, const char *id, char **err)
{
	char *path = xasprintf("%s/apps/%s.so", w->data, id);
	struct wk_app *wa;
	struct app *a;
	int r;

	if ((a = wk_app_find(w, id)) != NULL)
		goto out;
	pthread_mutex_lock(&w->app_lock);
	if ((a = wk_app_find(w, id)) != NULL)
		goto out_unlock;
	if (access(path, R_OK) != 0 && (r = wk_fetch_app(w, id, path)) != 0) {
		*err = xasprintf("cannot fetch app %s: %s", id, strerror(-r));
		goto out_unlock;
	}
	if ((a = app_open_so(path)) == NULL) {
		*err = xasprintf("cannot load app %s", id);
		goto out_unlock;
	}
	wa = xcalloc(1, sizeof(*wa));
	snprintf(wa->id, sizeof(wa->id), "%s", id);
	wa->app = a;
	pthread_mutex_lock(&w->lock);
	wa->next = w->apps;
	w->apps = wa;
	pthread_mutex_unlock(&w->lock);
out_unlock:
	pthread_mutex_unlock(&w->app_lock);
out:
	free(path);
	return a;
}

/* Parse the common task fields and get its app; 0 or -1 with t->error. */
static int wk_task_init(struct worker *w, struct wk_task *t)
{
	const char *app = "", *mapper = NULL, *reducer = NULL;
	uint64_t index = 0, reduces = 0;
	int r;

	if (proto_get_str(t->obj, "job", MR_JOB_ID_MAX - 1, &t->job) != 0 ||
	    !util_name_is_safe(t->job) ||
	    proto_get_u64(t->obj, "index", MR_MAX_MAPS, &index) != 0 ||
	    proto_get_u64(t->obj, "reduces", MR_MAX_REDUCES, &reduces) != 0 ||
	    reduces == 0) {
		t->error = xstrdup("malformed task");
		return -1;
	}
	t->index = (unsigned)index;
	t->reduces = (unsigned)reduces;
	t->params = util_params_from_json(json_object_get(t->obj, "params"),
					  &r);
	if (t->params == NULL) {
		t->error = xstrdup("malformed task params");
		return -1;
	}
	proto_get_str(t->obj, "app", 64, &app);
	proto_get_str(t->obj, "mapper", 65536, &mapper);
	proto_get_str(t->obj, "reducer", 65536, &reducer);
	if (app[0] != '\0') {
		t->app = wk_app_get(w, app, &t->error);
	} else if (mapper != NULL && reducer != NULL) {
		t->app = app_new_streaming(mapper, reducer);
		t->own_app = true;
	} else {
		t->error = xstrdup("task names no app");
	}
	return t->app != NULL ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Map                                                                  */
/* ------------------------------------------------------------------ */

/* GET [0, len) of chunk ch from replica addr into buf. */
static int wk_read_replica(struct worker *w, const struct dfs_chunk *ch,
			   const char *addr, char *buf, size_t len)
{
	char *q = xasprintf("%s?handle=%" PRIu64 "&version=%" PRIu64
			    "&offset=0&length=%zu", EP_CHUNK_READ,
			    ch->handle, ch->version, len);
	char *err_body = NULL;
	struct secure_token_hdr th;
	size_t got = 0;
	long status = 0;
	int r;

	/* The token came with the plan; once it expires the read fails
	 * here and the client library fetches a fresh one. */
	r = http_client_get_into_hdr(w->bulk, addr, q,
				     secure_token_headers(&th, ch->token), buf,
				     len, &got, &status, &err_body);
	if (r == 0 && (status != 200 || got != len))
		r = -EIO;
	if (r != 0)
		log_warnx("read of chunk %" PRIu64 " from '%s' failed (%s, "
			  "HTTP %ld), trying elsewhere", ch->handle, addr,
			  strerror(-r), status);
	free(err_body);
	free(q);
	return r;
}

/* Read [off, off+len) through the client library. */
static int wk_read_file(struct dfs_file *f, char *buf, size_t len,
			uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = dfs_file_read(f, buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* The chunk's bytes: the local replica's files, the local replica over
 * HTTP, then the others, then the library. */
static int wk_read_chunk(struct worker *w, const struct dfs_chunk *ch,
			 struct dfs_file *f, char *buf, size_t len,
			 uint64_t off)
{
	int i;

	if (ch->handle != 0 && dfs_chunk_read_local(w->dc, ch, 0, buf, len) == 0)
		return 0;
	for (i = 0; i < ch->nreplicas && ch->handle != 0; i++)
		if (strcmp(ch->replicas[i], w->chunkd) == 0 &&
		    wk_read_replica(w, ch, ch->replicas[i], buf, len) == 0)
			return 0;
	for (i = 0; i < ch->nreplicas && ch->handle != 0; i++)
		if (strcmp(ch->replicas[i], w->chunkd) != 0 &&
		    wk_read_replica(w, ch, ch->replicas[i], buf, len) == 0)
			return 0;
	return wk_read_file(f, buf, len, off);
}

/* Append the rest of the line that starts before "end" (file offset of
 * buf[*len]) to buf, growing it. */
static int wk_read_tail(struct dfs_file *f, char **buf, size_t *len,
			size_t *cap, uint64_t end, uint64_t size)
{
	size_t n, tail = 0;
	char *nl = NULL;
	int r;

	while (nl == NULL && end + tail < size) {
		if (tail > WK_TAIL_MAX)
			return -E2BIG;
		n = size - end - tail < WK_TAIL_STEP ? size - end - tail
						     : WK_TAIL_STEP;
		if (*len + n > *cap) {
			*cap = (*len + n) * 2;
			*buf = xrealloc(*buf, *cap);
		}
		if ((r = wk_read_file(f, *buf + *len, n, end + tail)) != 0)
			return r;
		nl = memchr(*buf + *len, '\n', n);
		n = nl != NULL ? (size_t)(nl - (*buf + *len)) + 1 : n;
		*len += n;
		tail += n;
	}
	return 0;
}

/*
 * The records of the split: *data points into *buf (caller frees) at
 * file offset *at, *dlen bytes of whole lines.
 */
static int wk_read_split(struct worker *w, struct wk_task *t, char **buf,
			 const char **data, size_t *dlen, uint64_t *at)
{
	uint64_t ino, size, cs, s, e;
	struct dfs_chunk ch;
	struct dfs_file *f = NULL;
	size_t len, cap, start = 0;
	char prev = '\n', *nl;
	int r;

	if (proto_get_u64(t->obj, "ino", UINT64_MAX, &ino) != 0 ||
	    proto_get_u64(t->obj, "size", UINT64_MAX, &size) != 0 ||
	    proto_get_u64(t->obj, "chunk_size", UINT64_MAX, &cs) != 0 ||
	    cs == 0 || cs > (1ull << 34) ||
	    proto_chunk_from_json(json_object_get(t->obj, "chunk"), &ch) != 0)
		return -EINVAL;
	s = ch.index * cs;
	if (s >= size)
		return -EINVAL;
	e = size - s < cs ? size : s + cs;
	len = (size_t)(e - s);
	cap = len + WK_TAIL_STEP;
	*buf = xmalloc(cap);
	f = dfs_file_open(w->dc, ino, O_RDONLY, size);
	if ((r = wk_read_chunk(w, &ch, f, *buf, len, s)) != 0)
		goto out;
	atomic_fetch_add(&t->run->progress, len);
	if (s > 0 && (r = wk_read_file(f, &prev, 1, s - 1)) != 0)
		goto out;
	if (prev != '\n') {
		nl = memchr(*buf, '\n', len);
		start = nl != NULL ? (size_t)(nl - *buf) + 1 : len;
	}
	if (start < len && (*buf)[len - 1] != '\n' && e < size &&
	    (r = wk_read_tail(f, buf, &len, &cap, e, size)) != 0)
		goto out;
	*data = *buf + start;
	*dlen = len - start;
	*at = s + start;
	r = 0;
out:
	dfs_file_close(f);
	return r;
}

static int wk_map(struct worker *w, struct wk_task *t)
{
	uint64_t *sizes = xcalloc(t->reduces, sizeof(*sizes)), at = 0;
	struct app_task at_ = { t->job, t->index, NULL, t->params,
				&t->run->abort };
	const char *data = NULL, *file = NULL;
	char *buf = NULL, *dir = NULL;
	size_t len = 0;
	unsigned p;
	int r;

	if (proto_get_str(t->obj, "file", DFS_PATH_MAX, &file) != 0) {
		r = -EINVAL;
		goto out;
	}
	at_.file = file;
	if ((r = wk_read_split(w, t, &buf, &data, &len, &at)) != 0)
		goto out;
	dir = wk_map_dir(w, t->job, t->index, t->attempt);
	if ((r = util_rm_rf(dir)) != 0 || (r = util_mkdir_p(dir)) != 0)
		goto out;
	r = task_map(t->app, &at_, dir, t->reduces, w->map_memory, data, len,
		     at, sizes, &t->st, &t->run->progress);
	if (r != 0)
		goto out;
	t->parts = json_array();
	for (p = 0; p < t->reduces; p++)
		json_array_append_new(t->parts,
				      json_integer((json_int_t)sizes[p]));
out:
	if (r != 0)
		t->error = xasprintf("map %u of '%s': %s", t->index,
				     file != NULL ? file : "?", strerror(-r));
	if (r != 0 && dir != NULL)
		util_rm_rf(dir);
	free(sizes);
	free(buf);
	free(dir);
	return r;
}

/* ------------------------------------------------------------------ */
/* Reduce                                                               */
/* ------------------------------------------------------------------ */

/* Fetch one map output partition; 0, -ENOENT (lost) or another -errno. */
static int wk_fetch(struct worker *w, struct wk_task *t, const char *addr,
		    uint64_t map, uint64_t attempt, int fd, uint64_t *len)
{
	char *q = xasprintf("%s?job=%s&map=%" PRIu64 "&attempt=%" PRIu64
			    "&part=%u", MR_EP_MAP_OUTPUT, t->job, map, attempt,
			    t->index);
	struct http_result res = { 0 };
	int r = -EIO, i;

	for (i = 0; i < WK_FETCH_TRIES && !atomic_load(&t->run->abort); i++) {
		if (i > 0)
			util_sleep_ms(300L << i, &t->run->abort);
		http_result_release(&res);
		r = http_client_request(w->bulk, "GET", addr, q, NULL, 0, NULL,
					WK_MAX_SEGMENT, &res);
		if (r == 0 && res.status != 200)
			r = res.status == 404 ? -ENOENT : -EIO;
		if (r == 0 || r == -ENOENT)
			break;
	}
	if (r == 0 && !kv_run_is_valid(res.body, res.body + res.len))
		r = -EBADMSG;
	if (r == 0 && res.len > 0 &&
	    write(fd, res.body, res.len) != (ssize_t)res.len)
		r = -EIO;
	*len = r == 0 ? res.len : 0;
	if (r != 0)
		log_warnx("job %s: cannot fetch map %" PRIu64
			  " attempt %" PRIu64 " from '%s': %s", t->job, map,
			  attempt, addr, strerror(-r));
	http_result_release(&res);
	free(q);
	return r;
}

/*
 * Fetch every map output of the partition into dir/in; runs[] receives
 * each one's extent as offsets (p is NULL until the file is mapped).
 * Unreachable outputs go to t->lost and make it fail with -EAGAIN.
 */
static int wk_fetch_all(struct worker *w, struct wk_task *t, const char *in,
			struct kv_run *runs, size_t *nruns)
{
	const json_t *maps = json_object_get(t->obj, "maps"), *m;
	const char *addr;
	uint64_t map, attempt, off = 0, len;
	size_t i;
	int fd, r = 0, e;

	if (!json_is_array(maps))
		return -EINVAL;
	if ((fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -errno;
	t->lost = json_array();
	json_array_foreach(maps, i, m) {
		if (atomic_load(&t->run->abort)) {
			r = -ECANCELED;
			break;
		}
		if (proto_get_str(m, "addr", DFS_ADDR_MAX - 1, &addr) != 0 ||
		    proto_get_u64(m, "map", MR_MAX_MAPS, &map) != 0 ||
		    proto_get_u64(m, "attempt", UINT64_MAX, &attempt) != 0) {
			r = -EINVAL;
			break;
		}
		e = wk_fetch(w, t, addr, map, attempt, fd, &len);
		if (e != 0) {
			json_array_append_new(
				t->lost, json_integer((json_int_t)attempt));
			continue;
		}
		runs[*nruns].p = (const char *)(uintptr_t)off;
		runs[*nruns].end = (const char *)(uintptr_t)(off + len);
		(*nruns)++;
		off += len;
		t->st.shuffle_bytes += len;
		atomic_fetch_add(&t->run->progress, len);
	}
	if (close(fd) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && json_array_size(t->lost) > 0)
		r = -EAGAIN;
	return r;
}

/* Buffered writer of the reduce output into a DFS file. */
struct wk_out {
	struct dfs_file *f;
	char *buf;
	size_t len;
	uint64_t off;
};

static int wk_out_flush(struct wk_out *o)
{
	ssize_t n;

	if (o->len == 0)
		return 0;
	n = dfs_file_write(o->f, o->buf, o->len, (off_t)o->off);
	if (n < 0)
		return (int)n;
	o->off += o->len;
	o->len = 0;
	return 0;
}

static int wk_out_fn(void *arg, const char *data, size_t len)
{
	struct wk_out *o = arg;
	int r;

	if (o->len + len > WK_OUT_BUF && (r = wk_out_flush(o)) != 0)
		return r;
	if (len > WK_OUT_BUF) {
		ssize_t n = dfs_file_write(o->f, data, len, (off_t)o->off);

		if (n < 0)
			return (int)n;
		o->off += len;
		return 0;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

/* Reduce the fetched runs into the temporary file, then publish it. */
static int wk_reduce_out(struct worker *w, struct wk_task *t,
			 const struct kv_run *runs, size_t nruns,
			 const char *output)
{
	struct app_task at = { t->job, t->index, NULL, t->params,
			       &t->run->abort };
	char *tmp = plan_temp_path(output, t->index, t->attempt);
	char *part = plan_part_path(output, t->index);
	struct wk_out o = { 0 };
	struct dfs_attr a;
	int r;

	if ((r = dfsu_create(w->dc, tmp, &a)) != 0)
		goto out;
	o.f = dfs_file_open(w->dc, a.ino, O_WRONLY, 0);
	o.buf = xmalloc(WK_OUT_BUF);
	r = task_reduce(t->app, &at, runs, nruns, wk_out_fn, &o, &t->st);
	if (r == 0)
		r = wk_out_flush(&o);
	if (dfs_file_close(o.f) != 0 && r == 0)
		r = -EIO;
	if (r == 0)
		r = dfsu_rename(w->dc, tmp, part, PROTO_RENAME_NOREPLACE);
	if (r == -EEXIST) {
		log_info("job %s: part %u already published by another "
			 "attempt", t->job, t->index);
		r = 0;
	}
out:
	if (r != 0 || dfs_resolve(w->dc, tmp, &a) == 0)
		dfsu_rm_rf(w->dc, tmp);
	free(o.buf);
	free(tmp);
	free(part);
	return r;
}

static int wk_reduce(struct worker *w, struct wk_task *t)
{
	const json_t *maps = json_object_get(t->obj, "maps");
	size_t n = json_array_size(maps), nruns = 0, i, flen = 0;
	struct kv_run *runs = xcalloc(n + 1, sizeof(*runs));
	char *dir = xasprintf("%s/red/%s/r%u-a%" PRIu64, w->data, t->job,
			      t->index, t->attempt);
	char *in = xasprintf("%s/in", dir), *file = NULL;
	const char *output = NULL;
	int r;

	if (proto_get_str(t->obj, "output", DFS_PATH_MAX, &output) != 0 ||
	    !plan_path_is_valid(output)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = util_mkdir_p(dir)) != 0 ||
	    (r = wk_fetch_all(w, t, in, runs, &nruns)) != 0)
		goto out;
	if ((file = util_map_file(in, &flen)) == NULL) {
		r = -errno;
		goto out;
	}
	for (i = 0; i < nruns; i++) {
		runs[i].p = file + (uintptr_t)runs[i].p;
		runs[i].end = file + (uintptr_t)runs[i].end;
	}
	r = wk_reduce_out(w, t, runs, nruns, output);
out:
	if (r != 0)
		t->error = xasprintf("reduce %u: %s", t->index,
				     r == -EAGAIN ? "map outputs lost"
						  : strerror(-r));
	util_unmap(file, flen);
	util_rm_rf(dir);
	free(runs);
	free(dir);
	free(in);
	return r;
}

/* ------------------------------------------------------------------ */
/* Entry point                                                          */
/* ------------------------------------------------------------------ */

/* The MR_EP_DONE report of a finished attempt. */
static json_t *wk_report(const struct wk_task *t, uint64_t wid, bool ok)
{
	json_t *o;

	o = json_pack("{s:I, s:I, s:b, s:s, s:{s:I, s:I, s:I, s:I, s:I}}",
		      "worker", (json_int_t)wid, "attempt",
		      (json_int_t)t->attempt, "ok", ok, "error",
		      t->error != NULL ? t->error : "", "counters",
		      "bytes_read", (json_int_t)t->st.bytes_read,
		      "bytes_written", (json_int_t)t->st.bytes_written,
		      "shuffle_bytes", (json_int_t)t->st.shuffle_bytes,
		      "records_in", (json_int_t)t->st.records_in,
		      "records_out", (json_int_t)t->st.records_out);
	if (t->lost != NULL)
		json_object_set(o, "lost", t->lost);
	if (t->parts != NULL)
		json_object_set(o, "parts", t->parts);
	return o;
}

static void wk_run_add(struct worker *w, struct wk_run *run)
{
	pthread_mutex_lock(&w->lock);
	run->next = w->runs;
	w->runs = run;
	pthread_mutex_unlock(&w->lock);
}

static void wk_run_remove(struct worker *w, struct wk_run *run)
{
	struct wk_run **pp;

	pthread_mutex_lock(&w->lock);
	for (pp = &w->runs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == run) {
			*pp = run->next;
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
}

json_t *wk_run_task(struct worker *w, const json_t *task, uint64_t wid)
{
	struct wk_run run = { 0 };
	struct wk_task t = { .obj = task, .run = &run };
	const char *kind = "";
	json_t *rep;
	int r;

	proto_get_u64(task, "attempt", UINT64_MAX, &t.attempt);
	proto_get_str(task, "kind", 16, &kind);
	run.attempt = t.attempt;
	if ((r = wk_task_init(w, &t)) == 0) {
		snprintf(run.job, sizeof(run.job), "%s", t.job);
		wk_run_add(w, &run);
		if (strcmp(kind, "map") == 0)
			r = wk_map(w, &t);
		else if (strcmp(kind, "reduce") == 0)
			r = wk_reduce(w, &t);
		else
			t.error = xasprintf("unknown task kind '%s'", kind);
		wk_run_remove(w, &run);
	}
	if (r == 0 && t.error != NULL)
		r = -EINVAL;
	if (r != 0 && atomic_load(&run.abort)) {
		free(t.error);
		t.error = xstrdup("aborted");
	}
	if (r != 0)
		log_warnx("attempt %" PRIu64 " failed: %s", t.attempt,
			  t.error != NULL ? t.error : strerror(-r));
	rep = wk_report(&t, wid, r == 0);
	if (t.own_app)
		app_free(t.app);
	util_params_free(t.params);
	json_decref(t.lost);
	json_decref(t.parts);
	free(t.error);
	return rep;
}
