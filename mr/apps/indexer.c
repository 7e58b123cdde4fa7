/*
 * indexer.c - inverted index: for every word (a maximal run of ASCII
 * letters, case kept) the sorted list of the files it occurs in, by base
 * name, comma-separated: "word<TAB>a.txt,b.txt". File names holding ','
 * are not supported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mr_app.h"

/* A file name borrowed from a value. */
struct name {
	const char *p;
	size_t len;
};

/* A growing list of names. */
struct names {
	struct name *v;
	size_t n;
	size_t cap;
};

static int is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const char *base_name(const char *path)
{
	const char *s = path != NULL ? strrchr(path, '/') : NULL;

	return s != NULL ? s + 1 : path != NULL ? path : "";
}

static int ix_map(struct mr_ctx *ctx, const char *data, size_t len)
{
	const char *file = base_name(ctx->file);
	size_t flen = strlen(file), i = 0, start;
	int r;

	while (i < len) {
		while (i < len && !is_letter(data[i]))
			i++;
		start = i;
		while (i < len && is_letter(data[i]))
			i++;
		if (i > start && (r = ctx->emit(ctx, data + start, i - start,
						file, flen)) != 0)
			return r;
	}
	return 0;
}

static int names_add(struct names *nm, const char *p, size_t len)
{
	if (nm->n == nm->cap) {
		size_t cap = nm->cap != 0 ? nm->cap * 2 : 16;
		struct name *nv = realloc(nm->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		nm->v = nv;
		nm->cap = cap;
	}
	nm->v[nm->n].p = p;
	nm->v[nm->n++].len = len;
	return 0;
}

/* Split a comma list into nm (pointers into val). */
static int names_split(struct names *nm, const char *val, size_t vlen)
{
	const char *end = val + vlen, *c;
	int r;

	while (val < end) {
		c = memchr(val, ',', (size_t)(end - val));
		if (c == NULL)
			c = end;
		if (c > val && (r = names_add(nm, val, (size_t)(c - val))) != 0)
			return r;
		val = c + 1;
	}
	return 0;
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : al < bl ? -1 : al > bl ? 1 : 0;
}

static int name_order(const void *a, const void *b)
{
	const struct name *x = a, *y = b;

	return name_cmp(x->p, x->len, y->p, y->len);
}

/* Join the distinct sorted names with commas and emit them. */
static int names_emit(struct mr_ctx *ctx, const char *key, size_t klen,
		      struct names *nm)
{
	size_t i, total = 0, off = 0;
	char *buf;
	int r;

	for (i = 0; i < nm->n; i++)
		total += nm->v[i].len + 1;
	if ((buf = malloc(total + 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < nm->n; i++) {
		if (i > 0 && name_order(&nm->v[i - 1], &nm->v[i]) == 0)
			continue;
		if (off > 0)
			buf[off++] = ',';
		memcpy(buf + off, nm->v[i].p, nm->v[i].len);
		off += nm->v[i].len;
	}
	r = ctx->emit(ctx, key, klen, buf, off);
	free(buf);
	return r;
}

/* Union of the file lists of a key (reduce and combine alike). Values
 * are only valid until the next call, so the names are copied first. */
static int ix_reduce(struct mr_ctx *ctx, const char *key, size_t klen)
{
	struct names nm = { 0 };
	char *copy = NULL, *np;
	size_t clen = 0, ccap = 0, vlen;
	const char *val;
	int r;

	while ((r = ctx->next(ctx, &val, &vlen)) == 1) {
		if (clen + vlen + 1 > ccap) {
			ccap = (clen + vlen + 1) * 2;
			if ((np = realloc(copy, ccap)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			copy = np;
		}
		memcpy(copy + clen, val, vlen);
		copy[clen + vlen] = ',';
		clen += vlen + 1;
	}
	if (r < 0)
		goto out;
	if ((r = names_split(&nm, copy != NULL ? copy : "", clen)) != 0)
		goto out;
	qsort(nm.v, nm.n, sizeof(*nm.v), name_order);
	r = names_emit(ctx, key, klen, &nm);
out:
	free(nm.v);
	free(copy);
	return r;
}

const struct mr_app mr_app = {
	.abi = MR_APP_ABI,
	.name = "indexer",
	.map = ix_map,
	.reduce = ix_reduce,
	.combine = ix_reduce,
};
