"""Two mounts of one cluster: close-to-open consistency between clients.

- test_write_close_read_other_mount: a file written and closed through one
  mount reads identically through the other, in both directions.
- test_overwrite_seen_after_reopen: a client that read (and cached) a file
  sees the other client's overwrite, growth and shrink once that client
  closed it and this one reopens it.
- test_namespace_changes_visible: creates, renames and deletes through one
  mount show through the other.
- test_rename_over_existing_other_mount: while one mount renames new
  versions over a file, a reader on the other mount always finds the file
  whole (old or new content, never missing or mixed).
"""

import os
import threading
import time

import pytest

from dfstest import MiB, sha256_file, wait_until, write_random_file


@pytest.fixture
def dirs(cluster, mnt, second):
    """The test's directory as seen through each mount."""
    return mnt, second / mnt.relative_to(cluster.mount)


def test_write_close_read_other_mount(dirs, scratch):
    a, b = dirs
    src = scratch / "src"
    digest = write_random_file(src, 5 * MiB + 123)
    with open(src, "rb") as fin, open(a / "f1", "wb") as fout:
        fout.write(fin.read())
    assert sha256_file(b / "f1") == digest
    data = os.urandom(3 * MiB + 1)
    (b / "f2").write_bytes(data)
    assert (a / "f2").read_bytes() == data


def test_overwrite_seen_after_reopen(dirs):
    a, b = dirs
    v1 = os.urandom(2 * MiB)
    (a / "f").write_bytes(v1)
    assert (b / "f").read_bytes() == v1  # b now has it cached
    v2 = os.urandom(2 * MiB)
    (a / "f").write_bytes(v2)            # same size, new bytes
    assert (b / "f").read_bytes() == v2, "stale data after reopen"
    v3 = v2 + os.urandom(MiB + 7)
    with open(a / "f", "ab") as f:      # growth
        f.write(v3[len(v2):])
    assert (b / "f").read_bytes() == v3, "growth not seen after reopen"
    os.truncate(a / "f", 1000)           # shrink
    assert (b / "f").read_bytes() == v3[:1000], "shrink not seen"


def test_namespace_changes_visible(dirs):
    a, b = dirs
    (a / "sub").mkdir()
    (a / "sub" / "x").write_bytes(b"x")
    assert (b / "sub" / "x").read_bytes() == b"x"
    os.rename(a / "sub" / "x", a / "sub" / "y")
    assert wait_until(lambda: sorted(os.listdir(b / "sub")) == ["y"], 5,
                      "rename to show on the other mount")
    os.unlink(b / "sub" / "y")
    os.rmdir(b / "sub")
    assert wait_until(lambda: not (a / "sub").exists(), 5,
                      "rmdir to show on the other mount")


def test_rename_over_existing_other_mount(dirs):
    a, b = dirs
    old, new = b"o" * 100000, b"n" * 100000
    (a / "target").write_bytes(old)
    seen, errors = set(), []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                with open(b / "target", "rb") as f:
                    seen.add(f.read())
            except OSError as e:
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        deadline = time.monotonic() + 10
        i = 0
        while time.monotonic() < deadline and i < 200:
            (a / "tmp").write_bytes(new if i % 2 == 0 else old)
            os.rename(a / "tmp", a / "target")
            i += 1
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, f"reader on the other mount saw {errors[:3]}"
    assert seen <= {old, new}, "reader saw a partial or mixed file"
