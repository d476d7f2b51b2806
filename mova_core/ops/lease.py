"""A claimed retry's lease, held for as long as its run lives.

The keeper renews the lease on a timer (a third of the lease at a time), whatever the run is doing:
waiting between attempts, inside a long action, or writing. It stops the moment the run ends; if
the process dies, nothing renews and the lease expires on time. A renewal that is refused (the
lease was taken over after it expired, or the entry is gone) means the run no longer owns its
entry: the keeper cancels the run, which stops at its next step, recorded as `lease lost`.

Time comes in from outside (`Timer`), so tests drive the renewals on a fake clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from mova_core.engine.cancel import CancelSignal
from mova_core.model.errors import EntryNotFound, InvalidTransition, MovaError

#: The failure reason of a run stopped because its lease was lost.
LEASE_LOST = "lease_lost"

Stop = Callable[[], None]
#: `timer(seconds, beat)` calls `beat` every `seconds` until the `stop()` it returns is called
#: (stop waits for a beat under way, so none follows it).
Timer = Callable[[float, Callable[[], None]], Stop]


def thread_timer(seconds: float, beat: Callable[[], None]) -> Stop:
    """A `Timer` on a daemon thread: it dies with its process, so a killed run renews nothing."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.wait(seconds):
            beat()

    thread = threading.Thread(target=loop, name="mova-lease", daemon=True)
    thread.start()

    def stop() -> None:
        stopped.set()
        if thread is not threading.current_thread():
            thread.join()

    return stop


class LeaseKeeper:
    """Renews one retry's lease every `every` seconds until stopped; a refused renewal cancels the run.

    `renew()` renews the lease (raising InvalidTransition or EntryNotFound once it is not ours);
    `now` and `lease_seconds` tell when a lease that could not be renewed (a full disk) has run out.
    """

    def __init__(self, renew: Callable[[], object], signal: CancelSignal, *, every: float,
                 now: Callable[[], datetime], lease_seconds: float, timer: Timer = thread_timer):
        self.renew = renew
        self.signal = signal
        self.every = every
        self.now = now
        self.lease_seconds = lease_seconds
        self.timer = timer
        self.expires = now() + timedelta(seconds=lease_seconds)
        #: Why the lease is no longer ours (None while it is).
        self.lost: str | None = None
        self._stop: Stop | None = None
        self._lock = threading.Lock()

    def start(self) -> LeaseKeeper:
        """Start renewing."""
        self._stop = self.timer(self.every, self.beat)
        return self

    def stop(self) -> None:
        """Stop renewing (idempotent); a renewal under way finishes first."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def beat(self) -> None:
        """One renewal: on refusal the lease is lost and the run cancelled."""
        with self._lock:
            if self.lost is not None:
                return
            started = self.now()
            try:
                self.renew()
            except (InvalidTransition, EntryNotFound) as exc:
                self.lose(str(exc))
                return
            except (MovaError, OSError) as exc:  # a full disk: try again next time, while the lease holds
                if self.now() >= self.expires:
                    self.lose(f"it could not be renewed before it expired: {exc}")
                return
            self.expires = started + timedelta(seconds=self.lease_seconds)

    def lose(self, why: str) -> None:
        """The run no longer owns its entry: stop it at its next step."""
        self.lost = why
        self.signal.cancel(f"lease lost: {why}", LEASE_LOST)
