"""Services for a long-running process (the HTTP shim): a pool of them, refreshes that coalesce, and
answers cached until the directory changes.

SQLite wants a connection per thread, so each request borrows a service (its own store, index and
counters connections) from the pool and gives it back; the pool grows to the number of requests
running at once and closes everything on shutdown. The services share one `RefreshGate`: of the
requests that arrive while the index is being refreshed, none starts another refresh; they take the
one that began after they asked. `StampCache` keeps statistics and metrics until the directory's
stamp (its mtime, and the audit log's size) moves; over PostgreSQL, until a change is committed by this
process or announced by any host (`PgStore.change_stamp`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.files import FileStore
from mova_core.store.index import racy_window
from mova_core.store.open import open_store
from mova_core.store.protocol import DeadLetterStore, Progress

T = TypeVar("T")
Stamp = Hashable


class RefreshGate:
    """Coalesces index refreshes within a process: one runs at a time, and a caller is answered by
    the first refresh that started after it asked (which saw every change made before it asked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._last_started = float("-inf")
        self._last_result = True
        self.refreshes = 0  # how many actually ran (for the tests and the benchmark)
        self.waiting = 0  # callers that have asked and wait for the one running

    def run(self, refresh: Callable[[], bool]) -> bool:
        asked = time.monotonic()
        with self._count:
            self.waiting += 1
        with self._lock:
            with self._count:
                self.waiting -= 1
            if self._last_started >= asked:
                return self._last_result
            started = time.monotonic()
            result = refresh()
            self._last_started, self._last_result = started, result
            self.refreshes += 1
            return result


class GatedStore(FileStore):
    """A file store whose plain refreshes (not a full check, not with progress) go through a shared gate."""

    def __init__(self, directory, gate: RefreshGate):
        super().__init__(directory)
        self.gate = gate

    def refresh(self, *, full: bool = False, progress: Progress | None = None) -> bool:
        if full or progress is not None:
            return super().refresh(full=full, progress=progress)
        return self.gate.run(lambda: FileStore.refresh(self))

    def independent(self) -> GatedStore:
        return GatedStore(self.directory, self.gate)


def directory_stamp(settings: Settings) -> Stamp | None:
    """What changes whenever an entry or the audit log does: the directory's inode and mtime, the audit
    log's inode and size. None while the directory's mtime is too recent to prove that nothing else
    changed in the same clock tick (the index's racy window), or when it does not exist; None over a
    PostgreSQL store too, whose changes by other hosts no local file shows."""
    if settings.store_url is not None:
        return None
    try:
        st = os.stat(settings.dlq_path)
    except OSError:
        return None
    if time.time() - st.st_mtime_ns / 1e9 <= racy_window(st.st_mtime_ns):
        return None
    try:
        audit = os.stat(settings.effective_audit_path)
        audit_part = (audit.st_ino, audit.st_size)
    except OSError:
        audit_part = (0, 0)
    return st.st_ino, st.st_mtime_ns, *audit_part


class StampCache:
    """Values kept until the directory's stamp moves (a stamp that cannot be trusted caches nothing).

    One caller computes a missing value while the others asking for the same key wait for it; at most
    `size` keys are kept, the least recently used going first.
    """

    def __init__(self, settings: Settings, size: int = 64, *,
                 stamp: Callable[[], Hashable | None] | None = None):
        self.settings = settings
        self.size = size
        #: What moves with every change (None: nothing can be trusted now); the directory's by default.
        self.stamp = stamp or (lambda: directory_stamp(settings))
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[Stamp, object]] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for `key`, or `compute()` (kept if the stamp did not move meanwhile)."""
        stamp = self.stamp()
        if stamp is None:
            return compute()
        hit = self._hit(key, stamp)
        if hit is not None:
            return hit[1]  # type: ignore[return-value]
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            hit = self._hit(key, stamp)  # computed meanwhile by the caller this one waited for
            if hit is not None:
                return hit[1]  # type: ignore[return-value]
            value = compute()
            if self.stamp() == stamp:
                with self._lock:
                    self._values[key] = (stamp, value)
                    self._values.move_to_end(key)
                    while len(self._values) > self.size:
                        self._values.popitem(last=False)
            return value

    def _hit(self, key: Hashable, stamp: Stamp) -> tuple[Stamp, object] | None:
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] == stamp:
                self._values.move_to_end(key)
                return hit
        return None


class ServicePool:
    """Services over one directory for the threads of one process; `close` ends them all."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None):
        self.settings = settings
        self.clock = clock
        self.gate = RefreshGate()
        self.cache = StampCache(settings, stamp=self._stamp)
        self._lock = threading.Lock()
        self._idle: list[DLQService] = []
        self._created = 0
        self._closed = False
        self._shared: DeadLetterStore | None = None  # over PostgreSQL: the store whose connections all share

    def _new_store(self) -> DeadLetterStore:
        """A file store behind the shared refresh gate; over PostgreSQL (MOVA_STORE_URL), a store on the
        first one's connection pool."""
        if self.settings.store_url is None:
            return GatedStore(self.settings.dlq_path, self.gate)
        return self._shared_store().independent()

    def _shared_store(self) -> DeadLetterStore:
        with self._lock:
            if self._shared is None:
                self._shared = open_store(self.settings)
            return self._shared

    def _stamp(self) -> Hashable | None:
        """The directory's stamp, or over PostgreSQL the store's count of changes heard from every host."""
        if self.settings.store_url is None:
            return directory_stamp(self.settings)
        change_stamp = getattr(self._shared_store(), "change_stamp", None)
        return change_stamp() if callable(change_stamp) else None

    @property
    def created(self) -> int:
        """How many services the pool has opened (its size at the busiest moment)."""
        return self._created

    @contextmanager
    def service(self, actor: str) -> Iterator[DLQService]:
        """A service for one request, acting as `actor`; given back (or closed after shutdown) at the end."""
        with self._lock:
            svc = self._idle.pop() if self._idle else None
        if svc is None:
            svc = DLQService(self.settings, self._new_store(), clock=self.clock)
            with self._lock:
                self._created += 1
        svc.actor = actor
        try:
            yield svc
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(svc)
            if not keep:
                svc.close()

    def close(self) -> None:
        """Close the idle services now, and each busy one when its request ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for svc in idle:
            svc.close()
        if self._shared is not None:
            self._shared.close()
