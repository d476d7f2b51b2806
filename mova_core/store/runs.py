"""Run records as files, so a run (a background retry above all) can be followed and inspected.

Per run, in the production directory (MOVA_RUNS_PATH, default `<state>/runs`) or the sandbox
directory (MOVA_SANDBOX_PATH, default `<state>/sandbox`):

* `<run_id>.json`: the record (status, times, error, the execution context), rewritten
  atomically at each step (the store's `atomic_write`), so a reader never sees half a file;
* `<run_id>.log.jsonl`: one JSON object per event or log line, appended as the run goes.

Both pass through the run's redactor first: no secret value reaches these files.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from pydantic import ValidationError

from mova_core.model.errors import MovaError, StoreError
from mova_core.model.ids import validate_id
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord
from mova_core.model.status import RunStatus
from mova_core.store.fsio import atomic_write, encode_pretty, os_error_reason

if TYPE_CHECKING:
    from mova_core.settings import Settings


class RunNotFound(MovaError):
    """No run record with that id."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        super().__init__(f"no run record for {run_id!r} (looked in the runs and sandbox directories)")


def check_run_id(run_id: str) -> str:
    """A run id that is safe as a file name (the store's rule for entry ids)."""
    return validate_id(run_id)


class RunStore:
    """The run records and logs in one directory (production or sandbox)."""

    def __init__(self, directory: Path | str, redactor: Redactor | None = None):
        self.directory = Path(directory)
        self.redactor = redactor or Redactor()
        self._dir_made = False

    def path(self, run_id: str) -> Path:
        """The record's file."""
        return self.directory / f"{check_run_id(run_id)}.json"

    def log_path(self, run_id: str) -> Path:
        """The log's file."""
        return self.directory / f"{check_run_id(run_id)}.log.jsonl"

    def exists(self, run_id: str) -> bool:
        """Whether the run has a record here."""
        return self.path(run_id).exists()

    def save(self, record: RunRecord, *, context: dict[str, Any] | None = None) -> None:
        """Write the record (redacted) atomically.

        `context`: the record's execution context as a JSON object that already went through this
        store's redactor (the engine has it at hand at the end of a run: no second dump and walk);
        it replaces `record.context`.
        """
        data = self.redactor(record.model_dump(mode="json", exclude={"context"} if context is not None else None))
        if context is not None:  # in its place: the last field, before any unknown ones
            data["context"] = context
            if record.__pydantic_extra__:
                known = type(record).model_fields
                data = {**{k: v for k, v in data.items() if k in known},
                        **{k: v for k, v in data.items() if k not in known}}
        self._ensure_dir()
        # Not fsynced: a run record is a view for following a run; the outcome that matters is
        # durable in the dead-letter entry (and its retry_history). This keeps dead-lettering at
        # the disk's rate for one durable write per failed run.
        atomic_write(self.path(record.run_id), encode_pretty(data), durable=False)

    def _ensure_dir(self) -> None:
        if self._dir_made:  # once per store: the engine makes one per run
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._dir_made = True
        except OSError as exc:
            raise StoreError(f"could not create the run directory {self.directory}: {os_error_reason(exc)}") from exc

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

    def load(self, run_id: str) -> RunRecord:
        """Read a record; RunNotFound if absent."""
        try:
            raw = self.path(run_id).read_bytes()
        except FileNotFoundError:
            raise RunNotFound(run_id) from None
        try:
            return RunRecord.model_validate_json(raw)
        except ValidationError as exc:
            raise MovaError(f"run record {self.path(run_id)} is unreadable: {exc.errors()[0]['msg']}") from None

    def open_log(self, run_id: str) -> RunLog:
        """The run's log, to append to for the length of a run (opened on the first line, then kept open)."""
        return RunLog(self, self.log_path(run_id))

    def read_log(self, run_id: str, offset: int = 0) -> list[dict[str, Any]]:
        """The log's events from line `offset` on; a torn last line is left for the next read."""
        try:
            text = self.log_path(run_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        lines = text.split("\n")
        complete = lines[:-1]  # the last element is "" or a line still being written
        out = []
        for line in complete[offset:]:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "unreadable", "line": line})
        return out

    def list(self) -> list[RunRecord]:
        """Every readable record, newest first."""
        records = []
        for path in self.directory.glob("*.json"):
            try:
                records.append(RunRecord.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError):
                continue
        return sorted(records, key=lambda r: r.start_time or "", reverse=True)


#: json.dumps(..., ensure_ascii=False, default=str), without building an encoder for every line.
_LOG_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class RunLog:
    """A run's log held open for appending: one `open` per run instead of one per line."""

    def __init__(self, store: RunStore, path: Path):
        self.store = store
        self.path = path
        self._fd: int | None = None

    def append(self, event: dict[str, Any]) -> None:
        """Append one event or log line (redacted); StoreError if it cannot be written."""
        data = (_LOG_ENCODER.encode(self.store.redactor(event)) + "\n").encode()
        try:
            if self._fd is None:  # first line, or the open failed last time (a full disk may have room again)
                self.store._ensure_dir()
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            # One write of one line on an O_APPEND descriptor: concurrent writers do not interleave.
            if os.write(self._fd, data) != len(data):  # the disk filled up mid-line
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:  # a full disk or permissions: the store's clear error, not a traceback
            raise StoreError(f"could not write the run log {self.path}: {os_error_reason(exc)}") from exc

    def close(self) -> None:
        """Close the log's descriptor (a later append opens it again)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def run_dirs(settings: Settings) -> list[tuple[bool, Path]]:
    """(sandbox_mode, directory) for production then sandbox records."""
    return [(False, Path(settings.effective_runs_path)), (True, Path(settings.effective_sandbox_path))]


def store_for(settings: Settings, sandbox_mode: bool, redactor: Redactor | None = None) -> RunStore:
    """The run store for a mode."""
    path = settings.effective_sandbox_path if sandbox_mode else settings.effective_runs_path
    return RunStore(path, redactor)


def find_run(settings: Settings, run_id: str) -> tuple[RunStore, RunRecord]:
    """Look a run up in the production then the sandbox directory."""
    check_run_id(run_id)
    for _, directory in run_dirs(settings):
        store = RunStore(directory)
        if store.exists(run_id):
            return store, store.load(run_id)
    raise RunNotFound(run_id)


def wait_for_run(
    settings: Settings,
    run_id: str,
    timeout: float = 60.0,
    poll: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunRecord:
    """Block until the run's record shows a final status; MovaError on timeout."""
    deadline = clock() + timeout
    while True:
        try:
            _, record = find_run(settings, run_id)
            if record.finished:
                return record
        except RunNotFound:
            record = None
        if clock() >= deadline:
            state = record.status if record else "no record yet"
            raise MovaError(f"run {run_id} did not finish within {timeout:g}s ({state})")
        sleep(poll)


def follow_log(
    settings: Settings,
    run_id: str,
    poll: float = 0.1,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[dict[str, Any]]:
    """Yield a run's log events as they are written, until the run finishes (like `tail -f`)."""
    deadline = None if timeout is None else clock() + timeout
    seen = 0
    while True:
        finished = False
        try:
            store, record = find_run(settings, run_id)
            finished = record.finished
        except RunNotFound:
            store = None
        if store is not None:
            events = store.read_log(run_id, seen)
            seen += len(events)
            yield from events
        if finished:
            return
        if deadline is not None and clock() >= deadline:
            return
        sleep(poll)
