"""Chunk locations sent with an open (EP_OPEN "chunks") and with a create
(EP_CREATE "chunk": the new file's chunk 0 and its write lease).

- test_reads_need_few_chunk_lookups: reading N small files through a
  freshly mounted client asks the master for chunk locations (EP_CHUNKS)
  far fewer than N times, and every byte is right.
- test_growth_past_open_is_read: a handle opened when the file had one
  chunk reads the chunks another mount appends afterwards (the locations
  that came with the open never stand for chunks past the end it saw).
- test_truncate_after_open_reads_zeros: a file opened with O_TRUNC and
  written sparsely reads zeros in its holes through that handle, not
  the chunks the open reported before the truncate.
- test_small_writes_need_no_chunk_lookups: writing N small new files
  asks the master for chunk locations (EP_CHUNKS) far fewer than N
  times, and each file has its one chunk with every byte right.
- test_cached_reopen_asks_no_locations: a file this mount has read is
  opened again without its chunk locations (its pages are in the
  kernel's cache): once the kernel dropped them, the read asks for the
  locations itself and reads every byte right; and a reopen that finds
  the file rewritten through another mount reads the new bytes.
- test_created_chunk_never_written: a file created and closed without a
  write has the chunk its create placed; grown by a truncate it reads
  zeros through this mount and another one, `dfs fsck` is clean, a write
  then lands, and a file left empty loses that chunk once its lease is
  over.
"""

import os
import subprocess

from dfstest import KiB, MiB, master_requests, wait_until


def test_reads_need_few_chunk_lookups(cluster, mnt):
    n = 40
    for i in range(n):
        (mnt / f"f{i}").write_bytes(b"%d" % i * (100 + i))
    cluster.remount()
    before = master_requests(cluster, "/api/chunks")
    for i in range(n):
        assert (mnt / f"f{i}").read_bytes() == b"%d" % i * (100 + i)
    lookups = master_requests(cluster, "/api/chunks") - before
    assert lookups < n // 4, f"{lookups} EP_CHUNKS for {n} cold reads"


def test_growth_past_open_is_read(cluster, mnt, tmp_path):
    cs = cluster.chunk_size
    assert cs == MiB
    first, second = os.urandom(cs), os.urandom(cs // 2)
    (mnt / "grow").write_bytes(first)
    other = cluster.mount_extra(tmp_path / "other")
    try:
        rel = mnt.relative_to(cluster.mount)
        with open(mnt / "grow", "rb") as reader:
            assert reader.read(cs) == first
            with open(other / rel / "grow", "ab") as w:
                w.write(second)
            # This mount learns the new size within its attr timeout.
            wait_until(lambda: os.fstat(reader.fileno()).st_size ==
                       cs + len(second), 10, "the appended size")
            reader.seek(cs)
            assert reader.read() == second
    finally:
        cluster.unmount_extra(other)


def test_truncate_after_open_reads_zeros(cluster, mnt):
    cs = cluster.chunk_size
    f = mnt / "sparse"
    f.write_bytes(os.urandom(3 * cs))
    cluster.remount()
    # O_TRUNC: the open reports the old chunks, then cuts them.
    fd = os.open(f, os.O_RDWR | os.O_TRUNC)
    try:
        os.pwrite(fd, b"end", 2 * cs)
        data = os.pread(fd, 3 * cs, 0)
    finally:
        os.close(fd)
    assert len(data) == 2 * cs + 3
    assert data[:2 * cs] == bytes(2 * cs), "old chunks read after O_TRUNC"
    assert data[2 * cs:] == b"end"
    assert f.read_bytes() == data


def test_small_writes_need_no_chunk_lookups(cluster, mnt):
    n = 40
    before = master_requests(cluster, "/api/chunks")
    for i in range(n):
        (mnt / f"s{i}").write_bytes(b"%d" % i * (100 + i))
    lookups = master_requests(cluster, "/api/chunks") - before
    assert lookups <= n // 10, f"{lookups} EP_CHUNKS for {n} new files"
    cluster.remount()
    rel = "/" + str(mnt.relative_to(cluster.mount))
    for i in range(n):
        assert (mnt / f"s{i}").read_bytes() == b"%d" % i * (100 + i)
        st = cluster.stat(f"{rel}/s{i}")
        assert len(st["chunks"]) == 1
        assert len(st["chunks"][0]["replicas"]) == 3


def drop_page_cache():
    subprocess.run(["sync"], check=True, timeout=60)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1")


def test_cached_reopen_asks_no_locations(cluster, mnt, tmp_path):
    # Whole pages and a partial one: the mount keeps only the partial
    # last page itself (file_tail.h), the rest must come from a replica.
    data = os.urandom(64 * KiB + 100)
    f = mnt / "cached"
    f.write_bytes(data)
    cluster.remount()
    assert f.read_bytes() == data
    before = master_requests(cluster, "/api/chunks")
    for _ in range(3):
        assert f.read_bytes() == data
    assert master_requests(cluster, "/api/chunks") == before
    # The reopen carried no locations: without the pages, the read asks
    # (once, or once per read the kernel sends at the same time).
    drop_page_cache()
    assert f.read_bytes() == data
    assert master_requests(cluster, "/api/chunks") > before
    # Rewritten elsewhere (same size): the reopen drops the cached pages
    # and reads the new bytes through locations it asks for.
    new = os.urandom(len(data))
    other = cluster.mount_extra(tmp_path / "other")
    try:
        (other / mnt.relative_to(cluster.mount) / "cached").write_bytes(new)
    finally:
        cluster.unmount_extra(other)
    # This mount's attrs of the file may be trusted for its attr timeout.
    wait_until(lambda: f.read_bytes() == new, 10, "the rewritten bytes")


def test_created_chunk_never_written(cluster, mnt, tmp_path):
    rel = "/" + str(mnt.relative_to(cluster.mount))
    (mnt / "empty").touch()
    (mnt / "grown").touch()
    assert len(cluster.stat(f"{rel}/grown")["chunks"]) == 1
    os.truncate(mnt / "grown", 100 * KiB)
    assert (mnt / "grown").read_bytes() == bytes(100 * KiB)
    other = cluster.mount_extra(tmp_path / "other")
    try:
        assert (other / rel[1:] / "grown").read_bytes() == bytes(100 * KiB)
    finally:
        cluster.unmount_extra(other)
    assert cluster.dfs("fsck", check=False).returncode == 0
    with open(mnt / "grown", "r+b") as f:
        f.seek(10 * KiB)
        f.write(b"written")
    cluster.remount()
    data = (mnt / "grown").read_bytes()
    assert data == bytes(10 * KiB) + b"written" + bytes(90 * KiB - 7)
    # The lease of the empty file's chunk ends 10 s after the create; the
    # chunk goes at its servers' next reports after a grace of 10 s.
    wait_until(lambda: cluster.stat(f"{rel}/empty")["chunks"] == [], 60,
               "the unwritten chunk of an empty file to go")
    assert (mnt / "empty").read_bytes() == b""
    assert cluster.dfs("fsck", check=False).returncode == 0
