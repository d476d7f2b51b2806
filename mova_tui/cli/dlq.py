"""`mova dlq …`: list, show, retry, archive, delete, stats, groups, purge, export, alerts, reindex.

Each command turns its options into one core call and renders the result; errors are mapped to
exit codes by the root group (`output.MovaGroup`). Bulk runs (`--all`) are in `dlq_bulk`.
"""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mova_core.model.status import EntryStatus

if TYPE_CHECKING:  # pydantic models load on first use, so `mova --help` stays quick
    from mova_core.model.listing import SkippedFile

from mova_tui.cli import output
from mova_tui.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    console,
    examples,
    fail,
    info,
    print_json,
    warn,
)
from mova_tui.cli.params import (
    ExportFormat,
    Format,
    FormatOpt,
    GroupOpt,
    LimitOpt,
    OverridesOpt,
    SandboxFlagCommand,
    SecretOpt,
    SinceOpt,
    StatusOpt,
    UntilOpt,
    UserIdOpt,
    VarOpt,
    WorkflowTypeOpt,
    build_filter,
    load_overrides,
)
from mova_tui.cli.state import get_state, refresh_with_progress

app = typer.Typer(
    help="Work with the dead-letter queue: list, inspect, retry (sandbox first), archive, delete, watch.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def warn_skipped(skipped: "list[SkippedFile]", directory: Path) -> None:
    """One warning line for files in the directory that are not readable entries."""
    if not skipped:
        return
    first = skipped[0]
    more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
    noun = "file" if len(skipped) == 1 else "files"
    warn(f"skipped {len(skipped)} unreadable {noun} in {directory}: {first.name} ({first.reason}){more}; "
         "`mova dlq reindex` lists them")


def _selection_given(*values: object) -> bool:
    return any(v is not None for v in values)


# -- list ---------------------------------------------------------------------------------------
@app.command("list", epilog=examples(
    "mova dlq list --status active",
    "mova dlq list --workflow-type data-processing --limit 10",
    "mova dlq list --since 24h --format json | jq -r '.[] | .id'",
))
def list_cmd(
    ctx: typer.Context,
    status: StatusOpt = None,
    workflow_type: WorkflowTypeOpt = None,
    user_id: UserIdOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = None,
    group: GroupOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List entries, newest first. --format json prints a JSON array of full entries."""
    svc = get_state(ctx).service()
    flt = build_filter(status, workflow_type, user_id, since, until, limit, group)
    page = svc.list(flt)
    warn_skipped(page.skipped, svc.settings.dlq_path)
    if fmt == Format.json:
        _print_entries_json(svc, [i.id for i in page.items])
        return
    if not page.items:
        info("no entries match" if page.total == 0 else f"no entries shown ({page.total} match)")
        return
    from mova_tui.cli.render import entries_table

    out = console()
    out.print(entries_table(page.items, svc.clock(), page.total, width=out.width))


def _print_entries_json(svc, ids: list[str]) -> None:
    """A JSON array of full entries, written as it is read (one document, however many entries)."""
    write = sys.stdout.write
    write("[")
    first = True
    broken: list[SkippedFile] = []
    for start in range(0, len(ids), 500):
        docs, bad = svc.read_raw(ids[start:start + 500])  # as on disk: no model needed to print them
        broken += bad  # files that changed for the worse since the index saw them
        for doc in docs:
            write(("\n" if first else ",\n") + output.dumps(doc))
            first = False
    write("]\n" if first else "\n]\n")
    sys.stdout.flush()
    warn_skipped(broken, svc.settings.dlq_path)


# -- show ---------------------------------------------------------------------------------------
@app.command(epilog=examples(
    "mova dlq show dlq_12345678",
    "mova dlq show 12345678            (a bare UUID prefix works too)",
    "mova dlq show dlq_12345678 --format json | jq '.error_details.error_history'",
))
def show(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Entry id or unique prefix.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one entry: errors, failed action, variables, results, retries, envelope."""
    svc = get_state(ctx).service()
    entry = svc.get(entry_id)
    if fmt == Format.json:
        print_json(entry.to_json_dict())
        return
    from mova_tui.cli.render import entry_detail

    run = None
    if entry.metadata.lease is not None:
        run = svc.find_run(entry.metadata.lease.retry_run_id)
    out = console()
    out.print(entry_detail(entry, svc.clock(), stale=svc.is_stale(entry), color=out.is_terminal and not out.no_color,
                           run=run))


# -- retry --------------------------------------------------------------------------------------
SandboxOpt = Annotated[
    bool,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Sandbox (default) or production; --sandbox=false (as the specification writes it) is --no-sandbox.",
    ),
]


@app.command(cls=SandboxFlagCommand, epilog=examples(
    "mova dlq retry dlq_12345678                     (sandbox, in the background)",
    "mova dlq retry dlq_12345678 --wait",
    "mova dlq retry dlq_12345678 --sandbox=false --wait   (production)",
    "mova dlq retry dlq_12345678 --overrides fix.json --var timeout=60 --secret api_key=test_key_123",
    "mova dlq retry --all --group 2a70b49f9c69 --rate 2/s --stop-after-failures 3 --yes",
    "mova dlq retry --all --resume state/deadletter/.mova/bulk/retry-20240119T103045123456Z.jsonl",
))
def retry(
    ctx: typer.Context,
    entry_id: Annotated[Optional[str], typer.Argument(metavar="[ID]", help="Entry id or unique prefix.")] = None,
    sandbox: SandboxOpt = True,
    wait: Annotated[bool, typer.Option("--wait", help="Run in the foreground, show progress, exit 1 if it fails.")] = False,
    var: VarOpt = None,
    secret: SecretOpt = None,
    overrides: OverridesOpt = None,
    fmt: FormatOpt = Format.table,
    all_: Annotated[bool, typer.Option("--all", help="Retry every entry matching the filters (a frozen set).")] = False,
    status: StatusOpt = None,
    workflow_type: WorkflowTypeOpt = None,
    user_id: UserIdOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = None,
    group: GroupOpt = None,
    rate: Annotated[Optional[str], typer.Option("--rate", metavar="N/s", help="With --all: at most N retries started per second (N/s, N/m, N/h).")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, metavar="K", help="With --all: K retries at a time.")] = 1,
    stop_after_failures: Annotated[Optional[int], typer.Option("--stop-after-failures", min=1, metavar="M", help="With --all: stop starting retries after M failures.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --all: list the set and stop.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask for confirmation.")] = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="FILE", help="With --all: resume the run recorded in this results file.")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", metavar="FILE", help="With --all: where to write the results (JSON lines).")] = None,
) -> None:
    """Retry an entry, in the sandbox unless told otherwise; or every matching entry with --all."""
    state = get_state(ctx)
    retry_overrides = load_overrides(overrides, var, secret)
    selection = (status, workflow_type, user_id, since, until, limit, group)
    if all_ or resume is not None:
        if entry_id:
            fail("give an ID or --all, not both", EXIT_USAGE)
        from mova_tui.cli.dlq_bulk import bulk_retry

        bulk_retry(
            state, build_filter(status or EntryStatus.active, workflow_type, user_id, since, until, limit, group),
            selection_given=_selection_given(*selection), sandbox_mode=sandbox, overrides=retry_overrides,
            rate=rate, concurrency=concurrency, stop_after_failures=stop_after_failures, dry_run=dry_run,
            yes=yes, resume=resume, results=results, fmt=fmt,
        )
        return
    if not entry_id:
        fail("give an entry ID, or --all to retry every matching entry", EXIT_USAGE)
    _only_with_all(selection, rate=rate, stop_after_failures=stop_after_failures, dry_run=dry_run,
                   results=results, concurrency=concurrency)
    svc = state.service()
    mode = "sandbox" if sandbox else "production"
    if not wait:
        response = svc.retry(entry_id, sandbox_mode=sandbox, overrides=retry_overrides, wait=False)
        if fmt == Format.json:
            print_json(response.model_dump(mode="json"))
        else:
            print(response.retry_run_id, flush=True)
            info(f"{mode} retry of {response.dlq_id} started in the background; "
                 f"follow it with `mova dlq show {response.dlq_id}`")
        return
    from mova_tui.cli.events import EventPrinter

    printer = EventPrinter(console(err=True))
    info(f"retrying {entry_id} in {mode} mode")
    try:
        response = svc.retry(entry_id, sandbox_mode=sandbox, overrides=retry_overrides, wait=True, on_event=printer)
    finally:
        printer.close()
    result = response.execution_result
    completed = result is not None and result.status == "completed"
    if fmt == Format.json:
        print_json(response.model_dump(mode="json"))
    else:
        status_word = result.status if result else "unknown"
        line = f"{response.retry_run_id} {status_word} ({mode})"
        if result is not None and result.error:
            line += f": {result.error}"
        print(line, flush=True)
        after = svc.get(response.dlq_id).status
        info(f"{response.dlq_id} is now {after}"
             + ("; retry it with --sandbox=false to resolve it" if completed and sandbox else ""))
    if not completed:
        raise typer.Exit(EXIT_FAILED)


