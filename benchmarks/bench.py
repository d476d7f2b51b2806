"""Issue 7's benchmark: every row of its target table, with the reference figures measured in the same run.

    .venv/bin/python -m benchmarks.bench [--sizes 1000,10000,100000] [--runs 5] [--workdir DIR]
                                         [--skip-dashboard] [--json FILE] [--no-hyperfine]

Generates directories of each size (reused within the run; kept and reused across runs when
`--workdir` is given), times whole `mova` processes with hyperfine when it is installed (else with
subprocesses timed here), times the dashboard and the engine in processes of their own, and prints a
plain-text table: row | size | median | target | reference | ratio | ok. The ratio is median ÷
reference. Targets are the issue's, stated at 100,000 entries, so rows at other sizes show theirs for
scale ("-" in the ok column); the engine and start-up rows do not depend on the size and are always
judged. The exit code is 0 whatever the figures; non-zero only when the benchmark itself breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

from . import serve_load
from .generate import generate
from .timing import BenchmarkError, Timer, time_subprocess

ROOT = Path(__file__).resolve().parent.parent
JUDGED_SIZE = 100_000
QUIET_SECONDS = 2.1  # the index rescans a directory modified less than 2 s before its last scan
GENERATOR_VERSION = 1


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class Target:
    """`max`: median <= value (in the row's unit); `max_ratio` / `min_ratio`: median ÷ reference."""

    kind: str
    value: float

    def describe(self, unit: str) -> str:
        if self.kind == "max":
            return f"<= {fmt(self.value, unit)}"
        sign = "<=" if self.kind == "max_ratio" else ">="
        return f"{sign} {self.value:g}x ref"


@dataclass
class Row:
    label: str
    size: int | None
    unit: str  # ms | MB | files/s | x
    values: list[float] = field(default_factory=list)
    target: Target | None = None
    reference: float | None = None
    reference_label: str = ""
    judged: bool = True
    note: str = ""
    error: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def ratio(self) -> float | None:
        if self.median is None or not self.reference:
            return None
        return self.median / self.reference

    @property
    def miss(self) -> float | None:
        """How far past the target (>1 fails): median ÷ limit, or limit ÷ ratio for a minimum."""
        t, m = self.target, self.median
        if t is None or m is None:
            return None
        if t.kind == "max":
            return (0.0 if m <= 0 else float("inf")) if t.value == 0 else m / t.value
        if self.ratio is None:
            return None
        if t.kind == "max_ratio":
            return self.ratio / t.value
        return t.value / self.ratio if self.ratio > 0 else float("inf")

    def verdict(self) -> str:
        if self.error and not self.values:
            return "ERROR"
        if self.target is None or not self.judged:
            return "-"
        miss = self.miss
        if miss is None:
            return "?"
        return "ok" if miss <= 1.0 else f"FAIL x{miss:.2f}"

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(median=self.median, ratio=self.ratio, miss=self.miss, ok=self.verdict(),
                    target=None if self.target is None else {**asdict(self.target),
                                                             "text": self.target.describe(self.unit)})
        return data


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit in ("files/s", "req/s"):
        return f"{value:,.0f}/s"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g} {unit}"


