/*
 * test_client.c - the client library's data path against a fake cluster
 * in the same process: a fake master (one file, inode 2, in memory) and
 * three fake chunk servers that keep replicas in memory and forward
 * writes along the chain, all on lib/http_server. Faults are injected
 * per server (failing reads, stale writes).
 *
 * Checks: write-back and read-ahead give the same bytes as a reference
 * buffer across chunk boundaries; every replica holds the same bytes;
 * read-ahead saves requests; reads see the handle's own writes; truncate
 * zeroes the tail; failed replicas and stale leases are retried.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfs_client.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

#define NSRV 3
#define CS (1024 * 1024)
#define MAXCH 64
#define INO 2
#define HANDLE0 100

/* The fake cluster. */
struct fake {
	pthread_mutex_t lock;           /* guards everything below */
	uint64_t size;                  /* the file's size at the master */
	bool exists[MAXCH];             /* chunk allocated */
	char *data[NSRV][MAXCH];        /* replica bytes per server */
	size_t len[NSRV][MAXCH];
	unsigned mask[MAXCH];           /* replica set of a chunk (bits) */
	uint64_t version[MAXCH];        /* chunk version */
	int fail_writes[NSRV];          /* answer writes with IO */
	int nfailed;                    /* "failed" reports received */
	int fail_reads[NSRV];           /* answer reads with IO */
	int stale_writes;               /* answer that many writes STALE */
	int nreads;                     /* chunk reads served */
	int nwrites;                    /* chunk writes at a primary */
	int nextend;                    /* EP_EXTEND calls */
	int nsync;                      /* EP_SYNC calls */
	int nsetattr;                   /* EP_SETATTR calls */
	uint64_t setattr_valid;         /* "valid" of the last one */
	int write_delay_ms;             /* a primary waits before writing */
	bool delay_chunk0_only;		/* ... only for writes to chunk 0 */
	int early_updates;              /* size updates seen by a primary
					 * before it wrote */
};

static struct fake F;
static struct http_server *master_srv, *chunk_srv[NSRV];
static char master_addr[DFS_ADDR_MAX], chunk_addr[NSRV][DFS_ADDR_MAX];
static int srv_ids[NSRV] = { 0, 1, 2 };
static struct http_client *fwd;

static void fake_reset(void)
{
	pthread_mutex_lock(&F.lock);
	for (int s = 0; s < NSRV; s++)
		for (int i = 0; i < MAXCH; i++)
			free(F.data[s][i]);
	memset(&F.size, 0, sizeof(F) - offsetof(struct fake, size));
	pthread_mutex_unlock(&F.lock);
}

static json_t *file_attr(void)
{
	struct dfs_attr a = {
		.ino = INO, .mode = S_IFREG | 0644, .nlink = 1,
		.size = F.size, .replication = 3,
	};

	a.mtime = a.ctime = a.atime = time_now_ts();
	return proto_attr_to_json(&a);
}

static void m_statfs(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_json(req, 200,
			json_pack("{s:I, s:I, s:I, s:I, s:I}", "capacity",
				  (json_int_t)1 << 40, "used", (json_int_t)0,
				  "free", (json_int_t)1 << 40, "files",
				  (json_int_t)1, "chunk_size", (json_int_t)CS));
}

static void m_getattr(struct http_request *req, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&F.lock);
	http_reply_json(req, 200, file_attr());
	pthread_mutex_unlock(&F.lock);
}

static void m_extend(struct http_request *req, void *arg)
{
	json_t *j = http_request_json(req);
	uint64_t size = 0;

	(void)arg;
	if (j == NULL)
		return;
	proto_get_u64(j, "size", UINT64_MAX, &size);
	pthread_mutex_lock(&F.lock);
	F.nextend++;
	if (size > F.size)
		F.size = size;
	http_reply_json(req, 200, file_attr());
	pthread_mutex_unlock(&F.lock);
	json_decref(j);
}

static void m_sync(struct http_request *req, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&F.lock);
	F.nsync++;
	pthread_mutex_unlock(&F.lock);
	http_reply_json(req, 200, json_object());
}

