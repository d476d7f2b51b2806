"""`mova dlq stats` (the specification's statistics) and `mova dlq groups` (failure fingerprints)."""

from __future__ import annotations

import typer

from mova_core.model.status import EntryStatus
from mova_tui.cli.dlq.common import warn_skipped
from mova_tui.cli.output import console, examples, info, print_json
from mova_tui.cli.params import (
    Format,
    FormatOpt,
    SinceOpt,
    StatusOpt,
    UntilOpt,
    WorkflowTypeOpt,
    build_filter,
)
from mova_tui.cli.state import get_state

app = typer.Typer()


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
    found = svc.groups(build_filter(EntryStatus.active))
    out.print(stats_view(numbers, svc.clock(), svc.oldest_active(), found, out.width))


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
