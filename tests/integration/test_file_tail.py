"""The partial last page of a file the mount wrote (fusefs/file_tail.h).

The kernel keeps the pages a write filled whole but not a partial last
page; the mount keeps that page's bytes from the writes and answers the
read of it from memory.

- test_read_back_from_memory: files of one page and files ending
  mid-page, copied in with cp -a or written straight (the close moves
  their mtime: the kernel must keep their pages all the same), read back
  through the same mount, read right with no replica opened on any chunk
  server (local read socket or HTTP); a second mount reading them does
  open replicas (so the check can fail).
- test_changes_through_this_mount: truncates, O_TRUNC, rewrites inside
  and past the last page, O_APPEND records and a size grown by
  ftruncate: every read back through the mount gives the file's bytes.
- test_change_through_other_mount: a file rewritten through another
  mount at the same size, and one shrunk there, read back through the
  first (which kept its last page) after a reopen: the new bytes.
"""

import os
import re
import subprocess
import urllib.request

from dfstest import MiB, http_requests


def local_opens(cluster):
    """Replicas the chunk servers handed out through their local read
    sockets (dfs_chunkd_local_opens_total), all results."""
    total = 0
    for addr in cluster.chunkd_addrs():
        with urllib.request.urlopen(f"http://{addr}/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        for line in text.splitlines():
            m = re.match(r'^dfs_chunkd_local_opens_total\{[^}]*\} (\S+)$',
                         line)
            if m:
                total += int(float(m.group(1)))
    return total


def replica_reads(cluster):
    return local_opens(cluster) + sum(
        http_requests(a, "/chunk/read") for a in cluster.chunkd_addrs())


SIZES = (1, 100, 4095, 4097, 10_000, 65_537, MiB + 3)


def test_read_back_from_memory(cluster, mnt, scratch, tmp_path_factory):
    # cp -a: the files' times come along, so the kernel keeps the pages
    # the copy filled whole.
    src = scratch / "src"
    src.mkdir()
    files = {}
    for i, n in enumerate(SIZES):
        files[f"f{i}"] = os.urandom(n)
        (src / f"f{i}").write_bytes(files[f"f{i}"])
    subprocess.run(["cp", "-a", str(src), str(mnt / "tree")], check=True,
                   timeout=60)
    paths = {mnt / "tree" / k: v for k, v in files.items()}
    # Written straight, without setting times: the new mtime the close
    # gives them must not drop the pages either.
    for i, n in enumerate(SIZES):
        data = os.urandom(n)
        (mnt / f"w{i}").write_bytes(data)
        paths[mnt / f"w{i}"] = data
    # Many small writes in a row (a script appending lines).
    with open(mnt / "lines", "wb", buffering=0) as f:
        for i in range(300):
            f.write(b"line %d\n" % i)
    paths[mnt / "lines"] = b"".join(b"line %d\n" % i for i in range(300))

    before = replica_reads(cluster)
    for path, data in paths.items():
        assert path.read_bytes() == data, path
    # All 15 files end mid-page: without the kept pages each opens a
    # replica, and the 7 written straight open one or more each if a
    # close's mtime drops the kernel's pages. In 3 of 2,000 files of
    # 1 MiB + 3 the kernel does not keep one or two whole pages from
    # the middle of what was just written (traced: aligned WRITEs,
    # keep_cache set, no memory reclaimed; README, "Known limits"), and
    # each is one 4 KiB read of a replica.
    assert replica_reads(cluster) - before <= 2, \
        "reading back what this mount wrote opened replicas"

    second = cluster.mount_extra(tmp_path_factory.mktemp("tail") / "mnt")
    try:
        for path, data in paths.items():
            there = second / path.relative_to(cluster.mount)
            assert there.read_bytes() == data, there
        assert replica_reads(cluster) > before
    finally:
        cluster.unmount_extra(second)


def test_changes_through_this_mount(mnt):
    f = mnt / "f"
    model = bytearray(os.urandom(5000))
    f.write_bytes(model)
    assert f.read_bytes() == model

    fd = os.open(f, os.O_WRONLY)
    try:
        os.ftruncate(fd, 4200)          # cuts the kept page
        os.ftruncate(fd, 5000)          # and grows it back with zeros
        del model[4200:]
        model += bytes(800)
    finally:
        os.close(fd)
    assert f.read_bytes() == model

    with open(f, "r+b") as fh:          # inside the last page
        fh.seek(4500)
        fh.write(b"x" * 100)
    model[4500:4600] = b"x" * 100
    assert f.read_bytes() == model

    with open(f, "r+b") as fh:          # past it, leaving a hole
        fh.seek(9000)
        fh.write(b"tail")
    model += bytes(9000 - len(model)) + b"tail"
    assert f.read_bytes() == model

    with open(f, "ab", buffering=0) as fh:  # record appends
        for i in range(5):
            fh.write(b"rec%d;" % i)
    model += b"".join(b"rec%d;" % i for i in range(5))
    assert f.read_bytes() == model

    with open(f, "wb") as fh:           # O_TRUNC, then shorter
        fh.write(b"short")
    assert f.read_bytes() == b"short"

    os.truncate(f, 3)
    assert f.read_bytes() == b"sho"
    fd = os.open(f, os.O_WRONLY)
    try:
        os.ftruncate(fd, 6000)
    finally:
        os.close(fd)
    assert f.read_bytes() == b"sho" + bytes(5997)


def test_change_through_other_mount(cluster, mnt, tmp_path_factory):
    second = cluster.mount_extra(tmp_path_factory.mktemp("tail") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount)
        old = os.urandom(6000)
        (mnt / "f").write_bytes(old)
        assert (mnt / "f").read_bytes() == old
        new = os.urandom(6000)
        (there / "f").write_bytes(new)
        assert (mnt / "f").read_bytes() == new, "stale last page"
        os.truncate(there / "f", 5000)
        assert (mnt / "f").read_bytes() == new[:5000]
    finally:
        cluster.unmount_extra(second)
