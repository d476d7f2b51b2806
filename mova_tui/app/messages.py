"""Messages shared between the app, its screens and its workers (small dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass
class EntriesChanged(Message):
    """Entry files changed on disk (watcher) or through this app; `names` None means "anything"."""

    names: list[str] | None = None


@dataclass
class JobProgress(Message):
    """A line of progress from a background job (retry, bulk operation, export)."""

    job_id: int
    line: str = ""
    advance: int = 0


@dataclass
class JobFinished(Message):
    """A background job ended; `summary` is what the notification says."""

    job_id: int
    summary: str
    severity: str = "information"
    changed_ids: list[str] = field(default_factory=list)
