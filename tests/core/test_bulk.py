"""Bulk runs: frozen set, once per id, concurrency, rate limiting, stop after failures, results file, resume."""

from __future__ import annotations

import json
import threading

import pytest

from mova_core.model.errors import InvalidInput
from mova_core.ops.bulk import (
    BulkOutcome,
    BulkPlan,
    BulkResult,
    RateLimiter,
    ResultsFile,
    archive_action,
    delete_action,
    parse_rate,
    retry_action,
    run_bulk,
)
from mova_core.ops.service import build_service


class FakeClock:
    """A monotonic clock that only moves when the limiter sleeps."""

    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.mark.parametrize("text, per_second", [("5", 5.0), ("5/s", 5.0), ("30/m", 0.5), ("600/h", 1 / 6),
                                              ("2.5/sec", 2.5), (" 1 / minute ", 1 / 60)])
def test_parse_rate(text, per_second):
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["", "fast", "0", "0/s", "-1/s", "5/d"])
def test_parse_rate_rejects(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_rate_limiter_spaces_starts_exactly():
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        limiter.acquire()
    assert clock.sleeps == [0.25, 0.25, 0.25]


def test_rate_limiter_does_not_wait_when_work_is_slower_than_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 5  # the first operation took longer than the interval
    limiter.acquire()
    assert clock.sleeps == []


def test_no_rate_never_sleeps():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limiter.acquire()
    assert clock.sleeps == []


def test_each_id_once_in_plan_order_with_outcomes_recorded(tmp_path):
    seen: list[str] = []

    def action(entry_id: str) -> BulkResult:
        seen.append(entry_id)
        return BulkResult(entry_id, {"a": "completed", "b": "failed", "c": "skipped"}[entry_id])

    plan = BulkPlan("retry", ["a", "b", "a", "c"])
    assert plan.ids == ["a", "b", "c"]
    results = ResultsFile.create(tmp_path / "r.jsonl", plan)
    summary = run_bulk(plan.ids, action, results=results)
    assert seen == ["a", "b", "c"]
    assert (summary.total, summary.done, summary.failed, summary.skipped) == (3, 1, 1, 1)
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0]["plan"]["ids"] == ["a", "b", "c"] and lines[0]["plan"]["operation"] == "retry"
    assert [(line["id"], line["outcome"]) for line in lines[1:]] == [("a", "completed"), ("b", "failed"),
                                                                     ("c", "skipped")]


def test_an_action_that_raises_is_recorded_as_failed_and_the_run_goes_on():
    def action(entry_id: str) -> BulkResult:
        if entry_id == "x":
            raise RuntimeError("boom")
        return BulkResult(entry_id, "archived")

    got: list[BulkResult] = []
    summary = run_bulk(["x", "y"], action, on_result=got.append)
    assert [(r.id, r.outcome) for r in got] == [("x", "failed"), ("y", "archived")]
    assert "boom" in got[0].detail and summary.failed == 1 and summary.done == 1


def test_stop_after_failures_leaves_the_rest_not_attempted():
    summary = run_bulk(list("abcdef"), lambda i: BulkResult(i, "failed"), stop_after_failures=2)
    assert (summary.failed, summary.not_attempted) == (2, list("cdef"))
    assert "stopped after 2 failures" in summary.stopped_reason


def test_concurrency_runs_k_at_a_time():
    running = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(3, timeout=5)

    def action(entry_id: str) -> BulkResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if entry_id in "abc":
            gate.wait()  # the first three must be running at the same time
        with lock:
            running -= 1
        return BulkResult(entry_id, "completed")

    summary = run_bulk(list("abcdefg"), action, concurrency=3)
    assert summary.done == 7 and peak == 3


def test_cancel_stops_starting_new_ids():
    cancel = threading.Event()

    def action(entry_id: str) -> BulkResult:
        if entry_id == "b":
            cancel.set()
        return BulkResult(entry_id, "completed")

    summary = run_bulk(list("abcde"), action, cancel=cancel)
    assert summary.done == 2 and summary.not_attempted == list("cde") and summary.stopped_reason == "cancelled"


def test_results_file_resume_skips_recorded_ids_and_tolerates_a_torn_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsFile.create(path, BulkPlan("archive", ["a", "b", "c", "d"], filter={"status": "active"}))
    with open(path, "a") as fh:
        fh.write(json.dumps({"id": "a", "outcome": "archived"}) + "\n")
        fh.write(json.dumps({"id": "b", "outcome": "failed", "detail": "x"}) + "\n")
        fh.write('{"id": "c", "outc')  # the process died mid-line
    record = ResultsFile.load(path)
    assert record.plan.operation == "archive" and record.plan.filter == {"status": "active"}
    assert record.pending() == ["c", "d"]
    run_bulk(record.pending(), lambda i: BulkResult(i, "archived"), results=record)
    assert '{"id": "c", "outc\n' in path.read_text()  # the torn line stays on its own line
    again = ResultsFile.load(path)
    assert again.pending() == []
    assert {i: r.outcome for i, r in again.recorded.items()} == {"a": "archived", "b": "failed", "c": "archived",
                                                                  "d": "archived"}


