/*
 * buf_pool.c - large page-aligned buffers kept for reuse (see
 * buf_pool.h). The kept buffers sit in a small array, searched whole:
 * a pool keeps a handful at most.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "buf_pool.h"
#include "xmalloc.h"

#include "banned.h"

/* Alignment and size granule of the buffers. */
#define BUF_POOL_ALIGN 4096u

/* Most buffers kept, whatever their sizes. */
#define BUF_POOL_SLOTS 16

struct buf_pool_slot {
	void *buf;
	size_t size;
};

struct buf_pool {
	pthread_mutex_t lock;
	size_t max_bytes;                        /* most bytes kept */
	size_t bytes;                            /* bytes kept */
	unsigned n;                              /* slots used */
	struct buf_pool_slot slot[BUF_POOL_SLOTS];
};

struct buf_pool *buf_pool_new(size_t max_bytes)
{
	struct buf_pool *bp = xcalloc(1, sizeof(*bp));

	pthread_mutex_init(&bp->lock, NULL);
	bp->max_bytes = max_bytes;
	return bp;
}

void buf_pool_free(struct buf_pool *bp)
{
	if (bp == NULL)
		return;
	for (unsigned i = 0; i < bp->n; i++)
		free(bp->slot[i].buf);
	pthread_mutex_destroy(&bp->lock);
	free(bp);
}

/* Take a kept buffer of len to 2 * len bytes, or NULL. */
static void *buf_pool_take(struct buf_pool *bp, size_t len, size_t *size)
{
	void *buf = NULL;

	pthread_mutex_lock(&bp->lock);
	for (unsigned i = 0; i < bp->n; i++) {
		struct buf_pool_slot *s = &bp->slot[i];

		if (s->size < len || s->size / 2 > len)
			continue;
		buf = s->buf;
		*size = s->size;
		bp->bytes -= s->size;
		*s = bp->slot[--bp->n];
		break;
	}
	pthread_mutex_unlock(&bp->lock);
	return buf;
}

void *buf_pool_get(struct buf_pool *bp, size_t len, size_t *size)
{
	size_t want = (len + BUF_POOL_ALIGN - 1) / BUF_POOL_ALIGN *
		      BUF_POOL_ALIGN;
	void *buf;

	if (want < len)
		return NULL;
	if (want == 0)
		want = BUF_POOL_ALIGN;
	if ((buf = buf_pool_take(bp, want, size)) != NULL)
		return buf;
	if (posix_memalign(&buf, BUF_POOL_ALIGN, want) != 0)
		return NULL;
	*size = want;
	return buf;
}

void buf_pool_put(struct buf_pool *bp, void *buf, size_t size)
{
	bool kept = false;

	if (buf == NULL)
		return;
	pthread_mutex_lock(&bp->lock);
	if (bp->n < BUF_POOL_SLOTS && size <= bp->max_bytes - bp->bytes) {
		bp->slot[bp->n++] = (struct buf_pool_slot){buf, size};
		bp->bytes += size;
		kept = true;
	}
	pthread_mutex_unlock(&bp->lock);
	if (!kept)
		free(buf);
}
