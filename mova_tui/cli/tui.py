"""`mova tui`: open the Textual dashboard (Textual is imported only here, when the command runs)."""

from typing import Annotated

import typer

from mova_tui.cli.state import get_state


def tui_command(
    ctx: typer.Context,
    watch: Annotated[
        bool,
        typer.Option("--watch/--no-watch", help="Follow changes to the directory live (watchfiles)."),
    ] = True,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Look only: retry, archive, delete and export are refused."),
    ] = False,
) -> None:
    """Open the live dashboard: list, filter, inspect, retry, archive, delete and export entries.

    Keys: arrows move, enter opens, / searches, f filters, c clears, space selects, * selects all matching, r retries, a archives, d deletes, x exports, ? lists every key, q quits.
    """
    settings = get_state(ctx).settings()
    from mova_tui.app import make_app  # Textual loads only for this command

    make_app(settings=settings, watch=watch, read_only=read_only).run()
