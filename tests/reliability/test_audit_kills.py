"""Status changes killed at any moment: a writer changing statuses as fast as it can is SIGKILLed at
seeded random times, again and again. Afterwards (one listing later) the audit log, replayed in file
order from the entries' first statuses, ends exactly where each file is, and no temporary file of a
killed change is left: a change recorded but not made was taken back, a delete renamed aside but
not recorded was put back (`mova_core.store.intents`)."""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time

import pytest

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.audit import AuditLog
from tests.support import ROOT

from .support import child_env, closed_port_url, replay_audit, scaled, write_entries

pytestmark = pytest.mark.reliability

SEED = 20261201


def _file_statuses(dlq) -> dict[str, str]:
    out = {}
    for path in dlq.glob("*.json"):
        out[path.stem] = json.loads(path.read_text())["status"]
    return out


def test_a_writer_killed_at_any_moment_leaves_a_log_that_replays_to_the_files(tmp_path, figures, scale):
    rng = random.Random(SEED)
    dlq = tmp_path / "state" / "deadletter"
    url = closed_port_url()
    initial = {entry_id: "active" for entry_id in write_entries(dlq, 4, url)}
    env = child_env(dlq)
    for round_no in range(scaled(24, scale)):
        live = [i for i in initial if (dlq / f"{i}.json").exists()]
        if len(live) < 3:  # deleted ones stay deleted: new entries take their place
            fresh = write_entries(dlq, 4 - len(live), url)
            initial.update(dict.fromkeys(fresh, "active"))
            live += fresh
        job = tmp_path / f"job-{round_no}.json"
        job.write_text(json.dumps({"dlq": str(dlq), "ids": live, "seed": SEED + round_no}))
        proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.kill_worker", str(job)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout.readline().strip() == b"ready", proc.stderr.read() if not ready else b""
        time.sleep(rng.uniform(0.01, 0.3))
        proc.kill()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -9, err.decode()
        figures.add("audit_kills")

    # The next listing (any process's) settles what the last kill left; the worker of each round
    # settled the one before it when it listed at start-up.
    DLQService(Settings(dlq_path=dlq)).list()
    records = AuditLog(dlq / ".mova" / "audit.jsonl").read().records
    unsound = replay_audit(records, _file_statuses(dlq), initial)
    leftovers = sorted(n for n in os.listdir(dlq) if n.startswith(".") and n.endswith((".tmp", ".deleting")))
    figures.add("audit_records", len(records))
    figures.add("audit_settled", sum(1 for r in records if r.get("recovered")))
    figures.add("unsound_audit_records", len(unsound))
    figures.add("leftover_temp_files", len(leftovers))
    assert unsound == [], "\n".join(unsound)
    assert leftovers == [], leftovers
    listed = {i.id: i.status for i in DLQService(Settings(dlq_path=dlq)).list().items}
    stale = sorted(i for i, status in _file_statuses(dlq).items() if listed.get(i) != status)
    figures.add("stale_index_rows", len(stale))
    assert stale == []
    assert len(records) > scaled(24, scale), "too few changes were made to prove anything"
