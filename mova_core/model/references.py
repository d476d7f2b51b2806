"""The `{{ root.path }}` reference syntax of envelopes: finding references, not resolving them.

Resolving them against a run's scope is the engine's (`mova_core.engine.templates`); redaction and
the views only need to see where references are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
#: `secrets.<name>` at the start of a reference (the path grammar is the engine's `templates._PATH`).
_SECRET = re.compile(r"secrets\.([A-Za-z0-9_-]+)")


def has_template(value: Any) -> bool:
    """True if the string holds a `{{ ... }}` reference."""
    return isinstance(value, str) and "{{" in value and bool(TEMPLATE.search(value))


def references(value: Any) -> list[str]:
    """Every reference used anywhere in a params structure, in order."""
    found: list[str] = []
    if isinstance(value, str):
        found.extend(m.group(1) for m in TEMPLATE.finditer(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            found.extend(references(v))
    elif isinstance(value, (list, tuple)):
        for v in value:
            found.extend(references(v))
    return found


def secret_names(value: Any) -> list[str]:
    """The names of the secrets referenced as `{{ secrets.<name> }}` anywhere in a params structure,
    each once (names match in any case, as the engine looks them up), in order of first use."""
    found: dict[str, str] = {}
    for expr in references(value):
        m = _SECRET.match(expr)
        if m:
            found.setdefault(m.group(1).lower(), m.group(1))
    return list(found.values())


def strip_templates(text: str) -> str:
    """The literal text around the templates (used by redaction)."""
    return TEMPLATE.sub("", text)
