"""Following the queue's changes: a directory with watchfiles, or the changes a shared store announces
(no Textual here: the app turns changes into messages)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from mova_core.model.ids import is_entry_name

#: watchfiles: yield at most this long after the first change (ms) …
DEBOUNCE_MS = 200
#: … or as soon as the directory has been quiet this long (ms).
STEP_MS = 30


def entry_file_filter(_change: object, path: str) -> bool:
    """watchfiles' filter: entry files only (temporaries and bookkeeping are dot-files)."""
    return is_entry_name(os.path.basename(path))


async def entry_changes(
    directory: Path, stop: threading.Event, on_state: Callable[[str], None]
) -> AsyncIterator[list[str] | None]:
    """Yield the names of entry files that changed, or None for "reload everything", until `stop` is set.

    A directory that does not exist yet is waited for; one that goes away is reported with None
    and waited for again. `on_state` hears what the watcher is doing, for the status line.
    """
    from watchfiles import awatch

    while not stop.is_set():
        if not await asyncio.to_thread(directory.is_dir):
            on_state(f"waiting for {directory}")
            await asyncio.sleep(1.0)
            if await asyncio.to_thread(directory.is_dir):
                yield None
            continue
        on_state("watching")
        try:
            async for changes in awatch(directory, watch_filter=entry_file_filter, debounce=DEBOUNCE_MS,
                                        step=STEP_MS, stop_event=stop, rust_timeout=500, recursive=False):
                yield sorted({os.path.basename(path) for _change, path in changes})
        except (FileNotFoundError, OSError, RuntimeError) as exc:
            on_state(f"watcher stopped: {exc}")
        if not stop.is_set():
            yield None
            await asyncio.sleep(0.5)


async def announced_changes(
    feed: Callable[[], Iterator[list[str]] | None], stop: threading.Event, on_state: Callable[[str], None]
) -> AsyncIterator[list[str] | None]:
    """Yield the names a store announces as its changes commit (`DLQService.change_feed`), as
    `entry_changes` does for a directory, until `stop` is set. A lost connection is reported and
    listened for again, with None ("reload everything": changes may have passed meanwhile)."""
    while not stop.is_set():
        batches = feed()
        if batches is None:
            return
        on_state("listening")
        try:
            while not stop.is_set():
                names = await asyncio.to_thread(next, batches, None)
                if names is None:
                    break
                yield names
        except Exception as exc:  # noqa: BLE001  (whatever ends the listener, the dashboard stays up)
            on_state(f"listener stopped: {type(exc).__name__}: {exc}")
        if not stop.is_set():
            yield None
            await asyncio.sleep(1.0)
