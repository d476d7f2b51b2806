"""The dashboard application: the service, the directory watcher and the background jobs.

Screens read through `MovaApp.read` (one lock, short calls, always from worker threads). Long jobs
(retries, bulk operations, exports) run on a separate service instance from `job_service()`, so a
retry that waits on backoff never holds up the table.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import get_current_worker

from mova_core.model.errors import MovaError
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.files import FileStore
from mova_tui.app.messages import EntriesChanged, JobFinished, JobProgress

T = TypeVar("T")
Clock = Callable[[], datetime]

#: watchfiles: yield at most this long after the first change (ms) …
WATCH_DEBOUNCE_MS = 200
#: … or as soon as the directory has been quiet this long (ms).
WATCH_STEP_MS = 30


def entry_file_filter(_change: Any, path: str) -> bool:
    """Entry files only: `*.json` not starting with a dot (temporaries and bookkeeping are dot-files)."""
    name = os.path.basename(path)
    return name.endswith(".json") and not name.startswith(".")


@dataclass
class Job:
    """A background job's progress, kept so its window can be reopened."""

    title: str
    total: int | None
    lines: list[str] = field(default_factory=list)
    done: int = 0
    finished: bool = False
    summary: str = ""


class MovaApp(App[None]):
    """`mova tui`: watch, inspect, retry, archive, delete and export dead-letter entries."""

    TITLE = "mova"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, service: DLQService, *, clock: Clock, watch: bool = True) -> None:
        super().__init__()
        self.service = service
        self.clock = clock
        self.watch_enabled = watch
        self.dlq_path = Path(service.settings.dlq_path)
        self.sub_title = str(self.dlq_path)
        self._io_lock = threading.Lock()
        # Statistics read through their own connection, so a key press never waits behind them.
        self._stats_service = self.job_service()
        self._stats_lock = self._io_lock if self._stats_service is service else threading.Lock()
        self._job_ids = itertools.count(1)
        self.jobs: dict[int, Job] = {}
        self.watch_state = "not watching" if not watch else "starting watcher"
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

    def job_service(self) -> DLQService:
        """A service for a long job: a fresh instance over the same directory (own index connection).

        A subclass (a test double) is shared as is, so what it records stays in one place.
        """
        svc = self.service
        if type(svc) is DLQService and isinstance(svc.store, FileStore):
            return DLQService(svc.settings, FileStore(svc.store.directory), clock=svc.clock, actor=svc.actor,
                              audit=svc.audit)
        return svc

    # -- lifecycle ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        from mova_tui.app.screens.dashboard_screen import DashboardScreen

        # Pushed rather than returned from get_default_screen, so that its CSS_PATH is loaded.
        self.push_screen(DashboardScreen())
        if self.watch_enabled:
            self.watch_directory()

    def exit(self, *args, **kwargs) -> None:  # noqa: D102 - stop the watcher thread promptly
        self._watch_stop.set()
        super().exit(*args, **kwargs)

    @property
    def dashboard(self):
        from mova_tui.app.screens.dashboard_screen import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    # -- watching -------------------------------------------------------------------------------
    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_directory(self) -> None:
        """Watch the directory with watchfiles; post EntriesChanged with the names that changed."""
        from watchfiles import awatch

        directory = self.dlq_path
        while not self._watch_stop.is_set():
            if not await asyncio.to_thread(directory.is_dir):
                self._set_watch_state(f"waiting for {directory}")
                await asyncio.sleep(1.0)
                if await asyncio.to_thread(directory.is_dir):
                    self.post_message(EntriesChanged(None))
                continue
            self._set_watch_state("watching")
            try:
                async for changes in awatch(
                    directory,
                    watch_filter=entry_file_filter,
                    debounce=WATCH_DEBOUNCE_MS,
                    step=WATCH_STEP_MS,
                    stop_event=self._watch_stop,
                    rust_timeout=500,
                    recursive=False,
                ):
                    names = sorted({os.path.basename(path) for _change, path in changes})
                    self.post_message(EntriesChanged(names))
            except (FileNotFoundError, OSError, RuntimeError) as exc:
                self._set_watch_state(f"watcher stopped: {exc}")
            # The directory went away (or the watcher stopped): reload everything and wait for it.
            if not self._watch_stop.is_set():
                self.post_message(EntriesChanged(None))
                await asyncio.sleep(0.5)

    def _set_watch_state(self, state: str) -> None:
        if state != self.watch_state:
            self.watch_state = state
            dash = self.dashboard
            if dash is not None:
                dash.refresh_status()

    def on_entries_changed(self, message: EntriesChanged) -> None:
        """Fan a change out to the screens that show entries."""
        for screen in self.screen_stack:
            handler = getattr(screen, "entries_changed", None)
            if handler is not None:
                handler(message.names)

    # -- jobs -----------------------------------------------------------------------------------
    def start_job(
        self,
        title: str,
        total: int | None,
        fn: Callable[[DLQService, Callable[..., None], Callable[[], bool]], tuple[str, str, list[str]]],
        *,
        show: bool = True,
    ) -> int:
        """Run `fn(service, progress, cancelled)` in a thread; it returns (summary, severity, changed ids)."""
        from mova_tui.app.modals.progress_modal import ProgressModal

        job_id = next(self._job_ids)
        self.jobs[job_id] = Job(title, total)
        if show:
            self.push_screen(ProgressModal(job_id))
        self._run_job(job_id, fn)
        return job_id

    @work(thread=True, group="jobs", exit_on_error=False)
    def _run_job(self, job_id: int, fn) -> None:
        worker = get_current_worker()

        def progress(line: str = "", advance: int = 0) -> None:
            self.post_message(JobProgress(job_id, line, advance))

        try:
            summary, severity, changed = fn(self.job_service(), progress, lambda: worker.is_cancelled)
        except MovaError as exc:
            summary, severity, changed = str(exc), "error", []
        except Exception as exc:  # a bug or an I/O failure must end the job visibly, not silently
            summary, severity, changed = f"{type(exc).__name__}: {exc}", "error", []
        self.post_message(JobFinished(job_id, summary, severity, changed))

    def on_job_progress(self, message: JobProgress) -> None:
        job = self.jobs.get(message.job_id)
        if job is None:
            return
        if message.line:
            job.lines.append(message.line)
        job.done += message.advance
        for screen in self.screen_stack:
            if getattr(screen, "job_id", None) == message.job_id:
                screen.job_updated(message)

    def on_job_finished(self, message: JobFinished) -> None:
        job = self.jobs.get(message.job_id)
        if job is not None:
            job.finished = True
            job.summary = message.summary
        self.notify(message.summary, title=job.title if job else "mova", severity=message.severity,
                    timeout=8 if message.severity == "error" else 5)
        for screen in self.screen_stack:
            if getattr(screen, "job_id", None) == message.job_id:
                screen.job_finished(message)
        self.post_message(EntriesChanged(None))


def make_app(
    service: DLQService | None = None,
    settings: Settings | None = None,
    clock: Clock | None = None,
    watch: bool = True,
) -> MovaApp:
    """The dashboard over a service (or one built from settings); `clock` fixes "now" for ages."""
    if service is None:
        service = DLQService(settings or Settings(), clock=clock)
    return MovaApp(service, clock=clock or service.clock, watch=watch)
