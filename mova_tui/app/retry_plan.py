"""What the retry dialog needs, read before it opens (no Textual here).

Which of the chosen entries can be retried now (the lifecycle's own claim rule, tried on a copy),
why the others cannot, the one entry's variables as the details screen shows them, and the secrets
the envelopes reference with what would provide each (`DLQService.secrets_needed`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mova_core.model import lifecycle
from mova_core.model.entry import DeadLetterEntry
from mova_core.model.errors import AlreadyRetrying, EntryNotFound, MovaError
from mova_core.model.secret_needs import SecretNeed, SecretSource
from mova_core.ops.service import DLQService
from mova_tui.present.redaction import masked


@dataclass(frozen=True)
class Skip:
    """An entry that cannot be retried now: `kind` groups the reasons in a count, `reason` says it all."""

    kind: str
    reason: str


@dataclass(frozen=True)
class RetryPlan:
    """The entries a retry would run on, the ones it would skip and why, and what the envelopes need."""

    ids: list[str]
    skipped: dict[str, Skip] = field(default_factory=dict)
    #: One entry: its variables as shown on screen (masked), which the dialog pre-fills. Several: none.
    variables: dict[str, Any] = field(default_factory=dict)
    #: Each referenced secret and what provides it without overrides, in a sandbox retry and in production.
    sandbox: list[SecretNeed] = field(default_factory=list)
    production: list[SecretNeed] = field(default_factory=list)

    @property
    def selected(self) -> int:
        """How many entries were chosen."""
        return len(self.ids) + len(self.skipped)

    @property
    def single(self) -> bool:
        """One entry chosen (the dialog shows its variables)."""
        return self.selected == 1

    def skipped_summary(self) -> str:
        """`3 of 12 selected will be skipped: 2 archived, 1 being retried` ("" when none is)."""
        if not self.skipped:
            return ""
        kinds = Counter(skip.kind for skip in self.skipped.values())
        why = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        return f"{len(self.skipped):,} of {self.selected:,} selected will be skipped: {why}"

    def refusal(self) -> str:
        """Why nothing can be retried (every chosen entry skipped)."""
        if self.single:
            return next(iter(self.skipped.values())).reason
        return f"None of the {self.selected:,} selected can be retried: " + self.skipped_summary().split(": ", 1)[1]

    def with_overrides(self, secret_names: Iterable[str], sandbox_mode: bool) -> list[SecretNeed]:
        """The secrets in this mode, those named by these override secrets provided by them (any case)."""
        given = {name.lower() for name in secret_names}
        needs = self.sandbox if sandbox_mode else self.production
        return [replace(need, source=SecretSource.override) if need.name.lower() in given else need
                for need in needs]


def retry_refusal(entry: DeadLetterEntry, now: datetime) -> Skip | None:
    """Why a retry of `entry` would be refused now, by the lifecycle's own claim rule (tried on a copy)."""
    try:
        lifecycle.claim(entry.model_copy(deep=True), "check", True, "check", now, 1.0)
    except AlreadyRetrying as exc:
        return Skip("being retried", str(exc))
    except MovaError as exc:
        return Skip(entry.status.value, f"{exc}; o reopens it")
    return None


def read_plan(service: DLQService, ids: list[str]) -> RetryPlan:
    """Read the chosen entries and sort them into those a retry would run on and those it would skip."""
    # The engine comes with it: only a retry needs them.
    from mova_core.ops.retry import RETRY_METADATA

    now = service.clock()
    entries, skipped = _read_entries(service, ids)
    ready = []
    for entry in entries:
        skip = retry_refusal(entry, now)
        if skip is None:
            ready.append(entry)
        else:
            skipped[entry.id] = skip
    variables = {}
    if len(ids) == 1 and ready:
        shown = masked(ready[0].context.variables or {})
        variables = {k: v for k, v in shown.items() if k != RETRY_METADATA}
    sandbox = merge_needs(service.secrets_needed(entry, sandbox_mode=True) for entry in ready)
    production = merge_needs(service.secrets_needed(entry, sandbox_mode=False) for entry in ready)
    return RetryPlan([e.id for e in ready], skipped, variables, sandbox, production)


def _read_entries(service: DLQService, ids: list[str]) -> tuple[list[DeadLetterEntry], dict[str, Skip]]:
    """The entries in `ids` order; those gone or unreadable as skips."""
    if len(ids) == 1:
        try:
            return [service.get(ids[0])], {}
        except EntryNotFound as exc:
            return [], {ids[0]: Skip("gone", str(exc))}
    docs, _bad = service.read_raw(ids)
    found: dict[str, DeadLetterEntry] = {}
    skipped: dict[str, Skip] = {}
    for doc in docs:
        try:
            found[doc["id"]] = DeadLetterEntry.model_validate(doc)
        except ValidationError as exc:
            skipped[doc["id"]] = Skip("unreadable", f"{doc['id']} is not a valid entry: {exc.error_count()} problems")
    for entry_id in ids:
        if entry_id not in found and entry_id not in skipped:
            skipped[entry_id] = Skip("gone or unreadable", f"{entry_id} no longer exists or cannot be read")
    return [found[i] for i in ids if i in found], skipped


def merge_needs(per_entry: Iterable[list[SecretNeed]]) -> list[SecretNeed]:
    """One need per secret name across entries: provided only where every entry using it has it."""
    merged: dict[str, SecretNeed] = {}
    for needs in per_entry:
        for need in needs:
            seen = merged.setdefault(need.name.lower(), need)
            if seen is not need:
                merged[need.name.lower()] = replace(
                    seen, actions=tuple(dict.fromkeys((*seen.actions, *need.actions))),
                    source=seen.source if seen.source == need.source else None)
    return list(merged.values())


def variable_overrides(typed: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    """The variables the operator changed or added: what differs from the entry's own, as shown."""
    return {k: v for k, v in typed.items() if k not in shown or shown[k] != v}


def describe_overrides(variables: Mapping[str, Any], shown: Mapping[str, Any], secrets: Iterable[str]) -> str:
    """`variables api_url (changed), timeout (new); secrets api_key`, or that there are none."""
    parts = []
    if variables:
        parts.append("variables " + ", ".join(f"{k} ({'changed' if k in shown else 'new'})" for k in variables))
    names = list(secrets)
    if names:
        parts.append("secrets " + ", ".join(names))
    return "; ".join(parts) if parts else "none (the entry's own variables)"
