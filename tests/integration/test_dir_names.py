"""Names missing from directories a mount made, answered by the mount
under a lease of the directory (fusefs/dir_names.h,
masterd/dir_leases.h).

- test_creates_skip_lookups: 300 files created in a directory the mount
  made ask the master for no lookup; in a directory another mount made
  every create is preceded by one (so the count can fail).
- test_other_mount_change: another mount's create in a directory this
  mount holds the lease of waits for the lease's end, and then shows
  here at once: an O_CREAT open of that name opens the other mount's
  file (its bytes kept), O_EXCL fails with EEXIST, a plain read finds
  it; the mount asks the master again while the directory changes
  hands.
"""

import os
import time

import pytest

from dfstest import http_requests


def lookups(cluster):
    return http_requests(cluster.master, "/api/lookup")


def create_files(d, n):
    for i in range(n):
        fd = os.open(d / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.write(fd, b"%d" % i)
        finally:
            os.close(fd)


def test_creates_skip_lookups(cluster, mnt, second):
    (second / mnt.relative_to(cluster.mount) / "theirs").mkdir()
    theirs = mnt / "theirs"
    assert theirs.is_dir()
    mine = mnt / "mine"
    mine.mkdir()
    before = lookups(cluster)
    create_files(mine, 300)
    assert lookups(cluster) - before < 10
    assert sorted(os.listdir(mine)) == sorted(f"f{i}" for i in range(300))
    assert (mine / "f299").read_bytes() == b"299"

    before = lookups(cluster)
    create_files(theirs, 100)
    assert lookups(cluster) - before >= 100


def test_other_mount_change(cluster, mnt, second):
    d = mnt / "d"
    d.mkdir()
    (d / "mine").write_bytes(b"mine")
    there = second / mnt.relative_to(cluster.mount) / "d"
    t0 = time.monotonic()
    (there / "x").write_bytes(b"theirs")
    waited = time.monotonic() - t0
    (there / "late").write_bytes(b"late")

    fd = os.open(d / "x", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    assert (d / "x").read_bytes() == b"theirs"
    with pytest.raises(FileExistsError):
        os.open(d / "x", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    assert (d / "late").read_bytes() == b"late"
    # Their change waited for this mount's lease, which is short.
    assert waited < 5
    # Changed hands: the master answers this mount's lookups now.
    before = lookups(cluster)
    assert not (d / "nothing").exists()
    assert lookups(cluster) > before
