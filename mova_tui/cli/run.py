"""`mova run WORKFLOW.json`: run an envelope with retries; dead-letter it if it fails."""

import json
from pathlib import Path
from typing import Annotated

import typer

from mova_core.model.errors import InvalidInput
from mova_tui.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, console, info, print_json
from mova_tui.cli.params import Format, FormatOpt, SecretOpt, VarOpt, parse_pairs
from mova_tui.cli.state import get_state


def read_envelope(path: Path) -> dict:
    """The workflow file as JSON; InvalidInput (exit 2) if unreadable or not JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read workflow {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"workflow {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"workflow {path} is not valid JSON: {exc}") from None


def run_command(
    ctx: typer.Context,
    workflow: Annotated[Path, typer.Argument(metavar="WORKFLOW.json", help="The envelope: {intent, actions, ...}.")],
    var: VarOpt = None,
    secret: SecretOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Run a workflow envelope, retrying each action by its policy; a failed run goes to the dead-letter queue.

    Exit 0 when it completed, 1 when it failed (the new entry's id is printed), 2 when the file or
    the envelope is invalid (the message names the field path).
    """
    data = read_envelope(workflow)
    variables = parse_pairs(var, "--var", json_values=True)
    secrets = parse_pairs(secret, "--secret", json_values=False)
    service = get_state(ctx).service(warn_missing=False)  # the engine creates the directory for its first entry

    from mova_tui.cli.events import EventPrinter
    from mova_tui.present.safe_text import clean

    printer = EventPrinter(console(err=True))
    try:
        outcome = service.run_workflow(data, variables=variables, secrets=secrets, on_event=printer)
    finally:
        printer.close()
    entry_id = outcome.dead_letter.id if outcome.dead_letter is not None else None
    if fmt == Format.json:
        print_json({**outcome.execution_result().model_dump(mode="json"), "dead_letter_id": entry_id})
    elif outcome.succeeded:
        print(outcome.run_id, flush=True)
    else:
        # The error may quote the envelope (a URL) or a server: on this line it is one line.
        error = clean(outcome.error, one_line=True)
        if entry_id:
            print(entry_id, flush=True)
            info(f"{outcome.run_id} {outcome.status}: {error}; dead-lettered as {entry_id} "
                 f"(`mova dlq show {entry_id}`, then `mova dlq retry {entry_id}`)")
        else:
            info(f"{outcome.run_id} {outcome.status}: {error}")
    if outcome.status == "cancelled":
        raise typer.Exit(EXIT_INTERRUPTED)
    if not outcome.succeeded:
        raise typer.Exit(EXIT_FAILED)
