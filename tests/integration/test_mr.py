"""MapReduce on DFS (SPEC 6, issue 5): outputs equal `mr seq`, tasks run
in parallel and exactly once, data-local maps, atomic publication,
streaming mode, and recovery from crashing, killed and slow workers.

Every test runs `mr coordinator` and one `mr worker` per chunk server
(mrcluster.MrCluster) on top of a real cluster, and compares the output
read back through the mount with a sequential run on the local files.
"""

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

import dfsauth
from dfstest import MiB, REPO, run, wait_until
from mrcluster import (MR, MrCluster, app, read_parts, seq, task_attempts,
                       winning_attempts)

GUTENBERG = REPO.parent / "shared" / "data" / "gutenberg"

# Streaming word count: the same words as the wc app (runs of letters).
WC_MAPPER = r"""tr -cs 'A-Za-z' '\n' | awk 'NF { print $0 "\t1" }'"""
WC_REDUCER = (r"""awk -F'\t' '{ c[$1] += $2 } """
              r"""END { for (k in c) print k "\t" c[k] }'""")


def local_books():
    """The input texts: the Gutenberg books, else the system licenses."""
    books = sorted(GUTENBERG.glob("pg-*.txt"))
    if not books:
        books = sorted(p for p in Path("/usr/share/common-licenses").iterdir()
                       if p.is_file() and not p.is_symlink())
    assert books, "no input texts found"
    return books


BOOKS = local_books()


@pytest.fixture(scope="module")
def mrc(cluster):
    """Coordinator and workers on the module's shared cluster."""
    m = MrCluster(cluster)
    try:
        yield m.start()
    finally:
        m.stop()


@pytest.fixture
def own_mrc(cluster):
    """Daemons of the test's own (for tests that kill or slow workers);
    call with the coordinator's extra options."""
    made = []

    def make(*coordinator_args):
        m = MrCluster(cluster, coordinator_args=coordinator_args)
        made.append(m)
        return m.start()

    try:
        yield make
    finally:
        for m in made:
            m.stop()


@pytest.fixture(scope="module")
def books(cluster):
    """The books copied into the mount with cp; returns the directory."""
    d = cluster.mount / "books"
    d.mkdir()
    run(["cp", *BOOKS, d])
    return d


@pytest.fixture(scope="module")
def wc_reference(tmp_path_factory):
    """`mr seq` word count of the local books (3 reduces)."""
    out = tmp_path_factory.mktemp("seq") / "wc"
    seq(app("wc"), BOOKS, out)
    return out


def same_parts(got, want):
    """Part files equal one by one (same names, same bytes)."""
    g = sorted(p.name for p in Path(got).glob("part-*"))
    w = sorted(p.name for p in Path(want).glob("part-*"))
    assert g == w
    for name in g:
        assert (Path(got) / name).read_bytes() == \
            (Path(want) / name).read_bytes(), name


def line_count(path):
    """Lines of a file, a last one without a newline included."""
    data = path.read_bytes()
    return data.count(b"\n") + (1 if data and data[-1:] != b"\n" else 0)


def check_success(job, out, reduces):
    assert job["state"] == "succeeded", job.get("error")
    names = sorted(os.listdir(out))
    assert names == ["_SUCCESS"] + [f"part-{i:05d}" for i in
                                    range(reduces)]
    assert os.path.getsize(Path(out) / "_SUCCESS") == 0


def intervals_overlap(spans):
    """True if two of the (start, end) spans overlap."""
    spans = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


# ---------------------------------------------------------------------
# Results equal the sequential run
# ---------------------------------------------------------------------

def test_wc_equals_seq(mrc, books, wc_reference, cluster):
    out = cluster.mount / "wc-out"
    p, job = mrc.submit([books], out, app_path=app("wc"), reduces=3)
    check_success(job, out, 3)
    same_parts(out, wc_reference)
    assert read_parts(out) == read_parts(wc_reference)
    for part in out.glob("part-*"):
        keys = [line.split("\t")[0] for line in part.read_text().splitlines()]
        assert keys == sorted(keys)
    c = job["counters"]
    assert c["maps"] == sum((b.stat().st_size + MiB - 1) // MiB
                            for b in BOOKS)
    assert c["reduces"] == 3
    assert c["bytes_read"] == sum(b.stat().st_size for b in BOOKS)
    assert c["map_records_in"] == sum(line_count(b) for b in BOOKS)
    assert c["reduce_records_out"] == len(read_parts(wc_reference))
    assert c["bytes_written"] == sum(p.stat().st_size
                                     for p in out.glob("part-*"))
    # Live progress on stderr, counters at the end on stdout.
    assert re.search(r"map \d+/\d+ \(data-local \d+%\)\s+reduce \d+/3",
                     p.stderr)
    assert "data_local_maps" in p.stdout and "succeeded" in p.stdout


