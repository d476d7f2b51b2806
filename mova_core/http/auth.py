"""Who may call the shim: bearer tokens or console sessions, and no cross-site or foreign-Host requests.

Every scope is checked, HTTP and websocket alike, before anything else runs:

* When the server listens on loopback (or is given a list), the `Host` header must name an allowed
  host, so a DNS-rebinding page cannot read the queue through the browser.
* A websocket must come from the server's own origin (`Origin` equal to scheme://Host), and so must
  a request that would change something when it carries an `Origin` at all: a web page must neither
  archive or retry entries nor open a dashboard session on a server it was not served by.
* With `MOVA_API_TOKEN` and/or `MOVA_API_READ_TOKEN` set, a request needs
  `Authorization: Bearer <token>`, compared in constant time, or, under the web console's path, the
  console's signed session cookie. The read token (or a read-only session) allows GET (and HEAD)
  only. The caller's identity, for the audit log, is the token's name: `admin` or `read-only`; with
  no token configured it is `anonymous`.
* `GET /healthz` answers without a token (load balancers probe it); it says only that the server
  runs, and the Host check still applies.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from mova_core.http.responses import error_response
from mova_core.settings import Settings

ADMIN, READ_ONLY, ANONYMOUS = "admin", "read-only", "anonymous"
READ_METHODS = frozenset({"GET", "HEAD"})
#: Paths that answer a read without a token, so a load balancer can probe them; nothing else is public.
PUBLIC_PATHS = frozenset({"/healthz"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: The page scheme each websocket scheme belongs to (a page's Origin says http(s), its socket ws(s)).
_PAGE_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}
#: A websocket refused on a server without the denial-response extension: "policy violation".
_POLICY_VIOLATION = 1008


def tokens_from(settings: Settings) -> dict[str, bytes]:
    """The configured tokens by identity name; an empty variable counts as unset."""
    out = {}
    for name, secret in ((ADMIN, settings.api_token), (READ_ONLY, settings.api_read_token)):
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            out[name] = value.encode()
    return out


def match_token(presented: bytes, tokens: dict[str, bytes]) -> str | None:
    """The identity whose token `presented` is, compared in constant time; None for none."""
    found = None
    for name, token in tokens.items():  # compare against every token: timing says nothing about which
        if hmac.compare_digest(presented, token) and found is None:
            found = name
    return found


def identify(authorization: bytes | str | None, tokens: dict[str, bytes]) -> str | None:
    """The identity a bearer header proves; None when tokens are required and it proves none."""
    if not tokens:
        return ANONYMOUS
    raw = authorization.encode("utf-8", "surrogateescape") if isinstance(authorization, str) else authorization or b""
    scheme, _, presented = raw.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return match_token(presented.strip(), tokens)


def host_name(host_header: str) -> str:
    """The host part of a Host header (`[::1]:8080` → `::1`, `localhost:80` → `localhost`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _origin_key(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port filled in; None for anything unparseable."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return scheme, parts.hostname, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def same_origin(origin: str, scheme: str, host_header: str) -> bool:
    """Whether an `Origin` header names this server: the request's own scheme and Host."""
    parts = urlsplit(origin.strip().lower())
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return False
    theirs = _origin_key(parts.scheme, parts.netloc)
    ours = _origin_key(_PAGE_SCHEME.get(scheme, scheme), host_header.strip().lower())
    return theirs is not None and theirs == ours


class SessionGate(Protocol):
    """What the middleware needs of the web console: its path, its sessions and its open pages."""

    prefix: str

    def session_identity(self, cookie_header: str | None) -> str | None:
        """The identity a valid session cookie in this `Cookie` header proves; None for none."""

    def is_open(self, method: str, path: str) -> bool:
        """Whether this page may be reached without a session (the log-in form, log-in and log-out)."""


@dataclass(frozen=True)
class Caller:
    """What the middleware reads of a scope."""

    kind: str
    method: str
    path: str
    scheme: str
    headers: dict[str, str]

    @classmethod
    def of(cls, scope: Scope) -> Caller:
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        method = "GET" if scope["type"] == "websocket" else scope.get("method", "GET").upper()
        return cls(scope["type"], method, scope.get("path", ""), scope.get("scheme", "http"), headers)

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def under(self, prefix: str) -> bool:
        return self.path == prefix or self.path.startswith(prefix.rstrip("/") + "/")


class AccessMiddleware:
    """Checks Host, Origin and the caller's identity for every scope; stores the identity."""

    def __init__(self, app: ASGIApp, settings: Settings, allowed_hosts: Collection[str] | None = None,
                 console: SessionGate | None = None):
        self.app = app
        self.tokens = tokens_from(settings)
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: no caller to check
            await self.app(scope, receive, send)
            return
        caller = Caller.of(scope)
        refusal = self._place_refusal(caller)
        identity: str | None = None
        if refusal is None:
            identity, refusal = self._identity(caller)
        if refusal is not None:
            await _refuse(refusal, scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)

    def _place_refusal(self, caller: Caller) -> Response | None:
        """A refusal for a foreign Host, or for a foreign Origin where one matters."""
        if self.allowed_hosts is not None and host_name(caller.host) not in self.allowed_hosts:
            return error_response(400, "Host header not allowed for this server", "invalid_host")
        origin = caller.headers.get("origin")
        if caller.kind == "websocket" and (origin is None or not same_origin(origin, caller.scheme, caller.host)):
            return error_response(403, "websockets are accepted only from this server's own pages", "cross_origin")
        if caller.method not in READ_METHODS and origin is not None and not same_origin(origin, caller.scheme,
                                                                                       caller.host):
            return error_response(403, "cross-origin requests may not change the dead-letter queue", "cross_origin")
        return None

    def _identity(self, caller: Caller) -> tuple[str | None, Response | None]:
        """Who the caller is (None on the console's open pages without a session), or a refusal."""
        authorization = caller.headers.get("authorization")  # the raw bytes: a token need not be ASCII
        identity = identify(authorization.encode("latin-1") if authorization is not None else None, self.tokens)
        console = self.console if self.console is not None and caller.under(self.console.prefix) else None
        if identity is None and console is not None:
            identity = console.session_identity(caller.headers.get("cookie"))
        if console is not None and console.is_open(caller.method, caller.path):
            return identity, None
        if identity is None and caller.kind == "http" and caller.method in READ_METHODS and caller.path in PUBLIC_PATHS:
            return ANONYMOUS, None
        if identity is None:
            if console is not None:
                return None, error_response(401, "log in to the console first", "unauthorized")
            return None, error_response(401, "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
                                        "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        if identity == READ_ONLY and caller.method not in READ_METHODS:
            return None, error_response(403, "the read-only token allows only GET requests", "forbidden")
        return identity, None


async def _refuse(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Send a refusal: an HTTP answer, also to a websocket where the server can give one, else a close."""
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await WebSocketClose(_POLICY_VIOLATION)(scope, receive, send)
        return
    await response(scope, receive, send)
