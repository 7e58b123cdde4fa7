#!/usr/bin/env python3
"""difftest.py - randomized differential test of a file system.

Applies one seeded, reproducible sequence of random operations in lockstep
to a directory of the file system under test (a DFS mount) and to a
reference directory on a local file system, and compares after every step:
the result or errno of the operation, the contents of every file the step
touched, and, every --check-every steps and at the end, the whole trees
(types, permission bits, sizes, link counts, contents, symlink targets,
user.* extended attributes).

    difftest.py [--seed N] [--ops N] [--chunk-size N] [--check-every N]
                TESTDIR REFDIR

Operations: write at an offset (by path or through an open descriptor),
read, truncate and ftruncate, append (O_APPEND), open and close of
descriptors kept across steps (so reads and writes of several descriptors
interleave), fsync, rename (also RENAME_NOREPLACE and RENAME_EXCHANGE),
unlink, mkdir, rmdir, link, symlink, readlink, chmod, utime, fchmod,
futimens, stat, listdir, fallocate, and user.* xattrs. Offsets and lengths cluster around
multiples of the chunk size, so chunk boundaries are crossed everywhere.

On a mismatch it prints the seed, the step and the last steps, and exits
1; `difftest.py --seed N --ops M ...` replays the run. Both directories
must start empty.
"""

import argparse
import ctypes
import errno
import hashlib
import os
import random
import stat
import sys
import time

NAMES = ["a", "b", "c", "d", "e"]
MAX_DEPTH = 3
FD_SLOTS = 4
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                            ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD = -100


def renameat2(src, dst, flags):
    if _libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD,
                       os.fsencode(dst), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Mismatch(Exception):
    pass


