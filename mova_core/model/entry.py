"""The domain: workflow envelopes, execution contexts and dead-letter entries (spec + Go dialect)."""

import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from mova_core.model.base import Doc, Number
from mova_core.model.nesting import check_depth
from mova_core.model.policy import RetryPolicy
from mova_core.model.status import EntryStatus, RetryOutcome
from mova_core.timeutil import parse_time


def _check_time(value: str) -> str:
    parse_time(value)
    return value


# Timestamps stay strings so that a Go entry's nanoseconds and offset survive a round trip.
Timestamp = Annotated[str, AfterValidator(_check_time)]


class Intent(Doc):
    """What a workflow is: its name (the entry's workflow type), version and workflow-level retry."""

    name: str
    version: str | None = None
    description: str | None = None
    author: str | None = None
    tags: list[str] | None = None
    retry: RetryPolicy | None = None


class Action(Doc):
    """One step. The spec writes `id`/`params`; the Go engine writes `name`/`config`; both load."""

    id: str | None = None
    name: str | None = None
    type: str
    params: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    retry: RetryPolicy | None = None
    timeout: Number | None = None
    enabled: bool | None = None

    @property
    def key(self) -> str:
        """The action's id, whichever dialect named it."""
        return self.id or self.name or self.type

    @property
    def arguments(self) -> dict[str, Any]:
        """The action's parameters, whichever dialect named them."""
        if self.params is not None:
            return self.params
        return self.config or {}

    @property
    def is_enabled(self) -> bool:
        return self.enabled is not False


class Envelope(Doc):
    """A workflow as submitted: intent, actions, payload, variables and (inline) secrets."""

    intent: Intent
    actions: list[Action] = Field(default_factory=list)
    payload: Any = None
    variables: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = None


class ActionResult(Doc):
    """The outcome of one action in a run."""

    action_id: str | None = None
    action_name: str | None = None
    type: str | None = None
    status: str
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    output: Any = None
    error: str | None = None
    attempts: int | None = None
    errors: list[str] | None = None


class ExecutionContext(Doc):
    """A run's state: variables and per-action results."""

    run_id: str
    workflow_id: str | None = None
    status: str = "failed"
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    results: dict[str, ActionResult] = Field(default_factory=dict)
    logs: Any = None


class ErrorDetails(Doc):
    """Why the run failed, attempt by attempt."""

    last_error: str = ""
    error_history: list[str] = Field(default_factory=list)
    failure_reason: str = "max_retries_exceeded"
    attempts: int = 0
    retry_policy: RetryPolicy | None = None
    environment: dict[str, Any] | None = None
    stack_trace: str | None = None


class Lease(Doc):
    """Who holds a retry claim and until when; an expired lease may be taken over."""

    owner: str
    retry_run_id: str
    acquired_at: Timestamp
    expires_at: Timestamp
    sandbox_mode: bool = True
    #: The background retry waits its turn (MOVA_MAX_BACKGROUND_RETRIES); absent once it runs.
    queued: bool | None = None


class Metadata(Doc):
    """Routing and bookkeeping fields of an entry."""

    source: str = "executor"
    priority: int = 1
    workflow_type: str | None = None
    user_id: str | None = None
    retry_count: int = 0
    tags: list[str] | None = None
    last_retry_at: Timestamp | None = None
    lease: Lease | None = None
    custom_data: dict[str, Any] | None = None


class RetryRecord(Doc):
    """One retry of an entry, sandbox or production, kept in the entry's `retry_history`."""

    retry_run_id: str
    sandbox_mode: bool
    start_time: Timestamp
    end_time: Timestamp | None = None
    outcome: str = "running"
    #: How the retry failed: its last error, its failure reason and every failed attempt's line
    #: (the entry's own `error_details` keep the failure that dead-lettered it).
    error: str | None = None
    failure_reason: str | None = None
    errors: list[str] | None = None
    attempts: int | None = None
    override_variables: list[str] = Field(default_factory=list)
    override_secrets: list[str] = Field(default_factory=list)
    actor: str | None = None

    @property
    def is_finished_run(self) -> bool:
        """The retry ran to an end of its own (counted in success and failure rates)."""
        try:
            return RetryOutcome(self.outcome).is_finished_run
        except ValueError:  # still running, or an outcome another writer invented
            return False


class DeadLetterEntry(Doc):
    """A failed run in the dead-letter queue, exactly as the specification's storage format."""

    id: str
    run_id: str
    created_at: Timestamp
    status: EntryStatus = EntryStatus.active
    envelope: Envelope
    context: ExecutionContext
    failed_action: Action | None = None
    error_details: ErrorDetails = Field(default_factory=ErrorDetails)
    metadata: Metadata = Field(default_factory=Metadata)
    retry_history: list[RetryRecord] | None = None
    updated_at: Timestamp | None = None

    @property
    def workflow_type(self) -> str:
        """The metadata's workflow type, else the intent's name."""
        return self.metadata.workflow_type or self.envelope.intent.name

    @property
    def last_retry_error(self) -> str | None:
        """The error of the latest retry if it did not succeed (shown beside the original error), else None."""
        history = self.retry_history or []
        if not history or history[-1].outcome in (RetryOutcome.completed, "running"):
            return None
        return history[-1].error or history[-1].outcome

    def to_json_dict(self) -> dict[str, Any]:
        """The entry as the JSON object written to disk and printed by `--format json`."""
        return self.model_dump(mode="json")


def new_entry_id() -> str:
    """A fresh entry id: `dlq_` + UUID4."""
    return f"dlq_{uuid.uuid4()}"


class RetryOverrides(Doc):
    """What an operator changes for a retry: variables, and secrets (kept in memory only)."""

    variables: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Any] = Field(default_factory=dict)

    @field_validator("variables", "secrets", mode="before")
    @classmethod
    def _not_too_deep(cls, value: Any, info: ValidationInfo) -> Any:
        # InvalidInput, not ValueError: it reaches every face as a user error (exit 2, HTTP 400).
        if isinstance(value, dict):
            for name, item in value.items():
                check_depth(item, f"overrides.{info.field_name}.{name}")
        return value


class ExecutionResult(Doc):
    """The outcome of a (retry) run, as the specification's retry response shows."""

    run_id: str
    status: str
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    error: str | None = None
    failure_reason: str | None = None

    @classmethod
    def of(cls, run: Any) -> "ExecutionResult":
        """The result of anything that describes a run (an engine outcome, a run record)."""
        return cls(run_id=run.run_id, status=run.status, start_time=run.start_time, end_time=run.end_time,
                   error=run.error, failure_reason=run.failure_reason)


class RetryResponse(Doc):
    """The specification's retry response; `execution_result` is absent while a background retry runs."""

    message: str = "DLQ entry retry initiated"
    dlq_id: str
    retry_run_id: str
    sandbox_mode: bool
    execution_result: ExecutionResult | None = None
