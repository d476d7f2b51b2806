"""Entry and run ids: what may name a file, checked before any path is built from it."""

from __future__ import annotations

import re

from mova_core.model.errors import InvalidId, InvalidInput

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
#: The same rule as one JSON-Schema pattern (no look-ahead, no `..`), with `MAX_ID_LENGTH`, for API documents.
ID_PATTERN = r"^[A-Za-z0-9_](?:\.?[A-Za-z0-9_-])*\.?$"
MAX_ID_LENGTH = 200
ID_PREFIX = "dlq_"
#: Characters after `dlq_` that a prefix needs to name an entry to change (as git asks of short hashes):
#: `delete 9` must not delete whatever happens to start with 9. Reading commands take any unique prefix.
MIN_CHANGE_PREFIX = 4


def validate_id(value: str) -> str:
    """Return the id if it may name a file in the directory; raise InvalidId otherwise."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise InvalidId(value if isinstance(value, str) else repr(value))
    return value


def is_entry_name(name: str) -> bool:
    """True for a file name that may hold an entry: `*.json`, not hidden (temporary files are)."""
    return name.endswith(".json") and not name.startswith(".")


def check_change_prefix(given: str, full_id: str, verb: str) -> None:
    """InvalidInput when `given`, a prefix of `full_id` (not the whole id), is too short to `verb` an entry by."""
    if given == full_id or len(given.removeprefix(ID_PREFIX)) >= MIN_CHANGE_PREFIX:
        return
    example = full_id[: len(full_id) - len(full_id.removeprefix(ID_PREFIX)) + 8]
    raise InvalidInput(f"id prefix {given!r} is too short to {verb} an entry by: give at least {MIN_CHANGE_PREFIX} "
                       f"characters after any {ID_PREFIX} (such as {example})")
