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
 *         "primary": "addr" (only on write leases), "lease_ms" (idem),
 *         "token": chunk access token (auth.h; only when the cluster has
 *         a secret: READ on read locations, READ|WRITE on write leases,
 *         valid 5 minutes), sent to chunk servers in X-DFS-Token}
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
	/* Data was written up to "extend": grow the size to it if smaller
	 * and set mtime to now (EP_EXTEND's effect), before the fields
	 * above. */
	PROTO_SET_EXTEND = 1 << 8,
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
 *  "extend", "atime": [s, ns], "mtime": [s, ns]} -> attr.
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
 * Replies of the namespace changes below also carry the attrs of the
 * inodes the change touched besides the one it names, as they are right
 * after it (same transaction), so that a client can keep its cached
 * attrs of them exact without a getattr (fusefs, the directory's mtime,
 * ctime and nlink after every create or unlink in it). Older masters
 * send none of these fields; clients treat them as optional.
 */

/*
 * {"parent", "name", "mode", "uid", "gid", "rdev"} ->
 *     attr + {"parent_attr": attr of "parent" after the change}.
 * Creates a regular file (or a node of the type in "mode"), inheriting the
 * parent's replication factor. EXIST, NOENT, NOTDIR, NAMETOOLONG, INVAL.
 * With "chunk": true a regular file gets its chunk 0 in the same change,
 * and the reply adds "chunk_size" and "chunks": [that chunk with its
 * write lease, as EP_CHUNKS "write" answers] (absent when no chunk could
 * be placed now: the writer then asks EP_CHUNKS as usual).
 */
#define EP_CREATE "/api/create"

/* {"parent", "name", "mode", "uid", "gid"} -> attr + {"parent_attr"}.
 * As EP_CREATE. */
#define EP_MKDIR "/api/mkdir"

/* {"parent", "name", "target", "uid", "gid"} -> attr + {"parent_attr"}.
 * As EP_CREATE. */
#define EP_SYMLINK "/api/symlink"

/* {"ino"} -> {"target"}.  NOENT, INVAL (not a symlink). */
#define EP_READLINK "/api/readlink"

/* {"ino", "newparent", "newname"} -> attr of "ino" (nlink, ctime) +
 * {"parent_attr": attr of "newparent"}.  EXIST, PERM (directory). */
#define EP_LINK "/api/link"

/*
 * {"parent", "name"} -> {"parent_attr", "ino", "attr"}: "parent" after
 * the change, the inode the name held and, only if that inode still
 * exists (more links, or kept while open), its attr (nlink, ctime).
 * NOENT, ISDIR.
 */
#define EP_UNLINK "/api/unlink"

/* {"parent", "name"} -> {"parent_attr", "ino"}.  As EP_UNLINK (the
 * directory is gone).  NOENT, NOTDIR, NOTEMPTY. */
#define EP_RMDIR "/api/rmdir"

/*
 * {"parent", "name", "newparent", "newname", "flags"} ->
 *     {"parent_attr", "newparent_attr", "ino", "attr",
 *      "target_ino", "target_attr"}
 * Atomic in one transaction, also over an existing target, which is
 * unlinked. The reply has both directories after the change, the inode
 * that moved ("ino", "attr": its ctime changed) and, if the new name
 * held another inode, that one ("target_ino"; "target_attr" only if it
 * still exists: more links, kept while open, or moved by EXCHANGE).
 * NOENT, EXIST (NOREPLACE), NOTEMPTY, ISDIR, NOTDIR, INVAL (a directory
 * into itself).
 */
#define EP_RENAME "/api/rename"

/*
 * {} -> {} once every namespace change acknowledged so far is on the
 * master's disk. A change is committed (it survives a crash of masterd)
 * before it is acknowledged, but reaches the disk (survives a crash of
 * the machine) only within masterd's --sync-interval, or at the next
 * EP_SYNC: clients send one on fsync() of a file or directory, like a
 * local file system's journal commit. IO.
 */
