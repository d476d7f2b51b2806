"""The `{{ root.path }}` reference syntax of envelopes: finding references, not resolving them.

Resolving them against a run's scope is the engine's (`mova_core.engine.templates`); redaction and
the views only need to see where references are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


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


def strip_templates(text: str) -> str:
    """The literal text around the templates (used by redaction)."""
    return TEMPLATE.sub("", text)
