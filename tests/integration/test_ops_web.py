"""The master's status web page and both daemons' Prometheus metrics
(issue 7).

- test_status_page: headless Chromium (cdp.Browser) loads "/" of a
  3-server cluster on 2 racks holding two files. Observed, with no
  console error, exception or failed load: one row per chunk server with
  its rack, "alive" and the replica count the master reports; the cards
  show the master's counts (3 / 3 servers, files, chunks, 0
  under-replicated, missing and corrupt); on a phone-sized viewport
  nothing is wider than the screen. A chunk server is killed: without
  a reload, the page shows it dead, 2 / 3 servers, and the master's
  under-replicated count. Screenshots (desktop, phone, after the kill)
  go to tests/integration/artifacts/status-page*.png.
- test_metrics_promtool: `promtool check metrics` accepts /metrics of
  the master and of every chunk server (exit 0, no lint), which count
  requests by endpoint and code, bytes, latency histograms, chunks,
  heartbeats and the cluster's health figures.
- test_heartbeats_carry_changes: between full reports (every 300 s by
  default) a heartbeat lists only the replicas that changed on its
  server: a quiet cluster's heartbeats list none
  (dfs_master_reported_replicas_total stays put, as do
  dfs_master_full_reports_total and
  dfs_master_reported_replicas_checked_total), and a new file of 3
  chunks adds its 9 replicas, not every replica the servers hold.
- test_full_reports_look_up_only_changes: with --full-report-interval 1
  each heartbeat lists all of its server's replicas, and the master
  looks up in its chunk table only those its replica table does not
  have at the chunk's version: once a written file has settled, full
  reports covering all of its replicas look up none. Deleted, the file's
  replica files leave the servers within seconds.
- test_pending_deletes_metric: a deleted file's replicas count in
  dfs_master_replicas_pending_delete and per server in
  dfs_master_chunkserver_pending_deletes until the server's next
  heartbeat takes them: with one chunk server stopped (SIGSTOP), its 3
  replicas stay counted and on its disk while the others' are handed
  out and removed; resumed, it deletes them and the gauges read 0.
- test_overview_and_jobs: EP_OVERVIEW extends the status object with
  the page's figures; EP_JOBS without --coordinator says so; the plain
  text page moved to /status.txt; `dfs status --json` still prints
  exactly the SPEC 5 object.
"""

import json
import os
import re
import shutil
import signal
import urllib.request

import pytest

import cdp
import dfstest
from dfstest import MiB, wait_until
from opscluster import RackCluster, promtool_check
import faultutil as fu

ARTIFACTS = dfstest.REPO / "tests" / "integration" / "artifacts"
DEATH_NOISE = (r"(refused|unreachable|dead|failed|giving up|reset|"
               r"timed out|reach|connect|re-replicat|no target|fewer)")

ROWS_JS = """[...document.querySelectorAll('#servers tbody tr')].map(r => ({
  addr: r.dataset.addr, alive: r.dataset.alive,
  rack: r.querySelector('td[data-label=Rack]').textContent,
  chunks: Number(r.querySelector('td[data-label=Chunks]').textContent),
  bar: r.querySelector('.bar') !== null}))"""
CARDS_JS = """Object.fromEntries([...document.querySelectorAll('.card')].map(
  c => [c.id, c.querySelector('.v').textContent]))"""


