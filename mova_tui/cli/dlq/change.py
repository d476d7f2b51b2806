"""`mova dlq archive` and `mova dlq delete`: one entry by ID, or a frozen set with --all."""


from typing import Annotated

import typer

from mova_core.model.status import EntryStatus
from mova_tui.cli import output
from mova_tui.cli.option_groups import with_option_groups
from mova_tui.cli.output import EXIT_FAILED, EXIT_USAGE, examples, fail, info
from mova_tui.cli.params import (
    AllOpt,
    BreakLeaseOpt,
    BulkRun,
    Format,
    FormatOpt,
    OptionalIdArg,
    Selection,
    YesOpt,
    bulk_requested,
    check_one_or_all,
)
from mova_tui.cli.state import CliState, get_state

app = typer.Typer()

ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Do not ask (an entry under a running retry still needs "
                                                                "--break-lease).")]


@app.command(epilog=examples(
    "mova dlq archive dlq_12345678",
    "mova dlq archive --all --status resolved --until 2024-01-01 --yes",
    "mova dlq archive dlq_12345678 --break-lease   (even under a running retry)",
))
@with_option_groups
def archive(
    ctx: typer.Context,
    *,
    entry_id: OptionalIdArg = None,
    all_: AllOpt = False,
    selection: Selection,
    yes: YesOpt = False,
    break_lease: BreakLeaseOpt = False,
    bulk: BulkRun,
    fmt: FormatOpt = Format.table,
) -> None:
    """Archive an entry (kept for history, out of the active queue); or every matching one with --all."""
    state = get_state(ctx)
    if bulk_or_one(state, "archive", entry_id, all_, selection, bulk, yes=yes, fmt=fmt, break_lease=break_lease):
        return
    before, entry = state.service().archive_changed(state.id_to_change(entry_id, "archive"), break_lease=break_lease)
    info(f"{entry.id} was already archived" if before.status == EntryStatus.archived else f"archived {entry.id}")


@app.command(epilog=examples(
    "mova dlq delete dlq_12345678            (asks first)",
    "mova dlq delete dlq_12345678 --force    (no prompt)",
    "mova dlq delete dlq_12345678 --force --break-lease   (even under a running retry)",
    "mova dlq delete --all --status archived --until 90d --force",
))
@with_option_groups
def delete(
    ctx: typer.Context,
    *,
    entry_id: OptionalIdArg = None,
    force: ForceOpt = False,
    break_lease: BreakLeaseOpt = False,
    all_: AllOpt = False,
    selection: Selection,
    bulk: BulkRun,
    fmt: FormatOpt = Format.table,
) -> None:
    """Delete an entry for good (asks on a terminal; refuses without one unless --force)."""
    state = get_state(ctx)
    if bulk_or_one(state, "delete", entry_id, all_, selection, bulk, yes=force, fmt=fmt, break_lease=break_lease):
        return
    delete_one(state, entry_id, force=force, break_lease=break_lease)


def bulk_or_one(state: CliState, op: str, entry_id: str | None, all_: bool, selection: Selection, bulk: BulkRun,
                *, yes: bool, fmt: Format, break_lease: bool = False) -> bool:
    """With --all or --resume, run `op` on the frozen set and return True; for one ID, check that no
    bulk-only option was given and return False (the caller acts on that ID)."""
    check_one_or_all(entry_id, all_, bulk, op, selection, bulk, break_lease=break_lease)
    if not bulk_requested(all_, bulk):
        return False
    from mova_tui.cli.dlq.bulk import bulk_simple

    bulk_simple(state, op, selection, bulk=bulk, yes=yes, fmt=fmt)
    return True


def delete_one(state: CliState, entry_id: str, *, force: bool, break_lease: bool) -> None:
    """Delete one entry, after a confirmation on a terminal unless `force`; one under a live retry
    lease only with `break_lease`."""
    svc = state.service()
    entry = svc.get(state.id_to_change(entry_id, "delete"))
    if not force:
        if not output.can_ask():
            fail(f"refusing to delete {entry.id} without confirmation: no terminal to ask on; add --force",
                 EXIT_USAGE)
        if not typer.confirm(f"Delete {entry.id} ({entry.workflow_type}, {entry.status}) for good?",
                             default=False, err=True):
            fail("not deleted", EXIT_FAILED)
    svc.delete(entry.id, break_lease=break_lease)
    info(f"deleted {entry.id}")
