"""Retry policies as written: the `RetryPolicy` schema, and the `path: message` lines that say what is
wrong with one (or with any pydantic-validated document).

How a policy is resolved and which delays it gives: `mova_core.engine.policy`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Iterable, Mapping

from pydantic import Field, StrictBool, ValidationError

from mova_core.model.base import Doc, NonNegative
from mova_core.model.errors import PolicyError


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
    return PolicyError(f"{what}:\n  " + "\n  ".join(problems), problems)


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
