"""Which store a service works over: the file store at MOVA_DLQ_PATH, or PostgreSQL at MOVA_STORE_URL.

psycopg is imported only when a PostgreSQL URL is set, so the file store's commands never load it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mova_core.model.errors import StoreError
from mova_core.store.audit import AuditLog
from mova_core.store.protocol import DeadLetterStore

if TYPE_CHECKING:
    from mova_core.settings import Settings
    from mova_core.store.pg.store import PgStore

MISSING_EXTRA = ("MOVA_STORE_URL is set, but PostgreSQL support is not installed: "
                 "pip install 'mova[postgres]' (psycopg and psycopg-pool)")


def open_store(settings: Settings) -> DeadLetterStore:
    """The store the settings select."""
    if settings.store_url is None:
        from mova_core.store.files import FileStore

        return FileStore(settings.dlq_path)
    store_class = _pg_store_class()
    return store_class(settings.store_url.get_secret_value(), settings.store_schema)


def open_audit(store: DeadLetterStore, settings: Settings) -> AuditLog:
    """The audit log of a store's changes: a store that writes records in its own transactions
    offers its log (`audit_log`); otherwise the file log at MOVA_AUDIT_PATH."""
    own = getattr(store, "audit_log", None)
    return own if isinstance(own, AuditLog) else AuditLog(settings.effective_audit_path)


def migrate_schema(settings: Settings) -> tuple[int, int, int]:
    """Create or upgrade the PostgreSQL store's schema: (version before, after, this mova's version)."""
    with _postgres_extra():
        from mova_core.store.pg import schema
        from mova_core.store.pg.connect import connect

    url = settings.store_url.get_secret_value() if settings.store_url else ""
    with connect(url) as conn:
        before, after = schema.migrate(conn, settings.store_schema)
    return before, after, schema.SCHEMA_VERSION


def _pg_store_class() -> type[PgStore]:
    with _postgres_extra():
        from mova_core.store.pg.store import PgStore
    if importlib.util.find_spec("psycopg_pool") is None:  # imported only once callers overlap: checked now
        raise StoreError(MISSING_EXTRA)
    return PgStore


@contextmanager
def _postgres_extra() -> Iterator[None]:
    """Imports of the PostgreSQL store: StoreError saying how to install the `postgres` extra when
    psycopg or its pool is missing."""
    try:
        yield
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in ("psycopg", "psycopg_pool", "psycopg_binary"):
            raise StoreError(MISSING_EXTRA) from None
        raise
