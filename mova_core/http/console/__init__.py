"""The web console: mova's dashboard in a browser at `/dlq`, behind the shim's own access rules.

Each browser tab is one dashboard process (`mova tui`, with Textual's web driver) that
textual-serve-asgi connects to the page's terminal over a websocket. This package never imports
the dashboard: it starts it as a process, with a scrubbed environment, as the session's identity.
Its server packages are the `console` extra; nothing here imports them until `mount_console` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mova_core.http.console.options import ConsoleOptions, missing_packages

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mova_core.http.auth import SessionGate
    from mova_core.settings import Settings

__all__ = ["ConsoleOptions", "missing_packages", "mount_console"]


def mount_console(app: FastAPI, settings: Settings, options: ConsoleOptions) -> SessionGate:
    """Mount the console under `options.prefix`; returns the gate the access middleware checks sessions with."""
    from mova_core.http.console.mount import mount

    return mount(app, settings, options)
