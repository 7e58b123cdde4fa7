"""Decommissioning and balancing (issue 7): `dfs decommission` drains a
chunk server while clients keep reading, a master restart in the middle
goes on with the drain, and `dfs balance` evens out the servers' usage
after empty servers join a loaded cluster.

Every process is stopped by pid (the cluster's teardown, and the tests'
own finally blocks for the servers they add); tmpfs mounts made here are
removed here.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import faultutil
from dfstest import BIN, MiB, DfsError, pid_alive, run, wait_until


def dfs_json(cluster, *args):
    return json.loads(cluster.dfs(*args, "--json").stdout)


def decom_state(cluster, addr):
    """(state, remaining) of a server per `dfs decommission --status`."""
    s = dfs_json(cluster, "decommission", "--status", addr)["servers"][0]
    return s["state"], s["remaining"]


def wait_decommissioned(cluster, addr, timeout):
    def done():
        return decom_state(cluster, addr)[0] == "decommissioned"
    wait_until(done, timeout, f"{addr} decommissioned", interval=0.5)


def server_chunks(cluster, addr):
    """Replica rows the master records on addr."""
    s = dfs_json(cluster, "decommission", "--status", addr)["servers"][0]
    return s["chunks"]


def wait_healthy(cluster, timeout):
    """Until `dfs fsck` exits 0 (every chunk healthy)."""
    wait_until(lambda: cluster.dfs("fsck", check=False).returncode == 0,
               timeout, "a healthy fsck", interval=0.5)


def write_files(root, n, size):
    """n files of random bytes under root; {path: sha256}."""
    out = {}
    for i in range(n):
        p = root / f"f{i}"
        data = os.urandom(size)
        p.write_bytes(data)
        out[p] = hashlib.sha256(data).hexdigest()
    return out


class Reader(threading.Thread):
    """Reads every file in a loop through the mount (dropping the page
    cache after each read so the chunk servers serve every pass) and
    records each read that fails or returns wrong bytes."""

    def __init__(self, files):
        super().__init__(daemon=True)
        self.files = files
        self.stop = threading.Event()
        self.passes = 0
        self.errors = []

    def read_one(self, path, want):
        fd = os.open(path, os.O_RDONLY)
        try:
            h = hashlib.sha256()
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                h.update(b)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        if h.hexdigest() != want:
            self.errors.append(f"{path}: wrong content")

    def run(self):
        while not self.stop.is_set():
            for path, want in self.files.items():
                try:
                    self.read_one(path, want)
                except OSError as e:
                    self.errors.append(f"{path}: {e}")
            self.passes += 1


def check_drained(cluster, addr, paths, replication):
    """No chunk of paths has a replica on addr; each has `replication`
    replicas elsewhere."""
    for p in paths:
        for c in cluster.stat(p)["chunks"]:
            assert addr not in c["replicas"], (p, c)
            assert len(set(c["replicas"])) == replication, (p, c)


@pytest.mark.dfs_timeout(240)
def test_decommission_under_reads(make_cluster):
    cluster = make_cluster(chunkservers=4)
    d = cluster.mount / "decom"
    d.mkdir()
    files = write_files(d, 4, 12 * MiB)
    paths = ["/decom/" + p.name for p in files]
    addr = cluster.chunkd_addr(1)
    before = server_chunks(cluster, addr)
    assert before and before > 0
    reader = Reader(files)
    reader.start()
    try:
        wait_until(lambda: reader.passes >= 1, 60, "a first read pass")
        out = cluster.dfs("decommission", addr).stdout
        assert "draining" in out or "decommissioned" in out, out
        st = cluster.status()
        assert set(st["chunkservers"][0]) == {
            "addr", "rack", "alive", "chunks", "capacity", "used"}
        human = cluster.dfs("status").stdout
        assert any(line.startswith(addr) and
                   ("draining" in line or "decommissioned" in line)
                   for line in human.splitlines()), human
        wait_decommissioned(cluster, addr, 90)
        passes = reader.passes
        # The server goes on answering while its replicas are removed.
        wait_until(lambda: reader.passes >= passes + 2, 60,
                   "two more read passes")
    finally:
        reader.stop.set()
        reader.join(60)
    assert not reader.errors, reader.errors[:10]
    wait_until(lambda: server_chunks(cluster, addr) == 0, 60,
               f"no replica left on {addr}")
    check_drained(cluster, addr, paths, 3)
    wait_healthy(cluster, 30)
    p = cluster.dfs("fsck", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    # No new chunk goes to a decommissioned server.
    (d / "new").write_bytes(os.urandom(3 * MiB))
    for c in cluster.stat("/decom/new")["chunks"]:
        assert addr not in c["replicas"]
    human = cluster.dfs("status").stdout
    assert any(line.startswith(addr) and "decommissioned" in line
               for line in human.splitlines()), human
    # Put back in service, it is normal again.
    cluster.dfs("decommission", "--cancel", addr)
    assert decom_state(cluster, addr)[0] == "normal"


@pytest.mark.dfs_timeout(240)
def test_decommission_survives_master_restart(make_cluster):
    cluster = make_cluster(chunkservers=4)
    cluster.allow(r"masterd|connection|refused|copy|master")
    d = cluster.mount / "decom"
    d.mkdir()
    files = write_files(d, 3, 16 * MiB)
    paths = ["/decom/" + p.name for p in files]
    addr = cluster.chunkd_addr(2)
    cluster.dfs("decommission", addr)
    cluster.kill_master()
    cluster.restart_master()
    state, remaining = decom_state(cluster, addr)
    print(f"after the restart: {state}, {remaining} chunks to go")
    assert state in ("draining", "decommissioned")
    wait_decommissioned(cluster, addr, 120)
    wait_until(lambda: server_chunks(cluster, addr) == 0, 60,
               f"no replica left on {addr}")
    check_drained(cluster, addr, paths, 3)
    wait_healthy(cluster, 30)
    for p, want in files.items():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == want
    # The state survives another restart.
    cluster.kill_master(signal.SIGTERM)
    cluster.restart_master()
    assert decom_state(cluster, addr)[0] == "decommissioned"


def test_decommission_bad_input(fresh_cluster):
    cluster = fresh_cluster
    p = cluster.dfs("decommission", "127.0.0.1:1", check=False)
    assert p.returncode == 1 and "127.0.0.1:1" in p.stderr, p.stderr
    p = cluster.dfs("decommission", "nonsense", check=False)
    assert p.returncode == 2
    assert dfs_json(cluster, "decommission", "--status")["servers"] == []
    p = cluster.dfs("decommission", "--status", "--cancel", "a:1",
                    check=False)
    assert p.returncode == 2
    p = cluster.dfs("balance", "--threshold", "-3", check=False)
    assert p.returncode == 2
    st = dfs_json(cluster, "balance", "--status")
    assert st["state"] == "idle" and not st["running"], st


# -- balance ----------------------------------------------------------

TMPFS = 256 * MiB


def free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def add_chunkd(cluster, i, mnt):
    """Start a new chunk server i (its data on tmpfs mnt) against the
    cluster's master; recorded in cluster.env so teardown stops it."""
    addr = f"127.0.0.1:{free_port()}"
    faultutil.set_env(cluster, f"DFS_CHUNKD_{i}", addr)
    faultutil.set_env(cluster, f"DFS_CHUNKD_{i}_DATA", mnt)
    cluster.nservers = max(cluster.nservers, i)
    pid = faultutil.start_chunkd(cluster, i)
    faultutil.wait_alive(cluster, addr)
    return addr, pid


