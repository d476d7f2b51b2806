"""`PgStore`: the `DeadLetterStore` over a shared PostgreSQL database, for many hosts at once.

Every change is one short transaction: the row is locked (`SELECT … FOR UPDATE`, waiting at most
LOCK_TIMEOUT for another change), changed, its `version` bumped, and its audit record inserted,
then committed together. Listings, statistics and groups are SQL over the summary columns; no
document is parsed for them. There is no index to refresh and no file to skip. Each change is
announced on the schema's channel (`NOTIFY`, delivered on commit only) for live views (`changes`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from psycopg import Connection, sql

from mova_core.model.errors import EntryNotFound, StoreError
from mova_core.model.ids import validate_id
from mova_core.model.listing import (
    EntryFilter,
    EntrySummary,
    Group,
    Page,
    SkippedFile,
    Stats,
)
from mova_core.store.audit import AuditLog
from mova_core.store.files import (
    groups_from_rows,
    id_prefixes,
    only_candidate,
    stats_from_counts,
)
from mova_core.store.fsio import new_token
from mova_core.store.pg import query
from mova_core.store.pg.audit import PgAuditLog
from mova_core.store.pg.clock import DatabaseClock
from mova_core.store.pg.codec import (
    COPY_TYPES,
    LISTED_COLUMNS,
    SUMMARY_COLUMNS,
    encode_new,
    encode_row,
    from_column,
    to_columns,
)
from mova_core.store.pg.connect import Connections, connect
from mova_core.store.pg.counts import EntryCounts
from mova_core.store.pg.notify import ChangeCount, changes
from mova_core.store.protocol import Check, Commit, Created, EncodedCreated, EncodedEntry, Mutation, Progress
from mova_core.store.validate import validate_entry
from mova_core.timeutil import utcnow

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from mova_core.model.entry import DeadLetterEntry
    from mova_core.store.pg.counters import PgCounters

#: How long a change waits for another change of the same entry before giving up.
LOCK_TIMEOUT = "10s"
_PREFIX_LIMIT = 50


class PgStore:
    """Entries as rows of `<schema>.entries`, changed in transactions under row locks."""

    def __init__(self, url: str, schema: str, *, pool: Connections | ConnectionPool | None = None,
                 local_clock: Callable[[], datetime] = utcnow):
        self.url, self.schema = url, schema
        self._owns_pool = pool is None
        #: Where each call takes its connection (`connection()`), shared with the independent stores.
        self.pool = pool or Connections(url, schema)
        #: The server's clock, read through this host's (`local_clock`) and their measured offset.
        self.clock = DatabaseClock(self.pool, local=local_clock)
        self.entries = sql.Identifier(schema, "entries")
        #: Where every committed change is announced (`changes`).
        self.channel = f"mova_{schema}"
        #: Entries per status and type, kept by the table's triggers.
        self.counts = EntryCounts(schema)
        # Shared with `independent` stores: this process's committed changes, and the listener.
        self._commits: list[int] = [0]
        self._change_count: list[ChangeCount] = []
        #: The audit table, written in each change's transaction (the service records through it).
        self.audit_log = PgAuditLog(self.pool, schema)
        self.audit: AuditLog = self.audit_log

    # -- lifetime ---------------------------------------------------------------------------
    def use_audit(self, audit: AuditLog) -> None:
        self.audit = audit

    def independent(self) -> PgStore:
        """A store sharing this one's connections (taken per call, so any thread may use it)."""
        other = PgStore(self.url, self.schema, pool=self.pool)
        other.audit_log, other.audit, other.clock = self.audit_log, self.audit, self.clock
        other._commits, other._change_count = self._commits, self._change_count
        return other

    def close(self) -> None:
        if self._owns_pool:
            self.pool.close()
            if self._change_count:
                self._change_count.pop().close()

    def change_stamp(self) -> tuple[int, int] | None:
        """What moves whenever an entry changes, by this process or any host: the changes this
        process's stores committed and those announced on the channel (a listener started on first
        use); None while the listener could miss one. A cache keyed on it is never stale."""
        if not self._change_count:
            self._change_count.append(ChangeCount(self.url, self.channel))
        announced = self._change_count[0].value
        return None if announced is None else (self._commits[0], announced)

    def _committed(self) -> None:
        """Count a change this process committed (before its caller can ask again)."""
        self._commits[0] += 1

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold the advisory lock `name` of this schema on a connection of its own for as long as the
        block runs (a killed holder's session ends, and with it the lock); StoreError if it is held."""
        key = self._lock_key(name)
        with self.pool.connection() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
                raise StoreError(f"another {name} is running on this store (schema {self.schema!r}); "
                                 f"nothing was done, try again when it has finished")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def take_slot(self, name: str, count: int) -> Callable[[], None] | None:
        """One of the advisory locks (`name` of this schema, 0 … count-1), held on a connection of its
        own until released; a killed holder's session ends, and with it the lock. StoreError if the
        server cannot be asked."""
        key = self._lock_key(name)
        conn = connect(self.url)
        try:
            for n in range(count):
                if conn.execute("SELECT pg_try_advisory_lock(hashtext(%s), %s)", (key, n)).fetchone()[0]:
                    return lambda: _unlock_and_close(conn, key, n)
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"could not take a place among the {name}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        conn.close()
        return None

    def slots_held(self, name: str, count: int) -> int:
        """The advisory locks of `take_slot` that any session of this database holds now; StoreError
        if the server cannot be asked."""
        try:
            with self.pool.connection() as conn:
                return conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND classid = (hashtext(%s)::bigint & 4294967295)::oid AND objid < %s",
                    (self._lock_key(name), count)).fetchone()[0]
        except psycopg.Error as exc:
            raise StoreError(f"could not count the {name} under way: {exc}") from exc

    def _lock_key(self, name: str) -> str:
        """The advisory lock name of `exclusive(name)` and of `take_slot(name, …)` (a two-key lock)."""
        return f"mova {self.schema} {name}"

    def counters(self) -> PgCounters:
        """The metrics' counters, kept in this schema and shared by every host."""
        from mova_core.store.pg.counters import PgCounters

        return PgCounters(self.pool, self.schema)

    def refresh(self, *, full: bool = False, progress: Progress | None = None) -> bool:
        """Nothing to bring up to date: the table is the truth."""
        return True

    def refresh_names(self, names: list[str]) -> None:
        """Nothing to re-read."""

    def skipped(self) -> list[SkippedFile]:
        """Rows are entries by construction: none skipped."""
        return []

    # -- reading ----------------------------------------------------------------------------
    def _rows(self, statement: sql.Composable, args: list[Any] | tuple = ()) -> list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute(statement, args).fetchall()

    def list(self, flt: EntryFilter) -> Page:
        """Summaries matching the filter, sorted and windowed, with the total matching."""
        cond, args = query.where(flt)
        columns = sql.SQL(", ").join(map(sql.Identifier, LISTED_COLUMNS))
        window = sql.SQL("LIMIT %s OFFSET %s")
        counted = query.counted(flt)
        with self.pool.connection() as conn:
            if counted is not None:
                total = self.counts.total(conn, *counted)
            else:
                total = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.entries, cond),
                                     args).fetchone()[0]
            rows = conn.execute(sql.SQL("SELECT {} FROM {} WHERE {} {} {}").format(
                columns, self.entries, cond, query.order(flt), window), [*args, flt.limit, flt.offset]).fetchall()
        items = [EntrySummary(**{k: from_column(v) for k, v in zip(LISTED_COLUMNS, row)}) for row in rows]
        return Page(items=items, total=total)

    def stats(self) -> Stats:
        """The specification's statistics."""
        with self.pool.connection() as conn:
            counts = self.counts.by_kind(conn)
        by_status: dict[str, int] = {}
        by_type: dict[str, int] = {}
        for status, wtype, n in counts:
            by_status[status] = by_status.get(status, 0) + n
            by_type[from_column(wtype)] = by_type.get(from_column(wtype), 0) + n
        oldest, newest = (self._rows(sql.SQL("SELECT created_at FROM {} ORDER BY created_ts " + way + " LIMIT 1")
                                     .format(self.entries)) for way in ("ASC", "DESC"))
        return stats_from_counts(by_status, by_type, oldest[0][0] if oldest else None, newest[0][0] if newest else None)

    def groups(self, flt: EntryFilter) -> list[Group]:
        """Entries grouped by failure fingerprint, largest group first."""
        cond, args = query.where(flt)
        rows = self._rows(sql.SQL(
            "SELECT fingerprint, count(*), max(action_type), max(last_error), max(id), min(created_ts), "
            "max(created_ts), string_agg(DISTINCT workflow_type, ',') FROM {} WHERE {} GROUP BY fingerprint "
            "ORDER BY count(*) DESC, max(created_ts) DESC, fingerprint").format(self.entries, cond), args)
        by_status: dict[str, dict[str, int]] = {}
        for fp, status, n in self._rows(sql.SQL("SELECT fingerprint, status, count(*) FROM {} WHERE {} GROUP BY 1, 2")
                                        .format(self.entries, cond), args):
            by_status.setdefault(fp, {})[status] = n
        decoded = [tuple(from_column(v) for v in row) for row in rows]
        return groups_from_rows(decoded, by_status)

    def resolve_id(self, id_or_prefix: str) -> str:
        """A full id, from a full id or a unique prefix (`dlq_` optional, as with a bare UUID prefix)."""
        value = validate_id(id_or_prefix)
        with self.pool.connection() as conn:
            if conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(self.entries), [value]).fetchone():
                return value
            return self._by_prefix(conn, value)

    def _by_prefix(self, conn: Connection, value: str) -> str:
        """The one id starting with `value` (or `dlq_` + `value`): a range over the primary key."""
        candidates: set[str] = set()
        for prefix in id_prefixes(value):  # ("C" order: the ids from the prefix up to its last extension)
            candidates |= {r[0] for r in conn.execute(
                sql.SQL("SELECT id FROM {} WHERE id >= %s AND id < %s ORDER BY id LIMIT %s").format(self.entries),
                [prefix, prefix + "\U0010ffff", _PREFIX_LIMIT])}
        return only_candidate(value, candidates)

    def get(self, id_or_prefix: str) -> DeadLetterEntry:
        """One full, validated entry."""
        entry_id = self.resolve_id(id_or_prefix)
        entries, _ = self.read_many([entry_id])
        if not entries:
            raise EntryNotFound(entry_id)  # deleted since it was resolved
        return entries[0]

    def read_raw(self, ids: list[str]) -> tuple[list[dict[str, Any]], list[SkippedFile]]:
        """Entries as the JSON objects stored, in the order asked; those gone meanwhile left out."""
        rows = dict(self._rows(sql.SQL("SELECT id, doc FROM {} WHERE id = ANY(%s)").format(self.entries), [ids]))
        return [orjson.loads(rows[i]) for i in ids if i in rows], []

    def read_many(self, ids: list[str]) -> tuple[list[DeadLetterEntry], list[SkippedFile]]:
        """Full entries for ids from a listing; those gone meanwhile left out."""
        docs, bad = self.read_raw(ids)
        return [validate_entry(f"{doc['id']}.json", doc) for doc in docs], bad

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _change(self, id_or_prefix: str) -> Iterator[tuple[Connection, str, dict[str, Any]]]:
        """A transaction holding the entry's row lock, with its full id and stored document; audit
        records written meanwhile join the transaction. A full id is locked at once (one round trip);
        a prefix is resolved first."""
        entry_id = validate_id(id_or_prefix)
        lock = sql.SQL("SELECT doc FROM {} WHERE id = %s FOR UPDATE").format(self.entries)
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
                row = conn.execute(lock, [entry_id]).fetchone()
                if row is None:
                    entry_id = self._by_prefix(conn, entry_id)
                    row = conn.execute(lock, [entry_id]).fetchone()
                if row is None:
                    raise EntryNotFound(entry_id)  # deleted since the prefix was resolved
                with self.audit_log.bound(conn):
                    yield conn, entry_id, orjson.loads(row[0])
            self._committed()
        except psycopg.errors.LockNotAvailable:
            raise StoreError(f"{entry_id} is being changed by another process (waited {LOCK_TIMEOUT}); "
                             "nothing was changed, try again") from None
        except psycopg.Error as exc:
            raise StoreError(f"the store could not change {entry_id}: {exc}; nothing was changed") from exc

    def _announcing(self, entry_id: str) -> tuple[sql.Composable, list[str]]:
        """A RETURNING clause telling listeners (`changes`) that the entry's file name changed, once the
        transaction commits (only for a row the statement touched), and its values."""
        return sql.SQL(" RETURNING pg_notify(%s, %s)"), [self.channel, f"{entry_id}.json"]

    def changes(self, stop: threading.Event, *, wait: float = 0.5) -> Iterator[list[str]]:
        """The entry file names that changes by any host touch, in batches as they commit, until
        `stop` is set (see `mova_core.store.pg.notify`)."""
        return changes(self.url, self.channel, stop, wait=wait)

    def create(self, entry: DeadLetterEntry, *, doc: dict[str, Any] | None = None) -> None:
        """Insert a new entry; refuses an id that exists (StoreError, as the file store)."""
        text, columns = encode_row(entry.id, entry.to_json_dict() if doc is None else doc)
        names = sql.SQL(", ").join(map(sql.Identifier, (*SUMMARY_COLUMNS, "doc")))
        marks = sql.SQL(", ").join(sql.Placeholder() * (len(SUMMARY_COLUMNS) + 1))
        try:
            announce, args = self._announcing(entry.id)
            with self.pool.connection() as conn:
                made = conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING").format(
                    self.entries, names, marks) + announce, [*columns, text, *args]).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"the store could not write {entry.id}: {exc}") from exc
        self._committed()
        if made is None:
            raise StoreError(f"an entry with id {entry.id} already exists")

    def create_many(self, docs: list[dict[str, Any]], on_create: Created | None = None) -> list[str]:
        """Insert new entries in one transaction, leaving out ids already stored (and repeats, keeping
        the first); `on_create` records each in that transaction, so a failing record creates none."""
        entries = [encode_new(doc) for doc in docs]  # every document judged before anything is written
        first: dict[str, dict[str, Any]] = {}
        for doc in docs:
            first.setdefault(doc["id"], doc)
        return self.create_encoded(entries, None if on_create is None else lambda e: on_create(first[e.id]))

    def create_encoded(self, entries: list[EncodedEntry], on_create: EncodedCreated | None = None) -> list[str]:
        """`create_many` of entries judged and encoded already (an import's, by its reader processes)."""
        try:
            with self.pool.connection() as conn, conn.transaction():
                made = self._insert_new(conn, entries)
                created = []
                for entry in entries:
                    if entry.id in made:
                        made.discard(entry.id)  # a repeat later in the batch was not the row added
                        created.append(entry)
                if on_create is not None:
                    with self.audit_log.gathered(conn):
                        for entry in created:
                            on_create(entry)
        except psycopg.Error as exc:
            raise StoreError(f"the store could not write {len(entries)} new entries: {exc}; none was written") from exc
        self._committed()
        return [entry.id for entry in created]

    def _insert_new(self, conn: Connection, entries: list[EncodedEntry]) -> set[str]:
        """Add the entries whose id is new, each announced (`changes`); the ids added.

        An import hands over only ids it found absent, so the batch is COPYed straight into the
        table; should one be stored meanwhile by another writer (or repeated in the batch), that
        COPY is undone (a savepoint) and the batch goes through a temporary table instead."""
        try:
            with conn.transaction():
                self._copy_rows(conn, self.entries, entries)
        except psycopg.errors.UniqueViolation:
            return self._insert_absent(conn, entries)
        ids = [entry.id for entry in entries]
        conn.execute("SELECT pg_notify(%s, name) FROM unnest(%s::text[]) AS name",
                     [self.channel, [f"{entry_id}.json" for entry_id in ids]])
        return set(ids)

    def _insert_absent(self, conn: Connection, entries: list[EncodedEntry]) -> set[str]:
        """COPY the entries into a temporary table, then one INSERT of those whose id is new (the
        first of repeated ids), each announced; the ids added."""
        names = sql.SQL(", ").join(map(sql.Identifier, (*SUMMARY_COLUMNS, "doc")))
        incoming = sql.Identifier("mova_incoming")
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING COMPRESSION, ord int8) "
                             "ON COMMIT DROP").format(incoming, self.entries))
        self._copy_rows(conn, incoming, entries, ordered=True)
        return {r[0] for r in conn.execute(sql.SQL(
            "INSERT INTO {} ({}) SELECT DISTINCT ON (id) {} FROM {} ORDER BY id, ord "
            "ON CONFLICT (id) DO NOTHING RETURNING id, pg_notify(%s, id || '.json')").format(
                self.entries, names, names, incoming), [self.channel])}

    @staticmethod
    def _copy_rows(conn: Connection, table: sql.Composable, entries: list[EncodedEntry], *,
                   ordered: bool = False) -> None:
        """The entries' columns into `table` by one COPY (with each one's place in `ord`, if `ordered`)."""
        names = [*SUMMARY_COLUMNS, "doc", *(["ord"] if ordered else [])]
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            table, sql.SQL(", ").join(map(sql.Identifier, names)))
        # Binary: the values go as they are, no text to escape here and parse there.
        with conn.cursor().copy(statement) as copy:
            copy.set_types([*COPY_TYPES, *(["int8"] if ordered else [])])
            for n, (columns, text) in enumerate(entries):
                copy.write_row((*to_columns(text, columns), text.decode(), *((n,) if ordered else ())))

    def update(self, id_or_prefix: str, mutate: Mutation, on_commit: Commit | None = None
               ) -> tuple[DeadLetterEntry, DeadLetterEntry]:
        """Read-check-write one entry under its row lock; `on_commit` (the audit) in the same transaction."""
        with self._change(id_or_prefix) as (conn, entry_id, doc):
            current = validate_entry(f"{entry_id}.json", doc)
            before = current.model_copy(deep=True)
            changed = mutate(current)
            new = current if changed is None else changed
            new_doc = new.to_json_dict()
            if new_doc != before.to_json_dict():
                text, columns = encode_row(entry_id, new_doc)
                assignments = sql.SQL(", ").join(
                    sql.SQL("{} = %s").format(sql.Identifier(c)) for c in (*SUMMARY_COLUMNS, "doc"))
                announce, args = self._announcing(entry_id)
                conn.execute(sql.SQL("UPDATE {} SET {}, version = version + 1, updated_at = now() WHERE id = %s")
                             .format(self.entries, assignments) + announce, [*columns, text, entry_id, *args])
                if on_commit is not None:
                    on_commit(before, new, change=new_token())
            return before, new

    def delete(self, id_or_prefix: str, check: Check | None = None, on_commit: Commit | None = None) -> DeadLetterEntry:
        """Remove one entry under its row lock once `check` approves; the audit in the same transaction."""
        with self._change(id_or_prefix) as (conn, entry_id, doc):
            entry = validate_entry(f"{entry_id}.json", doc)
            if check is not None:
                check(entry)
            announce, args = self._announcing(entry_id)
            conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(self.entries) + announce, [entry_id, *args])
            if on_commit is not None:
                on_commit(entry, None, change=new_token())
            return entry


def _unlock_and_close(conn: Connection, key: str, n: int) -> None:
    """Give a place back at once (a closed session's locks go a moment after the close returns)."""
    try:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s), %s)", (key, n))
    except psycopg.Error:
        pass  # the session is gone, and its locks with it
    finally:
        conn.close()
