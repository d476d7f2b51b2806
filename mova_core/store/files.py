"""The file store: entries as `<id>.json` files, written atomically, updated under locks.

Only this module reads and writes entry files; it implements `mova_core.store.protocol.DeadLetterStore`.
How a change stays in agreement with its audit record when its process is killed midway, and how
the files such a kill leaves are removed: `mova_core.store.intents`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mova_core.model.errors import (
    AmbiguousId,
    CorruptEntry,
    EntryNotFound,
    StoreError,
)
from mova_core.model.ids import validate_id
from mova_core.model.listing import EntryFilter, Group, Page, SkippedFile, Stats
from mova_core.model.status import EntryStatus
from mova_core.store.audit import AuditLog
from mova_core.store.fsio import (
    discard,
    encode_pretty,
    fsync_dir,
    new_token,
    os_error_reason,
    publish,
    write_error,
    write_temp,
)
from mova_core.store.index import Index
from mova_core.store.intents import (
    NO_HARD_LINKS,
    EntryLock,
    Intent,
    leftover_names,
    put_back,
    settle,
    sweep,
    try_flock,
)
from mova_core.store.protocol import Check, Commit, Created, EncodedCreated, EncodedEntry, Mutation, Progress
from mova_core.store.scan import decode_entry_file, shape_problem
from mova_core.store.validate import validate_entry
from mova_core.timeutil import utcnow

if TYPE_CHECKING:  # the full model loads only when a whole entry is read or written
    from mova_core.model.entry import DeadLetterEntry



def encode_entry(entry: DeadLetterEntry) -> bytes:
    """An entry as pretty-printed JSON bytes, the on-disk format."""
    return encode_doc(entry.to_json_dict())


def encode_doc(doc: dict[str, Any]) -> bytes:
    """An entry's JSON object in the on-disk format: pretty-printed, ending in a newline."""
    return encode_pretty(doc) + b"\n"


def _nothing() -> None:
    """Releasing a place nothing holds."""


