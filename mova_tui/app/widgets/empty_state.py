"""What the dashboard shows instead of the table when the dead-letter directory does not exist."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual.widgets import Static


class EmptyState(Static):
    """Explains how to point mova at a dead-letter directory."""

    def show_missing(self, path: Path, watching: bool = True) -> None:
        self.update(
            f"[b]No dead-letter directory at[/] [yellow]{escape(str(path))}[/]\n\n"
            "Point mova at one:\n\n"
            "  [b]mova --dlq-path PATH tui[/]\n"
            "  [b]MOVA_DLQ_PATH=PATH mova tui[/]\n\n"
            "Try the demo data:  [b]mova --dlq-path sample_state/deadletter tui[/]\n\n"
            + ("[dim]Watching: the dashboard fills in as soon as the directory appears.[/]" if watching
               else "[dim]Press g to look again once it exists.[/]")
        )
