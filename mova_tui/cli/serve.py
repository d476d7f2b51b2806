"""`mova serve`: start the local REST shim (FastAPI/uvicorn are imported only when it runs)."""


def serve_command() -> None:
    """Start the HTTP shim (being built)."""
    raise SystemExit("mova serve: not built yet")
