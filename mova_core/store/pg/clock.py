"""The database server's clock, which every host judges leases and ages by.

Hosts' clocks drift apart; a lease written by a host whose clock runs behind would look expired to
the others before its holder stopped renewing it, and two hosts would retry one entry. So over
PostgreSQL the service's clock is the server's: this host's clock plus the offset between the two,
measured over one round trip (the server's `clock_timestamp()` is taken as read halfway through)
when first needed and again every RECHECK seconds, so no call pays a round trip. A later measurement
runs on a thread of its own while the last offset answers, so a caller on a user interface's thread
never waits for the network after the first call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mova_core.model.errors import StoreError
from mova_core.timeutil import utcnow

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from mova_core.store.pg.connect import Connections

#: Seconds between two measurements of the offset (host clocks are stepped by NTP now and then).
RECHECK = 60.0


def _on_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="mova-db-clock", daemon=True).start()


class DatabaseClock:
    """A clock that reads the database server's time without a round trip per call."""

    def __init__(self, pool: Connections | ConnectionPool, *, local: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic, recheck: float = RECHECK,
                 spawn: Callable[[Callable[[], None]], None] = _on_thread):
        self.pool, self.local, self.monotonic, self.recheck, self.spawn = pool, local, monotonic, recheck, spawn
        #: The server's time minus this host's (None until measured).
        self.offset: timedelta | None = None
        self._measured = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The server's time now (UTC)."""
        with self._lock:
            offset, due = self.offset, self.monotonic() - self._measured >= self.recheck
            if offset is not None and due:
                self._measured = self.monotonic()  # one measurement under way at a time
        if offset is None:
            offset = self._measure(first=True)
        elif due:
            self.spawn(self._measure)
        return self.local() + offset

    def _measure(self, *, first: bool = False) -> timedelta | None:
        """Measure and keep the offset; a later failed measurement keeps the last one (the first
        raises StoreError, since there is no time to give)."""
        try:
            with self.pool.connection() as conn:
                sent = self.local()
                (server,) = conn.execute("SELECT clock_timestamp()").fetchone()
                received = self.local()
        except Exception as exc:
            if first and self.offset is None:
                raise StoreError(f"could not read the store's clock: {exc}") from exc
            return self.offset
        offset = server - (sent + (received - sent) / 2)
        with self._lock:
            self.offset, self._measured = offset, self.monotonic()
        return offset
