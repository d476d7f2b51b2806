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
