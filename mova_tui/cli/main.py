"""The `mova` entry point: global options and the command groups."""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mova_core import __version__
from mova_tui.cli import db, dlq, run, serve, tui
from mova_tui.cli.output import MovaGroup, examples
from mova_tui.cli.state import CliState, DlqPathEverywhere


class RootGroup(DlqPathEverywhere, MovaGroup):
    """`mova`: errors mapped to exit codes, and --dlq-path accepted after `dlq`, `run`, `tui` and `serve` too."""


app = typer.Typer(
    name="mova",
    cls=RootGroup,
    help="Inspect, sandbox-retry, retry and watch a workflow dead-letter queue.",
    epilog=examples(
        "mova dlq list --status active",
        "mova dlq retry dlq_12345678 --wait",
        "mova run workflow.json --var api_url=https://staging-api.example.com",
        "MOVA_DLQ_PATH=sample_state/deadletter mova tui",
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    # A traceback with locals could print a secret; MovaGroup turns errors into one line instead.
    pretty_exceptions_show_locals=False,
)
app.add_typer(dlq.app, name="dlq")
app.add_typer(db.app, name="db")
app.command(
    "run",
    epilog=examples(
        "mova run sample_state/workflows/hello.json",
        "mova run workflow.json --var base_url=http://127.0.0.1:8765 --secret api_key=$API_KEY",
        "mova run workflow.json --format json | jq .status",
    ),
)(run.run_command)
app.command("tui")(tui.tui_command)
app.command("serve")(serve.serve_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mova {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    dlq_path: Annotated[
        Optional[Path],
        typer.Option("--dlq-path", metavar="DIR", envvar="MOVA_DLQ_PATH", help="Dead-letter directory (default ./state/deadletter)."),
    ] = None,
    store_url: Annotated[
        Optional[str],
        typer.Option("--store-url", metavar="URL", show_default=False,
                     help="A shared PostgreSQL store (postgresql://…), as MOVA_STORE_URL; prefer the variable, "
                          "since a password given here is visible to other users in the process list."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """mova: the dead-letter queue and retry sandbox toolkit."""
    if store_url is not None:
        # The same as the variable, for this process and every one it starts (workers, retries).
        os.environ["MOVA_STORE_URL"] = store_url
    ctx.obj = CliState(dlq_path=dlq_path)
    ctx.call_on_close(ctx.obj.close)


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    run()
