"""Moving entries between stores: a directory of entry files into the current store, and back out.

Both go through what every store offers (`read_raw`, `create`), so they move a queue from the file
store to another backend and back. A file is judged as the file store's index judges it (`scan`),
then validated by the model (`validate`): an import takes exactly the files a listing would show.
Documents are kept as they were read, unknown fields included, so an export writes the same bytes.
Work goes in batches: at most one batch of documents is held at a time, however large the queue.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.errors import CorruptEntry, EntryNotFound, InvalidId, InvalidInput, StoreError
from mova_core.model.ids import validate_id
from mova_core.model.listing import EntryFilter, Page, SkippedFile
from mova_core.store.files import encode_doc
from mova_core.store.fsio import atomic_write, os_error_reason
from mova_core.store.protocol import Progress
from mova_core.store.scan import decode_entry_file, list_entries, summary_row

#: Documents read, compared and written per round: one store look-up per batch, bounded memory.
BATCH = 500

#: Reads entries as stored: (documents, entries present but unreadable), absent ids left out.
ReadRaw = Callable[[list[str]], tuple[list[dict[str, Any]], list[SkippedFile]]]
#: Creates the entries of these documents the store lacks (validated and recorded): the ids it created.
CreateMany = Callable[[list[dict[str, Any]]], list[str]]

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
def import_dir(directory: Path | str, read_raw: ReadRaw, create: CreateMany | None, *,
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
    with _no_cycle_collection():
        for start in range(0, len(names), BATCH):
            _import_batch(directory, names[start:start + BATCH], read_raw, create, report)
            if progress is not None:
                progress(min(start + BATCH, len(names)), len(names))
    return report


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused: documents are trees, freed by reference counting, and
    collections scanning each batch's thousands of containers took a sixth of an import's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_batch(directory: Path, names: list[str], read_raw: ReadRaw, create: CreateMany | None,
                  report: ImportReport) -> None:
    """Create the entries of these files that the store lacks; judge those it holds."""
    docs = list(_readable(directory, names, report))
    stored = _stored(read_raw, [doc["id"] for doc in docs])
    for doc in docs:
        if doc["id"] in stored:
            _judge(doc, stored[doc["id"]], report)
    _create([doc for doc in docs if doc["id"] not in stored], read_raw, create, report)


def _readable(directory: Path, names: list[str], report: ImportReport) -> Iterator[dict[str, Any]]:
    """The JSON object of each file named by its own id; the other files go to the report's skipped
    (with the reason a listing gives), and files gone meanwhile are left out."""
    prefix = os.path.join(directory, "")  # joined as text: a Path per file cost more than reading it
    for name in names:
        try:
            data, doc = decode_entry_file(prefix + name)
            if not isinstance(doc, dict) or f"{doc.get('id')}.json" != name:
                summary_row(name, data, doc)  # raises, saying why: the id is about to name an entry
            validate_id(doc["id"])
        except EntryNotFound:
            continue  # removed since it was listed: nothing to import
        except CorruptEntry as exc:
            report.skipped.append(SkippedFile(name=name, reason=exc.reason))
            continue
        except (ValueError, RecursionError, InvalidId) as exc:
            report.skipped.append(SkippedFile(name=name, reason=_reason(exc)))
            continue
        yield doc


def _judged(docs: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    """The documents a listing would show (the index's judgement: the model's shape); the others go
    to the report's skipped."""
    good = []
    for doc in docs:
        name = f"{doc['id']}.json"
        try:
            summary_row(name, encode_doc(doc), doc)
        except (ValueError, RecursionError) as exc:
            report.skipped.append(SkippedFile(name=name, reason=_reason(exc)))
            continue
        good.append(doc)
    return good


def _reason(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:300]


def _stored(read_raw: ReadRaw, ids: list[str]) -> dict[str, dict | str]:
    """What the store holds for these ids: its document, or why it cannot read it; absent ids left out."""
    docs, bad = read_raw(ids)
    held: dict[str, dict | str] = {doc["id"]: doc for doc in docs}
    held.update((f.name.removesuffix(".json"), f.reason) for f in bad)
    return held


def _create(docs: list[dict[str, Any]], read_raw: ReadRaw, create: CreateMany | None, report: ImportReport) -> None:
    """Create the batch's new entries, judged by the store as it writes them (by the index's rules
    here for a dry run, or when the store refuses the batch for one of them); one another writer
    created meanwhile is judged as stored."""
    if create is None or not docs:
        report.imported += len(_judged(docs, report))
        return
    try:
        made = set(create(docs))
    except CorruptEntry:
        made = set(create(_judged(docs, report)))
    report.imported += len(made)
    skipped = {s.name for s in report.skipped}
    missed = [doc for doc in docs if doc["id"] not in made and f"{doc['id']}.json" not in skipped]
    stored = _stored(read_raw, [doc["id"] for doc in missed]) if missed else {}
    for doc in missed:
        if doc["id"] not in stored:  # not a race with another writer: the write itself failed
            raise StoreError(f"the store did not create {doc['id']} and does not hold it")
        _judge(doc, stored[doc["id"]], report)


def _judge(doc: dict[str, Any], stored: dict | str, report: ImportReport) -> None:
    """An id the store holds: present when its document is the same, else a conflict."""
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
