"""The one way mova opens its SQLite files (the summary index and the metrics' counters)."""

from __future__ import annotations

import sqlite3


def connect(target: str, *, relaxed_sync: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode, shared across threads, waiting up to 30 s for another
    process's write lock; a file (not `:memory:`) in WAL mode, with `synchronous=NORMAL` when
    `relaxed_sync` (for data that can be rebuilt, as the index can from the files)."""
    db = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 30000")
    if target != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
        if relaxed_sync:
            db.execute("PRAGMA synchronous = NORMAL")
    return db
