"""Every scope is checked: a websocket with a bad Host, a forged Origin or no credentials never reaches the app."""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Iterator

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket

from mova_core.http import create_app
from mova_core.http.auth import same_origin
from mova_core.settings import Settings
from tests.http.conftest import ADMIN_TOKEN, READ_TOKEN, free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.testclient import WebSocketDenialResponse

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def app_with_socket(dlq, accepted: list[str], **settings_fields) -> FastAPI:
    """The shim with one websocket route that records who got through (a stand-in for the console)."""
    app = create_app(Settings(dlq_path=dlq, **settings_fields), allowed_hosts=LOOPBACK)

    async def echo(websocket: WebSocket) -> None:
        accepted.append(websocket.scope["state"]["identity"])
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_api_websocket_route("/probe", echo)
    return app


def denied(client: TestClient, headers: dict[str, str]) -> int:
    """The HTTP status a websocket handshake was refused with."""
    with pytest.raises(WebSocketDenialResponse) as refusal, client.websocket_connect("/probe", headers=headers):
        pass
    return refusal.value.status_code


GOOD = {"host": "127.0.0.1:8080", "origin": "http://127.0.0.1:8080"}


@pytest.mark.parametrize(("headers", "status"), [
    ({"host": "evil.example", "origin": "http://evil.example"}, 400),          # DNS rebinding
    ({"host": "127.0.0.1.evil.example:8080", "origin": "http://127.0.0.1.evil.example:8080"}, 400),
    ({"host": "127.0.0.1:8080", "origin": "http://evil.example"}, 403),        # cross-site hijacking
    ({"host": "127.0.0.1:8080", "origin": "null"}, 403),
    ({"host": "127.0.0.1:8080", "origin": "http://127.0.0.1:9999"}, 403),
    ({"host": "127.0.0.1:8080", "origin": "https://127.0.0.1:8080"}, 403),
    ({"host": "127.0.0.1:8080"}, 403),                                          # no Origin at all
])
def test_websocket_with_a_bad_host_or_origin_is_refused_before_the_app(sample_dlq, headers, status):
    accepted: list[str] = []
    client = TestClient(app_with_socket(sample_dlq, accepted))
    assert denied(client, headers) == status
    assert accepted == []


def test_websocket_from_the_servers_own_page_is_accepted(sample_dlq):
    accepted: list[str] = []
    client = TestClient(app_with_socket(sample_dlq, accepted))
    for headers in (GOOD, {"host": "localhost", "origin": "http://LOCALHOST:80"}):
        with client.websocket_connect("/probe", headers=headers) as ws:
            assert ws.receive_text() == "hello"
    assert accepted == ["anonymous", "anonymous"]


def test_websocket_needs_a_token_when_one_is_configured(sample_dlq):
    accepted: list[str] = []
    client = TestClient(app_with_socket(sample_dlq, accepted, api_token=ADMIN_TOKEN, api_read_token=READ_TOKEN))
    assert denied(client, GOOD) == 401
    assert denied(client, {**GOOD, "authorization": "Bearer wrong"}) == 401
    with client.websocket_connect("/probe", headers={**GOOD, "authorization": f"Bearer {READ_TOKEN}"}) as ws:
        assert ws.receive_text() == "hello"
    assert accepted == ["read-only"]


def test_the_public_health_path_is_public_for_http_only(sample_dlq):
    client = TestClient(app_with_socket(sample_dlq, [], api_token=ADMIN_TOKEN))
    assert client.get("/healthz", headers={"host": GOOD["host"]}).status_code == 200
    with pytest.raises(WebSocketDenialResponse) as refusal, client.websocket_connect("/healthz", headers=GOOD):
        pass
    assert refusal.value.status_code == 401


def test_same_origin():
    assert same_origin("http://127.0.0.1:8080", "ws", "127.0.0.1:8080")
    assert same_origin("https://dlq.example.com", "wss", "dlq.example.com:443")
    assert same_origin("http://[::1]:8080", "http", "[::1]:8080")
    assert not same_origin("http://dlq.example.com", "wss", "dlq.example.com")
    assert not same_origin("http://a@127.0.0.1:8080", "ws", "127.0.0.1:8080")
    assert not same_origin("http://127.0.0.1:8080/page", "ws", "127.0.0.1:8080")
    assert not same_origin("http://127.0.0.1:99999", "ws", "127.0.0.1:99999")
    assert not same_origin("", "ws", "127.0.0.1:8080")


# -- on the wire: uvicorn and a raw websocket client ------------------------------------------
@pytest.fixture
def live(sample_dlq) -> Iterator[tuple[str, list[str]]]:
    """The shim with the probe route under a real uvicorn on a loopback port, in a thread."""
    accepted: list[str] = []
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app_with_socket(sample_dlq, accepted, api_token=ADMIN_TOKEN),
                                           host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        threading.Event().wait(0.02)
    yield f"127.0.0.1:{port}", accepted
    server.should_exit = True
    thread.join(10)


async def handshake_status(address: str, host: str | None = None, **headers: str) -> int | str:
    """The HTTP status of a raw websocket handshake (101 when accepted), with the refusal's code."""
    ip, port = address.split(":")
    try:  # the Host header names `host`; the connection goes to `address` all the same
        async with websockets.connect(f"ws://{host or address}/probe", host=ip, port=int(port),
                                      additional_headers=headers, origin=None, open_timeout=5) as ws:
            await ws.recv()
            return 101
    except websockets.InvalidStatus as exc:
        return f"{exc.response.status_code} {json.loads(exc.response.body)['code']}"


def test_raw_websocket_attacks_on_a_real_server(live):
    address, accepted = live
    own = f"http://{address}"
    auth = f"Bearer {ADMIN_TOKEN}"

    async def attempts() -> list[int]:
        return [
            await handshake_status(address, Origin="http://evil.example", Authorization=auth),
            await handshake_status(address, Origin=own),
            await handshake_status(address, "rebind.example", Origin="http://rebind.example", Authorization=auth),
            await handshake_status(address, Origin=own, Authorization=auth),
        ]

    assert asyncio.run(attempts()) == ["403 cross_origin", "401 unauthorized", "400 invalid_host", 101]
    assert accepted == ["admin"]
