"""`mova dlq …`: one module per command (or pair of commands), joined into the `dlq` group here.

Each command turns its options into one operations call and renders the result; errors are
mapped to exit codes by the root group (`output.MovaGroup`). Modules import Rich renderers and
the models only inside the commands, so `mova --help` stays quick.
"""

import typer
from typer.core import TyperGroup

from mova_tui.cli.dlq import (
    alerts,
    change,
    list,
    maintenance,
    metrics,
    reindex,
    retry,
    show,
    stats,
    status,
    transfer,
)
from mova_tui.cli.state import DlqPathEverywhere


class DlqGroup(DlqPathEverywhere, TyperGroup):
    """`mova dlq`: every command also takes --dlq-path (`mova dlq list --dlq-path DIR`)."""


app = typer.Typer(
    cls=DlqGroup,
    help="Work with the dead-letter queue: list, inspect, retry (sandbox first), archive, reopen, delete, watch.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
# In this order in `mova dlq --help`.
for module in (list, show, retry, change, status, stats, maintenance, transfer, alerts, metrics, reindex):
    app.add_typer(module.app)
