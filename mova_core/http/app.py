"""`create_app`: the FastAPI application over a dead-letter directory (used by `mova serve` and the tests)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from fastapi import FastAPI

from mova_core import __version__
from mova_core.http import errors
from mova_core.http.auth import AccessMiddleware
from mova_core.http.console import ConsoleOptions, mount_console
from mova_core.http.limits import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from mova_core.http.routes import ServiceFactory, router
from mova_core.ops.service import DLQService
from mova_core.settings import Settings

# FastAPI's native OpenTelemetry would keep request bodies (retry secrets) in its telemetry data and
# export them when a provider is configured: the shim opts out entirely.
_NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                 "auto_configure": False}


def create_app(
    settings: Settings | None = None,
    *,
    service_factory: ServiceFactory | None = None,
    clock: Callable[[], datetime] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Collection[str] | None = None,
    console: ConsoleOptions | None = None,
) -> FastAPI:
    """The shim over `settings` (MOVA_* by default).

    `service_factory(identity)` builds the service a request uses (default: a `DLQService` over the
    settings, acting as the caller's identity); `allowed_hosts` limits the Host header (`mova serve`
    passes the loopback names when it listens on loopback); `console` mounts the web console at
    its prefix (`/dlq`).
    """
    settings = settings or Settings()
    if service_factory is None:
        def service_factory(identity: str) -> DLQService:
            return DLQService(settings, clock=clock, actor=identity)

    app = FastAPI(
        title="mova dead-letter queue API",
        version=__version__,
        description="Inspect, retry, archive and delete dead-lettered workflow runs (local REST shim).",
        telemetry=_NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.service_factory = service_factory
    errors.install(app)
    app.include_router(router)
    sessions = mount_console(app, settings, console) if console is not None else None
    # Added last = outermost: access is checked before a body is read at all.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(AccessMiddleware, settings=settings, allowed_hosts=allowed_hosts, console=sessions)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict:
    """The generated document, without the 422 answers FastAPI documents but the shim never gives (it says 400)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
