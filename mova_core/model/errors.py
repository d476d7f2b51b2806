"""Typed errors of the core. Each face maps them in one place: the CLI to exit codes
(`mova_tui.cli.output`), the HTTP shim to statuses (`mova_core.http.responses`)."""

from __future__ import annotations


class MovaError(Exception):
    """Base of every error the core raises on purpose; `str()` is a user-facing sentence."""


class InvalidId(MovaError):
    """An id or prefix that could never name an entry file (path separators, `..`, odd characters)."""

    def __init__(self, value: str):
        self.value = value
        super().__init__(
            f"invalid entry id {value!r}: use letters, digits, '_', '-' and '.' only (e.g. dlq_1234abcd)"
        )


class EntryNotFound(MovaError):
    """No entry matches the given id or prefix."""

    def __init__(self, value: str):
        self.value = value
        super().__init__(f"no dead-letter entry matches {value!r} (see `mova dlq list`)")


class AmbiguousId(MovaError):
    """A prefix that matches more than one entry; carries the candidates."""

    def __init__(self, value: str, candidates: list[str]):
        self.value = value
        self.candidates = candidates
        shown = ", ".join(candidates[:10]) + (" …" if len(candidates) > 10 else "")
        super().__init__(f"id prefix {value!r} matches {len(candidates)} entries: {shown}; give more characters")


class InvalidTransition(MovaError):
    """A status change the lifecycle forbids."""

    def __init__(self, entry_id: str, old: str, new: str, hint: str = ""):
        self.entry_id, self.old, self.new = entry_id, old, new
        msg = f"cannot change {entry_id} from {old} to {new}"
        super().__init__(f"{msg}: {hint}" if hint else msg)


class LeaseHeld(InvalidTransition):
    """The change is one the lifecycle allows, but a live retry lease holds the entry."""

    #: The one name every face gives the override: `--break-lease` in the CLI, `?break_lease=true` over HTTP.
    FLAG = "--break-lease"

    def __init__(self, entry_id: str, old: str, new: str, run_id: str | None, expires_at: str | None):
        self.run_id, self.expires_at = run_id, expires_at
        run = f"retry {run_id}" if run_id else "a retry"
        until = f" until {expires_at}" if expires_at else ""
        super().__init__(entry_id, old, new, f"{run} holds it{until}; to take it from that retry anyway, add "
                         f"{self.FLAG} (over HTTP: ?break_lease=true)")


class AlreadyRetrying(MovaError):
    """The entry is claimed by a live retry lease."""

    def __init__(self, entry_id: str, owner: str | None = None, expires_at: str | None = None):
        self.entry_id, self.owner, self.expires_at = entry_id, owner, expires_at
        who = f" by {owner}" if owner else ""
        until = f" (lease expires {expires_at})" if expires_at else ""
        super().__init__(f"{entry_id} is already being retried{who}{until}")


class NoLongerMatches(MovaError):
    """An entry chosen by a filter no longer matches it, as seen under its lock: it is left alone."""

    def __init__(self, entry_id: str, reason: str):
        self.entry_id, self.reason = entry_id, reason
        super().__init__(f"no longer matches: {reason}")


class PreconditionFailed(MovaError):
    """The entry changed since the version the caller saw (its `If-Match` tag): nothing was changed."""

    def __init__(self, entry_id: str, current: str):
        self.entry_id, self.current = entry_id, current
        super().__init__(f"{entry_id} has changed since that version (it is now {current}); read it again "
                         "and retry the change; nothing was changed")


class InvalidInput(MovaError):
    """Invalid user input: a filter, a status name, an overrides document, a KEY=VALUE pair."""


class InvalidSetting(InvalidInput):
    """A `MOVA_*` environment variable whose value the setting does not accept; raised when the setting
    is used, so a command that does not use it still works."""

    def __init__(self, variable: str, value: str, accepted: str):
        self.variable, self.value, self.accepted = variable, value, accepted
        shown = value if len(value) <= 40 else value[:39] + "…"
        super().__init__(f"{variable}={shown!r} is not valid: use {accepted}")


class PolicyError(InvalidInput):
    """An invalid envelope or retry policy; the message names the field path."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        #: One `path: message` line per problem.
        self.problems: list[str] = problems or []


class CorruptEntry(MovaError):
    """An entry file that exists but cannot be read or validated."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"entry file {path} is unreadable: {reason}")


class StoreError(MovaError):
    """The store could not complete a write (disk full, permissions, …); nothing stored was lost."""
