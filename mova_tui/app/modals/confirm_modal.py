"""A yes/no question: used for delete, bulk archive and production retries."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static


class ConfirmModal(ModalScreen[bool]):
    """Ask before doing something that cannot be taken back; dismisses with True to go ahead."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel"),
        Binding("y", "confirm", "Confirm"),
    ]

    def __init__(self, title: str, body: str, *, confirm_label: str = "Confirm", variant: str = "primary") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.variant = variant

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes=f"confirm -{self.variant}"):
            yield Label(self.title_text, classes="title")
            yield Static(self.body, classes="body", markup=False)
            yield Static("[dim]y confirms · n or escape cancels[/]", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button(self.confirm_label, variant=self.variant, id="confirm")  # type: ignore[arg-type]
                yield Button("Cancel", id="cancel")
        yield Footer(compact=True)  # the dialog's keys, not those of the screen beneath

    def on_mount(self) -> None:
        # A destructive default would make a stray Enter dangerous: focus Cancel for those.
        self.query_one("#cancel" if self.variant == "error" else "#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
