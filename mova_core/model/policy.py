"""Retry policies: the model, field-by-field resolution and the delay schedule (pure).

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
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Mapping

from pydantic import Field, StrictBool, ValidationError

from mova_core.model.base import Doc, NonNegative
from mova_core.model.errors import PolicyError

if TYPE_CHECKING:  # settings imports nothing from here, but keep the import graph shallow
    from mova_core.settings import Settings


class Backoff(StrEnum):
    """How the delay grows between attempts."""

    fixed = "fixed"
    linear = "linear"
    exponential = "exponential"


class RetryPolicy(Doc):
    """A retry policy as written in `intent.retry` or `action.retry`; every field optional."""

    max_attempts: Annotated[int, Field(ge=1, strict=True)] | None = None
    backoff: Backoff | None = None
    delay: NonNegative | None = None
    max_delay: NonNegative | None = None
    jitter: StrictBool | None = None


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


# --- validation -------------------------------------------------------------------------------

def format_path(loc: Iterable[Any], root: str = "") -> str:
    """('actions', 0, 'retry', 'backoff') -> 'actions[0].retry.backoff'."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


# pydantic tags a union member's error with the member's name; they are not part of the path.
_UNION_TAGS = {"int", "float", "str", "bool", "list", "dict", "none", "list[any]", "dict[str,any]"}


def _n(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _friendly(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind == "greater_than_equal":
        ge = ctx.get("ge")
        return "must not be negative" if ge == 0 else f"must be at least {_n(ge)}"
    if kind == "greater_than":
        return f"must be greater than {_n(ctx.get('gt'))}"
    if kind == "less_than_equal":
        return f"must be at most {_n(ctx.get('le'))}"
    if kind == "less_than":
        return f"must be less than {_n(ctx.get('lt'))}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("string_type",):
        return "must be a string"
    if kind == "missing":
        return "is required"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be an object"
    msg = str(err.get("msg", "is invalid"))
    return msg[:1].lower() + msg[1:]


def error_line(err: Mapping[str, Any], root: str = "") -> tuple[str, str]:
    """One pydantic error as (field path, friendly message)."""
    loc = list(err.get("loc", ()))
    while loc and isinstance(loc[-1], str) and loc[-1].lower() in _UNION_TAGS:
        loc.pop()
    return format_path(loc, root), _friendly(err)


def validation_messages(exc: ValidationError | Iterable[Mapping[str, Any]], root: str = "") -> list[str]:
    """Pydantic errors as `path: message` lines, one per path (union branches merged)."""
    errors = exc.errors() if isinstance(exc, ValidationError) else exc
    by_path: dict[str, list[str]] = {}
    for err in errors:
        path, msg = error_line(err, root)
        by_path.setdefault(path, []).append(msg)
    lines = []
    for path, msgs in by_path.items():
        if "must be a number" in msgs or ("must be an integer" in msgs and len(set(msgs)) > 1):
            msg = "must be a number"
        else:
            msg = msgs[0]
        lines.append(f"{path}: {msg}")
    return lines


def check_policy_types(raw: Any, path: str) -> list[str]:
    """Strict checks the lenient model lets through: "2" or true as a delay is a mistake."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [f"{path}: must be an object with max_attempts, backoff, delay, max_delay, jitter"]
    problems = []
    for name in ("delay", "max_delay"):
        value = raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"{path}.{name}: must be a number of seconds")
    backoff = raw.get("backoff")
    if backoff is not None and not isinstance(backoff, str):
        problems.append(f"{path}.backoff: must be one of fixed, linear, exponential")
    return problems


def policy_error(problems: list[str], what: str = "invalid retry policy") -> PolicyError:
    """A PolicyError listing `path: message` lines (also kept as `.problems`)."""
    err = PolicyError(f"{what}:\n  " + "\n  ".join(problems), problems)
    return err


def load_policy(raw: Any, path: str = "retry") -> RetryPolicy | None:
    """Validate one policy document; raises PolicyError naming the field path."""
    problems = check_policy_types(raw, path)
    if problems:
        raise policy_error(problems)
    if raw is None:
        return None
    try:
        return RetryPolicy.model_validate(raw)
    except ValidationError as exc:
        raise policy_error(validation_messages(exc, path)) from None
