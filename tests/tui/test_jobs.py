"""Background jobs in the dashboard: the progress window, cancelling, hiding, and workers that fail."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

from textual.widgets import Button

from mova_core.model.status import EntryStatus
from mova_core.ops.bulk import ResultsFile
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.messages import EntriesChanged, JobProgress
from mova_tui.app.modals.confirm_modal import ConfirmModal
from mova_tui.app.modals.progress_modal import ProgressModal
from mova_tui.app.screens.dashboard_screen import DashboardScreen
from mova_tui.app.widgets.live_stats import LiveStats
from mova_tui.app.widgets.queue_view import QueueView

from .conftest import DLQ_ARG, frozen_clock, settle

SIZE = (120, 40)


@dataclass
class Knobs:
    """What the test doubles share across `independent()` copies: a gate on one id, failures to raise."""

    hold: str | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    stats_failures: int = 0
    refresh_failures: list[BaseException] = field(default_factory=list)


class Double(DLQService):
    """The real service over the test's directory, with knobs; its independent copies share them."""

    def __init__(self, *args, knobs: Knobs | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.knobs = knobs or Knobs()

    def independent(self) -> Double:
        return Double(self.settings, self.store.independent(), clock=self.clock, actor=self.actor, audit=self.audit,
                      knobs=self.knobs)

    def archive(self, id_or_prefix, **kwargs):
        if id_or_prefix == self.knobs.hold:
            self.knobs.entered.set()
            assert self.knobs.release.wait(10), "the test never opened the gate"
        return super().archive(id_or_prefix, **kwargs)

    def refresh_names(self, names):
        if self.knobs.refresh_failures:
            raise self.knobs.refresh_failures.pop(0)
        return super().refresh_names(names)

    def stats(self):
        if self.knobs.stats_failures:
            self.knobs.stats_failures -= 1
            raise RuntimeError("statistics exploded")
        return super().stats()


def double(knobs: Knobs) -> Double:
    return Double(Settings(dlq_path=DLQ_ARG), clock=frozen_clock, knobs=knobs)


def record_notifications(app) -> list[str]:
    """Every notification's text, as the app shows them."""
    shown: list[str] = []
    notify = app.notify

    def spy(message, *args, **kwargs):
        shown.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = spy
    return shown


async def start_bulk_archive(pilot, rows: int, knobs: Knobs | None = None) -> list[str]:
    """Select the first `rows` rows, archive them, confirm; returns the ids in the order the run takes them.

    With `knobs`, the second id's archive waits at the gate until the test opens it.
    """
    app = pilot.app
    await settle(pilot)
    queue = app.screen.query_one(QueueView)
    await pilot.press(*["space"] * rows)
    picked = sorted(r.id for r in queue.table.rows[:rows])
    assert queue.selection == set(picked)
    if knobs is not None:
        knobs.hold = picked[1]
    await pilot.press("a")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmModal)
    await pilot.press("y")
    await pilot.pause()
    return picked


async def test_cancel_stops_the_bulk_archive_and_names_the_resume_command(app_factory, dlq):
    knobs = Knobs()
    app = app_factory(service=double(knobs))
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        picked = await start_bulk_archive(pilot, 4, knobs)
        window = app.screen
        assert isinstance(window, ProgressModal) and window.job.cancellable
        assert await asyncio.to_thread(knobs.entered.wait, 10)  # the second archive is under way

        await pilot.press("c")
        await pilot.pause()
        assert window.job.cancelling and window.query_one("#cancel", Button).disabled
        assert "Cancelling" in str(window.query_one("#result").render())
        knobs.release.set()
        await settle(pilot)
        result = str(window.query_one("#result").render())

    service = DLQService(Settings(dlq_path=dlq))
    assert [service.get(i).status for i in picked[:2]] == [EntryStatus.archived] * 2
    assert all(service.get(i).status != EntryStatus.archived for i in picked[2:])
    (path,) = (dlq / ".mova" / "bulk").glob("archive-*.jsonl")
    assert ResultsFile.load(path).pending() == picked[2:]
    command = f"mova --dlq-path {dlq} dlq archive --all --resume {path}"
    assert command in result and "2 entries not done" in result
    # The window was open when the job ended: it shows the result, and no notification covers it.
    assert not any(command in text for text in shown), shown


