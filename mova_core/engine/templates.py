"""`{{ ... }}` templates in action params, resolved at run time.

References start with a root and follow a dotted path (list items by number):

* `{{ variables.api_url }}`: the run's variables (set by the envelope, overrides and `set` actions)
* `{{ secrets.api_key }}`: secrets (overrides, `MOVA_SECRET_<NAME>`, inline `envelope.secrets`)
* `{{ payload.customer.id }}`: the envelope's payload
* `{{ results.fetch.body.items.0.id }}`: the output of an earlier action, by its id

A string that is exactly one template keeps the value's type (a number stays a number, an object
stays an object); a template inside a longer string is replaced by its text (objects as JSON).
An unknown reference is an error naming it; it is not retried.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from mova_core.model.errors import MovaError
from mova_core.model.references import TEMPLATE as _TEMPLATE
from mova_core.model.references import has_template, references, strip_templates  # noqa: F401 (re-exported)

ROOTS = ("variables", "secrets", "payload", "results")

_WHOLE = re.compile(r"^\s*\{\{\s*(.*?)\s*\}\}\s*$")
_PATH = re.compile(r"^[A-Za-z_][\w-]*(?:(?:\.[\w-]+)|(?:\[\d+\]))*$")


class TemplateError(MovaError):
    """A template that names something that does not exist, or is malformed."""


def split_path(expr: str) -> list[str]:
    """'results.fetch.items[0].id' -> ['results', 'fetch', 'items', '0', 'id']."""
    if not _PATH.match(expr):
        raise TemplateError(
            f"malformed template {{{{ {expr} }}}}: write a dotted path such as variables.api_url"
        )
    return [p for p in re.split(r"\.|\[|\]", expr) if p != ""]


def check_references(value: Any, where: str) -> list[str]:
    """Static problems (bad syntax, unknown root) as `where: message` lines."""
    problems = []
    for expr in references(value):
        try:
            parts = split_path(expr)
        except TemplateError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if parts[0] not in ROOTS:
            problems.append(
                f"{where}: unknown template root {parts[0]!r} in {{{{ {expr} }}}}; use one of {', '.join(ROOTS)}"
            )
    return problems


_MISSING = object()


def _step(current: Any, key: str) -> Any:
    if isinstance(current, Mapping):
        if key in current:
            return current[key]
        return _MISSING
    if isinstance(current, (list, tuple)) and key.lstrip("-").isdigit():
        i = int(key)
        return current[i] if -len(current) <= i < len(current) else _MISSING
    return _MISSING


def lookup(scope: Mapping[str, Any], expr: str) -> Any:
    """The value a reference names; TemplateError if any step is missing."""
    parts = split_path(expr)
    root = parts[0]
    if root not in ROOTS:
        raise TemplateError(f"unknown template root {root!r} in {{{{ {expr} }}}}; use one of {', '.join(ROOTS)}")
    current = scope.get(root, _MISSING)
    if current is _MISSING:
        raise TemplateError(f"unknown reference {{{{ {expr} }}}}: nothing is available under {root!r}")
    walked = root
    for key in parts[1:]:
        nxt = _step(current, key)
        if nxt is _MISSING and root == "secrets" and walked == "secrets" and isinstance(current, Mapping):
            # MOVA_SECRET_API_KEY arrives as api_key; let {{ secrets.API_KEY }} find it too.
            lowered = {str(k).lower(): v for k, v in current.items()}
            nxt = lowered.get(key.lower(), _MISSING)
        if nxt is _MISSING:
            raise TemplateError(_missing_message(expr, walked, key, current, root))
        current, walked = nxt, f"{walked}.{key}"
    return current


def _missing_message(expr: str, walked: str, key: str, current: Any, root: str) -> str:
    if isinstance(current, Mapping):
        known = ", ".join(sorted(map(str, current.keys()))[:12]) or "none"
        hint = f" (known: {known})"
    elif isinstance(current, (list, tuple)):
        hint = f" ({walked} is a list of {len(current)} items)"
    else:
        hint = f" ({walked} is a {type(current).__name__}, not an object)"
    msg = f"unknown reference {{{{ {expr} }}}}: {walked} has no {key!r}{hint}"
    if root == "secrets" and walked == "secrets":
        msg += f"; give it as an override secret (or, in production, MOVA_SECRET_{key.upper()})"
    elif root == "results" and walked == "results":
        msg += "; results are only available from actions that ran before this one"
    return msg


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve every template in a params structure (dicts, lists, strings); returns a new value."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole and "{{" not in whole.group(1):
            return lookup(scope, whole.group(1))
        return _TEMPLATE.sub(lambda m: _as_text(lookup(scope, m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(v, scope) for v in value]
    return value

