"""`mova dlq retry|archive|delete --all`: the terminal half of a bulk run (the logic is `mova_core.ops.bulk`).

Freeze the set and show it, ask (on a terminal) or require --yes/--force, then act with a
progress bar of done/failed/skipped, recording every outcome in a results file that `--resume`
continues. The first Ctrl-C (or SIGTERM) stops starting new work and lets the running ones
finish and be recorded; a second Ctrl-C quits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mova_core.model.status import EntryStatus
from mova_core.ops.bulk import (
    BulkPlan,
    BulkResult,
    BulkSummary,
    RateLimiter,
    ResultsFile,
    archive_action,
    default_results_path,
    delete_action,
    retry_action,
    run_bulk,
)

if TYPE_CHECKING:
    from mova_core.model.entry import RetryOverrides
    from mova_core.model.listing import EntryFilter

from mova_tui.cli import output
from mova_tui.cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    console,
    fail,
    info,
    print_json,
    warn,
)
from mova_tui.cli.params import BulkRun, Format, RetryPace, Selection, parse_rate
from mova_tui.cli.state import CliState
from mova_tui.present.safe_text import clean

PAST = {"retry": "retried", "archive": "archived", "delete": "deleted"}


@dataclass(frozen=True)
class BulkJob:
    """One bulk run to do: the operation, what it does to one id, how fast, and how it is recorded."""

    operation: str
    action: Callable[[str], BulkResult]
    options: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 1
    limiter: RateLimiter | None = None
    stop_after_failures: int | None = None
    mode_note: str = ""


def bulk_retry(state: CliState, selection: Selection, *, sandbox_mode: bool, overrides: RetryOverrides,
               pace: RetryPace, bulk: BulkRun, yes: bool, fmt: Format) -> None:
    """Retry a frozen set (active entries unless --status says otherwise), K at a time, at most N per second."""
    job = BulkJob(
        "retry",
        retry_action(state.thread_service, sandbox_mode=sandbox_mode, overrides=overrides),
        options={"sandbox_mode": sandbox_mode, "override_variables": sorted(overrides.variables),
                 "override_secrets": sorted(overrides.secrets)},
        concurrency=pace.concurrency,
        limiter=RateLimiter(parse_rate(pace.rate)),
        stop_after_failures=pace.stop_after_failures,
        mode_note=f" in {'sandbox' if sandbox_mode else 'PRODUCTION'} mode",
    )
    run_job(state, job, selection, selection.entry_filter(EntryStatus.active), bulk=bulk, yes=yes, fmt=fmt)


def bulk_simple(state: CliState, operation: str, selection: Selection, *, bulk: BulkRun, yes: bool,
                fmt: Format) -> None:
    """Archive or delete a frozen set."""
    factory = archive_action if operation == "archive" else delete_action
    job = BulkJob(operation, factory(state.thread_service))
    run_job(state, job, selection, selection.entry_filter(), bulk=bulk, yes=yes, fmt=fmt)


def freeze(state: CliState, operation: str, flt: EntryFilter) -> list[str]:
    """The ids the run will act on, listed once, now."""
    svc = state.service()
    if operation == "archive" and flt.status is None:
        # Archiving what is already archived would be a no-op line per entry; leave those out.
        limit = flt.limit
        items = svc.list(flt.model_copy(update={"limit": None})).items
        ids = [i.id for i in items if i.status != EntryStatus.archived]
        return ids[:limit] if limit is not None else ids
    return [i.id for i in svc.list(flt).items]


def run_job(state: CliState, job: BulkJob, selection: Selection, flt: EntryFilter, *, bulk: BulkRun, yes: bool,
            fmt: Format) -> None:
    """Plan (or resume), show the set, confirm, act with progress, report; exit 1 or 130 when not all done."""
    if bulk.resume is not None:
        record = _resumed(job, bulk, selection_given=selection.given())
        plan, ids = record.plan, record.pending()
    else:
        record = None
        ids = freeze(state, job.operation, flt)
        plan = BulkPlan(job.operation, ids, filter=flt.spec_dict(), options=job.options)
    _show_set(job.operation, ids, job.mode_note)
    if bulk.dry_run:
        _print_dry_run(plan, ids, fmt)
        return
    if not ids:
        if fmt == Format.json:
            print_json(_summary_json(job.operation, BulkSummary(total=0), record.path if record else None))
        return
    if not yes:
        _confirm(job, len(ids))
    if record is None:
        record = ResultsFile.create(bulk.results or default_results_path(state.service().settings.mova_dir,
                                                                        job.operation), plan)
    info(f"results: {record.path} (resume an interrupted run with --resume {record.path})")
    summary = _run_with_progress(job, ids, record)
    _report(job.operation, summary, record, fmt)


def _resumed(job: BulkJob, bulk: BulkRun, *, selection_given: bool) -> ResultsFile:
    """The results file to continue, checked against the command that continues it."""
    resume = bulk.resume
    assert resume is not None
    if bulk.results is not None:
        fail("--resume continues the results file it names; leave out --results", EXIT_USAGE)
    record = ResultsFile.load(resume)
    if record.plan.operation != job.operation:
        fail(f"{resume} records a bulk {record.plan.operation}, not a {job.operation}", EXIT_USAGE)
    recorded_mode = record.plan.options.get("sandbox_mode")
    if job.operation == "retry" and recorded_mode is not None and recorded_mode != job.options.get("sandbox_mode"):
        # A run started in the sandbox must not quietly continue in production, nor the reverse.
        was, flag = ("sandbox", "leave out --sandbox=false") if recorded_mode else ("production", "add --sandbox=false")
        fail(f"{resume} records a {was} retry; resume it the same way ({flag})", EXIT_USAGE)
    if selection_given:
        warn(f"--resume acts on the set recorded in {resume}; the filters given are ignored")
    info(f"resuming the {job.operation} of {len(record.plan.ids)} entries recorded in {resume}: "
         f"{len(record.recorded)} already have an outcome, {len(record.pending())} left")
    return record


def _print_dry_run(plan: BulkPlan, ids: list[str], fmt: Format) -> None:
    if fmt == Format.json:
        print_json({**plan.to_json(), "ids": ids, "count": len(ids), "dry_run": True})
    else:
        for entry_id in ids:
            print(clean(entry_id, one_line=True))


def _confirm(job: BulkJob, count: int) -> None:
    """Ask on a terminal; without one, refuse (the caller gave no --yes/--force)."""
    flag = "--force" if job.operation == "delete" else "--yes"
    if not output.can_ask():
        fail(f"refusing to {job.operation} {count} entries without confirmation: no terminal to ask on; "
             f"add {flag}", EXIT_USAGE)
    if not typer.confirm(f"{job.operation.capitalize()} these {count} entries{job.mode_note}?", default=False,
                         err=True):
        fail("nothing changed", EXIT_FAILED)


def _report(operation: str, summary: BulkSummary, record: ResultsFile, fmt: Format) -> None:
    if fmt == Format.json:
        print_json(_summary_json(operation, summary, record.path))
    else:
        print(f"{operation}: {summary.done} {PAST[operation]}, {summary.failed} failed, {summary.skipped} skipped "
              f"of {summary.total}", flush=True)
    if summary.stopped_reason:
        info(f"{summary.stopped_reason}: {len(summary.not_attempted)} not attempted; "
             f"continue with `--resume {record.path}`")
    if summary.stopped_reason == "cancelled":
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failed or summary.stopped_reason:
        raise typer.Exit(EXIT_FAILED)


def _show_set(operation: str, ids: list[str], mode_note: str) -> None:
    """The frozen set, counted (and the first few named) on stderr before anything changes."""
    if not ids:
        info(f"no entries to {operation}")
        return
    shown = ", ".join(ids[:5]) + (f", … ({len(ids) - 5} more)" if len(ids) > 5 else "")
    info(f"{len(ids)} entries to {operation}{mode_note}: {shown}")


def _result_line(result: BulkResult) -> str:
    """`id: outcome: detail` on one line; the detail may quote the entry or a server."""
    return clean(f"{result.id}: {result.outcome}" + (f": {result.detail}" if result.detail else ""), one_line=True)


def _summary_json(operation: str, summary: BulkSummary, path: Path | None) -> dict[str, Any]:
    return {"operation": operation, "total": summary.total, "done": summary.done, "failed": summary.failed,
            "skipped": summary.skipped, "not_attempted": summary.not_attempted,
            "stopped_reason": summary.stopped_reason, "results_file": str(path) if path else None}


def _run_with_progress(job: BulkJob, ids: list[str], record: ResultsFile) -> BulkSummary:
    operation = job.operation
    cancel = threading.Event()
    counts = {"done": 0, "failed": 0, "skipped": 0}
    err = console(err=True)
    bar = task = None
    if err.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn(f"{operation} "), BarColumn(), MofNCompleteColumn(),
            TextColumn("[green]{task.fields[done]} done[/] [red]{task.fields[failed]} failed[/] "
                       "[yellow]{task.fields[skipped]} skipped[/]"),
            TimeElapsedColumn(), console=err,
        )
        task = bar.add_task(operation, total=len(ids), **counts)

    def on_result(result: BulkResult) -> None:
        counts[result.kind] += 1
        if bar is not None:
            bar.update(task, advance=1, **counts)
            if result.kind != "done":
                bar.console.print(_result_line(result), markup=False, highlight=False)
        else:
            n = sum(counts.values())
            info(f"[{n}/{len(ids)}] {_result_line(result)}")

    restore = _install_stop_handlers(cancel)
    try:
        if bar is not None:
            bar.start()
        return run_bulk(ids, job.action, concurrency=job.concurrency, limiter=job.limiter,
                        stop_after_failures=job.stop_after_failures, results=record, on_result=on_result,
                        cancel=cancel)
    finally:
        if bar is not None:
            bar.stop()
        restore()


def _install_stop_handlers(cancel: threading.Event) -> Callable[[], None]:
    """First Ctrl-C/SIGTERM: stop starting work, let the running finish; second Ctrl-C: quit now."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum: int, frame: object) -> None:
        if cancel.is_set():
            sys.stderr.write("\nquitting; entries still being retried become retryable when their lease expires\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        sys.stderr.write("\nstopping: no new work is started; waiting for the running ones (Ctrl-C again to quit now)\n")
        sys.stderr.flush()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
