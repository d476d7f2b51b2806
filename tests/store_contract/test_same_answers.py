"""The PostgreSQL store answers every listing, statistic, group and look-up exactly as the file store
does over the same entries (sample_state/ plus entries with NUL, the separator and odd case)."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone

import pytest

from mova_core.model.errors import MovaError
from mova_core.model.listing import EntryFilter
from mova_core.model.status import EntryStatus
from mova_core.store.files import FileStore
from mova_core.store.validate import validate_entry
from tests.pg.fixtures import seed_from
from tests.support import GO_ENTRY, SAMPLE_DLQ

SORTS = ["created_at", "workflow_type", "status", "attempts", "retry_count", "last_error", "id", "age"]
FILTERS = [
    EntryFilter(),
    EntryFilter(status=EntryStatus.active, limit=3),
    EntryFilter(status=EntryStatus.resolved),
    EntryFilter(workflow_type="data-processing", offset=2, limit=4),
    EntryFilter(user_id="user_42"),
    EntryFilter(since=datetime(2026, 11, 15, tzinfo=timezone.utc), until=datetime(2026, 11, 25, tzinfo=timezone.utc)),
    EntryFilter(older_than=datetime(2026, 11, 20, tzinfo=timezone.utc)),
    EntryFilter(text="timeout"), EntryFilter(text="HTTP 5"), EntryFilter(text="50%"), EntryFilter(text="a_b"),
    EntryFilter(text="line one\nline"), EntryFilter(text="nul\x00after"), EntryFilter(text="zzz-none"),
    *(EntryFilter(sort=s, descending=d, limit=7) for s, d in itertools.product(SORTS, (True, False))),
]
ODD = [  # (id suffix, last error, workflow type)
    ("0001", "before nul\x00after nul", "nul\x00type"),
    ("0002", "line one\nline two", "multi-line"),
    ("0003", "rate 50% over a_b", "Percent"),
]


def _odd_docs() -> list[dict]:
    base = json.loads(GO_ENTRY.read_text())
    docs = []
    for suffix, error, wtype in ODD:
        doc = json.loads(json.dumps(base))
        doc["id"] = f"dlq_0dd00000-0000-4000-8000-00000000{suffix}"
        doc.setdefault("metadata", {})["workflow_type"] = wtype
        doc["error_details"]["last_error"] = error
        docs.append(doc)
    return docs


@pytest.fixture
def both(sample_dlq, pg_target):
    from mova_core.store.pg.store import PgStore

    files, pg = FileStore(sample_dlq), PgStore(pg_target.url, pg_target.schema)
    seed_from(pg, SAMPLE_DLQ)
    for doc in _odd_docs():
        entry = validate_entry(f"{doc['id']}.json", doc)
        files.create(entry, doc=doc)
        pg.create(entry, doc=doc)
    yield files, pg
    files.close()
    pg.close()


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: json.dumps(f.spec_dict(), default=str))
def test_listings_are_the_same(both, flt):
    files, pg = both
    want, got = files.list(flt), pg.list(flt)
    assert got.total == want.total
    assert [i.model_dump() for i in got.items] == [i.model_dump() for i in want.items]


def test_statistics_groups_and_documents_are_the_same(both):
    files, pg = both
    assert pg.stats() == files.stats()
    for flt in (EntryFilter(), EntryFilter(status=EntryStatus.active), EntryFilter(text="nul")):
        assert [g.model_dump() for g in pg.groups(flt)] == [g.model_dump() for g in files.groups(flt)]
    ids = [i.id for i in files.list(EntryFilter()).items]
    assert pg.read_raw(ids) == files.read_raw(ids)
    assert [e.to_json_dict() for e in pg.read_many(ids)[0]] == [e.to_json_dict() for e in files.read_many(ids)[0]]
    for prefix in ("dlq_0dd", "dlq_0dd00000-0000-4000-8000-000000000002", "5c9", "dlq_a7", "a7", "dlq_", "ffff"):
        assert _resolved(pg, prefix) == _resolved(files, prefix)


def _resolved(store, prefix: str) -> str:
    try:
        return store.resolve_id(prefix)
    except MovaError as exc:
        return f"{type(exc).__name__}: {exc}"
