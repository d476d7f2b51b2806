"""The metrics' counters over PostgreSQL: folded in the database from the audit table and the arrivals.

The rules are the file store's (`mova_core.store.counter_rules`); the state lives in the schema's
`counter_*` tables, shared by every host. A fold runs in one transaction under an advisory lock
named for the schema, so hosts scraping at once count each record exactly once.

Sequence numbers are taken when a row is inserted but become visible when its transaction commits,
so a record with a lower `seq` can appear after a higher one was counted. Each audit row and
arrival therefore carries its transaction's id (`xid`), and a fold counts the rows of the
transactions between the last fold's bound and the oldest transaction still running now
(`pg_snapshot_xmin`): every transaction below that bound has finished, so its rows are all
visible, or never will be. A row of a transaction still running waits for a later fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import psycopg
from psycopg import Connection, sql

from mova_core.model.errors import StoreError
from mova_core.store.counter_rules import (
    RECENT_FAILURES,
    Claim,
    CounterValues,
    Lease,
    Tally,
    apply_line,
    count_arrival,
)

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from mova_core.store.pg.connect import Connections

# Audit rows read per step of a fold: a first fold of a long table is read in pieces.
_CHUNK = 5000
_NOW_BOUND = "pg_snapshot_xmin(pg_current_snapshot())"


class PgCounters:
    """The counters of one schema, read and folded through the store's pool."""

    def __init__(self, pool: Connections | ConnectionPool, schema: str):
        self.pool = pool
        self.schema = schema
        self.lock_name = f"mova counters {schema}"

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=sql.Identifier(self.schema))

    def close(self) -> None:
        """Nothing of its own to close: the connections are the store's."""

    # -- folding ----------------------------------------------------------------------------
    def fold(self) -> None:
        """Count the records and arrivals committed since the last fold (by any host); one cheap
        query when there are none."""
        try:
            if self._pending():
                self._fold()
        except psycopg.Error as exc:
            raise StoreError(f"the store could not count the metrics' counters: {exc}; nothing was counted") from exc

    def _fold(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_name,))
            since, below = conn.execute(self._sql(
                "SELECT folded_below, greatest(folded_below, " + _NOW_BOUND + ") FROM {schema}.counter_state")
            ).fetchone()
            tally, state = Tally(), _FoldState(conn, self._sql)
            self._fold_arrivals(conn, below, tally)
            self._fold_audit(conn, since, below, state, tally)
            state.save()
            _many(conn, self._sql(
                "INSERT INTO {schema}.counter_values VALUES (%s, %s, %s) ON CONFLICT (name, labels) "
                "DO UPDATE SET value = counter_values.value + excluded.value"), tally.rows())
            conn.execute(self._sql("UPDATE {schema}.counter_state SET folded_below = %s::xid8"), (below,))

    def _pending(self) -> bool:
        """Whether a finished transaction wrote anything not yet folded (no lock, no write)."""
        with self.pool.connection() as conn:
            return conn.execute(self._sql(
                "SELECT EXISTS (SELECT 1 FROM {schema}.counter_arrivals WHERE xid < " + _NOW_BOUND + ") "
                "OR EXISTS (SELECT 1 FROM {schema}.audit WHERE xid < " + _NOW_BOUND + " "
                "AND xid >= (SELECT folded_below FROM {schema}.counter_state))")).fetchone()[0]

    def _fold_arrivals(self, conn: Connection, below: str, tally: Tally) -> None:
        """Ids never seen before, from the arrivals of finished transactions (taken off the table)."""
        fresh = conn.execute(self._sql(
            "WITH moved AS (DELETE FROM {schema}.counter_arrivals WHERE xid < %s::xid8 "
            "RETURNING seq, id, workflow_type, created_ts), "
            "firsts AS (SELECT DISTINCT ON (id) id, workflow_type, created_ts FROM moved ORDER BY id, seq) "
            "INSERT INTO {schema}.counter_known SELECT id, workflow_type, created_ts FROM firsts "
            "ON CONFLICT (id) DO NOTHING RETURNING workflow_type"), (below,)).fetchall()
        for (workflow_type,) in fresh:
            count_arrival(tally, workflow_type)

    def _fold_audit(self, conn: Connection, since: str, below: str, state: _FoldState, tally: Tally) -> None:
        """The audit rows of the transactions in [since, below), in the order written."""
        with conn.cursor(name="mova_counters_fold") as cur:
            cur.execute(self._sql("SELECT entry_id, record FROM {schema}.audit "
                                  "WHERE xid >= %s::xid8 AND xid < %s::xid8 ORDER BY seq"), (since, below))
            while rows := cur.fetchmany(_CHUNK):
                state.load(r[0] for r in rows if r[0] is not None)
                for _, record in rows:
                    apply_line(record, state, tally)

    # -- reading ----------------------------------------------------------------------------
    def leases(self) -> list[Lease]:
        """The claims counted whose entry is still `retrying`, with the lease's expiry (a look-up per claim)."""
        with self.pool.connection() as conn:
            rows = conn.execute(self._sql(
                "SELECT c.entry_id, e.lease_expires_ts, c.sandbox, c.ts FROM {schema}.counter_claims c "
                "JOIN {schema}.entries e ON e.id = c.entry_id WHERE e.status = 'retrying'")).fetchall()
        return [Lease(entry_id, sandbox, ts, expires) for entry_id, expires, sandbox, ts in rows]

    def values(self) -> CounterValues:
        """Every counter as last folded."""
        with self.pool.connection() as conn:
            rows = conn.execute(self._sql("SELECT name, labels, value FROM {schema}.counter_values")).fetchall()
            recent = [r[0] for r in conn.execute(self._sql(
                "SELECT entry_id FROM {schema}.counter_failures ORDER BY ts DESC, entry_id"))]
        return CounterValues.from_rows(rows, recent)


