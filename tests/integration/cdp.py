"""Headless Chromium driven over the DevTools protocol, for page tests.

`Browser()` starts Debian's `chromium` headless with a fresh profile and
talks the Chrome DevTools Protocol over a pipe (--remote-debugging-pipe:
the browser reads commands on its fd 3 and writes replies and events on
its fd 4, each a JSON text ended by a NUL byte), so no port is opened and
nothing but the standard library is needed.

    with cdp.Browser(tmp_path) as b:
        page = b.new_page(width=1200, height=900)
        page.goto("http://127.0.0.1:9000/")
        page.wait_for("document.body.dataset.refreshes >= 1", 10)
        rows = page.eval("[...document.querySelectorAll('tr')].length")
        page.screenshot(path)
        assert not page.errors()     # console errors, exceptions, failed loads

Every call has a timeout; closing kills the browser (by pid) if it does
not quit, and removes nothing but what it made.
"""

import base64
import json
import os
import shutil
import subprocess
import threading
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--mute-audio", "--remote-debugging-pipe",
]


class CdpError(AssertionError):
    pass


class Browser:
    def __init__(self, workdir, timeout=30):
        if CHROMIUM is None:
            raise CdpError("chromium not installed (deploy/install-deps.sh)")
        self.timeout = timeout
        self.profile = os.path.join(str(workdir), "chromium-profile")
        os.makedirs(self.profile, exist_ok=True)
        self.log = open(os.path.join(str(workdir), "chromium.log"), "wb")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def child_fds():
            # dup2() makes 3 and 4 inheritable; every other descriptor
            # Python made is close-on-exec already.
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            preexec_fn=child_fds, close_fds=False, start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._replies = {}
        self.events = []          # (sessionId, method, params)
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- transport ----------------------------------------------------

    def _read_loop(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append((msg.get("sessionId"),
                                            msg.get("method"),
                                            msg.get("params", {})))
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def call(self, method, params=None, session=None, timeout=None):
        """Send one command; returns its result or raises CdpError."""
        with self._cond:
            self._next_id += 1
            mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise CdpError(f"no answer to {method} "
                                   f"({'closed' if self._closed else 'timeout'})")
                self._cond.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method, session=None, timeout=None, since=0):
        """The params of the first event `method` at or after index
        `since` of self.events; raises CdpError on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while True:
                for s, m, p in self.events[since:]:
                    if m == method and (session is None or s == session):
                        return p
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise CdpError(f"no {method} event")
                self._cond.wait(left)

    # -- pages --------------------------------------------------------

    def new_page(self, width=1200, height=900, mobile=False):
        target = self.call("Target.createTarget", {"url": "about:blank"})
        sid = self.call("Target.attachToTarget",
                        {"targetId": target["targetId"],
                         "flatten": True})["sessionId"]
        page = Page(self, sid)
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=sid)
        page.resize(width, height, mobile)
        return page

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=5)
            except CdpError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser, session):
        self.b = browser
        self.session = session

    def call(self, method, params=None, timeout=None):
        return self.b.call(method, params, self.session, timeout)

    def resize(self, width, height, mobile=False):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height,
                   "deviceScaleFactor": 1, "mobile": mobile})

    def goto(self, url, timeout=30):
        since = len(self.b.events)
        self.call("Page.navigate", {"url": url})
        self.b.wait_event("Page.loadEventFired", self.session, timeout,
                          since)

    def eval(self, expression):
        """The value of a JavaScript expression (JSON-able)."""
        r = self.call("Runtime.evaluate",
                      {"expression": expression, "returnByValue": True,
                       "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout, interval=0.2):
        """Poll until the expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise CdpError(f"timed out after {timeout}s waiting for "
                               f"{expression}")
            time.sleep(interval)

    def screenshot(self, path, full_page=True):
        params = {"format": "png", "captureBeyondViewport": full_page}
        data = self.call("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def errors(self):
        """Console errors, uncaught exceptions and failed resource loads
        of this page so far, as strings."""
        out = []
        for s, m, p in list(self.b.events):
            if s != self.session:
                continue
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + str(
                    d.get("exception", {}).get("description") or
                    d.get("text")))
            elif m == "Runtime.consoleAPICalled" and \
                    p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description")))
                    for a in p.get("args", [])))
            elif m == "Log.entryAdded" and \
                    p.get("entry", {}).get("level") == "error":
                e = p["entry"]
                out.append(f"log ({e.get('source')}): {e.get('text')} "
                           f"{e.get('url', '')}")
        return out
