"""The summary index: its first build (reader processes, interrupted builds), its schema, its search."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mova_core.store.index as index_module
import mova_core.store.scan as summaries
from mova_core.model.listing import EntryFilter
from mova_core.store.files import FileStore
from mova_core.store.index import Index
from tests.support import GO_ENTRY, ROOT

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


# -- search ------------------------------------------------------------------------------------

SEARCH_CASES = {
    "dlq_alpha": dict(workflow_type="Order-Sync", last_error="HTTP 502: Bad Gateway", action_type="http_fetch"),
    "dlq_beta": dict(workflow_type="invoice-sync", last_error="Timeout after 30s", action_type="Transform"),
    "dlq_gamma": dict(workflow_type="billing", last_error="quota at 50% (shard_7)", action_type=None),
    "dlq_delta": dict(workflow_type="ÉTÉ-sync", last_error="line one\nline two", action_type="notify"),
    "dlq_eps": dict(workflow_type="wf", last_error="before\x00hidden part", action_type="kx\x00ky"),
}


@pytest.fixture
def search_index(empty_dlq) -> Index:
    for entry_id, fields in SEARCH_CASES.items():
        write_doc(empty_dlq, entry_id, **fields)
    index = Index(empty_dlq, None)
    index.refresh()
    return index


@pytest.mark.parametrize(("text", "expected"), [
    ("ALPHA", ["dlq_alpha"]),  # the id
    ("order-SYNC", ["dlq_alpha"]),  # the workflow type, any ASCII case
    ("bad gateway", ["dlq_alpha"]),  # the last error
    ("transFORM", ["dlq_beta"]),  # the action type
    ("sync", ["dlq_alpha", "dlq_beta", "dlq_delta"]),
    ("50%", ["dlq_gamma"]),  # % and _ are themselves, not wildcards
    ("5_%", []),
    ("shard_7", ["dlq_gamma"]),
    ("shard%7", []),
    ("d_alpha", []),
    ("\\", []),
    ("lpha" + "order", []),  # no match across two fields: the id's end and the type's start
    ("sync" + "http", []),  # nor the type's end and the error's start
    ("gateway" + "http_fetch", []),
    ("été", []),  # SQLite's LIKE folds ASCII case only, as before: not É/é
    ("ÉTÉ", ["dlq_delta"]),
    ("line one\nline two", ["dlq_delta"]),  # a separator in the text: each field searched on its own
    ("sync\nline", []),
    ("before", ["dlq_eps"]),  # LIKE reads a field up to its first NUL, as before
    ("hidden", []),
    ("kx", ["dlq_eps"]),
    ("ky", []),
])
def test_search_matches_each_field_on_its_own(search_index, text, expected):
    assert ids(search_index, text=text) == expected


def old_search(db: sqlite3.Connection, text: str) -> list[str]:
    """The search as it was before the joined column: four LIKEs, one per field."""
    needle = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = db.execute(
        "SELECT id FROM entries WHERE id LIKE ?1 ESCAPE '\\' OR workflow_type LIKE ?1 ESCAPE '\\' "
        "OR last_error LIKE ?1 ESCAPE '\\' OR action_type LIKE ?1 ESCAPE '\\'", (needle,))
    return sorted(r[0] for r in rows)


def test_search_finds_exactly_what_four_likes_found(search_index):
    needles = ["a", "A", "-", "_", "%", "\\", " ", ":", "p 5", "t\n", "\nl", "É", "é", "\x00", "a\x00",
               "sync\n", "ync", "HTTP_", "502", "order", "ta", "delta", "ÉTÉ-", "hidden", "kx", "two"]
    for text in needles:
        assert ids(search_index, text=text) == old_search(search_index.db, text), repr(text)


def test_search_combines_with_the_other_filters_and_sorts(search_index):
    items, total = search_index.query(EntryFilter(text="SYNC", sort="workflow_type", descending=False, limit=2))
    assert total == 3 and [i.id for i in items] == ["dlq_alpha", "dlq_beta"]  # "Order-Sync" < "invoice-sync"
    assert ids(search_index, text="sync", workflow_type="invoice-sync") == ["dlq_beta"]


def test_search_reads_the_narrow_time_index(search_index):
    where, args = search_index._where(EntryFilter(text="gateway"))
    plan = " ".join(r[-1] for r in search_index.db.execute(
        f"EXPLAIN QUERY PLAN SELECT count(*) FROM entries WHERE {where}", args))
    assert "entries_created" in plan


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
    (directory / "dlq_dir.json").mkdir()  # not a file: skipped, and said so
    write_doc(directory.parent, "outside")
    (directory / "dlq_link.json").symlink_to(directory.parent / "outside.json")  # never read through
    (directory / ".dlq_temp.json").write_text("{}")  # a dot-file: never an entry


def snapshot(index: Index) -> tuple:
    items, total = index.query(EntryFilter())
    return total, [i.model_dump() for i in items], [s.model_dump() for s in index.skipped()]


@pytest.mark.parametrize("readers", [1, 2])
def test_reader_processes_build_the_same_index_as_one_process(empty_dlq, monkeypatch, readers):
    many_entries(empty_dlq, 60)
    hostile_files(empty_dlq)
    plain = Index(empty_dlq, None)
    plain.refresh()
    monkeypatch.setattr(index_module, "POOL_THRESHOLD", 10)
    monkeypatch.setattr(index_module, "reader_count", lambda: readers)
    monkeypatch.setattr(summaries, "CHUNK", 7)  # many ranges, a few files read here between answers
    monkeypatch.setattr(summaries, "OWN_CHUNK", 3)
    progress: list[tuple[int, int]] = []
    pooled = Index(empty_dlq, empty_dlq.parent / "index.sqlite")
    pooled.refresh(progress=lambda done, total: progress.append((done, total)))
    assert snapshot(pooled) == snapshot(plain)
    assert snapshot(pooled)[0] == 60
    assert {s.name: s.reason for s in pooled.skipped()}.keys() == {
        "dlq_broken.json", "dlq_renamed.json", "dlq_list.json", "dlq_dir.json", "dlq_link.json"}
    assert progress[-1] == (65, 65)
    assert pooled.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # back to WAL after the build
    assert ids(pooled, status="archived") == ids(plain, status="archived")
    assert ids(pooled, text="shard 3") == ids(plain, text="shard 3")
    assert {r[0] for r in pooled.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= set(
        index_module._INDEXES)  # created after the rows


@pytest.mark.parametrize("how", ["killed", "exits at once", "cannot start"])
def test_readers_that_die_leave_their_files_to_the_others(empty_dlq, monkeypatch, how):
    many_entries(empty_dlq, 40)
    plain = Index(empty_dlq, None)
    plain.refresh()
    monkeypatch.setattr(index_module, "POOL_THRESHOLD", 10)
    monkeypatch.setattr(index_module, "reader_count", lambda: 2)
    monkeypatch.setattr(summaries, "CHUNK", 5)
    if how == "killed":
        real_init = summaries.ReaderPool.__init__

        def kill_one(self, workers):
            real_init(self, workers)
            self.procs[0].kill()

        monkeypatch.setattr(summaries.ReaderPool, "__init__", kill_one)
    elif how == "exits at once":
        monkeypatch.setattr(summaries, "_worker_command", lambda: [sys.executable, "-c", "pass"])
    else:
        monkeypatch.setattr(summaries, "_worker_command", lambda: [str(empty_dlq / "no-such-python")])
    pooled = Index(empty_dlq, None)
    pooled.refresh()
    assert snapshot(pooled) == snapshot(plain)


BUILD_AND_DIE = """
import os, signal, sqlite3, sys
from pathlib import Path
import mova_core.store.index as index_module
from mova_core.store.index import Index
directory, mode = Path(sys.argv[1]), sys.argv[2]
index_module.POOL_THRESHOLD = 10
path = directory / ".mova" / "index.sqlite"
path.parent.mkdir()
index = Index(directory, path)
if mode == "wal":  # another connection has the index open: the build stays in WAL mode
    other = sqlite3.connect(path)
    other.execute("SELECT count(*) FROM entries").fetchone()
