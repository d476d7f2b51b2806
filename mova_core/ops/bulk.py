"""Bulk operations on a frozen set: plan once, act on exactly those ids, record each outcome, resume.

A bulk run (retry, archive, delete or reopen many entries) is made safe for a live queue by three rules:

* The set is frozen first. The ids matching the filters are listed and counted before anything is
  changed; entries that arrive while the run goes on are not touched, and each id is acted on at
  most once per run (an entry whose retry fails again goes back to `active`, and is not picked up
  a second time).
* Every outcome is recorded. The results file is JSON lines: a first `{"plan": {...}}` line (the
  operation, the frozen ids, the filter), then one `{"id", "outcome", ...}` line per id as it
  finishes, flushed at once, so an interrupted run loses nothing it did.
* A run resumes from its results file: the plan's ids that have no outcome line yet.
* Each entry is acted on only if it still matches the plan's filter, checked under the entry's
  lock (`EntryFilter.mismatch`): one reopened while an interrupted `delete --all --status
  archived` waited to be resumed is skipped ("no longer matches: status is active"), not deleted.
  `run_bulk` hands the filter its results file records to the actions made here, so every face
  (the CLI, the dashboard) gets the same check.

Outcomes (`BulkOutcome`): `completed`/`archived`/`deleted`/`reopened` (done), `failed`, `skipped` (the entry
changed meanwhile: gone, already retrying, no longer matching the filter or no longer in a state
the operation applies to).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mova_core.model.errors import (
    AlreadyRetrying,
    EntryNotFound,
    InvalidInput,
    InvalidTransition,
    MovaError,
    NoLongerMatches,
)
from mova_core.model.status import RunStatus
from mova_core.store.fsio import ends_with_newline
from mova_core.timeutil import format_time, utcnow

if TYPE_CHECKING:  # pydantic models: a bulk run loads them when it acts
    from mova_core.model.listing import EntryFilter

OPERATIONS = ("retry", "archive", "delete", "reopen")
#: What the progress bar counts.
Kind = Literal["done", "failed", "skipped"]


class BulkOutcome(StrEnum):
    """How the operation ended for one id, as its results-file line says."""

    completed = "completed"
    archived = "archived"
    deleted = "deleted"
    reopened = "reopened"
    failed = "failed"
    skipped = "skipped"

    @property
    def kind(self) -> Kind:
        """done, failed or skipped."""
        if self in (BulkOutcome.completed, BulkOutcome.archived, BulkOutcome.deleted, BulkOutcome.reopened):
            return "done"
        return "skipped" if self is BulkOutcome.skipped else "failed"


@dataclass
class BulkResult:
    """The outcome of the operation on one id."""

    id: str
    outcome: BulkOutcome
    detail: str | None = None
    retry_run_id: str | None = None
    at: str = field(default_factory=lambda: format_time(utcnow()))

    def __post_init__(self) -> None:
        self.outcome = BulkOutcome(self.outcome)  # ValueError for an outcome no bulk run writes

    @property
    def kind(self) -> Kind:
        """done, failed or skipped (what the progress bar counts)."""
        return self.outcome.kind

    def to_json(self) -> dict[str, Any]:
        """The results-file line (fields that are None left out)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class BulkPlan:
    """What a bulk run acts on: the operation, the frozen ids and how they were selected."""

    operation: str
    ids: list[str]
    filter: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: format_time(utcnow()))

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise InvalidInput(f"unknown bulk operation {self.operation!r}")
        self.ids = list(dict.fromkeys(self.ids))  # each id once, order kept

    def to_json(self) -> dict[str, Any]:
        """The results file's first line, under `plan`."""
        return {"operation": self.operation, "count": len(self.ids), "ids": self.ids,
                "filter": self.filter, "options": self.options, "created_at": self.created_at}

    def entry_filter(self) -> EntryFilter | None:
        """The filter the ids were chosen by (None for a selection made by hand, as the dashboard's)."""
        from mova_core.model.listing import EntryFilter

        if not self.filter:
            return None
        try:
            return EntryFilter.model_validate(self.filter)
        except ValueError as exc:  # a ValidationError: the file was edited by hand
            raise InvalidInput(f"the bulk plan's filter is not one a listing takes: {exc}") from None


