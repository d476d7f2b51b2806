"""How deeply JSON values may nest: one limit for every value mova is given, checked where it arrives.

The JSON writers mova uses (orjson, pydantic) refuse documents nested more than `MAX_DOCUMENT_DEPTH`
objects and lists deep, so an entry file nested deeper is reported as unreadable. A value given to
a run (an override, a `--var`, an envelope's variables, payload or params, a response body, a
template's result) may nest `MAX_VALUE_DEPTH` levels: the entry or run record that later holds it
adds a few levels of its own and must stay writable. Deeper input is refused with "nested too
deeply" before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mova_core.model.errors import InvalidInput

#: Levels of objects and lists the JSON writers accept (orjson and pydantic both stop past it).
MAX_DOCUMENT_DEPTH = 254
#: Levels a value given to a run may have: room is left for the entry or record around it.
MAX_VALUE_DEPTH = 200

_CONTAINERS = (Mapping, list, tuple)
_LEAVES = frozenset({str, int, float, bool, type(None)})


def depth_exceeds(value: Any, limit: int = MAX_VALUE_DEPTH) -> bool:
    """True when objects and lists nest more than `limit` levels in `value` (`{"a": [1]}` has 2)."""
    level, depth = [value], 0
    while True:  # level by level, not recursive: the value may be deeper than the interpreter's stack
        below: list[Any] = []
        found = False
        for node in level:
            kind = type(node)
            if kind is dict:  # the JSON types first: the ABC checks cost a microsecond each
                below.extend(node.values())
            elif kind is list:
                below.extend(node)
            elif kind in _LEAVES or not isinstance(node, _CONTAINERS):
                continue
            else:
                below.extend(node.values() if isinstance(node, Mapping) else node)
            found = True
        if not found:
            return False
        depth += 1
        if depth > limit:
            return True
        level = below


def too_deep_message(where: str, limit: int = MAX_VALUE_DEPTH) -> str:
    """The one sentence for a value past the limit."""
    return f"{where}: nested too deeply (more than {limit} levels of objects and lists)"


def check_depth(value: Any, where: str, limit: int = MAX_VALUE_DEPTH) -> Any:
    """`value` unchanged, or InvalidInput naming `where` when it nests more than `limit` levels."""
    if depth_exceeds(value, limit):
        raise InvalidInput(too_deep_message(where, limit))
    return value
