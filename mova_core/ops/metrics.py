"""The specification's metrics, computed from what is on disk (entries and their retry history),
so the CLI, the dashboard and the HTTP shim report the same numbers.

* `dlq_entries_total{status}` (gauge): entries per status, from the store's counts.
* `dlq_retry_attempts_total{mode,outcome}` (counter): retries recorded in `retry_history`
  (mode sandbox/production; outcome completed/failed/timeout/cancelled/running).
* `dlq_resolution_rate` (gauge): successful retries / finished retries, both modes; 0 when none.
* `workflow_retry_duration_seconds` (histogram): end - start of every finished retry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field

from mova_core.model.base import Model
from mova_core.model.entry import DeadLetterEntry
from mova_core.model.status import RetryOutcome
from mova_core.timeutil import parse_time

DURATION_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class RetryCount(Model):
    """Retries of one mode and outcome."""

    mode: str
    outcome: str
    count: int


class Histogram(Model):
    """Cumulative bucket counts (`le` upper bounds, +Inf last), sum and count."""

    buckets: list[tuple[float, int]] = Field(default_factory=list)
    sum: float = 0.0
    count: int = 0


class Metrics(Model):
    """Every metric the specification names, as plain numbers."""

    entries_by_status: dict[str, int] = Field(default_factory=dict)
    retry_attempts: list[RetryCount] = Field(default_factory=list)
    retry_attempts_total: int = 0
    retries_finished: int = 0
    retries_succeeded: int = 0
    resolution_rate: float = 0.0
    retry_duration: Histogram = Field(default_factory=Histogram)


def compute_metrics(entries: Iterable[DeadLetterEntry], status_counts: Mapping[str, int]) -> Metrics:
    """Count retries, successes and durations over the entries' retry histories."""
    counts: dict[tuple[str, str], int] = {}
    durations: list[float] = []
    finished = succeeded = 0
    for entry in entries:
        for rec in entry.retry_history or []:
            mode = "sandbox" if rec.sandbox_mode else "production"
            counts[(mode, rec.outcome)] = counts.get((mode, rec.outcome), 0) + 1
            if not rec.is_finished_run:
                continue
            finished += 1
            if rec.outcome == RetryOutcome.completed:
                succeeded += 1
            if rec.end_time:
                try:
                    seconds = (parse_time(rec.end_time) - parse_time(rec.start_time)).total_seconds()
                except ValueError:
                    continue
                durations.append(max(0.0, seconds))
    buckets = [(le, sum(1 for d in durations if d <= le)) for le in DURATION_BUCKETS]
    buckets.append((float("inf"), len(durations)))
    return Metrics(
        entries_by_status=dict(status_counts),
        retry_attempts=[RetryCount(mode=m, outcome=o, count=c) for (m, o), c in sorted(counts.items())],
        retry_attempts_total=sum(counts.values()),
        retries_finished=finished,
        retries_succeeded=succeeded,
        resolution_rate=round(succeeded / finished, 6) if finished else 0.0,
        retry_duration=Histogram(buckets=buckets, sum=round(sum(durations), 6), count=len(durations)),
    )


def render_prometheus(metrics: Metrics) -> str:
    """The metrics in the Prometheus text exposition format (version 0.0.4)."""
    lines = [
        "# HELP dlq_entries_total Dead-letter entries by status.",
        "# TYPE dlq_entries_total gauge",
    ]
    for status, count in sorted(metrics.entries_by_status.items()):
        lines.append(f'dlq_entries_total{{status="{_label(status)}"}} {count}')
    lines += [
        "# HELP dlq_retry_attempts_total Retries of dead-letter entries, by mode and outcome.",
        "# TYPE dlq_retry_attempts_total counter",
    ]
    for rc in metrics.retry_attempts:
        lines.append(f'dlq_retry_attempts_total{{mode="{_label(rc.mode)}",outcome="{_label(rc.outcome)}"}} {rc.count}')
    lines += [
        "# HELP dlq_resolution_rate Successful retries over finished retries (0 when none).",
        "# TYPE dlq_resolution_rate gauge",
        f"dlq_resolution_rate {metrics.resolution_rate!r}",
        "# HELP workflow_retry_duration_seconds Duration of finished retries.",
        "# TYPE workflow_retry_duration_seconds histogram",
    ]
    for le, count in metrics.retry_duration.buckets:
        le_text = "+Inf" if le == float("inf") else repr(float(le))
        lines.append(f'workflow_retry_duration_seconds_bucket{{le="{le_text}"}} {count}')
    lines.append(f"workflow_retry_duration_seconds_sum {metrics.retry_duration.sum!r}")
    lines.append(f"workflow_retry_duration_seconds_count {metrics.retry_duration.count}")
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
