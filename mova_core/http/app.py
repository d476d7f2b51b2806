"""`create_app`: the FastAPI application over a dead-letter directory (used by `mova serve` and the tests)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import datetime

import anyio
from fastapi import FastAPI

from mova_core import __version__
from mova_core.http import errors
from mova_core.http.access_log import AccessLogMiddleware
from mova_core.http.auth import AccessMiddleware
from mova_core.http.limits import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from mova_core.http.routes import router
from mova_core.ops.pool import ServicePool
from mova_core.settings import Settings

log = logging.getLogger("mova.http")

# FastAPI's native OpenTelemetry would keep request bodies (retry secrets) in its telemetry data and
# export them when a provider is configured: the shim opts out entirely.
_NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                 "auto_configure": False}


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Collection[str] | None = None,
) -> FastAPI:
    """The shim over `settings` (MOVA_* by default).

    Requests borrow services from one `ServicePool` per process (closed at shutdown), acting as the
    caller's identity; `allowed_hosts` limits the Host header (`mova serve` passes the loopback
    names when it listens on loopback). At shutdown, once the server has let running requests finish
    (`mova serve --shutdown-timeout`), the retries still running are cancelled.
    """
    settings = settings or Settings()
    pool = ServicePool(settings, clock=clock)
    retries = RunningRetries()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # The server has already let running requests finish for its graceful timeout: the
            # retries still running are cancelled (their entries go back to active), then waited for.
            await anyio.to_thread.run_sync(retries.stop, CANCEL_WAIT)
            pool.close()

    app = FastAPI(
        lifespan=lifespan,
        title="mova dead-letter queue API",
        version=__version__,
        description="Inspect, retry, archive and delete dead-lettered workflow runs (local REST shim).",
        telemetry=_NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.retries = retries
    errors.install(app, router.routes)
    app.include_router(router)
    # Added last = outermost: access is checked before a body is read at all, and every answer,
    # refusals included, is logged with its request id.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(AccessMiddleware, settings=settings, allowed_hosts=allowed_hosts)
    app.add_middleware(AccessLogMiddleware)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


#: After cancelling the retries still running at shutdown, how long to wait for them to release their entries.
CANCEL_WAIT = 15.0


class RunningRetries:
    """The retries running in this process's requests, so that shutdown can cancel and wait for them."""

    def __init__(self) -> None:
        self._idle = threading.Condition()
        self._running = 0
        #: Given to every retry a request runs; set at shutdown.
        self.cancel = threading.Event()

    def __enter__(self) -> RunningRetries:
        with self._idle:
            self._running += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    @property
    def running(self) -> int:
        return self._running

    def stop(self, timeout: float) -> bool:
        """Cancel the running retries and wait up to `timeout` seconds for them to end; False if some still run."""
        with self._idle:
            if self._running:
                log.info("cancelling %d running retries (their entries go back to active)", self._running)
                self.cancel.set()
            done = self._idle.wait_for(lambda: self._running == 0, timeout)
        if not done:
            log.warning("%d retries still running at shutdown: their leases expire and a later retry "
                        "takes them over", self._running)
        return done


_BEARER = {"type": "http", "scheme": "bearer",
           "description": "MOVA_API_TOKEN (every method) or MOVA_API_READ_TOKEN (GET only); not needed when "
                          "neither is set"}


def _openapi(app: FastAPI) -> dict:
    """The generated document, with the bearer scheme, without the 422 answers FastAPI documents but the
    shim never gives (it says 400)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if "HTTPValidationError" in str(responses.get("422", "")):  # not the shim's own 422
                    del responses["422"]
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        # Every endpoint, /healthz and /metrics included, takes the same bearer token, needed only
        # when one is configured (hence the empty alternative).
        schema.setdefault("components", {})["securitySchemes"] = {"bearer": _BEARER}
        schema["security"] = [{"bearer": []}, {}]
        app.openapi_schema = schema
    return app.openapi_schema
