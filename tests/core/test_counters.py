"""The metrics' counters: folded from the audit log and the index's arrivals, exactly once, never down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mova_core.model.entry import RetryRecord
from mova_core.model.status import EntryStatus
from mova_core.ops.alerts import Thresholds
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.timeutil import format_time
from tests.support import FROZEN_NOW, ROOT, SAMPLE_DLQ

from .engine_fixtures import FakeClock, clock, make_engine, server, settings, state  # noqa: F401
from .test_retry import failing_entry, retry_entry

ACTIVE = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
OTHER_ACTIVE = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18"


def samples(svc: DLQService) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition, by (name, sorted labels), read with prometheus-client's parser."""
    text = svc.metrics_text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def attempts(values: dict, mode: str, outcome: str) -> float:
    return values[("dlq_retry_attempts_total", (("mode", mode), ("outcome", outcome)))]


@pytest.fixture
def sample(sample_dlq):
    clock = FakeClock(FROZEN_NOW)
    svc = DLQService(Settings(dlq_path=sample_dlq), clock=clock.now, actor="tester@test")
    yield svc, clock
    svc.close()


def run_claim(svc: DLQService, entry_id: str, run_id: str, *, sandbox: bool = True):
    return svc.claim(entry_id, run_id, sandbox)


def finish(svc: DLQService, entry_id: str, run_id: str, outcome: str, *, sandbox: bool = True, resolve=False):
    record = RetryRecord(retry_run_id=run_id, sandbox_mode=sandbox, start_time=format_time(svc.clock()),
                         end_time=format_time(svc.clock()), outcome=outcome, actor="tester@test")
    svc.finish_retry(entry_id, run_id, EntryStatus.resolved if resolve else EntryStatus.active, record)


def test_real_retries_count_by_mode_and_outcome_with_their_durations(server, settings, clock):
    service = DLQService(settings, clock=clock.now, actor="tester@test")
    a = failing_entry(settings, clock, server)
    b = failing_entry(settings, clock, server, path="status/500/m2")
    retry_entry(service, a, overrides={"variables": {"path": "ok"}}, engine=make_engine(settings, clock))  # sandbox ok
    clock.advance(2)
    retry_entry(service, a, sandbox_mode=False, overrides={"variables": {"path": "ok"}}, engine=make_engine(settings, clock))
    clock.advance(2)
    retry_entry(service, b, sandbox_mode=False, engine=make_engine(settings, clock))  # fails: 2 x 0.01 s of waits
    v = samples(service)
    assert attempts(v, "sandbox", "completed") == 1
    assert attempts(v, "production", "completed") == 1 and attempts(v, "production", "failed") == 1
    assert v[("dlq_resolution_rate", ())] == pytest.approx(2 / 3, abs=1e-6)
    assert sum(n for (name, _), n in v.items() if name == "dlq_dead_lettered_total") == 2
    assert v[("dlq_resolutions_total", (("how", "retry"),))] == 1
    prod, sandbox = (("mode", "production"),), (("mode", "sandbox"),)
    assert v[("workflow_retry_duration_seconds_count", prod)] == 2
    assert v[("workflow_retry_duration_seconds_sum", prod)] == pytest.approx(0.02)
    assert v[("workflow_retry_duration_seconds_count", sandbox)] == 1
    assert v[("workflow_retry_duration_seconds_bucket", (("le", "0.1"), ("mode", "production")))] == 2
    # a was dead-lettered at the clock's start and resolved 2 s later
    assert v[("dlq_time_to_resolution_seconds_count", ())] == 1
    assert v[("dlq_time_to_resolution_seconds_sum", ())] == pytest.approx(2.0, abs=0.1)
    assert v[("dlq_time_to_resolution_seconds_bucket", (("le", "60.0"),))] == 1
    failure = service.alerts(Thresholds(max_retry_failure_rate=0.2))[0]
    assert failure.breached and failure.value == pytest.approx(1 / 3, abs=1e-3) and failure.entries == [b]
    service.close()


def test_no_retries_render_zeros_for_every_mode_and_outcome(empty_dlq):
    with DLQService(Settings(dlq_path=empty_dlq)) as svc:
        v = samples(svc)
    assert v[("dlq_resolution_rate", ())] == 0.0
    assert attempts(v, "sandbox", "failed") == 0 and attempts(v, "production", "abandoned") == 0
    assert v[("dlq_entries_total", (("status", "retrying"),))] == 0


def test_counters_never_decrease_across_delete_purge_archive_and_a_rebuilt_index(sample):
    svc, clock = sample
    first = samples(svc)
    assert sum(v for (n, _), v in first.items() if n == "dlq_dead_lettered_total") == 16
    svc.set_status(ACTIVE, "resolved")
    run_claim(svc, OTHER_ACTIVE, "run_a")
    finish(svc, OTHER_ACTIVE, "run_a", "failed")
    svc.archive(OTHER_ACTIVE)
    svc.delete(OTHER_ACTIVE)
    clock.advance(400 * 86400)
    report = svc.purge(30)
    assert report.removed
    svc.store.close()
    for suffix in ("", "-wal", "-shm"):
        (svc.settings.mova_dir / f"index.sqlite{suffix}").unlink(missing_ok=True)
    fresh = DLQService(svc.settings, clock=clock.now)  # a new process's view: a rebuilt index
    after = samples(fresh)
    fresh.close()
    for key, value in first.items():
        if key[0].endswith(("_total", "_count", "_sum", "_bucket")) and key[0] != "dlq_entries_total":  # a gauge
            assert after[key] >= value, key
    assert sum(v for (n, _), v in after.items() if n == "dlq_dead_lettered_total") == 16
    assert after[("dlq_resolutions_total", (("how", "manual"),))] == 1
    assert after[("dlq_removed_total", (("reason", "delete"),))] == 1
    assert after[("dlq_removed_total", (("reason", "purge"),))] == len(report.removed)
    assert attempts(after, "sandbox", "failed") == 1
    assert after[("dlq_entries_total", (("status", "archived"),))] == 0  # the gauge follows the files


