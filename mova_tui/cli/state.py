"""Per-invocation state shared by every command: the global options and the service they select."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperOption

if TYPE_CHECKING:  # imported when first used: `mova --help` must not pay for them
    from mova_core.ops.service import DLQService
    from mova_core.settings import Settings

#: A first scan of fewer files than this is quick; no progress bar flashes by.
PROGRESS_MIN_FILES = 1000


@dataclass
class CliState:
    """What the global options chose; builds the service lazily, once, and closes what it opened."""

    dlq_path: Path | None = None
    _service: DLQService | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _thread_services: list[DLQService] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settings(self) -> Settings:
        """The settings: MOVA_* variables, with --dlq-path on top."""
        if self._settings is None:
            from mova_core.settings import Settings

            self._settings = Settings(**({"dlq_path": self.dlq_path} if self.dlq_path else {}))
        return self._settings

    def service(self, *, warn_missing: bool = True) -> DLQService:
        """The service over the chosen directory; warns on stderr when that directory does not exist.

        On a terminal, a first scan of a large directory shows a progress bar on stderr.
        """
        if self._service is None:
            from mova_core.ops.service import DLQService

            self._service = DLQService(self.settings())
            path = self._service.settings.dlq_path
            if not self._service.settings.file_store:
                return self._service  # a PostgreSQL store (MOVA_STORE_URL): no directory, no index to build
            if not path.is_dir():
                if warn_missing:
                    print(
                        f"warning: dead-letter directory {path} does not exist; reading it as an empty queue "
                        "(set MOVA_DLQ_PATH or --dlq-path)",
                        file=sys.stderr,
                    )
            elif sys.stderr.isatty():
                refresh_with_progress(self._service, full=False)
        return self._service

    def id_to_change(self, given: str, verb: str) -> str:
        """The full id that an id or prefix names, for a command that changes the entry: a prefix of fewer
        than four characters after `dlq_` is refused (InvalidInput), as git refuses short hashes."""
        from mova_core.model.ids import check_change_prefix

        full = self.service().resolve_id(given)
        check_change_prefix(given, full, verb)
        return full

    def thread_service(self) -> DLQService:
        """A service of the calling thread's own (the index connection is not shared between threads)."""
        svc = getattr(self._local, "service", None)
        if svc is None:
            if threading.current_thread() is threading.main_thread():
                svc = self.service()
            else:
                svc = self.service().independent()
                with self._lock:
                    self._thread_services.append(svc)
            self._local.service = svc
        return svc

    def close(self) -> None:
        """Close every service this state opened (called when the command ends)."""
        with self._lock:
            opened, self._thread_services = self._thread_services, []
        if self._service is not None:
            opened.append(self._service)
            self._service = None
        for svc in opened:
            svc.close()


def refresh_with_progress(service: DLQService, *, full: bool, label: str = "indexing") -> bool:
    """`service.refresh`, with a transient Rich progress bar on stderr once the scan proves large."""
    with stderr_progress(label) as progress:
        return service.refresh(full=full, progress=progress)


@contextmanager
def stderr_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A `(done, total)` callback showing a transient bar on stderr once the work proves large (a terminal only)."""
    bar = None
    task = None

    def progress(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            if total < PROGRESS_MIN_FILES or not sys.stderr.isatty():
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            from mova_tui.cli.output import console

            bar = Progress(TextColumn(f"{label} entries"), BarColumn(), MofNCompleteColumn(),
                           TimeRemainingColumn(), console=console(err=True), transient=True)
            bar.start()
            task = bar.add_task(label, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.stop()


def _set_dlq_path(ctx: typer.Context, param: object, value: str | None) -> None:
    if value is not None:  # given after the command: it wins over the one before `dlq`, and MOVA_DLQ_PATH
        get_state(ctx).dlq_path = Path(value)


def dlq_path_option() -> TyperOption:
    """`--dlq-path DIR` for a subcommand: the same setting as `mova --dlq-path`, accepted where people type it."""
    return TyperOption(param_decls=["--dlq-path"], metavar="DIR", expose_value=False, callback=_set_dlq_path,
                       help="Dead-letter directory, as `mova --dlq-path` (default MOVA_DLQ_PATH or ./state/deadletter).")


class DlqPathEverywhere:
    """A mixin for a command group: each of its commands and subgroups also takes `--dlq-path`."""

    commands: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            if not any("--dlq-path" in getattr(p, "opts", ()) for p in command.params):
                command.params.append(dlq_path_option())


def get_state(ctx: typer.Context) -> CliState:
    """The CliState the root callback stored (a default one when a command is invoked alone in tests)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
        root.call_on_close(root.obj.close)
    return root.obj