async def test_escape_hides_the_window_and_the_job_goes_on(app_factory, dlq):
    knobs = Knobs()
    app = app_factory(service=double(knobs))
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        picked = await start_bulk_archive(pilot, 3, knobs)
        job = app.screen.job
        assert await asyncio.to_thread(knobs.entered.wait, 10)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and not job.cancel.is_set()
        knobs.release.set()
        await settle(pilot)
        assert job.finished and not job.cancel.is_set()

    service = DLQService(Settings(dlq_path=dlq))
    assert {service.get(i).status for i in picked} == {EntryStatus.archived}
    (path,) = (dlq / ".mova" / "bulk").glob("archive-*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["plan"]["ids"] == picked and [r["outcome"] for r in lines[1:]] == ["archived"] * 3
    assert f"Archived 3 entries; results in {path}" in shown


async def test_a_job_that_dies_ends_its_window_with_the_error(app_factory, dlq):
    (dlq / ".mova").mkdir(exist_ok=True)
    (dlq / ".mova" / "bulk").write_text("not a directory")  # the results file cannot be created
    app = app_factory()
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await start_bulk_archive(pilot, 2)
        await settle(pilot)
        window = app.screen
        assert isinstance(window, ProgressModal) and window.job.finished
        assert window.job.report.severity == "error" and "Error" in window.job.summary
        assert str(window.query_one("#close", Button).label) == "Close"
        assert window.job.summary in str(window.query_one("#result").render())
        assert window.job.summary not in shown  # the open window shows it


async def test_a_failed_statistics_read_is_shown_and_the_next_one_runs(app_factory, dlq, monkeypatch):
    monkeypatch.setattr("mova_tui.app.widgets.live_stats.INTERVAL", 0.0)
    app = app_factory(service=double(Knobs(stats_failures=1)))
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        stats = app.screen.query_one(LiveStats)
        assert stats.stats is None
        assert any("RuntimeError: statistics exploded" in text for text in shown)
        app.post_message(EntriesChanged(None))
        await settle(pilot)
        assert stats.stats is not None and stats.stats.total_entries == 16


async def test_a_failure_applying_changes_is_shown_and_the_views_still_follow_the_queue(app_factory, dlq,
                                                                                     monkeypatch):
    """A change the index could not take (a refusal, or a bug) is reported, and the rows and statistics
    are read again all the same; the next change goes through."""
    monkeypatch.setattr("mova_tui.app.widgets.live_stats.INTERVAL", 0.0)
    knobs = Knobs(refresh_failures=[OSError("disk on fire"), RuntimeError("index exploded")])
    app = app_factory(service=double(knobs))
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        stats, table = app.screen.query_one(LiveStats), app.screen.query_one(QueueView).table
        assert stats.stats.by_status["archived"] == 2
        active = [r.id for r in table.rows if r.status == EntryStatus.active][:3]
        other = DLQService(Settings(dlq_path=dlq))
        for n, (victim, failure) in enumerate(zip(active, ["disk on fire", "RuntimeError: index exploded", None])):
            other.archive(victim)  # another process; the watcher would report the file by name
            app.post_message(EntriesChanged([f"{victim}.json"]))
            await settle(pilot)
            if failure is not None:
                assert any(failure in text for text in shown), shown
            assert stats.stats.by_status["archived"] == 3 + n
            assert next(r for r in table.rows if r.id == victim).status == EntryStatus.archived


def test_a_burst_of_changes_merges_into_the_last_message():
    first, second, third = EntriesChanged(["a.json"]), EntriesChanged(["b.json", "a.json"]), EntriesChanged(None)
    assert first.can_replace(second) and second.names == ["a.json", "b.json"]
    assert second.can_replace(third) and third.names is None
    assert not EntriesChanged(["a.json"]).can_replace(JobProgress(1, "a line"))
