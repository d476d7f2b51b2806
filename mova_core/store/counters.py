"""The durable record behind the metrics' counters, folded incrementally from what mova already writes.

Two sources, each folded from where the last fold stopped, under one SQLite write lock, so every
process counts each event exactly once and all processes read the same numbers:

* the index's arrivals: a trigger in the index database notes every entry row it writes
  (`arrivals`); an id never seen before is a dead-lettered entry. `known` remembers every id ever
  counted, so a rewrite, a deleted and rebuilt index or a second process never counts it twice;
  when the trigger is missing (a new or rebuilt index) it is put back and the index's rows are
  compared with `known` once.
* the audit log, from a byte offset: retry claims and finishes (mode, outcome, and the time from
  the claim to the release), resolutions (the time since the entry's `created_at`), deletes and
  purges; a claim that loses its lease (taken over as stale, or forced out by an archive, status
  change or delete) counts as `abandoned`, so every claim ends up counted once.

Counters only grow: deleting, purging or archiving an entry removes nothing here. The record is
`<dlq>/.mova/counters.sqlite`; deleting it starts the counters again from the audit log (and from
the entries present, for the dead-lettered count).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from mova_core.store import sqlite
from mova_core.store.counter_rules import (
    HISTOGRAMS,
    RECENT_FAILURES,
    RESOLUTION_BUCKETS,
    RETRY_BUCKETS,
    Claim,
    CounterValues,
    Labels,
    Lease,
    Tally,
    apply_line,
    count_arrival,
)

__all__ = ["HISTOGRAMS", "RESOLUTION_BUCKETS", "RETRY_BUCKETS", "CounterSource", "CounterValues", "Counters",
           "Labels", "Lease"]

SCHEMA_VERSION = "1"
# Audit bytes read per step of a fold: a first fold of a long log is read in pieces.
_CHUNK = 8 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counts (name TEXT, labels TEXT, value REAL NOT NULL, PRIMARY KEY (name, labels))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS known (id TEXT PRIMARY KEY, workflow_type TEXT, created_ts REAL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (entry_id TEXT PRIMARY KEY, retry_run_id TEXT, sandbox INTEGER, ts REAL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failures (entry_id TEXT PRIMARY KEY, ts REAL) WITHOUT ROWID;
"""
# In the index database: its own writes note each row, in the same transaction as the row. (Two
# statements run one by one: executescript would commit the fold's transaction half-way.)
_ARRIVALS = (
    "CREATE TABLE IF NOT EXISTS idx.arrivals (seq INTEGER PRIMARY KEY, id TEXT, workflow_type TEXT, created_ts REAL)",
    ("CREATE TRIGGER IF NOT EXISTS idx.entries_arrival AFTER INSERT ON entries BEGIN "
     "INSERT INTO arrivals (id, workflow_type, created_ts) VALUES (new.id, new.workflow_type, new.created_ts); END"),
)


class CounterSource(Protocol):
    """What the metrics and the alerts read counters from, whichever store keeps them."""

    def fold(self) -> None: ...

    def values(self) -> CounterValues: ...

    def leases(self) -> list[Lease]: ...

    def close(self) -> None: ...


