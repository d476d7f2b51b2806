"""What the screens, widgets and operations need of the app, as Protocols (so none of them imports it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar, cast

from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.signal import Signal

from mova_core.ops.service import DLQService
from mova_tui.app.jobs import Job, JobBody

T = TypeVar("T")
R = TypeVar("R")
Clock = Callable[[], datetime]
#: `read(fn)`: run `fn(service)` on a service, from a worker thread; returns what `fn` returns.
Reader = Callable[[Callable[[DLQService], T]], T]


class JobHost(Protocol):
    """Modals, notifications, reads and background work: what `actions` needs."""

    clock: Clock
    read_only: bool

    def push_screen(self, screen: Screen[R], callback: Callable[[R | None], None] | None = None) -> object:
        """Show a screen (a modal); `callback` gets what it is dismissed with."""

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Show a notification."""

    def start_job(self, title: str, total: int | None, body: JobBody, *, show: bool = True,
                  cancellable: bool = False) -> Job:
        """Run `body` in a thread on a service of its own, with a progress window unless `show` is False."""

    def read(self, fn: Callable[[DLQService], T]) -> T:
        """A short read on the shared service (from a worker thread)."""

    def read_apart(self, fn: Callable[[DLQService], T]) -> T:
        """A long read on a service opened for it and closed after (from a worker thread)."""

    def run_worker(self, work: Callable[[], object], *, thread: bool = False, group: str = "default",
                   exclusive: bool = False, exit_on_error: bool = True) -> object:
        """Run `work` in a worker (a thread with `thread`); its failure reaches the app's handler."""

    def call_from_thread(self, callback: Callable[..., object], *args: object) -> object:
        """Run `callback` on the app's thread (from a worker thread)."""


class DashboardHost(JobHost, Protocol):
    """Reading the queue and hearing of changes: what the screens need besides jobs."""

    dlq_path: Path
    watch_enabled: bool
    watch_state: str
    entries_changed_signal: Signal[list[str] | None]

    def read_stats(self, fn: Callable[[DLQService], T]) -> T:
        """A read on the statistics' own service (from a worker thread)."""


def host_of(node: DOMNode) -> DashboardHost:
    """The app running `node`, as the screens see it."""
    return cast(DashboardHost, node.app)
