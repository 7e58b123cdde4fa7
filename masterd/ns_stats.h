/*
 * ns_stats.h - totals over the namespace that the status page and the
 * metrics show and no request path needs (so they stay out of
 * namespace.c's prepared statements): the bytes held in files.
 *
 * Each call scans the inode table once; callers (a page refreshing every
 * few seconds, a metrics scrape) cache or bound how often they ask.
 */
#ifndef MASTERD_NS_STATS_H
#define MASTERD_NS_STATS_H

#include <stdint.h>

struct ns_reader;

/* Sum of the sizes of every regular file, into *bytes. 0 or -EIO
 * (logged). The reader is borrowed. */
int ns_stats_file_bytes(struct ns_reader *rd, uint64_t *bytes);

#endif
