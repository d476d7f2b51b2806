"""Changes a killed writer left half-done, and how the next one settles them, so that the audit log
and the entry files agree after any kill.

Every change of an entry (an update or a delete) happens under the entry's `flock`, in this order:

  1. its intent, `<token> <audit log size>`, is written into the entry's lock file;
  2. the new version goes to `.<id>.json.<token>.tmp` (fsynced); a delete instead renames the
     entry to `.<id>.json.<token>.deleting`;
  3. the audit record is appended (fsynced), carrying `"change": "<token>"`;
  4. the temporary file is renamed over `<id>.json` (a delete: the `.deleting` file is removed);
  5. the intent is cleared.

A process killed between 3 and 4 leaves a record of a change that did not happen. Whoever next
holds the entry's lock (the next change of that entry, or a refresh that finds the leftover file
and takes the free lock) reads the intent and settles it from what the files say:

  * the `.tmp` of the token is still there: the rename never happened. If the log has the
    token's record, a record taking it back is appended (`"undone": true, "recovered": true`,
    the opposite status change); the `.tmp` is removed.
  * the `.deleting` of the token is still there: the delete happened if its record was written
    (the file is removed), and did not otherwise (the file is put back under its name).
  * neither: the change was made, or never begun; nothing to settle.

Settling happens before the next change of that entry is recorded, so each entry's records still
follow one another in the log. The log is searched only from the size the intent noted.

A temporary file named by no intent is an interrupted `create` (which takes no lock) or some other
writer's: it is removed when it is a hard link of its entry (the create got as far as the link),
or once it is older than STALE_TEMP_SECONDS, when no live writer can still own it.

The intent is not fsynced: these rules make the log agree with the files after a process is
killed (SIGKILL, the OOM killer, a crash). After a power cut the log's older guarantee holds: a
record is durable before the change it records is made.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

from mova_core.model.errors import InvalidId, MovaError, StoreError
from mova_core.model.ids import validate_id
from mova_core.store.audit import AuditLog
from mova_core.store.fsio import discard, os_error_reason, temp_path

#: A temporary file no intent names is left alone until it is this old.
STALE_TEMP_SECONDS = 600.0
#: Who the records taking back a killed process's change are written by.
RECOVERY_ACTOR = "mova (recovery)"
#: link(2) errors meaning "this file system has no hard links" (FAT, some network mounts).
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


class Intent(NamedTuple):
    """A change begun under an entry's lock: its token, and the audit log's size before its record."""

    token: str
    audit_offset: int


class EntryLock:
    """An entry's lock file, held (flock) by this process: it also carries the intent of a change."""

    def __init__(self, fd: int, entry_id: str):
        self.fd, self.entry_id = fd, entry_id
        #: Whether taking the lock settled a change a killed holder had left (see `settle`).
        self.settled = False

    def intent(self) -> Intent | None:
        """The intent a previous holder left (it was killed mid-change), if any."""
        raw = os.pread(self.fd, 128, 0)
        parts = raw.decode("ascii", "replace").split()
        if len(parts) != 2 or not parts[1].isdigit():
            return None  # none, or torn while written (then nothing was begun after it)
        return Intent(parts[0], int(parts[1]))

    def mark(self, intent: Intent) -> None:
        """Note a change about to begin; StoreError (nothing changed) if the lock file cannot hold it."""
        data = f"{intent.token} {intent.audit_offset}\n".encode()
        try:
            os.ftruncate(self.fd, 0)
            if os.pwrite(self.fd, data, 0) != len(data):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            raise StoreError(f"could not note the change of {self.entry_id} in its lock file: "
                             f"{os_error_reason(exc)}; nothing was changed") from exc

    def clear(self) -> None:
        """The change is over (made, or undone): nothing for the next holder to settle."""
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass  # a stale intent only makes the next holder look at files that are not there


def leftover_names(path: Path, token: str) -> tuple[Path, Path]:
    """The temporary file and the `.deleting` file a change `token` of the entry file `path` may leave."""
    return temp_path(path, token), path.with_name(f".{path.name}.{token}.deleting")