def render_table(rows: list[Row]) -> str:
    header = ["row", "size", "median", "target", "reference", "ratio", "ok"]
    lines = []
    for r in rows:
        ref = "-" if r.reference is None else f"{fmt(r.reference, r.unit)} {r.reference_label}".strip()
        lines.append([
            r.label,
            "-" if r.size is None else f"{r.size:,}",
            fmt(r.median, r.unit),
            "-" if r.target is None else r.target.describe(r.unit),
            ref,
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.verdict(),
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    right = {1, 2, 5}

    def join(cells: list[str]) -> str:
        return " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [join(header), "-+-".join("-" * w for w in widths)]
    out += [join(line) for line in lines]
    return "\n".join(out)


# --- the machine ---------------------------------------------------------------------------------


def machine() -> dict:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    commit = ""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    versions = {}
    for name in ("textual", "typer", "rich", "pydantic", "orjson", "watchfiles"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = "?"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory": mem,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "versions": versions,
        "loadavg_start": os.getloadavg()[0],
    }


# --- helpers -------------------------------------------------------------------------------------


def mova_command() -> list[str]:
    script = Path(sys.executable).with_name("mova")
    if script.exists():
        return [str(script)]
    found = shutil.which("mova")
    if found:
        return [found]
    return [sys.executable, "-c", "from mova_tui.cli.main import run; run()"]


def child_env() -> dict[str, str]:
    """The caller's environment without MOVA_* (so no setting of theirs changes what is measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")}
    env.setdefault("TERM", "xterm-256color")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def compile_bytecode() -> None:
    """Write the project's .pyc files first, as installing a package does.

    A checkout imports mova from its sources; where PYTHONDONTWRITEBYTECODE is set (as on the
    development VM) no .pyc is ever written, and every timed process would compile ~40 modules
    (~20-40 ms) that an installed mova never compiles.
    """
    import compileall

    for package in ("mova_core", "mova_tui", "benchmarks"):
        if not compileall.compile_dir(ROOT / package, quiet=1):
            raise BenchmarkError(f"could not compile {package}")


def run_json(cmd: list[str], *, timeout: float = 900) -> dict:
    """Run a child that prints one JSON line last on stdout."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BenchmarkError(f"{' '.join(cmd[1:4])} exited {proc.returncode}:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wait_quiet(directory: Path) -> None:
    """Sleep until the directory was last modified QUIET_SECONDS ago (a warm index is then trusted)."""
    delay = directory.stat().st_mtime + QUIET_SECONDS - time.time()
    if delay > 0:
        time.sleep(delay)


def entry_names(directory: Path) -> list[str]:
    with os.scandir(directory) as it:
        return [e.name for e in it if e.name.endswith(".json") and not e.name.startswith(".")]


def ensure_generated(workdir: Path, size: int, seed: int = 7) -> Path:
    """A directory of `size` generated entries, reused when an earlier run left a complete one."""
    directory = workdir / f"dlq-{size}"
    marker = workdir / f"dlq-{size}.generated.json"
    want = {"count": size, "seed": seed, "version": GENERATOR_VERSION}
    if directory.is_dir() and marker.exists():
        try:
            if json.loads(marker.read_text()) == want and len(entry_names(directory)) == size:
                log(f"reusing {directory} ({size:,} entries)")
                return directory
        except (OSError, ValueError):
            pass
    shutil.rmtree(directory, ignore_errors=True)
    marker.unlink(missing_ok=True)
    log(f"generating {size:,} entries in {directory}")
    start = time.perf_counter()
    generate(directory, size, seed)
    os.sync()  # write-back of the new files must not run during the measurements
    log(f"  {size:,} entries in {time.perf_counter() - start:.1f}s")
    marker.write_text(json.dumps(want))
    return directory


def ms(seconds: list[float]) -> list[float]:
    return [s * 1000 for s in seconds]


# --- the benchmark -------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.runs = args.runs
        self.timer = Timer(use_hyperfine=not args.no_hyperfine)
        self.mova = mova_command()
        self.py = sys.executable
        self.env = child_env()
        self.refs: dict[str, dict] = {}  # name -> {"unit", "values", "label"}
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.sizes = sorted(set(args.sizes))

    # -- references ----------------------------------------------------------------------------
    def ref(self, key: str, label: str, unit: str, values: list[float]) -> float:
        self.refs[key] = {"label": label, "unit": unit, "values": values, "median": statistics.median(values)}
        return statistics.median(values)

    def time_cmd(self, cmd: list[str], **kw) -> list[float]:
        return ms(self.timer.time(cmd, self.runs, env=self.env, **kw).wall)

    # -- per size --------------------------------------------------------------------------------
    def cli_rows(self) -> dict[int, dict[str, Row]]:
        by_size: dict[int, dict[str, Row]] = {}
        for size in self.sizes:
            directory = ensure_generated(self.workdir, size)
            judged = size == JUDGED_SIZE
            rows: dict[str, Row] = {}
            by_size[size] = rows

            log(f"{size:,}: reference, read + decode every file (orjson, one process)")
            parse = run_json([self.py, "-m", "benchmarks.references", "parse", str(directory), "--runs", str(self.runs)])
            parse_ms = self.ref(f"parse_{size}", f"parse every file with orjson, {size:,} files (in-process)", "ms",
                                ms(parse["seconds"]))

            log(f"{size:,}: first list with nothing cached (no .mova), stderr on a terminal")
            mova_dir = directory / ".mova"
            list_cmd = [*self.mova, "--dlq-path", str(directory), "dlq", "list", "--status", "active", "--limit", "50",
                        "--format", "json"]
            cold = time_subprocess(list_cmd, self.runs, warmup=0, prepare=lambda: shutil.rmtree(mova_dir, ignore_errors=True),
                                   env=self.env, stderr_to_pty=True)
            bar = b"indexing" in cold.stderr
            rows["cold"] = Row("first list, nothing cached", size, "ms", ms(cold.wall), Target("max_ratio", 1.2),
                               parse_ms, "parse", judged,
                               note=f"progress bar on the terminal: {'yes' if bar else 'no'}")

            wait_quiet(directory)
            log(f"{size:,}: dlq list / stats / show, warm index ({self.timer.tool})")
            rows["list"] = Row("dlq list --status active --limit 50 --format json", size, "ms",
                               self.time_cmd(list_cmd), Target("max", 250), parse_ms, "parse", judged)
            rows["stats"] = Row("dlq stats --format json", size, "ms",
                                self.time_cmd([*self.mova, "--dlq-path", str(directory), "dlq", "stats", "--format", "json"]),
                                Target("max", 250), parse_ms, "parse", judged)
            stats_ms = rows["stats"].median
            high = ["--max-active", "100000000", "--max-age", "100000d", "--max-growth", "100000000",
                    "--max-retry-failure-rate", "100%", "--max-sandbox-runtime", "100000d"]
            rows["alerts"] = Row("dlq alerts, every threshold", size, "ms",
                                 self.time_cmd([*self.mova, "--dlq-path", str(directory), "dlq", "alerts", *high]),
                                 Target("max_ratio", 1.3), stats_ms, "dlq stats", judged)
            rows["metrics"] = Row("dlq metrics", size, "ms",
                                  self.time_cmd([*self.mova, "--dlq-path", str(directory), "dlq", "metrics"]),
                                  Target("max_ratio", 1.3), stats_ms, "dlq stats", judged)
            prefix = min(entry_names(directory))[:12]
            rows["show"] = Row(f"dlq show PREFIX ({len(prefix)} chars)", size, "ms",
                               self.time_cmd([*self.mova, "--dlq-path", str(directory), "dlq", "show", prefix]),
                               Target("max", 150), judged=judged)
        return by_size

    # -- the HTTP shim ---------------------------------------------------------------------------
    def serve_rows(self) -> list[Row]:
        """Each endpoint's rate as a share of /healthz on the same server (measured alternately), and a mixed load."""
        size = max(self.sizes)
        directory = ensure_generated(self.workdir, size)
        judged = size == JUDGED_SIZE
        wait_quiet(directory)
        seconds, use_wrk = self.args.serve_seconds, not self.args.no_wrk
        server = serve_load.Server(self.mova, directory, self.env, self.workdir / "serve.log",
                                   "--workers", str(self.args.serve_workers))
        try:
            some_id = min(entry_names(directory))[:-5]
            endpoints = [("/metrics", 0.30), ("/v1/dlq/stats", 0.50), (f"/v1/dlq/{some_id}", 0.40),
                         ("/v1/dlq?status=active&limit=50", 0.12)]
            for path, _ in [("/healthz", 0), *endpoints]:  # warm: the first scrape counts every entry once
                if httpx.get(server.url + path, timeout=600).status_code != 200:
                    raise BenchmarkError(f"GET {path} did not answer 200")
            health, rates = [], {}
            for path, _ in endpoints:
                log(f"serve ({size:,}): /healthz then {path}, {seconds:g} s each")
                health.append(serve_load.measure(server.url + "/healthz", seconds, use_wrk))
                rates[path] = serve_load.measure(server.url + path, seconds, use_wrk)
            health.append(serve_load.measure(server.url + "/healthz", seconds, use_wrk))
            tool = health[0].tool
            healthz = self.ref(f"healthz_{size}", f"GET /healthz on the same server ({tool}, "
                               f"{serve_load.WRK_CONNECTIONS if tool == 'wrk' else 8} connections)", "req/s",
                               [h.rps for h in health])
            rows = []
            for path, share in endpoints:
                label = "GET /v1/dlq/{id}" if path.startswith("/v1/dlq/dlq") else f"GET {path}"
                rate = rates[path]
                rows.append(Row(f"serve: {label}", size, "req/s", [rate.rps], Target("min_ratio", share), healthz,
                                "/healthz", judged, note=f"p50 {rate.p50_ms:.1f} ms, p99 {rate.p99_ms:.1f} ms, "
                                                         f"{rate.errors} errors ({tool})"))
            rows.insert(1, Row("serve: GET /metrics p99", size, "ms", [rates["/metrics"].p99_ms], Target("max", 100),
                               judged=judged))
            rows += self.load_rows(server, directory, size, judged)
        finally:
            server.stop()
        return rows

    def load_rows(self, server: serve_load.Server, directory: Path, size: int, judged: bool) -> list[Row]:
        """50 clients for 10 s of mixed requests on entries set aside (their files restored afterwards)."""
        clients, seconds = self.args.load_clients, self.args.load_seconds
        ids = sorted(entry_names(directory))[:clients * 4]
        backup = Path(tempfile.mkdtemp(prefix="load-backup-", dir=self.workdir))
        for name in ids:
            shutil.copy2(directory / name, backup / name)
        log(f"serve ({size:,}): {clients} clients x {seconds:g} s of mixed reads, status changes and retries")
        try:
            result = serve_load.mixed_load(server.url, directory, [n[:-5] for n in ids], clients, seconds,
                                           lambda d, e: json.loads((d / f"{e}.json").read_bytes())["status"])
        finally:
            for name in ids:
                shutil.copy2(backup / name, directory / name)
            shutil.rmtree(backup, ignore_errors=True)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.by_kind.items()))
        return [
            Row(f"serve under load: p99 ({clients} clients)", size, "ms", [result.p99_ms], None, judged=judged,
                note=f"{result.requests:,} requests in {seconds:g} s ({kinds})"),
            Row("serve under load: 5xx answers", size, "count", [result.server_errors], Target("max", 0), judged=True),
            Row("serve under load: lost updates", size, "count", [result.lost_updates], Target("max", 0), judged=True),
        ]

    # -- start-up --------------------------------------------------------------------------------
    def startup_rows(self) -> list[Row]:
        directory = ensure_generated(self.workdir, 10)
        wait_quiet(directory)
        log(f"start-up: mova --help, mova dlq list on 10 entries and their references ({self.timer.tool})")
        imp_typer = self.ref("import_typer", 'python -c "import typer"', "ms",
                             self.time_cmd([self.py, "-c", "import typer"]))
        imp = self.ref("import_typer_rich", 'python -c "import typer, rich"', "ms",
                       self.time_cmd([self.py, "-c", "import typer, rich"]))
        # What a command that prints a Rich table of pydantic-validated data from SQLite must import
        # before running a line of mova: the floor under the list row.
        floor = self.ref("floor_table_models", "import typer, rich.console, rich.table, sqlite3, orjson, pydantic",
                         "ms", self.time_cmd([self.py, "-c", "import typer, rich.console, rich.table, sqlite3, orjson; "
                                                             "from pydantic import BaseModel"]))
        help_ms = self.time_cmd([*self.mova, "--help"])
        list_ms = self.time_cmd([*self.mova, "--dlq-path", str(directory), "dlq", "list"])
        self.notes.append(f'python -c "import typer" (the list row\'s other reference in the issue): {imp_typer:,.0f} ms')
        return [
            Row("mova --help", None, "ms", help_ms, Target("max_ratio", 1.3), imp, "import typer,rich"),
            Row("mova dlq list, 10 entries", 10, "ms", list_ms, Target("max_ratio", 1.3), imp, "import typer,rich"),
            Row("  (the same against its libraries' imports, info)", 10, "ms", list_ms, None, floor, "libraries"),
        ]

    # -- dashboard ---------------------------------------------------------------------------------
    def dashboard_rows(self) -> list[Row]:
        size = max(self.sizes)
        directory = ensure_generated(self.workdir, size)
        judged = size == JUDGED_SIZE
        log("dashboard reference: Textual first frame with an empty DataTable")
        frames = []
        for _ in range(self.runs):
            t0 = time.monotonic()
            frames.append(run_json([self.py, "-m", "benchmarks.references", "textual", "--t0", repr(t0)])["seconds"])
        textual_ms = self.ref("textual_empty", "Textual first frame, empty DataTable (from process start)", "ms", ms(frames))
        log("dashboard reference: watchfiles with a short debounce")
        watch_dir = Path(tempfile.mkdtemp(prefix="watch-", dir=self.workdir))
        try:
            watch = run_json([self.py, "-m", "benchmarks.references", "watch", str(watch_dir), "--runs", str(max(5, self.runs))])
        finally:
            shutil.rmtree(watch_dir, ignore_errors=True)
        watch_ms = self.ref("watchfiles", f"watchfiles, debounce {watch['debounce_ms']} ms / step {watch['step_ms']} ms",
                            "ms", ms(watch["seconds"]))

        stats_cmd = [*self.mova, "--dlq-path", str(directory), "dlq", "stats", "--format", "json"]
        results = []
        for n in range(self.runs):
            # The last run added and removed files: bring the index up to date first, as a warm start.
            wait_quiet(directory)
            time_subprocess(stats_cmd, 1, warmup=0, env=self.env)
            log(f"dashboard on {size:,} entries, run {n + 1}/{self.runs}")
            t0 = time.monotonic()
            results.append(run_json([self.py, "-m", "benchmarks.dashboard", str(directory), "--t0", repr(t0),
                                     "--presses", str(self.args.presses), "--new-files", str(self.args.new_files)]))
        errors = sorted({e for r in results for e in r.get("errors", [])})
        self.notes += [f"dashboard: {e}" for e in errors]
        pooled = lambda key: [v for r in results for v in r.get(key, [])]  # noqa: E731
        held = max(r.get("rows_held", 0) for r in results)
        rows = [
            Row("tui: first rows on screen", size, "ms", [r["first_rows_s"] * 1000 for r in results], Target("max", 1500),
                textual_ms, "textual empty", judged),
            Row("dashboard key: down", size, "ms", pooled("down_ms"), Target("max", 100), judged=judged),
            Row("dashboard key: page down", size, "ms", pooled("pagedown_ms"), Target("max", 100), judged=judged),
            Row("dashboard key: end", size, "ms", pooled("end_ms"), Target("max", 100), judged=judged),
            Row("dashboard filter change: search + Enter", size, "ms", pooled("search_ms"), Target("max", 100),
                judged=judged),
            Row("dashboard filter change: c (clear)", size, "ms", pooled("clear_ms"), Target("max", 100),
                judged=judged),
            Row("dashboard: new file to on screen", size, "ms", pooled("new_file_ms"), Target("max", 500), watch_ms,
                "watchfiles", judged),
            Row("dashboard peak RSS", size, "MB", [r["max_rss_mb"] for r in results], Target("max", 250), judged=judged,
                note=f"rows held by the table: {held}"),
        ]
        for row in rows:
            if not row.values:
                row.error = "no samples"
        return rows

    # -- engine ------------------------------------------------------------------------------------
    def engine_rows(self) -> list[Row]:
        log("engine: dead-lettering rate against raw temp-file + fsync + rename + directory fsync")
        engine_dir = Path(tempfile.mkdtemp(prefix="engine-", dir=self.workdir))
        try:
            res = run_json([self.py, "-m", "benchmarks.engine_rate", str(engine_dir), "--count", str(self.args.engine_count),
                            "--runs", str(self.runs)])
        finally:
            shutil.rmtree(engine_dir, ignore_errors=True)
        raw = self.ref("raw_write", f"raw temp + write + fsync + rename + dir fsync, {res['entry_bytes']:,} B", "files/s",
                       res["raw"])
        self.notes.append(f"engine: {res['count']} runs per sample, entry of {res['entry_bytes']:,} bytes")
        return [
            Row("engine: dead-letter a failing run", None, "files/s", res["engine"], Target("min_ratio", 0.7), raw, "raw"),
            Row("  (engine without run record, info)", None, "files/s", res["engine_no_record"], None, raw, "raw"),
            Row("  (store.atomic_write loop, info)", None, "files/s", res["atomic_write"], None, raw, "raw"),
        ]

    # -- all ---------------------------------------------------------------------------------------
    def run(self) -> list[Row]:
        by_size = self.cli_rows()
        rows: list[Row] = []
        for key in ("list",):
            rows += [by_size[s][key] for s in self.sizes]
        lo, hi = self.sizes[0], self.sizes[-1]
        if hi != lo:
            ratio = by_size[hi]["list"].median / by_size[lo]["list"].median
            rows.append(Row(f"dlq list at {hi:,} / at {lo:,}", hi, "x", [ratio], Target("max", 3.0),
                            judged=(hi, lo) == (JUDGED_SIZE, 1000)))
        for key in ("stats", "alerts", "metrics", "show", "cold"):
            rows += [by_size[s][key] for s in self.sizes]
        if not self.args.skip_dashboard:
            rows += self.dashboard_rows()
        if not self.args.skip_serve:
            rows += self.serve_rows()
        rows += self.engine_rows()
        rows += self.startup_rows()
        for row in rows:
            if row.note:
                self.notes.append(f"{row.label} ({row.size:,}): {row.note}" if row.size else f"{row.label}: {row.note}")
        self.rows = rows
        return rows


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "").replace(",", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be whole numbers separated by commas, not {text!r}") from None
    if not sizes or min(sizes) < 10:
        raise argparse.ArgumentTypeError("every size must be at least 10")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[1000, 10_000, 100_000],
                        help="queue sizes, comma-separated (default 1000,10000,100000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to generate (kept, and reused by later runs); default a temporary directory")
    parser.add_argument("--skip-dashboard", action="store_true", help="leave out the dashboard rows")
    parser.add_argument("--json", type=Path, default=None, help="also write every sample and the machine to FILE")
    parser.add_argument("--no-hyperfine", action="store_true", help="time processes here even if hyperfine is installed")
    parser.add_argument("--presses", type=int, default=20, help="key presses of each kind per dashboard run")
    parser.add_argument("--new-files", type=int, default=5, help="new files written per dashboard run")
    parser.add_argument("--engine-count", type=int, default=300, help="runs dead-lettered per engine sample")
    parser.add_argument("--skip-serve", action="store_true", help="leave out the mova serve rows")
    parser.add_argument("--serve-seconds", type=float, default=10, help="seconds of load per endpoint (default 10)")
    parser.add_argument("--serve-workers", type=int, default=1, help="mova serve --workers for those rows (default 1)")
    parser.add_argument("--load-clients", type=int, default=50, help="clients of the mixed load (default 50)")
    parser.add_argument("--load-seconds", type=float, default=10, help="seconds of the mixed load (default 10)")
    parser.add_argument("--no-wrk", action="store_true", help="drive the serve rows with the Python load generator")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="mova-bench-")) if own_workdir else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    started = time.perf_counter()
    bench = Bench(args, workdir)
    try:
        compile_bytecode()
        rows = bench.run()
    except BenchmarkError as exc:
        print(f"benchmark broken: {exc}", file=sys.stderr)
        return 2
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    info["loadavg_end"] = os.getloadavg()[0]

    print(f"mova benchmark, {info['date']}: {info['nproc']} CPUs ({info['cpu'] or 'cpu ?'}), {info['memory']} RAM, "
          f"Python {info['python']}, commit {info['commit'] or '?'}")
    print(f"runs per row: {args.runs}; process timer: {bench.timer.tool}; targets judged at {JUDGED_SIZE:,} entries; "
          f"ratio = median / reference; took {elapsed:.0f}s; load average {info['loadavg_start']:.2f} at the start, "
          f"{info['loadavg_end']:.2f} at the end (other work on the machine skews every figure)")
    print()
    print(render_table(rows))
    print()
    print("references (measured in this run):")
    for ref in bench.refs.values():
        print(f"  {fmt(ref['median'], ref['unit']):>12}  {ref['label']}")
    if bench.notes:
        print("notes:")
        for note in bench.notes:
            print(f"  {note}")
    failing = [r for r in rows if r.verdict().startswith("FAIL")]
    print(f"\n{len(failing)} of {sum(1 for r in rows if r.verdict() not in ('-', 'ERROR', '?'))} judged targets missed")

    if args.json:
        args.json.write_text(json.dumps({
            "machine": info,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "timer": bench.timer.tool,
            "elapsed_s": elapsed,
            "rows": [r.as_dict() for r in rows],
            "references": bench.refs,
            "notes": bench.notes,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