/* EP_APPEND: reserve "length" bytes at the end (record append). */
static void m_append(struct http_request *req, void *arg)
{
	json_t *j = http_request_json(req), *reply;
	uint64_t len = 0;

	(void)arg;
	if (j == NULL)
		return;
	proto_get_u64(j, "length", UINT64_MAX, &len);
	pthread_mutex_lock(&F.lock);
	F.size += len;
	reply = file_attr();
	json_object_set_new(reply, "offset",
			    json_integer((json_int_t)(F.size - len)));
	http_reply_json(req, 200, reply);
	pthread_mutex_unlock(&F.lock);
	json_decref(j);
}

static void m_setattr(struct http_request *req, void *arg)
{
	json_t *j = http_request_json(req);
	uint64_t size = 0, valid = 0;

	(void)arg;
	if (j == NULL)
		return;
	proto_get_u64(j, "valid", UINT64_MAX, &valid);
	pthread_mutex_lock(&F.lock);
	F.nsetattr++;
	F.setattr_valid = valid;
	if ((valid & PROTO_SET_EXTEND) &&
	    proto_get_u64(j, "extend", UINT64_MAX, &size) == 0 &&
	    size > F.size)
		F.size = size;
	if (valid & PROTO_SET_SIZE) {
		proto_get_u64(j, "size", UINT64_MAX, &size);
		F.size = size;
		for (uint64_t i = (size + CS - 1) / CS; i < MAXCH; i++) {
			F.exists[i] = false;
			for (int s = 0; s < NSRV; s++) {
				free(F.data[s][i]);
				F.data[s][i] = NULL;
				F.len[s][i] = 0;
			}
		}
	}
	http_reply_json(req, 200, file_attr());
	pthread_mutex_unlock(&F.lock);
	json_decref(j);
}

static json_t *chunk_json(uint64_t idx, bool write)
{
	struct dfs_chunk ch = {
		.index = idx, .handle = HANDLE0 + idx,
		.version = F.version[idx],
	};

	for (int s = 0; s < NSRV; s++) {
		if (!(F.mask[idx] & (1u << s)))
			continue;
		memcpy(ch.replicas[ch.nreplicas++], chunk_addr[s],
		       DFS_ADDR_MAX);
	}
	if (write) {
		memcpy(ch.primary, ch.replicas[0], DFS_ADDR_MAX);
		ch.lease_ms = time_now_ms() + 60000;
	}
	return proto_chunk_to_json(&ch);
}

/* The master's side of write recovery: drop a failed replica (never the
 * last one) and bump the version. */
static void drop_failed(uint64_t idx, const json_t *failed)
{
	const json_t *v;
	size_t k;

	json_array_foreach(failed, k, v) {
		for (int s = 0; s < NSRV; s++) {
			if (!json_is_string(v) ||
			    strcmp(json_string_value(v), chunk_addr[s]) != 0 ||
			    !(F.mask[idx] & (1u << s)) ||
			    (F.mask[idx] & ~(1u << s)) == 0)
				continue;
			F.mask[idx] &= ~(1u << s);
			F.version[idx]++;
			F.nfailed++;
		}
	}
}

static void m_chunks(struct http_request *req, void *arg)
{
	json_t *j = http_request_json(req), *arr;
	uint64_t idx = 0, count = 0;
	bool write = false;

	(void)arg;
	if (j == NULL)
		return;
	proto_get_u64(j, "index", UINT64_MAX, &idx);
	proto_get_u64(j, "count", UINT64_MAX, &count);
	proto_get_bool(j, "write", &write);
	arr = json_array();
	pthread_mutex_lock(&F.lock);
	if (write && json_is_array(json_object_get(j, "failed")))
		drop_failed(idx, json_object_get(j, "failed"));
	for (uint64_t i = idx; i < idx + count && i < MAXCH; i++) {
		if (write && !F.exists[i]) {
			F.exists[i] = true;
			F.mask[i] = (1u << NSRV) - 1;
			F.version[i] = 1;
		}
		if (F.exists[i])
			json_array_append_new(arr, chunk_json(i, write));
	}
	pthread_mutex_unlock(&F.lock);
	http_reply_json(req, 200,
			json_pack("{s:I, s:o}", "chunk_size", (json_int_t)CS,
				  "chunks", arr));
	json_decref(j);
}

/* Server that failed the last forward (only one write in flight). */
static char fwd_failed[DFS_ADDR_MAX];

