"""One action of a run, attempt after attempt, as its policy and deadline allow (`attempts` rules)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mova_core.engine.actions import ActionContext, ActionRegistry
from mova_core.engine.attempts import Clock, deadline_for, judge
from mova_core.engine.errors import ActionError, ActionTimeout, NonRetryableError, RunCancelled
from mova_core.engine.events import ActionFinished, ActionStarted, AttemptFailed
from mova_core.engine.journal import RunJournal
from mova_core.engine.policy import EffectivePolicy, resolve_policy
from mova_core.engine.state import RunState
from mova_core.engine.templates import TemplateError, render
from mova_core.model.attempts import attempt_line
from mova_core.model.entry import Action, ActionResult
from mova_core.timeutil import format_time

if TYPE_CHECKING:
    import httpx

    from mova_core.settings import Settings


class ActionFailed(Exception):
    """An action failed for good: the run ends here (and is dead-lettered)."""

    def __init__(self, action: Action, error: str, reason: str, errors: list[str], attempts: int,
                 policy: EffectivePolicy):
        super().__init__(error)
        self.action, self.error, self.reason = action, error, reason
        self.errors, self.attempts, self.policy = errors, attempts, policy


class ActionRunner:
    """Runs the actions of one run; each result goes into the run's execution context."""

    def __init__(self, state: RunState, journal: RunJournal, clock: Clock, *, registry: ActionRegistry,
                 settings: Settings, http_transport: httpx.BaseTransport | None):
        self.state = state
        self.journal = journal
        self.clock = clock
        self.registry = registry
        self.settings = settings
        self.http_transport = http_transport

    def run(self, action: Action) -> None:
        """Attempt the action until it completes; ActionFailed when it fails for good."""
        key = action.key
        if not action.is_enabled:
            self.state.execution.results[key] = ActionResult(action_id=key, action_name=key, type=action.type,
                                                             status="skipped")
            self.journal.emit(ActionFinished(self.state.run_id, key, "skipped", 0, 0.0))
            return
        policy = resolve_policy(action.retry, self.state.envelope.intent.retry, self.settings)
        began = self.clock.now()
        deadline = deadline_for(self.state.deadline, began, action.timeout)
        errors: list[str] = []
        for attempt in itertools.count(1):
            self.clock.check_cancelled()
            self.journal.emit(ActionStarted(self.state.run_id, key, action.type, attempt, policy.max_attempts))
            try:
                output = self.attempt(action, attempt, deadline)
            except ActionError as exc:
                message = self.journal.redactor.text(exc.message)
                errors.append(attempt_line(attempt, message))
                verdict = judge(exc, attempt, policy, self.clock, deadline)
                if verdict.note:
                    message = f"{message} ({verdict.note})"
                self.journal.emit(AttemptFailed(self.state.run_id, key, attempt, message, verdict.retrying,
                                                verdict.delay))
                if not verdict.retrying:
                    self.record_failure(action, began, attempt, errors, message)
                    raise ActionFailed(action, message, verdict.reason, errors, attempt, policy) from None
                self.clock.wait(verdict.delay)
                continue
            self.record_success(action, began, attempt, errors, output)
            return

    def attempt(self, action: Action, attempt: int, deadline: datetime | None) -> Any:
        """One attempt: look the type up, render params, validate, run. ActionError on failure."""
        key = action.key
        if deadline is not None and self.clock.now() >= deadline:
            raise ActionTimeout(f"action {key!r} timed out before attempt {attempt}")
        try:
            atype = self.registry.get(action.type)
            rendered = render(action.arguments, self.state.scope())
        except TemplateError as exc:
            raise NonRetryableError(str(exc)) from None
        self.journal.log(key, "params", detail=True, attempt=attempt, params=rendered)
        params = atype.parse(rendered, f"{key}.params")
        ctx = self.action_context(action, attempt, deadline)
        t0 = time.perf_counter()
        try:
            return atype.run(params, ctx)
        except (ActionError, KeyboardInterrupt, RunCancelled):
            raise
        except Exception as exc:  # a bug in a plugin action: report it, let the policy decide
            raise ActionError(f"{type(exc).__name__} in {action.type}: {exc}") from None
        finally:
            self.journal.log(key, "attempt timing", detail=True, attempt=attempt,
                             seconds=round(time.perf_counter() - t0, 4))

    def action_context(self, action: Action, attempt: int, deadline: datetime | None) -> ActionContext:
        """What the action's code gets for this attempt."""
        key = action.key
        return ActionContext(
            run_id=self.state.run_id, action_id=key, action_type=action.type, attempt=attempt,
            variables=self.state.variables, run_context=self.state.context,
            sleep=self.clock.wait, now=self.clock.now,
            log=lambda message, **kw: self.journal.log(key, message, **kw),
            redactor=self.journal.redactor, deadline=deadline, http_transport=self.http_transport,
        )

    def record_success(self, action: Action, began: datetime, attempts: int, errors: list[str], output: Any) -> None:
        """The completed action's result (and its output, for later templates)."""
        key = action.key
        duration = (self.clock.now() - began).total_seconds()
        self.state.outputs[key] = output
        self.state.execution.results[key] = ActionResult(
            action_id=key, action_name=key, type=action.type, status="completed",
            start_time=format_time(began), end_time=format_time(self.clock.now()),
            output=output, attempts=attempts, **({"errors": errors} if errors else {}),
        )
        self.journal.emit(ActionFinished(self.state.run_id, key, "completed", attempts, duration))

    def record_failure(self, action: Action, began: datetime, attempts: int, errors: list[str], message: str) -> None:
        """The failed action's result."""
        key = action.key
        self.state.execution.results[key] = ActionResult(
            action_id=key, action_name=key, type=action.type, status="failed",
            start_time=format_time(began), end_time=format_time(self.clock.now()),
            error=message, attempts=attempts, errors=list(errors),
        )
        duration = (self.clock.now() - began).total_seconds()
        self.journal.emit(ActionFinished(self.state.run_id, key, "failed", attempts, duration, message))