def stop_pid(pid):
    if pid_alive(pid, "chunkd"):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid, "chunkd"), 30, "chunkd exit")


def usages(cluster):
    """(mean, {addr: usage}) in percent, from `dfs balance --status`."""
    st = dfs_json(cluster, "balance", "--status")
    return st["mean"], {s["addr"]: s["usage"] for s in st["servers"]}


@pytest.mark.dfs_timeout(300)
def test_balance_new_servers(make_cluster):
    cluster = make_cluster(chunkservers=3, replication=2)
    cluster.allow(r"chunkd|connection|refused")
    mounts = {}
    added = {}      # i -> pid (remount rewrites cluster.env without them)
    try:
        for i in (1, 2, 3):
            mounts[i] = faultutil.move_chunkd_to_tmpfs(cluster, i, TMPFS)
        d = cluster.mount / "bal"
        d.mkdir()
        files = write_files(d, 10, 15 * MiB)
        paths = ["/bal/" + p.name for p in files]
        wait_healthy(cluster, 60)
        for i in (4, 5):
            mnt = cluster.dir / f"cs{i}"
            faultutil.mount_tmpfs(mnt, TMPFS)
            mounts[i] = mnt
            added[i] = add_chunkd(cluster, i, mnt)[1]
        new_addrs = [cluster.chunkd_addr(4), cluster.chunkd_addr(5)]
        time.sleep(3)   # fresh usage reports from every server
        mean, use = usages(cluster)
        print(f"before: mean {mean:.1f}%, {use}")
        assert len(use) == 5
        assert max(abs(u - mean) for u in use.values()) > 10
        start = time.monotonic()
        p = cluster.dfs("balance", "-w", "--threshold", "10", timeout=200,
                        check=False)
        took = time.monotonic() - start
        print(p.stdout, f"balance took {took:.1f} s")
        assert p.returncode == 0, p.stdout + p.stderr
        time.sleep(3)   # usage after the last deletions
        mean, use = usages(cluster)
        print(f"after: mean {mean:.1f}%, {use}")
        for a, u in use.items():
            assert abs(u - mean) <= 10, (a, u, mean)
        for a in new_addrs:
            assert use[a] > 0
        wait_healthy(cluster, 60)
        p = cluster.dfs("fsck", check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        for path in paths:
            for c in cluster.stat(path)["chunks"]:
                assert len(set(c["replicas"])) == 2, (path, c)
        cluster.remount()
        for p_, want in files.items():
            assert hashlib.sha256(p_.read_bytes()).hexdigest() == want
        st = dfs_json(cluster, "balance", "--status")
        assert st["state"] == "balanced" and st["moved"] > 0, st
    finally:
        for i in sorted(mounts):
            if i in added:
                stop_pid(added[i])
                faultutil.umount(mounts[i])
            else:
                faultutil.release_tmpfs(cluster, i, mounts[i])
