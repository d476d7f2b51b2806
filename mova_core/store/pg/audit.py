"""The audit log as a table, each record written in the transaction of the change it records.

The records are the file log's (`mova_core.store.audit.AuditLog` builds them); only where a line
goes differs. Inside a change (`bound`), a record is inserted on the change's connection, so it is
committed, or rolled back, with the change: no record of a change not made, and nothing for a
killed writer to take back. A record written outside a change commits on its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

from mova_core.model.errors import StoreError
from mova_core.store.audit import AuditLog, AuditRead

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from mova_core.store.pg.connect import Connections


class PgAuditLog(AuditLog):
    """The `audit` table of one schema, read and written like the file log."""

    def __init__(self, pool: Connections | ConnectionPool, schema: str):
        super().__init__(Path(f"{schema}.audit"))  # its name in messages
        self.pool = pool
        self.table = sql.Identifier(schema, "audit")
        self._local = threading.local()

    @contextmanager
    def bound(self, conn: Connection) -> Iterator[None]:
        """Records written by this thread meanwhile go into `conn`'s transaction."""
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = None

    @contextmanager
    def gathered(self, conn: Connection) -> Iterator[None]:
        """Records written by this thread meanwhile go into `conn`'s transaction in one COPY as the
        block ends (a batch write records each entry it made)."""
        self._local.gathered = rows = []
        try:
            yield
        finally:
            self._local.gathered = None
        try:
            # Binary: the values go as they are, no text to escape here and parse there.
            with conn.cursor().copy(sql.SQL("COPY {} (op, entry_id, change, record) FROM STDIN (FORMAT BINARY)")
                                    .format(self.table)) as copy:
                copy.set_types(["text"] * 4)
                for row in rows:
                    copy.write_row(row)
        except Exception as exc:
            raise StoreError(f"could not write the audit log {self.path}: {exc}") from exc

    def _append(self, line: bytes, rec: dict[str, Any]) -> None:
        args = (str(rec["op"]), rec["entry_id"], rec.get("change"), line.decode().rstrip("\n"))
        gathered = getattr(self._local, "gathered", None)
        if gathered is not None:
            gathered.append(args)
            return
        query = sql.SQL("INSERT INTO {} (op, entry_id, change, record) VALUES (%s, %s, %s, %s)").format(self.table)
        conn = getattr(self._local, "conn", None)
        try:
            if conn is not None:
                conn.execute(query, args)
            else:
                with self.pool.connection() as own:
                    own.execute(query, args)
        except Exception as exc:
            raise StoreError(f"could not write the audit log {self.path}: {exc}") from exc

    def size(self) -> int:
        """How many records the log holds."""
        with self.pool.connection() as conn:
            return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table)).fetchone()[0]

    def of_change(self, change: str, since: int = 0) -> list[dict[str, Any]]:
        """The records of one change, in order (`since`: the file log's offset, not used here)."""
        with self.pool.connection() as conn:
            rows = conn.execute(sql.SQL("SELECT record FROM {} WHERE change = %s ORDER BY seq").format(self.table),
                                (change,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def read(self) -> AuditRead:
        """Every record, in the order written."""
        with self.pool.connection() as conn:
            rows = conn.execute(sql.SQL("SELECT record FROM {} ORDER BY seq").format(self.table)).fetchall()
        return AuditRead(records=[json.loads(r[0]) for r in rows])
