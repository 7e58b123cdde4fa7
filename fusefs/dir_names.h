/*
 * dir_names.h - the names of directories this mount made, kept while
 * only this mount changes them, so that a lookup of a missing name there
 * needs no master call.
 *
 * The kernel looks every name up before it creates it: a file copied in,
 * extracted or created costs a negative lookup at the master first. A
 * directory this mount made starts empty, known at the change count
 * mkdir's reply carries (proto.h "Directory change counts"). Every change
 * this mount makes there whose reply carries the next count under the
 * same epoch keeps the list complete, with the name added or removed;
 * any other count, a reply without one, or a failed change drops the
 * list for good. The mount asks for a lease of the directory's names
 * with each change (dfs_client_want_dir_leases()): while it holds one,
 * no other client can change the directory (the master makes such a
 * change wait for the lease's end), so a name missing from the list is
 * missing. Without a lease (another client changed the directory
 * lately, or waits to), the master answers.
 *
 * Memory: at most DIR_NAMES_MAX names in all; past it, the list
 * changed least recently is dropped first.
 *
 * Thread-safe (one mutex).
 */
#ifndef FUSEFS_DIR_NAMES_H
#define FUSEFS_DIR_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfs_client.h"

#define DIR_NAMES_MAX (256u * 1024)

struct dir_names;

/* An empty set of lists holding at most max_names names in all. */
struct dir_names *dir_names_new(size_t max_names);
void dir_names_free(struct dir_names *dn);

/* This mount made directory "a" (mkdir's reply, a->dir_epoch 0 if the
 * master told no count) with a request sent at sent_ms (time_mono_ms). */
void dir_names_made(struct dir_names *dn, const struct dfs_attr *a,
		    int64_t sent_ms);

/*
 * This mount changed directory "ino" by one request sent at sent_ms,
 * whose reply carried the directory's attrs "dir" (dir->ino != ino if
 * none): "removed" (or NULL) lost its entry and "added" (or NULL) got
 * one. A rename within one directory is one change with both.
 */
void dir_names_changed(struct dir_names *dn, uint64_t ino,
		       const struct dfs_attr *dir, const char *removed,
		       const char *added, int64_t sent_ms);

/* Forget the list of "ino" (a change that failed or cannot be followed;
 * the directory is gone). */
void dir_names_drop(struct dir_names *dn, uint64_t ino);

/* True if "name" is certainly not in directory "ino": its list is
 * complete and this mount holds its lease at now_ms (time_mono_ms()). */
bool dir_names_missing(struct dir_names *dn, uint64_t ino, const char *name,
		       int64_t now_ms);

/* Names held in all (for tests). */
size_t dir_names_count(struct dir_names *dn);

#endif
