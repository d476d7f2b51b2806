"""The main screen: filter bar, the windowed entry table, live statistics and a status line."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input
from textual.worker import get_current_worker

from mova_core.model.errors import MovaError
from mova_core.model.listing import EntryFilter, EntrySummary, Group, Page, Stats
from mova_tui.app import actions
from mova_tui.app.filters import SORT_KEYS, FilterState
from mova_tui.app.widgets.empty_state import EmptyState
from mova_tui.app.widgets.entry_table import EntryTable
from mova_tui.app.widgets.filter_bar import FilterBar
from mova_tui.app.widgets.stats_panel import StatsPanel
from mova_tui.app.widgets.status_line import StatusLine

#: How long typing in the search box waits before querying (seconds).
SEARCH_DELAY = 0.15
#: The statistics are several queries over the whole index: reload them at most this often (seconds).
STATS_INTERVAL = 1.0


@dataclass
class WindowLoaded(Message):
    """A window of rows fetched for the table."""

    generation: int
    offset: int
    page: Page
    keep_id: str | None
    keep_cursor: int


@dataclass
class StatsLoaded(Message):
    """Fresh statistics for the side panel (stats None: reading them failed)."""

    stats: Stats | None
    groups: list[Group]
    oldest: EntrySummary | None
    error: str | None = None


@dataclass
class LoadFailed(Message):
    """A read failed (a bad filter time, an I/O error)."""

    error: str


def list_window(service, flt: EntryFilter, total_hint: int) -> Page:
    """A window of the listing, read from the nearer end.

    An OFFSET query costs in proportion to the offset, so a window in the second half of the list
    is read in the reverse order from the other end and turned around. The total is checked: if the
    list changed size meanwhile, the window is read again the plain way.
    """
    limit = flt.limit or 0
    if not total_hint or not limit or flt.offset + limit <= total_hint // 2 or flt.offset >= total_hint:
        return service.list(flt)
    count = min(limit, total_hint - flt.offset)
    mirrored = flt.model_copy(update={
        "descending": not flt.descending,
        "offset": total_hint - flt.offset - count,
        "limit": count,
    })
    page = service.list(mirrored)
    if page.total != total_hint:
        return service.list(flt)
    page.items.reverse()
    return page


class DashboardScreen(Screen):
    """Entries, statistics and every operation, from the keyboard or the mouse."""

    CSS_PATH = "dashboard_screen.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "search", "Search"),
        Binding("f", "filters", "Filter"),
        Binding("c", "clear_filters", "Clear"),
        Binding("r", "retry", "Retry"),
        Binding("a", "archive", "Archive"),
        Binding("d", "delete", "Delete"),
        Binding("x", "export", "Export"),
        Binding("asterisk", "select_all", "Select all matching", show=False),
        Binding("u", "clear_selection", "Clear selection", show=False),
        Binding("s", "sort_next", "Sort by next column", show=False),
        Binding("S", "sort_reverse", "Reverse sort order", show=False),
        Binding("y", "copy_id", "Copy id", show=False),
        Binding("i", "toggle_stats", "Show/hide statistics", show=False),
        Binding("g", "reload", "Reload (full re-check)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters = FilterState()
        self.selection: set[str] = set()
        self.generation = 0
        self.queue_total: int | None = None
        self.skipped = 0
        self.missing = False
        self.stats_visible: bool | None = None  # None: decided by width
        self._pending_names: set[str] | None = set()
        self._pending_lock = threading.Lock()
        self._search_timer: Timer | None = None
        self._stats: tuple[Stats, list[Group], EntrySummary | None] | None = None
        self._stats_running = False
        self._stats_dirty = False
        self._stats_at = 0.0
        self._stats_timer: Timer | None = None

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield FilterBar(id="filter-bar")
        with Horizontal(id="main"):
            with Vertical(id="table-area"):
                yield EntryTable(self.app.clock, self.selection, id="entries")
                yield EmptyState(id="empty")
            yield StatsPanel(id="stats")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    @property
    def table(self) -> EntryTable:
        return self.query_one(EntryTable)

    def on_mount(self) -> None:
        self.query_one(FilterBar).show(self.filters)
        self.table.focus()
        self.load_window(reset=True, initial=True)
        self._stats_dirty = True  # loaded once the first rows are on screen

    # -- reading (workers) ------------------------------------------------------------------------
    def _entry_filter(self, offset: int = 0, limit: int | None = None) -> EntryFilter:
        return self.filters.to_entry_filter(self.app.clock(), offset=offset, limit=limit)

    def load_window(self, *, reset: bool = False, initial: bool = False) -> None:
        """Fetch the rows around the viewport (from the top after a filter change)."""
        table = self.table
        if reset:
            self.generation += 1
            table.reset()
        offset, limit = table.wanted_window()
        if reset:
            offset = 0
        limit = max(limit, 120)
        keep = None if reset else (table.current.id if table.current else None)
        try:
            flt = self._entry_filter(offset, limit)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._fetch_window(self.generation, flt, keep, table.cursor, initial, 0 if reset else table.total)

    @work(thread=True, exclusive=True, group="window", exit_on_error=False)
    def _fetch_window(
        self,
        generation: int,
        flt: EntryFilter,
        keep_id: str | None,
        keep_cursor: int = -1,
        initial: bool = False,
        total_hint: int = 0,
    ) -> None:
        app = self.app
        try:
            if initial:
                # A first scan of a big directory can take a while: show how far it got.
                def progress(done: int, total: int) -> None:
                    app.call_from_thread(self.refresh_status, f"indexing {done:,}/{total:,} files…")

                app.read(lambda s: s.refresh(progress=progress))
            page = app.read(lambda s: list_window(s, flt, total_hint))
        except (MovaError, OSError) as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(WindowLoaded(generation, flt.offset, page, keep_id, keep_cursor))

    def load_stats(self) -> None:
        """Reload the statistics: one reload at a time, at most one a second (bursts coalesce)."""
        self._stats_dirty = True
        if self._stats_running or self._stats_timer is not None:
            return
        wait = STATS_INTERVAL - (time.monotonic() - self._stats_at)
        if wait > 0:
            self._stats_timer = self.set_timer(wait, self._stats_due)
            return
        self._stats_dirty = False
        self._stats_running = True
        self._stats_at = time.monotonic()
        self._fetch_stats()

    def _stats_due(self) -> None:
        self._stats_timer = None
        if self._stats_dirty:
            self.load_stats()

    @work(thread=True, group="stats", exit_on_error=False)
    def _fetch_stats(self) -> None:
        app = self.app
        try:
            stats = app.read_stats(lambda s: s.stats())
            groups = app.read_stats(lambda s: s.groups())
            oldest = app.read_stats(lambda s: s.oldest_active())
        except (MovaError, OSError) as exc:
            self.post_message(StatsLoaded(None, [], None, error=str(exc)))
            return
        self.post_message(StatsLoaded(stats, groups, oldest))

    def entries_changed(self, names: list[str] | None) -> None:
        """Files changed on disk: re-read them, then reload the window and the statistics."""
        with self._pending_lock:
            if names is None or self._pending_names is None:
                self._pending_names = None
            else:
                self._pending_names.update(names)
        self._apply_changes()

    @work(thread=True, exclusive=True, group="changes", exit_on_error=False)
    def _apply_changes(self) -> None:
        with self._pending_lock:
            names, self._pending_names = self._pending_names, set()
        app = self.app
        if names is None:
            app.read(lambda s: s.refresh())
        elif names:
            store = app.service.store
            if hasattr(store, "refresh_names"):
                app.read(lambda s: store.refresh_names(sorted(names)))
        app.call_from_thread(self._after_changes)

    def _after_changes(self) -> None:
        # The rows first; the statistics (several queries) once the rows are on screen.
        self._stats_dirty = True
        self.load_window()

    # -- results --------------------------------------------------------------------------------
    def on_window_loaded(self, message: WindowLoaded) -> None:
        if message.generation != self.generation:
            return  # an answer to a filter that is no longer shown
        page = message.page
        self.missing = page.missing_dir
        self.skipped = len(page.skipped)
        table = self.table
        table.sort, table.descending = self.filters.sort, self.filters.descending
        if page.missing_dir:
            self.query_one(EmptyState).show_missing(self.app.dlq_path, self.app.watch_enabled)
        elif page.total == 0:
            table.empty_message = (
                "No entries match the filters — press c to clear them" if self.filters.active
                else "The dead-letter queue is empty"
            )
        self.set_class(page.missing_dir, "-missing")
        # Follow the entry only if the operator has not moved the cursor since the reload was asked for.
        keep = message.keep_id if table.cursor == message.keep_cursor else None
        table.show_window(message.offset, page.items, page.total, keep_id=keep)
        self.refresh_status()
        if self._stats_dirty:
            self.load_stats()

    def on_stats_loaded(self, message: StatsLoaded) -> None:
        self._stats_running = False
        if message.stats is None:
            self.notify(message.error or "could not read the statistics", severity="error")
        else:
            self._stats = (message.stats, message.groups, message.oldest)
            self.queue_total = message.stats.total_entries
            self.query_one(StatsPanel).show(message.stats, message.groups, message.oldest, self.app.clock())
            self.refresh_status()
        if self._stats_dirty:
            self.load_stats()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.table.empty_message = f"Could not read the queue: {message.error}"
        self.table.refresh()
        self.notify(message.error, title="Reading the queue", severity="error")

    def refresh_status(self, note: str = "") -> None:
        table = self.table
        first = int(table.scroll_y) + 1 if table.total else 0
        last = min(table.total, int(table.scroll_y) + table.page_rows)
        self.query_one(StatusLine).show(
            total=table.total,
            queue_total=self.queue_total if self.filters.active else None,
            first=first,
            last=last,
            selected=len(self.selection),
            skipped=self.skipped,
            watching=self.app.watch_state,
            note=note,
        )

    # -- table events ---------------------------------------------------------------------------
    @on(EntryTable.WindowNeeded)
    def _window_needed(self, message: EntryTable.WindowNeeded) -> None:
        try:
            flt = self._entry_filter(message.offset, message.limit)
        except ValueError:
            return
        self._fetch_window(self.generation, flt, None, total_hint=self.table.total)

    @on(EntryTable.Opened)
    def _opened(self, message: EntryTable.Opened) -> None:
        from mova_tui.app.screens.entry_screen import EntryScreen

        self.app.push_screen(EntryScreen(message.entry_id))

    @on(EntryTable.ToggleSelect)
    def _toggle(self, message: EntryTable.ToggleSelect) -> None:
        if message.entry_id in self.selection:
            self.selection.discard(message.entry_id)
        else:
            self.selection.add(message.entry_id)
        self.table.refresh()
        self.refresh_status()

    @on(EntryTable.SortRequested)
    def _sort_requested(self, message: EntryTable.SortRequested) -> None:
        if message.sort == self.filters.sort:
            self.set_filters(self.filters.with_(descending=not self.filters.descending))
        else:
            self.set_filters(self.filters.with_(sort=message.sort, descending=message.sort in ("created_at",)))

    @on(EntryTable.CursorMoved)
    def _cursor_moved(self, message: EntryTable.CursorMoved) -> None:
        self.refresh_status()

    # -- filters --------------------------------------------------------------------------------
    def set_filters(self, state: FilterState) -> None:
        """Apply new filters or sort: back to the first row, keep the selection."""
        try:
            state.to_entry_filter(self.app.clock())
        except ValueError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        self.filters = state
        self.query_one(FilterBar).show(state)
        search = self.query_one("#search", Input)
        if search.value != state.text:
            with search.prevent(Input.Changed):
                search.value = state.text
        self.load_window(reset=True)

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value
        self._search_timer = self.set_timer(SEARCH_DELAY, lambda: self._apply_search(value))

    def _apply_search(self, value: str) -> None:
        if value != self.filters.text:
            self.set_filters(self.filters.with_(text=value))

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_search(event.value)
        self.table.focus()

    def key_escape(self) -> None:
        if self.focused is self.query_one("#search", Input):
            self.table.focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_filters(self) -> None:
        from mova_tui.app.modals.filter_modal import FilterModal

        types = list(self._stats[0].by_workflow_type) if self._stats else []

        def done(state: FilterState | None) -> None:
            if state is not None:
                self.set_filters(state)

        self.app.push_screen(FilterModal(self.filters, types, self.app.clock()), done)

    def action_clear_filters(self) -> None:
        self.set_filters(self.filters.cleared())

    def action_sort_next(self) -> None:
        keys = list(SORT_KEYS)
        nxt = keys[(keys.index(self.filters.sort) + 1) % len(keys)] if self.filters.sort in keys else keys[0]
        self.set_filters(self.filters.with_(sort=nxt, descending=nxt == "created_at"))
        self.notify(f"Sorted by {SORT_KEYS[nxt]}", timeout=2)

    def action_sort_reverse(self) -> None:
        self.set_filters(self.filters.with_(descending=not self.filters.descending))

    def action_toggle_stats(self) -> None:
        shown = self.query_one(StatsPanel).display
        self.set_class(not shown, "-show-stats")
        self.set_class(shown, "-hide-stats")

    def action_reload(self) -> None:
        self._full_reload()

    @work(thread=True, exclusive=True, group="changes", exit_on_error=False)
    def _full_reload(self) -> None:
        self.app.read(lambda s: s.refresh(full=True))
        self.app.call_from_thread(self._after_changes)
        self.app.call_from_thread(self.notify, "Re-checked every file", timeout=2)

    # -- selection ------------------------------------------------------------------------------
    def action_select_all(self) -> None:
        try:
            flt = self._entry_filter()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._select_all(flt)

    @work(thread=True, exclusive=True, group="select", exit_on_error=False)
    def _select_all(self, flt: EntryFilter) -> None:
        ids = actions.matching_ids(self.app.job_service(), flt)
        self.app.call_from_thread(self._add_selection, ids)

    def _add_selection(self, ids: list[str]) -> None:
        self.selection.update(ids)
        self.table.refresh()
        self.refresh_status()
        self.notify(f"{len(self.selection):,} selected ({len(ids):,} matching the filters)", timeout=3)

    def action_clear_selection(self) -> None:
        self.selection.clear()
        self.table.refresh()
        self.refresh_status()

    def targets(self) -> list[str]:
        """The frozen selection if any, else the entry under the cursor."""
        if self.selection:
            return sorted(self.selection)
        current = self.table.current
        return [current.id] if current else []

    # -- operations -----------------------------------------------------------------------------
    def action_retry(self) -> None:
        actions.retry(self.app, self.targets(), on_done=self._clear_after_bulk)

    def action_archive(self) -> None:
        actions.archive(self.app, self.targets(), on_done=self._clear_after_bulk)

    def action_delete(self) -> None:
        actions.delete(self.app, self.targets(), on_done=self._clear_after_bulk)

    def _clear_after_bulk(self, ids: list[str]) -> None:
        if len(ids) > 1 or (ids and ids[0] in self.selection):
            self.selection.difference_update(ids)
            self.table.refresh()
            self.refresh_status()

    def action_export(self) -> None:
        try:
            flt = self._entry_filter()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        actions.export(self.app, flt, self.table.total, self.filters.describe())

    def action_copy_id(self) -> None:
        current = self.table.current
        if current is not None:
            self.app.copy_to_clipboard(current.id)
            self.notify(f"Copied {current.id}", timeout=2)

    def action_help(self) -> None:
        from mova_tui.app.modals.help_modal import HelpModal

        self.app.push_screen(HelpModal.for_screen(self))
