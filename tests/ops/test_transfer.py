"""Moving entries between stores: `DLQService.import_dir` and `export_to_dir`, over real directories."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from benchmarks.generate import generate
from mova_core.model.errors import InvalidInput, StoreError
from mova_core.ops import transfer
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.audit import AuditLog
from mova_core.store.files import FileStore
from tests.support import FROZEN_NOW, GO_ENTRY, SAMPLE_DLQ

GO_ID = "7f3c2a91-5b4e-4d2a-9c61-0e8f1b2d4a55"
ONE = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"


def service(path: Path) -> DLQService:
    return DLQService(Settings(dlq_path=path), clock=lambda: FROZEN_NOW, actor="mover@ops")


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.json"))}


def imports(directory: Path) -> list[dict]:
    return [r for r in AuditLog(directory / ".mova" / "audit.jsonl").read().records if r["op"] == "import"]


@pytest.fixture
def queue(tmp_path) -> Path:
    """An empty queue's directory (not created yet: the first import makes it)."""
    return tmp_path / "queue"


def test_sample_export_import_export_is_byte_identical(sample_dlq, queue, tmp_path):
    first = service(sample_dlq).export_to_dir(None, tmp_path / "first")
    assert first.written == 16 and not first.unreadable
    assert files_of(tmp_path / "first") == files_of(SAMPLE_DLQ)

    report = service(queue).import_dir(tmp_path / "first")
    assert (report.imported, report.already_present, report.conflicts, report.skipped) == (16, 0, [], [])
    assert report.complete
    assert files_of(queue) == files_of(SAMPLE_DLQ)

    again = service(queue).export_to_dir(None, tmp_path / "second")
    assert again.written == 16
    assert files_of(tmp_path / "second") == files_of(tmp_path / "first")


def test_the_go_engine_fixture_round_trips_byte_identical_with_its_unknown_fields(queue, tmp_path):
    source = tmp_path / "go"
    source.mkdir()
    shutil.copyfile(GO_ENTRY, source / f"{GO_ID}.json")
    report = service(queue).import_dir(source)
    assert report.imported == 1 and report.complete
    entry = service(queue).get(GO_ID)
    assert entry.workflow_type == "invoice-sync"
    service(queue).export_to_dir(None, tmp_path / "back")
    assert (tmp_path / "back" / f"{GO_ID}.json").read_bytes() == GO_ENTRY.read_bytes()
    assert b'"go_version": "1.23.0"' in (queue / f"{GO_ID}.json").read_bytes()  # a field no model declares


def test_importing_twice_adds_nothing_and_records_nothing_more(queue):
    first = service(queue).import_dir(SAMPLE_DLQ)
    before = files_of(queue), [p.stat().st_mtime_ns for p in sorted(queue.glob("*.json"))]
    second = service(queue).import_dir(SAMPLE_DLQ)
    assert (first.imported, second.imported, second.already_present) == (16, 0, 16)
    assert second.complete
    assert (files_of(queue), [p.stat().st_mtime_ns for p in sorted(queue.glob("*.json"))]) == before
    assert len(imports(queue)) == 16
    assert service(queue).stats().total_entries == 16


def test_each_import_is_audited_with_its_source_and_never_counted_as_a_resolution(queue):
    service(queue).import_dir(SAMPLE_DLQ)
    records = {r["entry_id"]: r for r in imports(queue)}
    assert len(records) == 16
    resolved = records["dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e"]
    assert (resolved["old_status"], resolved["new_status"], resolved["actor"]) == (None, "resolved", "mover@ops")
    assert resolved["source"] == str(SAMPLE_DLQ) and resolved["time"] == "2026-11-28T12:00:00.000000Z"
    counters = service(queue).counters()
    counters.fold()
    assert counters.values().get("dlq_resolutions_total") == {}


def test_a_conflicting_id_is_reported_and_left_as_it_is(sample_dlq, queue, tmp_path):
    service(queue).import_dir(SAMPLE_DLQ)
    changed = json.loads((sample_dlq / f"{ONE}.json").read_text())
    changed["metadata"]["note"] = "edited on the old host"
    (sample_dlq / f"{ONE}.json").write_text(json.dumps(changed, indent=2) + "\n")
    kept = (queue / f"{ONE}.json").read_bytes()

    report = service(queue).import_dir(sample_dlq)
    assert [(c.id, c.reason) for c in report.conflicts] == [(ONE, "the store holds different content for this id")]
    assert report.already_present == 15 and report.imported == 0 and not report.complete
    assert (queue / f"{ONE}.json").read_bytes() == kept


