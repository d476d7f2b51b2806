"""`mova dlq metrics`: the Prometheus exposition `GET /metrics` serves, printed or written for node_exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mova_tui.cli.output import EXIT_USAGE, examples, fail, info
from mova_tui.cli.state import get_state

app = typer.Typer()

HTTP_EXTRA_HINT = "pip install 'mova[http]'"

TextfileOpt = Annotated[Optional[Path], typer.Option(
    "--textfile", metavar="PATH", dir_okay=False,
    help="Write the text to PATH atomically instead of printing it (node_exporter's textfile collector reads *.prom).")]


@app.command(epilog=examples(
    "mova dlq metrics",
    "mova dlq metrics --textfile /var/lib/node_exporter/textfile/mova.prom   (cron, every minute)",
))
def metrics(ctx: typer.Context, textfile: TextfileOpt = None) -> None:
    """The metrics in the Prometheus text format, as `mova serve` answers GET /metrics."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        fail(f"mova dlq metrics needs prometheus-client (the HTTP extra): {HTTP_EXTRA_HINT}", EXIT_USAGE)
    svc = get_state(ctx).service()
    if textfile is None:
        typer.echo(svc.metrics_text(), nl=False)
        return
    if not textfile.parent.is_dir():
        fail(f"--textfile: directory {textfile.parent} does not exist", EXIT_USAGE)
    svc.write_metrics_textfile(textfile)
    info(f"wrote {textfile}")