class Side:
    """One of the two directories, with its open descriptors."""

    def __init__(self, root):
        self.root = root
        self.fds = [None] * FD_SLOTS   # (fd, flags) per slot

    def p(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def close_all(self):
        for i, slot in enumerate(self.fds):
            if slot is not None:
                try:
                    os.close(slot[0])
                except OSError:
                    pass
                self.fds[i] = None


def outcome(fn, *args):
    """("ok", value) or ("err", errno name) of fn(*args)."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, str(e.errno)))


def file_digest(path):
    """(size, sha256) of a regular file, or None when not one."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return ("err", e.errno)
    return (len(data), hashlib.sha256(data).hexdigest(), st.st_size)


def xattrs(path):
    try:
        names = sorted(n for n in os.listxattr(path, follow_symlinks=False)
                       if n.startswith("user."))
        return tuple((n, os.getxattr(path, n, follow_symlinks=False))
                     for n in names)
    except OSError as e:
        return ("err", e.errno)


def tree(root):
    """{relative path: description} of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            d = [kind, stat.S_IMODE(st.st_mode)]
            if stat.S_ISLNK(st.st_mode):
                d.append(os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                d += [st.st_nlink, xattrs(p)]
            else:
                d += [st.st_size, st.st_nlink, file_digest(p), xattrs(p)]
            out[rel] = tuple(d)
    return out


class Run:
    def __init__(self, seed, test_dir, ref_dir, chunk_size):
        self.rng = random.Random(seed)
        self.seed = seed
        self.test = Side(test_dir)
        self.ref = Side(ref_dir)
        self.cs = chunk_size
        self.history = []
        self.counts = {}
        self.ops = [
            (10, self.op_write_path), (10, self.op_write_fd),
            (5, self.op_append_path), (8, self.op_read_path),
            (8, self.op_read_fd), (4, self.op_truncate),
            (4, self.op_ftruncate), (6, self.op_open), (5, self.op_close),
            (3, self.op_fsync), (6, self.op_rename), (4, self.op_unlink),
            (4, self.op_mkdir), (3, self.op_rmdir), (3, self.op_link),
            (3, self.op_symlink), (2, self.op_readlink), (3, self.op_chmod),
            (2, self.op_utime), (4, self.op_stat), (3, self.op_listdir),
            (2, self.op_fallocate), (2, self.op_xattr),
            (2, self.op_fchmod), (2, self.op_futime),
        ]
        self.weights = [w for w, _ in self.ops]

    # -- argument generation (from the reference tree) -----------------

    def scan(self):
        """Existing paths of the reference by kind."""
        files, dirs, links = [], [""], []
        for dirpath, dirnames, filenames in os.walk(self.ref.root):
            for n in dirnames + filenames:
                rel = os.path.relpath(os.path.join(dirpath, n),
                                      self.ref.root)
                st = os.lstat(self.ref.p(rel))
                if stat.S_ISDIR(st.st_mode):
                    dirs.append(rel)
                elif stat.S_ISLNK(st.st_mode):
                    links.append(rel)
                else:
                    files.append(rel)
        self.files, self.dirs, self.links = files, dirs, links

    def new_path(self):
        d = self.rng.choice(self.dirs)
        if d.count("/") + 1 >= MAX_DEPTH:
            d = ""
        return os.path.join(d, self.rng.choice(NAMES)) if d else \
            self.rng.choice(NAMES)

    def path(self, kind="file", fresh=0.2):
        pools = {"file": self.files, "dir": self.dirs[1:],
                 "any": self.files + self.dirs[1:] + self.links,
                 "link": self.links}
        pool = pools[kind]
        if pool and self.rng.random() > fresh:
            return self.rng.choice(pool)
        return self.new_path()

    def offset(self, size):
        cs, r = self.cs, self.rng
        choices = [0, cs - 1, cs, cs + 1, 2 * cs - 3, 3 * cs, size,
                   max(0, size - 1), size + 1, r.randrange(4 * cs)]
        return min(r.choice(choices), 5 * cs)

    def length(self):
        cs, r = self.cs, self.rng
        return r.choice([1, 7, 100, 4096, cs - 1, cs, cs + 1, 2 * cs + 5,
                         r.randrange(1, 3 * cs)])

    def ref_size(self, rel):
        try:
            return os.stat(self.ref.p(rel)).st_size
        except OSError:
            return 0

    # -- applying one step to both sides --------------------------------

    def both(self, desc, fn, touched=None):
        """Run fn(side) on both sides; compare outcomes and the files
        named in touched (relative paths or ("fd", slot))."""
        self.history.append(desc)
        a = outcome(fn, self.test)
        b = outcome(fn, self.ref)
        if a != b:
            raise Mismatch(f"{desc}: test {short(a)} != reference {short(b)}")
        for t in touched or ():
            self.compare_file(desc, t)
        return a

    def compare_file(self, desc, t):
        if isinstance(t, tuple):
            a = fd_digest(self.test, t[1])
            b = fd_digest(self.ref, t[1])
        else:
            a = file_digest(self.test.p(t))
            b = file_digest(self.ref.p(t))
        if a != b:
            raise Mismatch(f"{desc}: contents of {t} differ: "
                           f"test {a} != reference {b}"
                           f"{self.where_differ(t)}")

    def where_differ(self, t):
        """Where the contents of t differ first, for the report."""
        if isinstance(t, tuple):
            return ""
        try:
            with open(self.test.p(t), "rb") as f:
                x = f.read()
            with open(self.ref.p(t), "rb") as f:
                y = f.read()
        except OSError:
            return ""
        i = next((i for i in range(min(len(x), len(y))) if x[i] != y[i]),
                 min(len(x), len(y)))
        j = next((j for j in range(min(len(x), len(y)) - 1, i - 1, -1)
                  if x[j] != y[j]), i)
        return (f" (first difference at {i}, last at {j}; test has "
                f"{x[i:i + 8].hex()}, reference {y[i:i + 8].hex()})")

    def compare_trees(self, where):
        a, b = tree(self.test.root), tree(self.ref.root)
        if a != b:
            diff = [f"  {k}: test {a.get(k)} != reference {b.get(k)}"
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            raise Mismatch(f"trees differ {where}:\n" + "\n".join(diff[:20]))

    # -- the operations --------------------------------------------------

    def op_write_path(self):
        rel = self.path()
        off, data = self.offset(self.ref_size(rel)), self.data()

        def fn(s):
            fd = os.open(s.p(rel), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                return os.pwrite(fd, data, off)
            finally:
                os.close(fd)
        self.both(f"pwrite({rel}, {len(data)} bytes, {off})", fn, [rel])

    def data(self):
        return self.rng.randbytes(self.length())

    def op_write_fd(self):
        slot = self.rng.randrange(FD_SLOTS)
        off, data = self.offset(2 * self.cs), self.data()

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            return os.pwrite(s.fds[slot][0], data, off)
        self.both(f"pwrite(fd{slot}, {len(data)} bytes, {off})", fn,
                  [("fd", slot)])

    def op_append_path(self):
        rel, data = self.path(), self.data()

        def fn(s):
            fd = os.open(s.p(rel), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         0o644)
            try:
                return os.write(fd, data)
            finally:
                os.close(fd)
        self.both(f"append({rel}, {len(data)} bytes)", fn, [rel])

    def op_read_path(self):
        rel = self.path(fresh=0.05)
        off, n = self.offset(self.ref_size(rel)), self.length()

        def fn(s):
            fd = os.open(s.p(rel), os.O_RDONLY)
            try:
                return digest(os.pread(fd, n, off))
            finally:
                os.close(fd)
        self.both(f"pread({rel}, {n}, {off})", fn)

    def op_read_fd(self):
        slot = self.rng.randrange(FD_SLOTS)
        off, n = self.offset(2 * self.cs), self.length()

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            return digest(os.pread(s.fds[slot][0], n, off))
        self.both(f"pread(fd{slot}, {n}, {off})", fn)

    def op_truncate(self):
        rel = self.path(fresh=0.1)
        size = self.offset(self.ref_size(rel))
        self.both(f"truncate({rel}, {size})",
                  lambda s: os.truncate(s.p(rel), size), [rel])

    def op_ftruncate(self):
        slot = self.rng.randrange(FD_SLOTS)
        size = self.offset(self.cs)

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            return os.ftruncate(s.fds[slot][0], size)
        self.both(f"ftruncate(fd{slot}, {size})", fn, [("fd", slot)])

    def op_open(self):
        slot = self.rng.randrange(FD_SLOTS)
        rel = self.path(fresh=0.15)
        flags = self.rng.choice([
            os.O_RDWR, os.O_RDONLY, os.O_RDWR | os.O_CREAT,
            os.O_RDWR | os.O_APPEND, os.O_RDWR | os.O_TRUNC,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL,
            os.O_RDWR | os.O_APPEND | os.O_CREAT])

        def fn(s):
            if s.fds[slot] is not None:
                os.close(s.fds[slot][0])
                s.fds[slot] = None
            fd = os.open(s.p(rel), flags, 0o644)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                # Not kept: DFS removes a directory at once, so fstat()
                # of a descriptor of a removed one fails (ESTALE), where
                # a local file system answers with nlink 0.
                os.close(fd)
                return "directory"
            s.fds[slot] = (fd, flags)
            return None
        self.both(f"fd{slot} = open({rel}, {flags:#o})", fn,
                  [("fd", slot)])

    def op_close(self):
        slot = self.rng.randrange(FD_SLOTS)

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            fd = s.fds[slot][0]
            s.fds[slot] = None
            return os.close(fd)
        self.both(f"close(fd{slot})", fn)

    def op_fsync(self):
        slot = self.rng.randrange(FD_SLOTS)

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            return os.fsync(s.fds[slot][0])
        self.both(f"fsync(fd{slot})", fn, [("fd", slot)])

    def op_rename(self):
        src = self.path("any", fresh=0.1)
        dst = self.path("any", fresh=0.5)
        flags = self.rng.choice([0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE])
        self.both(f"renameat2({src}, {dst}, {flags})",
                  lambda s: renameat2(s.p(src), s.p(dst), flags), [dst])

    def op_unlink(self):
        rel = self.path("any", fresh=0.1)
        self.both(f"unlink({rel})", lambda s: os.unlink(s.p(rel)))

    def op_mkdir(self):
        rel = self.path("any", fresh=0.8)
        self.both(f"mkdir({rel})", lambda s: os.mkdir(s.p(rel), 0o755))

    def op_rmdir(self):
        rel = self.path("dir", fresh=0.1)
        self.both(f"rmdir({rel})", lambda s: os.rmdir(s.p(rel)))

    def op_link(self):
        src, dst = self.path("any", fresh=0.1), self.path("any", fresh=0.7)
        self.both(f"link({src}, {dst})",
                  lambda s: os.link(s.p(src), s.p(dst),
                                    follow_symlinks=False), [dst])

    def op_symlink(self):
        target = self.rng.choice(["a", "../b", "c/d", "nowhere", "a/b/c"])
        rel = self.path("any", fresh=0.7)
        self.both(f"symlink({target}, {rel})",
                  lambda s: os.symlink(target, s.p(rel)))

    def op_readlink(self):
        rel = self.path("link", fresh=0.2)
        self.both(f"readlink({rel})", lambda s: os.readlink(s.p(rel)))

    def op_chmod(self):
        rel = self.path("any", fresh=0.1)
        mode = self.rng.choice([0o600, 0o644, 0o755, 0o700, 0o444, 0o1777,
                                0o2755])
        self.both(f"chmod({rel}, {mode:#o})",
                  lambda s: os.chmod(s.p(rel), mode))

    def op_utime(self):
        rel = self.path("any", fresh=0.1)
        ns = (self.rng.randrange(1 << 40), self.rng.randrange(1 << 40))

        def fn(s):
            os.utime(s.p(rel), ns=ns)
            st = os.stat(s.p(rel))
            return (st.st_atime_ns, st.st_mtime_ns)
        self.both(f"utime({rel}, {ns})", fn)

    def op_fchmod(self):
        slot = self.rng.randrange(FD_SLOTS)
        mode = self.rng.choice([0o600, 0o644, 0o640, 0o444, 0o4755])

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            os.fchmod(s.fds[slot][0], mode)
            return os.fstat(s.fds[slot][0]).st_mode
        self.both(f"fchmod(fd{slot}, {mode:#o})", fn)

    def op_futime(self):
        slot = self.rng.randrange(FD_SLOTS)
        ns = (self.rng.randrange(1 << 40), self.rng.randrange(1 << 40))

        def fn(s):
            if s.fds[slot] is None:
                raise OSError(errno.EBADF, "no descriptor")
            os.utime(s.fds[slot][0], ns=ns)
            st = os.fstat(s.fds[slot][0])
            return (st.st_atime_ns, st.st_mtime_ns)
        self.both(f"futimens(fd{slot}, {ns})", fn)

    def op_stat(self):
        rel = self.path("any", fresh=0.1)

        def fn(s):
            st = os.lstat(s.p(rel))
            size = st.st_size if not stat.S_ISDIR(st.st_mode) else 0
            return (st.st_mode, size, st.st_nlink)
        self.both(f"lstat({rel})", fn)

    def op_listdir(self):
        rel = self.rng.choice(self.dirs)
        self.both(f"listdir({rel})",
                  lambda s: sorted(os.listdir(s.p(rel))))

    def op_fallocate(self):
        rel = self.path(fresh=0.1)
        off, n = self.offset(self.ref_size(rel)), self.length()

        def fn(s):
            fd = os.open(s.p(rel), os.O_WRONLY)
            try:
                return os.posix_fallocate(fd, off, n)
            finally:
                os.close(fd)
        self.both(f"posix_fallocate({rel}, {off}, {n})", fn, [rel])

    def op_xattr(self):
        rel = self.path("any", fresh=0.1)
        name = "user." + self.rng.choice(["x", "y", "long.name"])
        how = self.rng.choice(["set", "set", "get", "list", "remove"])
        value = self.rng.randbytes(self.rng.randrange(0, 200))

        def fn(s):
            p = s.p(rel)
            if how == "set":
                return os.setxattr(p, name, value)
            if how == "get":
                return os.getxattr(p, name)
            if how == "remove":
                return os.removexattr(p, name)
            return sorted(os.listxattr(p))
        self.both(f"{how}xattr({rel}, {name})", fn)

    # -- driver ----------------------------------------------------------

    def step(self):
        self.scan()
        _, fn = self.rng.choices(self.ops, self.weights)[0]
        self.counts[fn.__name__] = self.counts.get(fn.__name__, 0) + 1
        fn()


def digest(data):
    return (len(data), hashlib.sha256(data).hexdigest())


def fd_digest(side, slot):
    """Size and contents seen through an open descriptor (a readable one;
    only the size through a write-only one)."""
    if side.fds[slot] is None:
        return None
    fd, flags = side.fds[slot]
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ("kind", stat.S_IFMT(st.st_mode))
        if flags & os.O_ACCMODE == os.O_WRONLY:
            return ("size", st.st_size)
        return (st.st_size, digest(os.pread(fd, st.st_size + 1, 0)))
    except OSError as e:
        return ("err", e.errno)


def short(v):
    s = repr(v)
    return s if len(s) < 200 else s[:200] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ops", type=int, default=10000)
    ap.add_argument("--chunk-size", type=int, default=64 * 1024)
    ap.add_argument("--check-every", type=int, default=500)
    ap.add_argument("test_dir")
    ap.add_argument("ref_dir")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    for d in (args.test_dir, args.ref_dir):
        if os.listdir(d):
            sys.exit(f"difftest: {d} is not empty")
    run = Run(seed, args.test_dir, args.ref_dir, args.chunk_size)
    start = time.monotonic()
    i = 0
    try:
        for i in range(1, args.ops + 1):
            run.step()
            if i % args.check_every == 0:
                run.compare_trees(f"after step {i}")
        run.test.close_all()
        run.ref.close_all()
        run.compare_trees("at the end")
    except Mismatch as e:
        print(f"MISMATCH at step {i} of seed {seed}: {e}")
        print("last steps:")
        for h in run.history[-25:]:
            print(f"  {h}")
        print(f"replay: {sys.argv[0]} --seed {seed} --ops {i} "
              f"--chunk-size {args.chunk_size} TESTDIR REFDIR")
        sys.exit(1)
    finally:
        run.test.close_all()
        run.ref.close_all()
    took = time.monotonic() - start
    print(f"seed {seed}: {args.ops} operations matched in {took:.1f} s")
    print("  " + ", ".join(f"{k[3:]} {v}" for k, v in
                           sorted(run.counts.items())))


if __name__ == "__main__":
    main()
