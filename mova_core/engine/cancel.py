"""How a run is told to stop: by its caller's own event, or from within (a retry that lost its lease).

A caller's `threading.Event` may be shared by many runs (a bulk run's, a dashboard's), so a reason
that concerns one run only is never set on it: each run has its own `CancelSignal` over it, and a
wait wakes on either.
"""

from __future__ import annotations

import threading
import time

#: What a run cancelled by its caller (or Ctrl-C) says; its failure reason too.
CANCELLED = "cancelled"


class CancelSignal:
    """Whether a run must stop, and why; `wait` sleeps until a timeout or the stop, whichever first."""

    #: How often a wait looks at its own reason while it sleeps on the caller's event.
    POLL_SECONDS = 0.05

    def __init__(self, outer: threading.Event | None = None):
        self.outer = outer
        self._own = threading.Event()
        self.message = CANCELLED
        self.reason = CANCELLED

    @classmethod
    def over(cls, event: threading.Event | CancelSignal | None) -> CancelSignal:
        """The signal for one run: a given one as is, else a new one over the caller's event."""
        return event if isinstance(event, CancelSignal) else cls(event)

    def cancel(self, message: str = CANCELLED, reason: str = CANCELLED) -> None:
        """Stop the run with this message and failure reason (the first cancel's are kept)."""
        if not self._own.is_set():
            self.message, self.reason = message, reason
            self._own.set()

    @property
    def cancelled_within(self) -> bool:
        """The run itself was cancelled (its `cancel()`), not only its caller's event set."""
        return self._own.is_set()

    def is_set(self) -> bool:
        """The run must stop."""
        return self._own.is_set() or (self.outer is not None and self.outer.is_set())

    def why(self) -> tuple[str, str]:
        """(message, failure reason) of the stop: the run's own, else the caller's plain cancel."""
        return (self.message, self.reason) if self._own.is_set() else (CANCELLED, CANCELLED)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking at once when stopped; True if stopped."""
        if self.outer is None:
            return self._own.wait(seconds)
        deadline = time.monotonic() + seconds
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # One event can be waited on at a time: the caller's, with a look at our own between.
            self.outer.wait(min(left, self.POLL_SECONDS))
        return True
