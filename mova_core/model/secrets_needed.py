"""Which secrets an envelope's actions reference (`{{ secrets.x }}`), and what would provide each in a retry.

A sandbox retry gets override secrets only; a production retry gets overrides, then
`MOVA_SECRET_<NAME>` from the environment, then usable inline `envelope.secrets` (the order of
`engine.context.RunContext.production`). Names are matched ignoring case, as the templates do.
Only names are read here: never a secret's value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mova_core.model.redact import REDACTED
from mova_core.model.references import references

if TYPE_CHECKING:
    from mova_core.model.entry import Envelope

#: `MOVA_SECRET_API_KEY=…` is the secret `api_key` of production runs.
SECRET_ENV_PREFIX = "MOVA_SECRET_"
_ROOT = "secrets."


def env_name(secret: str) -> str:
    """The environment variable that provides `secret` to production runs."""
    return SECRET_ENV_PREFIX + secret.upper()


def referenced_secrets(envelope: Envelope) -> list[str]:
    """The secret names the envelope's enabled actions reference, each once, in order of first use."""
    names: dict[str, None] = {}
    for action in envelope.actions:
        if not action.is_enabled:
            continue
        for expr in references(action.arguments):
            if expr.startswith(_ROOT):
                name = expr[len(_ROOT):].split(".", 1)[0].split("[", 1)[0]
                if name:
                    names.setdefault(name, None)
    return list(names)


@dataclass(frozen=True)
class SecretNeed:
    """One referenced secret and what provides it: an override, an environment variable, the envelope."""

    name: str
    override: bool = False
    #: The `MOVA_SECRET_*` variable set for it (production only), or None.
    environment: str | None = None
    #: A usable (not redacted) value inline in the envelope (production only).
    inline: bool = False

    def source(self, sandbox_mode: bool) -> str | None:
        """What gives the secret to a retry in this mode (`override`, `MOVA_SECRET_X`, `envelope`), or None."""
        if self.override:
            return "override"
        if sandbox_mode:
            return None
        return self.environment or ("envelope" if self.inline else None)

    def provided(self, sandbox_mode: bool) -> bool:
        """True when a retry in this mode would have the secret."""
        return self.source(sandbox_mode) is not None


def secrets_needed(envelope: Envelope, *, overrides: Iterable[str] = (),
                   environ: Mapping[str, str] | None = None) -> list[SecretNeed]:
    """Each secret the envelope references, with what would provide it (names of `environ` only are read)."""
    given = {name.lower() for name in overrides}
    env = {key[len(SECRET_ENV_PREFIX):].lower(): key for key in (environ or {})
           if key.startswith(SECRET_ENV_PREFIX) and len(key) > len(SECRET_ENV_PREFIX)}
    inline = {str(k).lower() for k, v in (envelope.secrets or {}).items() if v != REDACTED}
    return [SecretNeed(name, override=name.lower() in given, environment=env.get(name.lower()),
                       inline=name.lower() in inline)
            for name in referenced_secrets(envelope)]


def missing(needs: Iterable[SecretNeed], sandbox_mode: bool) -> list[str]:
    """The names a retry in this mode would not have."""
    return [need.name for need in needs if not need.provided(sandbox_mode)]
