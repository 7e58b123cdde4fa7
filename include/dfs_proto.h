/*
 * dfs_proto.h - the DFS wire protocol, in one place.
 *
 * Every program talks HTTP/1.1. Control messages are JSON objects in POST
 * bodies and replies (Content-Type: application/json); chunk data travels
 * as raw bodies (application/octet-stream) with its coordinates in the
 * query string. lib/proto.c builds and checks these messages for every
 * program; no daemon parses them by hand.
 *
 * Conventions
 *  - Integers are JSON integers. Inode numbers, chunk handles and versions
 *    are unsigned 63-bit (they never reach 2^63), sizes and offsets too.
 *  - Timestamps are [seconds, nanoseconds] pairs with 64-bit seconds.
 *  - A successful call answers 200 with a JSON object (possibly {}).
 *  - A failed call answers 4xx/5xx with
 *        {"err": <enum dfs_status>, "error": "<name>", "message": "..."}
 *    The HTTP code follows from the status (wire_status_http()); clients
 *    use "err", never the HTTP code, to decide what happened.
 *  - Addresses are "host:port" strings.
 *  - The attr object (proto_attr_to_json()):
 *        {"ino", "mode", "nlink", "uid", "gid", "size", "rdev",
 *         "atime": [s, ns], "mtime": [s, ns], "ctime": [s, ns],
 *         "replication"}
 *    "mode" carries the S_IFMT type bits as st_mode does.
 *  - The chunk object (proto_chunk_to_json()):
 *        {"index", "handle", "version", "replicas": ["addr", ...],
 *         "primary": "addr" (only on write leases), "lease_ms" (idem)}
 */
#ifndef DFS_PROTO_H
#define DFS_PROTO_H

/* Root inode of the namespace; inode numbers are never reused. */
#define DFS_ROOT_INO 1

/* Longest file name component and longest path, as on Linux. */
#define DFS_NAME_MAX 255
#define DFS_PATH_MAX 4096

/* Longest "host:port" address string, including the NUL. */
#define DFS_ADDR_MAX 64

/* Most replicas a chunk may have. */
#define DFS_MAX_REPLICAS 16

/* Checksum block: every 64 KiB of a replica has its own checksum. */
#define DFS_BLOCK_SIZE (64 * 1024)

/* Largest raw body of one chunk write request. */
#define DFS_MAX_WRITE (8 * 1024 * 1024)

/* Largest JSON control body a daemon accepts (chunk reports are big). */
#define DFS_MAX_JSON_BODY (64 * 1024 * 1024)

/* setattr "valid" bits: which fields of the request to apply. */
enum proto_setattr_flags {
	PROTO_SET_MODE = 1 << 0,
	PROTO_SET_UID = 1 << 1,
	PROTO_SET_GID = 1 << 2,
	PROTO_SET_SIZE = 1 << 3,
	PROTO_SET_ATIME = 1 << 4,
	PROTO_SET_MTIME = 1 << 5,
	PROTO_SET_ATIME_NOW = 1 << 6,
	PROTO_SET_MTIME_NOW = 1 << 7,
};

/* rename "flags", the same values as renameat2(2). */
enum proto_rename_flags {
	PROTO_RENAME_NOREPLACE = 1 << 0,
	PROTO_RENAME_EXCHANGE = 1 << 1,
};

/*
 * ---------------------------------------------------------------------
 * masterd: client API (POST, JSON in, JSON out unless noted)
 * ---------------------------------------------------------------------
 */

/* {"parent", "name"} -> attr.  NOENT, NOTDIR. */
#define EP_LOOKUP "/api/lookup"

/* {"ino"} -> attr.  NOENT. */
#define EP_GETATTR "/api/getattr"

/*
 * {"ino", "valid": enum proto_setattr_flags, "mode", "uid", "gid", "size",
 *  "atime": [s, ns], "mtime": [s, ns]} -> attr.
 * Fields not named in "valid" may be absent. Only the permission bits of
 * "mode" are applied. A size change drops the chunks wholly past the new
 * size (freed lazily) and sets mtime and ctime; truncating inside a chunk
 * is first done on that chunk's replicas by the client (EP_CHUNK_TRUNCATE)
 * so that bytes past the new end read as zeros if the file grows again.
 * NOENT, INVAL (size on a non-file), FBIG.
 */
#define EP_SETATTR "/api/setattr"

/*
 * {"ino", "size"} -> attr.  Grows the file size to "size" if it is larger
 * (never shrinks it, so concurrent writers cannot undo each other) and sets
 * mtime and ctime to now. Clients call it after writing past the end.
 */
#define EP_EXTEND "/api/extend"

/*
 * {"ino", "cookie", "max"} ->
 *     {"entries": [{"name", "cookie", "attr"}], "eof": bool}
 * Entries come in a stable order; "cookie" of an entry resumes the listing
 * after it. "." and ".." are not listed (the client adds them). "max" is
 * capped by the server (1,000). NOENT, NOTDIR.
 */
#define EP_READDIR "/api/readdir"

/*
 * {"parent", "name", "mode", "uid", "gid", "rdev"} -> attr.
 * Creates a regular file (or a node of the type in "mode"), inheriting the
 * parent's replication factor. EXIST, NOENT, NOTDIR, NAMETOOLONG, INVAL.
 */
#define EP_CREATE "/api/create"

