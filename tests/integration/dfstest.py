"""Helpers of the DFS integration tests: a real cluster on loopback.

`Cluster` drives deploy/local-cluster.sh: it starts masterd, N chunkd and a
fusefs mount in a temporary directory, parses the cluster.env the script
writes, and offers what tests need: the `dfs` CLI bound to the cluster,
pids and addresses of every daemon, fault injection (kill a chunk server
or the master), master restarts, remounts, extra mounts of the same
cluster, and a scan of the daemons' logs.

Every process is started by the script (or, for extra mounts, here) and
stopped by pid, never by name. `Cluster.stop()` always unmounts and
stops everything, escalating to SIGKILL and a lazy unmount, and is safe to
call twice.

Log scanning (STYLE 10): daemons log one line per event,
"TIME prog[pid] level: file:func: message". A line of level error or
fatal, or a sanitizer report, is a failure unless a whitelist pattern
matches it; warnings are reported and fail only with DFS_STRICT_LOGS=1.
"""

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("DFS_BIN") or REPO / "build" / "bin")
LOCAL_CLUSTER = REPO / "deploy" / "local-cluster.sh"

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# Clusters started and not yet stopped (for the log and deadline guards).
LIVE_CLUSTERS = []

LOG_LINE_RE = re.compile(
    r"^\S+ (?P<prog>[\w.+-]+)\[(?P<pid>\d+)\] "
    r"(?P<level>debug|info|warn|error|fatal): ")
SANITIZER_RE = re.compile(
    r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"WARNING: ThreadSanitizer|SUMMARY: \w+Sanitizer|"
    r"UndefinedBehaviorSanitizer)")


class DfsError(AssertionError):
    """A helper command failed; the message carries its output."""


def run(cmd, timeout=120, check=True, input=None, env=None, cwd=None,
        text=True):
    """Run a command with a time bound; returns the CompletedProcess.

    With check, a non-zero exit raises DfsError quoting stdout and stderr.
    """
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           input=input, env=env, cwd=cwd, text=text)
    except subprocess.TimeoutExpired as e:
        raise DfsError(f"timed out after {timeout}s: {shlex.join(cmd)}\n"
                       f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}") from e
    if check and p.returncode != 0:
        raise DfsError(f"exit {p.returncode}: {shlex.join(cmd)}\n"
                       f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def master_requests(cluster, endpoint):
    """Requests the master served on endpoint (e.g. "/api/readdir") so
    far, all statuses, from its dfs_http_requests_total metric."""
    return http_requests(cluster.master, endpoint)


def http_requests(addr, endpoint):
    """Requests the daemon at addr served on endpoint so far, all
    statuses, from its dfs_http_requests_total metric."""
    with urllib.request.urlopen(f"http://{addr}/metrics",
                                timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r'^dfs_http_requests_total\{([^}]*)\} (\S+)$', line)
        if m and f'endpoint="{endpoint}"' in m.group(1):
            total += float(m.group(2))
    return int(total)


def wait_until(pred, timeout, what, interval=0.1):
    """Poll pred() until it returns a true value (returned); else fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise DfsError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid, name=None):
    """True if pid runs (not a zombie) and, if given, its comm is name."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return False
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    state = stat[stat.rindex(")") + 2:][:1]
    if state == "Z":
        return False
    return name is None or comm == name[:15]


def is_mounted(path):
    """True if path is in the mount table (even when its server died)."""
    target = str(path).replace(" ", "\\040")
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f)


def fuse_unmount(path):
    """Unmount path, lazily if busy; no error if it is not mounted."""
    if not is_mounted(path):
        return
    if run(["fusermount3", "-u", path], check=False, timeout=30).returncode:
        run(["fusermount3", "-u", "-z", path], check=False, timeout=30)
    if is_mounted(path):
        run(["umount", "-l", path], check=False, timeout=30)


