"""Built-in action types against real local servers, and the registry."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

import mova_core.engine.actions as actions_pkg
from mova_core.engine.actions import (
    ActionContext,
    ActionError,
    ActionRegistry,
    ActionTimeout,
    ActionType,
    InvalidActionConfig,
    NonRetryableError,
    ParamsModel,
    default_registry,
)
from mova_core.engine.actions.http_fetch import parse_retry_after
from mova_core.engine.context import RunContext
from mova_core.engine.engine import RunRequest
from mova_core.engine.envelopes import load_envelope
from mova_core.model.errors import PolicyError
from mova_core.model.redact import Redactor
from mova_core.settings import Settings

from .engine_fixtures import (  # noqa: F401
    FAST,
    FakeClock,
    clock,
    envelope,
    fetch,
    make_engine,
    server,
    state,
)


def ctx_for(clock: FakeClock, context: RunContext | None = None, deadline=None, variables=None) -> ActionContext:
    logs: list[tuple[str, dict]] = []
    c = ActionContext(
        run_id="run_1", action_id="a", action_type="t", attempt=1,
        variables=variables if variables is not None else {},
        run_context=context or RunContext(sandbox_mode=False, records_dir=Path("/nonexistent")),
        sleep=clock.sleep, now=clock.now, log=lambda m, **kw: logs.append((m, kw)),
        redactor=Redactor(), deadline=deadline,
    )
    c.extras["logs"] = logs
    return c


def run(type_name: str, params: dict, ctx: ActionContext):
    atype = default_registry().get(type_name)
    return atype.run(atype.parse(params), ctx)


# --- http_fetch ---------------------------------------------------------------------------------


def test_http_fetch_success_keeps_status_headers_and_decoded_body(server, clock):
    out = run("http_fetch", {"url": f"{server.url}/ok"}, ctx_for(clock))
    assert out["status"] == 200
    assert out["headers"]["content-type"] == "application/json"
    assert out["body"] == {"ok": True, "path": "/ok"}
    assert out["url"] == f"{server.url}/ok"


def test_http_fetch_sends_method_headers_query_and_bodies(server, clock):
    ctx = ctx_for(clock)
    out = run("http_fetch", {"url": f"{server.url}/echo/a", "method": "post", "headers": {"X-Test": "1"},
                             "query": {"page": 2}, "body": {"channel": "#ops", "n": 1}}, ctx)
    body = out["body"]
    assert body["method"] == "POST"
    assert body["headers"]["x-test"] == "1" and body["headers"]["content-type"] == "application/json"
    assert body["query"] == {"page": "2"}
    assert json.loads(body["body"]) == {"channel": "#ops", "n": 1}
    out = run("http_fetch", {"url": f"{server.url}/echo/b", "method": "PUT", "body": "plain text"}, ctx)
    assert out["body"]["body"] == "plain text"
    out = run("http_fetch", {"url": f"{server.url}/echo/c", "method": "PATCH", "json": [1, 2]}, ctx)
    assert json.loads(out["body"]["body"]) == [1, 2]


def test_http_fetch_server_error_is_retryable(server, clock):
    with pytest.raises(ActionError) as info:
        run("http_fetch", {"url": f"{server.url}/status/502/x"}, ctx_for(clock))
    assert info.value.retryable and info.value.message == "HTTP 502: Bad Gateway"
    assert info.value.retry_after is None


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
def test_http_fetch_4xx_is_not_retryable(server, clock, code):
    with pytest.raises(NonRetryableError) as info:
        run("http_fetch", {"url": f"{server.url}/status/{code}/x"}, ctx_for(clock))
    assert not info.value.retryable and info.value.message.startswith(f"HTTP {code}: ")


@pytest.mark.parametrize("code", [408, 429])
def test_http_fetch_408_and_429_are_retryable(server, clock, code):
    with pytest.raises(ActionError) as info:
        run("http_fetch", {"url": f"{server.url}/status/{code}/x"}, ctx_for(clock))
    assert info.value.retryable


@pytest.mark.parametrize("code", [429, 503])
def test_http_fetch_reads_retry_after(server, clock, code):
    with pytest.raises(ActionError) as info:
        run("http_fetch", {"url": f"{server.url}/retry-after/{code}/7/1/x"}, ctx_for(clock))
    assert info.value.retryable and info.value.retry_after == 7


def test_retry_after_formats():
    assert parse_retry_after("12") == 12
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30


def test_http_fetch_hanging_server_times_out_quickly(server, clock):
    with pytest.raises(ActionError) as info:
        run("http_fetch", {"url": f"{server.url}/hang/x", "timeout": 0.2}, ctx_for(clock))
    assert info.value.retryable and info.value.message == f"timeout after 0.2s: GET {server.url}/hang/x"


def test_http_fetch_timeout_ms_and_remaining_budget(server, clock):
    with pytest.raises(ActionError, match=r"timeout after 0\.15s"):
        run("http_fetch", {"url": f"{server.url}/hang/y", "timeout_ms": 150}, ctx_for(clock))
    ctx = ctx_for(clock, deadline=clock.now() + timedelta(seconds=0.1))
    with pytest.raises(ActionError, match=r"timeout after 0\.1s"):
        run("http_fetch", {"url": f"{server.url}/hang/z", "timeout": 30}, ctx)
    ctx = ctx_for(clock, deadline=clock.now())
    with pytest.raises(ActionTimeout):
        run("http_fetch", {"url": f"{server.url}/ok"}, ctx)


def test_http_fetch_connection_refused_is_retryable(clock):
    with pytest.raises(ActionError) as info:
        run("http_fetch", {"url": "http://127.0.0.1:9/x", "timeout": 1}, ctx_for(clock))
    assert info.value.retryable and info.value.message.startswith("connection failed: GET http://127.0.0.1:9/x")


def test_http_fetch_follows_redirects(server, clock):
    out = run("http_fetch", {"url": f"{server.url}/redirect?to={server.url}/ok"}, ctx_for(clock))
    assert out["status"] == 200 and out["body"]["path"] == "/ok"


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"url": "ftp://example.com/x"}, "url: value error, must be an http:// or https:// URL"),
        ({"url": "http://x", "method": "BREW"}, "method:"),
        ({"url": "http://x", "timeout": 0}, "timeout: must be greater than 0"),
        ({"url": "http://x", "body": "a", "json": {}}, "give either body or json"),
    ],
)
def test_http_fetch_invalid_params(params, fragment):
    with pytest.raises(InvalidActionConfig) as info:
        default_registry().get("http_fetch").parse(params)
    assert fragment in str(info.value)


# --- set, print, parse_json, sleep ------------------------------------------------------------


def test_set_print(clock):
    ctx = ctx_for(clock)
    assert run("set", {"variable": "n", "value": {"a": 1}}, ctx) == {"variable": "n", "value": {"a": 1}}
    assert ctx.variables == {"n": {"a": 1}}
    assert run("print", {"message": "hello"}, ctx) == {"message": "hello"}
    assert run("print", {"message": {"k": [1]}, "level": "warning"}, ctx) == {"message": '{"k": [1]}'}
    assert ctx.extras["logs"] == [("hello", {"level": "info", "printed": True}),
                                 ('{"k": [1]}', {"level": "warning", "printed": True})]


@pytest.mark.parametrize(
    "source, path, value",
    [
        ('{"data": {"items": [{"id": 7}]}}', "data.items.0.id", 7),
        ('{"data": {"items": [{"id": 7}]}}', "$.data.items[0].id", 7),
        ({"items": [{"id": "a"}, {"id": "b"}]}, "items[*].id", ["a", "b"]),
        ('{"status": "shipped"}', "status", "shipped"),
        ("[1, 2, 3]", "$", [1, 2, 3]),
        ('{"a": 1}', "", {"a": 1}),
    ],
)
def test_parse_json_extracts_into_a_variable(clock, source, path, value):
    ctx = ctx_for(clock)
    assert run("parse_json", {"source": source, "path": path, "variable": "v"}, ctx) == {"variable": "v", "value": value}
    assert ctx.variables["v"] == value


def test_parse_json_failures_are_not_retryable(clock):
    with pytest.raises(NonRetryableError, match="source is not valid JSON"):
        run("parse_json", {"source": "{nope", "path": "a", "variable": "v"}, ctx_for(clock))
    with pytest.raises(NonRetryableError, match=r"path 'a.b' not found: \$.a has no 'b'"):
        run("parse_json", {"source": {"a": {}}, "path": "a.b", "variable": "v"}, ctx_for(clock))
    ctx = ctx_for(clock)
    assert run("parse_json", {"source": {}, "path": "x", "variable": "v", "default": None}, ctx)["value"] is None


def test_sleep_uses_the_injected_sleep_and_is_bounded(clock):
    ctx = ctx_for(clock)
    assert run("sleep", {"seconds": 1.5}, ctx) == {"slept": 1.5}
    assert run("sleep", {"duration": 2}, ctx) == {"slept": 2}
    assert clock.waits == [1.5, 2]
    with pytest.raises(InvalidActionConfig, match="at most 300"):
        run("sleep", {"seconds": 301}, ctx)
    with pytest.raises(InvalidActionConfig, match="give seconds"):
        run("sleep", {}, ctx)
    short = ctx_for(clock, deadline=clock.now() + timedelta(seconds=1))
    with pytest.raises(ActionTimeout, match="sleep of 5s outlasts the 1s left"):
        run("sleep", {"seconds": 5}, short)


# --- registry -------------------------------------------------------------------------------------


class Shout(ActionType):
    name = "shout"

    class Params(ParamsModel):
        text: str

    def run(self, params, ctx):
        return {"text": params.text.upper()}


def test_registry_knows_the_builtins_and_accepts_new_types(clock):
    reg = ActionRegistry()
    assert reg.names() == ["http_fetch", "parse_json", "print", "set", "sleep"]
    with pytest.raises(InvalidActionConfig, match="unknown action type 'shout'; known types: http_fetch, "):
        reg.get("shout")
    reg.register(Shout)
    assert reg.get("shout").run(reg.get("shout").parse({"text": "hi"}), ctx_for(clock)) == {"text": "HI"}
    assert "shout" in reg


def test_entry_points_add_types(monkeypatch):
    class FakeEP:
        def __init__(self, name, target):
            self.name, self._target = name, target

        def load(self):
            if isinstance(self._target, Exception):
                raise self._target
            return self._target

    eps = [FakeEP("shout", Shout), FakeEP("broken", ImportError("missing dep")), FakeEP("set", Shout)]
    monkeypatch.setattr(actions_pkg, "entry_points", lambda group: eps if group == "mova.actions" else [])
    reg = ActionRegistry(entry_points_group="mova.actions")
    assert "shout" in reg and "broken" not in reg
    assert type(reg.get("set")).__name__ == "SetVariable"  # an installed package does not replace a built-in


def test_static_check_skips_templated_values():
    fetch = default_registry().get("http_fetch")
    assert fetch.check({"url": "{{ variables.url }}", "timeout": "{{ variables.t }}"}) == []
    assert fetch.check({"timeout": -1}, "actions[0].params") == [
        "actions[0].params.url: is required", "actions[0].params.timeout: must be greater than 0"]


# --- what HTTP cannot send, what cannot be stored ----------------------------------------------


@pytest.mark.parametrize("name, value", [("X-Api-Key", "clé-secrète"), ("X-Note", "a\r\nX-Injected: 1"),
                                         ("X-Nul", "a\x00b"), ("Bad Name", "v4lue-42"), ("X-Ü", "v4lue-42")])
def test_headers_http_cannot_send_are_an_invalid_configuration_naming_the_header(name, value):
    with pytest.raises(InvalidActionConfig) as info:
        default_registry().get("http_fetch").parse({"url": "http://x/", "headers": {name: value}}, "fetch.params")
    message = str(info.value)
    assert "fetch.params.headers" in message and repr(name) in message and value not in message


def test_a_templated_non_ascii_header_fails_once_as_invalid_configuration(server, state, clock):
    secret = "clé-sécrète-42"
    doc = envelope(fetch(f"{server.url}/echo/h", retry=FAST, headers={"X-Api-Key": "{{ secrets.key }}"}))
    out = make_engine(Settings(dlq_path=state / "deadletter"), clock, sink=lambda e: None).run(
        doc, RunRequest(secrets={"key": secret}))
    assert out.failure_reason == "non_retryable_error" and clock.waits == []  # one attempt, no retry
    assert "header 'X-Api-Key' has characters HTTP cannot send" in out.error
    assert "UnicodeEncodeError" not in out.error and secret not in out.error
    assert server.calls("/echo/h") == 0


def test_a_literal_non_ascii_header_is_refused_before_the_run():
    with pytest.raises(PolicyError, match=r"actions\[0\].params.headers: .*header 'X-Name'"):
        load_envelope(envelope(fetch("http://127.0.0.1:1/", headers={"X-Name": "Zoë"})))


def _nested_json(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def test_a_response_too_deep_to_store_is_kept_as_text(server, clock):
    deep = _nested_json(300)
    out = run("http_fetch", {"url": f"{server.url}/json", "query": {"body": deep}}, ctx_for(clock))
    assert out["body"] == deep
    fine = _nested_json(150)
    assert run("http_fetch", {"url": f"{server.url}/json", "query": {"body": fine}}, ctx_for(clock))["body"] == json.loads(fine)


def test_parse_json_refuses_a_source_too_deep_to_store(clock):
    for source in (_nested_json(300), "[" * 200_000):
        with pytest.raises(NonRetryableError, match="parse_json: source: nested too deeply"):
            run("parse_json", {"source": source, "path": "", "variable": "v"}, ctx_for(clock))


def test_the_response_preview_is_redacted_before_it_is_cut(server, clock):
    secret = "pä ss{wörd}|x-0123456789"
    ctx = ctx_for(clock)
    ctx.redactor = Redactor([secret])
    for pad in range(480, 500):  # the secret (as the JSON text escapes it) straddles the 500th character
        ctx.extras["logs"].clear()
        run("http_fetch", {"url": f"{server.url}/json", "query": {"body": json.dumps("x" * pad + secret)}}, ctx)
        preview = next(kw["body_preview"] for m, kw in ctx.extras["logs"] if m == "response")
        assert len(preview) <= 500 and "\\u00e4 ss" not in preview and "p\\u00e4" not in preview[-12:], pad


@pytest.fixture
def tls_server(tmp_path):
    """A loopback HTTPS server with a self-signed certificate (no CA of the machine vouches for it)."""
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_every_request_checks_certificates_with_one_tls_context_per_process(tls_server, clock, monkeypatch):
    """The CA bundle is read once per process (it cost more than the rest of a retry), and a server
    whose certificate no CA vouches for is still refused."""
    import httpx

    from mova_core.engine import context as context_module

    made = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **kw: made.append(1) or real(*a, **kw))
    context_module.tls_context.cache_clear()
    try:
        for _ in range(3):
            with pytest.raises(ActionError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                run("http_fetch", {"url": f"{tls_server}/x"}, ctx_for(clock))
        assert len(made) == 1
    finally:
        context_module.tls_context.cache_clear()
