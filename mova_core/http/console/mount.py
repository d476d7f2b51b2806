"""The console's routes under the shim: the pages, log-in and log-out, the session websocket, the static files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import textual_serve_asgi
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from mova_core.http.auth import match_token, tokens_from
from mova_core.http.console.cookies import SessionCookies
from mova_core.http.console.options import ConsoleOptions
from mova_core.http.console.pages import login_page, terminal_page
from mova_core.http.console.processes import dashboard_command
from mova_core.http.console.sessions import Sessions
from mova_core.settings import Settings

STATIC = Path(textual_serve_asgi.__file__).resolve().parent / "static"


class Console:
    """The console's pages and sessions over one dead-letter directory."""

    def __init__(self, settings: Settings, options: ConsoleOptions):
        self.settings = settings
        self.options = options
        self.prefix = options.prefix.rstrip("/")
        self.cookies = SessionCookies(tokens_from(settings), self.prefix, options.session_lifetime)
        self.sessions = Sessions(options, lambda identity: dashboard_command(settings, identity, options.command))

    def asgi(self) -> Starlette:
        return Starlette(routes=[
            Route("/", self.index, methods=["GET", "HEAD"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            WebSocketRoute("/ws", self.sessions.serve),
            Mount("/static", StaticFiles(directory=STATIC)),
        ])

    async def index(self, request: Request) -> Response:
        """The terminal for a session, the log-in form for anyone else."""
        if request.scope["state"].get("identity") is None:
            return login_page(self.prefix, self.options.session_lifetime)
        return terminal_page(self.prefix, f"mova — {self.settings.dlq_path}")

    async def login(self, request: Request) -> Response:
        """Check the posted token in constant time; a session cookie for the identity it proves."""
        if not self.cookies.tokens:
            return RedirectResponse(self.prefix + "/", 303)
        try:
            fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
        except ValueError:  # more fields than the form has: not our form
            fields = {}
        presented = (fields.get("token") or [""])[0].strip().encode()
        identity = match_token(presented, self.cookies.tokens)
        if identity is None:
            return login_page(self.prefix, self.options.session_lifetime, "That token is not valid.", 401)
        response = RedirectResponse(self.prefix + "/", 303)
        response.headers["Set-Cookie"] = self.cookies.issue(identity, secure=request.url.scheme == "https")
        return response

    async def logout(self, request: Request) -> Response:
        """End the session in the request's cookie and clear it."""
        response = RedirectResponse(self.prefix + "/", 303)
        response.headers["Set-Cookie"] = self.cookies.end(request.headers.get("cookie"),
                                                          secure=request.url.scheme == "https")
        return response


def mount(app: FastAPI, settings: Settings, options: ConsoleOptions) -> SessionCookies:
    """Mount the console on `app`; its cookies are the gate the access middleware checks."""
    console = Console(settings, options)
    app.mount(console.prefix, console.asgi())
    app.state.console = console
    return console.cookies
