"""Walking a dotted path into a JSON-like value: `a.b.0.c`, `a.b[0].c`, and `*` for every item.

The one walk behind `{{ ... }}` templates and the `parse_json` action; each words its own error
from the `PathMissing` it gets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SEPARATORS = re.compile(r"\.|\[|\]")


def path_parts(path: str) -> list[str]:
    """'fetch.items[0].id' -> ['fetch', 'items', '0', 'id'] (empty steps dropped)."""
    return [p for p in _SEPARATORS.split(path) if p != ""]


class PathMissing(LookupError):
    """A step that is not there: the path walked so far, the key asked for, the value it stood on."""

    def __init__(self, walked: str, key: str, current: Any):
        super().__init__(f"{walked} has no {key!r}")
        self.walked, self.key, self.current = walked, key, current


def follow(value: Any, parts: list[str], walked: str) -> Any:
    """The value `parts` lead to from `value` (`*` maps over a list); PathMissing at the first absent step.

    `walked` names `value` in the error (`$`, `variables`, ...); each step adds `.key`.
    """
    for i, key in enumerate(parts):
        if key == "*" and isinstance(value, list):
            return [follow(item, parts[i + 1:], f"{walked}[{n}]") for n, item in enumerate(value)]
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, (list, tuple)) and (index := _index(key, len(value))) is not None:
            value = value[index]
        else:
            raise PathMissing(walked, key, value)
        walked = f"{walked}.{key}"
    return value


def _index(key: str, length: int) -> int | None:
    """A list index from a path step (negative counts from the end), or None if it is not one."""
    if not key.lstrip("-").isdigit():
        return None
    try:
        i = int(key)
    except ValueError:  # "--1"
        return None
    return i if -length <= i < length else None