/* Forward a chunk request to the head of "chain" with the rest of it. */
static int forward(const char *method, const char *ep, const char *params,
		   const char *chain, const void *body, size_t len)
{
	char next[DFS_ADDR_MAX], path[1024];
	const char *comma;
	struct http_result res;
	int r;

	if (chain == NULL || chain[0] == '\0')
		return 0;
	comma = strchr(chain, ',');
	snprintf(next, sizeof(next), "%.*s",
		 (int)(comma ? comma - chain : (long)strlen(chain)), chain);
	snprintf(path, sizeof(path), "%s?%s&fwd=1&chain=%s", ep, params,
		 comma ? comma + 1 : "");
	r = http_client_request(fwd, method, next, path, body, len,
				"application/octet-stream", 65536, &res);
	if (r == 0 && res.status != 200)
		r = -EIO;
	if (r != 0) {
		/* Name the server that failed: the next hop, or whoever it
		 * says failed further down. */
		json_t *e = res.body ? json_loads(res.body, 0, NULL) : NULL;
		const char *down = NULL;

		if (proto_get_str(e, "failed", DFS_ADDR_MAX - 1, &down) != 0)
			down = next;
		snprintf(fwd_failed, sizeof(fwd_failed), "%s", down);
		json_decref(e);
	}
	http_result_release(&res);
	return r;
}

/* Make replica (s, idx) at least n bytes long, zero-filled. */
static void replica_grow(int s, uint64_t idx, size_t n)
{
	if (F.len[s][idx] >= n)
		return;
	F.data[s][idx] = xrealloc(F.data[s][idx], n);
	memset(F.data[s][idx] + F.len[s][idx], 0, n - F.len[s][idx]);
	F.len[s][idx] = n;
}

static void c_write(struct http_request *req, void *arg)
{
	int s = *(int *)arg;
	uint64_t h = 0, v = 0, off = 0, idx;
	const char *chain = http_request_query(req, "chain");
	char params[256];
	size_t len;
	const void *body = http_request_body(req, &len);
	bool primary = http_request_query(req, "fwd") == NULL;

	http_request_query_u64(req, "handle", UINT64_MAX, &h);
	http_request_query_u64(req, "version", UINT64_MAX, &v);
	http_request_query_u64(req, "offset", UINT64_MAX, &off);
	idx = h - HANDLE0;
	if (primary && F.write_delay_ms > 0 &&
	    (idx == 0 || !F.delay_chunk0_only))
		usleep((useconds_t)F.write_delay_ms * 1000);
	pthread_mutex_lock(&F.lock);
	if (primary)
		F.early_updates += F.nextend + F.nsetattr;
	if (F.fail_writes[s]) {
		pthread_mutex_unlock(&F.lock);
		http_reply_error(req, DFS_ERR_IO, "injected");
		return;
	}
	if (v != F.version[idx] || (primary && F.stale_writes > 0)) {
		if (v == F.version[idx])
			F.stale_writes--;
		pthread_mutex_unlock(&F.lock);
		http_reply_error(req, DFS_ERR_STALE, "stale");
		return;
	}
	if (primary)
		F.nwrites++;
	replica_grow(s, idx, off + len);
	memcpy(F.data[s][idx] + off, body, len);
	pthread_mutex_unlock(&F.lock);
	snprintf(params, sizeof(params), "handle=%llu&version=%llu&offset=%llu",
		 (unsigned long long)h, (unsigned long long)v,
		 (unsigned long long)off);
	if (forward("PUT", EP_CHUNK_WRITE, params, chain, body, len) != 0) {
		http_reply_error_extra(req, DFS_ERR_DOWNSTREAM,
				       json_pack("{s:s}", "failed", fwd_failed),
				       "downstream");
		return;
	}
	http_reply_json(req, 200, NULL);
}

