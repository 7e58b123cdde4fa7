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
- test_reports_look_up_only_changes: every heartbeat lists all of a
  server's replicas, and the master looks up in its chunk table only
  those its replica table does not have at the chunk's version: once a
  written file has settled, heartbeats covering all of its replicas
  (dfs_master_reported_replicas_total) look up none of them
  (dfs_master_reported_replicas_checked_total stays put).
- test_overview_and_jobs: EP_OVERVIEW extends the status object with
  the page's figures; EP_JOBS without --coordinator says so; the plain
  text page moved to /status.txt; `dfs status --json` still prints
  exactly the SPEC 5 object.
"""

import json
import os
import re
import shutil
import urllib.request

import pytest

import cdp
import dfstest
from dfstest import MiB, wait_until
from opscluster import RackCluster, promtool_check

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


def check_page_matches(page, c):
    """The page's rows and cards agree with `dfs status --json`."""
    st = c.status()
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
    """(heartbeats, reported replicas, of them looked up) of a master."""
    text = http_get(addr, "/metrics")[2]

    def one(name):
        return metric_values(text, name).get("", 0)
    return (one("dfs_master_heartbeats_total"),
            one("dfs_master_reported_replicas_total"),
            one("dfs_master_reported_replicas_checked_total"))


@pytest.mark.dfs_timeout(120)
def test_reports_look_up_only_changes(cluster, tmp_path):
    local = tmp_path / "r"
    local.write_bytes(os.urandom(6 * MiB + 5))
    cluster.dfs("put", "-q", local, "/reported-file")
    replicas = 3 * cluster.status()["chunks"]
    assert replicas >= 3 * 7

    def quiet_window():
        """Counters across 3+ heartbeats; the window if none was looked
        up (files other tests deleted are reported until their servers
        drop them)."""
        hb0, pairs0, checked0 = report_counters(cluster.master)
        wait_until(lambda: report_counters(cluster.master)[0] >= hb0 + 3,
                   20, "3 heartbeats")
        _, pairs1, checked1 = report_counters(cluster.master)
        return (pairs1 - pairs0, checked1 - checked0) \
            if checked1 == checked0 else None

    pairs, checked = wait_until(quiet_window, 60,
                                "heartbeats that look nothing up")
    assert checked == 0
    # The window's reports did list the replicas (each server lists all
    # of its own), so they were compared, not skipped.
    assert pairs >= replicas, (pairs, replicas)


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
