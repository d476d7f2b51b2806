"""The workflow engine: runs an envelope's actions in order, retrying each by its policy, and
dead-letters a workflow that fails.

Time and randomness are injected (`sleep`, `now`, `rng`), so tests record the waits instead of
sleeping. Where results go is injected too: a `DeadLetterSink` for the entry of a failed run and
`RunRecords` for the run records (`engine.sinks`); the operations layer passes the stores.

Failure reasons: `non_retryable_error` (HTTP 4xx other than 408/429, an invalid action config, an
unknown action type or template reference, a host the sandbox blocks), `max_retries_exceeded` (the
policy's attempts are spent), `timeout` (an action's `timeout`, seconds for the action including
its retries, or the workflow's `timeout`, seconds for the run).

Progress goes to an `on_event` callback as small dataclasses (`engine.events`), already redacted.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mova_core.engine.action_runner import ActionRunner
from mova_core.engine.actions import ActionRegistry, default_registry
from mova_core.engine.attempts import Clock
from mova_core.engine.cancel import CancelSignal
from mova_core.engine.context import RunContext, secrets_from_env
from mova_core.engine.envelopes import check_envelope, envelope_error, load_envelope
from mova_core.engine.events import Event
from mova_core.engine.journal import RunJournal
from mova_core.engine.outcome import RunOutcome
from mova_core.engine.run import Run
from mova_core.engine.sinks import DeadLetterSink, RunRecords
from mova_core.engine.state import RunState
from mova_core.model.entry import Envelope, ExecutionContext
from mova_core.model.redact import Redactor
from mova_core.model.status import RunStatus
from mova_core.settings import Settings
from mova_core.timeutil import format_time, utcnow

if TYPE_CHECKING:
    import httpx


def new_run_id() -> str:
    """`run_` + nanoseconds since the epoch, as the specification's run ids."""
    return f"run_{time.time_ns()}"


@dataclass(frozen=True)
class RunRequest:
    """How to run one envelope, beyond the envelope itself; every field has a default."""

    #: The run's id (a retry's is `retry_<original run id>_<seconds>`); a new `run_<ns>` if None.
    run_id: str | None = None
    #: Replaces the envelope's variables (a retry passes the original run's, with its overrides).
    variables: Mapping[str, Any] | None = None
    #: Production or sandbox; None: production, with `secrets` as the run-time override secrets.
    context: RunContext | None = None
    secrets: Mapping[str, Any] | None = None
    #: Seconds for the whole run (else the envelope's `timeout`); setting `cancel` stops the run
    #: (a caller's event, or a `CancelSignal` the run may also be stopped through with a reason).
    timeout: float | None = None
    cancel: threading.Event | CancelSignal | None = None
    #: Check the envelope first (a caller that already did says False).
    validate: bool = True
    #: Whether a failure is dead-lettered (a retry updates its entry instead).
    dead_letter: bool = True
    #: More fields of the run record (`dlq_id`, `original_run_id`, override names).
    record_fields: Mapping[str, Any] | None = None
    on_event: Callable[[Event], None] | None = None
    #: Called with the outcome before the final record and `RunFinished` are written.
    on_finish: Callable[[RunOutcome], None] | None = None


class Engine:
    """Runs envelopes. Pass `sleep=waits.append`, a fixed `now` and a seeded `rng` in tests.

    `dead_letters`: where the entry of a failed run goes (None: nowhere); `run_records`: opens the
    records of a run's directory (None: no run record or log is kept).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        dead_letters: DeadLetterSink | None,
        run_records: RunRecords | None,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        http_transport: httpx.BaseTransport | None = None,
        registry: ActionRegistry | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.settings = settings or Settings()
        self.dead_letters = dead_letters
        self.run_records = run_records
        self.sleep = sleep
        self.now = now or utcnow
        self.rng = rng or random.Random()
        self.http_transport = http_transport
        self.registry = registry or default_registry()
        self.environ = environ

    def run(self, envelope: Envelope | Mapping[str, Any], request: RunRequest | None = None) -> RunOutcome:
        """Run every action in order; a failure is dead-lettered (unless the request says not to).

        KeyboardInterrupt is recorded as `cancelled` and re-raised; a set `request.cancel` stops
        the run the same way and returns its outcome.
        """
        request = request or RunRequest()
        if isinstance(envelope, Mapping):
            envelope = load_envelope(envelope, self.registry)
        elif request.validate:
            problems = check_envelope(envelope, self.registry)
            if problems:
                raise envelope_error(problems)
        return self.prepare(envelope, request).execute()

    def prepare(self, envelope: Envelope, request: RunRequest) -> Run:
        """The run, set up and not yet started."""
        env_secrets = secrets_from_env(self.environ)
        context = request.context or RunContext.production(
            self.settings, inline_secrets=envelope.secrets, override_secrets=request.secrets, env_secrets=env_secrets)
        inline = (envelope.secrets or {}).values()
        # Every secret the run could see, whichever the context uses: none may reach a file.
        redactor = Redactor([*context.secrets.values(), *inline, *env_secrets.values()])
        state = self.initial_state(envelope, request, context)
        recorder = self.run_records(context.records_dir, redactor) if self.run_records is not None else None
        journal = RunJournal(state.run_id, recorder, redactor, on_event=request.on_event,
                             detailed=context.detailed_logging)
        clock = Clock(now=self.now, rng=self.rng, sleep=self.sleep, cancel=request.cancel)
        actions = ActionRunner(state, journal, clock, registry=self.registry, settings=self.settings,
                               http_transport=self.http_transport)
        return Run(state, journal, actions, dead_letters=self.dead_letters if request.dead_letter else None,
                   record_fields=request.record_fields, on_finish=request.on_finish)

    def initial_state(self, envelope: Envelope, request: RunRequest, context: RunContext) -> RunState:
        """The run's state before its first action."""
        run_id = request.run_id or new_run_id()
        variables = dict(request.variables if request.variables is not None else (envelope.variables or {}))
        started = self.now()
        timeout = request.timeout if request.timeout is not None else getattr(envelope, "timeout", None)
        execution = ExecutionContext(run_id=run_id, workflow_id=envelope.intent.name, status=RunStatus.running,
                                     start_time=format_time(started), variables=variables)
        return RunState(run_id=run_id, envelope=envelope, context=context, variables=variables,
                        execution=execution, started=started,
                        deadline=started + timedelta(seconds=float(timeout)) if timeout else None)
