/*
 * client_local.c - short-circuit local reads: a replica on a chunk
 * server of this machine is read straight from its files (see
 * client_int.h and include/local_sock.h).
 *
 * The chunk server hands out the replica's data and metadata files as
 * read-only descriptors (one socket exchange, checked like an HTTP read:
 * handle, version, token); they are kept open for later reads, at most
 * LOCAL_KEEP replicas. The files may change under the reader: a write
 * rewrites data then checksums, a truncate or a new version rewrites the
 * header, and a deleted replica's files are emptied and reused for
 * another one. So every read checks the header (handle, version, length)
 * before and after, and every block's checksum, and on any doubt goes to
 * the network instead: a reader never returns what the chunk server
 * would not have returned.
 *
 * THREAD SAFETY: "mu" guards the tables. A kept replica is referenced
 * while read; its descriptors close when it has left the table and the
 * last reader is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "checksum.h"
#include "client_int.h"
#include "local_sock.h"
#include "replica_meta.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

#define BS ((uint64_t)DFS_BLOCK_SIZE)

/* Replicas whose files stay open. */
#define LOCAL_KEEP 128

/* Addresses remembered as having, or not having, a local server. */
#define LOCAL_ADDRS 64

/* How long "no chunk server of this machine serves addr" holds. */
#define LOCAL_REMOTE_TTL_MS 10000

/* Bound on one socket exchange with the chunk server. */
#define LOCAL_IO_TIMEOUT_MS 1000

/* A sequential reader has the kernel read this far ahead of it. */
#define LOCAL_READAHEAD (16ULL * 1024 * 1024)

/* Kept files unused this long are closed: a replica replaced on disk
 * must not keep its old file's blocks allocated for long. */
#define LOCAL_IDLE_MS 30000

struct local_addr {
	char addr[DFS_ADDR_MAX];
	int64_t remote_until;   /* mono ms; 0: it is local */
};

struct local_replica {
	uint64_t handle;
	uint64_t version;
	char addr[DFS_ADDR_MAX];
	int data;               /* descriptors from the chunk server */
	int meta;
	unsigned refs;          /* readers, plus one while in the table */
	uint64_t used;          /* the table's clock at the last use */
	int64_t used_ms;        /* mono ms of the last use */
	/* Read-ahead (atomics: readers share the replica; a race costs
	 * only a repeated hint). */
	_Atomic uint64_t next_off;      /* where the last read ended */
	_Atomic uint64_t advised_end;   /* end of the last read-ahead hint */
};

struct client_local {
	bool enabled;
	pthread_mutex_t mu;
	struct local_addr addrs[LOCAL_ADDRS];
	size_t naddrs;
	struct local_replica *kept[LOCAL_KEEP];
	size_t nkept;
	uint64_t clock;
	int64_t swept_ms;       /* mono ms of the last idle sweep */
};

struct client_local *client_local_new(void)
{
	struct client_local *cl = xcalloc(1, sizeof(*cl));
	const char *env = getenv("DFS_LOCAL_READS");

	cl->enabled = env == NULL || strcmp(env, "0") != 0;
	pthread_mutex_init(&cl->mu, NULL);
	return cl;
}

static void replica_unref(struct local_replica *rep)
{
	if (--rep->refs > 0)
		return;
	close(rep->data);
	close(rep->meta);
	free(rep);
}

