"""MapReduce daemons on top of a test DFS cluster (dfstest.Cluster).

`MrCluster(cluster)` starts one `mr coordinator` and one `mr worker` per
chunk server of the cluster (each next to its chunk server), with their
logs in the cluster's log directory so that the log guard of conftest.py
scans them like the other daemons'. It stops them by pid, never by name.

It also offers what the MapReduce tests need: `submit()` (runs
`mr submit` and returns the job object of `mr status --json --tasks`),
`seq()` (the sequential reference run on local files), reading a job's
output back through the mount, and killing / restarting workers.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import dfsauth
from dfstest import BIN, DfsError, pid_alive, run, wait_until

MR = BIN / "mr"
APPS = Path(os.environ.get("MR_APPS") or BIN.parent / "apps")

LISTEN_RE = re.compile(r"\[(\d+)\] info: .*listening on (\S+:\d+)")


def app(name):
    """Path of a shipped app object (build/apps/NAME.so)."""
    p = APPS / f"{name}.so"
    if not p.exists():
        raise DfsError(f"{p} not built (run make)")
    return p


def read_parts(outdir):
    """Sorted lines of every part-* file of a local or mounted output
    directory (the comparison key of a job's output)."""
    lines = []
    for p in sorted(Path(outdir).glob("part-*")):
        lines += p.read_text().splitlines()
    return sorted(lines)


class MrCluster:
    """Coordinator and workers for `cluster` (a started dfstest.Cluster).

    coordinator_args / worker_args: extra options of the daemons. Several
    may run on one cluster; each has its own data directories and logs.
    """

    instances = 0

    def __init__(self, cluster, coordinator_args=(), worker_args=(),
                 slots=2):
        self.cluster = cluster
        MrCluster.instances += 1
        self.name = f"mr{MrCluster.instances}"
        self.dir = cluster.dir / self.name
        self.logs = cluster.dir / "logs"
        self.coordinator_args = list(coordinator_args)
        self.worker_args = list(worker_args)
        self.slots = slots
        self.coordinator = None          # "host:port"
        self.coordinator_proc = None
        self.workers = {}                # chunk server index -> Popen
        self.worker_addrs = {}           # chunk server index -> "host:port"

    # -- lifecycle ----------------------------------------------------

    def _spawn(self, name, args):
        log = self.logs / f"{name}.log"
        with open(log, "ab") as f:
            return subprocess.Popen(
                [str(MR), *map(str, args)], stdin=subprocess.DEVNULL,
                stdout=f, stderr=f, start_new_session=True), log

    def _listen_addr(self, proc, log, tolerate_exit=False):
        def found():
            if proc.poll() is not None:
                if tolerate_exit:
                    return "exited"
                raise DfsError(f"{log.name} exited {proc.returncode}: "
                               f"{log.read_text()[-2000:]}")
            m = [a for pid, a in LISTEN_RE.findall(log.read_text())
                 if int(pid) == proc.pid]
            return m[-1] if m else None
        return wait_until(found, 30, f"'listening on' in {log}")

    def start(self):
        """Start the coordinator and the workers; returns self once every
        worker registered."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.coordinator_proc, log = self._spawn(
            f"{self.name}-coordinator",
            ["coordinator", "--listen", "127.0.0.1:0", "--master",
             self.cluster.master, "--data", self.dir / "coordinator",
             *self.coordinator_args])
        self.coordinator = self._listen_addr(self.coordinator_proc, log)
        for i in range(1, self.cluster.nservers + 1):
            self.start_worker(i, wait=False)
        if self.alive_workers() != len(self.workers):
            raise DfsError("a worker exited at start")
        self.wait_workers(len(self.workers))
        return self

    def start_worker(self, i, wait=True):
        """Start (or restart) the worker next to chunk server i. Without
        wait, a worker that exits at once (a crash app) is not an
        error."""
        p, log = self._spawn(
            f"{self.name}-worker-{i}",
            ["worker", "--chunkd", self.cluster.chunkd_addr(i),
             "--coordinator", self.coordinator, "--master",
             self.cluster.master, "--data", self.dir / f"worker-{i}",
             "--slots", self.slots, *self.worker_args])
        self.workers[i] = p
        self.worker_addrs[i] = self._listen_addr(p, log,
                                                 tolerate_exit=not wait)
        if wait:
            self.wait_workers(self.alive_workers())
        return p

    def alive_workers(self):
        return sum(1 for p in self.workers.values() if p.poll() is None)

    def health(self):
        return json.loads(run(["curl", "-sf", "--max-time", "5",
                               f"http://{self.coordinator}/health"],
                              timeout=10).stdout)

    def wait_workers(self, n, timeout=30):
        wait_until(lambda: self.health()["workers"] >= n, timeout,
                   f"{n} workers registered")

    def worker_index(self, addr):
        """Chunk server index of the worker serving at addr."""
        return next(i for i, a in self.worker_addrs.items() if a == addr)

    def kill_worker(self, i, sig=signal.SIGKILL):
        p = self.workers[i]
        p.send_signal(sig)
        p.wait(timeout=30)

    def stop(self):
        """SIGTERM every daemon (by pid), SIGKILL the ones that linger."""
        procs = [p for p in self.workers.values()]
        if self.coordinator_proc is not None:
            procs.append(self.coordinator_proc)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"mr pid {p.pid} did not stop; killing it")
                p.kill()
                p.wait(timeout=10)
        self.workers = {}
        self.coordinator_proc = None

    # -- commands -----------------------------------------------------

    def env(self):
        return dict(os.environ, DFS_COORDINATOR=self.coordinator,
                    DFS_MASTER=self.cluster.master,
                    DFS_MOUNT=str(self.cluster.mount))

    def mr(self, *args, timeout=300, check=True):
        return run([MR, *args], timeout=timeout, check=check,
                   env=self.env())

    def submit_args(self, inputs, output, app_path=None, mapper=None,
                    reducer=None, reduces=3, params=None, extra=()):
        args = ["submit", "--output", output, "--reduces", str(reduces)]
        for i in inputs:
            args += ["--input", str(i)]
        if app_path is not None:
            args += ["--app", str(app_path)]
        else:
            args += ["--mapper", mapper, "--reducer", reducer]
        for k, v in (params or {}).items():
            args += ["--param", f"{k}={v}"]
        return args + list(extra)

    def submit(self, inputs, output, timeout=300, check=True, **kw):
        """Run `mr submit` to the end; returns (CompletedProcess, job
        object with tasks)."""
        p = self.mr(*self.submit_args(inputs, output, **kw),
                    timeout=timeout, check=check)
        m = re.search(r"^job (\S+)$", p.stdout, re.M)
        job = self.status(m.group(1)) if m else None
        return p, job

    def submit_async(self, inputs, output, **kw):
        """Start `mr submit` in the background; returns (Popen, job id)
        once the job was accepted. Its stdout holds the rest of the
        output (the counters)."""
        p = subprocess.Popen(
            [str(MR), *self.submit_args(inputs, output, **kw)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env())
        line = p.stdout.readline()
        m = re.match(r"^job (\S+)$", line)
        if not m:
            p.kill()
            _, err = p.communicate(timeout=30)
            raise DfsError(f"mr submit failed: {line}{err}")
        return p, m.group(1)

    def status(self, job, tasks=True):
        args = ["status", job, "--json"] + (["--tasks"] if tasks else [])
        return json.loads(self.mr(*args, timeout=30).stdout)

    def jobs(self):
        status, body = dfsauth.request(self.coordinator, "/mr/jobs",
                                       timeout=5)
        if status != 200:
            raise DfsError(f"/mr/jobs: HTTP {status}: {body[:200]!r}")
        return json.loads(body)["jobs"]


def seq(app_path=None, inputs=(), output=None, mapper=None, reducer=None,
        reduces=3, params=None, timeout=300):
    """`mr seq` on local files into output; returns read_parts(output)."""
    args = [MR, "seq", "--output", output, "--reduces", str(reduces)]
    if app_path is not None:
        args += ["--app", app_path]
    else:
        args += ["--mapper", mapper, "--reducer", reducer]
    for k, v in (params or {}).items():
        args += ["--param", f"{k}={v}"]
    run([*args, *inputs], timeout=timeout)
    return read_parts(output)


def task_attempts(job, kind):
    """{index: [attempt, ...]} of the job's tasks of one kind."""
    return {t["index"]: t["attempts"] for t in job["tasks"]
            if t["kind"] == kind}


def winning_attempts(job, kind):
    """The succeeded attempt of each task of one kind."""
    out = {}
    for i, atts in task_attempts(job, kind).items():
        ok = [a for a in atts if a["state"] == "succeeded"]
        if ok:
            out[i] = ok[-1]
    return out


def pid_is_mr(pid):
    return pid_alive(pid, "mr")
