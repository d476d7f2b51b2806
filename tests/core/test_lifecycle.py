"""Status transitions, claims and leases: the rules live in one place."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mova_core.model import lifecycle
from mova_core.model.entry import DeadLetterEntry, EntryStatus, RetryRecord
from mova_core.model.errors import AlreadyRetrying, InvalidTransition, LeaseHeld
from mova_core.timeutil import format_time
from tests.support import FROZEN_NOW

from .test_store import make_entry

NOW = FROZEN_NOW


def entry(status: str = "active") -> DeadLetterEntry:
    e = make_entry("dlq_33333333-0000-4000-8000-000000000003")
    e.status = EntryStatus(status)
    return e


@pytest.mark.parametrize(
    "old,new,ok",
    [
        ("active", "archived", True), ("active", "resolved", True), ("resolved", "archived", True),
        ("resolved", "active", True), ("archived", "active", True), ("archived", "resolved", False),
        ("active", "retrying", False), ("archived", "archived", True),
    ],
)
def test_manual_transitions(old, new, ok):
    e = entry(old)
    if ok:
        assert lifecycle.change_status(e, EntryStatus(new), NOW).status == new
    else:
        with pytest.raises(InvalidTransition):
            lifecycle.change_status(e, EntryStatus(new), NOW)


def test_claim_then_second_claim_fails_until_the_lease_expires():
    e = lifecycle.claim(entry(), "retry_a", True, "pid 1@h", NOW, 60)
    assert e.status == "retrying" and e.metadata.retry_count == 1 and e.metadata.lease.owner == "pid 1@h"
    with pytest.raises(AlreadyRetrying, match="already being retried by pid 1@h"):
        lifecycle.claim(e, "retry_b", True, "pid 2@h", NOW + timedelta(seconds=59), 60)
    assert not lifecycle.is_stale(e, NOW + timedelta(seconds=59))
    assert lifecycle.is_stale(e, NOW + timedelta(seconds=61))
    e = lifecycle.claim(e, "retry_b", True, "pid 2@h", NOW + timedelta(seconds=61), 60)
    assert e.metadata.lease.retry_run_id == "retry_b" and e.metadata.retry_count == 2


def test_a_live_retrying_entry_is_changed_or_deleted_only_by_breaking_its_lease():
    e = lifecycle.claim(entry(), "retry_a", False, "me", NOW, 60)
    with pytest.raises(LeaseHeld, match=r"retry retry_a holds it until .*add --break-lease \(over HTTP: \?break_lease=true\)"):
        lifecycle.change_status(e, EntryStatus.archived, NOW)
    with pytest.raises(LeaseHeld) as held:
        lifecycle.check_deletable(e, NOW)
    assert held.value.run_id == "retry_a" and isinstance(held.value, InvalidTransition)
    lifecycle.check_deletable(e, NOW, break_lease=True)
    lifecycle.check_deletable(e, NOW + timedelta(seconds=61))  # stale: allowed
    assert lifecycle.change_status(e, EntryStatus.archived, NOW, break_lease=True).metadata.lease is None


def test_breaking_a_lease_never_overrides_the_lifecycle():
    archived = lifecycle.change_status(entry(), EntryStatus.archived, NOW)
    with pytest.raises(InvalidTransition, match="allowed from archived: active") as refused:
        lifecycle.change_status(archived, EntryStatus.resolved, NOW, break_lease=True)
    assert not isinstance(refused.value, LeaseHeld)


def test_only_active_entries_can_be_claimed():
    with pytest.raises(InvalidTransition, match="only active"):
        lifecycle.claim(entry("archived"), "retry_a", True, "me", NOW, 60)


def record(sandbox: bool, outcome: str) -> RetryRecord:
    return RetryRecord(retry_run_id="retry_a", sandbox_mode=sandbox, start_time="2026-11-28T12:00:00Z",
                       end_time="2026-11-28T12:00:01Z", outcome=outcome)


def test_release_by_holder_records_history_and_errors():
    e = lifecycle.claim(entry(), "retry_a", False, "me", NOW, 60)
    diagnosis = e.error_details.model_dump(mode="json")
    failed = record(False, "failed").model_copy(update={
        "error": "HTTP 502: Bad Gateway", "errors": ["Attempt 1: HTTP 500", "Attempt 2: HTTP 502: Bad Gateway"]})
    e = lifecycle.release(e, "retry_a", EntryStatus.active, failed, NOW)
    assert e.status == "active" and e.metadata.lease is None
    assert e.retry_history[-1].outcome == "failed"
    assert e.retry_history[-1].errors == ["Attempt 1: HTTP 500", "Attempt 2: HTTP 502: Bad Gateway"]
    # what dead-lettered the entry stays its diagnosis (and its failure group)
    assert e.error_details.model_dump(mode="json") == diagnosis
    assert e.last_retry_error == "HTTP 502: Bad Gateway"


def test_release_by_a_stranger_or_sandbox_resolve_is_refused():
    e = lifecycle.claim(entry(), "retry_a", True, "me", NOW, 60)
    with pytest.raises(InvalidTransition, match="no longer holds"):
        lifecycle.release(e, "retry_other", EntryStatus.active, record(True, "completed"), NOW)
    with pytest.raises(InvalidTransition, match="sandbox"):
        lifecycle.release(e, "retry_a", EntryStatus.resolved, record(True, "completed"), NOW)


def test_taking_over_a_stale_lease_records_the_abandoned_retry():
    # Found by the reliability suite: after a killed retry was taken over, retry_count said 2 but
    # retry_history held one record; the dead retry left no trace in the entry.
    e = lifecycle.claim(entry(), "retry_dead", False, "pid 1@h", NOW, 60)
    e = lifecycle.claim(e, "retry_b", True, "pid 2@h", NOW + timedelta(seconds=61), 60)
    (dead,) = e.retry_history
    assert (dead.retry_run_id, dead.outcome, dead.sandbox_mode, dead.actor) == ("retry_dead", "abandoned", False, "pid 1@h")
    assert dead.end_time == e.metadata.last_retry_at and "took the entry over" in dead.error
    assert e.metadata.retry_count == 2 and e.metadata.lease.retry_run_id == "retry_b"
    plain = lifecycle.claim(entry(), "retry_c", True, "me", NOW, 60)
    assert not plain.retry_history  # an ordinary claim records nothing yet


@pytest.mark.parametrize("offset", [-1, 0, 59, 60, 61, 3600])
def test_a_summary_and_its_entry_agree_on_staleness(offset):
    """One stale-lease rule (`lease_expired`) for full entries and for the index's summaries."""
    from mova_core.model.listing import EntrySummary
    from mova_core.timeutil import parse_time

    e = lifecycle.claim(entry(), "retry_a", True, "me", NOW, 60)
    summary = EntrySummary(id=e.id, status=e.status, created_at=e.created_at,
                           created_ts=parse_time(e.created_at).timestamp(), workflow_type=e.workflow_type,
                           lease_expires_ts=parse_time(e.metadata.lease.expires_at).timestamp())
    later = NOW + timedelta(seconds=offset)
    assert summary.is_stale(later) == lifecycle.is_stale(e, later) == (offset >= 60)
    assert lifecycle.lease_is_live(e, later) == (offset < 60)


