"""Dead-lettering rate of the engine in one process, against the machine's raw durable-write rate.

    python -m benchmarks.engine_rate WORKDIR [--count 200] [--runs 3]

Each run, interleaved (in a rotating order, after a `sync`) so that the disk's mood affects all alike, writes `count` files four ways,
each into a fresh directory:

- engine: `Engine.run(envelope)` of a workflow whose only action fails for good without network
  (`parse_json` of a path that is not there, max_attempts 1), exactly as `mova run` does it
  (run record and log included), so each run dead-letters one entry;
- engine, no run record: the same with no run-record sink (only the dead-letter write), to show
  where the time goes;
- atomic_write: `mova_core.store.fsio.atomic_write` of the bytes of one entry the engine wrote;
- raw: the same bytes with plain os calls: temp file, write, fsync, rename, directory fsync.

Prints one JSON line with files/s per run for each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ENVELOPE = {
    "intent": {
        "name": "bench-extract",
        "version": "1.0",
        "description": "Extract an id from an upstream reply (the reply has no such field, so it fails for good)",
        "tags": ["bench", "data"],
        "retry": {"max_attempts": 1, "backoff": "fixed", "delay": 0},
    },
    "variables": {"api_url": "http://127.0.0.1:9/data", "batch": 42},
    "payload": {"customer_id": "cust-0001", "items": [{"sku": f"sku-{n}", "qty": n} for n in range(20)]},
    "actions": [
        {"id": "note", "type": "print", "params": {"message": "extracting batch {{variables.batch}}"}},
        {
            "id": "extract",
            "type": "parse_json",
            "params": {"source": '{"data": {"items": []}}', "path": "data.result.id", "variable": "result_id"},
            "retry": {"max_attempts": 1},
        },
    ],
}


def _settings(root: Path):
    from mova_core.settings import Settings

    return Settings(
        dlq_path=root / "deadletter",
        runs_path=root / "runs",
        sandbox_path=root / "sandbox",
        audit_path=root / "audit.jsonl",
    )


def engine_rate(root: Path, count: int, record: bool) -> tuple[float, Path]:
    from mova_core.engine.engine import Engine
    from mova_core.store.files import FileStore
    from mova_core.store.runs import RunStore

    settings = _settings(root)
    # Wired as `mova run` wires it (DLQService.run_workflow): entries to the file store, records to the run store.
    engine = Engine(settings, sleep=lambda _s: None, dead_letters=FileStore(settings.dlq_path),
                    run_records=RunStore if record else None)
    engine.run(ENVELOPE)  # warm-up: imports, directories, first dead letter
    start = time.perf_counter()
    for _ in range(count):
        outcome = engine.run(ENVELOPE)
        if outcome.dead_letter is None:
            raise RuntimeError(f"the benchmark workflow did not dead-letter: {outcome.status} {outcome.error}")
    return count / (time.perf_counter() - start), settings.dlq_path


def atomic_write_rate(directory: Path, data: bytes, count: int) -> float:
    from mova_core.store.fsio import atomic_write

    directory.mkdir(parents=True)
    start = time.perf_counter()
    for n in range(count):
        atomic_write(directory / f"dlq_{n:08d}.json", data)
    return count / (time.perf_counter() - start)


def raw_rate(directory: Path, data: bytes, count: int) -> float:
    directory.mkdir(parents=True)
    dirpath = str(directory)
    start = time.perf_counter()
    for n in range(count):
        path = f"{dirpath}/dlq_{n:08d}.json"
        tmp = f"{dirpath}/.dlq_{n:08d}.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        dfd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return count / (time.perf_counter() - start)


def measure(workdir: Path, count: int, runs: int) -> dict:
    out: dict = {"engine": [], "engine_no_record": [], "atomic_write": [], "raw": [], "count": count}
    # The bytes of one entry the engine writes, for the two plain loops.
    _, dlq = engine_rate(workdir / "sample", 1, record=False)
    data = next(p for p in sorted(dlq.iterdir()) if p.name.endswith(".json")).read_bytes()
    out["entry_bytes"] = len(data)
    ways = {
        "engine": lambda d: engine_rate(d, count, record=True)[0],
        "engine_no_record": lambda d: engine_rate(d, count, record=False)[0],
        "atomic_write": lambda d: atomic_write_rate(d, data, count),
        "raw": lambda d: raw_rate(d, data, count),
    }
    names = list(ways)
    for run in range(runs):
        # A different order each run, each from a clean page cache / journal: no way always goes first.
        for name in names[run % len(names):] + names[: run % len(names)]:
            os.sync()
            out[name].append(ways[name](workdir / f"{name}-{run}"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.workdir, args.count, args.runs)) + "\n")


if __name__ == "__main__":
    main()