static void c_read(struct http_request *req, void *arg)
{
	int s = *(int *)arg;
	uint64_t h = 0, off = 0, len = 0, idx;
	char *buf;

	http_request_query_u64(req, "handle", UINT64_MAX, &h);
	http_request_query_u64(req, "offset", UINT64_MAX, &off);
	http_request_query_u64(req, "length", CS, &len);
	idx = h - HANDLE0;
	pthread_mutex_lock(&F.lock);
	if (F.fail_reads[s]) {
		pthread_mutex_unlock(&F.lock);
		http_reply_error(req, DFS_ERR_IO, "injected");
		return;
	}
	if (F.data[s][idx] == NULL && F.len[s][idx] == 0) {
		pthread_mutex_unlock(&F.lock);
		http_reply_error(req, DFS_ERR_NOENT, "no replica");
		return;
	}
	F.nreads++;
	buf = xcalloc(1, len + 1);
	if (off < F.len[s][idx])
		memcpy(buf, F.data[s][idx] + off,
		       F.len[s][idx] - off < len ? F.len[s][idx] - off : len);
	pthread_mutex_unlock(&F.lock);
	http_reply_buffer(req, 200, buf, len, "application/octet-stream");
}

static void c_truncate(struct http_request *req, void *arg)
{
	int s = *(int *)arg;
	uint64_t h = 0, v = 0, size = 0, idx;
	char params[256];

	http_request_query_u64(req, "handle", UINT64_MAX, &h);
	http_request_query_u64(req, "version", UINT64_MAX, &v);
	http_request_query_u64(req, "size", UINT64_MAX, &size);
	idx = h - HANDLE0;
	pthread_mutex_lock(&F.lock);
	replica_grow(s, idx, size);
	F.len[s][idx] = size;
	pthread_mutex_unlock(&F.lock);
	snprintf(params, sizeof(params), "handle=%llu&version=%llu&size=%llu",
		 (unsigned long long)h, (unsigned long long)v,
		 (unsigned long long)size);
	forward("POST", EP_CHUNK_TRUNCATE, params,
		http_request_query(req, "chain"), NULL, 0);
	http_reply_json(req, 200, NULL);
}

static void c_sync(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply_json(req, 200, NULL);
}

static const struct http_route master_routes[] = {
	{ "POST", EP_STATFS, m_statfs, 1 << 20, 0 },
	{ "POST", EP_GETATTR, m_getattr, 1 << 20, 0 },
	{ "POST", EP_EXTEND, m_extend, 1 << 20, 0 },
	{ "POST", EP_SYNC, m_sync, 1 << 20, 0 },
	{ "POST", EP_APPEND, m_append, 1 << 20, 0 },
	{ "POST", EP_SETATTR, m_setattr, 1 << 20, 0 },
	{ "POST", EP_CHUNKS, m_chunks, 1 << 20, 0 },
};

static const struct http_route chunk_routes[] = {
	{ "PUT", EP_CHUNK_WRITE, c_write, DFS_MAX_WRITE, 0 },
	{ "GET", EP_CHUNK_READ, c_read, 0, 0 },
	{ "POST", EP_CHUNK_TRUNCATE, c_truncate, 1024, 0 },
	{ "POST", EP_CHUNK_SYNC, c_sync, 1024, 0 },
};

static struct http_server *start(const struct http_route *routes, size_t n,
				 void *arg, char *addr)
{
	struct http_server_opts o = { .listen = "127.0.0.1:0" };
	struct http_server *srv = http_server_new(&o, routes, n, arg);

	assert_non_null(srv);
	snprintf(addr, DFS_ADDR_MAX, "127.0.0.1:%u", http_server_port(srv));
	return srv;
}

static int setup(void **state)
{
	(void)state;
	log_init("test_client", LOG_LEVEL_ERROR);
	pthread_mutex_init(&F.lock, NULL);
	fwd = http_client_new(NULL);
	master_srv = start(master_routes,
			   sizeof(master_routes) / sizeof(master_routes[0]),
			   NULL, master_addr);
	for (int s = 0; s < NSRV; s++)
		chunk_srv[s] = start(chunk_routes, 4, &srv_ids[s],
				     chunk_addr[s]);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	http_server_free(master_srv);
	for (int s = 0; s < NSRV; s++)
		http_server_free(chunk_srv[s]);
	http_client_free(fwd);
	fake_reset();
	return 0;
}

static void fill_random(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (char)(seed >> 16);
	}
}