def _bulk_simple_or_one(state, op: str, entry_id: str | None, all_: bool, selection: tuple, *, dry_run: bool,
                        yes: bool, resume: Path | None, results: Path | None, fmt: Format) -> bool:
    """Run `op` (archive or delete) on the frozen set with --all/--resume and return True; else check
    that one ID was given without bulk-only options and return False (the caller acts on that ID)."""
    if all_ or resume is not None:
        if entry_id:
            fail("give an ID or --all, not both", EXIT_USAGE)
        from mova_tui.cli.dlq_bulk import bulk_simple

        bulk_simple(state, op, build_filter(*selection), selection_given=_selection_given(*selection),
                    dry_run=dry_run, yes=yes, resume=resume, results=results, fmt=fmt)
        return True
    if not entry_id:
        fail(f"give an entry ID, or --all to {op} every matching entry", EXIT_USAGE)
    _only_with_all(selection, dry_run=dry_run, results=results)
    return False


def _only_with_all(selection: tuple, **bulk_only: object) -> None:
    """Filters and bulk options mean nothing for one ID; say so rather than ignore them."""
    if _selection_given(*selection):
        fail("filters apply only with --all", EXIT_USAGE)
    defaults = {"concurrency": 1}
    for name, value in bulk_only.items():
        if value is not None and value is not False and value != defaults.get(name):
            fail(f"--{name.replace('_', '-')} applies only with --all", EXIT_USAGE)


