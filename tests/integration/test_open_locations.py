"""Chunk locations sent with an open (EP_OPEN "chunks").

- test_reads_need_few_chunk_lookups: reading N small files through a
  freshly mounted client asks the master for chunk locations (EP_CHUNKS)
  far fewer than N times, and every byte is right.
- test_growth_past_open_is_read: a handle opened when the file had one
  chunk reads the chunks another mount appends afterwards (the locations
  that came with the open never stand for chunks past the end it saw).
- test_truncate_after_open_reads_zeros: a file opened with O_TRUNC and
  written sparsely reads zeros in its holes through that handle, not
  the chunks the open reported before the truncate.
"""

import os

from dfstest import MiB, master_requests, wait_until


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
