"""Entry statuses: a plain enum in a module of its own, so the command line can offer them as
choices without importing pydantic and the models."""

from __future__ import annotations

from enum import StrEnum


class EntryStatus(StrEnum):
    """Lifecycle of a dead-letter entry."""

    active = "active"
    retrying = "retrying"
    resolved = "resolved"
    archived = "archived"


class RunStatus(StrEnum):
    """Status of a run record (a `mova run` or a retry's run)."""

    pending = "pending"
    #: a background retry waiting its turn (MOVA_MAX_BACKGROUND_RETRIES run at once)
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    timeout = "timeout"
    cancelled = "cancelled"

    @property
    def is_final(self) -> bool:
        """The run has ended and its record will not change again."""
        return self not in (RunStatus.pending, RunStatus.queued, RunStatus.running)


class RetryOutcome(StrEnum):
    """How one retry of an entry ended, as its `retry_history` record says."""

    completed = "completed"
    failed = "failed"
    timeout = "timeout"
    cancelled = "cancelled"
    #: the retry's process died and a later claim took its stale lease over
    abandoned = "abandoned"

    @property
    def is_finished_run(self) -> bool:
        """The retry ran to an end of its own (counts in retry success and failure rates)."""
        return self is not RetryOutcome.abandoned
