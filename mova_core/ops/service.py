"""The operations every face calls: list, get, retry, archive, delete, stats, groups, purge, export, alerts, metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mova_core.model import lifecycle
from mova_core.model.errors import InvalidInput, MovaError, NoLongerMatches, PreconditionFailed
from mova_core.model.listing import (
    EntryFilter,
    EntrySummary,
    Group,
    Page,
    SkippedFile,
    Stats,
)
from mova_core.model.secret_needs import SecretNeed, environment_secret_names, secret_needs
from mova_core.model.status import EntryStatus
from mova_core.ops import export as _export
from mova_core.ops import purge as _purge
from mova_core.ops.purge import PurgeReport
from mova_core.settings import BACKGROUND_SETTINGS, RUN_SETTINGS, Settings
from mova_core.store.audit import AuditLog
from mova_core.store.open import open_audit, open_store
from mova_core.store.protocol import Commit, DeadLetterStore, EncodedEntry, Progress

if TYPE_CHECKING:  # full models load on first use: listings and statistics never need them
    import threading

    from mova_core.engine.events import Event
    from mova_core.engine.outcome import RunOutcome
    from mova_core.model.entry import (
        DeadLetterEntry,
        Lease,
        RetryOverrides,
        RetryRecord,
        RetryResponse,
    )
    from mova_core.ops.alerts import Alert, Thresholds
    from mova_core.ops.metrics import Metrics, RunningRetry
    from mova_core.ops.transfer import ExportReport, ImportReport
    from mova_core.store.counters import Counters, CounterSource, CounterValues
    from mova_core.store.runs import RunRecord

Clock = Callable[[], datetime]


class DLQService:
    """The dead-letter queue operations over a store, with lifecycle rules and an audit trail."""

    def __init__(
        self,
        settings: Settings | None = None,
        store: DeadLetterStore | None = None,
        *,
        clock: Clock | None = None,
        actor: str | None = None,
        audit: AuditLog | None = None,
    ):
        self.settings = settings or Settings()
        self.store = store or open_store(self.settings)
        #: The time leases and ages are judged by: the store's (over PostgreSQL, the server's, so that
        #: hosts whose clocks disagree still agree on a lease), unless a test injects its own.
        self.clock = clock or self.store.clock
        self.actor = actor or self.settings.actor
        self.audit = audit or open_audit(self.store, self.settings)
        self._counters: CounterSource | None = None
        self.store.use_audit(self.audit)  # where a change a killed process recorded is taken back

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the store's resources (the index connection); the service is not used after."""
        self.store.close()
        if self._counters is not None:
            self._counters.close()

    def __enter__(self) -> DLQService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def independent(self) -> DLQService:
        """A service over the same store with resources of its own, for another thread or a long job."""
        return DLQService(self.settings, self.store.independent(), clock=self.clock, actor=self.actor,
                          audit=self.audit)

    # -- reading ----------------------------------------------------------------------------
    @property
    def announces_changes(self) -> bool:
        """True when the store announces every committed change (see `change_feed`)."""
        return callable(getattr(self.store, "changes", None))

    def change_feed(self, stop: threading.Event) -> Iterator[list[str]] | None:
        """The entry file names other processes and hosts change, in batches as they commit, until
        `stop` is set, when the store announces its changes (PostgreSQL's NOTIFY); None for the file
        store, whose directory a watcher follows instead. Nothing is opened until it is first read."""
        follow = getattr(self.store, "changes", None)
        return follow(stop) if callable(follow) else None

    def refresh_names(self, names: Iterable[str]) -> None:
        """Bring these entry file names up to date in the index (a watcher saw them change)."""
        self.store.refresh_names(sorted(names))

    def find_run(self, run_id: str) -> RunRecord | None:
        """The record of a run (a retry or a `mova run`), or None when there is none to read."""
        from mova_core.store.runs import find_run

        try:
            return find_run(self.settings, run_id)[1]
        except (MovaError, OSError):  # absent, a foreign writer's run id, or unreadable: nothing to show
            return None

    def run_log_path(self, run_id: str, sandbox_mode: bool) -> Path | None:
        """The file of a run's log (JSON lines: every event, with a sandbox run's detailed logging);
        None over a store that keeps logs as rows (see `run_log_location`)."""
        from mova_core.store.runs import RunStore, store_for

        runs = store_for(self.settings, sandbox_mode)
        return runs.log_path(run_id) if isinstance(runs, RunStore) else None

    def run_log_location(self, run_id: str, sandbox_mode: bool) -> str:
        """Where a run's log is, for a person to read: its file, or its table and the query that prints it."""
        from mova_core.store.runs import store_for

        return store_for(self.settings, sandbox_mode).log_location(run_id)

    def refresh(self, *, full: bool = False, progress: Progress | None = None) -> bool:
        """Bring the index up to date (with progress for a first, large scan)."""
        return self.store.refresh(full=full, progress=progress)

    def list(self, flt: EntryFilter | None = None) -> Page:
        """A page of summaries matching the filter."""
        return self.store.list(flt or EntryFilter())

    def read_raw(self, ids: list[str]) -> tuple[list[dict[str, Any]], list[SkippedFile]]:
        """Entries (ids from a listing) as the JSON objects on disk: no model validation, for fast output."""
        return self.store.read_raw(ids)

    def iter_entries(self, flt: EntryFilter | None = None, batch: int = 500) -> Iterator[DeadLetterEntry]:
        """Every full entry matching the filter, read in batches (for export and bulk work)."""
        flt = (flt or EntryFilter()).model_copy()
        ids = [s.id for s in self.list(flt).items]
        for start in range(0, len(ids), batch):
            entries, _ = self.store.read_many(ids[start:start + batch])
            yield from entries

    def get(self, id_or_prefix: str) -> DeadLetterEntry:
        """One entry in full, by id or unique prefix."""
        return self.store.get(id_or_prefix)

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id of an entry, from its id or a unique prefix."""
        return self.store.resolve_id(id_or_prefix)

    def is_stale(self, item: DeadLetterEntry | EntrySummary) -> bool:
        """A retrying entry whose lease expired."""
        if isinstance(item, EntrySummary):
            return item.is_stale(self.clock())
        return lifecycle.is_stale(item, self.clock())

    def secrets_needed(self, entry: DeadLetterEntry, *, sandbox_mode: bool = True,
                       override_names: Iterable[str] = ()) -> list[SecretNeed]:
        """The secrets the entry's envelope references and where a retry in this mode would get each
        (names only): the override names given, and in production `MOVA_SECRET_*` and inline secrets."""
        environment = () if sandbox_mode else environment_secret_names()
        return secret_needs(entry.envelope, sandbox_mode=sandbox_mode, override_names=override_names,
                            environment_names=environment)

    def stats(self) -> Stats:
        """The specification's statistics."""
        return self.store.stats()

    def oldest_active(self) -> EntrySummary | None:
        """The oldest active entry, for "how long has this been waiting"."""
        page = self.list(EntryFilter(status=EntryStatus.active, sort="created_at", descending=False, limit=1))
        return page.items[0] if page.items else None

    def skipped(self) -> list[SkippedFile]:
        """Files in the directory that are not readable entries."""
        self.store.refresh()
        return self.store.skipped()

    def groups(self, flt: EntryFilter | None = None) -> list[Group]:
        """Entries grouped by failure fingerprint, largest group first."""
        return self.store.groups(flt or EntryFilter())

    # -- changing ---------------------------------------------------------------------------
    def _audit(self, op: str, old: DeadLetterEntry | None, new: DeadLetterEntry | None, **extra: Any) -> None:
        ref = new or old
        self.audit.record(
            op,
            ref.id if ref else None,
            old.status.value if old else None,
            new.status.value if new else None,
            self.actor,
            when=self.clock(),
            **extra,
        )

    def _audited(self, op: str, *, only_status_changes: bool = False, **extra: Any) -> Commit:
        """An `on_commit` for the store: the audit record is written under the entry's lock, right after
        the change, so the log's order is the order of the changes (and a failed record undoes it)."""
        def commit(old: DeadLetterEntry, new: DeadLetterEntry | None, undone: bool = False,
                   change: str | None = None) -> None:
            if only_status_changes and new is not None and old.status == new.status:
                return
            if undone:  # the change failed after its record was written: this record takes it back
                self._audit(op, old, new, **extra, undone=True, change=change)
                return
            more = {"took_over_stale_lease": old.status == EntryStatus.retrying or None} if op == "retry_claim" else {}
            self._audit(op, old, new, **extra, **more, change=change)

        return commit

    def set_status(self, id_or_prefix: str, status: EntryStatus | str, *, break_lease: bool = False,
                   matching: EntryFilter | None = None, if_match: str | None = None) -> DeadLetterEntry:
        """Change an entry's status by the lifecycle rules (`retrying` only through a retry).

        `matching`: only if the entry, under its lock, still matches this filter (NoLongerMatches);
        `if_match`: only if it is still the version of that entity tag (PreconditionFailed).
        """
        return self.set_status_changed(id_or_prefix, status, break_lease=break_lease, matching=matching,
                                       if_match=if_match)[1]

    def set_status_changed(self, id_or_prefix: str, status: EntryStatus | str, *, break_lease: bool = False,
                           matching: EntryFilter | None = None,
                           if_match: str | None = None) -> tuple[DeadLetterEntry, DeadLetterEntry]:
        """`set_status`, returning (before, after) as seen under the entry's lock (equal statuses: no change)."""
        try:
            status = EntryStatus(status)
        except ValueError:
            raise InvalidInput(
                f"unknown status {status!r}: use one of {', '.join(s.value for s in EntryStatus)}"
            ) from None
        now = self.clock()

        def change(entry: DeadLetterEntry) -> DeadLetterEntry:
            _still_matching(entry, matching)
            _unchanged_since(entry, if_match)
            return lifecycle.change_status(entry, status, now, break_lease=break_lease)

        return self.store.update(id_or_prefix, change,
                                 self._audited("set_status", only_status_changes=True, break_lease=break_lease or None))

    def reopen(self, id_or_prefix: str, *, break_lease: bool = False,
               matching: EntryFilter | None = None) -> tuple[DeadLetterEntry, DeadLetterEntry]:
        """Set an archived or resolved entry back to `active` (a no-op for an active one); (before, after)."""
        return self.set_status_changed(id_or_prefix, EntryStatus.active, break_lease=break_lease, matching=matching)

    def archive(self, id_or_prefix: str, *, break_lease: bool = False, matching: EntryFilter | None = None,
                if_match: str | None = None) -> DeadLetterEntry:
        """Archive an entry (idempotent); `matching` and `if_match` as for `set_status`."""
        return self.archive_changed(id_or_prefix, break_lease=break_lease, matching=matching, if_match=if_match)[1]

    def archive_changed(self, id_or_prefix: str, *, break_lease: bool = False, matching: EntryFilter | None = None,
                        if_match: str | None = None) -> tuple[DeadLetterEntry, DeadLetterEntry]:
        """Archive an entry; returns (before, after) as seen under its lock.

        `before.status` tells whether this call archived it: of two concurrent archives, exactly
        one sees it not yet archived. `matching` as for `set_status`.
        """
        now = self.clock()

        def change(entry: DeadLetterEntry) -> DeadLetterEntry:
            _still_matching(entry, matching)
            _unchanged_since(entry, if_match)
            return lifecycle.change_status(entry, EntryStatus.archived, now, break_lease=break_lease)

        return self.store.update(id_or_prefix, change,
                                 self._audited("archive", only_status_changes=True, break_lease=break_lease or None))

    def delete(self, id_or_prefix: str, *, break_lease: bool = False, matching: EntryFilter | None = None,
               if_match: str | None = None) -> DeadLetterEntry:
        """Delete an entry; one under a live retry lease needs `break_lease`. `matching` and `if_match` as
        for `set_status`."""
        now = self.clock()

        def check(entry: DeadLetterEntry) -> None:
            _still_matching(entry, matching)
            _unchanged_since(entry, if_match)
            lifecycle.check_deletable(entry, now, break_lease=break_lease)

        return self.store.delete(id_or_prefix, check, self._audited("delete", break_lease=break_lease or None))

    def live_lease(self, id_or_prefix: str) -> Lease | None:
        """The retry lease holding this entry now (None when no live retry does): what a change or a
        delete would have to break."""
        entry = self.store.get(id_or_prefix)
        return entry.metadata.lease if lifecycle.lease_is_live(entry, self.clock()) else None

    def claim(self, id_or_prefix: str, retry_run_id: str, sandbox_mode: bool, owner: str | None = None, *,
              queued: bool = False) -> DeadLetterEntry:
        """Take the retry lease on an entry (active → retrying); raises AlreadyRetrying if held.

        `queued`: a background retry that waits its turn; the lease says so until its run starts.
        """
        now = self.clock()
        _, new = self.store.update(
            id_or_prefix,
            lambda e: lifecycle.claim(
                e, retry_run_id, sandbox_mode, owner or self.actor, now, self.settings.lease_seconds, queued=queued
            ),
            self._audited("retry_claim", retry_run_id=retry_run_id, sandbox_mode=sandbox_mode),
        )
        return new

    def renew_lease(self, id_or_prefix: str, retry_run_id: str, *, queued: bool = False) -> DeadLetterEntry:
        """Extend a retry's lease so it is not taken over as stale (InvalidTransition once it is not
        its own); `queued` keeps a waiting retry's lease queued, else it says the run has started."""
        now = self.clock()
        _, new = self.store.update(
            id_or_prefix, lambda e: lifecycle.renew(e, retry_run_id, now, self.settings.lease_seconds, queued=queued)
        )
        return new

    def finish_retry(
        self,
        id_or_prefix: str,
        retry_run_id: str,
        new_status: EntryStatus | str,
        record: RetryRecord,
    ) -> DeadLetterEntry:
        """Release the lease with the retry's outcome (active or resolved) and record it in `retry_history`."""
        now = self.clock()
        _, new = self.store.update(
            id_or_prefix,
            lambda e: lifecycle.release(e, retry_run_id, EntryStatus(new_status), record, now),
            self._audited("retry_finish", retry_run_id=retry_run_id, sandbox_mode=record.sandbox_mode,
                          outcome=record.outcome),
        )
        return new

    def retry(
        self,
        id_or_prefix: str,
        *,
        sandbox_mode: bool = True,
        overrides: RetryOverrides | None = None,
        wait: bool = True,
        on_event: Callable[[Event], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> RetryResponse:
        """Retry an entry, in the sandbox (default) or in production; see `mova_core.ops.retry`.

        `cancel`: setting it stops a retry run here (`wait=True`) at once, even in a wait between
        attempts; the entry goes back to `active` with the retry recorded as `cancelled`. One
        event may serve many retries (a bulk run's).
        """
        from mova_core.ops.retry import Retrier

        # An invalid MOVA_* value fails here, before the entry is claimed.
        self.settings.check(*RUN_SETTINGS, *(() if wait else BACKGROUND_SETTINGS))

        return Retrier(self).retry(id_or_prefix, sandbox_mode=sandbox_mode, overrides=overrides,
                                   wait=wait, on_event=on_event, cancel=cancel)

    def run_workflow(
        self,
        data: Any,
        *,
        variables: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> RunOutcome:
        """Run a workflow envelope (JSON data) with retries; a run that fails is dead-lettered here.

        `variables` are laid over the envelope's own; PolicyError names the field of an invalid one.
        """
        # httpx and the actions: only runs need them
        from mova_core.engine.engine import Engine, RunRequest
        from mova_core.engine.envelopes import load_envelope
        from mova_core.store.runs import run_records

        self.settings.check(*RUN_SETTINGS)  # before the run starts, not in the middle of it
        if isinstance(data, dict) and variables:
            base = data.get("variables")
            data = {**data, "variables": {**(base if isinstance(base, dict) else {}), **variables}}
        envelope = load_envelope(data)
        engine = Engine(self.settings, dead_letters=self.store, run_records=run_records(self.settings))
        return engine.run(envelope, RunRequest(secrets=dict(secrets) if secrets else None, on_event=on_event))

    def purge(self, older_than_days: float | None = None, *, dry_run: bool = False) -> PurgeReport:
        """Remove resolved and archived entries older than the retention period; never active or retrying."""
        days = self.settings.dlq_retention_days if older_than_days is None else older_than_days

        def remove(entry_id: str, check: Callable[[DeadLetterEntry], None]) -> None:
            self.store.delete(entry_id, check, self._audited("purge"))

        if dry_run:
            return _purge.purge(self.list, remove, days=days, now=self.clock(), dry_run=True)
        with self.store.exclusive("purge"):  # two hosts purging at once would race for the same entries
            return _purge.purge(self.list, remove, days=days, now=self.clock())

    # -- export, alerts and metrics ----------------------------------------------------------
    def export(self, flt: EntryFilter | None, fmt: str, out: TextIO) -> int:
        """Write matching entries as JSON lines (full entries) or CSV (summary columns); returns the count."""
        return _export.export(self, flt, fmt, out)

    def export_to_file(self, flt: EntryFilter | None, fmt: str, path: Path | str) -> int:
        """`export` into a file replaced atomically and durably once complete; its directory must exist."""
        return _export.export_to_file(self, flt, fmt, path)

    def alerts(self, thresholds: Thresholds) -> list[Alert]:
        """Check the specification's alert conditions for the thresholds that are set (the metrics' sources)."""
        from mova_core.ops.alerts import check_alerts  # with the metrics it reads: only for this

        return check_alerts(thresholds, self.clock(), self.list, self.oldest_active, self._retry_facts)

    def metrics(self) -> Metrics:
        """The metrics: gauges from the index and the retrying entries, counters from the durable record."""
        from mova_core.ops.metrics import gather

        return gather(self.store, self.counters(), self.clock())

    def metrics_text(self) -> str:
        """The metrics in the Prometheus text format (needs prometheus-client, the `http` extra)."""
        from mova_core.ops.metrics import render_prometheus

        return render_prometheus(self.metrics(), self.clock())

    def write_metrics_textfile(self, path: Path | str) -> str:
        """`metrics_text` written atomically to `path` (node_exporter's textfile collector); returns the text."""
        from mova_core.ops.metrics import write_textfile

        text = self.metrics_text()
        write_textfile(text, path)
        return text

    def _retry_facts(self) -> tuple[CounterValues, list[RunningRetry]]:
        """What the retry alerts read: the counters and the retries running (claims and their leases)."""
        from mova_core.ops.metrics import retrying

        counters = self.counters()
        self.store.refresh()
        counters.fold()
        return counters.values(), retrying(counters)

    def counters(self) -> CounterSource:
        """The durable counters, opened on first use: the store's own when it keeps them (PostgreSQL's
        tables), else this directory's (`<dlq>/.mova/counters.sqlite`)."""
        own = getattr(self.store, "counters", None)
        if callable(own):
            if self._counters is None:
                self._counters = own()
            return self._counters
        return self._file_counters()

    def _file_counters(self) -> Counters:
        from mova_core.store.counters import Counters

        present = self.settings.dlq_path.is_dir()
        current = self._counters if isinstance(self._counters, Counters) else None
        if current is None or (current.path is None and present):
            if current is not None:
                current.close()
            mova_dir = self.settings.mova_dir
            # A missing directory is not created by looking at its metrics: counted in memory meanwhile.
            current = Counters(mova_dir / "counters.sqlite" if present else None,
                               mova_dir / "index.sqlite", self.settings.effective_audit_path)
            self._counters = current
        return current

    # -- moving between stores ---------------------------------------------------------------
    def import_dir(self, directory: Path | str, *, dry_run: bool = False,
                   progress: Progress | None = None) -> ImportReport:
        """Create the entries of a directory of entry files in this store, each audited; idempotent."""
        from mova_core.ops.transfer import import_dir

        source = str(Path(directory).absolute())

        def record(entry: EncodedEntry) -> None:
            self.audit.record("import", entry.id, None, entry.status, self.actor, when=self.clock(), source=source)

        def create(entries: list[EncodedEntry]) -> list[str]:
            return self.store.create_encoded(entries, record)

        return import_dir(directory, self.read_raw, None if dry_run else create, progress=progress)

    def export_to_dir(self, flt: EntryFilter | None, directory: Path | str, *,
                      overwrite: bool = False) -> ExportReport:
        """Write matching entries into a directory in the file format, one `<id>.json` each."""
        from mova_core.ops.transfer import export_to_dir

        if Path(directory).resolve() == self.settings.dlq_path.resolve():
            raise InvalidInput(f"cannot export to {directory}: it is this queue's own directory")
        return export_to_dir(self, flt, directory, overwrite=overwrite)


def _still_matching(entry: DeadLetterEntry, matching: EntryFilter | None) -> None:
    """NoLongerMatches unless the entry (as seen under its lock) matches the filter it was chosen by."""
    if matching is not None:
        reason = matching.mismatch(entry)
        if reason is not None:
            raise NoLongerMatches(entry.id, reason)


def _unchanged_since(entry: DeadLetterEntry, if_match: str | None) -> None:
    """PreconditionFailed unless the entry (as seen under its lock) is the version `if_match` names."""
    if if_match is not None:
        from mova_core.model.etag import entry_etag, matches

        doc = entry.to_json_dict()
        if not matches(doc, if_match):
            raise PreconditionFailed(entry.id, entry_etag(doc))


def build_service(dlq_path: str | None = None, **kwargs: Any) -> DLQService:
    """A service over MOVA_* settings, with the directory overridden if given."""
    settings = Settings(**({"dlq_path": dlq_path} if dlq_path else {}))
    return DLQService(settings, **kwargs)
