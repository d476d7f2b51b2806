"""Dashboard timings at scale (not collected by pytest): first rows, key press to repaint, memory.

    .venv/bin/python -m tests.tui.bench_dashboard [N | DIR]   # default: 100,000 generated entries

Fills a temporary directory with N entries (copies of the sample entries with new ids and times),
builds the index once (as `mova dlq list` would), then drives the real app headless.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mova_core.service import DLQService
from mova_core.settings import Settings

from ..support import SAMPLE_DLQ


def fill(directory: Path, n: int) -> None:
    """Write n entry files quickly (no fsync: this is test data)."""
    templates = [json.loads(p.read_text()) for p in sorted(SAMPLE_DLQ.glob("*.json"))]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(n):
        doc = dict(templates[i % len(templates)])
        doc["id"] = f"dlq_{uuid.UUID(int=i + 1)}"
        doc["created_at"] = (start + timedelta(seconds=i * 60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (directory / f"{doc['id']}.json").write_text(json.dumps(doc))


async def drive(directory: Path) -> dict[str, float]:
    from textual import events

    from mova_tui.app import make_app
    from mova_tui.app.widgets.entry_table import EntryTable

    from .conftest import settle

    t0 = time.perf_counter()
    app = make_app(settings=Settings(dlq_path=directory), watch=False)
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(EntryTable)
        while not table.rows:
            await pilot.pause(0.005)
        out["first_rows_s"] = time.perf_counter() - t0
        await settle(pilot)

        screen = app.screen

        async def timed(key: str, ready) -> float:
            """Key event posted → the rows for the new view are in the table (then one frame paints them)."""
            event = events.Key(key, key if len(key) == 1 else ("\r" if key == "enter" else None))
            event.set_sender(app)
            start = time.perf_counter()
            app._driver.send_message(event)  # as the terminal driver would
            while not ready():
                await asyncio.sleep(0.0005)
                if time.perf_counter() - start > 20:
                    raise TimeoutError(f"{key}: view never became ready")
            return (time.perf_counter() - start) * 1000

        def loaded() -> bool:
            return table.total > 0 and table.current is not None

        async def move(key: str, expect) -> float:
            target = expect()
            return await timed(key, lambda: table.cursor == target and loaded())

        out["down_ms"] = statistics.median([await move("down", lambda: table.cursor + 1) for _ in range(30)])
        out["pagedown_ms"] = statistics.median(
            [await move("pagedown", lambda: table.cursor + table.page_rows) for _ in range(30)])
        out["end_ms"] = await move("end", lambda: table.total - 1)
        out["pageup_at_end_ms"] = await move("pageup", lambda: table.cursor - table.page_rows)
        out["home_ms"] = await move("home", lambda: 0)
        sorts = []
        for _ in range(4):
            before = screen.generation
            sorts.append(await timed("s", lambda: screen.generation > before
                                     and loaded() and table.sort == screen.filters.sort))
            await settle(pilot)
        out["sort_ms"] = statistics.median(sorts)
        await pilot.press("c")
        await settle(pilot)
        search = screen.query_one("#search")
        search.value = "HTTP 5"
        search.focus()
        before = screen.generation
        out["search_ms"] = await timed("enter", lambda: screen.generation > before and loaded()
                                       and all("HTTP 5" in r.last_error for r in table.rows[:5]))
        await settle(pilot)
        out["search_rows"] = table.total
        before = screen.generation
        table.focus()
        out["clear_ms"] = await timed("c", lambda: screen.generation > before and loaded() and table.total > out["search_rows"])
        out["total_rows"] = table.total
        out["rows_held"] = len(table.rows)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else "100000"
    if not arg.isdigit():  # an existing directory: measure it as it is
        result = asyncio.run(drive(Path(arg)))
        _print(result)
        return
    n = int(arg)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "deadletter"
        directory.mkdir()
        t = time.perf_counter()
        fill(directory, n)
        print(f"wrote {n:,} files in {time.perf_counter() - t:.1f}s", flush=True)
        t = time.perf_counter()
        DLQService(Settings(dlq_path=directory)).refresh()
        print(f"first index build {time.perf_counter() - t:.1f}s", flush=True)
        os.sync()
        result = asyncio.run(drive(directory))
    _print(result)


def _print(result: dict) -> None:
    for key, value in result.items():
        print(f"{key:>14}: {value:,.1f}" if isinstance(value, float) else f"{key:>14}: {value:,}")


if __name__ == "__main__":
    main()
