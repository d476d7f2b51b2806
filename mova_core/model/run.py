"""A run record: what the engine writes about one run as it goes, and what followers read back."""

from __future__ import annotations

from pydantic import Field

from mova_core.model.base import Doc
from mova_core.model.entry import ExecutionContext, ExecutionResult
from mova_core.model.status import RunStatus


class RunRecord(Doc):
    """One run as written to `<run_id>.json`."""

    run_id: str
    status: str = RunStatus.pending.value
    sandbox_mode: bool = False
    workflow: str | None = None
    dlq_id: str | None = None
    original_run_id: str | None = None
    dead_letter_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    updated_at: str | None = None
    error: str | None = None
    failure_reason: str | None = None
    attempts: int | None = None
    pid: int | None = None
    override_variables: list[str] = Field(default_factory=list)
    override_secrets: list[str] = Field(default_factory=list)
    context: ExecutionContext | None = None

    @property
    def finished(self) -> bool:
        """True once the run has reached a final status (a status written by another tool is not final)."""
        try:
            return RunStatus(self.status).is_final
        except ValueError:
            return False

    def execution_result(self) -> ExecutionResult:
        """The spec's `execution_result` for this run."""
        return ExecutionResult.of(self)