/* Every replica of every chunk equals ref[0, size). */
static void check_replicas(const char *ref, size_t size)
{
	for (int s = 0; s < NSRV; s++) {
		for (size_t i = 0; i * CS < size; i++) {
			size_t n = size - i * CS < CS ? size - i * CS : CS;
			size_t have = F.len[s][i] < n ? F.len[s][i] : n;

			assert_memory_equal(F.data[s][i], ref + i * CS, have);
			for (size_t k = have; k < n; k++)
				assert_int_equal(ref[i * CS + k], 0);
		}
	}
}

/* Read the whole file through a new handle in "step" pieces. */
static void check_file(struct dfs_client *c, const char *ref, size_t size,
		       size_t step)
{
	struct dfs_file *f = dfs_file_open(c, INO, O_RDONLY, size);
	char *buf = xmalloc(step);
	ssize_t n;

	for (size_t off = 0; off < size; off += step) {
		n = dfs_file_read(f, buf, step, (off_t)off);
		assert_int_equal(n, size - off < step ? size - off : step);
		assert_memory_equal(buf, ref + off, (size_t)n);
	}
	assert_int_equal(dfs_file_read(f, buf, step, (off_t)size), 0);
	assert_int_equal(dfs_file_close(f), 0);
	free(buf);
}

static void test_sequential(void **state)
{
	size_t size = 20 * CS + 12345, step = 128 * 1024;
	struct dfs_client *c = dfs_client_new(master_addr);
	char *ref = xmalloc(size), buf[4096];
	struct dfs_file *f;
	int reads;

	(void)state;
	fake_reset();
	fill_random(ref, size, 1);
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	for (size_t off = 0; off < size; off += step)
		assert_int_equal(dfs_file_write(f, ref + off,
						size - off < step ? size - off
								  : step,
						(off_t)off),
				 size - off < step ? size - off : step);
	assert_int_equal(dfs_file_size(f), size);
	assert_int_equal(dfs_file_close(f), 0);
	assert_int_equal(F.size, size);
	/* 8 MiB buffers split at 1 MiB chunks: one PUT per chunk piece. */
	assert_int_equal(F.nwrites, 21);
	assert_true(F.nextend <= 4);
	check_replicas(ref, size);

	reads = F.nreads;
	check_file(c, ref, size, step);
	/* Read-ahead: far fewer chunk reads than 128 KiB requests. */
	assert_true(F.nreads - reads <= 2 * 21 + 2);

	f = dfs_file_open(c, INO, O_RDONLY, size);
	for (int i = 0; i < 500; i++) {
		size_t off = ((size_t)rand() * 7919) % size;
		ssize_t n = dfs_file_read(f, buf, sizeof(buf), (off_t)off);

		assert_int_equal(n, size - off < sizeof(buf) ? size - off
							       : sizeof(buf));
		assert_memory_equal(buf, ref + off, (size_t)n);
	}
	assert_int_equal(dfs_file_close(f), 0);
	dfs_client_free(c);
	free(ref);
}

/* Random writes and reads on one handle against a reference buffer. */
static void test_random(void **state)
{
	size_t max = 5 * CS + 1000, size = 0;
	struct dfs_client *c = dfs_client_new(master_addr);
	char *ref = xcalloc(1, max), *buf = xmalloc(max), *src = xmalloc(max);
	struct dfs_file *f;
	unsigned seed = 42;

	(void)state;
	fake_reset();
	fill_random(src, max, 7);
	f = dfs_file_open(c, INO, O_RDWR, 0);
	for (int i = 0; i < 300; i++) {
		size_t off = rand_r(&seed) % max;
		size_t len = rand_r(&seed) % (300 * 1024) + 1;

		if (len > max - off)
			len = max - off;
		if (rand_r(&seed) % 3 == 0) {
			ssize_t n = dfs_file_read(f, buf, len, (off_t)off);
			size_t want = off >= size ? 0
				      : size - off < len ? size - off : len;

			assert_int_equal(n, want);
			assert_memory_equal(buf, ref + off, want);
			continue;
		}
		assert_int_equal(dfs_file_write(f, src + off, len, (off_t)off),
				 len);
		memcpy(ref + off, src + off, len);
		if (off + len > size)
			size = off + len;
	}
	assert_int_equal(dfs_file_close(f), 0);
	assert_int_equal(F.size, size);
	check_replicas(ref, size);
	check_file(c, ref, size, 100000);
	dfs_client_free(c);
	free(ref);
	free(buf);
	free(src);
}

