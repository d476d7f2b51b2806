"""The file-system calls the engine makes per dead-lettered run, with no Python work around them.

    python -m benchmarks.engine_floor WORKDIR [--count 200] [--runs 4]

How close `benchmarks/engine_rate.py`'s `engine` row could get to `raw` if the engine's own work
(validation, redaction, encoding) cost nothing. Each way writes `count` times into a fresh
directory, interleaved in a rotating order after a `sync`, like engine_rate:

- floor: what `Engine.run` does to the disk for one failed run: the run record (temporary file,
  rename), the run log (created, seven lines), the entry (temporary file, write, fsync, hard link,
  temporary name removed, directory fsync), one more log line, the final run record (temporary
  file, rename over the first, which frees it);
- floor_no_record: the entry alone, as an engine without a run-record sink writes it;
- raw: engine_rate's reference (temporary file, write, fsync, rename, directory fsync).

Sizes are those of the benchmark workflow's files. Prints one JSON line with files/s per run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ENTRY = b"e" * 4516
RECORD = b"r" * 1650
LINE = b"l" * 160
CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entry(dlq: str, n: int, *, link: bool) -> None:
    tmp = f"{dlq}/.dlq_{n:08d}.json.tmp"
    fd = os.open(tmp, CREATE, 0o644)
    try:
        os.write(fd, ENTRY)
        os.fsync(fd)
    finally:
        os.close(fd)
    if link:
        os.link(tmp, f"{dlq}/dlq_{n:08d}.json")
        os.unlink(tmp)
    else:
        os.rename(tmp, f"{dlq}/dlq_{n:08d}.json")
    _fsync_dir(dlq)


def _record(runs: str, n: int, version: int) -> None:
    tmp = f"{runs}/.run_{n:08d}.json.{version}.tmp"
    fd = os.open(tmp, CREATE, 0o644)
    try:
        os.write(fd, RECORD)
    finally:
        os.close(fd)
    os.replace(tmp, f"{runs}/run_{n:08d}.json")


def floor(dlq: str, runs: str, n: int) -> None:
    _record(runs, n, 1)
    log = os.open(f"{runs}/run_{n:08d}.log.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for _ in range(7):
            os.write(log, LINE)
        _entry(dlq, n, link=True)
        os.write(log, LINE)
        _record(runs, n, 2)
    finally:
        os.close(log)


def floor_no_record(dlq: str, runs: str, n: int) -> None:
    _entry(dlq, n, link=True)


def raw(dlq: str, runs: str, n: int) -> None:
    _entry(dlq, n, link=False)


def measure(workdir: Path, count: int, runs: int) -> dict:
    ways = {"floor": floor, "floor_no_record": floor_no_record, "raw": raw}
    out: dict = {name: [] for name in ways} | {"count": count}
    names = list(ways)
    for run in range(runs):
        for name in names[run % len(names):] + names[: run % len(names)]:
            dlq, records = workdir / f"{name}-{run}" / "deadletter", workdir / f"{name}-{run}" / "runs"
            dlq.mkdir(parents=True)
            records.mkdir()
            os.sync()
            start = time.perf_counter()
            for n in range(count):
                ways[name](str(dlq), str(records), n)
            out[name].append(count / (time.perf_counter() - start))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.workdir, args.count, args.runs)) + "\n")


if __name__ == "__main__":
    main()
