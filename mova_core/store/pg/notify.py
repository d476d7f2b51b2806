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


class ChangeCount:
    """How many changes have been announced on a channel, counted on a listener thread of its own,
    for caches that must drop what any host's change makes stale.

    `value` is None while the listener is not listening (before its LISTEN, and from a lost
    connection until it listens again), so nothing computed while a change could go unheard is
    trusted; each new connection also moves the count, so nothing computed before it is either.
    """

    def __init__(self, url: str, channel: str, *, retry: float = 1.0, wait: float = 0.5):
        self.url, self.channel, self.retry, self.wait = url, channel, retry, wait
        self.count = 0
        self.listening = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mova-change-count", daemon=True)
        self._thread.start()

    @property
    def value(self) -> int | None:
        """The count, or None while a change could go unheard."""
        return self.count if self.listening else None

    def close(self) -> None:
        """Stop listening (a daemon thread still connecting to a lost server is not waited for)."""
        self._stop.set()
        self._thread.join(timeout=self.wait + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.url) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.count += 1
                    self.listening = True
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self.wait):
                            self.count += 1  # at once, not after a batch: a reader may come next
            except Exception:  # noqa: BLE001  (a lost server: not listening, try again shortly)
                pass
            finally:
                self.listening = False
                self.count += 1
            self._stop.wait(self.retry)
