"""Corrupt and stale replicas (issue 4), each test on a cluster of its own
(1 MiB chunks, replication 3, heartbeat timeout 3 s).

- test_flipped_byte_read: one byte of one replica file is inverted on
  disk. Observed: that server answers CORRUPT for the chunk (never the
  bad bytes); reads through a fresh mount return the right data; fsck
  reports the chunk (corrupt or under-replicated, exit 1) until it is
  repaired; then fsck is healthy, the bad copy is gone from the server's
  corrupt/ folder and every replica file of the chunk holds the right
  bytes again.
- test_scrubber_finds_corruption: a byte is inverted in a replica that
  nobody reads; its server is restarted with the scrubber at a high rate.
  Observed: the scrubber reports it, the master re-replicates the chunk
  from a good copy, fsck is healthy and all replica files are right.
- test_stale_replica: 4 servers; a server holding a file is stopped, the
  file is overwritten, the server is started again. Observed: its
  replicas are at an older version; the master never lists them for
  reading; they are deleted from its disk within bounded time; the file
  reads back with the new content and fsck is healthy.
"""

import hashlib
import json
import os
import time

import pytest

import faultutil as fu
from dfstest import MiB, wait_until

CORRUPT_NOISE = r"(checksum|corrupt|mismatch|set aside|not recreating)"


def replica_ok(cluster, addr, handle, data):
    p = cluster.replica_path(addr, handle)
    return p.exists() and p.read_bytes() == data


@pytest.mark.dfs_timeout(180)
def test_flipped_byte_read(fresh_cluster):
    c = fresh_cluster
    c.allow(CORRUPT_NOISE)
    data = os.urandom(4 * MiB)
    (c.mount / "f").write_bytes(data)
    chunk = c.stat("/f")["chunks"][1]
    handle, version = chunk["handle"], chunk["version"]
    slice1 = data[MiB:2 * MiB]
    bad = chunk["replicas"][0]
    fu.flip_byte(c.replica_path(bad, handle), 123457)

    status, obj = fu.chunk_read(bad, handle, version, 0, MiB)
    assert status != 200 and obj["error"] == "CORRUPT", (status, obj)
    # The bad server set its copy aside: the master hears of it and
    # fsck shows the chunk as unhealthy until it is repaired.
    seen = []

    def reported():
        cli = c.dfs("fsck", "--json", check=False)
        f = json.loads(cli.stdout)
        if f["corrupt"] + f["under_replicated"] == 0:
            assert cli.returncode == 0, cli
            return False
        assert cli.returncode == 1, cli
        seen.append(fu.fsck(c))
        return True
    wait_until(reported, 20, "fsck to report the corrupt copy", 0.05)
    probs = seen[-1]["problems"]
    if probs:
        p = probs[0]
        print(f"fsck reported: {p}")
        assert (p["path"], p["index"], p["handle"]) == ("/f", 1, handle)
        if p["state"] == "corrupt":
            assert p["corrupt"] == [bad], p
    c.remount()
    assert (c.mount / "f").read_bytes() == data
    fu.wait_healthy(c, 60)
    assert c.dfs("fsck", check=False).returncode == 0
    wait_until(lambda: not list(
        (c.chunkd_data(c.server_index(bad)) / "corrupt").glob("*")), 30,
        "the bad copy to be removed")
    reps = c.stat("/f")["chunks"][1]["replicas"]
    assert len(set(reps)) == 3
    for a in reps:
        wait_until(lambda: replica_ok(c, a, handle, slice1), 30,
                   f"a good replica on {a}")


@pytest.mark.dfs_timeout(180)
def test_scrubber_finds_corruption(fresh_cluster):
    c = fresh_cluster
    c.allow(CORRUPT_NOISE)
    data = os.urandom(3 * MiB)
    (c.mount / "g").write_bytes(data)
    chunk = c.stat("/g")["chunks"][2]
    handle = chunk["handle"]
    addr = chunk["replicas"][1]
    i = c.server_index(addr)
    c.kill_chunkd(i, sig=15)
    fu.flip_byte(c.replica_path(addr, handle), 5)
    fu.start_chunkd(c, i, ["--scrub-rate", "100", "--scrub-interval", "1"])
    log = c.dir / "logs" / f"chunkd-{i}.log"
    wait_until(lambda: "checksum mismatch" in log.read_text(), 30,
               "the scrubber to find the bad block")
    def repaired():
        reps = c.stat("/g")["chunks"][2]["replicas"]
        return (fu.is_healthy(fu.fsck(c)) and len(reps) == 3 and
                all(replica_ok(c, a, handle, data[2 * MiB:]) for a in reps))
    wait_until(repaired, 60, "the chunk to be repaired")
    for a in c.stat("/g")["chunks"][2]["replicas"]:
        assert replica_ok(c, a, handle, data[2 * MiB:]), a
    assert "corrupt replica" in (c.dir / "logs" / "masterd.log").read_text()


@pytest.mark.dfs_timeout(240)
def test_stale_replica(make_cluster):
    c = make_cluster(chunkservers=4)
    c.allow(r"(stale|STALE|refused|dead|unreachable|failed|version)")
    old = os.urandom(3 * MiB)
    (c.mount / "s").write_bytes(old)
    before = {ch["index"]: ch for ch in c.stat("/s")["chunks"]}
    addr = before[0]["replicas"][0]
    i = c.server_index(addr)
    held = {ch["handle"]: ch["version"] for ch in before.values()
            if addr in ch["replicas"]}
    c.kill_chunkd(i, sig=15)
    fu.wait_alive(c, addr, alive=False)
    new = os.urandom(3 * MiB)
    with open(c.mount / "s", "r+b") as f:
        f.write(new)
    fu.wait_healthy(c, 60)
    after = {ch["index"]: ch for ch in c.stat("/s")["chunks"]}
    for ch in after.values():
        if ch["handle"] in held:
            assert ch["version"] > held[ch["handle"]], ch
    fu.start_chunkd(c, i)
    fu.wait_alive(c, addr)
    ino = os.stat(c.mount / "s").st_ino
    start = time.monotonic()

    def gone():
        # Never listed for reading while its replica is stale.
        for ch in fu.read_locations(c, ino, 0, 3):
            if addr in ch["replicas"]:
                st, info = fu.chunk_info(addr, ch["handle"])
                assert st == 200 and info["version"] == ch["version"], \
                    (ch, info)
        on_disk = {int(p.name, 16)
                   for p in fu.replica_files(c.chunkd_data(i))}
        stale = [h for h in held if h in on_disk and
                 fu.chunk_info(addr, h)[1].get("version") == held[h]]
        return not stale
    wait_until(gone, 60, "the stale replicas to go", 0.2)
    print(f"stale replicas handled {time.monotonic() - start:.1f} s after "
          "the restart")
    c.remount()
    assert hashlib.sha256((c.mount / "s").read_bytes()).digest() == \
        hashlib.sha256(new).digest()
    fu.wait_healthy(c, 60)
