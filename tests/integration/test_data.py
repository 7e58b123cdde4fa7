"""File data through the mount, on one shared cluster (1 MiB chunks, 3
chunk servers, replication 3).

- test_big_file_copy: a 200 MiB random file copied in with cp and out
  again (after a remount, so from the chunk servers, and with `dfs get`)
  is identical (sha256); `dfs stat --json` lists 200 chunks, each on 3
  distinct live servers; and every replica file on disk holds exactly the
  bytes of its slice of the source.
- test_random_writes_match_reference: random pwrites straddling chunk
  boundaries, truncates down and up and writes far past the end, applied
  to a DFS file and a local reference file; both are equal byte for byte
  through the mount, after a remount and via `dfs get`.
- test_truncate_then_grow_reads_zeros: bytes cut by a truncate read as
  zeros when the file grows again, inside and across chunks.
- test_sparse_file: holes read as zeros and allocate no chunks.
- test_append_and_small_writes: O_APPEND and many small writes.
"""

import os
import random

import pytest

from dfstest import MiB, run, sha256_file, wait_until, write_random_file


def replica_bytes(cluster, addr, handle):
    with open(cluster.replica_path(addr, handle), "rb") as f:
        return f.read()


def on_disk(cluster, handle):
    """{server address: replica file size} for every server holding a
    data file of the chunk (a diagnostic for failed checks)."""
    out = {}
    for addr in cluster.chunkd_addrs():
        p = cluster.replica_path(addr, handle)
        if p.exists():
            out[addr] = p.stat().st_size
    return out


def check_replicas(cluster, path, data):
    """stat PATH: every chunk on `replication` distinct live servers, each
    replica file equal to its slice of data (shorter only where the source
    is zero), and only all-zero slices without a chunk (holes)."""
    st = cluster.stat(path)
    cs = cluster.chunk_size
    assert st["path"] == path
    assert st["size"] == len(data)
    assert st["replication"] == cluster.replication
    nchunks = (len(data) + cs - 1) // cs
    chunks = sorted(st["chunks"], key=lambda c: c["index"])
    indexes = [c["index"] for c in chunks]
    assert len(set(indexes)) == len(indexes) and set(indexes) <= set(
        range(nchunks)), indexes
    for i in set(range(nchunks)) - set(indexes):
        hole = data[i * cs:(i + 1) * cs]
        assert hole.count(0) == len(hole), f"chunk {i} missing"
    assert len({c["handle"] for c in chunks}) == len(chunks)
    addrs = set(cluster.chunkd_addrs())
    for c in chunks:
        reps = c["replicas"]
        assert len(reps) == cluster.replication, \
            f"{c}; replica files on disk: {on_disk(cluster, c['handle'])}"
        assert len(set(reps)) == len(reps), f"replicas not distinct: {c}"
        assert set(reps) <= addrs, c
        assert c["version"] >= 1
        want = data[c["index"] * cs:(c["index"] + 1) * cs]
        for addr in reps:
            got = replica_bytes(cluster, addr, c["handle"])
            assert len(got) <= cs
            assert got == want[:len(got)], \
                f"chunk {c['index']} replica on {addr} differs"
            assert want[len(got):].count(0) == len(want) - len(got), \
                f"chunk {c['index']} replica on {addr} is short"
    return st


@pytest.mark.dfs_timeout(600)
def test_big_file_copy(cluster, mnt, scratch):
    size = 200 * MiB
    src = scratch / "src.bin"
    digest = write_random_file(src, size)
    dst = mnt / "big.bin"
    run(["cp", src, dst], timeout=300)
    assert os.path.getsize(dst) == size

    cluster.remount()
    out = scratch / "out.bin"
    run(["cp", dst, out], timeout=300)
    assert sha256_file(out) == digest
    out.unlink()

    dfs_path = "/" + str(dst.relative_to(cluster.mount))
    cluster.dfs("get", "-q", dfs_path, out, timeout=300)
    assert sha256_file(out) == digest
    out.unlink()

    st = check_replicas(cluster, dfs_path, src.read_bytes())
    assert len(st["chunks"]) == 200
    # Replicas spread over all three servers, roughly evenly.
    per_server = {}
    for c in st["chunks"]:
        for a in c["replicas"]:
            per_server[a] = per_server.get(a, 0) + 1
    assert sorted(per_server) == sorted(cluster.chunkd_addrs())
    os.unlink(dst)


