"""The file store: atomic writes, prefix look-up, id validation, corrupt files, locks, listings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mova_core.model.entry import DeadLetterEntry, EntryStatus
from mova_core.model.errors import (
    AmbiguousId,
    CorruptEntry,
    EntryNotFound,
    InvalidId,
    StoreError,
)
from mova_core.model.listing import EntryFilter
from mova_core.store.files import FileStore
from mova_core.store.fsio import atomic_write
from tests.support import GO_ENTRY, ROOT

GO_ID = "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38"


def make_entry(entry_id: str, created_at: str = "2026-11-20T10:00:00Z", **meta) -> DeadLetterEntry:
    raw = json.loads(GO_ENTRY.read_text())
    raw["id"] = entry_id
    raw["created_at"] = created_at
    raw["metadata"].update(meta)
    return DeadLetterEntry.model_validate(raw)


def run_worker(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.store_worker", *args],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, **kw,
    )


def test_create_writes_pretty_json_and_leaves_no_temp_file(empty_dlq):
    store = FileStore(empty_dlq)
    entry = make_entry("dlq_11111111-0000-4000-8000-000000000001")
    store.create(entry)
    text = (empty_dlq / f"{entry.id}.json").read_text()
    assert text.startswith('{\n  "id"')
    assert json.loads(text) == entry.to_json_dict()
    assert [p.name for p in empty_dlq.iterdir() if p.name.startswith(".") and p.name != ".mova"] == []
    with pytest.raises(StoreError):
        store.create(entry)  # never overwrites


def _dot_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name != ".mova")


def test_create_of_an_existing_id_is_a_clear_error_and_leaves_the_file_intact(sample_dlq):
    store = FileStore(sample_dlq)
    path = sample_dlq / f"{GO_ID}.json"
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"an entry with id {GO_ID} already exists"):
        store.create(make_entry(GO_ID, created_at="2027-01-01T00:00:00Z"))
    assert path.read_bytes() == before
    assert _dot_files(sample_dlq) == []


def test_create_takes_no_lock_file_and_leaves_nothing_but_the_entry(empty_dlq):
    store = FileStore(empty_dlq)
    ids = [f"dlq_11111111-0000-4000-8000-00000000000{n}" for n in range(3)]
    for entry_id in ids:
        store.create(make_entry(entry_id))
    assert sorted(p.name for p in empty_dlq.iterdir() if p.name != ".mova") == [f"{i}.json" for i in ids]
    locks = empty_dlq / ".mova" / "locks"
    assert not locks.exists() or list(locks.iterdir()) == []
    assert [e.id for e in store.read_many(ids)[0]] == ids


def test_create_makes_a_missing_directory_and_makes_it_again_if_it_was_removed(tmp_path):
    import shutil

    directory = tmp_path / "state" / "deadletter"
    store = FileStore(directory)
    store.create(make_entry("dlq_11111111-0000-4000-8000-00000000000c"))
    shutil.rmtree(directory)
    store.create(make_entry("dlq_11111111-0000-4000-8000-00000000000d"))
    assert sorted(p.name for p in directory.iterdir()) == ["dlq_11111111-0000-4000-8000-00000000000d.json"]


def test_concurrent_creates_of_one_id_exactly_one_wins(empty_dlq):
    from concurrent.futures import ThreadPoolExecutor

    entry_id = "dlq_11111111-0000-4000-8000-00000000000a"
    entries = [make_entry(entry_id, created_at=f"2026-11-20T10:00:0{n}Z") for n in range(8)]

    def attempt(entry):
        try:
            FileStore(empty_dlq).create(entry)
            return entry.created_at
        except StoreError as exc:
            assert "already exists" in str(exc)
            return None

    with ThreadPoolExecutor(8) as pool:
        winners = [w for w in pool.map(attempt, entries) if w is not None]
    assert len(winners) == 1
    assert FileStore(empty_dlq).get(entry_id).created_at == winners[0]  # the winner's file, whole
    assert _dot_files(empty_dlq) == []


def test_create_without_hard_links_falls_back_to_the_lock(empty_dlq, monkeypatch):
    import errno

    def no_links(src, dst, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    store = FileStore(empty_dlq)
    entry = make_entry("dlq_11111111-0000-4000-8000-00000000000b")
    store.create(entry)
    before = (empty_dlq / f"{entry.id}.json").read_bytes()
    with pytest.raises(StoreError, match="already exists"):
        store.create(make_entry(entry.id, created_at="2027-01-01T00:00:00Z"))
    assert (empty_dlq / f"{entry.id}.json").read_bytes() == before
    assert store.get(entry.id) == entry
    assert _dot_files(empty_dlq) == []


def test_a_failed_delete_does_not_put_back_over_an_entry_created_meanwhile(sample_dlq):
    # create takes no lock: while a delete has the file renamed aside, the name is free. If the
    # delete's audit record then fails, putting the old file back must not replace the new entry.
    store = FileStore(sample_dlq)
    newer = make_entry(GO_ID, created_at="2027-01-01T00:00:00Z")

    def audit_fails(old, new, **_):
        FileStore(sample_dlq).create(newer)
        raise StoreError("could not write the audit log: the disk is full")

    with pytest.raises(StoreError, match="could not be put back"):
        store.delete(GO_ID, on_commit=audit_fails)
    assert store.get(GO_ID).created_at == "2027-01-01T00:00:00Z"


def test_prefix_lookup_full_partial_bare_uuid_and_ambiguous(sample_dlq):
    store = FileStore(sample_dlq)
    full = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18"
    assert store.resolve_id(full) == full
    assert store.resolve_id("dlq_3f9a2c71") == full
    assert store.resolve_id("3f9a2c71") == full  # bare UUID prefix without dlq_
    assert store.resolve_id("5c91") == GO_ID  # the Go entry's bare UUID id
    with pytest.raises(AmbiguousId) as err:
        store.resolve_id("dlq_")
    assert len(err.value.candidates) == 15
    with pytest.raises(EntryNotFound):
        store.resolve_id("dlq_ffffffff")


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "..", ".hidden", "/abs", "x\x00y", "dlq_1 2", "", "a" * 300, "é"])
def test_ids_are_validated_before_touching_the_filesystem(sample_dlq, bad):
    store = FileStore(sample_dlq)
    with pytest.raises(InvalidId):
        store.get(bad)
    with pytest.raises(InvalidId):
        store.delete(bad)


def test_corrupt_files_are_skipped_reported_and_left_alone(sample_dlq):
    (sample_dlq / "dlq_broken.json").write_text('{"id": "dlq_broken", "run_id": ')
    (sample_dlq / "dlq_notobj.json").write_text("[1, 2]")
    (sample_dlq / "dlq_badutf.json").write_bytes(b'{"id": "\xff\xfe"}')
    (sample_dlq / "dlq_mismatch.json").write_text(json.dumps(make_entry("dlq_other").to_json_dict()))
    (sample_dlq / "dlq_deep.json").write_text("[" * 5000 + "]" * 5000)
    (sample_dlq / ".dlq_tmp.json.abc.tmp").write_text("{")  # temporaries are invisible
    (sample_dlq / "notes.txt").write_text("not an entry")
    store = FileStore(sample_dlq)
    page = store.list(EntryFilter())
    assert page.total == 16
    assert sorted(s.name for s in page.skipped) == [
        "dlq_badutf.json", "dlq_broken.json", "dlq_deep.json", "dlq_mismatch.json", "dlq_notobj.json"]
    assert "does not match" in {s.name: s.reason for s in page.skipped}["dlq_mismatch.json"]
    with pytest.raises(CorruptEntry):
        store.get("dlq_broken")
    assert (sample_dlq / "dlq_broken.json").read_text() == '{"id": "dlq_broken", "run_id": '


def test_filters_newest_first_and_limits(sample_dlq):
    store = FileStore(sample_dlq)
    page = store.list(EntryFilter())
    stamps = [s.created_ts for s in page.items]
    assert stamps == sorted(stamps, reverse=True)
    active = store.list(EntryFilter(status=EntryStatus.active))
    assert active.total == 11 and all(s.status == "active" for s in active.items)
    reporting = store.list(EntryFilter(workflow_type="reporting"))
    assert reporting.total == 2
    limited = store.list(EntryFilter(status=EntryStatus.active, limit=3))
    assert len(limited.items) == 3 and limited.total == 11
    assert [s.id for s in limited.items] == [s.id for s in active.items[:3]]
    since = datetime(2026, 11, 15, tzinfo=timezone.utc)
    until = datetime(2026, 11, 20, tzinfo=timezone.utc)
    window = store.list(EntryFilter(since=since, until=until))
    assert window.total == 5
    assert all(since.timestamp() <= s.created_ts <= until.timestamp() for s in window.items)
    assert store.list(EntryFilter(user_id="bob")).total >= 1
    assert store.list(EntryFilter(text="BAD GATEWAY")).total == 1
    assert store.list(EntryFilter(text="100%_")).total == 0  # LIKE wildcards are literal


def test_index_sees_files_written_removed_and_replaced_by_other_writers(sample_dlq):
    store = FileStore(sample_dlq)
    assert store.list(EntryFilter()).total == 16
    new = make_entry("dlq_22222222-0000-4000-8000-000000000002", created_at="2026-11-28T00:00:00Z")
    (sample_dlq / f"{new.id}.json").write_text(json.dumps(new.to_json_dict()))
    (sample_dlq / f"{GO_ID}.json").unlink()
    other = FileStore(sample_dlq)  # a second process sharing the index file
    page = other.list(EntryFilter())
    assert page.total == 16 and page.items[0].id == new.id
    # a foreign writer replaces a file (new inode): the new status is seen
    data = json.loads((sample_dlq / f"{new.id}.json").read_text()) | {"status": "archived"}
    atomic_write(sample_dlq / f"{new.id}.json", json.dumps(data).encode())
    assert store.list(EntryFilter(status=EntryStatus.archived)).total == 3


def test_in_place_rewrite_is_found_by_a_full_reindex(sample_dlq):
    store = FileStore(sample_dlq)
    store.list(EntryFilter())
    path = sample_dlq / f"{GO_ID}.json"
    data = json.loads(path.read_text()) | {"status": "resolved"}
    with open(path, "r+") as f:  # same inode
        f.write(json.dumps(data, indent=2))
        f.truncate()
    store.refresh(full=True)
    assert store.list(EntryFilter(status=EntryStatus.resolved)).total == 3


def test_a_corrupt_index_is_rebuilt_not_trusted(sample_dlq):
    FileStore(sample_dlq).list(EntryFilter())
    index = sample_dlq / ".mova" / "index.sqlite"
    for extra in ("-wal", "-shm"):
        Path(str(index) + extra).unlink(missing_ok=True)
    index.write_bytes(b"this is not sqlite" * 100)
    assert FileStore(sample_dlq).list(EntryFilter()).total == 16


def test_missing_directory_reads_as_empty_and_is_flagged(tmp_path):
    store = FileStore(tmp_path / "nope")
    page = store.list(EntryFilter())
    assert page.total == 0 and page.missing_dir
    assert not (tmp_path / "nope").exists()  # reading never creates it


def test_index_falls_back_to_memory_when_it_cannot_be_created(sample_dlq):
    (sample_dlq / ".mova").write_text("a file where the bookkeeping directory would go")
    assert FileStore(sample_dlq).list(EntryFilter()).total == 16


def test_update_preserves_unknown_fields_and_writes_only_on_change(sample_dlq):
    store = FileStore(sample_dlq)
    path = sample_dlq / f"{GO_ID}.json"
    before = json.loads(path.read_text())
    inode = path.stat().st_ino
    store.update(GO_ID, lambda e: None)
    assert path.stat().st_ino == inode  # nothing changed, nothing written

    def archive(e):
        e.status = EntryStatus.archived

    store.update("5c91d7e4", archive)
    after = json.loads(path.read_text())
    assert after.pop("status") == "archived"
    before.pop("status")
    assert after == before


def test_concurrent_claims_from_processes_exactly_one_wins(sample_dlq):
    target = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18"
    procs = [run_worker("claim", str(sample_dlq), target, f"w{i}") for i in range(6)]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    winners = [r for r in results if r["ok"]]
    assert len(winners) == 1
    assert all("already being retried" in r["error"] for r in results if not r["ok"])
    entry = FileStore(sample_dlq).get(target)
    assert entry.status == EntryStatus.retrying and entry.metadata.retry_count == 1
    assert entry.metadata.lease.owner == winners[0]["who"]


def test_killed_writer_never_leaves_a_torn_file(tmp_path):
    target = tmp_path / "entry.json"
    atomic_write(target, json.dumps({"n": 0}).encode())
    for _ in range(5):
        proc = run_worker("rewrite", str(target))
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(20):  # let it write a while: each read must see a whole file
            json.loads(target.read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        json.loads(target.read_text())
    # temporaries left by a kill are dot-files: never listed as entries
    assert all(p.name.startswith(".") for p in tmp_path.iterdir() if p.name != "entry.json")


def test_write_failure_keeps_the_previous_file(sample_dlq, monkeypatch):
    import errno

    store = FileStore(sample_dlq)
    path = sample_dlq / f"{GO_ID}.json"
    before = path.read_bytes()
    real_write = os.write

    def full_disk(fd, data):
        if os.fstat(fd).st_size > 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data[:20])

    monkeypatch.setattr(os, "write", full_disk)

    def archive(e):
        e.status = EntryStatus.archived

    with pytest.raises(StoreError, match="disk is full"):
        store.update(GO_ID, archive)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not [p for p in sample_dlq.iterdir() if p.name.endswith(".tmp")]


def test_symlinked_entry_is_not_followed(sample_dlq, tmp_path):
    secret = tmp_path / "outside.json"
    secret.write_text(json.dumps(make_entry("dlq_link").to_json_dict()))
    (sample_dlq / "dlq_link.json").symlink_to(secret)
    store = FileStore(sample_dlq)
    with pytest.raises((CorruptEntry, EntryNotFound)):
        store.get("dlq_link")
    assert "dlq_link" not in [s.id for s in store.list(EntryFilter()).items]


def test_trailing_newline_is_not_a_valid_id(sample_dlq):
    with pytest.raises(InvalidId):
        FileStore(sample_dlq).get("dlq_3f9a2c71\n")


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def test_entry_nested_too_deeply_to_rewrite_is_a_corrupt_entry_not_a_crash(empty_dlq):
    # Found by the reliability suite: 300 levels load, but every view and rewrite then failed with
    # PydanticSerializationError (`mova dlq show`, GET /v1/dlq 500, the dashboard's details).
    store = FileStore(empty_dlq)
    deep = make_entry("dlq_deep").to_json_dict()
    deep["context"]["variables"] = {"deep": _nested(300)}
    (empty_dlq / "dlq_deep.json").write_text(json.dumps(deep))
    with pytest.raises(CorruptEntry, match="nested too deeply"):
        store.get("dlq_deep")
    entries, bad = store.read_many(["dlq_deep"])
    assert entries == [] and [b.name for b in bad] == ["dlq_deep.json"]
    with pytest.raises(CorruptEntry):
        store.update("dlq_deep", lambda e: None)
    # within the limit an entry is read, rewritten and read back whole
    ok = make_entry("dlq_fine").to_json_dict()
    ok["context"]["variables"] = {"deep": _nested(200), "big": 2**70}
    (empty_dlq / "dlq_fine.json").write_text(json.dumps(ok))
    store.update("dlq_fine", lambda e: setattr(e, "status", EntryStatus.archived))
    assert store.get("dlq_fine").context.variables["big"] == 2**70


def test_a_lock_that_cannot_be_created_is_a_store_error(sample_dlq, monkeypatch):
    # Found by the reliability suite: a full disk or a read-only .mova/locks gave a raw OSError
    # (a 500 from the HTTP shim) instead of the store's clear error.
    import errno

    store = FileStore(sample_dlq)
    store.get(GO_ID)
    real_open = os.open

    def refuse_locks(path, flags, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse_locks)
    with pytest.raises(StoreError, match="could not lock .*permission denied; nothing was changed"):
        store.update(GO_ID, lambda e: setattr(e, "status", EntryStatus.archived))
    monkeypatch.undo()
    assert store.get(GO_ID).status != EntryStatus.archived


def test_an_unchanged_directory_is_not_listed_again(sample_dlq, monkeypatch):
    import mova_core.store.index as index_module

    past = 1_700_000_000_123_456_789  # a fine-grained mtime well in the past: not racy
    os.utime(sample_dlq, ns=(past, past))
    store = FileStore(sample_dlq)
    os.utime(sample_dlq, ns=(past, past))  # creating .mova touched it
    store.refresh()
    scans = []
    real_scandir = os.scandir
    monkeypatch.setattr(index_module.os, "scandir", lambda p: scans.append(p) or real_scandir(p))
    assert store.list(EntryFilter()).total == 16
    assert scans == []  # the mtime proves nothing changed
    new = make_entry("dlq_44444444-0000-4000-8000-000000000004")
    (sample_dlq / f"{new.id}.json").write_text(json.dumps(new.to_json_dict()))
    assert store.list(EntryFilter()).total == 17 and len(scans) == 1


def test_a_directory_changed_just_now_is_rescanned(sample_dlq, monkeypatch):
    import mova_core.store.index as index_module

    store = FileStore(sample_dlq)
    store.refresh()  # the copy was made just now: racy, so the next refresh lists again
    scans = []
    real_scandir = os.scandir
    monkeypatch.setattr(index_module.os, "scandir", lambda p: scans.append(p) or real_scandir(p))
    store.refresh()
    assert len(scans) == 1
    assert index_module.racy_window(1_000_000_000) == index_module.RACY_SECONDS_COARSE


OPEN_RACE = """
import json, sys, tempfile, threading
from pathlib import Path
from mova_core.model.listing import EntryFilter
from mova_core.store.files import FileStore
src = json.loads(Path(sys.argv[1]).read_text())
for round_no in range(8):
    directory = Path(tempfile.mkdtemp()) / "deadletter"
    directory.mkdir()
    for n in range(5):
        (directory / f"dlq_{n}.json").write_text(json.dumps({**src, "id": f"dlq_{n}"}))
    barrier, errors = threading.Barrier(16), []
    def open_and_list():
        barrier.wait()
        try:
            store = FileStore(directory)
            assert store.list(EntryFilter()).total == 5
            store.index.close()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    threads = [threading.Thread(target=open_and_list) for _ in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    if errors:
        sys.exit(f"round {round_no}: {errors[:3]}")
"""


def test_concurrent_first_opens_of_the_index_do_not_corrupt_it(tmp_path):
    # Found by the reliability suite (the HTTP shim under load): sixteen requests opening a new
    # index at once raced over its schema; one deleted it under the others, which then failed with
    # "no such table" or "file is not a database", or the whole process died of SIGBUS.
    source = tmp_path / "entry.json"
    source.write_text(json.dumps(make_entry("dlq_x").to_json_dict()))
    done = subprocess.run([sys.executable, "-c", OPEN_RACE, str(source)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:] or f"exit {done.returncode}"


def test_a_corrupt_index_with_wal_files_is_rebuilt_on_disk(sample_dlq):
    FileStore(sample_dlq).list(EntryFilter())
    index = sample_dlq / ".mova" / "index.sqlite"
    index.write_bytes(b"garbage" * 500)
    Path(str(index) + "-wal").write_bytes(b"stale wal")
    store = FileStore(sample_dlq)
    assert store.list(EntryFilter()).total == 16
    assert store.index.db_path == index and index.read_bytes()[:15] == b"SQLite format 3"


def test_times_format_as_rfc3339_even_in_year_one():
    from mova_core.timeutil import format_time, parse_time

    stamp = format_time(datetime(1, 1, 1, tzinfo=timezone.utc))
    assert stamp == "0001-01-01T00:00:00.000000Z" and parse_time(stamp).year == 1


# -- the index's idea of an entry is the model's ------------------------------------------------------

def test_the_fast_entry_check_names_exactly_the_models_fields():
    """A field added to a model and not to `entry_shape.MODELS` would be waved through unchecked."""
    from mova_core.model import entry, entry_shape, policy

    assert set(entry_shape.MODELS) >= {"DeadLetterEntry", "RetryPolicy"}
    for name, (fields, required) in entry_shape.MODELS.items():
        model = getattr(entry, name, None) or getattr(policy, name)
        assert set(fields) == set(model.model_fields), name
        assert set(required) == {f for f, info in model.model_fields.items() if info.is_required()}, name
        for field, kind in fields.items():
            annotation = str(model.model_fields[field].annotation).replace("Optional[", "None | ")
            if isinstance(kind, tuple):  # a nested model: the one the annotation names, null where it may be
                assert kind[1] in annotation and kind[2] == ("None" in annotation), (name, field)
            elif kind != entry_shape.ANY:
                assert kind.startswith("opt_") == ("None" in annotation), (name, field, annotation)


def test_the_fast_entry_check_vouches_for_every_sample_entry():
    """Files as the engines write them never need the model: the index reads them at full speed."""
    from mova_core.model.entry_shape import looks_valid
    from tests.support import SAMPLE_DLQ

    for path in [*SAMPLE_DLQ.glob("*.json"), GO_ENTRY]:
        assert looks_valid(json.loads(path.read_text())), path.name


_VALUES = [None, True, False, 0, 1, -1, 2.0, 2.5, -0.5, 1e308, "", "x", "3", "fixed", "active",
           "2026-11-20T10:00:00Z", "2026-02-30T00:00:00Z", [], ["x"], [1], {}, {"a": 1}, {"status": "ok"}]


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_entry_check_never_vouches_for_what_the_model_refuses(seed):
    """Every known field of a sample entry set to values of every type: wherever the fast check says
    yes, the model must too (a no only costs the model's time)."""
    import random

    from pydantic import ValidationError

    from mova_core.model.entry_shape import looks_valid

    rng = random.Random(seed)
    base = json.loads(GO_ENTRY.read_text())
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                paths.append((*path, key))
                walk(value, (*path, key))
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, (*path, n))

    walk(base, ())
    vouched = 0
    for _ in range(400):
        doc = json.loads(json.dumps(base))
        for path in rng.sample(paths, rng.randint(1, 3)):
            target = doc
            try:
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = rng.choice(_VALUES)
            except (KeyError, IndexError, TypeError):
                continue
        if looks_valid(doc):
            vouched += 1
            try:
                DeadLetterEntry.model_validate(doc)
            except ValidationError as exc:
                pytest.fail(f"the fast check vouched for a file the model refuses: {exc}")
    assert vouched > 20  # the check says yes often enough to matter


def test_wrong_types_in_known_fields_are_skipped_with_the_reason_show_gives(sample_dlq):
    raw = json.loads(GO_ENTRY.read_text())
    cases = {"context": [], "error_details": "oops", "metadata": 5}
    for field, value in cases.items():
        (sample_dlq / f"dlq_bad_{field}.json").write_text(json.dumps({**raw, "id": f"dlq_bad_{field}", field: value}))
    store = FileStore(sample_dlq)
    page = store.list(EntryFilter())
    skipped = {s.name: s.reason for s in page.skipped}
    for field in cases:
        assert f"dlq_bad_{field}" not in {i.id for i in page.items}
        with pytest.raises(CorruptEntry) as caught:
            store.get(f"dlq_bad_{field}")
        assert skipped[f"dlq_bad_{field}.json"] == caught.value.reason and field in caught.value.reason
    raws, bad = store.read_raw([i.id for i in page.items])
    assert len(raws) == page.total and bad == []


def test_a_file_changed_after_it_was_indexed_is_not_served_raw(sample_dlq):
    store = FileStore(sample_dlq)
    ids = [i.id for i in store.list(EntryFilter()).items]
    path = sample_dlq / f"{ids[0]}.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "context": []}))  # broken after the listing
    raws, bad = store.read_raw(ids)
    assert ids[0] not in [r["id"] for r in raws] and [b.name for b in bad] == [path.name]


def test_files_that_are_not_regular_files_are_reported_and_never_opened_for_long(sample_dlq, tmp_path):
    os.mkfifo(sample_dlq / "dlq_fifo.json")
    (sample_dlq / "dlq_dir.json").mkdir()
    (sample_dlq / "dlq_link.json").symlink_to(next(sample_dlq.glob("dlq_*.json")))
    store = FileStore(sample_dlq)
    skipped = {s.name: s.reason for s in store.list(EntryFilter()).skipped}
    assert skipped == {"dlq_fifo.json": "is a FIFO (named pipe); entries must be regular files",
                       "dlq_dir.json": "is a directory; entries must be regular files",
                       "dlq_link.json": "is a symbolic link; entries must be regular files"}
    for name, reason in skipped.items():
        with pytest.raises(CorruptEntry, match="entries must be regular files"):
            store.get(name.removesuffix(".json"))  # a FIFO would block an open without O_NONBLOCK
    assert store.list(EntryFilter()).total == 16  # and a refresh leaves them skipped, not re-read


def test_every_timestamp_the_fast_check_passes_parse_time_reads():
    """The fast check's timestamp pattern is stricter than `parse_time`: it never passes one the model refuses."""
    import random

    import re

    from mova_core.model import entry_shape
    from mova_core.timeutil import parse_time

    plain = re.compile(entry_shape.PLAIN_TIME, re.ASCII).fullmatch
    rng = random.Random(5)
    for _ in range(5000):
        text = (f"{rng.randint(1, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
                + ("." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9))) if rng.random() < 0.7 else "")
                + rng.choice(["Z", f"+{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                              f"-{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"]))
        assert plain(text), text
        parse_time(text)
    for refused in ("0000-01-01T00:00:00Z", "2024-02-29T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+24:00",
                    "000\u0660-01-01T20:00:00Z", "2024-01-01t00:00:00Z", "2024-01-01T00:00:00.Z"):
        assert not plain(refused), refused  # left to parse_time, which decides