def test_indexer_equals_seq(mrc, books, cluster, tmp_path):
    want = tmp_path / "seq"
    ref = seq(app("indexer"), BOOKS, want, reduces=4)
    _, job = mrc.submit(["/books"], "/ix-out", app_path=app("indexer"),
                        reduces=4)
    check_success(job, cluster.mount / "ix-out", 4)
    same_parts(cluster.mount / "ix-out", want)
    assert ref
    word, files = ref[0].split("\t")
    assert files.split(",") == sorted(set(files.split(",")))


def test_grep_equals_seq(mrc, books, cluster, tmp_path):
    params = {"pattern": "Sherlock Holmes|Frankenstein|the license"}
    ref = seq(app("grep"), BOOKS, tmp_path / "seq", reduces=2,
              params=params)
    _, job = mrc.submit([books], cluster.mount / "grep-out",
                        app_path=app("grep"), reduces=2, params=params)
    check_success(job, cluster.mount / "grep-out", 2)
    assert read_parts(cluster.mount / "grep-out") == ref


def test_streaming_wc_equals_wc(mrc, books, wc_reference, cluster,
                                tmp_path):
    out = cluster.mount / "stream-out"
    _, job = mrc.submit([books], out, mapper=WC_MAPPER, reducer=WC_REDUCER,
                        reduces=3)
    check_success(job, out, 3)
    assert read_parts(out) == read_parts(wc_reference)
    local = tmp_path / "stream-seq"
    assert seq(None, BOOKS, local, mapper=WC_MAPPER,
               reducer=WC_REDUCER) == read_parts(wc_reference)


def test_line_straddling_chunks(mrc, cluster, tmp_path):
    """Lines cut by chunk boundaries (1 MiB chunks) are mapped once,
    whatever the boundary falls on: the middle of a line, a newline, the
    first byte of a line; and a last line without a newline."""
    local = tmp_path / "lines.txt"
    lines, size, n = [], 0, 0
    while size < 3 * MiB + 1000:
        # Line lengths vary so boundaries land everywhere; word n is
        # unique, so a line read twice or lost shows in the counts.
        line = f"w{n:07d} " + "x" * (n * 7919 % 3000)
        lines.append(line)
        size += len(line) + 1
        n += 1
    data = "\n".join(lines).encode()
    # Force a newline exactly at the end of chunk 1 and a line starting
    # exactly at the start of chunk 2.
    data = data[:MiB - 1] + b"\n" + data[MiB:2 * MiB] + b"\n" + \
        data[2 * MiB + 1:]
    local.write_bytes(data)
    shutil.copy(local, cluster.mount / "lines.txt")
    ref = seq(app("wc"), [local], tmp_path / "seq", reduces=2)
    _, job = mrc.submit(["/lines.txt"], "/lines-out", app_path=app("wc"),
                        reduces=2)
    check_success(job, cluster.mount / "lines-out", 2)
    assert job["counters"]["maps"] == 4
    assert job["counters"]["map_records_in"] == data.count(b"\n") + 1
    assert read_parts(cluster.mount / "lines-out") == ref


# ---------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------

