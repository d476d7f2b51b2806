"""Moving entries between stores: a directory of entry files into the current store, and back out.

Both go through what every store offers (`read_raw`, `create`), so they move a queue from the file
store to another backend and back. A file is judged as the file store's index judges it (`scan`),
then validated by the model (`validate`): an import takes exactly the files a listing would show.
Documents are kept as they were read, unknown fields included, so an export writes the same bytes.
Work goes in batches: at most one batch of documents is held at a time, however large the queue.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.errors import CorruptEntry, EntryNotFound, InvalidId, InvalidInput, StoreError
from mova_core.model.ids import validate_id
from mova_core.model.listing import EntryFilter, Page, SkippedFile
from mova_core.store.files import encode_doc
from mova_core.store.fsio import atomic_write, os_error_reason
from mova_core.store.protocol import Progress
from mova_core.store.scan import decode_entry_file, list_entries, read_files
from mova_core.store.validate import validate_entry

if TYPE_CHECKING:
    from mova_core.model.entry import DeadLetterEntry

#: Documents read, compared and written per round: one store look-up per batch, bounded memory.
BATCH = 500

#: Reads entries as stored: (documents, entries present but unreadable), absent ids left out.
ReadRaw = Callable[[list[str]], tuple[list[dict[str, Any]], list[SkippedFile]]]
#: Creates one entry from the document it was validated from (and records it); StoreError if it exists.
Create = Callable[["DeadLetterEntry", dict[str, Any]], None]


class Conflict(Model):
    """An id the store already holds with other content (or cannot read); the store's entry is left alone."""

    id: str
    reason: str


class ImportReport(Model):
    """What an import did (or would do, with dry_run): counts, and every conflict and skipped file."""

    directory: str
    dry_run: bool
    imported: int = 0
    already_present: int = 0
    conflicts: list[Conflict] = Field(default_factory=list)
    skipped: list[SkippedFile] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every file is in the store as it is in the directory."""
        return not self.conflicts and not self.skipped


class ExportReport(Model):
    """What a directory export wrote, and the matching entries the store could not read."""

    directory: str
    written: int = 0
    unreadable: list[SkippedFile] = Field(default_factory=list)


class RawSource(Protocol):
    """What a directory export reads (a `DLQService`)."""

    def list(self, flt: EntryFilter | None = None) -> Page:
        """A page of summaries matching the filter."""
        ...

    def read_raw(self, ids: list[str]) -> tuple[list[dict[str, Any]], list[SkippedFile]]:
        """Entries as the JSON objects stored."""
        ...


# -- import -------------------------------------------------------------------------------------
def import_dir(directory: Path | str, read_raw: ReadRaw, create: Create | None, *,
               progress: Progress | None = None) -> ImportReport:
    """Create every entry file of `directory` that the store lacks; `create=None` is a dry run.

    An id already stored with the same document counts as already present; with another, as a
    conflict. Unreadable files are skipped with their reason. StoreError (a full disk) stops the
    import; what was created stays, and running it again picks up where it stopped.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput(f"cannot import from {directory}: not a directory")
    names = sorted(list_entries(directory)[3])
    report = ImportReport(directory=str(directory), dry_run=create is None)
    for start in range(0, len(names), BATCH):
        batch = list(_readable(directory, names[start:start + BATCH], report))
        stored = _stored(read_raw, [doc["id"] for _, doc in batch])
        for name, doc in batch:
            _place(name, doc, stored.get(doc["id"]), read_raw, create, report)
        if progress is not None:
            progress(min(start + BATCH, len(names)), len(names))
    return report


def _readable(directory: Path, names: list[str], report: ImportReport) -> Iterator[tuple[str, dict]]:
    """(file name, document) for each file the index would list; the others go to the report's skipped."""
    good, bad, _gone = read_files(directory, names)
    report.skipped.extend(SkippedFile(name=row[0], reason=row[-1]) for row in bad)
    for row in good:
        name = row[0]
        try:
            _data, doc = decode_entry_file(directory / name)
            # The index checked both; the file may have been rewritten since, and its id is about to
            # name a file in the store.
            if not isinstance(doc, dict) or f"{doc.get('id')}.json" != name:
                raise CorruptEntry(name, "changed while it was being read")
            validate_id(doc["id"])
        except EntryNotFound:
            continue  # removed since it was read: nothing to import
        except (CorruptEntry, InvalidId) as exc:
            reason = exc.reason if isinstance(exc, CorruptEntry) else str(exc)
            report.skipped.append(SkippedFile(name=name, reason=reason))
            continue
        yield name, doc


def _stored(read_raw: ReadRaw, ids: list[str]) -> dict[str, dict | str]:
    """What the store holds for these ids: its document, or why it cannot read it; absent ids left out."""
    docs, bad = read_raw(ids)
    held: dict[str, dict | str] = {doc["id"]: doc for doc in docs}
    held.update((f.name.removesuffix(".json"), f.reason) for f in bad)
    return held


def _place(name: str, doc: dict, stored: dict | str | None, read_raw: ReadRaw, create: Create | None,
           report: ImportReport) -> None:
    """Create one entry (validated by the model first), or count it present, or report the conflict."""
    if stored is None:
        try:
            entry = validate_entry(name, doc)  # a file rewritten since the index's check is caught here
        except CorruptEntry as exc:
            report.skipped.append(SkippedFile(name=name, reason=exc.reason))
            return
        if create is not None:
            try:
                create(entry, doc)
            except StoreError:
                stored = _stored(read_raw, [entry.id]).get(entry.id)
                if stored is None:  # not a race with another writer: the write itself failed
                    raise
        if stored is None:
            report.imported += 1
            return
    if isinstance(stored, str):
        report.conflicts.append(Conflict(id=doc["id"], reason=f"the store's entry is unreadable: {stored}"))
    elif encode_doc(stored) == encode_doc(doc):
        report.already_present += 1
    else:
        report.conflicts.append(Conflict(id=doc["id"], reason="the store holds different content for this id"))


# -- export -------------------------------------------------------------------------------------
def export_to_dir(source: RawSource, flt: EntryFilter | None, directory: Path | str, *,
                  overwrite: bool = False) -> ExportReport:
    """Write each matching entry as `<id>.json` in `directory` (made if missing), each file atomically.

    A directory already holding entry files is refused unless `overwrite`, which replaces files of
    the same name and leaves every other file alone (nothing is ever deleted).
    """
    directory = Path(directory)
    _check_target(directory, overwrite)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"could not create {directory}: {os_error_reason(exc)}") from exc
    report = ExportReport(directory=str(directory))
    ids = [item.id for item in source.list(flt).items]
    for start in range(0, len(ids), BATCH):
        docs, bad = source.read_raw(ids[start:start + BATCH])
        report.unreadable.extend(bad)
        for doc in docs:
            atomic_write(directory / f"{validate_id(doc['id'])}.json", encode_doc(doc))
            report.written += 1
    return report


def _check_target(directory: Path, overwrite: bool) -> None:
    """InvalidInput for a target that is not a directory, or holds entries and `overwrite` is not given."""
    if not os.path.lexists(directory):
        return
    if not directory.is_dir():
        raise InvalidInput(f"cannot export to {directory}: not a directory")
    if not overwrite and list_entries(directory)[3]:
        raise InvalidInput(f"{directory} already holds entry files; give --overwrite to replace those of the "
                           "same name (no other file is touched), or choose an empty directory")
