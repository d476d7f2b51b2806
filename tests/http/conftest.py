"""Fixtures for the HTTP shim: a TestClient over a sample copy, and a real `mova serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import FROZEN_NOW, ROOT

with warnings.catch_warnings():  # starlette nudges towards httpx2; the test client works as is
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mova_core.http import create_app
from mova_core.settings import Settings
from mova_core.store.audit import AuditLog

ADMIN_TOKEN = "admin-token-0123456789"
READ_TOKEN = "read-token-9876543210"

GROUP_IDS = {
    "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18",
    "dlq_8b14e6d2-0c7f-4a93-9e51-2d6b8f03a7c4",
    "dlq_c25d7a09-f3e8-4b6c-a1d4-7e90b2c6f835",
    "dlq_5e0b93f4-27ad-4c18-8f6e-b3a1d9047c62",
    "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab",
}
ACTIVE_ID = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
RESOLVED_ID = "dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e"
ARCHIVED_ID = "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3"
STALE_ID = "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"
GO_ID = "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38"


def frozen_clock():
    return FROZEN_NOW


@pytest.fixture
def make_client(sample_dlq) -> Callable[..., TestClient]:
    """A TestClient over the sample copy; keyword arguments become Settings fields or create_app options."""

    def make(*, app_options: dict | None = None, **settings_fields) -> TestClient:
        settings = Settings(dlq_path=sample_dlq, **settings_fields)
        app = create_app(settings, clock=frozen_clock, **(app_options or {}))
        return TestClient(app)

    return make


@pytest.fixture
def client(make_client) -> TestClient:
    """Anonymous access (no token configured)."""
    return make_client()


@pytest.fixture
def audit(sample_dlq) -> Callable[[], list[dict]]:
    """The audit records written so far."""
    return lambda: AuditLog(sample_dlq / ".mova" / "audit.jsonl").read().records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `mova serve` process."""

    url: str
    process: subprocess.Popen
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., Server]]:
    """Start `mova serve` on a free loopback port; waits for /healthz; stops it afterwards."""
    started: list[Server] = []

    def start(dlq: Path, *args: str, env: dict[str, str] | None = None, token: str | None = None) -> Server:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")}
        full_env.update({"MOVA_DLQ_PATH": str(dlq), "MOVA_ACTOR": "tester@test", **(env or {})})
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from mova_tui.cli.main import run; run()", "serve", "--port", str(port), *args],
                cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            )
        server = Server(f"http://127.0.0.1:{port}", proc, log)
        started.append(server)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"mova serve exited with {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{server.url}/healthz", headers=headers, timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"mova serve did not answer /healthz in time: {log.read_text()}")
            time.sleep(0.05)

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def sample_docs() -> list[dict]:
    """The sample entries as plain JSON, read without the core (the tests' own oracle)."""
    import json

    from tests.support import SAMPLE_DLQ

    return [json.loads(p.read_text()) for p in sorted(SAMPLE_DLQ.glob("*.json"))]


@dataclass
class Upstream:
    """A loopback HTTP server standing in for the workflow's API; records what it was sent."""

    url: str
    secret: str
    seen_authorization: list[str]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """Serves `GET /data` as `{"records": [...]}` to `Bearer <secret>`; otherwise 401 echoing the header."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    secret = "s3cr3t-override-value-42"
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            auth = self.headers.get("Authorization", "")
            seen.append(auth)
            if auth == f"Bearer {secret}":
                status, body = 200, {"records": [1, 2, 3]}
            else:  # a careless API that echoes credentials in its error body
                status, body = 401, {"error": f"bad credentials: {auth}"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Upstream(f"http://127.0.0.1:{server.server_address[1]}", secret, seen)
    finally:
        server.shutdown()
        server.server_close()


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under root whose bytes contain needle."""
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
