"""Issue 18's benchmark rows in one run: the PostgreSQL store beside the file store.

    source .ci/postgres.sh && mova_pg_start
    nice -n 10 .venv/bin/python -m benchmarks.pg --size 100000 1000000 --workdir DIR --keep

The file store reads a directory of the first size's entries (benchmarks.generate, made once in
DIR); each PostgreSQL size is a schema `bench_<size>` filled by COPY straight from the generator
(no files), kept with --keep for the next run. Every module is compiled to bytecode first, as
installed. Rows: `list` and `stats` as whole `mova` processes, the two stores taking turns (median
of --runs after a warm-up); `GET /metrics` from a running `mova serve` over each store
(median of --requests); `mova dlq import` of the directory into a fresh schema (entries/s); 8
processes running `mova dlq retry --all` over one frozen set of 2,000 entries whose action calls a
loopback server (each entry retried exactly once, read back from the audit table); and the
dashboard's change-to-visible time from its Pilot test (tests/pg/test_dashboard.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from benchmarks.generate import documents, generate
from benchmarks.serve_load import Server
from mova_core.store.pg.codec import COPY_TYPES, SUMMARY_COLUMNS, encode_row
from mova_core.store.pg.schema import migrate

ROOT = Path(__file__).resolve().parent.parent
MOVA = [sys.executable, "-m", "mova_tui.cli.main"]
LIST = ["dlq", "list", "--status", "active", "--limit", "50", "--format", "json"]
STATS = ["dlq", "stats", "--format", "json"]
RETRY_SET, RETRIERS = 2000, 8
#: Entries a schema gets by COPY from the generator; a larger one repeats them in SQL (`_copies`).
COPIED = 100_000


# -- the stores ---------------------------------------------------------------------------------
def fill(url: str, schema: str, size: int, keep: bool) -> float:
    """A schema holding `size` generated entries (kept from an earlier run with `keep`); seconds spent."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        if keep and _count(conn, schema) == size:
            return 0.0
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        migrate(conn, schema)
        base = min(size, COPIED)
        copy_docs(conn, schema, documents(base))
        for n in range(1, -(-size // base)):
            _copies(conn, schema, n, min(base, size - n * base))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(schema, "entries")))
    return time.perf_counter() - started


def _copies(conn: psycopg.Connection, schema: str, n: int, count: int) -> None:
    """`count` of the generated entries again, in SQL: each id (in its column and its document) with `.n`
    appended, so that a large schema is filled in seconds per 100,000 rows."""
    names = (*SUMMARY_COLUMNS, "doc")
    changed = {"id": "id || %(suffix)s",
               "search_text": "replace(search_text, id, id || %(suffix)s)",
               "doc": "replace(doc, '\"' || id || '\"', '\"' || id || %(suffix)s || '\"')"}
    columns = sql.SQL(", ").join(sql.SQL(changed.get(c, c)) for c in names)
    with conn.transaction():
        conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM (SELECT * FROM {} WHERE strpos(id, '.') = 0 "
                             "ORDER BY id LIMIT %(count)s) AS generated").format(
            sql.Identifier(schema, "entries"), sql.SQL(", ").join(map(sql.Identifier, names)), columns,
            sql.Identifier(schema, "entries")), {"suffix": f".{n}", "count": count})


def _count(conn: psycopg.Connection, schema: str) -> int | None:
    if conn.execute("SELECT to_regclass(%s)", (f"{schema}.entries",)).fetchone()[0] is None:
        return None
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "entries"))).fetchone()[0]


def copy_docs(conn: psycopg.Connection, schema: str, docs: Iterator[dict], chunk: int = 50_000) -> None:
    """The documents into the schema's table by binary COPY, a transaction per chunk."""
    names = sql.SQL(", ").join(map(sql.Identifier, (*SUMMARY_COLUMNS, "doc")))
    while batch := list(islice(docs, chunk)):
        with conn.transaction(), conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(schema, "entries"), names)) as copy:
            copy.set_types(list(COPY_TYPES))
            for doc in batch:
                text, row = encode_row(doc["id"], doc)
                copy.write_row((*row, text))


