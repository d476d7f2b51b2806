"""One contract for every `DeadLetterStore`: each test runs on the file store and on PostgreSQL,
both seeded with sample_state/ (the PostgreSQL runs skip without a server, fail in CI)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from mova_core.model.errors import (
    AlreadyRetrying,
    AmbiguousId,
    CorruptEntry,
    EntryNotFound,
    InvalidId,
    InvalidTransition,
    StoreError,
)
from mova_core.model.listing import EntryFilter
from mova_core.model.status import EntryStatus
from mova_core.store.validate import validate_entry
from tests.support import GO_ENTRY

ONE = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
GO_ID = "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38"


def _entry(doc: dict):
    return validate_entry(f"{doc['id']}.json", doc)


def test_get_by_full_id_prefix_and_bare_uuid_prefix(store):
    assert store.get(ONE).id == ONE
    assert store.get("dlq_1d6f").id == ONE
    assert store.get("1d6f08").id == ONE  # `dlq_` optional
    assert store.get("5c91d7").id == GO_ID  # a Go engine's bare UUID id
    assert store.resolve_id(ONE[:12]) == ONE


def test_unknown_ambiguous_and_invalid_ids(store):
    with pytest.raises(EntryNotFound):
        store.get("dlq_ffffffff")
    with pytest.raises(AmbiguousId) as err:
        store.resolve_id("dlq_")
    assert len(err.value.candidates) >= 15
    with pytest.raises(InvalidId):
        store.get("../etc/passwd")


def test_create_round_trips_the_document_and_refuses_an_existing_id(store):
    doc = json.loads(GO_ENTRY.read_text())
    doc["id"] = "0d0d0d0d-0000-4000-8000-000000000001"
    store.create(_entry(doc), doc=doc)
    [raw], bad = store.read_raw([doc["id"]])
    assert raw == doc and bad == []
    with pytest.raises(StoreError, match="already exists"):
        store.create(_entry(doc), doc=doc)
    assert store.stats().total_entries == 17


def test_update_changes_under_the_lock_and_keeps_unknown_fields(store):
    raw_before = store.read_raw([GO_ID])[0][0]

    def bump(entry):
        entry.metadata.retry_count += 7
        return entry

    old, new = store.update(GO_ID[:8], bump)
    assert new.metadata.retry_count == old.metadata.retry_count + 7
    raw_after = store.read_raw([GO_ID])[0][0]
    assert raw_after["metadata"]["retry_count"] == raw_before["metadata"]["retry_count"] + 7
    unknown = {k: v for k, v in raw_before.items() if k not in ("metadata",)}
    assert {k: raw_after[k] for k in unknown} == unknown
    assert store.list(EntryFilter(text="5c91d7")).items[0].retry_count == new.metadata.retry_count


def test_an_update_that_raises_changes_nothing(store):
    def refuse(entry):
        entry.status = EntryStatus.resolved
        raise InvalidTransition(entry.id, "archived", "resolved")

    status = store.get(ONE).status
    with pytest.raises(InvalidTransition):
        store.update(ONE, refuse)
    assert store.get(ONE).status == status != EntryStatus.resolved


def test_delete_only_once_the_check_approves(store):
    def no(entry):
        raise InvalidTransition(entry.id, entry.status.value, "deleted")

    with pytest.raises(InvalidTransition):
        store.delete(ONE, no)
    assert store.get(ONE).id == ONE
    assert store.delete(ONE[:10]).id == ONE
    with pytest.raises(EntryNotFound):
        store.get(ONE)
    with pytest.raises(EntryNotFound):
        store.delete(ONE)


@pytest.mark.parametrize("flt, total", [
    (EntryFilter(), 16),
    (EntryFilter(status=EntryStatus.active), 11),
    (EntryFilter(status=EntryStatus.archived), 2),
    (EntryFilter(workflow_type="notification"), 3),
    (EntryFilter(workflow_type="nope"), 0),
    (EntryFilter(since=datetime(2026, 11, 20, tzinfo=timezone.utc)), None),
    (EntryFilter(text="TIMEOUT"), None),
    (EntryFilter(text="data-proc"), 10),
])
def test_list_filters_and_totals(store, flt, total):
    page = store.list(flt)
    assert page.total == len(page.items)
    if total is not None:
        assert page.total == total
    for item in page.items:
        if flt.status:
            assert item.status == flt.status
        if flt.since:
            assert item.created_ts >= flt.since.timestamp()


def test_list_sorts_windows_and_counts_the_whole_match(store):
    newest = store.list(EntryFilter())
    ts = [i.created_ts for i in newest.items]
    assert ts == sorted(ts, reverse=True)
    window = store.list(EntryFilter(limit=5, offset=3))
    assert window.total == 16 and [i.id for i in window.items] == [i.id for i in newest.items[3:8]]
    oldest = store.list(EntryFilter(sort="age", limit=1)).items[0]
    assert oldest.created_ts == min(ts)
    by_id = [i.id for i in store.list(EntryFilter(sort="id", descending=False)).items]
    assert by_id == sorted(by_id)


def test_stats_and_groups(store):
    stats = store.stats()
    assert stats.total_entries == 16 and stats.by_status == {"active": 11, "retrying": 1, "resolved": 2, "archived": 2}
    assert list(stats.by_workflow_type)[0] == "data-processing"
    groups = store.groups(EntryFilter())
    assert sum(g.count for g in groups) == 16
    assert groups[0].count == max(g.count for g in groups)
    one = groups[0]
    assert store.list(EntryFilter(fingerprint=one.fingerprint[:6])).total >= one.count
    assert sum(one.by_status.values()) == one.count


def test_read_many_and_read_raw_leave_out_what_is_gone(store):
    entries, bad = store.read_many([ONE, "dlq_00000000-0000-4000-8000-000000000000", GO_ID])
    assert [e.id for e in entries] == [ONE, GO_ID] and bad == []


def test_lifecycle_through_the_service(service):
    assert service.archive("dlq_1d6f08b3").status == EntryStatus.archived
    active = service.list(EntryFilter(status=EntryStatus.active, limit=1)).items[0].id
    before, after = service.archive_changed(active)
    assert (before.status, after.status) == (EntryStatus.active, EntryStatus.archived)
    again, _ = service.archive_changed(active)
    assert again.status == EntryStatus.archived  # idempotent: this call archived nothing
    assert service.reopen(active)[1].status == EntryStatus.active
    retrying = service.list(EntryFilter(status=EntryStatus.retrying)).items[0]
    if not service.is_stale(retrying):
        with pytest.raises(InvalidTransition):
            service.delete(retrying.id)
    assert service.delete(active).id == active
    ops = [(r["op"], r["old_status"], r["new_status"]) for r in service.audit.read().records]
    assert ops == [("archive", "active", "archived"), ("archive", "active", "archived"),
                   ("set_status", "archived", "active"), ("delete", "active", None)]
    assert all(r["actor"] == "alice@ops" and r["change"] for r in service.audit.read().records)


def test_claims_exclude_each_other(service):
    active = service.list(EntryFilter(status=EntryStatus.active, limit=1)).items[0].id
    claimed = service.claim(active, "retry_a", True, owner="one")
    assert claimed.status == EntryStatus.retrying and claimed.metadata.lease.owner == "one"
    with pytest.raises(AlreadyRetrying):
        service.claim(active, "retry_b", True, owner="two")


def test_sandbox_retry_of_a_sample_entry(service):
    """A sandbox retry (loopback only) of a sample entry whose API is elsewhere: refused by the
    sandbox, recorded, and the entry back to active."""
    entry_id = "dlq_a71c4e88"
    resp = service.retry(entry_id, sandbox_mode=True, wait=True)
    assert resp.sandbox_mode and resp.execution_result.status == "failed"
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.lease is None
    assert entry.retry_history[-1].sandbox_mode and entry.retry_history[-1].outcome == "failed"
    assert [r["op"] for r in service.audit.read().records] == ["retry_claim", "retry_finish"]


def test_purge_removes_old_resolved_and_archived_only(service):
    old = EntryFilter(older_than=service.clock())
    doomed = {i.id for s in (EntryStatus.resolved, EntryStatus.archived)
              for i in service.list(old.model_copy(update={"status": s})).items}
    report = service.purge(older_than_days=0)
    assert set(report.removed) == doomed and len(doomed) == 4 and not report.failed
    assert service.stats().total_entries == 12 and service.stats().by_status["active"] == 11
    assert [r["op"] for r in service.audit.read().records] == ["purge"] * 4


def _new_docs(count: int) -> list[dict]:
    doc = json.loads(GO_ENTRY.read_text())
    return [{**doc, "id": f"0d0d0d0d-0000-4000-8000-{n:012d}"} for n in range(count)]


def test_create_many_creates_new_ids_once_and_leaves_stored_ones_alone(store):
    docs = _new_docs(3)
    first = {**docs[0], "status": "archived"}
    held = store.read_raw([ONE])[0][0]
    made = store.create_many([docs[0], {**held, "status": "archived"}, docs[1], first, docs[2]])
    assert made == [d["id"] for d in docs]  # the stored id and the repeat left out, in the batch's order
    raw, _ = store.read_raw([*made, ONE])
    assert raw == [*docs, held]  # the first of a repeated id kept; the stored entry untouched
    assert store.create_many(docs) == [] and store.stats().total_entries == 19


def test_create_many_records_each_entry_it_creates(store):
    docs = _new_docs(2)
    seen: list[str] = []
    assert store.create_many([*docs, docs[0]], lambda d: seen.append(d["id"])) == seen
    assert seen == [d["id"] for d in docs]


def test_create_many_writes_nothing_when_one_document_is_not_an_entry(store):
    docs = _new_docs(3)
    no_envelope = {k: v for k, v in docs[1].items() if k != "envelope"}
    with pytest.raises(CorruptEntry) as err:
        store.create_many([docs[0], no_envelope, docs[2]])
    assert err.value.path == f"{docs[1]['id']}.json"
    with pytest.raises(InvalidId):
        store.create_many([docs[0], {**docs[2], "id": "../etc/passwd"}])
    assert store.read_raw([d["id"] for d in docs]) == ([], []) and store.stats().total_entries == 16


def test_create_many_takes_back_an_entry_whose_record_fails(store, kind):
    docs = _new_docs(2)

    def record(doc: dict) -> None:
        if doc["id"] == docs[1]["id"]:
            raise StoreError("the audit log is full")

    with pytest.raises(StoreError, match="full"):
        store.create_many(docs, record)
    kept = [d["id"] for d in store.read_raw([d["id"] for d in docs])[0]]
    # A transaction creates none of the batch; the file store, entry by entry, keeps those recorded.
    assert kept == ([] if kind == "postgres" else [docs[0]["id"]])
