"""Run records and their logs as rows, so a run started on one host is followed from any other.

`<schema>.runs` holds one row per run: the record's JSON text exactly as the file store writes it
(redacted), the mode as a column (`sandbox`) and the columns it is looked up by. `<schema>.run_log`
holds one row per log line, numbered from 0 within its run. Every write is one short autocommit
statement on a pool of the process's own for run records, so a log line never waits for an
entry's transaction, nor for a connection an entry's change holds.

A line's number is the run's count of lines when it is inserted: two writers that pick the same
one collide on the primary key (the second waits for the first to commit, then fails) and the
loser takes the next. So numbers have no gaps, and line n is never visible before line n - 1: a
follower reading "from line 12 on" misses nothing.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

import psycopg
from psycopg import sql

from mova_core.model.errors import MovaError, StoreError
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord
from mova_core.store.fsio import encode_pretty
from mova_core.store.pg.connect import Connections
from mova_core.store.run_records import (
    RunNotFound,
    RunRecordStore,
    check_run_id,
    log_line,
    parse_log_lines,
    record_document,
)

#: How many times a log line is numbered again after another writer took its number.
_APPEND_TRIES = 50

_pools: dict[tuple[str, str], Connections] = {}
_pools_lock = threading.Lock()


def run_pool(url: str, schema: str) -> Connections:
    """The process's connections for the run records of one store (one connection, a pool beside it
    only while callers overlap, as the entry store's; opened once, closed at exit)."""
    with _pools_lock:
        pool = _pools.get((url, schema))
        if pool is None:
            pool = _pools[(url, schema)] = Connections(url, schema)
            atexit.register(pool.close)
    return pool


def close_pools(schema: str | None = None) -> None:
    """Close the run-record pools (of one schema, or all): a process that is done with a store."""
    with _pools_lock:
        for key in [k for k in _pools if schema is None or k[1] == schema]:
            _pools.pop(key).close()


def pg_runs(url: str, schema: str, sandbox_mode: bool, redactor: Redactor | None = None) -> PgRunStore:
    """The run store of one mode over the store at `url`."""
    return PgRunStore(run_pool(url, schema), schema, sandbox_mode, redactor)


def _reason(exc: psycopg.Error) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PgRunStore(RunRecordStore):
    """The run records and logs of one mode (production or sandbox) in the store's schema."""

    def __init__(self, pool: Connections, schema: str, sandbox_mode: bool, redactor: Redactor | None = None):
        self.pool, self.schema, self.sandbox_mode = pool, schema, sandbox_mode
        self.redactor = redactor or Redactor()
        self.runs = sql.Identifier(schema, "runs")
        self.log_table = sql.Identifier(schema, "run_log")

    def _execute(self, doing: str, statement: sql.Composable, args: tuple) -> tuple[list[tuple], int]:
        """One autocommit statement: its rows (none for a write) and how many rows it touched."""
        try:
            with self.pool.connection() as conn:
                cursor = conn.execute(statement, args)
                return (cursor.fetchall() if cursor.description else []), cursor.rowcount
        except psycopg.Error as exc:
            raise StoreError(f"could not {doing} in {self.schema}.runs: {_reason(exc)}") from None

    def exists(self, run_id: str) -> bool:
        """Whether the run has a record in this mode."""
        statement = sql.SQL("SELECT 1 FROM {} WHERE run_id = %s AND sandbox = %s").format(self.runs)
        rows, _ = self._execute("look a run up", statement, (check_run_id(run_id), self.sandbox_mode))
        return bool(rows)

    def save(self, record: RunRecord, *, context: dict[str, Any] | None = None) -> None:
        """Write the record (redacted), replacing the last; StoreError if the id is the other mode's run."""
        data = record_document(record, self.redactor, context)
        statement = sql.SQL(
            "INSERT INTO {runs} AS r (run_id, sandbox, status, dlq_id, start_time, record) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, "
            "dlq_id = EXCLUDED.dlq_id, start_time = EXCLUDED.start_time, record = EXCLUDED.record, "
            "updated_at = now() WHERE r.sandbox = EXCLUDED.sandbox").format(runs=self.runs)
        args = (check_run_id(record.run_id), self.sandbox_mode, str(data.get("status")), data.get("dlq_id"),
                data.get("start_time"), encode_pretty(data).decode())
        _, touched = self._execute("write a run record", statement, args)
        if touched == 0:
            other = "production" if self.sandbox_mode else "sandbox"
            raise StoreError(f"run {record.run_id} is already recorded as a {other} run")

    def load(self, run_id: str) -> RunRecord:
        """Read a record; RunNotFound if this mode has none."""
        statement = sql.SQL("SELECT record FROM {} WHERE run_id = %s AND sandbox = %s").format(self.runs)
        rows, _ = self._execute("read a run record", statement, (check_run_id(run_id), self.sandbox_mode))
        if not rows:
            raise RunNotFound(run_id)
        try:
            return RunRecord.model_validate_json(rows[0][0])
        except ValueError as exc:
            raise MovaError(f"run record {run_id} in {self.schema}.runs is unreadable: {exc}") from None

    def list(self) -> list[RunRecord]:
        """Every readable record of this mode, newest first."""
        statement = sql.SQL("SELECT record FROM {} WHERE sandbox = %s ORDER BY start_time DESC NULLS LAST").format(
            self.runs)
        records = []
        rows, _ = self._execute("list the run records", statement, (self.sandbox_mode,))
        for (text,) in rows:
            try:
                records.append(RunRecord.model_validate_json(text))
            except ValueError:
                continue
        return records

    def open_log(self, run_id: str) -> PgRunLog:
        """The run's log, to append to for the length of a run."""
        return PgRunLog(self, check_run_id(run_id))

    def read_log(self, run_id: str, offset: int = 0) -> list[dict[str, Any]]:
        """The log's events from line `offset` on."""
        statement = sql.SQL("SELECT line FROM {} WHERE run_id = %s AND line_no >= %s ORDER BY line_no").format(
            self.log_table)
        rows, _ = self._execute("read a run log", statement, (check_run_id(run_id), offset))
        return parse_log_lines([r[0] for r in rows])

    def log_location(self, run_id: str) -> str:
        """Where the log is, for a person to read: its rows, and the query that prints them."""
        return (f"{self.schema}.run_log (SELECT line FROM {self.schema}.run_log "
                f"WHERE run_id = '{check_run_id(run_id)}' ORDER BY line_no)")


class PgRunLog:
    """A run's log: each line one insert, numbered after the run's last."""

    def __init__(self, store: PgRunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self._statement = sql.SQL(
            "INSERT INTO {log} (run_id, line_no, line) "
            "SELECT %s, coalesce(max(line_no) + 1, 0), %s FROM {log} WHERE run_id = %s").format(log=store.log_table)

    def append(self, event: dict[str, Any]) -> None:
        """Append one event or log line (redacted); StoreError if it cannot be written."""
        args = (self.run_id, log_line(event, self.store.redactor), self.run_id)
        try:
            with self.store.pool.connection() as conn:
                for _ in range(_APPEND_TRIES):
                    try:
                        conn.execute(self._statement, args)
                        return
                    except psycopg.errors.UniqueViolation:
                        continue  # another writer took this number: take the next
        except psycopg.Error as exc:
            raise StoreError(f"could not write the run log {self.store.log_location(self.run_id)}: "
                             f"{_reason(exc)}") from None
        raise StoreError(f"could not write the run log of {self.run_id}: {_APPEND_TRIES} writers took its numbers")

    def close(self) -> None:
        """Nothing held between lines."""
