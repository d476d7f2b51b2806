"""Kill storm: dozens of `mova run` processes dead-letter failing workflows while a seeded random
subset is SIGKILLed at random moments, alongside archivers and retriers (some killed too).

Afterwards every `*.json` parses and its id matches its file name, every id a process reported is
there, temporary files are never listed, listings agree with the files (no stale index row), and
the audit log reads (a torn last line is tolerated and counted) and replays to the files."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from tests.core.httpservers import LocalServer

from .support import (
    ENTRY_ID,
    assert_sound,
    bug_lines,
    check_directory,
    child_env,
    closed_port_url,
    finish,
    mova_command,
    replay_audit,
    scaled,
    start,
)

pytestmark = pytest.mark.reliability

SEED = 20261128


def _workflow(rng: random.Random, url: str, n: int) -> dict:
    backoff = rng.choice(["fixed", "linear", "exponential"])
    return {
        "intent": {"name": f"storm-{n % 4}", "version": "1.0", "tags": ["storm"],
                   "retry": {"max_attempts": rng.randint(1, 4), "backoff": backoff,
                             "delay": rng.choice([0.0, 0.01, 0.02]), "max_delay": 0.05, "jitter": rng.random() < 0.5}},
        "actions": [
            {"id": "prepare", "type": "set", "params": {"variable": "n", "value": n}},
            {"id": "fetch", "type": "http_fetch", "params": {"url": url}},
        ],
        "variables": {"n": n, "pad": "x" * rng.choice([0, 100, 20_000])},
    }


def test_kill_storm_loses_nothing(tmp_path: Path, figures, scale):
    rng = random.Random(SEED)
    state = tmp_path / "state"
    dlq = state / "deadletter"
    dlq.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    env = child_env(dlq, MOVA_LEASE_SECONDS="2")

    runs = scaled(32, scale)
    archivers = scaled(4, scale)
    retriers = scaled(8, scale)
    parallel = 8
    with LocalServer() as server:
        urls = [closed_port_url(), f"{server.url}/status/500/storm"]
        workflows = []
        for n in range(8):
            path = work / f"wf{n}.json"
            path.write_text(json.dumps(_workflow(rng, urls[n % 2], n)))
            workflows.append(path)

        # The plan: every run, archiver and retrier, each with a kill time or None, in a seeded order.
        plan: list[tuple[str, float | None]] = [("run", None)] * runs + [("archive", None)] * archivers + [("retry", None)] * retriers
        # A third are killed: half of those at any moment from start-up on, half late in their run,
        # when the entry, run record and audit log are being written (aimed by the runs seen so far).
        plan = [(kind, rng.choice(["any", "late"]) if rng.random() < 0.4 else None) for kind, _ in plan]
        durations: list[float] = []
        rng.shuffle(plan)

        running, done = [], []
        reported: set[str] = set()
        deadline = time.monotonic() + 120 * max(1.0, scale)
        while plan or running:
            assert time.monotonic() < deadline, "the storm did not finish in time"
            while plan and len(running) < parallel:
                kind, kill_after = plan.pop()
                if kind == "run":
                    args = mova_command("run", str(rng.choice(workflows)))
                elif kind == "archive":
                    args = mova_command("dlq", "archive", "--all", "--status", "active", "--yes",
                                        "--results", str(work / f"bulk-{len(done)}-{rng.random()}.jsonl"))
                else:
                    known = sorted(reported) or sorted(p.stem for p in dlq.glob("dlq_*.json"))
                    if not known:  # nothing to retry yet: come back to it later
                        plan.insert(0, (kind, kill_after))
                        if len(plan) == len([p for p in plan if p[0] == "retry"]) and not running:
                            plan.clear()  # only retries left and nothing was ever written: give up on them
                        break
                    args = mova_command("dlq", "retry", rng.choice(known), "--wait")
                if kill_after == "late" and len(durations) >= 3:
                    typical = sorted(durations)[len(durations) // 2]
                    kill_after = rng.uniform(0.6, 1.05) * typical
                elif kill_after is not None:
                    kill_after = rng.uniform(0.05, 1.0)
                running.append(start(kind, args, env, work, kill_after))
            time.sleep(0.005)
            now = time.monotonic()
            for proc in list(running):
                if proc.popen.poll() is None and proc.kill_at is not None and now >= proc.kill_at:
                    proc.popen.send_signal(signal.SIGKILL)
                    proc.killed = True
                if proc.popen.poll() is not None:
                    running.remove(proc)
                    finish(proc)
                    done.append(proc)
                    if not proc.killed and proc.kind == "run":
                        durations.append(time.monotonic() - proc.started)
                    if proc.kind == "run":
                        reported |= {line.strip() for line in proc.stdout.splitlines() if ENTRY_ID.match(line.strip())}

    killed = [p for p in done if p.killed and p.returncode == -signal.SIGKILL]
    figures.add("storm_processes", len(done))
    figures.add("storm_killed", len(killed))

    # Processes that were not killed ended as the CLI promises: one line of error at most, no bug.
    for proc in done:
        if proc.returncode == -signal.SIGKILL:
            continue
        assert not bug_lines(proc.stderr), f"{proc.args}: {proc.stderr}"
        if proc.kind == "run":
            assert proc.returncode == 1, (proc.args, proc.returncode, proc.stderr)
            assert len([ln for ln in proc.stdout.splitlines() if ENTRY_ID.match(ln)]) == 1, proc.stdout
        else:
            assert proc.returncode in (0, 1), (proc.args, proc.returncode, proc.stderr)
            if proc.returncode == 1 and proc.kind == "retry":
                assert proc.stderr.strip(), proc.args  # a retry that failed says why

    report = check_directory(dlq)
    lost = sorted(reported - report.valid_ids)
    figures.add("entries_written", len(report.valid_ids))
    figures.add("entries_reported", len(reported))
    figures.add("entries_unreported", len(report.valid_ids - reported))  # written, then killed before printing
    figures.add("entries_lost", len(lost))
    figures.add("torn_files", len(report.torn) + len(report.torn_run_records))
    figures.add("hidden_temp_files", len(report.hidden_temps))
    figures.add("audit_records", len(report.audit_records))
    figures.add("audit_torn_lines", len(report.audit_bad_lines))
    figures.add("stale_index_rows", len(report.stale_rows))
    unsound = replay_audit(report.audit_records, report.statuses)  # (killed archivers and retriers among them)
    figures.add("unsound_audit_records", len(unsound))
    assert lost == [], f"reported dead-letter ids missing afterwards: {lost}"
    assert_sound(report)
    assert unsound == [], "\n".join(unsound)
    assert len(reported) >= runs // 3, "too few runs finished to prove anything"

    # The command line agrees: list, stats and reindex see exactly the entries on disk.
    listing = finish(start("list", mova_command("dlq", "list", "--format", "json"), env, work))
    assert listing.returncode == 0 and not bug_lines(listing.stderr), listing.stderr
    assert {e["id"] for e in json.loads(listing.stdout)} == report.valid_ids
    stats = finish(start("stats", mova_command("dlq", "stats", "--format", "json"), env, work))
    assert stats.returncode == 0 and json.loads(stats.stdout)["total_entries"] == len(report.valid_ids)
    reindex = finish(start("reindex", mova_command("dlq", "reindex", "--format", "json"), env, work))
    assert reindex.returncode == 0 and json.loads(reindex.stdout)["skipped"] == [], reindex.stdout
