"""Option types shared by the commands, and the parsing of what the user typed into core values.

No `from __future__ import annotations`: the option groups' annotations must be objects (see
`option_groups`); names imported only for type checking are quoted.
"""

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from mova_core.model.errors import InvalidInput
from mova_core.model.status import EntryStatus
from mova_core.model.values import value_from_text
from mova_core.timeutil import parse_user_time
from mova_tui.cli import output
from mova_tui.cli.option_groups import OptionGroup

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
        raise typer.BadParameter(str(exc)) from None


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
) -> "EntryFilter":
    """The core filter for the options given."""
    if since and until and since >= until:
        raise InvalidInput("--since must be earlier than --until")
    from mova_core.model.listing import EntryFilter

    return EntryFilter(
        status=status, workflow_type=workflow_type, user_id=user_id, since=since, until=until,
        limit=limit, fingerprint=fingerprint,
    )


class Selection(OptionGroup):
    """The specification's list filters, as one parameter of every command that selects entries."""

    status: StatusOpt = None
    workflow_type: WorkflowTypeOpt = None
    user_id: UserIdOpt = None
    since: SinceOpt = None
    until: UntilOpt = None
    limit: LimitOpt = None
    group: GroupOpt = None

    def given(self) -> bool:
        """True when any filter was given."""
        return bool(self.changed())

    def entry_filter(self, default_status: EntryStatus | None = None) -> "EntryFilter":
        """The core filter; `default_status` when no --status was given."""
        return build_filter(self.status or default_status, self.workflow_type, self.user_id, self.since,
                            self.until, self.limit, self.group)


# -- KEY=VALUE overrides ------------------------------------------------------------------------
def parse_pairs(pairs: list[str] | None, option: str, *, json_values: bool) -> dict[str, Any]:
    """`KEY=VALUE` items into a dict; with json_values, VALUE is JSON if it parses, else text."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"{option} expects KEY=VALUE, got {_shown(item, option)}")
        out[key] = value_from_text(value) if json_values else value
    return out


def _shown(item: str, option: str) -> str:
    # A malformed --secret must not echo what may be a secret value.
    return "a value without '='" if option == "--secret" else repr(item)


# -- secrets: typed without landing in shell history -------------------------------------------
STDIN = "-"


def read_secrets(items: list[str] | None, secrets_file: Path | None = None) -> dict[str, str]:
    """`--secrets-file` then each `--secret`: NAME=VALUE, NAME=- (stdin) or NAME (asked for, hidden)."""
    out: dict[str, str] = {}
    stdin = _StdinOnce()
    if secrets_file is not None:
        out.update(_read_secrets_file(secrets_file, stdin))
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not name:
            raise InvalidInput("--secret expects NAME=VALUE, NAME=- or NAME, got a value without a name")
        if not sep or value == STDIN:
            value = _ask_secret(name) if output.can_ask() else stdin.secret(name, asked=not sep)
        out[name] = value
    return out


class _StdinOnce:
    """Standard input, read at most once, by one --secret NAME=- or one --secrets-file -."""

    def __init__(self) -> None:
        self.reader: str | None = None

    def read(self, reader: str) -> str:
        if self.reader is not None:
            raise InvalidInput(f"{reader} and {self.reader} both read stdin; give one of them another source")
        self.reader = reader
        return sys.stdin.read()

    def secret(self, name: str, *, asked: bool) -> str:
        """The value of `--secret NAME=-`; with no terminal, `--secret NAME` alone has nowhere to come from."""
        if asked:
            raise InvalidInput("--secret NAME without a value is asked for on a terminal, and stdin is not one; "
                               "give NAME=VALUE, NAME=- (the value on stdin) or --secrets-file FILE")
        value = self.read(f"--secret {name}=-")
        value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            raise InvalidInput(f"--secret {name}=-: stdin was empty")
        return value


def _ask_secret(name: str) -> str:
    return typer.prompt(f"secret {name}", hide_input=True, err=True)


def _read_secrets_file(path: Path, stdin: _StdinOnce) -> dict[str, str]:
    """NAME=VALUE lines; a value in matching quotes loses them; the message never quotes a value."""
    text = stdin.read("--secrets-file -") if str(path) == STDIN else read_input_file(path, "secrets file")
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"secrets file {path}, line {number}: expected NAME=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name.strip()] = value
    return out


def load_overrides(path: Path | None, variables: list[str] | None, secrets: list[str] | None,
                   secrets_file: Path | None = None) -> "RetryOverrides":
    """The overrides document (`{"variables": {...}, "secrets": {...}}`), then --var, --secrets-file and
    --secret on top.

    The file's shape is checked here, so that the message names the file; the result is built by
    the core's own overrides validation, as the dashboard's and the HTTP shim's are.
    """
    data: dict[str, Any] = {"variables": {}, "secrets": {}}
    if path is not None:
        doc = _read_overrides_file(Path(path))
        for key in ("variables", "secrets"):
            data[key].update(doc.get(key) or {})
    data["variables"].update(parse_pairs(variables, "--var", json_values=True))
    data["secrets"].update(read_secrets(secrets, secrets_file))
    from mova_core.ops.retry import coerce_overrides

    return coerce_overrides(data)


def read_input_file(path: Path, what: str) -> str:
    """A file the user named, as text; InvalidInput (exit 2) naming it when it is unreadable or not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path} is not UTF-8 text") from None


