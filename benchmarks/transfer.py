"""Moving a queue: `mova dlq import DIR` and `mova dlq export --to-dir DIR`, entries/s of whole processes.

    python -m benchmarks.transfer [--count 2000] [--runs 3] [--workdir DIR]

Each run generates `count` entries (`benchmarks/generate.py`) once, then times, in fresh
directories: the first import into an empty queue, the same import again (every entry already
present: reading and comparing only), and an export of the queue to an empty directory. Prints a
table and one JSON line (entries/s of every run, the machine's load average).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.bench import child_env, compile_bytecode, mova_command
from benchmarks.generate import generate
from benchmarks.timing import time_subprocess


def measure(workdir: Path, count: int, runs: int) -> dict[str, list[float]]:
    """Entries/s of each step, one figure per run."""
    source = workdir / "source"
    if not source.is_dir():
        generate(source, count)
    queue, out = workdir / "queue", workdir / "out"
    mova, env = mova_command(), child_env()
    rates: dict[str, list[float]] = {"import": [], "import again": [], "export --to-dir": []}
    for _ in range(runs):
        for path in (queue, out):
            shutil.rmtree(path, ignore_errors=True)
        steps = (("import", ["dlq", "import", str(source)]), ("import again", ["dlq", "import", str(source)]),
                 ("export --to-dir", ["dlq", "export", "--to-dir", str(out)]))
        for name, args in steps:
            timing = time_subprocess([*mova, "--dlq-path", str(queue), *args], 1, warmup=0, env=env)
            rates[name].append(count / timing.wall[0])
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    compile_bytecode()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mova-transfer-") as tmp:
        rates = measure(args.workdir or Path(tmp), args.count, args.runs)
    for name, values in rates.items():
        shown = " / ".join(f"{v:,.0f}" for v in values)
        print(f"{name:<16} {args.count:>7,} entries  median {statistics.median(values):>7,.0f} entries/s  ({shown})")
    print(json.dumps({"count": args.count, "rates": rates, "loadavg": [load_start, os.getloadavg()[0]]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