def test_tasks_run_in_parallel(mrc, books, wc_reference, cluster,
                               tmp_path):
    """A streaming app that records when each task starts and ends: map
    tasks overlap on different workers, and reduce tasks too."""
    times = tmp_path / "times"
    times.write_text("")
    mapper = (f"s=$(date +%s.%N); sleep 0.5; {WC_MAPPER}; "
              f"echo \"map $MR_TASK $s $(date +%s.%N)\" >> {times}")
    reducer = (f"s=$(date +%s.%N); sleep 0.5; {WC_REDUCER}; "
               f"echo \"reduce $MR_TASK $s $(date +%s.%N)\" >> {times}")
    out = cluster.mount / "par-out"
    _, job = mrc.submit([books], out, mapper=mapper, reducer=reducer,
                        reduces=3)
    check_success(job, out, 3)
    assert read_parts(out) == read_parts(wc_reference)
    spans = {"map": [], "reduce": []}
    for line in times.read_text().splitlines():
        kind, _, start, end = line.split()
        spans[kind].append((float(start), float(end)))
    assert len(spans["map"]) >= len(BOOKS) and len(spans["reduce"]) == 3
    assert intervals_overlap(spans["map"])
    assert intervals_overlap(spans["reduce"])
    # And on different workers, as the coordinator saw them.
    for kind in ("map", "reduce"):
        win = list(winning_attempts(job, kind).values())
        assert len({a["worker"] for a in win}) >= 2, kind
        assert any(a["worker"] != b["worker"] and
                   a["start_ms"] < b["end_ms"] and b["start_ms"] < a["end_ms"]
                   for a in win for b in win), kind


def test_each_map_runs_once_without_failures(mrc, books, cluster):
    _, job = mrc.submit([books], cluster.mount / "once-out",
                        app_path=app("wc"), reduces=2)
    check_success(job, cluster.mount / "once-out", 2)
    c = job["counters"]
    assert c["map_attempts"] == c["maps"]
    assert c["reduce_attempts"] == c["reduces"]
    assert c["failed_attempts"] == 0 and c["backup_tasks"] == 0
    for kind in ("map", "reduce"):
        for i, atts in task_attempts(job, kind).items():
            assert [a["state"] for a in atts] == ["succeeded"], (kind, i)


@pytest.mark.dfs_timeout(420)
def test_data_local_maps(make_cluster, tmp_path):
    """1 MiB chunks, 40+ of them, 4 chunk servers holding 2 replicas
    each: at least 90% of the maps read a co-located replica."""
    c = make_cluster(chunkservers=4, replication=2)
    local = tmp_path / "big.txt"
    with open(local, "wb") as f:
        while f.tell() < 42 * MiB:
            for b in BOOKS:
                f.write(b.read_bytes())
    shutil.copy(local, c.mount / "big.txt")
    # A map waits up to 5 s (not the default 1 s) for a worker holding
    # its chunk: on two shared cores a busy local worker can take longer
    # than 1 s to free a slot, and a remote run then counts against the
    # share this test checks.
    m = MrCluster(c, coordinator_args=["--locality-wait", "5000"])
    try:
        m.start()
        _, job = m.submit(["/big.txt"], "/big-out", app_path=app("wc"),
                          reduces=2)
        check_success(job, c.mount / "big-out", 2)
        n = job["counters"]["maps"]
        assert n >= 40
        local_share = job["counters"]["data_local_maps"] / n
        print(f"data-local maps: {job['counters']['data_local_maps']}/{n}")
        assert local_share >= 0.9
        assert read_parts(c.mount / "big-out") == \
            seq(app("wc"), [local], tmp_path / "seq", reduces=2)
    finally:
        m.stop()


# ---------------------------------------------------------------------
# Atomic output
# ---------------------------------------------------------------------

def test_no_partial_part_file_visible(mrc, books, cluster):
    """A reader polling the output directory sees each part file only
    complete, and _SUCCESS only once every part is there."""
    out = cluster.mount / "atomic-out"
    reduces = 6
    reducer = f"{WC_REDUCER}; sleep $((MR_TASK % 4))"
    proc, _ = mrc.submit_async([books], out, mapper=WC_MAPPER,
                               reducer=reducer, reduces=reduces)
    seen = {}            # part name -> set of contents seen
    partial_states = 0   # listings with some but not all parts
    try:
        while True:
            done = proc.poll() is not None
            try:
                names = set(os.listdir(out))
            except FileNotFoundError:
                names = set()
            parts = {n for n in names if n.startswith("part-")}
            if "_SUCCESS" in names:
                assert len(parts) == reduces, names
            if 0 < len(parts) < reduces:
                partial_states += 1
            for n in parts:
                try:
                    seen.setdefault(n, set()).add((out / n).read_bytes())
                except FileNotFoundError:
                    pass
            if done:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "_SUCCESS" in os.listdir(out)
    for n, contents in seen.items():
        assert contents == {(out / n).read_bytes()}, n
    assert partial_states > 0
    assert "_temporary" not in os.listdir(out)


