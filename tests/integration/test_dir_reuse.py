"""fusefs keeps a whole directory listing for the next opendir of the
same directory (ops_dir.c), while younger than attr_timeout and while
this mount changed nothing since.

- test_rm_rf_lists_each_directory_once: rm -rf opens every directory
  twice; the master now serves about one EP_READDIR per directory, not
  two (counted by its dfs_http_requests_total metric).
- test_own_changes_seen_at_once: a listing kept, then a create, unlink
  or rename in the directory through this mount: the next listing shows
  it.
- test_other_mount_staleness_bounded: a name created through mount A
  shows in mount B's listing within attr_timeout plus a margin, even
  right after B listed the directory.
"""

import os
import subprocess
import time

from dfstest import master_requests, wait_until

# fusefs's default attr_timeout, seconds.
ATTR_TIMEOUT = 1.0


def test_rm_rf_lists_each_directory_once(cluster, mnt):
    ndirs = 40
    top = mnt / "tree"
    for i in range(ndirs):
        d = top / f"d{i}"
        d.mkdir(parents=True)
        for j in range(5):
            (d / f"f{j}").write_bytes(b"%d" % j)
    before = master_requests(cluster, "/api/readdir")
    subprocess.run(["rm", "-rf", str(top)], check=True, timeout=120)
    served = master_requests(cluster, "/api/readdir") - before
    assert not top.exists()
    # rm opens each of the ndirs + 1 directories twice: 2 * 41 before.
    assert served <= (ndirs + 1) * 1.25, \
        f"{served} master readdirs for {ndirs + 1} directories"


def test_own_changes_seen_at_once(mnt):
    d = mnt / "d"
    d.mkdir()
    (d / "a").write_bytes(b"a")
    assert sorted(os.listdir(d)) == ["a"]
    assert sorted(os.listdir(d)) == ["a"]      # kept, then reused
    (d / "b").write_bytes(b"b")
    assert sorted(os.listdir(d)) == ["a", "b"]
    os.unlink(d / "a")
    assert sorted(os.listdir(d)) == ["b"]
    os.rename(d / "b", d / "c")
    assert sorted(os.listdir(d)) == ["c"]
    with open(d / "c", "ab") as f:
        f.write(b"more")
    assert [(e.name, e.stat().st_size) for e in os.scandir(d)] == \
        [("c", 5)]


def test_other_mount_staleness_bounded(cluster, mnt, tmp_path_factory):
    second = cluster.mount_extra(tmp_path_factory.mktemp("reuse") / "mnt")
    try:
        a = mnt / "d"
        a.mkdir()
        (a / "old").write_bytes(b"o")
        b = second / mnt.relative_to(cluster.mount) / "d"
        assert os.listdir(b) == ["old"]
        start = time.monotonic()
        (a / "new").write_bytes(b"n")
        wait_until(lambda: sorted(os.listdir(b)) == ["new", "old"],
                   ATTR_TIMEOUT + 2, "a new name to show on the other mount",
                   interval=0.02)
        took = time.monotonic() - start
        assert took < ATTR_TIMEOUT + 0.5, f"stale for {took:.2f} s"
    finally:
        cluster.unmount_extra(second)
