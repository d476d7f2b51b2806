"""Retrying a dead-letter entry: claim it, run its envelope (sandbox or production), release it.

1. The envelope is checked (an invalid one is refused before anything changes).
2. The entry is claimed atomically (`active` → `retrying`, `retry_count` + 1, a lease), so two
   processes cannot both retry it; the loser gets AlreadyRetrying.
3. The run's variables are the original run's, then the override variables, plus
   `__retry_metadata` = {original_run_id, dlq_id, sandbox_mode, retry_count}.
4. The outcome releases the claim: a production success → `resolved`; anything else → `active`,
   with the retry's errors appended to `error_details.error_history`. A sandbox retry never
   resolves. Every retry is appended to `retry_history` (override names, never secret values)
   and audited by the service. A retry never writes a new dead-letter entry.

With `wait=False` the claim is taken here and the run continues in a detached
`python -m mova_core.ops.retry_worker` process; follow it with `mova_core.store.runs.follow_log`.
Override secrets reach that process through a pipe, never through a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mova_core.engine.context import RunContext, secrets_from_env
from mova_core.engine.engine import Engine, RunRequest
from mova_core.engine.envelopes import check_envelope
from mova_core.engine.events import Event, RunFinished
from mova_core.engine.outcome import RunOutcome
from mova_core.model.attempts import attempt_line, attempt_message
from mova_core.model.entry import (
    DeadLetterEntry,
    RetryOverrides,
    RetryRecord,
    RetryResponse,
)
from mova_core.model.errors import InvalidInput, MovaError, StoreError
from mova_core.model.policy import policy_error
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord
from mova_core.model.status import EntryStatus, RetryOutcome, RunStatus
from mova_core.settings import Settings
from mova_core.store.runs import RunStore, store_for
from mova_core.timeutil import format_time

MESSAGE = "DLQ entry retry initiated"
RETRY_METADATA = "__retry_metadata"

OnEvent = Callable[[Event], None]


class RetryService(Protocol):
    """What a retry uses of the operations service; `DLQService` is one.

    A protocol rather than `DLQService` itself: the service imports this module to retry, and
    naming it back here would close an import cycle.
    """

    settings: Settings
    clock: Callable[[], datetime]
    actor: str

    def get(self, id_or_prefix: str) -> DeadLetterEntry: ...

    def claim(self, id_or_prefix: str, retry_run_id: str, sandbox_mode: bool,
              owner: str | None = None) -> DeadLetterEntry: ...

    def renew_lease(self, id_or_prefix: str, retry_run_id: str) -> DeadLetterEntry: ...

    def finish_retry(self, id_or_prefix: str, retry_run_id: str, new_status: EntryStatus | str,
                     record: RetryRecord, extra_errors: list[str] | None = None) -> DeadLetterEntry: ...


def make_retry_run_id(original_run_id: str, when: datetime) -> str:
    """`retry_<original run id>_<unix seconds>`, as the specification shows."""
    return f"retry_{original_run_id}_{int(when.timestamp())}"


def unique_retry_run_id(settings: Settings, original_run_id: str, when: datetime) -> str:
    """The spec's retry run id; `_2`, `_3`, ... appended if a retry in the same second has its name."""
    base = make_retry_run_id(original_run_id, when)
    candidate, n = base, 1
    while any(store_for(settings, mode).exists(candidate) for mode in (False, True)):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def coerce_overrides(overrides: RetryOverrides | Mapping[str, Any] | None) -> RetryOverrides:
    """Overrides from a model, a plain dict (`{"variables": ..., "secrets": ...}`) or None."""
    if overrides is None:
        return RetryOverrides()
    if isinstance(overrides, RetryOverrides):
        return overrides
    if not isinstance(overrides, Mapping):
        raise InvalidInput("overrides must be an object with `variables` and/or `secrets`")
    unknown = set(overrides) - {"variables", "secrets"}
    if unknown:
        raise InvalidInput(f"unknown overrides key(s): {', '.join(sorted(unknown))}; use variables and secrets")
    for key in ("variables", "secrets"):
        if overrides.get(key) is not None and not isinstance(overrides.get(key), Mapping):
            raise InvalidInput(f"overrides.{key} must be an object of NAME: value")
    return RetryOverrides(variables=dict(overrides.get("variables") or {}), secrets=dict(overrides.get("secrets") or {}))