def test_a_new_file_counts_once_whoever_wrote_it(sample, tmp_path):
    svc, _ = sample
    samples(svc)
    doc = json.loads((SAMPLE_DLQ / f"{ACTIVE}.json").read_text())
    doc["id"] = "dlq_00000000-0000-4000-8000-00000000abcd"
    doc["metadata"]["workflow_type"] = "brand-new"
    (svc.settings.dlq_path / f"{doc['id']}.json").write_text(json.dumps(doc))  # another engine's write
    key = ("dlq_dead_lettered_total", (("workflow_type", "brand-new"),))
    assert samples(svc)[key] == 1
    svc.archive(doc["id"])  # a rewrite of the same id
    assert samples(svc)[key] == 1


def test_a_lost_lease_counts_the_retry_as_abandoned(sample):
    svc, clock = sample
    run_claim(svc, ACTIVE, "run_1")
    clock.advance(svc.settings.lease_seconds + 1)
    run_claim(svc, ACTIVE, "run_2", sandbox=False)  # takes the stale lease over
    svc.archive(ACTIVE, break_lease=True)  # taken from run_2 as well
    v = samples(svc)
    assert attempts(v, "sandbox", "abandoned") == 1 and attempts(v, "production", "abandoned") == 1
    assert v[("dlq_resolution_rate", ())] == 0.0  # abandoned retries did not finish


def test_running_sandbox_retries_and_their_age(sample):
    svc, clock = sample
    run_claim(svc, ACTIVE, "run_long")
    clock.advance(120)
    v = samples(svc)
    assert v[("dlq_retries_running", (("mode", "sandbox"),))] == 1
    assert v[("dlq_longest_sandbox_retry_seconds", ())] == pytest.approx(120)
    assert v[("dlq_retries_stale", ())] == 1  # the sample's own stale entry
    alert = svc.alerts(Thresholds(max_sandbox_runtime_seconds=60))[0]
    assert alert.breached and alert.entries == [ACTIVE]


def test_a_torn_or_unfinished_audit_line_is_never_counted_twice(sample):
    svc, _ = sample
    audit = svc.settings.effective_audit_path
    samples(svc)
    record = {"time": format_time(FROZEN_NOW), "op": "delete", "entry_id": "dlq_x", "old_status": "active",
              "new_status": None, "actor": "other"}
    line = json.dumps(record).encode()
    with open(audit, "ab") as f:
        f.write(b'{"op": "delete", "entry_id": "dlq_torn"\n')  # killed mid-write, then completed by a newline
        f.write(line[:20])  # still being written
    assert samples(svc)[("dlq_removed_total", (("reason", "delete"),))] == 0
    with open(audit, "ab") as f:
        f.write(line[20:] + b"\n")
    assert samples(svc)[("dlq_removed_total", (("reason", "delete"),))] == 1
    assert samples(svc)[("dlq_removed_total", (("reason", "delete"),))] == 1


def test_a_rotated_audit_log_is_read_from_its_start(sample):
    svc, _ = sample
    svc.delete(ACTIVE)
    assert samples(svc)[("dlq_removed_total", (("reason", "delete"),))] == 1
    audit = svc.settings.effective_audit_path
    os.rename(audit, audit.with_name("audit.jsonl.1"))
    svc.delete(OTHER_ACTIVE)  # the new log is shorter than the old offset
    assert samples(svc)[("dlq_removed_total", (("reason", "delete"),))] == 2


def test_two_processes_folding_at_once_count_each_event_once(sample_dlq):
    audit = sample_dlq / ".mova" / "audit.jsonl"
    audit.parent.mkdir(parents=True, exist_ok=True)
    stamp = format_time(FROZEN_NOW)
    with open(audit, "w") as f:
        for n in range(3000):
            f.write(json.dumps({"time": stamp, "op": "retry_finish", "entry_id": f"dlq_{n}", "old_status": "retrying",
                                "new_status": "active", "actor": "a", "retry_run_id": f"r{n}",
                                "sandbox_mode": n % 2 == 0, "outcome": "failed" if n % 3 else "completed"}) + "\n")
    env = {**os.environ, "MOVA_DLQ_PATH": str(sample_dlq)}
    cmd = [sys.executable, "-c", "from mova_tui.cli.main import run; run()", "dlq", "metrics"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    totals = []
    for out, _ in outs:
        found = {(s.name, tuple(sorted(s.labels.items()))): s.value
                 for family in text_string_to_metric_families(out) for s in family.samples}
        totals.append(sum(v for (n, _), v in found.items() if n == "dlq_retry_attempts_total"))
    assert totals == [3000] * 4
    with DLQService(Settings(dlq_path=sample_dlq)) as svc:
        v = samples(svc)
    assert attempts(v, "sandbox", "completed") + attempts(v, "production", "completed") == 1000


def test_a_missing_directory_is_not_created_by_its_metrics(tmp_path):
    missing = tmp_path / "nowhere" / "deadletter"
    with DLQService(Settings(dlq_path=missing)) as svc:
        v = samples(svc)
    assert not missing.exists() and v[("dlq_entries_total", (("status", "active"),))] == 0


def test_metrics_are_the_same_from_any_clock_moment(sample):
    svc, clock = sample
    before = samples(svc)[("dlq_oldest_active_entry_age_seconds", ())]
    clock.advance(timedelta(hours=1).total_seconds())
    assert samples(svc)[("dlq_oldest_active_entry_age_seconds", ())] == pytest.approx(before + 3600)