def http_get(addr, path, timeout=10):
    with urllib.request.urlopen(f"http://{addr}{path}",
                                timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


@pytest.fixture
def rack_cluster(request, tmp_path_factory):
    c = RackCluster(tmp_path_factory.mktemp("ops"), name="ops",
                    chunkservers=3, racks=2)
    try:
        c.start()
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            c.save_logs(ARTIFACTS / re.sub(r"[^\w.-]+", "_",
                                           request.node.nodeid))
        problems = c.stop()
        assert not problems, "\n".join(problems)


def put_file(c, tmp_path, dfs_path, size):
    local = tmp_path / os.path.basename(dfs_path)
    local.write_bytes(os.urandom(size))
    c.dfs("put", "-q", local, dfs_path)


def alive_js(addr, alive):
    return (f"(document.querySelector('tr[data-addr=\"{addr}\"]') || "
            f"{{dataset: {{}}}}).dataset.alive === '{'1' if alive else '0'}'")


REFRESHES_JS = "Number(document.body.dataset.refreshes)"


def check_page_matches(page, c, tries=5):
    """The page's rows and cards agree with `dfs status --json`, compared
    after a refresh that began after the status was read. The cluster
    may still be settling (the replicator acting on a dead server), so
    a mismatch is retried with a fresh pair before it fails."""
    for attempt in range(tries):
        refreshed = page.eval(REFRESHES_JS)
        st = c.status()
        # The refresh under way may have read the state before `st`.
        page.wait_for(f"{REFRESHES_JS} >= {refreshed + 2}", 10)
        try:
            return page_matches(page, c, st)
        except AssertionError:
            if attempt == tries - 1:
                raise


def page_matches(page, c, st):
    rows = page.eval(ROWS_JS)
    assert sorted(r["addr"] for r in rows) == sorted(c.chunkd_addrs())
    by_addr = {s["addr"]: s for s in st["chunkservers"]}
    for r in rows:
        s = by_addr[r["addr"]]
        assert r["alive"] == ("1" if s["alive"] else "0"), (r, s)
        assert r["rack"] == s["rack"] == c.rack(c.server_index(r["addr"]))
        assert r["chunks"] == s["chunks"], (r, s)
        assert r["bar"], r
    cards = page.eval(CARDS_JS)
    alive = sum(1 for s in st["chunkservers"] if s["alive"])
    assert cards["c-servers"] == f"{alive} / {len(rows)}", cards
    assert cards["c-files"] == str(st["files"]), cards
    assert cards["c-chunks"] == str(st["chunks"]), cards
    assert cards["c-under"] == str(st["under_replicated"]), cards
    assert cards["c-corrupt"] == "0", cards
    return cards


@pytest.mark.dfs_timeout(180)
def test_status_page(rack_cluster, tmp_path):
    c = rack_cluster
    c.allow(DEATH_NOISE)
    put_file(c, tmp_path, "/f", 3 * MiB + 5)
    c.dfs("mkdir", "/d")
    put_file(c, tmp_path, "/d/g", MiB + 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with cdp.Browser(tmp_path) as b:
        page = b.new_page(1200, 900)
        page.goto(f"http://{c.master}/")
        page.wait_for("Number(document.body.dataset.refreshes) >= 1", 15)
        assert page.eval("document.title").startswith("DFS: 3/3 servers")
        cards = check_page_matches(page, c)
        assert cards["c-missing"] == "0" and cards["c-under"] == "0"
        assert cards["c-files"] == "2" and cards["c-chunks"] == "6"
        assert "No MapReduce coordinator" in page.eval(
            "document.getElementById('jobs-note').textContent")
        page.screenshot(ARTIFACTS / "status-page.png")

        page.resize(390, 844, mobile=True)
        page.wait_for("document.documentElement.clientWidth === 390", 5)
        assert page.eval("document.documentElement.scrollWidth") <= 390
        page.screenshot(ARTIFACTS / "status-page-phone.png")
        page.resize(1200, 900)

        loads = sum(1 for _, m, _ in b.events if m == "Page.loadEventFired")
        refreshed = page.eval("Number(document.body.dataset.refreshes)")
        dead = c.chunkd_addr(1)
        c.kill_chunkd(1)
        page.wait_for(alive_js(dead, False), 30)
        page.wait_for("document.querySelector('#c-servers .v')"
                      ".textContent === '2 / 3'", 10)
        # Every chunk lost a replica; nowhere to copy it (3 servers,
        # replication 3), so all stay under-replicated.
        wait_until(lambda: c.status()["under_replicated"] == 6, 20,
                   "6 under-replicated chunks")
        page.wait_for("document.querySelector('#c-under .v')"
                      ".textContent === '6'", 10)
        check_page_matches(page, c)
        # Nowhere to copy to, so no lease was revoked: the dead server
        # keeps its rows (a revocation would drop them as stale).
        dead_row = [s for s in c.status()["chunkservers"]
                    if s["addr"] == dead]
        assert dead_row[0]["chunks"] == 6, dead_row
        assert page.eval("Number(document.body.dataset.refreshes)") > \
            refreshed
        assert sum(1 for _, m, _ in b.events
                   if m == "Page.loadEventFired") == loads, "page reloaded"
        assert page.eval("document.title").startswith("DFS: 2/3 servers")
        page.screenshot(ARTIFACTS / "status-page-dead.png")
        assert page.errors() == []


def metric_values(text, name):
    """{labels string: value} of every sample of metric `name`."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def scrape_once_counted(addr, name, labels, timeout=15):
    """GET /metrics of addr once sample `name{labels}` is at least 1
    (a heartbeat went by); returns (status, content type, text)."""
    def scrape():
        r = http_get(addr, "/metrics")
        return r if metric_values(r[2], name).get(labels, 0) >= 1 else None

    return wait_until(scrape, timeout, f"{name}{labels} >= 1 on {addr}")


@pytest.mark.dfs_timeout(120)
def test_metrics_promtool(cluster, tmp_path):
    assert shutil.which("promtool"), \
        "promtool missing (Debian package prometheus; deploy/install-deps.sh)"
    local = tmp_path / "m"
    local.write_bytes(os.urandom(2 * MiB + 7))
    cluster.dfs("put", "-q", local, "/metrics-file")
    cluster.dfs("get", "-q", "-f", "/metrics-file", tmp_path / "back")

    status, ctype, text = scrape_once_counted(
        cluster.master, "dfs_master_heartbeats_total", "")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    p = promtool_check(text)
    assert p.returncode == 0 and p.stdout + p.stderr == "", \
        p.stdout + p.stderr
    req = metric_values(text, "dfs_http_requests_total")
    assert req.get('{endpoint="/api/chunks",code="200"}', 0) >= 1, req
    assert req.get('{endpoint="/api/cs/heartbeat",code="200"}', 0) >= 1
    assert metric_values(text, "dfs_master_chunkservers") == {
        '{state="alive"}': 3, '{state="dead"}': 0}
    st = cluster.status()
    assert metric_values(text, "dfs_master_files")[""] == st["files"]
    assert metric_values(text, "dfs_master_chunks")[""] == st["chunks"]
    assert metric_values(text, "dfs_master_chunks_under_replicated") == \
        {"": 0}
    assert 'dfs_http_request_duration_seconds_bucket{endpoint=' \
        '"/api/chunks",le="+Inf"}' in text
    up = metric_values(text, "dfs_master_chunkserver_up")
    assert len(up) == 3 and set(up.values()) == {1}

    written = 0
    for addr in cluster.chunkd_addrs():
        status, _, text = scrape_once_counted(
            addr, "dfs_chunkd_heartbeats_total", '{result="ok"}')
        assert status == 200
        p = promtool_check(text)
        assert p.returncode == 0 and p.stdout + p.stderr == "", \
            f"{addr}: {p.stdout}{p.stderr}"
        assert metric_values(text, "dfs_chunkd_chunks")[""] >= 1
        assert metric_values(text, "dfs_chunkd_capacity_bytes")[""] > 0
        hb = metric_values(text, "dfs_chunkd_heartbeats_total")
        assert hb.get('{result="ok"}', 0) >= 1, hb
        written += metric_values(text, "dfs_http_received_bytes_total").get(
            '{endpoint="/chunk/write"}', 0)
        assert 'dfs_http_request_duration_seconds_count{endpoint=' \
            '"/chunk/write"}' in text
    # Every replica received the file's bytes (3 replicas).
    assert written >= 3 * (2 * MiB + 7), written


def report_counters(addr):
    """(heartbeats, full reports, reported replicas, of them looked up)
    of a master."""
    text = http_get(addr, "/metrics")[2]

    def one(name):
        return metric_values(text, name).get("", 0)
    return (one("dfs_master_heartbeats_total"),
            one("dfs_master_full_reports_total"),
            one("dfs_master_reported_replicas_total"),
            one("dfs_master_reported_replicas_checked_total"))


def counters_over(addr, heartbeats):
    """Differences of report_counters() across that many heartbeats."""
    before = report_counters(addr)
    wait_until(lambda: report_counters(addr)[0] >= before[0] + heartbeats,
               30, f"{heartbeats} heartbeats")
    return tuple(b - a for a, b in zip(before, report_counters(addr)))


@pytest.mark.dfs_timeout(120)
def test_heartbeats_carry_changes(cluster, tmp_path):
    put_file(cluster, tmp_path, "/reported-file", 6 * MiB + 5)
    assert cluster.status()["chunks"] >= 7

    def quiet_window():
        """A window of 3+ heartbeats in which nothing changed on the
        servers (files other tests deleted may still be going)."""
        d = counters_over(cluster.master, 3)
        return d if d[2] == 0 else None
    _, full, pairs, checked = wait_until(quiet_window, 60,
                                         "heartbeats that list nothing")
    # Nothing changed and no full report was due (every 300 s): the
    # heartbeats listed no replica, and the master looked up none.
    assert (full, pairs, checked) == (0, 0, 0)

    # A new file of 3 chunks: its 9 new replicas are reported once each
    # (a chunk's new version would add its replicas again), not the
    # hundreds the servers hold.
    held = 3 * cluster.status()["chunks"]
    before = report_counters(cluster.master)
    put_file(cluster, tmp_path, "/reported-file-2", 3 * MiB)
    wait_until(lambda: report_counters(cluster.master)[2] >=
               before[2] + 9, 20, "the new replicas reported")
    counters_over(cluster.master, 3)
    after = report_counters(cluster.master)
    assert after[1] == before[1]
    assert 9 <= after[2] - before[2] <= 18, (before, after)
    assert after[2] - before[2] < held


@pytest.mark.dfs_timeout(120)
def test_full_reports_look_up_only_changes(make_cluster, tmp_path):
    c = make_cluster(full_report_interval=1)
    put_file(c, tmp_path, "/f", 6 * MiB + 5)
    replicas = 3 * c.status()["chunks"]
    assert replicas == 3 * 7

    def settled():
        """A window in which full reports listed every replica and
        none was looked up (the file's first reports may look some
        up while its chunks settle)."""
        d = counters_over(c.master, 4)
        return d if d[3] == 0 and d[1] >= 3 else None
    _, full, pairs, checked = wait_until(settled, 60,
                                         "full reports that look nothing up")
    # Each full report lists all of its server's replicas; those the
    # replica table has at the chunk's version cost no lookup.
    assert pairs >= replicas, (pairs, replicas)
    assert checked == 0
    # Deleted, the file's replicas leave the servers at the next
    # heartbeat's answer, without waiting for a full report to miss them.
    c.dfs("rm", "/f")
    wait_until(lambda: not any(fu.replica_files(c.chunkd_data(i))
                               for i in range(1, 4)), 30,
               "the deleted file's replicas gone from the servers")


def pending_deletes(addr):
    """(total, {chunk server address: count}) of the master's gauges."""
    text = http_get(addr, "/metrics")[2]
    per = {re.search(r'addr="([^"]*)"', k).group(1): v for k, v in
           metric_values(text, "dfs_master_chunkserver_pending_deletes")
           .items()}
    return metric_values(text, "dfs_master_replicas_pending_delete")[""], per


@pytest.mark.dfs_timeout(120)
def test_pending_deletes_metric(make_cluster, tmp_path):
    # A long heartbeat timeout: the stopped server stays alive meanwhile.
    c = make_cluster(heartbeat_timeout=60)
    put_file(c, tmp_path, "/gone", 2 * MiB + 1)
    handles = [ch["handle"] for ch in c.stat("/gone")["chunks"]]
    assert len(handles) == 3
    assert pending_deletes(c.master)[0] == 0
    stopped = c.chunkd_addr(1)
    held = [c.replica_path(stopped, h) for h in handles]
    os.kill(c.chunkd_pid(1), signal.SIGSTOP)
    try:
        c.dfs("rm", "/gone")

        def only_stopped_left():
            total, per = pending_deletes(c.master)
            others = [a for a in c.chunkd_addrs() if a != stopped]
            gone = not any(c.replica_path(a, h).exists()
                           for a in others for h in handles)
            ok = (total == 3 and per[stopped] == 3 and gone and
                  all(per[a] == 0 for a in others))
            return (total, per) if ok else None
        wait_until(only_stopped_left, 30,
                   "the running servers' replicas deleted, 3 held")
        assert all(p.exists() for p in held)
    finally:
        os.kill(c.chunkd_pid(1), signal.SIGCONT)
    wait_until(lambda: pending_deletes(c.master)[0] == 0 and
               not any(p.exists() for p in held), 30,
               "the resumed server's replicas deleted")
    assert set(pending_deletes(c.master)[1].values()) == {0}


def test_overview_and_jobs(cluster):
    _, ctype, body = http_get(cluster.master, "/api/overview")
    ov = json.loads(body)
    assert ctype == "application/json"
    for k in ("chunkservers", "files", "chunks", "under_replicated",
              "missing", "corrupt", "bytes", "capacity", "used", "free",
              "live_servers", "chunk_size", "replication",
              "heartbeat_timeout_ms", "addr", "start_ms", "now_ms",
              "rereplicating"):
        assert k in ov, k
    assert ov["addr"] == cluster.master
    assert ov["live_servers"] == 3 and ov["chunk_size"] == MiB
    assert ov["capacity"] == sum(s["capacity"] for s in ov["chunkservers"])
    _, _, body = http_get(cluster.master, "/api/jobs")
    assert json.loads(body) == {"coordinator": None, "jobs": []}
    _, ctype, text = http_get(cluster.master, "/status.txt")
    assert ctype.startswith("text/plain") and "chunkservers:" in text
    _, ctype, html = http_get(cluster.master, "/")
    assert ctype.startswith("text/html")
    assert '<meta name="viewport"' in html
    # No external assets: no src= or href= but the inline favicon.
    assert re.findall(r'(?:src|href)="([^"]*)"', html) == ["data:,"]
    st = cluster.status()
    assert set(st) == {"chunkservers", "files", "chunks",
                       "under_replicated"}
