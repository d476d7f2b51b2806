"""The append-only audit log: one JSON object per line, per management operation."""

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
            self._append(line)
        except OSError as exc:
            raise StoreError(f"could not write the audit log {self.path}: {os_error_reason(exc)}") from exc
        return rec

    def _append(self, line: bytes) -> None:
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

