"""Human views (Rich renderables) of what the core returns: entry tables, the detail view, stats,
groups, alerts. No I/O and no core calls here; the commands pass in what they fetched.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from rich import box
from rich.console import Group as RenderGroup
from rich.console import RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from mova_core.timeutil import humanize_age, parse_time
from mova_tui.present.safe_text import cell, clean

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry
    from mova_core.model.listing import EntrySummary, Group, Stats

STATUS_STYLE = {"active": "red", "retrying": "cyan", "resolved": "green", "archived": "dim"}
STALE_MARK = "*"


def status_text(status: str, stale: bool = False) -> Text:
    """A status, coloured; a stale `retrying` lease gets a mark."""
    status = clean(status)
    if stale:
        return Text(status + STALE_MARK, style="yellow")
    return Text(status, style=STATUS_STYLE.get(status, ""))


def short_ids(ids: Iterable[str], minimum: int = 8) -> dict[str, str]:
    """The shortest prefix of each id that is unique among `ids` (at least `minimum` characters past `dlq_`)."""
    ids = list(dict.fromkeys(ids))
    keys = sorted((i.removeprefix("dlq_"), i) for i in ids)
    need: dict[str, int] = {}
    for n, (key, full) in enumerate(keys):
        common = 0
        for other in (keys[n - 1][0] if n else None, keys[n + 1][0] if n + 1 < len(keys) else None):
            if other is None:
                continue
            k = 0
            while k < min(len(key), len(other)) and key[k] == other[k]:
                k += 1
            common = max(common, k)
        need[full] = max(minimum, common + 1)
    return {full: full[: len(full) - len(full.removeprefix("dlq_")) + need[full]] for full in ids}


def age(created_ts: float, now: datetime) -> str:
    """How long ago an entry was created: 45s, 12m, 3h, 5d."""
    return humanize_age(now.timestamp() - created_ts)


def shorten(text: str | None, limit: int = 200) -> str:
    """One line, at most `limit` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def entries_table(items: list[EntrySummary], now: datetime, total: int, width: int = 80) -> Table:
    """The `mova dlq list` table: fits `width` columns, the last error shortened to what is left."""
    shorts = short_ids(i.id for i in items)
    stale = {i.id for i in items if i.is_stale(now)}
    rows = [
        (shorts[i.id], i.workflow_type, status_text(i.status, i.id in stale), str(i.attempts),
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


def _kv(rows: Iterable[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        if value is None or value == "" or value == []:
            continue
        grid.add_row(key, cell(value))
    return grid


def _json(data: Any, color: bool) -> RenderableType:
    text = clean(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    if not color:
        return Text(text)
    from rich.syntax import (
        Syntax,  # pygments is slow to import; only the detail view needs it
    )

    return Syntax(text, "json", theme="ansi_dark", background_color="default", word_wrap=True)


def _indented(renderable: RenderableType) -> RenderableType:
    from rich.padding import Padding

    return Padding(renderable, (0, 0, 0, 2))


def _when(stamp: str | None, now: datetime) -> str | None:
    if not stamp:
        return None
    try:
        return f"{stamp} ({humanize_age(now.timestamp() - parse_time(stamp).timestamp())} ago)"
    except ValueError:
        return stamp


def _duration(start: str | None, end: str | None) -> str:
    try:
        seconds = parse_time(end).timestamp() - parse_time(start).timestamp()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return f"{seconds:.1f}s" if seconds < 120 else humanize_age(seconds)


def entry_detail(entry: DeadLetterEntry, now: datetime, *, stale: bool, color: bool, run: Any = None) -> RenderableType:
    """The `mova dlq show` view: header, error, failed action, variables, results, retries, envelope."""
    md, err = entry.metadata, entry.error_details
    parts: list[RenderableType] = []
    parts.append(Rule(Text(entry.id, style="bold"), align="left"))
    parts.append(_kv([
        ("status", status_text(entry.status, stale)),
        ("workflow type", entry.workflow_type),
        ("run id", entry.run_id),
        ("created", _when(entry.created_at, now)),
        ("updated", _when(entry.updated_at, now)),
        ("user", md.user_id),
        ("priority", md.priority),
        ("source", md.source),
        ("tags", ", ".join(md.tags or [])),
        ("retries", md.retry_count or None),
        ("last retry", _when(md.last_retry_at, now)),
    ]))
    if md.lease:
        lease = md.lease
        state = "STALE: its process probably died; `mova dlq retry` takes it over" if stale else "live"
        parts.append(Text(""))
        parts.append(_kv([
            ("retry run", lease.retry_run_id),
            ("mode", "sandbox" if lease.sandbox_mode else "production"),
            ("held by", lease.owner),
            ("since", _when(lease.acquired_at, now)),
            ("lease until", f"{lease.expires_at} ({state})"),
        ]))
        if run is not None:
            parts.append(_kv([("progress", f"{run.status}" + (f": {run.error}" if run.error else ""))]))

    parts.append(Rule("error", align="left"))
    parts.append(_kv([
        ("failure reason", err.failure_reason),
        ("attempts", err.attempts),
        ("last error", Text(clean(err.last_error), style="red")),
    ]))
    if err.error_history:
        parts.append(Text("error history", style="bold"))
        for line in err.error_history:
            parts.append(_indented(Text(clean(line))))
    if err.retry_policy:
        parts.append(_kv([("retry policy", json.dumps(err.retry_policy.model_dump(mode="json")))]))

    if entry.failed_action:
        action = entry.failed_action
        parts.append(Rule(cell(f"failed action: {action.key} ({action.type})"), align="left"))
        parts.append(_json(action.arguments, color))

    if entry.context.variables:
        parts.append(Rule("variables", align="left"))
        parts.append(_json(entry.context.variables, color))

    if entry.context.results:
        parts.append(Rule("action results", align="left"))
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
        for col in ("ACTION", "TYPE", "STATUS", "ATT", "TIME", "ERROR"):
            table.add_column(col, no_wrap=col != "ERROR", overflow="fold")
        for key, res in entry.context.results.items():
            table.add_row(cell(key), cell(res.type or ""), status_text(res.status), str(res.attempts or ""),
                          _duration(res.start_time, res.end_time), cell(res.error or ""))
        parts.append(table)

    if entry.retry_history:
        parts.append(Rule("retry history", align="left"))
        for rec in entry.retry_history:
            outcome_style = "green" if rec.outcome == "completed" else "red"
            head = Text("• ")
            head.append(rec.start_time)
            head.append("  " + ("sandbox" if rec.sandbox_mode else "production"), style="bold")
            head.append("  " + rec.outcome, style=outcome_style)
            took = _duration(rec.start_time, rec.end_time)
            if took:
                head.append(f"  ({took})")
            if rec.actor:
                head.append(f"  by {clean(rec.actor)}", style="dim")
            parts.append(head)
            parts.append(_indented(Text(clean(rec.retry_run_id), style="dim")))
            if rec.error:
                parts.append(_indented(Text(clean(rec.error), style="red")))
            overrides = [*rec.override_variables, *(f"{s} (secret)" for s in rec.override_secrets)]
            if overrides:
                parts.append(_indented(Text(clean("overrides: " + ", ".join(overrides)))))

    parts.append(Rule("envelope", align="left"))
    parts.append(_json(entry.envelope.model_dump(mode="json"), color))
    return RenderGroup(*parts)


def stats_view(stats: Stats, now: datetime, oldest_active: EntrySummary | None, groups: list[Group],
               width: int = 80) -> RenderableType:
    """The human `mova dlq stats`: the specification's numbers, the oldest active age, failure groups."""
    parts: list[RenderableType] = []
    parts.append(_kv([
        ("total entries", stats.total_entries),
        ("oldest entry", _when(stats.oldest_entry, now) or "-"),
        ("newest entry", _when(stats.newest_entry, now) or "-"),
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
    rows = [(g.fingerprint, str(g.count), g.action_type or "-", g.first_seen[:10], g.last_seen[:10],
             shorten(g.example_error)) for g in groups]
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


def alerts_view(alerts: list[Any]) -> RenderableType:
    """One line per check (state, name, measured value against the limit, why), and the entries concerned."""
    lines: list[RenderableType] = []
    width = max(len(a.name) for a in alerts)
    for a in alerts:
        line = Text()
        line.append("BREACHED" if a.breached else "ok      ", style="bold red" if a.breached else "green")
        line.append(f"  {a.name:<{width}}  ")
        line.append(f"{_measure(a.name, a.value)} {'>' if a.breached else '<='} {_measure(a.name, a.threshold)}",
                    style="bold" if a.breached else "")
        line.append(f"  {a.message}")
        lines.append(line)
        if a.entries:
            shorts = short_ids(a.entries)
            shown = ", ".join(shorts[e] for e in a.entries[:8]) + (f", … (+{len(a.entries) - 8})" if len(a.entries) > 8 else "")
            lines.append(_indented(Text(f"  entries: {shown}", style="dim")))
    return RenderGroup(*lines)
