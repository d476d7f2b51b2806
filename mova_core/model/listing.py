"""What listings ask and get back: filters, summaries, pages and statistics (shared by every face)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.fingerprint import fingerprint
from mova_core.model.lifecycle import lease_expired
from mova_core.model.search import text_matches
from mova_core.model.status import EntryStatus
from mova_core.timeutil import format_time, parse_time

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry

SortKey = Literal["created_at", "workflow_type", "status", "attempts", "retry_count", "last_error", "id", "age"]


class EntryFilter(Model):
    """The specification's list filters, plus free text, failure group, sorting and paging."""

    status: EntryStatus | None = None
    workflow_type: str | None = None
    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = Field(default=None, ge=0)
    offset: int = Field(default=0, ge=0)
    text: str | None = None
    fingerprint: str | None = None
    older_than: datetime | None = None
    sort: SortKey = "created_at"
    descending: bool = True

    def spec_dict(self) -> dict:
        """The filter as the HTTP shim echoes it: only what was set, times in RFC 3339."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def mismatch(self, entry: DeadLetterEntry) -> str | None:
        """Why `entry` does not match this filter (the first reason, e.g. "status is active"), or None.

        The listing's rules (the index's SQL) for one entry in hand: a bulk run and the purge ask it
        under the entry's lock, since the entry may have changed since the listing that chose it.
        Sorting and windowing are not conditions and are ignored.
        """
        if self.status is not None and entry.status != self.status:
            return f"status is {entry.status}"
        if self.workflow_type and entry.workflow_type != self.workflow_type:
            return f"workflow type is {entry.workflow_type!r}"
        if self.user_id and entry.metadata.user_id != self.user_id:
            return f"user is {entry.metadata.user_id!r}"
        return self._time_mismatch(entry) or self._failure_mismatch(entry)

    def _time_mismatch(self, entry: DeadLetterEntry) -> str | None:
        if self.since is None and self.until is None and self.older_than is None:
            return None
        created = parse_time(entry.created_at).timestamp()
        if self.since is not None and created < self.since.timestamp():
            return f"created {entry.created_at}, before {format_time(self.since)}"
        if self.until is not None and created > self.until.timestamp():
            return f"created {entry.created_at}, after {format_time(self.until)}"
        if self.older_than is not None and created >= self.older_than.timestamp():
            return f"created {entry.created_at}, not before {format_time(self.older_than)}"
        return None

    def _failure_mismatch(self, entry: DeadLetterEntry) -> str | None:
        action_type = entry.failed_action.type if entry.failed_action else None
        last_error = entry.error_details.last_error
        if self.fingerprint:
            found = fingerprint(action_type, last_error)
            if not found.lower().startswith(self.fingerprint.lower()):  # LIKE 'prefix%': ASCII case ignored
                return f"failure group is {found}"
        if self.text and not text_matches(self.text, entry.id, entry.workflow_type, last_error, action_type):
            return f"{self.text!r} no longer found in it"
        return None


class EntrySummary(Model):
    """The fields a listing needs, read from the index without parsing the whole entry."""

    id: str
    run_id: str | None = None
    status: EntryStatus
    created_at: str
    created_ts: float
    workflow_type: str
    user_id: str | None = None
    action_type: str | None = None
    last_error: str = ""
    failure_reason: str | None = None
    attempts: int = 0
    retry_count: int = 0
    fingerprint: str = ""
    priority: int | None = None
    lease_owner: str | None = None
    lease_expires_ts: float | None = None

    def is_stale(self, now: datetime) -> bool:
        """A `retrying` entry whose lease has expired (see `lifecycle.lease_expired`)."""
        return lease_expired(self.status, self.lease_expires_ts, now)


class SkippedFile(Model):
    """A `*.json` file in the directory that is not a readable entry; never modified or deleted."""

    name: str
    reason: str


class Page(Model):
    """A window of summaries, the total matching the filter, and what was skipped."""

    items: list[EntrySummary] = Field(default_factory=list)
    total: int = 0
    skipped: list[SkippedFile] = Field(default_factory=list)
    missing_dir: bool = False


class Stats(Model):
    """The specification's `/v1/dlq/stats` object."""

    total_entries: int = 0
    by_status: dict[str, int] = Field(default_factory=lambda: {s.value: 0 for s in EntryStatus})
    by_workflow_type: dict[str, int] = Field(default_factory=dict)
    oldest_entry: str | None = None
    newest_entry: str | None = None


class Group(Model):
    """Entries that failed the same way (same action type and normalised error)."""

    fingerprint: str
    count: int
    action_type: str | None = None
    workflow_types: list[str] = Field(default_factory=list)
    example_error: str = ""
    example_id: str = ""
    first_seen: str = ""
    last_seen: str = ""
    by_status: dict[str, int] = Field(default_factory=dict)
