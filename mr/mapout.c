/*
 * mapout.c - map output collector (see mapout.h).
 *
 * The table is an arena of 8-byte aligned entries addressed by offset
 * (the arena moves when it grows): a key entry heads a FIFO chain of
 * value entries. An open-addressing index of key offsets finds a key by
 * its XXH3 hash, which also gives its partition.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv.h"
#include "log.h"
#include "mapout.h"
#include "util.h"
#include "xmalloc.h"

#include "banned.h"

/*
 * The combiner first runs when the arena reaches this size, small enough
 * for the value chains to stay in cache; the threshold doubles (up to the
 * memory limit) whenever combining does not halve the arena.
 */
#define MO_COMBINE_AT (2u << 20)

/* Index slots of a new table. */
#define MO_SLOTS 1024

/* A distinct key in the arena. */
struct mo_key {
	uint64_t head;          /* first value entry, 0 if none */
	uint64_t tail;          /* last value entry */
	uint64_t hash;          /* kv_hash() of the key */
	uint32_t klen;
	uint32_t nvals;
	char key[];
};

/* One value in a key's chain. */
struct mo_val {
	uint64_t next;          /* next value entry, 0 at the end */
	uint32_t vlen;
	uint32_t pad;
	char val[];
};

/* The grouping table: arena plus hash index. */
struct mo_table {
	char *a;                /* arena; offset 0 is never an entry */
	size_t len;
	size_t cap;
	uint64_t *slots;        /* key entry offsets, 0 for empty */
	size_t nslots;          /* power of two */
	size_t nkeys;
};

/* A sorted run written to disk, with each partition's extent. */
struct mo_spill {
	char *path;
	uint64_t *off;          /* nparts entries */
	uint64_t *len;
};

struct mapout {
	struct mapout_opts o;
	char *dir;              /* copy of o.dir */
	size_t combine_at;      /* arena size that triggers the combiner */
	struct mo_table t;
	struct mo_spill *spills;
	size_t nspills;
	uint64_t records;
};

/* Value iterator over a chain, for the combiner. */
struct mo_chain_it {
	const char *a;
	uint64_t off;
};

/* Emit target writing combiner output straight to a sorted run. */
struct mo_file_emit {
	FILE *fp;
	const char *key;        /* the key being combined */
	size_t klen;
	uint64_t bytes;
};

/* An empty table with nslots index slots (a power of two). */
static void mo_table_init(struct mo_table *t, size_t nslots)
{
	memset(t, 0, sizeof(*t));
	t->cap = 1 << 16;
	t->a = xmalloc(t->cap);
	t->len = 8;
	t->nslots = nslots;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
}

