"""Quitting the dashboard while a retry runs: the retry stops at once, its entry is given back, the app ends."""

from __future__ import annotations

import asyncio
import time

import pytest

from mova_core.model.status import EntryStatus, RetryOutcome
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.modals.progress_modal import ProgressModal
from mova_tui.app.modals.retry_modal import RetryModal

from ..core.engine_fixtures import server  # noqa: F401
from ..core.slow_retry import slow_failing_entry
from .conftest import settle

SIZES = [(80, 24), (120, 35)]


async def wait_for(pilot, condition, what: str, rounds: int = 1000) -> None:
    """Pause until `condition()` holds (bounded: about 10 s), else fail naming `what`."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def start_sandbox_retry(pilot):
    """`r` on the row under the cursor, then Enter in the dialog: the sandbox retry's job."""
    app = pilot.app
    await pilot.press("r")
    await settle(pilot)
    assert isinstance(app.screen, RetryModal)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ProgressModal)
    return app.screen.job


@pytest.mark.parametrize(("size", "keys"), [
    ((80, 24), ["q"]),  # in the progress window
    ((120, 35), ["escape", "q"]),  # the window hidden, from the dashboard
    ((80, 24), ["ctrl+c"]),
])
async def test_quitting_during_a_retry_waiting_40s_exits_at_once_and_gives_the_entry_back(
        app_factory, dlq, server, size, keys):
    entry_id = slow_failing_entry(Settings(dlq_path=dlq), server)
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert app.screen.query_one("EntryTable").current.id == entry_id
        job = await start_sandbox_retry(pilot)
        await wait_for(pilot, lambda: any("next attempt in 40.0s" in line for line in job.lines),
                       "the first attempt to fail")
        started = time.monotonic()
        await pilot.press(*keys)
    service = DLQService(Settings(dlq_path=dlq))
    for _ in range(500):  # the job's thread releases the entry as it ends
        if service.get(entry_id).status == EntryStatus.active:
            break
        await asyncio.sleep(0.01)
    took = time.monotonic() - started
    entry = service.get(entry_id)
    assert took < 2.0, f"quitting took {took:.1f}s"
    assert app.return_code == 0
    assert entry.status == EntryStatus.active and entry.metadata.lease is None
    assert entry.retry_history[-1].outcome == RetryOutcome.cancelled and entry.retry_history[-1].sandbox_mode
    assert server.calls("/status/500/slow") == 4  # three dead-lettered it, the retry's first, none after