def test_results_lines_hold_the_outcome_as_plain_text(tmp_path):
    """The outcome enum writes the same bytes as the strings it replaced, so old files resume."""
    path = tmp_path / "r.jsonl"
    record = ResultsFile.create(path, BulkPlan("retry", ["a", "b", "c"]))
    record.append(BulkResult("a", BulkOutcome.completed, retry_run_id="retry_1", at="2026-11-28T10:00:00Z"))
    record.append(BulkResult("b", "skipped", "gone", at="2026-11-28T10:00:01Z"))
    assert path.read_text().splitlines()[1:] == [
        '{"id": "a", "outcome": "completed", "retry_run_id": "retry_1", "at": "2026-11-28T10:00:00Z"}',
        '{"id": "b", "outcome": "skipped", "detail": "gone", "at": "2026-11-28T10:00:01Z"}',
    ]
    assert [r.kind for r in ResultsFile.load(path).recorded.values()] == ["done", "skipped"]
    assert {o.value: o.kind for o in BulkOutcome} == {"completed": "done", "archived": "done", "deleted": "done",
                                                      "failed": "failed", "skipped": "skipped"}


def test_a_results_line_with_an_unknown_outcome_is_redone(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsFile.create(path, BulkPlan("archive", ["a", "b", "c"]))
    with open(path, "a") as fh:
        fh.write(json.dumps({"id": "a", "outcome": "exploded"}) + "\n")
        fh.write(json.dumps({"id": "b", "outcome": ["archived"]}) + "\n")
        fh.write(json.dumps({"id": "c", "outcome": "archived"}) + "\n")
    assert ResultsFile.load(path).pending() == ["a", "b"]
    with pytest.raises(ValueError):
        BulkResult("a", "exploded")


def test_results_file_is_never_overwritten(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsFile.create(path, BulkPlan("delete", ["a"]))
    with pytest.raises(InvalidInput, match="already exists"):
        ResultsFile.create(path, BulkPlan("delete", ["b"]))


@pytest.mark.parametrize("content, message", [
    ("", "no plan line"),
    ('{"id": "a", "outcome": "archived"}\n', "no plan line"),
    ('not json\n[1]\n', "no plan line"),
    ('{"plan": {"operation": "retry"}}\n', "malformed plan"),
])
def test_results_file_that_is_not_one_is_refused(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        ResultsFile.load(path)


def test_archive_and_delete_actions_over_a_service(sample_dlq):
    service = build_service(str(sample_dlq))
    archive = archive_action(lambda: service)
    assert archive("dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249").outcome == "archived"
    gone = archive("dlq_00000000-0000-0000-0000-000000000000")
    assert gone.outcome == "skipped" and "no dead-letter entry" in gone.detail
    delete = delete_action(lambda: service)
    assert delete("dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249").outcome == "deleted"
    assert delete("dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249").outcome == "skipped"


def test_frozen_set_ignores_entries_arriving_during_the_run(sample_dlq):
    """The ids are taken once; an entry written while the run goes on is not acted on."""
    service = build_service(str(sample_dlq))
    frozen = [s.id for s in service.list().items if s.status == "active"]
    newcomer = sample_dlq / "dlq_99999999-0000-4000-8000-000000000000.json"
    archive = archive_action(lambda: service)
    template = sample_dlq / f"{frozen[0]}.json"

    def action(entry_id: str) -> BulkResult:
        if not newcomer.exists():
            data = json.loads(template.read_text())
            data["id"] = newcomer.stem
            newcomer.write_text(json.dumps(data))
        return archive(entry_id)

    summary = run_bulk(frozen, action)
    assert summary.done == len(frozen) == 11
    assert json.loads(newcomer.read_text())["status"] == "active"


# -- every bulk action re-checks its plan's filter under the entry's lock -----------------------------

def _archived_plan(service, tmp_path, count: int = 4) -> ResultsFile:
    """Archive `count` active entries, then plan `delete --all --status archived` over the archived ones."""
    from mova_core.model.listing import EntryFilter

    for item in service.list(EntryFilter(status="active", limit=count)).items:
        service.archive(item.id)
    flt = EntryFilter(status="archived")
    ids = [i.id for i in service.list(flt).items]
    return ResultsFile.create(tmp_path / "delete.jsonl", BulkPlan("delete", ids, filter=flt.spec_dict()))


def test_a_resumed_bulk_delete_leaves_an_entry_reopened_meanwhile(sample_dlq, tmp_path):
    """Interrupted after the first id, one entry reopened, then resumed: the reopened entry stays."""
    service = build_service(str(sample_dlq))
    record = _archived_plan(service, tmp_path)
    first, reopened, *rest = record.plan.ids
    cancel = threading.Event()

    def stop_after_first(result: BulkResult) -> None:
        cancel.set()

    summary = run_bulk(record.plan.ids, delete_action(lambda: service), results=record, cancel=cancel,
                       on_result=stop_after_first)
    assert summary.stopped_reason == "cancelled" and summary.done == 1
    service.set_status(reopened, "active")  # someone reopens it while the run is stopped
    resumed = ResultsFile.load(record.path)
    assert resumed.pending() == [reopened, *rest]
    got: list[BulkResult] = []
    summary = run_bulk(resumed.pending(), delete_action(lambda: service), results=resumed, on_result=got.append)
    assert service.get(reopened).status == "active"  # still there
    outcome = {r.id: r for r in got}[reopened]
    assert outcome.outcome == "skipped" and outcome.detail == "no longer matches: status is active"
    assert summary.done == len(rest) and summary.skipped == 1
    assert [a.id for a in service.list().items if a.id in (first, *rest)] == []
    line = [json.loads(x) for x in record.path.read_text().splitlines() if reopened in x and "outcome" in x]
    assert line[-1]["outcome"] == "skipped" and line[-1]["detail"] == "no longer matches: status is active"


def test_every_bulk_action_rechecks_the_filter_it_is_given(sample_dlq):
    from mova_core.model.listing import EntryFilter

    service = build_service(str(sample_dlq))
    active = [i.id for i in service.list(EntryFilter(status="active")).items]
    only_archived = EntryFilter(status="archived")
    for act in (archive_action(lambda: service, only_archived), delete_action(lambda: service, only_archived),
                retry_action(lambda: service, flt=only_archived)):
        result = act(active[0])
        assert (result.outcome, result.detail) == ("skipped", "no longer matches: status is active")
    assert service.get(active[0]).status == "active"
    other_type = EntryFilter(workflow_type="no-such-workflow")
    result = delete_action(lambda: service, other_type)(active[1])
    assert result.outcome == "skipped" and "workflow type is" in result.detail
    assert archive_action(lambda: service, EntryFilter(status="active"))(active[1]).outcome == "archived"


def test_a_bulk_run_rechecks_the_filter_its_results_file_records(sample_dlq, tmp_path):
    """The CLI and the dashboard build their actions without a filter: run_bulk gives them the plan's."""
    service = build_service(str(sample_dlq))
    record = _archived_plan(service, tmp_path, count=2)
    target = record.plan.ids[0]
    service.set_status(target, "active")
    summary = run_bulk(record.plan.ids, delete_action(lambda: service), results=record)
    assert service.get(target).status == "active" and summary.skipped == 1
    assert record.recorded[target].detail == "no longer matches: status is active"


def test_a_plan_without_a_filter_acts_on_every_id(sample_dlq, tmp_path):
    """The dashboard's selections (no filter recorded) are acted on as before."""
    service = build_service(str(sample_dlq))
    ids = [i.id for i in service.list().items if i.status == "active"][:2]
    record = ResultsFile.create(tmp_path / "r.jsonl", BulkPlan("archive", ids, options={"from": "dashboard"}))
    assert run_bulk(ids, archive_action(lambda: service), results=record).done == 2


def test_the_cli_resume_of_a_bulk_delete_keeps_a_reopened_entry(sample_dlq, tmp_path):
    """`mova dlq delete --all --status archived --force --resume FILE` after an entry was reopened."""
    import subprocess
    import sys

    from tests.support import ROOT

    service = build_service(str(sample_dlq))
    record = _archived_plan(service, tmp_path)
    first, reopened, *rest = record.plan.ids
    record.append(delete_action(lambda: service)(first))  # the run got this far before it was stopped
    service.set_status(reopened, "active")
    env = {"PATH": "/usr/bin:/bin", "MOVA_ACTOR": "tester@test", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mova_tui.cli.main", "--dlq-path", str(sample_dlq), "dlq", "delete", "--all",
         "--status", "archived", "--force", "--resume", str(record.path), "--format", "json"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["done"], summary["skipped"]) == (len(rest), 1)
    assert service.get(reopened).status == "active"
    assert "no longer matches: status is active" in done.stderr
    lines = [json.loads(x) for x in record.path.read_text().splitlines()[1:]]
    assert {x["id"]: x["outcome"] for x in lines} == {first: "deleted", reopened: "skipped",
                                                     **{i: "deleted" for i in rest}}
