"""`mova serve`: a real server process on a loopback port, the bind/token rules, and the missing extra."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mova_tui.cli.main import app
from mova_tui.cli.serve import is_loopback

from .conftest import ACTIVE_ID, ADMIN_TOKEN, READ_TOKEN, RESOLVED_ID, files_containing


def test_the_specs_curls_against_a_real_server(serve, sample_dlq, upstream):
    server = serve(sample_dlq)
    with server.client() as http:
        body = http.get("/v1/dlq", params={"status": "active", "workflow_type": "data-processing", "limit": 50}).json()
        assert body["count"] == 7 and body["filter"] == {"status": "active", "workflow_type": "data-processing",
                                                         "limit": 50}
        assert http.get(f"/v1/dlq/{ACTIVE_ID[:12]}").json()["id"] == ACTIVE_ID
        assert http.get("/v1/dlq/stats").json()["total_entries"] == 16
        r = http.post("/v1/dlq/dlq_8b14e6d2/retry", json={
            "sandbox_mode": True,
            "overrides": {"variables": {"api_url": upstream.url}, "secrets": {"api_key": upstream.secret}},
        })
        assert r.status_code == 200 and r.json()["execution_result"]["status"] == "completed"
        assert upstream.secret not in r.text
        assert http.put(f"/v1/dlq/{ACTIVE_ID}/status", json={"status": "archived"}).json()["status"] == "archived"
        assert http.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
        assert http.delete(f"/v1/dlq/{RESOLVED_ID}").status_code == 200
        assert "dlq_entries_total" in http.get("/metrics").text
        assert http.get("/openapi.json").json()["info"]["title"]
    # Nothing of the secret in the state directory, nor in the server's own (info-level) log.
    assert files_containing(sample_dlq.parent, upstream.secret) == []
    log = server.log.read_text()
    assert "POST /v1/dlq/dlq_8b14e6d2/retry" in log and upstream.secret not in log


def test_raw_traversal_paths_on_the_wire(serve, sample_dlq, tmp_path):
    (sample_dlq.parent / "secret.json").write_text('{"marker": "OUTSIDE"}')
    server = serve(sample_dlq)
    port = int(server.url.rsplit(":", 1)[1])
    for method, path in [("GET", "/v1/dlq/../secret"), ("GET", "/v1/dlq/../../state/secret"),
                         ("DELETE", "/v1/dlq/..%2Fsecret"), ("GET", "/v1/dlq/%2E%2E"), ("DELETE", "/v1/dlq/%2e%2e"),
                         ("GET", "/v1/dlq//etc/passwd"), ("GET", "/v1/dlq/secret%00")]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path)  # sent exactly as written: no client-side dot-segment removal
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        assert resp.status in (400, 404), (path, resp.status, text)
        assert "OUTSIDE" not in text
    assert (sample_dlq.parent / "secret.json").read_text() == '{"marker": "OUTSIDE"}'


def test_token_rules_on_a_real_server(serve, sample_dlq, audit):
    server = serve(sample_dlq, env={"MOVA_API_TOKEN": ADMIN_TOKEN, "MOVA_API_READ_TOKEN": READ_TOKEN},
                   token=READ_TOKEN)
    with server.client() as anonymous:
        assert anonymous.get("/healthz").status_code == 401
        assert anonymous.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 401
    with server.client(READ_TOKEN) as reader:
        assert reader.get("/v1/dlq").status_code == 200
        assert reader.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 403
    with server.client(ADMIN_TOKEN) as admin:
        assert admin.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
    assert [(r["op"], r["actor"]) for r in audit()] == [("archive", "admin")]
    assert ADMIN_TOKEN not in server.log.read_text() and READ_TOKEN not in server.log.read_text()


def test_foreign_host_header_is_refused_by_a_loopback_server(serve, sample_dlq):
    server = serve(sample_dlq)
    with server.client() as http:
        assert http.get("/v1/dlq", headers={"Host": "rebind.example:8080"}).status_code == 400
        assert http.get("/v1/dlq", headers={"Host": "localhost"}).status_code == 200


# -- the command's checks, without binding anything ----------------------------------------------
@pytest.fixture
def fake_uvicorn(monkeypatch):
    """Record what `mova serve` would run instead of running it."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "myhost.example"])
def test_non_loopback_without_a_token_refuses_to_start(fake_uvicorn, sample_dlq, host):
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve", "--host", host])
    assert result.exit_code == 2
    assert "MOVA_API_TOKEN" in result.output and "--insecure" in result.output
    assert fake_uvicorn == []


