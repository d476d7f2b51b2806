"""A refresh of an unchanged directory whose mtime cannot be trusted: what every listing pays while
the directory is being written to (each refresh lists it again and compares every file with the index).

    .venv/bin/python -m benchmarks.refresh DIRECTORY [DIRECTORY ...] [--runs 15]

Each directory is indexed once (into a temporary index), then timed: `refresh()` with the stored
directory stamp marked untrusted before each run, so the listing and the comparison run every time
and nothing is read. Prints the median wall time with its quartiles, and the median CPU time,
in milliseconds (CPU time is the steadier figure on a busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mova_core.store.index import Index


def time_refresh(directory: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of `runs` refreshes that list the unchanged directory."""
    with tempfile.TemporaryDirectory() as tmp:
        index = Index(directory, Path(tmp) / "index.sqlite")
        try:
            index.refresh()
            wall, cpu = [], []
            for _ in range(runs + 1):
                index.db.execute("INSERT OR REPLACE INTO meta VALUES ('dir_safe', '0')")
                started, started_cpu = time.perf_counter(), time.process_time()
                index.refresh()
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
            return wall[1:], cpu[1:]  # the first run warms the page cache of the index
        finally:
            index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directories", type=Path, nargs="+")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for directory in args.directories:
        wall, cpu = time_refresh(directory, args.runs)
        q1, median, q3 = statistics.quantiles(wall, n=4)
        files = sum(1 for p in directory.iterdir() if p.name.endswith(".json"))
        print(f"{directory}: {files:,} files, no-change refresh {median:.1f} ms wall (quartiles {q1:.1f}-{q3:.1f}), "
              f"{statistics.median(cpu):.1f} ms CPU, {args.runs} runs")


if __name__ == "__main__":
    main()
