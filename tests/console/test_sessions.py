"""Session websockets on a real `mova serve --console`: refused before any process starts, least
privilege for the processes that do start, the cap, the idle timeout, and nothing left behind."""

from __future__ import annotations

import asyncio
import json
import sys
import threading

import pytest
import uvicorn
import websockets

from mova_core.http import create_app
from mova_core.http.console import ConsoleOptions
from mova_core.http.console.sessions import Sessions
from mova_core.settings import Settings
from tests.http.conftest import ADMIN_TOKEN, READ_TOKEN, free_port

from .conftest import (
    SECRET_ENV,
    address,
    children_of,
    cmdline_of,
    environ_of,
    login,
    session_socket,
    wait_until,
)


async def refusal_status(connecting) -> str:
    """The refusal's status and error code."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connecting:
            pass
    response = refused.value.response
    return f"{response.status_code} {json.loads(response.body)['code']}"


def test_session_sockets_without_a_cookie_or_from_elsewhere_start_nothing(console):
    server = console()
    cookie = login(server, ADMIN_TOKEN)

    async def attempts() -> list[int]:
        return [
            await refusal_status(session_socket(server, None)),
            await refusal_status(session_socket(server, cookie + "x")),
            await refusal_status(session_socket(server, cookie, origin="http://evil.example")),
            await refusal_status(session_socket(server, cookie, origin="null")),
            await refusal_status(session_socket(server, cookie, host="rebind.example",
                                                origin="http://rebind.example")),
        ]

    assert asyncio.run(attempts()) == ["401 unauthorized", "401 unauthorized", "403 cross_origin", "403 cross_origin",
                                       "400 invalid_host"]
    assert children_of(server.process.pid) == []


async def first_screen(ws) -> bytes:
    """Read until the dashboard has drawn something."""
    while True:
        message = await asyncio.wait_for(ws.recv(), 20)
        if isinstance(message, bytes) and b"mova" in message:
            return message


def test_a_session_runs_the_dashboard_with_a_scrubbed_environment(console):
    server = console()
    pids: dict[str, int] = {}

    async def open_as(identity: str, token: str) -> None:
        async with session_socket(server, login(server, token)) as ws:
            await first_screen(ws)
            pids[identity] = wait_until(lambda: set(children_of(server.process.pid)) - set(pids.values()),
                                        what="a dashboard process").pop()
            check(identity, pids[identity])

    def check(identity: str, pid: int) -> None:
        env, argv = environ_of(pid), cmdline_of(pid)
        assert env["MOVA_ACTOR"] == f"web:{identity}"
        assert "MOVA_API_TOKEN" not in env and "MOVA_API_READ_TOKEN" not in env
        assert ADMIN_TOKEN not in "\0".join(env.values()) + " ".join(argv)
        assert READ_TOKEN not in "\0".join(env.values()) + " ".join(argv)
        assert argv[argv.index("tui"):] == (["tui", "--read-only"] if identity == "read-only" else ["tui"])
        assert ("MOVA_SECRET_API_KEY" in env) is (identity == "admin")

    asyncio.run(open_as("admin", ADMIN_TOKEN))
    asyncio.run(open_as("read-only", READ_TOKEN))
    # Closing the socket (the tab) ends its process within a few seconds.
    wait_until(lambda: children_of(server.process.pid) == [], timeout=8, what="the dashboards to exit")
    assert SECRET_ENV["MOVA_SECRET_API_KEY"] not in server.log.read_text()


def test_the_session_cap_refuses_politely(console):
    server = console("--console-sessions", "1")
    cookie = login(server, READ_TOKEN)

    async def two_tabs() -> tuple[bytes, int | None, str]:
        async with session_socket(server, cookie) as first:
            await first_screen(first)
            async with session_socket(server, cookie) as second:
                text = await second.recv()
                with pytest.raises(websockets.ConnectionClosed):
                    await second.recv()
                return text, second.close_code, second.close_reason

    text, code, reason = asyncio.run(two_tabs())
    assert b"already has 1 session open" in text
    assert code == 1013 and "try again later" in reason
    wait_until(lambda: children_of(server.process.pid) == [], timeout=8, what="the dashboard to exit")


def test_an_idle_session_is_closed_and_its_process_ends(console):
    server = console("--console-idle", "0.5")
    cookie = login(server, ADMIN_TOKEN)

    async def idle_tab() -> tuple[int | None, str]:
        async with session_socket(server, cookie) as ws:
            await ws.send(json.dumps(["ping", 1]))  # pings are not input: the session still goes idle
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            return ws.close_code, ws.close_reason

    code, reason = asyncio.run(idle_tab())
    assert code == 1000 and "without input" in reason
    wait_until(lambda: children_of(server.process.pid) == [], timeout=8, what="the dashboard to exit")


# -- a dashboard that ignores the quit request is killed ----------------------------------------
STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)   # ignores the polite ways to stop
sys.stdout.write("__GANGLION__\\n"); sys.stdout.flush()
while True:
    time.sleep(1)
"""


@pytest.fixture
def in_process(sample_dlq):
    """The shim with a console whose sessions run `command`, under uvicorn in a thread; its address."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(command: str, **options) -> tuple[str, Sessions]:
        console = ConsoleOptions(command=(sys.executable, "-c", command), **options)
        app = create_app(Settings(dlq_path=sample_dlq), console=console, allowed_hosts={"127.0.0.1"})
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        wait_until(lambda: server.started, what="uvicorn")
        return f"127.0.0.1:{port}", app.state.console.sessions

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def test_a_process_that_ignores_quit_is_killed(in_process):
    url, sessions = in_process(STUBBORN, stop_timeout=0.3)

    async def open_and_close() -> int:
        async with websockets.connect(f"ws://{url}/dlq/ws", origin=f"http://{url}", open_timeout=10):
            await asyncio.to_thread(wait_until, lambda: sessions.running, 10, "a session")
            return next(iter(sessions.running)).pid

    pid = asyncio.run(open_and_close())
    wait_until(lambda: not sessions.running, timeout=6, what="the session to be stopped")
    assert not _alive(pid)


ECHO = """
import sys
sys.stdout.write("__GANGLION__\\n"); sys.stdout.flush()
sys.stdin.buffer.read()   # takes every packet it is sent, until its input closes
"""


def test_messages_the_page_never_sends_are_ignored(in_process):
    url, sessions = in_process(ECHO)

    async def noisy() -> object:
        async with websockets.connect(f"ws://{url}/dlq/ws", origin=f"http://{url}", open_timeout=10) as ws:
            for junk in ("not json", "[]", "{}", '["resize", {"width": "wide"}]', '["stdin"]', '["unknown", 1]',
                         '["stdin", "keys"]'):
                await ws.send(junk)
            await ws.send(json.dumps(["ping", 7]))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    assert asyncio.run(noisy()) == ["pong", 7]
    wait_until(lambda: not sessions.running, timeout=6, what="the session to be stopped")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_address_helper():
    class S:
        url = "http://127.0.0.1:1"

    assert address(S) == "127.0.0.1:1"


def test_stopping_the_server_stops_its_sessions(console):
    server = console()
    cookie = login(server, ADMIN_TOKEN)

    async def open_then_stop() -> list[int]:
        async with session_socket(server, cookie) as ws:
            await first_screen(ws)
            pids = wait_until(lambda: children_of(server.process.pid), what="a dashboard process")
            server.process.terminate()
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            return pids

    pids = asyncio.run(open_then_stop())
    server.process.wait(20)
    wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=8, what="the dashboard to exit")
