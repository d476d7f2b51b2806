"""Console fixtures: a real `mova serve --console` process, log-ins, raw session websockets, its children."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.http.conftest import ADMIN_TOKEN, READ_TOKEN, Server, serve  # noqa: F401  (the fixture, re-used)

TOKENS = {"MOVA_API_TOKEN": ADMIN_TOKEN, "MOVA_API_READ_TOKEN": READ_TOKEN}
#: A production secret the server holds: admin sessions may need it, read-only ones never get it.
SECRET_ENV = {"MOVA_SECRET_API_KEY": "prod-secret-value-31415"}


def address(server: Server) -> str:
    return server.url.removeprefix("http://")


def login(server: Server, token: str) -> str:
    """Log in through the form; the session cookie's value."""
    r = httpx.post(f"{server.url}/dlq/login", data={"token": token}, headers={"Origin": server.url}, timeout=10)
    assert r.status_code == 303, r.text
    return r.cookies["mova_console"]


def session_socket(server: Server, cookie: str | None, *, origin: str | None = None, host: str | None = None):
    """A raw websocket to the console's session endpoint, as a browser page would open it."""
    headers = {"Origin": origin or server.url}
    if cookie:
        headers["Cookie"] = f"mova_console={cookie}"
    ip, port = address(server).split(":")
    # The Host header names `host` (default: the server's address); the connection goes to the server.
    return websockets.connect(f"ws://{host or address(server)}/dlq/ws?width=100&height=30", host=ip, port=int(port),
                              additional_headers=headers, origin=None, open_timeout=10, max_size=None)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def cmdline_of(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def console(serve, sample_dlq):  # noqa: F811  (serve: the fixture imported above)
    """Start `mova serve --console` with both tokens over the sample copy; extra arguments are passed on."""

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        return serve(sample_dlq, "--console", *args, env={**TOKENS, **SECRET_ENV, **(env or {})}, token=READ_TOKEN)

    return start