def test_lease_expired_needs_a_retrying_entry_with_a_lease():
    expired = (NOW - timedelta(seconds=1)).timestamp()
    assert lifecycle.lease_expired(EntryStatus.retrying, expired, NOW)
    assert lifecycle.lease_expired("retrying", NOW.timestamp(), NOW)  # expiring now counts as expired
    assert not lifecycle.lease_expired(EntryStatus.retrying, None, NOW)  # another writer's: no lease
    assert not lifecycle.lease_expired(EntryStatus.active, expired, NOW)
    leaseless = entry("retrying")
    assert lifecycle.lease_is_live(leaseless, NOW) and not lifecycle.is_stale(leaseless, NOW)


def test_a_queued_lease_says_so_until_its_run_renews_it():
    e = lifecycle.claim(entry(), "retry_a", True, "me", NOW, 60, queued=True)
    assert e.metadata.lease.queued is True
    e = lifecycle.renew(e, "retry_a", NOW + timedelta(seconds=20), 60, queued=True)  # the queue keeps it
    assert e.metadata.lease.queued is True
    assert e.metadata.lease.expires_at == format_time(NOW + timedelta(seconds=80))
    e = lifecycle.renew(e, "retry_a", NOW + timedelta(seconds=30), 60)  # the run started
    assert e.metadata.lease.queued is None and "queued" not in e.metadata.lease.model_dump(mode="json")
    assert e.metadata.lease.expires_at == format_time(NOW + timedelta(seconds=90))
    with pytest.raises(InvalidTransition, match=r"no longer holds the entry \(held by retry_a\)"):
        lifecycle.renew(e, "retry_b", NOW, 60)
