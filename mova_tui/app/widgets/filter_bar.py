"""The line above the table: the search box and the active filters, always visible."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from mova_tui.app.filters import SORT_KEYS, FilterState
from mova_tui.present.safe_text import clean

#: How long typing in the search box waits before the search is applied (seconds).
SEARCH_DELAY = 0.15


class FilterBar(Horizontal):
    """Free-text search (`/`) plus a summary of the other filters and the sort order."""

    @dataclass
    class SearchChanged(Message):
        """The search text settled: typing paused (Enter is the Input's own `Submitted`)."""

        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._typing: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label("Search", id="search-label")
        yield Input(placeholder="/ id, type or error text", id="search", compact=True)
        yield Static("", id="filter-summary")

    def show(self, state: FilterState) -> None:
        """Show the filters and sort order; the search box gets the state's text if it differs."""
        sort = SORT_KEYS.get(state.sort, state.sort)
        if state.sort == "created_at":
            order = "newest first" if state.descending else "oldest first"
        else:
            order = f"{sort} {'▼' if state.descending else '▲'}"
        # The filters name a workflow type from the entries and typed text: shown as text, not markup.
        filters = ((("Filters:", "bold"), " ", clean(state.describe(), one_line=True), "  ", ("(c clears)", "dim"))
                   if state.active else (("No filters (f to filter)", "dim"),))
        summary = Text.assemble(*filters, "  ", ("·", "dim"), f" sort: {clean(order, one_line=True)}")
        self.query_one("#filter-summary", Static).update(summary)
        self.set_class(state.active, "-filtered")
        search = self.query_one("#search", Input)
        if search.value != state.text:
            with search.prevent(Input.Changed):
                search.value = state.text

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self._stop_typing()
        value = event.value
        self._typing = self.set_timer(SEARCH_DELAY, lambda: self.post_message(self.SearchChanged(value)))

    @on(Input.Submitted, "#search")
    def _submitted(self) -> None:
        # The submitted text is applied at once (by whoever handles Submitted): no late search after it.
        self._stop_typing()

    def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.stop()
            self._typing = None
