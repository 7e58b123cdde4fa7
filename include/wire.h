/*
 * wire.h - status codes on the wire and their mapping to errno and HTTP.
 *
 * Daemons never put host errno values on the wire: they send one of these
 * fixed codes, and wire_status_to_errno() turns it back into an errno for
 * FUSE replies and CLI messages. The numbers are part of the protocol and
 * never change meaning; add new codes at the end.
 */
#ifndef DFS_WIRE_H
#define DFS_WIRE_H

enum dfs_status {
	DFS_OK = 0,
	DFS_ERR_NOENT = 1,       /* no such file, inode or chunk */
	DFS_ERR_EXIST = 2,       /* name already exists */
	DFS_ERR_NOTDIR = 3,      /* a path component is not a directory */
	DFS_ERR_ISDIR = 4,       /* operation not valid on a directory */
	DFS_ERR_NOTEMPTY = 5,    /* directory not empty */
	DFS_ERR_INVAL = 6,       /* invalid argument or malformed request */
	DFS_ERR_ACCES = 7,       /* permission denied */
	DFS_ERR_PERM = 8,        /* operation not permitted */
	DFS_ERR_NOSPC = 9,       /* no space or too few servers */
	DFS_ERR_IO = 10,         /* I/O error on a server */
	DFS_ERR_NAMETOOLONG = 11,/* name component over DFS_NAME_MAX */
	DFS_ERR_STALE = 12,      /* replica version differs from the request */
	DFS_ERR_CORRUPT = 13,    /* checksum mismatch on a replica */
	DFS_ERR_DOWNSTREAM = 14, /* a server further down the chain failed */
	DFS_ERR_AGAIN = 15,      /* try again (lease moved, server busy) */
	DFS_ERR_NOTSUP = 16,     /* operation not supported */
	DFS_ERR_FBIG = 17,       /* file too large */
	DFS_ERR_TOOBIG = 18,     /* request body too large */
	DFS_ERR_UNAUTH = 19,     /* missing or bad credentials */
	DFS_ERR_FORBIDDEN = 20,  /* credentials valid but not allowed */
	DFS_ERR_NOTFOUND = 21,   /* no such endpoint */
	DFS_ERR_NODATA = 22,     /* no such attribute */
	DFS_ERR_RANGE = 23,      /* value out of range */
	DFS_ERR_LOOP = 24,       /* too many levels of symbolic links */
	DFS_ERR_MAX
};

/* Short upper-case name of a status ("NOENT"); "UNKNOWN" if out of range. */
const char *wire_status_name(int status);

/* Positive errno for a status (EIO for unknown codes, 0 for DFS_OK). */
int wire_status_to_errno(int status);

/* Status for a positive or negative errno (DFS_ERR_IO for unknown ones). */
int wire_status_from_errno(int err);

/* HTTP status code a reply with this status carries (200 for DFS_OK). */
unsigned wire_status_http(int status);

#endif
