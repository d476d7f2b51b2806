"""The main screen: the filter bar, the queue view, live statistics and a status line, wired together.

The screen owns the filters and the keys. It hears of changed entries from the app's
`entries_changed_signal`, brings the index up to date in a worker, then has the queue view read
its window again and, once the rows are on screen, the statistics panel its figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from mova_core.model.errors import MovaError
from mova_tui.app import actions
from mova_tui.app.filters import SORT_KEYS, FilterState
from mova_tui.app.host import host_of
from mova_tui.app.modals.filter_modal import FilterModal
from mova_tui.app.modals.help_modal import HelpModal
from mova_tui.app.modals.skipped_modal import SkippedModal
from mova_tui.app.screens.entry_screen import EntryScreen
from mova_tui.app.widgets.entry_table import EntryTable
from mova_tui.app.widgets.filter_bar import FilterBar
from mova_tui.app.widgets.live_stats import LiveStats
from mova_tui.app.widgets.queue_view import QueueView
from mova_tui.app.widgets.status_line import StatusLine
from mova_tui.app.worker_errors import ReportsWorkerErrors


class DashboardScreen(ReportsWorkerErrors, Screen):
    """Entries, statistics and every operation, from the keyboard or the mouse."""

    CSS_PATH = "dashboard_screen.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    # The footer shows what fits in 80 columns: the operations, help and quit. Search, filter and
    # clear are named in the filter bar above the table; every key is in the help screen.
    BINDINGS = [
        Binding("r", "retry", "Retry"),
        Binding("a", "archive", "Archive"),
        Binding("o", "reopen", "Reopen"),
        Binding("d", "delete", "Delete"),
        Binding("x", "export", "Export"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("slash", "search", "Search", show=False),
        Binding("f", "filters", "Filter", show=False),
        Binding("c", "clear_filters", "Clear filters", show=False),
        Binding("exclamation_mark", "skipped", "Unreadable files", show=False),
        Binding("asterisk", "select_all", "Select all matching", show=False),
        Binding("u", "clear_selection", "Clear selection", show=False),
        Binding("s", "sort_next", "Sort by next column", show=False),
        Binding("S", "sort_reverse", "Reverse sort order", show=False),
        Binding("y", "copy_id", "Copy id", show=False),
        Binding("i", "toggle_stats", "Show/hide statistics", show=False),
        Binding("g", "reload", "Reload (full re-check)", show=False),
    ]

    @dataclass
    class _Applied(Message):
        """The index is up to date with the changes (`full`: every file was re-checked)."""

        full: bool

    def __init__(self) -> None:
        super().__init__()
        self.filters = FilterState()
        #: The whole queue's size (from the statistics), shown beside a filtered count.
        self.queue_total: int | None = None
        self.skipped = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield FilterBar(id="filter-bar")
        with Horizontal(id="main"):
            yield QueueView(id="table-area")
            yield LiveStats(id="stats")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    @property
    def queue(self) -> QueueView:
        """The table and its selection."""
        return self.query_one(QueueView)

    def on_mount(self) -> None:
        host = host_of(self)
        self.query_one(FilterBar).show(self.filters)
        self.queue.table.focus()
        host.entries_changed_signal.subscribe(self, self.entries_changed)
        self.watch(host, "watch_state", lambda _state: self.refresh_status(), init=False)
        self._apply_changes(None, first=True)

    # -- changes ----------------------------------------------------------------------------------
    def entries_changed(self, names: list[str] | None) -> None:
        """Files changed (names None: anything may have): bring the index up to date, then re-read."""
        self._apply_changes(names)

    @work(thread=True, group="changes", exit_on_error=False)
    def _apply_changes(self, names: list[str] | None, first: bool = False, full: bool = False) -> None:
        """Bring the index up to date; the rows and the statistics are read again however that ended.

        A refusal (a directory gone unreadable) is shown here; anything else also reaches the app's
        worker-error handler. Either way the views re-read what the index has: never left stale.
        """
        try:
            self._refresh_index(names, first, full)
        except (MovaError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Reading the changes", severity="error")
        finally:
            self.post_message(self._Applied(full))

    def _refresh_index(self, names: list[str] | None, first: bool, full: bool) -> None:
        host = host_of(self)
        if names is not None:
            host.read(lambda s: s.refresh_names(names))
        elif first:
            # A first scan of a big directory can take a while: show how far it got.
            def progress(done: int, total: int) -> None:
                self.app.call_from_thread(self.refresh_status, f"indexing {done:,}/{total:,} files…")

            host.read(lambda s: s.refresh(progress=progress))
        else:
            host.read(lambda s: s.refresh(full=full))

    @on(_Applied)
    def _changes_applied(self, message: _Applied) -> None:
        self.queue.reload(changed=True)
        if message.full:
            self.notify("Re-checked every file", timeout=2)

    @on(QueueView.Loaded)
    def _queue_loaded(self, message: QueueView.Loaded) -> None:
        self.skipped = message.skipped
        self.refresh_status()
        if message.changed:
            # The rows first; the statistics (several queries) once the rows are on screen.
            self.query_one(LiveStats).reload()

    @on(LiveStats.Updated)
    def _stats_updated(self, message: LiveStats.Updated) -> None:
        self.queue_total = message.stats.total_entries
        self.refresh_status()

    @on(QueueView.SelectionChanged)
    @on(EntryTable.CursorMoved)
    def _position_changed(self) -> None:
        self.refresh_status()

    def refresh_status(self, note: str = "") -> None:
        """Redraw the status line (a note, such as indexing progress, at its end)."""
        table = self.queue.table
        first = int(table.scroll_y) + 1 if table.total else 0
        self.query_one(StatusLine).show(
            total=table.total,
            queue_total=self.queue_total if self.filters.active else None,
            first=first,
            last=min(table.total, int(table.scroll_y) + table.page_rows),
            selected=len(self.queue.selection),
            skipped=self.skipped,
            watching=host_of(self).watch_state,
            note=note,
        )

    # -- table events ---------------------------------------------------------------------------
    @on(EntryTable.Opened)
    def _opened(self, message: EntryTable.Opened) -> None:
        self.app.push_screen(EntryScreen(message.entry_id))

    @on(EntryTable.SortRequested)
    def _sort_requested(self, message: EntryTable.SortRequested) -> None:
        self.set_filters(self.filters.sorted_by(message.sort))

    # -- filters --------------------------------------------------------------------------------
    def set_filters(self, state: FilterState) -> None:
        """Apply new filters or sort: back to the first row, keep the selection."""
        try:
            state.to_entry_filter(host_of(self).clock())
        except ValueError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        self.filters = state
        self.query_one(FilterBar).show(state)
        self.queue.show_filters(state)

    @on(FilterBar.SearchChanged)
    def _search_changed(self, message: FilterBar.SearchChanged) -> None:
        self._search(message.text)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._search(event.value)
        self.queue.table.focus()

    def _search(self, text: str) -> None:
        if text != self.filters.text:
            self.set_filters(self.filters.with_(text=text))

    def key_escape(self) -> None:
        if self.focused is self.query_one("#search", Input):
            self.queue.table.focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_filters(self) -> None:
        stats = self.query_one(LiveStats).stats
        types = list(stats.by_workflow_type) if stats else []

        def done(state: FilterState | None) -> None:
            if state is not None:
                self.set_filters(state)

        self.app.push_screen(FilterModal(self.filters, types, host_of(self).clock()), done)

    def action_clear_filters(self) -> None:
        self.set_filters(self.filters.cleared())

    def action_sort_next(self) -> None:
        self.set_filters(self.filters.next_sort())
        self.notify(f"Sorted by {SORT_KEYS[self.filters.sort]}", timeout=2)

    def action_sort_reverse(self) -> None:
        self.set_filters(self.filters.with_(descending=not self.filters.descending))

    def action_toggle_stats(self) -> None:
        shown = self.query_one(LiveStats).display
        self.set_class(not shown, "-show-stats")
        self.set_class(shown, "-hide-stats")

    def action_reload(self) -> None:
        self._apply_changes(None, full=True)

    # -- selection and operations ---------------------------------------------------------------
    def action_select_all(self) -> None:
        self.queue.select_all()

    def action_clear_selection(self) -> None:
        self.queue.clear_selection()

    def action_retry(self) -> None:
        actions.retry(host_of(self), self.queue.targets(), on_done=self.queue.forget)

    def action_archive(self) -> None:
        actions.archive(host_of(self), self.queue.targets(), on_done=self.queue.forget)

    def action_reopen(self) -> None:
        actions.reopen(host_of(self), self.queue.targets(), on_done=self.queue.forget)

    def action_delete(self) -> None:
        actions.delete(host_of(self), self.queue.targets(), on_done=self.queue.forget)

    def action_export(self) -> None:
        try:
            flt = self.queue.entry_filter()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        actions.export(host_of(self), flt, self.queue.table.total, self.filters.describe())

    def action_copy_id(self) -> None:
        current = self.queue.table.current
        if current is not None:
            self.app.copy_to_clipboard(current.id)
            self.notify(f"Copied {current.id}", timeout=2)

    def action_help(self) -> None:
        self.app.push_screen(HelpModal.for_screen(self))

    def action_skipped(self) -> None:
        self.app.push_screen(SkippedModal())