def _read_overrides_file(path: Path) -> dict[str, Any]:
    text = read_input_file(path, "overrides file")
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
        if not isinstance(doc.get(key) or {}, dict):
            raise InvalidInput(f"overrides file {path}: {key} must be an object")
    return doc


VarOpt = Annotated[
    Optional[list[str]],
    typer.Option("--var", metavar="KEY=VALUE", help="Set a variable (repeatable); VALUE is JSON if it parses, else text."),
]
SecretOpt = Annotated[
    Optional[list[str]],
    typer.Option("--secret", metavar="NAME[=VALUE]",
                 help="Set a secret (repeatable): NAME=VALUE; NAME=- reads it from stdin; NAME alone asks for it "
                      "(hidden) on a terminal. Kept in memory, never written or printed."),
]
SecretsFileOpt = Annotated[
    Optional[Path],
    typer.Option("--secrets-file", metavar="FILE",
                 help="Secrets as NAME=VALUE lines (blank lines and # comments ignored); - reads stdin."),
]
OverridesOpt = Annotated[
    Optional[Path],
    typer.Option("--overrides", metavar="FILE.json", help='A file {"variables": {...}, "secrets": {...}}.'),
]


class RetryInputs(OptionGroup):
    """What a retry changes: variables, secrets, an overrides file."""

    var: VarOpt = None
    secret: SecretOpt = None
    secrets_file: SecretsFileOpt = None
    overrides: OverridesOpt = None

    def load(self) -> "RetryOverrides":
        """The overrides these options give (see `load_overrides`)."""
        return load_overrides(self.overrides, self.var, self.secret, self.secrets_file)


# -- bulk runs (`--all`) ------------------------------------------------------------------------
EntryIdArg = Annotated[str, typer.Argument(metavar="ID", help="Entry id or unique prefix.")]
OptionalIdArg = Annotated[Optional[str], typer.Argument(metavar="[ID]", help="Entry id or unique prefix.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Act on every entry matching the filters (a frozen set).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask for confirmation.")]
BreakLeaseOpt = Annotated[bool, typer.Option(
    "--break-lease", help="Take the entry from a retry holding a live lease on it; that retry is recorded as "
                          "abandoned. One ID only: --all always skips running retries.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="With --all: list the set and stop.")]
ResumeOpt = Annotated[
    Optional[Path], typer.Option("--resume", metavar="FILE", help="With --all: resume the run recorded in this results file.")
]
ResultsOpt = Annotated[
    Optional[Path], typer.Option("--results", metavar="FILE", help="With --all: where to write the results (JSON lines).")
]
RateOpt = Annotated[
    Optional[str],
    typer.Option("--rate", metavar="N/s", help="With --all: at most N retries started per second (N/s, N/m, N/h)."),
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, metavar="K", help="With --all: K retries at a time.")]
StopAfterFailuresOpt = Annotated[
    Optional[int],
    typer.Option("--stop-after-failures", min=1, metavar="M", help="With --all: stop starting retries after M failures."),
]


class BulkRun(OptionGroup):
    """How a bulk run is previewed and recorded: --dry-run, --resume, --results."""

    dry_run: DryRunOpt = False
    resume: ResumeOpt = None
    results: ResultsOpt = None


class RetryPace(OptionGroup):
    """How fast a bulk retry goes: --rate, --concurrency, --stop-after-failures."""

    rate: RateOpt = None
    concurrency: ConcurrencyOpt = 1
    stop_after_failures: StopAfterFailuresOpt = None


def bulk_requested(all_: bool, bulk: BulkRun) -> bool:
    """True for `--all`, or `--resume FILE` (which can only continue a bulk run)."""
    return all_ or bulk.resume is not None


def check_one_or_all(entry_id: str | None, all_: bool, bulk: BulkRun, op: str, *single_only: OptionGroup,
                     break_lease: bool = False) -> None:
    """An ID, or --all, not both and not neither; filters and bulk options only with --all, and
    --break-lease only without it."""
    if bulk_requested(all_, bulk):
        if entry_id:
            raise InvalidInput("give an ID or --all, not both")
        if break_lease:
            raise InvalidInput(f"--break-lease applies to one ID: {op} --all skips entries under a running retry")
        return
    if not entry_id:
        raise InvalidInput(f"give an entry ID, or --all to {op} every matching entry")
    for group in single_only:
        given = group.changed()
        if given and isinstance(group, Selection):
            raise InvalidInput("filters apply only with --all")
        if given:
            raise InvalidInput(f"{given[0]} applies only with --all")


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
