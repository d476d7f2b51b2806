"""The specification's metrics and the few the dashboard and the alerts need, from durable sources.

Gauges come from the index (counts by status and workflow type, the oldest active entry, the
`retrying` entries and their leases' expiry, with each claim's mode and time from the audit log); counters and histograms
come from `mova_core.store.counters`, folded from the audit log and the index's arrivals, so a
scrape costs what happened since the last one, never a read of every entry. The exposition is
prometheus-client's (imported only by `render_prometheus`, so the CLI does not load it elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mova_core.model.listing import EntryFilter, Stats
from mova_core.model.status import EntryStatus, RetryOutcome
from mova_core.store.counters import HISTOGRAMS, CounterSource, CounterValues, Labels
from mova_core.store.fsio import atomic_write
from mova_core.store.protocol import DeadLetterStore

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: The exposition format written (prometheus-client's text output is this version's).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MODES = ("production", "sandbox")


@dataclass(frozen=True)
class RunningRetry:
    """One `retrying` entry: its claim's mode and time (from the audit log) and its lease's expiry (from the index)."""

    entry_id: str
    mode: str
    started_ts: float | None
    expires_ts: float | None

    def stale(self, now: datetime) -> bool:
        """Its lease expired: the retry's process is gone (the stale-lease rule)."""
        return self.expires_ts is not None and self.expires_ts <= now.timestamp()

    def running(self, now: datetime) -> bool:
        """Running now: its lease is live."""
        return not self.stale(now)


@dataclass(frozen=True)
class Metrics:
    """What the exposition shows, gathered at one moment; ages are taken at render time."""

    stats: Stats
    oldest_active_ts: float | None
    retries: list[RunningRetry]
    counters: CounterValues
    gathered_at: datetime

    @property
    def resolution_rate(self) -> float:
        """Successful retries over finished retries; 0 when none finished."""
        done, finished = retry_totals(self.counters)
        return round(done / finished, 6) if finished else 0.0

    def oldest_active_age(self, now: datetime) -> float:
        """Seconds since the oldest active entry was dead-lettered (0 when none is active)."""
        return max(0.0, now.timestamp() - self.oldest_active_ts) if self.oldest_active_ts is not None else 0.0


def retry_totals(counters: CounterValues) -> tuple[int, int]:
    """(succeeded, finished) over every retry counted: `abandoned` ones did not finish."""
    attempts = counters.get("dlq_retry_attempts_total")
    finished = sum(v for labels, v in attempts.items() if dict(labels).get("outcome") != RetryOutcome.abandoned)
    done = sum(v for labels, v in attempts.items() if dict(labels).get("outcome") == RetryOutcome.completed)
    return int(done), int(finished)


def sandbox_runtimes(retries: list[RunningRetry], now: datetime) -> list[tuple[str, float]]:
    """(entry id, seconds running) of each sandbox retry running now, longest first."""
    out = [(r.entry_id, max(0.0, now.timestamp() - r.started_ts)) for r in retries
           if r.mode == "sandbox" and r.running(now) and r.started_ts is not None]
    return sorted(out, key=lambda pair: -pair[1])


def gather(store: DeadLetterStore, counters: CounterSource, now: datetime) -> Metrics:
    """Every metric's source read once: the index (refreshed), the retrying entries, the counters."""
    stats = store.stats()  # refreshes the index first, so its arrivals are there to fold
    counters.fold()
    oldest = store.list(EntryFilter(status=EntryStatus.active, sort="created_at", descending=False, limit=1))
    return Metrics(stats=stats, oldest_active_ts=oldest.items[0].created_ts if oldest.items else None,
                   retries=retrying(counters), counters=counters.values(), gathered_at=now)


def retrying(counters: CounterSource) -> list[RunningRetry]:
    """The retries mova claimed whose entries are still `retrying`, from the audit log's claims and the
    index's lease expiry (no entry file is read)."""
    return [RunningRetry(entry_id=lease.entry_id, mode="sandbox" if lease.sandbox else "production",
                         started_ts=lease.claimed_ts, expires_ts=lease.expires_ts)
            for lease in counters.leases()]


# -- exposition ------------------------------------------------------------------------------
def render_prometheus(metrics: Metrics, now: datetime) -> str:
    """The metrics in the Prometheus text exposition format, through prometheus-client."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(metrics, now))
    return generate_latest(registry).decode()


def write_textfile(text: str, path: Path | str) -> None:
    """The exposition written atomically, for node_exporter's textfile collector (which reads `*.prom`)."""
    atomic_write(Path(path), text.encode())


