"""Messages shared between the app, its screens and its workers (small dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from mova_tui.app.jobs import JobReport


@dataclass
class EntriesChanged(Message):
    """Entry files changed on disk (watcher) or through this app; `names` None means "anything"."""

    names: list[str] | None = None

    def can_replace(self, message: Message) -> bool:
        """A burst still queued merges into its last message, which takes the earlier names along."""
        if not isinstance(message, EntriesChanged):
            return False
        if self.names is None or message.names is None:
            message.names = None
        else:
            message.names = sorted({*self.names, *message.names})
        return True


@dataclass
class JobProgress(Message):
    """A line of progress from a background job (retry, bulk operation, export)."""

    job_id: int
    line: str = ""
    advance: int = 0


@dataclass
class JobFinished(Message):
    """A background job ended; its report is what the notification says."""

    job_id: int
    report: JobReport


@dataclass
class CancelJob(Message):
    """The operator asked a job to stop: nothing new is started, what runs finishes and is recorded."""

    job_id: int
