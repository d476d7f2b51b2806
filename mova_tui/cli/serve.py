"""`mova serve`: start the local REST shim (FastAPI/uvicorn are imported only when it runs)."""

import sys
from typing import Annotated

import typer

from mova_core.model.hosts import is_loopback, normalize_host
from mova_tui.cli.state import get_state

HTTP_EXTRA_HINT = "pip install 'mova[http]'"
#: Host headers a loopback server answers to (a guard against DNS rebinding), besides --host itself.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on. Anything but loopback needs MOVA_API_TOKEN or --insecure.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")] = 8080,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback --host without any API token.")] = False,
    max_body: Annotated[int, typer.Option(min=0, metavar="BYTES", help="Largest request body accepted, in bytes (larger: 413).")] = 1024 * 1024,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
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
        typer.echo(f"mova serve needs the HTTP extra ({exc.name} is not installed): {HTTP_EXTRA_HINT}", err=True)
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
    if not settings.dlq_path.is_dir():
        typer.echo(f"warning: dead-letter directory {settings.dlq_path} does not exist; serving an empty queue "
                   "(set MOVA_DLQ_PATH or --dlq-path)", err=True)
    if not loopback and not tokens:
        typer.echo(f"warning: listening on {host} with no API token (--insecure)", err=True)
    extra_hosts = {normalize_host(name) for name in allowed_host or ()}
    allowed_hosts = {*LOOPBACK_NAMES, normalize_host(host), *extra_hosts} if loopback or extra_hosts else None
    options = ConsoleOptions(max_sessions=console_sessions, idle_timeout=console_idle) if console else None
    app = create_app(settings, max_body_bytes=max_body, allowed_hosts=allowed_hosts, console=options)
    if tokens:
        auth = "bearer token required" + ("; read-only token allows GET only" if "read-only" in tokens else "")
    else:
        auth = "no token: every caller is anonymous"
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"mova serve: http://{shown}:{port} over {settings.dlq_path} ({auth}); Ctrl-C stops", err=True)
    if console:
        login = "log in with the API token" if tokens else "no token, so no log-in"
        typer.echo(f"web console: http://{shown}:{port}/dlq ({login}; README 'Web console')", err=True)
    sys.stderr.flush()
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False,
                proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips)
