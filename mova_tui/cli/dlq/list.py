"""`mova dlq list`: entries, newest first, as a table or a JSON array of full entries."""


import sys
from typing import TYPE_CHECKING

import typer

from mova_tui.cli import output
from mova_tui.cli.dlq.common import warn_skipped
from mova_tui.cli.option_groups import with_option_groups
from mova_tui.cli.output import console, examples, info
from mova_tui.cli.params import Format, FormatOpt, Selection
from mova_tui.cli.state import get_state

if TYPE_CHECKING:
    from mova_core.model.listing import SkippedFile
    from mova_core.ops.service import DLQService

app = typer.Typer()

#: Entries read from disk per batch while the JSON array is written.
BATCH = 500


@app.command("list", epilog=examples(
    "mova dlq list --status active",
    "mova dlq list --workflow-type data-processing --limit 10",
    "mova dlq list --since 24h --format json | jq -r '.[] | .id'",
))
@with_option_groups
def list_command(ctx: typer.Context, selection: Selection, fmt: FormatOpt = Format.table) -> None:
    """List entries, newest first. --format json prints a JSON array of full entries."""
    svc = get_state(ctx).service()
    page = svc.list(selection.entry_filter())
    warn_skipped(page.skipped, svc.settings.dlq_path)
    if fmt == Format.json:
        print_entries_json(svc, [i.id for i in page.items])
        return
    if not page.items:
        info("no entries match" if page.total == 0 else f"no entries shown ({page.total} match)")
        return
    from mova_tui.cli.render import entries_table

    out = console()
    out.print(entries_table(page.items, svc.clock(), page.total, width=out.width))


def print_entries_json(svc: "DLQService", ids: list[str]) -> None:
    """A JSON array of full entries, written as it is read (one document, however many entries)."""
    write = sys.stdout.write
    write("[")
    first = True
    broken: list[SkippedFile] = []
    for start in range(0, len(ids), BATCH):
        docs, bad = svc.read_raw(ids[start:start + BATCH])  # as on disk: no model needed to print them
        broken += bad  # files that changed for the worse since the index saw them
        for doc in docs:
            write(("\n" if first else ",\n") + output.dumps(doc))
            first = False
    write("]\n" if first else "\n]\n")
    sys.stdout.flush()
    warn_skipped(broken, svc.settings.dlq_path)
