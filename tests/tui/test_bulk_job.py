"""The dashboard's bulk archive/delete/retry jobs: run by the core's runner, recorded like `--all`, resumable."""

from __future__ import annotations

import subprocess
import sys
import threading

from mova_core.model.status import EntryStatus
from mova_core.ops.bulk import ResultsFile
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.bulk import bulk_job, retry_job
from mova_tui.app.jobs import JobContext
from tests.support import ROOT

ACTIVE = ["dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249", "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18",
          "dlq_5e0b93f4-27ad-4c18-8f6e-b3a1d9047c62", "dlq_4b7d29e6-a8c3-4e51-b94f-1c6e07a3d8b2"]


def context(service: DLQService, lines: list[str] | None = None, cancel_after: int | None = None) -> JobContext:
    """A job context recording progress lines; with `cancel_after`, cancel once that many ids are finished."""
    cancel = threading.Event()
    finished = [0]

    def progress(line: str = "", advance: int = 0) -> None:
        if lines is not None:
            lines.append(line)
        finished[0] += advance
        if cancel_after is not None and finished[0] >= cancel_after:
            cancel.set()

    return JobContext(service, progress, cancel)


def test_a_cancelled_bulk_archive_is_finished_by_mova_resume(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq))
    report = bulk_job("archive", ACTIVE)(context(service, cancel_after=2))  # cancelled before the third id
    assert [service.get(i).status for i in ACTIVE[:2]] == [EntryStatus.archived] * 2
    assert [service.get(i).status for i in ACTIVE[2:]] == [EntryStatus.active] * 2
    assert report.severity == "warning"
    (path,) = (sample_dlq / ".mova" / "bulk").glob("archive-*.jsonl")
    assert f"mova --dlq-path {sample_dlq} dlq archive --all --resume {path}" in report.summary
    assert "2 entries not done" in report.summary
    assert ResultsFile.load(path).pending() == ACTIVE[2:]

    r = subprocess.run([sys.executable, "-m", "mova_tui.cli.main", "--dlq-path", str(sample_dlq), "dlq", "archive",
                        "--all", "--resume", str(path), "--yes"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert {service.get(i).status for i in ACTIVE} == {EntryStatus.archived}
    assert ResultsFile.load(path).pending() == []


def test_one_entry_writes_no_results_file(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq))
    report = bulk_job("archive", ACTIVE[:1])(context(service))
    assert (report.summary, report.severity) == (f"Archived {ACTIVE[0]}", "information")
    assert service.get(ACTIVE[0]).status == EntryStatus.archived
    assert not (sample_dlq / ".mova" / "bulk").exists()


def test_a_finished_bulk_delete_names_its_results_file(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq))
    resolved = ["dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e", "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3"]
    report = bulk_job("delete", resolved)(context(service))
    (path,) = (sample_dlq / ".mova" / "bulk").glob("delete-*.jsonl")
    assert report.summary == f"Deleted 2 entries; results in {path}" and report.severity == "information"
    assert not any((sample_dlq / f"{i}.json").exists() for i in resolved)
    assert [r.outcome for r in ResultsFile.load(path).recorded.values()] == ["deleted", "deleted"]


class Flaky(DLQService):
    """The real service, except that archiving one id raises an unexpected error."""

    def archive(self, id_or_prefix, **kwargs):
        if id_or_prefix == ACTIVE[1]:
            raise RuntimeError("disk on fire")
        return super().archive(id_or_prefix, **kwargs)


def test_an_unexpected_error_on_one_id_is_recorded_and_the_run_goes_on(sample_dlq):
    """The runner's rule, which the dashboard now shares with `--all`: one entry's surprise is a failed line."""
    service = Flaky(Settings(dlq_path=sample_dlq))
    lines: list[str] = []
    report = bulk_job("archive", ACTIVE)(context(service, lines))
    (path,) = (sample_dlq / ".mova" / "bulk").glob("archive-*.jsonl")
    recorded = ResultsFile.load(path).recorded
    assert recorded[ACTIVE[1]].outcome == "failed" and "RuntimeError: disk on fire" in recorded[ACTIVE[1]].detail
    assert [recorded[i].outcome for i in ACTIVE if i != ACTIVE[1]] == ["archived"] * 3
    assert report.summary.startswith("Archived 3 entries; 1 skipped or refused") and report.severity == "warning"
    assert any("disk on fire" in line for line in lines)


def test_a_bulk_sandbox_retry_is_recorded_without_secret_values(sample_dlq):
    from mova_core.model.entry import RetryOverrides

    service = DLQService(Settings(dlq_path=sample_dlq))
    overrides = RetryOverrides(variables={"timeout": 60}, secrets={"api_key": "s3cr3t-value-991"})
    lines: list[str] = []
    report = retry_job(ACTIVE[:2], True, overrides)(context(service, lines))
    (path,) = (sample_dlq / ".mova" / "bulk").glob("retry-*.jsonl")
    record = ResultsFile.load(path)
    assert record.plan.options["override_secrets"] == ["api_key"] and record.plan.options["sandbox_mode"] is True
    assert record.pending() == [] and set(record.recorded) == set(ACTIVE[:2])
    assert report.summary.startswith("Sandbox retry of 2 entries: ") and f"results in {path}" in report.summary
    assert "s3cr3t-value-991" not in path.read_text() and not any("s3cr3t-value-991" in line for line in lines)
    assert any(line.startswith("[1/2] sandbox retry of ") for line in lines)
