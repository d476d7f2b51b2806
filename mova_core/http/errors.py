"""Every failure becomes the JSON error shape with the right status, in one place.

FastAPI's 422 validation answers become 400 (the specification's clients expect 400 for a bad body
or filter), and the offending input values are never echoed: a rejected retry body may hold secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mova_core.http.responses import error_response, mova_error_response
from mova_core.model.errors import MovaError

log = logging.getLogger("mova.http")


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path") and len(parts) > 1:
        return f"{parts[0]} " + ".".join(parts[1:])
    return ".".join(parts) or "request"


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    """400 with each problem's location and message (never its input value)."""
    details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
               for e in exc.errors()]
    message = "; ".join(f"{_where(tuple(d['loc']))}: {d['msg']}" for d in details[:5]) or "invalid request"
    body_problem = any(d["loc"][:1] == ["body"] for d in details)
    if body_problem and not _is_json(request) and request.headers.get("content-length", "0") != "0":
        message += " (send the body as JSON with 'Content-Type: application/json')"
    return error_response(400, f"invalid request: {message}", "invalid_request", details=details)


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """Every method `path` answers: those of the first route template matching it (a path's
    methods are often separate routes, and the framework's 405 names only one of them)."""
    template, methods = None, {"OPTIONS"}
    for route in routes:
        if not isinstance(route, Route):
            continue
        if template is None and route.path_regex.match(path):
            template = route.path
        if route.path == template:
            methods |= route.methods or set()
    return sorted(methods)


async def http_error(request: Request, exc: HTTPException, routes: Sequence[BaseRoute] = ()) -> Response:
    """Framework errors (unknown path 404, wrong method 405, …) in the same shape; OPTIONS on a
    path that exists answers 204 with its methods."""
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(routes, request.url.path))}
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
    code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
            413: "content_too_large"}.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 400:  # e.g. a body that is not UTF-8 text
        message = f"invalid request: {message[:1].lower()}{message[1:]}"
    elif exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    return error_response(exc.status_code, message, code, headers=headers)


async def mova_error(request: Request, exc: MovaError) -> Response:
    """A core error with its status (`responses.http_status`)."""
    return mova_error_response(exc)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: a generic 500 body (no traceback leaves the server); the server log has the details."""
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(500, "internal server error (see the server log)", "internal_error")


def install(app: FastAPI, routes: Sequence[BaseRoute] = ()) -> None:
    """Register the handlers on an app; `routes`: the API's routes, for the `Allow` header."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, partial(http_error, routes=tuple(routes)))
    app.add_exception_handler(MovaError, mova_error)
    app.add_exception_handler(Exception, unexpected_error)
