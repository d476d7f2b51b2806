"""The export job: the filtered view (no window: all of it) written as JSON lines or CSV."""

from __future__ import annotations

from pathlib import Path

from mova_core.model.errors import MovaError
from mova_core.model.listing import EntryFilter
from mova_tui.app.bulk import count
from mova_tui.app.jobs import JobBody, JobContext, JobReport


def export_job(flt: EntryFilter, fmt: str, path: Path) -> JobBody:
    """A job writing every entry matching `flt` to `path`, replaced atomically and durably by the core."""

    def run(ctx: JobContext) -> JobReport:
        target = Path(path).expanduser().absolute()
        full = flt.model_copy(update={"offset": 0, "limit": None})
        try:
            written = ctx.service.export_to_file(full, fmt, target)
        except MovaError as exc:
            return JobReport(f"Cannot export: {exc}", "error")
        return JobReport(f"Exported {count(written)} to {target} ({fmt})")

    return run
