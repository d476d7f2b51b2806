"""Configuration: one settings class, read from MOVA_* environment variables.

A pydantic model that fills each field the caller did not pass from `MOVA_<FIELD>` (any case),
like pydantic-settings' environment source, without importing `pydantic_settings`: it loads asyncio,
argparse, pydantic dataclasses and every provider on every `mova` command (benchmarks/README.md has
the cost), for a feature that needs a dictionary lookup per field here. Validation, errors and
secrets (`SecretStr`) stay pydantic's.

A variable the setting does not accept (`MOVA_RETRY_DEFAULT_MAX_ATTEMPTS=abc`) does not break every
command: the setting is left unset, and reading it raises `InvalidSetting`, one line naming the
variable and what it accepts. Only the commands that use it fail (the CLI: exit 2).
"""

import getpass
import os
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from mova_core.model.errors import InvalidSetting

#: Every variable mova reads starts with this (`MOVA_DLQ_PATH` sets `dlq_path`).
ENV_PREFIX = "MOVA_"
# Bounds of the numeric settings: generous, but a value past them is a typo, and would overflow a
# date (a lease of 1e12 seconds) or an SQLite integer (a count beyond 2**63).
DAY = 86400.0
MAX_COUNT = 1_000_000_000
#: A constructor argument naming the variables to leave out (they were found invalid).
_SKIP = "__mova_skip_invalid__"
#: What MOVA_STORE_URL may start with (libpq's two spellings).
STORE_URL_SCHEMES = ("postgresql://", "postgres://")
#: A schema name that needs no quoting: lower-case letters, digits and `_`, not starting with a digit; at
#: most 58 characters, so that its notification channel (`mova_<schema>`) fits PostgreSQL's 63.
SCHEMA_NAME = r"^[a-z_][a-z0-9_]{0,57}$"
SCHEMA_WORDS = "lower-case letters, digits and _ (not starting with a digit), at most 58 (default mova)"
#: What a run reads (a retry or `mova run`): checked before an entry is claimed or a run starts.
RUN_SETTINGS = ("retry_default_max_attempts", "retry_default_delay", "retry_default_max_delay", "lease_seconds",
                "sandbox_allowed_hosts", "runs_path", "sandbox_path")
#: What a background retry reads besides (its queue's limit).
BACKGROUND_SETTINGS = ("max_background_retries",)


