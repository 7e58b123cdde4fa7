/*
 * xmalloc.h - allocation that cannot fail.
 *
 * On allocation failure these log and exit: a daemon out of memory cannot
 * do anything useful. Use them for small bookkeeping; allocations sized by
 * peer input must be bounded by the caller first.
 */
#ifndef DFS_XMALLOC_H
#define DFS_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
/* Room for at least "need" elements of "size" bytes in "ptr", which has
 * room for *cap: returns ptr itself or a larger copy, doubling *cap
 * (from 16). For arrays that grow by appending. */
void *xgrow(void *ptr, size_t *cap, size_t need, size_t size);
/* printf into a new string owned by the caller. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
