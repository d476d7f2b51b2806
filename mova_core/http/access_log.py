"""The access log: one line per request with a request id, which the response carries back as
`X-Request-ID` (a caller's own id is kept when it is a short, plain token)."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mova.http.access")

HEADER = b"x-request-id"
#: A caller's id is echoed only when it cannot carry anything but a plain token into the log.
_CALLER_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a plain token, else a new random one."""
    for name, value in scope.get("headers", []):
        if name.lower() == HEADER and _CALLER_ID.fullmatch(value):
            return value.decode("ascii")
    return secrets.token_hex(8)


def _path(scope: Scope) -> str:
    """The path as sent (percent-encoded), so hostile text reaches the log only escaped."""
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "backslashreplace")
    query = scope.get("query_string") or b""
    text = (raw + (b"?" + query if query else b"")).decode("ascii", "backslashreplace")
    return "".join(c if c.isprintable() and c != '"' else f"\\x{ord(c):02x}" for c in text)


class AccessLogMiddleware:
    """Logs `<id> <client> "<METHOD> <path>" <status> <ms> <identity>` when each response is sent."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500  # what the log says when the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            log.info('%s %s "%s %s" %d %.1fms %s', rid, client[0] if client else "-", scope.get("method", "-"),
                     _path(scope), status, (time.perf_counter() - started) * 1000,
                     scope.get("state", {}).get("identity", "-"))