#define EP_SYNC "/api/sync"

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
 * Write pipeline recovery (fault tolerance, SPEC 3 and 4). An EP_CHUNKS
 * write request may also carry
 *     "failed": ["addr", ...]
 * the replicas of chunk "index" (only that one) that failed the client's
 * last attempt. The master drops them from the chunk's replica set, ends
 * the chunk's lease, bumps the chunk version on the remaining live
 * replicas (EP_CHUNK_SETVERSION; a replica that does not take it is
 * dropped too) and answers with the new lease: a new "version", the
 * remaining "replicas" and a "primary" among them. Addresses that are
 * not replicas of the chunk are ignored, and the last replica is never
 * dropped (the chunk then keeps its set; a write that cannot reach it
 * fails until the budget runs out).
 *
 * What the CLIENT must do when a chain mutation (EP_CHUNK_WRITE,
 * EP_CHUNK_TRUNCATE, EP_CHUNK_SYNC) fails:
 *  - DOWNSTREAM with {"failed": addr}: ask EP_CHUNKS {"write": true,
 *    "index", "count": 1, "failed": [addr]} and repeat the same mutation
 *    (same bytes, same offset) on the new lease, at once;
 *  - no answer from the primary (connection refused or reset, timeout)
 *    or NOSPC / IO from the primary itself: the same with
 *    "failed": [primary];
 *  - STALE or AGAIN: forget the cached lease, ask EP_CHUNKS again
 *    (without "failed") and repeat, with the usual growing pause;
 *  - NOSPC from EP_CHUNKS itself: the whole cluster is full (or has too
 *    few live servers): fail with ENOSPC after a short retry budget.
 * Repeating a mutation is harmless: it writes the same bytes at the same
 * place. The write completes on the remaining replicas and the master's
 * re-replication restores the replica count later.
 * Reads: a replica answering CORRUPT, STALE, NOENT or not at all is
 * skipped for the next one; when none delivers, the client asks
 * EP_CHUNKS (read) again and retries. Read locations list only live
 * replicas at the chunk's current version.
 */

/*
 * {"path"} -> {"path", "files", "chunks", "healthy", "under_replicated",
 *              "missing", "corrupt",
 *              "problems": [{"path", "index", "handle", "version",
 *                            "replication", "live": ["addr", ...],
 *                            "corrupt": ["addr", ...],
 *                            "state": "missing" | "under_replicated" |
 *                                     "corrupt"}],
 *              "truncated": bool}
 * The `dfs fsck --json` object of SPEC 5 (the first seven fields), for
 * the files at or under "path" (an absolute DFS path; "/" for all).
 * A chunk is counted once, in the first of these that applies: missing
 * (no live replica at the current version), corrupt (a live server
 * holds a replica of it that failed its checksums and has not been
 * replaced yet), under_replicated (fewer live replicas than the file's
 * replication factor), else healthy. Chunks wholly past the end of a
 * file that have no replica (allocated, never written) are not counted.
 * "problems" lists the unhealthy chunks, at most 1,000 of them
 * ("truncated" tells whether some were left out). NOENT, NOTDIR, INVAL.
 */
#define EP_FSCK "/api/fsck"

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
 * masterd: operations (status page, metrics, replication factors)
 * ---------------------------------------------------------------------
 */

/*
 * {"path"} or {"ino"}, "replication": 1..DFS_MAX_REPLICAS,
 * "recursive": bool (optional, default false)
 *     -> {"path", "replication", "changed"}
 * Sets the replication factor of a file or directory ("path", an
 * absolute DFS path, wins over "ino"). A directory's factor is what new
 * files and directories created in it inherit; with "recursive" every
 * file and directory below it gets the factor too (symlinks have none).
 * "changed" counts the inodes whose factor changed. Existing chunks then
 * gain or lose replicas through re-replication. NOENT, NOTDIR, INVAL,
 * TOOBIG (a tree of over a million inodes).
 */
#define EP_SETREP "/api/setrep"

/*
 * POST EP_BACKUP {"path"} -> {"path", "bytes"}
 * Writes a consistent copy of the metadata database to "path", an
 * absolute path on the master's host that must not exist yet (SQLite's
 * VACUUM INTO, from one read snapshot while changes go on). masterd
 * holds its database exclusively, so this is how to back it up while it
 * serves; the copy is a database masterd can be started on. INVAL (not
 * an absolute path), EXIST, NOENT (no such directory), IO.
 */
#define EP_BACKUP "/api/backup"

