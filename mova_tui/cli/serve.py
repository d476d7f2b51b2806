"""`mova serve`: start the local REST shim (FastAPI/uvicorn are imported only when it runs)."""

import json
import os
import sys
from typing import Annotated, Any

import typer

from mova_core.model.hosts import is_loopback, normalize_host
from mova_tui.cli.state import get_state

HTTP_EXTRA_HINT = "pip install 'mova[http]'"
#: Host headers a loopback server answers to (a guard against DNS rebinding), besides --host itself.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: How `mova serve --workers N` hands its options to the worker processes (they build the app themselves).
OPTIONS_VARIABLE = "MOVA_SERVE_OPTIONS"


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on. Anything but loopback needs MOVA_API_TOKEN or --insecure.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")] = 8080,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback --host without any API token.")] = False,
    max_body: Annotated[int, typer.Option(min=0, metavar="BYTES", help="Largest request body accepted, in bytes (larger: 413).")] = 1024 * 1024,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
    workers: Annotated[int, typer.Option(min=1, max=64, metavar="N", help="Worker processes (one per core is plenty); each keeps its own connections.")] = 1,
    shutdown_timeout: Annotated[float, typer.Option(min=0, metavar="SECONDS", help="On SIGTERM or Ctrl-C, how long running requests and retries may take to finish; retries still running are then cancelled.")] = 30.0,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="One line per request with its X-Request-ID.")] = True,
) -> None:
    """Serve the dead-letter queue over HTTP: the specification's /v1/dlq API, /metrics and /healthz.

    With MOVA_API_TOKEN set every request needs 'Authorization: Bearer <token>';
    MOVA_API_READ_TOKEN allows the GET endpoints only.
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        typer.echo(f"mova serve needs the HTTP extra ({exc.name} is not installed): {HTTP_EXTRA_HINT}", err=True)
        raise typer.Exit(2) from None
    from mova_core.http import create_app
    from mova_core.http.auth import tokens_from

    settings = get_state(ctx).settings()
    tokens = tokens_from(settings)
    loopback = is_loopback(host)
    if not loopback and not tokens and not insecure:
        typer.echo(
            f"refusing to listen on {host} without an API token: anyone who can reach it could retry or delete "
            "entries. Set MOVA_API_TOKEN (and optionally MOVA_API_READ_TOKEN), or pass --insecure.",
            err=True,
        )
        raise typer.Exit(2)
    if not settings.dlq_path.is_dir():
        typer.echo(f"warning: dead-letter directory {settings.dlq_path} does not exist; serving an empty queue "
                   "(set MOVA_DLQ_PATH or --dlq-path)", err=True)
    if not loopback and not tokens:
        typer.echo(f"warning: listening on {host} with no API token (--insecure)", err=True)
    allowed_hosts = sorted({*LOOPBACK_NAMES, normalize_host(host)}) if loopback else None
    options = {"max_body_bytes": max_body, "allowed_hosts": allowed_hosts}
    if tokens:
        auth = "bearer token required" + ("; read-only token allows GET only" if "read-only" in tokens else "")
    else:
        auth = "no token: every caller is anonymous"
    shown = f"[{host}]" if ":" in host else host
    plural = f"{workers} workers" if workers > 1 else "1 worker"
    typer.echo(f"mova serve: http://{shown}:{port} over {settings.dlq_path} ({auth}; {plural}); Ctrl-C stops",
               err=True)
    sys.stderr.flush()
    run_options: dict[str, Any] = {
        "host": host, "port": port, "log_level": log_level, "server_header": False, "access_log": False,
        "log_config": log_config(log_level if access_log else "warning"),
        "timeout_graceful_shutdown": shutdown_timeout,
    }
    if workers == 1:
        uvicorn.run(create_app(settings, **options), **run_options)
        return
    # Worker processes import the app from its factory: the settings reach them as MOVA_* variables.
    os.environ["MOVA_DLQ_PATH"] = str(settings.dlq_path.resolve())
    os.environ[OPTIONS_VARIABLE] = json.dumps(options)
    uvicorn.run("mova_tui.cli.serve:app_from_environment", factory=True, workers=workers, **run_options)


def app_from_environment():  # the worker processes' factory (uvicorn imports it by name)
    """The shim as `mova serve` configured it, in a worker process."""
    from mova_core.http import create_app

    return create_app(**json.loads(os.environ.get(OPTIONS_VARIABLE, "{}")))


def log_config(access_level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the shim's own loggers (the access log at `access_level`) on its stderr handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mova.http"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["mova.http.access"] = {"handlers": ["default"], "level": access_level.upper(),
                                             "propagate": False}
    return config
