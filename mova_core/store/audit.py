"""The append-only audit log: one JSON object per line, per management operation.

A record of a change to an entry file carries the change's token (`"change"`), which also names
the change's temporary file: a change a killed process recorded but never made is found by it and
taken back by a record with `"undone": true` (see `mova_core.store.intents`).
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mova_core.model.errors import StoreError
from mova_core.store.fsio import ends_with_newline, os_error_reason
from mova_core.timeutil import format_time, utcnow

_BASE_FIELDS = frozenset(("time", "op", "entry_id", "old_status", "new_status", "actor"))


@dataclass
class AuditRead:
    """What reading the log found: the records, and lines that were torn or not JSON."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)


class AuditLog:
    """Appends records with a single O_APPEND write each, so concurrent writers never interleave."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def record(
        self,
        op: str,
        entry_id: str | None,
        old_status: str | None,
        new_status: str | None,
        actor: str,
        *,
        when: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Append one record and fsync it; returns the record written.

        StoreError if it cannot be written (disk full, permissions): the store then undoes the change
        it was recording. A short write leaves a torn line, which readers skip and report.
        """
        rec = {
            "time": format_time(when or utcnow()),
            "op": op,
            "entry_id": entry_id,
            "old_status": old_status,
            "new_status": new_status,
            "actor": actor,
            **extra,
        }
        line = (json.dumps(rec, separators=(",", ":"), default=str) + "\n").encode()
        try:
            self._append(line, rec)
        except OSError as exc:
            raise StoreError(f"could not write the audit log {self.path}: {os_error_reason(exc)}") from exc
        return rec

    def _append(self, line: bytes, rec: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # A torn previous line (writer killed mid-write) must not swallow this record.
            if os.fstat(fd).st_size and not ends_with_newline(self.path):
                line = b"\n" + line
            # One write per record: a second write for the rest could interleave with another
            # process's record, so a short write (the disk filled up) is a failure.
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"short write to the audit log ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)

    def size(self) -> int:
        """The log's length in bytes now (0 when there is none yet): where the next record will start."""
        try:
            return os.stat(self.path).st_size
        except OSError:  # none yet (or unreadable: writing a record will then say why)
            return 0

    def of_change(self, change: str, since: int = 0) -> list[dict[str, Any]]:
        """The records of one change (its token), written at or after byte `since`, in order.

        Only lines holding the token are decoded, so a search through a long log costs one read.
        A log shorter than `since` (replaced meanwhile) is searched from its start.
        """
        try:
            with open(self.path, "rb") as fh:
                if since <= os.fstat(fh.fileno()).st_size:
                    fh.seek(since)
                data = fh.read()
        except FileNotFoundError:
            return []
        needle = json.dumps(change).encode()
        found = []
        for raw in data.splitlines():
            if needle not in raw:
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue  # torn: readers skip it, so it records nothing
            if isinstance(rec, dict) and rec.get("change") == change:
                found.append(rec)
        return found

    def take_back(self, change: str, since: int = 0, *, actor: str) -> bool:
        """Record that a recorded change was never made (its writer was killed before making it):
        a record of the opposite status change with `undone` and `recovered` set. Nothing when the
        change has no record, or one taking it back already. Returns whether a record was written.
        """
        records = self.of_change(change, since)
        if not records or any(r.get("undone") for r in records):
            return False
        rec = records[0]
        extra = {k: v for k, v in rec.items() if k not in _BASE_FIELDS}
        self.record(rec.get("op"), rec.get("entry_id"), rec.get("new_status"), rec.get("old_status"), actor,
                    **{**extra, "undone": True, "recovered": True})
        return True

    def read(self) -> AuditRead:
        """All records; torn or invalid lines are reported by number, never fatal."""
        out = AuditRead()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return out
        for no, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict):
                    raise ValueError
                out.records.append(rec)
            except ValueError:
                out.bad_lines.append(no)
        return out

