"""Reading entry files into the index's summary columns, in this process or in reader processes.

Kept apart from the index so the reader processes of a first build import only this (the standard
library, orjson and a few small modules of ours), not pydantic or SQLite: a file is checked against
the entry model's shape by `mova_core.model.entry_shape`, and only a file that check cannot vouch for
is validated by the model itself (`mova_core.store.validate`, loaded then).

Each row carries the file's identity: inode, mtime, size and ctime. A rename-over write changes the
ctime (and a rename cannot be given an old ctime, unlike an mtime), so a rewritten file is seen as
changed even when the file system handed it the inode number it had before.
"""

from __future__ import annotations

import errno
import marshal
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from mova_core.model.entry_shape import looks_valid
from mova_core.model.errors import CorruptEntry, EntryNotFound, InvalidId
from mova_core.model.fingerprint import fingerprint
from mova_core.model.ids import validate_id
from mova_core.model.search import MAX_ERROR_CHARS, search_text
from mova_core.model.status import EntryStatus
from mova_core.store.fsio import encode_pretty
from mova_core.timeutil import parse_time

# A time this close to the scan (a directory's mtime, a file's ctime) is not trusted: a change in
# the same clock tick could hide behind it. Linux file systems stamp with the kernel's coarse clock
# (a few milliseconds); file systems that keep whole seconds (FAT, some network mounts) need two.
RACY_SECONDS_FINE = 0.1
RACY_SECONDS_COARSE = 2.0
# A JSON document with fewer openers than this is shallower than orjson's (and pydantic's) limit
# for writing it back, so it need not be encoded again to prove that it can be.
_SHALLOW_OPENERS = 200


def racy_window(mtime_ns: int) -> float:
    """How long after a change its timestamp cannot prove that nothing else changed."""
    return RACY_SECONDS_COARSE if mtime_ns % 1_000_000_000 == 0 else RACY_SECONDS_FINE


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_INT64 = (-(2**63), 2**63 - 1)


def _num(value: Any, default: int = 0) -> int:
    """An integer column: non-numbers give the default; huge values are clamped to SQLite's 64 bits."""
    if type(value) is int and _INT64[0] <= value <= _INT64[1]:  # the usual case, decided at once
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # NaN
        return default
    if isinstance(value, float) and abs(value) == float("inf"):
        return _INT64[0] if value < 0 else _INT64[1]
    return max(_INT64[0], min(_INT64[1], int(value)))


def shape_problem(name: str, data: bytes, doc: dict) -> str | None:
    """Why a decoded file is not an entry by the model's rules, or None when it is one.

    The fast check answers for almost every file; the model answers for the others (see
    `mova_core.model.entry_shape`), and for a file nested deeply enough that it might not be
    written back (what `show` refuses too).
    """
    if looks_valid(doc):
        if data.count(b"{") + data.count(b"[") < _SHALLOW_OPENERS:
            return None
        try:
            orjson.dumps(doc)
            return None
        except orjson.JSONEncodeError:
            pass
    from mova_core.store.validate import entry_problem

    return entry_problem(name, doc)


def _row(name: str, data: bytes, identity: tuple[int, int, int, int], doc: Any = None) -> tuple:
    """The entries row of one file: its name and identity, then its summary columns (`doc`: `data`
    decoded already, when the caller has it)."""
    if doc is None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    entry_id = doc.get("id")
    if not isinstance(entry_id, str) or f"{entry_id}.json" != name:
        raise ValueError(f"id {entry_id!r} does not match the file name")
    try:
        validate_id(entry_id)
    except InvalidId as exc:  # it could not be named in a command, an URL or a lock file
        raise ValueError(str(exc)) from None
    run_id = doc.get("run_id")
    if not isinstance(run_id, str):
        raise ValueError("run_id missing or not a string")
    try:
        created_ts = parse_time(doc.get("created_at")).timestamp()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"created_at: {exc}") from None
    status = doc.get("status", "active")
    if status not in _STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(_STATUSES)}")
    meta, details = _obj(doc.get("metadata")), _obj(doc.get("error_details"))
    # `DeadLetterEntry.workflow_type`: the metadata's, else the intent's name.
    workflow_type = _text(meta.get("workflow_type")) or _text(_obj(_obj(doc.get("envelope")).get("intent")).get("name"))
    if workflow_type is None:
        raise ValueError("neither metadata.workflow_type nor envelope.intent.name is set")
    problem = shape_problem(name, data, doc)
    if problem is not None:
        raise ValueError(problem)
    action_type = _text(_obj(doc.get("failed_action")).get("type"))
    last_error = _text(details.get("last_error")) or ""
    shown_error = last_error[:MAX_ERROR_CHARS]
    lease = _obj(meta.get("lease"))
    lease_expires = None
    if lease.get("expires_at"):
        try:
            lease_expires = parse_time(lease["expires_at"]).timestamp()
        except (ValueError, TypeError):
            lease_expires = 0.0  # an unreadable lease counts as expired
    return (
        name, *identity,
        entry_id, run_id, status, doc["created_at"], created_ts, workflow_type, _text(meta.get("user_id")),
        action_type, shown_error, _text(details.get("failure_reason")),
        _num(details.get("attempts")), _num(meta.get("retry_count")), fingerprint(action_type, last_error),
        _num(meta.get("priority")), _text(lease.get("owner")), lease_expires,
        search_text(entry_id, workflow_type, shown_error, action_type),
    )


