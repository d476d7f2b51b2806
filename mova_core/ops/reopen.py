"""Reopening as a bulk operation: the action `mova dlq reopen --all` and the dashboard run per id.

The status change itself is `DLQService.reopen` (the lifecycle's `→ active`); this module only
turns one reopen into a bulk outcome, beside the archive and delete actions of `ops.bulk`.
"""

from __future__ import annotations

from mova_core.model.listing import EntryFilter
from mova_core.model.status import EntryStatus
from mova_core.ops.bulk import BulkOutcome, BulkResult, ServiceAction, ServiceFor


def reopen_action(service_for: ServiceFor, flt: EntryFilter | None = None, *,
                  break_lease: bool = False) -> ServiceAction:
    """Reopen one id; one already active, under a live retry lease (without `break_lease`), gone
    meanwhile or no longer matching `flt` (checked under the entry's lock) is skipped."""

    def act(entry_id: str, matching: EntryFilter | None) -> BulkResult:
        before, _ = service_for().reopen(entry_id, break_lease=break_lease, matching=matching)
        if before.status == EntryStatus.active:
            return BulkResult(entry_id, BulkOutcome.skipped, "already active")
        return BulkResult(entry_id, BulkOutcome.reopened)

    return ServiceAction(act, flt)
