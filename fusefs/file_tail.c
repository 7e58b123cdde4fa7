/*
 * file_tail.c - the partial last page of a file as this mount wrote it
 * (see file_tail.h).
 */
#include <stdlib.h>
#include <string.h>

#include "file_tail.h"
#include "xmalloc.h"
#include "banned.h"

void file_tail_budget_init(struct file_tail_budget *b, size_t max)
{
	TAILQ_INIT(&b->kept);
	b->bytes = 0;
	b->max = max;
}

void file_tail_drop(struct file_tail_budget *b, struct file_tail *t)
{
	if (t->bytes == NULL)
		return;
	TAILQ_REMOVE(&b->kept, t, link);
	b->bytes -= t->len;
	free(t->bytes);
	t->bytes = NULL;
	t->off = 0;
	t->len = 0;
}

/* Make t hold "len" bytes from file offset "off" (page-aligned), the
 * newest in the budget; its old bytes up to min(old, len) stay. */
static void tail_resize(struct file_tail_budget *b, struct file_tail *t,
			uint64_t off, uint32_t len)
{
	if (t->bytes != NULL) {
		TAILQ_REMOVE(&b->kept, t, link);
		b->bytes -= t->len;
	}
	t->bytes = xrealloc(t->bytes, len);
	t->off = off;
	t->len = len;
	TAILQ_INSERT_TAIL(&b->kept, t, link);
	b->bytes += len;
	while (b->bytes > b->max)
		file_tail_drop(b, TAILQ_FIRST(&b->kept));
}

void file_tail_note_write(struct file_tail_budget *b, struct file_tail *t,
			  const void *buf, size_t size, uint64_t off)
{
	uint64_t end = off + size, part = end % FILE_TAIL_PAGE;
	uint64_t page = end - part;     /* start of the page "end" is in */
	bool same = t->bytes != NULL && page == t->off;
	uint64_t from = off > page ? off : page;
	uint32_t len;

	if (size == 0 || (t->bytes != NULL && end <= t->off))
		return;         /* before the kept bytes: they stand */
	if (part != 0 && (off <= page || (same && off <= t->off + t->len))) {
		/* The write ends mid-page and, with what is kept there,
		 * fills the page from its start: keep that. */
		len = same && t->len > part ? t->len : (uint32_t)part;
		tail_resize(b, t, page, len);
		memcpy(t->bytes + (from - page),
		       (const uint8_t *)buf + (from - off), end - from);
		return;
	}
	/* Over the kept bytes, or past them (the file's end moved on). */
	file_tail_drop(b, t);
}

bool file_tail_read(const struct file_tail *t, uint64_t off, size_t size,
		    uint64_t file_size, void *out, size_t *n)
{
	uint64_t end = off + size < file_size ? off + size : file_size;

	if (t->bytes == NULL || off >= end || off < t->off ||
	    end > t->off + t->len)
		return false;
	memcpy(out, t->bytes + (off - t->off), end - off);
	*n = (size_t)(end - off);
	return true;
}
