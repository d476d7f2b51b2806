"""A background retry's process waiting for its place among the queue's MOVA_MAX_BACKGROUND_RETRIES
(held by other hosts' retries over a shared store): its lease renewed as queued meanwhile."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mova_core.model.errors import InvalidTransition
from mova_core.ops.retry_queue import BACKGROUND_PLACES
from mova_core.ops.retry_worker import PLACE_POLL_SECONDS, wait_for_place

JOB = {"entry_id": "dlq_x", "retry_run_id": "retry_1", "settings": {"lease_seconds": 3 * PLACE_POLL_SECONDS * 2}}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Service:
    """Places all taken for `busy` tries; each renewal noted (or refused once the lease is lost)."""

    def __init__(self, clock: Clock, busy: int, lost_after: int | None = None):
        self.clock = clock
        self.settings = SimpleNamespace(max_background_retries=2)
        self.renewals: list[tuple] = []
        self.tries: list[tuple] = []
        self.lost_after = lost_after

        def take_slot(name, count):
            self.tries.append((name, count))
            return None if len(self.tries) <= busy else self.release

        self.store = SimpleNamespace(take_slot=take_slot)

    def release(self) -> None:
        pass

    def renew_lease(self, entry_id, run_id, *, queued=False):
        if self.lost_after is not None and len(self.renewals) >= self.lost_after:
            raise InvalidTransition(entry_id, "retrying", "retrying", "the lease is another run's")
        self.renewals.append((entry_id, run_id, queued, self.clock()))


def test_a_free_place_is_taken_at_once_without_waiting():
    clock = Clock()
    service = Service(clock, busy=0)
    assert wait_for_place(service, JOB, clock=clock, sleep=clock.sleep) == service.release
    assert service.tries == [(BACKGROUND_PLACES, 2)] and clock.now == 0 and not service.renewals


def test_a_retry_waiting_for_a_place_keeps_its_lease_queued():
    clock = Clock()
    service = Service(clock, busy=12)
    assert wait_for_place(service, JOB, clock=clock, sleep=clock.sleep) == service.release
    assert len(service.tries) == 13
    assert clock.now == pytest.approx(12 * PLACE_POLL_SECONDS)
    assert {r[:3] for r in service.renewals} == {("dlq_x", "retry_1", True)}  # renewed as queued
    # about every third of the lease: the lease never comes near lapsing while it waits
    every = JOB["settings"]["lease_seconds"] / 3
    times = [0.0, *(r[3] for r in service.renewals), clock.now]
    assert max(b - a for a, b in zip(times, times[1:])) <= every + PLACE_POLL_SECONDS + 1e-9
    assert len(service.renewals) >= 4


def test_a_lease_lost_while_waiting_ends_the_wait():
    clock = Clock()
    service = Service(clock, busy=100, lost_after=2)
    with pytest.raises(InvalidTransition):
        wait_for_place(service, JOB, clock=clock, sleep=clock.sleep)
    assert len(service.renewals) == 2
