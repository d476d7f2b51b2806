"""Entries to and from PostgreSQL rows: the exact JSON text, and summary columns without NUL.

PostgreSQL's `text` (and `jsonb`) refuse the character U+0000, which Go engines write in error
texts. The document is kept as its JSON text, where a NUL is the escape `\\u0000`, so it comes back
byte for byte; in the summary columns a NUL is stored as U+FFFE (a noncharacter, never in text)
and turned back on the way out, so listings show what the file store shows.
"""

from __future__ import annotations

from typing import Any

from mova_core.model.errors import CorruptEntry
from mova_core.model.ids import validate_id
from mova_core.store.fsio import encode_pretty
from mova_core.store.protocol import EncodedEntry
from mova_core.store.scan import summary_row

#: The summary columns, in `summary_row`'s order.
SUMMARY_COLUMNS = (
    "id", "run_id", "status", "created_at", "created_ts", "workflow_type", "user_id", "action_type",
    "last_error", "failure_reason", "attempts", "retry_count", "fingerprint", "priority", "lease_owner",
    "lease_expires_ts", "search_text",
)
#: The PostgreSQL types of the summary columns and then `doc`, for a binary COPY (`PgStore.create_many`).
COPY_TYPES = (
    "text", "text", "text", "text", "float8", "text", "text", "text", "text", "text", "int8", "int8", "text", "int8",
    "text", "float8", "text", "text",
)
#: What a listing reads back (EntrySummary's fields: every summary column but the search text).
LISTED_COLUMNS = SUMMARY_COLUMNS[:-1]
NUL, NUL_STAND_IN = "\x00", "\ufffe"


def to_column(value: Any) -> Any:
    """A value as a text column can hold it (NUL stood in for)."""
    if isinstance(value, str) and NUL in value:
        return value.replace(NUL, NUL_STAND_IN)
    return value


def from_column(value: Any) -> Any:
    """A column's value as the entry holds it."""
    if isinstance(value, str) and NUL_STAND_IN in value:
        return value.replace(NUL_STAND_IN, NUL)
    return value


def to_columns(data: bytes, columns: tuple) -> tuple:
    """Summary columns taken from the JSON text `data` as text columns can hold them."""
    if b"\\u0000" not in data:  # JSON writes a NUL as this escape: without it no value holds one
        return columns
    return tuple(to_column(v) for v in columns)


def encode_row(entry_id: str, doc: dict[str, Any]) -> tuple[str, tuple]:
    """The document's JSON text (the file store's bytes) and its summary columns, ready to store."""
    data = encode_pretty(doc)
    return data.decode(), to_columns(data, summary_row(f"{entry_id}.json", data, doc))


def encode_new(doc: Any) -> EncodedEntry:
    """A document about to be created, judged as a listing judges a file (the model's shape) and
    encoded; InvalidId or CorruptEntry saying why it is not an entry."""
    entry_id = validate_id(doc.get("id") if isinstance(doc, dict) else None)
    try:
        data = encode_pretty(doc)
        return EncodedEntry(summary_row(f"{entry_id}.json", data, doc), data)
    except ValueError as exc:
        raise CorruptEntry(f"{entry_id}.json", str(exc)[:300]) from None
    except RecursionError:
        raise CorruptEntry(f"{entry_id}.json", "nested too deeply") from None