readers = []
real_init = index_module.ReaderPool.__init__
def remember(self, workers):
    real_init(self, workers)
    readers.extend(self.procs)
index_module.ReaderPool.__init__ = remember
def die(done, total):
    if done == total:  # every row written, the transaction not committed yet
        print(" ".join(str(p.pid) for p in readers), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
index.refresh(progress=die)
"""


def gone_or_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("mode", ["rollback journal", "wal"])
def test_an_interrupted_first_build_is_not_trusted(empty_dlq, mode):
    many_entries(empty_dlq, 30)
    done = subprocess.run([sys.executable, "-c", BUILD_AND_DIE, str(empty_dlq), mode.split()[0]], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr[-2000:]
    readers = [int(p) for p in done.stdout.split()]
    assert readers, "the build used no reader process"
    path = empty_dlq / ".mova" / "index.sqlite"
    if mode == "rollback journal":
        assert Path(f"{path}-journal").exists()  # a hot journal: the next connection rolls it back
    look = sqlite3.connect(path)
    assert look.execute("SELECT count(*) FROM entries").fetchone() == (0,)  # nothing half-built is seen
    assert look.execute("SELECT count(*) FROM meta WHERE key = 'dir_mtime'").fetchone() == (0,)
    look.close()
    store = FileStore(empty_dlq)
    assert store.list(EntryFilter()).total == 30
    assert store.index.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    deadline = time.monotonic() + 10
    while not all(gone_or_zombie(pid) for pid in readers):  # orphans read EOF and exit
        assert time.monotonic() < deadline, "reader processes outlived their parent"
        time.sleep(0.01)


# -- schema ------------------------------------------------------------------------------------

V6_SCHEMA = """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE entries (
        name TEXT PRIMARY KEY, inode INTEGER, mtime_ns INTEGER, size INTEGER,
        id TEXT, run_id TEXT, status TEXT, created_at TEXT, created_ts REAL, workflow_type TEXT,
        user_id TEXT, action_type TEXT, last_error TEXT, failure_reason TEXT, attempts INTEGER,
        retry_count INTEGER, fingerprint TEXT, priority INTEGER, lease_owner TEXT, lease_expires_ts REAL);
    CREATE TABLE bad (name TEXT PRIMARY KEY, inode INTEGER, mtime_ns INTEGER, size INTEGER, error TEXT);
    CREATE INDEX entries_created ON entries (created_ts);
    CREATE INDEX entries_kind ON entries (status, workflow_type);
    INSERT INTO meta VALUES ('schema', '6'), ('dir_safe', '1');
    INSERT INTO entries (name, id, status, created_ts, workflow_type) VALUES ('ghost.json', 'ghost', 'active', 1, 'x');
"""


def test_an_index_of_the_previous_schema_is_rebuilt(sample_dlq):
    path = sample_dlq / ".mova" / "index.sqlite"
    path.parent.mkdir()
    old = sqlite3.connect(path)
    old.executescript(V6_SCHEMA)
    stat = sample_dlq.stat()  # an unchanged directory: the old index would be trusted as it is
    old.execute("INSERT INTO meta VALUES ('dir_mtime', ?)", (f"{stat.st_ino}:{stat.st_mtime_ns}",))
    old.commit()
    old.close()
    store = FileStore(sample_dlq)
    page = store.list(EntryFilter())
    assert page.total == 16 and "ghost" not in [e.id for e in page.items]
    assert store.index._meta("schema") == index_module.SCHEMA_VERSION
    indexes = {r[0] for r in store.index.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert set(index_module._INDEXES) <= indexes
    assert "search_text" in [r[1] for r in store.index.db.execute("PRAGMA table_info(entries)")]
    assert store.list(EntryFilter(text="bad gateway")).total >= 1


# -- refreshing ------------------------------------------------------------------------------------

def test_a_rescan_after_another_connection_emptied_the_index_reads_everything(sample_dlq, tmp_path):
    first = FileStore(sample_dlq)
    first.refresh()  # the copy was made just now: racy, so the next refresh lists the directory again
    moved = tmp_path / "moved"
    sample_dlq.rename(moved)
    second = FileStore(sample_dlq, index_path=moved / ".mova" / "index.sqlite")
    assert not second.refresh()  # the directory is missing: the other connection empties the index
    moved.rename(sample_dlq)  # back, with the same inode and mtime
    assert first.list(EntryFilter()).total == 16


def test_a_rescan_sees_what_changed_since_the_racy_refresh(sample_dlq):
    store = FileStore(sample_dlq)
    store.refresh()
    write_doc(sample_dlq, "dlq_newcomer")
    (sample_dlq / "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38.json").unlink()
    page = store.list(EntryFilter())
    ids_now = [e.id for e in page.items]
    assert page.total == 16 and "dlq_newcomer" in ids_now and "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38" not in ids_now


@pytest.mark.parametrize("hidden_change", [False, True])
def test_a_first_build_lists_the_directory_again_before_trusting_it(empty_dlq, monkeypatch, hidden_change):
    many_entries(empty_dlq, 40)
    changed = time.time_ns() - 1_000_000_123  # a fine-grained mtime a second ago
    os.utime(empty_dlq, ns=(changed, changed))
    monkeypatch.setattr(index_module, "POOL_THRESHOLD", 10)
    monkeypatch.setattr(index_module, "reader_count", lambda: 1)

    class Clock:  # the scan began right after the change: the mtime cannot be trusted yet
        @staticmethod
        def time() -> float:
            return changed / 1e9 + 0.01

    monkeypatch.setattr(index_module, "time", Clock)

    def sneak_in(done: int, total: int) -> None:
        if hidden_change and done == total:  # a file the first scan missed, behind the same mtime
            write_doc(empty_dlq, "dlq_sneaked")
            os.utime(empty_dlq, ns=(changed, changed))

    index = Index(empty_dlq, None)
    index.refresh(progress=sneak_in)
    # the reader's second listing (begun a second after the change) trusts it, unless it differs
    assert index._meta("dir_safe") == ("0" if hidden_change else "1")
    index.refresh()
    assert index.query(EntryFilter())[1] == (41 if hidden_change else 40)


# -- listings by status ---------------------------------------------------------------------------

def test_a_status_window_is_the_same_whichever_index_finds_it(empty_dlq, monkeypatch):
    statuses = ["active"] * 50 + ["archived"] * 8 + ["resolved"] * 2
    for n, status in enumerate(statuses):
        write_doc(empty_dlq, f"dlq_{(n * 37) % 60:02d}", status=status,
                  created_at=f"2026-11-{1 + n % 5:02d}T10:00:00Z")  # ties: the id decides
    index = Index(empty_dlq, None)
    index.refresh()
    rows = {item.id: item for item in index.query(EntryFilter())[0]}
    walked, decisions = [], set()
    real_where = index._where
    monkeypatch.setattr(index, "_where", lambda flt, **kw: walked.append(kw.get("in_time_order", False))
                        or real_where(flt, **kw))
    for status in ("active", "archived", "resolved"):
        for descending in (True, False):
            every = sorted((r for r in rows.values() if r.status == status),
                           key=lambda r: (r.created_ts, r.id), reverse=descending)
            for offset, limit in ((0, 5), (3, 4), (0, 100)):
                walked.clear()
                items, total = index.query(EntryFilter(status=status, descending=descending, offset=offset, limit=limit))
                assert total == len(every)
                assert [i.id for i in items] == [r.id for r in every[offset:offset + limit]]
                # a common status is walked in time order, a rare one read through the status index
                assert walked[-1] == ((offset + limit) * len(rows) < total * total)
                decisions.add(walked[-1])
    assert decisions == {True, False}


def test_both_directory_scans_follow_the_entry_name_rule(tmp_path):
    """The index's scan and a reader's listing inline `is_entry_name`: they must agree with it. Names
    that follow it are listed whatever the file is (a directory or a symlink is then reported as
    skipped); the temporary dot-files of writers are noted as leftovers, never as entries."""
    from mova_core.model.ids import is_entry_name
    from mova_core.store.fsio import temp_path

    temp = temp_path(tmp_path / "dlq_d.json").name
    names = ["dlq_a.json", ".dlq_b.json", "notes.txt", "dlq_c.json.tmp", temp, ".dlq_e.json.0a1b2c.deleting"]
    for name in names:
        (tmp_path / name).write_text("{}")
    (tmp_path / "dlq_dir.json").mkdir()  # not a file
    (tmp_path / "dlq_link.json").symlink_to(tmp_path / "dlq_a.json")  # never followed
    expected = {n for n in [*names, "dlq_dir.json", "dlq_link.json"] if is_entry_name(n)}
    assert expected == {"dlq_a.json", "dlq_dir.json", "dlq_link.json"}
    index = Index(tmp_path, None)
    seen, pool, first_build = index._scan()
    assert set(seen) == expected and pool is None and not first_build
    assert sorted(index.leftovers) == sorted([temp, ".dlq_e.json.0a1b2c.deleting"])
    assert set(summaries.list_entries(tmp_path)[3]) == expected


# -- a file rewritten onto a reused inode ------------------------------------------------------------

def _rewrite(path: Path, doc: dict, *, mtime_ns: int | None = None) -> int:
    """Write `doc` as the store does (a temporary dot-file renamed over the entry); the new inode."""
    tmp = path.with_name(f".{path.name}.rewrite.tmp")
    tmp.write_text(json.dumps(doc))
    if mtime_ns is not None:  # a writer that keeps the old mtime (cp -p, rsync -t): only ctime moves
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.replace(tmp, path)
    return path.stat().st_ino


@pytest.mark.parametrize(("keep_mtime", "racy_rule"), [(False, True), (True, True), (True, False)],
                         ids=["new-mtime", "same-mtime", "same-mtime-only-ctime"])
def test_a_file_rewritten_onto_a_reused_inode_is_read_again(empty_dlq, monkeypatch, keep_mtime, racy_rule):
    """ext4 hands a freed inode straight back: rename-over writes of one file alternate between two
    inode numbers. Refreshed after every second write, the file has the inode the index saw last,
    the same size (resolved and archived are as long), and, with `keep_mtime`, the same mtime.

    Without the racy rule (a row read right after its file changed is read again next time) the
    ctime alone must tell the rewritten file apart."""
    if not racy_rule:
        monkeypatch.setattr(summaries, "RACY_SECONDS_FINE", 0.0)
        monkeypatch.setattr(summaries, "RACY_SECONDS_COARSE", 0.0)
    write_doc(empty_dlq, "dlq_reused")
    path = empty_dlq / "dlq_reused.json"
    doc = json.loads(path.read_text())
    mtime = path.stat().st_mtime_ns if keep_mtime else None
    index = Index(empty_dlq, None)
    index.refresh()
    seen_at_refresh = path.stat().st_ino
    repeats = 0
    for pair in range(200):
        last = ("resolved", "archived")[pair % 2]
        for status in ({"resolved": "archived", "archived": "resolved"}[last], last):
            inode = _rewrite(path, {**doc, "status": status}, mtime_ns=mtime)
        repeats += inode == seen_at_refresh
        index.refresh()
        assert [i.status for i in index.query(EntryFilter())[0]] == [last], f"stale after pair {pair}"
        seen_at_refresh = inode
        if repeats >= 3:
            break
    if repeats == 0:
        pytest.skip("this file system never reused an inode: the case cannot be built here")


def test_status_changes_through_the_service_are_listed_whatever_the_inodes(sample_dlq):
    from mova_core.ops.service import DLQService
    from mova_core.settings import Settings

    svc = DLQService(Settings(dlq_path=sample_dlq))
    entry_id = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
    path = sample_dlq / f"{entry_id}.json"
    cycle = ["resolved", "archived", "active"]  # each change allowed from the one before
    svc.list()
    seen_at_list = path.stat().st_ino
    repeats = 0
    for n in range(60):
        for status in (cycle[(2 * n) % 3], cycle[(2 * n + 1) % 3]):
            svc.set_status(entry_id, status)
        repeats += path.stat().st_ino == seen_at_list
        seen_at_list = path.stat().st_ino
        listed = [i.id for i in svc.list(EntryFilter(status=status)).items]
        assert entry_id in listed, f"{entry_id} is {status} but not listed as {status} (round {n})"
        assert svc.stats().by_status[status] >= 1
        if repeats >= 3:
            break
    if repeats == 0:
        pytest.skip("this file system never reused an inode: the case cannot be built here")


def test_a_filter_matches_an_entry_in_hand_as_the_index_does(search_index, empty_dlq):
    """`EntryFilter.mismatch` (what a bulk run re-checks under the lock) is the index's SQL for one entry."""
    from datetime import datetime, timezone

    store = FileStore(empty_dlq, index_path=None)
    entries = {e: store.get(e) for e in SEARCH_CASES}
    prints = sorted({i.fingerprint for i in search_index.query(EntryFilter())[0]})
    filters = [dict(text=t) for t in ["a", "A", "_", "%", "\\", " ", "t\n", "\nl", "É", "é", "\x00", "a\x00",
                                       "sync\n", "HTTP_", "502", "ta", "hidden", "kx", "two", "lpha" + "order"]]
    filters += [dict(status="active"), dict(status="archived"), dict(workflow_type="billing"),
                dict(workflow_type="BILLING"), dict(user_id="nobody"), dict(fingerprint=prints[0][:4]),
                dict(fingerprint=prints[0][:4].upper()), dict(fingerprint="zz"),
                dict(since=datetime(2026, 11, 20, 10, tzinfo=timezone.utc)),
                dict(until=datetime(2026, 11, 20, 9, tzinfo=timezone.utc)),
                dict(older_than=datetime(2026, 11, 20, 10, tzinfo=timezone.utc)),
                dict(older_than=datetime(2026, 11, 20, 10, 0, 1, tzinfo=timezone.utc)),
                dict(status="active", text="sync", workflow_type="invoice-sync")]
    for fields in filters:
        flt = EntryFilter(**fields)
        assert ids(search_index, **fields) == sorted(e for e, entry in entries.items() if flt.mismatch(entry) is None), fields
    assert EntryFilter(status="archived").mismatch(entries["dlq_alpha"]) == "status is active"
