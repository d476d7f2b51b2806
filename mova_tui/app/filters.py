"""What the operator filtered and sorted by, turned into the core's `EntryFilter` (no Textual here)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from mova_core.model.entry import EntryStatus
from mova_core.model.listing import EntryFilter
from mova_core.timeutil import parse_user_time

#: Sortable columns in the order `s` cycles through them, with their labels.
SORT_KEYS: dict[str, str] = {
    "created_at": "created",
    "workflow_type": "type",
    "status": "status",
    "attempts": "attempts",
    "retry_count": "retries",
    "last_error": "error",
    "id": "id",
}


@dataclass(frozen=True)
class FilterState:
    """The dashboard's filters as typed (times kept as text so they can be shown and edited again)."""

    status: str | None = None
    workflow_type: str | None = None
    since: str = ""
    until: str = ""
    text: str = ""
    sort: str = "created_at"
    descending: bool = True

    @property
    def active(self) -> bool:
        """True when any filter (not the sort) narrows the list."""
        return bool(self.status or self.workflow_type or self.since.strip() or self.until.strip() or self.text.strip())

    def cleared(self) -> FilterState:
        """The same sort, no filters."""
        return FilterState(sort=self.sort, descending=self.descending)

    def with_(self, **changes) -> FilterState:
        """A copy with these fields changed."""
        return replace(self, **changes)

    def sorted_by(self, key: str) -> FilterState:
        """Sort by `key`; the key already sorted by reverses the order (created: newest first)."""
        if key == self.sort:
            return self.with_(descending=not self.descending)
        return self.with_(sort=key, descending=key == "created_at")

    def next_sort(self) -> FilterState:
        """Sort by the next column in `SORT_KEYS` order."""
        keys = list(SORT_KEYS)
        nxt = keys[(keys.index(self.sort) + 1) % len(keys)] if self.sort in keys else keys[0]
        return self.with_(sort=nxt, descending=nxt == "created_at")

    def to_entry_filter(self, now: datetime, *, offset: int = 0, limit: int | None = None) -> EntryFilter:
        """The core filter; raises ValueError for an unreadable time."""
        return EntryFilter(
            status=EntryStatus(self.status) if self.status else None,
            workflow_type=self.workflow_type or None,
            since=parse_user_time(self.since, now) if self.since.strip() else None,
            until=parse_user_time(self.until, now) if self.until.strip() else None,
            text=self.text.strip() or None,
            sort=self.sort,
            descending=self.descending,
            offset=offset,
            limit=limit,
        )

    def describe(self) -> str:
        """The filters in one line, as shown above the table."""
        parts = []
        if self.status:
            parts.append(f"status={self.status}")
        if self.workflow_type:
            parts.append(f"type={self.workflow_type}")
        if self.since.strip():
            parts.append(f"since={self.since.strip()}")
        if self.until.strip():
            parts.append(f"until={self.until.strip()}")
        if self.text.strip():
            parts.append(f'text="{self.text.strip()}"')
        return "  ".join(parts)


def check_time(value: str, now: datetime) -> str | None:
    """None if `value` is empty or a readable filter time, else the error to show under the field."""
    if not value.strip():
        return None
    try:
        parse_user_time(value, now)
    except ValueError as exc:
        return str(exc)
    return None
