"""The Textual dashboard (`mova tui`): a thin view over `mova_core.ops.service.DLQService`."""

from mova_tui.app.app import MovaApp, make_app

__all__ = ["MovaApp", "make_app"]