# ---------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------

@pytest.mark.dfs_timeout(420)
def test_crashing_workers(own_mrc, books, wc_reference, cluster):
    """The crash app exits its worker at random (and stalls sometimes);
    dead workers are restarted; the output still equals wc's."""
    m = own_mrc("--worker-timeout", "2000", "--task-timeout", "4000",
                "--backup-after", "2000")
    out = cluster.mount / "crash-out"
    proc, job_id = m.submit_async(
        [books], out, app_path=app("crash"), reduces=3,
        params={"crash_prob": "0.3", "stall_prob": "0.1",
                "stall_ms": "6000"})
    restarts = 0
    try:
        deadline = time.monotonic() + 360
        while proc.poll() is None and time.monotonic() < deadline:
            for i, p in list(m.workers.items()):
                if p.poll() is not None:
                    m.start_worker(i, wait=False)
                    restarts += 1
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    job = m.status(job_id)
    check_success(job, out, 3)
    assert read_parts(out) == read_parts(wc_reference)
    print(f"worker restarts: {restarts}, failed attempts: "
          f"{job['counters']['failed_attempts']}, backups: "
          f"{job['counters']['backup_tasks']}")
    if restarts:
        assert job["counters"]["failed_attempts"] > 0


def wait_maps_done(m, proc, job_id, timeout=120):
    def maps_done():
        assert proc.poll() is None, proc.communicate()
        job = m.status(job_id, tasks=False)
        return job["maps_done"] == job["maps"]
    wait_until(maps_done, timeout, "all maps done", interval=0.05)
    return m.status(job_id)


def kill_busiest_map_worker(m, job):
    """SIGKILL the worker holding the most map outputs; returns its addr
    and the map tasks it held."""
    held = {}
    for i, a in winning_attempts(job, "map").items():
        held.setdefault(a["worker"], []).append(i)
    addr = max(held, key=lambda w: len(held[w]))
    m.kill_worker(m.worker_index(addr))
    return addr, held[addr]


@pytest.mark.dfs_timeout(300)
def test_worker_killed_after_maps(own_mrc, books, wc_reference, cluster):
    """A worker dies after its maps finished, before the reducers
    fetched: its maps run again elsewhere and the output is right."""
    m = own_mrc("--worker-timeout", "2000")
    out = cluster.mount / "killed-out"
    proc, job_id = m.submit_async([books], out, app_path=app("wc"),
                                  reduces=3, extra=["--reduce-delay", "4000"])
    try:
        job = wait_maps_done(m, proc, job_id)
        assert job["reduces_done"] == 0
        dead, lost = kill_busiest_map_worker(m, job)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    job = m.status(job_id)
    check_success(job, out, 3)
    assert read_parts(out) == read_parts(wc_reference)
    win = winning_attempts(job, "map")
    for i in lost:
        atts = task_attempts(job, "map")[i]
        assert len(atts) >= 2
        assert win[i]["worker"] != dead
    assert job["counters"]["map_attempts"] >= job["counters"]["maps"] + \
        len(lost)
    assert all(a["worker"] != dead
               for a in winning_attempts(job, "reduce").values())


@pytest.mark.dfs_timeout(300)
def test_unreachable_map_output_reported_by_reducers(own_mrc, books,
                                                     wc_reference, cluster):
    """The coordinator has not noticed the death yet (long worker
    timeout): reducers fail to fetch, report the outputs lost, the maps
    run again and the reduces after them."""
    m = own_mrc("--worker-timeout", "120000")
    out = cluster.mount / "lost-out"
    proc, job_id = m.submit_async([books], out, app_path=app("wc"),
                                  reduces=3, extra=["--reduce-delay", "1500"])
    try:
        job = wait_maps_done(m, proc, job_id)
        dead, lost = kill_busiest_map_worker(m, job)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    job = m.status(job_id)
    check_success(job, out, 3)
    assert read_parts(out) == read_parts(wc_reference)
    assert job["counters"]["failed_attempts"] > 0
    for i in lost:
        assert winning_attempts(job, "map")[i]["worker"] != dead