@dataclass
class BulkSummary:
    """Counts at the end of a run."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    not_attempted: list[str] = field(default_factory=list)
    stopped_reason: str | None = None

    def add(self, result: BulkResult) -> None:
        """Count one outcome."""
        setattr(self, result.kind, getattr(self, result.kind) + 1)


_OUTCOME_VALUES = frozenset(outcome.value for outcome in BulkOutcome)


def _is_outcome(value: object) -> bool:
    """Whether a results-file value is an outcome a bulk run writes (any other line's id is redone)."""
    return isinstance(value, str) and value in _OUTCOME_VALUES


class ResultsFile:
    """The JSON-lines record of a bulk run: its plan, then one outcome line per id."""

    def __init__(self, path: Path, plan: BulkPlan, recorded: dict[str, BulkResult] | None = None):
        self.path = Path(path)
        self.plan = plan
        self.recorded: dict[str, BulkResult] = recorded or {}
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: Path | str, plan: BulkPlan) -> ResultsFile:
        """Start a new results file; refuses to overwrite one (it may be needed to resume)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise InvalidInput(f"results file {path} already exists; resume it with --resume {path} "
                               "or choose another file") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"plan": plan.to_json()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return cls(path, plan)

    @classmethod
    def load(cls, path: Path | str) -> ResultsFile:
        """Open an existing results file to resume it (torn lines are ignored: their ids are redone)."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            raise InvalidInput(f"results file {path} does not exist") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read results file {path}: {exc.strerror}") from None
        plan: BulkPlan | None = None
        recorded: dict[str, BulkResult] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # a line torn by an interruption: its id has no outcome, so it is redone
            if not isinstance(doc, dict):
                continue
            if "plan" in doc:
                p = doc["plan"]
                try:
                    plan = BulkPlan(operation=p["operation"], ids=list(p["ids"]), filter=p.get("filter") or {},
                                    options=p.get("options") or {}, created_at=p.get("created_at") or "")
                except (KeyError, TypeError):
                    raise InvalidInput(f"results file {path}, line {number}: malformed plan") from None
            elif isinstance(doc.get("id"), str) and _is_outcome(doc.get("outcome")):
                recorded[doc["id"]] = BulkResult(
                    id=doc["id"], outcome=doc["outcome"], detail=doc.get("detail"),
                    retry_run_id=doc.get("retry_run_id"), at=doc.get("at") or "",
                )
        if plan is None:
            raise InvalidInput(f"results file {path} has no plan line; it was not written by a bulk run")
        return cls(path, plan, recorded)

    def pending(self) -> list[str]:
        """The plan's ids that have no outcome yet, in plan order."""
        return [i for i in self.plan.ids if i not in self.recorded]

    def append(self, result: BulkResult) -> None:
        """Record one outcome (one line, flushed before returning)."""
        line = (json.dumps(result.to_json(), ensure_ascii=False) + "\n").encode()
        with self._lock:
            with open(self.path, "ab") as fh:
                # After an interruption the last line may be torn; start on a line of our own.
                if fh.tell() and not ends_with_newline(self.path):
                    line = b"\n" + line
                fh.write(line)
                fh.flush()
            self.recorded[result.id] = result


def default_results_path(mova_dir: Path, operation: str) -> Path:
    """Where a bulk run is recorded unless told otherwise: `<dlq>/.mova/bulk/<operation>-<UTC time>.jsonl`."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    return Path(mova_dir) / "bulk" / f"{operation}-{stamp}.jsonl"


def parse_rate(text: str) -> float:
    """`5`, `5/s`, `30/m`, `600/h` → operations per second."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"not a rate: {text!r} (e.g. 5/s, 30/m, 600/h)")
    per = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
    return float(m.group(1)) / per[m.group(2) or "s"]


