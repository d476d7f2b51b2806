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
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from mova_core.engine.context import Sandbox
from mova_core.engine.engine import (
    Engine,
    Event,
    RunFinished,
    RunOutcome,
    check_envelope,
)
from mova_core.model.entry import (
    DeadLetterEntry,
    EntryStatus,
    ExecutionResult,
    RetryOverrides,
    RetryRecord,
    RetryResponse,
)
from mova_core.model.errors import InvalidInput, MovaError, StoreError
from mova_core.model.policy import policy_error
from mova_core.model.redact import Redactor
from mova_core.store.runs import RunRecord, store_for
from mova_core.timeutil import format_time, utcnow

MESSAGE = "DLQ entry retry initiated"
RETRY_METADATA = "__retry_metadata"


def make_retry_run_id(original_run_id: str, when: datetime) -> str:
    """`retry_<original run id>_<unix seconds>`, as the specification shows."""
    return f"retry_{original_run_id}_{int(when.timestamp())}"


def unique_retry_run_id(settings: Any, original_run_id: str, when: datetime) -> str:
    """The spec's retry run id; `_2`, `_3`, ... appended if a retry in the same second has its name."""
    base = make_retry_run_id(original_run_id, when)
    taken = lambda rid: any(store_for(settings, mode).exists(rid) for mode in (False, True))  # noqa: E731
    candidate, n = base, 1
    while taken(candidate):
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


def build_context(
    settings: Any,
    entry: DeadLetterEntry,
    sandbox_mode: bool,
    overrides: RetryOverrides,
    environ: Mapping[str, str] | None = None,
) -> Sandbox:
    """The run context: isolated for a sandbox retry, production otherwise."""
    if sandbox_mode:
        return Sandbox.isolated(settings, override_variables=overrides.variables, override_secrets=overrides.secrets)
    return Sandbox.production(
        settings, inline_secrets=entry.envelope.secrets, override_secrets=overrides.secrets, environ=environ
    )


def _check_retryable(entry: DeadLetterEntry, engine: Engine | None) -> None:
    problems = check_envelope(entry.envelope, engine.registry if engine else None)
    if problems:
        raise policy_error(problems, f"cannot retry {entry.id}: its envelope would fail the same way again")


def retry_entry(
    service: Any,
    entry_id: str,
    sandbox_mode: bool = True,
    overrides: RetryOverrides | Mapping[str, Any] | None = None,
    wait: bool = True,
    on_event: Callable[[Event], None] | None = None,
    *,
    engine: Engine | None = None,
    environ: Mapping[str, str] | None = None,
) -> RetryResponse:
    """Claim and retry an entry; with `wait=False` the run continues in a background process."""
    overrides = coerce_overrides(overrides)
    clock = getattr(service, "clock", None) or utcnow
    entry = service.get(entry_id)
    _check_retryable(entry, engine)
    retry_run_id = unique_retry_run_id(service.settings, entry.run_id, clock())
    claimed = service.claim(entry.id, retry_run_id, sandbox_mode)
    close_abandoned_run(service.settings, claimed, retry_run_id, clock)
    if not wait:
        start_background(service, claimed, retry_run_id, sandbox_mode, overrides)
        return RetryResponse(message=MESSAGE, dlq_id=claimed.id, retry_run_id=retry_run_id, sandbox_mode=sandbox_mode)
    return run_claimed(service, claimed, retry_run_id, sandbox_mode, overrides, on_event, engine=engine, environ=environ)


def close_abandoned_run(settings: Any, entry: DeadLetterEntry, retry_run_id: str, clock: Callable[[], datetime]) -> None:
    """After taking over a stale lease: the dead retry's run record, left `running`, is closed as failed.

    Without this, `mova dlq show` of the old run and anyone following its log would wait forever.
    Best effort: a record that is missing (another tool's retry) or cannot be written is left as is.
    """
    history = entry.retry_history or []
    if not history or history[-1].outcome != "abandoned" or history[-1].retry_run_id == retry_run_id:
        return
    dead = history[-1]
    try:
        runs = store_for(settings, dead.sandbox_mode)
        record = runs.load(dead.retry_run_id)
        if record.finished:
            return
        now = format_time(clock())
        runs.save(record.model_copy(update={"status": "failed", "error": f"abandoned: {dead.error}",
                                            "failure_reason": "abandoned", "end_time": dead.end_time or now,
                                            "updated_at": now}))
    except (MovaError, OSError):
        return


