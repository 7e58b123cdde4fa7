"""Time to heal (issue 4 report figure): 1 GiB of data at 1 MiB chunks on
4 chunk servers (replication 3, heartbeat timeout 3 s, the default copy
limits: 2 copies per server, 64 MB/s per receiving server).

- test_heal_time_1gib: the data is written (as 8 files of 128 MiB),
  chunk server 1 is killed with SIGKILL, and the time until fsck reports
  every chunk on 3 live replicas again is measured from the kill, with
  the part spent before the master declared the server dead. Observed:
  healed within the bound below; every file reads back identical. The
  figures are printed (run with -s) and written to
  tests/integration/artifacts/heal-time.txt.
"""

import hashlib
import os
import time

import pytest

import faultutil as fu
from dfstest import GiB, MiB, REPO, wait_until

FILES = 8
SIZE = GiB // FILES
HEAL_BOUND_S = 180


@pytest.mark.dfs_timeout(600)
def test_heal_time_1gib(make_cluster, scratch):
    c = make_cluster(chunkservers=4)
    c.allow(r"(refused|unreachable|dead|failed|reset|timed out)")
    digests = {}
    block = os.urandom(MiB)
    for i in range(FILES):
        h = hashlib.sha256()
        with open(c.mount / f"d{i}", "wb") as f:
            for j in range(SIZE // MiB):
                b = bytes([i, j & 0xff, j >> 8]) + block[3:]
                h.update(b)
                f.write(b)
        digests[f"d{i}"] = h.hexdigest()
    fu.wait_healthy(c, 60)
    victim = c.chunkd_addr(1)
    lost = sum(1 for ch in fu.all_chunks(
        c, [f"/{n}" for n in digests]).values() if victim in ch["replicas"])
    killed = time.monotonic()
    c.kill_chunkd(1)
    fu.wait_alive(c, victim, alive=False)
    dead = time.monotonic() - killed
    fu.wait_healthy(c, HEAL_BOUND_S, interval=0.5)
    healed = time.monotonic() - killed
    line = (f"heal after a chunk server death, 1 GiB at 1 MiB chunks, 4 "
            f"servers: {lost} replicas ({lost} MiB) re-replicated; "
            f"declared dead after {dead:.1f} s, fully replicated "
            f"{healed:.1f} s after the kill ({healed - dead:.1f} s of "
            f"copying, {lost / max(healed - dead, 0.001):.0f} MiB/s)")
    print(line)
    out = REPO / "tests" / "integration" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    (out / "heal-time.txt").write_text(line + "\n")
    c.remount()
    for name, d in digests.items():
        h = hashlib.sha256()
        with open(c.mount / name, "rb") as f:
            while b := f.read(8 * MiB):
                h.update(b)
        assert h.hexdigest() == d, name
