"""The service: statistics, groups, audit trail, retention purge, export and alerts."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from mova_core.model.entry import EntryStatus
from mova_core.model.errors import InvalidInput, InvalidTransition
from mova_core.model.fingerprint import fingerprint, normalise_error
from mova_core.model.listing import EntryFilter
from mova_core.ops.alerts import Thresholds
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.audit import AuditLog
from tests.support import FROZEN_NOW

GROUP = ["dlq_3f9a2c71", "dlq_8b14e6d2", "dlq_c25d7a09", "dlq_5e0b93f4", "dlq_a71c4e88"]


@pytest.fixture
def service(sample_dlq) -> DLQService:
    return DLQService(Settings(dlq_path=sample_dlq), clock=lambda: FROZEN_NOW, actor="alice@ops")


def test_stats_match_the_specification_shape(service):
    stats = service.stats().model_dump()
    assert list(stats) == ["total_entries", "by_status", "by_workflow_type", "oldest_entry", "newest_entry"]
    assert stats["total_entries"] == 16
    assert stats["by_status"] == {"active": 11, "retrying": 1, "resolved": 2, "archived": 2}
    assert stats["by_workflow_type"] == {"data-processing": 10, "notification": 3, "reporting": 2, "invoice-sync": 1}
    assert stats["oldest_entry"] == "2026-11-10T08:02:19.829511279Z"
    assert stats["newest_entry"] == "2026-11-27T07:55:15.146289Z"


def test_stats_of_an_empty_queue_has_every_status(empty_dlq):
    stats = DLQService(Settings(dlq_path=empty_dlq)).stats().model_dump()
    assert stats == {"total_entries": 0, "by_status": {"active": 0, "retrying": 0, "resolved": 0, "archived": 0},
                     "by_workflow_type": {}, "oldest_entry": None, "newest_entry": None}


def test_failure_groups_fold_numbers_urls_and_ids(service):
    groups = service.groups()
    top = groups[0]
    assert top.count == 5 and top.action_type == "http_fetch"
    assert sorted(i[:12] for i in [s.id for s in service.list(EntryFilter(fingerprint=top.fingerprint)).items]) == sorted(GROUP)
    assert normalise_error("Attempt 3: timeout after 30s to https://x.example/a?page=2 id 7f3c2a91-5b4e-4d2a-9c61-0e8f1b2d4a55") == \
        "timeout after <n>s to https://x.example/a id <uuid>"
    assert fingerprint("http_fetch", "HTTP 502 at 10.0.0.1:443") == fingerprint("http_fetch", "HTTP 502 at 10.9.8.7:80")
    assert fingerprint("http_fetch", "HTTP 502") != fingerprint("set", "HTTP 502")


def test_fingerprints_read_attempt_lines_by_the_one_attempt_rule():
    assert normalise_error("Attempt 2 (production retry retry_r1): HTTP 502") == "http <n>"
    assert fingerprint("http_fetch", "Attempt 2: HTTP 502") == fingerprint("http_fetch", "HTTP 502")
    # Only an `Attempt n:` prefix is one: an error that happens to start with the word keeps it.
    assert normalise_error("Attempt to connect failed: refused") == "attempt to connect failed: refused"


def test_archive_and_status_changes_are_audited(service):
    service.archive("dlq_1d6f08b3")
    service.archive("dlq_1d6f08b3")  # idempotent: no second record
    service.set_status("dlq_1d6f08b3", "active")
    with pytest.raises(InvalidInput, match="unknown status"):
        service.set_status("dlq_1d6f08b3", "exploded")
    with pytest.raises(InvalidTransition):
        service.set_status("dlq_1d6f08b3", "retrying")
    service.delete("dlq_1d6f08b3")
    log = AuditLog(service.settings.effective_audit_path).read()
    assert [(r["op"], r["old_status"], r["new_status"]) for r in log.records] == [
        ("archive", "active", "archived"), ("set_status", "archived", "active"), ("delete", "active", None)]
    assert all(r["actor"] == "alice@ops" and r["entry_id"].startswith("dlq_1d6f08b3") for r in log.records)
    assert service.stats().total_entries == 15


def test_audit_reader_tolerates_a_torn_last_line(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("archive", "dlq_1", "active", "archived", "me")
    with open(log.path, "ab") as f:
        f.write(b'{"op": "dele')  # a writer killed mid-line
    log.record("delete", "dlq_2", "active", None, "me")
    read = log.read()
    assert [r["op"] for r in read.records] == ["archive", "delete"]
    assert read.bad_lines == [2]


def test_stale_retrying_entry_is_flagged(service):
    stale = service.list(EntryFilter(status=EntryStatus.retrying)).items[0]
    assert service.is_stale(stale)
    assert service.is_stale(service.get(stale.id))


def test_purge_removes_only_old_resolved_and_archived(service):
    dry = service.purge(older_than_days=5, dry_run=True)
    assert len(dry.removed) == 4 and service.stats().total_entries == 16
    report = service.purge(older_than_days=5)
    assert sorted(report.removed) == sorted(dry.removed)
    stats = service.stats()
    assert stats.by_status["resolved"] == 0 and stats.by_status["archived"] == 0
    assert stats.by_status["active"] == 11 and stats.by_status["retrying"] == 1
    assert service.purge(older_than_days=0).removed == []
    recent = service.purge(older_than_days=365)
    assert recent.removed == []


def test_purge_default_uses_retention_days(sample_dlq):
    service = DLQService(Settings(dlq_path=sample_dlq, dlq_retention_days=30), clock=lambda: FROZEN_NOW)
    assert service.purge(dry_run=True).removed == []  # nothing is 30 days old yet
    later = DLQService(Settings(dlq_path=sample_dlq, dlq_retention_days=30),
                       clock=lambda: FROZEN_NOW + timedelta(days=60))
    assert len(later.purge(dry_run=True).removed) == 4


def test_export_jsonl_and_csv(service):
    out = io.StringIO()
    assert service.export(EntryFilter(status=EntryStatus.active), "jsonl", out) == 11
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert all(x["status"] == "active" for x in lines) and "envelope" in lines[0]
    out = io.StringIO()
    assert service.export(None, "csv", out) == 16
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 16 and rows[0]["id"]
    with pytest.raises(InvalidInput):
        service.export(None, "xml", io.StringIO())


def test_export_to_file_replaces_the_file_durably_once_complete(service, tmp_path, monkeypatch):
    import os

    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "active.jsonl"
    out.write_text("the previous export\n")
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    assert service.export_to_file(EntryFilter(status=EntryStatus.active), "jsonl", out) == 11
    monkeypatch.undo()
    assert [json.loads(x)["status"] for x in out.read_text().splitlines()] == ["active"] * 11
    # the data before the rename, then the directory after it (a power cut keeps one or the other)
    assert any(p.endswith(".tmp") and "/.active.jsonl." in p for p in synced) and str(folder) in synced
    assert [p.name for p in folder.iterdir()] == ["active.jsonl"]


def test_export_to_file_leaves_the_previous_file_when_it_fails(service, tmp_path, monkeypatch):
    from mova_core.model.errors import CorruptEntry

    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "all.jsonl"
    out.write_text("the previous export\n")

    def broken(*args, **kwargs):
        yield from ()
        raise CorruptEntry("dlq_x.json", "not valid JSON")

    monkeypatch.setattr(DLQService, "iter_entries", broken)
    with pytest.raises(CorruptEntry):
        service.export_to_file(None, "jsonl", out)
    assert out.read_text() == "the previous export\n" and [p.name for p in folder.iterdir()] == ["all.jsonl"]


def test_export_to_file_refuses_a_missing_directory_or_format_before_writing(service, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    missing = folder / "no" / "such" / "x.csv"
    with pytest.raises(InvalidInput, match=f"cannot export to {missing}: directory {missing.parent} does not exist"):
        service.export_to_file(None, "csv", missing)
    with pytest.raises(InvalidInput, match="unknown export format 'xml'"):
        service.export_to_file(None, "xml", folder / "x.xml")
    assert list(folder.iterdir()) == []


def test_export_quotes_cells_a_spreadsheet_would_run(service, sample_dlq):
    from mova_core.ops.export import csv_safe

    assert [csv_safe(v) for v in ("=1+1", "+x", "-2", "@SUM", "plain", None, 3)] == \
        ["'=1+1", "'+x", "'-2", "'@SUM", "plain", "", 3]


def test_alerts_report_breaches_with_values_and_entries(service):
    alerts = {a.name: a for a in service.alerts(Thresholds(
        max_active=5, max_age_seconds=7 * 86400, max_growth_per_hour=0, max_retry_failure_rate=0.9))}
    assert alerts["max_active"].breached and alerts["max_active"].value == 11
    assert len(alerts["max_active"].entries) == 11
    assert alerts["max_age"].breached and alerts["max_age"].value > 7 * 86400
    assert not alerts["max_growth"].breached
    assert not alerts["max_retry_failure_rate"].breached
    assert not service.alerts(Thresholds(max_active=50))[0].breached


def test_groups_of_entries_dated_year_1_and_9999(service, sample_dlq):
    # Found by the reliability suite: a valid but extreme created_at made `mova dlq groups`, the
    # stats view, GET /v1/dlq/groups and the dashboard fail with "year 0 is out of range".
    source = json.loads((sample_dlq / "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249.json").read_text())
    for entry_id, created in (("dlq_year1", "0001-01-01T00:00:00+01:00"), ("dlq_year9999", "9999-12-31T23:59:59Z")):
        doc = {**source, "id": entry_id, "created_at": created}
        (sample_dlq / f"{entry_id}.json").write_text(json.dumps(doc))
    groups = service.groups()
    seen = [t for g in groups for t in (g.first_seen, g.last_seen)]
    assert "0001-01-01T00:00:00.000000Z" in seen and "9999-12-31T23:59:59.000000Z" in seen
    assert all(len(t) == 27 and t.endswith("Z") for t in seen)  # RFC 3339, four-digit years


class _LockProbingAudit(AuditLog):
    """Records whether the entry's lock was held while each audit record was written."""

    def __init__(self, path, locks_dir):
        super().__init__(path)
        self.locks_dir = locks_dir
        self.held: list[bool] = []

    def record(self, op, entry_id, *args, **kwargs):
        import fcntl
        import os

        fd = os.open(self.locks_dir / f"{entry_id}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held.append(False)
        except BlockingIOError:
            self.held.append(True)
        finally:
            os.close(fd)
        return super().record(op, entry_id, *args, **kwargs)


def test_audit_records_are_written_under_the_entry_lock(sample_dlq):
    # Found by the reliability suite: records were appended after the lock was released, so with
    # concurrent writers the log's order was not the order of the changes (old_status of a record
    # did not match new_status of the one before it).
    settings = Settings(dlq_path=sample_dlq)
    audit = _LockProbingAudit(settings.effective_audit_path, sample_dlq / ".mova" / "locks")
    svc = DLQService(settings, clock=lambda: FROZEN_NOW, actor="alice@ops", audit=audit)
    svc.archive("dlq_1d6f08b3")
    svc.set_status("dlq_1d6f08b3", "active")
    entry = svc.claim("dlq_1d6f08b3", "retry_x", True)
    svc.delete(entry.id, break_lease=True)
    svc.purge(older_than_days=0)
    assert len(audit.held) >= 5 and all(audit.held)


def test_an_audit_record_that_cannot_be_written_leaves_the_entry_unchanged(sample_dlq, monkeypatch):
    import errno
    import os

    from mova_core.model.errors import StoreError

    svc = DLQService(Settings(dlq_path=sample_dlq), clock=lambda: FROZEN_NOW, actor="alice@ops")
    path = sample_dlq / "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249.json"
    before = json.loads(path.read_text())
    audit_path = str(svc.settings.effective_audit_path)
    real_open, real_write, full = os.open, os.write, []

    def no_audit(file, flags, *args, **kwargs):
        # The disk fills up as the audit record is written: nothing can be written after that.
        if str(file) == audit_path or (full and flags & os.O_CREAT):
            full.append(file)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, flags, *args, **kwargs)

    def no_write(fd, data):
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", no_audit)
    monkeypatch.setattr(os, "write", no_write)
    with pytest.raises(StoreError, match="audit log .* the disk is full; dlq_1d6f08b3-.* was left unchanged"):
        svc.archive("dlq_1d6f08b3")
    full.clear()  # space freed, until the next audit record fills the disk again
    with pytest.raises(StoreError, match="left unchanged"):
        svc.delete("dlq_1d6f08b3")
    monkeypatch.undo()
    assert json.loads(path.read_text()) == before
    assert svc.get("dlq_1d6f08b3").status == EntryStatus.active
    assert AuditLog(svc.settings.effective_audit_path).read().records == []
    assert [p.name for p in sample_dlq.iterdir() if p.name.startswith(".") and p.name != ".mova"] == []


