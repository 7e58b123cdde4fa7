/*
 * buf_pool.h - large page-aligned buffers kept for reuse.
 *
 * A server that takes a large body per request (a chunk server's 8 MiB
 * writes) would otherwise map fresh memory for each one: glibc's malloc
 * serves such sizes with mmap() or hands the top of its heap back, and
 * on a virtual machine whose free memory goes back to its host every
 * fresh page costs a fault there as well as here. A pool keeps a few
 * freed buffers, up to a total size, for the next requests.
 *
 * Buffers start on a page (4096 bytes), so a chunk server can give them
 * to the disk without a copy (O_DIRECT).
 *
 * Calling sequence:
 *     bp = buf_pool_new(max_bytes);
 *     p = buf_pool_get(bp, len, &size);   any thread
 *     buf_pool_put(bp, p, size);          any thread
 *     buf_pool_free(bp);                  frees the buffers kept
 *
 * Thread-safe.
 */
#ifndef DFS_BUF_POOL_H
#define DFS_BUF_POOL_H

#include <stddef.h>

struct buf_pool;

/* A pool keeping at most max_bytes of free buffers. Never NULL. */
struct buf_pool *buf_pool_new(size_t max_bytes);

/* Free the pool and the buffers it keeps. NULL is a no-op. */
void buf_pool_free(struct buf_pool *bp);

/*
 * A page-aligned buffer of at least len bytes (at most twice that),
 * reused when one is kept, else new; *size is set to its real size,
 * which buf_pool_put() needs back. NULL when out of memory.
 */
void *buf_pool_get(struct buf_pool *bp, size_t len, size_t *size);

/* Return a buffer of buf_pool_get(): kept if it fits, else freed. NULL
 * is a no-op. */
void buf_pool_put(struct buf_pool *bp, void *buf, size_t size);

#endif
