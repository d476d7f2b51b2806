"""The database server's clock, which every host judges leases and ages by.

Hosts' clocks drift apart; a lease written by a host whose clock runs behind would look expired to
the others before its holder stopped renewing it, and two hosts would retry one entry. So over
PostgreSQL the service's clock is the server's: this host's clock plus the offset between the two,
measured over one round trip (the server's `clock_timestamp()` is taken as read halfway through)
when first needed and again every RECHECK seconds, so no call pays a round trip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from mova_core.model.errors import StoreError
from mova_core.timeutil import utcnow

#: Seconds between two measurements of the offset (host clocks are stepped by NTP now and then).
RECHECK = 60.0


class DatabaseClock:
    """A clock that reads the database server's time without a round trip per call."""

    def __init__(self, pool: ConnectionPool, *, local: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic, recheck: float = RECHECK):
        self.pool, self.local, self.monotonic, self.recheck = pool, local, monotonic, recheck
        #: The server's time minus this host's (None until measured).
        self.offset: timedelta | None = None
        self._measured = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The server's time now (UTC)."""
        with self._lock:
            if self.offset is None or self.monotonic() - self._measured >= self.recheck:
                self._measure()
            return self.local() + self.offset

    def _measure(self) -> None:
        """Measure the offset; a failed measurement keeps the last one (StoreError if there is none)."""
        try:
            with self.pool.connection() as conn:
                sent = self.local()
                (server,) = conn.execute("SELECT clock_timestamp()").fetchone()
                received = self.local()
        except Exception as exc:
            if self.offset is not None:  # try again at the next recheck, not at every call meanwhile
                self._measured = self.monotonic()
                return
            raise StoreError(f"could not read the store's clock: {exc}") from exc
        self.offset = server - (sent + (received - sent) / 2)
        self._measured = self.monotonic()
