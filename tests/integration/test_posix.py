"""POSIX behaviour at the mount, checked syscall by syscall by the C helper
tests/helpers/posix_check.c (built into build/tests/posix_check).

Each check of the helper is one test here, run in its own directory of
the shared cluster's mount: O_EXCL creates, pread/pwrite across chunk
boundaries and holes, O_APPEND from two descriptors, truncate down and
up, a 5 GiB sparse offset, use of an unlinked open file, rename (over
files, directories, RENAME_NOREPLACE), rmdir errors, directory link
counts, readdir with telldir/seekdir over 300 entries, utimensat
(nanoseconds, UTIME_NOW/OMIT, times past 2038), ctime/mtime rules,
symlinks, hard links and statfs; then fstat (nlink 0) and ftruncate of
an unlinked open file, open flags (O_EXCL through a symlink, O_NOFOLLOW,
O_DIRECTORY, EISDIR, read-only descriptors, O_APPEND after lseek, O_TRUNC
moving mtime even on an empty file), fallocate (mode 0 grows the size,
KEEP_SIZE, hole punching done or EOPNOTSUPP), renameat2 RENAME_EXCHANGE
of files and of a file with a directory across directories and the
directory cases of rename, which timestamps link, unlink, rename,
truncate, chmod, chown, write and mkdir move, user.* xattrs (size
probes, ERANGE, XATTR_CREATE/REPLACE, binary and empty values, 64 KiB,
E2BIG, directories, EPERM on symlinks, hard links), FIFOs and sockets,
permissions as uid/gid 65534 (EACCES and EPERM where POSIX says, the
sticky bit, ownership of new files) and set-group-ID directories.

test_control runs every check on a local directory first: a check that
fails there is a bug in the helper, not in DFS.
"""

import re

import pytest

from dfstest import BIN, run

HELPER = BIN.parent / "tests" / "posix_check"


def checks():
    if not HELPER.exists():
        return ["helper-missing"]
    return run([HELPER, "--list"], timeout=10).stdout.split()


def test_control(tmp_path):
    if not HELPER.exists():
        pytest.fail(f"{HELPER} not built (make)", pytrace=False)
    p = run([HELPER, tmp_path], timeout=60, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("check", checks())
def test_posix(cluster, mnt, check):
    if not HELPER.exists():
        pytest.fail(f"{HELPER} not built (make)", pytrace=False)
    p = run([HELPER, mnt, check], timeout=120, check=False)
    failures = re.findall(r"^FAIL .*$", p.stdout, re.M)
    assert p.returncode == 0, "\n".join(failures) or p.stdout + p.stderr
