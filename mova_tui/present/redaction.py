"""The one display redaction: values under sensitive names are masked on every screen and in
`--format json`, unless the operator asks to see them (`--reveal`).

Secret values the engine knew were already replaced before the entry was written; what is left to
mask for display is what other writers put under names such as `db_password` or `api_token`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mova_core.model.redact import redact

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry


def masked(value: Any, *, reveal: bool = False) -> Any:
    """A JSON-like value as it may be shown: sensitive-named values replaced, unless `reveal`."""
    return value if reveal else redact(value)


def entry_document(entry: DeadLetterEntry, *, reveal: bool = False) -> dict[str, Any]:
    """The entry as one JSON object for `--format json`, masked like every other view of it."""
    return masked(entry.to_json_dict(), reveal=reveal)