def retry_variables(entry: DeadLetterEntry, overrides: RetryOverrides, sandbox_mode: bool) -> dict[str, Any]:
    """The original run's variables, then the overrides, plus `__retry_metadata`."""
    variables = {k: v for k, v in (entry.context.variables or {}).items() if k != RETRY_METADATA}
    variables.update(overrides.variables)
    variables[RETRY_METADATA] = {
        "original_run_id": entry.run_id,
        "dlq_id": entry.id,
        "sandbox_mode": sandbox_mode,
        "retry_count": entry.metadata.retry_count,
    }
    return variables


class Retrier:
    """Retries entries through the service: checks, claims, runs (or starts in the background), releases.

    `engine`: the engine to run with (tests pass one on a fake clock); by default one on the
    service's clock that keeps run records and never dead-letters.
    """

    def __init__(self, service: RetryService, engine: Engine | None = None):
        self.service = service
        self.settings = service.settings
        self.clock = service.clock
        self.engine = engine or Engine(self.settings, now=self.clock, dead_letters=None, run_records=RunStore)

    def retry(self, entry_id: str, *, sandbox_mode: bool = True,
              overrides: RetryOverrides | Mapping[str, Any] | None = None, wait: bool = True,
              on_event: OnEvent | None = None, cancel: threading.Event | None = None) -> RetryResponse:
        """Claim and retry an entry; with `wait=False` the run continues in a background process.

        `cancel` stops a run here (`wait=True`) at its next step, its waits cut short.
        """
        overrides = coerce_overrides(overrides)
        entry = self.service.get(entry_id)
        self.check_retryable(entry)
        retry_run_id = unique_retry_run_id(self.settings, entry.run_id, self.clock())
        claimed = self.service.claim(entry.id, retry_run_id, sandbox_mode)
        self.close_abandoned_run(claimed, retry_run_id)
        if not wait:
            self.start_background(claimed, retry_run_id, sandbox_mode, overrides)
            return RetryResponse(message=MESSAGE, dlq_id=claimed.id, retry_run_id=retry_run_id,
                                 sandbox_mode=sandbox_mode)
        return self.run_claimed(claimed, retry_run_id, sandbox_mode, overrides, on_event, cancel)

    def check_retryable(self, entry: DeadLetterEntry) -> None:
        """PolicyError if the stored envelope would fail the same way again."""
        problems = check_envelope(entry.envelope, self.engine.registry)
        if problems:
            raise policy_error(problems, f"cannot retry {entry.id}: its envelope would fail the same way again")

    def close_abandoned_run(self, entry: DeadLetterEntry, retry_run_id: str) -> None:
        """After taking over a stale lease: the dead retry's run record, left `running`, is closed as failed.

        Without this, `mova dlq show` of the old run and anyone following its log would wait forever.
        Best effort: a record that is missing (another tool's retry) or cannot be written is left as is.
        """
        history = entry.retry_history or []
        if not history or history[-1].outcome != RetryOutcome.abandoned or history[-1].retry_run_id == retry_run_id:
            return
        dead = history[-1]
        try:
            runs = store_for(self.settings, dead.sandbox_mode)
            record = runs.load(dead.retry_run_id)
            if record.finished:
                return
            now = format_time(self.clock())
            runs.save(record.model_copy(update={"status": RunStatus.failed.value, "error": f"abandoned: {dead.error}",
                                                "failure_reason": "abandoned", "end_time": dead.end_time or now,
                                                "updated_at": now}))
        except (MovaError, OSError):
            return

    def context_for(self, entry: DeadLetterEntry, sandbox_mode: bool, overrides: RetryOverrides) -> RunContext:
        """The run context: a sandbox for a sandbox retry, production otherwise."""
        if sandbox_mode:
            return RunContext.sandbox(self.settings, override_variables=overrides.variables,
                                      override_secrets=overrides.secrets)
        return RunContext.production(self.settings, inline_secrets=entry.envelope.secrets,
                                     override_secrets=overrides.secrets,
                                     env_secrets=secrets_from_env(self.engine.environ))

    def run_claimed(self, entry: DeadLetterEntry, retry_run_id: str, sandbox_mode: bool,
                    overrides: RetryOverrides, on_event: OnEvent | None = None,
                    cancel: threading.Event | None = None) -> RetryResponse:
        """Run a claimed entry and release the claim with the outcome (whatever happens)."""
        context = self.context_for(entry, sandbox_mode, overrides)
        record = RetryRecord(
            retry_run_id=retry_run_id, sandbox_mode=sandbox_mode, start_time=format_time(self.engine.now()),
            override_variables=sorted(overrides.variables), override_secrets=sorted(overrides.secrets),
            actor=self.service.actor,
        )
        release = _Release(self, entry, record)
        request = RunRequest(
            run_id=retry_run_id,
            variables=retry_variables(entry, overrides, sandbox_mode),
            context=context,
            cancel=cancel,
            on_event=self.heartbeat(entry.id, retry_run_id, on_event),
            dead_letter=False,  # the entry already exists; a retry only updates it
            validate=False,  # checked before the claim
            record_fields={"dlq_id": entry.id, "original_run_id": entry.run_id,
                           "override_variables": record.override_variables,
                           "override_secrets": record.override_secrets},
            on_finish=release.with_outcome,  # the claim is released before the run is shown as finished
        )
        try:
            outcome = self.engine.run(entry.envelope, request)
        except BaseException as exc:
            release.after_crash(exc, Redactor([*context.secrets.values(), *overrides.secrets.values()]))
            raise
        return RetryResponse(message=MESSAGE, dlq_id=entry.id, retry_run_id=retry_run_id,
                             sandbox_mode=sandbox_mode, execution_result=outcome.execution_result())

    def heartbeat(self, entry_id: str, retry_run_id: str, on_event: OnEvent | None) -> OnEvent:
        """Renew the lease on progress events, a third of the lease at a time, so a long retry keeps it."""
        every = self.settings.lease_seconds / 3
        now = self.engine.now
        last = now()

        def handle(event: Event) -> None:
            nonlocal last
            current = now()
            if (current - last).total_seconds() >= every and not isinstance(event, RunFinished):
                last = current
                try:
                    self.service.renew_lease(entry_id, retry_run_id)
                except MovaError:
                    pass  # lost the lease (taken over as stale): the release will report it
            if on_event is not None:
                on_event(event)

        return handle

    def release(self, entry: DeadLetterEntry, record: RetryRecord, outcome: RetryOutcome, error: str | None,
                end_time: str, messages: list[str], attempts: int | None = None) -> None:
        """Give the entry back: resolved after a production success, active otherwise."""
        succeeded = outcome == RetryOutcome.completed
        new_status = EntryStatus.resolved if succeeded and not record.sandbox_mode else EntryStatus.active
        final = record.model_copy(update={"end_time": end_time, "outcome": outcome.value,
                                          "error": None if succeeded else error, "attempts": attempts})
        extra_errors: list[str] = []
        # A failed sandbox experiment is kept in retry_history only: the entry's own error (and so its
        # failure group) stays the production failure it was dead-lettered for.
        if not succeeded and not record.sandbox_mode:
            base = len(entry.error_details.error_history)
            note = f"production retry {record.retry_run_id}"
            extra_errors = [attempt_line(base + i, msg, note) for i, msg in enumerate(messages, 1)]
        try:
            self.service.finish_retry(entry.id, record.retry_run_id, new_status, final, extra_errors)
        except StoreError as exc:
            raise StoreError(f"{exc}; so {entry.id} stays retrying until its lease expires, then `mova dlq retry` "
                             "takes it over") from exc

    def start_background(self, entry: DeadLetterEntry, retry_run_id: str, sandbox_mode: bool,
                         overrides: RetryOverrides) -> int:
        """Start `python -m mova_core.ops.retry_worker` detached; the job (secrets included) goes through a pipe."""
        runs = store_for(self.settings, sandbox_mode, Redactor(overrides.secrets.values()))
        runs.save(RunRecord(
            run_id=retry_run_id, status=RunStatus.pending, sandbox_mode=sandbox_mode,
            workflow=entry.workflow_type, dlq_id=entry.id, original_run_id=entry.run_id,
            start_time=format_time(self.clock()), override_variables=sorted(overrides.variables),
            override_secrets=sorted(overrides.secrets),
        ))
        job = {
            "entry_id": entry.id,
            "retry_run_id": retry_run_id,
            "sandbox_mode": sandbox_mode,
            "overrides": {"variables": overrides.variables, "secrets": overrides.secrets},
            "settings": settings_payload(self.settings),
            "actor": self.service.actor,
        }
        try:
            return _spawn_worker(job)
        except OSError as exc:
            now = format_time(self.clock())
            record = RetryRecord(retry_run_id=retry_run_id, sandbox_mode=sandbox_mode, start_time=now,
                                 actor=self.service.actor, override_variables=sorted(overrides.variables),
                                 override_secrets=sorted(overrides.secrets))
            message = f"could not start the background retry: {exc}"
            self.release(entry, record, RetryOutcome.failed, message, now, [message])
            runs.save(RunRecord(run_id=retry_run_id, status=RunStatus.failed, sandbox_mode=sandbox_mode,
                                dlq_id=entry.id, original_run_id=entry.run_id, start_time=now, end_time=now,
                                error=message))
            raise MovaError(message) from None


