/*
 * dfsutil.h - path-level DFS helpers over dfs_client.h for the mr
 * programs: mkdir -p, rm -r, create, rename by path, listing a directory,
 * and chunk locations (EP_CHUNKS).
 *
 * Paths are absolute DFS paths ("/a/b"). All return 0 or a negative
 * errno.
 */
#ifndef MR_DFSUTIL_H
#define MR_DFSUTIL_H

#include <stdint.h>
#include <jansson.h>

#include "dfs_client.h"

struct http_client;

/* Split an absolute path into its parent's path and last component
 * (both newly allocated). -EINVAL for "/", relative or "." / "..". */
int dfsu_split(const char *path, char **parent, char **name);

/* Create every missing directory of path; *ino (may be NULL) receives
 * the last one's inode. */
int dfsu_mkdir_p(struct dfs_client *c, const char *path, uint64_t *ino);

/* Remove path and everything under it; a missing path is 0. */
int dfsu_rm_rf(struct dfs_client *c, const char *path);

/* Create an empty regular file (mode 0644); -EEXIST if present. */
int dfsu_create(struct dfs_client *c, const char *path, struct dfs_attr *a);

/* Rename between absolute paths with enum proto_rename_flags. */
int dfsu_rename(struct dfs_client *c, const char *from, const char *to,
		unsigned flags);

/* Number of entries of directory ino (stops counting at "max"). */
int dfsu_count_entries(struct dfs_client *c, uint64_t ino, unsigned max,
		       unsigned *n);

/* Callback of dfsu_list(): a regular file's path (borrowed) and attrs. */
typedef int (*dfsu_file_fn)(void *arg, const char *path,
			    const struct dfs_attr *attr);

/*
 * Call fn for "path" if it is a regular file, or, if it is a directory,
 * for each regular file directly in it whose name does not start with
 * '_' or '.', in name order.
 */
int dfsu_list(struct dfs_client *c, const char *path, dfsu_file_fn fn,
	      void *arg);

/*
 * Read locations of chunks [index, index+count) of ino from the master
 * (EP_CHUNKS); *reply gets the whole reply object (caller owns it).
 */
int dfsu_chunks(struct http_client *hc, const char *master, uint64_t ino,
		uint64_t index, uint64_t count, json_t **reply);

#endif
