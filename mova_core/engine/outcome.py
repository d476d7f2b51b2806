"""What a run did, for whoever started it."""

from __future__ import annotations

from dataclasses import dataclass, field

from mova_core.model.entry import Action, DeadLetterEntry, ErrorDetails, ExecutionContext, ExecutionResult
from mova_core.model.status import RunStatus


@dataclass
class RunOutcome:
    """What a run did: its status, context, and (when it failed) why and the dead-letter entry."""

    run_id: str
    status: RunStatus
    context: ExecutionContext
    start_time: str
    end_time: str
    error: str | None = None
    failure_reason: str | None = None
    failed_action: Action | None = None
    error_details: ErrorDetails | None = None
    #: Every failed attempt of the failed action, as `Attempt n: message` lines.
    errors: list[str] = field(default_factory=list)
    dead_letter: DeadLetterEntry | None = None
    sandbox_mode: bool = False

    @property
    def succeeded(self) -> bool:
        """The run completed."""
        return self.status == RunStatus.completed

    def execution_result(self) -> ExecutionResult:
        """The spec's `execution_result`."""
        return ExecutionResult.of(self)
