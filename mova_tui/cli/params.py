"""Option types shared by the commands, and the parsing of what the user typed into core values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from mova_core.model.errors import InvalidInput
from mova_core.model.status import EntryStatus
from mova_core.timeutil import parse_user_time

if TYPE_CHECKING:  # pydantic models, imported where used so `mova --help` starts fast
    from mova_core.model.entry import RetryOverrides
    from mova_core.model.listing import EntryFilter


class Format(StrEnum):
    """Output format of the reading commands."""

    table = "table"
    json = "json"


class ExportFormat(StrEnum):
    """Output format of `mova dlq export`."""

    jsonl = "jsonl"
    csv = "csv"


def _time(value: Optional[str]) -> Optional[datetime]:
    if value is None:
        return None
    try:
        return parse_user_time(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; also accepted: 2024-01-19 or an age like 2h, 7d") from None


# -- the specification's list filters, shared by every command that selects entries --------------
StatusOpt = Annotated[
    Optional[EntryStatus], typer.Option("--status", help="Only entries with this status.", case_sensitive=False)
]
WorkflowTypeOpt = Annotated[Optional[str], typer.Option("--workflow-type", metavar="TYPE", help="Only this workflow type.")]
UserIdOpt = Annotated[Optional[str], typer.Option("--user-id", metavar="ID", help="Only entries of this user id.")]
SinceOpt = Annotated[
    Optional[datetime],
    typer.Option(
        "--since", parser=_time, metavar="TIME",
        help="Created at or after TIME: RFC 3339 (2024-01-19T10:30:45Z), a date, or an age (2h, 7d).",
    ),
]
UntilOpt = Annotated[
    Optional[datetime],
    typer.Option("--until", parser=_time, metavar="TIME", help="Created before TIME (same forms as --since)."),
]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", min=0, metavar="N", help="At most N entries.")]
GroupOpt = Annotated[
    Optional[str], typer.Option("--group", metavar="FINGERPRINT", help="Only this failure group (see `mova dlq groups`).")
]
FormatOpt = Annotated[Format, typer.Option("--format", case_sensitive=False, help="table (for people) or json.")]


def build_filter(
    status: EntryStatus | None = None,
    workflow_type: str | None = None,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    fingerprint: str | None = None,
) -> EntryFilter:
    """The core filter for the options given."""
    if since and until and since >= until:
        raise InvalidInput("--since must be earlier than --until")
    from mova_core.model.listing import EntryFilter

    return EntryFilter(
        status=status, workflow_type=workflow_type, user_id=user_id, since=since, until=until,
        limit=limit, fingerprint=fingerprint,
    )


# -- KEY=VALUE overrides ------------------------------------------------------------------------
def parse_pairs(pairs: list[str] | None, option: str, *, json_values: bool) -> dict[str, Any]:
    """`KEY=VALUE` items into a dict; with json_values, a VALUE that is valid JSON is taken as JSON."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"{option} expects KEY=VALUE, got {_shown(item, option)}")
        if json_values:
            import json  # here: `mova --help` parses no JSON

            try:
                value = json.loads(value)
            except ValueError:
                pass  # a plain string
        out[key] = value
    return out


def _shown(item: str, option: str) -> str:
    # A malformed --secret must not echo what may be a secret value.
    return "a value without '='" if option == "--secret" else repr(item)


def load_overrides(path: Path | None, variables: list[str] | None, secrets: list[str] | None) -> RetryOverrides:
    """The overrides document (`{"variables": {...}, "secrets": {...}}`), then --var and --secret on top."""
    data: dict[str, Any] = {"variables": {}, "secrets": {}}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read overrides file {path}: {exc.strerror}") from None
        import json

        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"overrides file {path} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidInput(f'overrides file {path} must be an object like {{"variables": {{}}, "secrets": {{}}}}')
        unknown = sorted(set(doc) - {"variables", "secrets"})
        if unknown:
            raise InvalidInput(f"overrides file {path}: unknown key {unknown[0]!r} (expected variables, secrets)")
        for key in ("variables", "secrets"):
            value = doc.get(key) or {}
            if not isinstance(value, dict):
                raise InvalidInput(f"overrides file {path}: {key} must be an object")
            data[key].update(value)
    data["variables"].update(parse_pairs(variables, "--var", json_values=True))
    data["secrets"].update(parse_pairs(secrets, "--secret", json_values=False))
    from mova_core.model.entry import RetryOverrides

    return RetryOverrides(**data)


VarOpt = Annotated[
    Optional[list[str]],
    typer.Option("--var", metavar="KEY=VALUE", help="Set a variable (repeatable); VALUE is JSON if it parses, else text."),
]
SecretOpt = Annotated[
    Optional[list[str]],
    typer.Option("--secret", metavar="KEY=VALUE", help="Set a secret (repeatable); kept in memory, never written or printed."),
]
OverridesOpt = Annotated[
    Optional[Path],
    typer.Option("--overrides", metavar="FILE.json", help='A file {"variables": {...}, "secrets": {...}}.'),
]


# -- `--sandbox=false` --------------------------------------------------------------------------
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def rewrite_sandbox_args(args: list[str]) -> list[str]:
    """`--sandbox=false` (as the specification writes it) → `--no-sandbox`; `--sandbox=true` → `--sandbox`."""
    out = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        if arg.startswith("--sandbox="):
            value = arg.split("=", 1)[1].strip().lower()
            if value in _TRUE:
                arg = "--sandbox"
            elif value in _FALSE:
                arg = "--no-sandbox"
            else:
                raise typer.BadParameter(
                    f"{value!r} is not a boolean; use --sandbox=true or --sandbox=false", param_hint="'--sandbox'"
                )
        out.append(arg)
    return out


class SandboxFlagCommand(TyperCommand):
    """A command whose `--sandbox/--no-sandbox` flag also accepts `--sandbox=true|false`."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite_sandbox_args(args))


def parse_rate(text: str | None) -> float | None:
    """`--rate`: `N`, `N/s`, `N/m` or `N/h` into operations per second."""
    if text is None:
        return None
    from mova_core.ops.bulk import parse_rate as core_parse_rate

    try:
        return core_parse_rate(text)
    except ValueError as exc:
        raise InvalidInput(f"--rate: {exc}") from None