def encoded_row(name: str, data: bytes, identity: tuple[int, int, int, int]) -> tuple:
    """What an import stores of one file: its name, its summary columns (`summary_row`) and its JSON
    text as the file store writes it (`encode_pretty`: unknown fields kept); ValueError as `_row`."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    return (name, *_row(name, data, identity, doc)[5:], encode_pretty(doc))


def summary_row(name: str, data: bytes, doc: dict | None = None) -> tuple:
    """The summary columns of an entry's JSON `data` (an index row without name and file identity,
    from `id` to `search_text`); ValueError saying why `data` is not an entry named `name`. `doc`:
    `data` decoded, when the caller has it (a writer that encoded it from that object)."""
    return _row(name, data, (0, 0, 0, 0), doc)[5:]


_STATUSES = tuple(EntryStatus.__members__)

# O_NONBLOCK: opening a FIFO named like an entry must not wait for a writer (and reading a regular
# file is unaffected); O_NOCTTY: a terminal device must not become ours; O_NOFOLLOW: a symlink is
# refused (ELOOP), never read through.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def not_a_file(mode: int) -> str | None:
    """Why a file of this mode cannot hold an entry, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
    return f"is {kind}; entries must be regular files"


def identity(st: os.stat_result, read_ns: int) -> tuple[int, int, int, int]:
    """(inode, mtime, size, ctime) of a file read at `read_ns` or later, as the index compares them.

    A ctime within the racy window before the read is stored as 0, which no later look matches:
    the file could be replaced again within the same clock tick, onto the same inode, with the
    same size and ctime. Such a row is read again by the next refresh that lists the directory
    (which the directory's own racy mtime guarantees).
    """
    ctime = st.st_ctime_ns
    if ctime > read_ns - racy_window(ctime) * 1e9:
        ctime = 0
    return st.st_ino, st.st_mtime_ns, st.st_size, ctime


# What reading a batch of files gives: entries rows, bad rows, and the names of files that are gone.
Batch = tuple[list[tuple], list[tuple], list[str]]
# What a read makes of each file that holds an entry (from its name, bytes and identity): the index's
# row, or an import's (`encoded_row`). Readers are told which by name.
RowMaker = Callable[[str, bytes, tuple[int, int, int, int]], tuple]
JOBS: dict[str, RowMaker] = {"index": _row, "import": encoded_row}


