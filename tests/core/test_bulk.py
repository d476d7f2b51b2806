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
                                                      "reopened": "done", "failed": "failed", "skipped": "skipped"}


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
