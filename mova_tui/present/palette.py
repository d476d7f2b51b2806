"""The colours of statuses and outcomes, one palette for the command line and the dashboard.

Active entries need attention (yellow), retrying ones are in motion (cyan), resolved ones are
done (green), archived ones are history (dim); a retry whose lease expired is a fault (red).
Styles are Rich style strings; NO_COLOR drops the colours and keeps the words.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from mova_tui.present.safe_text import clean

if TYPE_CHECKING:
    from mova_core.model.listing import EntrySummary

#: The label of a retrying entry whose lease expired, wherever statuses are listed.
STALE = "stale"

STATUS_STYLES: dict[str, str] = {
    "active": "bold yellow",
    "retrying": "bold cyan",
    "resolved": "green",
    "archived": "dim",
    STALE: "bold red",
}

#: How a run, a retry or one action ended (RunStatus, RetryOutcome and action result statuses).
OUTCOME_STYLES: dict[str, str] = {
    "completed": "green",
    "failed": "red",
    "timeout": "red",
    "cancelled": "yellow",
    "abandoned": "yellow",
    "skipped": "dim",
    "pending": "cyan",
    "running": "cyan",
}


def status_style(status: str, *, stale: bool = False) -> str:
    """The style of an entry status ('' for a status this palette does not know)."""
    return STATUS_STYLES[STALE] if stale else STATUS_STYLES.get(str(status), "")


def outcome_style(outcome: str | None) -> str:
    """The style of an outcome ('' for one this palette does not know)."""
    return OUTCOME_STYLES.get(str(outcome), "")


def status_label(item: EntrySummary, now: datetime) -> tuple[str, str]:
    """The status word a listing shows and its palette key: `stale` for a retrying entry whose lease expired."""
    if item.is_stale(now):
        return STALE, STALE
    return item.status.value, item.status.value


def status_text(status: str, *, stale: bool = False) -> Text:
    """An entry's status in full, coloured: `retrying (stale lease)` when its lease expired."""
    word = clean(status, one_line=True)
    return Text(f"{word} ({STALE} lease)" if stale else word, style=status_style(word, stale=stale))


def outcome_text(outcome: str | None) -> Text:
    """An outcome word, coloured."""
    return Text(clean(outcome or "unknown", one_line=True), style=outcome_style(outcome))
