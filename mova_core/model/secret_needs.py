"""Which secrets an envelope needs, and where a run would get each one: by name, never by value.

A run's secrets come from the override secrets, then (production only) `MOVA_SECRET_<NAME>`, then
(production only) the envelope's inline `secrets` that were not redacted on the way to disk
(`engine.context.RunContext`). A sandbox run gets the override secrets and nothing else, so an
envelope that uses `{{ secrets.api_key }}` fails in the sandbox until an override names it. The
command line and the dashboard ask this module before a retry, to say so up front.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from mova_core.model.redact import REDACTED
from mova_core.model.references import secret_names

if TYPE_CHECKING:
    from mova_core.model.entry import Envelope

#: How `MOVA_SECRET_<NAME>` is spelled for a secret name (the engine reads it back lowercased).
ENV_PREFIX = "MOVA_SECRET_"


class SecretSource(StrEnum):
    """Where a run finds a secret, in the engine's order of precedence."""

    override = "override"
    environment = "environment"
    envelope = "envelope"


@dataclass(frozen=True)
class SecretNeed:
    """One secret an envelope references: its name, the enabled actions using it, and its source (None: missing)."""

    name: str
    actions: tuple[str, ...]
    source: SecretSource | None

    @property
    def provided(self) -> bool:
        """True when the run would find a value for it."""
        return self.source is not None

    @property
    def env_name(self) -> str:
        """The production variable that provides it: `MOVA_SECRET_API_KEY`."""
        return env_variable(self.name)


def env_variable(name: str) -> str:
    """`api_key` → `MOVA_SECRET_API_KEY`."""
    return ENV_PREFIX + name.upper()


def environment_secret_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret names `MOVA_SECRET_*` provides (`api_key` for `MOVA_SECRET_API_KEY`); values are not read."""
    environ = os.environ if environ is None else environ
    n = len(ENV_PREFIX)
    return [key[n:].lower() for key in environ if key.startswith(ENV_PREFIX) and len(key) > n]


def secret_needs(
    envelope: Envelope,
    *,
    sandbox_mode: bool,
    override_names: Iterable[str] = (),
    environment_names: Iterable[str] = (),
) -> list[SecretNeed]:
    """Every secret the envelope's enabled actions reference, in order of first use, with its source.

    `override_names`: the override secrets given; `environment_names`: the names `MOVA_SECRET_*`
    provides (`api_key` for `MOVA_SECRET_API_KEY`), read only in production. Names match in any case.
    """
    used: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for action in envelope.actions:
        if not action.is_enabled:
            continue
        for name in secret_names(action.arguments):
            spelling.setdefault(name.lower(), name)
            used.setdefault(name.lower(), []).append(action.key)
    overrides = {n.lower() for n in override_names}
    environment = set() if sandbox_mode else {n.lower() for n in environment_names}
    inline = set() if sandbox_mode else {str(k).lower() for k, v in (envelope.secrets or {}).items() if v != REDACTED}
    needs = []
    for key, actions in used.items():
        if key in overrides:
            source: SecretSource | None = SecretSource.override
        elif key in environment:
            source = SecretSource.environment
        elif key in inline:
            source = SecretSource.envelope
        else:
            source = None
        needs.append(SecretNeed(spelling[key], tuple(dict.fromkeys(actions)), source))
    return needs
