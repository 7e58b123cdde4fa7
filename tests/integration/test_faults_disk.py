"""Full disks on chunk servers (issue 4), on clusters of their own whose
chunk servers keep their data on small tmpfs mounts made by the test
(1 MiB chunks, replication 3, heartbeat timeout 3 s).

- test_one_server_full: 4 servers, server 1 on a 20 MiB tmpfs; a 64 MiB
  file is copied in. Observed: cp succeeds and the file reads back
  identical; server 1 filled up to its capacity and then took no more
  chunks, the others took the rest; every chunk has 3 live replicas
  (fsck healthy); every replica file on server 1 holds exactly its slice
  of the file (nothing half-written or corrupted) and nothing was set
  aside as corrupt.
- test_whole_cluster_full: 3 servers, each on a 16 MiB tmpfs; a small
  file is written, then a 48 MiB one. Observed: the big write fails
  with ENOSPC (cp reports "No space left on device"), and the small file
  is still intact and healthy.
- test_small_files_between_heartbeats: 3 servers, each on a 64 MiB
  tmpfs, 16 MiB chunks; 40 small files are written faster than the
  servers report. Observed: every file's chunk was placed by its create
  (EP_CREATE "chunk", no EP_CHUNKS and no "no room" retries) on 3
  servers.
  A chunk placed since a server's last report counts as much as its
  chunks hold on average, not as a whole chunk: counted whole, these
  servers would take 2 new chunks per heartbeat.
"""

import os
import subprocess

import pytest

import faultutil as fu
from dfstest import MiB, master_requests, sha256_file, write_random_file

FULL_NOISE = r"(No space|NOSPC|space|full|failed|giving up|cannot)"


@pytest.mark.dfs_timeout(240)
def test_one_server_full(make_cluster, scratch):
    c = make_cluster(chunkservers=4)
    c.allow(FULL_NOISE)
    mnt = None
    try:
        mnt = fu.move_chunkd_to_tmpfs(c, 1, 20 * MiB)
        full = c.chunkd_addr(1)
        src = scratch / "big"
        digest = write_random_file(src, 64 * MiB)
        data = src.read_bytes()
        r = subprocess.run(["cp", str(src), str(c.mount / "big")],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        c.remount()
        assert sha256_file(c.mount / "big") == digest
        fu.wait_healthy(c, 60)
        h = fu.health(full)
        on_full = 0
        for ch in c.stat("/big")["chunks"]:
            assert len(set(ch["replicas"])) == 3, ch
            if full in ch["replicas"]:
                on_full += 1
                i = ch["index"]
                got = c.replica_path(full, ch["handle"]).read_bytes()
                assert got == data[i * MiB:(i + 1) * MiB], ch
        print(f"server 1 holds {on_full} chunks, {h['used']} of "
              f"{h['capacity']} bytes")
        assert 0 < on_full < 20
        assert h["used"] <= h["capacity"]
        assert not list((mnt / "corrupt").glob("*"))
    finally:
        if mnt is not None:
            fu.release_tmpfs(c, 1, mnt)


@pytest.mark.dfs_timeout(240)
def test_whole_cluster_full(make_cluster, scratch):
    c = make_cluster(chunkservers=3)
    c.allow(FULL_NOISE)
    mnts = {}
    try:
        for i in (1, 2, 3):
            mnts[i] = fu.move_chunkd_to_tmpfs(c, i, 16 * MiB)
        small = os.urandom(2 * MiB + 5)
        (c.mount / "small").write_bytes(small)
        src = scratch / "big"
        write_random_file(src, 48 * MiB)
        r = subprocess.run(["cp", str(src), str(c.mount / "big")],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode != 0
        assert "No space left on device" in r.stderr, r.stderr
        c.remount()
        assert (c.mount / "small").read_bytes() == small
        f = fu.fsck(c, "/small")
        assert fu.is_healthy(f), f
        for i in mnts:
            assert not list((mnts[i] / "corrupt").glob("*"))
    finally:
        for i, m in mnts.items():
            fu.release_tmpfs(c, i, m)


@pytest.mark.dfs_timeout(240)
def test_small_files_between_heartbeats(make_cluster):
    c = make_cluster(chunkservers=3, chunk_size=16 * MiB)
    mnts = {}
    try:
        for i in (1, 2, 3):
            mnts[i] = fu.move_chunkd_to_tmpfs(c, i, 64 * MiB)
        # Every server has reported its (small) chunks once.
        (c.mount / "first").write_bytes(b"x" * 4096)
        fu.wait_healthy(c, 60)
        n = 40
        before = master_requests(c, "/api/chunks")
        for i in range(n):
            (c.mount / f"f{i}").write_bytes(os.urandom(4096 + i))
        # Each create placed its file's chunk (EP_CREATE "chunk"), as an
        # EP_CHUNKS write would have, between two heartbeats.
        asked = master_requests(c, "/api/chunks") - before
        assert asked == 0, f"{asked} EP_CHUNKS for {n} new files"
        for i in range(n):
            chunks = c.stat(f"/f{i}")["chunks"]
            assert len(chunks) == 1
            assert len(set(chunks[0]["replicas"])) == 3, chunks
        c.remount()
        for i in range(n):
            assert len((c.mount / f"f{i}").read_bytes()) == 4096 + i
    finally:
        for i, m in mnts.items():
            fu.release_tmpfs(c, i, m)
