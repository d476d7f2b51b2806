"""`mova dlq reindex`: re-read every entry file into the index (after tools rewrote files in place)."""

import typer

from mova_tui.cli.dlq.common import skipped_line
from mova_tui.cli.output import examples, fail, info, print_json
from mova_tui.cli.params import Format, FormatOpt
from mova_tui.cli.state import get_state, refresh_with_progress

app = typer.Typer()


@app.command(epilog=examples("mova dlq reindex"))
def reindex(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Re-read every entry file into the index, and list the files that are not readable entries."""
    from mova_tui.present.text import counted  # Rich text: not at start-up

    svc = get_state(ctx).service(warn_missing=False)
    if not svc.settings.file_store:
        fail("the PostgreSQL store (MOVA_STORE_URL) has no index to rebuild: its listings read the table itself")
    if not svc.settings.dlq_path.is_dir():
        fail(f"dead-letter directory {svc.settings.dlq_path} does not exist (set MOVA_DLQ_PATH or --dlq-path)")
    refresh_with_progress(svc, full=True, label="reindexing")
    total = svc.stats().total_entries
    skipped = svc.skipped()
    if fmt == Format.json:
        print_json({"directory": str(svc.settings.dlq_path), "entries": total,
                    "skipped": [s.model_dump(mode="json") for s in skipped]})
        return
    for s in skipped:
        print(skipped_line(s))
    info(f"indexed {counted(total, 'entry', 'entries')} in {svc.settings.dlq_path}"
         + (f"; {counted(len(skipped), 'unreadable file')} skipped (listed above; never modified)" if skipped else ""))
