"""The secrets an envelope references, and what provides each in the sandbox and in production (names only)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from mova_core.model.secret_needs import SecretNeed, SecretSource
from mova_tui.present.safe_text import clean


def source_text(need: SecretNeed, sandbox_mode: bool) -> Text:
    """`✓ override`, `✓ MOVA_SECRET_API_KEY`, or what would provide it (an override, the variable)."""
    if need.source is not None:
        source = need.env_name if need.source == SecretSource.environment else need.source.value
        return Text(f"✓ {clean(source)}", style="green")
    hint = "give it below" if sandbox_mode else f"set {clean(need.env_name)}"
    return Text(f"✗ {hint}", style="bold red")


class SecretsNeeded(Static):
    """A table: each referenced secret, with its source in the sandbox and in production."""

    def show(self, sandbox: Iterable[SecretNeed], production: Iterable[SecretNeed]) -> None:
        """Redraw for these needs (overrides already marked), the same names in both modes."""
        in_production = {need.name.lower(): need for need in production}
        sandbox = list(sandbox)
        if not sandbox:
            self.update(Text("The envelope references no secrets.", style="dim"))
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=24)
        grid.add_column()
        grid.add_column()
        grid.add_row(Text("name", style="dim"), Text("sandbox", style="dim"), Text("production", style="dim"))
        for need in sandbox:
            grid.add_row(Text(clean(need.name), style="bold"), source_text(need, True),
                         source_text(in_production.get(need.name.lower(), need), False))
        self.update(grid)
