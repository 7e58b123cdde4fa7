"""Record appends from several mounts at once (GFS record append).

Every write() to a descriptor opened with O_APPEND reserves its range at
the end of the file with the master (EP_APPEND) before the data goes to
the chunk servers, so concurrent appenders on different mounts never
overwrite or interleave each other.

- test_concurrent_appends: 4 writer processes, 2 on each of 2 mounts,
  append 2,500 self-checking records each (16 B to 9 KB) to one file.
  Read back through both mounts, the file is exactly the sum of the
  records; every record is whole (its digest matches), appears once, and
  each writer's records are in the order it wrote them.
- test_large_appends_cross_chunks: records of 100 KiB to 1000 KiB (1 MiB
  chunks), so many cross a chunk boundary; same checks. (A record is
  atomic up to 1020 KiB: FUSE hands the file system a larger write() in
  pieces of at most 1 MiB, 256 pages, each appended on its own, as GFS
  bounds its record appends too.)
- test_append_after_positional_write: a positional write buffered on one
  handle and then an O_APPEND write on another handle of the same mount:
  the append lands after the first write's end.
"""

import hashlib
import os
import re
import subprocess
import sys

import pytest

WRITER = r"""
import hashlib, os, random, sys
path, wid, n, seed, lo, hi = sys.argv[1:7]
wid, n, lo, hi = int(wid), int(n), int(lo), int(hi)
rng = random.Random(int(seed))
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
total = 0
for seq in range(n):
    size = rng.choice([lo, lo + 84, rng.randrange(lo, hi), hi])
    body = rng.randbytes(size // 2 + 1).hex()[:size].encode()
    head = b"<%d:%d:%d>" % (wid, seq, size)
    rec = head + body + hashlib.sha1(head + body).hexdigest().encode() + b"\n"
    if os.write(fd, rec) != len(rec):
        sys.exit("short write")
    total += len(rec)
os.close(fd)
print(total)
"""

RECORD_RE = re.compile(rb"^<(\d+):(\d+):(\d+)>([0-9a-f]*)([0-9a-f]{40})$")


def run_writers(paths, nrec, lo, hi):
    """One writer process per path; returns the bytes each wrote."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(p),
                               str(i), str(nrec), str(1000 + i), str(lo),
                               str(hi)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, p in enumerate(paths)]
    totals = []
    for p in procs:
        out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err.decode()
        totals.append(int(out))
    return totals


def check_records(data, nwriters, nrec):
    """Every record whole, once, each writer's in order."""
    lines = data.split(b"\n")
    assert lines[-1] == b"", "the file does not end with a whole record"
    last = [-1] * nwriters
    seen = 0
    for i, line in enumerate(lines[:-1]):
        m = RECORD_RE.match(line)
        assert m, f"record {i} is damaged: {line[:80]!r}...{line[-60:]!r}"
        wid, seq, size = int(m[1]), int(m[2]), int(m[3])
        body = m[4]
        assert len(body) == size, f"record {i} ({wid}:{seq}) has " \
            f"{len(body)} bytes of body, not {size}"
        head = b"<%d:%d:%d>" % (wid, seq, size)
        assert hashlib.sha1(head + body).hexdigest().encode() == m[5], \
            f"record {i} ({wid}:{seq}) fails its digest"
        assert seq == last[wid] + 1, \
            f"writer {wid}: record {seq} follows {last[wid]}"
        last[wid] = seq
        seen += 1
    assert last == [nrec - 1] * nwriters, f"last records seen: {last}"
    assert seen == nwriters * nrec


def appenders(cluster, mnt, second, name, nrec, lo, hi):
    other = second / mnt.relative_to(cluster.mount)
    target_a, target_b = mnt / name, other / name
    totals = run_writers([target_a, target_b, target_a, target_b], nrec,
                         lo, hi)
    for path in (target_a, target_b):
        data = path.read_bytes()
        assert len(data) == sum(totals), \
            f"{path}: {len(data)} bytes, the writers wrote {sum(totals)}"
        assert os.stat(path).st_size == sum(totals)
        check_records(data, 4, nrec)


@pytest.mark.dfs_timeout(400)
def test_concurrent_appends(cluster, mnt, second):
    appenders(cluster, mnt, second, "log", 2500, 16, 9000)


@pytest.mark.dfs_timeout(400)
def test_large_appends_cross_chunks(cluster, mnt, second):
    appenders(cluster, mnt, second, "big", 25, 100 * 1024, 1000 * 1024)


def test_append_after_positional_write(mnt):
    path = mnt / "f"
    path.write_bytes(b"0123456789")
    a = os.open(path, os.O_WRONLY)
    b = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        assert os.pwrite(a, b"ABCDE", 8) == 5    # buffered, grows to 13
        assert os.write(b, b"xyz") == 3
        assert os.write(b, b"!") == 1
    finally:
        os.close(a)
        os.close(b)
    assert path.read_bytes() == b"01234567ABCDExyz!"
