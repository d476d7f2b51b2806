"""The local REST shim: the specification's API over `mova_core` (FastAPI is imported only in this package)."""

from mova_core.http.app import create_app

__all__ = ["create_app"]
