"""Connections to the store's database: one connection, a pool beside it once callers overlap, and
errors that never show the password.

A short-lived process (a `mova dlq` command) makes its calls one after another, so it uses only the
connection that checked the schema: no pool, no worker threads, no second connection to open. A
caller that needs a connection while that one is in use (another thread of the dashboard or the
shim, a block holding one connection while it asks for another) gets one from a pool, opened then.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
from psycopg import pq

from mova_core.model.errors import StoreError
from mova_core.settings import mask_url
from mova_core.store.pg import schema as _schema

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

#: Seconds to wait for the server before saying it cannot be reached.
CONNECT_TIMEOUT = 10
#: Connections the pool beside the first keeps at most (the dashboard's and the shim's threads share them).
POOL_MAX = 8


def connect(url: str) -> psycopg.Connection:
    """One connection in autocommit mode; StoreError naming the server (password masked) if it fails."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot connect to the store {mask_url(url)}: {reason}") from None


class Connections:
    """The store's connections: `connection()` as a pool offers it, from one connection while callers
    take turns, from a pool (opened on first need) while that one is in use."""

    def __init__(self, url: str, schema: str):
        """Connect and check the schema is at this mova's version (SchemaNotReady if not; StoreError
        saying why when the server cannot be reached)."""
        self.url, self.name = url, f"mova-{schema}"
        self._one: psycopg.Connection | None = connect(url)
        try:
            _schema.check(self._one, schema)
        except BaseException:
            self._one.close()
            raise
        self._turn = threading.Lock()
        self._opening = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection for the block, in autocommit mode, left idle after it (OperationalError once
        closed, as a closed pool says)."""
        if self._closed:
            raise psycopg.OperationalError(f"the connections of {self.name} are closed")
        if not self._turn.acquire(blocking=False):
            with self.pool().connection() as conn:
                yield conn
            return
        try:
            if self._one is None or self._one.closed:
                self._one = connect(self.url)
            yield self._one
        finally:
            self._tidy()
            self._turn.release()

    def _tidy(self) -> None:
        """Leave the connection idle as a pool would: a transaction rolled back; one that cannot be
        (a broken connection, a COPY cut short) closed, to be replaced at the next use."""
        conn = self._one
        if conn is None or conn.closed:
            return
        status = conn.info.transaction_status
        try:
            if status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
                conn.rollback()
            elif status != pq.TransactionStatus.IDLE:
                conn.close()
        except psycopg.Error:
            conn.close()

    def pool(self) -> ConnectionPool:
        """The pool beside the first connection, opened on first use."""
        with self._opening:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(self.url, min_size=1, max_size=POOL_MAX, kwargs={"autocommit": True},
                                            timeout=CONNECT_TIMEOUT, open=False, name=self.name)
                self._pool.open()
            return self._pool

    def close(self) -> None:
        """Close the connection and the pool, if one was opened."""
        self._closed = True
        with self._opening:
            if self._pool is not None:
                self._pool.close()
        if self._one is not None:
            self._one.close()
