"""`mova dlq show ID`: one entry in full (the shared entry view), or as JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from mova_tui.cli.output import console, examples, print_json
from mova_tui.cli.params import EntryIdArg, Format, FormatOpt
from mova_tui.cli.state import get_state

app = typer.Typer()

RevealOpt = Annotated[
    bool,
    typer.Option("--reveal", help="Show values under sensitive names (passwords, tokens, keys) instead of masking them."),
]


@app.command(epilog=examples(
    "mova dlq show dlq_12345678",
    "mova dlq show 12345678            (a bare UUID prefix works too)",
    "mova dlq show dlq_12345678 --format json | jq '.error_details.error_history'   (every text whole)",
    "mova dlq show dlq_12345678 --reveal   (sensitive-named values in clear)",
))
def show(ctx: typer.Context, entry_id: EntryIdArg, fmt: FormatOpt = Format.table, reveal: RevealOpt = False) -> None:
    """Show one entry: errors, failed action, variables, results, retries, envelope.

    Values under sensitive names (db_password, api_token, ...) are masked, in the table and in
    --format json, unless --reveal is given. The table cuts a text, or a list (error history,
    variables, results, retries), beyond 20,000 characters and says how much it left out;
    --format json prints every field whole. Control characters in entry text are shown as
    escapes (\u001b, \n in names), never sent to the terminal.
    """
    svc = get_state(ctx).service()
    entry = svc.get(entry_id)
    if fmt == Format.json:
        from mova_tui.present.redaction import entry_document

        print_json(entry_document(entry, reveal=reveal))
        return
    from rich.rule import Rule

    from mova_tui.present.entry_view import entry_view

    run = svc.find_run(entry.metadata.lease.retry_run_id) if entry.metadata.lease is not None else None
    out = console()
    view = entry_view(entry, svc.clock(), stale=svc.is_stale(entry), run=run, reveal=reveal,
                      color=out.is_terminal and not out.no_color)
    out.print(view.title)
    out.print(view.facts_grid())
    for section in view.sections:
        out.print(Rule(section.title, align="left"))
        out.print(section.body)
