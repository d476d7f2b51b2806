"""Real HTTP servers on 127.0.0.1 for the engine tests (threads over `http.server`).

Routes (one server answers all of them; counters are per path, so each test uses its own path):

* `/ok`                       200 JSON `{"ok": true, "path": ...}`
* `/json?body=<json>`         200 with that JSON body
* `/flaky/<n>/<name>`         500 for the first n requests, then 200 JSON `{"ok": true, "calls": k}`
* `/status/<code>/<name>`     always that status
* `/retry-after/<code>/<seconds>/<n>/<name>`  that status with `Retry-After: <seconds>` n times, then 200
* `/hang/<name>`              never answers (until the server stops)
* `/echo/<name>`              200 JSON with the request's method, headers, query and body
* `/redirect?to=<url>`        302 to the given URL
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """A threaded HTTP server on an ephemeral loopback port; use as a context manager."""

    host: str = "127.0.0.1"
    requests: list[Seen] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                    n = server.counters.get(parts.path, 0) + 1
                    server.counters[parts.path] = n
                server.route(self, parts, n, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def calls(self, path: str) -> int:
        """How many requests reached this path."""
        return self.counters.get(path, 0)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- routing ---------------------------------------------------------------------------
    def route(self, h: BaseHTTPRequestHandler, parts, n: int, body: bytes) -> None:
        segs = [s for s in parts.path.split("/") if s]
        query = parse_qs(parts.query)
        head, rest = (segs[0] if segs else ""), segs[1:]
        if head == "ok":
            return _send(h, 200, {"ok": True, "path": parts.path})
        if head == "json":
            return _send(h, 200, json.loads(query.get("body", ["{}"])[0]))
        if head == "flaky":
            fails = int(rest[0])
            if n <= fails:
                return _send(h, 500, {"error": f"flaky failure {n}"})
            return _send(h, 200, {"ok": True, "calls": n})
        if head == "status":
            code = int(rest[0])
            return _send(h, code, {"status": code})
        if head == "retry-after":
            code, seconds, times = int(rest[0]), rest[1], int(rest[2])
            if n <= times:
                return _send(h, code, {"status": code}, {"Retry-After": seconds})
            return _send(h, 200, {"ok": True, "calls": n})
        if head == "hang":
            self._stop.wait(10)
            return None
        if head == "echo":
            return _send(h, 200, {
                "method": h.command,
                "headers": {k.lower(): v for k, v in h.headers.items()},
                "query": {k: v[0] for k, v in query.items()},
                "body": body.decode("utf-8", "replace"),
            })
        if head == "redirect":
            h.send_response(302)
            h.send_header("Location", query["to"][0])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        return _send(h, 404, {"error": "no such route"})


def _send(h: BaseHTTPRequestHandler, code: int, payload, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(data)