def default_actor() -> str:
    """Who is acting, for the audit log: user@host."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{os.uname().nodename}"  # what socket.gethostname() returns, without importing socket


class Settings(BaseModel):
    """Every MOVA_* variable mova reads. Defaults follow the specification.

    Values passed to the constructor win over the environment; unknown names are ignored.
    """

    model_config = ConfigDict(extra="ignore")
    _invalid: dict[str, InvalidSetting] = PrivateAttr(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            invalid = _invalid_variables(exc, data)
            if invalid is None:
                raise
            super().__init__(**data, **{_SKIP: frozenset(invalid)})
            for name in invalid:  # unset, so that reading it reaches __getattr__ (and dumps leave it out)
                self.__dict__.pop(name, None)
            self._invalid = invalid

    if not TYPE_CHECKING:  # pydantic's __getattr__ serves private attributes; an unset field comes here

        def __getattr__(self, name: str) -> Any:
            try:
                invalid = object.__getattribute__(self, "__pydantic_private__") or {}
            except AttributeError:
                invalid = {}
            problem = invalid.get("_invalid", {}).get(name)
            if problem is not None:
                raise problem
            return super().__getattr__(name)

    def check(self, *names: str) -> None:
        """Raise `InvalidSetting` for the first of these settings whose variable is invalid."""
        for name in names:
            getattr(self, name)

    dlq_path: Path = Path("./state/deadletter")
    """MOVA_DLQ_PATH: the dead-letter directory, one `<id>.json` file per entry."""

    retry_default_max_attempts: Annotated[int, Field(ge=1, le=1000)] = 3
    """MOVA_RETRY_DEFAULT_MAX_ATTEMPTS: attempts (the first included) when no policy says otherwise; 1 to 1000."""

    retry_default_delay: Annotated[float, Field(ge=0, le=DAY, allow_inf_nan=False)] = 2.0
    """MOVA_RETRY_DEFAULT_DELAY: base delay in seconds when no policy says otherwise; 0 to 86400 (a day)."""

    retry_default_max_delay: Annotated[float, Field(ge=0, le=DAY, allow_inf_nan=False)] = 300.0
    """MOVA_RETRY_DEFAULT_MAX_DELAY: cap on any single delay, in seconds; 0 to 86400 (a day)."""

    dlq_retention_days: Annotated[float, Field(ge=0, le=36500, allow_inf_nan=False)] = 30
    """MOVA_DLQ_RETENTION_DAYS: `mova dlq purge` removes resolved/archived entries older than this; 0 to 36500."""

    lease_seconds: Annotated[float, Field(gt=0, le=30 * DAY, allow_inf_nan=False)] = 900.0
    """MOVA_LEASE_SECONDS: how long a retry claim holds before another process may take it over; above 0,
    at most 2592000 (30 days)."""

    max_background_retries: Annotated[int, Field(ge=1, le=64)] = 4
    """MOVA_MAX_BACKGROUND_RETRIES: background retries (`mova dlq retry` without --wait) run at once per queue (over
    PostgreSQL, counted across every host); the rest wait their turn."""

    runs_path: Path | None = None
    """MOVA_RUNS_PATH: where run records go (default: `runs/` beside the dead-letter directory)."""

    sandbox_path: Path | None = None
    """MOVA_SANDBOX_PATH: where sandbox run records go (default: `sandbox/` beside the dead-letter directory)."""

    audit_path: Path | None = None
    """MOVA_AUDIT_PATH: the audit log, JSON lines (default: `<dlq>/.mova/audit.jsonl`)."""

    sandbox_allowed_hosts: list[str] = Field(default_factory=list)
    """MOVA_SANDBOX_ALLOWED_HOSTS: comma-separated hosts a sandbox run may reach besides loopback."""

    api_token: SecretStr | None = None
    """MOVA_API_TOKEN: bearer token required by `mova serve` for every request."""

    api_read_token: SecretStr | None = None
    """MOVA_API_READ_TOKEN: bearer token that allows only the GET endpoints."""

    alert_max_active: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None
    """MOVA_ALERT_MAX_ACTIVE: default `mova dlq alerts --max-active` (more than N active entries); 0 to 10**9."""

    alert_max_age: str | None = None
    """MOVA_ALERT_MAX_AGE: default `--max-age`, a duration such as 2d (an active entry older than it)."""

    alert_max_growth: str | None = None
    """MOVA_ALERT_MAX_GROWTH: default `--max-growth`, entries per hour such as 20/h."""

    alert_max_retry_failure_rate: str | None = None
    """MOVA_ALERT_MAX_RETRY_FAILURE_RATE: default `--max-retry-failure-rate`, 0.25 or 25%."""

    alert_max_sandbox_runtime: str | None = None
    """MOVA_ALERT_MAX_SANDBOX_RUNTIME: default `--max-sandbox-runtime`, a duration such as 15m."""

    actor: str = Field(default_factory=default_actor)
    """MOVA_ACTOR: the identity written to the audit log (default: user@host)."""

    store_url: SecretStr | None = Field(default=None, json_schema_extra={"accepts": "a postgresql:// URL"})
    """MOVA_STORE_URL: a shared PostgreSQL store, `postgresql://user:password@host:port/database` (default:
    unset, the file store at MOVA_DLQ_PATH). A secret: shown with its password masked."""

    store_schema: Annotated[str, Field(pattern=SCHEMA_NAME, json_schema_extra={"accepts": SCHEMA_WORDS})] = "mova"
    """MOVA_STORE_SCHEMA: the PostgreSQL schema holding the queue (several queues can share a database)."""

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        environ = {name.lower(): value for name, value in os.environ.items()}  # names match in any case
        prefix = ENV_PREFIX.lower()
        data = dict(data)
        skip = data.pop(_SKIP, frozenset())
        found = {name: environ[prefix + name] for name in cls.model_fields
                 if prefix + name in environ and name not in skip}
        return {**found, **data}

    @field_validator("store_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(STORE_URL_SCHEMES):
            raise ValueError("not a postgresql:// URL")
        return value

    @property
    def file_store(self) -> bool:
        """Whether the entries are files in MOVA_DLQ_PATH (no MOVA_STORE_URL database)."""
        return self.store_url is None

    @property
    def store_url_shown(self) -> str | None:
        """MOVA_STORE_URL with its password masked, for messages and logs."""
        return None if self.store_url is None else mask_url(self.store_url.get_secret_value())

    @field_validator("sandbox_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value):
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value

    @property
    def state_dir(self) -> Path:
        """The directory holding the dead-letter directory."""
        return self.dlq_path.parent

    @property
    def mova_dir(self) -> Path:
        """Hidden bookkeeping directory inside the dead-letter directory (index, locks, audit)."""
        return self.dlq_path / ".mova"

    @property
    def effective_runs_path(self) -> Path:
        return self.runs_path or self.state_dir / "runs"

    @property
    def effective_sandbox_path(self) -> Path:
        return self.sandbox_path or self.state_dir / "sandbox"

    @property
    def effective_audit_path(self) -> Path:
        return self.audit_path or self.mova_dir / "audit.jsonl"


def mask_url(url: str) -> str:
    """A URL with the password of its user part (`user:password@`) and any `password=` parameter masked."""
    url = re.sub(r"^([a-z]+://[^:@/?#]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def _invalid_variables(exc: ValidationError, given: dict[str, Any]) -> dict[str, InvalidSetting] | None:
    """The settings whose environment variable failed validation; None when a value the caller passed
    failed (a bug to report as it is)."""
    failed = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    if not failed or failed & set(given) or not failed <= set(Settings.model_fields):
        return None
    environ = {name.lower(): (name, value) for name, value in os.environ.items()}
    out = {}
    for name in sorted(failed):
        variable, value = environ.get(ENV_PREFIX.lower() + name, (ENV_PREFIX + name.upper(), ""))
        if name == "store_url":  # its password is never printed
            value = mask_url(value)
        out[name] = InvalidSetting(variable, value, accepted(Settings.model_fields[name]))
    return out


_KINDS = {int: "a whole number", float: "a number", bool: "true or false", Path: "a path", str: "any text"}


def accepted(field: FieldInfo) -> str:
    """What a field accepts, in words: `a whole number of at least 1`."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("accepts"), str):
        return extra["accepts"]
    annotation, bounds = field.annotation, list(field.metadata)
    for arg in typing.get_args(annotation) or ():
        if arg is not type(None):  # `X | None`: X's words (an empty variable is not None anyway)
            annotation = arg
    if typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        for item in extra:
            bounds += item.metadata if isinstance(item, FieldInfo) else [item]
    words = [w for w in map(_bound, bounds) if w]
    text = _KINDS.get(annotation, "a value") + (f", {' and '.join(words)}" if words else "")
    if isinstance(field.default, (int, float)) and not isinstance(field.default, bool):
        text += f" (default {_number(field.default)})"
    return text


def _bound(item: object) -> str:
    for kind, field, words in ((annotated_types.Ge, "ge", "at least"), (annotated_types.Gt, "gt", "greater than"),
                               (annotated_types.Le, "le", "at most"), (annotated_types.Lt, "lt", "less than")):
        if isinstance(item, kind):
            return f"{words} {_number(getattr(item, field))}"
    return ""


def _number(value: float) -> str:
    """As a variable would be written: 2592000, not 2.592e+06."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
