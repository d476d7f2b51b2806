"""One entry in full, as both faces show it: the same fields, in the same order, masked the same way.

`entry_view` builds the view once; `mova dlq show` prints its head and sections one after the
other, and the dashboard's details screen puts the head above its tabs and each section in a tab.
Every JSON-like value shown passes through `redaction.masked`; every text passes through
`safe_text`: names and ids on one line, long text and long lists clipped to one limit with a note
naming `mova dlq show ID --format json`, which prints the entry whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from mova_tui.present.palette import outcome_style, outcome_text, status_text
from mova_tui.present.redaction import masked
from mova_tui.present.safe_text import cell, clean, clip, clip_all
from mova_tui.present.text import duration, shorten, when

if TYPE_CHECKING:
    from mova_core.model.entry import ActionResult, DeadLetterEntry, Lease, RetryRecord

T = TypeVar("T")


class RunProgress(Protocol):
    """What the view reads from the record of the run holding an entry's lease."""

    status: str
    error: str | None


@dataclass(frozen=True)
class Section:
    """A titled part of the view: `key` names it for the dashboard's tabs, `title` heads it."""

    key: str
    title: str
    body: RenderableType


@dataclass(frozen=True)
class EntryView:
    """The head (a title line and facts) and the sections of one entry's view."""

    title: Text
    facts: list[tuple[str, str]]
    sections: list[Section]

    def facts_grid(self) -> Table:
        """The facts one per line, name and value (the command line's head)."""
        return kv_grid(self.facts)

    def facts_line(self) -> Text:
        """The facts on one wrapped line."""
        return Text(clean(" · ".join(f"{name} {value}" for name, value in self.facts), one_line=True), style="dim")

    def head_text(self) -> Text:
        """The title, then the facts on one wrapped line (the dashboard's head, which must stay short)."""
        head = self.title.copy()
        head.append("\n")
        head.append_text(self.facts_line())
        return head


def entry_view(entry: DeadLetterEntry, now: datetime, *, stale: bool, run: RunProgress | None = None,
               reveal: bool = False, color: bool = True) -> EntryView:
    """The view of an entry at `now`; `stale` and `run` from the service, `reveal` to show masked values."""
    show = _Shown(reveal=reveal, color=color, whole=f"mova dlq show {clean(entry.id, one_line=True)} --format json")
    return EntryView(
        title=_title(entry, stale),
        facts=_facts(entry, now),
        sections=[
            Section("error", "Error", _error(entry, show)),
            Section("context", "Context", _context(entry, show)),
            Section("retries", "Retries", _retries(entry, now, stale, run, show)),
            Section("envelope", "Envelope", show.json(entry.envelope.model_dump(mode="json", exclude_none=True))),
        ],
    )


@dataclass(frozen=True)
class _Shown:
    """How values are shown in this view: masked unless revealed, JSON coloured or plain, long text clipped."""

    reveal: bool
    color: bool
    #: The command that prints what a clipped text or list leaves out.
    whole: str

    def value(self, value: Any) -> Any:
        return masked(value, reveal=self.reveal)

    def clip(self, value: Any) -> str:
        return clip(value, whole=self.whole)

    def clip_all(self, values: list[T], size: Callable[[T], int], noun: str) -> tuple[list[T], Text | None]:
        """The values that fit the view's limit, and a note of how many more there are (None if none)."""
        shown, left = clip_all(values, size=size)
        return shown, (_none(f"… {left:,} more {noun}: {self.whole}") if left else None)

    def json(self, value: Any) -> RenderableType:
        text = self.clip(json.dumps(self.value(value), indent=2, ensure_ascii=False, default=str))
        if not self.color:
            return Text(text)
        # pygments is slow to import: only a coloured view needs it.
        from rich.syntax import Syntax

        return Syntax(text, "json", theme="ansi_dark", background_color="default", word_wrap=True)


