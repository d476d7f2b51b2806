"""`mova dlq reopen` (back to active: one ID, or a frozen set with --all) and `mova dlq status ID STATUS`
(any change the lifecycle allows, as `PUT /v1/dlq/{id}/status` makes it)."""


from typing import TYPE_CHECKING, Annotated

import typer

from mova_core.model.status import EntryStatus
from mova_tui.cli.dlq.change import bulk_or_one
from mova_tui.cli.option_groups import with_option_groups
from mova_tui.cli.output import examples, info, print_json
from mova_tui.cli.params import (
    AllOpt,
    BreakLeaseOpt,
    BulkRun,
    EntryIdArg,
    Format,
    FormatOpt,
    OptionalIdArg,
    Selection,
    YesOpt,
)
from mova_tui.cli.state import get_state

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry

app = typer.Typer()

StatusArg = Annotated[
    EntryStatus,
    typer.Argument(metavar="STATUS", case_sensitive=False,
                   help="active, resolved or archived (an entry becomes retrying only through a retry)."),
]


@app.command(epilog=examples(
    "mova dlq reopen dlq_12345678            (archived or resolved → active)",
    "mova dlq reopen --all --status archived --since 7d --yes",
    "mova dlq reopen --all --group 2a70b49f9c69 --dry-run",
))
@with_option_groups
def reopen(
    ctx: typer.Context,
    *,
    entry_id: OptionalIdArg = None,
    break_lease: BreakLeaseOpt = False,
    all_: AllOpt = False,
    selection: Selection,
    yes: YesOpt = False,
    bulk: BulkRun,
    fmt: FormatOpt = Format.table,
) -> None:
    """Set an archived or resolved entry back to active, so it can be retried; or every matching one with --all.

    With --all and no --status, the set is the archived and resolved entries matching the filters.
    """
    state = get_state(ctx)
    if bulk_or_one(state, "reopen", entry_id, all_, selection, bulk, yes=yes, fmt=fmt, break_lease=break_lease):
        return
    before, entry = state.service().reopen(state.id_to_change(entry_id, "reopen"), break_lease=break_lease)
    _report(before, entry, fmt)


@app.command("status", epilog=examples(
    "mova dlq status dlq_12345678 resolved   (fixed elsewhere: no retry needed)",
    "mova dlq status dlq_12345678 active     (the same as mova dlq reopen)",
    "mova dlq status dlq_12345678 archived --format json | jq .status",
    "mova dlq status dlq_12345678 active --break-lease   (take it from a running retry)",
))
def status_command(
    ctx: typer.Context,
    entry_id: EntryIdArg,
    status: StatusArg,
    break_lease: BreakLeaseOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Change an entry's status by the lifecycle rules, as PUT /v1/dlq/{id}/status does.

    Allowed: active → archived | resolved, resolved → archived | active, archived → active.
    """
    state = get_state(ctx)
    before, entry = state.service().set_status_changed(state.id_to_change(entry_id, "change"), status,
                                                            break_lease=break_lease)
    _report(before, entry, fmt)


def _report(before: "DeadLetterEntry", entry: "DeadLetterEntry", fmt: Format) -> None:
    """The change on stderr; with --format json the updated entry (masked as `show` masks it) on stdout."""
    if before.status == entry.status:
        info(f"{entry.id} was already {entry.status}")
    else:
        info(f"{entry.id}: {before.status} → {entry.status}")
    if fmt == Format.json:
        from mova_tui.present.redaction import entry_document

        print_json(entry_document(entry))
