"""`mova serve`: a real server process on a loopback port, the bind/token rules, and the missing extra."""

from __future__ import annotations

import http.client
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
        assert anonymous.get("/healthz").status_code == 200  # the load balancer's probe needs no token
        assert anonymous.get("/v1/dlq").status_code == 401
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
    """From this checkout the hint installs the checkout's extra: `mova` on an index is another project."""
    from tests.support import ROOT

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now raises ImportError
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve"])
    assert result.exit_code == 2
    assert f"(uvicorn is not installed): pip install -e '.[http]' (in {ROOT})" in result.output
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "serve"])
    assert result.output.rstrip().endswith("(uvicorn is not installed): pip install -e '.[http]'")


def test_the_extra_hint_outside_a_checkout(tmp_path):
    from mova_tui.cli.serve import http_extra_hint

    assert http_extra_hint(tmp_path / "site-packages") == "pip install 'mova[http]'"


def test_is_loopback():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""))
