"""Retry policies in force: field-by-field resolution and the delay schedule (pure functions).

Resolution
    Each field is taken from the action's `retry`, else the workflow's `intent.retry`, else the
    defaults: `max_attempts` 3 (MOVA_RETRY_DEFAULT_MAX_ATTEMPTS), `delay` 2 s
    (MOVA_RETRY_DEFAULT_DELAY), `backoff` exponential, `max_delay` 300 s
    (MOVA_RETRY_DEFAULT_MAX_DELAY), `jitter` on.

Schedule
    `max_attempts` counts every attempt, the first included, so a policy of 3 attempts waits at
    most twice. The base delay after failed attempt n (n = 1, 2, ...) is

    * fixed:        delay
    * linear:       delay * n            (2, 4, 6, 8 for delay 2)
    * exponential:  delay * 2 ** (n - 1) (1, 2, 4, 8, 16 for delay 1)

    and is then capped at `max_delay`.

Jitter ("equal jitter")
    With jitter on, the capped delay d becomes `d / 2 + uniform(0, d / 2)`: somewhere between
    half and all of d. Runs that fail together spread over that window instead of retrying in
    lockstep, a delay never grows past d (so never past `max_delay`), and never shrinks below d/2
    (so backoff still backs off).

Retry-After
    When a server answers 429 or 503 with `Retry-After`, the engine waits that long instead,
    capped at `max_delay`, without jitter (the server asked for a time).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mova_core.model.policy import Backoff, RetryPolicy

if TYPE_CHECKING:
    from mova_core.settings import Settings

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_DELAY = 2.0
DEFAULT_BACKOFF = Backoff.exponential
DEFAULT_MAX_DELAY = 300.0
DEFAULT_JITTER = True
_FIELDS = ("max_attempts", "backoff", "delay", "max_delay", "jitter")


@dataclass(frozen=True)
class EffectivePolicy:
    """A fully resolved policy: every field set."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: Backoff = DEFAULT_BACKOFF
    delay: float = DEFAULT_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    jitter: bool = DEFAULT_JITTER

    def to_model(self) -> RetryPolicy:
        """The policy as stored in an entry's `error_details.retry_policy`."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            delay=_plain(self.delay),
            max_delay=_plain(self.max_delay),
            jitter=self.jitter,
        )


def _plain(x: float) -> int | float:
    """2.0 -> 2 so stored policies read like the ones people write."""
    return int(x) if float(x).is_integer() else x


def defaults_from(settings: Settings | None) -> EffectivePolicy:
    """The default policy, from settings when given."""
    if settings is None:
        return EffectivePolicy()
    return EffectivePolicy(
        max_attempts=settings.retry_default_max_attempts,
        backoff=DEFAULT_BACKOFF,
        delay=float(settings.retry_default_delay),
        max_delay=float(settings.retry_default_max_delay),
        jitter=DEFAULT_JITTER,
    )


def resolve_policy(
    action: RetryPolicy | None,
    workflow: RetryPolicy | None,
    settings: Settings | None = None,
) -> EffectivePolicy:
    """Resolve field by field: the action's field, else the workflow's, else the default."""
    base = defaults_from(settings)
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = None
        for layer in (action, workflow):
            if layer is not None and getattr(layer, name) is not None:
                value = getattr(layer, name)
                break
        values[name] = getattr(base, name) if value is None else value
    return EffectivePolicy(
        max_attempts=int(values["max_attempts"]),
        backoff=Backoff(values["backoff"]),
        delay=float(values["delay"]),
        max_delay=float(values["max_delay"]),
        jitter=bool(values["jitter"]),
    )


def base_delay(policy: EffectivePolicy, attempt: int) -> float:
    """The delay after failed attempt `attempt` (1-based), capped at max_delay, before jitter."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if policy.backoff is Backoff.fixed:
        d = policy.delay
    elif policy.backoff is Backoff.linear:
        d = policy.delay * attempt
    else:
        # 2**1100 overflows a float; past 2**1000 any positive delay is beyond any sane cap.
        exponent = attempt - 1
        d = policy.delay * 2.0**exponent if exponent < 1000 else (math.inf if policy.delay > 0 else 0.0)
    return min(d, policy.max_delay)


def compute_delay(policy: EffectivePolicy, attempt: int, rng: random.Random) -> float:
    """The wait after failed attempt `attempt`: capped base delay, then equal jitter if on."""
    d = base_delay(policy, attempt)
    if not policy.jitter or d <= 0:
        return d
    half = d / 2
    return min(d, half + rng.uniform(0, half))


def schedule(policy: EffectivePolicy, rng: random.Random) -> list[float]:
    """Every wait the policy allows: one after each failed attempt except the last."""
    return [compute_delay(policy, n, rng) for n in range(1, policy.max_attempts)]


def retry_after_delay(policy: EffectivePolicy, retry_after: float) -> float:
    """The wait a server asked for with Retry-After, capped at max_delay."""
    return max(0.0, min(float(retry_after), policy.max_delay))