# -- archive / delete ---------------------------------------------------------------------------
@app.command(epilog=examples(
    "mova dlq archive dlq_12345678",
    "mova dlq archive --all --status resolved --until 2024-01-01 --yes",
))
def archive(
    ctx: typer.Context,
    entry_id: Annotated[Optional[str], typer.Argument(metavar="[ID]", help="Entry id or unique prefix.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Archive every matching entry (a frozen set).")] = False,
    status: StatusOpt = None,
    workflow_type: WorkflowTypeOpt = None,
    user_id: UserIdOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = None,
    group: GroupOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --all: list the set and stop.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask for confirmation.")] = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="FILE", help="With --all: resume the run recorded in this results file.")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", metavar="FILE", help="With --all: where to write the results (JSON lines).")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Archive an entry (kept for history, out of the active queue); or every matching one with --all."""
    state = get_state(ctx)
    selection = (status, workflow_type, user_id, since, until, limit, group)
    if _bulk_simple_or_one(state, "archive", entry_id, all_, selection, dry_run=dry_run, yes=yes, resume=resume,
                           results=results, fmt=fmt):
        return
    before, entry = state.service().archive_changed(entry_id)
    info(f"{entry.id} was already archived" if before.status == EntryStatus.archived else f"archived {entry.id}")


@app.command(epilog=examples(
    "mova dlq delete dlq_12345678            (asks first)",
    "mova dlq delete dlq_12345678 --force    (no prompt)",
    "mova dlq delete --all --status archived --until 90d --force",
))
def delete(
    ctx: typer.Context,
    entry_id: Annotated[Optional[str], typer.Argument(metavar="[ID]", help="Entry id or unique prefix.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask; also deletes an entry under a running retry.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Delete every matching entry (a frozen set).")] = False,
    status: StatusOpt = None,
    workflow_type: WorkflowTypeOpt = None,
    user_id: UserIdOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = None,
    group: GroupOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --all: list the set and stop.")] = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="FILE", help="With --all: resume the run recorded in this results file.")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", metavar="FILE", help="With --all: where to write the results (JSON lines).")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Delete an entry for good (asks on a terminal; refuses without one unless --force)."""
    state = get_state(ctx)
    selection = (status, workflow_type, user_id, since, until, limit, group)
    if _bulk_simple_or_one(state, "delete", entry_id, all_, selection, dry_run=dry_run, yes=force, resume=resume,
                           results=results, fmt=fmt):
        return
    svc = state.service()
    entry = svc.get(entry_id)
    if not force:
        if not output.can_ask():
            fail(f"refusing to delete {entry.id} without confirmation: no terminal to ask on; add --force",
                 EXIT_USAGE)
        if not typer.confirm(f"Delete {entry.id} ({entry.workflow_type}, {entry.status}) for good?",
                             default=False, err=True):
            fail("not deleted", EXIT_FAILED)
    svc.delete(entry.id, force=force)
    info(f"deleted {entry.id}")


