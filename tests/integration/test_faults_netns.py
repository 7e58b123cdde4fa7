"""A network partition (issue 4): one chunk server runs in a network
namespace of its own, linked to the rest of the cluster by a veth pair
made by the test (faultutil.NetnsCluster: 4 servers, 1 MiB chunks,
replication 3, heartbeat timeout 3 s).

- test_partitioned_chunkd: files are written; the link to the
  namespace is brought down. Observed: the master declares that server
  dead within the heartbeat timeout plus a few seconds; every file reads
  back identical through a fresh mount; a file is overwritten and a new
  one written while the server is cut off; fsck becomes healthy on the
  three others. The link is brought up again. Observed: the server comes
  back; its replicas of the overwritten chunks (an old version) are
  never listed for reading and are deleted; its surplus replicas are
  trimmed, so every chunk ends with exactly 3 live replicas, all at the
  current version; every file reads back identical.
"""

import hashlib
import os
import shutil
import time

import pytest

import faultutil as fu
from dfstest import BIN, LIVE_CLUSTERS, MiB, wait_until

NOISE = (r"(refused|unreachable|dead|failed|giving up|reset|timed out|"
         r"reach|stale|STALE|connect|Network|route)")


@pytest.fixture
def netns_cluster(request, tmp_path_factory):
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2")
    c = fu.NetnsCluster(tmp_path_factory.mktemp("netns"))
    try:
        c.start()
        yield c
    finally:
        problems = c.stop()
        if c.warnings:
            print("\n".join(c.warnings[-20:]))
        assert not problems, "\n".join(problems)


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.dfs_timeout(300)
def test_partitioned_chunkd(netns_cluster):
    c = netns_cluster
    c.allow(NOISE)
    far = c.chunkd_addr(c.nservers)
    files = {f"/f{i}": os.urandom(MiB * (i + 1) + 333) for i in range(6)}
    for name, data in files.items():
        (c.mount / name[1:]).write_bytes(data)
    held = {h: ch["version"] for h, ch in fu.all_chunks(c, files).items()
            if far in ch["replicas"]}
    assert held, "the far server holds nothing"

    cut_at = time.monotonic()
    c.cut()
    fu.wait_alive(c, far, alive=False, timeout=20)
    print(f"declared dead {time.monotonic() - cut_at:.1f} s after the cut")
    c.remount()
    for name, data in files.items():
        assert (c.mount / name[1:]).read_bytes() == data, name
    files["/f0"] = os.urandom(len(files["/f0"]))
    with open(c.mount / "f0", "r+b") as f:
        f.write(files["/f0"])
    files["/new"] = os.urandom(2 * MiB)
    (c.mount / "new").write_bytes(files["/new"])
    fu.wait_healthy(c, 60)

    c.heal()
    fu.wait_alive(c, far, alive=True, timeout=60)
    current = fu.all_chunks(c, files)

    def settled():
        # The far server is never offered for a chunk it holds stale.
        for name in files:
            ino = os.stat(c.mount / name[1:]).st_ino
            for ch in fu.read_locations(c, ino, 0, 16):
                if far in ch["replicas"]:
                    st, info = fu.chunk_info(far, ch["handle"])
                    assert st == 200 and info["version"] == ch["version"]
        for h, v in held.items():
            st, info = fu.chunk_info(far, h)
            if st == 200 and info["version"] < current[h]["version"]:
                return False
        f = fu.fsck(c)
        chunks = fu.all_chunks(c, files)
        return fu.is_healthy(f) and all(
            len(ch["replicas"]) == 3 for ch in chunks.values())
    wait_until(settled, 90, "the returned server to be settled", 0.5)
    for h, ch in fu.all_chunks(c, files).items():
        for a in ch["replicas"]:
            st, info = fu.chunk_info(a, h)
            assert st == 200 and info["version"] == ch["version"], (a, ch)
    c.remount()
    for name, data in files.items():
        assert (c.mount / name[1:]).read_bytes() == data, name
