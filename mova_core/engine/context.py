"""The run context: production or sandbox, which hosts a run may reach, which secrets it gets,
and where its records go. Production and sandbox share every line of the engine except this.

Sandbox rules (enforced, not advisory):

1. A sandbox run reaches only allow-listed hosts: literal loopback addresses (127.0.0.0/8, ::1),
   `localhost`, the hosts named in URLs among the override variables, and
   MOVA_SANDBOX_ALLOWED_HOSTS (a `*.example.com` or `.example.com` entry allows the subdomains).
   Any other request fails with "blocked by sandbox policy: ..." and is not retried. `localhost`
   is trusted for what it resolves to, not for its name: it is resolved once per request, every
   address must be a loopback one, and the request connects to those checked addresses (never by
   name, so no second lookup can answer differently). Redirects are checked the same way: every
   request goes through `GuardedTransport`.
2. Non-idempotent methods (POST, PUT, PATCH, DELETE) go only to allow-listed hosts (rule 1 already
   ensures it; the error says so when it applies).
3. It gets no secret from the production environment (no MOVA_SECRET_*), only override secrets.
4. Its run record and log go under MOVA_SANDBOX_PATH (default `<state>/sandbox`), never into
   the production run records.
5. It logs in detail: each action's rendered params (secrets redacted), request and response
   summaries, timings.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from mova_core.engine.errors import SandboxBlocked
from mova_core.model.hosts import LOCALHOST, is_loopback_address, normalize_host
from mova_core.model.redact import REDACTED

if TYPE_CHECKING:
    from mova_core.settings import Settings

NON_IDEMPOTENT = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECRET_ENV_PREFIX = "MOVA_SECRET_"

#: Looks a host name up: every address it has, in the order to try them (a seam for tests).
Resolver = Callable[[str], Sequence[str]]


def system_resolver(host: str) -> list[str]:
    """The addresses the system's resolver gives for `host` (hosts file, DNS), in its order."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpx.ConnectError(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def hosts_in(value: Any) -> set[str]:
    """Hosts of every http(s) URL found in a JSON-like value (override variables)."""
    found: set[str] = set()
    if isinstance(value, str):
        text = value.strip()
        if text.lower().startswith(("http://", "https://")):
            try:
                host = urlsplit(text).hostname
            except ValueError:
                host = None
            if host:
                found.add(normalize_host(host))
    elif isinstance(value, Mapping):
        for v in value.values():
            found |= hosts_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= hosts_in(v)
    return found


def _host_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = normalize_host(host)
    if is_loopback_address(host):
        return True
    for entry in allowed:
        entry = normalize_host(entry)
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if host.endswith(entry) or host == entry[1:]:
                return True
        elif host == entry:
            return True
    return False


def secrets_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """MOVA_SECRET_API_KEY=... -> {"api_key": ...}."""
    environ = os.environ if environ is None else environ
    n = len(SECRET_ENV_PREFIX)
    # Names first, values only for the few that match (each os.environ value is decoded on access).
    return {k[n:].lower(): environ[k] for k in environ if k.startswith(SECRET_ENV_PREFIX) and len(k) > n}


def _usable_inline_secrets(inline: Mapping[str, Any] | None) -> dict[str, Any]:
    """Inline envelope secrets that were not redacted on the way to disk."""
    return {k: v for k, v in (inline or {}).items() if v != REDACTED}


