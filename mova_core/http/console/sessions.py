"""One websocket, one dashboard process: the session cap, the idle timeout, and the message pump.

A session starts only once the access middleware has let its websocket through (Host, Origin,
cookie). It is refused politely when the console is full, closed when idle, and its process is
stopped (killed if it must be) however the socket ends: tab closed, dashboard quit, or error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect
from textual_serve.download_manager import DownloadManager

from mova_core.http.console.options import ConsoleOptions
from mova_core.http.console.processes import SessionProcess, session_environment

log = logging.getLogger("mova.http.console")
T = TypeVar("T")

#: Close codes: 1000 normal, 1001 going away (the server stops), 1013 try again later.
NORMAL, TRY_AGAIN_LATER = 1000, 1013
QUIT = "The dashboard has quit."
#: Seconds a dashboard may leave a key press unread before its session is given up as wedged.
INPUT_TIMEOUT = 30.0


def _size(websocket: WebSocket, name: str, default: int, least: int = 1) -> int:
    """A terminal dimension from the query string, kept to what a screen can hold."""
    try:
        return min(max(int(websocket.query_params.get(name, default)), least), 1000)
    except ValueError:
        return default


class Sessions:
    """The console's running sessions: starts them up to the cap, and stops each one when its socket ends."""

    def __init__(self, options: ConsoleOptions, command_for: Callable[[str], Sequence[str]]):
        self.options = options
        self.command_for = command_for
        self.running: set[SessionProcess] = set()
        self._downloads = DownloadManager()

    async def serve(self, websocket: WebSocket) -> None:
        """Run one session over a websocket the access middleware has let through."""
        identity: str = websocket.scope["state"]["identity"]
        await websocket.accept()
        if len(self.running) >= self.options.max_sessions:
            await self._refuse_full(websocket)
            return
        process = SessionProcess(
            self.command_for(identity), session_environment(os.environ, identity),
            write_bytes=_quietly(websocket.send_bytes), write_str=_quietly(websocket.send_text),
            close=lambda: _close(websocket, NORMAL, QUIT), download_manager=self._downloads,
        )
        self.running.add(process)
        try:
            await process.start(_size(websocket, "width", 80), _size(websocket, "height", 24),
                                cell_width=_size(websocket, "cellWidth", 0, 0),
                                cell_height=_size(websocket, "cellHeight", 0, 0))
            log.info("console session %s started for %s (pid %s)", process.app_service_id[:8], identity, process.pid)
            reason = await self._pump(websocket, process)
            await _close(websocket, NORMAL, reason)
        finally:
            await process.stop(self.options.stop_timeout)
            self.running.discard(process)
            log.info("console session %s ended", process.app_service_id[:8])

    async def _refuse_full(self, websocket: WebSocket) -> None:
        limit = self.options.max_sessions
        text = (f"The console already has {limit} session{'s' if limit != 1 else ''} open, its limit. "
                "Close a tab or try again later.")
        await websocket.send_bytes(f"\r\n  {text}\r\n".encode())
        await _close(websocket, TRY_AGAIN_LATER, text)

    async def _pump(self, websocket: WebSocket, process: SessionProcess) -> str:
        """Pass the browser's messages to the process until either side ends; why it ended."""
        reader = asyncio.create_task(self._read(websocket, process))
        ended = process.finished
        waiting = {reader} | ({ended} if ended is not None else set())
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            return reader.result()
        reader.cancel()
        return QUIT

    async def _read(self, websocket: WebSocket, process: SessionProcess) -> str:
        """Forward key presses, resizes and focus; answer pings; stop when idle or disconnected."""
        loop = asyncio.get_running_loop()
        idle = self.options.idle_timeout
        last_input = loop.time()
        while True:
            remaining = last_input + idle - loop.time() if idle else None
            try:
                text = await asyncio.wait_for(websocket.receive_text(), remaining)
            except TimeoutError:
                return f"Closed after {idle:g} seconds without input."
            except (WebSocketDisconnect, RuntimeError):  # the tab is gone
                return ""
            try:
                if await asyncio.wait_for(_dispatch(json.loads(text), websocket, process), INPUT_TIMEOUT):
                    last_input = loop.time()  # pings are not input: an open, unused tab still goes idle
            except TimeoutError:
                return "The dashboard stopped reading its input."
            except (ValueError, TypeError, KeyError, IndexError):
                pass  # not a message the page sends; ignored like any other noise


async def _dispatch(message: list, websocket: WebSocket, process: SessionProcess) -> bool:
    """Act on one message from textual-serve's page script; whether it was the operator's input."""
    kind = message[0]
    if kind == "stdin":
        await process.send_bytes(str(message[1]).encode("utf-8"))
    elif kind == "resize":
        await process.set_terminal_size(int(message[1]["width"]), int(message[1]["height"]))
    elif kind == "ping":
        await websocket.send_text(json.dumps(["pong", message[1]]))
        return False
    elif kind == "blur":
        await process.blur()
    elif kind == "focus":
        await process.focus()
    return kind in ("stdin", "resize")


def _quietly(send: Callable[[T], Awaitable[None]]) -> Callable[[T], Awaitable[None]]:
    """`send`, ignoring a socket that has gone: the process's output is still read until it ends."""

    async def sent(data: T) -> None:
        try:
            await send(data)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass

    return sent


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close the socket with a reason the page shows (if it is still open)."""
    try:
        await websocket.close(code, reason.encode()[:120].decode("utf-8", "ignore"))
    except (WebSocketDisconnect, RuntimeError, OSError):  # closed already, by the tab or the dashboard
        pass