def run_claimed(
    service: Any,
    entry: DeadLetterEntry,
    retry_run_id: str,
    sandbox_mode: bool,
    overrides: RetryOverrides,
    on_event: Callable[[Event], None] | None = None,
    *,
    engine: Engine | None = None,
    environ: Mapping[str, str] | None = None,
) -> RetryResponse:
    """Run a claimed entry and release the claim with the outcome (whatever happens)."""
    settings = service.settings
    clock = getattr(service, "clock", None) or utcnow
    engine = engine or Engine(settings, now=clock, environ=environ)
    sandbox = build_context(settings, entry, sandbox_mode, overrides, environ)
    started = format_time(engine.now())
    record = RetryRecord(
        retry_run_id=retry_run_id,
        sandbox_mode=sandbox_mode,
        start_time=started,
        override_variables=sorted(overrides.variables),
        override_secrets=sorted(overrides.secrets),
        actor=getattr(service, "actor", None) or getattr(settings, "actor", None),
    )
    redactor = Redactor([*sandbox.secrets.values(), *overrides.secrets.values()])
    released = False
    on_event = _with_heartbeat(service, entry.id, retry_run_id, engine.now, on_event)

    def release(outcome: RunOutcome) -> None:
        nonlocal released
        released = True  # whatever happens next, never release twice
        _release_outcome(service, entry, record, outcome, sandbox_mode)

    try:
        outcome = engine.run(
            entry.envelope,
            run_id=retry_run_id,
            variables=retry_variables(entry, overrides, sandbox_mode),
            sandbox=sandbox,
            on_event=on_event,
            dead_letter=False,  # the entry already exists; a retry only updates it
            validate=False,  # checked before the claim
            run_info={
                "dlq_id": entry.id,
                "original_run_id": entry.run_id,
                "override_variables": record.override_variables,
                "override_secrets": record.override_secrets,
            },
            on_finish=release,  # the claim is released before the run is shown as finished
        )
    except KeyboardInterrupt:
        if not released:
            _release(service, entry, record, "cancelled", "cancelled", format_time(engine.now()), ["cancelled"], sandbox_mode)
        raise
    except BaseException as exc:  # a bug or a store failure: never leave the claim dangling
        if not released:
            message = redactor.text(f"{type(exc).__name__}: {exc}")
            try:
                _release(service, entry, record, "failed", message, format_time(engine.now()), [message], sandbox_mode)
            except StoreError as release_exc:  # the disk is full: say both what failed and what it left
                raise StoreError(f"{redactor.text(str(exc))}; and {release_exc}") from exc
        raise
    return RetryResponse(
        message=MESSAGE,
        dlq_id=entry.id,
        retry_run_id=retry_run_id,
        sandbox_mode=sandbox_mode,
        execution_result=outcome.execution_result(),
    )


def _with_heartbeat(service, entry_id: str, retry_run_id: str, now, on_event):
    """Renew the lease on progress events, a third of the lease at a time, so a long retry keeps it."""
    every = service.settings.lease_seconds / 3
    last = now()

    def handle(event):
        nonlocal last
        current = now()
        if (current - last).total_seconds() >= every and not isinstance(event, RunFinished):
            last = current
            try:
                service.renew_lease(entry_id, retry_run_id)
            except MovaError:
                pass  # lost the lease (taken over as stale): the release will report it
        if on_event is not None:
            on_event(event)

    return handle


def _release_outcome(service, entry, record: RetryRecord, outcome: RunOutcome, sandbox_mode: bool) -> None:
    messages = [line.split(": ", 1)[1] if line.startswith("Attempt ") and ": " in line else line for line in outcome.errors]
    if not outcome.succeeded and not messages:
        messages = [outcome.error or outcome.status]
    attempts = sum(r.attempts or 0 for r in outcome.context.results.values())
    _release(service, entry, record, outcome.status, outcome.error, outcome.end_time, messages, sandbox_mode,
             attempts=attempts or None)


