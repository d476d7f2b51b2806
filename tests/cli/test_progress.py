"""The first scan of a big directory shows a progress bar on a terminal, and nothing otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from mova_core.ops.service import build_service
from mova_tui.cli import output, state


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_refresh_shows_a_bar_on_a_terminal_for_a_large_scan(sample_dlq, monkeypatch):
    screen = FakeTTY()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr(state, "PROGRESS_MIN_FILES", 10)  # the sample's 16 files count as large here
    monkeypatch.setattr(output, "console", lambda err=False: Console(file=screen, force_terminal=True, width=80))
    assert state.refresh_with_progress(build_service(str(sample_dlq)), full=True)
    assert "indexing" in screen.getvalue() and "16/16" in screen.getvalue()


def test_refresh_is_silent_off_a_terminal_or_for_a_small_scan(sample_dlq, monkeypatch):
    screen = FakeTTY()
    monkeypatch.setattr("sys.stderr", screen)
    assert state.refresh_with_progress(build_service(str(sample_dlq)), full=True)  # 16 < 1000 files
    assert screen.getvalue() == ""