def read_files(directory: str | os.PathLike, names: Sequence[str], job: str = "index") -> Batch:
    """Read and summarize files: a good row for each entry (the index's: name, identity, summary...;
    or another `JOBS` row), a bad row (name, identity, reason) for each file that is not one, and
    the names gone.

    Plain os calls relative to the open directory: a buffered `open()` per file cost almost as much
    as decoding it. Symlinks, directories, FIFOs and devices named like entries are bad rows, read
    never (see OPEN_FLAGS).
    """
    make_row = JOBS[job]
    good: list[tuple] = []
    bad: list[tuple] = []
    gone: list[str] = []
    read_ns = time.time_ns()  # before any file of the batch is looked at: see `identity`
    try:
        dir_fd: int | None = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        dir_fd = None  # each file then fails on its own (gone, most likely), as it would by path
    try:
        for name in names:
            path = name if dir_fd is not None else os.path.join(directory, name)
            try:
                fd = os.open(path, OPEN_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                gone.append(name)
                continue
            except OSError as exc:
                _unopenable(path, dir_fd, name, exc, read_ns, bad, gone)
                continue
            try:
                st = os.fstat(fd)
                reason = not_a_file(st.st_mode)
                if reason is not None:
                    bad.append((name, *identity(st, read_ns), reason))
                    continue
                size = st.st_size
                data = os.read(fd, size + 1)
                if len(data) != size:  # it grew or shrank since fstat: read to the end like open().read()
                    data = _read_rest(fd, data)
            except OSError as exc:
                bad.append((name, 0, 0, 0, 0, f"cannot read: {exc.strerror}"))
                continue
            finally:
                os.close(fd)
            ident = identity(st, read_ns)
            try:
                good.append(make_row(name, data, ident))
            except ValueError as exc:
                bad.append((name, *ident, str(exc)[:300]))
            except RecursionError:
                bad.append((name, *ident, "nested too deeply"))
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    return good, bad, gone


def _unopenable(path: str, dir_fd: int | None, name: str, exc: OSError, read_ns: int,
                bad: list[tuple], gone: list[str]) -> None:
    """The bad row of a file that cannot be opened: a symlink (ELOOP), a socket, no permission."""
    try:
        st = os.lstat(path, dir_fd=dir_fd)
    except FileNotFoundError:
        gone.append(name)
        return
    except OSError:
        bad.append((name, 0, 0, 0, 0, f"cannot read: {exc.strerror}"))
        return
    bad.append((name, *identity(st, read_ns), not_a_file(st.st_mode) or f"cannot read: {exc.strerror}"))


class NotAFile(OSError):
    """A name that may hold an entry is a directory, a FIFO, a device or a socket."""


def read_entry_file(path: str | os.PathLike) -> bytes:
    """The bytes of one entry file, opened as the index opens them (never through a symlink, never
    blocking on a FIFO). OSError as `open` raises it; NotAFile for anything but a regular file."""
    fd = os.open(path, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        reason = not_a_file(st.st_mode)
        if reason is not None:
            raise NotAFile(reason)
        return _read_rest(fd, os.read(fd, st.st_size + 1))
    finally:
        os.close(fd)


def decode_entry_file(path: str | os.PathLike) -> tuple[bytes, Any]:
    """A file's bytes and JSON, read as the index reads it; EntryNotFound or CorruptEntry saying why not."""
    name = os.path.basename(path)
    try:
        data = read_entry_file(path)
    except FileNotFoundError:
        raise EntryNotFound(name.removesuffix(".json")) from None
    except NotAFile as exc:
        raise CorruptEntry(name, str(exc)) from None
    except OSError as exc:
        reason = not_a_file(stat.S_IFLNK) if exc.errno == errno.ELOOP else f"cannot read: {exc.strerror}"
        raise CorruptEntry(name, reason) from None
    try:
        return data, orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptEntry(name, f"not valid JSON ({exc})") from None


def _read_rest(fd: int, data: bytes) -> bytes:
    parts = [data]
    while True:
        more = os.read(fd, 1 << 16)
        if not more:
            return b"".join(parts)
        parts.append(more)


def list_entries(directory: str | os.PathLike) -> tuple[float, int, int, dict[str, int]]:
    """(time the listing began, the directory's inode and mtime after it, {entry name: inode})."""
    started = time.time()
    seen = {}
    with os.scandir(directory) as it:
        for e in it:
            # `mova_core.model.ids.is_entry_name`, inlined as in the index's scan: once per file.
            name = e.name
            if name.endswith(".json") and name[0] != ".":
                seen[name] = e.inode()
    st = os.stat(directory)
    return started, st.st_ino, st.st_mtime_ns, seen


# -- reader processes ---------------------------------------------------------------------------
# Decoding JSON is CPU-bound, so a first build of a big directory reads in several processes. The
# protocol over each reader's stdin/stdout is length-prefixed marshal frames (both ends are this
# module, so marshal is safe and the fastest codec for rows of plain values): first the directory,
# every name to read and the job (`JOBS`), then ranges of those names; each range is answered with
# its Batch. The range _LIST asks for the directory to be listed again instead (see `list_entries`).
_HEADER = struct.Struct("<Q")
_LIST = (-1, -1)
# Ranges handed to a reader at a time; a reader with two in hand never waits for the next one.
CHUNK = 1000
IN_FLIGHT = 2
# Files the calling process reads itself at a time while no reader has an answer ready.
OWN_CHUNK = 200
# Below this many files to read, reader processes cost more than they save.
POOL_THRESHOLD = 4000


def reader_count() -> int:
    """Reader processes for a big read: the CPUs but one (this process reads too and writes the rows)."""
    return max(0, min((os.cpu_count() or 1) - 1, 3))


def _send(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _recv(fd: int) -> bytes | None:
    """One frame, or None at a clean end of input."""
    header = _recv_exact(fd, _HEADER.size, eof_ok=True)
    if header is None:
        return None
    return _recv_exact(fd, _HEADER.unpack(header)[0], eof_ok=False)


def _recv_exact(fd: int, size: int, *, eof_ok: bool) -> bytes | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            if eof_ok and got == 0:
                return None
            raise EOFError("the other end closed the pipe mid-frame")
        got += n
    return bytes(buf)


def worker_main() -> None:
    """A reader process: reads the names it is sent and answers with their rows, until its stdin closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes our pipe
    try:
        frame = _recv(0)
        if frame is not None:
            directory, names, job = marshal.loads(frame)
            while (frame := _recv(0)) is not None:
                start, stop = marshal.loads(frame)
                if (start, stop) == _LIST:
                    _send(1, marshal.dumps(list_entries(directory)))
                else:
                    _send(1, marshal.dumps(read_files(directory, names[start:stop], job)))
    except (EOFError, BrokenPipeError):
        pass  # the parent went away: nothing to answer
    os._exit(0)  # no interpreter teardown: the parent is waiting for nothing from us


def _worker_command() -> list[str] | None:
    import sys

    if not sys.executable or getattr(sys, "frozen", False):  # no interpreter to start: read here
        return None
    # -I -S: no site, no environment, no current directory: a bare interpreter (quick to start) that
    # finds this package and orjson where this process found them, after the standard library.
    paths = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
             os.path.dirname(os.path.dirname(os.path.abspath(orjson.__file__)))]
    code = f"import sys; sys.path += {paths!r}; from mova_core.store.scan import worker_main; worker_main()"
    return [sys.executable, "-I", "-S", "-c", code]


class ReaderPool:
    """Reader processes, started before the names are known so that their start-up overlaps the scan.

    `read` hands out ranges of names and yields each Batch as it arrives; while no reader has one
    ready, the calling process reads a few files itself, so on two CPUs one reader plus the caller
    (who also writes the rows) keep both busy. A reader that dies only loses its ranges to the others.
    """

    def __init__(self, workers: int):
        import subprocess

        self.procs: list[Any] = []
        self._lister: Any = None
        cmd = _worker_command()
        for _ in range(workers if cmd else 0):
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            except OSError:
                break
            self.procs.append(proc)
            try:  # room for a whole answer, so a reader never waits for the caller to drain the pipe
                import fcntl

                fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
            except (ImportError, AttributeError, OSError):
                pass

    def __enter__(self) -> ReaderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def read(self, directory: str | os.PathLike, names: Sequence[str], job: str = "index") -> Iterator[Batch]:
        """Each batch of `read_files(directory, …, job)` over `names`, in whatever order they are done."""
        import select
        from collections import deque

        names = list(names)
        todo = deque((i, min(i + CHUNK, len(names))) for i in range(0, len(names), CHUNK))
        hello = marshal.dumps((os.fspath(directory), names, job))
        readers: dict[int, tuple[Any, deque]] = {}  # stdout fd -> (process, ranges in its hands)
        poller = select.poll()
        for proc in self.procs:
            try:
                _send(proc.stdin.fileno(), hello)
            except OSError:
                continue  # died at start: the others (or we) read its share
            readers[proc.stdout.fileno()] = (proc, deque())
            poller.register(proc.stdout.fileno(), select.POLLIN)

        def hand_out(fd: int) -> None:
            proc, held = readers[fd]
            while len(held) < IN_FLIGHT and todo:
                rng = todo.popleft()
                try:
                    _send(proc.stdin.fileno(), marshal.dumps(rng))
                except OSError:
                    todo.appendleft(rng)
                    return  # its stdout reaches EOF next: dropped there
                held.append(rng)

        for fd in list(readers):
            hand_out(fd)
        while todo or any(held for _, held in readers.values()):
            waiting = any(held for _, held in readers.values())
            # Answers ready? (Wait for one only when there is nothing left to read here.)
            events = poller.poll(0 if todo else None) if waiting else []
            for fd, _event in events:
                proc, held = readers[fd]
                try:
                    frame = _recv(fd)
                except (EOFError, OSError):
                    frame = None
                if frame is None:  # the reader died: its ranges go back to the queue
                    todo.extendleft(reversed(held))
                    held.clear()
                    poller.unregister(fd)
                    del readers[fd]
                    continue
                held.popleft()
                hand_out(fd)
                yield marshal.loads(frame)
            if not events and todo:
                start, stop = todo[0]
                end = min(stop, start + OWN_CHUNK)
                if end == stop:
                    todo.popleft()
                else:
                    todo[0] = (end, stop)
                yield read_files(directory, names[start:end], job)

    def ask_listing(self) -> bool:
        """Ask a reader, idle once `read` is done, to list the directory again (see `listing`)."""
        for proc in self.procs:
            try:
                _send(proc.stdin.fileno(), marshal.dumps(_LIST))
            except OSError:
                continue
            self._lister = proc
            return True
        return False

    def listing(self) -> tuple[float, int, int, dict[str, int]] | None:
        """The answer to `ask_listing` (see `list_entries`), or None if the reader died meanwhile."""
        try:
            frame = _recv(self._lister.stdout.fileno())
        except (EOFError, OSError):
            return None
        return None if frame is None else marshal.loads(frame)

    def close(self, *, kill: bool = False) -> None:
        """End the readers: closing stdin lets them exit; `kill` when they may still be busy."""
        import subprocess

        for proc in self.procs:
            if kill:
                proc.kill()
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.procs = []
