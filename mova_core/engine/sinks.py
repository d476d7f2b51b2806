"""Where a run's results go, as the engine sees them: small protocols the operations layer fills.

The engine never names a store. `mova_core.store.files.FileStore` is a `DeadLetterSink` and
`mova_core.store.runs.RunStore` (the class itself) a `RunRecords`; `mova_core.ops` passes them in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from mova_core.model.entry import DeadLetterEntry
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord


class DeadLetterSink(Protocol):
    """Takes the entry of a run that failed for good."""

    def create(self, entry: DeadLetterEntry, *, doc: dict[str, Any] | None = None) -> None:
        """Keep a new entry, durably. `doc`: the JSON object `entry` was validated from, to write as it is."""
        ...


class RunLogWriter(Protocol):
    """A run's log, open for appending while the run lasts."""

    def append(self, event: dict[str, Any]) -> None:
        """Append one event or log line; StoreError if it cannot be written."""
        ...

    def close(self) -> None:
        """Release the log; nothing is appended after."""
        ...


class RunRecorder(Protocol):
    """The records of runs in one directory."""

    def save(self, record: RunRecord, *, context: dict[str, Any] | None = None) -> None:
        """Write a run's record (whole, replacing the last); `context`: its execution context as JSON, redacted."""
        ...

    def open_log(self, run_id: str) -> RunLogWriter:
        """The run's log, to append to for the length of the run."""
        ...


class RunRecords(Protocol):
    """Opens the recorder for a run's records directory, redacting with the run's redactor."""

    def __call__(self, directory: Path, redactor: Redactor) -> RunRecorder:
        """The recorder writing under `directory`."""
        ...