@contextmanager
def _opening(index_path: Path | None) -> Iterator[None]:
    """Open the index under an inter-process lock (`index.sqlite.lock` beside it).

    Opening may create the index, check its schema version and rebuild it; two processes (or two
    threads of the HTTP shim) doing that at once raced: one dropped the tables the other had just
    created, the loser took the error for corruption and deleted the file under the others' open
    connections (its -shm mapping truncated beneath them: SIGBUS). Where no lock can be taken
    (a read-only directory) the index is opened without one.
    """
    if index_path is None:
        yield
        return
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_path.with_name(index_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class FileStore:
    """Entries as JSON files in one directory, with a summary index and per-entry locks."""

    def __init__(self, directory: Path, *, index_path: Path | None | bool = True):
        self.directory = Path(directory)
        self.mova_dir = self.directory / ".mova"
        self._index_arg = index_path
        if index_path is True:
            index_path = self.mova_dir / "index.sqlite" if self.directory.is_dir() else None
        with _opening(index_path or None):
            self.index = Index(self.directory, index_path or None)
        #: The log whose records carry this store's changes (see `use_audit`).
        self.audit = AuditLog(self.mova_dir / "audit.jsonl")

    def use_audit(self, audit: AuditLog) -> None:
        """The audit log the changes are recorded in, where a killed writer's record is taken back."""
        self.audit = audit

    def independent(self) -> FileStore:
        """A store over the same directory with its own index connection (one per thread)."""
        other = FileStore(self.directory, index_path=self._index_arg)
        other.use_audit(self.audit)
        return other

    def close(self) -> None:
        """Close the index connection."""
        self.index.close()

    def clock(self) -> datetime:
        """This host's clock: one directory is one host's (or one file server's) queue."""
        return utcnow()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold `<dlq>/.mova/<name>.lock` (flock, released when the process dies) for as long as the
        block runs; StoreError if another process holds it."""
        self._ensure_dirs(locks=False)
        path = self.mova_dir / f"{name}.lock"
        try:
            self.mova_dir.mkdir(exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"could not take the {name} lock ({path}): {os_error_reason(exc)}; nothing was done") from exc
        try:
            if not try_flock(fd):
                raise StoreError(f"another {name} is running on this queue ({self.directory}); "
                                 f"nothing was done, try again when it has finished")
            yield
        finally:
            os.close(fd)

    def take_slot(self, name: str, count: int) -> Callable[[], None]:
        """Always a place: the directory's one queue worker starts no more than `count` at once."""
        return _nothing

    def slots_held(self, name: str, count: int) -> int:
        """None held here: the directory's queue worker counts what it runs (see `take_slot`)."""
        return 0

    def __enter__(self) -> FileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------
    def refresh(self, *, full: bool = False, progress: Progress | None = None) -> bool:
        """Bring the index up to date; False if the directory does not exist.

        What killed writers left behind (temporary files, a change recorded but not made) is
        settled on the way (`mova_core.store.intents`).
        """
        present = self.index.refresh(full=full, progress=progress)
        leftovers, self.index.leftovers = self.index.leftovers, []
        if leftovers and sweep(leftovers, self.directory, self.lock):
            present = self.index.refresh()  # (an unrecorded delete may have been put back)
        return present

    def refresh_names(self, names: list[str]) -> None:
        """Re-read specific files (names from a watcher)."""
        self.index.refresh_names([n for n in names if "/" not in n])

    def list(self, flt: EntryFilter) -> Page:
        """Summaries matching the filter, newest first unless sorted otherwise."""
        present = self.refresh()
        items, total = self.index.query(flt)
        return Page(items=items, total=total, skipped=self.index.skipped(), missing_dir=not present)

    def stats(self) -> Stats:
        """The specification's statistics."""
        self.refresh()
        status_counts, type_counts = self.index.overview()
        return stats_from_counts(status_counts, type_counts, *self.index.extremes())

    def groups(self, flt: EntryFilter) -> list[Group]:
        """Entries grouped by failure fingerprint, largest group first."""
        self.refresh()
        return groups_from_rows(self.index.group_rows(flt), self.index.group_status_counts(flt))

    def skipped(self) -> list[SkippedFile]:
        return self.index.skipped()

    def path_for(self, entry_id: str) -> Path:
        return self.directory / f"{validate_id(entry_id)}.json"

    def resolve_id(self, id_or_prefix: str) -> str:
        """A full id, from a full id or a unique prefix (`dlq_` optional, as with a bare UUID prefix)."""
        value = validate_id(id_or_prefix)
        path = self.path_for(value)
        if path.is_file() and not path.is_symlink():
            return value
        self.refresh()
        return only_candidate(value, {i for p in id_prefixes(value) for i in self.index.ids_with_prefix(p)})

    def get(self, id_or_prefix: str) -> DeadLetterEntry:
        """The full, validated entry."""
        entry_id = self.resolve_id(id_or_prefix)
        return self._read(entry_id)

    def _read(self, entry_id: str) -> DeadLetterEntry:
        path = self.path_for(entry_id)
        try:
            return validate_entry(path.name, decode_entry_file(path)[1])
        except RecursionError:
            raise CorruptEntry(path.name, "nested too deeply") from None

    def read_raw(self, ids: list[str]) -> tuple[list[dict], list[SkippedFile]]:
        """Entries for ids from a listing as decoded JSON objects, without building the model.

        Each is checked as the index checks it (the model's shape, the id and the file name), so a
        file changed since it was indexed into one `show` refuses is reported, not served.
        """
        out, bad = [], []
        for entry_id in ids:
            path = self.path_for(entry_id)
            try:
                data, doc = decode_entry_file(path)
            except EntryNotFound:
                continue  # removed since the listing
            except CorruptEntry as exc:
                bad.append(SkippedFile(name=path.name, reason=exc.reason))
                continue
            if not isinstance(doc, dict) or doc.get("id") != entry_id:
                bad.append(SkippedFile(name=path.name, reason="changed since it was indexed"))
                continue
            reason = shape_problem(path.name, data, doc)
            if reason is None:
                out.append(doc)
            else:
                bad.append(SkippedFile(name=path.name, reason=reason))
        return out, bad

    def read_many(self, ids: list[str]) -> tuple[list[DeadLetterEntry], list[SkippedFile]]:
        """Full entries for ids from a listing; files that vanished or broke meanwhile are reported."""
        out, bad = [], []
        for entry_id in ids:
            try:
                out.append(self._read(entry_id))
            except EntryNotFound:
                continue
            except CorruptEntry as exc:
                bad.append(SkippedFile(name=exc.path, reason=exc.reason))
        return out, bad

    # -- writing ----------------------------------------------------------------------------
    def _ensure_dirs(self, *, locks: bool = True) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if locks:
                (self.mova_dir / "locks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(write_error(exc, self.directory)) from exc

    @contextmanager
    def lock(self, entry_id: str, *, wait: bool = True) -> Iterator[EntryLock | None]:
        """An exclusive inter-process lock for one entry (flock on a lock file beside the entries).

        With `wait=False`, None instead of waiting when another process holds it. A change a killed
        holder left half-done is settled before the lock is handed over.
        """
        self._ensure_dirs()
        path = self.mova_dir / "locks" / f"{validate_id(entry_id)}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a full disk or a read-only directory: a clear error, not a traceback
            raise StoreError(f"could not lock {entry_id} ({path}): {os_error_reason(exc)}; nothing was changed") from exc
        try:
            if wait:
                fcntl.flock(fd, fcntl.LOCK_EX)
            elif not try_flock(fd):
                yield None
                return
            lock = EntryLock(fd, entry_id)
            lock.settled = settle(lock, self.path_for(entry_id), self.audit)
            yield lock
        finally:
            os.close(fd)  # closing releases the lock

    def create(self, entry: DeadLetterEntry, *, doc: dict[str, Any] | None = None) -> None:
        """Write a new entry, durably; refuses to overwrite an existing one.

        `doc`: the entry as a JSON object when the caller has it at hand, `entry.to_json_dict()`
        exactly (the engine validates its entry from that object, and a dump of a model validated
        from a dump is that dump); written as it is, instead of dumping the entry a second time.

        No lock (a new id's lock file would cost a file creation per entry and stay on disk): the
        entry goes to a fsynced temporary dot-file, which is then hard-linked to its name. A link
        never replaces a name, so the check for an existing entry and the write are one atomic step,
        even against another process. Then the temporary name is removed and the directory fsynced.
        A kill at any point leaves no torn entry: at most a dot-file, which no listing sees.
        """
        path = self.path_for(entry.id)
        data = encode_entry(entry) if doc is None else encode_doc(doc)
        try:
            tmp = write_temp(path, data)
        except StoreError as exc:
            if not isinstance(exc.__cause__, FileNotFoundError):
                raise
            self._ensure_dirs(locks=False)  # the first entry (or the directory was removed): make it, once
            tmp = write_temp(path, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            discard(tmp)
            raise StoreError(f"an entry with id {entry.id} already exists") from None
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                discard(tmp)
                raise StoreError(write_error(exc, path)) from exc
            self._create_locked(entry.id, tmp, path)  # a file system without hard links
            return
        discard(tmp)  # the entry has its name; the temporary one goes
        fsync_dir(self.directory)

    def create_many(self, docs: list[dict[str, Any]], on_create: Created | None = None) -> list[str]:
        """Write new entries one by one (see `DeadLetterStore.create_many`), all validated first; an
        entry whose `on_create` fails is deleted again before the error propagates."""
        entries = [validate_entry(f"{validate_id(doc.get('id'))}.json", doc) for doc in docs]
        created: list[str] = []
        for entry, doc in zip(entries, docs):
            try:
                self.create(entry, doc=doc)
            except StoreError:
                if os.path.lexists(self.path_for(entry.id)):
                    continue  # stored already, or earlier in this batch
                raise
            if on_create is not None:
                try:
                    on_create(doc)
                except BaseException:
                    self.delete(entry.id)
                    raise
            created.append(entry.id)
        return created

    def create_encoded(self, entries: list[EncodedEntry], on_create: EncodedCreated | None = None) -> list[str]:
        """`create_many` of the entries' documents (see `DeadLetterStore.create_encoded`): each file is
        written, synced and validated by the model as any new entry is."""
        first: dict[str, EncodedEntry] = {}
        for entry in entries:
            first.setdefault(entry.id, entry)
        docs = [orjson.loads(entry.text) for entry in first.values()]
        return self.create_many(docs, None if on_create is None else lambda doc: on_create(first[doc["id"]]))

    def _create_locked(self, entry_id: str, tmp: Path, path: Path) -> None:
        """`create`'s second half where hard links are not supported: check and rename under the lock."""
        try:
            with self.lock(entry_id):
                if path.exists():
                    raise StoreError(f"an entry with id {entry_id} already exists")
                publish(tmp, path)
        except BaseException:
            discard(tmp)
            raise

    def update(
        self, id_or_prefix: str, mutate: Mutation, on_commit: Commit | None = None
    ) -> tuple[DeadLetterEntry, DeadLetterEntry]:
        """Read-check-write one entry under its lock; `mutate` may raise to abort. Returns (old, new).

        `on_commit(old, new)` runs under the same lock once the new version is safely in a temporary
        file and before it replaces the old one (the service writes its audit record there, so the
        log's order is the order of the changes). If it fails, nothing is changed: a full disk or an
        unwritable audit log gives a clear error and leaves the previous version in place.
        """
        entry_id = self.resolve_id(id_or_prefix)
        with self.lock(entry_id) as lock:
            current = self._read(entry_id)
            before = current.model_copy(deep=True)
            changed = mutate(current)
            new = current if changed is None else changed
            if new.to_json_dict() != before.to_json_dict():
                self._replace(lock, entry_id, before, new, on_commit)
            return before, new

    def _replace(self, lock: EntryLock, entry_id: str, before: DeadLetterEntry, new: DeadLetterEntry,
                 on_commit: Commit | None) -> None:
        """Write `new` over the entry, recorded first (the steps of `mova_core.store.intents`)."""
        path = self.path_for(entry_id)
        token = new_token()
        lock.mark(Intent(token, self.audit.size()))
        try:
            tmp = write_temp(path, encode_entry(new), token=token)
            if on_commit is not None:
                try:
                    on_commit(before, new, change=token)
                except BaseException as exc:
                    discard(tmp)
                    _unchanged(entry_id, exc)
            try:
                publish(tmp, path)
            except StoreError as exc:
                if on_commit is not None:  # the record is written: record that it did not happen
                    try:
                        on_commit(new, before, undone=True, change=token)
                    except Exception as undo_exc:
                        raise StoreError(f"{exc}; and the audit log could not record that the change was "
                                         f"not made ({undo_exc})") from exc
                raise
        finally:
            lock.clear()

    def delete(
        self, id_or_prefix: str, check: Check | None = None, on_commit: Commit | None = None,
    ) -> DeadLetterEntry:
        """Remove an entry under its lock, after `check` (which may raise) approves it.

        `on_commit(old, None)` runs under the lock with the file renamed aside (a dot-file, so no
        listing sees it); if it fails, the file is renamed back and nothing is changed.
        """
        entry_id = self.resolve_id(id_or_prefix)
        with self.lock(entry_id) as lock:
            entry = self._read(entry_id)
            if check is not None:
                check(entry)
            path = self.path_for(entry_id)
            if on_commit is None:
                _unlink(entry_id, path)
            else:
                self._delete_recorded(lock, entry, path, on_commit)
            try:
                fsync_dir(self.directory)
            except OSError:
                pass  # the entry is gone either way; only its durability across a power cut is at stake
            return entry

    def _delete_recorded(self, lock: EntryLock, entry: DeadLetterEntry, path: Path, on_commit: Commit) -> None:
        """Delete with an audit record: the file is first renamed aside (a dot-file: no listing sees
        it), so that a record that cannot be written puts it back with a rename alone."""
        token = new_token()
        lock.mark(Intent(token, self.audit.size()))
        try:
            _, doomed = leftover_names(path, token)
            try:
                os.rename(path, doomed)
            except FileNotFoundError:
                raise EntryNotFound(entry.id) from None
            except OSError as exc:
                raise StoreError(write_error(exc, path)) from exc
            try:
                on_commit(entry, None, change=token)
            except BaseException as exc:
                try:
                    put_back(doomed, path)
                except OSError as back:
                    raise StoreError(f"{exc}; and {entry.id} could not be put back from {doomed}: "
                                     f"{os_error_reason(back)}") from exc
                _unchanged(entry.id, exc)
            discard(doomed)  # deleted for every reader since the rename; this frees the space
        finally:
            lock.clear()


def _unlink(entry_id: str, path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        raise EntryNotFound(entry_id) from None
    except OSError as exc:
        raise StoreError(write_error(exc, path)) from exc


def _unchanged(entry_id: str, exc: BaseException) -> None:
    """Re-raise an `on_commit` failure, saying that the entry was left as it was."""
    if isinstance(exc, StoreError):
        raise StoreError(f"{exc}; {entry_id} was left unchanged") from exc
    raise exc


def id_prefixes(value: str) -> list[str]:
    """The prefixes an id or prefix names entries by: itself, and with `dlq_` when it has none."""
    return [value] if value.startswith("dlq_") else [value, "dlq_" + value]


def only_candidate(value: str, candidates: set[str]) -> str:
    """The one id a prefix matched; EntryNotFound for none, AmbiguousId (sorted) for several."""
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise EntryNotFound(value)
    raise AmbiguousId(value, sorted(candidates))


def stats_from_counts(status_counts: dict[str, int], type_counts: dict[str, int],
                      oldest: str | None, newest: str | None) -> Stats:
    """The statistics from counts per status and per type (every status shown, types largest first)."""
    by_status = {s.value: 0 for s in EntryStatus} | status_counts
    by_type = dict(sorted(type_counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return Stats(total_entries=sum(by_status.values()), by_status=by_status, by_workflow_type=by_type,
                 oldest_entry=oldest, newest_entry=newest)


def groups_from_rows(rows: list[tuple], by_status: dict[str, dict[str, int]]) -> list[Group]:
    """Groups from rows of (fingerprint, count, action type, example error, example id, first and last
    created_ts, comma-joined workflow types) and the counts per status of each fingerprint."""
    out = []
    for fp, count, action, example, example_id, first, last, types in rows:
        out.append(Group(
            fingerprint=fp, count=count, action_type=action, example_error=example or "",
            example_id=example_id, first_seen=_seen(first), last_seen=_seen(last),
            workflow_types=sorted(types.split(",")) if types else [],
            by_status=by_status.get(fp, {}),
        ))
    return out


def _seen(ts: float) -> str:
    """A group's first/last seen time; an entry dated year 1 or 9999 (valid RFC 3339) is clamped, not fatal."""
    try:
        dt = datetime.fromtimestamp(ts, timezone.utc)
    except (OverflowError, ValueError, OSError):
        dt = (datetime.min if ts < 0 else datetime.max).replace(tzinfo=timezone.utc)
    # isoformat, not format_time's strftime: glibc writes year 1 as "1", not "0001".
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")
