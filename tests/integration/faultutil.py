"""Helpers of the fault-tolerance tests (tests/integration/test_faults*.py).

They build on dfstest.Cluster and add what fault injection needs:

- the master's and chunk servers' HTTP endpoints (fsck with its problem
  list, read locations, replica info, raw chunk reads), and waiting for
  the cluster to heal (`wait_healthy`);
- restarting a chunk server that a test stopped, with the same data and
  address, optionally with extra options or on a small tmpfs (the new pid
  goes into cluster.env, so the cluster's teardown stops it by pid);
- NetnsCluster: a cluster whose daemons listen on the root side of a
  veth pair and whose last chunk server runs in a network namespace of
  its own on the other side, so that a test can cut it off by bringing
  the link down. The namespace, the veth pair and the 10.x.y.0/30
  addresses are created here and deleted at stop.

Every process started here is stopped by pid; every mount and namespace
made here is removed by the test's teardown.
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dfsauth
import dfstest
from dfstest import (BIN, LIVE_CLUSTERS, MiB, DfsError, is_mounted,
                     pid_alive, run, wait_until)

# -- HTTP -------------------------------------------------------------


def http(addr, path, body=None, method=None, timeout=30, raw=False):
    """Call http://ADDR/PATH; returns (status, parsed JSON or bytes).
    Signed with $DFS_SECRET, chunk endpoints with a token (dfsauth)."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    method = method or ("POST" if data else "GET")
    req = urllib.request.Request(f"http://{addr}{path}", data=data,
                                 method=method,
                                 headers=dfsauth.headers(method, path, data))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    if raw and status == 200:
        return status, payload
    try:
        return status, json.loads(payload or b"{}")
    except ValueError:
        return status, payload


def api(cluster, ep, body=None):
    """POST a master endpoint; the reply object (fails on an error)."""
    status, obj = http(cluster.master, ep, body if body is not None else {})
    if status != 200:
        raise DfsError(f"{ep} {body}: HTTP {status}: {obj}")
    return obj


def fsck(cluster, path="/"):
    """The master's EP_FSCK object, with its "problems" list."""
    return api(cluster, "/api/fsck", {"path": path})


def is_healthy(f):
    return (f["chunks"] == f["healthy"] and f["under_replicated"] == 0 and
            f["missing"] == 0 and f["corrupt"] == 0)


def wait_healthy(cluster, timeout, path="/", interval=0.2):
    """Wait until fsck reports every chunk healthy; returns the seconds
    it took. On timeout the error quotes the last fsck answer."""
    start = time.monotonic()
    last = {}

    def ok():
        nonlocal last
        last = fsck(cluster, path)
        return is_healthy(last)

    try:
        wait_until(ok, timeout, "a healthy fsck", interval=interval)
    except DfsError as e:
        raise DfsError(f"{e}; last fsck: {json.dumps(last)[:2000]}") from e
    return time.monotonic() - start


def read_locations(cluster, ino, index, count=1):
    """EP_CHUNKS read locations of a file's chunks."""
    return api(cluster, "/api/chunks",
               {"ino": ino, "index": index, "count": count,
                "write": False})["chunks"]


def chunk_info(addr, handle):
    """EP_CHUNK_INFO of a replica: (status, object)."""
    return http(addr, f"/chunk/info?handle={handle}")


def chunk_read(addr, handle, version, offset, length):
    """EP_CHUNK_READ: (status, bytes or error object)."""
    return http(addr, f"/chunk/read?handle={handle}&version={version}"
                f"&offset={offset}&length={length}", raw=True)


def chunk_write(addr, handle, chain, body, version=1, offset=0):
    """EP_CHUNK_WRITE to addr: (status, parsed error object or None)."""
    target = (f"/chunk/write?handle={handle}&version={version}"
              f"&offset={offset}&chain={','.join(chain)}")
    status, raw = dfsauth.request(addr, target, body=body, method="PUT",
                                  extra={"Content-Type":
                                         "application/octet-stream"})
    return status, (json.loads(raw) if status != 200 and raw else None)


def health(addr):
    status, obj = http(addr, "/health", timeout=5)
    assert status == 200, obj
    return obj


def all_chunks(cluster, paths):
    """{handle: chunk object of `dfs stat --json`} over several files."""
    out = {}
    for p in paths:
        for c in cluster.stat(p)["chunks"]:
            out[c["handle"]] = c
    return out


def replica_files(data_dir):
    """Data files (not .meta) under a chunk server's store."""
    return [p for p in Path(data_dir, "chunks").glob("*/*")
            if re.fullmatch(r"[0-9a-f]{16}", p.name)]