void client_local_free(struct client_local *cl)
{
	if (cl == NULL)
		return;
	for (size_t i = 0; i < cl->nkept; i++)
		replica_unref(cl->kept[i]);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

/* The address's entry, added if missing (the oldest replaced); locked. */
static struct local_addr *addr_entry(struct client_local *cl,
				     const char *addr)
{
	struct local_addr *a;

	for (size_t i = 0; i < cl->naddrs; i++)
		if (strcmp(cl->addrs[i].addr, addr) == 0)
			return &cl->addrs[i];
	if (cl->naddrs < LOCAL_ADDRS)
		a = &cl->addrs[cl->naddrs++];
	else
		a = &cl->addrs[cl->clock % LOCAL_ADDRS];
	snprintf(a->addr, sizeof(a->addr), "%s", addr);
	a->remote_until = 0;
	return a;
}

/* Drop kept replica i from the table; locked. */
static void drop_kept(struct client_local *cl, size_t i)
{
	struct local_replica *rep = cl->kept[i];

	cl->kept[i] = cl->kept[--cl->nkept];
	replica_unref(rep);
}

/* A kept replica of (handle, version) at addr, referenced; else NULL.
 * A kept one at another version is dropped. Locked. */
static struct local_replica *find_kept(struct client_local *cl,
				       const struct dfs_chunk *ch,
				       const char *addr)
{
	struct local_replica *rep;

	for (size_t i = 0; i < cl->nkept; i++) {
		rep = cl->kept[i];
		if (rep->handle != ch->handle || strcmp(rep->addr, addr) != 0)
			continue;
		if (rep->version != ch->version) {
			drop_kept(cl, i);
			return NULL;
		}
		rep->refs++;
		rep->used = ++cl->clock;
		rep->used_ms = time_mono_ms();
		return rep;
	}
	return NULL;
}

/* Close kept files unused for LOCAL_IDLE_MS, at most once a second;
 * locked. */
static void sweep_idle_locked(struct client_local *cl)
{
	int64_t now = time_mono_ms();
	size_t i = 0;

	if (now - cl->swept_ms < 1000)
		return;
	cl->swept_ms = now;
	while (i < cl->nkept)
		if (now - cl->kept[i]->used_ms > LOCAL_IDLE_MS)
			drop_kept(cl, i);
		else
			i++;
}

void client_local_sweep(struct client_local *cl)
{
	pthread_mutex_lock(&cl->mu);
	sweep_idle_locked(cl);
	pthread_mutex_unlock(&cl->mu);
}

/* Keep "rep" (one reference for the table), evicting the least recently
 * used replica if full; locked. */
static void keep(struct client_local *cl, struct local_replica *rep)
{
	size_t i, old = 0;

	if (cl->nkept == LOCAL_KEEP) {
		for (i = 1; i < cl->nkept; i++)
			if (cl->kept[i]->used < cl->kept[old]->used)
				old = i;
		drop_kept(cl, old);
	}
	rep->refs++;
	rep->used = ++cl->clock;
	rep->used_ms = time_mono_ms();
	cl->kept[cl->nkept++] = rep;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { LOCAL_IO_TIMEOUT_MS / 1000,
			      (LOCAL_IO_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Ask the chunk server at addr, if it runs on this machine, for the
 * files of chunk ch. A new replica with one reference, or NULL;
 * *remote is set when no such server listens here. */
static struct local_replica *fetch(const struct dfs_chunk *ch,
				   const char *addr, bool *remote)
{
	char msg[LOCAL_SOCK_MSG_MAX], reply[LOCAL_SOCK_MSG_MAX];
	int fds[LOCAL_SOCK_NFDS], nfds = 0, sock, r;
	struct local_replica *rep = NULL;
	struct sockaddr_un sa;
	socklen_t len;

	*remote = false;
	local_sock_addr(addr, &sa, &len);
	if ((sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return NULL;
	set_timeouts(sock);
	if (connect(sock, (struct sockaddr *)&sa, len) != 0) {
		*remote = errno == ECONNREFUSED || errno == ENOENT;
		goto out;
	}
	snprintf(msg, sizeof(msg), "%llu %llu %s",
		 (unsigned long long)ch->handle,
		 (unsigned long long)ch->version,
		 ch->token[0] != '\0' ? ch->token : "-");
	if (local_sock_send(sock, msg, NULL, 0) != 0 ||
	    local_sock_recv(sock, reply, sizeof(reply), fds, &nfds) != 0)
		goto out;
	r = atoi(reply);
	if (r != 0 || nfds != LOCAL_SOCK_NFDS)
		goto out;
	rep = xcalloc(1, sizeof(*rep));
	rep->handle = ch->handle;
	rep->version = ch->version;
	snprintf(rep->addr, sizeof(rep->addr), "%s", addr);
	rep->data = fds[0];
	rep->meta = fds[1];
	rep->refs = 1;
	nfds = 0;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(sock);
	return rep;
}

/* The files of chunk ch's replica at addr, referenced, if that replica
 * is on this machine; else NULL. */
static struct local_replica *replica_get(struct client_local *cl,
					 const struct dfs_chunk *ch,
					 const char *addr)
{
	struct local_replica *rep;
	struct local_addr *a;
	bool remote;

	pthread_mutex_lock(&cl->mu);
	sweep_idle_locked(cl);
	a = addr_entry(cl, addr);
	if (a->remote_until > time_mono_ms()) {
		pthread_mutex_unlock(&cl->mu);
		return NULL;
	}
	rep = find_kept(cl, ch, addr);
	pthread_mutex_unlock(&cl->mu);
	if (rep != NULL)
		return rep;
	rep = fetch(ch, addr, &remote);
	pthread_mutex_lock(&cl->mu);
	if (remote)
		addr_entry(cl, addr)->remote_until =
			time_mono_ms() + LOCAL_REMOTE_TTL_MS;
	if (rep != NULL)
		keep(cl, rep);
	pthread_mutex_unlock(&cl->mu);
	return rep;
}

static void replica_put(struct client_local *cl, struct local_replica *rep,
			bool forget)
{
	pthread_mutex_lock(&cl->mu);
	if (forget)
		for (size_t i = 0; i < cl->nkept; i++)
			if (cl->kept[i] == rep) {
				drop_kept(cl, i);
				break;
			}
	replica_unref(rep);
	pthread_mutex_unlock(&cl->mu);
}

/* pread exactly len bytes; a short file is -ESTALE (it changed). */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ESTALE;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* The header of rep's metadata file, checked against rep. */
static int read_header(const struct local_replica *rep, uint8_t *hdr,
		       struct replica_meta *m)
{
	int r;

	if ((r = pread_all(rep->meta, hdr, REPLICA_META_HEADER, 0)) != 0)
		return r;
	if (replica_meta_decode(hdr, m) != 0 || m->handle != rep->handle ||
	    m->version != rep->version)
		return -ESTALE;
	return 0;
}

/* Blocks b .. e of the data (length "length") into dst, each checked
 * against its checksum in sums[] (sums[0] is block "first"). */
static int read_blocks(const struct local_replica *rep, uint64_t length,
		       uint64_t b, uint64_t e, uint8_t *dst,
		       const uint32_t *sums, uint64_t first)
{
	uint64_t from = b * BS, to = (e + 1) * BS < length ? (e + 1) * BS
							 : length;
	int r;

	if ((r = pread_all(rep->data, dst, to - from, from)) != 0)
		return r;
	for (uint64_t i = b; i <= e; i++) {
		uint64_t n = (i + 1) * BS < length ? BS : length - i * BS;

		if (checksum_block(dst + (i - b) * BS, n) !=
		    le32toh(sums[i - first]))
			return -EBADMSG;
	}
	return 0;
}

/* Whether block i lies wholly inside [off, end) (end <= length). */
static bool inside(uint64_t i, uint64_t off, uint64_t end, uint64_t length)
{
	uint64_t to = (i + 1) * BS < length ? (i + 1) * BS : length;

	return i * BS >= off && to <= end;
}

/* The part of block b inside [off, end) into buf (which holds the bytes
 * from "off" on), through tmp (a block), checked. */
static int read_part(const struct local_replica *rep, uint64_t length,
		     uint64_t b, uint64_t off, uint64_t end, uint8_t *buf,
		     uint8_t *tmp, const uint32_t *sums, uint64_t first)
{
	uint64_t from = b * BS > off ? b * BS : off;
	uint64_t to = (b + 1) * BS < end ? (b + 1) * BS : end;
	int r;

	if ((r = read_blocks(rep, length, b, b, tmp, sums, first)) != 0)
		return r;
	memcpy(buf + (from - off), tmp + (from - b * BS), to - from);
	return 0;
}

/* Read [off, off+len) of rep into buf, checked as the chunk server
 * checks its reads; bytes past the replica's length read as zeros. */
static int read_checked(const struct local_replica *rep, uint64_t off,
			uint8_t *buf, size_t len)
{
	uint8_t hdr[REPLICA_META_HEADER], again[REPLICA_META_HEADER];
	uint64_t end, lo, hi, b, e;
	struct replica_meta m;
	uint32_t *sums = NULL;
	uint8_t *tmp = NULL;
	int r;

	if ((r = read_header(rep, hdr, &m)) != 0)
		return r;
	end = off + len < m.length ? off + len : m.length;
	if (off < end) {
		lo = off / BS;
		hi = (end - 1) / BS;
		sums = xmalloc((hi - lo + 1) * 4);
		r = pread_all(rep->meta, sums, (hi - lo + 1) * 4,
			      REPLICA_META_HEADER + lo * 4);
		for (b = lo; r == 0 && b <= hi; b = e + 1) {
			e = b;
			if (!inside(b, off, end, m.length)) {
				if (tmp == NULL)
					tmp = xmalloc(BS);
				r = read_part(rep, m.length, b, off, end, buf,
					      tmp, sums, lo);
				continue;
			}
			while (e < hi && inside(e + 1, off, end, m.length))
				e++;
			r = read_blocks(rep, m.length, b, e,
					buf + (b * BS - off), sums, lo);
		}
	}
	if (r == 0) {
		uint64_t data_end = off < end ? end : off;

		memset(buf + (data_end - off), 0, off + len - data_end);
		if ((r = pread_all(rep->meta, again, sizeof(again), 0)) == 0 &&
		    memcmp(hdr, again, sizeof(hdr)) != 0)
			r = -ESTALE;
	}
	free(sums);
	free(tmp);
	return r;
}

/*
 * The kernel reads ahead for a file read sequentially through one
 * descriptor, but the mount reads a sequential file with several 1 MiB
 * requests at once, out of order, so it sees no pattern. Ask it to
 * fetch the next LOCAL_READAHEAD when the reads move forward.
 */
static void read_ahead(struct local_replica *rep, uint64_t off, size_t len)
{
	uint64_t prev = atomic_exchange(&rep->next_off, off + len);
	uint64_t advised = atomic_load(&rep->advised_end);
	uint64_t from;

	if (off + len < prev || off > prev + LOCAL_READAHEAD)
		return;
	if (advised >= off + len + LOCAL_READAHEAD / 2)
		return;
	from = advised > off + len ? advised : off + len;
	if (!atomic_compare_exchange_strong(&rep->advised_end, &advised,
					    from + LOCAL_READAHEAD))
		return;
	posix_fadvise(rep->data, (off_t)from, (off_t)LOCAL_READAHEAD,
		      POSIX_FADV_WILLNEED);
}

int client_local_read(struct client_local *cl, const struct dfs_chunk *ch,
		      uint64_t off, void *buf, size_t len, char *bad)
{
	struct local_replica *rep;
	int r = -ENOENT;

	bad[0] = '\0';
	if (!cl->enabled)
		return -ENOTSUP;
	for (int i = 0; i < ch->nreplicas; i++) {
		if ((rep = replica_get(cl, ch, ch->replicas[i])) == NULL)
			continue;
		read_ahead(rep, off, len);
		r = read_checked(rep, off, buf, len);
		replica_put(cl, rep, r != 0);
		if (r == 0)
			return 0;
		if (r == -EBADMSG) {
			/* Its server must see this through a read of its
			 * own, to set the replica aside. */
			snprintf(bad, DFS_ADDR_MAX, "%s", ch->replicas[i]);
			return r;
		}
	}
	return r;
}
