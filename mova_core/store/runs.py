"""Run records as files, so a run (a background retry above all) can be followed and inspected.

Per run, in the production directory (MOVA_RUNS_PATH, default `<state>/runs`) or the sandbox
directory (MOVA_SANDBOX_PATH, default `<state>/sandbox`):

* `<run_id>.json`: the record (status, times, error, the execution context), rewritten
  atomically at each step (the store's `atomic_write`), so a reader never sees half a file;
* `<run_id>.log.jsonl`: one JSON object per event or log line, appended as the run goes.

Both pass through the run's redactor first: no secret value reaches these files.

Over PostgreSQL (the settings name a store URL) the same records and logs are rows instead
(`store.pg.runs`), so every host sees every run; `store_for`, `find_run` and `run_records` are the
one place that chooses.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from mova_core.model.errors import MovaError, StoreError
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord
from mova_core.store.fsio import atomic_write, encode_pretty, os_error_reason
from mova_core.store.run_records import (
    RunNotFound,
    RunRecordStore,
    check_run_id,
    log_line,
    parse_log_lines,
    record_document,
)

if TYPE_CHECKING:
    from mova_core.settings import Settings

__all__ = ["RunLog", "RunNotFound", "RunRecord", "RunStore", "Runs", "check_run_id", "find_run", "follow_log",
           "run_dirs", "run_records", "store_for", "wait_for_run"]


class Runs(Protocol):
    """The run records of one mode (production or sandbox), in files or in the database."""

    redactor: Redactor

    def exists(self, run_id: str) -> bool: ...
    def save(self, record: RunRecord, *, context: dict[str, Any] | None = None) -> None: ...
    def load(self, run_id: str) -> RunRecord: ...
    def close_failed(self, run_id: str, error: str, now: str, *, create: bool = True, **fields: Any) -> None: ...
    def open_log(self, run_id: str) -> Any: ...  # the engine's RunLogWriter (the store does not import the engine)
    def read_log(self, run_id: str, offset: int = 0) -> list[dict[str, Any]]: ...
    def log_location(self, run_id: str) -> str: ...
    def list(self) -> list[RunRecord]: ...


class RunStore(RunRecordStore):
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

    def log_location(self, run_id: str) -> str:
        """Where the log is, for a person to read: its file."""
        return str(self.log_path(run_id))

    def exists(self, run_id: str) -> bool:
        """Whether the run has a record here."""
        return self.path(run_id).exists()

    def save(self, record: RunRecord, *, context: dict[str, Any] | None = None) -> None:
        """Write the record (redacted) atomically.

        `context`: the record's execution context as a JSON object that already went through this
        store's redactor (the engine has it at hand at the end of a run: no second dump and walk);
        it replaces `record.context`.
        """
        data = record_document(record, self.redactor, context)
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
        return parse_log_lines(complete[offset:])

    def list(self) -> list[RunRecord]:
        """Every readable record, newest first."""
        records = []
        for path in self.directory.glob("*.json"):
            try:
                records.append(RunRecord.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError):
                continue
        return sorted(records, key=lambda r: r.start_time or "", reverse=True)


class RunLog:
    """A run's log held open for appending: one `open` per run instead of one per line."""

    def __init__(self, store: RunStore, path: Path):
        self.store = store
        self.path = path
        self._fd: int | None = None

    def append(self, event: dict[str, Any]) -> None:
        """Append one event or log line (redacted); StoreError if it cannot be written."""
        data = (log_line(event, self.store.redactor) + "\n").encode()
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


def store_for(settings: Settings, sandbox_mode: bool, redactor: Redactor | None = None) -> Runs:
    """The run store for a mode: the mode's directory, or its rows when the settings name a store URL."""
    if settings.store_url is not None:
        from mova_core.store.pg.runs import pg_runs

        return pg_runs(settings.store_url.get_secret_value(), settings.store_schema, sandbox_mode, redactor)
    path = settings.effective_sandbox_path if sandbox_mode else settings.effective_runs_path
    return RunStore(path, redactor)


def run_records(settings: Settings) -> Callable[[Path, Redactor], Runs]:
    """What the engine opens a run's recorder with (called with the run context's records directory,
    which names the mode: production's runs or the sandbox's)."""
    if settings.store_url is None:
        return RunStore
    sandbox_dir = Path(settings.effective_sandbox_path)
    return lambda directory, redactor: store_for(settings, Path(directory) == sandbox_dir, redactor)


def find_run(settings: Settings, run_id: str) -> tuple[Runs, RunRecord]:
    """Look a run up in production's then the sandbox's records."""
    check_run_id(run_id)
    for sandbox_mode in (False, True):
        store = store_for(settings, sandbox_mode)
        try:
            return store, store.load(run_id)
        except RunNotFound:
            continue
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
