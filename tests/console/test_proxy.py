"""Behind a reverse proxy: `--proxy-headers` makes the public https origin the server's own (wss://,
Secure cookies), `--allowed-host` admits its public name; untrusted proxy headers change nothing."""

from __future__ import annotations

import asyncio

import httpx
import websockets

from tests.http.conftest import ADMIN_TOKEN

from .conftest import address, children_of, wait_until

PUBLIC = "dlq.example.com"
FORWARDED = {"Host": PUBLIC, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
             "Origin": f"https://{PUBLIC}"}


def proxied_login(url: str) -> httpx.Response:
    return httpx.post(f"{url}/dlq/login", data={"token": ADMIN_TOKEN}, headers=FORWARDED, timeout=10)


def test_behind_a_trusted_proxy_the_public_https_origin_is_the_servers_own(console):
    server = console("--proxy-headers", "--allowed-host", PUBLIC)
    r = proxied_login(server.url)
    assert r.status_code == 303
    assert "; Secure" in r.headers["set-cookie"]
    cookie = r.headers["set-cookie"].split(";")[0]

    async def session() -> None:
        headers = {"X-Forwarded-Proto": "https", "Cookie": cookie}
        host, port = address(server).split(":")
        # Host: dlq.example.com, as the proxy sends it; the connection itself goes to the server.
        async with websockets.connect(f"ws://{PUBLIC}/dlq/ws", host=host, port=int(port), additional_headers=headers,
                                      origin=websockets.Origin(f"https://{PUBLIC}"), open_timeout=10) as ws:
            while b"mova" not in await asyncio.wait_for(ws.recv(), 20):
                pass

    asyncio.run(session())
    wait_until(lambda: children_of(server.process.pid) == [], timeout=8, what="the dashboard to exit")
    assert "web console: http://127.0.0.1:" in server.log.read_text()


def test_proxy_headers_are_ignored_unless_asked_for_or_from_an_untrusted_address(console):
    for args in ((), ("--proxy-headers", "--forwarded-allow-ips", "192.0.2.1")):
        server = console("--allowed-host", PUBLIC, *args)
        r = proxied_login(server.url)
        assert r.status_code == 403 and r.json()["code"] == "cross_origin", args  # https origin, http server
        assert "set-cookie" not in r.headers
        server.process.terminate()


def test_a_public_name_not_allowed_is_refused(console):
    server = console("--proxy-headers")
    assert proxied_login(server.url).status_code == 400
