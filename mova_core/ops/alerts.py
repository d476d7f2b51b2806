"""The specification's alert conditions: thresholds, the checks, and what each one found."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.listing import EntryFilter, EntrySummary, Page
from mova_core.model.status import EntryStatus, RetryOutcome
from mova_core.timeutil import humanize_age, parse_time

if TYPE_CHECKING:  # full entries only for the retry checks
    from mova_core.model.entry import DeadLetterEntry

#: Entries named in an alert, at most.
SHOWN = 20

Listing = Callable[[EntryFilter], Page]


class Thresholds(Model):
    """Alert thresholds; None means the check is off."""

    max_active: int | None = None
    max_age_seconds: float | None = None
    max_growth_per_hour: int | None = None
    max_retry_failure_rate: float | None = None
    max_sandbox_runtime_seconds: float | None = None


class Alert(Model):
    """One alert condition: its threshold, the measured value, and the entries concerned."""

    name: str
    threshold: float
    value: float
    breached: bool
    message: str
    entries: list[str] = Field(default_factory=list)


def check_alerts(
    thresholds: Thresholds,
    now: datetime,
    listing: Listing,
    oldest_active: Callable[[], EntrySummary | None],
    entries: Callable[[], Iterable[DeadLetterEntry]],
) -> list[Alert]:
    """The alerts for the thresholds that are set, in a fixed order.

    `listing` answers filters from the index; `entries` reads every full entry, and is called only
    when a retry check (failure rate, sandbox runtime) is on.
    """
    out: list[Alert] = []
    if thresholds.max_active is not None:
        out.append(_max_active(thresholds.max_active, listing))
    if thresholds.max_age_seconds is not None:
        out.append(_max_age(thresholds.max_age_seconds, now, listing, oldest_active()))
    if thresholds.max_growth_per_hour is not None:
        out.append(_max_growth(thresholds.max_growth_per_hour, now, listing))
    if thresholds.max_retry_failure_rate is not None or thresholds.max_sandbox_runtime_seconds is not None:
        out += _retry_alerts(thresholds, now, entries())
    return out


def _entries(n: int) -> str:
    return "entry" if n == 1 else "entries"


def _retries(n: int) -> str:
    return "retry" if n == 1 else "retries"


def _alert(name: str, threshold: float, value: float, message: str, entries: list[str]) -> Alert:
    return Alert(name=name, threshold=threshold, value=value, breached=value > threshold,
                 message=message, entries=entries if value > threshold else [])


def _max_active(threshold: int, listing: Listing) -> Alert:
    page = listing(EntryFilter(status=EntryStatus.active, limit=SHOWN))
    return _alert("max_active", threshold, page.total, f"{page.total} active {_entries(page.total)}",
                  [i.id for i in page.items])


def _max_age(threshold: float, now: datetime, listing: Listing, oldest: EntrySummary | None) -> Alert:
    cutoff = now - timedelta(seconds=threshold)
    over = listing(EntryFilter(status=EntryStatus.active, older_than=cutoff, sort="created_at",
                               descending=False, limit=SHOWN))
    age = (now.timestamp() - oldest.created_ts) if oldest else 0.0
    return _alert("max_age", threshold, round(age, 1),
                  f"oldest active entry is {humanize_age(age)} old ({over.total} over the limit)",
                  [i.id for i in over.items])


def _max_growth(threshold: int, now: datetime, listing: Listing) -> Alert:
    page = listing(EntryFilter(since=now - timedelta(hours=1), limit=SHOWN))
    return _alert("max_growth", threshold, page.total, f"{page.total} {_entries(page.total)} dead-lettered in the last hour",
                  [i.id for i in page.items])


def _retry_alerts(thresholds: Thresholds, now: datetime, entries: Iterable[DeadLetterEntry]) -> list[Alert]:
    """The failure-rate and sandbox-runtime alerts, from one pass over the full entries."""
    failed = total = 0
    failed_ids: set[str] = set()
    long_running: list[str] = []
    longest = 0.0
    runtime_limit = thresholds.max_sandbox_runtime_seconds
    for entry in entries:
        for rec in entry.retry_history or []:
            if rec.is_finished_run:
                total += 1
                if rec.outcome != RetryOutcome.completed:
                    failed += 1
                    failed_ids.add(entry.id)
        lease = entry.metadata.lease
        if entry.status == EntryStatus.retrying and lease and lease.sandbox_mode:
            running = now.timestamp() - parse_time(lease.acquired_at).timestamp()
            if runtime_limit is not None and running > runtime_limit:
                long_running.append(entry.id)
            longest = max(longest, running)
    out = []
    if thresholds.max_retry_failure_rate is not None:
        rate = failed / total if total else 0.0
        out.append(_alert("max_retry_failure_rate", thresholds.max_retry_failure_rate, round(rate, 4),
                          f"{failed} of {total} {_retries(total)} failed", sorted(failed_ids)[:SHOWN]))
    if runtime_limit is not None:
        out.append(_alert("max_sandbox_runtime", runtime_limit, round(longest, 1),
                          f"{len(long_running)} sandbox {_retries(len(long_running))} running longer than the limit",
                          long_running))
    return out
