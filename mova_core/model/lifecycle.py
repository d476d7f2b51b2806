"""The entry lifecycle: which status changes are allowed, in one place.

    active ──claim──▶ retrying ──release──▶ active | resolved
    active ⇄ archived, active → resolved, resolved → archived | active, archived → active

`retrying` is entered only by a retry claim and left only by its lease holder, or by anyone once the
lease has expired (a crashed retry). Changing or deleting a `retrying` entry under a live lease needs
`break_lease` (the CLI's `--break-lease`): the retry then loses the entry and is recorded as abandoned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mova_core.model.errors import AlreadyRetrying, InvalidTransition, LeaseHeld
from mova_core.model.status import EntryStatus
from mova_core.timeutil import format_time, parse_time

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry, RetryRecord

S = EntryStatus

#: Manual changes (set-status, archive, unarchive) allowed from each status.
MANUAL = {
    S.active: {S.archived, S.resolved},
    S.resolved: {S.archived, S.active},
    S.archived: {S.active},
    S.retrying: set(),
}


def lease_expired(status: EntryStatus | str, expires_ts: float | None, now: datetime) -> bool:
    """The stale-lease rule: a `retrying` entry whose lease expired (at `expires_ts`, a POSIX time)
    by `now`; its retry process probably died. Without a lease (another writer's entry) it is not."""
    return status == S.retrying and expires_ts is not None and expires_ts <= now.timestamp()


def _lease_expiry(entry: DeadLetterEntry) -> float | None:
    lease = entry.metadata.lease
    return None if lease is None else parse_time(lease.expires_at).timestamp()


def is_stale(entry: DeadLetterEntry, now: datetime) -> bool:
    """A `retrying` entry whose lease has expired (see `lease_expired`)."""
    return entry.status == S.retrying and lease_expired(entry.status, _lease_expiry(entry), now)


def lease_is_live(entry: DeadLetterEntry, now: datetime) -> bool:
    """True when the entry is `retrying` under a lease that has not expired (or under no lease at all)."""
    return entry.status == S.retrying and not lease_expired(entry.status, _lease_expiry(entry), now)


def change_status(entry: DeadLetterEntry, new: EntryStatus, now: datetime, *,
                  break_lease: bool = False) -> DeadLetterEntry:
    """Apply a manual status change, or raise InvalidTransition (LeaseHeld when only a live lease is in
    the way and `break_lease` is not given). Same status is a no-op."""
    new = EntryStatus(new)
    old = entry.status
    if new == old:
        return entry
    if new == S.retrying:
        raise InvalidTransition(entry.id, old, new, "an entry becomes retrying only through a retry")
    if old == S.retrying:
        if lease_is_live(entry, now) and not break_lease:
            raise _lease_held(entry, new)
    elif new not in MANUAL[old]:
        raise InvalidTransition(entry.id, old, new, f"allowed from {old}: {', '.join(sorted(MANUAL[old])) or 'none'}")
    entry.status = new
    entry.metadata.lease = None
    entry.updated_at = format_time(now)
    return entry


def check_deletable(entry: DeadLetterEntry, now: datetime, *, break_lease: bool = False) -> None:
    """Deleting an entry under a live retry lease needs `break_lease`."""
    if lease_is_live(entry, now) and not break_lease:
        raise _lease_held(entry, "deleted")


def _lease_held(entry: DeadLetterEntry, new: str) -> LeaseHeld:
    lease = entry.metadata.lease
    return LeaseHeld(entry.id, entry.status, new, lease.retry_run_id if lease else None,
                     lease.expires_at if lease else None)


def claim(
    entry: DeadLetterEntry,
    retry_run_id: str,
    sandbox_mode: bool,
    owner: str,
    now: datetime,
    lease_seconds: float,
    *,
    queued: bool = False,
) -> DeadLetterEntry:
    """Take the retry lease: active (or stale retrying) → retrying, retry_count + 1.

    `queued`: the run waits its turn among the background retries (the lease says so until the
    run renews it). Taking over a stale lease records the retry that held it in `retry_history` as
    `abandoned`, so every retry counted in `retry_count` has its record.
    """
    if entry.status == S.retrying and lease_is_live(entry, now):
        lease = entry.metadata.lease
        raise AlreadyRetrying(entry.id, lease.owner if lease else None, lease.expires_at if lease else None)
    if entry.status not in (S.active, S.retrying):
        raise InvalidTransition(
            entry.id, entry.status, S.retrying,
            f"only active entries can be retried; reopen it first (`mova dlq reopen {entry.id}`, or "
            f'PUT /v1/dlq/{entry.id}/status {{"status": "active"}} over HTTP)',
        )
    from mova_core.model.entry import Lease, RetryRecord

    stamp = format_time(now)
    stale = entry.metadata.lease if entry.status == S.retrying else None
    if stale is not None:
        entry.retry_history = [*(entry.retry_history or []), RetryRecord(
            retry_run_id=stale.retry_run_id, sandbox_mode=stale.sandbox_mode, start_time=stale.acquired_at,
            end_time=stamp, outcome="abandoned", actor=stale.owner,
            error=f"its process stopped without finishing; the lease expired at {stale.expires_at} "
                  f"and retry {retry_run_id} took the entry over",
        )]
    entry.status = S.retrying
    entry.metadata.retry_count = (entry.metadata.retry_count or 0) + 1
    entry.metadata.last_retry_at = stamp
    entry.metadata.lease = Lease(
        owner=owner,
        retry_run_id=retry_run_id,
        acquired_at=stamp,
        expires_at=format_time(now + timedelta(seconds=lease_seconds)),
        sandbox_mode=sandbox_mode,
        **({"queued": True} if queued else {}),
    )
    entry.updated_at = stamp
    return entry


def renew(entry: DeadLetterEntry, retry_run_id: str, now: datetime, lease_seconds: float, *,
          queued: bool = False) -> DeadLetterEntry:
    """Extend the lease of a retry (a heartbeat); only its holder may. A renewal by the run itself
    (`queued` False) ends the lease's queued state: the run has started."""
    lease = entry.metadata.lease
    if entry.status != S.retrying or lease is None or lease.retry_run_id != retry_run_id:
        holder = lease.retry_run_id if lease else "nobody"
        raise InvalidTransition(entry.id, entry.status, S.retrying,
                                f"retry {retry_run_id} no longer holds the entry (held by {holder})")
    expires = format_time(now + timedelta(seconds=lease_seconds))
    if lease.queued and not queued:  # rebuilt without the field: absent again, not written as null
        entry.metadata.lease = type(lease).model_validate(
            {**lease.model_dump(mode="json", exclude={"queued"}), "expires_at": expires})
    else:
        lease.expires_at = expires
    return entry


def release(
    entry: DeadLetterEntry,
    retry_run_id: str,
    new_status: EntryStatus,
    record: RetryRecord,
    now: datetime,
) -> DeadLetterEntry:
    """End a retry: only the lease holder may; records the outcome and moves to active or resolved.

    The retry's errors stay in its record: `error_details` is what made the entry dead-letter, and
    its failure group with it, whatever the retries do.
    """
    new_status = EntryStatus(new_status)
    lease = entry.metadata.lease
    if entry.status != S.retrying or lease is None or lease.retry_run_id != retry_run_id:
        holder = lease.retry_run_id if lease else "nobody"
        raise InvalidTransition(
            entry.id, entry.status, new_status, f"retry {retry_run_id} no longer holds the entry (held by {holder})"
        )
    if new_status not in (S.active, S.resolved):
        raise InvalidTransition(entry.id, entry.status, new_status, "a retry ends active or resolved")
    if lease.sandbox_mode and new_status == S.resolved:
        raise InvalidTransition(entry.id, entry.status, new_status, "a sandbox retry never resolves an entry")
    entry.status = new_status
    entry.metadata.lease = None
    entry.retry_history = [*(entry.retry_history or []), record]
    entry.updated_at = format_time(now)
    return entry
