"""The queue as the table shows it: the filtered, sorted listing read window by window, and the selection.

The view owns the reading (an exclusive worker per window: a newer request supersedes an older
one) and the frozen selection; the screen owns the filters and tells the view when they change.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.worker import get_current_worker

from mova_core.model.errors import MovaError
from mova_core.model.listing import EntryFilter, Page
from mova_core.ops.service import DLQService
from mova_tui.app.filters import FilterState
from mova_tui.app.host import host_of
from mova_tui.app.widgets.empty_state import EmptyState
from mova_tui.app.widgets.entry_table import EntryTable
from mova_tui.app.worker_errors import ReportsWorkerErrors

#: The fewest rows a window read fetches (a first screen, before the table knows its height).
MIN_WINDOW = 120
#: Select-all lists ids in pages of this many, so a huge selection never holds every summary at once.
BATCH = 5000


def list_window(service: DLQService, flt: EntryFilter, total_hint: int) -> Page:
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


def matching_ids(service: DLQService, flt: EntryFilter) -> list[str]:
    """Every id matching the filter, read page by page."""
    ids: list[str] = []
    offset = 0
    while True:
        page = service.list(flt.model_copy(update={"offset": offset, "limit": BATCH}))
        ids.extend(item.id for item in page.items)
        if len(page.items) < BATCH:
            return ids
        offset += BATCH


class QueueView(ReportsWorkerErrors, Vertical):
    """The entry table (or, without a directory, how to point mova at one) over the filtered queue."""

    @dataclass
    class Loaded(Message):
        """A window is on screen; `changed` when it was read because entries changed."""

        total: int
        skipped: int
        changed: bool

    class SelectionChanged(Message):
        """Entries were selected or unselected."""

    @dataclass
    class _Window(Message):
        generation: int
        offset: int
        page: Page
        keep_id: str | None
        keep_cursor: int
        changed: bool

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = FilterState()
        self.selection: set[str] = set()
        #: Bumped by each filter change, so a window read for older filters is dropped.
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield EntryTable(host_of(self).clock, self.selection, id="entries")
        yield EmptyState(id="empty")

    @property
    def table(self) -> EntryTable:
        """The entry table."""
        return self.query_one(EntryTable)

    def entry_filter(self, offset: int = 0, limit: int | None = None) -> EntryFilter:
        """The core's filter for what the view shows; ValueError for an unreadable filter time."""
        return self.filters.to_entry_filter(host_of(self).clock(), offset=offset, limit=limit)

    # -- reading --------------------------------------------------------------------------------
    def show_filters(self, state: FilterState) -> None:
        """Show the queue under new filters or sort, from the first row (the selection is kept)."""
        self.filters = state
        self.generation += 1
        self.table.reset()
        self._load(0, keep=False, changed=False)

    def reload(self, *, changed: bool = False) -> None:
        """Read the rows around the viewport again, keeping the cursor on its entry if it is still there."""
        self._load(self.table.wanted_window()[0], keep=True, changed=changed)

    def _load(self, offset: int, *, keep: bool, changed: bool) -> None:
        table = self.table
        try:
            flt = self.entry_filter(offset, max(table.wanted_window()[1], MIN_WINDOW))
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        keep_id = table.current.id if keep and table.current else None
        self._fetch_window(self.generation, flt, keep_id, table.cursor, table.total if keep else 0, changed)

    @work(thread=True, exclusive=True, group="window", exit_on_error=False)
    def _fetch_window(self, generation: int, flt: EntryFilter, keep_id: str | None = None, keep_cursor: int = -1,
                      total_hint: int = 0, changed: bool = False) -> None:
        try:
            page = host_of(self).read(lambda s: list_window(s, flt, total_hint))
        except (MovaError, OSError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self._Window(generation, flt.offset, page, keep_id, keep_cursor, changed))

    def _failed(self, error: str) -> None:
        self.table.empty_message = f"Could not read the queue: {error}"
        self.table.refresh()
        self.notify(error, title="Reading the queue", severity="error")

    @on(_Window)
    def _window_read(self, message: _Window) -> None:
        if message.generation != self.generation:
            return  # an answer to filters that are no longer shown
        page, table = message.page, self.table
        table.sort, table.descending = self.filters.sort, self.filters.descending
        host = host_of(self)
        if page.missing_dir:
            self.query_one(EmptyState).show_missing(host.dlq_path, host.watch_enabled)
        elif page.total == 0:
            table.empty_message = ("No entries match the filters — press c to clear them" if self.filters.active
                                   else "The dead-letter queue is empty")
        self.set_class(page.missing_dir, "-missing")
        if not page.missing_dir and self.screen.focused is None:
            table.focus()  # it could not keep the focus while hidden (no directory yet)
        # Follow the entry only if the operator has not moved the cursor since the read was asked for.
        keep = message.keep_id if table.cursor == message.keep_cursor else None
        table.show_window(message.offset, page.items, page.total, keep_id=keep)
        self.post_message(self.Loaded(page.total, len(page.skipped), message.changed))

    @on(EntryTable.WindowNeeded)
    def _window_needed(self, message: EntryTable.WindowNeeded) -> None:
        message.stop()
        try:
            flt = self.entry_filter(message.offset, message.limit)
        except ValueError:
            return
        self._fetch_window(self.generation, flt, total_hint=self.table.total)

    # -- selection ------------------------------------------------------------------------------
    @on(EntryTable.ToggleSelect)
    def _toggle(self, message: EntryTable.ToggleSelect) -> None:
        message.stop()
        if message.entry_id in self.selection:
            self.selection.discard(message.entry_id)
        else:
            self.selection.add(message.entry_id)
        self._selection_changed()

    def select_all(self) -> None:
        """Add every entry matching the filters (not only the rows on screen) to the selection."""
        try:
            flt = self.entry_filter()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._select_matching(flt)

    @work(thread=True, exclusive=True, group="select", exit_on_error=False)
    def _select_matching(self, flt: EntryFilter) -> None:
        ids = host_of(self).read_apart(lambda s: matching_ids(s, flt))
        self.app.call_from_thread(self._add_selection, ids)

    def _add_selection(self, ids: list[str]) -> None:
        self.selection.update(ids)
        self._selection_changed()
        self.notify(f"{len(self.selection):,} selected ({len(ids):,} matching the filters)", timeout=3)

    def clear_selection(self) -> None:
        """Unselect everything."""
        self.selection.clear()
        self._selection_changed()

    def forget(self, ids: list[str]) -> None:
        """Unselect these ids (their operation has started)."""
        if self.selection.intersection(ids):
            self.selection.difference_update(ids)
            self._selection_changed()

    def targets(self) -> list[str]:
        """The frozen selection if any, else the entry under the cursor."""
        if self.selection:
            return sorted(self.selection)
        current = self.table.current
        return [current.id] if current else []

    def _selection_changed(self) -> None:
        self.table.refresh()
        self.post_message(self.SelectionChanged())
