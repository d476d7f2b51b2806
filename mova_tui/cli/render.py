"""The command line's own views (Rich renderables): the entry list, stats, groups, alerts.

The entry detail view is shared with the dashboard (`mova_tui.present.entry_view`). No I/O and
no core calls here; the commands pass in what they fetched.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group as RenderGroup
from rich.console import RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from mova_core.timeutil import humanize_age
from mova_tui.present.entry_view import kv_grid
from mova_tui.present.palette import status_style, status_text
from mova_tui.present.safe_text import cell, clean
from mova_tui.present.text import age, short_ids, shorten, when

if TYPE_CHECKING:
    from mova_core.model.listing import EntrySummary, Group, Stats
    from mova_core.ops.alerts import Alert


#: The list marks a retrying entry whose lease expired and explains the mark under the table
#: (scripts and the reliability suite read `retrying*`); the colour is the palette's stale one.
STALE_MARK = "*"


def _status_cell(status: str, stale: bool) -> Text:
    word = clean(status, one_line=True)
    return Text(f"{word}{STALE_MARK}" if stale else word, style=status_style(status, stale=stale))


def _name(value: str) -> str:
    # Measured as shown: the columns are sized from these.
    return clean(value, one_line=True)


def entries_table(items: list[EntrySummary], now: datetime, total: int, width: int = 80) -> Table:
    """The `mova dlq list` table: fits `width` columns, the last error shortened to what is left."""
    shorts = short_ids(i.id for i in items)
    stale = {i.id for i in items if i.is_stale(now)}
    rows = [
        (_name(shorts[i.id]), _name(i.workflow_type), _status_cell(i.status, i.id in stale), str(i.attempts),
         shorten(i.last_error), age(i.created_ts, now))
        for i in items
    ]
    fixed = [
        max(2, *(len(r[0]) for r in rows)),
        min(15, max(4, *(len(r[1]) for r in rows))),
        max(6, *(len(r[2]) for r in rows)),
        max(3, *(len(r[3]) for r in rows)),
        max(3, *(len(r[5]) for r in rows)),
    ]
    error_width = max(12, width - sum(fixed) - 10)  # five two-space gaps between six columns
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("ID", no_wrap=True, style="bold", width=fixed[0])
    table.add_column("TYPE", no_wrap=True, width=fixed[1], overflow="ellipsis")
    table.add_column("STATUS", no_wrap=True, width=fixed[2])
    table.add_column("ATT", justify="right", no_wrap=True, width=fixed[3])
    table.add_column("LAST ERROR", no_wrap=True, overflow="ellipsis", width=error_width)
    table.add_column("AGE", justify="right", no_wrap=True, width=fixed[4])
    for row in rows:
        table.add_row(*map(cell, row))
    noun = "entry" if total == 1 else "entries"
    notes = [f"{len(items)} of {total} {noun}" if len(items) < total else f"{total} {noun}"]
    if stale:
        notes.append(f"{STALE_MARK} stale lease: its retry died; `mova dlq retry ID` takes it over")
    table.caption = "; ".join(notes)
    table.caption_justify = "left"
    return table


def stats_view(stats: Stats, now: datetime, oldest_active: EntrySummary | None, groups: list[Group],
               width: int = 80) -> RenderableType:
    """The human `mova dlq stats`: the specification's numbers, the oldest active age, failure groups."""
    parts: list[RenderableType] = []
    parts.append(kv_grid([
        ("total entries", stats.total_entries),
        ("oldest entry", when(stats.oldest_entry, now) or "-"),
        ("newest entry", when(stats.newest_entry, now) or "-"),
        ("oldest active", (f"{oldest_active.id} ({age(oldest_active.created_ts, now)} waiting)"
                           if oldest_active else "none")),
    ]))
    by = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    by.add_column("STATUS")
    by.add_column("COUNT", justify="right")
    for status, count in stats.by_status.items():
        by.add_row(status_text(status), str(count))
    types = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    types.add_column("WORKFLOW TYPE", max_width=30, overflow="ellipsis", no_wrap=True)
    types.add_column("COUNT", justify="right")
    for wtype, count in stats.by_workflow_type.items():
        types.add_row(cell(wtype), str(count))
    side = Table.grid(padding=(0, 4))
    side.add_row(by, types)
    parts.append(Text(""))
    parts.append(side)
    repeated = [g for g in groups if g.count > 1]
    if repeated:
        parts.append(Rule("failure groups (more than one entry)", align="left"))
        parts.append(groups_table(repeated[:10], width))
    return RenderGroup(*parts)


def groups_table(groups: list[Group], width: int = 80) -> Table:
    """Failure groups: fingerprint, count, action type, first and last seen, one example error."""
    rows = [(_name(g.fingerprint), str(g.count), _name(g.action_type or "-"), _name(g.first_seen[:10]),
             _name(g.last_seen[:10]), shorten(g.example_error)) for g in groups]
    fixed = [max(5, *(len(r[0]) for r in rows)), max(1, *(len(r[1]) for r in rows)),
             min(10, max(6, *(len(r[2]) for r in rows))), 10, 10]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("GROUP", no_wrap=True, style="bold", width=fixed[0])
    table.add_column("N", justify="right", no_wrap=True, width=fixed[1])
    table.add_column("ACTION", no_wrap=True, width=fixed[2], overflow="ellipsis")
    table.add_column("FIRST SEEN", no_wrap=True, width=fixed[3])
    table.add_column("LAST SEEN", no_wrap=True, width=fixed[4])
    table.add_column("EXAMPLE ERROR", no_wrap=True, overflow="ellipsis", width=max(12, width - sum(fixed) - 10))
    for row in rows:
        table.add_row(*map(cell, row))
    return table


_DURATION_CHECKS = {"max_age", "max_sandbox_runtime"}


def _measure(name: str, value: float) -> str:
    if name in _DURATION_CHECKS:
        return humanize_age(value)
    if name == "max_retry_failure_rate":
        return f"{value:.0%}"
    if name == "max_growth":
        return f"{value:g}/h"
    return f"{value:g}"


def alerts_view(alerts: list[Alert]) -> RenderableType:
    """One line per check (state, name, measured value against the limit, why), and the entries concerned."""
    lines: list[RenderableType] = []
    width = max(len(a.name) for a in alerts)
    for a in alerts:
        line = Text()
        line.append("BREACHED" if a.breached else "ok      ", style="bold red" if a.breached else "green")
        line.append(f"  {a.name:<{width}}  ")
        line.append(f"{_measure(a.name, a.value)} {'>' if a.breached else '<='} {_measure(a.name, a.threshold)}",
                    style="bold" if a.breached else "")
        line.append(f"  {clean(a.message, one_line=True)}")
        lines.append(line)
        if a.entries:
            shorts = short_ids(a.entries)
            shown = ", ".join(shorts[e] for e in a.entries[:8]) + (f", … (+{len(a.entries) - 8})" if len(a.entries) > 8 else "")
            lines.append(Padding(Text(clean(f"  entries: {shown}", one_line=True), style="dim"), (0, 0, 0, 2)))
    return RenderGroup(*lines)
