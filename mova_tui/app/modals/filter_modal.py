"""Set every filter at once: status, workflow type, since/until and free text (times checked inline)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from mova_core.model.entry import EntryStatus
from mova_tui.app.filters import FilterState, check_time
from mova_tui.present.safe_text import clean

TIME_HINT = "2h, 7d, 2026-11-20 or RFC 3339"


class FilterModal(ModalScreen[FilterState | None]):
    """Returns the new FilterState (the sort is kept), or None when cancelled."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, state: FilterState, workflow_types: list[str], now: datetime) -> None:
        super().__init__()
        self.state = state
        self.workflow_types = sorted(set(workflow_types) | ({state.workflow_type} if state.workflow_type else set()))
        self.now = now

    def compose(self) -> ComposeResult:
        s = self.state
        with Vertical(id="dialog", classes="filters"):
            yield Label("Filter entries", classes="title")
            with Grid(id="filter-grid"):
                yield Label("Status")
                yield Select([(x.value, x.value) for x in EntryStatus], prompt="any status",
                             value=s.status if s.status else Select.NULL, id="status", compact=True)
                yield Label("Workflow type")
                # The types come from entry files: labels shown as text, one line each.
                yield Select([(Text(clean(t, one_line=True)), t) for t in self.workflow_types], prompt="any type",
                             value=s.workflow_type if s.workflow_type else Select.NULL, id="type", compact=True)
                yield Label("Since")
                yield Input(s.since, placeholder=TIME_HINT, id="since", compact=True)
                yield Label("")
                yield Static("", id="since-error", classes="error")
                yield Label("Until")
                yield Input(s.until, placeholder=TIME_HINT, id="until", compact=True)
                yield Label("")
                yield Static("", id="until-error", classes="error")
                yield Label("Text")
                yield Input(s.text, placeholder="id, workflow type or error text", id="text", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear all", id="clear")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#status", Select).focus()

    def _errors(self) -> bool:
        bad = False
        for name in ("since", "until"):
            error = check_time(self.query_one(f"#{name}", Input).value, self.now)
            self.query_one(f"#{name}-error", Static).update(error or "")
            bad = bad or error is not None
        return bad

    @on(Input.Changed, "#since, #until")
    def _time_changed(self) -> None:
        self._errors()

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        if self._errors():
            return
        status = self.query_one("#status", Select).value
        wtype = self.query_one("#type", Select).value
        self.dismiss(self.state.with_(
            status=status if isinstance(status, str) else None,
            workflow_type=wtype if isinstance(wtype, str) else None,
            since=self.query_one("#since", Input).value.strip(),
            until=self.query_one("#until", Input).value.strip(),
            text=self.query_one("#text", Input).value.strip(),
        ))

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        self.dismiss(self.state.cleared())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