@dataclass(frozen=True)
class RunContext:
    """What a run may reach and use, and where its records go; `production()` or `sandbox()`."""

    sandbox_mode: bool
    records_dir: Path
    allowed_hosts: frozenset[str] = frozenset()
    secrets: dict[str, Any] = field(default_factory=dict)
    resolve: Resolver = field(default=system_resolver, compare=False, repr=False)

    @property
    def detailed_logging(self) -> bool:
        """Sandbox runs log rendered params and request/response summaries."""
        return self.sandbox_mode

    @classmethod
    def production(
        cls,
        settings: Settings,
        *,
        inline_secrets: Mapping[str, Any] | None = None,
        override_secrets: Mapping[str, Any] | None = None,
        env_secrets: Mapping[str, Any] | None = None,
    ) -> RunContext:
        """Production: every host, secrets from overrides > MOVA_SECRET_* > inline envelope.

        `env_secrets`: the MOVA_SECRET_* values (`secrets_from_env`), read from the process's
        environment when not given.
        """
        secrets: dict[str, Any] = {}
        secrets.update(_usable_inline_secrets(inline_secrets))
        secrets.update(secrets_from_env() if env_secrets is None else env_secrets)
        secrets.update(override_secrets or {})
        return cls(sandbox_mode=False, records_dir=Path(settings.effective_runs_path), secrets=secrets)

    @classmethod
    def sandbox(
        cls,
        settings: Settings,
        *,
        override_variables: Mapping[str, Any] | None = None,
        override_secrets: Mapping[str, Any] | None = None,
        resolve: Resolver = system_resolver,
    ) -> RunContext:
        """Sandbox: loopback + override URL hosts + configured hosts; override secrets only.

        `resolve` looks `localhost` up (the system's resolver unless a test gives another).
        """
        hosts = set(hosts_in(override_variables or {}))
        hosts |= {normalize_host(h) for h in settings.sandbox_allowed_hosts}
        return cls(
            sandbox_mode=True,
            records_dir=Path(settings.effective_sandbox_path),
            allowed_hosts=frozenset(h for h in hosts if h and h != LOCALHOST),
            secrets=dict(override_secrets or {}),
            resolve=resolve,
        )

    def check_request(self, method: str, url: str | httpx.URL) -> None:
        """Raise SandboxBlocked unless this run may send `method` to `url` (`localhost` is looked up)."""
        self.route(method, url)

    def route(self, method: str, url: str | httpx.URL) -> tuple[str, ...] | None:
        """The checked addresses a request to `url` must connect to, or None to connect as the URL
        says; SandboxBlocked when this run may not send `method` there."""
        if not self.sandbox_mode:
            return None
        host = normalize_host(httpx.URL(str(url)).host or "")
        if host == LOCALHOST:
            return self._loopback_addresses(host)
        if _host_allowed(host, self.allowed_hosts):
            return None
        raise self._blocked(method, host or str(url))

    def _loopback_addresses(self, host: str) -> tuple[str, ...]:
        """What `host` resolves to, when every address is a loopback one; else SandboxBlocked."""
        addresses = tuple(normalize_host(a) for a in self.resolve(host))
        outside = [a for a in addresses if not is_loopback_address(a)]
        if outside or not addresses:
            raise SandboxBlocked(
                f"blocked by sandbox policy: {host!r} resolves to {', '.join(outside) or 'no address'}, "
                "not only to loopback addresses; use 127.0.0.1 or ::1 in the URL"
            )
        return addresses

    def _blocked(self, method: str, host: str) -> SandboxBlocked:
        method = method.upper()
        listed = ", ".join(["loopback", *sorted(self.allowed_hosts)])
        what = f"{method} to a non-allow-listed host" if method in NON_IDEMPOTENT else "host"
        return SandboxBlocked(
            f"blocked by sandbox policy: {what} {host!r} is not on the sandbox "
            f"allow-list ({listed}); name it in an override variable URL or in MOVA_SANDBOX_ALLOWED_HOSTS"
        )

    def transport(self, inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
        """An httpx transport that checks every request (redirects included) against the policy."""
        return GuardedTransport(self, inner or httpx.HTTPTransport(verify=tls_context()))


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every action's requests, as httpx makes them by default (certifi's CA
    bundle, or SSL_CERT_FILE / SSL_CERT_DIR), made once per process: building them reads and parses
    the whole CA bundle, which cost more than every other part of a retry together."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.BaseTransport):
    """Delegates to another transport after `RunContext.route`, to the addresses it checked."""

    def __init__(self, context: RunContext, inner: httpx.BaseTransport):
        self.context = context
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        addresses = self.context.route(request.method, request.url)
        if addresses is None:
            return self.inner.handle_request(request)
        failure: httpx.ConnectError | None = None
        for address in addresses:  # in the resolver's order, as a connection by name would try them
            try:
                return self.inner.handle_request(_pinned(request, address))
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None  # route() never gives an empty tuple
        raise failure

    def close(self) -> None:
        self.inner.close()


def _pinned(request: httpx.Request, address: str) -> httpx.Request:
    """The request sent to `address`: the Host header and the TLS server name stay the URL's host."""
    extensions = {**request.extensions, "sni_hostname": request.url.host}
    return httpx.Request(request.method, request.url.copy_with(host=address), headers=request.headers,
                         stream=request.stream, extensions=extensions)
