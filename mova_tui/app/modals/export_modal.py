"""Choose where and how to export the current filtered view (JSON lines or CSV)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from mova_tui.present.safe_text import clean


@dataclass
class ExportRequest:
    """The file to write and its format."""

    path: Path
    fmt: str


class ExportModal(ModalScreen[ExportRequest | None]):
    """A format choice and a path; the extension follows the format until the name is edited."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, count: int, described: str, *, default_stem: str = "dlq-export") -> None:
        super().__init__()
        self.count = count
        self.described = described
        self.default_stem = default_stem

    def compose(self) -> ComposeResult:
        what = f"{self.count:,} {'entry' if self.count == 1 else 'entries'}"
        with Vertical(id="dialog", classes="export"):
            yield Label(f"Export {what}", classes="title")
            # The filters name a workflow type from the entries: text, not markup.
            yield Static(Text(f"Filters: {clean(self.described, one_line=True) or 'none (the whole queue)'}", style="dim"))
            with RadioSet(id="format"):
                yield RadioButton("JSON lines (full entries)", value=True, id="jsonl")
                yield RadioButton("CSV (summary columns)", id="csv")
            yield Label("File")
            yield Input(f"{self.default_stem}.jsonl", id="path", compact=True)
            yield Static("", id="path-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @property
    def fmt(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.id if pressed is not None and pressed.id else "jsonl"

    @on(RadioSet.Changed)
    def _format_changed(self) -> None:
        path = self.query_one("#path", Input)
        for ext in (".jsonl", ".csv"):
            if path.value.endswith(ext):
                path.value = path.value[: -len(ext)] + f".{self.fmt}"

    def _check(self, value: str) -> str | None:
        if not value.strip():
            return "give a file name"
        target = Path(value.strip()).expanduser()
        if target.is_dir():
            return f"{target} is a directory; give a file name"
        if not target.parent.is_dir():
            return f"directory {target.parent} does not exist"
        return None

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        value = self.query_one("#path", Input).value
        error = self._check(value)
        self.query_one("#path-error", Static).update(error or "")
        if error is None:
            self.dismiss(ExportRequest(Path(value.strip()).expanduser(), self.fmt))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