/*
 * GET -> the EP_STATUS object plus
 *     {"missing", "corrupt" (replicas set aside, not yet replaced),
 *      "bytes" (sum of file sizes), "capacity", "used", "free" (over live
 *      servers), "live_servers", "chunk_size", "replication" (of the
 *      root), "heartbeat_timeout_ms", "addr", "start_ms", "now_ms",
 *      "ops", "commits", "syncs", "checkpoints" (metadata),
 *      "rereplicating", "copied", "copy_failed", "trimmed"
 *      (re-replication counters), "reported_replicas" (listed in chunk
 *      reports), "reported_replicas_checked" (of those, looked up one by
 *      one: not in the replica table at the chunk's version)}
 * Everything the status page shows about the cluster itself; the
 * metrics collector reads the same object. Read-only, no request body:
 * with request authentication on it belongs with EP_STATUS_PAGE,
 * EP_JOBS and EP_METRICS among the public paths (a browser cannot sign).
 */
#define EP_OVERVIEW "/api/overview"

/*
 * GET -> {"coordinator": "addr" | null, "jobs": [job, ...], "error"}
 * The MapReduce jobs of the coordinator named by masterd --coordinator
 * (mr_proto.h MR_EP_JOBS, newest first, at most 20), fetched with a short
 * timeout and cached for a second; "error" says why the list is empty
 * when the coordinator did not answer. No coordinator configured: null
 * and no jobs.
 */
#define EP_JOBS "/api/jobs"

/*
 * {"action": "start" | "cancel" | "status", "addr"}
 *     -> {"servers": [{"addr", "rack", "alive",
 *                      "state": "normal" | "draining" | "decommissioned",
 *                      "chunks", "remaining"}]}
 * Decommissioning of chunk server "addr" (`dfs decommission`). "start"
 * marks it draining (recorded in the database, so a restarted master
 * goes on): it gets no new chunks and no copies, its replicas stop
 * counting towards their chunks' factors and are copied onto servers in
 * normal service by re-replication (bounded as usual) while it keeps
 * serving reads. Once every chunk it holds has its factor elsewhere it
 * becomes "decommissioned" (safe to remove) and its now-excess replicas
 * are deleted. "cancel" puts it back in normal service. "status"
 * without "addr" lists every server not in normal service. "chunks":
 * chunks with a replica recorded on the server; "remaining": those
 * still short of their factor on other servers. The reply lists the
 * server asked about. NOENT (unknown server), INVAL.
 * The chunk server objects of EP_STATUS and EP_OVERVIEW carry the same
 * "state" (`dfs status --json` leaves it out, SPEC 5).
 */
#define EP_DECOMMISSION "/api/decommission"

/*
 * {"action": "start" | "stop" | "status", "threshold": percent
 *  (start only, 0.1..100, default 10)}
 *     -> {"running": bool,
 *         "state": "idle" | "running" | "balanced" | "stopped" | "blocked",
 *         "threshold", "mean" (percent), "moved", "failed", "rounds",
 *         "started_ms", "finished_ms" (0 while running),
 *         "servers": [{"addr", "rack", "used", "capacity",
 *                      "usage" (percent), "deviation" (from "mean")}]}
 * The balancer (`dfs balance`), a master background task: it moves
 * replicas (copy to the emptier server, then delete on the fuller one;
 * never below the replication factor, keeping a chunk's racks) until
 * every live server in normal service has its usage (used / capacity)
 * within "threshold" percentage points of the mean (the cluster's used
 * over its capacity), at the re-replication rate limits. "start" while
 * a run is on changes nothing. A run ends "balanced", "stopped" or
 * "blocked" (nothing left that could move). INVAL.
 */
#define EP_BALANCE "/api/balance"

/* GET -> the status web page (HTML, no external assets), on masterd. */
#define EP_STATUS_PAGE "/"

/* GET -> Prometheus metrics, text exposition format (masterd, chunkd). */
#define EP_METRICS "/metrics"

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
 * Integrity fields of EP_CS_REGISTER and EP_CS_HEARTBEAT (both ways):
 *  - request "corrupt": [handle, ...] (optional): replicas this server
 *    took out of service because a block failed its checksum (on a read,
 *    a write or the background scrubber) and still keeps aside. They are
 *    not in "chunks".
 *  - reply "drop_corrupt": [handle, ...]: remove those set-aside copies
 *    now. The master says so once the chunk is back to its replication
 *    factor from good copies (or no longer exists), so a bad copy stays
 *    visible (fsck "corrupt") until it has been replaced.
 *  - "delete" also lists replicas in excess of the replication factor
 *    (a server that came back after its chunks were re-replicated).
 * Versions: a reported version newer than the master's (a new lease that
 * reached the replicas but not the master's database before a crash) is
 * adopted as the chunk's current version. A stale replica is deleted
 * only while some live server holds the current version.
 */

