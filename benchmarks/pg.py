"""The PostgreSQL store beside the file store, on one generated queue: listing, statistics, writes.

    source .ci/postgres.sh && mova_pg_start
    .venv/bin/python -m benchmarks.pg --size 100000 [--workdir DIR] [--runs 3]

The same N entries (benchmarks.generate) go into a directory and, through COPY, into a fresh
schema; then each `mova` command row is timed as a process on both stores (median of the runs,
after one warm-up), and `PgStore.create` and 8-process claims are timed on the database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psycopg

from benchmarks.generate import generate
from mova_core.store.pg.codec import SUMMARY_COLUMNS, encode_row
from mova_core.store.pg.schema import migrate

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    ("list --status active --limit 50 --format json", ["dlq", "list", "--status", "active", "--limit", "50", "--format", "json"]),
    ("stats --format json", ["dlq", "stats", "--format", "json"]),
    ("show PREFIX --format json", None),
]
_CLAIMER = """
import sys, time
from mova_core.ops.service import DLQService
svc = DLQService()
ids = sys.argv[1:]
sys.stdin.readline()  # start together
t = time.perf_counter()
for entry_id in ids:
    svc.claim(entry_id, "retry_bench", True, owner=svc.actor)
print(time.perf_counter() - t)
"""


def copy_in(url: str, schema: str, directory: Path) -> tuple[int, float]:
    """Every entry file of `directory` into the schema's table through COPY; (count, seconds)."""
    started = time.perf_counter()
    count = 0
    columns = ", ".join((*SUMMARY_COLUMNS, "doc"))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f'COPY "{schema}".entries ({columns}) FROM STDIN') as copy:
            for path in directory.glob("*.json"):
                doc = orjson.loads(path.read_bytes())
                text, row = encode_row(doc["id"], doc)
                copy.write_row((*row, text))
                count += 1
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'VACUUM ANALYZE "{schema}".entries')  # the steady state autovacuum keeps
    return count, time.perf_counter() - started


def time_command(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median seconds of `mova ARGV` as a process, after one warm-up run."""
    times = []
    for n in range(runs + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mova_tui.cli.main", *argv], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if n:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def claims_per_second(env: dict[str, str], ids: list[str], processes: int = 8) -> float:
    """Claims per second of `processes` processes each claiming its own share of `ids` at once."""
    shares = [ids[n::processes] for n in range(processes)]
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIMER, *share], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for share in shares]
    time.sleep(3)  # every process imported and connected
    started = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=600)
    return len(ids) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    url = os.environ["MOVA_TEST_PG_URL"]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mova-pg-bench-"))
    directory = work / "deadletter"
    if not directory.is_dir():
        generate(directory, args.size)
    schema = f"bench_{args.size}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        migrate(conn, schema)
    count, seconds = copy_in(url, schema, directory)
    print(f"COPY of {count} entries: {seconds:.1f} s ({count / seconds:,.0f} entries/s)")
    base = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")} | {"PYTHONPATH": str(ROOT)}
    file_env = base | {"MOVA_DLQ_PATH": str(directory)}
    pg_env = base | {"MOVA_STORE_URL": url, "MOVA_STORE_SCHEMA": schema}
    subprocess.run([sys.executable, "-m", "mova_tui.cli.main", "dlq", "reindex"], env=file_env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # the file store's index, built once
    prefix = next(directory.glob("dlq_*.json")).name[:12]
    print(f"| command at {count:,} entries | file store | PostgreSQL | ratio |")
    print("| --- | --- | --- | --- |")
    for label, argv in ROWS:
        argv = argv or ["dlq", "show", prefix, "--format", "json"]
        f, p = time_command(argv, file_env, args.runs), time_command(argv, pg_env, args.runs)
        print(f"| `mova {label}` | {f * 1000:.0f} ms | {p * 1000:.0f} ms | {p / f:.2f}× |")
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(f'SELECT id FROM "{schema}".entries WHERE status = %s LIMIT 2000',
                                          ("active",))]
    print(f"8 processes claiming {len(ids)} distinct entries: {claims_per_second(pg_env, ids):,.0f} claims/s")
    if args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
