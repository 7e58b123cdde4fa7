"""pytest fixtures of the DFS integration tests.

Run:  DFS_BIN=build/bin /usr/bin/python3 -m pytest -v tests/integration
(`make integration-test` does that). Every test starts real daemons on
loopback ports in a pytest temporary directory and mounts fusefs there;
nothing touches /mnt/dfs or ./var.

Fixtures
  cluster        one cluster per test module (3 chunk servers, 1 MiB
                 chunks, replication 3, heartbeat timeout 3 s), shared by
                 the tests of the module that leave it healthy.
  make_cluster   factory for clusters of the test's own, with any
                 local-cluster.sh options: make_cluster(chunkservers=5).
                 Destructive tests (kills, restarts) use these.
  fresh_cluster  make_cluster() with the defaults.
  scratch        a fresh local directory for reference files.

Guards (autouse)
  - Every test has a deadline (default 300 s; @pytest.mark.dfs_timeout(S)
    changes it). At the deadline the test gets a SIGALRM that fails it; if
    it is stuck in a syscall on a mount, every fusefs of the live clusters
    is killed 15 s later so the syscall returns.
  - After every test the logs of the clusters it used are scanned (see
    dfstest.Cluster.check_logs); an error line or a sanitizer report fails
    it. Tests that provoke errors on purpose whitelist them with
    cluster.allow(REGEX).
  - When a test fails, the logs of its clusters are copied to
    tests/integration/artifacts/<test>/.
  - Teardown always stops the daemons (by pid) and unmounts, even when
    the test failed.

Environment: DFS_BIN (binaries), DFS_KEEP=1 (keep data dirs),
DFS_STRICT_LOGS=1 (warnings fail too), DFS_SECRET (the cluster key file
of every cluster; one is made for the run when unset).
"""

import os
import re
import secrets
import shutil
import signal
import tempfile
import threading

import pytest

import dfstest
from dfstest import BIN, LIVE_CLUSTERS, Cluster

DEFAULT_TIMEOUT = 300
ARTIFACTS = dfstest.REPO / "tests" / "integration" / "artifacts"


_SECRET_DIR = []


def _session_secret():
    """SPEC 7: the cluster secret is always on. Unless $DFS_SECRET names
    one already, make a key file for the run and export it: every cluster
    is started with it (dfstest.Cluster), and every daemon, CLI and mount
    a test starts itself finds it in $DFS_SECRET."""
    if os.environ.get("DFS_SECRET"):
        return
    d = tempfile.mkdtemp(prefix="dfs-test-secret-")
    path = os.path.join(d, "secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (secrets.token_hex(32) + "\n").encode())
    os.close(fd)
    os.environ["DFS_SECRET"] = path
    _SECRET_DIR.append(d)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "dfs_timeout(seconds): deadline of one test")
    _session_secret()


def pytest_unconfigure(config):
    for d in _SECRET_DIR:
        shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record each phase's report on the item (for artifact saving)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(node):
    return any(getattr(getattr(node, "rep_" + w, None), "failed", False)
               for w in ("setup", "call"))


def _artifact_dir(node):
    return ARTIFACTS / re.sub(r"[^\w.-]+", "_", node.nodeid)


def _require_binaries():
    missing = [p for p in ("masterd", "chunkd", "fusefs", "dfs")
               if not (BIN / p).exists()]
    if missing:
        pytest.fail(f"missing binaries in {BIN}: {', '.join(missing)} "
                    "(run make, or set DFS_BIN)", pytrace=False)


class _Timeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _deadline(request):
    marker = request.node.get_closest_marker("dfs_timeout")
    seconds = marker.args[0] if marker else DEFAULT_TIMEOUT
    done = threading.Event()
    main = threading.main_thread().ident

    def on_alarm(signum, frame):
        raise _Timeout(f"test exceeded its {seconds}s deadline")

    def watchdog():
        if done.wait(seconds):
            return
        signal.pthread_kill(main, signal.SIGALRM)
        if done.wait(15):
            return
        for c in list(LIVE_CLUSTERS):
            c.abort_mounts()

    old = signal.signal(signal.SIGALRM, on_alarm)
    t = threading.Thread(target=watchdog, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(timeout=5)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(autouse=True)
def _log_guard(request, _deadline):
    """Fail the test if the logs of the clusters alive around it got
    error lines during it; save logs of failed tests."""
    before = list(LIVE_CLUSTERS)
    earlier = []
    for c in before:
        earlier += c.check_logs()
    if earlier:
        pytest.fail("daemon logs report errors (logged between the "
                    "previous test and this one):\n" + "\n".join(earlier),
                    pytrace=False)
    yield
    if _failed(request.node):
        for c in LIVE_CLUSTERS:
            c.save_logs(_artifact_dir(request.node))
    problems = []
    for c in before:
        if c in LIVE_CLUSTERS:
            problems += c.check_logs()
    if problems:
        pytest.fail("daemon logs report errors:\n" + "\n".join(problems),
                    pytrace=False)


def _stop_and_check(request, clusters):
    """Stop clusters; fail with any log problems they show."""
    problems = []
    for c in clusters:
        if _failed(request.node):
            c.save_logs(_artifact_dir(request.node))
        try:
            problems += c.stop()
        except Exception as e:  # keep stopping the others
            problems.append(f"{c}: stop failed: {e}")
        if c.warnings:
            print(f"{c.name}: {len(c.warnings)} warning line(s):")
            print("\n".join(c.warnings[-20:]))
    if problems:
        pytest.fail("cluster teardown:\n" + "\n".join(problems),
                    pytrace=False)


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """A cluster shared by the tests of one module."""
    _require_binaries()
    c = Cluster(tmp_path_factory.mktemp("mod"), name="shared")
    try:
        c.start()
        yield c
    finally:
        _stop_and_check(request, [c])


@pytest.fixture(scope="module")
def second(cluster, tmp_path_factory):
    """The module cluster mounted a second time."""
    path = cluster.mount_extra(tmp_path_factory.mktemp("second") / "mnt")
    yield path
    if path in cluster.extra_mounts:
        cluster.unmount_extra(path)


@pytest.fixture
def make_cluster(request, tmp_path_factory):
    """Factory of clusters owned by one test, stopped at its end."""
    _require_binaries()
    made = []

    def make(**kwargs):
        name = kwargs.pop("name", f"c{len(made) + 1}")
        c = Cluster(tmp_path_factory.mktemp("own"), name=name, **kwargs)
        made.append(c)
        return c.start()

    try:
        yield make
    finally:
        _stop_and_check(request, made)


@pytest.fixture
def fresh_cluster(make_cluster):
    return make_cluster()


@pytest.fixture
def scratch(tmp_path):
    """A local directory for reference files; emptied after the test."""
    d = tmp_path / "scratch"
    d.mkdir()
    yield d
    for f in d.rglob("*"):
        if f.is_file() and f.stat().st_size > 1 << 20:
            f.unlink()


@pytest.fixture
def mnt(cluster, request):
    """A fresh directory inside the module cluster's mount, named after
    the test, so tests sharing the cluster do not collide."""
    d = cluster.mount / re.sub(r"[^\w.-]+", "_", request.node.name)
    os.mkdir(d)
    return d
