"""`mova dlq show ID`: one entry in full (the shared entry view), or as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mova_tui.cli.output import console, examples, print_json
from mova_tui.cli.params import EntryIdArg, Format, FormatOpt
from mova_tui.cli.state import get_state

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from mova_core.model.secret_needs import SecretNeed

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

    from mova_tui.present.entry_view import Section, entry_view

    run = svc.find_run(entry.metadata.lease.retry_run_id) if entry.metadata.lease is not None else None
    out = console()
    view = entry_view(entry, svc.clock(), stale=svc.is_stale(entry), run=run, reveal=reveal,
                      color=out.is_terminal and not out.no_color)
    needs = svc.secrets_needed(entry, sandbox_mode=True)
    if needs:  # before the envelope, which is long: what a retry must be given is easy to miss below it
        view.sections.insert(len(view.sections) - 1, Section(
            "secrets", "Secrets", secrets_table(needs, svc.secrets_needed(entry, sandbox_mode=False))))
    out.print(view.title)
    out.print(view.facts_grid())
    for section in view.sections:
        out.print(Rule(section.title, align="left"))
        print_body(out, section.body)


def print_body(out: Console, body: RenderableType) -> None:
    """A section; piped, its JSON blocks are printed whole, not wrapped at 80 columns mid-string, so that
    what is copied from the output is what the entry holds (the rest still fits the width)."""
    if out.is_terminal:
        out.print(body)
        return
    from rich.console import Group
    from rich.text import Text

    for part in body.renderables if isinstance(body, Group) else [body]:
        out.print(part, soft_wrap=isinstance(part, Text) and part.plain.startswith(("{", "[")))


def secrets_table(sandbox: list[SecretNeed], production: list[SecretNeed]) -> RenderableType:
    """The secrets the envelope uses, by name, and where a sandbox and a production retry would get each."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    from mova_tui.present.entry_view import kv_grid
    from mova_tui.present.safe_text import clean

    by_name = {need.name: need for need in production}
    parts: list[RenderableType] = []
    for need in sandbox:
        parts.append(Text(clean(f"{need.name} (used by {', '.join(need.actions)})"), style="bold"))
        parts.append(Padding(kv_grid([
            ("sandbox retry", _source(need, sandbox_mode=True)),
            ("production retry", _source(by_name.get(need.name, need), sandbox_mode=False)),
        ]), (0, 0, 0, 2)))
    return Group(*parts)


def _source(need: SecretNeed, *, sandbox_mode: bool) -> str:
    if need.source is None:
        return f"not provided: add --secret {need.name}=…" if sandbox_mode else f"not provided: set {need.env_name}"
    return {"override": "from the overrides", "environment": f"from {need.env_name}",
            "envelope": "inline in the envelope"}[need.source.value]
