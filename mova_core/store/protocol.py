"""`DeadLetterStore`: what the operations layer needs from a backend.

The file store (`mova_core.store.files.FileStore`) is the embedded one; another backend (a shared
database) implements the same methods, and no face changes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from mova_core.model.listing import EntryFilter, Group, Page, SkippedFile, Stats

if TYPE_CHECKING:  # the full model loads only when a whole entry is read or written
    from mova_core.model.entry import DeadLetterEntry
    from mova_core.store.audit import AuditLog

#: Called with (files done, files in all) while a large refresh reads files.
Progress = Callable[[int, int], None]
#: Changes an entry in place (or returns its replacement); raises to abort the change.
Mutation = Callable[["DeadLetterEntry"], "DeadLetterEntry | None"]
#: Approves a delete (raises to refuse it), seeing the entry as it is under its lock.
Check = Callable[["DeadLetterEntry"], None]
#: Called under the entry's lock with (old, new, change=token) just before a change is made visible;
#: new is None for a delete, and the token (to be written in the record) names the change's temporary
#: file. If it raises, the change is not made, so the audit log and the files never disagree. Should
#: the change then fail after all, it is called again as (new, old, undone=True, change=token); should
#: the process be killed before making it, the store takes the record back itself (see `use_audit`).
Commit = Callable[..., None]
#: Records one entry a batch write created, given its JSON object; raises to undo the creation.
Created = Callable[[dict[str, Any]], None]


class EncodedEntry(NamedTuple):
    """An entry as a batch write takes it, judged and encoded already (by `scan.encoded_row`, in the
    reader processes of an import): its summary columns (`scan.summary_row`'s) and its JSON text in
    the file format (`fsio.encode_pretty`, unknown fields kept)."""

    columns: tuple
    text: bytes

    @property
    def id(self) -> str:
        return self.columns[0]

    @property
    def status(self) -> str:
        return self.columns[2]


#: Records one entry `create_encoded` created; raises to undo the creation.
EncodedCreated = Callable[[EncodedEntry], None]


class DeadLetterStore(Protocol):
    """A dead-letter backend: listings from an index, whole entries, and changes under a per-entry lock."""

    def refresh(self, *, full: bool = False, progress: Progress | None = None) -> bool:
        """Bring the index up to date; False if the queue's directory does not exist."""
        ...

    def refresh_names(self, names: list[str]) -> None:
        """Re-read these entry file names now (a watcher saw them change), present or gone."""
        ...

    def independent(self) -> DeadLetterStore:
        """A store over the same entries with resources of its own (for another thread)."""
        ...

    def close(self) -> None:
        """Release the store's resources; it is not used after."""
        ...

    def clock(self) -> datetime:
        """The time every host sharing the store judges leases and ages by (UTC)."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold the store-wide lock `name` (one holder among all processes and hosts) for a
        maintenance run such as a purge; StoreError at once if another holder has it."""
        ...

    def take_slot(self, name: str, count: int) -> Callable[[], None] | None:
        """One of `count` places named `name`, held across every host sharing the store until the
        returned release is called (or this process ends); None while all are held. Where one
        process per store keeps the limit itself (a directory's queue worker), always a place."""
        ...

    def slots_held(self, name: str, count: int) -> int:
        """How many of the `count` places named `name` are held now, by any host (see `take_slot`)."""
        ...

    def use_audit(self, audit: AuditLog) -> None:
        """The audit log the changes are recorded in: where the store takes back the record of a
        change its writer was killed before making."""
        ...

    def list(self, flt: EntryFilter) -> Page:
        """Summaries matching the filter, sorted and windowed."""
        ...

    def stats(self) -> Stats:
        """The specification's statistics."""
        ...

    def groups(self, flt: EntryFilter) -> list[Group]:
        """Entries grouped by failure fingerprint, largest group first."""
        ...

    def skipped(self) -> list[SkippedFile]:
        """Files that are not readable entries."""
        ...

    def read_raw(self, ids: list[str]) -> tuple[list[dict[str, Any]], list[SkippedFile]]:
        """Entries as the JSON objects stored, without model validation."""
        ...

    def read_many(self, ids: list[str]) -> tuple[list[DeadLetterEntry], list[SkippedFile]]:
        """Full entries for ids from a listing; those gone or broken meanwhile are reported."""
        ...

    def resolve_id(self, id_or_prefix: str) -> str:
        """A full id from a full id or a unique prefix."""
        ...

    def get(self, id_or_prefix: str) -> DeadLetterEntry:
        """One full, validated entry."""
        ...

    def create(self, entry: DeadLetterEntry, *, doc: dict[str, Any] | None = None) -> None:
        """Write a new entry durably; refuses to replace an existing one.

        `doc` is the JSON object the entry was validated from, written as it is when given.
        """
        ...

    def create_many(self, docs: list[dict[str, Any]], on_create: Created | None = None) -> list[str]:
        """Write new entries from their JSON objects, each judged as a listing judges a file first
        (CorruptEntry naming the first bad one, and nothing written); ids already stored, or repeated
        in `docs` (the first is kept), are left out. Returns the ids created, in `docs`' order.

        `on_create(doc)` records each entry created; if it raises, that entry is not left created
        (a store with transactions creates none of the batch) and the error propagates.
        """
        ...

    def create_encoded(self, entries: list[EncodedEntry], on_create: EncodedCreated | None = None) -> list[str]:
        """`create_many` for entries judged and encoded already (an import's): ids already stored, or
        repeated (the first is kept), are left out; returns the ids created, in order. CorruptEntry
        (nothing written) only if the store's own check refuses one the reader's shape check passed.
        """
        ...

    def update(
        self, id_or_prefix: str, mutate: Mutation, on_commit: Commit | None = None
    ) -> tuple[DeadLetterEntry, DeadLetterEntry]:
        """Read-check-write one entry under its lock; returns (old, new)."""
        ...

    def delete(self, id_or_prefix: str, check: Check | None = None, on_commit: Commit | None = None) -> DeadLetterEntry:
        """Remove one entry under its lock once `check` approves; returns it."""
        ...