/* {"parent", "name", "mode", "uid", "gid"} -> attr.  As EP_CREATE. */
#define EP_MKDIR "/api/mkdir"

/* {"parent", "name", "target", "uid", "gid"} -> attr.  As EP_CREATE. */
#define EP_SYMLINK "/api/symlink"

/* {"ino"} -> {"target"}.  NOENT, INVAL (not a symlink). */
#define EP_READLINK "/api/readlink"

/* {"ino", "newparent", "newname"} -> attr.  EXIST, PERM (directory). */
#define EP_LINK "/api/link"

/* {"parent", "name"} -> {}.  NOENT, ISDIR. */
#define EP_UNLINK "/api/unlink"

/* {"parent", "name"} -> {}.  NOENT, NOTDIR, NOTEMPTY. */
#define EP_RMDIR "/api/rmdir"

/*
 * {"parent", "name", "newparent", "newname", "flags"} -> {}.
 * Atomic in one transaction, also over an existing target, which is
 * unlinked. NOENT, EXIST (NOREPLACE), NOTEMPTY, ISDIR, NOTDIR, INVAL
 * (a directory into itself).
 */
#define EP_RENAME "/api/rename"

/* {} -> {"capacity", "used", "free", "files", "chunk_size"} (bytes). */
#define EP_STATFS "/api/statfs"

/* {"path"} -> attr.  Absolute DFS path ("/a/b"). NOENT, NOTDIR, INVAL. */
#define EP_RESOLVE "/api/resolve"

/*
 * {"ino", "index", "count", "write": bool} ->
 *     {"chunk_size", "chunks": [chunk, ...]}
 * Locations of the chunks index .. index+count-1 of a file (count capped
 * at 1,024). A read request lists only chunks that exist (holes read as
 * zeros) and replicas on live servers. A write request allocates missing
 * chunks on distinct live servers (least used first) and returns each with
 * a lease: "primary" orders the mutations until "lease_ms" (milliseconds
 * since the epoch) passes. NOENT, INVAL, NOSPC (too few live servers).
 */
#define EP_CHUNKS "/api/chunks"

/*
 * {"path"} -> {"path", "size", "replication",
 *              "chunks": [{"index", "handle", "version", "size",
 *                          "replicas": ["addr", ...]}]}
 * The `dfs stat --json` object of SPEC 5.
 */
#define EP_STAT "/api/stat"

/*
 * GET -> {"chunkservers": [{"addr", "rack", "alive", "chunks", "capacity",
 *          "used"}], "files", "chunks", "under_replicated"}
 * The `dfs status --json` object of SPEC 5.
 */
#define EP_STATUS "/api/status"

/*
 * ---------------------------------------------------------------------
 * masterd: chunk server API
 * ---------------------------------------------------------------------
 */

/*
 * {"addr", "rack", "capacity", "used", "chunks": [[handle, version], ...]}
 *     -> {"heartbeat_ms", "chunk_size", "delete": [handle, ...]}
 * A chunk server announces itself (again after a restart) with its full
 * chunk report. "delete" lists reported chunks that no file references or
 * whose version is stale; the server removes them. "chunk_size" is the
 * cluster's: no replica grows past it.
 */
#define EP_CS_REGISTER "/api/cs/register"

/*
 * {"addr", "capacity", "used", "chunks": [[handle, version], ...]}
 *     -> {"delete": [handle, ...], "reregister": bool}
 * Sent every heartbeat_ms. "reregister" asks a server the master does not
 * know (after a master restart) to register again.
 */
#define EP_CS_HEARTBEAT "/api/cs/heartbeat"

/*
 * ---------------------------------------------------------------------
 * chunkd: data API
 * ---------------------------------------------------------------------
 * Query parameters: handle, version, offset, length, size: decimal;
 * chain: comma-separated addresses still to forward to, in order.
 */

/*
 * GET ?handle&version&offset&length -> raw bytes, exactly "length" of them
 * (bytes past the replica's end read as zeros; offset + length must lie
 * within the chunk). Checksums of every block touched are verified.
 * NOENT (no replica), STALE (version differs), CORRUPT (checksum),
 * INVAL, IO.
 */
#define EP_CHUNK_READ "/chunk/read"

/*
 * PUT ?handle&version&offset&chain, raw body (at most DFS_MAX_WRITE) -> {}
 * Applies the write locally and forwards it to chain[0] with the rest of
 * the chain; answers once every server in the chain applied it. The first
 * server (the primary) holds a per-chunk lock across the whole chain, so
 * every replica applies mutations in the primary's order. Creates the
 * replica at "version" if absent. STALE, INVAL, NOSPC, IO;
 * DOWNSTREAM with {"failed": "addr"} when a server down the chain failed.
 */
#define EP_CHUNK_WRITE "/chunk/write"

/* POST ?handle&version&size&chain -> {}.  Truncates (or zero-extends) the
 * replica to "size" bytes, along the chain like a write. */
#define EP_CHUNK_TRUNCATE "/chunk/truncate"

/* POST ?handle&version&chain -> {}.  fsync()s the replica on every server
 * of the chain. */
#define EP_CHUNK_SYNC "/chunk/sync"

/* GET -> {"addr", "chunks", "capacity", "used"}.  Liveness probe. */
#define EP_HEALTH "/health"

#endif
