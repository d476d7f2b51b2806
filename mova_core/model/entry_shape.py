"""A fast check that a decoded entry file has the shape `DeadLetterEntry` accepts, without pydantic.

The index reads every file of the directory and must agree with `show` (which validates with the
full model) on which files are entries. Validating each file with the model costs about four times
the JSON decoding, so the index asks this check first. It is conservative: it answers True only
when every field the models know has exactly a type their validation accepts as it is (a `str`
where a string goes, an `int` where an integer goes, a finite non-negative number for a delay, a
timestamp `parse_time` reads, ...). Anything else, even a value the model would accept after
coercing it (`"5"` for an integer), answers False, and the caller asks the model, which has the
final word. A True is never wrong; a False only costs the model's time.

`MODELS` mirrors `mova_core.model.entry` and `mova_core.model.policy.RetryPolicy` field by field
(tests/core/test_store.py checks that it names exactly the models' fields). Unknown fields are
allowed everywhere, as the models keep them. The check itself is Python generated from `MODELS`
once, on first use (`checks()`): one straight function per model, a line or two per field, since
a table walked at run time cost half as much again, and this runs for every file of a first build.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mova_core.model.status import EntryStatus
from mova_core.timeutil import parse_time

# Field kinds. A plain kind is one condition on the value `x` meaning "invalid"; the value's
# absence is always valid (the model has a default, or the field is required: see MODELS).
_BAD = {
    "str": "type(x) is not str",
    "opt_str": "x is not None and type(x) is not str",
    "int": "type(x) is not int",
    "opt_int": "x is not None and type(x) is not int",
    "bool": "type(x) is not bool",
    "opt_bool": "x is not None and type(x) is not bool",
    "dict": "type(x) is not dict",
    "opt_dict": "x is not None and type(x) is not dict",
    "str_list": "type(x) is not list or (x and not set(map(type, x)) <= _ONLY_STR)",
    "opt_str_list": "x is not None and (type(x) is not list or (x and not set(map(type, x)) <= _ONLY_STR))",
    "time": "type(x) is not str or (_PLAIN_TIME(x) is None and not _parses(x))",
    "opt_time": "x is not None and (type(x) is not str or (_PLAIN_TIME(x) is None and not _parses(x)))",
    "status": "type(x) is not str or x not in _STATUSES",
    "opt_number": "x is not None and type(x) is not int and not (type(x) is float and math.isfinite(x))",
    "opt_non_negative": ("x is not None and not ((type(x) is int and x >= 0) "
                         "or (type(x) is float and math.isfinite(x) and x >= 0))"),
    "opt_backoff": "x is not None and (type(x) is not str or x not in _BACKOFFS)",
    "opt_attempts": "x is not None and (type(x) is not int or x < 1)",
}
ANY = "any"  # not checked: the model takes any JSON value there


def model(name: str, optional: bool = False) -> tuple[str, str, bool]:
    """The kind of a field holding one object of model `name` (or null, if `optional`)."""
    return ("model", name, optional)


def list_of(name: str, optional: bool = False) -> tuple[str, str, bool]:
    """The kind of a field holding a list of objects of model `name` (or null, if `optional`)."""
    return ("list", name, optional)


def values_of(name: str) -> tuple[str, str, bool]:
    """The kind of a field holding an object whose values are objects of model `name`."""
    return ("values", name, False)


Kind = str | tuple[str, str, bool]

#: Per model: its fields' kinds and its required fields.
MODELS: dict[str, tuple[dict[str, Kind], tuple[str, ...]]] = {
    "RetryPolicy": ({
        "max_attempts": "opt_attempts", "backoff": "opt_backoff", "delay": "opt_non_negative",
        "max_delay": "opt_non_negative", "jitter": "opt_bool",
    }, ()),
    "Intent": ({
        "name": "str", "version": "opt_str", "description": "opt_str", "author": "opt_str",
        "tags": "opt_str_list", "retry": model("RetryPolicy", optional=True),
    }, ("name",)),
    "Action": ({
        "id": "opt_str", "name": "opt_str", "type": "str", "params": "opt_dict", "config": "opt_dict",
        "retry": model("RetryPolicy", optional=True), "timeout": "opt_number", "enabled": "opt_bool",
    }, ("type",)),
    "Envelope": ({
        "intent": model("Intent"), "actions": list_of("Action"), "payload": ANY, "variables": "opt_dict",
        "secrets": "opt_dict",
    }, ("intent",)),
    "ActionResult": ({
        "action_id": "opt_str", "action_name": "opt_str", "type": "opt_str", "status": "str",
        "start_time": "opt_time", "end_time": "opt_time", "output": ANY, "error": "opt_str",
        "attempts": "opt_int", "errors": "opt_str_list",
    }, ("status",)),
    "ExecutionContext": ({
        "run_id": "str", "workflow_id": "opt_str", "status": "str", "start_time": "opt_time",
        "end_time": "opt_time", "variables": "dict", "results": values_of("ActionResult"), "logs": ANY,
    }, ("run_id",)),
    "ErrorDetails": ({
        "last_error": "str", "error_history": "str_list", "failure_reason": "str", "attempts": "int",
        "retry_policy": model("RetryPolicy", optional=True), "environment": "opt_dict", "stack_trace": "opt_str",
    }, ()),
    "Lease": ({
        "owner": "str", "retry_run_id": "str", "acquired_at": "time", "expires_at": "time", "sandbox_mode": "bool",
        "queued": "opt_bool",
    }, ("owner", "retry_run_id", "acquired_at", "expires_at")),
    "Metadata": ({
        "source": "str", "priority": "int", "workflow_type": "opt_str", "user_id": "opt_str", "retry_count": "int",
        "tags": "opt_str_list", "last_retry_at": "opt_time", "lease": model("Lease", optional=True),
        "custom_data": "opt_dict",
    }, ()),
    "RetryRecord": ({
        "retry_run_id": "str", "sandbox_mode": "bool", "start_time": "time", "end_time": "opt_time",
        "outcome": "str", "error": "opt_str", "failure_reason": "opt_str", "errors": "opt_str_list",
        "attempts": "opt_int", "override_variables": "str_list",
        "override_secrets": "str_list", "actor": "opt_str",
    }, ("retry_run_id", "sandbox_mode", "start_time")),
    "DeadLetterEntry": ({
        "id": "str", "run_id": "str", "created_at": "time", "status": "status", "envelope": model("Envelope"),
        "context": model("ExecutionContext"), "failed_action": model("Action", optional=True),
        "error_details": model("ErrorDetails"), "metadata": model("Metadata"),
        "retry_history": list_of("RetryRecord", optional=True), "updated_at": "opt_time",
    }, ("id", "run_id", "created_at", "envelope", "context")),
}

# Timestamps `parse_time` surely reads (days 29 to 31 and every other form are asked of it): a
# stricter pattern than its own, at a third of its cost. (Compiled with the checks.)
PLAIN_TIME = (r"(?!0000)\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
              r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)")
_ONLY_STR = frozenset((str,))
_STATUSES = frozenset(s.value for s in EntryStatus)
_BACKOFFS = frozenset(("fixed", "linear", "exponential"))
_ABSENT = object()


def _parses(value: str) -> bool:
    try:
        parse_time(value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _field_lines(field: str, kind: Kind) -> list[str]:
    """The lines checking one field of the object `v` (`g` is `v.get`)."""
    if kind == ANY:
        return []
    if isinstance(kind, str):
        if kind.startswith("opt_"):  # absent and null are alike: no marker needed
            return [f"    x = g({field!r})", f"    if {_BAD[kind]}: return False"]
        return [f"    x = g({field!r}, _ABSENT)", f"    if x is not _ABSENT and ({_BAD[kind]}): return False"]
    shape, name, optional = kind
    lines = [f"    x = g({field!r}, _ABSENT)", "    if x is not _ABSENT" + (" and x is not None:" if optional else ":")]
    if shape == "model":
        return [*lines, f"        if not check_{name}(x): return False"]
    container, each = ("list", "x") if shape == "list" else ("dict", "x.values()")
    return [*lines, f"        if type(x) is not {container}: return False",
            f"        for y in {each}:", f"            if not check_{name}(y): return False"]


def _source() -> str:
    out = []
    for name, (fields, required) in MODELS.items():
        out.append(f"def check_{name}(v):")
        out.append("    if type(v) is not dict: return False")
        out += [f"    if {r!r} not in v: return False" for r in required]
        out.append("    g = v.get")
        for field, kind in fields.items():
            out += _field_lines(field, kind)
        out.append("    return True\n")
    return "\n".join(out)


_CHECKS: dict[str, Any] = {}


def checks() -> dict[str, Any]:
    """The generated checks, one `check_<Model>(v)` per model, compiled on first use (a listing that
    reads no file never pays for it). `_source()` prints like hand-written code."""
    if not _CHECKS:
        namespace = {"math": math, "_PLAIN_TIME": re.compile(PLAIN_TIME, re.ASCII).fullmatch, "_parses": _parses, "_ONLY_STR": _ONLY_STR,
                     "_STATUSES": _STATUSES, "_BACKOFFS": _BACKOFFS, "_ABSENT": _ABSENT}
        exec(compile(_source(), f"<{__name__}>", "exec"), namespace)  # noqa: S102  (our own source, from MODELS)
        _CHECKS.update((k, v) for k, v in namespace.items() if k.startswith("check_"))
    return _CHECKS


def looks_valid(doc: Any) -> bool:
    """True when `DeadLetterEntry.model_validate(doc)` surely succeeds; False when only the model can tell."""
    check = _CHECKS.get("check_DeadLetterEntry") or checks()["check_DeadLetterEntry"]
    return check(doc)
