"""What both run stores (files in `store.runs`, PostgreSQL in `store.pg.runs`) share: the run-id rule,
the redacted record document and log line, and ending a run as failed.

Everything a run store writes passes the run's redactor here first: no secret value reaches a
file or a table.
"""

from __future__ import annotations

import json
from typing import Any

from mova_core.model.errors import MovaError
from mova_core.model.ids import validate_id
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord
from mova_core.model.status import RunStatus


class RunNotFound(MovaError):
    """No run record with that id."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        super().__init__(f"no run record for {run_id!r} (looked in the runs and sandbox records)")


def check_run_id(run_id: str) -> str:
    """A run id that is safe as a file name (the store's rule for entry ids)."""
    return validate_id(run_id)


def record_document(record: RunRecord, redactor: Redactor, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as the JSON object a store keeps, redacted.

    `context`: the record's execution context as a JSON object that already went through the
    redactor (the engine has it at hand at the end of a run: no second dump and walk); it replaces
    `record.context`.
    """
    data = redactor(record.model_dump(mode="json", exclude={"context"} if context is not None else None))
    if context is not None:  # in its place: the last field, before any unknown ones
        data["context"] = context
        if record.__pydantic_extra__:
            known = type(record).model_fields
            data = {**{k: v for k, v in data.items() if k in known},
                    **{k: v for k, v in data.items() if k not in known}}
    return data


#: json.dumps(..., ensure_ascii=False, default=str), without building an encoder for every line.
_LOG_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def log_line(event: dict[str, Any], redactor: Redactor) -> str:
    """One event of a run's log as its line of JSON (no newline), redacted."""
    return _LOG_ENCODER.encode(redactor(event))


def parse_log_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Log lines back into events; a line that is not JSON (another writer's) is kept as `unreadable`."""
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"event": "unreadable", "line": line})
    return out


class RunRecordStore:
    """What a run store does from its own `load` and `save`: ending a run that will not go on."""

    def load(self, run_id: str) -> RunRecord:
        """Read a record; RunNotFound if absent."""
        raise NotImplementedError

    def save(self, record: RunRecord, *, context: dict[str, Any] | None = None) -> None:
        """Write the record (redacted), replacing the last."""
        raise NotImplementedError

    def close_failed(self, run_id: str, error: str, now: str, *, create: bool = True, **fields: Any) -> None:
        """End a run that will not go on as failed with `error`, unless its record already ended.

        `fields` (`failure_reason`, `end_time`, or a new record's `dlq_id`, `sandbox_mode`...) are
        laid over it; a missing record is created (`create`) or left missing.
        """
        try:
            record = self.load(run_id)
        except RunNotFound:
            if not create:
                return
            record = RunRecord(run_id=run_id)
        if record.finished:
            return
        update = {"end_time": now, **fields, "status": RunStatus.failed.value, "error": error, "updated_at": now}
        self.save(record.model_copy(update=update))
