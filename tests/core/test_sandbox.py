"""The run context, production and sandbox: the allow-list, secrets, where records go, detailed logs."""

from __future__ import annotations

import json

import pytest

from mova_core.engine.context import RunContext, hosts_in, secrets_from_env
from mova_core.engine.engine import RunRequest
from mova_core.engine.errors import SandboxBlocked
from mova_core.model.hosts import is_loopback
from mova_core.settings import Settings

from .engine_fixtures import (  # noqa: F401
    FAST,
    all_bytes,
    clock,
    envelope,
    fetch,
    make_engine,
    server,
    settings,
    state,
)
from .httpservers import LocalServer


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost."])
def test_loopback(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1", "example.com", "0.0.0.0"])
def test_not_loopback(host):
    assert not is_loopback(host)


@pytest.mark.parametrize("host", ["localhost.localdomain", "ip6-localhost"])
def test_only_localhost_counts_as_loopback_by_name(settings, host):
    # Other names for this machine come from /etc/hosts and may resolve anywhere: the one shared rule
    # (mova_core.model.hosts) takes `localhost` and literal loopback addresses only.
    with pytest.raises(SandboxBlocked, match=f"host '{host}' is not on the sandbox allow-list"):
        RunContext.sandbox(settings).check_request("GET", f"http://{host}/x")


def test_hosts_in_override_variables():
    overrides = {"api_url": "https://Staging-API.example.com:8443/v1", "timeout": 60, "nested": {"hook": "http://hooks.test/x"},
                 "list": ["https://a.test", "not a url", "ftp://files.test/"]}
    assert hosts_in(overrides) == {"staging-api.example.com", "hooks.test", "a.test"}


def test_production_allows_everything(settings):
    RunContext.production(settings, env_secrets={}).check_request("DELETE", "https://prod.example.com/x")


def _resolver(*answers: str, calls: list[str] | None = None):
    """A resolver seam: every lookup answers these addresses (and is counted); no machine DNS."""
    def resolve(host: str) -> list[str]:
        if calls is not None:
            calls.append(host)
        return list(answers)
    return resolve


def test_sandbox_allows_loopback_and_named_hosts_only(settings):
    sb = RunContext.sandbox(settings, override_variables={"api_url": "https://staging.example.com"},
                            resolve=_resolver("127.0.0.1", "::1"))
    for url in ("http://127.0.0.1:8000/x", "http://localhost/x", "http://[::1]:81/", "https://staging.example.com/v1"):
        sb.check_request("POST", url)
    with pytest.raises(SandboxBlocked) as info:
        sb.check_request("GET", "https://api.example.com/data")
    assert str(info.value).startswith(
        "blocked by sandbox policy: host 'api.example.com' is not on the sandbox allow-list (loopback, staging.example.com)")
    with pytest.raises(SandboxBlocked, match="blocked by sandbox policy: POST to a non-allow-listed host 'evil.example'"):
        sb.check_request("POST", "http://evil.example/hook")
    with pytest.raises(SandboxBlocked):
        sb.check_request("GET", "http://staging.example.com.evil.example/")


def test_configured_hosts_and_wildcards(monkeypatch, state):
    monkeypatch.setenv("MOVA_SANDBOX_ALLOWED_HOSTS", "Files.Example.com, *.internal.test")
    sb = RunContext.sandbox(Settings(dlq_path=state / "deadletter"))
    sb.check_request("PUT", "https://files.example.com/x")
    sb.check_request("GET", "https://a.b.internal.test/")
    sb.check_request("GET", "https://internal.test/")
    with pytest.raises(SandboxBlocked):
        sb.check_request("GET", "https://notinternal.test/")


def test_sandbox_gets_override_secrets_only(settings):
    env = {"MOVA_SECRET_API_KEY": "prod-key", "MOVA_SECRET_TOKEN": "prod-token", "OTHER": "x"}
    assert secrets_from_env(env) == {"api_key": "prod-key", "token": "prod-token"}
    sb = RunContext.sandbox(settings, override_secrets={"api_key": "test_key_123"})
    assert sb.secrets == {"api_key": "test_key_123"} and sb.sandbox_mode
    prod = RunContext.production(settings, inline_secrets={"token": "inline", "api_key": "inline", "gone": "[REDACTED]"},
                                 override_secrets={"api_key": "override"}, env_secrets=secrets_from_env(env))
    # overrides > MOVA_SECRET_* > inline; a redacted inline value is no value
    assert prod.secrets == {"api_key": "override", "token": "prod-token"}


def test_records_directories(settings, state):
    assert RunContext.sandbox(settings).records_dir == state / "sandbox"
    assert RunContext.production(settings, env_secrets={}).records_dir == state / "runs"


def test_blocked_request_is_not_sent_and_not_retried(settings, clock, state):
    out = make_engine(settings, clock, sink=lambda e: None).run(
        envelope(fetch("https://api.example.com/data", retry=FAST)), RunRequest(context=RunContext.sandbox(settings)))
    assert out.failure_reason == "non_retryable_error" and clock.waits == []
    assert out.error.startswith("blocked by sandbox policy: host 'api.example.com'")
    assert (state / "sandbox" / f"{out.run_id}.json").exists() and not (state / "runs").exists()


def test_redirects_are_checked_too(server, settings, clock):
    out = make_engine(settings, clock, sink=lambda e: None).run(
        envelope(fetch(f"{server.url}/redirect?to=https://api.example.com/steal")),
        RunRequest(context=RunContext.sandbox(settings)))
    assert out.failure_reason == "non_retryable_error" and "blocked by sandbox policy" in out.error
    assert server.calls("/redirect") == 1


def test_sandbox_logs_in_detail_with_secrets_redacted(server, settings, clock, state):
    secret = "sandbox-secret-4242"
    sb = RunContext.sandbox(settings, override_variables={"base": server.url}, override_secrets={"token": secret})
    doc = envelope(fetch("{{ variables.base }}/echo/s", method="POST", headers={"Authorization": "Bearer {{ secrets.token }}"},
                         json={"hello": "world"}))
    out = make_engine(settings, clock).run(doc, RunRequest(context=sb, variables={"base": server.url}))
    assert out.status == "completed"
    log = [json.loads(line) for line in (state / "sandbox" / f"{out.run_id}.log.jsonl").read_text().splitlines()]
    messages = [(e.get("message"), e.get("fields", {})) for e in log if e["event"] == "log"]
    names = [m for m, _ in messages]
    assert names[:1] == ["sandbox run"] and {"params", "request", "response", "attempt timing"} <= set(names)
    params = next(f for m, f in messages if m == "params")["params"]
    assert params["url"] == f"{server.url}/echo/s" and params["headers"]["Authorization"] == "[REDACTED]"
    response = next(f for m, f in messages if m == "response")
    assert response["status"] == 200 and response["elapsed_ms"] >= 0
    assert next(f for m, f in messages if m == "sandbox run")["secret_names"] == ["token"]
    for path, data in all_bytes(state):
        assert secret.encode() not in data, path


def test_production_runs_log_no_request_details(server, settings, clock, state):
    out = make_engine(settings, clock).run(envelope(fetch(f"{server.url}/ok")))
    log = (state / "runs" / f"{out.run_id}.log.jsonl").read_text()
    assert '"request"' not in log and '"params"' not in log


# -- `localhost` is trusted for what it resolves to, through the resolver seam -------------------
@pytest.mark.parametrize("answers", [("10.0.0.1",), ("127.0.0.1", "10.0.0.1"), ("::1", "2001:db8::1"), ()])
def test_localhost_resolving_outside_loopback_is_refused(settings, answers):
    sb = RunContext.sandbox(settings, resolve=_resolver(*answers))
    with pytest.raises(SandboxBlocked, match="'localhost' resolves to .*not only to loopback addresses"):
        sb.check_request("GET", "http://localhost:8080/x")


@pytest.mark.parametrize("listed", ["override", "setting"])
def test_naming_localhost_does_not_make_it_trusted(state, listed):
    hosts = "localhost" if listed == "setting" else ""
    settings = Settings(dlq_path=state / "deadletter", sandbox_allowed_hosts=hosts)
    sb = RunContext.sandbox(settings, override_variables={"hook": "http://localhost:9/x"} if listed == "override" else {},
                            resolve=_resolver("10.0.0.1"))
    with pytest.raises(SandboxBlocked, match="resolves to 10.0.0.1"):
        sb.check_request("POST", "http://LOCALHOST.:9/x")


def test_localhost_resolving_elsewhere_is_not_contacted(settings, clock, state):
    calls: list[str] = []
    sb = RunContext.sandbox(settings, resolve=_resolver("10.0.0.1", calls=calls))
    out = make_engine(settings, clock, sink=lambda e: None).run(
        envelope(fetch("http://localhost:1/x", retry=FAST)), RunRequest(context=sb))
    assert out.failure_reason == "non_retryable_error" and clock.waits == []
    assert "'localhost' resolves to 10.0.0.1" in out.error and calls == ["localhost"]


def test_localhost_connects_to_the_checked_address_only(settings, clock):
    # The server listens on 127.0.0.2 only: the machine's own `localhost` (127.0.0.1, ::1) would be
    # refused, so the answer proves the connection went to the address the seam gave and was checked.
    calls: list[str] = []
    with LocalServer(host="127.0.0.2") as srv:
        sb = RunContext.sandbox(settings, resolve=_resolver("127.0.0.2", calls=calls))
        out = make_engine(settings, clock, sink=lambda e: None).run(
            envelope(fetch(f"http://localhost:{srv.port}/echo/pinned")), RunRequest(context=sb))
        assert out.status == "completed", out.error
        assert calls == ["localhost"]  # one lookup for one request: no second resolution
        seen = srv.requests[-1]
        assert seen.path == "/echo/pinned" and seen.headers["Host"] == f"localhost:{srv.port}"
        assert out.context.results["fetch"].output["url"] == f"http://localhost:{srv.port}/echo/pinned"


def test_localhost_tries_each_checked_address_in_turn(settings, clock):
    with LocalServer(host="127.0.0.2") as srv:
        closed = _closed_port_on("127.0.0.3", srv.port)
        sb = RunContext.sandbox(settings, resolve=_resolver(closed, "127.0.0.2"))
        out = make_engine(settings, clock, sink=lambda e: None).run(
            envelope(fetch(f"http://localhost:{srv.port}/ok")), RunRequest(context=sb))
        assert out.status == "completed", out.error


def _closed_port_on(address: str, port: int) -> str:
    """`address`, after checking that nothing listens there on `port` (connection refused at once)."""
    import socket

    with socket.socket() as s:
        assert s.connect_ex((address, port)) != 0
    return address


def test_redirect_to_localhost_is_resolved_and_checked(server, settings, clock):
    calls: list[str] = []
    sb = RunContext.sandbox(settings, resolve=_resolver("10.0.0.1", calls=calls))
    out = make_engine(settings, clock, sink=lambda e: None).run(
        envelope(fetch(f"{server.url}/redirect?to=http://localhost:{server.port}/ok")), RunRequest(context=sb))
    assert "'localhost' resolves to 10.0.0.1" in out.error and out.failure_reason == "non_retryable_error"
    assert server.calls("/redirect") == 1 and server.calls("/ok") == 0 and calls == ["localhost"]


def test_redirect_to_localhost_resolving_to_loopback_is_followed_to_the_checked_address(settings, clock):
    with LocalServer(host="127.0.0.2") as srv:
        sb = RunContext.sandbox(settings, resolve=_resolver("127.0.0.2"))
        out = make_engine(settings, clock, sink=lambda e: None).run(
            envelope(fetch(f"{srv.url}/redirect?to=http://localhost:{srv.port}/ok")), RunRequest(context=sb))
        assert out.status == "completed", out.error
        assert srv.calls("/ok") == 1 and srv.requests[-1].headers["Host"] == f"localhost:{srv.port}"


def test_production_never_resolves_by_itself(settings):
    def refuse(host: str) -> list[str]:
        raise AssertionError("production asked the sandbox resolver")
    prod = RunContext(sandbox_mode=False, records_dir=settings.dlq_path, resolve=refuse)
    assert prod.route("GET", "http://localhost:1/") is None