@pytest.mark.dfs_timeout(300)
def test_slow_task_gets_backup(own_mrc, books, wc_reference, cluster,
                               tmp_path):
    """The first attempt of map 0 hangs; once no task is waiting it gets
    a backup copy elsewhere, which wins; the hung one is aborted."""
    m = own_mrc("--backup-after", "1000", "--task-timeout", "120000")
    marks = tmp_path / "marks"
    marks.mkdir()
    mapper = (f"if [ \"$MR_TASK\" = 0 ] && mkdir {marks}/slow 2>/dev/null;"
              f" then sleep 100; fi; {WC_MAPPER}")
    out = cluster.mount / "backup-out"
    start = time.monotonic()
    _, job = m.submit([books], out, mapper=mapper, reducer=WC_REDUCER,
                      reduces=3, timeout=90)
    assert time.monotonic() - start < 60
    check_success(job, out, 3)
    assert read_parts(out) == read_parts(wc_reference)
    assert job["counters"]["backup_tasks"] >= 1
    atts = task_attempts(job, "map")[0]
    assert any(a["backup"] and a["state"] == "succeeded" for a in atts)
    assert any(a["state"] == "killed" for a in atts)


def test_failing_app_fails_the_job(mrc, books, cluster):
    """A map that always fails (grep without a pattern) is retried a few
    times, then the job fails with its error and submit exits 1."""
    p, job = mrc.submit([books], "/fail-out", app_path=app("grep"),
                        check=False)
    assert p.returncode == 1
    assert job["state"] == "failed"
    assert "failed 4 times" in job["error"]
    assert "failed" in p.stdout
    assert "_SUCCESS" not in os.listdir(cluster.mount / "fail-out")


# ---------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------

def test_bad_requests_are_refused(mrc, books, cluster):
    """Malformed or hostile requests get 4xx; the daemons keep serving."""
    def curl(method, url, data=None):
        # Signed with the cluster secret: the checks past authentication.
        addr, _, target = url.partition("://")[2].partition("/")
        return dfsauth.request(addr, "/" + target, data, method=method,
                               timeout=10)[0]

    co = f"http://{mrc.coordinator}"
    for path, body in [
            ("/mr/submit", "not json"),
            ("/mr/submit", "{}"),
            ("/mr/submit", '{"inputs": ["/books"], "output": "/x",'
                           ' "mapper": "cat", "reducer": "cat",'
                           ' "reduces": -1}'),
            ("/mr/submit", '{"inputs": ["/../etc"], "output": "/x",'
                           ' "mapper": "cat", "reducer": "cat"}'),
            ("/mr/submit", '{"inputs": ["/books"], "output": "/",'
                           ' "mapper": "cat", "reducer": "cat"}'),
            ("/mr/submit", '{"inputs": ["/books"], "output": "/y",'
                           ' "app": "00"}'),
            ("/mr/worker/register", '{"addr": "nohost", "chunkd": 5}'),
            ("/mr/worker/poll", '{"worker": "x"}'),
            ("/mr/worker/poll", '{"worker": 999999, "wait_ms": 99999999}'),
            ("/mr/worker/done", '{"worker": 1}'),
            ("/mr/worker/heartbeat", '[1, 2, 3]')]:
        code = curl("POST", co + path, body)
        assert 400 <= code < 500, (path, body, code)
    assert curl("GET", co + "/mr/job?id=../../etc/passwd") == 404
    assert curl("GET", co + "/mr/app?id=zz") == 404
    assert curl("PUT", co + "/mr/app", "") in (400, 413)
    worker = f"http://{mrc.worker_addrs[1]}"
    assert curl("GET", worker + "/mr/map-output?job=../x&map=1&attempt=1"
                "&part=0") == 400
    assert curl("GET", worker + "/mr/map-output?job=j&map=1&attempt=1"
                "&part=0") == 404
    # An input that does not exist and an output that is not empty.
    p = mrc.mr(*mrc.submit_args(["/no/such"], "/z", app_path=app("wc")),
               check=False)
    assert p.returncode != 0 and "no/such" in p.stderr
    p = mrc.mr(*mrc.submit_args([books], books, app_path=app("wc")),
               check=False)
    assert p.returncode != 0 and "not empty" in p.stderr
    assert mrc.health()["workers"] == cluster.nservers
    _, job = mrc.submit([books], "/after-bad", app_path=app("wc"))
    assert job["state"] == "succeeded"
