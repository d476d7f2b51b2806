"""Console sessions: a signed, expiring cookie that names the identity a token proved at log-in.

The signing key is derived from the configured tokens, so every worker process of one server
agrees on it without sharing state, changing a token ends every session, and a holder of the
read-only token cannot forge an admin session (the admin token is part of the key). The token
itself is never in the cookie nor in any URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from starlette.requests import cookie_parser

from mova_core.http.auth import ANONYMOUS

COOKIE_NAME = "mova_console"
_KEY_LABEL = b"mova console session key"


def signing_key(tokens: dict[str, bytes]) -> bytes:
    """A key from every configured token (empty when none is configured)."""
    material = b"\0".join(name.encode() + b"=" + token for name, token in sorted(tokens.items()))
    return hmac.new(material, _KEY_LABEL, hashlib.sha256).digest() if tokens else b""


class SessionCookies:
    """Issues and checks console session cookies; the access middleware's `SessionGate`."""

    def __init__(self, tokens: dict[str, bytes], prefix: str, lifetime: float,
                 clock: Callable[[], float] = time.time):
        self.prefix = prefix.rstrip("/")
        self.tokens = tokens
        self.lifetime = lifetime
        self._clock = clock

        class ClockedSigner(TimestampSigner):  # ages measured on the injected clock
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(signing_key(tokens) or b"unused", salt="mova-console-session",
                                                  signer=ClockedSigner,
                                                  signer_kwargs={"digest_method": hashlib.sha256})
        self._revoked: dict[str, float] = {}  # session id -> when its cookie would have expired anyway

    # -- the gate ---------------------------------------------------------------------------------
    def session_identity(self, cookie_header: str | None) -> str | None:
        """The identity of a valid, unexpired, not logged-out session cookie; None otherwise."""
        session = self.read(cookie_header)
        return session[0] if session else None

    def is_open(self, method: str, path: str) -> bool:
        """The log-in page, and posting a log-in or a log-out, need no session."""
        if method in ("GET", "HEAD"):
            return path in (self.prefix, self.prefix + "/")
        return method == "POST" and path in (self.prefix + "/login", self.prefix + "/logout")

    # -- cookies ----------------------------------------------------------------------------------
    def read(self, cookie_header: str | None) -> tuple[str, str] | None:
        """(identity, session id) from a `Cookie` header, or None."""
        if not self.tokens:
            return (ANONYMOUS, "")
        value = cookie_parser(cookie_header or "").get(COOKIE_NAME)
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.lifetime)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict):
            return None
        identity, sid = data.get("id"), data.get("sid")
        if identity not in self.tokens or not isinstance(sid, str) or sid in self._revoked:
            return None
        return identity, sid

    def issue(self, identity: str, secure: bool) -> str:
        """A `Set-Cookie` value for a new session of `identity`."""
        value = self._serializer.dumps({"id": identity, "sid": secrets.token_urlsafe(16)})
        return self._header(value, int(self.lifetime), secure)

    def end(self, cookie_header: str | None, secure: bool) -> str:
        """Log out: the session in `cookie_header` is refused from now on; a `Set-Cookie` that clears it."""
        now = self._clock()
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        session = self.read(cookie_header)
        if session and session[1]:
            self._revoked[session[1]] = now + self.lifetime
        return self._header("", 0, secure)

    def _header(self, value: str, max_age: int, secure: bool) -> str:
        parts = [f"{COOKIE_NAME}={value}", f"Path={self.prefix}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
        return "; ".join(parts + (["Secure"] if secure else []))