static void test_truncate(void **state)
{
	size_t size = 3 * CS + CS / 2, cut = CS + CS / 2 + 100, grow = 4 * CS;
	struct dfs_client *c = dfs_client_new(master_addr);
	char *ref = xcalloc(1, grow);
	struct dfs_setattr sa = { .valid = PROTO_SET_SIZE };
	struct dfs_attr a;
	struct dfs_file *f;

	(void)state;
	fake_reset();
	fill_random(ref, size, 3);
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	assert_int_equal(dfs_file_write(f, ref, size, 0), size);
	assert_int_equal(dfs_file_close(f), 0);
	sa.size = cut;
	assert_int_equal(dfs_setattr(c, INO, &sa, &a), 0);
	assert_int_equal(a.size, cut);
	assert_int_equal(F.len[0][1], cut - CS);
	assert_int_equal(F.len[2][1], cut - CS);
	sa.size = grow;
	assert_int_equal(dfs_setattr(c, INO, &sa, &a), 0);
	memset(ref + cut, 0, grow - cut);
	check_file(c, ref, grow, 128 * 1024);
	dfs_client_free(c);
	free(ref);
}

/* Holes read as zeros; O_APPEND writes at the end. */
static void test_sparse_append(void **state)
{
	size_t size = 5 * CS + 10;
	struct dfs_client *c = dfs_client_new(master_addr);
	char *ref = xcalloc(1, size + 5);
	struct dfs_file *f;

	(void)state;
	fake_reset();
	memcpy(ref + 5 * CS, "0123456789", 10);
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	assert_int_equal(dfs_file_write(f, ref + 5 * CS, 10, 5 * CS), 10);
	assert_int_equal(dfs_file_close(f), 0);
	assert_false(F.exists[2]);
	f = dfs_file_open(c, INO, O_WRONLY | O_APPEND, size);
	assert_int_equal(dfs_file_write(f, "abcde", 5, 0), 5);
	assert_int_equal(dfs_file_close(f), 0);
	memcpy(ref + size, "abcde", 5);
	check_file(c, ref, size + 5, 64 * 1024);
	dfs_client_free(c);
	free(ref);
}

/* Reads go to another replica; writes retry after a stale answer. */
static void test_faults(void **state)
{
	size_t size = 3 * CS;
	struct dfs_client *c = dfs_client_new(master_addr);
	char *ref = xmalloc(size);
	struct dfs_file *f;

	(void)state;
	fake_reset();
	fill_random(ref, size, 9);
	F.stale_writes = 2;
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	assert_int_equal(dfs_file_write(f, ref, size, 0), size);
	assert_int_equal(dfs_file_flush(f), 0);
	assert_int_equal(F.nsync, 0);
	/* fsync() makes the master's record of the size durable too. */
	assert_int_equal(dfs_file_fsync(f), 0);
	assert_int_equal(F.nsync, 1);
	assert_int_equal(dfs_file_close(f), 0);
	assert_int_equal(F.stale_writes, 0);
	check_replicas(ref, size);
	F.fail_reads[0] = F.fail_reads[1] = 1;
	check_file(c, ref, size, 128 * 1024);
	F.fail_reads[0] = F.fail_reads[1] = 0;
	dfs_client_free(c);
	free(ref);
}

/* A failing chain member, then a failing primary: the client reports
 * each, gets a new lease on the rest, and the write completes. */
static void test_pipeline_recovery(void **state)
{
	size_t size = 4 * CS;
	struct dfs_client *c = dfs_client_new(master_addr);
	char *ref = xmalloc(size);
	struct dfs_file *f;

	(void)state;
	fake_reset();
	fill_random(ref, size, 11);
	F.fail_writes[2] = 1;
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	assert_int_equal(dfs_file_write(f, ref, 2 * CS, 0), 2 * CS);
	assert_int_equal(dfs_file_flush(f), 0);
	assert_int_equal(F.nfailed, 2);
	assert_int_equal(F.mask[0], 3);
	assert_int_equal(F.version[1], 2);
	F.fail_writes[2] = 0;
	F.fail_writes[0] = 1;
	assert_int_equal(dfs_file_write(f, ref + 2 * CS, 2 * CS, 2 * CS),
			 2 * CS);
	assert_int_equal(dfs_file_close(f), 0);
	F.fail_writes[0] = 0;
	assert_int_equal(F.nfailed, 4);
	assert_int_equal(F.mask[3], 6);
	assert_memory_equal(F.data[1][0], ref, CS);
	assert_memory_equal(F.data[1][3], ref + 3 * CS, CS);
	assert_memory_equal(F.data[2][3], ref + 3 * CS, CS);
	check_file(c, ref, size, 128 * 1024);
	dfs_client_free(c);
	free(ref);
}

