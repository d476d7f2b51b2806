"""Moving entries between stores: a directory of entry files into the current store, and back out.

Both go through what every store offers (`read_raw`, `create_encoded`), so they move a queue from
the file store to another backend and back. A file is judged as the file store's index judges it
(`scan`: the model's shape): an import takes exactly the files a listing would show. Documents are
kept as they were read, unknown fields included, so an export writes the same bytes. Work goes in
batches: a few batches of documents are held at a time, however large the queue.
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
from mova_core.model.errors import CorruptEntry, InvalidInput, StoreError
from mova_core.model.ids import validate_id
from mova_core.model.listing import EntryFilter, Page, SkippedFile
from mova_core.store.files import encode_doc
from mova_core.store.fsio import atomic_write, encode_pretty, os_error_reason
from mova_core.store.protocol import EncodedEntry, Progress
from mova_core.store.scan import POOL_THRESHOLD, Batch, ReaderPool, list_entries, read_files, reader_count

#: Files or documents per round (of an import read here, of an export): one store look-up per batch.
BATCH = 500

#: Reads entries as stored: (documents, entries present but unreadable), absent ids left out.
ReadRaw = Callable[[list[str]], tuple[list[dict[str, Any]], list[SkippedFile]]]
#: Creates the entries the store lacks (recorded each): the ids it created.
CreateEncoded = Callable[[list[EncodedEntry]], list[str]]


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
def import_dir(directory: Path | str, read_raw: ReadRaw, create: CreateEncoded | None, *,
               progress: Progress | None = None) -> ImportReport:
    """Create every entry file of `directory` that the store lacks; `create=None` is a dry run.

    An id already stored with the same document counts as already present; with another, as a
    conflict. Unreadable files are skipped with their reason. StoreError (a full disk) stops the
    import; what was created stays, and running it again picks up where it stopped.

    Files are read, judged and encoded in batches (`scan.encoded_row`), by reader processes for a
    big directory, while this process looks each batch up in the store and writes it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput(f"cannot import from {directory}: not a directory")
    names = sorted(list_entries(directory)[3])
    report = ImportReport(directory=str(directory), dry_run=create is None)
    done = 0
    with _no_cycle_collection(), _batches(directory, names) as batches:
        for good, bad, gone in batches:  # files gone since the listing: nothing to import
            report.skipped.extend(SkippedFile(name=row[0], reason=row[-1]) for row in bad)
            _import_batch([EncodedEntry(row[1:-1], row[-1]) for row in good], read_raw, create, report)
            done += len(good) + len(bad) + len(gone)
            if progress is not None:
                progress(done, len(names))
    return report


@contextmanager
def _batches(directory: Path, names: list[str]) -> Iterator[Iterator[Batch]]:
    """`read_files(directory, …, "import")` over the names in batches, by reader processes when
    there are many (the rows come back in whatever order they are done)."""
    if len(names) >= POOL_THRESHOLD and reader_count() > 0:
        with ReaderPool(reader_count()) as pool:
            yield pool.read(directory, names, "import")
    else:
        yield (read_files(directory, names[i:i + BATCH], "import") for i in range(0, len(names), BATCH))


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


def _import_batch(entries: list[EncodedEntry], read_raw: ReadRaw, create: CreateEncoded | None,
                  report: ImportReport) -> None:
    """Create the entries of these files that the store lacks; judge those it holds."""
    stored = _stored(read_raw, [entry.id for entry in entries])
    for entry in entries:
        if entry.id in stored:
            _judge(entry, stored[entry.id], report)
    _create([entry for entry in entries if entry.id not in stored], read_raw, create, report)


def _stored(read_raw: ReadRaw, ids: list[str]) -> dict[str, dict | str]:
    """What the store holds for these ids: its document, or why it cannot read it; absent ids left out."""
    docs, bad = read_raw(ids)
    held: dict[str, dict | str] = {doc["id"]: doc for doc in docs}
    held.update((f.name.removesuffix(".json"), f.reason) for f in bad)
    return held


def _create(entries: list[EncodedEntry], read_raw: ReadRaw, create: CreateEncoded | None,
            report: ImportReport) -> None:
    """Create the batch's new entries (one by one when the store refuses the batch for one of them);
    one another writer created meanwhile is judged as stored."""
    if not entries:
        return
    if create is None:  # (ids are unique: each file is named by its own)
        report.imported += len(entries)
        return
    refused: set[str] = set()
    try:
        made = set(create(entries))
    except CorruptEntry:
        made = set()
        for entry in entries:
            try:
                made.update(create([entry]))
            except CorruptEntry as exc:
                refused.add(entry.id)
                report.skipped.append(SkippedFile(name=f"{entry.id}.json", reason=exc.reason))
    report.imported += len(made)
    missed = [e for e in entries if e.id not in made and e.id not in refused]
    stored = _stored(read_raw, [entry.id for entry in missed]) if missed else {}
    for entry in missed:
        if entry.id not in stored:  # not a race with another writer: the write itself failed
            raise StoreError(f"the store did not create {entry.id} and does not hold it")
        _judge(entry, stored[entry.id], report)


def _judge(entry: EncodedEntry, stored: dict | str, report: ImportReport) -> None:
    """An id the store holds: present when its document is the same, else a conflict."""
    if isinstance(stored, str):
        report.conflicts.append(Conflict(id=entry.id, reason=f"the store's entry is unreadable: {stored}"))
    elif encode_pretty(stored) == entry.text:
        report.already_present += 1
    else:
        report.conflicts.append(Conflict(id=entry.id, reason="the store holds different content for this id"))


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