class RateLimiter:
    """Spaces operation starts at least 1/rate seconds apart (thread-safe; clock and sleep injected)."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None):
        self.interval = 1.0 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = None
        self._lock = threading.Lock()

    def acquire(self, cancel: threading.Event | None = None) -> None:
        """Wait for the next slot (a set `cancel` cuts a real wait short)."""
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            start = now if self._next is None else max(now, self._next)
            self._next = start + self.interval
        if start > now:
            if self.sleep is not None:
                self.sleep(start - now)
            elif cancel is not None:
                cancel.wait(start - now)
            else:
                time.sleep(start - now)


Action = Callable[[str], BulkResult]


def run_bulk(
    ids: Iterable[str],
    action: Action,
    *,
    concurrency: int = 1,
    limiter: RateLimiter | None = None,
    stop_after_failures: int | None = None,
    results: ResultsFile | None = None,
    on_result: Callable[[BulkResult], None] | None = None,
    cancel: threading.Event | None = None,
) -> BulkSummary:
    """Apply `action` to each id once, at most `concurrency` at a time, recording every outcome.

    Stops starting new ids after `stop_after_failures` failures or when `cancel` is set; ids not
    started are listed in the summary (a resume picks them up).
    """
    if concurrency < 1:
        raise InvalidInput("--concurrency must be at least 1")
    if stop_after_failures is not None and stop_after_failures < 1:
        raise InvalidInput("--stop-after-failures must be at least 1")
    todo = list(dict.fromkeys(ids))
    if results is not None and isinstance(action, ServiceAction):
        action = action.matching(results.plan.entry_filter())
    summary = BulkSummary(total=len(todo))
    cancel = cancel or threading.Event()
    limiter = limiter or RateLimiter(None)

    def finish(result: BulkResult) -> None:
        if results is not None:
            results.append(result)
        summary.add(result)
        if on_result is not None:
            on_result(result)
        if stop_after_failures is not None and summary.failed >= stop_after_failures and not summary.stopped_reason:
            summary.stopped_reason = f"stopped after {summary.failed} failures (--stop-after-failures)"

    def guarded(entry_id: str) -> BulkResult:
        try:
            return action(entry_id)
        except Exception as exc:  # one entry's surprise must not end the run; it is recorded
            return BulkResult(entry_id, BulkOutcome.failed, f"{type(exc).__name__}: {exc}")

    position = 0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mova-bulk") as pool:
        running: set[Future] = set()
        try:
            while position < len(todo) or running:
                while (position < len(todo) and len(running) < concurrency
                       and not cancel.is_set() and not summary.stopped_reason):
                    limiter.acquire(cancel)
                    if cancel.is_set():
                        break
                    running.add(pool.submit(guarded, todo[position]))
                    position += 1
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    finish(future.result())
        except BaseException:
            # Interrupted: start nothing more; what is already running finishes and is recorded.
            # A second interrupt while waiting abandons the rest (their leases expire on their own).
            cancel.set()
            for future in running:
                if not future.cancel():
                    finish(future.result())
            raise
    if cancel.is_set() and not summary.stopped_reason:
        summary.stopped_reason = "cancelled"
    summary.not_attempted = todo[position:]
    return summary


# -- the three operations, as actions over a service -----------------------------------------------
def _skipped_or_failed(entry_id: str, exc: MovaError) -> BulkResult:
    if isinstance(exc, (EntryNotFound, AlreadyRetrying, InvalidTransition, NoLongerMatches)):
        return BulkResult(entry_id, BulkOutcome.skipped, str(exc))
    return BulkResult(entry_id, BulkOutcome.failed, str(exc))


ServiceFor = Callable[[], Any]


class ServiceAction:
    """One of the operations as an `Action` over a service, acting only on entries that still match
    `flt` (checked under the entry's lock; None: every entry). Refusals (a live retry, gone
    meanwhile, no longer matching) are skipped, not failed."""

    def __init__(self, act: Callable[[str, EntryFilter | None], BulkResult], flt: EntryFilter | None = None):
        self._act, self.flt = act, flt

    def __call__(self, entry_id: str) -> BulkResult:
        try:
            return self._act(entry_id, self.flt)
        except MovaError as exc:
            return _skipped_or_failed(entry_id, exc)

    def matching(self, flt: EntryFilter | None) -> ServiceAction:
        """This action restricted to `flt`, unless it was given a filter of its own."""
        return self if self.flt is not None or flt is None else ServiceAction(self._act, flt)


def archive_action(service_for: ServiceFor, flt: EntryFilter | None = None, *,
                   break_lease: bool = False) -> ServiceAction:
    """Archive one id; an entry under a live retry (unless `break_lease`: one id the user chose), gone
    meanwhile, or no longer matching `flt` is skipped."""

    def act(entry_id: str, matching: EntryFilter | None) -> BulkResult:
        service_for().archive(entry_id, break_lease=break_lease, matching=matching)
        return BulkResult(entry_id, BulkOutcome.archived)

    return ServiceAction(act, flt)


def delete_action(service_for: ServiceFor, flt: EntryFilter | None = None, *,
                  break_lease: bool = False) -> ServiceAction:
    """Delete one id; an entry under a live retry (a bulk run never stops a running retry; `break_lease`
    is for one id the user chose), gone meanwhile, or no longer matching `flt` is skipped."""

    def act(entry_id: str, matching: EntryFilter | None) -> BulkResult:
        service_for().delete(entry_id, break_lease=break_lease, matching=matching)
        return BulkResult(entry_id, BulkOutcome.deleted)

    return ServiceAction(act, flt)


def retry_action(service_for: ServiceFor, *, sandbox_mode: bool = True, overrides: Any = None,
                 on_event: Callable[[Any], None] | None = None, flt: EntryFilter | None = None,
                 cancel: threading.Event | None = None) -> ServiceAction:
    """Retry one id in the foreground; `completed` or `failed` by the retry's outcome.

    `on_event` receives the engine's events as the retry runs (the dashboard shows them live);
    `cancel`, the run's cancel event, stops a retry under way (its entry goes back to active). An
    entry no longer matching `flt` is skipped. That check reads the entry just before the claim,
    which then takes the lock and accepts only an `active` entry (or a stale claim), so the status
    a filter asks for is held under the lock; the other fields a filter names are not changed by
    any operation.
    """

    def act(entry_id: str, matching: EntryFilter | None) -> BulkResult:
        service = service_for()
        if matching is not None:
            reason = matching.mismatch(service.get(entry_id))
            if reason is not None:
                raise NoLongerMatches(entry_id, reason)
        response = service.retry(entry_id, sandbox_mode=sandbox_mode, overrides=overrides, wait=True,
                                 on_event=on_event, cancel=cancel)
        result = response.execution_result
        status = result.status if result else "unknown"
        if status == RunStatus.completed:
            return BulkResult(entry_id, BulkOutcome.completed, retry_run_id=response.retry_run_id)
        detail = (result.error if result and result.error else None) or f"retry ended {status}"
        return BulkResult(entry_id, BulkOutcome.failed, detail, retry_run_id=response.retry_run_id)

    return ServiceAction(act, flt)
