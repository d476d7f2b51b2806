"""One line of text per engine event, the same in `mova dlq retry --wait`, `mova run` and the
dashboard's progress window.

Events are read by their `kind` and fields (the engine's event dataclasses), so nothing here
imports the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from mova_tui.present.palette import outcome_style
from mova_tui.present.safe_text import clean

if TYPE_CHECKING:
    from mova_core.ops.retry import Event

#: Log levels shown dim: detail an operator may skip.
_QUIET_LEVELS = {"debug"}
_LEVEL_STYLES = {"warning": "yellow", "error": "red"}


def describe_event(event: Event) -> Text | None:
    """The line for a run's event, styled; None for an event that is not worth a line."""
    render = _RENDERERS.get(getattr(event, "kind", None))
    return None if render is None else render(event)


def _line(text: str, style: str = "") -> Text:
    # Messages and errors (a print action's text, a server's answer) may span lines; no control passes.
    return Text(clean(text), style=style)


def _name(value: object) -> str:
    """An id, a type or a workflow name from the envelope: one line, whatever it holds."""
    return clean(value, one_line=True)


def _run_started(event: Any) -> Text:
    mode = "sandbox" if event.sandbox_mode else "production"
    return _line(f"▶ run {_name(event.run_id)}: {_name(event.workflow)} ({mode}, {event.actions} action(s))", "bold")


def _action_started(event: Any) -> Text:
    return _line(f"  ▶ {_name(event.action_id)} ({_name(event.action_type)}) "
                 f"attempt {event.attempt}/{event.max_attempts}")


def _attempt_failed(event: Any) -> Text:
    line = f"  ✗ {_name(event.action_id)} attempt {event.attempt} failed: {event.error}"
    if not event.retryable:
        line += " — not retryable"
    elif event.delay is not None:
        line += f" — next attempt in {float(event.delay):.1f}s"
    return _line(line, "red")


def _action_finished(event: Any) -> Text:
    status = event.status
    if status == "skipped":
        return _line(f"  – {_name(event.action_id)} skipped", outcome_style(status))
    mark = "✓" if status == "completed" else "✗"
    line = (f"  {mark} {_name(event.action_id)} {_name(status)} after {event.attempts} attempt(s), "
            f"{float(event.duration_seconds or 0):.1f}s")
    if event.error and status != "completed":
        line += f": {event.error}"
    return _line(line, outcome_style(status))


def _log(event: Any) -> Text:
    level = str(event.level).lower()
    where = f"{_name(event.action_id)}: " if event.action_id else ""
    prefix = f"{level}: " if level in _LEVEL_STYLES else ""
    return _line(f"    {where}{prefix}{event.message}", "dim" if level in _QUIET_LEVELS else _LEVEL_STYLES.get(level, ""))


def _run_finished(event: Any) -> Text:
    line = f"■ run {_name(event.status)} in {float(event.duration_seconds or 0):.1f}s"
    if event.error:
        line += f": {event.error}"
    return _line(line, outcome_style(event.status) or "red")


_RENDERERS = {
    "run_started": _run_started,
    "action_started": _action_started,
    "attempt_failed": _attempt_failed,
    "action_finished": _action_finished,
    "log": _log,
    "run_finished": _run_finished,
}
