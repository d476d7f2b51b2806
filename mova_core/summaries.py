"""Reading one entry file into the index's summary columns.

Kept apart from the index so the worker processes of a first build import only this (the standard
library, orjson and two small modules of ours), not pydantic or SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from .groups import fingerprint
from .status import EntryStatus
from .timeutil import parse_time

MAX_ERROR_CHARS = 500


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_INT64 = (-(2**63), 2**63 - 1)


def _num(value: Any, default: int = 0) -> int:
    """An integer column: non-numbers give the default; huge values are clamped to SQLite's 64 bits."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # NaN
        return default
    if isinstance(value, float) and abs(value) == float("inf"):
        return _INT64[0] if value < 0 else _INT64[1]
    return max(_INT64[0], min(_INT64[1], int(value)))


def summarize(name: str, data: bytes) -> tuple:
    """Summary columns of one entry file (after name and file identity), or ValueError with a reason."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    entry_id = doc.get("id")
    if not isinstance(entry_id, str) or f"{entry_id}.json" != name:
        raise ValueError(f"id {entry_id!r} does not match the file name")
    run_id = doc.get("run_id")
    if not isinstance(run_id, str):
        raise ValueError("run_id missing or not a string")
    try:
        created_ts = parse_time(doc.get("created_at")).timestamp()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"created_at: {exc}") from None
    status = doc.get("status", "active")
    if status not in _STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(_STATUSES)}")
    meta, details = _obj(doc.get("metadata")), _obj(doc.get("error_details"))
    workflow_type = _text(meta.get("workflow_type")) or _text(_obj(_obj(doc.get("envelope")).get("intent")).get("name"))
    if not workflow_type:
        raise ValueError("neither metadata.workflow_type nor envelope.intent.name is set")
    action_type = _text(_obj(doc.get("failed_action")).get("type"))
    last_error = _text(details.get("last_error")) or ""
    lease = _obj(meta.get("lease"))
    lease_expires = None
    if lease.get("expires_at"):
        try:
            lease_expires = parse_time(lease["expires_at"]).timestamp()
        except (ValueError, TypeError):
            lease_expires = 0.0  # an unreadable lease counts as expired
    return (
        entry_id, run_id, status, doc["created_at"], created_ts, workflow_type, _text(meta.get("user_id")),
        action_type, last_error[:MAX_ERROR_CHARS], _text(details.get("failure_reason")),
        _num(details.get("attempts")), _num(meta.get("retry_count")), fingerprint(action_type, last_error),
        _num(meta.get("priority")), _text(lease.get("owner")), lease_expires,
    )


_STATUSES = tuple(EntryStatus.__members__)


def read_file(directory: Path, name: str) -> tuple[str, tuple | None, tuple | None]:
    """Read and summarize one file: (name, entries row or None, bad row or None); both None if gone."""
    try:
        with open(os.path.join(directory, name), "rb", opener=_nofollow) as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError:
        return name, None, None
    except OSError as exc:
        return name, None, (name, 0, 0, 0, f"cannot read: {exc.strerror}")
    ident = (name, st.st_ino, st.st_mtime_ns, st.st_size)
    try:
        return name, ident + summarize(name, data), None
    except ValueError as exc:
        return name, None, ident + (str(exc)[:300],)
    except RecursionError:
        return name, None, ident + ("nested too deeply",)


def _nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def read_chunk(directory: Path, names: list[str]) -> list[tuple[str, tuple | None, tuple | None]]:
    """Worker-pool entry point: read a chunk of files."""
    return [read_file(directory, n) for n in names]


def is_entry_name(name: str) -> bool:
    """Entry files are `<id>.json`; dot-files (temporaries, bookkeeping) are never entries."""
    return name.endswith(".json") and not name.startswith(".")