class _Collector:
    """A prometheus-client collector over one `Metrics`."""

    def __init__(self, metrics: Metrics, now: datetime):
        self.m, self.now = metrics, now

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()
        yield from self._counters()
        for name, help_text in (
            ("workflow_retry_duration_seconds", "Retry execution time, from the claim to the release, by mode."),
            ("dlq_time_to_resolution_seconds", "Time from an entry's created_at to its resolution."),
        ):
            yield self._histogram(name, help_text)

    def _gauges(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily as Gauge

        m, now = self.m, self.now
        g = Gauge("dlq_entries_total", "Dead-letter entries by status (a gauge: the specification's name).",
                  labels=["status"])
        for status in EntryStatus:
            g.add_metric([status.value], m.stats.by_status.get(status.value, 0))
        yield g
        g = Gauge("dlq_workflow_entries", "Dead-letter entries (any status) by workflow type.", labels=["workflow_type"])
        for wtype, count in m.stats.by_workflow_type.items():
            g.add_metric([wtype or "unknown"], count)
        yield g
        yield Gauge("dlq_oldest_active_entry_age_seconds", "Age of the oldest active entry (0 when none is active).",
                    value=round(m.oldest_active_age(now), 3))
        g = Gauge("dlq_retries_running", "Retries running now (a live lease), by mode.", labels=["mode"])
        live = [r for r in m.retries if r.running(now)]
        for mode in MODES:
            g.add_metric([mode], sum(1 for r in live if r.mode == mode))
        yield g
        yield Gauge("dlq_retries_stale", "Retrying entries with no live retry mova knows of (an expired lease: "
                    "its process died; or another tool's claim).",
                    value=max(0, m.stats.by_status.get(EntryStatus.retrying.value, 0) - len(live)))
        runtimes = sandbox_runtimes(m.retries, now)
        yield Gauge("dlq_longest_sandbox_retry_seconds", "How long the longest running sandbox retry has run (0: none).",
                    value=round(runtimes[0][1], 3) if runtimes else 0.0)
        yield Gauge("dlq_resolution_rate", "Successful retries over finished retries, both modes (0 when none).",
                    value=m.resolution_rate)

    def _counters(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily as Counter

        c = self.m.counters
        defaults: dict[str, list[Labels]] = {
            "dlq_retry_attempts_total": [(("mode", mode), ("outcome", o.value)) for mode in MODES for o in RetryOutcome],
            "dlq_resolutions_total": [(("how", how),) for how in ("manual", "retry")],
            "dlq_removed_total": [(("reason", reason),) for reason in ("delete", "purge")],
            "dlq_dead_lettered_total": [],
        }
        helps = {
            "dlq_dead_lettered_total": ("Entries dead-lettered (first seen in the directory), by workflow type.",
                                        ["workflow_type"]),
            "dlq_retry_attempts_total": ("Retries ended, by mode and outcome (abandoned: lost the lease).",
                                         ["mode", "outcome"]),
            "dlq_resolutions_total": ("Entries resolved, by a production retry or by hand.", ["how"]),
            "dlq_removed_total": ("Entries removed for good, by delete or purge.", ["reason"]),
        }
        for name, (help_text, label_names) in helps.items():
            family = Counter(name, help_text, labels=label_names)
            series = {labels: 0.0 for labels in defaults[name]} | c.get(name)
            for labels in sorted(series):
                values = dict(labels)
                family.add_metric([values.get(n, "") for n in label_names], series[labels])
            yield family

    def _histogram(self, name: str, help_text: str) -> Metric:
        from prometheus_client.core import HistogramMetricFamily

        bounds = HISTOGRAMS[name]
        label_names = ["mode"] if name == "workflow_retry_duration_seconds" else []
        family = HistogramMetricFamily(name, help_text, labels=label_names)
        buckets, sums = self.m.counters.get(f"{name}_bucket"), self.m.counters.get(f"{name}_sum")
        groups = [(("mode", mode),) for mode in MODES] if label_names else [()]
        for group in groups:
            total, cumulative = 0.0, []
            for le in [*(repr(b) for b in bounds), "+Inf"]:
                total += buckets.get(tuple(sorted((*group, ("le", le)))), 0.0)
                cumulative.append((le, total))
            family.add_metric([v for _, v in group], cumulative, sums.get(group, 0.0))
        return family
