"""The dashboard on a big directory, headless at 120x40, in a process of its own (for its peak RSS).

    python -m benchmarks.dashboard DIR [--t0 T] [--presses 20] [--new-files 5]

Prints one JSON line: first rows (from `--t0`, the parent's `time.monotonic()` just before it started
this process, so interpreter start and imports count as they do for `mova tui`), key press to repaint
for down / page down / end / a filter change, a new file written into the directory to its row on
screen (the app's real watchfiles watcher), and `ru_maxrss` at the end.

"Repaint" is: the key event is posted, the rows the new view needs are in the table, and the screen
has refreshed once after that (`wait_for_refresh`). The app is built the way `mova tui` builds it
(`make_app(settings=...)`, watching on); the CLI module is imported first, as the command would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

#: Text that matches one entry in 50 in a generated directory (see generate.py: "(shard N)").
SEARCH = "(shard 7)"
WAIT_LIMIT = 10.0


class Timeout(RuntimeError):
    pass


async def until(ready, limit: float = WAIT_LIMIT, step: float = 0.0005) -> None:
    """Poll `ready()` with short pauses; Timeout after `limit` seconds."""
    deadline = time.perf_counter() + limit
    while not ready():
        if time.perf_counter() > deadline:
            raise Timeout(f"not ready after {limit:g}s")
        await asyncio.sleep(step)


def write_entry(directory: Path, template: bytes, created_ts: float) -> str:
    """Write a new active entry the way another engine would (temp dot-file, then rename)."""
    doc = json.loads(template)
    entry_id = f"dlq_{uuid.uuid4()}"
    doc["id"] = entry_id
    doc["status"] = "active"
    doc["created_at"] = datetime.fromtimestamp(created_ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc.get("metadata", {}).pop("lease", None)
    tmp = directory / f".{entry_id}.json.tmp"
    tmp.write_bytes(json.dumps(doc, indent=2).encode())
    os.replace(tmp, directory / f"{entry_id}.json")
    return entry_id


async def drive(directory: Path, t0: float, presses: int, new_files: int) -> dict:
    from textual import events
    from textual.widgets import Input

    import mova_tui.cli.main  # noqa: F401  - `mova tui` has imported the CLI by the time the app starts
    from mova_core.settings import Settings
    from mova_tui.app import make_app
    from mova_tui.app.widgets.entry_table import EntryTable

    app = make_app(settings=Settings(dlq_path=directory), watch=True)
    out: dict = {"errors": []}
    written: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        def table_or_none():
            try:
                return app.screen.query_one(EntryTable)
            except Exception:
                return None

        await until(lambda: table_or_none() is not None and table_or_none().rows, limit=120, step=0.002)
        table = table_or_none()
        await table.wait_for_refresh()
        out["first_rows_s"] = time.monotonic() - t0
        screen = app.screen

        async def settle(rounds: int = 3) -> None:
            for _ in range(rounds):
                busy = [w for w in app.workers if w.group != "watch" and not w.is_finished]
                if busy:
                    await app.workers.wait_for_complete(busy)
                await pilot.pause()

        await settle()
        full_total = table.total
        out["total_rows"] = full_total

        def loaded() -> bool:
            return table.total > 0 and table.current is not None

        async def timed(key: str, ready) -> float:
            """Post the key, wait for the rows of the new view, then for one screen refresh (ms)."""
            start = time.perf_counter()
            app.post_message(events.Key(key, None))
            await until(ready)
            await table.wait_for_refresh()
            return (time.perf_counter() - start) * 1000

        async def move(key: str, expect) -> float:
            want = expect()
            return await timed(key, lambda: table.cursor == want and loaded())

        async def keys_down() -> None:
            out["down_ms"] = [await move("down", lambda: min(table.cursor + 1, table.total - 1))
                              for _ in range(presses)]

        async def keys_pagedown() -> None:
            out["pagedown_ms"] = [await move("pagedown", lambda: min(table.cursor + table.page_rows, table.total - 1))
                                  for _ in range(presses)]

        async def keys_end() -> None:
            out["end_ms"] = []
            for _ in range(max(1, presses // 4)):
                out["end_ms"].append(await move("end", lambda: table.total - 1))
                await settle(1)
                await move("home", lambda: 0)
                await settle(1)

        async def filter_change() -> None:
            """A search submitted with Enter (no typing delay), then `c` clearing it: two filter changes."""
            search = screen.query_one("#search", Input)
            out["search_ms"], out["clear_ms"] = [], []
            for _ in range(max(1, presses // 4)):
                with search.prevent(Input.Changed):
                    search.value = SEARCH
                search.focus()
                await settle(1)
                before = screen.queue.generation
                out["search_ms"].append(await timed(
                    "enter",
                    lambda: screen.queue.generation > before and loaded() and 0 < table.total < full_total
                    and all(SEARCH in r.last_error for r in table.rows[:10]),
                ))
                await settle(1)
                if app.focused is not table:
                    table.focus()
                    await settle(1)
                before = screen.queue.generation
                out["clear_ms"].append(await timed(
                    "c", lambda: screen.queue.generation > before and loaded() and table.total == full_total))
                await settle(1)

        async def new_file() -> None:
            """A file written from outside to its row on screen, through the app's own watcher."""
            await until(lambda: app.watch_state == "watching", limit=10, step=0.01)
            await move("home", lambda: 0)
            await settle()
            with os.scandir(directory) as it:
                template = Path(next(e.path for e in it if e.name.endswith(".json") and not e.name.startswith(".")))
            template_bytes = template.read_bytes()
            out["new_file_ms"] = []
            for _ in range(new_files):
                await asyncio.sleep(0.3)  # a quiet directory, so each file is a change of its own
                top = int(table.scroll_y)
                a, b = table.item_at(top + 3), table.item_at(top + 4)
                if a is None or b is None:
                    raise Timeout("fewer than 5 rows on screen")
                # Between the 4th and 5th rows on screen (newest first): it lands in view, the cursor stays.
                start = time.perf_counter()
                entry_id = write_entry(directory, template_bytes, (a.created_ts + b.created_ts) / 2)
                written.append(entry_id)

                def on_screen(entry_id=entry_id) -> bool:
                    first = int(table.scroll_y)
                    return any((item := table.item_at(i)) is not None and item.id == entry_id
                               for i in range(first, first + table.page_rows))

                await until(on_screen, limit=5, step=0.002)
                await table.wait_for_refresh()
                out["new_file_ms"].append((time.perf_counter() - start) * 1000)
                await settle(1)

        for section in (keys_down, keys_pagedown, keys_end, filter_change, new_file):
            try:
                await section()
            except Timeout as exc:
                out["errors"].append(f"{section.__name__}: {exc}")
                await settle()
        out["rows_held"] = len(table.rows)
    for entry_id in written:
        try:
            (directory / f"{entry_id}.json").unlink()
        except FileNotFoundError:
            pass
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--t0", type=float, default=None)
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--new-files", type=int, default=5)
    args = parser.parse_args(argv)
    t0 = args.t0 if args.t0 is not None else time.monotonic()
    result = asyncio.run(drive(args.directory, t0, args.presses, args.new_files))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
