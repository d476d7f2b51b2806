"""`mova serve`: start the local REST shim (FastAPI/uvicorn are imported only when it runs)."""

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mova_core.model.hosts import is_loopback, normalize_host
from mova_tui.cli.state import get_state

#: The checkout this code runs from, when it runs from one (an editable install, or `python -m` in it).
SOURCE_TREE = Path(__file__).resolve().parents[2]


def http_extra_hint(source_tree: Path = SOURCE_TREE, cwd: Path | None = None) -> str:
    """How to install the HTTP extra: from a checkout `pip install -e '.[http]'` (the name `mova` on an
    index is another project's), else the distribution's extra."""
    if not (source_tree / "pyproject.toml").is_file() or not (source_tree / "mova_core").is_dir():
        return "pip install 'mova[http]'"
    here = (cwd or Path.cwd()).resolve() == source_tree
    return "pip install -e '.[http]'" + ("" if here else f" (in {source_tree})")


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
    console: Annotated[bool, typer.Option("--console", help="Serve the dashboard in the browser at /dlq (the console extra).")] = False,
    console_sessions: Annotated[int, typer.Option(min=1, max=256, metavar="N", help="Console sessions (tabs, one dashboard process each) open at once.")] = 4,
    console_idle: Annotated[float, typer.Option(min=0, metavar="SECONDS", help="Close a console session after this long without input (0: never).")] = 900.0,
    proxy_headers: Annotated[bool, typer.Option("--proxy-headers", help="Trust X-Forwarded-Proto/-For from --forwarded-allow-ips (behind a reverse proxy).")] = False,
    forwarded_allow_ips: Annotated[str, typer.Option(metavar="IPS", help="Comma-separated proxy addresses trusted with --proxy-headers ('*' for any).")] = "127.0.0.1",
    allowed_host: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Also answer to this Host header (the public name behind a proxy); repeatable.")] = None,
) -> None:
    """Serve the dead-letter queue over HTTP: the specification's /v1/dlq API, /metrics and /healthz.

    With MOVA_API_TOKEN set every request needs 'Authorization: Bearer <token>';
    MOVA_API_READ_TOKEN allows the GET endpoints only. --console adds the dashboard at /dlq,
    behind a log-in form when a token is set.
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        typer.echo(f"mova serve needs the HTTP extra ({exc.name} is not installed): {http_extra_hint()}", err=True)
        raise typer.Exit(2) from None
    from mova_core.http import create_app
    from mova_core.http.auth import tokens_from
    from mova_core.http.console import ConsoleOptions, missing_packages
    from mova_core.http.console.options import CONSOLE_EXTRA_HINT

    if console and missing_packages():
        typer.echo(f"mova serve --console needs the console extra ({', '.join(missing_packages())} not installed): "
                   f"{CONSOLE_EXTRA_HINT}", err=True)
        raise typer.Exit(2)

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
    if settings.file_store and not settings.dlq_path.is_dir():
        typer.echo(f"warning: dead-letter directory {settings.dlq_path} does not exist; serving an empty queue "
                   "(set MOVA_DLQ_PATH or --dlq-path)", err=True)
    if not loopback and not tokens:
        typer.echo(f"warning: listening on {host} with no API token (--insecure)", err=True)
    extra_hosts = {normalize_host(name) for name in allowed_host or ()}
    allowed_hosts = sorted({*LOOPBACK_NAMES, normalize_host(host), *extra_hosts}) if loopback or extra_hosts else None
    options: dict[str, Any] = {"max_body_bytes": max_body, "allowed_hosts": allowed_hosts}
    if console and workers > 1:
        typer.echo("mova serve --console runs one worker (each browser tab's session lives in its process): "
                   "drop --workers or the console", err=True)
        raise typer.Exit(2)
    if tokens:
        auth = "bearer token required" + ("; read-only token allows GET only" if "read-only" in tokens else "")
    else:
        auth = "no token: every caller is anonymous"
    shown = f"[{host}]" if ":" in host else host
    plural = f"{workers} workers" if workers > 1 else "1 worker"
    typer.echo(f"mova serve: http://{shown}:{port} over {settings.dlq_path} ({auth}; {plural}); Ctrl-C stops",
               err=True)
    if console:
        login = "log in with the API token" if tokens else "no token, so no log-in"
        typer.echo(f"web console: http://{shown}:{port}/dlq ({login}; README 'Web console')", err=True)
    sys.stderr.flush()
    run_options: dict[str, Any] = {
        "host": host, "port": port, "log_level": log_level, "server_header": False, "access_log": False,
        "log_config": log_config(log_level if access_log else "warning"),
        "timeout_graceful_shutdown": shutdown_timeout,
        "proxy_headers": proxy_headers, "forwarded_allow_ips": forwarded_allow_ips,
    }
    if workers == 1:
        sessions = ConsoleOptions(max_sessions=console_sessions, idle_timeout=console_idle) if console else None
        uvicorn.run(create_app(settings, console=sessions, **options), **run_options)
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