def envs(url: str, directory: Path, home: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The environment of a `mova` process over the file store, and over PostgreSQL (schema unset)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")}
    base |= {"PYTHONPATH": str(ROOT), "HOME": str(home), "NO_COLOR": "1"}
    return base | {"MOVA_DLQ_PATH": str(directory)}, base | {"MOVA_STORE_URL": url, "MOVA_DLQ_PATH": str(home / "unused")}


# -- rows ---------------------------------------------------------------------------------------
def time_commands(argv: list[str], envs: list[dict[str, str]], runs: int) -> list[float]:
    """Median seconds of `mova ARGV` as a process in each environment, the environments taking turns
    (so that a change of load falls on all alike), after one warm-up run of each."""
    times: list[list[float]] = [[] for _ in envs]
    for n in range(runs + 1):
        for env, kept in zip(envs, times):
            started = time.perf_counter()
            subprocess.run([*MOVA, *argv], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if n:
                kept.append(time.perf_counter() - started)
    return [statistics.median(kept) for kept in times]


def compile_bytecode() -> None:
    """Every module a `mova` process imports compiled to bytecode beforehand, as an installed package
    is (pip compiles at install): with PYTHONDONTWRITEBYTECODE set, a run from the source tree would
    otherwise compile its modules again in each process, the PostgreSQL store's more than the file's."""
    import sysconfig

    paths = [ROOT / "mova_core", ROOT / "mova_tui", sysconfig.get_paths()["purelib"]]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *map(str, paths)], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def metrics_time(env: dict[str, str], requests: int, work: Path) -> float:
    """Median seconds of `GET /metrics` from a `mova serve` over the store of `env`."""
    server = Server(MOVA, Path(env["MOVA_DLQ_PATH"]), env, work / "serve.log", "--no-access-log")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.get("/metrics").raise_for_status()  # warm-up
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get("/metrics").raise_for_status()
                times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        server.stop()


def import_rate(url: str, env: dict[str, str], directory: Path, count: int) -> tuple[float, float]:
    """`mova dlq import DIRECTORY` into a fresh schema: (entries per second, seconds)."""
    schema = "bench_import"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        migrate(conn, schema)
    started = time.perf_counter()
    subprocess.run([*MOVA, "dlq", "import", str(directory)], env=env | {"MOVA_STORE_SCHEMA": schema}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        assert _count(conn, schema) == count, "the import did not create every entry"
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return count / seconds, seconds


def retry_race(url: str, env: dict[str, str], work: Path) -> tuple[float, float, int]:
    """8 processes × `mova dlq retry --all --status active` over one set of entries calling a loopback
    server: (retries per second, seconds, entries not retried exactly once)."""
    from tests.core.test_background import SlowServer  # the tests' loopback upstream
    from tests.reliability.support import entry_doc

    schema, server = "bench_retry", SlowServer(delay=0)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            migrate(conn, schema)
            copy_docs(conn, schema, (entry_doc(f"dlq_{uuid.uuid4()}", server.url) for _ in range(RETRY_SET)))
        argv = [*MOVA, "dlq", "retry", "--all", "--status", "active", "--no-sandbox", "-y", "--format", "json"]
        results = [work / f"retry-{n}.json" for n in range(RETRIERS)]
        for path in results:  # a results file left by an earlier run would be refused (resume it, or not)
            path.unlink(missing_ok=True)
        started = time.perf_counter()
        procs = [subprocess.Popen([*argv, "--results", str(path)],
                                  env=env | {"MOVA_STORE_SCHEMA": schema, "MOVA_ACTOR": f"bench-{n}@host"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for n, path in enumerate(results)]
        errors = [err for p in procs for err in [p.communicate(timeout=1800)[1]] if p.returncode]
        seconds = time.perf_counter() - started
        if errors:
            print(f"{len(errors)} of {RETRIERS} retry processes failed; the first said: {errors[0].strip()[-500:]}")
        return RETRY_SET / seconds, seconds, _not_once(url, schema)
    finally:
        server.close()


def _not_once(url: str, schema: str) -> int:
    """Entries not claimed exactly once, resolved, with one attempt in their history."""
    with psycopg.connect(url, autocommit=True) as conn:
        claims = dict(conn.execute(sql.SQL("SELECT entry_id, count(*) FROM {} WHERE op = 'retry_claim' "
                                           "GROUP BY 1").format(sql.Identifier(schema, "audit"))).fetchall())
        rows = conn.execute(sql.SQL("SELECT id, status, jsonb_array_length(doc::jsonb -> 'retry_history') FROM {}")
                            .format(sql.Identifier(schema, "entries"))).fetchall()
    return sum(1 for entry_id, status, tries in rows if (claims.get(entry_id), status, tries) != (1, "resolved", 1))


def dashboard_ms(url: str) -> str:
    """The Pilot test's change-to-visible time (another connection's commit to the row on screen)."""
    test = "tests/pg/test_dashboard.py::test_a_change_by_another_host_reaches_the_dashboard_without_polling"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test], cwd=ROOT,
                          env=os.environ | {"MOVA_TEST_PG_URL": url}, capture_output=True, text=True, check=False)
    found = re.search(r"change to the table: (\d+) ms", done.stdout)
    return f"{found.group(1)} ms" if found else "not measured (the test failed)"


# -- the run ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated schemas and directory for the next run")
    args = parser.parse_args()
    url = os.environ["MOVA_TEST_PG_URL"]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mova-pg-bench-"))
    base_size = args.size[0]
    directory = work / f"deadletter-{base_size}"
    if not directory.is_dir():
        generate(directory, base_size)
    file_env, pg_env = envs(url, directory, work)
    subprocess.run([*MOVA, "dlq", "reindex"], env=file_env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # the file store's index, built once
    compile_bytecode()
    print(f"| row | file store at {base_size:,} | PostgreSQL | ratio to the file store |")
    print("| --- | --- | --- | --- |")
    file_metrics = metrics_time(file_env, args.requests, work)
    for size in args.size:
        schema = f"bench_{size}"
        filled = fill(url, schema, size, args.keep)
        env = pg_env | {"MOVA_STORE_SCHEMA": schema}
        note = f" (filled in {filled:.0f} s)" if filled else ""
        for label, argv in (("list --status active --limit 50 --format json", LIST), ("stats --format json", STATS)):
            ref, t = time_commands(argv, [file_env, env], args.runs)
            print(f"| `mova dlq {label}` at {size:,}{note} | {ref * 1000:.0f} ms | {t * 1000:.0f} ms | {t / ref:.2f}× |")
            note = ""
        t = metrics_time(env, args.requests, work)
        print(f"| `GET /metrics` at {size:,} | {file_metrics * 1000:.0f} ms | {t * 1000:.0f} ms | {t / file_metrics:.2f}× |")
        if not args.keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    rate, seconds = import_rate(url, pg_env, directory, base_size)
    print(f"| `mova dlq import` of {base_size:,} files | | {rate:,.0f} entries/s ({seconds:.1f} s) | |")
    rate, seconds, wrong = retry_race(url, pg_env, work)
    print(f"| {RETRIERS} × `mova dlq retry --all` over {RETRY_SET:,} entries | | {rate:,.0f} retries/s ({seconds:.1f} s), "
          f"{RETRY_SET - wrong:,} retried exactly once, {wrong} not | |")
    print(f"| dashboard: another connection's change to visible | | {dashboard_ms(url)} | |")
    print(f"(load average at the end: {os.getloadavg()[0]:.1f})")
    if args.workdir is None and not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
