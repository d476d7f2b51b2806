"""The dashboard's pure helpers: windows read from the nearer end, event lines, filters; NO_COLOR."""

from __future__ import annotations

from pathlib import Path

from mova_core.engine.events import (
    ActionFinished,
    ActionStarted,
    AttemptFailed,
    LogLine,
    RunFinished,
)
from mova_core.model.listing import EntryFilter
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.filters import FilterState, check_time
from mova_tui.app.widgets.queue_view import list_window
from mova_tui.present.events import describe_event
from mova_tui.present.text import short_id, shorten

from .conftest import FROZEN_NOW, settle


def test_window_from_the_far_end_is_the_same_window(dlq: Path):
    service = DLQService(Settings(dlq_path=dlq))
    for sort in ("created_at", "workflow_type", "attempts", "status"):
        for descending in (True, False):
            for offset in range(0, 16, 3):
                flt = EntryFilter(sort=sort, descending=descending, offset=offset, limit=5)
                plain = [i.id for i in service.list(flt).items]
                assert [i.id for i in list_window(service, flt, 16).items] == plain, (sort, descending, offset)
    # A stale total (the list changed size) falls back to the plain query.
    flt = EntryFilter(offset=12, limit=5)
    assert [i.id for i in list_window(service, flt, 20).items] == [i.id for i in service.list(flt).items]


def line(event) -> str:
    return describe_event(event).plain


def test_event_lines():
    assert line(ActionStarted("r", "fetch", "http_fetch", 2, 5)) == "  ▶ fetch (http_fetch) attempt 2/5"
    failed = line(AttemptFailed("r", "fetch", 2, "HTTP 503", True, 4.0))
    assert "attempt 2 failed: HTTP 503" in failed and "next attempt in 4.0s" in failed
    assert "not retryable" in line(AttemptFailed("r", "fetch", 1, "HTTP 400", False, None))
    assert "✓ fetch completed after 1 attempt(s)" in line(ActionFinished("r", "fetch", "completed", 1, 0.2))
    assert line(RunFinished("r", "failed", "boom", "max_retries_exceeded", None, 1.0)).startswith("■ run failed")
    assert line(LogLine("r", "greet", "info", "Hello, Ada!")) == "    greet: Hello, Ada!"
    assert line(LogLine("r", None, "warning", "records lag")) == "    warning: records lag"
    # Anything without a known kind is not worth a line (no test-only string events).
    assert describe_event("a plain string") is None and describe_event(object()) is None


def test_text_helpers_and_filter_state():
    assert short_id("dlq_3f9a2c71-8e4b") == "3f9a2c71" and short_id("5c91d7e4-3a0b") == "5c91d7e4"
    assert shorten("a  b\nc", 10) == "a b c" and shorten("abcdef", 4) == "abc…"
    state = FilterState(status="active", since="2h", text=" timeout ")
    flt = state.to_entry_filter(FROZEN_NOW, offset=5, limit=10)
    assert flt.status.value == "active" and flt.text == "timeout" and flt.offset == 5
    assert (FROZEN_NOW - flt.since).total_seconds() == 7200
    assert state.active and not state.cleared().active and state.cleared().sort == state.sort
    assert check_time("2026-11-20", FROZEN_NOW) is None and "RFC 3339" in check_time("last tuesday", FROZEN_NOW)


async def test_no_color_is_respected(monkeypatch, app_factory, dlq):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color
        # Every screen and modal renders without colour (a style-less segment once crashed here).
        for keys in (["enter", "2", "3", "4", "escape"], ["r", "escape"], ["d", "n"], ["f", "escape"],
                     ["x", "escape"], ["question_mark", "escape"], ["o", "n"], ["exclamation_mark", "escape"], ["i"]):
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
        assert app.return_code is None and len(app.screen_stack) == 2
