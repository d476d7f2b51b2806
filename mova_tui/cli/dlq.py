"""`mova dlq …`: list, show, retry, archive, delete, stats and the bulk/maintenance commands."""

import typer

app = typer.Typer(help="Work with the dead-letter queue.", no_args_is_help=True)