/*
 * {"addr", "handle", "version", "ok": bool, "error"} -> {}
 * A chunk server reports the end of a copy that EP_CHUNK_REPLICATE asked
 * it to make ("addr" is the copying server; "error" a message when
 * "ok" is false). On success the master records the new replica if
 * "version" is still current. INVAL.
 */
#define EP_CS_COPY_DONE "/api/cs/copy-done"

/*
 * ---------------------------------------------------------------------
 * chunkd: data API
 * ---------------------------------------------------------------------
 * Query parameters: handle, version, offset, length, size: decimal;
 * chain: comma-separated addresses still to forward to, in order (see
 * EP_CHUNK_WRITE for how the receiving server forwards).
 *
 * Security (auth.h, secure.h): with a cluster secret, every request to
 * any daemon except its public paths (masterd: EP_STATUS_PAGE,
 * "/status.txt", EP_METRICS, EP_OVERVIEW, EP_JOBS; chunkd: EP_HEALTH,
 * EP_METRICS; mr: MR_EP_HEALTH and the coordinator's "/") carries an
 * X-DFS-Auth signature, else 401 UNAUTH. EP_CHUNK_READ needs an
 * X-DFS-Token granting READ for its handle, EP_CHUNK_WRITE,
 * EP_CHUNK_TRUNCATE and EP_CHUNK_SYNC one granting WRITE (the "token" of
 * the chunk object; a server passes it down the chain), else 403
 * FORBIDDEN with auth_strerror()'s text ("token expired": ask the master
 * again). The master's commands (EP_CHUNK_SETVERSION,
 * EP_CHUNK_REPLICATE, EP_CHUNK_INFO) need no token: only cluster members
 * can sign them; a copying server makes its own read token.
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
 * Applies the write locally and forwards it to every server of the
 * chain; answers once every one of them applied it. A small body (at
 * most 256 KiB) fans out: the server sends it to each chain member at
 * once with an empty chain (one hop of latency). A larger one goes down
 * the chain: to chain[0] with the rest of the chain, each server sending
 * it on (the primary's uplink carries it once). Either way the first
 * server (the primary) holds a per-chunk lock until every replica
 * answered, so every replica applies mutations in the primary's order.
 * Creates the replica at "version" if absent, unless the master moved
 * the absent replica to a newer version a moment ago (STALE: see
 * EP_CHUNK_SETVERSION). STALE, INVAL, NOSPC, IO; DOWNSTREAM with {"failed": "addr"} when another server failed (the
 * first one in chain order; the client's recovery is the same either
 * way, see "Write pipeline recovery").
 */
#define EP_CHUNK_WRITE "/chunk/write"

/* POST ?handle&version&size&chain -> {}.  Truncates (or zero-extends) the
 * replica to "size" bytes on every server of the chain, fanned out like a
 * small write. */
#define EP_CHUNK_TRUNCATE "/chunk/truncate"

/* POST ?handle&version&chain -> {}.  fsync()s the replica on every server
 * of the chain, fanned out like a small write. */
#define EP_CHUNK_SYNC "/chunk/sync"

/* GET -> {"addr", "chunks", "capacity", "used"}.  Liveness probe. */
#define EP_HEALTH "/health"

/*
 * POST ?handle&version&newversion -> {}
 * A new lease: the master moves the replica from "version" to
 * "newversion" (> version) before handing the lease out, and makes the
 * change durable (the metadata is fsync()ed). Waits for a mutation in
 * progress on the chunk. Answers {} also when the replica is
 * already at "newversion". NOENT (no replica), STALE (at another
 * version), INVAL, AGAIN (chunk busy), IO. A server answering NOENT
 * keeps "newversion" as the absent replica's floor for ten minutes: a
 * mutation at an older version, which would create the replica stale
 * (a writer whose lease was revoked before its first write), is STALE.
 */
#define EP_CHUNK_SETVERSION "/chunk/setversion"

/*
 * GET ?handle -> {"handle", "version", "length"}
 * The replica this server holds: its version and its length in bytes
 * (EP_CHUNK_READ pads with zeros past it). NOENT, INVAL.
 */
#define EP_CHUNK_INFO "/chunk/info"