/* A flush sends the size update before the data and reads its answer
 * after the data's: with the chunk servers slow, the master has the
 * update (EP_EXTEND, or the EP_SETATTR that carries attribute changes
 * along) before the primary writes. */
static void test_flush_overlaps_size_update(void **state)
{
	struct dfs_setattr sa = {.valid = PROTO_SET_MODE, .mode = 0600};
	struct dfs_client *c = dfs_client_new(master_addr);
	char ref[4096];
	struct dfs_attr a;
	struct dfs_file *f;

	(void)state;
	fake_reset();
	fill_random(ref, sizeof(ref), 13);
	F.write_delay_ms = 200;
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	assert_int_equal(dfs_file_write(f, ref, 1000, 0), 1000);
	assert_int_equal(dfs_file_flush(f), 0);
	assert_int_equal(F.nextend, 1);
	assert_int_equal(F.early_updates, 1);
	assert_int_equal(F.size, 1000);
	/* Nothing left to send: no second update. */
	assert_int_equal(dfs_file_flush(f), 0);
	assert_int_equal(F.nextend, 1);
	assert_int_equal(dfs_file_write(f, ref + 1000, 3096, 1000), 3096);
	assert_int_equal(dfs_file_flush_setattr(f, &sa, &a), 0);
	assert_int_equal(F.nsetattr, 1);
	assert_int_equal(F.setattr_valid, PROTO_SET_MODE | PROTO_SET_EXTEND);
	assert_int_equal(F.early_updates, 3);
	assert_int_equal(F.size, sizeof(ref));
	assert_int_equal(a.size, sizeof(ref));
	assert_int_equal(F.nextend, 1);
	/* A range still in flight when the flush starts (queued when the
	 * next write did not continue it) is covered by the update. */
	assert_int_equal(dfs_file_write(f, ref, 1000, 3 * 4096), 1000);
	assert_int_equal(dfs_file_write(f, ref, 10, 0), 10);
	assert_int_equal(dfs_file_flush(f), 0);
	assert_int_equal(F.size, 3 * 4096 + 1000);
	sa.valid = PROTO_SET_SIZE;
	assert_int_equal(dfs_file_flush_setattr(f, &sa, &a), -EINVAL);
	assert_int_equal(dfs_file_close(f), 0);
	F.write_delay_ms = 0;
	check_replicas(ref, sizeof(ref));
	for (int s = 0; s < NSRV; s++)
		assert_memory_equal(F.data[s][0] + 3 * 4096, ref, 1000);
	dfs_client_free(c);
}

/* A flush's acknowledgement is readable without the handle's lock,
 * with the master's size and ctime; a truncate through the handle drops
 * it (its own attrs are newer). */
static void test_acked(void **state)
{
	struct dfs_client *c = dfs_client_new(master_addr);
	struct dfs_file_ack ack;
	struct dfs_file *f;
	char ref[1000];

	(void)state;
	fake_reset();
	fill_random(ref, sizeof(ref), 31);
	f = dfs_file_open(c, INO, O_WRONLY, 0);
	assert_false(dfs_file_acked(f, &ack));
	assert_int_equal(dfs_file_write(f, ref, sizeof(ref), 0), sizeof(ref));
	assert_false(dfs_file_acked(f, &ack));
	assert_int_equal(dfs_file_flush(f), 0);
	assert_true(dfs_file_acked(f, &ack));
	assert_int_equal(ack.size, sizeof(ref));
	assert_true(ack.ctime.tv_sec > 0);
	dfs_file_set_size(f, 10);
	assert_false(dfs_file_acked(f, &ack));
	assert_int_equal(dfs_file_close(f), 0);
	dfs_client_free(c);
}

