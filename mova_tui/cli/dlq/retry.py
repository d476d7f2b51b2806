"""`mova dlq retry ID` (one entry, in the background or with --wait) and `mova dlq retry --all`
(a frozen set, in the foreground): two functions behind the one command the specification names.
"""


from typing import TYPE_CHECKING, Annotated

import typer

from mova_core.model.status import EntryStatus
from mova_tui.cli.option_groups import with_option_groups
from mova_tui.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    console,
    examples,
    fail,
    info,
    print_json,
)
from mova_tui.cli.params import (
    AllOpt,
    BulkRun,
    Format,
    FormatOpt,
    OptionalIdArg,
    RetryInputs,
    RetryPace,
    SandboxFlagCommand,
    Selection,
    YesOpt,
    bulk_requested,
    check_one_or_all,
)
from mova_tui.cli.state import CliState, get_state

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry, RetryOverrides

app = typer.Typer()

SandboxOpt = Annotated[
    bool,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Sandbox (default) or production; --sandbox=false (as the specification writes it) is --no-sandbox.",
    ),
]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Run in the foreground, show progress, exit 1 if it fails.")]


@app.command(cls=SandboxFlagCommand, epilog=examples(
    "mova dlq retry dlq_12345678                     (sandbox, in the background)",
    "mova dlq retry dlq_12345678 --wait",
    "mova dlq retry dlq_12345678 --sandbox=false --wait   (production)",
    "mova dlq retry dlq_12345678 --overrides fix.json --var timeout=60 --secret api_key=test_key_123",
    "mova dlq retry dlq_12345678 --secret api_key --wait     (asks for api_key, hidden)",
    "pass show staging/api_key | mova dlq retry dlq_12345678 --secret api_key=-",
    "mova dlq retry --all --group 2a70b49f9c69 --rate 2/s --stop-after-failures 3 --yes",
    "mova dlq retry --all --resume state/deadletter/.mova/bulk/retry-20240119T103045123456Z.jsonl",
))
@with_option_groups
def retry(
    ctx: typer.Context,
    *,
    entry_id: OptionalIdArg = None,
    sandbox: SandboxOpt = True,
    wait: WaitOpt = False,
    inputs: RetryInputs,
    fmt: FormatOpt = Format.table,
    all_: AllOpt = False,
    selection: Selection,
    pace: RetryPace,
    yes: YesOpt = False,
    bulk: BulkRun,
) -> None:
    """Retry an entry, in the sandbox unless told otherwise; or every matching entry with --all."""
    state = get_state(ctx)
    check_one_or_all(entry_id, all_, bulk, "retry", selection, pace, bulk)
    if bulk_requested(all_, bulk):
        from mova_tui.cli.dlq.bulk import bulk_retry

        bulk_retry(state, selection, sandbox_mode=sandbox, overrides=inputs.load(), pace=pace, bulk=bulk, yes=yes,
                   fmt=fmt)
        return
    entry = state.service().get(state.id_to_change(entry_id, "retry"))
    overrides = inputs.load()  # after the id resolved: nothing is asked for an entry that is not there
    check_secrets(state, entry, sandbox_mode=sandbox, overrides=overrides)
    if wait:
        retry_and_wait(state, entry.id, sandbox_mode=sandbox, overrides=overrides, fmt=fmt)
    else:
        retry_in_background(state, entry.id, sandbox_mode=sandbox, overrides=overrides, fmt=fmt)


def _mode(sandbox_mode: bool) -> str:
    return "sandbox" if sandbox_mode else "production"


def check_secrets(state: CliState, entry: "DeadLetterEntry", *, sandbox_mode: bool,
                  overrides: "RetryOverrides") -> None:
    """Refuse (exit 2, before the claim) a retry whose envelope uses a secret it would not get, naming
    the options that give it (names only). An entry that cannot be claimed is left to the claim's refusal."""
    if entry.status not in (EntryStatus.active, EntryStatus.retrying):
        return
    needs = state.service().secrets_needed(entry, sandbox_mode=sandbox_mode, override_names=overrides.secrets)
    missing = [need for need in needs if not need.provided]
    if not missing:
        return
    used = ", ".join(f"{need.name} (in {', '.join(need.actions)})" for need in missing)
    add = " ".join(f"--secret {need.name}=…" for need in missing)
    noun = "secret" if len(missing) == 1 else "secrets"
    if sandbox_mode:
        why = "a sandbox retry gets secrets only from its overrides, never from MOVA_SECRET_*"
    else:
        add += f" or set {', '.join(need.env_name for need in missing)}"
        why = "not in the overrides, the environment or the envelope"
    fail(f"{entry.id} uses {noun} {used}: {why}; add {add} "
         "(--secret NAME alone asks for the value; --secrets-file FILE reads NAME=VALUE lines)", EXIT_USAGE)


def retry_in_background(state: CliState, entry_id: str, *, sandbox_mode: bool, overrides: "RetryOverrides",
                        fmt: Format) -> None:
    """Claim the entry, start its retry in a detached process, print the retry run id."""
    response = state.service().retry(entry_id, sandbox_mode=sandbox_mode, overrides=overrides, wait=False)
    if fmt == Format.json:
        print_json(response.model_dump(mode="json"))
        return
    print(response.retry_run_id, flush=True)
    info(f"{_mode(sandbox_mode)} retry of {response.dlq_id} started in the background; "
         f"follow it with `mova dlq show {response.dlq_id}`")


def retry_and_wait(state: CliState, entry_id: str, *, sandbox_mode: bool, overrides: "RetryOverrides",
                   fmt: Format) -> None:
    """Retry in the foreground with the run's events on stderr (in the sandbox with their details: rendered
    params, requests, responses, timings); exit 1 unless it completed."""
    from mova_tui.cli.dlq.sandbox_detail import DetailPrinter
    from mova_tui.cli.events import EventPrinter
    from mova_tui.present.safe_text import clean

    svc = state.service()
    mode = _mode(sandbox_mode)
    printer = EventPrinter(console(err=True))
    on_event = DetailPrinter(printer, printer.console) if sandbox_mode else printer
    info(f"retrying {entry_id} in {mode} mode")
    try:
        response = svc.retry(entry_id, sandbox_mode=sandbox_mode, overrides=overrides, wait=True, on_event=on_event)
    finally:
        printer.close()
    info(f"{mode} run log: {svc.run_log_location(response.retry_run_id, sandbox_mode)} (one JSON object per event)")
    result = response.execution_result
    completed = result is not None and result.status == "completed"
    if fmt == Format.json:
        print_json(response.model_dump(mode="json"))
    else:
        line = f"{response.retry_run_id} {result.status if result else 'unknown'} ({mode})"
        if result is not None and result.error:
            line += f": {clean(result.error, one_line=True)}"  # it may quote the entry (a URL) or a server
        print(line, flush=True)
        after = svc.get(response.dlq_id).status
        info(f"{response.dlq_id} is now {after}"
             + ("; retry it with --sandbox=false to resolve it" if completed and sandbox_mode else ""))
    if not completed:
        raise typer.Exit(EXIT_FAILED)

