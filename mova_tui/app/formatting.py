"""Pure text helpers for the dashboard: short ids, shortened errors, ages and retry event lines.

Nothing here imports Textual, so these are unit-testable and shared by every screen.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from mova_core.model.listing import EntrySummary
from mova_core.timeutil import humanize_age
from mova_tui.present.safe_text import clean

#: Status → Rich style name used in tables and panels (colours are dropped under NO_COLOR).
STATUS_STYLES = {
    "active": "bold yellow",
    "retrying": "bold cyan",
    "resolved": "green",
    "archived": "dim",
    "stale": "bold red",
}


def short_id(entry_id: str, length: int = 8) -> str:
    """The first characters after `dlq_` (or of a bare id): unique enough to type as a prefix."""
    core = entry_id[4:] if entry_id.startswith("dlq_") else entry_id
    return core[:length]


def shorten(text: str | None, width: int) -> str:
    """One line of at most `width` cells, with an ellipsis when cut."""
    line = " ".join(clean(text or "").split())
    if width <= 0:
        return ""
    if len(line) <= width:
        return line
    return line[: max(0, width - 1)] + "…"


def age(created_ts: float, now: datetime) -> str:
    """How long ago, short (45s, 12m, 3h, 5d)."""
    return humanize_age(now.timestamp() - created_ts)


def status_label(item: EntrySummary, now: datetime) -> tuple[str, str]:
    """The status text and its style key ('stale' for a retrying entry whose lease expired)."""
    if item.is_stale(now):
        return "stale", "stale"
    return item.status.value, item.status.value


def describe_event(event: Any) -> str | None:
    """One human line for a retry progress event from the engine (None for events not worth a line)."""
    if isinstance(event, str):
        return event
    kind = getattr(event, "kind", None)
    get = lambda name, default=None: getattr(event, name, default)  # noqa: E731
    if kind == "run_started":
        mode = "sandbox" if get("sandbox_mode") else "production"
        return f"▶ run {get('run_id')} — {get('workflow')}, {mode}, {get('actions')} action(s)"
    if kind == "action_started":
        return f"  ▶ {get('action_id')} ({get('action_type')}) attempt {get('attempt')}/{get('max_attempts')}"
    if kind == "attempt_failed":
        line = f"  ✗ {get('action_id')} attempt {get('attempt')}: {get('error')}"
        delay = get("delay")
        if get("retryable") and delay is not None:
            line += f" — next attempt in {float(delay):.1f}s"
        elif not get("retryable"):
            line += " — not retryable"
        return line
    if kind == "action_finished":
        ok = get("status") == "completed"
        line = (f"  {'✓' if ok else '✗'} {get('action_id')} {get('status')} after {get('attempts')} attempt(s), "
                f"{float(get('duration_seconds') or 0):.2f}s")
        return line + (f": {get('error')}" if get("error") and not ok else "")
    if kind == "log":
        if str(get("level", "")).lower() in ("warning", "error"):
            return f"    {get('level')}: {get('message')}"
        return None
    if kind == "run_finished":
        line = f"■ run {get('status')} in {float(get('duration_seconds') or 0):.2f}s"
        return line + (f": {get('error')}" if get("error") else "")
    fields: dict[str, Any] = {}
    if dataclasses.is_dataclass(event):
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    shown = ", ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, "", [], {}))
    return f"· {type(event).__name__}" + (f" {shown}" if shown else "")
