/*
 * file_tail.h - the last, partial page of a file, as this mount wrote it.
 *
 * Without a write-back cache the kernel keeps the pages a write filled
 * whole, but not a partial last page: reading a file back right after
 * writing it (cp -a and then diff -r, a build reading what it just
 * wrote) costs one read request for that page, and the read goes to a
 * replica. The mount keeps the bytes of that page from the writes
 * themselves and answers such a read from memory.
 *
 * The kept bytes are always the file's content as this mount's writes
 * made it: a write over them updates or drops them, and inode_table.c
 * drops them when the size changes otherwise (truncate, fallocate) and
 * when an open finds the file changed elsewhere (the same rule that
 * drops the kernel's page cache, close-to-open). A read is answered only
 * if every byte it asks for up to the file's size is kept.
 *
 * Memory is bounded by a budget shared by every kept tail: past it, the
 * oldest kept tail goes first.
 *
 * Plain data, no locking: inode_table.c keeps one per inode and the
 * budget under its lock.
 */
#ifndef FUSEFS_FILE_TAIL_H
#define FUSEFS_FILE_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/* The kernel's page size for file data. */
#define FILE_TAIL_PAGE 4096u

struct file_tail {
	uint8_t *bytes;                 /* owned; NULL when none kept */
	uint64_t off;                   /* page-aligned file offset */
	uint32_t len;                   /* 1 .. FILE_TAIL_PAGE - 1 */
	TAILQ_ENTRY(file_tail) link;    /* in the budget, oldest first */
};

struct file_tail_budget {
	TAILQ_HEAD(, file_tail) kept;
	size_t bytes;                   /* held by every kept tail */
	size_t max;                     /* most bytes held at once */
};

/* An empty budget of at most max bytes. */
void file_tail_budget_init(struct file_tail_budget *b, size_t max);

/* A write of "size" bytes "buf" at "off" went through: keep, extend or
 * drop t's bytes. */
void file_tail_note_write(struct file_tail_budget *b, struct file_tail *t,
			  const void *buf, size_t size, uint64_t off);

/* Forget t's bytes (the file changed in a way no write told). */
void file_tail_drop(struct file_tail_budget *b, struct file_tail *t);

/* If t holds every byte of [off, off + size) below file_size: copy them
 * to out, set *n to their count and return true. */
bool file_tail_read(const struct file_tail *t, uint64_t off, size_t size,
		    uint64_t file_size, void *out, size_t *n);

#endif
