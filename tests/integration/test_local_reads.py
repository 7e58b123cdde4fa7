"""Short-circuit local reads: a client reads replicas held by chunk
servers of its own machine straight from their files, which the server
hands over through its local read socket (include/local_sock.h), and
checks every block as the server would.

- test_reads_skip_http: a 3-chunk file read through a fresh mount, and
  ranges of it read at odd offsets, make no EP_CHUNK_READ on any chunk
  server and return the right bytes; a mount started with
  DFS_LOCAL_READS=0 reads the same file over HTTP.
- test_rewrite_seen: a file read once (its replicas' files kept open),
  then rewritten through another mount, and deleted and replaced by new
  files that may reuse the old replica files: a fresh open through the
  first mount reads the new bytes every time.
- test_corrupt_replica: one byte of two of a chunk's three replicas is
  inverted on disk. Observed: reads through a fresh mount return the
  right data, the servers set the bad copies aside, and the master
  repairs the chunk (fsck healthy, every replica file right again).
"""

import os

import pytest

import faultutil as fu
from dfstest import MiB, http_requests, wait_until

CORRUPT_NOISE = r"(checksum|corrupt|mismatch|set aside|not recreating)"


def chunk_reads(cluster):
    return sum(http_requests(a, "/chunk/read") for a in cluster.chunkd_addrs())


def read_range(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def test_reads_skip_http(cluster, mnt, tmp_path_factory):
    data = os.urandom(3 * MiB - 1000)
    (mnt / "f").write_bytes(data)
    cluster.remount()
    f = cluster.mount / mnt.relative_to(cluster.mount) / "f"
    before = chunk_reads(cluster)
    assert f.read_bytes() == data
    for off, n in ((0, 1), (MiB - 7, 20), (65535, 65537), (2 * MiB + 5,
                                                              MiB)):
        assert read_range(f, off, n) == data[off:off + n], (off, n)
    assert chunk_reads(cluster) == before

    second = cluster.mount_extra(tmp_path_factory.mktemp("lr") / "mnt",
                                 env={"DFS_LOCAL_READS": "0"})
    try:
        there = second / mnt.relative_to(cluster.mount) / "f"
        assert there.read_bytes() == data
        assert chunk_reads(cluster) > before
    finally:
        cluster.unmount_extra(second)


def test_rewrite_seen(cluster, mnt, tmp_path_factory):
    f = mnt / "f"
    old = os.urandom(MiB + 100)
    f.write_bytes(old)
    assert f.read_bytes() == old
    second = cluster.mount_extra(tmp_path_factory.mktemp("lr") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "f"
        for i in range(3):
            new = os.urandom(MiB + 100)
            there.write_bytes(new)
            wait_until(lambda: read_range(f, 0, len(new) + 1) == new, 5,
                       "the rewrite to show through the first mount")
        # Deleted replicas' files are reused for new ones.
        there.unlink()
        for i in range(20):
            (there.parent / f"n{i}").write_bytes(bytes([i]) * 5000)
        for i in range(20):
            assert (mnt / f"n{i}").read_bytes() == bytes([i]) * 5000
    finally:
        cluster.unmount_extra(second)


@pytest.mark.dfs_timeout(180)
def test_corrupt_replica(fresh_cluster):
    c = fresh_cluster
    c.allow(CORRUPT_NOISE)
    data = os.urandom(2 * MiB)
    (c.mount / "f").write_bytes(data)
    chunk = c.stat("/f")["chunks"][0]
    handle = chunk["handle"]
    good = chunk["replicas"][2]
    for addr in chunk["replicas"][:2]:
        fu.flip_byte(c.replica_path(addr, handle), 70000)
    c.remount()
    assert (c.mount / "f").read_bytes() == data
    assert read_range(c.mount / "f", 65536, 10) == data[65536:65546]

    def replica_ok(addr):
        p = c.replica_path(addr, handle)
        return p.exists() and p.read_bytes() == data[:MiB]

    def repaired():
        reps = c.stat("/f")["chunks"][0]["replicas"]
        return (fu.is_healthy(fu.fsck(c)) and len(set(reps)) == 3 and
                all(replica_ok(a) for a in reps))
    wait_until(repaired, 90, "the chunk to be repaired")
    assert good in c.stat("/f")["chunks"][0]["replicas"]
