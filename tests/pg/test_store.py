"""What only the PostgreSQL store promises: NUL kept, a version per change, the audit record in the
change's transaction, a bounded wait for a row lock."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from mova_core.model.errors import InvalidTransition, StoreError
from mova_core.model.listing import EntryFilter
from mova_core.model.status import EntryStatus
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.pg import store as pg_store
from mova_core.store.pg.store import PgStore
from mova_core.store.validate import validate_entry
from tests.pg.fixtures import seed_from
from tests.support import FROZEN_NOW, GO_ENTRY, SAMPLE_DLQ

ENTRY = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"


@pytest.fixture
def store(pg_target):
    s = PgStore(pg_target.url, pg_target.schema)
    seed_from(s, SAMPLE_DLQ)
    yield s
    s.close()


@pytest.fixture
def service(store, tmp_path):
    return DLQService(Settings(dlq_path=tmp_path / "unused"), store, clock=lambda: FROZEN_NOW, actor="alice@ops")


def _sql(target, query: str, *args):
    with psycopg.connect(target.url, autocommit=True) as conn:
        cur = conn.execute(query.replace("S.", f'"{target.schema}".'), args)
        return cur.fetchall() if cur.description else []


def _go_doc(entry_id: str = "0a0a0a0a-0000-4000-8000-00000000000a") -> dict:
    """The Go engine's fixture under an id of its own (the sample already holds the fixture's)."""
    doc = json.loads(GO_ENTRY.read_text())
    doc["id"] = entry_id
    return doc


def test_nul_in_a_go_entry_comes_back_byte_for_byte(store, pg_target):
    doc = _go_doc()
    doc["error_details"]["last_error"] = "read failed at \x00 byte"
    doc["engine_extra"] = {"raw": "a\x00b", "nested": ["\x00"]}
    store.create(validate_entry(f"{doc['id']}.json", doc), doc=doc)
    assert store.read_raw([doc["id"]])[0] == [doc]
    [(text,)] = _sql(pg_target, "SELECT doc FROM S.entries WHERE id = %s", doc["id"])
    assert "\\u0000" in text and "\x00" not in text
    [item] = store.list(EntryFilter(text="read failed")).items
    assert item.last_error == "read failed at \x00 byte"
    assert store.get(doc["id"][:8]).error_details.last_error == "read failed at \x00 byte"
    archived = store.update(doc["id"], lambda e: e.model_copy(update={"status": EntryStatus.archived}))[1]
    assert archived.status == EntryStatus.archived
    assert store.read_raw([doc["id"]])[0][0]["engine_extra"] == {"raw": "a\x00b", "nested": ["\x00"]}


def test_every_change_bumps_the_version_and_a_no_op_does_not(service, pg_target):
    def version() -> int:
        return _sql(pg_target, "SELECT version FROM S.entries WHERE id = %s", ENTRY)[0][0]

    assert version() == 1
    service.archive(ENTRY)
    assert version() == 2
    service.archive(ENTRY)  # already archived: nothing written
    assert version() == 2
    service.reopen(ENTRY)
    assert version() == 3


def test_the_audit_record_is_in_the_changes_transaction(service, pg_target):
    service.archive(ENTRY)
    [(n, op)] = _sql(pg_target, "SELECT count(*), max(op) FROM S.audit WHERE entry_id = %s", ENTRY)
    assert (n, op) == (1, "archive")
    # a record that cannot be written: the change is rolled back with it
    _sql(pg_target, "ALTER TABLE S.audit ADD CONSTRAINT no_reopen CHECK (op <> 'set_status')")
    with pytest.raises(StoreError, match="could not write the audit log"):
        service.reopen(ENTRY)
    assert service.get(ENTRY).status == EntryStatus.archived
    assert _sql(pg_target, "SELECT version FROM S.entries WHERE id = %s", ENTRY)[0][0] == 2


def test_a_refused_change_writes_neither_the_entry_nor_a_record(service, pg_target):
    service.claim(ENTRY, "retry_x", True, owner="someone")
    with pytest.raises(InvalidTransition):
        service.archive(ENTRY)
    assert [r["op"] for r in service.audit.read().records] == ["retry_claim"]


def test_a_row_locked_too_long_is_a_clear_error(service, pg_target, monkeypatch):
    monkeypatch.setattr(pg_store, "LOCK_TIMEOUT", "50ms")
    with psycopg.connect(pg_target.url) as holder:
        holder.execute(f'SELECT 1 FROM "{pg_target.schema}".entries WHERE id = %s FOR UPDATE', (ENTRY,))
        with pytest.raises(StoreError, match="being changed by another process"):
            service.archive(ENTRY)
        holder.rollback()
    assert service.archive(ENTRY).status == EntryStatus.archived


def test_independent_stores_share_the_pool_and_outlive_nothing(store):
    other = store.independent()
    assert other.pool is store.pool and other.audit is store.audit
    other.close()  # the pool is the first store's: still open
    assert store.get(ENTRY[:10]).id == ENTRY
    assert store.refresh() is True and store.skipped() == [] and store.refresh_names(["x.json"]) is None


def test_places_are_counted_across_connections_and_a_killed_holders_is_given_back(pg_target, tmp_path):
    from tests.pg.processes import host, start_python

    one, other = PgStore(pg_target.url, pg_target.schema), PgStore(pg_target.url, pg_target.schema)
    try:
        first, second = one.take_slot("jobs", 2), other.take_slot("jobs", 2)
        assert first is not None and second is not None
        assert one.take_slot("jobs", 2) is None and other.slots_held("jobs", 2) == 2
        assert one.take_slot("other-jobs", 2) is not None  # another name, other places
        first()
        assert one.slots_held("jobs", 2) == 1
        code = ("import sys, time; from mova_core.store.pg.store import PgStore; "
                "s = PgStore(sys.argv[1], sys.argv[2]); held = s.take_slot('jobs', 2); assert held; print('held', flush=True); "
                "time.sleep(60)")
        holder = start_python(pg_target, host(tmp_path, "host-b"), code, pg_target.url, pg_target.schema)
        assert holder.stdout.readline().strip() == "held"
        assert one.take_slot("jobs", 2) is None
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 10
        while one.slots_held("jobs", 2) > 1 and time.monotonic() < deadline:  # the server notices the session end
            time.sleep(0.02)
        assert one.take_slot("jobs", 2) is not None
        second()
    finally:
        one.close()
        other.close()


def test_places_on_a_store_that_cannot_be_reached_are_a_store_error(pg_target):
    """What the queue worker and a waiting retry catch (a psycopg error would end the queue worker)."""
    store = PgStore(pg_target.url, pg_target.schema)
    store.close()
    with pytest.raises(StoreError, match="could not count the jobs under way"):
        store.slots_held("jobs", 2)

