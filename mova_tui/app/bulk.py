"""The dashboard's retry, archive, delete and reopen jobs, run by the core's bulk runner as `mova dlq … --all` is.

Several ids are recorded in a results file under `<dlq>/.mova/bulk/` (the plan, then one outcome
per id), so a run cancelled from the progress window is finished with `mova dlq … --all --resume`.
One id is the same run without a file. The job's cancel event goes to `run_bulk` and to each
retry: once it is set nothing new starts, a retry under way stops at its next step, an archive,
delete or reopen under way finishes, and each is recorded.
"""

from __future__ import annotations

import itertools
import shlex
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mova_core.model.entry import RetryOverrides
from mova_core.ops.bulk import (
    BulkOutcome,
    BulkPlan,
    BulkResult,
    BulkSummary,
    ResultsFile,
    archive_action,
    default_results_path,
    delete_action,
    retry_action,
    run_bulk,
)
from mova_core.ops.reopen import reopen_action
from mova_core.ops.service import DLQService
from mova_tui.present.events import describe_event
from mova_tui.present.text import short_id
from mova_tui.app.jobs import JobBody, JobContext, JobReport, Progress

Action = Callable[[str], BulkResult]


def count(n: int) -> str:
    """`1 entry`, `2,000 entries`."""
    return f"{n:,} {'entry' if n == 1 else 'entries'}"


def _results_file(service: DLQService, op: str, ids: list[str], options: dict[str, Any]) -> ResultsFile | None:
    """For several ids, a new results file where `mova dlq … --all` keeps its own; None for one id."""
    if len(ids) < 2:
        return None
    return ResultsFile.create(default_results_path(service.settings.mova_dir, op), BulkPlan(op, ids, options=options))


def _record_note(service: DLQService, record: ResultsFile, op: str, flags: str = "") -> str:
    """Where the run is recorded, or, when ids were left undone, the command that finishes it.

    The command names the directory too: without it the CLI would resume against its default one.
    """
    left = len(record.pending())
    if not left:
        return f"; results in {record.path.absolute()}"
    dlq = shlex.quote(str(Path(service.settings.dlq_path).absolute()))
    command = f"mova --dlq-path {dlq} dlq {op} --all --resume {shlex.quote(str(record.path.absolute()))}{flags}"
    return f"; {count(left)} not done (cancelled): finish with {command}"


# -- archive / delete / reopen ---------------------------------------------------------------------
#: Each change: its action over a service (refusals skipped, as `--all` skips them) and its verb.
CHANGES: dict[str, tuple[Callable[..., Action], str]] = {
    "archive": (archive_action, "Archived"),
    "delete": (delete_action, "Deleted"),
    "reopen": (reopen_action, "Reopened"),
}


def bulk_job(op: str, ids: list[str], *, break_lease: bool = False) -> JobBody:
    """Archive, delete or reopen each id; what `--all` skips (a live retry, an entry gone meanwhile,
    one already active) is skipped here, with the reason. `break_lease`: for one id the user confirmed
    taking from its running retry."""
    make, verb = CHANGES[op]

    def run(ctx: JobContext) -> JobReport:
        record = _results_file(ctx.service, op, ids, {"from": "dashboard"})
        refusals: dict[str, BulkResult] = {}

        def on_result(result: BulkResult) -> None:
            if result.kind == "done":
                ctx.progress(f"✓ {verb.lower()} {result.id}", 1)
            else:
                refusals[result.id] = result
                ctx.progress(f"✗ {short_id(result.id)} {result.outcome}: {result.detail or result.outcome}", 1)

        action = make(lambda: ctx.service, break_lease=break_lease)
        summary = run_bulk(ids, action, results=record, on_result=on_result, cancel=ctx.cancel)
        if record is None:
            refused = refusals.get(ids[0])
            if refused is not None:
                return JobReport(refused.detail or refused.outcome, "warning" if refused.kind == "skipped" else "error")
            return JobReport(f"{verb} {ids[0]}" if summary.done else "Cancelled", "information")
        text = f"{verb} {count(summary.done)}" + (f"; {len(refusals)} skipped or refused" if refusals else "")
        severity = "warning" if refusals or record.pending() else "information"
        return JobReport(text + _record_note(ctx.service, record, op), severity)

    return run