class _FoldState:
    """One fold's `FoldState`: the claims and creation times of the entries its records name, read
    a chunk at a time, and the changes written back in a few statements at its end."""

    def __init__(self, conn: Connection, compose):
        self.conn, self._sql = conn, compose
        self.claims: dict[str, Claim | None] = {}
        self.created: dict[str, float | None] = {}
        self.changed: set[str] = set()
        self.failures: dict[str, float] = {}

    def load(self, ids: Iterable[str]) -> None:
        """Read the state of the entries not read yet."""
        missing = list({i for i in ids if i not in self.claims})
        if not missing:
            return
        self.claims.update(dict.fromkeys(missing))
        self.created.update(dict.fromkeys(missing))
        for entry, run_id, sandbox, ts in self.conn.execute(self._sql(
                "SELECT entry_id, retry_run_id, sandbox, ts FROM {schema}.counter_claims "
                "WHERE entry_id = ANY(%s)"), (missing,)):
            self.claims[entry] = Claim(run_id, sandbox, ts)
        self.created.update(self.conn.execute(self._sql(
            "SELECT id, created_ts FROM {schema}.counter_known WHERE id = ANY(%s)"), (missing,)).fetchall())

    def claim(self, entry: str) -> Claim | None:
        return self.claims.get(entry)

    def set_claim(self, entry: str, claim: Claim) -> None:
        self.claims[entry] = claim
        self.changed.add(entry)

    def drop_claim(self, entry: str) -> None:
        self.claims[entry] = None
        self.changed.add(entry)

    def note_failure(self, entry: str, ts: float) -> None:
        self.failures[entry] = ts

    def created_ts(self, entry: str) -> float | None:
        return self.created.get(entry)

    def save(self) -> None:
        """Write the claims opened and closed and the latest failures."""
        kept = [(e, *self.claims[e]) for e in self.changed if self.claims[e] is not None]
        gone = [e for e in self.changed if self.claims[e] is None]
        self.conn.execute(self._sql("DELETE FROM {schema}.counter_claims WHERE entry_id = ANY(%s)"), (gone,))
        _many(self.conn, self._sql(
            "INSERT INTO {schema}.counter_claims VALUES (%s, %s, %s, %s) ON CONFLICT (entry_id) DO UPDATE "
            "SET retry_run_id = excluded.retry_run_id, sandbox = excluded.sandbox, ts = excluded.ts"), kept)
        if self.failures:
            # Only the latest failures can stay among the latest RECENT_FAILURES; the others are
            # taken out at once rather than written and trimmed.
            latest = sorted(self.failures.items(), key=lambda pair: (-pair[1], pair[0]))
            kept_failures, older = latest[:RECENT_FAILURES], [e for e, _ in latest[RECENT_FAILURES:]]
            self.conn.execute(self._sql("DELETE FROM {schema}.counter_failures WHERE entry_id = ANY(%s)"), (older,))
            _many(self.conn, self._sql(
                "INSERT INTO {schema}.counter_failures VALUES (%s, %s) ON CONFLICT (entry_id) "
                "DO UPDATE SET ts = excluded.ts"), kept_failures)
            self.conn.execute(self._sql(
                "DELETE FROM {schema}.counter_failures WHERE entry_id NOT IN (SELECT entry_id FROM "
                "{schema}.counter_failures ORDER BY ts DESC, entry_id LIMIT %s)"), (RECENT_FAILURES,))

def _many(conn: Connection, statement: sql.Composable, rows: list[tuple]) -> None:
    """One statement for many rows (pipelined by psycopg); nothing sent for none."""
    if rows:
        with conn.cursor() as cur:
            cur.executemany(statement, rows)
