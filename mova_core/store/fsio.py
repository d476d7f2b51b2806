"""The one atomic writer: a temporary dot-file beside the target, fsynced, renamed over it, the
directory fsynced. A crash leaves the old file or the new one, never a torn one.

Entries, run records and exports are all written through here. The temporary name is a dot-file
ending in `.tmp`, so no listing of entries (`*.json`, not hidden) ever sees one, even if a kill
leaves it behind (the file store removes those a kill left in its directory: `store.intents`).
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import orjson

from mova_core.model.errors import StoreError


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` so that a crash leaves the old or the new file, never a torn one.

    `durable=False` skips both fsyncs, for derived records whose loss after a power cut costs
    nothing (readers see the old or the new file, or, after a power cut, possibly none).
    """
    publish(write_temp(path, data, durable=durable), path, durable=durable)


def new_token() -> str:
    """A fresh token naming one write: its temporary file, and its audit record (`"change"`)."""
    return secrets.token_hex(6)


def temp_path(path: Path, token: str | None = None) -> Path:
    """The temporary name beside `path` for the write `token` (a fresh one if None): a dot-file,
    `.<name>.<token>.tmp`, never matching `*.json`."""
    return path.parent / f".{path.name}.{token or new_token()}.tmp"


def write_temp(path: Path, data: bytes, *, durable: bool = True, token: str | None = None) -> Path:
    """The first half of `atomic_write`: `data` in a fsynced temporary dot-file beside `path`."""
    tmp = temp_path(path, token)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        discard(tmp)
        raise StoreError(write_error(exc, path)) from exc
    return tmp


def publish(tmp: Path, path: Path, *, durable: bool = True) -> None:
    """The second half of `atomic_write`: rename the temporary file over `path`, durably."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        discard(tmp)
        raise StoreError(write_error(exc, path)) from exc
    if durable:
        fsync_dir(path.parent)


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A text file (UTF-8, newlines as written) that replaces `path` durably when the block ends.

    For output too large to hold in memory (an export). If the block raises, the temporary file
    is removed and `path` is left as it was. StoreError when the file cannot be written.
    """
    tmp = temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise StoreError(write_error(exc, path)) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        discard(tmp)
        raise StoreError(write_error(exc, path)) from exc
    except BaseException:
        discard(tmp)
        raise
    publish(tmp, path)


def discard(tmp: Path) -> None:
    """Remove a temporary file, quietly (it is a dot-file: never listed even if it stays)."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ends_with_newline(path: Path) -> bool:
    """Whether a non-empty file's last byte is a newline (a line-per-record file not torn at its end)."""
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def os_error_reason(exc: OSError) -> str:
    """Why a write failed, in words (disk full, permission denied, ...)."""
    return {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
    }.get(exc.errno, exc.strerror or str(exc))


def write_error(exc: OSError, path: Path) -> str:
    """The sentence for a failed write of `path`, which was left as it was."""
    return f"could not write {path}: {os_error_reason(exc)}; the previous version is intact"


def encode_pretty(data: Any) -> bytes:
    """JSON indented by two spaces, UTF-8, as `json.dumps(data, indent=2, ensure_ascii=False)` writes it.

    orjson, and the json module for what orjson refuses (integers beyond 64 bits from a foreign
    writer, non-string keys, more than 255 levels).
    """
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)
    except TypeError:
        import json

        return json.dumps(data, indent=2, ensure_ascii=False).encode()
