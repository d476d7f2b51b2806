"""Many writers, one entry: processes race to claim, finish, archive, change status and delete the
same entries. The audit log, in file order, must be a serial history: each record starts from the
status the previous one left, every transition is one the lifecycle allows, the files end where the
history ends, each successful operation appears exactly once, and every loser got a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from mova_core.model.lifecycle import MANUAL
from mova_core.model.status import EntryStatus
from mova_core.store.audit import AuditLog
from tests.support import ROOT

from .support import (
    assert_sound,
    bug_lines,
    check_directory,
    child_env,
    closed_port_url,
    finish,
    mova_command,
    scaled,
    start,
    write_entries,
)

pytestmark = pytest.mark.reliability

EXPECTED_ERRORS = {"EntryNotFound", "InvalidTransition", "LeaseHeld", "AlreadyRetrying"}
AUDIT_OP = {"claim": "retry_claim", "finish": "retry_finish", "archive": "archive", "set_status": "set_status",
            "delete": "delete"}


def _legal(rec: dict) -> bool:
    """Is this audit record's transition one the lifecycle allows (leases are 600 s: always live here)?"""
    op, old, new, broke = rec["op"], rec["old_status"], rec["new_status"], bool(rec.get("break_lease"))
    if op == "retry_claim":
        return old == "active" and new == "retrying"
    if op == "retry_finish":
        return old == "retrying" and new == "active"
    if op == "delete":
        return new is None and (old != "retrying" or broke)
    if op in ("archive", "set_status"):
        if old == new or new == "retrying":
            return False
        if old == "retrying":
            return broke
        return new in {s.value for s in MANUAL[EntryStatus(old)]}  # breaking a lease never overrides the rules
    return False


def check_history(results: list[dict], audit: list[dict], initial: dict[str, str], dlq: Path) -> list[str]:
    """Every way the outcome could disagree with a serial order of the successful operations."""
    anomalies: list[str] = []
    by_actor = {r["actor"]: r for r in results}
    records_of = Counter(rec["actor"] for rec in audit)
    for rec in audit:
        res = by_actor.get(rec["actor"])
        if res is None or not res["ok"]:
            anomalies.append(f"audit record for an operation that did not succeed: {rec}")
        elif AUDIT_OP[res["op"]] != rec["op"] or rec["entry_id"] != res["entry"]:
            anomalies.append(f"audit record {rec} does not describe {res}")
        if not _legal(rec):
            anomalies.append(f"illegal transition recorded: {rec}")
    for res in results:
        n = records_of[res["actor"]]
        if res.get("error_type", "").startswith("BUG:"):
            anomalies.append(f"unexpected error: {res}")
        elif not res["ok"]:
            if res["error_type"] not in EXPECTED_ERRORS:
                anomalies.append(f"loser got an unexpected error type: {res}")
            elif res["entry"][:12] not in res["error"]:
                anomalies.append(f"loser's error does not name the entry: {res}")
        elif res["op"] in ("claim", "finish", "delete") and n != 1:
            anomalies.append(f"{n} audit records for {res}")
        elif n > 1:
            anomalies.append(f"{n} audit records for {res}")
    # The history of each entry, in the log's order, is a chain from its first status to its file.
    chains: dict[str, list[dict]] = defaultdict(list)
    for rec in audit:
        chains[rec["entry_id"]].append(rec)
    for entry_id, status in initial.items():
        claims = finishes = 0
        for rec in chains[entry_id]:
            if status is None:
                anomalies.append(f"record after the delete of {entry_id}: {rec}")
            elif rec["old_status"] != status:
                anomalies.append(f"{entry_id}: record {rec} starts from {rec['old_status']}, history says {status}")
            status = rec["new_status"]
            claims += rec["op"] == "retry_claim"
            finishes += rec["op"] == "retry_finish"
        path = dlq / f"{entry_id}.json"
        if status is None:
            if path.exists():
                anomalies.append(f"{entry_id} was deleted in the log but its file is there")
            continue
        doc = json.loads(path.read_text())
        if doc["status"] != status:
            anomalies.append(f"{entry_id} is {doc['status']} on disk, the log says {status}")
        if doc["metadata"]["retry_count"] != claims:
            anomalies.append(f"{entry_id}: retry_count {doc['metadata']['retry_count']} but {claims} claims logged")
        if len(doc.get("retry_history") or []) != finishes:
            anomalies.append(f"{entry_id}: {len(doc.get('retry_history') or [])} retries recorded, {finishes} logged")
    return anomalies


