"""Extended attributes through the mount (the syscall rules themselves are
posix_check's "xattr" check; these are the cluster-wide ones).

- test_xattr_other_mount: attributes set, replaced and removed through
  one mount show at once through another; the setfattr/getfattr tools
  work; a 64 KiB value is stored whole, a larger one is E2BIG.
- test_xattr_namespaces: only user.* is stored: setting, reading or
  removing security.*, trusted.* or system.* is EOPNOTSUPP (so ls -l asks
  for SELinux labels and ACLs once per mount, not per file), listing shows only
  user.* names.
- test_xattr_survives_master_restart: attributes are in the master's
  database: a restarted master still has them.
"""

import errno
import os

import pytest

from dfstest import run


@pytest.fixture
def dirs(cluster, mnt, second):
    return mnt, second / mnt.relative_to(cluster.mount)


def test_xattr_other_mount(dirs):
    a, b = dirs
    (a / "f").write_bytes(b"data")
    os.setxattr(a / "f", "user.one", b"1")
    assert os.getxattr(b / "f", "user.one") == b"1"
    os.setxattr(b / "f", "user.one", b"uno", os.XATTR_REPLACE)
    assert os.getxattr(a / "f", "user.one") == b"uno"
    big = os.urandom(65536)
    os.setxattr(a / "f", "user.big", big)
    assert os.getxattr(b / "f", "user.big") == big
    with pytest.raises(OSError) as e:
        os.setxattr(a / "f", "user.bigger", big + b"x")
    assert e.value.errno == errno.E2BIG
    assert sorted(os.listxattr(b / "f")) == ["user.big", "user.one"]
    os.removexattr(b / "f", "user.big")
    assert os.listxattr(a / "f") == ["user.one"]
    run(["setfattr", "-n", "user.tool", "-v", "0x00ff10", a / "f"])
    p = run(["getfattr", "--absolute-names", "-e", "hex", "-n",
             "user.tool", b / "f"])
    assert "user.tool=0x00ff10" in p.stdout
    p = run(["getfattr", "--absolute-names", "-d", b / "f"])
    assert 'user.one="uno"' in p.stdout


def test_xattr_namespaces(mnt):
    f = mnt / "f"
    f.write_bytes(b"")
    os.setxattr(f, "user.ok", b"v")
    for name in ("security.test", "trusted.test", "security.selinux"):
        with pytest.raises(OSError) as e:
            os.setxattr(f, name, b"v")
        assert e.value.errno == errno.EOPNOTSUPP, name
    # (The kernel itself parses an ACL before it is set.)
    for name in ("security.test", "trusted.test", "security.selinux",
                 "system.posix_acl_access"):
        with pytest.raises(OSError) as e:
            os.getxattr(f, name)
        assert e.value.errno == errno.EOPNOTSUPP, name
        with pytest.raises(OSError) as e:
            os.removexattr(f, name)
        assert e.value.errno == errno.EOPNOTSUPP, name
    assert os.listxattr(f) == ["user.ok"]


@pytest.mark.dfs_timeout(200)
def test_xattr_survives_master_restart(cluster, mnt):
    d = mnt / "d"
    d.mkdir()
    (d / "f").write_bytes(b"x")
    os.setxattr(d, "user.dir", b"on a directory")
    os.setxattr(d / "f", "user.file", bytes(range(256)))
    cluster.restart_master()
    assert os.getxattr(d, "user.dir") == b"on a directory"
    assert os.getxattr(d / "f", "user.file") == bytes(range(256))
