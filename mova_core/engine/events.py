"""What a run reports as it goes: small frozen dataclasses, already redacted, and their JSON form.

The engine hands each to the caller's `on_event` and appends its JSON object to the run's log;
faces read them by `kind`, so they need not import this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any


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
        elif kind not in _SCALARS and isinstance(value, str):
            value = str(value)  # a status enum: its plain text
        elif kind not in _SCALARS:  # anything deeper: asdict's deep copy, as always
            data = asdict(event)
            return {"event": data.pop("kind"), **data}
        data[name] = value
    return data


_EVENT_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = frozenset({str, int, float, bool, type(None)})
