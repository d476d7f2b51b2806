"""The dashboard's bulk archive/delete job: recorded like `--all`, and resumable from the CLI."""

from __future__ import annotations

import subprocess
import sys

from mova_core.model.status import EntryStatus
from mova_core.ops.bulk import ResultsFile
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.actions import bulk_job
from tests.support import ROOT

ACTIVE = ["dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249", "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18",
          "dlq_5e0b93f4-27ad-4c18-8f6e-b3a1d9047c62", "dlq_4b7d29e6-a8c3-4e51-b94f-1c6e07a3d8b2"]


def test_a_cancelled_bulk_archive_is_finished_by_mova_resume(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq))
    checks = iter([False, False, True])  # cancelled before the third id
    lines: list[str] = []
    summary, severity, done = bulk_job("archive", ACTIVE)(service, lambda line="", advance=0: lines.append(line),
                                                         lambda: next(checks))
    assert done == ACTIVE[:2] and severity == "warning"
    (path,) = (sample_dlq / ".mova" / "bulk").glob("archive-*.jsonl")
    assert f"mova dlq archive --all --resume {path}" in summary and "2 entries not done" in summary
    assert ResultsFile.load(path).pending() == ACTIVE[2:]

    r = subprocess.run([sys.executable, "-m", "mova_tui.cli.main", "--dlq-path", str(sample_dlq), "dlq", "archive",
                        "--all", "--resume", str(path), "--yes"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert {service.get(i).status for i in ACTIVE} == {EntryStatus.archived}
    assert ResultsFile.load(path).pending() == []


def test_one_entry_writes_no_results_file(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq))
    summary, severity, done = bulk_job("archive", ACTIVE[:1])(service, lambda *a: None, lambda: False)
    assert (summary, severity, done) == (f"Archived {ACTIVE[0]}", "information", ACTIVE[:1])
    assert not (sample_dlq / ".mova" / "bulk").exists()


def test_a_finished_bulk_delete_names_its_results_file(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq))
    resolved = ["dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e", "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3"]
    summary, severity, done = bulk_job("delete", resolved)(service, lambda *a: None, lambda: False)
    (path,) = (sample_dlq / ".mova" / "bulk").glob("delete-*.jsonl")
    assert summary == f"Deleted 2 entries; results in {path}" and severity == "information" and done == resolved
    assert [r.outcome for r in ResultsFile.load(path).recorded.values()] == ["deleted", "deleted"]


def test_a_bulk_sandbox_retry_is_recorded_without_secret_values(sample_dlq):
    from mova_core.model.entry import RetryOverrides
    from mova_tui.app.actions import retry_job

    service = DLQService(Settings(dlq_path=sample_dlq))
    overrides = RetryOverrides(variables={"timeout": 60}, secrets={"api_key": "s3cr3t-value-991"})
    lines: list[str] = []
    summary, severity, ids = retry_job(ACTIVE[:2], True, overrides)(
        service, lambda line="", advance=0: lines.append(line), lambda: False)
    (path,) = (sample_dlq / ".mova" / "bulk").glob("retry-*.jsonl")
    record = ResultsFile.load(path)
    assert record.plan.options["override_secrets"] == ["api_key"] and record.plan.options["sandbox_mode"] is True
    assert record.pending() == [] and set(record.recorded) == set(ACTIVE[:2])
    assert summary.startswith("Sandbox retry of 2 entries: ") and f"results in {path}" in summary
    assert "s3cr3t-value-991" not in path.read_text() and not any("s3cr3t-value-991" in line for line in lines)
    assert any(line.startswith("[1/2] sandbox retry of ") for line in lines)
