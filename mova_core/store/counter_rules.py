"""What the metrics' counters count: the rules one audit record or one arrival adds, for every store.

A fold (the file store's in `counters.py`, PostgreSQL's in `pg/counters.py`) reads records in the
order written and hands each to `apply_line` with a `FoldState`, where the claims still open, the
latest failures and the entries' creation times are kept, and a `Tally` of increments. Only where
the state lives differs between stores, so both count exactly the same events the same way.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import orjson

from mova_core.timeutil import parse_time

#: Upper bounds of `workflow_retry_duration_seconds` (claim to release).
RETRY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
#: Upper bounds of `dlq_time_to_resolution_seconds` (created_at to resolved): a minute to a month.
RESOLUTION_BUCKETS: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0, 259200.0,
                                         604800.0, 2592000.0)
HISTOGRAMS = {"workflow_retry_duration_seconds": RETRY_BUCKETS, "dlq_time_to_resolution_seconds": RESOLUTION_BUCKETS}
#: Entries named by the failure-rate alert: the latest ones whose retry failed.
RECENT_FAILURES = 20

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CounterValues:
    """Every counter's value: {metric name: {labels: value}}, histograms as `_bucket` (per bucket, an
    `le` label), `_sum` and `_count`; plus the latest entries whose retry failed."""

    values: dict[str, dict[Labels, float]]
    recent_failures: list[str]

    def get(self, name: str) -> dict[Labels, float]:
        """The series of one metric (empty when it never counted anything)."""
        return self.values.get(name, {})

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str, float]], recent: list[str]) -> CounterValues:
        """From stored (name, labels as `labels_text`, value) rows."""
        out: dict[str, dict[Labels, float]] = {}
        for name, labels, value in rows:
            out.setdefault(name, {})[tuple((k, v) for k, v in orjson.loads(labels))] = value
        return cls(out, recent)


@dataclass(frozen=True)
class Lease:
    """A retrying entry's claim: its mode and time, and when its lease expires."""

    entry_id: str
    sandbox: bool
    claimed_ts: float | None
    expires_ts: float | None


class Claim(NamedTuple):
    """An open retry claim, as its audit record gave it."""

    retry_run_id: str | None
    sandbox: bool
    ts: float | None


class FoldState(Protocol):
    """Where a fold keeps what later records need: open claims, latest failures, creation times."""

    def claim(self, entry: str) -> Claim | None: ...

    def set_claim(self, entry: str, claim: Claim) -> None: ...

    def drop_claim(self, entry: str) -> None: ...

    def note_failure(self, entry: str, ts: float) -> None: ...

    def created_ts(self, entry: str) -> float | None: ...


class Tally:
    """Increments gathered during one fold, written in one statement at its end."""

    def __init__(self) -> None:
        self.adds: dict[tuple[str, Labels], float] = defaultdict(float)

    def add(self, name: str, value: float = 1.0, **labels: str) -> None:
        self.adds[(name, tuple(sorted(labels.items())))] += value

    def observe(self, name: str, value: float, **labels: str) -> None:
        bounds = HISTOGRAMS[name]
        i = bisect.bisect_left(bounds, value)
        le = "+Inf" if i == len(bounds) else repr(bounds[i])
        self.add(f"{name}_bucket", **labels, le=le)
        self.add(f"{name}_sum", max(0.0, value), **labels)
        self.add(f"{name}_count", **labels)

    def rows(self) -> list[tuple[str, str, float]]:
        """(name, labels as text, increment) to add to the stored counts."""
        return [(name, labels_text(labels), v) for (name, labels), v in self.adds.items()]


def count_arrival(tally: Tally, workflow_type: str | None) -> None:
    """An entry id never seen before: one dead-lettered entry."""
    tally.add("dlq_dead_lettered_total", workflow_type=workflow_type or "unknown")


def apply_line(line: bytes | str, state: FoldState, tally: Tally) -> None:
    """Count one audit line (a torn one, whose writer was killed, is skipped as the log's readers do)."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return
    if not isinstance(rec, dict) or rec.get("undone") or not isinstance(rec.get("entry_id"), str):
        return
    entry, op = rec["entry_id"], rec.get("op")
    old, new = rec.get("old_status"), rec.get("new_status")
    ts = _timestamp(rec.get("time"))
    if op == "retry_claim":
        if old == "retrying":
            _end_claim(entry, state, tally)
        state.set_claim(entry, Claim(rec.get("retry_run_id"), bool(rec.get("sandbox_mode")), ts))
    elif op == "retry_finish":
        _finish(entry, rec, ts, state, tally)
    elif old == "retrying":  # forced out of a retry: that retry can no longer release the entry
        _end_claim(entry, state, tally)
    if op in ("delete", "purge"):
        tally.add("dlq_removed_total", reason=op)
        state.drop_claim(entry)
    # An imported entry arrives with the status it had in its old store: resolved there, not here.
    if new == "resolved" and old != "resolved" and op != "import":
        tally.add("dlq_resolutions_total", how="retry" if op == "retry_finish" else "manual")
        created = state.created_ts(entry)
        if created is not None and ts is not None:
            tally.observe("dlq_time_to_resolution_seconds", ts - created)


def _finish(entry: str, rec: dict, ts: float | None, state: FoldState, tally: Tally) -> None:
    mode = mode_name(rec.get("sandbox_mode"))
    outcome = str(rec.get("outcome") or "unknown")
    tally.add("dlq_retry_attempts_total", mode=mode, outcome=outcome)
    claim = state.claim(entry)
    if claim is not None and claim.retry_run_id == rec.get("retry_run_id"):
        state.drop_claim(entry)
        if claim.ts is not None and ts is not None:
            tally.observe("workflow_retry_duration_seconds", ts - claim.ts, mode=mode)
    if outcome != "completed":
        state.note_failure(entry, ts or 0.0)


def _end_claim(entry: str, state: FoldState, tally: Tally) -> None:
    """A claim that lost its lease: counted once, as abandoned."""
    claim = state.claim(entry)
    if claim is not None:
        state.drop_claim(entry)
        tally.add("dlq_retry_attempts_total", mode=mode_name(claim.sandbox), outcome="abandoned")


def labels_text(labels: Labels) -> str:
    """Labels as the text the counts are stored under."""
    return orjson.dumps([list(pair) for pair in labels]).decode()


def mode_name(sandbox: object) -> str:
    """A retry's mode label."""
    return "sandbox" if sandbox else "production"


def _timestamp(value: object) -> float | None:
    try:
        return parse_time(value).timestamp() if isinstance(value, str) else None
    except ValueError:
        return None
