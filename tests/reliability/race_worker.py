"""A racing writer for the reliability suite: `python -m tests.reliability.race_worker JOB.json`.

Waits on a file barrier, then performs `ops` random operations (claim, finish its own claim,
archive, set-status, delete, some breaking a live lease) on a few shared entries through `DLQService`, each under
an actor of its own (`w<worker>.<op>`) so the test can match every audit record to one operation.
Prints one JSON line per operation: what it tried and how it ended.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from mova_core.model.entry import RetryRecord
from mova_core.model.errors import MovaError
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.timeutil import format_time, utcnow

STATUSES = ["active", "archived", "resolved", "active", "retrying"]


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    rng = random.Random(job["seed"])
    svc = DLQService(Settings(dlq_path=Path(job["dlq"]), lease_seconds=600))
    held: dict[str, str] = {}  # entry id -> retry run id this worker holds
    barrier = Path(job["barrier"])
    deadline = time.monotonic() + 30
    while not barrier.exists():
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.002)
    for k in range(job["ops"]):
        entry_id = rng.choice(job["ids"])
        actor = f"w{job['worker']}.{k}"
        svc.actor = actor
        roll = rng.random()
        break_lease = rng.random() < 0.1
        if entry_id in held and roll < 0.5:
            op, arg = "finish", held[entry_id]
        elif roll < 0.3:
            op, arg = "claim", f"retry_{actor}"
        elif roll < 0.55:
            op, arg = "archive", None
        elif roll > 0.97 and k > job["ops"] * 0.8:  # deletes late, or the rest would race over nothing
            op, arg = "delete", None
        else:
            op, arg = "set_status", rng.choice(STATUSES)
        result = {"actor": actor, "op": op, "entry": entry_id, "arg": arg, "break_lease": break_lease}
        try:
            if op == "finish":
                record = RetryRecord(retry_run_id=arg, sandbox_mode=True, start_time=format_time(utcnow()),
                                     outcome="failed", error="raced")
                new = svc.finish_retry(entry_id, arg, "active", record)
                held.pop(entry_id, None)
            elif op == "claim":
                new = svc.claim(entry_id, arg, True)
                held[entry_id] = arg
            elif op == "archive":
                new = svc.archive(entry_id, break_lease=break_lease)
            elif op == "set_status":
                new = svc.set_status(entry_id, arg, break_lease=break_lease)
            else:
                new = svc.delete(entry_id, break_lease=break_lease)
            result.update(ok=True, status=new.status.value if op != "delete" else None)
        except MovaError as exc:
            if op == "finish":
                held.pop(entry_id, None)  # lost to a change that broke its lease: it no longer holds the entry
            result.update(ok=False, error_type=type(exc).__name__, error=str(exc))
        except Exception as exc:  # a bug: reported to the test, which fails on it
            result.update(ok=False, error_type=f"BUG:{type(exc).__name__}", error=repr(exc))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