def test_an_id_the_store_cannot_read_is_a_conflict_too(queue):
    service(queue).import_dir(SAMPLE_DLQ)
    (queue / f"{ONE}.json").write_text("{broken")
    report = service(queue).import_dir(SAMPLE_DLQ)
    assert [c.id for c in report.conflicts] == [ONE]
    assert report.conflicts[0].reason.startswith("the store's entry is unreadable: not valid JSON")
    assert (queue / f"{ONE}.json").read_text() == "{broken"


@pytest.fixture(params=["in process", "reader processes"])
def reading(request, monkeypatch) -> str:
    """Files read by this process, or (as for a big directory) by real reader processes too."""
    if request.param == "reader processes":
        monkeypatch.setattr(transfer, "POOL_THRESHOLD", 1)
        monkeypatch.setattr(transfer, "reader_count", lambda: 2)
    return request.param


def test_broken_files_are_skipped_with_their_reason_and_the_rest_imported(sample_dlq, queue, reading):
    (sample_dlq / "dlq_torn.json").write_text('{"id": "dlq_torn", "run_')
    (sample_dlq / "dlq_list.json").write_text("[1, 2]")
    (sample_dlq / "dlq_wrong-name.json").write_text((sample_dlq / f"{ONE}.json").read_text())
    no_envelope = json.loads((sample_dlq / f"{ONE}.json").read_text())
    no_envelope["id"] = "dlq_no-envelope"
    del no_envelope["envelope"]
    (sample_dlq / "dlq_no-envelope.json").write_text(json.dumps(no_envelope))
    os.symlink(sample_dlq / f"{ONE}.json", sample_dlq / "dlq_link.json")

    report = service(queue).import_dir(sample_dlq)
    reasons = {s.name: s.reason for s in report.skipped}
    assert sorted(reasons) == ["dlq_link.json", "dlq_list.json", "dlq_no-envelope.json", "dlq_torn.json",
                               "dlq_wrong-name.json"]
    assert reasons["dlq_torn.json"].startswith("not valid JSON")
    assert reasons["dlq_list.json"] == "not a JSON object"
    assert "does not match the file name" in reasons["dlq_wrong-name.json"]
    assert "symbolic link" in reasons["dlq_link.json"]
    assert report.imported == 16 and not report.complete
    assert sorted(files_of(queue)) == sorted(files_of(SAMPLE_DLQ))


def test_a_traversal_id_in_a_file_is_refused_before_any_path_is_built(queue, tmp_path, reading):
    source = tmp_path / "hostile" / "dir"
    source.mkdir(parents=True)
    doc = json.loads((SAMPLE_DLQ / f"{ONE}.json").read_text())
    for name, entry_id in (("x.json", "../x"), ("y.json", "/etc/y"), ("dlq_a..b.json", "dlq_a..b")):
        (source / name).write_text(json.dumps({**doc, "id": entry_id}))
    (source / "..z.json").write_text(json.dumps({**doc, "id": "..z"}))  # hidden: not an entry file at all

    report = service(queue).import_dir(source)
    reasons = {s.name: s.reason for s in report.skipped}
    assert sorted(reasons) == ["dlq_a..b.json", "x.json", "y.json"]
    assert reasons["x.json"] == "id '../x' does not match the file name"
    assert reasons["dlq_a..b.json"].startswith("invalid entry id 'dlq_a..b'")
    assert report.imported == 0
    assert not (tmp_path / "hostile" / "x.json").exists() and not list(queue.glob("*.json"))


def test_an_empty_directory_imports_nothing_and_a_missing_one_is_refused(queue, tmp_path):
    (tmp_path / "empty").mkdir()
    report = service(queue).import_dir(tmp_path / "empty")
    assert (report.imported, report.already_present, report.complete) == (0, 0, True)
    with pytest.raises(InvalidInput, match="not a directory"):
        service(queue).import_dir(tmp_path / "missing")