/*
 * POST ?handle&version&source -> {}
 * Re-replication: the master asks this server (the target) to copy the
 * replica of "handle" at "version" from the server "source". The target
 * answers at once and copies in the background, server to server, never
 * through the master: it pulls the replica with EP_CHUNK_INFO and
 * EP_CHUNK_READ (verified on the source), within its replication
 * bandwidth limit, writes it aside with fresh checksums, fsync()s it and
 * installs it atomically (replacing an older replica it may hold; a
 * half-made copy is never reported). It then reports the outcome with
 * EP_CS_COPY_DONE. EXIST (it holds that version or a newer one), AGAIN
 * (too many copies in progress), INVAL (bad source: itself, malformed).
 */
#define EP_CHUNK_REPLICATE "/chunk/replicate"

/*
 * ---------------------------------------------------------------------
 * masterd: open files, record appends, extended attributes
 * ---------------------------------------------------------------------
 * A mount is a client session: a random id in 1 .. 2^63-1 chosen by the
 * client, with a lease renewed by EP_SESSION. Every open() through the
 * mount is a hold of the inode by the session (EP_OPEN); every last
 * close releases one (EP_SESSION "closes"). A regular file whose last
 * name goes (unlink, rename over it) stays, nameless (nlink 0), with its
 * data and attrs, as long as any session holds it, and is deleted with
 * its chunks when the last hold goes or its session expires (and at
 * least 2 s after the name went: a client's cached name may still lead
 * to it for its entry timeout).
 */

/*
 * {"ino", "session"} -> attr
 * The attrs of "ino" (as EP_GETATTR) and, for a regular file, one more
 * hold of it by "session". A file without a name (nlink 0) opens as
 * long as it exists (a client's cached name may lag a moment behind an
 * unlink elsewhere). NOENT; STALE when the master
 * does not know the session (it restarted, or the lease ran out): the
 * client registers its open files with EP_SESSION "opens" and retries.
 * With "chunks": N (optional) the reply of a regular file also has
 * "chunk_size" and "chunks": the read locations of its chunks 0 .. N-1
 * (at most 16), as EP_CHUNKS would answer, when the master can give them.
 */
#define EP_OPEN "/api/open"

/*
 * EP_CREATE may carry "session" too: the new file is then held by that
 * session at once (as after EP_OPEN) if the master knows the session,
 * and the reply (the attrs) adds "held": true; without it the client
 * opens the file with EP_OPEN.
 */

/*
 * {"session", "opens": [[ino, count], ...] (optional),
 *  "closes": [ino, ...] (optional), "end": bool (optional)}
 *     -> {"known": bool, "renew_ms", "timeout_ms"}
 * Without "opens": renews the lease of a session the master knows and
 * releases one hold per "closes" entry; "known": false tells the client
 * to register again ("closes" are then ignored). With "opens": registers
 * the session (again), its holds becoming exactly that table. "end":
 * the session ends and releases everything (unmount). A client renews
 * every "renew_ms"; a session not renewed for "timeout_ms" ends. INVAL.
 */
#define EP_SESSION "/api/session"

/*
 * {"ino", "length"} -> attr + {"offset"}
 * Record append: reserves "length" bytes (at most 64 MiB) at the end of
 * the file in the same transaction that grows its size (mtime, ctime
 * set), and answers the new attrs and "offset", where the caller then
 * writes its bytes. Concurrent appenders on any clients get disjoint
 * ranges. NOENT, ISDIR, INVAL, FBIG.
 */
#define EP_APPEND "/api/append"

/*
 * Extended attributes. "name" is the whole name ("user.x", 1..255
 * bytes); "value" is base64 of 0..65536 bytes. A change sets ctime.
 *   EP_SETXATTR    {"ino", "name", "value", "flags"} -> {}
 *                  flags: 1 XATTR_CREATE (EXIST if present),
 *                  2 XATTR_REPLACE (NODATA if absent); NOSPC when the
 *                  inode's names would pass 64 KiB in all
 *   EP_GETXATTR    {"ino", "name"} -> {"value"}            NODATA
 *   EP_LISTXATTR   {"ino"} -> {"names": ["user.x", ...]}
 *   EP_REMOVEXATTR {"ino", "name"} -> {}                   NODATA
 * NOENT (no inode), RANGE (name or value too long), INVAL.
 */
#define EP_SETXATTR "/api/setxattr"
#define EP_GETXATTR "/api/getxattr"
#define EP_LISTXATTR "/api/listxattr"
#define EP_REMOVEXATTR "/api/removexattr"

#endif
