"""Chunk servers dying (issue 4), each test on a cluster of its own (1 MiB
chunks, replication 3, heartbeat timeout 3 s).

- test_kill_chunkd_during_cp: 4 servers; a 200 MiB random file is copied
  in with cp and chunk server 1 is killed with SIGKILL while cp runs.
  Observed: cp exits 0, the file reads back identical (after a remount),
  and within 60 s `dfs fsck` is healthy again: every chunk on 3 distinct
  live servers.
- test_kill_chunkd_during_read: a 64 MiB file is read through a fresh
  mount (cold cache) while the server holding the first replica of most
  chunks is killed with SIGKILL. Observed: the read completes with the
  right bytes.
- test_two_of_five_killed: 5 servers, 40 files; two servers are killed
  one after the other (the second while the first is still being
  healed). Observed: no chunk ever goes missing, every file reads back
  identical, and fsck reports every chunk on 3 live replicas again.
- test_revoked_lease_before_first_write: a chunk is leased for a write
  (EP_CHUNKS) and not yet written when one of its servers restarts; the
  master revokes the lease with a new version on replicas that do not
  exist yet. Observed: the write with the old lease is refused with
  STALE (each server keeps the version an absent replica was moved to),
  no replica is created at the old version, and the write under a new
  lease reads back from every replica. Before the floor the old write
  was acknowledged, created every replica at the old version, and the
  bytes then read as ESTALE: acknowledged data lost.
- test_delete_frees_space: a 100 MiB file is written, then deleted.
  Observed: within 30 s every server's used bytes (its /health) are back
  to what they were before and its replica files are gone.
"""

import hashlib
import os
import signal
import subprocess
import threading
import time

import pytest

import faultutil as fu
from dfstest import MiB, sha256_file, wait_until, write_random_file

# What the client and servers log while a peer dies: warnings, allowed.
DEATH_NOISE = r"(refused|unreachable|dead|failed|giving up|reset|timed out)"


def check_three_live(cluster, paths):
    """Every chunk of the files on exactly `replication` distinct live
    servers (per `dfs stat`, which lists live replicas only)."""
    live = {s["addr"] for s in cluster.status()["chunkservers"]
            if s["alive"]}
    for handle, c in fu.all_chunks(cluster, paths).items():
        reps = c["replicas"]
        assert len(set(reps)) == len(reps) == cluster.replication, c
        assert set(reps) <= live, c


@pytest.mark.dfs_timeout(300)
def test_kill_chunkd_during_cp(make_cluster, scratch):
    c = make_cluster(chunkservers=4)
    c.allow(DEATH_NOISE)
    src = scratch / "big"
    digest = write_random_file(src, 200 * MiB)
    dst = c.mount / "big"
    cp = subprocess.Popen(["cp", str(src), str(dst)])
    try:
        wait_until(lambda: dst.exists() and dst.stat().st_size >= 8 * MiB
                   or cp.poll() is not None, 60, "cp to start", 0.01)
        still_running = cp.poll() is None
        c.kill_chunkd(1)
        assert cp.wait(timeout=240) == 0
    finally:
        if cp.poll() is None:
            cp.kill()
        fu.reap(cp)
    assert still_running, "cp finished before the kill; nothing tested"
    c.remount()
    assert sha256_file(dst) == digest
    took = fu.wait_healthy(c, 60)
    print(f"healthy {took:.1f} s after cp")
    check_three_live(c, ["/big"])
    assert c.dfs("fsck", check=False).returncode == 0


@pytest.mark.dfs_timeout(240)
def test_kill_chunkd_during_read(make_cluster, scratch):
    c = make_cluster(chunkservers=3)
    c.allow(DEATH_NOISE)
    src = scratch / "data"
    digest = write_random_file(src, 64 * MiB)
    (c.mount / "data").write_bytes(src.read_bytes())
    c.remount()
    chunks = c.stat("/data")["chunks"]
    # The client reads replica (handle % n) first: kill the busiest one.
    firsts = {}
    for ch in chunks:
        reps = sorted(ch["replicas"])
        a = reps[ch["handle"] % len(reps)]
        firsts[a] = firsts.get(a, 0) + 1
    victim = c.server_index(max(firsts, key=firsts.get))
    h = hashlib.sha256()
    read = [0]

    def reader():
        with open(c.mount / "data", "rb", buffering=0) as f:
            while True:
                b = f.read(256 * 1024)
                if not b:
                    return
                h.update(b)
                read[0] += len(b)
                time.sleep(0.002)

    t = threading.Thread(target=reader)
    t.start()
    wait_until(lambda: read[0] >= 8 * MiB or not t.is_alive(), 60,
               "the read to start", 0.01)
    assert t.is_alive(), "the read finished before the kill"
    c.kill_chunkd(victim)
    t.join(timeout=180)
    assert not t.is_alive(), "the read did not finish"
    assert read[0] == 64 * MiB
    assert h.hexdigest() == digest


