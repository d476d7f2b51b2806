"""A virtual table of entry summaries: it renders only the rows on screen, from a window the screen fetches.

The table never holds the whole queue. It knows the total row count (for the scrollbar) and a small
window of summaries around the viewport; when the viewport nears the window's edge it posts
`WindowNeeded`, and the screen answers with `show_window` from a worker. At 100,000 entries a key
press therefore costs one indexed SQLite query, never a 100,000-row widget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mova_core.model.listing import EntrySummary
from mova_tui.present.palette import status_label
from mova_tui.present.text import age, short_id, shorten, shorten_name


@dataclass(frozen=True)
class Column:
    """One column: its label, width in cells (0 = takes the remaining width) and the sort key it maps to.

    A prose column (the error) shows whitespace runs as one space; the others (ids, types) show
    tabs and newlines as escapes, so that what differs looks different.
    """

    key: str
    label: str
    width: int
    sort: str | None = None
    right: bool = False
    prose: bool = False


COLUMNS = (
    Column("mark", "", 1),
    Column("id", "ID", 8, "id"),
    Column("type", "TYPE", 15, "workflow_type"),
    Column("status", "STATUS", 8, "status"),
    Column("attempts", "ATT", 3, "attempts", right=True),
    Column("retries", "RTY", 3, "retry_count", right=True),
    Column("error", "LAST ERROR", 0, "last_error", prose=True),
    Column("age", "AGE", 4, "created_at", right=True),
)
GAP = 1


class EntryTable(ScrollView, can_focus=True):
    """The entry list: a windowed, sortable, selectable table drawn with the line API."""

    COMPONENT_CLASSES = {
        "entry-table--header",
        "entry-table--sorted",
        "entry-table--cursor",
        "entry-table--cursor-blurred",
        "entry-table--selected",
        "entry-table--mark",
        "entry-table--placeholder",
        "entry-table--empty",
        "entry-table--status-active",
        "entry-table--status-retrying",
        "entry-table--status-resolved",
        "entry-table--status-archived",
        "entry-table--status-stale",
    }

    # The scroll container's own bindings (left/right, page left/right) mean nothing here.
    INHERIT_BINDINGS = False
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "open", "Details"),
        Binding("space", "toggle_select", "Select"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    @dataclass
    class WindowNeeded(Message):
        """The viewport nears the edge of the loaded window: fetch `limit` rows from `offset`."""

        offset: int
        limit: int

    @dataclass
    class Opened(Message):
        """Enter or double click on a row."""

        entry_id: str

    @dataclass
    class SortRequested(Message):
        """A header was clicked: sort by this key (the same key again reverses)."""

        sort: str

    @dataclass
    class ToggleSelect(Message):
        """Space (or a click on the mark column) on a row."""

        entry_id: str

    @dataclass
    class CursorMoved(Message):
        """The cursor is on another row (or the row under it was reloaded)."""

        item: EntrySummary | None

    def __init__(self, clock: Callable[[], datetime], selection: set[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self.selection = selection
        self.total = 0
        self.window_start = 0
        self.rows: list[EntrySummary] = []
        self.sort = "created_at"
        self.descending = True
        self.empty_message = "Loading…"
        self._requested: tuple[int, int] | None = None

    # -- data ---------------------------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        """Rows visible under the header."""
        return max(1, self.size.height - 1)

    def item_at(self, index: int) -> EntrySummary | None:
        """The summary at an absolute row index, if it is in the loaded window."""
        pos = index - self.window_start
        if 0 <= pos < len(self.rows):
            return self.rows[pos]
        return None

    @property
    def current(self) -> EntrySummary | None:
        """The summary under the cursor (None if the table is empty or the row is still loading)."""
        return self.item_at(self.cursor) if self.total else None

    def wanted_window(self) -> tuple[int, int]:
        """The window to fetch for the viewport: two pages before it, the page, three after.

        One query costs about the same for 40 or 240 rows (the offset scan dominates), so a wide
        window means most key presses need no query at all.
        """
        rows = self.page_rows
        return max(0, int(self.scroll_y) - 2 * rows), rows * 6

    def show_window(self, offset: int, items: list[EntrySummary], total: int, keep_id: str | None = None) -> None:
        """Install a fetched window; keep the cursor on `keep_id` if it is in the new window.

        Pass `keep_id` only when the cursor has not moved since the window was asked for.
        """
        old_cursor = self.cursor
        self.window_start = offset
        self.rows = list(items)
        self.total = total
        self._requested = None
        self.virtual_size = Size(self.size.width, total + 1)
        target = old_cursor
        if keep_id is not None:
            for pos, item in enumerate(self.rows):
                if item.id == keep_id:
                    target = offset + pos
                    break
        if target != old_cursor:
            # The entry moved (rows were added or removed above it): move the view with it.
            self.scroll_to(y=max(0, self.scroll_y + target - old_cursor), animate=False, immediate=True)
        self.cursor = min(max(0, target), max(0, total - 1))
        self.refresh()
        self._ensure_window()

    def reset(self) -> None:
        """Back to the first row (after a filter or sort change)."""
        self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor = 0

    def _ensure_window(self) -> None:
        if not self.is_mounted or self.total == 0 or self.size.height < 2:
            return
        rows = self.page_rows
        first = int(self.scroll_y)
        last = min(self.total, first + rows)
        start, end = self.window_start, self.window_start + len(self.rows)
        # Fetch ahead while a page and a half is still loaded, so steady paging never waits.
        margin = rows + rows // 2
        stale = (
            first < start
            or last > end
            or (start > 0 and first - start < margin)
            or (end < self.total and end - last < margin)
        )
        if stale:
            wanted = self.wanted_window()
            if wanted != self._requested and wanted != (start, len(self.rows)):
                self._requested = wanted
                self.post_message(self.WindowNeeded(*wanted))

    # -- reactive plumbing ----------------------------------------------------------------------
    def validate_cursor(self, value: int) -> int:
        return min(max(0, value), max(0, self.total - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        rows = self.page_rows
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + rows:
            self.scroll_to(y=new - rows + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.CursorMoved(self.current))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._ensure_window()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self.total + 1)
        self._ensure_window()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- actions --------------------------------------------------------------------------------
    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.scroll_to(y=max(0, self.scroll_y - self.page_rows), animate=False, immediate=True)
        self.cursor -= self.page_rows

    def action_page_down(self) -> None:
        self.scroll_to(y=self.scroll_y + self.page_rows, animate=False, immediate=True)
        self.cursor += self.page_rows

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.total - 1

    def action_open(self) -> None:
        item = self.current
        if item is not None:
            self.post_message(self.Opened(item.id))

    def action_toggle_select(self) -> None:
        item = self.current
        if item is not None:
            self.post_message(self.ToggleSelect(item.id))
            self.cursor += 1

    # -- mouse ----------------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None and column.sort:
                self.post_message(self.SortRequested(column.sort))
            return
        index = int(self.scroll_y) + offset.y - 1
        if index >= self.total:
            return
        self.cursor = index
        item = self.item_at(index)
        if item is None:
            return
        column = self._column_at(offset.x)
        if column is not None and column.key == "mark":
            self.post_message(self.ToggleSelect(item.id))
        elif event.chain >= 2:
            self.post_message(self.Opened(item.id))

    def _column_at(self, x: int) -> Column | None:
        pos = 0
        for column, width in zip(COLUMNS, self._widths()):
            if pos <= x < pos + width + GAP:
                return column
            pos += width + GAP
        return None

    # -- rendering ------------------------------------------------------------------------------
    def _widths(self) -> list[int]:
        width = self.scrollable_content_region.width
        fixed = sum(c.width for c in COLUMNS) + GAP * (len(COLUMNS) - 1)
        flex = max(8, width - fixed)
        return [c.width or flex for c in COLUMNS]

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._header(width, base)
        index = int(self.scroll_y) + y - 1
        if self.total == 0:
            if y == 2:
                text = Text(self.empty_message, style=base + self._style("entry-table--empty"), justify="center")
                return self._strip(text, width, base)
            return Strip.blank(width, base)
        if index >= self.total:
            return Strip.blank(width, base)
        item = self.item_at(index)
        if item is None:
            text = Text("  …", style=base + self._style("entry-table--placeholder"))
            return self._strip(text, width, base)
        line_style = base
        if item.id in self.selection:
            line_style += self._style("entry-table--selected")
        if index == self.cursor:
            line_style += self._style("entry-table--cursor" if self.has_focus else "entry-table--cursor-blurred")
        return self._strip(self._row(item, line_style), width, line_style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.no_wrap = True
        text.end = ""
        # Every segment gets a style: Textual's NO_COLOR filter cannot handle a segment without one.
        segments = [Segment(t, s or style, c) for t, s, c in text.render(self.app.console) if t]
        return Strip(segments).adjust_cell_length(width, style)

    def _cells(self, values: list[tuple[str, Style | None]], style: Style) -> Text:
        text = Text(style=style, no_wrap=True)
        for i, ((value, cell_style), column, width) in enumerate(zip(values, COLUMNS, self._widths())):
            cell = (shorten if column.prose else shorten_name)(value, width)
            pad = " " * (width - len(cell))
            cell = pad + cell if column.right else cell + pad
            text.append(cell, cell_style)
            if i < len(COLUMNS) - 1:
                text.append(" " * GAP)
        return text

    def _header(self, width: int, base: Style) -> Strip:
        style = base + self._style("entry-table--header")
        values: list[tuple[str, Style | None]] = []
        for column in COLUMNS:
            label = column.label
            if column.sort and column.sort == self.sort:
                # AGE grows as created_at shrinks: newest first is "age ascending".
                up = not self.descending if column.key != "age" else self.descending
                label = f"{label}{'▲' if up else '▼'}"
                values.append((label, self._style("entry-table--sorted")))
            else:
                values.append((label, None))
        return self._strip(self._cells(values, style), width, style)

    def _row(self, item: EntrySummary, style: Style) -> Text:
        now = self._clock()
        status, key = status_label(item, now)
        mark = "●" if item.id in self.selection else " "
        values = [
            (mark, self._style("entry-table--mark")),
            (short_id(item.id), None),
            (item.workflow_type, None),
            (status, self._style(f"entry-table--status-{key}")),
            (str(item.attempts), None),
            (str(item.retry_count), None),
            (item.last_error, None),
            (age(item.created_ts, now), None),
        ]
        return self._cells(values, style)
