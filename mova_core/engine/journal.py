"""What a run tells as it goes: each event to the caller and to the run's log, and the run record.

A record or log that cannot be written (a full disk) is said once, as a warning event, and the run
goes on: its actions may already have had effects, so stopping half-way would lose more than a
log; the outcome and, for a failure, the dead-letter entry matter most.
"""

from __future__ import annotations

from typing import Any, Callable

from mova_core.engine.events import Event, LogLine, event_to_dict
from mova_core.engine.sinks import RunLogWriter, RunRecorder
from mova_core.model.errors import StoreError
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord


class RunJournal:
    """A run's events, log lines and record, redacted; `recorder` None keeps no record or log."""

    def __init__(self, run_id: str, recorder: RunRecorder | None, redactor: Redactor, *,
                 on_event: Callable[[Event], None] | None, detailed: bool):
        self.run_id = run_id
        self.recorder = recorder
        self.redactor = redactor
        self.on_event = on_event
        self.detailed = detailed
        self.log_file: RunLogWriter | None = None
        #: Set once the run's record or log could not be written: the run goes on without them.
        self.records_failed: StoreError | None = None

    @property
    def recording(self) -> bool:
        """The run has a record and a log (`start` and `save` are for such a run only)."""
        return self.recorder is not None

    @property
    def keeps_records(self) -> bool:
        """The run has a record and a log, and (as far as is known) they are being written."""
        return self.recorder is not None and self.records_failed is None

    def open(self) -> None:
        """Open the run's log (a no-op without a recorder)."""
        if self.recorder is not None:
            self.log_file = self.recorder.open_log(self.run_id)

    def close(self) -> None:
        """Close the run's log."""
        if self.log_file is not None:
            self.log_file.close()

    def emit(self, event: Event) -> None:
        """To the log, then to the caller."""
        if self.log_file is not None:
            try:
                self.log_file.append(event_to_dict(event))
            except StoreError as exc:
                self.records_lost(exc)
        if self.on_event is not None:
            self.on_event(event)

    def log(self, action_id: str | None, message: str, *, level: str = "info", detail: bool = False,
            **fields: Any) -> None:
        """A log line; a `detail` one only in a run that logs in detail (the sandbox)."""
        if detail and not self.detailed:
            return
        fields = self.redactor(fields)
        self.emit(LogLine(self.run_id, action_id, level, self.redactor.text(str(message)), fields))

    def start(self, record: RunRecord, context: dict[str, Any]) -> None:
        """The first record: StoreError if it cannot be written (nothing has run yet, so refuse to
        start rather than run without a record)."""
        assert self.recorder is not None
        self.recorder.save(record, context=context)

    def save(self, record: RunRecord, context: dict[str, Any]) -> None:
        """A later record; one that cannot be written is reported once and the run goes on."""
        assert self.recorder is not None
        try:
            self.recorder.save(record, context=context)
        except StoreError as exc:
            self.records_lost(exc)

    def records_lost(self, exc: StoreError) -> None:
        """The run's log or record cannot be written: say so once."""
        first = self.records_failed is None
        self.records_failed = exc
        if first and self.on_event is not None:
            self.on_event(LogLine(self.run_id, None, "warning", f"the run's record is not being kept up to date: {exc}"))
