"""The dashboard application: the service, the directory watcher, the background jobs.

Screens read through `MovaApp.read` (one lock, short calls, always from worker threads). Long work
(retries, bulk operations, exports, the statistics, select-all) runs on services of its own from
`DLQService.independent()`, so a retry that waits on backoff never holds up the table.

The app publishes; screens subscribe: entry changes go out on `entries_changed_signal`, job
progress on `job_signal`. Screens and modals talk back with messages (`CancelJob`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from mova_core.model.errors import MovaError
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.host import Clock
from mova_tui.app.jobs import Job, JobBody, JobContext, JobReport
from mova_tui.app.messages import CancelJob, EntriesChanged, JobFinished, JobProgress
from mova_tui.app.modals.progress_modal import ProgressModal
from mova_tui.app.screens.dashboard_screen import DashboardScreen
from mova_tui.app.watcher import announced_changes, entry_changes
from mova_tui.present.safe_text import clean

T = TypeVar("T")
FINISHED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


class MovaApp(App[None]):
    """`mova tui`: watch, inspect, retry, archive, delete and export dead-letter entries."""

    TITLE = "mova"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    #: Every screen gets `-short` below 30 lines, so dialogs can give up spacing on an 80×24 terminal.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    #: What the watcher is doing, for the status line.
    watch_state: reactive[str] = reactive("not watching", init=False)

    def __init__(self, service: DLQService, *, clock: Clock, watch: bool = True, read_only: bool = False) -> None:
        super().__init__()
        self.service = service
        self.clock = clock
        self.watch_enabled = watch
        #: Look, never touch: `actions` refuses every operation that changes an entry or writes a file.
        self.read_only = read_only
        if read_only:
            self.title = f"{self.TITLE} (read-only)"
        self.dlq_path = Path(service.settings.dlq_path)
        self.sub_title = str(self.dlq_path)
        self.set_reactive(MovaApp.watch_state, "starting watcher" if watch else "not watching")
        self.entries_changed_signal: Signal[list[str] | None] = Signal(self, "entries-changed")
        self.job_signal: Signal[Job] = Signal(self, "job")
        self.jobs: dict[int, Job] = {}
        self._io_lock = threading.Lock()
        # The statistics read through their own connection, so a key press never waits behind them.
        self._stats_service = service.independent()
        self._stats_lock = threading.Lock()
        self._job_ids = itertools.count(1)
        self._job_workers: dict[Worker[None], Job] = {}
        self._watch_stop = threading.Event()

    # -- reading --------------------------------------------------------------------------------
    def read(self, fn: Callable[[DLQService], T]) -> T:
        """Run a short read on the shared service (call from a worker thread only)."""
        with self._io_lock:
            return fn(self.service)

    def read_stats(self, fn: Callable[[DLQService], T]) -> T:
        """Like `read`, on the statistics' own service (call from a worker thread only)."""
        with self._stats_lock:
            return fn(self._stats_service)

    def read_apart(self, fn: Callable[[DLQService], T]) -> T:
        """A long read on a service opened for it and closed after (call from a worker thread only)."""
        with self.service.independent() as service:
            return fn(service)

    # -- lifecycle ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        # Pushed rather than returned from get_default_screen, so that its CSS_PATH is loaded.
        self.push_screen(DashboardScreen())
        if self.watch_enabled:
            self.watch_directory()

    def exit(self, *args, **kwargs) -> None:
        """Quit; the watcher and every running job are told first, so their threads end promptly.

        A retry under way stops at its next step (a backoff wait is cut short) and gives its entry
        back as `active`, the attempt recorded as cancelled; without this the process would wait
        for the retry's whole policy before it could exit.
        """
        self._watch_stop.set()
        for job in self.jobs.values():
            if not job.finished:
                job.cancel.set()
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        self._stats_service.close()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification, shown as text: messages quote ids, errors and file names, never markup."""
        super().notify(clean(message), title=clean(title, one_line=True), severity=severity, timeout=timeout,
                       markup=False)

    # -- watching -------------------------------------------------------------------------------
    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_directory(self) -> None:
        """Follow the queue (the changes a shared store announces, else the directory); each batch of
        changed names becomes an EntriesChanged message."""
        stop = self._watch_stop
        if self.service.announces_changes:
            changes = announced_changes(lambda: self.service.change_feed(stop), stop, self._set_watch_state)
        else:
            changes = entry_changes(self.dlq_path, stop, self._set_watch_state)
        async for names in changes:
            self.post_message(EntriesChanged(names))

    def _set_watch_state(self, state: str) -> None:
        self.watch_state = state

    def on_entries_changed(self, message: EntriesChanged) -> None:
        """Publish a change (a burst already merged into one message) to the screens showing entries."""
        self.entries_changed_signal.publish(message.names)

    # -- jobs -----------------------------------------------------------------------------------
    def start_job(self, title: str, total: int | None, body: JobBody, *, show: bool = True,
                  cancellable: bool = False) -> Job:
        """Run `body` in a thread on a service of its own; its window shows progress unless `show` is False."""
        job = Job(next(self._job_ids), title, total, cancellable=cancellable)
        self.jobs[job.id] = job
        if show:
            self.push_screen(ProgressModal(job, self.job_signal))
        self._job_workers[self._run_job(job, body)] = job
        return job

    @work(thread=True, group="jobs", exit_on_error=False)
    def _run_job(self, job: Job, body: JobBody) -> None:
        def progress(line: str = "", advance: int = 0) -> None:
            self.post_message(JobProgress(job.id, line, advance))

        with self.service.independent() as service:
            try:
                report = body(JobContext(service, progress, job.cancel))
            except MovaError as exc:  # a refusal the operator can act on; anything else is a bug
                report = JobReport(str(exc), "error")
        self.post_message(JobFinished(job.id, report))

    def on_job_progress(self, message: JobProgress) -> None:
        job = self.jobs[message.job_id]
        if message.line:
            job.lines.append(message.line)
        job.done += message.advance
        self.job_signal.publish(job)

    def on_job_finished(self, message: JobFinished) -> None:
        self._finish(self.jobs[message.job_id], message.report)

    def on_cancel_job(self, message: CancelJob) -> None:
        job = self.jobs[message.job_id]
        if job.finished or job.cancel.is_set():
            return
        job.cancel.set()
        self.job_signal.publish(job)
        self.notify("Nothing new starts; a retry under way stops at its next step, any other change finishes; "
                    "each is recorded", title=f"Cancelling {job.title}")

    def _finish(self, job: Job, report: JobReport) -> None:
        job.report = report
        # A job whose window is open shows its result there; a notification would only cover it.
        watching = isinstance(self.screen, ProgressModal) and self.screen.job is job
        if not watching:
            self.notify(report.summary, title=job.title, severity=report.severity,
                        timeout=8 if report.severity == "error" else 5)
        self.job_signal.publish(job)
        self.post_message(EntriesChanged(None))

    # -- failures -------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker (the app's, or one a screen passed on) is shown; its job ends."""
        worker = event.worker
        if event.state is WorkerState.ERROR:
            error = f"{type(worker.error).__name__}: {worker.error}"
            job = self._job_workers.get(worker)
            if job is not None:
                self._finish(job, JobReport(error, "error"))
            else:
                self.notify(f"{error} (in {worker.name or worker.group})", title="Background work failed",
                            severity="error", timeout=8)
        if event.state in FINISHED:
            self._job_workers.pop(worker, None)


def make_app(
    service: DLQService | None = None,
    settings: Settings | None = None,
    clock: Clock | None = None,
    watch: bool = True,
    read_only: bool = False,
) -> MovaApp:
    """The dashboard over a service (or one built from settings); `clock` fixes "now" for ages."""
    if service is None:
        service = DLQService(settings or Settings(), clock=clock)
    return MovaApp(service, clock=clock or service.clock, watch=watch, read_only=read_only)
