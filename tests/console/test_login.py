"""The console's log-in: a form, a constant-time token check, a signed session cookie, log-out."""

from __future__ import annotations

import sys
import warnings

import pytest
from typer.testing import CliRunner

from mova_core.http import create_app
from mova_core.http.console import ConsoleOptions
from mova_core.http.console.cookies import COOKIE_NAME, SessionCookies
from mova_core.settings import Settings
from mova_tui.cli.main import app as cli
from tests.http.conftest import ADMIN_TOKEN, READ_TOKEN

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ORIGIN = {"Origin": "http://testserver"}


@pytest.fixture
def make_console(sample_dlq):
    def make(base_url: str = "http://testserver", **settings_fields) -> TestClient:
        settings = Settings(dlq_path=sample_dlq, **settings_fields)
        return TestClient(create_app(settings, console=ConsoleOptions()), base_url=base_url, follow_redirects=False)

    return make


@pytest.fixture
def secured(make_console) -> TestClient:
    return make_console(api_token=ADMIN_TOKEN, api_read_token=READ_TOKEN)


def log_in(client: TestClient, token: str):
    return client.post("/dlq/login", data={"token": token}, headers={"Origin": str(client.base_url)})


def test_the_console_shows_a_login_form_when_a_token_is_set(secured):
    r = secured.get("/dlq/")
    assert r.status_code == 200
    assert '<form method="post" action="/dlq/login">' in r.text and 'type="password"' in r.text
    assert "startTerminal" not in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert secured.get("/dlq").status_code in (307, 308)  # to /dlq/


@pytest.mark.parametrize("token", ["", "wrong", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1], f"Bearer {ADMIN_TOKEN}"])
def test_a_wrong_token_is_refused(secured, token):
    r = log_in(secured, token)
    assert r.status_code == 401
    assert "That token is not valid." in r.text
    assert "set-cookie" not in r.headers


def test_a_login_post_that_is_not_the_form_is_refused(secured):
    for body in ("&".join(f"f{i}=1" for i in range(50)) + f"&token={ADMIN_TOKEN}", "\udcff", "token"):
        r = secured.post("/dlq/login", content=body.encode("utf-8", "surrogateescape"),
                         headers={**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 401 and "set-cookie" not in r.headers


def test_a_right_token_sets_a_signed_session_cookie(secured):
    r = log_in(secured, ADMIN_TOKEN)
    assert r.status_code == 303 and r.headers["location"] == "/dlq/"
    cookie = r.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/dlq", "Max-Age=28800"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert ADMIN_TOKEN not in cookie
    page = secured.get("/dlq/")
    assert "startTerminal" in page.text and "login" not in page.headers.get("location", "")
    assert secured.get("/dlq/static/js/textual.js").status_code == 200


def test_the_cookie_is_secure_behind_tls(make_console):
    client = make_console("https://testserver", api_token=ADMIN_TOKEN)
    r = client.post("/dlq/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "https://testserver"})
    assert r.status_code == 303 and "; Secure" in r.headers["set-cookie"]


def test_static_files_and_pages_need_a_session(secured):
    assert secured.get("/dlq/static/js/textual.js").status_code == 401
    assert secured.get("/dlq/static/css/xterm.css").status_code == 401
    assert secured.get("/dlq/anything").status_code == 401


def test_the_token_never_travels_in_a_url(secured):
    for path in (f"/dlq/?token={ADMIN_TOKEN}", f"/dlq/login?token={ADMIN_TOKEN}"):
        r = secured.request("GET" if "login" not in path else "POST", path, headers=ORIGIN)
        assert "set-cookie" not in r.headers, path
        assert "startTerminal" not in r.text


def test_a_login_from_another_site_is_refused(secured):
    r = secured.post("/dlq/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_the_cookie_opens_the_console_only(secured):
    log_in(secured, ADMIN_TOKEN)
    assert secured.get("/v1/dlq").status_code == 401  # the REST API still wants its bearer header
    assert secured.post("/v1/dlq/dlq_1d6f08b3/archive", headers=ORIGIN).status_code == 401


def test_the_read_only_token_logs_in_read_only(secured):
    log_in(secured, READ_TOKEN)
    assert "startTerminal" in secured.get("/dlq/").text
    cookies = SessionCookies({"admin": ADMIN_TOKEN.encode(), "read-only": READ_TOKEN.encode()}, "/dlq", 60)
    assert cookies.session_identity(f"{COOKIE_NAME}={secured.cookies[COOKIE_NAME]}") == "read-only"


def test_logout_ends_the_session_even_for_a_copied_cookie(secured):
    log_in(secured, ADMIN_TOKEN)
    stolen = secured.cookies[COOKIE_NAME]
    r = secured.post("/dlq/logout", headers=ORIGIN)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]
    assert "startTerminal" not in secured.get("/dlq/", headers={"Cookie": f"{COOKIE_NAME}={stolen}"}).text


def test_forged_and_expired_cookies_are_refused():
    tokens = {"admin": b"a" * 24, "read-only": b"r" * 24}
    now = [1_000_000.0]
    cookies = SessionCookies(tokens, "/dlq", lifetime=3600, clock=lambda: now[0])
    value = cookies.issue("read-only", secure=False).split(";")[0]
    assert cookies.session_identity(value) == "read-only"
    payload, stamp, signature = value.split("=", 1)[1].split(".")
    assert cookies.session_identity(f"{COOKIE_NAME}={payload}.{stamp}.{signature[:-2]}AA") is None
    # The read-only token alone (what its holder knows) does not make a key that signs for admin.
    forger = SessionCookies({"read-only": b"r" * 24}, "/dlq", 3600, clock=lambda: now[0])
    assert cookies.session_identity(forger.issue("read-only", secure=False).split(";")[0]) is None
    # A rotated token ends every session.
    rotated = SessionCookies({"admin": b"b" * 24, "read-only": b"r" * 24}, "/dlq", 3600, clock=lambda: now[0])
    assert rotated.session_identity(value) is None
    now[0] += 3601
    assert cookies.session_identity(value) is None
    assert cookies.session_identity(None) is None and cookies.session_identity("junk=;;==") is None


def test_without_a_token_the_console_opens_directly(make_console):
    client = make_console()
    assert "startTerminal" in client.get("/dlq/").text
    assert client.get("/dlq/static/js/textual.js").status_code == 200


def test_serve_console_names_the_missing_extra(monkeypatch, sample_dlq):
    monkeypatch.setitem(sys.modules, "textual_serve_asgi", None)
    result = CliRunner().invoke(cli, ["--dlq-path", str(sample_dlq), "serve", "--console"])
    assert result.exit_code == 2
    assert "pip install 'mova[console]'" in result.output and "textual-serve-asgi" in result.output