def test_non_loopback_with_a_token_or_insecure_starts(fake_uvicorn, sample_dlq, monkeypatch):
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve", "--host", "0.0.0.0", "--insecure"])
    assert result.exit_code == 0, result.output
    assert "no API token" in result.output
    monkeypatch.setenv("MOVA_API_TOKEN", ADMIN_TOKEN)
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve", "--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0, result.output
    assert ADMIN_TOKEN not in result.output
    assert [kw["host"] for _, kw in fake_uvicorn] == ["0.0.0.0", "0.0.0.0"]
    assert fake_uvicorn[1][1]["port"] == 9000


def test_default_bind_is_loopback_port_8080(fake_uvicorn, sample_dlq):
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve"])
    assert result.exit_code == 0, result.output
    [(_, kw)] = fake_uvicorn
    assert (kw["host"], kw["port"]) == ("127.0.0.1", 8080)


def test_missing_http_extra_names_it(monkeypatch, sample_dlq):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now raises ImportError
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve"])
    assert result.exit_code == 2
    assert "pip install 'mova[http]'" in result.output


def test_is_loopback():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""))


# --- the shim as a service: pool, coalesced refreshes, cache, access log, workers, shutdown -----


def test_requests_reuse_a_pool_of_services_closed_at_shutdown(sample_dlq):
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from mova_core.http import create_app
    from mova_core.settings import Settings

    app = create_app(Settings(dlq_path=sample_dlq))
    pool = app.state.pool
    with TestClient(app) as client:
        for _ in range(20):
            assert client.get(f"/v1/dlq/{ACTIVE_ID}").status_code == 200
        assert pool.created == 1
        with ThreadPoolExecutor(8) as workers:
            codes = list(workers.map(lambda _: client.get("/v1/dlq", params={"limit": 5}).status_code, range(64)))
        assert set(codes) == {200} and pool.created <= 9
        with pool.service("x") as svc:
            db = svc.store.index.db
    with pytest.raises(sqlite3.ProgrammingError):  # closed by the lifespan's shutdown
        db.execute("SELECT 1")


def test_refreshes_that_arrive_during_one_are_answered_by_the_next():
    import threading

    from mova_core.ops.pool import RefreshGate

    gate, release, inside = RefreshGate(), threading.Event(), threading.Event()

    def slow() -> bool:
        inside.set()
        release.wait(30)
        return True

    first = threading.Thread(target=gate.run, args=(slow,))
    first.start()
    assert inside.wait(30)
    others = [threading.Thread(target=gate.run, args=(lambda: True,)) for _ in range(19)]
    for t in others:
        t.start()
    while gate.waiting < 19:  # every caller has asked (after the first refresh began)
        threading.Event().wait(0.001)
    release.set()
    for t in [first, *others]:
        t.join(30)
    assert gate.refreshes == 2  # the first, and one for all nineteen that asked while it ran


def test_statistics_are_cached_until_the_directory_changes(client, sample_dlq):
    import os

    client.get("/v1/dlq/stats")  # the first use makes .mova/ in the directory
    old = os.stat(sample_dlq).st_mtime - 60
    os.utime(sample_dlq, (old, old))  # older than the racy window: the stamp can be trusted
    gate = client.app.state.pool.gate
    assert client.get("/v1/dlq/stats").json()["by_status"]["archived"] == 2
    client.get("/metrics")
    archived = {"status": "archived", "limit": 50}
    assert client.get("/v1/dlq", params=archived).json()["count"] == 2
    assert client.get(f"/v1/dlq/{ACTIVE_ID}").json()["status"] == "active"
    before = gate.refreshes
    for _ in range(5):
        assert client.get("/v1/dlq/stats").json()["by_status"]["archived"] == 2
        assert "dlq_entries_total" in client.get("/metrics").text
        assert client.get("/v1/dlq", params=archived).json()["count"] == 2
    assert gate.refreshes == before  # all from the cache: not even the index was asked
    assert client.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
    assert client.get("/v1/dlq/stats").json()["by_status"]["archived"] == 3
    assert client.get("/v1/dlq", params=archived).json()["count"] == 3
    assert client.get(f"/v1/dlq/{ACTIVE_ID}").json()["status"] == "archived"


