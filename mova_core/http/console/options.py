"""How `mova serve --console` is configured, and whether its packages are installed."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

#: The console's packages (the `console` extra), by the module each one installs.
CONSOLE_MODULES = {"textual_serve_asgi": "textual-serve-asgi", "itsdangerous": "itsdangerous",
                   "websockets": "websockets"}
CONSOLE_EXTRA_HINT = "pip install 'mova[console]'"


@dataclass(frozen=True)
class ConsoleOptions:
    """The console's limits; plain values, so a worker process can be handed them as JSON."""

    #: Dashboard sessions (browser tabs, one process each) open at once; the next one is refused.
    max_sessions: int = 4
    #: Seconds without a key press or resize before a session is closed; 0 never closes one.
    idle_timeout: float = 900.0
    #: Seconds a log-in lasts before the console asks for the token again.
    session_lifetime: float = 8 * 3600.0
    #: Seconds a dashboard process has to quit once its tab is gone, before it is killed.
    stop_timeout: float = 5.0
    #: Where the console lives on the server.
    prefix: str = "/dlq"
    #: The command a session runs instead of mova's dashboard (None: this Python's `mova tui`).
    command: tuple[str, ...] | None = None


def missing_packages() -> list[str]:
    """The console's packages that are not installed (empty when it can run)."""
    return [package for module, package in CONSOLE_MODULES.items() if importlib.util.find_spec(module) is None]
