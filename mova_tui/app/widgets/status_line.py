"""The status line under the table: counts, position, selection, skipped files, watcher state."""

from __future__ import annotations

from textual.widgets import Static


class StatusLine(Static):
    """One line of facts about what the table shows."""

    def show(
        self,
        *,
        total: int,
        queue_total: int | None,
        first: int,
        last: int,
        selected: int,
        skipped: int,
        watching: str,
        note: str = "",
    ) -> None:
        parts = []
        if total:
            parts.append(f"{first}–{last} of {total:,}")
        else:
            parts.append("0 entries")
        if queue_total is not None and queue_total != total:
            parts.append(f"{queue_total:,} in queue")
        if selected:
            parts.append(f"[b]{selected:,} selected[/]")
        if skipped:
            word = "file" if skipped == 1 else "files"
            parts.append(f"[b red]{skipped} unreadable {word} skipped[/] [dim](! lists them)[/]")
        if watching:
            parts.append(f"[dim]{watching}[/]")
        if note:
            parts.append(note)
        self.update("  ·  ".join(parts))