# -- stats and groups ---------------------------------------------------------------------------
@app.command(epilog=examples("mova dlq stats", "mova dlq stats --format json | jq '.by_status.active'"))
def stats(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """The specification's statistics; the human view adds the oldest active entry and failure groups."""
    svc = get_state(ctx).service()
    numbers = svc.stats()
    if fmt == Format.json:
        print_json(numbers.model_dump(mode="json"))
        return
    warn_skipped(svc.skipped(), svc.settings.dlq_path)
    from mova_tui.cli.render import stats_view

    out = console()
    from mova_core.model.listing import EntryFilter

    groups_found = svc.groups(EntryFilter(status=EntryStatus.active))
    out.print(stats_view(numbers, svc.clock(), svc.oldest_active(), groups_found, out.width))


@app.command(epilog=examples("mova dlq groups --status active", "mova dlq retry --all --group FINGERPRINT --dry-run"))
def groups(
    ctx: typer.Context,
    status: StatusOpt = None,
    workflow_type: WorkflowTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Entries grouped by failure fingerprint (same action type, same error but for ids and numbers)."""
    svc = get_state(ctx).service()
    found = svc.groups(build_filter(status, workflow_type, None, since, until))
    if fmt == Format.json:
        print_json([g.model_dump(mode="json") for g in found])
        return
    if not found:
        info("no entries match")
        return
    from mova_tui.cli.render import groups_table

    out = console()
    out.print(groups_table(found, out.width))


# -- maintenance --------------------------------------------------------------------------------
@app.command(epilog=examples(
    "mova dlq purge                      (MOVA_DLQ_RETENTION_DAYS, default 30)",
    "mova dlq purge --older-than 7 --dry-run",
    "0 3 * * *  mova dlq purge          (crontab: asks nothing)",
))
def purge(
    ctx: typer.Context,
    older_than: Annotated[Optional[float], typer.Option("--older-than", min=0, metavar="DAYS", help="Age limit in days (default MOVA_DLQ_RETENTION_DAYS).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be removed; remove nothing.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Remove resolved and archived entries older than the retention period (never active or retrying)."""
    svc = get_state(ctx).service()
    report = svc.purge(older_than, dry_run=dry_run)
    if fmt == Format.json:
        print_json(report.model_dump(mode="json"))
    else:
        for entry_id in report.removed:
            print(entry_id)
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
def export(
    ctx: typer.Context,
    status: StatusOpt = None,
    workflow_type: WorkflowTypeOpt = None,
    user_id: UserIdOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = None,
    group: GroupOpt = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", case_sensitive=False, help="jsonl (full entries) or csv (summary columns).")] = ExportFormat.jsonl,
    out: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", help="Write here instead of stdout (replaced only when complete).")] = None,
) -> None:
    """Export matching entries for analysis: JSON lines of full entries, or CSV."""
    svc = get_state(ctx).service()
    flt = build_filter(status, workflow_type, user_id, since, until, limit, group)
    warn_skipped(svc.skipped(), svc.settings.dlq_path)
    if out is None:
        count = svc.export(flt, fmt.value, sys.stdout)
        sys.stdout.flush()
        info(f"exported {count} entries")
        return
    out = Path(out)
    import tempfile  # export only

    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            count = svc.export(flt, fmt.value, fh)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    info(f"exported {count} entries to {out}")


def _duration_opt(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    from mova_core.timeutil import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _growth_opt(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(?:h|hour))?\s*", value)
    if not m:
        raise typer.BadParameter(f"not a growth rate: {value!r} (new entries per hour, e.g. 50 or 50/h)")
    return int(m.group(1))


def _rate_opt(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise typer.BadParameter(f"not a rate: {value!r} (a fraction like 0.25, or 25%)") from None
    if not 0 <= rate <= 1:
        raise typer.BadParameter(f"{value!r} is outside 0..1 (or 0%..100%)")
    return rate


@app.command(epilog=examples(
    "mova dlq alerts --max-active 50 --max-age 2d",
    "mova dlq alerts --max-growth 20/h --max-retry-failure-rate 25% --max-sandbox-runtime 15m",
    "MOVA_ALERT_MAX_ACTIVE=50 mova dlq alerts --format json   (cron: exit 1 pages)",
))
def alerts(
    ctx: typer.Context,
    max_active: Annotated[Optional[int], typer.Option("--max-active", min=0, metavar="N", help="More than N active entries.")] = None,
    max_age: Annotated[Optional[str], typer.Option("--max-age", metavar="DURATION", parser=_duration_opt, help="An active entry older than DURATION (30m, 2h, 7d).")] = None,
    max_growth: Annotated[Optional[str], typer.Option("--max-growth", metavar="N/h", parser=_growth_opt, help="More than N entries dead-lettered in the last hour.")] = None,
    max_retry_failure_rate: Annotated[Optional[str], typer.Option("--max-retry-failure-rate", metavar="R", parser=_rate_opt, help="Share of failed retries above R (0.25 or 25%).")] = None,
    max_sandbox_runtime: Annotated[Optional[str], typer.Option("--max-sandbox-runtime", metavar="DURATION", parser=_duration_opt, help="A sandbox retry running longer than DURATION.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Check the specification's alert conditions; exit 1 when a threshold is breached (for cron or CI)."""
    from mova_core.ops.service import Thresholds

    # Options left out fall back to the MOVA_ALERT_* settings, parsed exactly as the options are.
    settings = get_state(ctx).settings()
    defaults = [("max_active", int, "MOVA_ALERT_MAX_ACTIVE"), ("max_age", _duration_opt, "MOVA_ALERT_MAX_AGE"),
                ("max_growth", _growth_opt, "MOVA_ALERT_MAX_GROWTH"),
                ("max_retry_failure_rate", _rate_opt, "MOVA_ALERT_MAX_RETRY_FAILURE_RATE"),
                ("max_sandbox_runtime", _duration_opt, "MOVA_ALERT_MAX_SANDBOX_RUNTIME")]
    given = {"max_active": max_active, "max_age": max_age, "max_growth": max_growth,
             "max_retry_failure_rate": max_retry_failure_rate, "max_sandbox_runtime": max_sandbox_runtime}
    for name, parse, variable in defaults:
        configured = getattr(settings, f"alert_{name}")
        if given[name] is None and configured is not None:
            try:
                given[name] = parse(configured) if isinstance(configured, str) else configured
            except typer.BadParameter as exc:
                fail(f"{variable}: {exc.message}", EXIT_USAGE)
    max_active, max_age, max_growth = given["max_active"], given["max_age"], given["max_growth"]
    max_retry_failure_rate, max_sandbox_runtime = given["max_retry_failure_rate"], given["max_sandbox_runtime"]
    thresholds = Thresholds(
        max_active=max_active, max_age_seconds=max_age, max_growth_per_hour=max_growth,
        max_retry_failure_rate=max_retry_failure_rate, max_sandbox_runtime_seconds=max_sandbox_runtime,
    )
    if all(v is None for v in thresholds.model_dump().values()):
        fail("no thresholds given: use --max-active, --max-age, --max-growth, --max-retry-failure-rate or "
             "--max-sandbox-runtime (or MOVA_ALERT_* variables)", EXIT_USAGE)
    svc = get_state(ctx).service()
    found = svc.alerts(thresholds)
    breached = [a for a in found if a.breached]
    if fmt == Format.json:
        print_json({"breached": bool(breached), "alerts": [a.model_dump(mode="json") for a in found]})
    else:
        from mova_tui.cli.render import alerts_view

        console().print(alerts_view(found))
        info(f"{len(breached)} of {len(found)} thresholds breached" if breached else "all thresholds ok")
    if breached:
        raise typer.Exit(EXIT_FAILED)


@app.command(epilog=examples("mova dlq reindex"))
def reindex(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Re-read every entry file into the index, and list the files that are not readable entries."""
    state = get_state(ctx)
    svc = state.service(warn_missing=False)
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
        print(f"{s.name}: {s.reason}")
    info(f"indexed {total} entries in {svc.settings.dlq_path}"
         + (f"; {len(skipped)} unreadable files skipped (listed above; never modified)" if skipped else ""))



