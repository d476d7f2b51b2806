"""`mova db init` / `mova db migrate`: create and upgrade the shared PostgreSQL store's schema."""

import typer

from mova_tui.cli.output import examples, info, print_json
from mova_tui.cli.params import Format, FormatOpt
from mova_tui.cli.state import get_state

app = typer.Typer(
    help="The shared PostgreSQL store (MOVA_STORE_URL): create and upgrade its schema.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _migrate(ctx: typer.Context, fmt: Format, verb: str) -> None:
    from mova_core.ops.database import migrate_store

    state = migrate_store(get_state(ctx).settings())
    if fmt == Format.json:
        print_json(state.as_dict())
        return
    where = f"schema {state.schema} in {state.url}"
    if state.before == state.after:
        info(f"{where} is at version {state.after}: nothing to do")
    elif state.before == 0:
        info(f"{verb} {where} at version {state.after}")
    else:
        info(f"migrated {where} from version {state.before} to {state.after}")


@app.command(epilog=examples("MOVA_STORE_URL=postgresql://mova@db.example.com/mova mova db init"))
def init(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Create the store's schema (MOVA_STORE_SCHEMA, default mova); nothing to do if it exists."""
    _migrate(ctx, fmt, "created")


@app.command(epilog=examples("MOVA_STORE_URL=postgresql://mova@db.example.com/mova mova db migrate"))
def migrate(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Bring the store's schema to this mova's version (idempotent; safe from several hosts at once)."""
    _migrate(ctx, fmt, "created")