def sha256_file(path, bufsize=8 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                return h.hexdigest()
            h.update(b)


def write_random_file(path, size, bufsize=8 * MiB):
    """Fill path with size random bytes; returns their sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(bufsize, left))
            h.update(b)
            f.write(b)
            left -= len(b)
    return h.hexdigest()


def parse_env_file(path):
    """The variables of a sourceable `export NAME=VALUE` file."""
    env = {}
    for line in Path(path).read_text().splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "export":
            words = words[1:]
        for w in words:
            name, sep, value = w.partition("=")
            if sep:
                env[name] = value
    return env


class Cluster:
    """A local DFS cluster started by deploy/local-cluster.sh.

    root: a directory of its own; the cluster lives in root/NAME and is
    mounted at root/NAME-mnt. Keyword arguments are the script's options;
    the script's own MapReduce daemons start only with mapreduce=True
    (MapReduce tests start theirs through mrcluster.MrCluster).
    """

    def __init__(self, root, name="cluster", chunkservers=3,
                 chunk_size=MiB, replication=3, heartbeat_timeout=3,
                 mapreduce=False, full_report_interval=None,
                 db_memory=None):
        self.root = Path(root)
        self.name = name
        self.dir = self.root / name
        self.mount = self.root / f"{name}-mnt"
        self.nservers = chunkservers
        self.chunk_size = chunk_size
        self.replication = replication
        self.heartbeat_timeout = heartbeat_timeout
        self.full_report_interval = full_report_interval
        self.db_memory = db_memory
        self.mapreduce = mapreduce
        self.env = {}
        self.extra_mounts = {}    # path -> (Popen, log path)
        self.whitelist = []       # regexes allowed for the cluster's life
        self.test_whitelist = []  # regexes allowed for the current test
        self.log_offsets = {}     # log path -> bytes already checked
        self.warnings = []        # warning lines seen so far
        self.started = False

    # -- lifecycle ----------------------------------------------------

    def script(self, *args, timeout=120, check=True):
        env = dict(os.environ, DFS_BIN=str(BIN))
        return run([LOCAL_CLUSTER, *args], timeout=timeout, check=check,
                   env=env)

    def start(self):
        """Start the cluster; returns self."""
        self.dir.mkdir(parents=True, exist_ok=True)
        LIVE_CLUSTERS.append(self)
        self.started = True
        self.script("start", "--dir", self.dir, "--mount", self.mount,
                    "--chunkservers", self.nservers,
                    "--chunk-size", self.chunk_size,
                    "--replication", self.replication,
                    "--heartbeat-timeout", self.heartbeat_timeout,
                    *([] if self.full_report_interval is None else
                      ["--full-report-interval", self.full_report_interval]),
                    *([] if self.db_memory is None else
                      ["--db-memory", self.db_memory]),
                    *([] if self.mapreduce else ["--no-mapreduce"]),
                    *(["--secret", os.environ["DFS_SECRET"]]
                      if os.environ.get("DFS_SECRET") else []),
                    timeout=180)
        self.load_env()
        problems = self.check_logs()
        if problems:
            raise DfsError("errors logged while starting:\n" +
                           "\n".join(problems))
        return self

    def load_env(self):
        self.env = parse_env_file(self.dir / "cluster.env")

    def stop(self, remove_data=True):
        """Unmount and stop everything (by pid); idempotent.

        Returns the log problems found since the last check (see
        check_logs); the data directories are removed unless DFS_KEEP=1.
        """
        if not self.started:
            return []
        self.started = False
        for path in list(self.extra_mounts):
            self.unmount_extra(path)
        if (self.dir / "cluster.env").exists():
            p = self.script("stop", "--dir", self.dir, timeout=120,
                            check=False)
            if p.returncode != 0:
                print(f"local-cluster.sh stop failed: {p.stderr}")
            self.load_env()
        for name, pid in self.all_pids():
            if pid_alive(pid, name):
                print(f"{name} pid {pid} survived stop; killing it")
                os.kill(pid, signal.SIGKILL)
        fuse_unmount(self.mount)
        if self in LIVE_CLUSTERS:
            LIVE_CLUSTERS.remove(self)
        problems = self.check_logs()
        if remove_data and not os.environ.get("DFS_KEEP"):
            for d in [self.dir / "master", *self.dir.glob("cs[0-9]*")]:
                shutil.rmtree(d, ignore_errors=True)
        return problems

    def all_pids(self):
        """(process name, pid) of every daemon of the cluster."""
        out = []
        if self.env.get("DFS_MASTER_PID"):
            out.append(("masterd", int(self.env["DFS_MASTER_PID"])))
        for i in range(1, self.nservers + 1):
            pid = self.env.get(f"DFS_CHUNKD_{i}_PID")
            if pid:
                out.append(("chunkd", int(pid)))
        if self.env.get("DFS_FUSEFS_PID"):
            out.append(("fusefs", int(self.env["DFS_FUSEFS_PID"])))
        for p, _ in self.extra_mounts.values():
            out.append(("fusefs", p.pid))
        return out

    def abort_mounts(self):
        """Last resort of a timed-out test: SIGKILL every fusefs of the
        cluster, so that syscalls blocked on its mounts return."""
        for name, pid in self.all_pids():
            if name == "fusefs" and pid_alive(pid, name):
                os.kill(pid, signal.SIGKILL)

    # -- addresses and pids -------------------------------------------

    @property
    def master(self):
        return self.env["DFS_MASTER"]

    @property
    def master_pid(self):
        return int(self.env["DFS_MASTER_PID"])

    @property
    def fusefs_pid(self):
        return int(self.env["DFS_FUSEFS_PID"])

    def chunkd_addr(self, i):
        return self.env[f"DFS_CHUNKD_{i}"]

    def chunkd_pid(self, i):
        return int(self.env[f"DFS_CHUNKD_{i}_PID"])

    def chunkd_data(self, i):
        return Path(self.env[f"DFS_CHUNKD_{i}_DATA"])

    def chunkd_addrs(self):
        return [self.chunkd_addr(i) for i in range(1, self.nservers + 1)]

    def server_index(self, addr):
        """1-based index of the chunk server listening at addr."""
        return self.chunkd_addrs().index(addr) + 1

    def replica_path(self, addr, handle):
        """Data file of chunk `handle` on the server at addr
        (chunkd/store.h: DATA/chunks/XX/HHHHHHHHHHHHHHHH)."""
        data = self.chunkd_data(self.server_index(addr))
        return data / "chunks" / f"{handle & 0xff:02x}" / f"{handle:016x}"

    # -- the CLI ------------------------------------------------------

    def dfs(self, *args, check=True, timeout=120, input=None, text=True):
        """Run `dfs --master MASTER ARGS`; returns the CompletedProcess."""
        return run([BIN / "dfs", "--master", self.master, *args],
                   check=check, timeout=timeout, input=input, text=text)

    def dfs_json(self, *args, timeout=120):
        import json
        return json.loads(self.dfs(*args, timeout=timeout).stdout)

    def status(self):
        return self.dfs_json("status", "--json")

    def stat(self, path):
        return self.dfs_json("stat", "--json", path)

    def live_servers(self):
        return sum(1 for s in self.status()["chunkservers"] if s["alive"])

    # -- fault injection ----------------------------------------------

    def kill_chunkd(self, i, sig=signal.SIGKILL):
        """Send sig to chunk server i and wait for it to be gone."""
        pid = self.chunkd_pid(i)
        os.kill(pid, sig)
        wait_until(lambda: not pid_alive(pid, "chunkd"), 30,
                   f"chunkd {i} (pid {pid}) to exit")

    def kill_master(self, sig=signal.SIGKILL):
        pid = self.master_pid
        os.kill(pid, sig)
        wait_until(lambda: not pid_alive(pid, "masterd"), 30,
                   f"masterd (pid {pid}) to exit")

    def restart_master(self):
        """local-cluster.sh restart-master: same data and address; waits
        until the live chunk servers registered again."""
        self.script("restart-master", "--dir", self.dir, timeout=120)
        self.load_env()

    def remount(self):
        """Unmount and mount the client again (cold caches)."""
        self.script("remount", "--dir", self.dir, timeout=120)
        self.load_env()

    # -- more clients -------------------------------------------------

    def mount_extra(self, path, env=None):
        """A second fusefs of the same cluster at path, with the variables
        of env added to its environment; returns path."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        n = len(list((self.dir / "logs").glob("fusefs-extra-*.log"))) + 1
        log = self.dir / "logs" / f"fusefs-extra-{n}.log"
        with open(log, "ab") as f:
            p = subprocess.Popen(
                [BIN / "fusefs", "--master", self.master, str(path), "-f"],
                stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                start_new_session=True, env=dict(os.environ, **(env or {})))
        self.extra_mounts[path] = (p, log)
        wait_until(lambda: is_mounted(path) or p.poll() is not None, 30,
                   f"mount at {path}")
        if p.poll() is not None:
            raise DfsError(f"fusefs at {path} exited {p.returncode}: "
                           f"{log.read_text()[-2000:]}")
        return path

    def unmount_extra(self, path):
        p, _ = self.extra_mounts.pop(Path(path))
        fuse_unmount(path)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    # -- logs ---------------------------------------------------------

    def log_files(self):
        return sorted((self.dir / "logs").glob("*.log"))

    def allow(self, pattern, for_test=True):
        """Whitelist log lines matching regex pattern (for the current
        test only, unless for_test is False)."""
        (self.test_whitelist if for_test else self.whitelist).append(
            re.compile(pattern))

    def _allowed(self, line):
        return any(w.search(line) for w in self.whitelist +
                   self.test_whitelist)

    def check_logs(self):
        """Problems in the logs since the last check: a list of
        "file: line" strings for error, fatal and sanitizer lines (and
        warnings with DFS_STRICT_LOGS=1) that no whitelist allows."""
        strict = bool(os.environ.get("DFS_STRICT_LOGS"))
        problems = []
        for log in self.log_files():
            start = self.log_offsets.get(log, 0)
            with open(log, "rb") as f:
                f.seek(start)
                data = f.read()
            # Only whole lines; a partial last line waits for next time.
            end = data.rfind(b"\n") + 1
            self.log_offsets[log] = start + end
            for raw in data[:end].splitlines():
                line = raw.decode(errors="replace")
                m = LOG_LINE_RE.match(line)
                level = m.group("level") if m else None
                bad = level in ("error", "fatal") or SANITIZER_RE.search(
                    line)
                if level == "warn" and not self._allowed(line):
                    self.warnings.append(f"{log.name}: {line}")
                    bad = bad or strict
                if bad and not self._allowed(line):
                    problems.append(f"{log.name}: {line}")
        self.test_whitelist = []
        return problems

    def save_logs(self, dest):
        """Copy the logs (and cluster.env) into directory dest."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.log_files() + [self.dir / "cluster.env"]:
            if f.exists():
                shutil.copy(f, dest / f"{self.name}-{f.name}")

    def __repr__(self):
        return f"<Cluster {self.dir} master={self.env.get('DFS_MASTER')}>"
