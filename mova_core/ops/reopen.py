"""Reopening as a bulk operation: the action `mova dlq reopen --all` and the dashboard run per id.

The status change itself is `DLQService.reopen` (the lifecycle's `→ active`); this module only
turns one reopen into a bulk outcome, beside the archive and delete actions of `ops.bulk`.
"""

from __future__ import annotations

from mova_core.model.errors import MovaError
from mova_core.model.status import EntryStatus
from mova_core.ops.bulk import (
    Action,
    BulkOutcome,
    BulkResult,
    ServiceFor,
    _skipped_or_failed,
)


def reopen_action(service_for: ServiceFor, *, force: bool = False) -> Action:
    """Reopen one id; one already active, under a live retry (without `force`) or gone meanwhile is skipped."""

    def act(entry_id: str) -> BulkResult:
        try:
            before, _ = service_for().reopen(entry_id, force=force)
        except MovaError as exc:
            return _skipped_or_failed(entry_id, exc)
        if before.status == EntryStatus.active:
            return BulkResult(entry_id, BulkOutcome.skipped, "already active")
        return BulkResult(entry_id, BulkOutcome.reopened)

    return act
