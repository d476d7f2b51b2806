"""Live changes from every host: each committed change is a `NOTIFY` on the schema's channel, with
the entry's file name as payload; a listener follows the channel on a connection of its own.

NOTIFY is transactional: a change rolled back announces nothing, and a listener hears a change only
once it is visible to a read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from psycopg import sql

from mova_core.store.pg.connect import connect

#: Notifications this soon after the first are delivered with it, as one batch.
BATCH_SECONDS = 0.05


def changes(url: str, channel: str, stop: threading.Event, *, wait: float = 0.5) -> Iterator[list[str]]:
    """The names announced on `channel`, in sorted batches, until `stop` is set (looked at every
    `wait` seconds): what a directory watcher yields for a file store."""
    with connect(url) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        while not stop.is_set():
            names = {n.payload for n in conn.notifies(timeout=wait, stop_after=1)}
            if names:
                names |= {n.payload for n in conn.notifies(timeout=BATCH_SECONDS)}
                yield sorted(names)