/* Resident memory of this process in KiB. */
static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (fp != NULL) {
		if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(fp);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Ends the process when its memory grows by WATCHDOG_KIB: a handle that
 * queued an empty range at offset 0 used to fill memory without end,
 * holding the file's lock, so the test could not fail any other way. */
#define WATCHDOG_KIB (1024 * 1024)
static volatile bool watchdog_stop;

static void *watchdog_main(void *arg)
{
	long base = *(long *)arg;

	while (!watchdog_stop) {
		if (rss_kib() > base + WATCHDOG_KIB) {
			fprintf(stderr,
				"test_queue_wait_after_flush: memory "
				"grew by over %d MiB: a range was "
				"queued empty\n",
				WATCHDOG_KIB / 1024);
			_exit(1);
		}
		usleep(20 * 1000);
	}
	return NULL;
}

struct racing_write {
	struct dfs_file *f;
	const char *buf;
	size_t len;
	uint64_t off;
	ssize_t result;
};

static void *racing_write_main(void *arg)
{
	struct racing_write *w = arg;

	w->result = dfs_file_write(w->f, w->buf, w->len, (off_t)w->off);
	return NULL;
}

/*
 * A write that must wait to queue the buffered range (it overlaps a range
 * still in flight) may find, once woken, that a flush sent that range
 * meanwhile: it must queue nothing. It used to queue the empty range, and
 * one at offset 0 made the handle note chunks 0 .. 2^64 / chunk size as
 * written, in memory (fusefs grew by gigabytes; 2026-12-05). Whether the
 * flush or the write wakes first is up to the scheduler, so the race is
 * run many times; the bytes must come out right either way.
 */
static void test_queue_wait_after_flush(void **state)
{
	struct dfs_client *c = dfs_client_new(master_addr);
	char ref[2 * CS + 100], first[100], second[10], third[10];
	struct racing_write w;
	pthread_t dog, writer;
	long base = rss_kib();
	struct dfs_file *f;

	(void)state;
	watchdog_stop = false;
	assert_int_equal(pthread_create(&dog, NULL, watchdog_main, &base), 0);
	fill_random(first, sizeof(first), 21);
	fill_random(second, sizeof(second), 22);
	fill_random(third, sizeof(third), 23);
	for (int round = 0; round < 24; round++) {
		fake_reset();
		F.write_delay_ms = 30;
		F.delay_chunk0_only = true;
		f = dfs_file_open(c, INO, O_WRONLY, 0);
		/* [0, 100) goes out (slow: chunk 0), [CS, CS + 10) after it
		 * (fast), and [0, 10) stays buffered over the slow one. */
		assert_int_equal(dfs_file_write(f, first, 100, 0), 100);
		assert_int_equal(dfs_file_write(f, second, 10, CS), 10);
		assert_int_equal(dfs_file_write(f, third, 10, 0), 10);
		/* This write waits for [0, 100) before it queues [0, 10);
		 * the flush waits for it too, then sends [0, 10) itself. */
		w = (struct racing_write){ f, second, 10, 2 * CS, 0 };
		assert_int_equal(pthread_create(&writer, NULL,
						racing_write_main, &w),
				 0);
		usleep(5 * 1000);
		assert_int_equal(dfs_file_flush(f), 0);
		pthread_join(writer, NULL);
		assert_int_equal(w.result, 10);
		assert_int_equal(dfs_file_close(f), 0);
		assert_int_equal(F.size, 2 * CS + 10);
		memset(ref, 0, sizeof(ref));
		memcpy(ref, first, 100);
		memcpy(ref, third, 10);
		memcpy(ref + CS, second, 10);
		memcpy(ref + 2 * CS, second, 10);
		check_replicas(ref, 2 * CS + 10);
	}
	F.write_delay_ms = 0;
	F.delay_chunk0_only = false;
	watchdog_stop = true;
	pthread_join(dog, NULL);
	dfs_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_sparse_append),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_pipeline_recovery),
		cmocka_unit_test(test_flush_overlaps_size_update),
		cmocka_unit_test(test_queue_wait_after_flush),
		cmocka_unit_test(test_acked),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
