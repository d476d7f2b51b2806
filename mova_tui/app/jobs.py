"""A background job: its body's inputs (`JobContext`), its outcome (`JobReport`) and the app's record (`Job`).

Nothing here imports Textual: a job body is a plain function of a `JobContext`, so it can be run
and tested without an app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mova_core.ops.service import DLQService

Severity = Literal["information", "warning", "error"]
#: `progress(line="", advance=0)`: a line for the window, and how many items were finished.
Progress = Callable[..., None]


@dataclass(frozen=True)
class JobReport:
    """How a job ended: the notification's text and severity."""

    summary: str
    severity: Severity = "information"


@dataclass(frozen=True)
class JobContext:
    """What a job body works with: a service of its own, a progress callback and the cancel event.

    Once `cancel` is set nothing new starts, and a retry under way stops at its next step (its wait
    between attempts cut short); an archive, delete or reopen under way finishes.
    """

    service: DLQService
    progress: Progress
    cancel: threading.Event


JobBody = Callable[[JobContext], JobReport]


@dataclass
class Job:
    """A job as the app keeps it, so its window can show what happened before it opened."""

    id: int
    title: str
    total: int | None
    cancellable: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    lines: list[str] = field(default_factory=list)
    done: int = 0
    report: JobReport | None = None

    @property
    def finished(self) -> bool:
        """True once the body returned (or failed)."""
        return self.report is not None

    @property
    def summary(self) -> str:
        """The report's text ("" while running)."""
        return self.report.summary if self.report else ""

    @property
    def cancelling(self) -> bool:
        """Cancel was asked and the job has not ended yet."""
        return self.cancel.is_set() and not self.finished
