"""The workflow engine: runs an envelope's actions in order, retrying each by its policy, and
dead-letters a workflow that fails.

Time and randomness are injected (`sleep`, `now`, `rng`), so tests record the waits instead of
sleeping. Failure reasons: `non_retryable_error` (HTTP 4xx other than 408/429, an invalid action
config, an unknown action type or template reference, a host the sandbox blocks),
`max_retries_exceeded` (the policy's attempts are spent), `timeout` (an action's `timeout`,
seconds for the action including its retries, or the workflow's `timeout`, seconds for the run).

Progress goes to an `on_event` callback as small dataclasses (`RunStarted`, `ActionStarted`,
`AttemptFailed`, `ActionFinished`, `LogLine`, `RunFinished`), already redacted.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from pydantic import ValidationError

from mova_core.engine.actions import (
    ActionContext,
    ActionError,
    ActionRegistry,
    ActionTimeout,
    NonRetryableError,
    default_registry,
)
from mova_core.engine.context import Sandbox, secrets_from_env
from mova_core.engine.templates import TemplateError, check_references, render
from mova_core.model.entry import (
    Action,
    ActionResult,
    DeadLetterEntry,
    Envelope,
    ErrorDetails,
    ExecutionContext,
    ExecutionResult,
    Metadata,
    new_entry_id,
)
from mova_core.model.errors import PolicyError, StoreError
from mova_core.model.policy import (
    EffectivePolicy,
    check_policy_types,
    compute_delay,
    policy_error,
    resolve_policy,
    retry_after_delay,
    validation_messages,
)
from mova_core.model.redact import Redactor
from mova_core.store.runs import RunLog, RunRecord, RunStore
from mova_core.timeutil import format_time, utcnow

# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStarted:
    """A run began."""

    run_id: str
    workflow: str
    sandbox_mode: bool
    actions: int
    kind: str = "run_started"


@dataclass(frozen=True)
class ActionStarted:
    """An attempt of an action began."""

    run_id: str
    action_id: str
    action_type: str
    attempt: int
    max_attempts: int
    kind: str = "action_started"


@dataclass(frozen=True)
class AttemptFailed:
    """An attempt failed; `delay` is the wait before the next one (None when none follows)."""

    run_id: str
    action_id: str
    attempt: int
    error: str
    retryable: bool
    delay: float | None
    kind: str = "attempt_failed"


@dataclass(frozen=True)
class ActionFinished:
    """An action completed, failed for good, or was skipped (`enabled: false`)."""

    run_id: str
    action_id: str
    status: str
    attempts: int
    duration_seconds: float
    error: str | None = None
    kind: str = "action_finished"


@dataclass(frozen=True)
class LogLine:
    """A log line from an action (`print`, request/response summaries in the sandbox)."""

    run_id: str
    action_id: str | None
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    kind: str = "log"


@dataclass(frozen=True)
class RunFinished:
    """A run ended: completed, failed, timeout or cancelled."""

    run_id: str
    status: str
    error: str | None
    failure_reason: str | None
    dead_letter_id: str | None
    duration_seconds: float
    kind: str = "run_finished"


Event = RunStarted | ActionStarted | AttemptFailed | ActionFinished | LogLine | RunFinished


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as a JSON object with its `event` kind first."""
    names = _EVENT_FIELDS.get(type(event))
    if names is None:
        names = _EVENT_FIELDS[type(event)] = tuple(f.name for f in dataclass_fields(event) if f.name != "kind")
    data: dict[str, Any] = {"event": event.kind}
    for name in names:
        value = getattr(event, name)
        kind = type(value)
        if kind is dict and all(type(v) in _SCALARS for v in value.values()):
            value = dict(value)  # a log line's flat fields
        elif kind not in _SCALARS:  # anything deeper: asdict's deep copy, as always
            data = asdict(event)
            return {"event": data.pop("kind"), **data}
        data[name] = value
    return data


_EVENT_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = frozenset({str, int, float, bool, type(None)})


# --- validation -----------------------------------------------------------------------------


