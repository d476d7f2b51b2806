"""A retry's lease holds for as long as its run lives, on a fake clock: renewed during waits far
longer than the lease, and a run that loses it stops at its next step instead of finishing on an
entry it no longer owns."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from mova_core.engine.cancel import CancelSignal
from mova_core.model.entry import EntryStatus
from mova_core.model.errors import AlreadyRetrying, InvalidTransition, StoreError
from mova_core.ops.lease import LEASE_LOST, LeaseKeeper
from mova_core.ops.retry import Retrier
from mova_core.ops.service import DLQService
from mova_core.store.runs import RunStore
from tests.support import FROZEN_NOW

from .engine_fixtures import (  # noqa: F401
    clock,
    envelope,
    fetch,
    make_engine,
    server,
    settings,
    state,
)


def slow_entry(settings, clock, server, delay: float) -> str:
    """An entry whose retry fails three times with `delay` seconds between attempts."""
    policy = {"max_attempts": 3, "backoff": "fixed", "delay": delay, "max_delay": delay, "jitter": False}
    doc = envelope(fetch(f"{server.url}/status/500/slow", retry={**policy, "delay": 0.01}))
    entry_id = make_engine(settings, clock).run(doc).dead_letter.id
    service = DLQService(settings, clock=clock.now)

    def slow_down(entry):
        entry.envelope.actions[0].retry = entry.envelope.actions[0].retry.model_validate(policy)
        return entry

    service.store.update(entry_id, slow_down)
    return entry_id


@pytest.mark.parametrize("lease, delay", [(30, 100), (900, 1800)])
def test_a_second_claimer_is_refused_for_the_whole_wait(server, settings, clock, lease, delay):
    settings.lease_seconds = lease
    entry_id = slow_entry(settings, clock, server, delay)
    service = DLQService(settings, clock=clock.now, actor="holder@test")
    intruder = DLQService(settings, clock=clock.now, actor="intruder@test")
    refused: list[float] = []

    def try_to_claim():
        with pytest.raises(AlreadyRetrying):
            intruder.claim(entry_id, "retry_intruder", True)
        refused.append((clock.now() - start).total_seconds())

    start = clock.now()
    probing = clock.every(lease / 30, try_to_claim)
    try:
        resp = Retrier(service, make_engine(settings, clock), timer=clock.every).retry(entry_id, sandbox_mode=False)
    finally:
        probing()
    assert clock.waits[-2:] == [delay, delay]  # two waits, each longer than the lease
    assert refused and refused[-1] >= 2 * delay - lease / 30 and len(refused) >= 59
    assert resp.execution_result.status == "failed"
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.retry_count == 1
    assert [r.outcome for r in entry.retry_history] == ["failed"]  # released by its holder, never abandoned


def test_a_run_that_lost_its_lease_stops_at_its_next_step(server, settings, clock, state):
    settings.lease_seconds = 30
    entry_id = slow_entry(settings, clock, server, 100)
    service = DLQService(settings, clock=clock.now, actor="holder@test")
    intruder = DLQService(settings, clock=clock.now, actor="intruder@test")
    start = clock.now()

    def elapsed() -> float:
        return (clock.now() - start).total_seconds()

    def suspended_timer(seconds, beat):  # the holder's process is stopped from 5 s to 50 s in
        return clock.every(seconds, lambda: None if 5 <= elapsed() < 50 else beat())

    taken = []

    def take_over():
        if not taken and elapsed() >= 40:  # its lease expired at 30 s: a takeover is allowed
            taken.append(intruder.claim(entry_id, "retry_intruder", True))

    probing = clock.every(1, take_over)
    caller = threading.Event()
    calls_before = server.calls("/status/500/slow")
    try:
        resp = Retrier(service, make_engine(settings, clock), timer=suspended_timer).retry(
            entry_id, sandbox_mode=False, cancel=caller)
    finally:
        probing()
    result = resp.execution_result
    assert result.status == "cancelled" and result.failure_reason == LEASE_LOST
    assert result.error.startswith("lease lost: ") and "held by retry_intruder" in result.error
    assert server.calls("/status/500/slow") - calls_before == 1  # no attempt after the loss
    assert not caller.is_set()  # the caller's event (a bulk run's, say) is not the run's own
    # the entry is the intruder's, untouched by the run that lost it; the takeover recorded the loser
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.retrying and entry.metadata.lease.retry_run_id == "retry_intruder"
    assert [(r.retry_run_id, r.outcome) for r in entry.retry_history] == [(resp.retry_run_id, "abandoned")]
    record = RunStore(state / "runs").load(resp.retry_run_id)
    assert record.status == "cancelled" and record.error == result.error


def test_a_keeper_renews_on_its_timer_and_stops_for_good(clock):
    renewals = []
    signal = CancelSignal()
    keeper = LeaseKeeper(lambda: renewals.append(clock.now()), signal, every=10, now=clock.now,
                         lease_seconds=30, timer=clock.every).start()
    clock.sleep(35)
    keeper.stop()
    clock.sleep(100)
    assert renewals == [FROZEN_NOW + timedelta(seconds=s) for s in (10, 20, 30)]
    assert keeper.lost is None and not signal.is_set()


def test_a_keeper_tolerates_a_failed_renewal_while_its_lease_lasts(clock):
    failures = iter([StoreError("disk full"), StoreError("disk full"), None, StoreError("disk full"), StoreError("x"),
                     StoreError("x")])

    def renew():
        failure = next(failures)
        if failure is not None:
            raise failure

    signal = CancelSignal()
    keeper = LeaseKeeper(renew, signal, every=10, now=clock.now, lease_seconds=30, timer=clock.every).start()
    clock.sleep(25)  # two failures, the lease (to 30 s) still holds
    assert keeper.lost is None
    clock.sleep(10)  # renewed at 30 s: to 60 s
    clock.sleep(20)  # failures at 40 and 50 s: still ours
    assert keeper.lost is None
    clock.sleep(5)  # at 60 s: it ran out before a renewal went through
    assert keeper.lost is not None and "could not be renewed before it expired: x" in keeper.lost
    assert signal.why() == (f"lease lost: {keeper.lost}", LEASE_LOST)
    keeper.stop()


def test_a_refused_renewal_cancels_at_once(clock):
    def refused():
        raise InvalidTransition("dlq_1", "active", "retrying", "retry r1 no longer holds the entry (held by nobody)")

    signal = CancelSignal()
    keeper = LeaseKeeper(refused, signal, every=10, now=clock.now, lease_seconds=30, timer=clock.every).start()
    clock.sleep(10)
    assert signal.is_set() and signal.why()[1] == LEASE_LOST and "held by nobody" in keeper.lost
    keeper.stop()


def test_the_thread_timer_renews_and_stops_with_the_run():
    from mova_core.ops.lease import thread_timer

    beats = threading.Semaphore(0)
    stop = thread_timer(0.01, beats.release)
    assert beats.acquire(timeout=5) and beats.acquire(timeout=5)
    stop()
    while beats.acquire(blocking=False):  # a beat under way when stop() was called
        pass
    assert not beats.acquire(timeout=0.05)  # none after stop()
    assert not [t for t in threading.enumerate() if t.name == "mova-lease"]
