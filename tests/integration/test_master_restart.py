"""The master's crash and restart (each test on a cluster of its own).

- test_kill9_master_restart: a tree of directories and files (empty, one
  byte, chunk-sized, multi-chunk, sparse, renamed, deleted, chmod-ed) is
  written and closed; masterd is killed with SIGKILL and restarted with
  local-cluster.sh restart-master. The namespace (names, types, sizes,
  modes, inode numbers) and every file's bytes are intact, through the
  same mount (which reconnects by itself), after a remount, and per
  `dfs stat` (same chunk handles). New writes work afterwards.
- test_sigterm_master_restart: the same after a clean stop (SIGTERM).
- test_cluster_stop_start_keeps_data: local-cluster.sh stop then start on
  the same directory brings back the same files, and stop leaves no
  process and no mount behind.
"""

import hashlib
import os
import signal
import stat

import pytest

from dfstest import MiB, is_mounted, pid_alive, wait_until


def populate(root, cs):
    """Write a varied tree under root; returns nothing (snapshot() it)."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "empty").write_bytes(b"")
    (root / "one").write_bytes(b"1")
    (root / "a" / "chunk").write_bytes(os.urandom(cs))
    (root / "a" / "chunk+1").write_bytes(os.urandom(cs + 1))
    (root / "a" / "b" / "multi").write_bytes(os.urandom(3 * cs + cs // 3))
    with open(root / "a" / "b" / "c" / "sparse", "wb") as f:
        f.seek(4 * cs + 10)
        f.write(b"end")
    (root / "to-rename").write_bytes(b"renamed")
    os.rename(root / "to-rename", root / "a" / "renamed")
    (root / "gone").write_bytes(os.urandom(cs * 2))
    os.unlink(root / "gone")
    (root / "private").write_bytes(b"secret")
    os.chmod(root / "private", 0o600)
    for i in range(50):
        (root / "a" / "b" / f"small{i}").write_bytes(b"%d" % i * i)


def snapshot(root):
    """{relative path: (type, size, mode, ino, sha256)} of a tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(p, root)] = (
                stat.S_IFMT(st.st_mode), st.st_size,
                stat.S_IMODE(st.st_mode), st.st_ino, digest)
    return out


def handles(cluster, snap):
    """{path: [(index, handle)]} of every regular file in a snapshot."""
    out = {}
    for rel, (kind, *_rest) in snap.items():
        if kind == stat.S_IFREG:
            st = cluster.stat("/" + rel)
            out[rel] = sorted((c["index"], c["handle"])
                              for c in st["chunks"])
    return out


def check_restart(cluster, sig):
    root = cluster.mount
    populate(root, cluster.chunk_size)
    before = snapshot(root)
    chunks_before = handles(cluster, before)
    assert "gone" not in before and "a/renamed" in before

    old_pid = cluster.master_pid
    cluster.kill_master(sig)
    if sig == signal.SIGKILL:
        cluster.allow(r"fusefs.*(master|refused|connect)")
    cluster.restart_master()
    assert cluster.master_pid != old_pid
    assert pid_alive(cluster.master_pid, "masterd")
    assert cluster.live_servers() == cluster.nservers

    assert snapshot(root) == before, "namespace differs after restart"
    assert handles(cluster, before) == chunks_before
    cluster.remount()
    assert snapshot(root) == before, "namespace differs after remount"

    data = os.urandom(2 * cluster.chunk_size + 5)
    (root / "after").write_bytes(data)
    (root / "a" / "b" / "multi").write_bytes(data)
    cluster.remount()
    assert (root / "after").read_bytes() == data
    assert (root / "a" / "b" / "multi").read_bytes() == data


@pytest.mark.dfs_timeout(300)
def test_kill9_master_restart(fresh_cluster):
    check_restart(fresh_cluster, signal.SIGKILL)


@pytest.mark.dfs_timeout(300)
def test_sigterm_master_restart(fresh_cluster):
    check_restart(fresh_cluster, signal.SIGTERM)


@pytest.mark.dfs_timeout(300)
def test_cluster_stop_start_keeps_data(fresh_cluster):
    c = fresh_cluster
    data = os.urandom(3 * MiB + 17)
    (c.mount / "keep").write_bytes(data)
    (c.mount / "dir").mkdir()
    p = c.script("status", "--dir", c.dir)
    assert "masterd" in p.stdout and c.master in p.stdout
    pids = c.all_pids()
    c.script("stop", "--dir", c.dir)
    for name, pid in pids:
        assert not pid_alive(pid, name), f"{name} {pid} still running"
    assert not is_mounted(c.mount)
    assert c.script("status", "--dir", c.dir, check=False).returncode != 0

    c.script("start", "--dir", c.dir, "--mount", c.mount,
             "--chunkservers", c.nservers, "--chunk-size", c.chunk_size,
             "--heartbeat-timeout", c.heartbeat_timeout, timeout=180)
    c.load_env()
    assert (c.mount / "keep").read_bytes() == data
    assert (c.mount / "dir").is_dir()
    wait_until(lambda: c.live_servers() == c.nservers, 30, "servers")