def test_a_dry_run_creates_and_records_nothing(queue):
    report = service(queue).import_dir(SAMPLE_DLQ, dry_run=True)
    assert (report.dry_run, report.imported) == (True, 16)
    assert not queue.exists() or not list(queue.glob("*.json"))
    assert not imports(queue)


def test_an_entry_another_writer_created_meanwhile_is_judged_not_overwritten(queue):
    """The store's look-up said absent, then another process created the id before this create."""
    svc = service(queue)
    other = FileStore(queue)

    def create(entries):
        other.create_encoded(entries)  # the other host's writer, first
        return svc.store.create_encoded(entries)

    report = transfer.import_dir(SAMPLE_DLQ, svc.read_raw, create)
    assert (report.imported, report.already_present, report.conflicts) == (0, 16, [])


def test_an_unwritable_audit_log_stops_the_import_and_leaves_no_unrecorded_entry(queue, tmp_path):
    audit = tmp_path / "audit-is-a-directory"
    audit.mkdir()
    svc = DLQService(Settings(dlq_path=queue, audit_path=audit))
    with pytest.raises(StoreError, match="could not write the audit log"):
        svc.import_dir(SAMPLE_DLQ)
    assert not list(queue.glob("*.json"))


def test_progress_is_reported_per_batch(queue, monkeypatch):
    monkeypatch.setattr(transfer, "BATCH", 5)
    seen: list[tuple[int, int]] = []
    service(queue).import_dir(SAMPLE_DLQ, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(5, 16), (10, 16), (15, 16), (16, 16)]


def test_export_to_dir_takes_the_filters_and_refuses_a_directory_holding_entries(sample_dlq, tmp_path):
    from mova_core.model.listing import EntryFilter
    from mova_core.model.status import EntryStatus

    out = tmp_path / "out"
    report = service(sample_dlq).export_to_dir(EntryFilter(status=EntryStatus.resolved), out)
    assert report.written == 2 and len(files_of(out)) == 2
    with pytest.raises(InvalidInput, match="already holds entry files"):
        service(sample_dlq).export_to_dir(None, out)
    (out / "notes.txt").write_text("kept")
    stale = next(iter(files_of(out)))
    (out / stale).write_text("{}")
    report = service(sample_dlq).export_to_dir(None, out, overwrite=True)
    assert report.written == 16 and files_of(out) == files_of(SAMPLE_DLQ)
    assert (out / "notes.txt").read_text() == "kept"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_export_refuses_the_queues_own_directory_and_a_file(sample_dlq, tmp_path):
    with pytest.raises(InvalidInput, match="own directory"):
        service(sample_dlq).export_to_dir(None, sample_dlq, overwrite=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInput, match="not a directory"):
        service(sample_dlq).export_to_dir(None, tmp_path / "file")


def test_export_reports_an_entry_broken_since_the_listing(sample_dlq, tmp_path):
    svc = service(sample_dlq)
    page = svc.list()  # the listing is taken, then the file breaks before it is read

    class Listed:
        def list(self, flt=None):
            return page

        read_raw = staticmethod(svc.read_raw)

    (sample_dlq / f"{ONE}.json").write_text("{broken")
    report = transfer.export_to_dir(Listed(), None, tmp_path / "out")
    assert len(page.items) == 16 and report.written == 15
    assert [s.name for s in report.unreadable] == [f"{ONE}.json"]
    assert not (tmp_path / "out" / f"{ONE}.json").exists()


def test_two_thousand_entries_import_and_export_in_batches(queue, tmp_path):
    source = tmp_path / "big"
    generate(source, 2000)
    started = time.perf_counter()
    report = service(queue).import_dir(source)
    seconds = time.perf_counter() - started
    assert report.imported == 2000 and report.complete, report.skipped[:3]
    print(f"imported 2,000 entries in {seconds:.2f} s: {2000 / seconds:,.0f} entries/s")
    again = service(queue).import_dir(source)
    assert again.already_present == 2000 and again.imported == 0
    out = service(queue).export_to_dir(None, tmp_path / "out")
    assert out.written == 2000
    assert files_of(tmp_path / "out") == files_of(queue)
