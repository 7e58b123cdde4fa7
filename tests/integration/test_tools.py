"""Everyday tools on the mount (SPEC 1: people use ordinary tools on it).

- test_cp_a: `cp -a` of a varied tree (sizes around the 1 MiB chunk
  size, empty files and directories, modes, symlinks, a dangling one,
  hard links, a FIFO, user.* xattrs, nanosecond mtimes) into the mount;
  the copy matches the source in every attribute cp preserves, and
  `diff -r` finds nothing.
- test_rsync_a: `rsync -aHX` of the same tree, then again after the
  source changed (rsync writes a temporary file and renames it over);
  a last dry run finds nothing to do but directory times (which rsync
  sets before it renames files into a directory, on a local disk too).
- test_tar: `tar -x` of an archive into the mount, `tar -c` of the
  extracted tree back out; both round trips give the same files.
- test_git_clone: `git clone --no-hardlinks` of a local repository into
  the mount; fsck, status and log are clean; a commit and `git gc`
  (repacking: mmap, renames, unlinks) in the mount keep fsck clean, and
  a clone out of the mount has the same head.
- test_sqlite3: sqlite3 on a database in the mount, in rollback-journal
  and in WAL mode: 1,000 inserts in 10 transactions, integrity_check ok.
- test_make: a small C project built with `make -j2` in the mount runs;
  a second make has nothing to do; touching a header rebuilds what
  depends on it (make trusts the mount's mtimes).
"""

import hashlib
import os
import shutil
import stat

import pytest

from dfstest import MiB, run

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}


def make_tree(root):
    """A tree with the things copy tools must carry over."""
    root.mkdir()
    (root / "empty-dir").mkdir()
    (root / "sub" / "deeper").mkdir(parents=True)
    sizes = {"zero": 0, "one": 1, "page": 4095, "chunk": MiB,
             "chunk+3": MiB + 3, "three": 3 * MiB + 17}
    for name, size in sizes.items():
        (root / "sub" / name).write_bytes(os.urandom(size))
    (root / "sub" / "deeper" / "text").write_text("hello\n" * 1000)
    os.chmod(root / "sub" / "one", 0o600)
    os.chmod(root / "sub" / "page", 0o755)
    os.chmod(root / "sub" / "zero", 0o444)
    os.symlink("sub/deeper/text", root / "link")
    os.symlink("../nowhere", root / "sub" / "dangling")
    os.link(root / "sub" / "chunk", root / "hard")
    os.mkfifo(root / "fifo")
    os.setxattr(root / "sub" / "one", "user.color", b"blue\0\x01")
    os.setxattr(root / "sub", "user.dir", b"yes")
    for i, p in enumerate(sorted(root.rglob("*"))):
        os.utime(p, ns=(1_600_000_000_123_456_789 + i,
                        1_500_000_000_987_654_321 + i * 1001),
                 follow_symlinks=False)
    os.utime(root, ns=(1_600_000_000_000_000_001, 1_500_000_000_000_000_007))