def test_a_change_that_fails_after_its_audit_record_is_taken_back_in_the_log(sample_dlq, monkeypatch):
    import errno
    import os

    from mova_core.model.errors import StoreError

    svc = DLQService(Settings(dlq_path=sample_dlq), clock=lambda: FROZEN_NOW, actor="alice@ops")
    path = sample_dlq / "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249.json"
    before = path.read_bytes()

    def no_rename(src, dst, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(StoreError, match="the disk is full; the previous version is intact"):
        svc.archive("dlq_1d6f08b3")
    monkeypatch.undo()
    assert path.read_bytes() == before
    log = AuditLog(svc.settings.effective_audit_path).read().records
    assert [(r["op"], r["old_status"], r["new_status"], r.get("undone")) for r in log] == [
        ("archive", "active", "archived", None), ("archive", "archived", "active", True)]


# -- a change its process was killed in the middle of -------------------------------------------------

ENTRY = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"


def _killed_mid_change(svc: DLQService, dlq, *, recorded: bool, kind: str = "tmp", token: str = "0badc0ffee00"):
    """The files a process killed during a change of ENTRY leaves: its intent in the lock file, its
    temporary (or .deleting) file, and, if `recorded`, its audit record (as the store writes them)."""
    import os

    from mova_core.store.intents import EntryLock, Intent, leftover_names

    path = dlq / f"{ENTRY}.json"
    tmp, doomed = leftover_names(path, token)
    locks = dlq / ".mova" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{ENTRY}.lock", os.O_RDWR | os.O_CREAT)
    EntryLock(fd, ENTRY).mark(Intent(token, svc.audit.size()))
    os.close(fd)
    if kind == "tmp":
        tmp.write_text(path.read_text().replace('"status": "active"', '"status": "archived"'))
    else:
        path.rename(doomed)
    if recorded:
        new = "archived" if kind == "tmp" else None
        svc.audit.record("archive" if kind == "tmp" else "delete", ENTRY, "active", new, "killed@ops", change=token)
    return tmp, doomed


def _chain(svc: DLQService) -> list[tuple]:
    return [(r["op"], r["old_status"], r["new_status"], r.get("undone"), r.get("recovered"))
            for r in svc.audit.read().records if r["entry_id"] == ENTRY]


def test_a_change_recorded_but_never_made_is_taken_back_by_the_next_listing(service, sample_dlq):
    before = (sample_dlq / f"{ENTRY}.json").read_bytes()
    tmp, _ = _killed_mid_change(service, sample_dlq, recorded=True)
    assert service.get(ENTRY).status == "active"
    service.list()  # a refresh finds the leftover and settles it
    assert _chain(service) == [("archive", "active", "archived", None, None),
                               ("archive", "archived", "active", True, True)]
    assert not tmp.exists() and (sample_dlq / f"{ENTRY}.json").read_bytes() == before
    service.list()
    assert len(_chain(service)) == 2  # settled once


def test_the_next_change_of_the_entry_settles_first_so_its_records_stay_in_order(service, sample_dlq):
    _killed_mid_change(service, sample_dlq, recorded=True)
    service.set_status(ENTRY, "resolved")  # no listing in between
    assert _chain(service) == [("archive", "active", "archived", None, None),
                               ("archive", "archived", "active", True, True),
                               ("set_status", "active", "resolved", None, None)]


def test_a_change_killed_before_its_record_leaves_no_record(service, sample_dlq):
    tmp, _ = _killed_mid_change(service, sample_dlq, recorded=False)
    service.list()
    assert _chain(service) == [] and not tmp.exists()


def test_an_unrecorded_delete_is_put_back_and_a_recorded_one_finished(service, sample_dlq):
    _, doomed = _killed_mid_change(service, sample_dlq, recorded=False, kind="deleting")
    assert ENTRY in {i.id for i in service.list().items} and not doomed.exists()  # back, and listed at once
    assert _chain(service) == []
    _, doomed = _killed_mid_change(service, sample_dlq, recorded=True, kind="deleting", token="0badc0ffee01")
    service.list()
    assert not doomed.exists() and ENTRY not in {i.id for i in service.list().items}
    assert _chain(service) == [("delete", "active", None, None, None)]


def test_leftovers_under_a_live_writers_lock_are_left_to_it(service, sample_dlq):
    import fcntl
    import os

    tmp, _ = _killed_mid_change(service, sample_dlq, recorded=True)
    fd = os.open(sample_dlq / ".mova" / "locks" / f"{ENTRY}.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live writer holds the entry
    try:
        service.list()
        assert tmp.exists() and len(_chain(service)) == 1
    finally:
        os.close(fd)
    sample_dlq.joinpath("poke.txt").write_text("")  # the directory changed: the next refresh lists it
    service.list()
    assert not tmp.exists() and len(_chain(service)) == 2


def test_temporary_files_no_intent_names_go_when_stale_or_linked(service, sample_dlq):
    import os
    import time

    from mova_core.store.intents import STALE_TEMP_SECONDS

    young = sample_dlq / f".{ENTRY}.json.aaaaaaaaaaaa.tmp"  # a create (no lock) may still own it
    young.write_text("{}")
    old = sample_dlq / ".dlq_gone.json.bbbbbbbbbbbb.tmp"
    old.write_text("{}")
    past = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(old, (past, past))
    linked = sample_dlq / f".{ENTRY}.json.cccccccccccc.tmp"  # a create killed after its link
    os.link(sample_dlq / f"{ENTRY}.json", linked)
    foreign = sample_dlq / ".notes.txt.tmp"
    foreign.write_text("")
    os.utime(foreign, (past, past))
    service.list()
    assert young.exists() and not old.exists() and not linked.exists() and foreign.exists()
    assert service.get(ENTRY).status == "active" and _chain(service) == []


def test_records_name_the_change_they_record(service):
    service.archive(ENTRY)
    service.set_status(ENTRY, "active")
    service.delete(ENTRY)
    changes = [r["change"] for r in service.audit.read().records]
    assert len(changes) == 3 and len(set(changes)) == 3 and all(len(c) == 12 for c in changes)
