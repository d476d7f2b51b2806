"""A derived SQLite index of entry summaries, so listings never parse every file every time.

The JSON files stay the source of truth. The index is refreshed incrementally: a directory whose
mtime has not moved is not even listed; otherwise a scan yields names and inode numbers (cheap),
files with a new name or inode are read, and every other file is looked at (lstat) and read again
unless its inode, mtime, size and ctime are the ones the index read. The inode alone is not
enough: a file system hands a freed inode straight back, so two rename-over writes can leave a file
on the inode it had. A full check (`reindex`) lists the directory even when its mtime has not
moved, for tools that rewrite files in place. The index can be deleted at any time; a corrupt or
foreign one is rebuilt, never trusted.

The scan also notes the temporary dot-files a killed writer can leave (`.<id>.json.<token>.tmp`,
`.<id>.json.<token>.deleting`) in `leftovers`, for the store to settle and remove.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mova_core.model.ids import is_entry_name
from mova_core.model.listing import EntryFilter, EntrySummary, SkippedFile
from mova_core.model.search import SEARCH_SEPARATOR
from mova_core.store import sqlite
from mova_core.store.protocol import Progress
from mova_core.store.scan import (  # noqa: F401  (RACY_SECONDS_*: the index's figures too)
    POOL_THRESHOLD,
    RACY_SECONDS_COARSE,
    RACY_SECONDS_FINE,
    ReaderPool,
    racy_window,
    read_files,
    reader_count,
)

SCHEMA_VERSION = "10"

_COLUMNS = (
    "name", "inode", "mtime_ns", "size", "ctime_ns", "id", "run_id", "status", "created_at", "created_ts",
    "workflow_type", "user_id", "action_type", "last_error", "failure_reason", "attempts", "retry_count",
    "fingerprint", "priority", "lease_owner", "lease_expires_ts", "search_text",
)
# What a listing reads back (EntrySummary's fields), not the file identity or the search column.
_SUMMARY_SQL = ", ".join(EntrySummary.model_fields)
# Three indexes only, each created once after the rows in a first build (cheaper than maintaining
# them row by row, and the first build is the slowest thing the index ever does):
# - the file name, unique: what a refresh looks entries up by (a rowid table with a separate
#   unique index loads faster than a table keyed by the text name, index included);
# - the time order that every listing walks, carrying the search column so a free-text search
#   scans this narrow index instead of the wide rows (and a search sorted by time looks at a row
#   only when it matches);
# - a narrow covering index that counts per status and type without reading the wide rows.
_INDEXES = {
    "entries_name": "CREATE UNIQUE INDEX IF NOT EXISTS entries_name ON entries (name)",
    "entries_created": "CREATE INDEX IF NOT EXISTS entries_created ON entries (created_ts, search_text)",
    "entries_kind": "CREATE INDEX IF NOT EXISTS entries_kind ON entries (status, workflow_type)",
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    name TEXT NOT NULL, inode INTEGER, mtime_ns INTEGER, size INTEGER, ctime_ns INTEGER,
    id TEXT, run_id TEXT, status TEXT, created_at TEXT, created_ts REAL, workflow_type TEXT,
    user_id TEXT, action_type TEXT, last_error TEXT, failure_reason TEXT, attempts INTEGER,
    retry_count INTEGER, fingerprint TEXT, priority INTEGER, lease_owner TEXT, lease_expires_ts REAL,
    search_text TEXT
);
CREATE TABLE IF NOT EXISTS bad (
    name TEXT PRIMARY KEY, inode INTEGER, mtime_ns INTEGER, size INTEGER, ctime_ns INTEGER, error TEXT
);
""" + "".join(f"{sql};\n" for sql in _INDEXES.values())
_VALUES = f"({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_INSERT = f"INSERT OR REPLACE INTO entries {_VALUES}"
_INSERT_NEW = f"INSERT INTO entries {_VALUES}"  # a first build: the table is empty, the names unique
# Files read (in this process) between writes of their rows.
_BATCH = 1000
_SORT_SQL = {
    "created_at": "created_ts", "age": "created_ts", "workflow_type": "workflow_type", "status": "status",
    "attempts": "attempts", "retry_count": "retry_count", "last_error": "last_error", "id": "id",
}


