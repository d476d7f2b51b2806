"""The statistics panel: counts per status and per workflow type, oldest active entry, top failure groups."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group as RichGroup
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from mova_core.model.listing import EntrySummary, Group, Stats
from mova_tui.present.palette import STATUS_STYLES
from mova_tui.present.safe_text import clean
from mova_tui.present.text import age, short_id

TOP_GROUPS = 5


class StatsPanel(VerticalScroll, can_focus=False):
    """Live queue statistics, updated whenever the directory changes."""

    def compose(self):
        yield Static("Loading statistics…", id="stats-body")

    def show(
        self,
        stats: Stats,
        groups: list[Group],
        oldest: EntrySummary | None,
        now: datetime,
    ) -> None:
        """Redraw from the core's figures."""
        out = Table.grid(padding=(0, 1), expand=True)
        out.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        out.add_column(justify="right", no_wrap=True)
        out.add_row(Text("Queue", style="bold"), Text(f"{stats.total_entries} entries", style="bold"))
        for status, count in stats.by_status.items():
            out.add_row(Text(f"  {status}", style=STATUS_STYLES.get(status, "")), str(count))
        out.add_row("", "")
        out.add_row(Text("By workflow type", style="bold"), "")
        if not stats.by_workflow_type:
            out.add_row(Text("  none", style="dim"), "")
        for wtype, count in list(stats.by_workflow_type.items())[:8]:
            out.add_row(Text(clean(f"  {wtype}", one_line=True)), str(count))
        extra = len(stats.by_workflow_type) - 8
        if extra > 0:
            out.add_row(Text(f"  … {extra} more", style="dim"), "")
        out.add_row("", "")
        out.add_row(Text("Oldest active", style="bold"),
                    Text(age(oldest.created_ts, now), style="bold yellow") if oldest else Text("none", style="dim"))
        lines: list = [out]
        if oldest is not None:
            lines.append(_line(f"  {short_id(oldest.id)} {oldest.workflow_type}", "dim"))
        lines += [Text(""), Text("Top failure groups", style="bold")]
        shown = [g for g in groups if g.count > 1][:TOP_GROUPS] or groups[:TOP_GROUPS]
        if not shown:
            lines.append(Text("  none", style="dim"))
        for group in shown:
            label = Text(f"  {group.count}× ", style="bold", no_wrap=True, overflow="ellipsis")
            label.append(clean(group.action_type or "?", one_line=True), style="cyan")
            label.append(clean(f"  {', '.join(group.workflow_types)}", one_line=True), style="dim")
            lines += [label, _line(f"    {group.example_error}", "dim")]
        self.query_one("#stats-body", Static).update(RichGroup(*lines))


def _line(text: str, style: str) -> Text:
    return Text(clean(text, one_line=True), style=style, no_wrap=True, overflow="ellipsis")
