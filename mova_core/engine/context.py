"""The run context: production or sandbox, which hosts a run may reach, which secrets it gets,
and where its records go. Production and sandbox share every line of the engine except this.

Sandbox rules (enforced, not advisory):

1. A sandbox run reaches only allow-listed hosts: loopback (`localhost`, 127.0.0.0/8, ::1), the
   hosts named in URLs among the override variables, and MOVA_SANDBOX_ALLOWED_HOSTS (a
   `*.example.com` or `.example.com` entry allows the subdomains). Any other request fails with
   "blocked by sandbox policy: ..." and is not retried. Redirects are checked too.
2. Non-idempotent methods (POST, PUT, PATCH, DELETE) go only to allow-listed hosts (rule 1 already
   ensures it; the error says so when it applies).
3. It gets no secret from the production environment (no MOVA_SECRET_*), only override secrets.
4. Its run record and log go under MOVA_SANDBOX_PATH (default `<state>/sandbox`), never into
   the production run records.
5. It logs in detail: each action's rendered params (secrets redacted), request and response
   summaries, timings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from mova_core.engine.errors import SandboxBlocked
from mova_core.model.hosts import is_loopback, normalize_host
from mova_core.model.redact import REDACTED
from mova_core.model.secrets_needed import SECRET_ENV_PREFIX

if TYPE_CHECKING:
    from mova_core.settings import Settings

NON_IDEMPOTENT = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    if is_loopback(host):
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
    ) -> RunContext:
        """Sandbox: loopback + override URL hosts + configured hosts; override secrets only."""
        hosts = set(hosts_in(override_variables or {}))
        hosts |= {normalize_host(h) for h in settings.sandbox_allowed_hosts}
        return cls(
            sandbox_mode=True,
            records_dir=Path(settings.effective_sandbox_path),
            allowed_hosts=frozenset(h for h in hosts if h),
            secrets=dict(override_secrets or {}),
        )

    def check_request(self, method: str, url: str | httpx.URL) -> None:
        """Raise SandboxBlocked unless this run may send `method` to `url`."""
        if not self.sandbox_mode:
            return
        parsed = httpx.URL(str(url))
        host = parsed.host or ""
        if _host_allowed(host, self.allowed_hosts):
            return
        method = method.upper()
        listed = ", ".join(["loopback", *sorted(self.allowed_hosts)])
        what = f"{method} to a non-allow-listed host" if method in NON_IDEMPOTENT else "host"
        raise SandboxBlocked(
            f"blocked by sandbox policy: {what} {host or str(url)!r} is not on the sandbox "
            f"allow-list ({listed}); name it in an override variable URL or in MOVA_SANDBOX_ALLOWED_HOSTS"
        )

    def transport(self, inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
        """An httpx transport that checks every request (redirects included) against the policy."""
        return GuardedTransport(self, inner or httpx.HTTPTransport())


class GuardedTransport(httpx.BaseTransport):
    """Delegates to another transport after `RunContext.check_request`."""

    def __init__(self, context: RunContext, inner: httpx.BaseTransport):
        self.context = context
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.context.check_request(request.method, request.url)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
