"""`mova dlq import DIR`: entry files (mova's or the Go engine's) into the current store, idempotently.

The way back is `mova dlq export --to-dir DIR` (`maintenance.py`).
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mova_tui.cli.dlq.common import skipped_line
from mova_tui.cli.output import EXIT_FAILED, examples, info, print_json, warn
from mova_tui.cli.params import Format, FormatOpt
from mova_tui.cli.state import get_state, stderr_progress

if TYPE_CHECKING:
    from mova_core.ops.transfer import ImportReport

app = typer.Typer()

DirArg = Annotated[Path, typer.Argument(metavar="DIR", help="A directory of <id>.json entry files.")]
ImportDryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Report what would be imported; import nothing.")]


@app.command("import", epilog=examples(
    "mova dlq import /backup/deadletter --dry-run",
    "mova dlq import /backup/deadletter --format json",
    "MOVA_DLQ_PATH=/srv/new-queue mova dlq import state/deadletter   (move a queue; safe to run again)",
))
def import_(ctx: typer.Context, directory: DirArg, dry_run: ImportDryRunOpt = False,
            fmt: FormatOpt = Format.table) -> None:
    """Create the entries of DIR's *.json files in this queue, unknown fields kept; running it twice adds nothing.

    An id already here with the same content counts as already present; with other content it is a
    conflict and left alone. Unreadable files are skipped with their reason. Exit 1 if any conflict or skip.
    """
    svc = get_state(ctx).service(warn_missing=False)
    with stderr_progress("importing") as progress:
        report = svc.import_dir(directory, dry_run=dry_run, progress=progress)
    if fmt == Format.json:
        print_json(report.model_dump(mode="json"))
    else:
        _say_report(report)
    if not report.complete:
        raise typer.Exit(EXIT_FAILED)


def _say_report(report: "ImportReport") -> None:
    """Each conflict and skipped file as a warning, then the summary line (stderr)."""
    from mova_tui.present.safe_text import clean
    from mova_tui.present.text import counted  # Rich text: not at start-up

    for conflict in report.conflicts:
        warn(f"conflict {clean(conflict.id, one_line=True)}: {clean(conflict.reason, one_line=True)} (left as it is)")
    for skipped in report.skipped:
        warn(f"skipped {skipped_line(skipped)}")
    verb = "would import" if report.dry_run else "imported"
    info(f"{verb} {counted(report.imported, 'entry', 'entries')} from {clean(report.directory, one_line=True)}: "
         f"{report.already_present} already present, {counted(len(report.conflicts), 'conflict')}, "
         f"{len(report.skipped)} skipped")
