"""A run's progress on stderr: the shared event lines (`present.events`), and on a terminal a
spinner counting down while the engine waits between attempts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text

from mova_tui.present.events import describe_event
from mova_tui.present.safe_text import clean

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from mova_core.ops.retry import Event


class _Countdown:
    """Renders the time left before the next attempt each time the spinner refreshes."""

    def __init__(self, action: str, attempt: int, seconds: float):
        self.action, self.attempt, self.until = action, attempt, time.monotonic() + seconds

    def __rich__(self) -> Text:
        left = max(0.0, self.until - time.monotonic())
        return Text(f"{clean(self.action, one_line=True)}: waiting {left:.1f}s before attempt {self.attempt}")


class EventPrinter:
    """An `on_event` callback that prints a run's progress on a (stderr) console."""

    def __init__(self, console: Console, *, live: bool | None = None):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self._status: Status | None = None

    def close(self) -> None:
        """Stop the waiting spinner, if one is showing."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __call__(self, event: Event) -> None:
        self.close()
        line = describe_event(event)
        if line is not None:
            self.console.print(line, soft_wrap=True)
        delay = getattr(event, "delay", None) if getattr(event, "kind", None) == "attempt_failed" else None
        if delay and self.live and getattr(event, "retryable", False):
            self._status = self.console.status(_Countdown(event.action_id, event.attempt + 1, delay))  # type: ignore[attr-defined]
            self._status.start()