def check_envelope(envelope: Envelope, registry: ActionRegistry | None = None) -> list[str]:
    """Problems visible before running (types, params, templates, ids), as `path: message` lines."""
    registry = registry or default_registry()
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, action in enumerate(envelope.actions):
        where = f"actions[{i}]"
        key = action.key
        if key in seen:
            problems.append(f"{where}.id: duplicate action id {key!r} (also actions[{seen[key]}])")
        seen.setdefault(key, i)
        if action.timeout is not None and action.timeout <= 0:
            problems.append(f"{where}.timeout: must be greater than 0 seconds")
        params_path = f"{where}.{'config' if action.params is None and action.config is not None else 'params'}"
        if action.type not in registry:
            problems.append(f"{where}.type: unknown action type {action.type!r}; known types: {', '.join(registry.names())}")
        else:
            problems.extend(registry.get(action.type).check(action.arguments, params_path))
        problems.extend(check_references(action.arguments, params_path))
    timeout = getattr(envelope, "timeout", None)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        problems.append("timeout: must be a number of seconds greater than 0")
    return problems


def load_envelope(data: Any, registry: ActionRegistry | None = None) -> Envelope:
    """Validate an envelope document before anything runs; PolicyError lists `path: message` lines."""
    if not isinstance(data, Mapping):
        raise _policy_error(["(document): an envelope must be a JSON object with intent and actions"])
    problems: list[str] = []  # strict type checks the lenient model would let through
    intent = data.get("intent")
    if isinstance(intent, Mapping):
        problems.extend(check_policy_types(intent.get("retry"), "intent.retry"))
    actions = data.get("actions")
    if isinstance(actions, list):
        for i, raw in enumerate(actions):
            if isinstance(raw, Mapping):
                problems.extend(check_policy_types(raw.get("retry"), f"actions[{i}].retry"))
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        reported = {p.split(": ")[0] for p in problems}
        problems.extend(p for p in validation_messages(exc) if p.split(": ")[0] not in reported)
        raise _policy_error(problems) from None
    problems.extend(check_envelope(envelope, registry))
    if problems:
        raise _policy_error(problems)
    return envelope


def _policy_error(problems: list[str]) -> PolicyError:
    return policy_error(problems, "invalid envelope")


# --- outcome --------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """What a run did: its status, context, and (when it failed) why and the dead-letter entry."""

    run_id: str
    status: str
    context: ExecutionContext
    start_time: str
    end_time: str
    error: str | None = None
    failure_reason: str | None = None
    failed_action: Action | None = None
    error_details: ErrorDetails | None = None
    errors: list[str] = field(default_factory=list)
    dead_letter: DeadLetterEntry | None = None
    sandbox_mode: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"

    def execution_result(self) -> ExecutionResult:
        """The spec's `execution_result`."""
        return ExecutionResult.of(self)


class _Cancelled(Exception):
    pass


class _ActionFailed(Exception):
    def __init__(self, action: Action, error: str, reason: str, errors: list[str], attempts: int, policy: EffectivePolicy):
        super().__init__(error)
        self.action, self.error, self.reason = action, error, reason
        self.errors, self.attempts, self.policy = errors, attempts, policy


def new_run_id() -> str:
    """`run_` + nanoseconds since the epoch, as the specification's run ids."""
    return f"run_{time.time_ns()}"


# --- the engine -----------------------------------------------------------------------------


