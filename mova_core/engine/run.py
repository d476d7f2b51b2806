"""One execution of an envelope, from its first record to its outcome (and, failed, its dead letter)."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from mova_core.engine.action_runner import ActionFailed, ActionRunner
from mova_core.engine.cancel import CANCELLED
from mova_core.engine.errors import RunCancelled
from mova_core.engine.events import RunFinished, RunStarted
from mova_core.engine.journal import RunJournal
from mova_core.engine.outcome import RunOutcome
from mova_core.engine.sinks import DeadLetterSink
from mova_core.engine.state import RunState
from mova_core.model.entry import DeadLetterEntry, ErrorDetails, ExecutionContext, Metadata, new_entry_id
from mova_core.model.errors import StoreError
from mova_core.model.run import RunRecord
from mova_core.model.status import RunStatus
from mova_core.timeutil import format_time


class Run:
    """Runs the actions in order and ends the run: the outcome, the final record, the dead letter."""

    def __init__(self, state: RunState, journal: RunJournal, actions: ActionRunner, *,
                 dead_letters: DeadLetterSink | None, record_fields: Mapping[str, Any] | None = None,
                 on_finish: Callable[[RunOutcome], None] | None = None):
        self.state = state
        self.journal = journal
        self.actions = actions
        self.clock = actions.clock
        self.dead_letters = dead_letters
        self.record_fields = {k: v for k, v in (record_fields or {}).items()
                              if k in RunRecord.model_fields and k != "context"}
        self.on_finish = on_finish

    def execute(self) -> RunOutcome:
        """The run, its log open throughout. KeyboardInterrupt is recorded as cancelled, then re-raised."""
        self.journal.open()
        try:
            return self._execute()
        finally:
            self.journal.close()

    def _execute(self) -> RunOutcome:
        state = self.state
        if self.journal.recording:
            self.journal.start(self.record(RunStatus.running), self.context_doc(RunStatus.running))
        self.journal.emit(RunStarted(state.run_id, state.envelope.intent.name, state.context.sandbox_mode,
                                     len(state.envelope.actions)))
        if state.context.sandbox_mode:
            self.journal.log(
                None, "sandbox run", detail=True,
                allowed_hosts=["loopback", *sorted(state.context.allowed_hosts)],
                secret_names=sorted(state.context.secrets), variables=state.variables,
            )
        try:
            for action in state.envelope.actions:
                self.actions.run(action)
        except ActionFailed as failure:
            return self.finish_failed(failure)
        except RunCancelled as stop:
            return self.finish_cancelled(stop.message, stop.reason)
        except KeyboardInterrupt:
            self.finish_cancelled()
            raise
        return self.finish(RunStatus.completed)

    # -- the record -----------------------------------------------------------------------

    def record(self, status: RunStatus, **extra: Any) -> RunRecord:
        """The run record as of now (its context is written beside it, see `context_doc`)."""
        return RunRecord(**{
            **self.record_fields,
            "run_id": self.state.run_id,
            "status": status,
            "sandbox_mode": self.state.context.sandbox_mode,
            "workflow": self.state.envelope.intent.name,
            "start_time": format_time(self.state.started),
            "updated_at": format_time(self.clock.now()),
            "pid": os.getpid(),
            **extra,
        })

    def context_doc(self, status: RunStatus) -> dict[str, Any]:
        """The execution context with this status, as redacted JSON."""
        execution = self.state.execution.model_copy(update={"status": status, "variables": dict(self.state.variables)})
        return self.journal.redactor(execution.model_dump(mode="json"))

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return max(0.0, (self.clock.now() - self.state.started).total_seconds())

    # -- endings --------------------------------------------------------------------------

    def finish(self, status: RunStatus, **extra: Any) -> RunOutcome:
        """The outcome; `on_finish(outcome)` runs before the final record and `RunFinished` are
        written, so whoever follows the run sees it end only once all is done."""
        end = self.clock.now()
        execution = self.state.execution
        execution.status = status
        execution.end_time = format_time(end)
        execution.variables = dict(self.state.variables)
        # The caller gets the redacted context: it is about to be shown or stored (the final record
        # below writes this very JSON: the context does not change after this point).
        shown_doc = self.journal.redactor(execution.model_dump(mode="json"))
        outcome = RunOutcome(
            run_id=self.state.run_id, status=status, context=ExecutionContext.model_validate(shown_doc),
            start_time=format_time(self.state.started), end_time=format_time(end),
            sandbox_mode=self.state.context.sandbox_mode, **extra,
        )
        hook_error = self.run_hook(outcome)
        error = outcome.error
        if hook_error is not None:
            error = self.journal.redactor.text(
                f"{error + '; ' if error else ''}after the run: {type(hook_error).__name__}: {hook_error}")
        entry_id = outcome.dead_letter.id if outcome.dead_letter else None
        # The log line first: a follower stops reading once the record is final.
        self.journal.emit(RunFinished(self.state.run_id, status, error, outcome.failure_reason, entry_id,
                                      self.elapsed()))
        if self.journal.recording:
            attempts = outcome.error_details.attempts if outcome.error_details else None
            self.journal.save(self.record(status, end_time=outcome.end_time, error=error,
                                          failure_reason=outcome.failure_reason, attempts=attempts,
                                          dead_letter_id=entry_id), shown_doc)
        if hook_error is not None:
            raise hook_error
        return outcome

    def run_hook(self, outcome: RunOutcome) -> BaseException | None:
        """Call `on_finish`; what it raises is returned, to be recorded first and raised after."""
        if self.on_finish is None:
            return None
        try:
            self.on_finish(outcome)
        except BaseException as exc:
            return exc
        return None

    def finish_cancelled(self, message: str = CANCELLED, reason: str = CANCELLED) -> RunOutcome:
        """A cancelled run (Ctrl-C, the caller's cancel, or the run's own, with its message): never dead-lettered."""
        return self.finish(RunStatus.cancelled, error=message, failure_reason=reason)

    def finish_failed(self, failure: ActionFailed) -> RunOutcome:
        """A failed (or timed out) run: dead-lettered when there is a sink, then finished."""
        details = ErrorDetails(
            last_error=failure.error, error_history=list(failure.errors), failure_reason=failure.reason,
            attempts=failure.attempts, retry_policy=failure.policy.to_model(),
        )
        status = RunStatus.timeout if failure.reason == "timeout" else RunStatus.failed
        entry, lost = self.dead_letter(failure, details)
        outcome = self.finish(
            status,
            error=failure.error if lost is None else f"{failure.error}; NOT dead-lettered: {lost}",
            failure_reason=failure.reason, failed_action=failure.action, error_details=details,
            errors=list(failure.errors), dead_letter=entry,
        )
        if lost is not None:
            kept = f" (its run record {self.state.run_id} keeps the context)" if self.journal.keeps_records else ""
            raise StoreError(f"run {self.state.run_id} {status}: {failure.error}; and it could not be dead-lettered: "
                             f"{lost}{kept}") from lost
        return outcome

    def dead_letter(self, failure: ActionFailed, details: ErrorDetails) -> tuple[DeadLetterEntry | None, StoreError | None]:
        """Hand the entry to the sink: (the entry, None), or (None, why) when it could not be kept."""
        if self.dead_letters is None:
            return None, None
        entry, doc = self.build_entry(failure, details)
        try:
            self.dead_letters.create(entry, doc=doc)
        except StoreError as exc:  # the run record, if it can be written, keeps what there is
            return None, exc
        return entry, None

    def build_entry(self, failure: ActionFailed, details: ErrorDetails) -> tuple[DeadLetterEntry, dict[str, Any]]:
        """The dead-letter entry in the specification's shape, redacted, and the JSON object it was validated from."""
        now = self.clock.now()
        context = self.state.execution.model_copy(
            update={"status": "failed", "end_time": format_time(now), "variables": dict(self.state.variables)}
        )
        intent = self.state.envelope.intent
        entry = DeadLetterEntry(
            id=new_entry_id(),
            run_id=self.state.run_id,
            created_at=format_time(now),
            envelope=self.state.envelope,
            context=context,
            failed_action=failure.action,
            error_details=details,
            metadata=Metadata(source="executor", workflow_type=intent.name, tags=list(intent.tags) if intent.tags else None),
        )
        # Through JSON and back: what is stored is what the redactor let through, nothing else.
        doc = self.journal.redactor(entry.model_dump(mode="json"))
        return DeadLetterEntry.model_validate(doc), doc
