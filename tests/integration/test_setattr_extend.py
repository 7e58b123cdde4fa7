"""A setattr that sets mtime on a file with buffered writes (cp -a's
futimens() before close) carries the size update of that data
(PROTO_SET_EXTEND), instead of a flush's own EP_EXTEND before it.

- test_cp_a_sends_no_extend: cp -a of a tree of small files makes no
  EP_EXTEND at all, counted by the master's request metric, and a second
  mount sees every file's bytes, size and nanosecond mtime.
- test_explicit_mtime_then_close: write, futimens(T), close: the other
  mount sees the size and exactly T.
- test_write_after_explicit_mtime: write, futimens(T), write more, close:
  the later write still reaches the master (size, content) and moves
  mtime past T, as POSIX says a write does.
"""

import os
import subprocess

from dfstest import master_requests

# 2020-01-01 12:00:00.123456789 UTC, in nanoseconds.
STAMP_NS = 1577880000123456789


def test_cp_a_sends_no_extend(cluster, mnt, tmp_path, tmp_path_factory):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {}
    for i in range(30):
        rel = f"sub/f{i}" if i % 2 else f"f{i}"
        data = os.urandom(100 + 97 * i)
        (src / rel).write_bytes(data)
        os.utime(src / rel, ns=(STAMP_NS, STAMP_NS + i))
        files[rel] = data
    extends = master_requests(cluster, "/api/extend")
    setattrs = master_requests(cluster, "/api/setattr")
    subprocess.run(["cp", "-a", str(src), str(mnt / "copy")], check=True,
                   timeout=120)
    assert master_requests(cluster, "/api/extend") == extends
    # futimens and fchmod per file, and a few for the directories.
    assert master_requests(cluster, "/api/setattr") - setattrs <= 2 * 30 + 8
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "copy"
        for i, (rel, data) in enumerate(sorted(files.items())):
            st = os.stat(there / rel)
            assert st.st_size == len(data), rel
            assert st.st_mtime_ns == os.stat(src / rel).st_mtime_ns, rel
            assert (there / rel).read_bytes() == data, rel
    finally:
        cluster.unmount_extra(second)


def test_explicit_mtime_then_close(cluster, mnt, tmp_path_factory):
    data = os.urandom(5000)
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS))
        assert os.fstat(fd).st_size == len(data)
        assert os.fstat(fd).st_mtime_ns == STAMP_NS
    finally:
        os.close(fd)
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "f"
        st = os.stat(there)
        assert (st.st_size, st.st_mtime_ns) == (len(data), STAMP_NS)
        assert there.read_bytes() == data
    finally:
        cluster.unmount_extra(second)


def test_write_after_explicit_mtime(cluster, mnt, tmp_path_factory):
    first, more = os.urandom(3000), os.urandom(7000)
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, first)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS))
        os.write(fd, more)
    finally:
        os.close(fd)
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "f"
        st = os.stat(there)
        assert st.st_size == len(first) + len(more)
        assert st.st_mtime_ns > STAMP_NS
        assert there.read_bytes() == first + more
        assert os.stat(mnt / "f").st_mtime_ns == st.st_mtime_ns
    finally:
        cluster.unmount_extra(second)