class Engine:
    """Runs envelopes. Pass `sleep=waits.append`, a fixed `now` and a seeded `rng` in tests."""

    def __init__(
        self,
        settings: Any = None,
        *,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        http_transport: Any = None,
        registry: ActionRegistry | None = None,
        dead_letter: Callable[[DeadLetterEntry], None] | Any = None,
        environ: Mapping[str, str] | None = None,
    ):
        if settings is None:
            from mova_core.settings import Settings

            settings = Settings()
        self.settings = settings
        self._sleep = sleep
        self.now = now or utcnow
        self.rng = rng or random.Random()
        self.http_transport = http_transport
        self.registry = registry or default_registry()
        self._dead_letter = dead_letter
        self.environ = environ

    # -- public ---------------------------------------------------------------------------

    def run(
        self,
        envelope: Envelope | Mapping[str, Any],
        *,
        run_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        sandbox: Sandbox | None = None,
        secrets: Mapping[str, Any] | None = None,
        on_event: Callable[[Event], None] | None = None,
        dead_letter: bool = True,
        record: bool = True,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        validate: bool = True,
        run_info: Mapping[str, Any] | None = None,
        on_finish: Callable[[RunOutcome], None] | None = None,
    ) -> RunOutcome:
        """Run every action in order; on failure write one dead-letter entry (unless disabled).

        `variables` replaces the envelope's variables (a retry passes the original run's);
        `secrets` are run-time overrides for a production run; a `sandbox` context replaces both
        the production defaults and `secrets`. KeyboardInterrupt is recorded as `cancelled` and
        re-raised; setting `cancel` stops the run the same way and returns its outcome.
        `on_finish(outcome)` runs before the final record and `RunFinished` are written (a retry
        releases its claim there), so whoever follows the run sees it end only once all is done.
        """
        if isinstance(envelope, Mapping):
            envelope = load_envelope(envelope, self.registry)
        elif validate:
            problems = check_envelope(envelope, self.registry)
            if problems:
                raise _policy_error(problems)
        env_secrets = secrets_from_env(self.environ)
        if sandbox is None:
            sandbox = Sandbox.production(
                self.settings, inline_secrets=envelope.secrets, override_secrets=secrets, env_secrets=env_secrets
            )
        run = _Run(self, envelope, run_id or new_run_id(), variables, sandbox, on_event, timeout, cancel, run_info,
                   env_secrets)
        run.on_finish = on_finish
        return run.execute(dead_letter=dead_letter, record=record)

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        """Wait through the injected sleep; a set `cancel` event interrupts a real wait."""
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
        elif cancel is not None:
            cancel.wait(seconds)
        else:
            time.sleep(seconds)
        if cancel is not None and cancel.is_set():
            raise _Cancelled()

    def write_dead_letter(self, entry: DeadLetterEntry, doc: dict[str, Any] | None = None) -> None:
        """Hand the entry to the configured sink: a callable, a store, or the default FileStore.

        `doc`: the JSON object `entry` was validated from (what its dump would give), which the
        file store then writes as it is instead of dumping the entry again.
        """
        from mova_core.store.files import (
            FileStore,  # the lead's store; imported late to keep this module light
        )

        sink = self._dead_letter
        if sink is None:
            sink = FileStore(self.settings.dlq_path)
            self._dead_letter = sink
        if isinstance(sink, FileStore):
            sink.create(entry, doc=doc)
        elif hasattr(sink, "create"):
            sink.create(entry)
        else:
            sink(entry)