class _Release:
    """Releases one claimed retry exactly once: with the run's outcome, or after the run crashed."""

    def __init__(self, retrier: Retrier, entry: DeadLetterEntry, record: RetryRecord):
        self.retrier, self.entry, self.record = retrier, entry, record
        self.done = False

    def with_outcome(self, outcome: RunOutcome) -> None:
        """The engine's `on_finish`: the run's own errors, without their `Attempt n:` prefixes."""
        self.done = True  # whatever happens next, never release twice
        messages = [attempt_message(line) for line in outcome.errors]
        if not outcome.succeeded and not messages:
            messages = [outcome.error or outcome.status]
        attempts = sum(r.attempts or 0 for r in outcome.context.results.values())
        self.retrier.release(self.entry, self.record, RetryOutcome(outcome.status), outcome.error, outcome.end_time,
                             messages, attempts=attempts or None)

    def after_crash(self, exc: BaseException, redactor: Redactor) -> None:
        """The run ended in an exception before releasing: Ctrl-C is a cancel; anything else (a bug, a
        store failure) a failure. Never leaves the claim dangling."""
        if self.done:
            return
        end = format_time(self.retrier.engine.now())
        if isinstance(exc, KeyboardInterrupt):
            self.retrier.release(self.entry, self.record, RetryOutcome.cancelled, "cancelled", end, ["cancelled"])
            return
        message = redactor.text(f"{type(exc).__name__}: {exc}")
        try:
            self.retrier.release(self.entry, self.record, RetryOutcome.failed, message, end, [message])
        except StoreError as release_exc:  # the disk is full: say both what failed and what it left
            raise StoreError(f"{redactor.text(str(exc))}; and {release_exc}") from exc


def settings_payload(settings: Settings) -> dict[str, Any]:
    """Settings for the worker process: paths made absolute, tokens left out (it needs none)."""
    data = settings.model_dump(mode="json", exclude={"api_token", "api_read_token"})
    for key, value in list(data.items()):
        if isinstance(getattr(settings, key, None), Path):
            data[key] = os.path.abspath(value)
    return data


def _spawn_worker(job: dict[str, Any]) -> int:
    """The detached worker process, given its job on stdin; its pid."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mova_core.ops.retry_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a traceback could quote a secret; the worker records errors itself
        start_new_session=True,  # survives the terminal closing and Ctrl-C in the parent
        close_fds=True,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    return proc.pid
