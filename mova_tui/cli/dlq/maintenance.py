"""Retention and analysis: `mova dlq purge` and `mova dlq export`."""


import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mova_tui.cli.dlq.common import skipped_line, warn_skipped
from mova_tui.cli.option_groups import with_option_groups
from mova_tui.cli.output import EXIT_FAILED, EXIT_USAGE, examples, fail, info, print_json, warn
from mova_tui.cli.params import ExportFormat, Format, FormatOpt, Selection
from mova_tui.cli.state import get_state

if TYPE_CHECKING:
    from mova_core.model.listing import EntryFilter
    from mova_core.ops.service import DLQService

app = typer.Typer()

OlderThanOpt = Annotated[
    Optional[float],
    typer.Option("--older-than", min=0, metavar="DAYS", help="Age limit in days (default MOVA_DLQ_RETENTION_DAYS)."),
]
PurgeDryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Report what would be removed; remove nothing.")]
ExportFormatOpt = Annotated[
    ExportFormat, typer.Option("--format", case_sensitive=False, help="jsonl (full entries) or csv (summary columns).")
]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", metavar="FILE", help="Write here instead of stdout (replaced only when complete)."),
]


@app.command(epilog=examples(
    "mova dlq purge                      (MOVA_DLQ_RETENTION_DAYS, default 30)",
    "mova dlq purge --older-than 7 --dry-run",
    "0 3 * * *  mova dlq purge          (crontab: asks nothing)",
))
def purge(ctx: typer.Context, older_than: OlderThanOpt = None, dry_run: PurgeDryRunOpt = False,
          fmt: FormatOpt = Format.table) -> None:
    """Remove resolved and archived entries older than the retention period (never active or retrying)."""
    from mova_tui.present.text import counted  # Rich text: not at start-up

    svc = get_state(ctx).service()
    report = svc.purge(older_than, dry_run=dry_run)
    if fmt == Format.json:
        print_json(report.model_dump(mode="json"))
    else:
        from mova_tui.present.safe_text import clean

        for entry_id in report.removed:
            print(clean(entry_id, one_line=True))
        verb = "would remove" if dry_run else "removed"
        info(f"{verb} {counted(len(report.removed), 'resolved/archived entry', 'resolved/archived entries')} "
             f"older than {counted(report.older_than_days, 'day')} "
             f"(created before {report.cutoff})")
        for entry_id, why in report.failed.items():
            warn(f"not removed {entry_id}: {why}")
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


ToDirOpt = Annotated[
    Optional[Path],
    typer.Option("--to-dir", metavar="DIR", help="Write one <id>.json per entry into DIR, in the file format "
                 "(what `mova dlq import` reads); DIR is made if missing."),
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="With --to-dir: DIR may hold entry files; those of the same name are "
                       "replaced, no other file is touched."),
]


@app.command(epilog=examples(
    "mova dlq export --output dlq.jsonl",
    "mova dlq export --status active --format csv --output active.csv",
    "mova dlq export --to-dir /backup/deadletter          (the file format: back to a directory)",
))
@with_option_groups
def export(ctx: typer.Context, selection: Selection, fmt: ExportFormatOpt = ExportFormat.jsonl,
           out: OutputOpt = None, to_dir: ToDirOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Export matching entries for analysis (JSON lines of full entries, or CSV), or as entry files (--to-dir)."""
    from mova_tui.present.text import counted  # Rich text: not at start-up

    svc = get_state(ctx).service()
    flt = selection.entry_filter()
    warn_skipped(svc.skipped(), svc.settings.dlq_path)
    if to_dir is not None or overwrite:
        _export_to_dir(ctx, svc, flt, to_dir, overwrite)
        return
    if out is None:
        count = svc.export(flt, fmt.value, sys.stdout)
        sys.stdout.flush()
        info(f"exported {counted(count, 'entry', 'entries')}")
        return
    count = svc.export_to_file(flt, fmt.value, out)  # replaced atomically and durably once complete
    info(f"exported {counted(count, 'entry', 'entries')} to {out}")


def _export_to_dir(ctx: typer.Context, svc: "DLQService", flt: "EntryFilter", to_dir: Optional[Path],
                   overwrite: bool) -> None:
    """`export --to-dir`: the entry files, each written atomically; exit 1 if a matching entry was unreadable."""
    from mova_tui.present.text import counted

    if to_dir is None:
        fail("--overwrite goes with --to-dir DIR", EXIT_USAGE)
    # Typer keeps its own copy of Click, so the source is compared by name, not by Click's enum.
    given = [flag for flag, param in (("--format", "fmt"), ("--output", "out"))
             if getattr(ctx.get_parameter_source(param), "name", None) == "COMMANDLINE"]
    if given:
        fail(f"--to-dir writes entry files; it does not take {' or '.join(given)}", EXIT_USAGE)
    report = svc.export_to_dir(flt, to_dir, overwrite=overwrite)
    for skipped in report.unreadable:
        warn(f"not exported {skipped_line(skipped)}")
    info(f"exported {counted(report.written, 'entry', 'entries')} to {report.directory} (one <id>.json each)")
    if report.unreadable:
        raise typer.Exit(EXIT_FAILED)
