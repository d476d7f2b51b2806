"""The line above the table: the search box and the active filters, always visible."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from mova_tui.app.filters import FilterState


class FilterBar(Horizontal):
    """Free-text search (`/`) plus a summary of the other filters and the sort order."""

    def compose(self) -> ComposeResult:
        yield Label("Search", id="search-label")
        yield Input(placeholder="/ id, type or error text", id="search", compact=True)
        yield Static("", id="filter-summary")

    def show(self, state: FilterState) -> None:
        """Show the filters (other than the search text, which is in the box)."""
        summary = state.describe()
        from mova_tui.app.filters import SORT_KEYS

        sort = SORT_KEYS.get(state.sort, state.sort)
        if state.sort == "created_at":
            order = "newest first" if state.descending else "oldest first"
        else:
            order = f"{sort} {'▼' if state.descending else '▲'}"
        text = f"[b]Filters:[/] {summary}  [dim](c clears)[/]" if state.active else "[dim]No filters (f to filter)[/]"
        self.query_one("#filter-summary", Static).update(f"{text}  [dim]·[/] sort: {order}")
        self.set_class(state.active, "-filtered")