def flip_byte(path, offset):
    """Invert one byte of a file in place (behind the server's back)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())


# -- chunk server restarts --------------------------------------------


def set_env(cluster, name, value):
    """Rewrite `export NAME=...` in cluster.env and reload it."""
    env = cluster.dir / "cluster.env"
    text = env.read_text()
    line = f"export {name}={value}"
    text, n = re.subn(rf"^export {name}=.*$", line, text, flags=re.M)
    if n == 0:
        text += line + "\n"
    tmp = env.with_suffix(".tmp-faults")
    tmp.write_text(text)
    os.replace(tmp, env)
    cluster.load_env()


def start_chunkd(cluster, i, extra=(), netns=None):
    """Start chunk server i again with its data and address; returns its
    pid (also recorded in cluster.env). extra: more chunkd options."""
    log = cluster.dir / "logs" / f"chunkd-{i}.log"
    args = [BIN / "chunkd", "--data", cluster.chunkd_data(i),
            "--master", cluster.master, "--listen", cluster.chunkd_addr(i),
            *extra]
    if netns:
        args = ["ip", "netns", "exec", netns, *args]
    with open(log, "ab") as f:
        f.write(f"=== faultutil: starting chunkd {' '.join(map(str, args))}"
                "\n".encode())
        f.flush()
        p = subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL,
                             stdout=f, stderr=f, start_new_session=True)
    set_env(cluster, f"DFS_CHUNKD_{i}_PID", p.pid)
    wait_until(lambda: pid_alive(p.pid, "chunkd") or p.poll() is not None,
               10, f"chunkd {i} to start")
    if p.poll() is not None:
        raise DfsError(f"chunkd {i} exited {p.returncode}: "
                       f"{log.read_text()[-2000:]}")
    return p.pid


def wait_alive(cluster, addr, alive=True, timeout=30):
    """Until the master reports server addr alive (or dead)."""
    def check():
        for s in cluster.status()["chunkservers"]:
            if s["addr"] == addr:
                return s["alive"] == alive
        return False
    wait_until(check, timeout, f"{addr} to be {'alive' if alive else 'dead'}")


def mount_tmpfs(path, size):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path])


def umount(path):
    if is_mounted(path):
        if run(["umount", path], check=False).returncode != 0:
            run(["umount", "-l", path], check=False)


def move_chunkd_to_tmpfs(cluster, i, size):
    """Stop chunk server i, put a tmpfs of `size` bytes under its data
    directory and start it again there (empty). Returns the mount point;
    the caller unmounts it with release_tmpfs()."""
    cluster.kill_chunkd(i, signal.SIGTERM)
    data = cluster.chunkd_data(i)
    shutil.rmtree(data, ignore_errors=True)
    mount_tmpfs(data, size)
    start_chunkd(cluster, i)
    wait_alive(cluster, cluster.chunkd_addr(i))
    return data


def release_tmpfs(cluster, i, mnt):
    """Stop chunk server i (by pid) and unmount its tmpfs."""
    pid = cluster.chunkd_pid(i)
    if pid_alive(pid, "chunkd"):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid, "chunkd"), 30, "chunkd exit")
    umount(mnt)


# -- a cluster with one chunk server in a network namespace -----------


def _free_port(host):
    s = socket.socket()
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class NetnsCluster(dfstest.Cluster):
    """Master, chunkservers-1 chunk servers and the mount on the root
    side of a veth pair (10.231.N.1); chunk server N on 10.231.N.2 in the
    network namespace self.netns. cut() and heal() bring the link down
    and up. Same interface as dfstest.Cluster otherwise."""

    def __init__(self, root, name="netns", chunkservers=4, **kw):
        super().__init__(root, name=name, chunkservers=chunkservers, **kw)
        tag = f"{os.getpid() % 10000}{random.randrange(100)}"
        self.netns = f"dfs-faults-{tag}"
        self.veth = f"vf{tag}a"
        self.veth_peer = f"vf{tag}b"
        net = random.randrange(1, 250)
        self.host_ip = f"10.231.{net}.1"
        self.ns_ip = f"10.231.{net}.2"
        self.procs = {}
        self.net_made = False

    # The namespace side.
    def _net_up(self):
        ns, a, b = self.netns, self.veth, self.veth_peer
        run(["ip", "netns", "add", ns])
        self.net_made = True
        run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        run(["ip", "link", "set", b, "netns", ns])
        run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", a])
        run(["ip", "link", "set", a, "up"])
        run(["ip", "netns", "exec", ns, "ip", "addr", "add",
             f"{self.ns_ip}/30", "dev", b])
        run(["ip", "netns", "exec", ns, "ip", "link", "set", b, "up"])
        run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])

    def _net_down(self):
        if self.net_made:
            run(["ip", "netns", "del", self.netns], check=False)
            run(["ip", "link", "del", self.veth], check=False)
            self.net_made = False

    def cut(self):
        run(["ip", "link", "set", self.veth, "down"])

    def heal(self):
        run(["ip", "link", "set", self.veth, "up"])

    def _launch(self, name, log, args, netns=None):
        cmd = [BIN / name, *args]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        with open(log, "ab") as f:
            f.write(f"=== faultutil: starting {name}\n".encode())
            f.flush()
            p = subprocess.Popen([str(c) for c in cmd],
                                 stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=f, start_new_session=True)
        return p

    def _write_env(self):
        lines = [f"export {k}={v}" for k, v in self.env.items()]
        (self.dir / "cluster.env").write_text("\n".join(lines) + "\n")

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        LIVE_CLUSTERS.append(self)
        self.started = True
        self._net_up()
        n = self.nservers
        master = f"{self.host_ip}:{_free_port(self.host_ip)}"
        self.env = {"DFS_MASTER": master, "DFS_DIR": self.dir,
                    "DFS_MOUNT": self.mount, "DFS_CHUNKSERVERS": n}
        (self.dir / "master").mkdir(exist_ok=True)
        p = self._launch("masterd", self.dir / "logs" / "masterd.log",
                         ["--data", self.dir / "master", "--listen", master,
                          "--chunk-size", self.chunk_size, "--replication",
                          self.replication, "--heartbeat-timeout",
                          self.heartbeat_timeout])
        self.env["DFS_MASTER_PID"] = p.pid
        wait_until(lambda: self._master_up(), 30, "the master")
        for i in range(1, n + 1):
            inside = i == n
            ip = self.ns_ip if inside else self.host_ip
            port = (_free_port(self.host_ip) if not inside else
                    random.randrange(20000, 30000))
            data = self.dir / f"cs{i}"
            data.mkdir(exist_ok=True)
            self.env[f"DFS_CHUNKD_{i}"] = f"{ip}:{port}"
            self.env[f"DFS_CHUNKD_{i}_DATA"] = data
            p = self._launch("chunkd", self.dir / "logs" / f"chunkd-{i}.log",
                             ["--data", data, "--master", master, "--listen",
                              f"{ip}:{port}"],
                             netns=self.netns if inside else None)
            self.env[f"DFS_CHUNKD_{i}_PID"] = p.pid
        self._write_env()
        wait_until(lambda: self._master_up() and self.live_servers() == n,
                   30, f"{n} live chunk servers")
        self.mount.mkdir(parents=True, exist_ok=True)
        p = self._launch("fusefs", self.dir / "logs" / "fusefs.log",
                         ["--master", master, self.mount, "-f"])
        self.env["DFS_FUSEFS_PID"] = p.pid
        self._write_env()
        wait_until(lambda: is_mounted(self.mount), 30, "the mount")
        problems = self.check_logs()
        if problems:
            raise DfsError("errors logged while starting:\n" +
                           "\n".join(problems))
        return self

    def _master_up(self):
        try:
            return http(self.master, "/api/status", timeout=2)[0] == 200
        except OSError:
            return False

    def load_env(self):
        self.env = dfstest.parse_env_file(self.dir / "cluster.env")

    def remount(self):
        dfstest.fuse_unmount(self.mount)
        pid = self.fusefs_pid
        wait_until(lambda: not pid_alive(pid, "fusefs"), 30, "fusefs exit")
        p = self._launch("fusefs", self.dir / "logs" / "fusefs.log",
                         ["--master", self.master, self.mount, "-f"])
        set_env(self, "DFS_FUSEFS_PID", p.pid)
        wait_until(lambda: is_mounted(self.mount), 30, "the mount")

    def stop(self, remove_data=True):
        if not self.started:
            return []
        self.started = False
        dfstest.fuse_unmount(self.mount)
        for name, pid in reversed(self.all_pids()):
            if pid_alive(pid, name):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, pid in self.all_pids():
            while pid_alive(pid, name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(pid, name):
                os.kill(pid, signal.SIGKILL)
        self._net_down()
        if self in LIVE_CLUSTERS:
            LIVE_CLUSTERS.remove(self)
        problems = self.check_logs()
        if remove_data and not os.environ.get("DFS_KEEP"):
            for d in [self.dir / "master", *self.dir.glob("cs[0-9]*")]:
                shutil.rmtree(d, ignore_errors=True)
        return problems


def reap(proc):
    """Wait for a helper subprocess started by a test (bounded)."""
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


__all__ = [n for n in dir() if not n.startswith("_")] + ["MiB"]
