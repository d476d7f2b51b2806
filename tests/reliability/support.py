"""Helpers for the reliability suite: the figures table, `mova` subprocesses, entry files and the
checks every scenario ends with (every file whole, nothing lost, the audit log readable)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mova_core.store.audit import AuditLog
from tests.support import ROOT

VENV_BIN = Path(sys.executable).parent
ENTRY_ID = re.compile(r"^dlq_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: What a command prints when a bug (not a user error) ended it.
BUG_MARKERS = ("Traceback (most recent call last)", "this is a bug", "error: unexpected ")


# -- figures ------------------------------------------------------------------------------------
@dataclass
class Figures:
    """Counters the tests add to; printed as one table when the session ends."""

    scale: float = 1.0
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    touched: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    #: (section, key, label) in the order they are printed.
    ROWS = (
        ("kill storm", "storm_processes", "processes started"),
        ("kill storm", "storm_killed", "processes killed (SIGKILL)"),
        ("kill storm", "entries_written", "entries written"),
        ("kill storm", "entries_reported", "dead-letter ids reported"),
        ("kill storm", "entries_unreported", "entries written by a process killed before it said so"),
        ("kill storm", "entries_lost", "entries lost (must be 0)"),
        ("kill storm", "torn_files", "torn files (must be 0)"),
        ("kill storm", "hidden_temp_files", "temporary dot-files left (never listed)"),
        ("kill storm", "audit_records", "audit records read"),
        ("kill storm", "audit_torn_lines", "torn audit lines tolerated"),
        ("kill storm", "stale_index_rows", "index rows not matching their file (must be 0)"),
        ("audit", "audit_kills", "writers SIGKILLed during status changes"),
        ("audit", "audit_settled", "changes a kill left half-done, settled by the next listing"),
        ("audit", "unsound_audit_records", "entries whose audit log does not replay to the file (must be 0)"),
        ("audit", "leftover_temp_files", "temporary files left after the next listing (must be 0)"),
        ("races", "races_run", "races run"),
        ("races", "race_operations", "operations raced"),
        ("races", "race_anomalies", "anomalies (must be 0)"),
        ("lease", "lease_recoveries", "killed retries recovered after the lease"),
        ("disk", "disk_faults", "disk/permission faults injected"),
        ("disk", "disk_lost", "stored entries lost or changed (must be 0)"),
        ("hostile input", "fuzz_cases", "fuzz cases tried"),
        ("hostile input", "hostile_files", "hostile entry files listed/shown"),
        ("hostile input", "hostile_skipped", "hostile files skipped, each named with a reason"),
        ("hostile input", "index_disagreements", "files listed but refused by show, or the reverse (must be 0)"),
        ("hostile input", "fuzz_crashes", "tracebacks or writes outside the state dir (must be 0)"),
        ("hostile input", "terminal_controls", "controls reaching the terminal or rows split (must be 0)"),
        ("hostile input", "deep_inputs", "inputs nested too deeply, refused"),
        ("hostile input", "deep_input_bugs", "of those: a 5xx, traceback or wrong exit code (must be 0)"),
        ("secrets", "secret_files_searched", "files searched for secrets"),
        ("secrets", "secret_forms_checked", "secret forms looked for (files and outputs)"),
        ("secrets", "secrets_found", "recoverable secrets found (must be 0)"),
        ("http shim", "shim_clients", "concurrent clients"),
        ("http shim", "shim_requests", "requests served"),
        ("http shim", "shim_errors", "5xx or transport errors (must be 0)"),
        ("http shim", "shim_lost_updates", "lost updates (must be 0)"),
        ("http shim", "shim_p50_ms", "p50 latency (ms)"),
        ("http shim", "shim_p99_ms", "p99 latency (ms)"),
    )

    def add(self, key: str, amount: float = 1) -> None:
        with self._lock:
            self.touched = True
            self.values[key] = self.values.get(key, 0) + amount

    def set(self, key: str, value: float) -> None:
        with self._lock:
            self.touched = True
            self.values[key] = value

    def table(self) -> list[str]:
        """The summary as lines of text (sections, labels, values; rows never measured say 'not run')."""
        lines = [f"scale {self.scale:g} (--reliability-scale / MOVA_RELIABILITY_SCALE)"]
        width = max(len(label) for _, _, label in self.ROWS)
        section = None
        for sect, key, label in self.ROWS:
            if sect != section:
                lines.append(f"{sect}")
                section = sect
            value = self.values.get(key)
            shown = "not run" if value is None else (f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}")
            lines.append(f"  {label:<{width}}  {shown:>8}")
        return lines


def scaled(base: float, scale: float, minimum: int = 1) -> int:
    """A count for this scale."""
    return max(minimum, int(round(base * scale)))


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of a list of numbers (0 for an empty list)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


# -- subprocesses -----------------------------------------------------------------------------
def mova_command(*args: str) -> list[str]:
    """`mova ARGS` through the console script (or the module if the script is missing)."""
    script = VENV_BIN / "mova"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "mova_tui.cli.main", *args]


def child_env(dlq: Path, **extra: str) -> dict[str, str]:
    """The environment of a `mova` subprocess: this repository, this directory, plain output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")}
    env.update({
        "MOVA_DLQ_PATH": str(dlq),
        "MOVA_ACTOR": "reliability@test",
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    env.update(extra)
    return env


@dataclass
class Proc:
    """A started subprocess with what it is and what became of it."""

    kind: str
    args: list[str]
    popen: subprocess.Popen
    started: float
    kill_at: float | None = None
    killed: bool = False
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None


def start(kind: str, args: list[str], env: dict[str, str], cwd: Path, kill_after: float | None = None) -> Proc:
    """Start a process with its output captured to files (a pipe could fill and block it)."""
    out = open(cwd / f".{kind}-{uuid.uuid4().hex[:8]}.out", "w+b")  # noqa: SIM115 (closed in finish())
    err = open(cwd / f".{kind}-{uuid.uuid4().hex[:8]}.err", "w+b")  # noqa: SIM115
    popen = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    popen._mova_files = (out, err)  # type: ignore[attr-defined]
    now = time.monotonic()
    return Proc(kind, args, popen, now, None if kill_after is None else now + kill_after)


def finish(proc: Proc) -> Proc:
    """Collect the exit status and output of an ended process."""
    proc.returncode = proc.popen.wait()
    out, err = proc.popen._mova_files  # type: ignore[attr-defined]
    for handle, attr in ((out, "stdout"), (err, "stderr")):
        handle.seek(0)
        setattr(proc, attr, handle.read().decode("utf-8", "replace"))
        handle.close()
        os.unlink(handle.name)
    return proc


def bug_lines(text: str) -> list[str]:
    """Lines of command output that show a bug rather than a user-facing error."""
    return [line for line in text.splitlines() if any(m in line for m in BUG_MARKERS)]


# -- entries and workflows --------------------------------------------------------------------
def entry_doc(entry_id: str, url: str, *, status: str = "active", workflow_type: str = "reliability",
              attempts: int = 1, created_at: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    """An entry in the specification's storage format whose retry fetches `url` (tiny delays)."""
    run_id = f"run_{uuid.uuid4().int % 10**19}"
    action = {"id": "fetch", "type": "http_fetch", "params": {"url": url},
              "retry": {"max_attempts": attempts, "backoff": "fixed", "delay": 0.01, "jitter": False}}
    return {
        "id": entry_id,
        "run_id": run_id,
        "created_at": created_at,
        "status": status,
        "envelope": {"intent": {"name": workflow_type, "version": "1.0"}, "actions": [action]},
        "context": {"run_id": run_id, "status": "failed", "variables": {"n": 1}, "results": {}},
        "failed_action": action,
        "error_details": {"last_error": "HTTP 500", "error_history": ["Attempt 1: HTTP 500"],
                          "failure_reason": "max_retries_exceeded", "attempts": 1},
        "metadata": {"source": "executor", "priority": 1, "workflow_type": workflow_type, "retry_count": 0},
    }


def write_entries(dlq: Path, count: int, url: str, **kw: Any) -> list[str]:
    """`count` fresh entries in `dlq`; returns their ids."""
    dlq.mkdir(parents=True, exist_ok=True)
    ids = []
    for _ in range(count):
        entry_id = f"dlq_{uuid.uuid4()}"
        (dlq / f"{entry_id}.json").write_text(json.dumps(entry_doc(entry_id, url, **kw), indent=2))
        ids.append(entry_id)
    return ids


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing"


# -- the checks every scenario ends with ------------------------------------------------------
@dataclass
class DirReport:
    """What a dead-letter directory holds after a scenario."""

    valid_ids: set[str] = field(default_factory=set)
    torn: list[str] = field(default_factory=list)
    hidden_temps: list[str] = field(default_factory=list)
    listed_ids: set[str] = field(default_factory=set)
    listing_skipped: list[str] = field(default_factory=list)
    audit_records: list[dict] = field(default_factory=list)
    audit_bad_lines: list[int] = field(default_factory=list)
    audit_line_count: int = 0
    torn_run_records: list[str] = field(default_factory=list)
    stale_rows: list[str] = field(default_factory=list)
    leftover_temps: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)


def check_directory(dlq: Path) -> DirReport:
    """Read every file the way an outsider would (plain json), then the way mova lists them."""
    from mova_core.model.listing import EntryFilter
    from mova_core.store.files import FileStore

    report = DirReport()
    for path in sorted(dlq.iterdir()):
        name = path.name
        if name.startswith("."):
            if name.endswith(".tmp"):
                report.hidden_temps.append(name)
            continue
        if not name.endswith(".json"):
            continue
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            report.torn.append(name)
            continue
        if not isinstance(doc, dict) or f"{doc.get('id')}.json" != name:
            report.torn.append(name)
            continue
        report.valid_ids.add(doc["id"])
        report.statuses[doc["id"]] = doc.get("status", "active")
    store = FileStore(dlq)
    try:
        page = store.list(EntryFilter())  # (which settles what killed writers left)
        report.listed_ids = {item.id for item in page.items}
        report.listing_skipped = [s.name for s in page.skipped]
        report.stale_rows = sorted(f"{i.id}: index {i.status}, file {report.statuses.get(i.id)}"
                                   for i in page.items if report.statuses.get(i.id, i.status) != i.status)
    finally:
        store.index.close()
    # Re-read after the listing: a put-back delete is back, a settled change's file is gone.
    report.statuses = {}
    for path in sorted(dlq.glob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
            report.statuses[doc["id"]] = doc.get("status", "active")
        except (ValueError, KeyError, TypeError, OSError):
            continue
    report.leftover_temps = sorted(n for n in os.listdir(dlq) if n.startswith(".") and n.endswith(".deleting"))
    audit_path = dlq / ".mova" / "audit.jsonl"
    read = AuditLog(audit_path).read()
    report.audit_records, report.audit_bad_lines = read.records, read.bad_lines
    if audit_path.exists():
        report.audit_line_count = len([ln for ln in audit_path.read_bytes().splitlines() if ln.strip()])
    for runs in (dlq.parent / "runs", dlq.parent / "sandbox"):
        for path in sorted(runs.glob("*.json")) if runs.is_dir() else []:
            if path.name.startswith("."):
                continue
            try:
                json.loads(path.read_bytes())
            except ValueError:
                report.torn_run_records.append(path.name)
    return report


def assert_sound(report: DirReport) -> None:
    """No torn entry or run record, listings agree with the files, audit torn only at its last line."""
    assert report.torn == [], f"torn or mismatched entry files: {report.torn}"
    assert report.torn_run_records == [], f"torn run records: {report.torn_run_records}"
    assert report.listing_skipped == [], f"listing skipped files: {report.listing_skipped}"
    assert report.listed_ids == report.valid_ids, "the listing does not match the files"
    assert not any(i.startswith(".") for i in report.listed_ids), "a temporary file was listed"
    assert all(n == report.audit_line_count for n in report.audit_bad_lines), (
        f"audit lines {report.audit_bad_lines} unreadable (only a torn last line is tolerated)")
    assert report.stale_rows == [], f"index rows not matching their files: {report.stale_rows}"
    assert report.leftover_temps == [], f".deleting files left after a listing: {report.leftover_temps}"


def replay_audit(records: list[dict], statuses: dict[str, str], initial: dict[str, str] | None = None) -> list[str]:
    """Every way the audit log, replayed in file order, disagrees with the files (`statuses`: the
    status of each entry on disk; absent if deleted). An entry starts at `initial` (default: where
    its first record starts); each record must start where the one before left it, a record
    taking a change back (`undone`) included, and the last must leave it as it is on disk."""
    unsound: list[str] = []
    chains: dict[str, list[dict]] = {}
    for rec in records:
        chains.setdefault(rec.get("entry_id"), []).append(rec)
    for entry_id in sorted(set(chains) | set(initial or {}), key=str):
        chain = chains.get(entry_id, [])
        status = (initial or {}).get(entry_id, chain[0]["old_status"] if chain else None)
        for rec in chain:
            if rec["old_status"] != status:
                unsound.append(f"{entry_id}: {rec} starts from {rec['old_status']}, the log left it {status}")
                break
            status = rec["new_status"]
        else:
            if statuses.get(entry_id) != status:
                unsound.append(f"{entry_id}: the log ends {status}, the file is {statuses.get(entry_id)}")
    return unsound


def snapshot_tree(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under root, except under `skip`: to prove nothing was written there."""
    out = {}
    for path in root.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out
