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
/* printf into a new string owned by the caller. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
