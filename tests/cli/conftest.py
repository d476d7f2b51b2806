"""Fixtures for the command line: an in-process runner, real subprocesses, the spec's example entry,
and a local HTTP server for retries that should succeed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mova_tui.cli.main import app
from tests.support import ROOT

#: The specification's example id, and the prefix its CLI examples use.
SPEC_ID = "dlq_12345678-1234-1234-1234-123456789012"
OLD_RESOLVED_ID = "dlq_0bd0bd00-2023-4c00-8000-000000000001"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch):
    """Plain, 80-column output whatever the developer's terminal."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@contextlib.contextmanager
def local_server():
    """A local HTTP server answering every request 200 with a small JSON body; yields its base URL and
    the list of the requests' Authorization headers."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def _ok(self):
            seen.append(self.headers.get("Authorization"))
            body = b'{"ok": true, "items": [1, 2, 3]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _ok

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ok_server():
    """A local HTTP server answering every request 200 with a small JSON body; yields its base URL."""
    with local_server() as (url, _):
        yield url


@pytest.fixture
def recorder():
    """`ok_server`, and the Authorization header of each request it received."""
    with local_server() as served:
        yield served


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_entry(entry_id: str, *, url: str, status: str = "active", created_at: str = "2024-01-19T10:30:45.123456789Z",
               run_id: str = "run_1642588245123456789", workflow_type: str = "data-processing") -> dict:
    """An entry in the specification's storage format, fetching `url` with tiny retry delays."""
    action = {"id": "fetch_data", "type": "http_fetch", "params": {"url": f"{url}/data"},
              "retry": {"max_attempts": 2, "backoff": "fixed", "delay": 0.01}}
    return {
        "id": entry_id,
        "run_id": run_id,
        "created_at": created_at,
        "status": status,
        "envelope": {"intent": {"name": workflow_type, "version": "1.0"}, "actions": [action]},
        "context": {"run_id": run_id, "status": "failed", "variables": {"api_url": url}, "results": {}},
        "failed_action": {"id": "fetch_data", "type": "http_fetch", "params": {"url": f"{url}/data"}},
        "error_details": {
            "last_error": "network timeout: failed to connect to remote server",
            "error_history": [
                "Attempt 1: connection refused",
                "Attempt 2: timeout after 30s",
                "Attempt 3: network timeout: failed to connect to remote server",
            ],
            "failure_reason": "max_retries_exceeded",
            "attempts": 3,
            "retry_policy": {"max_attempts": 3, "backoff": "exponential", "delay": 2},
        },
        "metadata": {"source": "executor", "priority": 1, "workflow_type": workflow_type, "retry_count": 0,
                     "tags": ["data", "external-api"]},
    }


def write_entry(directory: Path, data: dict) -> Path:
    path = directory / f"{data['id']}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture
def dlq(sample_dlq, monkeypatch) -> Path:
    """A copy of the sample directory, selected through MOVA_DLQ_PATH."""
    monkeypatch.setenv("MOVA_DLQ_PATH", str(sample_dlq))
    return sample_dlq


@pytest.fixture
def spec_dlq(dlq, ok_server) -> Path:
    """The sample copy plus the specification's example entry (`dlq_12345678-…`, whose fetch succeeds
    against a local server) and a resolved entry from 2023 (for the emergency-cleanup pipeline)."""
    write_entry(dlq, make_entry(SPEC_ID, url=ok_server))
    write_entry(dlq, make_entry(OLD_RESOLVED_ID, url=ok_server, status="resolved",
                                created_at="2023-12-05T09:00:00Z", run_id="run_1701766800000000000"))
    return dlq


class Cli:
    """Runs `mova` in process (Typer's runner): `cli("dlq", "list")`."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


MOVA = [sys.executable, "-m", "mova_tui.cli.main"]


@pytest.fixture
def mova():
    """Runs `mova` as a real subprocess: `mova("dlq", "list", check=False)`."""

    def run(*args: str, input: str | None = None, timeout: float = 30, **kwargs):
        return subprocess.run([*MOVA, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              env=subprocess_env(), **kwargs)

    return run


@pytest.fixture
def sh(tmp_path):
    """Runs a shell line exactly as printed (with `mova` on PATH), in tmp_path."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not available")

    def run(line: str, timeout: float = 60):
        return subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True, text=True,
                              timeout=timeout, env=subprocess_env(), cwd=tmp_path, stdin=subprocess.DEVNULL)

    return run


needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until `predicate()` is truthy (a background retry finishing); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def entry_status(directory: Path, entry_id: str) -> str:
    return json.loads((directory / f"{entry_id}.json").read_text())["status"]


def load_entry(directory: Path, entry_id: str) -> dict:
    return json.loads((directory / f"{entry_id}.json").read_text())
