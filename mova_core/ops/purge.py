"""The retention purge: resolved and archived entries older than a cutoff go; active and retrying never do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.errors import InvalidInput
from mova_core.model.listing import EntryFilter, Page
from mova_core.model.status import EntryStatus
from mova_core.timeutil import format_time

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry

PURGEABLE = (EntryStatus.resolved, EntryStatus.archived)

Listing = Callable[[EntryFilter], Page]
#: Deletes one entry under its lock once the check (which may raise) approves it.
Remove = Callable[[str, Callable[["DeadLetterEntry"], None]], object]


class PurgeReport(Model):
    """What a retention purge removed (or would remove, with dry_run)."""

    older_than_days: float
    cutoff: str
    dry_run: bool
    removed: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


def purge(listing: Listing, remove: Remove, *, days: float, now: datetime, dry_run: bool = False) -> PurgeReport:
    """Remove the purgeable entries created more than `days` before `now` (only list them, with dry_run)."""
    if days < 0:
        raise InvalidInput("--older-than must be zero or more days")
    cutoff = now - timedelta(days=days)
    report = PurgeReport(older_than_days=days, cutoff=format_time(cutoff), dry_run=dry_run)
    for status in PURGEABLE:
        for item in listing(EntryFilter(status=status, older_than=cutoff)).items:
            if dry_run:
                report.removed.append(item.id)
                continue
            try:
                remove(item.id, lambda entry: check_purgeable(entry, cutoff))
            except Exception as exc:  # report and carry on: one bad entry must not stop a cron purge
                report.failed[item.id] = str(exc)
                continue
            report.removed.append(item.id)
    return report


def check_purgeable(entry: DeadLetterEntry, cutoff: datetime) -> None:
    """InvalidInput unless the entry may still be purged: re-checked under its lock, since it may have
    been reopened (or replaced by a newer one) after the listing. The age is the listing's own rule
    (`EntryFilter.mismatch`, as every bulk run re-checks its filter)."""
    if entry.status not in PURGEABLE:
        raise InvalidInput(f"{entry.id} is {entry.status} now; purge removes only resolved and archived entries")
    if EntryFilter(older_than=cutoff).mismatch(entry) is not None:
        raise InvalidInput(f"{entry.id} is newer than the cutoff")
