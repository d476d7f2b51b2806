"""Dashboard processes for console sessions: what each one runs, sees and how it is stopped.

Least privilege: a session process gets an allow-listed environment, never an API token, the
production secrets (`MOVA_SECRET_*`) only when its identity may retry in production, and the audit
actor `web:<identity>`. Stopping asks the dashboard to quit, then ends its process group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import Mapping, Sequence

from textual_serve_asgi.app_service import AppService

from mova_core.http.auth import READ_ONLY
from mova_core.settings import ENV_PREFIX, Settings

#: What a process needs to run Python and find its files, locale and time zone; nothing else passes.
_KEPT_NAMES = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "NO_COLOR", "VIRTUAL_ENV",
                         "PYTHONPATH", "PYTHONHOME", "SYSTEMROOT"})
_KEPT_PREFIXES = ("LC_",)
#: The shim's own credentials: no session ever sees them.
_TOKEN_NAMES = frozenset({"MOVA_API_TOKEN", "MOVA_API_READ_TOKEN"})
SECRET_PREFIX = "MOVA_SECRET_"
#: The variables Textual's web driver needs, which the base class sets.
_DRIVER_NAMES = frozenset({"TERM_PROGRAM", "TERM_PROGRAM_VERSION", "COLUMNS", "ROWS"})
#: After SIGTERM to a process that did not quit when asked, how long before SIGKILL.
_TERM_GRACE = 1.0


def session_environment(environ: Mapping[str, str], identity: str) -> dict[str, str]:
    """The environment of `identity`'s dashboard process, from the server's."""
    out = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper in _TOKEN_NAMES or upper == "MOVA_ACTOR":
            continue
        if upper.startswith(SECRET_PREFIX):
            if identity != READ_ONLY:  # admin, or anonymous on a server with no token at all
                out[name] = value
        elif upper.startswith(ENV_PREFIX) or name in _KEPT_NAMES or name.startswith(_KEPT_PREFIXES):
            out[name] = value
    out["MOVA_ACTOR"] = f"web:{identity}"
    return out


def dashboard_command(settings: Settings, identity: str, command: Sequence[str] | None = None) -> list[str]:
    """The dashboard a session of `identity` runs: read-only for the read-only token."""
    if command is not None:
        return list(command)
    argv = [sys.executable, "-m", "mova_tui.cli.main", "--dlq-path", str(settings.dlq_path.resolve()), "tui"]
    return argv + (["--read-only"] if identity == READ_ONLY else [])


class SessionProcess(AppService):
    """One tab's dashboard: started without a shell in a process group of its own, stopped for sure."""

    def __init__(self, argv: Sequence[str], environment: Mapping[str, str], **kwargs) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self.argv = list(argv)
        self.environment = dict(environment)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _build_environment(self, width: int = 80, height: int = 24, cell_width: int | None = None,
                           cell_height: int | None = None) -> dict[str, str]:
        driver = super()._build_environment(width, height, cell_width, cell_height)
        wanted = {k: v for k, v in driver.items() if k.startswith("TEXTUAL") or k in _DRIVER_NAMES}
        return {**self.environment, **wanted}

    async def _open_app_process(self, width: int = 80, height: int = 24, cell_width: int | None = None,
                                cell_height: int | None = None) -> Process:
        environment = self._build_environment(width, height, cell_width, cell_height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=environment, start_new_session=True,
        )
        if process.stdin is None:
            raise RuntimeError("the dashboard process has no standard input")
        self._stdin = process.stdin
        return process

    @property
    def finished(self) -> asyncio.Task[None] | None:
        """The task reading the process's output; done when the process has gone."""
        return self._task

    async def stop(self, timeout: float = 5.0) -> None:  # type: ignore[override]
        """Ask the dashboard to quit; after `timeout` seconds, end its process group (TERM, then KILL)."""
        task, process = self._task, self._process
        if task is None or process is None:
            return
        self._task = None
        await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        if process.returncode is None:
            try:  # a dashboard that no longer reads its input must not hold up its own stop
                await asyncio.wait_for(self.send_meta({"type": "quit"}), timeout)
            except TimeoutError:
                pass
        if not await _ended(process, timeout):
            _signal_group(process, signal.SIGTERM)
            if not await _ended(process, _TERM_GRACE):
                _signal_group(process, signal.SIGKILL)
                await process.wait()
        # Its output ends with it, unless something it started still holds the pipe: stop reading then.
        try:
            await asyncio.wait_for(task, _TERM_GRACE)
        except TimeoutError:
            pass


async def _ended(process: Process, timeout: float) -> bool:
    """Whether the process exits within `timeout` seconds."""
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        return False
    return True


def _signal_group(process: Process, signum: int) -> None:
    """Signal the process's whole group (its own session), so children it started go too."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
