"""Progress of a run on stderr, from the engine's events (read by their `kind`, so nothing here
imports the engine): one line per step, and on a terminal a spinner with a countdown while the
engine waits between attempts.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text


class _Countdown:
    """Renders the time left before the next attempt each time the spinner refreshes."""

    def __init__(self, action: str, attempt: int, seconds: float):
        self.action, self.attempt, self.until = action, attempt, time.monotonic() + seconds

    def __rich__(self) -> Text:
        left = max(0.0, self.until - time.monotonic())
        return Text(f"{self.action}: waiting {left:.1f}s before attempt {self.attempt}")


class EventPrinter:
    """An `on_event` callback that reports a run's progress on a (stderr) console."""

    def __init__(self, console: Any, *, live: bool | None = None):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self._status = None

    def _stop_waiting(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def close(self) -> None:
        """Stop the waiting spinner, if one is showing."""
        self._stop_waiting()

    def _line(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style), soft_wrap=True)

    def __call__(self, event: Any) -> None:
        self._stop_waiting()
        kind = getattr(event, "kind", None)
        if kind == "run_started":
            mode = "sandbox" if event.sandbox_mode else "production"
            self._line(f"run {event.run_id}: {event.workflow} ({mode}, {event.actions} actions)", "bold")
        elif kind == "action_started":
            if event.attempt > 1:
                self._line(f"  {event.action_id}: attempt {event.attempt} of {event.max_attempts}")
        elif kind == "attempt_failed":
            self._line(f"  {event.action_id}: attempt {event.attempt} failed: {event.error}", "red")
            if event.delay:
                if self.live:
                    self._status = self.console.status(_Countdown(event.action_id, event.attempt + 1, event.delay))
                    self._status.start()
                else:
                    self._line(f"  {event.action_id}: waiting {event.delay:.1f}s before attempt {event.attempt + 1}")
        elif kind == "action_finished":
            style = {"completed": "green", "skipped": "dim"}.get(event.status, "red")
            self._line(f"  {event.action_id}: {event.status} ({event.duration_seconds:.1f}s)", style)
        elif kind == "log":
            where = f"{event.action_id}: " if event.action_id else ""
            self._line(f"    {where}{event.message}", "dim" if event.level == "debug" else "")
        elif kind == "run_finished":
            style = "green" if event.status == "completed" else "red"
            tail = f": {event.error}" if event.error else ""
            self._line(f"run {event.run_id} {event.status} in {event.duration_seconds:.1f}s{tail}", style)