def snapshot(root, mtimes=True, xattrs=True, links=True, dir_mtimes=True):
    """{relative path: what a faithful copy keeps}."""
    out, inodes = {}, {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        rel = str(p.relative_to(root))
        d = {"type": stat.S_IFMT(st.st_mode),
             "mode": stat.S_IMODE(st.st_mode)}
        if mtimes and not stat.S_ISLNK(st.st_mode) and \
                (dir_mtimes or not stat.S_ISDIR(st.st_mode)):
            d["mtime"] = st.st_mtime_ns
        if stat.S_ISLNK(st.st_mode):
            d["target"] = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            d["size"] = st.st_size
            d["sha"] = hashlib.sha256(p.read_bytes()).hexdigest()
            if links:
                d["nlink"] = st.st_nlink
                d["same_as"] = inodes.setdefault(st.st_ino, rel)
        if xattrs and not stat.S_ISLNK(st.st_mode) and \
                not stat.S_ISFIFO(st.st_mode):
            d["xattrs"] = {n: os.getxattr(p, n) for n in os.listxattr(p)
                           if n.startswith("user.")}
        out[rel] = d
    return out


def assert_same_tree(a, b, **kw):
    sa, sb = snapshot(a, **kw), snapshot(b, **kw)
    diffs = [f"{k}: {sa.get(k)} != {sb.get(k)}"
             for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
    assert not diffs, "trees differ:\n" + "\n".join(diffs[:20])


@pytest.mark.dfs_timeout(200)
def test_cp_a(mnt, scratch):
    src = scratch / "src"
    make_tree(src)
    run(["cp", "-a", src, mnt / "copy"])
    assert_same_tree(src, mnt / "copy")
    assert os.stat(mnt / "copy").st_mtime_ns == os.stat(src).st_mtime_ns
    run(["diff", "-r", "--no-dereference", "-x", "fifo", src, mnt / "copy"])
    # And back out of the mount.
    run(["cp", "-a", mnt / "copy", scratch / "back"])
    assert_same_tree(src, scratch / "back")


@pytest.mark.dfs_timeout(200)
def test_rsync_a(mnt, scratch):
    src = scratch / "src"
    make_tree(src)
    run(["rsync", "-aHX", f"{src}/", f"{mnt / 'rs'}/"])
    assert_same_tree(src, mnt / "rs")
    # Changes: rewritten (same size), grown, removed, added.
    (src / "sub" / "page").write_bytes(os.urandom(4095))
    with open(src / "sub" / "three", "ab") as f:
        f.write(os.urandom(MiB))
    os.unlink(src / "sub" / "one")
    (src / "new").write_bytes(b"new file\n")
    run(["rsync", "-aHX", "--delete", f"{src}/", f"{mnt / 'rs'}/"])
    # rsync sets a directory's times before it renames updated files
    # into it, on a local disk too: directory mtimes may differ now.
    assert_same_tree(src, mnt / "rs", dir_mtimes=False)
    p = run(["rsync", "-aHXni", "--delete", f"{src}/", f"{mnt / 'rs'}/"])
    changes = [line for line in p.stdout.splitlines()
               if not line.startswith(".d..t")]
    assert changes == [], f"rsync still sees changes: {p.stdout}"


@pytest.mark.dfs_timeout(200)
def test_tar(mnt, scratch):
    src = scratch / "src"
    make_tree(src)
    run(["tar", "--xattrs", "--format=posix", "-cf", scratch / "a.tar",
         "-C", scratch, "src"])
    (mnt / "x").mkdir()
    run(["tar", "--xattrs", "-xf", scratch / "a.tar", "-C", mnt / "x"])
    assert_same_tree(src, mnt / "x" / "src")
    run(["tar", "--xattrs", "--format=posix", "-cf", scratch / "b.tar",
         "-C", mnt / "x", "src"])
    (scratch / "back").mkdir()
    run(["tar", "--xattrs", "-xf", scratch / "b.tar", "-C",
         scratch / "back"])
    assert_same_tree(src, scratch / "back" / "src")


def git(*args, cwd=None):
    env = dict(os.environ, **GIT_ENV)
    return run(["git", *args], cwd=cwd, env=env, timeout=120).stdout


@pytest.mark.dfs_timeout(300)
def test_git_clone(mnt, scratch):
    repo = scratch / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    for i in range(3):
        (repo / f"file{i}.txt").write_text(f"version {i}\n" * (100 * i + 1))
        (repo / "bin.dat").write_bytes(os.urandom(200000 + i))
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", f"commit {i}", cwd=repo)
    git("tag", "v1", cwd=repo)
    clone = mnt / "clone"
    git("clone", "-q", "--no-hardlinks", str(repo), str(clone))
    git("fsck", "--full", "--strict", cwd=clone)
    assert git("status", "--porcelain", cwd=clone) == ""
    assert len(git("log", "--oneline", cwd=clone).splitlines()) == 3
    assert git("rev-parse", "HEAD", cwd=clone) == \
        git("rev-parse", "HEAD", cwd=repo)
    # Work inside the mount: commit, repack, check.
    (clone / "file0.txt").write_text("changed in the mount\n")
    git("commit", "-q", "-am", "in the mount", cwd=clone)
    git("gc", "-q", "--aggressive", "--prune=now", cwd=clone)
    git("fsck", "--full", "--strict", cwd=clone)
    out = scratch / "out"
    git("clone", "-q", str(clone), str(out))
    assert git("rev-parse", "HEAD", cwd=out) == \
        git("rev-parse", "HEAD", cwd=clone)
    assert (out / "file0.txt").read_text() == "changed in the mount\n"


def sqlite_script(mode):
    lines = [f"PRAGMA journal_mode={mode};",
             "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);",
             "CREATE INDEX t_n ON t(n);"]
    for tx in range(10):
        lines.append("BEGIN;")
        for i in range(100):
            k = tx * 100 + i
            lines.append(f"INSERT INTO t(v, n) VALUES "
                         f"(hex(randomblob({k % 300 + 1})), {k});")
        lines.append("COMMIT;")
    lines += ["PRAGMA integrity_check;",
              "SELECT count(*), sum(n) FROM t;"]
    return "\n".join(lines) + "\n"


@pytest.mark.dfs_timeout(200)
@pytest.mark.parametrize("mode", ["DELETE", "WAL"])
def test_sqlite3(mnt, mode):
    db = mnt / f"test-{mode}.db"
    p = run(["sqlite3", db], input=sqlite_script(mode), timeout=150)
    out = p.stdout.split()
    assert out[-2:] == ["ok", "1000|499500"], p.stdout
    # Reopened (another process): the data is all there.
    p = run(["sqlite3", db, "PRAGMA integrity_check; "
             "SELECT count(*) FROM t WHERE n >= 500;"])
    assert p.stdout.split() == ["ok", "500"]


MAKEFILE = """\
CFLAGS = -O2 -Wall
prog: main.o util.o
\t$(CC) -o $@ main.o util.o
main.o: main.c util.h
util.o: util.c util.h
clean:
\trm -f prog *.o
"""

MAIN_C = """\
#include <stdio.h>
#include "util.h"
int main(void) { printf("%d\\n", twice(21)); return 0; }
"""

UTIL_C = """\
#include "util.h"
int twice(int x) { return x * FACTOR; }
"""


@pytest.mark.dfs_timeout(200)
def test_make(mnt):
    proj = mnt / "proj"
    proj.mkdir()
    (proj / "Makefile").write_text(MAKEFILE)
    (proj / "main.c").write_text(MAIN_C)
    (proj / "util.c").write_text(UTIL_C)
    (proj / "util.h").write_text("#define FACTOR 2\nint twice(int x);\n")
    run(["make", "-j2", "-C", proj])
    assert run([proj / "prog"]).stdout == "42\n"
    p = run(["make", "-C", proj])
    assert "Nothing to be done" in p.stdout or "is up to date" in p.stdout
    (proj / "util.h").write_text("#define FACTOR 3\nint twice(int x);\n")
    p = run(["make", "-C", proj])
    assert "main.o" in p.stdout and "util.o" in p.stdout
    assert run([proj / "prog"]).stdout == "63\n"
    run(["make", "-C", proj, "clean"])
    assert sorted(os.listdir(proj)) == ["Makefile", "main.c", "util.c",
                                        "util.h"]
    shutil.rmtree(proj)
