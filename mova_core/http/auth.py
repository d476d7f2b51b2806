"""Who may call the shim: bearer tokens, and no cross-site or foreign-Host requests.

* With `MOVA_API_TOKEN` and/or `MOVA_API_READ_TOKEN` set, every request needs
  `Authorization: Bearer <token>`, compared in constant time. The read token allows GET (and HEAD)
  only. The caller's identity, for the audit log, is the token's name: `admin` or `read-only`; with
  no token configured it is `anonymous`.
* A request that would change something and carries a browser `Origin` other than the server's own
  is refused (a web page must not archive or retry entries on a loopback server without a token).
* When the server listens on loopback, the `Host` header must name a loopback address, so a
  DNS-rebinding page cannot read the queue through the browser.
* `GET /healthz` answers without a token (load balancers probe it); it says only that the server
  runs, and the Host check still applies.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from mova_core.http.responses import error_response
from mova_core.settings import Settings

ADMIN, READ_ONLY, ANONYMOUS = "admin", "read-only", "anonymous"
READ_METHODS = frozenset({"GET", "HEAD"})
#: Paths that answer a read without a token, so a load balancer can probe them; nothing else is public.
PUBLIC_PATHS = frozenset({"/healthz"})


def tokens_from(settings: Settings) -> dict[str, bytes]:
    """The configured tokens by identity name; an empty variable counts as unset."""
    out = {}
    for name, secret in ((ADMIN, settings.api_token), (READ_ONLY, settings.api_read_token)):
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            out[name] = value.encode()
    return out


def identify(authorization: bytes | str | None, tokens: dict[str, bytes]) -> str | None:
    """The identity a bearer header proves; None when tokens are required and it proves none."""
    if not tokens:
        return ANONYMOUS
    raw = authorization.encode("utf-8", "surrogateescape") if isinstance(authorization, str) else authorization or b""
    scheme, _, presented = raw.strip().partition(b" ")
    presented = presented.strip()
    if scheme.lower() != b"bearer" or not presented:
        return None
    found = None
    for name, token in tokens.items():  # compare against every token: timing says nothing about which
        if hmac.compare_digest(presented, token) and found is None:
            found = name
    return found


def host_name(host_header: str) -> str:
    """The host part of a Host header (`[::1]:8080` → `::1`, `localhost:80` → `localhost`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AccessMiddleware:
    """Checks Host, Origin and the bearer token before anything else runs; stores the identity."""

    def __init__(self, app: ASGIApp, settings: Settings, allowed_hosts: Collection[str] | None = None):
        self.app = app
        self.tokens = tokens_from(settings)
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET").upper()
        host = headers.get("host", "")
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            await error_response(400, "Host header not allowed for this server", "invalid_host")(scope, receive, send)
            return
        origin = headers.get("origin")
        if method not in READ_METHODS and origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            await error_response(403, "cross-origin requests may not change the dead-letter queue",
                                 "cross_origin")(scope, receive, send)
            return
        raw_auth = next((v for k, v in scope.get("headers", []) if k.lower() == b"authorization"), None)
        identity = identify(raw_auth, self.tokens)
        if identity is None and method in READ_METHODS and scope.get("path") in PUBLIC_PATHS:
            identity = ANONYMOUS
        if identity is None:
            await error_response(401, "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
                                 "unauthorized", headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        if identity == READ_ONLY and method not in READ_METHODS:
            await error_response(403, "the read-only token allows only GET requests",
                                 "forbidden")(scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)
