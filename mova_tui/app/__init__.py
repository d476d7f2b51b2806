"""The Textual dashboard (`mova tui`): a thin view over `mova_core.service.DLQService`."""

from .app import MovaApp, make_app

__all__ = ["MovaApp", "make_app"]