static void mo_table_release(struct mo_table *t)
{
	free(t->a);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* Reserve n bytes (8-aligned) in the arena; returns their offset. */
static uint64_t mo_alloc(struct mo_table *t, size_t n)
{
	uint64_t off = t->len;

	n = (n + 7) & ~(size_t)7;
	if (t->len + n > t->cap) {
		while (t->len + n > t->cap)
			t->cap *= 2;
		t->a = xrealloc(t->a, t->cap);
	}
	t->len += n;
	return off;
}

static struct mo_key *mo_key_at(const struct mo_table *t, uint64_t off)
{
	return (struct mo_key *)(t->a + off);
}

static void mo_grow_slots(struct mo_table *t)
{
	size_t n = t->nslots * 2, i, j;
	uint64_t *s = xcalloc(n, sizeof(*s));

	for (i = 0; i < t->nslots; i++) {
		if (t->slots[i] == 0)
			continue;
		j = mo_key_at(t, t->slots[i])->hash & (n - 1);
		while (s[j] != 0)
			j = (j + 1) & (n - 1);
		s[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = s;
	t->nslots = n;
}

/* Offset of the entry for key, created if absent. */
static uint64_t mo_find(struct mo_table *t, uint64_t hash, const char *key,
			size_t klen)
{
	size_t i = hash & (t->nslots - 1);
	struct mo_key *k;
	uint64_t off;

	while (t->slots[i] != 0) {
		k = mo_key_at(t, t->slots[i]);
		if (k->hash == hash && k->klen == klen &&
		    memcmp(k->key, key, klen) == 0)
			return t->slots[i];
		i = (i + 1) & (t->nslots - 1);
	}
	off = mo_alloc(t, sizeof(struct mo_key) + klen);
	k = mo_key_at(t, off);
	memset(k, 0, sizeof(*k));
	k->hash = hash;
	k->klen = (uint32_t)klen;
	memcpy(k->key, key, klen);
	t->slots[i] = off;
	if (++t->nkeys * 2 > t->nslots)
		mo_grow_slots(t);
	return off;
}

static void mo_insert(struct mo_table *t, const char *key, size_t klen,
		      const char *val, size_t vlen)
{
	uint64_t koff = mo_find(t, kv_hash(key, klen), key, klen);
	uint64_t voff = mo_alloc(t, sizeof(struct mo_val) + vlen);
	struct mo_val *v = (struct mo_val *)(t->a + voff);
	struct mo_key *k;

	v->next = 0;
	v->vlen = (uint32_t)vlen;
	memcpy(v->val, val, vlen);
	k = mo_key_at(t, koff);
	if (k->tail != 0)
		((struct mo_val *)(t->a + k->tail))->next = voff;
	else
		k->head = voff;
	k->tail = voff;
	k->nvals++;
}

struct mapout *mapout_new(const struct mapout_opts *opts)
{
	struct mapout *mo = xcalloc(1, sizeof(*mo));

	mo->o = *opts;
	mo->dir = xstrdup(opts->dir);
	mo->o.dir = mo->dir;
	if (mo->o.nparts == 0)
		mo->o.nparts = 1;
	if (mo->o.mem_limit < (1 << 20))
		mo->o.mem_limit = 1 << 20;
	mo->combine_at = MO_COMBINE_AT < mo->o.mem_limit ? MO_COMBINE_AT
							 : mo->o.mem_limit;
	mo_table_init(&mo->t, MO_SLOTS);
	return mo;
}

void mapout_free(struct mapout *mo)
{
	size_t i;

	if (mo == NULL)
		return;
	for (i = 0; i < mo->nspills; i++) {
		unlink(mo->spills[i].path);
		free(mo->spills[i].path);
		free(mo->spills[i].off);
		free(mo->spills[i].len);
	}
	free(mo->spills);
	mo_table_release(&mo->t);
	free(mo->dir);
	free(mo);
}

uint64_t mapout_records(const struct mapout *mo)
{
	return mo->records;
}

static int mo_chain_next(void *it, const char **val, size_t *vlen)
{
	struct mo_chain_it *c = it;
	const struct mo_val *v;

	if (c->off == 0)
		return 0;
	v = (const struct mo_val *)(c->a + c->off);
	*val = v->val;
	*vlen = v->vlen;
	c->off = v->next;
	return 1;
}

static int mo_table_emit(void *arg, const char *key, size_t klen,
			 const char *val, size_t vlen)
{
	if (klen > KV_MAX_FIELD || vlen > KV_MAX_FIELD)
		return -E2BIG;
	mo_insert(arg, key, klen, val, vlen);
	return 0;
}

/* Fold every key's values with the combiner into a fresh table. */
static int mo_compact(struct mapout *mo)
{
	struct mo_table old = mo->t;
	struct mo_chain_it it;
	struct mo_key *k;
	size_t i;
	int r = 0;

	mo_table_init(&mo->t, old.nslots);
	for (i = 0; i < old.nslots && r == 0; i++) {
		if (old.slots[i] == 0)
			continue;
		k = mo_key_at(&old, old.slots[i]);
		it.a = old.a;
		it.off = k->head;
		r = mo->o.combine(mo->o.combine_arg, k->key, k->klen,
				  mo_chain_next, &it, mo_table_emit, &mo->t);
	}
	mo_table_release(&old);
	return r;
}

/* qsort_r order of key entries: partition, then key. */
static int mo_key_order(const void *pa, const void *pb, void *arg)
{
	const struct mapout *mo = arg;
	const struct mo_key *a = mo_key_at(&mo->t, *(const uint64_t *)pa);
	const struct mo_key *b = mo_key_at(&mo->t, *(const uint64_t *)pb);
	unsigned xa = kv_hash_partition(a->hash, mo->o.nparts);
	unsigned xb = kv_hash_partition(b->hash, mo->o.nparts);

	if (xa != xb)
		return xa < xb ? -1 : 1;
	return kv_cmp(a->key, a->klen, b->key, b->klen);
}

/* Write one key's chain as records; adds the bytes written to *bytes. */
static int mo_write_key(FILE *fp, const struct mo_table *t,
			const struct mo_key *k, uint64_t *bytes)
{
	const struct mo_val *v;
	uint64_t off;
	int r;

	for (off = k->head; off != 0; off = v->next) {
		v = (const struct mo_val *)(t->a + off);
		if ((r = kv_write(fp, k->key, k->klen, v->val, v->vlen)) != 0)
			return r;
		*bytes += KV_HDR + k->klen + v->vlen;
	}
	return 0;
}

/* Open path for writing with a large buffer. */
static FILE *mo_fopen(const char *path)
{
	FILE *fp = fopen(path, "we");

	if (fp != NULL)
		setvbuf(fp, NULL, _IOFBF, 1 << 20);
	return fp;
}

/* Close fp, reporting write errors. */
static int mo_fclose(FILE *fp)
{
	int r = ferror(fp) ? -EIO : 0;

	if (fclose(fp) != 0 && r == 0)
		r = -errno;
	return r;
}

/* Write the table sorted to path, filling off/len per partition. */
static int mo_write_table(struct mapout *mo, const char *path, uint64_t *off,
			  uint64_t *len)
{
	uint64_t *keys = xmalloc((mo->t.nkeys + 1) * sizeof(*keys));
	uint64_t bytes = 0;
	unsigned part, p = 0;
	size_t i, n = 0;
	FILE *fp = NULL;
	int r;

	for (i = 0; i < mo->t.nslots; i++)
		if (mo->t.slots[i] != 0)
			keys[n++] = mo->t.slots[i];
	qsort_r(keys, n, sizeof(*keys), mo_key_order, mo);
	if ((fp = mo_fopen(path)) == NULL) {
		r = -errno;
		goto out;
	}
	memset(off, 0, mo->o.nparts * sizeof(*off));
	memset(len, 0, mo->o.nparts * sizeof(*len));
	for (i = 0; i < n; i++) {
		part = kv_hash_partition(mo_key_at(&mo->t, keys[i])->hash,
					 mo->o.nparts);
		for (; p < part; p++)
			off[p + 1] = bytes;
		if ((r = mo_write_key(fp, &mo->t, mo_key_at(&mo->t, keys[i]),
				      &bytes)) != 0)
			goto out;
	}
	for (; p + 1 < mo->o.nparts; p++)
		off[p + 1] = bytes;
	for (p = 0; p < mo->o.nparts; p++)
		len[p] = (p + 1 < mo->o.nparts ? off[p + 1] : bytes) - off[p];
	r = 0;
out:
	if (fp != NULL) {
		int c = mo_fclose(fp);

		if (r == 0)
			r = c;
	}
	free(keys);
	return r;
}

/* Spill the table to a new sorted run and start an empty one. */
static int mo_spill(struct mapout *mo)
{
	struct mo_spill *s;
	int r;

	mo->spills = xrealloc(mo->spills,
			      (mo->nspills + 1) * sizeof(*mo->spills));
	s = &mo->spills[mo->nspills++];
	s->path = xasprintf("%s/spill-%zu", mo->dir, mo->nspills - 1);
	s->off = xcalloc(mo->o.nparts, sizeof(*s->off));
	s->len = xcalloc(mo->o.nparts, sizeof(*s->len));
	r = mo_write_table(mo, s->path, s->off, s->len);
	mo_table_release(&mo->t);
	mo_table_init(&mo->t, MO_SLOTS);
	return r;
}

int mapout_add(void *arg, const char *key, size_t klen, const char *val,
	       size_t vlen)
{
	struct mapout *mo = arg;
	int r;

	if (klen > KV_MAX_FIELD || vlen > KV_MAX_FIELD)
		return -E2BIG;
	mo->records++;
	mo_insert(&mo->t, key, klen, val, vlen);
	if (mo->o.combine != NULL && mo->t.len >= mo->combine_at) {
		if ((r = mo_compact(mo)) != 0)
			return r;
		if (mo->t.len > mo->combine_at / 2 &&
		    mo->combine_at < mo->o.mem_limit)
			mo->combine_at *= 2;
		if (mo->t.len < mo->o.mem_limit / 2)
			return 0;
		return mo_spill(mo);
	}
	if (mo->t.len < mo->o.mem_limit)
		return 0;
	return mo_spill(mo);
}

/* Write the index file: nparts (offset, length) pairs. */
static int mo_write_index(const struct mapout *mo, const uint64_t *off,
			  const uint64_t *len)
{
	char *path = xasprintf("%s/out.index", mo->dir);
	FILE *fp = mo_fopen(path);
	uint64_t pair[2];
	unsigned p;
	int r = 0;

	free(path);
	if (fp == NULL)
		return -errno;
	for (p = 0; p < mo->o.nparts && r == 0; p++) {
		pair[0] = htole64(off[p]);
		pair[1] = htole64(len[p]);
		if (fwrite(pair, sizeof(pair), 1, fp) != 1)
			r = -EIO;
	}
	if (mo_fclose(fp) != 0 && r == 0)
		r = -EIO;
	return r;
}

static int mo_file_emit_fn(void *arg, const char *key, size_t klen,
			   const char *val, size_t vlen)
{
	struct mo_file_emit *fe = arg;
	int r;

	if (kv_cmp(key, klen, fe->key, fe->klen) != 0) {
		log_warnx("combiner emitted a key other than its input key");
		return -EINVAL;
	}
	if ((r = kv_write(fe->fp, key, klen, val, vlen)) != 0)
		return r;
	fe->bytes += KV_HDR + klen + vlen;
	return 0;
}

/* Merge one partition of every mapped spill into fp. */
static int mo_merge_part(struct mapout *mo, char **maps, unsigned part,
			 struct mo_file_emit *fe)
{
	struct kv_run *runs = xcalloc(mo->nspills, sizeof(*runs));
	struct kv_merge *m;
	const char *key, *val;
	size_t i, klen, vlen;
	int r;

	for (i = 0; i < mo->nspills; i++) {
		runs[i].p = maps[i] + mo->spills[i].off[part];
		runs[i].end = runs[i].p + mo->spills[i].len[part];
	}
	m = kv_merge_new(runs, mo->nspills);
	while ((r = kv_merge_next_key(m, &key, &klen)) == 1) {
		fe->key = key;
		fe->klen = klen;
		if (mo->o.combine != NULL) {
			r = mo->o.combine(mo->o.combine_arg, key, klen,
					  kv_merge_value_fn, m,
					  mo_file_emit_fn, fe);
			if (r != 0)
				break;
			continue;
		}
		while (kv_merge_next_value(m, &val, &vlen) == 1) {
			r = mo_file_emit_fn(fe, key, klen, val, vlen);
			if (r != 0)
				goto out;
		}
	}
out:
	kv_merge_free(m);
	free(runs);
	return r;
}

/* Merge all spills into DIR/out. */
static int mo_merge_spills(struct mapout *mo, uint64_t *off, uint64_t *len)
{
	char **maps = xcalloc(mo->nspills, sizeof(*maps));
	size_t *maplen = xcalloc(mo->nspills, sizeof(*maplen));
	char *path = xasprintf("%s/out", mo->dir);
	struct mo_file_emit fe = { 0 };
	unsigned p;
	size_t i;
	int r;

	for (i = 0; i < mo->nspills; i++) {
		if ((maps[i] = util_map_file(mo->spills[i].path,
					   &maplen[i])) == NULL) {
			r = -errno;
			goto out;
		}
	}
	if ((fe.fp = mo_fopen(path)) == NULL) {
		r = -errno;
		goto out;
	}
	for (p = 0; p < mo->o.nparts; p++) {
		off[p] = fe.bytes;
		if ((r = mo_merge_part(mo, maps, p, &fe)) < 0)
			goto out;
		len[p] = fe.bytes - off[p];
	}
	r = 0;
out:
	if (fe.fp != NULL && mo_fclose(fe.fp) != 0 && r == 0)
		r = -EIO;
	for (i = 0; i < mo->nspills; i++)
		util_unmap(maps[i], maplen[i]);
	free(maps);
	free(maplen);
	free(path);
	return r;
}

int mapout_finish(struct mapout *mo, uint64_t *sizes)
{
	uint64_t *off = xcalloc(mo->o.nparts, sizeof(*off));
	uint64_t *len = xcalloc(mo->o.nparts, sizeof(*len));
	char *path = xasprintf("%s/out", mo->dir);
	int r;

	if (mo->o.combine != NULL && mo->t.nkeys != 0 &&
	    (r = mo_compact(mo)) != 0)
		goto out;
	if (mo->nspills == 0) {
		r = mo_write_table(mo, path, off, len);
	} else {
		if (mo->t.nkeys != 0 && (r = mo_spill(mo)) != 0)
			goto out;
		r = mo_merge_spills(mo, off, len);
	}
	if (r != 0)
		goto out;
	if ((r = mo_write_index(mo, off, len)) != 0)
		goto out;
	memcpy(sizes, len, mo->o.nparts * sizeof(*sizes));
	r = 0;
out:
	free(off);
	free(len);
	free(path);
	return r;
}

int mapout_segment(const char *dir, unsigned part, uint64_t *off,
		   uint64_t *len)
{
	char *path = xasprintf("%s/out.index", dir);
	uint64_t pair[2];
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -ENOENT;
	n = pread(fd, pair, sizeof(pair), (off_t)part * sizeof(pair));
	close(fd);
	if (n != (ssize_t)sizeof(pair)) {
		r = -EINVAL;
		goto out;
	}
	*off = le64toh(pair[0]);
	*len = le64toh(pair[1]);
	r = 0;
out:
	return r;
}
