"""The operations both screens offer (retry, archive, delete, export): modal, then a background job.

The job bodies are plain functions over a `DLQService`, a `progress(line, advance)` callback and a
`cancelled()` check; they return (summary, severity, changed ids) for the notification.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mova_core.model.entry import RetryOverrides
from mova_core.model.listing import EntryFilter
from mova_core.ops.service import DLQService
from mova_tui.present.events import describe_event
from mova_tui.present.text import short_id

if TYPE_CHECKING:
    from mova_core.ops.bulk import ResultsFile
    from mova_tui.app.app import MovaApp
    from mova_tui.app.modals.export_modal import ExportRequest
    from mova_tui.app.modals.retry_modal import RetryRequest

Progress = Callable[..., None]
Cancelled = Callable[[], bool]
Done = Callable[[list[str]], None] | None
BATCH = 5000


def matching_ids(service: DLQService, flt: EntryFilter) -> list[str]:
    """Every id matching the filter, read in pages so 100,000 summaries are never held at once."""
    ids: list[str] = []
    offset = 0
    while True:
        page = service.list(flt.model_copy(update={"offset": offset, "limit": BATCH}))
        ids.extend(item.id for item in page.items)
        if len(page.items) < BATCH:
            return ids
        offset += BATCH


def _count(n: int) -> str:
    return f"{n:,} {'entry' if n == 1 else 'entries'}"


# -- retry ----------------------------------------------------------------------------------------
def retry(app: "MovaApp", ids: list[str], on_done: Done = None) -> None:
    """Open the retry modal for one entry or a frozen selection; run the retry as a job."""
    from mova_tui.app.modals.retry_modal import RetryModal

    ids = list(ids)
    if not ids:
        app.notify("No entry under the cursor", severity="warning")
        return

    def chosen(request: "RetryRequest | None") -> None:
        if request is None:
            return
        mode = "sandbox" if request.sandbox_mode else "production"
        title = f"{mode.capitalize()} retry of " + (short_id(ids[0]) if len(ids) == 1 else _count(len(ids)))
        app.start_job(title, len(ids), retry_job(ids, request.sandbox_mode, request.overrides))
        if on_done:
            on_done(ids)

    app.push_screen(RetryModal(ids), chosen)


def retry_job(ids: list[str], sandbox_mode: bool, overrides: RetryOverrides | None):
    """A job retrying each id in turn, streaming the engine's events as progress lines.

    Several ids are recorded like `mova dlq retry --all` records them (see `bulk_job`); the
    results file names the override variables and secrets, never their values.
    """

    def run(service: DLQService, progress: Progress, cancelled: Cancelled) -> tuple[str, str, list[str]]:
        from mova_core.ops.bulk import retry_action

        mode = "sandbox" if sandbox_mode else "production"
        act = retry_action(lambda: service, sandbox_mode=sandbox_mode, overrides=overrides,
                           on_event=lambda event: _event(progress, event))
        options = {"sandbox_mode": sandbox_mode, "from": "dashboard",
                   "override_variables": sorted(overrides.variables) if overrides else [],
                   "override_secrets": sorted(overrides.secrets) if overrides else []}
        record = _results_file(service, "retry", ids, options)
        outcomes: dict[str, int] = {}
        last, last_outcome = "", ""
        for n, entry_id in enumerate(ids, 1):
            if cancelled():
                break
            progress(f"[{n}/{len(ids)}] {mode} retry of {entry_id}")
            result = act(entry_id)
            if record is not None:
                record.append(result)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            last_outcome = result.outcome
            last = result.outcome + (f" ({result.detail})" if result.detail else "")
            run_note = f"  run {result.retry_run_id}" if result.retry_run_id else ""
            progress(f"    {'→' if result.kind == 'done' else '✗'} {last}{run_note}", 1)
        title = f"{mode.capitalize()} retry of "
        if record is None:
            # A retry that ran and failed is a warning; one refused (already retrying, gone) an error.
            severity = {"completed": "information", "failed": "warning"}.get(last_outcome, "error")
            return f"{title}{short_id(ids[0])}: {last}", severity, ids
        parts = [f"{count} {outcome}" for outcome, count in sorted(outcomes.items())]
        severity = "information" if set(outcomes) <= {"completed"} else "warning"
        # Resuming retries the same way: production must be asked for again, overrides given again.
        flags = ("" if sandbox_mode else " --sandbox=false") + (
            " and the same --var/--secret overrides" if overrides and (overrides.variables or overrides.secrets) else "")
        return (f"{title}{_count(len(ids))}: {', '.join(parts) or 'nothing done'}" + _record_note(record, "retry", flags),
                "warning" if record.pending() else severity, ids)

    return run


def _results_file(service: DLQService, op: str, ids: list[str], options: dict) -> "ResultsFile | None":
    """For several ids, a results file like `mova dlq … --all` writes, so the CLI can resume the run."""
    if len(ids) < 2:
        return None
    from mova_core.ops.bulk import BulkPlan, ResultsFile, default_results_path

    return ResultsFile.create(default_results_path(service.settings.mova_dir, op), BulkPlan(op, ids, options=options))


def _record_note(record: "ResultsFile", op: str, flags: str = "") -> str:
    """Where the run is recorded, or, when it was cancelled, the command that finishes it."""
    left = len(record.pending())
    if left:
        return (f"; {_count(left)} not done (cancelled): finish with "
                f"mova dlq {op} --all --resume {record.path}{flags}")
    return f"; results in {record.path}"


def _event(progress: Progress, event: object) -> None:
    line = describe_event(event)
    if line is not None:
        progress("    " + line.plain)


# -- archive / delete -----------------------------------------------------------------------------
def archive(app: "MovaApp", ids: list[str], on_done: Done = None) -> None:
    """Archive one entry at once, or a frozen selection after a confirmation stating the count."""
    from mova_tui.app.modals.confirm_modal import ConfirmModal

    ids = list(ids)
    if not ids:
        app.notify("No entry under the cursor", severity="warning")
        return
    if len(ids) == 1:
        app.start_job(f"Archive {short_id(ids[0])}", 1, bulk_job("archive", ids), show=False)
        if on_done:
            on_done(ids)
        return

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.start_job(f"Archive {_count(len(ids))}", len(ids), bulk_job("archive", ids))
            if on_done:
                on_done(ids)

    app.push_screen(
        ConfirmModal(f"Archive {_count(len(ids))}?",
                     f"The {_count(len(ids))} selected will be set to archived. They can be reopened later.",
                     confirm_label=f"Archive {len(ids):,}", variant="warning"),
        confirmed,
    )


def delete(app: "MovaApp", ids: list[str], on_done: Done = None) -> None:
    """Delete one entry or a frozen selection, always after a confirmation."""
    from mova_tui.app.modals.confirm_modal import ConfirmModal

    ids = list(ids)
    if not ids:
        app.notify("No entry under the cursor", severity="warning")
        return
    what = ids[0] if len(ids) == 1 else _count(len(ids))

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.start_job(f"Delete {short_id(ids[0]) if len(ids) == 1 else what}", len(ids),
                          bulk_job("delete", ids), show=len(ids) > 1)
            if on_done:
                on_done(ids)

    body = (f"Entry {ids[0]} will be removed from the dead-letter directory." if len(ids) == 1
            else f"The {what} selected will be removed from the dead-letter directory.")
    app.push_screen(
        ConfirmModal(f"Delete {what}?", body + " This cannot be undone.",
                     confirm_label="Delete" if len(ids) == 1 else f"Delete {len(ids):,}", variant="error"),
        confirmed,
    )


def bulk_job(op: str, ids: list[str]):
    """A job applying archive or delete to each id, counting successes and reporting refusals.

    With more than one id the run is recorded like `mova dlq archive|delete --all` records it (a
    results file under `<dlq>/.mova/bulk/`), so a cancelled or interrupted run can be finished
    from the command line with `--resume`.
    """

    def run(service: DLQService, progress: Progress, cancelled: Cancelled) -> tuple[str, str, list[str]]:
        # The core's bulk actions, so the dashboard skips what `mova dlq … --all` skips (an entry
        # under a running retry, one gone meanwhile) for the same reasons.
        from mova_core.ops.bulk import archive_action, delete_action

        act = (archive_action if op == "archive" else delete_action)(lambda: service)
        record = _results_file(service, op, ids, {"from": "dashboard"})
        done: list[str] = []
        failed: dict[str, str] = {}
        for entry_id in ids:
            if cancelled():
                break
            result = act(entry_id)
            if record is not None:
                record.append(result)
            if result.kind != "done":
                failed[entry_id] = result.detail or result.outcome
                progress(f"✗ {short_id(entry_id)} {result.outcome}: {failed[entry_id]}", 1)
                continue
            done.append(entry_id)
            progress(f"✓ {op}d {entry_id}", 1)
        verb = "Archived" if op == "archive" else "Deleted"
        if record is None:
            if failed:
                return failed[ids[0]], "error", done
            return f"{verb} {ids[0]}", "information", done
        summary = f"{verb} {_count(len(done))}"
        if failed:
            summary += f"; {len(failed)} skipped or refused"
        severity = "warning" if failed or record.pending() else "information"
        return summary + _record_note(record, op), severity, done

    return run


# -- export ---------------------------------------------------------------------------------------
def export(app: "MovaApp", flt: EntryFilter, count: int, described: str) -> None:
    """Ask for a path and format, then write the filtered view there in a job."""
    from mova_tui.app.modals.export_modal import ExportModal

    def chosen(request: "ExportRequest | None") -> None:
        if request is not None:
            app.start_job(f"Export to {request.path}", None, export_job(flt, request.fmt, request.path), show=False)

    stamp = app.clock().strftime("%Y%m%d-%H%M%S")
    app.push_screen(ExportModal(count, described, default_stem=f"dlq-export-{stamp}"), chosen)


def export_job(flt: EntryFilter, fmt: str, path: Path):
    """A job writing the filtered entries (no window: all of them) as JSON lines or CSV."""

    def run(service: DLQService, progress: Progress, cancelled: Cancelled) -> tuple[str, str, list[str]]:
        target = Path(path).expanduser()
        if not target.parent.is_dir():
            return f"Cannot export: directory {target.parent} does not exist", "error", []
        full = flt.model_copy(update={"offset": 0, "limit": None})
        tmp = target.with_name(f".{target.name}.part")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                count = service.export(full, fmt, out)
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            return f"Cannot export to {target}: {exc.strerror or exc}", "error", []
        return f"Exported {_count(count)} to {target} ({fmt})", "information", []

    return run
