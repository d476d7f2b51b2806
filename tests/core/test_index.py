"""The summary index: its first build, its schema, its search."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mova_core.index as index_module
from mova_core.index import Index
from mova_core.listing import EntryFilter
from tests.support import GO_ENTRY

TEMPLATE = json.loads(GO_ENTRY.read_text())


def write_doc(directory: Path, entry_id: str, *, workflow_type: str = "invoice-sync",
              last_error: str = "HTTP 502: Bad Gateway", action_type: str | None = "http_fetch",
              created_at: str = "2026-11-20T10:00:00Z", status: str = "active") -> None:
    doc = json.loads(json.dumps(TEMPLATE))
    doc.update(id=entry_id, created_at=created_at, status=status)
    doc["metadata"]["workflow_type"] = workflow_type
    doc["error_details"]["last_error"] = last_error
    if action_type is None:
        doc.pop("failed_action")
    else:
        doc["failed_action"]["type"] = action_type
    (directory / f"{entry_id}.json").write_text(json.dumps(doc))


def ids(index: Index, **flt) -> list[str]:
    items, total = index.query(EntryFilter(**flt))
    assert total == len(items)
    return sorted(item.id for item in items)


# -- the first build -------------------------------------------------------------------------------

def many_entries(directory: Path, count: int) -> None:
    for n in range(count):
        write_doc(directory, f"dlq_{n:05d}", created_at=f"2026-11-{1 + n % 28:02d}T10:00:{n % 60:02d}Z",
                  last_error=f"HTTP 502 (shard {n % 7})", status=("active", "archived", "resolved")[n % 3])


def hostile_files(directory: Path) -> None:
    (directory / "dlq_broken.json").write_text("{not json")
    write_doc(directory, "dlq_someone_else")
    os.rename(directory / "dlq_someone_else.json", directory / "dlq_renamed.json")  # id does not match
    (directory / "dlq_list.json").write_text("[1, 2]")
    (directory / "dlq_dir.json").mkdir()  # not a file: not listed at all
    write_doc(directory.parent, "outside")
    (directory / "dlq_link.json").symlink_to(directory.parent / "outside.json")  # nor a symlink
    (directory / ".dlq_temp.json").write_text("{}")  # a dot-file: never an entry


def snapshot(index: Index) -> tuple:
    items, total = index.query(EntryFilter())
    return total, [i.model_dump() for i in items], [s.model_dump() for s in index.skipped()]


def test_a_big_read_in_worker_processes_builds_the_same_index_as_one_process(empty_dlq, monkeypatch):
    many_entries(empty_dlq, 60)
    hostile_files(empty_dlq)
    plain = Index(empty_dlq, None)
    plain.refresh()
    monkeypatch.setattr(index_module, "POOL_THRESHOLD", 10)
    progress: list[tuple[int, int]] = []
    pooled = Index(empty_dlq, empty_dlq.parent / "index.sqlite")
    pooled.refresh(progress=lambda done, total: progress.append((done, total)))
    assert snapshot(pooled) == snapshot(plain)
    assert snapshot(pooled)[0] == 60 and len(pooled.skipped()) == 3
    assert progress[-1] == (63, 63)
    assert ids(pooled, status="archived") == ids(plain, status="archived")
