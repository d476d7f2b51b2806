"""The free-text search rule: which fields a search looks in and how it matches (no pydantic here:
the index's reader processes import it).

A search matches an entry when the text occurs, ignoring ASCII case, in its id, its workflow type,
the first MAX_ERROR_CHARS characters of its last error, or its failed action's type, each read up
to its first NUL. The index does this with one SQL LIKE over `search_text` (mova_core.store.index);
`text_matches` is the same rule for one entry in hand (a bulk run re-checking its filter).
"""

from __future__ import annotations

MAX_ERROR_CHARS = 500
# The fields a free-text search looks in, joined in one column (see `search_text`).
SEARCH_SEPARATOR = "\n"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _before_nul(value: str) -> str:
    return value.split("\x00", 1)[0] if "\x00" in value else value


def search_text(entry_id: str, workflow_type: str, last_error: str, action_type: str | None) -> str:
    """The four fields a free-text search looks in, as one column searched with one LIKE.

    A needle without the separator can only match inside one field. SQLite's LIKE reads a value up
    to its first NUL, so each field is cut there, exactly as the four separate LIKEs saw it.
    """
    text = f"{entry_id}{SEARCH_SEPARATOR}{workflow_type}{SEARCH_SEPARATOR}{last_error}{SEARCH_SEPARATOR}{action_type or ''}"
    if "\x00" in text:  # rare: cut each field at its own NUL
        text = SEARCH_SEPARATOR.join((
            entry_id, _before_nul(workflow_type), _before_nul(last_error), _before_nul(action_type or ""),
        ))
    return text


def text_matches(text: str, entry_id: str, workflow_type: str, last_error: str, action_type: str | None) -> bool:
    """Whether a search for `text` finds these fields (`last_error` whole: it is cut here)."""
    needle = _before_nul(text).translate(_ASCII_LOWER)
    fields = (entry_id, workflow_type, last_error[:MAX_ERROR_CHARS], action_type or "")
    return any(needle in _before_nul(field).translate(_ASCII_LOWER) for field in fields)
