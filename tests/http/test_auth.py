"""Token rules, the audit identity, and the Host/Origin checks against browser attacks."""

from __future__ import annotations

import pytest

from mova_core.http.auth import host_name, identify

from .conftest import ACTIVE_ID, ADMIN_TOKEN, READ_TOKEN

READS = ["/healthz", "/metrics", "/openapi.json", "/v1/dlq", "/v1/dlq/stats", "/v1/dlq/groups", f"/v1/dlq/{ACTIVE_ID}"]
#: Every read but the health probe needs a token.
PROTECTED_READS = [path for path in READS if path != "/healthz"]
CHANGES = [
    ("PUT", f"/v1/dlq/{ACTIVE_ID}/status", {"status": "archived"}),
    ("POST", f"/v1/dlq/{ACTIVE_ID}/archive", None),
    ("DELETE", f"/v1/dlq/{ACTIVE_ID}", None),
    ("POST", f"/v1/dlq/{ACTIVE_ID}/retry", {"sandbox_mode": True}),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secured(make_client):
    return make_client(api_token=ADMIN_TOKEN, api_read_token=READ_TOKEN)


@pytest.mark.parametrize("path", PROTECTED_READS + ["/v1/nothing", "/healthz/", "/healthz/../v1/dlq", "/docs",
                                  "/redoc"])
@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), bearer(ADMIN_TOKEN + "x"), bearer(ADMIN_TOKEN[:-1]), {"Authorization": ADMIN_TOKEN},
     {"Authorization": f"Basic {ADMIN_TOKEN}"}, {"Authorization": "Bearer "}, {"Authorization": "Bearer tökén".encode()}],
)
def test_every_request_needs_a_valid_token(secured, path, headers):
    r = secured.get(path, headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [{}, bearer("wrong")])
def test_healthz_answers_without_a_token_and_says_nothing_more(secured, headers):
    """A load balancer probes it without credentials; it tells only that the server runs."""
    r = secured.get("/healthz", headers=headers)
    assert r.status_code == 200 and set(r.json()) == {"status", "version"}
    assert secured.head("/healthz", headers=headers).status_code in (200, 405)  # never 401
    r = secured.get("/healthz?x=/v1/dlq", headers=headers)  # a query string makes nothing else public
    assert r.status_code == 400 and "unknown query parameter" in r.json()["error"] and "entries" not in r.text
    assert secured.post("/healthz", headers=headers).status_code == 401  # only reads are public


def test_healthz_keeps_the_host_check(make_client):
    client = make_client(api_token=ADMIN_TOKEN, app_options={"allowed_hosts": {"localhost", "127.0.0.1", "::1"}})
    assert client.get("/healthz", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize(("method", "path", "body"), CHANGES)
def test_changes_without_a_token_are_401_and_change_nothing(secured, sample_dlq, audit, method, path, body):
    before = (sample_dlq / f"{ACTIVE_ID}.json").read_bytes()
    r = secured.request(method, path, json=body)
    assert r.status_code == 401
    assert (sample_dlq / f"{ACTIVE_ID}.json").read_bytes() == before
    assert audit() == []


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("token", [ADMIN_TOKEN, READ_TOKEN])
def test_both_tokens_read(secured, path, token):
    assert secured.get(path, headers=bearer(token)).status_code == 200


def test_scheme_is_case_insensitive(secured):
    assert secured.get("/v1/dlq", headers={"Authorization": f"bearer {READ_TOKEN}"}).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), CHANGES)
def test_read_token_cannot_change_anything(secured, sample_dlq, audit, method, path, body):
    before = (sample_dlq / f"{ACTIVE_ID}.json").read_bytes()
    r = secured.request(method, path, json=body, headers=bearer(READ_TOKEN))
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    assert (sample_dlq / f"{ACTIVE_ID}.json").read_bytes() == before
    assert audit() == []


def test_admin_token_changes_and_is_audited_as_admin(secured, audit):
    r = secured.put(f"/v1/dlq/{ACTIVE_ID}/status", json={"status": "archived"}, headers=bearer(ADMIN_TOKEN))
    assert r.status_code == 200
    r = secured.delete(f"/v1/dlq/{ACTIVE_ID}", headers=bearer(ADMIN_TOKEN))
    assert r.status_code == 200
    assert [(rec["op"], rec["actor"]) for rec in audit()] == [("set_status", "admin"), ("delete", "admin")]


def test_read_token_alone_allows_reads_only(make_client):
    client = make_client(api_read_token=READ_TOKEN)
    assert client.get("/v1/dlq").status_code == 401
    assert client.get("/v1/dlq", headers=bearer(READ_TOKEN)).status_code == 200
    assert client.post(f"/v1/dlq/{ACTIVE_ID}/archive", headers=bearer(READ_TOKEN)).status_code == 403
    assert client.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 401


def test_empty_token_variable_means_no_token(make_client, audit):
    client = make_client(api_token="")
    assert client.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
    assert audit()[0]["actor"] == "anonymous"


def test_tokens_never_appear_in_answers(secured):
    for path in READS + ["/docs"]:
        text = secured.get(path, headers=bearer(ADMIN_TOKEN)).text
        assert ADMIN_TOKEN not in text and READ_TOKEN not in text


def test_identify():
    tokens = {"admin": b"a" * 20, "read-only": b"r" * 20}
    assert identify(None, {}) == "anonymous"
    assert identify("Bearer " + "a" * 20, tokens) == "admin"
    assert identify("Bearer  " + "r" * 20 + " ", tokens) == "read-only"
    assert identify("Bearer " + "a" * 19, tokens) is None
    assert identify("Bearer \udcff", tokens) is None
    assert identify("", tokens) is None
    assert identify("Bearer tökén".encode(), {"admin": "tökén".encode()}) == "admin"


# -- browser attacks on a loopback server without a token -------------------------------------
def test_cross_origin_changes_are_refused(client, sample_dlq, audit):
    before = (sample_dlq / f"{ACTIVE_ID}.json").read_bytes()
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        r = client.post(f"/v1/dlq/{ACTIVE_ID}/archive", headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["code"] == "cross_origin"
        r = client.delete(f"/v1/dlq/{ACTIVE_ID}", headers={"Origin": origin})
        assert r.status_code == 403
    assert (sample_dlq / f"{ACTIVE_ID}.json").read_bytes() == before
    assert audit() == []
    # Reads carry no side effect; the same-origin page (e.g. /docs) may change things.
    assert client.get("/v1/dlq", headers={"Origin": "http://evil.example"}).status_code == 200
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/archive", headers={"Origin": "http://testserver"})
    assert r.status_code == 200


def test_foreign_host_header_is_refused_when_listening_on_loopback(make_client):
    client = make_client(app_options={"allowed_hosts": {"localhost", "127.0.0.1", "::1"}})
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080", "LOCALHOST:1"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", ""):
        r = client.get("/v1/dlq", headers={"Host": host})
        assert r.status_code == 400 and r.json()["code"] == "invalid_host", host


def test_host_name():
    assert host_name("[::1]:8080") == "::1"
    assert host_name("localhost:80") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("::1") == "::1"