def kv_grid(rows: list[tuple[str, Any]]) -> Table:
    """Name/value rows; empty values are left out, text is shown inert."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        if value is None or value == "" or value == []:
            continue
        grid.add_row(cell(key), cell(value))
    return grid


def _heading(text: str) -> Text:
    return Text("\n" + clean(text, one_line=True), style="bold")


def _none(text: str) -> Text:
    return Text(f"  {text}", style="dim")


def _indented(renderable: RenderableType) -> Padding:
    return Padding(renderable, (0, 0, 0, 2))


def _title(entry: DeadLetterEntry, stale: bool) -> Text:
    title = Text()
    title.append(clean(entry.id, one_line=True), style="bold")
    title.append("  ")
    title.append_text(status_text(entry.status.value, stale=stale))
    title.append("  ")
    title.append(clean(entry.workflow_type, one_line=True), style="bold cyan")
    return title


def _facts(entry: DeadLetterEntry, now: datetime) -> list[tuple[str, str]]:
    md = entry.metadata
    facts = [
        ("run", entry.run_id),
        ("created", when(entry.created_at, now)),
        ("updated", when(entry.updated_at, now)),
        ("user", md.user_id),
        ("priority", str(md.priority)),
        ("source", md.source),
        ("tags", ", ".join(md.tags or [])),
        ("retries", f"{md.retry_count}" if md.retry_count else None),
        ("last retry", when(md.last_retry_at, now)),
    ]
    return [(name, clip(value, one_line=True)) for name, value in facts if value]


def _error(entry: DeadLetterEntry, show: _Shown) -> Group:
    d = entry.error_details
    policy = d.retry_policy.model_dump(mode="json", exclude_none=True) if d.retry_policy else {}
    parts: list[RenderableType] = [kv_grid([
        ("Failure reason", d.failure_reason),
        ("Attempts", str(d.attempts)),
        ("Retry policy", ", ".join(f"{k}={v}" for k, v in policy.items())),
    ])]
    parts += [_heading("Last error"), Text(show.clip(d.last_error or "(none)"), style="red")]
    parts.append(_heading("Error history"))
    history, more = show.clip_all([f"{n:>3}. {line}" for n, line in enumerate(d.error_history or [], 1)], len, "lines")
    parts += [Text(show.clip(line)) for line in history] or [_none("(none)")]
    parts += [more] if more else []
    action = entry.failed_action
    if action is None:
        parts += [_heading("Failed action"), _none("(not recorded)")]
    else:
        parts.append(_heading(f"Failed action: {action.key} ({action.type})"))
        if action.arguments:
            parts.append(show.json(action.arguments))
    if d.stack_trace:
        parts += [_heading("Stack trace"), Text(show.clip(d.stack_trace), style="dim")]
    if d.environment:
        parts += [_heading("Environment"), show.json(d.environment)]
    return Group(*parts)


def _context(entry: DeadLetterEntry, show: _Shown) -> Group:
    ctx = entry.context
    parts: list[RenderableType] = [Text(clean(f"Run {ctx.run_id} · status {ctx.status}", one_line=True), style="bold")]
    parts.append(_heading("Variables"))
    variables = [(k, v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False))
                 for k, v in (show.value(ctx.variables) or {}).items()]
    shown, more = show.clip_all(variables, lambda kv: len(kv[1]), "variables")
    # A variable's value may span lines (a query, a document); its name may not.
    parts.append(kv_grid([(k, Text(show.clip(v))) for k, v in shown]) if shown else _none("(none)"))
    parts += [more] if more else []
    parts.append(_heading("Results per action"))
    parts.append(_results_table(entry, show) if ctx.results else _none("(none)"))
    return Group(*parts)


def _results_table(entry: DeadLetterEntry, show: _Shown) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    for name in ("ACTION", "TYPE", "STATUS", "ATT", "TIME"):
        table.add_column(name, no_wrap=True)
    table.add_column("ERROR / OUTPUT", overflow="fold")
    rows = [(key, result, _detail(result, show)) for key, result in entry.context.results.items()]
    shown, more = show.clip_all(rows, lambda row: len(row[2]), "results")
    for key, result, detail in shown:
        table.add_row(cell(key), cell(result.type or ""), Text(clean(result.status, one_line=True),
                      style=outcome_style(result.status)), cell(result.attempts or ""),
                      duration(result.start_time, result.end_time), cell(clip(detail, whole=show.whole)))
    return Group(table, more) if more else table


def _detail(result: ActionResult, show: _Shown) -> str:
    """A result's error, or else its output as JSON, shortened (the whole output is in the JSON view)."""
    if result.error or result.output is None:
        return result.error or ""
    detail = json.dumps(show.value(result.output), default=str, ensure_ascii=False)
    return detail if len(detail) <= 200 else detail[:199] + "…"


def _retries(entry: DeadLetterEntry, now: datetime, stale: bool, run: RunProgress | None, show: _Shown) -> Group:
    parts: list[RenderableType] = []
    lease = entry.metadata.lease
    if lease is not None:
        parts += [Text("Retry lease", style="bold"), _lease(lease, now, stale, run), Text("")]
    parts.append(Text(f"Retry history ({entry.metadata.retry_count} retries counted)", style="bold"))
    history, more = show.clip_all(entry.retry_history or [], lambda r: len(r.error or "") + 100, "retries")
    if not history:
        parts.append(_none("no retry has finished yet"))
    for record in history:
        parts += _retry_record(record, show)
    parts += [more] if more else []
    return Group(*parts)


def _lease(lease: Lease, now: datetime, stale: bool, run: RunProgress | None) -> Table:
    state = "STALE: its process probably died; `mova dlq retry` takes it over" if stale else "live"
    rows: list[tuple[str, Any]] = [
        ("retry run", lease.retry_run_id),
        ("mode", "sandbox" if lease.sandbox_mode else "production"),
        ("held by", lease.owner),
        ("since", when(lease.acquired_at, now)),
        ("lease until", Text(clean(f"{lease.expires_at} ({state})", one_line=True), style="red" if stale else "")),
    ]
    if run is not None:
        progress = outcome_text(run.status)
        if run.error:
            progress.append(": " + shorten(run.error, 500))
        rows.append(("progress", progress))
    return kv_grid(rows)


def _retry_record(record: RetryRecord, show: _Shown) -> list[RenderableType]:
    head = Text("• ")
    head.append(clean(record.start_time, one_line=True))
    head.append("  " + ("sandbox" if record.sandbox_mode else "production"), style="bold")
    head.append("  ")
    head.append_text(outcome_text(record.outcome))
    took = duration(record.start_time, record.end_time)
    if took:
        head.append(f"  ({took})")
    if record.actor:
        head.append(clean(f"  by {record.actor}", one_line=True), style="dim")
    lines: list[RenderableType] = [head, _indented(Text(clean(record.retry_run_id, one_line=True), style="dim"))]
    if record.error:
        lines.append(_indented(Text(show.clip(record.error), style="red")))
    overrides = [*record.override_variables, *(f"{s} (secret)" for s in record.override_secrets)]
    if overrides:
        lines.append(_indented(Text(clip("overrides: " + ", ".join(overrides), whole=show.whole, one_line=True))))
    return lines
