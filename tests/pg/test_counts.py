"""Statistics and a listing's total over PostgreSQL come from the deltas the entries' triggers keep
(`entry_counts`), not from counting the table: they must stay exactly the table's counts through
every kind of change, a fold, a change committing during a fold, and a schema migrated with entries.

`store` and `service`: the seeded PostgreSQL store of `tests/pg/test_store.py` (imported below)."""

from __future__ import annotations

import psycopg
import pytest

from mova_core.model.listing import EntryFilter
from mova_core.model.status import EntryStatus
from mova_core.store.pg import counts as pg_counts
from mova_core.store.pg.codec import SUMMARY_COLUMNS, encode_row
from mova_core.store.pg.store import PgStore
from tests.pg.fixtures import seed_from
from tests.pg.test_store import service, store  # noqa: F401  (the seeded store and its service)
from tests.support import SAMPLE_DLQ


def _truth(target) -> dict[tuple[str, str], int]:
    with psycopg.connect(target.url) as conn:
        rows = conn.execute(f'SELECT status, workflow_type, count(*) FROM "{target.schema}".entries GROUP BY 1, 2')
        return {(s, t): n for s, t, n in rows}


def _deltas(target) -> int:
    with psycopg.connect(target.url) as conn:
        return conn.execute(f'SELECT count(*) FROM "{target.schema}".entry_counts').fetchone()[0]


def _assert_counts_true(store, target) -> None:
    truth = _truth(target)
    stats = store.stats()
    assert stats.total_entries == sum(truth.values())
    for status in EntryStatus:
        expected = sum(n for (s, _), n in truth.items() if s == status.value)
        assert stats.by_status.get(status.value, 0) == expected
        assert store.list(EntryFilter(status=status, limit=1)).total == expected
    for wtype in {t for _, t in truth}:
        expected = sum(n for (_, t), n in truth.items() if t == wtype)
        assert stats.by_workflow_type.get(wtype, 0) == expected
        for status in EntryStatus:  # the two together, as `list --status S --type T` asks
            both = store.list(EntryFilter(status=status, workflow_type=wtype, limit=0)).total
            assert both == truth.get((status.value, wtype), 0)


def test_counts_follow_every_kind_of_change(service, store, pg_target):
    _assert_counts_true(store, pg_target)
    active = [i.id for i in store.list(EntryFilter(status=EntryStatus.active)).items]
    service.archive(active[0])
    service.set_status(active[1], EntryStatus.resolved)
    service.claim(active[2], "retry_counted", True)
    service.renew_lease(active[2], "retry_counted")  # no status change: no delta written
    service.delete(active[3])
    service.reopen(active[0])
    service.archive(active[4])
    service.purge(older_than_days=0)
    _assert_counts_true(store, pg_target)


def test_a_batch_write_and_a_many_row_statement_are_counted_once(store, pg_target):
    import orjson

    docs = [orjson.loads(p.read_bytes()) for p in sorted(SAMPLE_DLQ.glob("*.json"))]
    for doc in docs:
        doc["id"] = doc["id"].replace("-", "-b", 1)[:40] if doc["id"].startswith("dlq_") else doc["id"] + "b"
    store.create_many(docs)
    store.create_many(docs)  # again: nothing new, nothing counted
    _assert_counts_true(store, pg_target)
    assert store.stats().total_entries == 32
    with psycopg.connect(pg_target.url, autocommit=True) as conn:  # one statement over many rows
        conn.execute(f'UPDATE "{pg_target.schema}".entries SET status = %s WHERE status = %s', ("archived", "active"))
    _assert_counts_true(store, pg_target)
    with psycopg.connect(pg_target.url, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{pg_target.schema}".entries')
    assert store.stats().total_entries == 0 and store.list(EntryFilter(status=EntryStatus.archived)).total == 0
    seed_from(store, SAMPLE_DLQ)
    _assert_counts_true(store, pg_target)


def test_many_deltas_are_folded_into_one_row_per_kind(service, store, pg_target, monkeypatch):
    monkeypatch.setattr(pg_counts, "FOLD_AT", 20)
    entry = store.list(EntryFilter(status=EntryStatus.active, limit=1)).items[0].id
    for _ in range(15):  # two deltas a round trip
        service.archive(entry)
        service.reopen(entry)
    assert _deltas(pg_target) > 20
    _assert_counts_true(store, pg_target)  # the read folded them
    assert _deltas(pg_target) == len(_truth(pg_target))
    _assert_counts_true(store, pg_target)


def test_a_change_committing_during_a_fold_is_counted_once(store, pg_target):
    table = f'"{pg_target.schema}".entries'
    doc = dict(store.read_raw([store.list(EntryFilter(limit=1)).items[0].id])[0][0])
    doc["id"] = "dlq_00000000-0000-4000-8000-000000000001"
    text, columns = encode_row(doc["id"], doc)
    names = ", ".join((*SUMMARY_COLUMNS, "doc"))
    marks = ", ".join(["%s"] * (len(SUMMARY_COLUMNS) + 1))
    before = store.stats().total_entries
    with psycopg.connect(pg_target.url) as writer:  # a transaction left open across the fold
        writer.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", [*columns, text])
        with store.pool.connection() as conn:
            store.counts.fold(conn)
        assert store.stats().total_entries == before  # not committed yet: not counted
        writer.commit()
    assert store.stats().total_entries == before + 1
    with store.pool.connection() as conn:
        store.counts.fold(conn)
    assert store.stats().total_entries == before + 1
    _assert_counts_true(store, pg_target)


def test_a_schema_migrated_with_entries_starts_with_their_counts(bare_pg_target):
    from mova_core.store.pg.schema import migrate

    with psycopg.connect(bare_pg_target.url, autocommit=True) as conn:
        migrate(conn, bare_pg_target.schema, 6)  # the version before the counts (7)
        _seed_raw(conn, bare_pg_target.schema)
        migrate(conn, bare_pg_target.schema)
    store = PgStore(bare_pg_target.url, bare_pg_target.schema)
    try:
        assert store.stats().total_entries == 16
        _assert_counts_true(store, bare_pg_target)
    finally:
        store.close()


def _seed_raw(conn, schema: str) -> None:
    """The sample entries written straight into an older schema's table (no store opens it)."""
    import orjson

    names = ", ".join((*SUMMARY_COLUMNS, "doc"))
    marks = ", ".join(["%s"] * (len(SUMMARY_COLUMNS) + 1))
    for path in sorted(SAMPLE_DLQ.glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        text, columns = encode_row(doc["id"], doc)
        conn.execute(f'INSERT INTO "{schema}".entries ({names}) VALUES ({marks})', [*columns, text])
