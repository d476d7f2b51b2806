"""A bulk retry's cancel event reaches the retry under way: its wait between attempts is cut short."""

from __future__ import annotations

import threading
import time

from mova_core.engine.events import AttemptFailed
from mova_core.model.status import EntryStatus, RetryOutcome
from mova_core.ops.bulk import retry_action, run_bulk
from mova_core.ops.service import DLQService

from .engine_fixtures import server, settings, state  # noqa: F401
from .slow_retry import slow_failing_entry


def cancel_on_first_failure(cancel: threading.Event):
    def on_event(event) -> None:
        if isinstance(event, AttemptFailed):
            cancel.set()

    return on_event


def test_a_bulk_retry_passes_its_cancel_to_the_retry_under_way(settings, server):
    entry_id = slow_failing_entry(settings, server)
    cancel = threading.Event()
    with DLQService(settings) as service:
        action = retry_action(lambda: service, on_event=cancel_on_first_failure(cancel), cancel=cancel)
        started = time.monotonic()
        summary = run_bulk([entry_id], action, cancel=cancel)
        took = time.monotonic() - started
        entry = service.get(entry_id)
    assert took < 10, took
    assert summary.failed == 1 and entry.status == EntryStatus.active
    assert entry.retry_history[-1].outcome == RetryOutcome.cancelled