@pytest.mark.dfs_timeout(300)
def test_two_of_five_killed(make_cluster, scratch):
    c = make_cluster(chunkservers=5)
    c.allow(DEATH_NOISE)
    digests = {}
    for i in range(40):
        size = (i % 5) * MiB + 1000 * i + 1
        data = os.urandom(size)
        (c.mount / f"f{i}").write_bytes(data)
        digests[f"f{i}"] = hashlib.sha256(data).hexdigest()
    paths = [f"/{n}" for n in digests]
    assert fu.fsck(c)["healthy"] == fu.fsck(c)["chunks"]
    c.kill_chunkd(1)
    fu.wait_alive(c, c.chunkd_addr(1), alive=False)
    # Let the first heal start, then take a second server away.
    wait_until(lambda: fu.fsck(c)["under_replicated"] <
               fu.fsck(c)["chunks"], 30, "re-replication to start", 0.05)
    c.kill_chunkd(2)
    missing = []

    def watch():
        f = fu.fsck(c)
        missing.append(f["missing"])
        return fu.is_healthy(f)
    # Until the master notices the second death, that server's replicas
    # still count: wait for it first.
    wait_until(lambda: watch() is not None and not any(
        s["alive"] for s in c.status()["chunkservers"]
        if s["addr"] == c.chunkd_addr(2)), 30, "the second death", 0.2)
    wait_until(watch, 120, "healing after two deaths", 0.2)
    assert max(missing) == 0, "a chunk had no live replica"
    check_three_live(c, paths)
    c.remount()
    for name, d in digests.items():
        assert sha256_file(c.mount / name) == d, name


@pytest.mark.dfs_timeout(180)
def test_revoked_lease_before_first_write(fresh_cluster):
    c = fresh_cluster
    c.allow(DEATH_NOISE)
    (c.mount / "a").write_bytes(b"")
    ino = os.stat(c.mount / "a").st_ino
    (lease,) = fu.api(c, "/api/chunks",
                      {"ino": ino, "index": 0, "count": 1,
                       "write": True})["chunks"]
    handle, old = lease["handle"], lease["version"]
    chain = [a for a in lease["replicas"] if a != lease["primary"]]
    i = next(i for i in range(1, c.nservers + 1)
             if c.chunkd_addr(i) == chain[0])
    c.kill_chunkd(i, signal.SIGTERM)
    fu.start_chunkd(c, i)
    wait_until(lambda: c.stat("/a")["chunks"][0]["version"] > old, 30,
               "the restart to revoke the lease")

    body = os.urandom(4096)
    status, err = fu.chunk_write(lease["primary"], handle, chain, body,
                                 version=old)
    assert status == 409 and err["error"] == "STALE", (status, err)
    for addr in lease["replicas"]:
        status, info = fu.chunk_info(addr, handle)
        assert status == 404, (addr, info)

    (lease,) = fu.api(c, "/api/chunks",
                      {"ino": ino, "index": 0, "count": 1,
                       "write": True})["chunks"]
    assert lease["version"] > old
    chain = [a for a in lease["replicas"] if a != lease["primary"]]
    status, err = fu.chunk_write(lease["primary"], handle, chain, body,
                                 version=lease["version"])
    assert status == 200, err
    for addr in lease["replicas"]:
        status, data = fu.chunk_read(addr, handle, lease["version"], 0,
                                     len(body))
        assert status == 200 and data == body, (addr, status)
    # The mount writes through the same chunk.
    with open(c.mount / "a", "r+b") as f:
        f.write(b"mounted")
    c.remount()
    assert (c.mount / "a").read_bytes() == b"mounted"


@pytest.mark.dfs_timeout(180)
def test_delete_frees_space(fresh_cluster, scratch):
    c = fresh_cluster
    addrs = c.chunkd_addrs()
    before = {a: fu.health(a)["used"] for a in addrs}
    src = scratch / "h"
    write_random_file(src, 100 * MiB)
    (c.mount / "h").write_bytes(src.read_bytes())
    handles = [ch["handle"] for ch in c.stat("/h")["chunks"]]
    assert len(handles) == 100
    for a in addrs:
        assert fu.health(a)["used"] >= before[a] + 100 * MiB
    os.unlink(c.mount / "h")
    start = time.monotonic()

    def freed():
        return all(fu.health(a)["used"] <= before[a] for a in addrs)
    wait_until(freed, 30, "the space of the deleted file to be freed")
    print(f"space freed {time.monotonic() - start:.1f} s after unlink")
    for i in range(1, c.nservers + 1):
        left = [p for p in fu.replica_files(c.chunkd_data(i))
                if int(p.name, 16) in handles]
        assert left == [], left