def test_access_log_lines_carry_the_request_id(serve, sample_dlq):
    server = serve(sample_dlq)
    with server.client() as http:
        mine = http.get(f"/v1/dlq/{ACTIVE_ID}", headers={"X-Request-ID": "trace-42.a"})
        assert mine.headers["x-request-id"] == "trace-42.a"
        generated = http.get("/v1/dlq/nope%0Aforged", headers={"X-Request-ID": "bad id\twith tab"})
        rid = generated.headers["x-request-id"]
        assert len(rid) == 16 and int(rid, 16) >= 0
    server.process.terminate()
    server.process.wait(timeout=20)
    lines = server.log.read_text().splitlines()
    assert any("trace-42.a" in line and f'"GET /v1/dlq/{ACTIVE_ID}" 200' in line and "anonymous" in line
               for line in lines)
    [forged] = [line for line in lines if rid in line]
    assert "/v1/dlq/nope%0Aforged" in forged and "forged\n" not in server.log.read_text()
    assert not any(line.startswith("forged") for line in lines)


def test_workers_serve_the_same_directory_in_several_processes(serve, sample_dlq):
    import os

    server = serve(sample_dlq, "--workers", "2")
    with server.client() as http:
        stats = [http.get("/v1/dlq/stats").json()["total_entries"] for _ in range(10)]
        assert stats == [16] * 10
        assert http.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
        assert {http.get(f"/v1/dlq/{ACTIVE_ID}").json()["status"] for _ in range(10)} == {"archived"}
    children = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and f"PPid:\t{server.process.pid}\n" in open(f"/proc/{pid}/status").read():
                children.append(pid)
        except OSError:
            continue
    assert len(children) >= 2  # the worker processes (uvicorn's supervisor is the server process)


class _BlockingUpstream:
    """A loopback API whose GET waits until `release` is set (or, `failing`, answers 500 at once);
    `arrived` is set when a request comes in."""

    def __init__(self, *, failing: bool = False) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.arrived, self.release = threading.Event(), threading.Event()
        outer = self

        class Slow(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.arrived.set()
                if not failing:
                    outer.release.wait(60)
                data = b'{"records": [1]}'
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def _start_retry(server, upstream: _BlockingUpstream) -> tuple:
    import threading

    import httpx

    answer: dict = {}

    def retry() -> None:
        body = {"sandbox_mode": True, "overrides": {"variables": {"api_url": upstream.url}, "secrets": {"api_key": "k"}}}
        try:
            answer["r"] = httpx.post(f"{server.url}/v1/dlq/dlq_8b14e6d2/retry", json=body, timeout=60)
        except httpx.TransportError as exc:
            answer["error"] = exc

    caller = threading.Thread(target=retry)
    caller.start()
    return caller, answer


def test_sigterm_lets_a_running_retry_finish(serve, sample_dlq):
    upstream = _BlockingUpstream()
    server = serve(sample_dlq)
    caller, answer = _start_retry(server, upstream)
    try:
        assert upstream.arrived.wait(30)
        server.process.terminate()  # SIGTERM while the retry waits on its upstream
        with pytest.raises(subprocess.TimeoutExpired):
            server.process.wait(timeout=0.5)  # still there: the retry is allowed to finish
        upstream.release.set()
        caller.join(60)
        assert server.process.wait(timeout=30) in (0, -15)  # uvicorn re-raises SIGTERM once it has shut down
    finally:
        upstream.close()
    assert answer["r"].status_code == 200 and answer["r"].json()["execution_result"]["status"] == "completed"
    entry = json.loads(next(sample_dlq.glob("dlq_8b14e6d2*.json")).read_text())
    assert entry["status"] == "active" and entry["retry_history"][-1]["outcome"] == "completed"


def test_a_retry_still_running_after_the_shutdown_timeout_is_cancelled_cleanly(serve, sample_dlq):
    upstream = _BlockingUpstream(failing=True)  # the retry then waits 2 s, 4 s, 8 s... between attempts
    server = serve(sample_dlq, "--shutdown-timeout", "0.5")
    caller, _ = _start_retry(server, upstream)
    try:
        assert upstream.arrived.wait(30)
        server.process.terminate()
        assert server.process.wait(timeout=30) in (0, -15)  # without waiting for the upstream
    finally:
        upstream.close()
        caller.join(60)
    entry = json.loads(next(sample_dlq.glob("dlq_8b14e6d2*.json")).read_text())
    assert entry["status"] == "active" and entry["retry_history"][-1]["outcome"] == "cancelled"
    assert "cancelling 1 running retries" in server.log.read_text()
