"""Request signing and chunk access tokens of include/auth.h, in Python.

The integration tests talk to the daemons directly (raw chunk reads,
master endpoints, hostile requests); with the cluster secret always on
they sign those requests the way lib/auth.c does:

    key       = HKDF-SHA256(secret, salt "dfs cluster secret", info LABEL)
    X-DFS-Auth: v1 <unix_ms> <nonce_hex> <hmac_hex>
    hmac      = HMAC(request key, METHOD\\nURI\\nsha256hex(body)\\nms\\nnonce)
    token     = <handle>.<mode>.<expiry_ms>.<hmac(token key,
                 "dfs-token-v1\\n" + text before the last '.')>

The secret is the key file's content without trailing white space (a
file given by path, or $DFS_SECRET). Only the standard library is used.
"""

import hashlib
import hmac
import os
import secrets
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

READ = 1
WRITE = 2

_SALT = b"dfs cluster secret"


def _hkdf(secret, label):
    prk = hmac.new(_SALT, secret, hashlib.sha256).digest()
    return hmac.new(prk, label + b"\x01", hashlib.sha256).digest()


class Key:
    """The two keys derived from a cluster secret."""

    def __init__(self, secret):
        if isinstance(secret, str):
            secret = secret.encode()
        secret = secret.rstrip(b" \t\r\n")
        self.req = _hkdf(secret, b"dfs request auth v1")
        self.tok = _hkdf(secret, b"dfs chunk token v1")

    @classmethod
    def load(cls, path=None):
        """Key of the secret file at path (default $DFS_SECRET); None if
        neither is set."""
        path = path or os.environ.get("DFS_SECRET")
        if not path:
            return None
        return cls(Path(path).read_bytes())

    def sign(self, method, uri, body=b"", now_ms=None, nonce=None):
        """The X-DFS-Auth value for a request."""
        ms = str(int(time.time() * 1000) if now_ms is None else now_ms)
        nonce = nonce or secrets.token_hex(16)
        digest = hashlib.sha256(body or b"").hexdigest()
        msg = "\n".join([method, uri, digest, ms, nonce]).encode()
        mac = hmac.new(self.req, msg, hashlib.sha256).hexdigest()
        return f"v1 {ms} {nonce} {mac}"

    def token(self, handle, mode=READ | WRITE, ttl_ms=300000,
              expiry_ms=None):
        """A chunk access token for handle."""
        if expiry_ms is None:
            expiry_ms = int(time.time() * 1000) + ttl_ms
        text = f"{handle}.{mode}.{expiry_ms}"
        mac = hmac.new(self.tok, b"dfs-token-v1\n" + text.encode(),
                       hashlib.sha256).hexdigest()
        return f"{text}.{mac}"


def _query_handle(target):
    """The handle=N of a target's query string, or None."""
    _, _, query = target.partition("?")
    for kv in query.split("&"):
        name, _, value = kv.partition("=")
        if name == "handle" and value.isdigit():
            return int(value)
    return None


def headers(method, target, body=b"", key=None, token=True):
    """Headers that authenticate a request with key (default: the key of
    $DFS_SECRET; none without one). With token, a chunk endpoint
    (/chunk/...) also gets a READ|WRITE token for its handle."""
    key = key or Key.load()
    if key is None:
        return {}
    h = {"X-DFS-Auth": key.sign(method, target, body or b"")}
    handle = _query_handle(target)
    if token and target.startswith("/chunk/") and handle is not None:
        h["X-DFS-Token"] = key.token(handle)
    return h


def ssl_context(ca=None):
    """An SSL context trusting the CA file ca (default $DFS_CA), or None
    when there is none."""
    ca = ca or os.environ.get("DFS_CA")
    return ssl.create_default_context(cafile=ca) if ca else None


def request(addr, target, body=None, method=None, key=None, sign=True,
            token=True, extra=None, timeout=30, ca=None):
    """One HTTP(S) request to a daemon: (status, body bytes). Signed with
    key (default $DFS_SECRET) unless sign is False."""
    method = method or ("POST" if body is not None else "GET")
    data = body if body is None or isinstance(body, bytes) else \
        body.encode()
    h = headers(method, target, data, key, token) if sign else {}
    h.update(extra or {})
    ctx = ssl_context(ca)
    scheme = "https" if ctx else "http"
    req = urllib.request.Request(f"{scheme}://{addr}{target}", data=data,
                                 method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
