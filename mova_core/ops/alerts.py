"""The specification's alert conditions: thresholds, the checks, and what each one found."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.listing import EntryFilter, EntrySummary, Page
from mova_core.model.status import EntryStatus
from mova_core.ops.metrics import RunningRetry, retry_totals, sandbox_runtimes
from mova_core.store.counters import CounterValues

#: Entries named in an alert, at most.
SHOWN = 20

Listing = Callable[[EntryFilter], Page]
#: The durable counters (folded) and the retrying entries' leases.
RetryFacts = Callable[[], tuple[CounterValues, list[RunningRetry]]]


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
    retry_facts: RetryFacts,
) -> list[Alert]:
    """The alerts for the thresholds that are set, in a fixed order.

    `listing` answers filters from the index; `retry_facts` (the metrics' counters and leases) is
    called only when a retry check (failure rate, sandbox runtime) is on. No entry file is parsed
    but those of the entries being retried.
    """
    out: list[Alert] = []
    if thresholds.max_active is not None:
        out.append(_max_active(thresholds.max_active, listing))
    if thresholds.max_age_seconds is not None:
        out.append(_max_age(thresholds.max_age_seconds, now, listing, oldest_active()))
    if thresholds.max_growth_per_hour is not None:
        out.append(_max_growth(thresholds.max_growth_per_hour, now, listing))
    if thresholds.max_retry_failure_rate is not None or thresholds.max_sandbox_runtime_seconds is not None:
        out += _retry_alerts(thresholds, now, *retry_facts())
    return out


def _alert(name: str, threshold: float, value: float, message: str, entries: list[str]) -> Alert:
    return Alert(name=name, threshold=threshold, value=value, breached=value > threshold,
                 message=message, entries=entries if value > threshold else [])


def _max_active(threshold: int, listing: Listing) -> Alert:
    page = listing(EntryFilter(status=EntryStatus.active, limit=SHOWN))
    return _alert("max_active", threshold, page.total, f"{page.total} active entries", [i.id for i in page.items])


def _max_age(threshold: float, now: datetime, listing: Listing, oldest: EntrySummary | None) -> Alert:
    # The oldest active entries walk the time index; counting every active entry over the limit would
    # read each of them.
    cutoff = (now - timedelta(seconds=threshold)).timestamp()
    page = listing(EntryFilter(status=EntryStatus.active, sort="created_at", descending=False, limit=SHOWN + 1))
    over = [i.id for i in page.items if i.created_ts < cutoff]
    age = (now.timestamp() - oldest.created_ts) if oldest else 0.0
    counted = f"{len(over)}" if len(over) <= SHOWN else f"more than {SHOWN}"
    return _alert("max_age", threshold, round(age, 1),
                  f"oldest active entry is {age:.0f}s old ({counted} over the limit)", over[:SHOWN])


def _max_growth(threshold: int, now: datetime, listing: Listing) -> Alert:
    page = listing(EntryFilter(since=now - timedelta(hours=1), limit=SHOWN))
    return _alert("max_growth", threshold, page.total, f"{page.total} entries dead-lettered in the last hour",
                  [i.id for i in page.items])


def _retry_alerts(thresholds: Thresholds, now: datetime, counters: CounterValues,
                  retries: list[RunningRetry]) -> list[Alert]:
    """The failure-rate alert from the retry counters (every retry since counting began) and the
    sandbox-runtime alert from the leases of the retries running now."""
    out = []
    if thresholds.max_retry_failure_rate is not None:
        done, total = retry_totals(counters)
        failed = total - done
        rate = failed / total if total else 0.0
        out.append(_alert("max_retry_failure_rate", thresholds.max_retry_failure_rate, round(rate, 4),
                          f"{failed} of {total} retries failed", counters.recent_failures[:SHOWN]))
    limit = thresholds.max_sandbox_runtime_seconds
    if limit is not None:
        runtimes = sandbox_runtimes(retries, now)
        longest = runtimes[0][1] if runtimes else 0.0
        over = [entry_id for entry_id, seconds in runtimes if seconds > limit]
        out.append(_alert("max_sandbox_runtime", limit, round(longest, 1),
                          f"{len(over)} sandbox retries running longer than the limit", over[:SHOWN]))
    return out
