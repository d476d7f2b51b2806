"""Exports for analysis: JSON lines of full entries, or CSV of the summary columns (spreadsheet-safe)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import orjson

from mova_core.model.errors import InvalidInput
from mova_core.model.listing import EntryFilter, Page
from mova_core.store.fsio import replacing

if TYPE_CHECKING:  # full entries only for a JSON-lines export
    from mova_core.model.entry import DeadLetterEntry

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ["id", "run_id", "status", "created_at", "workflow_type", "user_id", "action_type",
               "failure_reason", "attempts", "retry_count", "fingerprint", "last_error"]
# A cell starting with one of these, even after whitespace, is a formula to a spreadsheet; one
# starting with TAB or CR is too to some (they drop the whitespace, then read the formula).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control bytes but TAB, LF and CR (which a quoted cell may hold), DEL and C1: no spreadsheet or
# terminal that opens the file needs them, and some act on them.
_CONTROL_BYTES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class EntrySource(Protocol):
    """What an export reads: summaries for CSV, full entries for JSON lines (a `DLQService`)."""

    def list(self, flt: EntryFilter | None = None) -> Page:
        """A page of summaries matching the filter."""
        ...

    def iter_entries(self, flt: EntryFilter | None = None, batch: int = 500) -> Iterator[DeadLetterEntry]:
        """Every full entry matching the filter."""
        ...


def check_format(fmt: str) -> None:
    """InvalidInput unless `fmt` is an export format."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use jsonl or csv")


def export(source: EntrySource, flt: EntryFilter | None, fmt: str, out: TextIO) -> int:
    """Write matching entries as JSON lines (full entries) or CSV (summary columns); returns the count."""
    check_format(fmt)
    if fmt == "jsonl":
        count = 0
        for entry in source.iter_entries(flt):
            out.write(orjson.dumps(entry.to_json_dict()).decode() + "\n")
            count += 1
        return count
    import csv  # the CSV export only

    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for item in source.list(flt).items:
        row = item.model_dump(mode="json")
        writer.writerow([csv_safe(row.get(c)) for c in CSV_COLUMNS])
        count += 1
    return count


def export_to_file(source: EntrySource, flt: EntryFilter | None, fmt: str, path: Path | str) -> int:
    """`export` into a file that is replaced atomically and durably once complete; returns the count.

    InvalidInput for an unknown format or a directory that does not exist (nothing is written);
    StoreError when the file cannot be written (the previous file, if any, is left as it was).
    """
    path = Path(path)
    check_format(fmt)
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot export to {path}: directory {path.parent} does not exist")
    with replacing(path) as out:
        return export(source, flt, fmt, out)


def csv_safe(value: Any) -> Any:
    """A CSV cell: None as empty; text without control bytes, quoted as text if a spreadsheet would run it."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = _CONTROL_BYTES.sub("", value)
    if text.startswith(_FORMULA_STARTS) or text.lstrip().startswith(_FORMULA_STARTS):
        return "'" + text
    return text
