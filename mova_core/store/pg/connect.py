"""Connections to the store's database: a pool per process, errors that never show the password."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from mova_core.model.errors import StoreError
from mova_core.settings import mask_url
from mova_core.store.pg import schema as _schema

#: Seconds to wait for the server before saying it cannot be reached.
CONNECT_TIMEOUT = 10
#: Connections one process keeps at most (the dashboard's and the shim's threads share them).
POOL_MAX = 8


def connect(url: str) -> psycopg.Connection:
    """One connection in autocommit mode; StoreError naming the server (password masked) if it fails."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot connect to the store {mask_url(url)}: {reason}") from None


def open_pool(url: str, schema: str) -> ConnectionPool:
    """A pool over the store's database, once a first connection found the schema at this mova's
    version (SchemaNotReady if not; StoreError saying why when the server cannot be reached: a pool
    would only retry in the background until its timeout)."""
    with connect(url) as first:
        _schema.check(first, schema)
    pool = ConnectionPool(url, min_size=1, max_size=POOL_MAX, kwargs={"autocommit": True}, timeout=CONNECT_TIMEOUT,
                          open=False, name=f"mova-{schema}")
    pool.open()
    return pool
