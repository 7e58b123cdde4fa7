/*
 * mr_proto.h - the MapReduce wire protocol: coordinator and worker
 * endpoints, in one place.
 *
 * Same conventions as dfs_proto.h: HTTP/1.1, JSON control messages in
 * POST bodies and replies, raw bodies for bulk data (app objects, map
 * output), errors as {"err", "error", "message"} with an enum dfs_status.
 *
 * Roles
 *  - The coordinator (`mr coordinator`, default 127.0.0.1:9200) holds the
 *    jobs, splits their input into one map task per chunk, and hands tasks
 *    to workers that ask for them.
 *  - A worker (`mr worker --chunkd ADDR`, one per chunk server host)
 *    registers with the address it serves map output on and the chunk
 *    server it sits next to, heartbeats, long-polls for tasks, runs them
 *    and reports completions.
 *  - `mr submit` uploads the app object, submits a job and polls it.
 *
 * The task object (a poll reply):
 *     {"attempt": n,             unique attempt id (coordinator-wide)
 *      "job": "id", "kind": "map" | "reduce", "index": n,
 *      "app": "sha256hex" | "",  app object to fetch with MR_EP_APP
 *      "mapper", "reducer": "cmd",  streaming mode when "app" is ""
 *      "params": {"name": "value"},
 *      "reduces": R,
 *      map only:
 *      "file": "/dfs/path", "ino", "size", "chunk_size",
 *      "chunk": chunk object of dfs_proto.h (handle 0 and no replicas
 *               for a hole),
 *      reduce only:
 *      "output": "/dfs/dir",
 *      "maps": [{"map": i, "addr": "worker addr", "attempt": n}, ...]}
 *
 * The job object (MR_EP_JOB):
 *     {"id", "state": "running" | "succeeded" | "failed", "error",
 *      "app", "inputs": [...], "output", "maps", "reduces",
 *      "maps_done", "reduces_done", "submitted_ms", "finished_ms",
 *      "elapsed_ms",
 *      "counters": {"maps", "reduces", "data_local_maps", "map_attempts",
 *                   "reduce_attempts", "failed_attempts", "backup_tasks",
 *                   "bytes_read", "bytes_written", "shuffle_bytes",
 *                   "map_records_in", "map_records_out",
 *                   "reduce_records_in", "reduce_records_out"},
 *      "tasks": [{"kind", "index", "state",
 *                 "attempts": [{"attempt", "worker", "state", "local",
 *                               "backup", "start_ms", "end_ms"}]}]}
 *     "tasks" only when asked with ?tasks=1. Counters other than the
 *     attempt counts come from the first successful attempt of each task,
 *     so they are the same whatever failed on the way.
 */
#ifndef DFS_MR_PROTO_H
#define DFS_MR_PROTO_H

/* Default coordinator address ($DFS_COORDINATOR overrides it). */
#define MR_DEFAULT_COORDINATOR "127.0.0.1:9200"

/* Largest app object accepted by MR_EP_APP_PUT. */
#define MR_MAX_APP (64 * 1024 * 1024)

/* Most reduce tasks of a job and most map tasks (input chunks). */
#define MR_MAX_REDUCES 10000
#define MR_MAX_MAPS 1000000

/* Longest job id, including the NUL. */
#define MR_JOB_ID_MAX 64

/*
 * ---------------------------------------------------------------------
 * coordinator: client API
 * ---------------------------------------------------------------------
 */

/*
 * PUT, raw body (the app's shared object, at most MR_MAX_APP bytes)
 *     -> {"id": "sha256hex"}
 * Stores an app object by content; submitting the same bytes twice is
 * harmless. TOOBIG, INVAL (empty).
 */
#define MR_EP_APP_PUT "/mr/app"

/* GET ?id=sha256hex -> raw bytes of the object.  NOENT. */
#define MR_EP_APP "/mr/app"

