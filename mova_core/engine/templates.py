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

from mova_core.engine.paths import PathMissing, follow, path_parts
from mova_core.model.errors import MovaError
from mova_core.model.nesting import depth_exceeds, too_deep_message
from mova_core.model.references import TEMPLATE as _TEMPLATE
from mova_core.model.references import references

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
    return path_parts(expr)


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


def lookup(scope: Mapping[str, Any], expr: str) -> Any:
    """The value a reference names; TemplateError if any step is missing."""
    parts = split_path(expr)
    root, keys = parts[0], parts[1:]
    if root not in ROOTS:
        raise TemplateError(f"unknown template root {root!r} in {{{{ {expr} }}}}; use one of {', '.join(ROOTS)}")
    if root not in scope:
        raise TemplateError(f"unknown reference {{{{ {expr} }}}}: nothing is available under {root!r}")
    current = scope[root]
    if root == "secrets" and keys and isinstance(current, Mapping) and keys[0] not in current:
        keys[0] = _secret_name(current, keys[0])
    try:
        return follow(current, keys, root)
    except PathMissing as missing:
        raise TemplateError(_missing_message(expr, missing, root)) from None


def _secret_name(secrets: Mapping[str, Any], name: str) -> str:
    """The secret's own spelling of `name`, ignoring case: MOVA_SECRET_API_KEY arrives as api_key,
    and `{{ secrets.API_KEY }}` should find it too."""
    found = name
    for key in secrets:
        if str(key).lower() == name.lower():
            found = key  # the last of several spellings, as a lowered copy of the mapping would keep
    return found


def _missing_message(expr: str, missing: PathMissing, root: str) -> str:
    walked, key, current = missing.walked, missing.key, missing.current
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
    """Resolve every template in a params structure (dicts, lists, strings); returns a new value.

    TemplateError when the result nests too deeply to be logged or stored (a deep value put inside
    deep params): each is within the limit, the two together need not be.
    """
    rendered = _render(value, scope)
    if depth_exceeds(rendered):
        raise TemplateError(too_deep_message("the rendered params"))
    return rendered


def _render(value: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole and "{{" not in whole.group(1):
            return lookup(scope, whole.group(1))
        return _TEMPLATE.sub(lambda m: _as_text(lookup(scope, m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: _render(v, scope) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(v, scope) for v in value]
    return value

