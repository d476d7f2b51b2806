"""Moving a team's queue into PostgreSQL and back: `mova dlq import DIR` and `export --to-dir DIR`
over the PostgreSQL store give back the files they were given, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from tests.support import FROZEN_NOW, GO_ENTRY, SAMPLE_DLQ

GO_ID = "7f3c2a91-5b4e-4d2a-9c61-0e8f1b2d4a55"


def _service(pg_target, tmp_path: Path) -> DLQService:
    settings = Settings(dlq_path=tmp_path / "unused", store_url=pg_target.url, store_schema=pg_target.schema)
    return DLQService(settings, clock=lambda: FROZEN_NOW, actor="mover@ops")


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.json"))}


def test_sample_state_and_the_go_fixture_round_trip_through_postgresql(pg_target, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DLQ, source, ignore=shutil.ignore_patterns(".mova"))
    shutil.copyfile(GO_ENTRY, source / f"{GO_ID}.json")  # NUL-free, with fields no model declares
    with _service(pg_target, tmp_path) as svc:
        report = svc.import_dir(source)
        assert (report.imported, report.already_present, report.conflicts, report.skipped) == (17, 0, [], [])
        again = svc.import_dir(source)  # idempotent: nothing added, nothing refused
        assert (again.imported, again.already_present, again.conflicts) == (0, 17, [])
        assert svc.stats().total_entries == 17
        out = svc.export_to_dir(None, tmp_path / "back")
        assert out.written == 17 and not out.unreadable
    assert _files(tmp_path / "back") == _files(source)


def test_an_import_records_each_entry_in_the_audit_table_once(pg_target, tmp_path):
    with _service(pg_target, tmp_path) as svc:
        svc.import_dir(SAMPLE_DLQ)
        svc.import_dir(SAMPLE_DLQ)
        records = [r for r in svc.audit.read().records if r["op"] == "import"]
    assert len(records) == len({r["entry_id"] for r in records}) == 16
    resolved = next(r for r in records if r["entry_id"] == "dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e")
    assert (resolved["old_status"], resolved["new_status"], resolved["actor"]) == (None, "resolved", "mover@ops")
    assert resolved["source"] == str(SAMPLE_DLQ)


def test_a_batch_write_on_a_dropped_connection_is_a_store_error_and_writes_nothing(pg_target):
    import json

    import psycopg
    import pytest

    from mova_core.model.errors import StoreError
    from mova_core.store.pg.store import PgStore

    doc = json.loads(GO_ENTRY.read_text())
    store = PgStore(pg_target.url, pg_target.schema)
    try:
        with psycopg.connect(pg_target.url, autocommit=True) as admin:  # the server drops the pool's connection
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                          "AND datname = current_database() AND usename = current_user")
        with pytest.raises(StoreError, match="none was written"):
            store.create_many([doc])
        assert store.create_many([doc]) == [GO_ID]  # the next connection is a fresh one
    finally:
        store.close()


def test_ids_another_host_stores_between_the_look_up_and_the_write_are_judged_not_overwritten(pg_target, tmp_path):
    """The batch is COPYed straight in when every id was absent; a few stored meanwhile by another
    writer undo that COPY only, and the rest are created once and recorded once."""
    from mova_core.ops import transfer
    from mova_core.store.pg.store import PgStore

    with _service(pg_target, tmp_path) as svc:
        other = PgStore(pg_target.url, pg_target.schema)
        try:
            def create(entries):
                other.create_encoded(entries[:3])  # another host's writer, first
                return svc.store.create_encoded(entries, lambda e: made.append(e.id))

            made: list[str] = []
            report = transfer.import_dir(SAMPLE_DLQ, svc.read_raw, create)
        finally:
            other.close()
        assert (report.imported, report.already_present, report.conflicts) == (13, 3, [])
        assert len(made) == len(set(made)) == 13
        assert svc.stats().total_entries == 16
