"""Randomized differential test: the mount against a local directory.

tests/helpers/difftest.py applies one seeded sequence of 10,000 random
operations (writes at offsets, reads, truncates, appends, descriptors kept
open across steps, fsync, rename with its flags, unlink, mkdir, rmdir,
link, symlink, chmod, utime, fchmod, futimens, fallocate, xattrs) to a
directory of the mount and to a local directory in lockstep, and compares
every result, errno and touched file after each step and the whole trees
regularly.
The cluster uses 64 KiB chunks, so that the offsets, which cluster around
multiples of the chunk size, cross chunk boundaries all the time.

The seed is random unless DFS_DIFF_SEED is set; a failure prints it with
the command that replays the run, e.g.
    DFS_DIFF_SEED=1234 pytest tests/integration/test_differential.py
"""

import os
import random
import sys

import pytest

from dfstest import REPO, run

DRIVER = REPO / "tests" / "helpers" / "difftest.py"
CHUNK = 64 * 1024
OPS = 10000


@pytest.mark.dfs_timeout(240)
def test_differential(make_cluster, tmp_path):
    c = make_cluster(chunk_size=CHUNK)
    seed = int(os.environ.get("DFS_DIFF_SEED") or random.randrange(1 << 32))
    print(f"difftest seed {seed}")
    test_dir = c.mount / "diff"
    ref_dir = tmp_path / "ref"
    test_dir.mkdir()
    ref_dir.mkdir()
    p = run([sys.executable, DRIVER, "--seed", seed, "--ops", OPS,
             "--chunk-size", CHUNK, test_dir, ref_dir], timeout=200,
            check=False)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, (
        f"difftest seed {seed} failed (replay with DFS_DIFF_SEED={seed}):\n"
        f"{p.stdout[-6000:]}{p.stderr[-3000:]}")