def _release(
    service,
    entry: DeadLetterEntry,
    record: RetryRecord,
    outcome: str,
    error: str | None,
    end_time: str,
    messages: list[str],
    sandbox_mode: bool,
    attempts: int | None = None,
) -> None:
    """Give the entry back: resolved after a production success, active otherwise."""
    succeeded = outcome == "completed"
    new_status = EntryStatus.resolved if succeeded and not sandbox_mode else EntryStatus.active
    final = record.model_copy(update={"end_time": end_time, "outcome": outcome, "error": None if succeeded else error,
                                      "attempts": attempts})
    extra_errors: list[str] = []
    # A failed sandbox experiment is kept in retry_history only: the entry's own error (and so its
    # failure group) stays the production failure it was dead-lettered for.
    if not succeeded and not sandbox_mode:
        base = len(entry.error_details.error_history)
        extra_errors = [
            f"Attempt {base + i} (production retry {record.retry_run_id}): {msg}" for i, msg in enumerate(messages, 1)
        ]
    try:
        service.finish_retry(entry.id, record.retry_run_id, new_status, final, extra_errors)
    except StoreError as exc:
        raise StoreError(f"{exc}; so {entry.id} stays retrying until its lease expires, then `mova dlq retry` "
                         "takes it over") from exc


# --- background retries ----------------------------------------------------------------------


def settings_payload(settings: Any) -> dict[str, Any]:
    """Settings for the worker process: paths made absolute, tokens left out (it needs none)."""
    data = settings.model_dump(mode="json", exclude={"api_token", "api_read_token"})
    for key, value in list(data.items()):
        if isinstance(getattr(settings, key, None), Path):
            data[key] = os.path.abspath(value)
    return data


def start_background(
    service: Any, entry: DeadLetterEntry, retry_run_id: str, sandbox_mode: bool, overrides: RetryOverrides
) -> int:
    """Start `python -m mova_core.ops.retry_worker` detached; the job (secrets included) goes through a pipe."""
    settings = service.settings
    clock = getattr(service, "clock", None) or utcnow
    redactor = Redactor(overrides.secrets.values())
    runs = store_for(settings, sandbox_mode, redactor)
    runs.save(
        RunRecord(
            run_id=retry_run_id, status="pending", sandbox_mode=sandbox_mode, workflow=entry.workflow_type,
            dlq_id=entry.id, original_run_id=entry.run_id, start_time=format_time(clock()),
            override_variables=sorted(overrides.variables), override_secrets=sorted(overrides.secrets),
        )
    )
    job = {
        "entry_id": entry.id,
        "retry_run_id": retry_run_id,
        "sandbox_mode": sandbox_mode,
        "overrides": {"variables": overrides.variables, "secrets": overrides.secrets},
        "settings": settings_payload(settings),
        "actor": getattr(service, "actor", None),
    }
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
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
    except OSError as exc:
        now = format_time(clock())
        record = RetryRecord(retry_run_id=retry_run_id, sandbox_mode=sandbox_mode, start_time=now,
                             actor=job["actor"], override_variables=sorted(overrides.variables),
                             override_secrets=sorted(overrides.secrets))
        message = f"could not start the background retry: {exc}"
        _release(service, entry, record, "failed", message, now, [message], sandbox_mode)
        runs.save(RunRecord(run_id=retry_run_id, status="failed", sandbox_mode=sandbox_mode, dlq_id=entry.id,
                            original_run_id=entry.run_id, start_time=now, end_time=now, error=message))
        raise MovaError(message) from None
    return proc.pid


def execution_result_of(settings: Any, retry_run_id: str) -> ExecutionResult | None:
    """The execution result of a (background) retry once its record is final, else None."""
    from mova_core.store.runs import RunNotFound, find_run

    try:
        _, record = find_run(settings, retry_run_id)
    except RunNotFound:
        return None
    return record.execution_result() if record.finished else None
