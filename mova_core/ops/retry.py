"""Retrying a dead-letter entry: claim it, run its envelope (sandbox or production), release it.

1. The envelope is checked (an invalid one is refused before anything changes).
2. The entry is claimed atomically (`active` → `retrying`, `retry_count` + 1, a lease), so two
   processes cannot both retry it; the loser gets AlreadyRetrying.
3. While the run lives, its lease is renewed on a timer (`ops.lease`); a run that loses it (taken
   over after it expired) stops at its next step, recorded as cancelled, `lease lost`.
4. The run's variables are the original run's, then the override variables, plus
   `__retry_metadata` = {original_run_id, dlq_id, sandbox_mode, retry_count}.
5. The outcome releases the claim: a production success → `resolved`; anything else (a cancel
   too) → `active`. A sandbox retry never resolves. Every retry is appended to `retry_history`
   with its outcome, errors and attempts (override names, never secret values) and audited by
   the service; the entry's `error_details` stay the failure that dead-lettered it, so its
   fingerprint and failure group do not move. A retry never writes a new dead-letter entry.

With `wait=False` the claim is taken here (its lease says `queued`) and the run waits its turn in
the queue's background worker (`ops.retry_queue`): at most MOVA_MAX_BACKGROUND_RETRIES run at
once. Follow it with `mova_core.store.runs.follow_log`. Override secrets reach the run's process
through pipes and a socket, never through a file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mova_core.engine.cancel import CancelSignal
from mova_core.engine.context import RunContext, secrets_from_env
from mova_core.engine.engine import Engine, RunRequest
from mova_core.engine.envelopes import check_envelope
from mova_core.engine.events import Event
from mova_core.engine.outcome import RunOutcome
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
from mova_core.ops import retry_queue
from mova_core.ops.lease import LeaseKeeper, Timer, thread_timer
from mova_core.settings import Settings
from mova_core.store.runs import run_records, store_for
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
              owner: str | None = None, *, queued: bool = False) -> DeadLetterEntry: ...

    def renew_lease(self, id_or_prefix: str, retry_run_id: str, *, queued: bool = False) -> DeadLetterEntry: ...

    def finish_retry(self, id_or_prefix: str, retry_run_id: str, new_status: EntryStatus | str,
                     record: RetryRecord) -> DeadLetterEntry: ...

    def independent(self) -> RetryService: ...

    def close(self) -> None: ...


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
    """Retries entries through the service: checks, claims, runs (or queues in the background), releases.

    `engine`: the engine to run with (tests pass one on a fake clock); by default one on the
    service's clock that keeps run records and never dead-letters. `timer`: what renews a running
    retry's lease (tests pass one driven by their fake clock).
    """

    def __init__(self, service: RetryService, engine: Engine | None = None, *, timer: Timer = thread_timer):
        self.service = service
        self.settings = service.settings
        self.clock = service.clock
        self.engine = engine or Engine(self.settings, now=self.clock, dead_letters=None,
                                       run_records=run_records(self.settings))
        self.timer = timer

    def retry(self, entry_id: str, *, sandbox_mode: bool = True,
              overrides: RetryOverrides | Mapping[str, Any] | None = None, wait: bool = True,
              on_event: OnEvent | None = None, cancel: threading.Event | None = None) -> RetryResponse:
        """Claim and retry an entry; with `wait=False` the run is queued for the background.

        `cancel` stops a run here (`wait=True`) at its next step, its waits cut short.
        """
        overrides = coerce_overrides(overrides)
        entry = self.service.get(entry_id)
        self.check_retryable(entry)
        retry_run_id = unique_retry_run_id(self.settings, entry.run_id, self.clock())
        claimed = self.service.claim(entry.id, retry_run_id, sandbox_mode, queued=not wait)
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
        now = format_time(self.clock())
        try:
            store_for(self.settings, dead.sandbox_mode).close_failed(
                dead.retry_run_id, f"abandoned: {dead.error}", now, create=False,
                failure_reason="abandoned", end_time=dead.end_time or now)
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
        """Run a claimed entry, its lease kept, and release the claim with the outcome (whatever happens)."""
        context = self.context_for(entry, sandbox_mode, overrides)
        record = RetryRecord(
            retry_run_id=retry_run_id, sandbox_mode=sandbox_mode, start_time=format_time(self.engine.now()),
            override_variables=sorted(overrides.variables), override_secrets=sorted(overrides.secrets),
            actor=self.service.actor,
        )
        signal = CancelSignal(cancel)
        with self.lease_kept(entry.id, retry_run_id, signal) as keeper:
            release = _Release(self, entry, record, keeper)
            request = RunRequest(
                run_id=retry_run_id,
                variables=retry_variables(entry, overrides, sandbox_mode),
                context=context,
                cancel=signal,
                on_event=on_event,
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

    @contextmanager
    def lease_kept(self, entry_id: str, retry_run_id: str, signal: CancelSignal) -> Iterator[LeaseKeeper]:
        """The lease renewed a third of the lease at a time for as long as the block runs."""
        renewers: list[RetryService] = []

        def renew() -> None:
            if not renewers:  # its own store connection, made at the first renewal: they run on the timer's thread
                renewers.append(self.service.independent())
            renewers[0].renew_lease(entry_id, retry_run_id)

        keeper = LeaseKeeper(renew, signal, every=self.settings.lease_seconds / 3, now=self.clock,
                             lease_seconds=self.settings.lease_seconds, timer=self.timer)
        try:
            yield keeper.start()
        finally:
            keeper.stop()
            for renewer in renewers:
                renewer.close()

    def release(self, entry: DeadLetterEntry, record: RetryRecord, outcome: RetryOutcome, error: str | None,
                end_time: str, *, errors: list[str] | None = None, failure_reason: str | None = None,
                attempts: int | None = None) -> None:
        """Give the entry back, the retry recorded: resolved after a production success, active otherwise."""
        succeeded = outcome == RetryOutcome.completed
        new_status = EntryStatus.resolved if succeeded and not record.sandbox_mode else EntryStatus.active
        update: dict[str, Any] = {"end_time": end_time, "outcome": outcome.value,
                                  "error": None if succeeded else error, "attempts": attempts}
        if not succeeded:
            update.update({k: v for k, v in (("failure_reason", failure_reason), ("errors", errors)) if v})
        try:
            self.service.finish_retry(entry.id, record.retry_run_id, new_status, record.model_copy(update=update))
        except StoreError as exc:
            raise StoreError(f"{exc}; so {entry.id} stays retrying until its lease expires, then `mova dlq retry` "
                             "takes it over") from exc

    def start_background(self, entry: DeadLetterEntry, retry_run_id: str, sandbox_mode: bool,
                         overrides: RetryOverrides) -> None:
        """Queue the run for the background (`retry_queue`); the job, secrets included, never touches a file."""
        runs = store_for(self.settings, sandbox_mode, Redactor(overrides.secrets.values()))
        runs.save(RunRecord(
            run_id=retry_run_id, status=RunStatus.queued, sandbox_mode=sandbox_mode,
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
            retry_queue.submit(job, retry_queue.spawn)
        except OSError as exc:
            message = f"could not start the background retry: {exc}"
            self.fail_unstarted(entry.id, retry_run_id, sandbox_mode, overrides.variables, overrides.secrets, message)
            raise MovaError(message) from None

    def fail_unstarted(self, entry_id: str, retry_run_id: str, sandbox_mode: bool, variable_names: Iterable[str],
                       secret_names: Iterable[str], message: str) -> None:
        """A background retry that cannot run: its claim released as failed (while it is still its
        own) and its run record closed, with `message`."""
        now = format_time(self.clock())
        record = RetryRecord(retry_run_id=retry_run_id, sandbox_mode=sandbox_mode, start_time=now,
                             actor=self.service.actor, override_variables=sorted(variable_names),
                             override_secrets=sorted(secret_names))
        try:
            entry = self.service.get(entry_id)
            lease = entry.metadata.lease
            if lease is not None and lease.retry_run_id == retry_run_id:
                self.release(entry, record, RetryOutcome.failed, message, now, errors=[message])
        finally:
            store_for(self.settings, sandbox_mode).close_failed(retry_run_id, message, now, dlq_id=entry_id,
                                                                sandbox_mode=sandbox_mode)


class _Release:
    """Releases one claimed retry exactly once: with the run's outcome, or after the run crashed.

    A run whose lease was lost releases nothing: the entry is no longer its own (its run record
    says so).
    """

    def __init__(self, retrier: Retrier, entry: DeadLetterEntry, record: RetryRecord, keeper: LeaseKeeper):
        self.retrier, self.entry, self.record, self.keeper = retrier, entry, record, keeper
        self.done = False

    def with_outcome(self, outcome: RunOutcome) -> None:
        """The engine's `on_finish`: the retry's outcome, errors and attempts into its record."""
        self.done = True  # whatever happens next, never release twice
        self.keeper.stop()  # no renewal after the release
        if self.keeper.lost is not None:
            return
        errors = list(outcome.errors)
        attempts = sum(r.attempts or 0 for r in outcome.context.results.values())
        self.retrier.release(self.entry, self.record, RetryOutcome(outcome.status), outcome.error, outcome.end_time,
                             errors=errors, failure_reason=outcome.failure_reason, attempts=attempts or None)

    def after_crash(self, exc: BaseException, redactor: Redactor) -> None:
        """The run ended in an exception before releasing: Ctrl-C is a cancel; anything else (a bug, a
        store failure) a failure. Never leaves the claim dangling."""
        if self.done or self.keeper.lost is not None:
            return
        self.keeper.stop()
        end = format_time(self.retrier.engine.now())
        if isinstance(exc, KeyboardInterrupt):
            self.retrier.release(self.entry, self.record, RetryOutcome.cancelled, "cancelled", end,
                                 failure_reason="cancelled")
            return
        message = redactor.text(f"{type(exc).__name__}: {exc}")
        try:
            self.retrier.release(self.entry, self.record, RetryOutcome.failed, message, end, errors=[message])
        except StoreError as release_exc:  # the disk is full: say both what failed and what it left
            raise StoreError(f"{redactor.text(str(exc))}; and {release_exc}") from exc


def settings_payload(settings: Settings) -> dict[str, Any]:
    """Settings for the worker process: paths made absolute, tokens left out (it needs none), a shared
    store's URL in full (it travels as override secrets do: through pipes and sockets, never to disk)."""
    data = settings.model_dump(mode="json", exclude={"api_token", "api_read_token", "store_url"})
    if settings.store_url is not None:
        data["store_url"] = settings.store_url.get_secret_value()
    for key, value in list(data.items()):
        if isinstance(getattr(settings, key, None), Path):
            data[key] = os.path.abspath(value)
    return data