class Counters:
    """The counters of one dead-letter directory (`path` None: in memory, for a read-only directory)."""

    def __init__(self, path: Path | None, index_path: Path | None, audit_path: Path):
        self.path = path
        self.index_path = index_path
        self.audit_path = Path(audit_path)
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                return self._connect(str(self.path))
            except (OSError, sqlite3.DatabaseError):
                self.path = None  # unwritable: count in memory for this process's lifetime
        return self._connect(":memory:")

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        db = sqlite.connect(target)
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        return db

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- folding ----------------------------------------------------------------------------
    def fold(self) -> None:
        """Count the events written since the last fold (by any process); cheap when there are none."""
        with self._attached() as attached:
            self._fold(attached)

    @contextmanager
    def _attached(self) -> Iterator[bool]:
        attached = self._attach()
        try:
            yield attached
        finally:
            if attached:
                self.db.execute("DETACH DATABASE idx")

    def _fold(self, attached: bool) -> None:
        if not self._pending(attached):
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            tally = Tally()
            if attached:
                self._fold_arrivals(tally)
            self._fold_audit(tally)
            self.db.executemany(
                "INSERT INTO counts VALUES (?, ?, ?) "
                "ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value", tally.rows())
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _attach(self) -> bool:
        """The index database attached as `idx`, when there is one with an entries table."""
        if self.index_path is None or not self.index_path.is_file():
            return False
        try:
            self.db.execute("ATTACH DATABASE ? AS idx", (str(self.index_path),))
        except sqlite3.DatabaseError:
            return False
        try:
            if self.db.execute("SELECT 1 FROM idx.sqlite_master WHERE type = 'table' AND name = 'entries'").fetchone():
                return True
        except sqlite3.DatabaseError:
            pass
        self.db.execute("DETACH DATABASE idx")
        return False

    def _pending(self, attached: bool) -> bool:
        """Whether a fold has anything to do (read-only checks, no write transaction)."""
        if attached:
            if not self._has_trigger():
                return True
            if self.db.execute("SELECT EXISTS (SELECT 1 FROM idx.arrivals)").fetchone()[0]:
                return True
        identity, size = _file_identity(self.audit_path)
        return size > 0 and ((identity, size) != (self._meta("audit_identity"), int(self._meta("audit_offset") or 0)))

    def _has_trigger(self) -> bool:
        return self.db.execute(
            "SELECT 1 FROM idx.sqlite_master WHERE type = 'trigger' AND name = 'entries_arrival'").fetchone() is not None

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, **values: str) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def _fold_arrivals(self, tally: Tally) -> None:
        """New ids from the index's arrivals (or, with no trigger yet, from all its rows, once)."""
        try:
            if not self._has_trigger():
                for statement in _ARRIVALS:
                    self.db.execute(statement)
                rows = self.db.execute(
                    "SELECT e.id, e.workflow_type, e.created_ts FROM idx.entries e "
                    "WHERE e.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM known k WHERE k.id = e.id)").fetchall()
                last = None
            else:
                rows = self.db.execute("SELECT id, workflow_type, created_ts, seq FROM idx.arrivals ORDER BY seq").fetchall()
                last = rows[-1][3] if rows else None
        except sqlite3.OperationalError:  # a read-only or locked-out index: counted by a later fold
            return
        fresh = {}
        for row in rows:
            if row[0] is not None:
                fresh.setdefault(row[0], row[:3])
        if fresh:
            ids = list(fresh)
            seen: set[str] = set()
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                seen.update(r[0] for r in self.db.execute(
                    f"SELECT id FROM known WHERE id IN ({','.join('?' * len(part))})", part))
            new = [fresh[i] for i in ids if i not in seen]
            self.db.executemany("INSERT INTO known VALUES (?, ?, ?)", new)
            for _, workflow_type, _ in new:
                count_arrival(tally, workflow_type)
        if last is not None:
            self.db.execute("DELETE FROM idx.arrivals WHERE seq <= ?", (last,))

    def _fold_audit(self, tally: Tally) -> None:
        """The audit records appended since the stored offset (from the start for a new or rotated log)."""
        identity, size = _file_identity(self.audit_path)
        offset = int(self._meta("audit_offset") or 0)
        if identity != self._meta("audit_identity") or size < offset:
            offset = 0
        if size <= offset:
            self._set_meta(audit_identity=identity, audit_offset=str(offset))
            return
        with open(self.audit_path, "rb") as f:
            f.seek(offset)
            while True:
                data = f.read(_CHUNK)
                end = data.rfind(b"\n") + 1  # a line still being written waits for the next fold
                if end == 0:
                    break
                for line in data[:end].splitlines():
                    apply_line(line, self, tally)
                offset += end
                f.seek(offset)
                if len(data) < _CHUNK:
                    break
        self._set_meta(audit_identity=identity, audit_offset=str(offset))

    # -- the fold's state (`counter_rules.FoldState`) ---------------------------------------
    def claim(self, entry: str) -> Claim | None:
        row = self.db.execute("SELECT retry_run_id, sandbox, ts FROM claims WHERE entry_id = ?", (entry,)).fetchone()
        return None if row is None else Claim(row[0], bool(row[1]), row[2])

    def set_claim(self, entry: str, claim: Claim) -> None:
        self.db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                        (entry, claim.retry_run_id, 1 if claim.sandbox else 0, claim.ts))

    def drop_claim(self, entry: str) -> None:
        self.db.execute("DELETE FROM claims WHERE entry_id = ?", (entry,))

    def note_failure(self, entry: str, ts: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?)", (entry, ts))
        self.db.execute("DELETE FROM failures WHERE entry_id NOT IN "
                        "(SELECT entry_id FROM failures ORDER BY ts DESC, entry_id LIMIT ?)", (RECENT_FAILURES,))

    def created_ts(self, entry: str) -> float | None:
        row = self.db.execute("SELECT created_ts FROM known WHERE id = ?", (entry,)).fetchone()
        return row[0] if row else None

    # -- reading ----------------------------------------------------------------------------
    def leases(self) -> list[Lease]:
        """The claims mova recorded (audit log) whose entry the index still shows `retrying`, with the
        claim's mode and time and the lease's expiry: a lookup per claim, never a scan of the entries."""
        with self._attached() as attached:
            if not attached:
                return []
            rows = self.db.execute(
                "SELECT c.entry_id, e.lease_expires_ts, c.sandbox, c.ts FROM claims c "
                "JOIN idx.entries e ON e.name = c.entry_id || '.json' WHERE e.status = 'retrying'").fetchall()
        return [Lease(entry_id, bool(sandbox), ts, expires) for entry_id, expires, sandbox, ts in rows]

    def values(self) -> CounterValues:
        """Every counter as last folded."""
        rows = self.db.execute("SELECT name, labels, value FROM counts").fetchall()
        recent = [r[0] for r in self.db.execute("SELECT entry_id FROM failures ORDER BY ts DESC, entry_id")]
        return CounterValues.from_rows(rows, recent)


def _file_identity(path: Path) -> tuple[str, int]:
    """(device:inode, size) of a file; ("", 0) when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "", 0
    return f"{st.st_dev}:{st.st_ino}", st.st_size
