"""Retention and analysis: `mova dlq purge` and `mova dlq export`."""


import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from mova_tui.cli.dlq.common import warn_skipped
from mova_tui.cli.option_groups import with_option_groups
from mova_tui.cli.output import EXIT_FAILED, examples, info, print_json, warn
from mova_tui.cli.params import ExportFormat, Format, FormatOpt, Selection
from mova_tui.cli.state import get_state

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
    svc = get_state(ctx).service()
    report = svc.purge(older_than, dry_run=dry_run)
    if fmt == Format.json:
        print_json(report.model_dump(mode="json"))
    else:
        from mova_tui.present.safe_text import clean

        for entry_id in report.removed:
            print(clean(entry_id, one_line=True))
        verb = "would remove" if dry_run else "removed"
        info(f"{verb} {len(report.removed)} resolved/archived entries older than {report.older_than_days:g} days "
             f"(created before {report.cutoff})")
        for entry_id, why in report.failed.items():
            warn(f"not removed {entry_id}: {why}")
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


@app.command(epilog=examples(
    "mova dlq export --output dlq.jsonl",
    "mova dlq export --status active --format csv --output active.csv",
))
@with_option_groups
def export(ctx: typer.Context, selection: Selection, fmt: ExportFormatOpt = ExportFormat.jsonl,
           out: OutputOpt = None) -> None:
    """Export matching entries for analysis: JSON lines of full entries, or CSV."""
    svc = get_state(ctx).service()
    flt = selection.entry_filter()
    warn_skipped(svc.skipped(), svc.settings.dlq_path)
    if out is None:
        count = svc.export(flt, fmt.value, sys.stdout)
        sys.stdout.flush()
        info(f"exported {count} entries")
        return
    count = svc.export_to_file(flt, fmt.value, out)  # replaced atomically and durably once complete
    info(f"exported {count} entries to {out}")