# -- retry ----------------------------------------------------------------------------------------
def retry_job(ids: list[str], sandbox_mode: bool, overrides: RetryOverrides | None,
              notes: list[str] | None = None) -> JobBody:
    """Retry each id in the foreground, streaming the engine's events as progress lines.

    `notes` open the window's log (the entries skipped before the run). The results file names the
    override variables and secrets, never their values.
    """
    mode = "sandbox" if sandbox_mode else "production"

    def run(ctx: JobContext) -> JobReport:
        for note in notes or []:
            ctx.progress(note)
        action = retry_action(lambda: ctx.service, sandbox_mode=sandbox_mode, overrides=overrides,
                              on_event=lambda event: _event_line(ctx.progress, event), cancel=ctx.cancel)
        options = {"sandbox_mode": sandbox_mode, "from": "dashboard",
                   "override_variables": sorted(overrides.variables) if overrides else [],
                   "override_secrets": sorted(overrides.secrets) if overrides else []}
        record = _results_file(ctx.service, "retry", ids, options)
        results: list[BulkResult] = []

        def on_result(result: BulkResult) -> None:
            results.append(result)
            run_note = f"  run {result.retry_run_id}" if result.retry_run_id else ""
            ctx.progress(f"    {'→' if result.kind == 'done' else '✗'} {_outcome(result)}{run_note}", 1)

        summary = run_bulk(ids, _announced(action, ids, mode, ctx.progress), results=record, on_result=on_result,
                           cancel=ctx.cancel)
        return _retry_report(ctx.service, ids, results, summary, record, sandbox_mode, overrides)

    return run


def _announced(action: Action, ids: list[str], mode: str, progress: Progress) -> Action:
    """The action, with a `[n/N] mode retry of id` line before each retry's events."""
    numbers = itertools.count(1)

    def act(entry_id: str) -> BulkResult:
        progress(f"[{next(numbers)}/{len(ids)}] {mode} retry of {entry_id}")
        return action(entry_id)

    return act


def _retry_report(service: DLQService, ids: list[str], results: list[BulkResult], summary: BulkSummary,
                  record: ResultsFile | None, sandbox_mode: bool, overrides: RetryOverrides | None) -> JobReport:
    title = f"{'Sandbox' if sandbox_mode else 'Production'} retry of "
    if record is None:
        if not results:
            return JobReport(f"{title}{short_id(ids[0])}: cancelled", "warning")
        # A retry that ran and failed is a warning; one refused (already retrying, gone) an error.
        severities = {BulkOutcome.completed: "information", BulkOutcome.failed: "warning"}
        severity = severities.get(results[-1].outcome, "error")
        return JobReport(f"{title}{short_id(ids[0])}: {_outcome(results[-1])}", severity)
    outcomes = Counter(result.outcome for result in results)
    parts = [f"{n} {outcome}" for outcome, n in sorted(outcomes.items())]
    # Resuming retries the same way: production must be asked for again, overrides given again.
    flags = ("" if sandbox_mode else " --sandbox=false") + (
        " and the same --var/--secret overrides" if overrides and (overrides.variables or overrides.secrets) else "")
    severity = "information" if set(outcomes) <= {BulkOutcome.completed} and not record.pending() else "warning"
    return JobReport(f"{title}{count(summary.total)}: {', '.join(parts) or 'nothing done'}"
                     + _record_note(service, record, "retry", flags), severity)


def _outcome(result: BulkResult) -> str:
    return result.outcome + (f" ({result.detail})" if result.detail else "")


def _event_line(progress: Progress, event: object) -> None:
    line = describe_event(event)
    if line is not None:
        progress("    " + line.plain)