def apply_ops(fds, rng, cs, nops):
    """Apply the same random operations to every fd in fds."""
    size = 0
    for _ in range(nops):
        op = rng.random()
        if op < 0.65:
            boundary = rng.randrange(0, 8) * cs
            off = max(0, boundary + rng.randrange(-3000, 3000))
            length = rng.choice([1, 17, 4096, 65536 + 7, cs // 2 + 3,
                                 cs + 12345, 2 * cs + 1])
            buf = rng.randbytes(length)
            for fd in fds:
                assert os.pwrite(fd, buf, off) == length
            size = max(size, off + length)
        elif op < 0.85:
            new = rng.choice([0, rng.randrange(0, max(1, size)),
                              rng.randrange(size, size + 3 * cs),
                              rng.randrange(0, 6) * cs])
            for fd in fds:
                os.ftruncate(fd, new)
            size = new
        else:
            off = size + rng.randrange(cs, 4 * cs)
            buf = rng.randbytes(rng.randrange(1, 5000))
            for fd in fds:
                os.pwrite(fd, buf, off)
            size = off + len(buf)
    return size


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def test_random_writes_match_reference(cluster, mnt, scratch):
    cs = cluster.chunk_size
    rng = random.Random(20261123)
    ref_path, dfs_file = scratch / "ref.bin", mnt / "random.bin"
    ref = os.open(ref_path, os.O_RDWR | os.O_CREAT, 0o644)
    fd = os.open(dfs_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for round_ in range(4):
            size = apply_ops([ref, fd], rng, cs, 30)
            # Read back through the open handle, as an application would.
            assert os.fstat(fd).st_size == size
            assert os.pread(fd, size + 10, 0) == os.pread(ref, size + 10, 0)
    finally:
        os.close(fd)
        os.close(ref)
    want = read_all(ref_path)
    assert read_all(dfs_file) == want
    cluster.remount()
    assert os.path.getsize(dfs_file) == len(want)
    assert read_all(dfs_file) == want, "differs after remount"
    out = scratch / "got.bin"
    cluster.dfs("get", "-q", "/" + str(dfs_file.relative_to(cluster.mount)),
                out)
    assert read_all(out) == want, "dfs get differs"


def test_truncate_then_grow_reads_zeros(cluster, mnt):
    cs = cluster.chunk_size
    path = mnt / "trunc.bin"
    data = os.urandom(3 * cs + cs // 2)
    with open(path, "wb") as f:
        f.write(data)
    for cut in (2 * cs + 100, cs + 5, cs, 77, 0):
        os.truncate(path, cut)
        assert os.path.getsize(path) == cut
        os.truncate(path, 4 * cs)
        got = read_all(path)
        assert got[:cut] == data[:cut]
        assert got[cut:] == bytes(4 * cs - cut), f"garbage after {cut}"
        with open(path, "r+b") as f:
            f.write(data)
    cluster.remount()
    assert read_all(path)[:len(data)] == data


def test_sparse_file(cluster, mnt):
    cs = cluster.chunk_size
    path = mnt / "sparse.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"x", 5 * cs + 100)
        os.pwrite(fd, b"yz", 9 * cs - 2)  # straddles chunks 8 and 9
    finally:
        os.close(fd)
    size = 9 * cs
    assert os.path.getsize(path) == size
    want = bytearray(size)
    want[5 * cs + 100] = ord("x")
    want[9 * cs - 2:9 * cs] = b"yz"
    assert read_all(path) == want
    cluster.remount()
    assert read_all(path) == want
    st = cluster.stat("/" + str(path.relative_to(cluster.mount)))
    assert st["size"] == size
    # Chunk 0 may still be the one the create placed for its writer
    # (EP_CREATE "chunk"): never written, it is on no server, reads as
    # zeros and goes once its lease is over.
    assert sorted(c["index"] for c in st["chunks"] if c["index"] != 0) == \
        [5, 8], "holes must not allocate chunks"
    for c in st["chunks"]:
        if c["index"] == 0:
            assert on_disk(cluster, c["handle"]) == {}, c
    wait_until(lambda: sorted(c["index"] for c in cluster.stat(
        st["path"])["chunks"]) == [5, 8], 60, "the unwritten chunk 0 to go")
    check_replicas(cluster, st["path"], bytes(want))


def test_append_and_small_writes(cluster, mnt):
    path = mnt / "append.log"
    want = b""
    for i in range(300):
        line = f"line {i} {'x' * (i % 50)}\n".encode()
        with open(path, "ab") as f:
            f.write(line)
        want += line
    assert read_all(path) == want
    with open(path, "wb") as f:  # many tiny writes in one open
        for i in range(5000):
            f.write(b"%d," % i)
    want = b"".join(b"%d," % i for i in range(5000))
    cluster.remount()
    assert read_all(path) == want
