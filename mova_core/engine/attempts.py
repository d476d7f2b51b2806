"""The rules of the attempt loop as small pieces, tenacity-style: when to stop, how long to wait
(a server's Retry-After first), the deadline, and the cancellable sleep.

Time, sleep and randomness come in from outside (`Clock`), so a test passes a list's `append` as
`sleep` and a seeded `random.Random`, and asserts the exact waits.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from mova_core.engine.cancel import CancelSignal
from mova_core.engine.errors import ActionError, RunCancelled
from mova_core.engine.policy import EffectivePolicy, compute_delay, retry_after_delay


@dataclass(frozen=True)
class Clock:
    """A run's time: `now`, the wait between attempts (interrupted by `cancel`), jitter's randomness.

    `sleep`: the injected sleep (tests record the waits with it); None waits for real, on the
    cancel signal when there is one, so a cancel cuts a wait short.
    """

    now: Callable[[], datetime]
    rng: random.Random
    sleep: Callable[[float], None] | None = None
    #: The run's signal; a caller's plain event is taken as one.
    cancel: CancelSignal | threading.Event | None = None

    def __post_init__(self) -> None:
        if self.cancel is not None and not isinstance(self.cancel, CancelSignal):
            object.__setattr__(self, "cancel", CancelSignal.over(self.cancel))

    def check_cancelled(self) -> None:
        """RunCancelled (with the signal's message and reason) once the run is cancelled."""
        if isinstance(self.cancel, CancelSignal) and self.cancel.is_set():
            raise RunCancelled(*self.cancel.why())

    def wait(self, seconds: float) -> None:
        """Wait `seconds` (nothing for none), then RunCancelled if the run was cancelled meanwhile."""
        if seconds <= 0:
            return
        if self.sleep is not None:
            self.sleep(seconds)
        elif isinstance(self.cancel, CancelSignal):
            self.cancel.wait(seconds)
        else:
            time.sleep(seconds)
        self.check_cancelled()


def deadline_for(run_deadline: datetime | None, began: datetime, timeout: float | None) -> datetime | None:
    """The earlier of the run's deadline and the action's own `timeout` (seconds from `began`)."""
    if not timeout:
        return run_deadline
    own = began + timedelta(seconds=float(timeout))
    return min(run_deadline, own) if run_deadline else own


def stop_reason(error: ActionError, attempt: int, policy: EffectivePolicy,
                now: datetime, deadline: datetime | None) -> str | None:
    """Why no attempt follows this failed one (the error's own reason, the deadline passed, the
    policy's attempts spent), or None when another may."""
    if not error.retryable:
        return error.reason or "non_retryable_error"
    if deadline is not None and now >= deadline:
        return "timeout"
    if attempt >= policy.max_attempts:
        return "max_retries_exceeded"
    return None


def wait_after(error: ActionError, attempt: int, policy: EffectivePolicy, rng: random.Random) -> float:
    """The wait before the next attempt: what the server asked for (Retry-After, capped at
    `max_delay`), else the policy's backoff with jitter."""
    if error.retry_after is not None:
        return retry_after_delay(policy, error.retry_after)
    return compute_delay(policy, attempt, rng)


@dataclass(frozen=True)
class Verdict:
    """What follows a failed attempt: another after `delay` seconds, or none (`reason` says why)."""

    reason: str | None
    delay: float | None = None
    #: Said after the error when the deadline, not the policy, ended the action.
    note: str | None = None

    @property
    def retrying(self) -> bool:
        """Another attempt follows."""
        return self.reason is None


def judge(error: ActionError, attempt: int, policy: EffectivePolicy,
          clock: Clock, deadline: datetime | None) -> Verdict:
    """The stop rule, then the wait rule, then whether that wait would pass the deadline."""
    reason = stop_reason(error, attempt, policy, clock.now(), deadline)
    if reason is not None:
        return Verdict(reason)
    delay = wait_after(error, attempt, policy, clock.rng)
    if deadline is not None and clock.now() + timedelta(seconds=delay) >= deadline:
        return Verdict("timeout", note=f"next attempt in {delay:g}s would pass the timeout")
    return Verdict(None, delay)
