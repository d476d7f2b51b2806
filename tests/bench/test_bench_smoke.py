"""The issue 7 benchmark keeps working: a tiny run prints the table with every row (CI does not gate on the numbers)."""

from __future__ import annotations

import json
import subprocess
import sys

from ..support import ROOT

#: Every row of the issue's target table, as the benchmark labels it.
ROWS = [
    "dlq list --status active --limit 50 --format json",
    "dlq stats --format json",
    "dlq alerts, every threshold",
    "dlq metrics",
    "dlq show PREFIX",
    "first list, nothing cached",
    "tui: first rows on screen",
    "dashboard key: down",
    "dashboard key: page down",
    "dashboard key: end",
    "dashboard filter change",
    "dashboard: new file to on screen",
    "dashboard peak RSS",
    "serve: GET /metrics",
    "serve: GET /metrics p99",
    "serve: GET /v1/dlq/stats",
    "serve: GET /v1/dlq/{id}",
    "serve: GET /v1/dlq?status=active&limit=50",
    "serve under load: p99",
    "serve under load: 5xx answers",
    "serve under load: lost updates",
    "engine: dead-letter a failing run",
    "mova --help",
    "mova dlq list, 10 entries",
]
REFERENCES = ["parse every file", "GET /healthz on the same server", "import typer, rich", "rich.table, sqlite3, orjson, pydantic", "Textual first frame", "watchfiles",
              "raw temp + write + fsync"]


def test_a_tiny_benchmark_prints_every_row(tmp_path):
    report = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--sizes", "200", "--runs", "1", "--presses", "3",
         "--new-files", "1", "--engine-count", "20", "--no-hyperfine", "--workdir", str(tmp_path / "work"),
         "--serve-seconds", "1", "--load-seconds", "1", "--load-clients", "5",
         "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    header = next(line for line in out.splitlines() if line.startswith("row "))
    assert [c.strip() for c in header.split("|")] == ["row", "size", "median", "target", "reference", "ratio", "ok"]
    table = [line for line in out.splitlines() if " | " in line]
    for label in ROWS:
        matching = [line for line in table if line.startswith(label)]
        assert matching, f"no row {label!r} in:\n{out}"
        for line in matching:
            median = line.split("|")[2].strip()
            assert median not in ("", "-"), f"row {label!r} has no median:\n{out}"
            assert "ERROR" not in line, out
    for ref in REFERENCES:
        assert ref in out, f"reference {ref!r} missing:\n{out}"

    data = json.loads(report.read_text())
    assert data["machine"]["nproc"] >= 1
    assert all(row["values"] for row in data["rows"]), data["rows"]
    assert all(row["ok"] in ("-", "ok") or row["ok"].startswith("FAIL x") for row in data["rows"]), data["rows"]
    load = {row["label"]: row for row in data["rows"] if row["label"].startswith("serve under load")}
    assert load["serve under load: 5xx answers"]["values"] == [0]
    assert load["serve under load: lost updates"]["values"] == [0]
    # The generated directory is kept in --workdir for the next run; nothing of the dashboard's is left in it.
    assert len(list((tmp_path / "work" / "dlq-200").glob("*.json"))) == 200


def test_the_engine_floor_replays_the_engines_file_calls(tmp_path):
    from benchmarks import engine_floor

    out = engine_floor.measure(tmp_path, count=3, runs=1)
    assert {k: len(v) for k, v in out.items() if k != "count"} == {"floor": 1, "floor_no_record": 1, "raw": 1}
    assert all(v[0] > 0 for k, v in out.items() if k != "count")
    runs = tmp_path / "floor-0" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        [f"run_{n:08d}.json" for n in range(3)] + [f"run_{n:08d}.log.jsonl" for n in range(3)])
    for way in ("floor", "floor_no_record", "raw"):  # entries under their names, no temporary file left
        assert sorted(p.name for p in (tmp_path / f"{way}-0" / "deadletter").iterdir()) == [
            f"dlq_{n:08d}.json" for n in range(3)]


def test_the_python_load_generator_stands_in_for_wrk(tmp_path):
    from benchmarks import serve_load

    rate = serve_load.python_rate("http://127.0.0.1:9/healthz", 0.0, clients=1)  # no time: no request
    assert rate.tool == "python" and rate.rps == 0 and rate.p99_ms == 0.0
