"""Entry and run ids: what may name a file, checked before any path is built from it."""

from __future__ import annotations

import re

from mova_core.model.errors import InvalidId

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
#: The same rule as one JSON-Schema pattern (no look-ahead, no `..`), with `MAX_ID_LENGTH`, for API documents.
ID_PATTERN = r"^[A-Za-z0-9_](?:\.?[A-Za-z0-9_-])*\.?$"
MAX_ID_LENGTH = 200


def validate_id(value: str) -> str:
    """Return the id if it may name a file in the directory; raise InvalidId otherwise."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise InvalidId(value if isinstance(value, str) else repr(value))
    return value


def is_entry_name(name: str) -> bool:
    """True for a file name that may hold an entry: `*.json`, not hidden (temporary files are)."""
    return name.endswith(".json") and not name.startswith(".")
