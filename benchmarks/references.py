"""Reference figures, each measured in its own process and printed as one JSON line on stdout.

    python -m benchmarks.references parse DIR --runs N      # read + orjson-decode every file, in-process
    python -m benchmarks.references textual --t0 T          # process start -> first frame, empty DataTable
    python -m benchmarks.references watch DIR --runs N      # write a file -> watchfiles yields it

`--t0` is a `time.monotonic()` reading taken by the parent just before it started this process
(CLOCK_MONOTONIC is system-wide on Linux), so the figure includes interpreter start and imports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time


def parse_every_file(directory: str, runs: int) -> dict:
    """Read and decode every `*.json` entry once per run (one untimed pass first warms the page cache)."""
    import orjson

    def one_pass() -> tuple[float, int]:
        start = time.perf_counter()
        count = 0
        with os.scandir(directory) as it:
            names = [e.name for e in it if e.name.endswith(".json") and not e.name.startswith(".")]
        for name in names:
            with open(os.path.join(directory, name), "rb") as fh:
                orjson.loads(fh.read())
            count += 1
        return time.perf_counter() - start, count

    one_pass()
    times, count = [], 0
    for _ in range(runs):
        seconds, count = one_pass()
        times.append(seconds)
    return {"seconds": times, "files": count}


def textual_first_frame(t0: float) -> dict:
    """A Textual app with an empty DataTable, headless at 120x40: start -> its first refresh."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header

    class Empty(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield DataTable(id="table")
            yield Footer()

        def on_mount(self) -> None:
            self.query_one(DataTable).add_columns("ID", "TYPE", "STATUS", "ATT", "RTY", "LAST ERROR", "AGE")

    async def main() -> float:
        app = Empty()
        async with app.run_test(size=(120, 40)):
            table = app.query_one(DataTable)
            await table.wait_for_refresh()
            return time.monotonic() - t0

    return {"seconds": asyncio.run(main())}


def watch_latency(directory: str, runs: int, debounce_ms: int = 50, step_ms: int = 10) -> dict:
    """watchfiles with a short debounce: time from writing a new file to the change being yielded."""
    from watchfiles import awatch

    async def main() -> list[float]:
        stop = asyncio.Event()
        seen: asyncio.Queue[float] = asyncio.Queue()

        async def consume() -> None:
            async for _changes in awatch(directory, debounce=debounce_ms, step=step_ms, stop_event=stop,
                                         recursive=False, rust_timeout=200):
                seen.put_nowait(time.perf_counter())

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)  # let the watcher start
        out = []
        for n in range(runs):
            path = os.path.join(directory, f"ref-{n}.json")
            start = time.perf_counter()
            with open(path, "wb") as fh:
                fh.write(b"{}")
            done = await asyncio.wait_for(seen.get(), timeout=5)
            out.append(done - start)
            await asyncio.sleep(0.1)
            while not seen.empty():
                seen.get_nowait()
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return out

    return {"seconds": asyncio.run(main()), "debounce_ms": debounce_ms, "step_ms": step_ms}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["parse", "textual", "watch"])
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--t0", type=float, default=None)
    args = parser.parse_args(argv)
    if args.what == "parse":
        result = parse_every_file(args.directory, args.runs)
    elif args.what == "textual":
        result = textual_first_frame(args.t0 if args.t0 is not None else time.monotonic())
    else:
        result = watch_latency(args.directory, args.runs)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