def settle(lock: EntryLock, path: Path, audit: AuditLog) -> bool:
    """Settle the change a killed holder of `lock` left (see the module docstring); True if it had left one."""
    intent = lock.intent()
    if intent is None:
        return False
    tmp, doomed = leftover_names(path, intent.token)
    try:
        if os.path.lexists(tmp):  # the new version never replaced the entry
            audit.take_back(intent.token, intent.audit_offset, actor=RECOVERY_ACTOR)
            discard(tmp)
        elif os.path.lexists(doomed):
            if audit.of_change(intent.token, intent.audit_offset):
                discard(doomed)  # the delete was recorded: it happened, only the space was not freed
            else:
                _put_back_unrecorded(doomed, path, intent, audit)
    except OSError as exc:  # the intent stays: whoever next holds the lock tries again
        raise StoreError(f"could not settle an interrupted change of {lock.entry_id} ({audit.path}): "
                         f"{os_error_reason(exc)}; nothing was changed") from exc
    lock.clear()
    return True


def put_back(doomed: Path, path: Path) -> None:
    """Undo renaming an entry aside for a delete; FileExistsError if an entry took the name meanwhile.

    A hard link, not a rename: `create` takes no lock, so an entry could have been created under the
    name meanwhile, and a rename would silently replace it (a link fails with EEXIST instead).
    """
    try:
        os.link(doomed, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        os.rename(doomed, path)  # no hard links: create takes the entry's lock there, so none was made
        return
    discard(doomed)


def _put_back_unrecorded(doomed: Path, path: Path, intent: Intent, audit: AuditLog) -> None:
    """Put back a delete its killed writer never recorded."""
    try:
        put_back(doomed, path)
    except FileExistsError:
        if os.stat(doomed).st_ino != os.stat(path).st_ino:
            # An entry was created under the name meanwhile (creates take no lock): the old one
            # stays deleted, and now the log says so.
            audit.record("delete", path.stem, _status_of(doomed), None, RECOVERY_ACTOR, change=intent.token,
                         recovered=True)
        discard(doomed)  # (or it was put back already, by a settle killed before this line)


def _status_of(path: Path) -> str | None:
    try:
        status = json.loads(path.read_bytes()).get("status", "active")
    except (OSError, ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


def parse_leftover(name: str) -> tuple[str, str, str] | None:
    """(entry id, token, "tmp" or "deleting") of a temporary entry file's name, or None."""
    if not name.startswith(".") or name.count(".") < 4:
        return None
    stem, token, kind = name[1:].rsplit(".", 2)
    if kind not in ("tmp", "deleting") or not stem.endswith(".json"):
        return None
    try:
        return validate_id(stem[:-5]), token, kind
    except InvalidId:
        return None


def is_stale_temp(directory: Path, name: str, entry_id: str, now: float) -> bool:
    """Whether a temporary file no intent names can go: a hard link of its entry, or old enough."""
    try:
        st = os.lstat(directory / name)
    except FileNotFoundError:
        return False
    try:
        if os.lstat(directory / f"{entry_id}.json").st_ino == st.st_ino:
            return True  # a create got as far as linking it to its name
    except FileNotFoundError:
        pass
    return now - st.st_mtime > STALE_TEMP_SECONDS


def try_flock(fd: int) -> bool:
    """Take an exclusive flock without waiting; False if another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


#: Takes an entry's lock, or yields None when another process holds it (`FileStore.lock(wait=False)`).
LockWithoutWaiting = Callable[..., AbstractContextManager["EntryLock | None"]]


def sweep(names: list[str], directory: Path, lock: LockWithoutWaiting) -> bool:
    """Settle the changes killed writers left and remove their temporary files (`names`, found by a
    scan of `directory`); True if a change was settled.

    Only under the entry's lock, taken without waiting: a lock held means a live writer, which
    settles what it finds itself. Never fails (a read-only directory: nothing is done).
    """
    settled = False
    now = time.time()
    for name in names:
        parsed = parse_leftover(name)
        if parsed is None:
            continue
        entry_id, _token, kind = parsed
        try:
            with lock(entry_id, wait=False) as held:
                if held is None:
                    continue
                settled |= held.settled  # taking the lock settled what its intent names
                if kind == "tmp" and is_stale_temp(directory, name, entry_id, now):
                    discard(directory / name)  # an interrupted create's, or another writer's
        except (MovaError, OSError):
            continue  # the next refresh that finds it tries again
    return settled