def test_racing_writers_leave_a_serial_history(tmp_path, figures, scale):
    dlq = tmp_path / "state" / "deadletter"
    rounds, workers, ops = scaled(3, scale), scaled(6, scale, 2), scaled(40, scale)
    env = child_env(dlq)
    for round_no in range(rounds):
        (dlq / ".mova").mkdir(parents=True, exist_ok=True)
        ids = write_entries(dlq, 3, closed_port_url())
        barrier = tmp_path / f"go-{round_no}"
        procs = []
        for w in range(workers):
            job = tmp_path / f"job-{round_no}-{w}.json"
            job.write_text(json.dumps({"dlq": str(dlq), "ids": ids, "ops": ops, "worker": f"{round_no}-{w}",
                                       "seed": round_no * 1000 + w, "barrier": str(barrier)}))
            procs.append(subprocess.Popen([sys.executable, "-m", "tests.reliability.race_worker", str(job)],
                                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        time.sleep(0.3)  # let them all reach the barrier (a late one only races less)
        barrier.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results += [json.loads(line) for line in out.splitlines()]
        audit = [r for r in AuditLog(dlq / ".mova" / "audit.jsonl").read().records if r["entry_id"] in ids]
        anomalies = check_history(results, audit, {i: "active" for i in ids}, dlq)
        figures.add("races_run")
        figures.add("race_operations", len(results))
        figures.add("race_anomalies", len(anomalies))
        assert anomalies == [], "\n".join(anomalies[:20])
        assert sum(r["ok"] for r in results) >= len(results) // 10, "too few operations succeeded to prove anything"
    assert_sound(check_directory(dlq))


def test_racing_command_lines_one_winner_and_clear_errors(tmp_path, figures, scale):
    """The same race through `mova` processes: deletes, archives and retries of one entry each."""
    dlq = tmp_path / "state" / "deadletter"
    doomed, shelved, retried = write_entries(dlq, 3, closed_port_url())
    n = scaled(5, scale, 2)
    env = child_env(dlq)
    work = tmp_path / "work"
    work.mkdir()
    procs = []
    for _ in range(n):
        procs.append(start("delete", mova_command("dlq", "delete", doomed, "--force"), env, work))
        procs.append(start("archive", mova_command("dlq", "archive", shelved[:16]), env, work))
        procs.append(start("retry", mova_command("dlq", "retry", retried, "--wait"), env, work))
    done = [finish(p) for p in procs]
    figures.add("races_run", 3)
    figures.add("race_operations", len(done))
    anomalies = []
    for p in done:
        if bug_lines(p.stderr):
            anomalies.append(f"{p.args}: {p.stderr}")
    deletes = [p for p in done if p.kind == "delete"]
    winners = [p for p in deletes if p.returncode == 0]
    if len(winners) != 1:
        anomalies.append(f"{len(winners)} deletes succeeded")
    for p in deletes:
        if p.returncode != 0 and (p.returncode != 1 or "no dead-letter entry matches" not in p.stderr):
            anomalies.append(f"delete loser: {p.returncode} {p.stderr!r}")
    for p in done:
        if p.kind == "archive" and p.returncode != 0:
            anomalies.append(f"archive: {p.returncode} {p.stderr!r}")
    ran = [p for p in done if p.kind == "retry" and " failed (sandbox)" in p.stdout]
    for p in done:
        if p.kind == "retry" and p not in ran and (p.returncode != 1 or "already being retried" not in p.stderr):
            anomalies.append(f"retry loser: {p.returncode} {p.stdout!r} {p.stderr!r}")
    audit = AuditLog(dlq / ".mova" / "audit.jsonl").read().records
    ops = Counter((r["op"], r["entry_id"]) for r in audit)
    expected = {("delete", doomed): 1, ("archive", shelved): 1, ("retry_claim", retried): len(ran),
                ("retry_finish", retried): len(ran)}
    if dict(ops) != expected:
        anomalies.append(f"audit {dict(ops)} != {expected}")
    doc = json.loads((dlq / f"{retried}.json").read_text())
    if doc["status"] != "active" or doc["metadata"]["retry_count"] != len(ran) or len(doc["retry_history"]) != len(ran):
        anomalies.append(f"retried entry: {doc['status']}, retry_count {doc['metadata']['retry_count']}, {len(ran)} runs")
    figures.add("race_anomalies", len(anomalies))
    assert anomalies == [], "\n".join(anomalies)
    assert ran, "no retry ran at all"