class Index:
    """The summary index of one dead-letter directory."""

    def __init__(self, directory: Path, db_path: Path | None):
        self.directory = Path(directory)
        self.db_path = db_path
        #: Temporary dot-files the last scan found (see the module docstring).
        self.leftovers: list[str] = []
        self.db = self._open()

    # -- connection -------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self.db_path is not None:
            try:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
                return self._connect(str(self.db_path))
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    # Another process holds it for longer than the busy timeout: it is not
                    # corrupt, so never delete it under that process; work from memory instead.
                    return self._connect(":memory:")
                return self._rebuild()
            except (OSError, sqlite3.DatabaseError):
                return self._rebuild()
        return self._connect(":memory:")

    def _rebuild(self) -> sqlite3.Connection:
        """A corrupt or foreign index is deleted (with its WAL and journal files) and rebuilt, never trusted."""
        if self.db_path is not None:
            try:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(str(self.db_path) + suffix).unlink(missing_ok=True)
                return self._connect(str(self.db_path))
            except (OSError, sqlite3.DatabaseError):
                pass  # a read-only place: fall back to memory
        return self._connect(":memory:")

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        db = sqlite.connect(target, relaxed_sync=True)
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            # Another version's tables are dropped before this version's are created (the names
            # are the same, the columns and indexes not): the index is then rebuilt from the files.
            db.executescript("DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS bad; DELETE FROM meta;")
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        else:
            db.executescript(_SCHEMA)  # puts back whatever is missing
        return db

    def close(self) -> None:
        self.db.close()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- refresh ----------------------------------------------------------------------------
    def refresh(self, *, full: bool = False, progress: Progress | None = None) -> bool:
        """Bring the index up to date with the directory; returns False if the directory is missing."""
        try:
            dir_stat = os.stat(self.directory)
        except FileNotFoundError:
            self.db.executescript("DELETE FROM entries; DELETE FROM bad; DELETE FROM meta WHERE key = 'dir_mtime';")
            return False
        started = time.time()
        stamp = f"{dir_stat.st_ino}:{dir_stat.st_mtime_ns}"
        if not full and self._meta("dir_mtime") == stamp and self._meta("dir_safe") == "1":
            return True
        # Changed just before this scan, the directory could change again within the same mtime:
        # then the next refresh lists it again rather than trust the mtime.
        safe = started - dir_stat.st_mtime_ns / 1e9 > racy_window(dir_stat.st_mtime_ns)
        pool: ReaderPool | None = None
        rollback_journal = False
        try:
            seen, pool, first_build = self._scan()
            if first_build:
                rollback_journal = self._rollback_journal()
            self.db.execute("BEGIN IMMEDIATE")
            try:
                known = self._known_files()
                todo = self._changed(seen, known)
                removed = [n for n in known if n not in seen]
                if removed:
                    self.db.executemany("DELETE FROM entries WHERE name = ?", [(n,) for n in removed])
                    self.db.executemany("DELETE FROM bad WHERE name = ?", [(n,) for n in removed])
                # A first build of a big directory: the indexes are cheaper to create once, after the
                # rows, than to maintain row by row; and with nothing known there is nothing to replace.
                bulk = not known and len(todo) >= POOL_THRESHOLD
                if bulk:
                    for name in _INDEXES:
                        self.db.execute(f"DROP INDEX IF EXISTS {name}")
                # A first build not trusted yet would be listed again by the next refresh: instead a
                # reader, idle once the files are read, lists it while this process creates the
                # indexes, and that listing is compared with what the index holds (`track`).
                track: dict[str, int] | None = {} if bulk and not safe and pool is not None else None
                self._read_files(todo, progress, pool=pool, bulk=bulk, track=track)
                recheck = track is not None and pool.ask_listing()
                if bulk:  # (executescript would commit the transaction half-way)
                    for statement in _INDEXES.values():
                        self.db.execute(statement)
                if recheck and self._still_listed(pool, dir_stat, track):
                    safe = True
                self.db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("dir_mtime", stamp), ("dir_safe", "1" if safe else "0")],
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        finally:
            if pool is not None:
                pool.close(kill=True)  # idle readers (or started for a read that turned out small)
            if rollback_journal:
                self._back_to_wal()
        return True

    def _scan(self) -> tuple[dict[str, int], ReaderPool | None, bool]:
        """The names and inodes of the files that may hold entries (whatever their type: a directory or
        a symlink named like an entry is reported as skipped); and, for what looks like a first build,
        its readers. Temporary dot-files left by writers go to `leftovers`.

        A first build (an empty index, a big directory) starts its reader processes as soon as the
        scan has found enough files: they start up while the scan goes on.
        """
        seen: dict[str, int] = {}
        leftovers: list[str] = []
        pool = None
        first_build = False
        with os.scandir(self.directory) as it:
            for e in it:
                # `is_entry_name`, inlined: a call per file is a measurable part of a big scan.
                name = e.name
                if name.endswith(".json") and name[0] != ".":
                    seen[name] = e.inode()
                    if len(seen) == POOL_THRESHOLD and self._is_empty():
                        first_build = True
                        if reader_count() > 0:
                            pool = ReaderPool(reader_count())
                elif name[0] == "." and name.endswith((".tmp", ".deleting")):
                    leftovers.append(name)
        self.leftovers = leftovers
        return seen, pool, first_build

    def _known_files(self) -> dict[str, tuple[str, int, int, int, int]]:
        """The index's files: {name: (name, inode, mtime, size, ctime)} (the rows as they come: cheapest)."""
        return {row[0]: row for row in self.db.execute(
            "SELECT name, inode, mtime_ns, size, ctime_ns FROM entries "
            "UNION ALL SELECT name, inode, mtime_ns, size, ctime_ns FROM bad")}

    def _changed(self, seen: dict[str, int], known: dict[str, tuple[str, int, int, int, int]]) -> list[str]:
        """The listed names to read: new ones, and those whose identity is not the one indexed.

        A name on the inode the index knows is looked at (lstat), since a rewrite can land on the
        same inode; what tells it apart is its ctime (set by every rename, never by `utime`), and
        its mtime and size.
        """
        todo = []
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            lstat = os.lstat
            for name, ino in seen.items():
                had = known.get(name)
                if had is None or had[1] != ino:
                    todo.append(name)
                    continue
                try:
                    st = lstat(name, dir_fd=dir_fd)
                except OSError:
                    todo.append(name)  # gone (or unreadable) since the scan: the read tells which
                    continue
                if st.st_ctime_ns != had[4] or st.st_mtime_ns != had[2] or st.st_size != had[3] or st.st_ino != ino:
                    todo.append(name)
        finally:
            os.close(dir_fd)
        return todo

    @staticmethod
    def _still_listed(pool: ReaderPool, dir_stat: os.stat_result, indexed: dict[str, int]) -> bool:
        """Whether the directory, listed again by a reader, can be trusted from now on: unchanged
        since the first stat, holding exactly the indexed files, listed late enough after its mtime."""
        listing = pool.listing()
        if listing is None:
            return False
        began, ino, mtime_ns, names = listing
        return ((ino, mtime_ns) == (dir_stat.st_ino, dir_stat.st_mtime_ns) and names == indexed
                and began - mtime_ns / 1e9 > racy_window(mtime_ns))

    def _is_empty(self) -> bool:
        return not self.db.execute("SELECT EXISTS (SELECT 1 FROM entries) OR EXISTS (SELECT 1 FROM bad)").fetchone()[0]

    def _rollback_journal(self) -> bool:
        """For a first build, leave WAL for a rollback journal, when no other connection has the index open.

        In WAL mode every page of a first build is written twice (to the log, then copied into the
        file at the checkpoint) and synced twice. A rollback journal keeps only the pages the file
        had before (a few: new pages are cut off on rollback), so the pages are written once and
        the whole file synced once, as durable and atomic as before: a build interrupted by a
        crash leaves a hot journal, and the next connection rolls it back to the empty index
        (which is then built again). Other connections opening the index meanwhile wait for the
        build, as their refresh would have waited for it anyway. A connection already open keeps
        WAL in place (the switch needs the file to itself): the build then runs in WAL mode,
        slower, just as safe. (benchmarks/README.md has the figures.)
        """
        if self.db_path is None:
            return False
        self.db.execute("PRAGMA busy_timeout = 0")  # never wait for another connection here
        try:
            mode = self.db.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        except sqlite3.OperationalError:
            return False
        finally:
            self.db.execute("PRAGMA busy_timeout = 30000")
        if mode != "delete":
            return False
        self.db.execute("PRAGMA synchronous = FULL")  # the default for a rollback journal
        return True

    def _back_to_wal(self) -> None:
        try:
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass  # every connection opening the index asks for WAL again

    def refresh_names(self, names: Iterable[str]) -> None:
        """Re-read the named files now (a watcher saw them change), present or gone."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._read_files([n for n in names if is_entry_name(n)], None)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _read_files(self, names: list[str], progress: Progress | None, *, pool: ReaderPool | None = None,
                    bulk: bool = False, track: dict[str, int] | None = None) -> None:
        total = len(names)
        if total >= POOL_THRESHOLD and (pool is not None or reader_count() > 0):
            # JSON decoding is CPU-bound: reader processes read too, the rows come back in batches
            # (in whatever order they are done), this process writes them.
            if pool is not None:  # the caller's, to close
                self._write_batches(pool.read(self.directory, names), total, progress, bulk, track)
            else:
                with ReaderPool(reader_count()) as pool:
                    self._write_batches(pool.read(self.directory, names), total, progress, bulk, track)
        else:
            batches = (read_files(self.directory, names[i:i + _BATCH]) for i in range(0, total, _BATCH))
            self._write_batches(batches, total, progress, bulk, track)

    def _write_batches(self, batches: Iterable, total: int, progress: Progress | None, bulk: bool,
                       track: dict[str, int] | None) -> None:
        done = 0
        for good, bad, gone in batches:
            self._write_rows(good, bad, gone, bulk)
            if track is not None:
                track.update((r[0], r[1]) for r in good)
                track.update((r[0], r[1]) for r in bad)
                for n in gone:
                    track.pop(n, None)
            before, done = done, done + len(good) + len(bad) + len(gone)
            if progress and (done // 1000 > before // 1000 or done == total):
                progress(done, total)

    def _write_rows(self, good: list[tuple], bad: list[tuple], gone: list[str], bulk: bool = False) -> None:
        if bulk:  # an empty index: nothing to replace or delete
            if good:
                self.db.executemany(_INSERT_NEW, good)
            if bad:
                self.db.executemany("INSERT INTO bad VALUES (?, ?, ?, ?, ?, ?)", bad)
            return
        if good:
            self.db.executemany(_INSERT, good)
            self.db.executemany("DELETE FROM bad WHERE name = ?", [(r[0],) for r in good])
        if bad:
            self.db.executemany("INSERT OR REPLACE INTO bad VALUES (?, ?, ?, ?, ?, ?)", bad)
            self.db.executemany("DELETE FROM entries WHERE name = ?", [(r[0],) for r in bad])
        if gone:
            self.db.executemany("DELETE FROM entries WHERE name = ?", [(n,) for n in gone])
            self.db.executemany("DELETE FROM bad WHERE name = ?", [(n,) for n in gone])

    # -- queries ----------------------------------------------------------------------------
    def _where(self, flt: EntryFilter, *, in_time_order: bool = False) -> tuple[str, list[Any]]:
        sql, args = ["1"], []
        if flt.status is not None:
            # `+status`: the same test, but the status index is not used for it (see `query`).
            sql.append("+status = ?" if in_time_order else "status = ?")
            args.append(flt.status.value)
        if flt.workflow_type:
            sql.append("workflow_type = ?")
            args.append(flt.workflow_type)
        if flt.user_id:
            sql.append("user_id = ?")
            args.append(flt.user_id)
        if flt.since is not None:
            sql.append("created_ts >= ?")
            args.append(flt.since.timestamp())
        if flt.until is not None:
            sql.append("created_ts <= ?")
            args.append(flt.until.timestamp())
        if flt.older_than is not None:
            sql.append("created_ts < ?")
            args.append(flt.older_than.timestamp())
        if flt.fingerprint:
            sql.append("fingerprint LIKE ? ESCAPE '\\'")
            args.append(_like_prefix(flt.fingerprint))
        if flt.text:
            # SQLite's LIKE ignores ASCII case already (and only ASCII case, like before: the column
            # is not lower-cased, so the same rows match); lower() on every row would only cost time.
            needle = f"%{_like_escape(flt.text)}%"
            if SEARCH_SEPARATOR in flt.text or "\x00" in flt.text:
                # Text holding the separator could match across the joined fields, and LIKE cuts
                # text at a NUL: such text is looked for in each field on its own, as before.
                sql.append("(id LIKE ? ESCAPE '\\' OR workflow_type LIKE ? ESCAPE '\\' "
                           "OR last_error LIKE ? ESCAPE '\\' OR action_type LIKE ? ESCAPE '\\')")
                args += [needle] * 4
            else:
                # One LIKE over id, workflow type, last error and action type joined by a separator
                # the text does not hold, so a match never spans two fields; it is read from the
                # narrow time index, not from the wide rows.
                sql.append("search_text LIKE ? ESCAPE '\\'")
                args.append(needle)
        return " AND ".join(sql), args

    def query(self, flt: EntryFilter) -> tuple[list[EntrySummary], int]:
        """The summaries matching a filter (sorted, windowed) and how many match in all."""
        where, args = self._where(flt)
        total = self._count_all() if where == "1" else self.db.execute(
            f"SELECT count(*) FROM entries WHERE {where}", args).fetchone()[0]
        order = _SORT_SQL[flt.sort]
        direction = "DESC" if flt.descending else "ASC"
        if flt.sort == "age":  # oldest first is "descending age"
            direction = "ASC" if flt.descending else "DESC"
        limit = -1 if flt.limit is None else flt.limit
        if order == "created_ts" and flt.status is not None and flt.limit is not None:
            # Without statistics SQLite reads every row of a status through the status index and
            # sorts them even when walking the time index would find the first rows of the window
            # at once. Walking visits about window * all / total rows, the status index `total`
            # rows: walk when that is fewer (a common status), use the status index otherwise.
            if (flt.offset + flt.limit) * self._count_all() < total * total:
                where, args = self._where(flt, in_time_order=True)
        cur = self.db.execute(
            f"SELECT {_SUMMARY_SQL} FROM entries WHERE {where} ORDER BY {order} {direction}, id {direction} "
            "LIMIT ? OFFSET ?",
            [*args, limit, flt.offset],
        )
        names = [d[0] for d in cur.description]
        return [EntrySummary(**dict(zip(names, row))) for row in cur], total

    def _count_all(self) -> int:
        # Counted on the narrowest index (SQLite would pick the time index, wide with the search column).
        return self.db.execute("SELECT count(*) FROM entries INDEXED BY entries_kind").fetchone()[0]

    def ids_with_prefix(self, prefix: str, limit: int = 50) -> list[str]:
        """File stems (entry ids) starting with `prefix`, valid or not."""
        rows = self.db.execute(
            "SELECT substr(name, 1, length(name) - 5) FROM entries WHERE name >= ?1 AND name < ?2 UNION "
            "SELECT substr(name, 1, length(name) - 5) FROM bad WHERE name >= ?1 AND name < ?2 LIMIT ?3",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    def skipped(self) -> list[SkippedFile]:
        """Files that are not readable entries."""
        return [SkippedFile(name=n, reason=r) for n, r in
                self.db.execute("SELECT name, error FROM bad ORDER BY name")]

    def overview(self) -> tuple[dict[str, int], dict[str, int]]:
        """Counts per status and per workflow type, in one pass over the table."""
        by_status: dict[str, int] = {}
        by_type: dict[str, int] = {}
        for status, wtype, n in self.db.execute(
            "SELECT status, workflow_type, count(*) FROM entries GROUP BY status, workflow_type"
        ):
            by_status[status] = by_status.get(status, 0) + n
            by_type[wtype] = by_type.get(wtype, 0) + n
        return by_status, by_type

    def extremes(self) -> tuple[str | None, str | None]:
        """created_at of the oldest and newest entries, as written."""
        oldest = self.db.execute(
            "SELECT created_at FROM entries ORDER BY created_ts ASC LIMIT 1").fetchone()
        newest = self.db.execute(
            "SELECT created_at FROM entries ORDER BY created_ts DESC LIMIT 1").fetchone()
        return (oldest[0] if oldest else None, newest[0] if newest else None)

    def group_rows(self, flt: EntryFilter) -> list[tuple]:
        """Per fingerprint: count, action type, example error/id, first and last created_at."""
        where, args = self._where(flt)
        return self.db.execute(
            f"""SELECT fingerprint, count(*), max(action_type), max(last_error), max(id),
                       min(created_ts), max(created_ts), group_concat(DISTINCT workflow_type)
                FROM entries WHERE {where} GROUP BY fingerprint ORDER BY count(*) DESC, max(created_ts) DESC""",
            args,
        ).fetchall()

    def group_status_counts(self, flt: EntryFilter) -> dict[str, dict[str, int]]:
        where, args = self._where(flt)
        out: dict[str, dict[str, int]] = {}
        for fp, status, n in self.db.execute(
            f"SELECT fingerprint, status, count(*) FROM entries WHERE {where} GROUP BY fingerprint, status", args
        ):
            out.setdefault(fp, {})[status] = n
        return out


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(value: str) -> str:
    return _like_escape(value) + "%"
