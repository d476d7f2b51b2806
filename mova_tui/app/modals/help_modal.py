"""Every key binding of the screen underneath, generated from its bindings (so never out of date)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

MOUSE_HELP = (
    "Mouse: click a row to move the cursor, double-click to open it, click the first column to "
    "select it, click a column header to sort (again to reverse), scroll with the wheel."
)


class HelpModal(ModalScreen[None]):
    """The list of keys; escape, q or ? closes it."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    @classmethod
    def for_screen(cls, screen: Screen) -> HelpModal:
        """Collect the bindings active on `screen`, described: the screen's own keys first, then the
        focused widget's (opening and moving in the table), then what every Textual app has."""
        seen: dict[str, list[str]] = {}
        actives = list(screen.active_bindings.values())
        own = {binding.action for binding in vars(type(screen)).get("BINDINGS", [])}

        def rank(n: int) -> tuple[int, bool, int]:
            node, binding = actives[n].node, actives[n].binding
            group = 0 if binding.action in own else 2 if node is screen or node is screen.app else 1
            return group, not binding.show, n

        for active in (actives[n] for n in sorted(range(len(actives)), key=rank)):
            binding = active.binding
            if not binding.description or binding.action in ("app.command_palette",):
                continue
            display = screen.app.get_key_display(binding)
            seen.setdefault(binding.description, [])
            if display not in seen[binding.description]:
                seen[binding.description].append(display)
        rows = [(" / ".join(keys), description) for description, keys in seen.items()]
        return cls(rows)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for keys, description in self.rows:
            table.add_row(keys, description)
        with Vertical(id="dialog", classes="help"):
            yield Label("Keys", classes="title")
            with VerticalScroll():
                yield Static(table)
                yield Static(Text(MOUSE_HELP, style="dim"), classes="mouse")
            yield Static("[dim]escape closes[/]", classes="hint")
        yield Footer(compact=True)  # the dialog's keys, not those of the screen beneath

    def action_close(self) -> None:
        self.dismiss(None)