class _Run:
    """One execution of an envelope (state kept off the Engine so an Engine can run many)."""

    def __init__(self, engine, envelope, run_id, variables, sandbox, on_event, timeout, cancel, run_info, env_secrets):
        self.engine = engine
        self.envelope: Envelope = envelope
        self.run_id = run_id
        self.sandbox: Sandbox = sandbox
        self.on_event = on_event
        self.cancel = cancel
        self.info = dict(run_info or {})
        inline = (envelope.secrets or {}).values()
        # Every secret the run could see, whichever the sandbox uses: none may reach a file.
        self.redactor = Redactor([*sandbox.secrets.values(), *inline, *env_secrets.values()])
        self.variables: dict[str, Any] = dict(variables if variables is not None else (envelope.variables or {}))
        self.outputs: dict[str, Any] = {}
        self.started = engine.now()
        wf_timeout = timeout if timeout is not None else getattr(envelope, "timeout", None)
        self.deadline = self.started + timedelta(seconds=float(wf_timeout)) if wf_timeout else None
        self.context = ExecutionContext(
            run_id=run_id,
            workflow_id=envelope.intent.name,
            status="running",
            start_time=format_time(self.started),
            variables=self.variables,
        )
        self.store: RunStore | None = None
        self.log_file: RunLog | None = None
        self.on_finish: Callable[[RunOutcome], None] | None = None
        #: Set once the run's record or log could not be written (a full disk): the run goes on.
        self.records_failed: StoreError | None = None

    # -- plumbing -------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.log_file is not None:
            try:
                self.log_file.append(event_to_dict(event))
            except StoreError as exc:
                self.records_lost(exc)
        if self.on_event is not None:
            self.on_event(event)

    def records_lost(self, exc: StoreError) -> None:
        """The run's log or record cannot be written: say so once, and go on.

        Its actions may already have had effects, so stopping half-way would lose more than a log:
        the outcome and, for a failure, the dead-letter entry matter most.
        """
        first = self.records_failed is None
        self.records_failed = exc
        if first and self.on_event is not None:
            self.on_event(LogLine(self.run_id, None, "warning", f"the run's record is not being kept up to date: {exc}"))

    def log(self, action_id: str | None, message: str, *, level: str = "info", detail: bool = False, **fields) -> None:
        if detail and not self.sandbox.detailed_logging:
            return
        fields = self.redactor(fields)
        self.emit(LogLine(self.run_id, action_id, level, self.redactor.text(str(message)), fields))

    def record(self, status: str, context: dict[str, Any] | None = None, **extra) -> None:
        """Write the run record; `context`: the context as JSON, already redacted (else dumped here)."""
        if self.store is None:
            return
        if context is None:
            ctx = self.context.model_copy(update={"status": status, "variables": dict(self.variables)})
            context = self.redactor(ctx.model_dump(mode="json"))
        fields: dict[str, Any] = {k: v for k, v in self.info.items() if k in RunRecord.model_fields and k != "context"}
        fields.update(
            run_id=self.run_id,
            status=status,
            sandbox_mode=self.sandbox.sandbox_mode,
            workflow=self.envelope.intent.name,
            start_time=format_time(self.started),
            updated_at=format_time(self.engine.now()),
            pid=os.getpid(),
            **extra,
        )
        try:
            self.store.save(RunRecord(**fields), context=context)
        except StoreError as exc:
            if status == "running" and self.records_failed is None and not self.context.results:
                raise  # nothing has run yet: refuse to start rather than run without a record
            self.records_lost(exc)

    def elapsed(self) -> float:
        return max(0.0, (self.engine.now() - self.started).total_seconds())

    # -- the run --------------------------------------------------------------------------

    def execute(self, *, dead_letter: bool, record: bool) -> RunOutcome:
        if record:
            self.store = RunStore(self.sandbox.records_dir, self.redactor)
            self.log_file = self.store.open_log(self.run_id)
        try:
            return self._execute(dead_letter)
        finally:
            if self.log_file is not None:
                self.log_file.close()

    def _execute(self, dead_letter: bool) -> RunOutcome:
        if self.store is not None:
            self.record("running")
        self.emit(RunStarted(self.run_id, self.envelope.intent.name, self.sandbox.sandbox_mode, len(self.envelope.actions)))
        if self.sandbox.sandbox_mode:
            self.log(
                None, "sandbox run", detail=True,
                allowed_hosts=["loopback", *sorted(self.sandbox.allowed_hosts)],
                secret_names=sorted(self.sandbox.secrets), variables=self.variables,
            )
        try:
            for action in self.envelope.actions:
                self.run_action(action)
        except _ActionFailed as failure:
            return self.finish_failed(failure, dead_letter)
        except _Cancelled:
            return self.finish_cancelled()
        except KeyboardInterrupt:
            self.finish_cancelled()
            raise
        return self.finish("completed")

    def run_action(self, action: Action) -> None:
        key = action.key
        if not action.is_enabled:
            self.context.results[key] = ActionResult(action_id=key, action_name=key, type=action.type, status="skipped")
            self.emit(ActionFinished(self.run_id, key, "skipped", 0, 0.0))
            return
        policy = resolve_policy(action.retry, self.envelope.intent.retry, self.engine.settings)
        began = self.engine.now()
        deadline = self.deadline
        if action.timeout:
            action_deadline = began + timedelta(seconds=float(action.timeout))
            deadline = min(deadline, action_deadline) if deadline else action_deadline
        errors: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            if self.cancel is not None and self.cancel.is_set():
                raise _Cancelled()
            self.emit(ActionStarted(self.run_id, key, action.type, attempt, policy.max_attempts))
            try:
                output = self.attempt(action, attempt, deadline)
            except ActionError as exc:
                message = self.redactor.text(exc.message)
                errors.append(f"Attempt {attempt}: {message}")
                reason = None if exc.retryable else (exc.reason or "non_retryable_error")
                if reason is None and deadline is not None and self.engine.now() >= deadline:
                    reason = "timeout"
                if reason is None and attempt >= policy.max_attempts:
                    reason = "max_retries_exceeded"
                delay = None
                if reason is None:
                    delay = (
                        retry_after_delay(policy, exc.retry_after)
                        if exc.retry_after is not None
                        else compute_delay(policy, attempt, self.engine.rng)
                    )
                    if deadline is not None and self.engine.now() + timedelta(seconds=delay) >= deadline:
                        reason = "timeout"
                        message = f"{message} (next attempt in {delay:g}s would pass the timeout)"
                        delay = None
                self.emit(AttemptFailed(self.run_id, key, attempt, message, reason is None, delay))
                if reason is not None:
                    self.fail_action(action, began, attempt, errors, message)
                    raise _ActionFailed(action, message, reason, errors, attempt, policy) from None
                self.engine.sleep(delay, self.cancel)
                continue
            duration = (self.engine.now() - began).total_seconds()
            self.outputs[key] = output
            self.context.results[key] = ActionResult(
                action_id=key, action_name=key, type=action.type, status="completed",
                start_time=format_time(began), end_time=format_time(self.engine.now()),
                output=output, attempts=attempt, **({"errors": errors} if errors else {}),
            )
            self.emit(ActionFinished(self.run_id, key, "completed", attempt, duration))
            return

    def attempt(self, action: Action, attempt: int, deadline: datetime | None) -> Any:
        """One attempt: look the type up, render params, validate, run. ActionError on failure."""
        key = action.key
        if deadline is not None and self.engine.now() >= deadline:
            raise ActionTimeout(f"action {key!r} timed out before attempt {attempt}")
        try:
            atype = self.engine.registry.get(action.type)
            scope = {
                "variables": self.variables,
                "secrets": self.sandbox.secrets,
                "payload": self.envelope.payload,
                "results": self.outputs,
            }
            rendered = render(action.arguments, scope)
        except TemplateError as exc:
            raise NonRetryableError(str(exc)) from None
        self.log(key, "params", detail=True, attempt=attempt, params=rendered)
        params = atype.parse(rendered, f"{key}.params")
        ctx = ActionContext(
            run_id=self.run_id, action_id=key, action_type=action.type, attempt=attempt,
            variables=self.variables, sandbox=self.sandbox,
            sleep=lambda s: self.engine.sleep(s, self.cancel), now=self.engine.now,
            log=lambda message, **kw: self.log(key, message, **kw),
            redactor=self.redactor, deadline=deadline, http_transport=self.engine.http_transport,
        )
        t0 = time.perf_counter()
        try:
            output = atype.run(params, ctx)
        except (ActionError, KeyboardInterrupt, _Cancelled):
            raise
        except Exception as exc:  # a bug in a plugin action: report it, let the policy decide
            raise ActionError(f"{type(exc).__name__} in {action.type}: {exc}") from None
        finally:
            self.log(key, "attempt timing", detail=True, attempt=attempt, seconds=round(time.perf_counter() - t0, 4))
        return output  # kept whole in memory for later templates; redacted when written

    def fail_action(self, action: Action, began: datetime, attempts: int, errors: list[str], message: str) -> None:
        key = action.key
        self.context.results[key] = ActionResult(
            action_id=key, action_name=key, type=action.type, status="failed",
            start_time=format_time(began), end_time=format_time(self.engine.now()),
            error=message, attempts=attempts, errors=list(errors),
        )
        self.emit(ActionFinished(self.run_id, key, "failed", attempts, (self.engine.now() - began).total_seconds(), message))

    # -- endings --------------------------------------------------------------------------

    def finish(self, status: str, **extra) -> RunOutcome:
        end = self.engine.now()
        self.context.status = status
        self.context.end_time = format_time(end)
        self.context.variables = dict(self.variables)
        # The caller gets the redacted context: it is about to be shown or stored (the final record
        # below writes this very JSON: the context does not change after this point).
        shown_doc = self.redactor(self.context.model_dump(mode="json"))
        shown = ExecutionContext.model_validate(shown_doc)
        outcome = RunOutcome(
            run_id=self.run_id,
            status=status,
            context=shown,
            start_time=format_time(self.started),
            end_time=format_time(end),
            sandbox_mode=self.sandbox.sandbox_mode,
            **extra,
        )
        entry = outcome.dead_letter
        hook_error: BaseException | None = None
        if self.on_finish is not None:
            try:
                self.on_finish(outcome)
            except BaseException as exc:  # recorded below, then raised to the caller
                hook_error = exc
        error = outcome.error
        if hook_error is not None:
            error = self.redactor.text(f"{error + '; ' if error else ''}after the run: {type(hook_error).__name__}: {hook_error}")
        # The log line first: a follower stops reading once the record is final.
        self.emit(RunFinished(self.run_id, status, error, outcome.failure_reason, entry.id if entry else None, self.elapsed()))
        self.record(
            status,
            context=shown_doc,
            end_time=outcome.end_time,
            error=error,
            failure_reason=outcome.failure_reason,
            attempts=outcome.error_details.attempts if outcome.error_details else None,
            dead_letter_id=entry.id if entry else None,
        )
        if hook_error is not None:
            raise hook_error
        return outcome

    def finish_cancelled(self) -> RunOutcome:
        return self.finish("cancelled", error="cancelled", failure_reason="cancelled")

    def finish_failed(self, failure: _ActionFailed, dead_letter: bool) -> RunOutcome:
        failed = failure.action
        details = ErrorDetails(
            last_error=failure.error,
            error_history=list(failure.errors),
            failure_reason=failure.reason,
            attempts=failure.attempts,
            retry_policy=failure.policy.to_model(),
        )
        status = "timeout" if failure.reason == "timeout" else "failed"
        entry = None
        lost: StoreError | None = None
        if dead_letter:
            entry, doc = self.build_entry(failed, details)
            try:
                self.engine.write_dead_letter(entry, doc)
            except StoreError as exc:  # the run record, if it can be written, keeps what there is
                lost, entry = exc, None
        outcome = self.finish(
            status,
            error=failure.error if lost is None else f"{failure.error}; NOT dead-lettered: {lost}",
            failure_reason=failure.reason,
            failed_action=failed,
            error_details=details,
            errors=list(failure.errors),
            dead_letter=entry,
        )
        if lost is not None:
            kept = "" if self.store is None or self.records_failed else f" (its run record {self.run_id} keeps the context)"
            raise StoreError(f"run {self.run_id} {status}: {failure.error}; and it could not be dead-lettered: "
                             f"{lost}{kept}") from lost
        return outcome

    def build_entry(self, failed: Action, details: ErrorDetails) -> tuple[DeadLetterEntry, dict[str, Any]]:
        """The dead-letter entry in the specification's shape, redacted, and the JSON object it was validated from."""
        now = self.engine.now()
        context = self.context.model_copy(
            update={"status": "failed", "end_time": format_time(now), "variables": dict(self.variables)}
        )
        intent = self.envelope.intent
        entry = DeadLetterEntry(
            id=new_entry_id(),
            run_id=self.run_id,
            created_at=format_time(now),
            envelope=self.envelope,
            context=context,
            failed_action=failed,
            error_details=details,
            metadata=Metadata(source="executor", workflow_type=intent.name, tags=list(intent.tags) if intent.tags else None),
        )
        # Through JSON and back: what is stored is what the redactor let through, nothing else.
        doc = self.redactor(entry.model_dump(mode="json"))
        return DeadLetterEntry.model_validate(doc), doc
