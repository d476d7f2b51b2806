"""The export job: the filtered view (no window: all of it) written as JSON lines or CSV."""

from __future__ import annotations

from pathlib import Path

from mova_core.model.listing import EntryFilter
from mova_tui.app.bulk import count
from mova_tui.app.jobs import JobBody, JobContext, JobReport


def export_job(flt: EntryFilter, fmt: str, path: Path) -> JobBody:
    """A job writing every entry matching `flt` to `path`, through a temporary file renamed at the end."""

    def run(ctx: JobContext) -> JobReport:
        target = Path(path).expanduser()
        if not target.parent.is_dir():
            return JobReport(f"Cannot export: directory {target.parent} does not exist", "error")
        full = flt.model_copy(update={"offset": 0, "limit": None})
        tmp = target.with_name(f".{target.name}.part")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                written = ctx.service.export(full, fmt, out)
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            return JobReport(f"Cannot export to {target}: {exc.strerror or exc}", "error")
        return JobReport(f"Exported {count(written)} to {target} ({fmt})")

    return run
