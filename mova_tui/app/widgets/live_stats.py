"""The statistics panel kept fresh: read again when asked, one read at a time, a burst of asks merged into one."""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual import on, work
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from mova_core.model.errors import MovaError
from mova_core.model.listing import EntrySummary, Group, Stats
from mova_tui.app.host import host_of
from mova_tui.app.widgets.stats_panel import StatsPanel
from mova_tui.app.worker_errors import ReportsWorkerErrors

#: The statistics are several queries over the whole index: a read starts at least this long after
#: the last one ended (seconds).
INTERVAL = 1.0
FINISHED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


class LiveStats(ReportsWorkerErrors, StatsPanel):
    """`StatsPanel` with its own reading: `reload()` whenever entries change."""

    @dataclass
    class Updated(Message):
        """Fresh figures are on the panel."""

        stats: Stats

    @dataclass
    class _Figures(Message):
        stats: Stats
        groups: list[Group]
        oldest: EntrySummary | None

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stats: Stats | None = None
        self._reading: Worker[None] | None = None
        self._due: Timer | None = None
        self._ended_at = float("-inf")

    def reload(self) -> None:
        """Ask for fresh figures: at once if the last read ended a while ago, else as soon as one may start."""
        if self._due is not None:
            return  # a read is due already, and will see this change too
        if self._reading is not None and not self._reading.is_finished:
            self._due = self.set_timer(INTERVAL, self._read, pause=True)  # resumed when the read ends
            return
        wait = self._ended_at + INTERVAL - time.monotonic()
        if wait > 0:
            self._due = self.set_timer(wait, self._read)
        else:
            self._read()

    def _read(self) -> None:
        self._due = None
        self._reading = self._fetch()

    @work(thread=True, group="stats", exit_on_error=False)
    def _fetch(self) -> None:
        read = host_of(self).read_stats
        try:
            figures = self._Figures(read(lambda s: s.stats()), read(lambda s: s.groups()),
                                    read(lambda s: s.oldest_active()))
        except (MovaError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Reading the statistics", severity="error")
            return
        self.post_message(figures)

    @on(Worker.StateChanged)
    def _read_ended(self, event: Worker.StateChanged) -> None:
        # However the read ended (a bug included), the next one may start.
        if event.worker is self._reading and event.state in FINISHED:
            self._ended_at = time.monotonic()
            if self._due is not None:
                self._due.resume()

    @on(_Figures)
    def _figures_read(self, message: _Figures) -> None:
        self.stats = message.stats
        self.show(message.stats, message.groups, message.oldest, host_of(self).clock())
        self.post_message(self.Updated(message.stats))
