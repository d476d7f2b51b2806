"""The files in the directory that are not readable entries, each with the reason (`DLQService.skipped()`)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from mova_core.model.listing import SkippedFile
from mova_tui.app.host import host_of
from mova_tui.app.worker_errors import ReportsWorkerErrors
from mova_tui.present.safe_text import clean


class SkippedModal(ReportsWorkerErrors, ModalScreen[None]):
    """Names and reasons, read when it opens; mova never changes or deletes these files."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape,q,exclamation_mark", "close", "Close")]

    @dataclass
    class _Read(Message):
        files: list[SkippedFile]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="skipped"):
            yield Label("Unreadable files", classes="title")
            yield Static(f"In {clean(host_of(self).dlq_path.absolute())}; they are left as they are (fix or move "
                         "them; `mova dlq reindex` checks again).", classes="hint", markup=False)
            with VerticalScroll():
                yield Static("Reading…", id="skipped-list")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="skipped", exit_on_error=False)
    def _read(self) -> None:
        self.post_message(self._Read(host_of(self).read(lambda s: s.skipped())))

    @on(_Read)
    def _show(self, message: _Read) -> None:
        listing = self.query_one("#skipped-list", Static)
        if not message.files:
            listing.update(Text("None: every *.json file in the directory is a readable entry.", style="dim"))
            return
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, overflow="ellipsis", max_width=44)
        table.add_column(overflow="fold")
        for file in message.files:
            table.add_row(Text(clean(file.name)), Text(clean(file.reason), style="red"))
        listing.update(table)

    def action_close(self) -> None:
        self.dismiss(None)
