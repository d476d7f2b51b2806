"""How many entries there are per (status, workflow type), from the deltas the entries' triggers
append to `entry_counts` in each change's own transaction (see the schema's migrations).

A read sums the deltas; once there are many, one reader folds them into one row per pair (under a
transaction-level advisory lock, so two hosts never fold at once; a fold's DELETE sees only the
deltas committed before it, so a change committing meanwhile keeps its own rows and is counted once).
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql

#: Delta rows beyond which a read folds them together.
FOLD_AT = 1000


class EntryCounts:
    """The `entry_counts` table of one schema."""

    def __init__(self, schema: str):
        self.table = sql.Identifier(schema, "entry_counts")
        self.lock_key = f"mova {schema} entry_counts"

    def by_kind(self, conn: Connection) -> list[tuple[str, str, int]]:
        """(status, workflow type as stored, entries), for every pair with entries."""
        rows = conn.execute(sql.SQL("SELECT status, workflow_type, sum(n)::bigint, count(*) FROM {} GROUP BY 1, 2")
                            .format(self.table)).fetchall()
        if sum(r[3] for r in rows) > FOLD_AT:
            self.fold(conn)
        return [(status, wtype, n) for status, wtype, n, _ in rows if n]

    def total(self, conn: Connection, cond: sql.Composable, args: list[Any]) -> int:
        """The entries matching conditions on status and workflow type only."""
        n, deltas = conn.execute(sql.SQL("SELECT coalesce(sum(n), 0)::bigint, count(*) FROM {} WHERE {}")
                                 .format(self.table, cond), args).fetchone()
        if deltas > FOLD_AT:
            self.fold(conn)
        return n

    def fold(self, conn: Connection) -> None:
        """Replace the deltas committed so far by one row per pair (skipped while another host folds)."""
        with conn.transaction():
            if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (self.lock_key,)).fetchone()[0]:
                return
            conn.execute(sql.SQL(
                "WITH gone AS (DELETE FROM {t} RETURNING status, workflow_type, n) "
                "INSERT INTO {t} SELECT status, workflow_type, sum(n) FROM gone GROUP BY 1, 2 HAVING sum(n) <> 0"
            ).format(t=self.table))