/*
 * {"inputs": ["/dfs/path", ...], "output": "/dfs/dir", "reduces": R,
 *  "app": "sha256hex", "app_name": "wc.so"   (or)
 *  "mapper": "cmd", "reducer": "cmd",
 *  "params": {"name": "value"},
 *  "reduce_delay_ms": n (optional: hold the reduce phase that long after
 *                        the last map, for failure tests)}
 *     -> {"job": "id"}
 * Inputs are files or directories (standing for the regular files
 * directly in them, except names starting with '_' or '.'). The output
 * directory is created; it must not exist or be empty. Reduce tasks write
 * OUTPUT/_temporary/part-NNNNN.attempt-A and rename it to
 * OUTPUT/part-NNNNN; OUTPUT/_SUCCESS is created last.
 * INVAL, NOENT (an input), EXIST (output not empty), NOSPC.
 */
#define MR_EP_SUBMIT "/mr/submit"

/* GET ?id=JOB[&tasks=1] -> the job object.  NOENT. */
#define MR_EP_JOB "/mr/job"

/* GET -> {"jobs": [job object without "tasks", ...]} (oldest first). */
#define MR_EP_JOBS "/mr/jobs"

/*
 * ---------------------------------------------------------------------
 * coordinator: worker API
 * ---------------------------------------------------------------------
 */

/*
 * {"addr": "host:port" (where it serves map output),
 *  "chunkd": "host:port" (its co-located chunk server, as the master
 *            names it), "slots": n}
 *     -> {"worker": id, "heartbeat_ms": n}
 * A worker registering again (new process, same addr) replaces the old
 * one, whose tasks and map outputs are rescheduled.
 */
#define MR_EP_REGISTER "/mr/worker/register"

/*
 * {"worker": id, "attempts": [{"attempt": n, "progress": n}, ...]}
 *     -> {"abort": [attempt, ...], "jobs": ["id", ...], "reregister": bool}
 * Sent every heartbeat_ms. "progress" grows while a task makes progress
 * (bytes read); an attempt without progress for the task timeout is
 * abandoned. "abort" lists attempts the worker should stop (lost backups,
 * abandoned ones); "jobs" lists the jobs still running, whose map outputs
 * the worker keeps (it deletes the others). "reregister" tells a worker
 * the coordinator does not know (restart, or declared dead) to drop its
 * tasks and register again.
 */
#define MR_EP_HEARTBEAT "/mr/worker/heartbeat"

/*
 * {"worker": id, "wait_ms": n (at most 10000)}
 *     -> {"task": task object} or {} when nothing came within wait_ms.
 * Long poll for one task, called by each free slot of a worker.
 * NOENT (unknown worker: register again).
 */
#define MR_EP_POLL "/mr/worker/poll"

/*
 * {"worker": id, "attempt": n, "ok": bool, "error": "msg",
 *  "lost": [map index, ...]   (reduce: map outputs it could not fetch),
 *  "parts": [bytes, ...]      (map: output size of each partition),
 *  "counters": {"bytes_read", "bytes_written", "shuffle_bytes",
 *               "records_in", "records_out"}}
 *     -> {}
 * A completion for a task already done, or an attempt the coordinator
 * abandoned, is accepted and ignored.
 */
#define MR_EP_DONE "/mr/worker/done"

/*
 * ---------------------------------------------------------------------
 * worker: shuffle API
 * ---------------------------------------------------------------------
 */

/*
 * GET ?job=ID&map=I&attempt=A&part=P -> raw records of partition P of
 * that map attempt's output, sorted by key: each record is
 * [u32 klen][u32 vlen][key][value], lengths little-endian.
 * NOENT (not on this worker: the reducer reports it lost), INVAL.
 */
#define MR_EP_MAP_OUTPUT "/mr/map-output"

/* GET on coordinator and worker -> {"role", "addr", ...}.  Liveness. */
#define MR_EP_HEALTH "/health"

#endif
