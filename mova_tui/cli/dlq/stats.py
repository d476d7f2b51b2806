"""`mova dlq stats` (the specification's statistics) and `mova dlq groups` (failure fingerprints).

Both name the files in the directory that are not readable entries (counted in nothing else), on
stderr, and `stats --format json` adds them as `skipped` and `skipped_files` (only when there are any).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from mova_core.model.listing import SkippedFile

app = typer.Typer()


def skipped_json(skipped: list[SkippedFile]) -> dict[str, Any]:
    """The unreadable files, for a JSON document: how many, and each one's name and reason."""
    return {"skipped": len(skipped), "skipped_files": [s.model_dump(mode="json") for s in skipped]}


@app.command(epilog=examples("mova dlq stats", "mova dlq stats --format json | jq '.by_status.active'"))
def stats(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """The specification's statistics; the human view adds the oldest active entry and failure groups."""
    svc = get_state(ctx).service()
    numbers = svc.stats()
    skipped = svc.skipped()
    warn_skipped(skipped, svc.settings.dlq_path)
    if fmt == Format.json:
        # The specification's object as it is, and only when files are unreadable, what was left out.
        print_json({**numbers.model_dump(mode="json"), **(skipped_json(skipped) if skipped else {})})
        return
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
    warn_skipped(svc.skipped(), svc.settings.dlq_path)  # on stderr: the JSON is the groups array alone
    if fmt == Format.json:
        print_json([g.model_dump(mode="json") for g in found])
        return
    if not found:
        info("no entries match")
        return
    from mova_tui.cli.render import groups_table

    out = console()
    out.print(groups_table(found, out.width))
