"""One entry in full: error and history, failed action, context variables and results, retries, envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.console import Group as RichGroup
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from mova_core.model.entry import DeadLetterEntry
from mova_core.model.errors import EntryNotFound, MovaError
from mova_core.model.redact import redact
from mova_core.timeutil import humanize_age, parse_time
from mova_tui.app import actions
from mova_tui.app.formatting import STATUS_STYLES
from mova_tui.app.worker_errors import ReportsWorkerErrors
from mova_tui.present.safe_text import cell, clean, clip


@dataclass
class EntryLoaded(Message):
    """The entry (or why it could not be read)."""

    entry: DeadLetterEntry | None
    error: str | None = None
    gone: bool = False


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _syntax(value: Any) -> Syntax:
    return Syntax(_json(value), "json", theme="ansi_dark", word_wrap=True, background_color="default")


def _kv_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


class EntryScreen(ReportsWorkerErrors, Screen):
    """Details of one entry; escape goes back to the list."""

    CSS_PATH = "entry_screen.tcss"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("question_mark", "help", "Help"),
        Binding("y", "copy_id", "Copy id"),
        Binding("r", "retry", "Retry"),
        Binding("a", "archive", "Archive"),
        Binding("d", "delete", "Delete"),
        Binding("1", "tab('tab-error')", "Error tab", show=False),
        Binding("2", "tab('tab-context')", "Context tab", show=False),
        Binding("3", "tab('tab-retries')", "Retries tab", show=False),
        Binding("4", "tab('tab-envelope')", "Envelope tab", show=False),
    ]

    def __init__(self, entry_id: str) -> None:
        super().__init__()
        self.entry_id = entry_id
        self.entry: DeadLetterEntry | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static("Loading…", id="entry-head")
        with TabbedContent(id="entry-tabs"):
            with TabPane("1 Error", id="tab-error"):
                with VerticalScroll():
                    yield Static(id="error-body")
            with TabPane("2 Context", id="tab-context"):
                with VerticalScroll():
                    yield Static(id="context-body")
            with TabPane("3 Retries", id="tab-retries"):
                with VerticalScroll():
                    yield Static(id="retries-body")
            with TabPane("4 Envelope", id="tab-envelope"):
                with VerticalScroll():
                    yield Static(id="envelope-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.entries_changed_signal.subscribe(self, self.entries_changed)
        self.load()

    # -- loading ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="entry", exit_on_error=False)
    def load(self) -> None:
        """Read the full entry (validated) in a thread."""
        try:
            entry = self.app.read(lambda s: s.get(self.entry_id))
        except EntryNotFound:
            self.post_message(EntryLoaded(None, f"{self.entry_id} no longer exists (deleted elsewhere?)", gone=True))
            return
        except MovaError as exc:
            self.post_message(EntryLoaded(None, str(exc)))
            return
        self.post_message(EntryLoaded(entry))

    def entries_changed(self, names: list[str] | None) -> None:
        """Reload when this entry's file changed."""
        if names is None or f"{self.entry_id}.json" in names:
            self.load()

    def on_entry_loaded(self, message: EntryLoaded) -> None:
        if message.entry is None:
            self.query_one("#entry-head", Static).update(Text(clean(message.error or "unreadable"), style="bold red"))
            if self.entry is not None and message.gone:
                self.notify(message.error or "entry removed", severity="warning")
            self.entry = None
            return
        self.entry = message.entry
        self.show(message.entry)

    # -- rendering --------------------------------------------------------------------------------
    def show(self, entry: DeadLetterEntry) -> None:
        now = self.app.clock()
        self.sub_title = entry.id
        self.query_one("#entry-head", Static).update(self._section_head(entry, now))
        self.query_one("#error-body", Static).update(self._section_error(entry))
        self.query_one("#context-body", Static).update(self._section_context(entry))
        self.query_one("#retries-body", Static).update(self._section_retries(entry, now))
        self.query_one("#envelope-body", Static).update(_syntax(redact(entry.envelope.model_dump(mode="json",
                                                                                                  exclude_none=True))))

    def _section_head(self, entry: DeadLetterEntry, now) -> Text:
        status = entry.status.value
        stale = False
        lease = entry.metadata.lease
        if status == "retrying" and lease is not None:
            try:
                stale = parse_time(lease.expires_at) <= now
            except ValueError:
                stale = True
        text = Text()
        text.append(entry.id, style="bold")
        text.append("  ")
        text.append(f" {status}{' (stale lease)' if stale else ''} ",
                    style=STATUS_STYLES["stale" if stale else status] + " reverse")
        text.append("  ")
        text.append(entry.workflow_type, style="bold cyan")
        created = parse_time(entry.created_at)
        facts = [f"run {entry.run_id}", f"created {entry.created_at} ({humanize_age((now - created).total_seconds())} ago)"]
        if entry.metadata.user_id:
            facts.append(f"user {entry.metadata.user_id}")
        facts.append(f"priority {entry.metadata.priority}")
        facts.append(f"retried {entry.metadata.retry_count}×")
        if entry.metadata.tags:
            facts.append("tags " + ", ".join(entry.metadata.tags))
        text.append("\n" + " · ".join(facts), style="dim")
        return text

    def _section_error(self, entry: DeadLetterEntry) -> RichGroup:
        d = entry.error_details
        facts = _kv_table()
        facts.add_row("Failure reason", d.failure_reason)
        facts.add_row("Attempts", str(d.attempts))
        if d.retry_policy is not None:
            policy = d.retry_policy.model_dump(mode="json", exclude_none=True)
            facts.add_row("Retry policy", ", ".join(f"{k}={v}" for k, v in policy.items()))
        parts: list[Any] = [facts, Text("\nLast error", style="bold"), Text(clip(d.last_error or "(none)"), style="red")]
        parts.append(Text("\nError history", style="bold"))
        if d.error_history:
            for n, line in enumerate(d.error_history, 1):
                parts.append(Text(clip(f"{n:>3}. {line}")))
        else:
            parts.append(Text("  (none)", style="dim"))
        action = entry.failed_action
        parts.append(Text("\nFailed action", style="bold"))
        if action is None:
            parts.append(Text("  (not recorded)", style="dim"))
        else:
            parts.append(Text(clean(f"  {action.key} ({action.type})"), style="cyan"))
            if action.arguments:
                parts.append(_syntax(redact(action.arguments)))
        if d.stack_trace:
            parts += [Text("\nStack trace", style="bold"), Text(clip(d.stack_trace), style="dim")]
        if d.environment:
            parts += [Text("\nEnvironment", style="bold"), _syntax(redact(d.environment))]
        return RichGroup(*parts)

    def _section_context(self, entry: DeadLetterEntry) -> RichGroup:
        ctx = entry.context
        parts: list[Any] = [Text(f"Run {ctx.run_id} · status {ctx.status}", style="bold")]
        parts.append(Text("\nVariables", style="bold"))
        variables = redact(ctx.variables)
        if variables:
            table = _kv_table()
            for key, value in variables.items():
                table.add_row(key, value if isinstance(value, str) else json.dumps(value, default=str))
            parts.append(table)
        else:
            parts.append(Text("  (none)", style="dim"))
        parts.append(Text("\nResults per action", style="bold"))
        if ctx.results:
            table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
            table.add_column("Action", no_wrap=True)
            table.add_column("Type", no_wrap=True)
            table.add_column("Status", no_wrap=True)
            table.add_column("Att", justify="right")
            table.add_column("Time", justify="right", no_wrap=True)
            table.add_column("Error / output", overflow="fold", ratio=1)
            for key, result in ctx.results.items():
                duration = ""
                if result.start_time and result.end_time:
                    secs = (parse_time(result.end_time) - parse_time(result.start_time)).total_seconds()
                    duration = f"{secs:.2f}s"
                detail = result.error or ""
                if not detail and result.output is not None:
                    detail = json.dumps(redact(result.output), default=str)
                    detail = detail if len(detail) <= 200 else detail[:199] + "…"
                style = {"completed": "green", "failed": "red"}.get(result.status, "")
                table.add_row(cell(key), cell(result.type or ""), Text(clean(result.status), style=style),
                              str(result.attempts or ""), duration, cell(detail))
            parts.append(table)
        else:
            parts.append(Text("  (none)", style="dim"))
        return RichGroup(*parts)

    def _section_retries(self, entry: DeadLetterEntry, now) -> RichGroup:
        parts: list[Any] = []
        lease = entry.metadata.lease
        if lease is not None:
            expired = parse_time(lease.expires_at) <= now
            parts.append(Text("Retry lease", style="bold"))
            table = _kv_table()
            table.add_row("Owner", lease.owner)
            table.add_row("Retry run", lease.retry_run_id)
            table.add_row("Mode", "sandbox" if lease.sandbox_mode else "production")
            table.add_row("Taken", lease.acquired_at)
            table.add_row("Expires", Text(lease.expires_at + (" (expired: may be taken over)" if expired else ""),
                                         style="red" if expired else ""))
            parts += [table, Text("")]
        parts.append(Text(f"Retry history ({entry.metadata.retry_count} retries counted)", style="bold"))
        history = entry.retry_history or []
        if not history:
            parts.append(Text("  no retry has finished yet", style="dim"))
        else:
            table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
            table.add_column("Retry run", overflow="fold")
            table.add_column("Mode", no_wrap=True)
            table.add_column("Started", no_wrap=True)
            table.add_column("Outcome", no_wrap=True)
            table.add_column("Overrides", overflow="fold")
            table.add_column("Error", overflow="fold", ratio=1)
            for rec in history:
                overrides = ", ".join(rec.override_variables + [f"{s} (secret)" for s in rec.override_secrets])
                style = {"completed": "green", "failed": "red"}.get(rec.outcome, "yellow")
                table.add_row(rec.retry_run_id, "sandbox" if rec.sandbox_mode else "production", rec.start_time,
                              Text(rec.outcome, style=style), overrides or "—", rec.error or "")
            parts.append(table)
        return RichGroup(*parts)

    # -- actions ----------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.entry_id)
        self.notify(f"Copied {self.entry_id}", timeout=2)

    def action_retry(self) -> None:
        actions.retry(self.app, [self.entry_id])

    def action_archive(self) -> None:
        actions.archive(self.app, [self.entry_id])

    def action_delete(self) -> None:
        def deleted(ids: list[str]) -> None:
            self.app.pop_screen()

        actions.delete(self.app, [self.entry_id], on_done=deleted)

    def action_help(self) -> None:
        from mova_tui.app.modals.help_modal import HelpModal

        self.app.push_screen(HelpModal.for_screen(self))
