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
                     ["x", "escape"], ["question_mark", "escape"], ["i"]):
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
        assert app.return_code is None and len(app.screen_stack) == 2


def _terminal_stream(app) -> str:
    """What Textual writes to the terminal for the whole screen as it is now."""
    return app.screen._compositor.render_full_update().render_segments(app.console)


async def test_details_head_retry_progress_and_filters_carry_no_control(app_factory, dlq):
    """An entry whose names, errors and server hold escapes and line breaks: its details head stays one
    title line, and no control reaches the terminal from the head, the retry progress window, its
    notification, or the filter dialog and bar that name its workflow type."""
    from textual.widgets import Select

    from mova_tui.app.modals.export_modal import ExportModal
    from mova_tui.app.modals.filter_modal import FilterModal
    from mova_tui.app.modals.progress_modal import ProgressModal
    from mova_tui.app.modals.retry_modal import RetryModal
    from mova_tui.app.screens.entry_screen import EntryScreen
    from tests.cli.conftest import closed_port_url
    from tests.hostile_text import TEXTUAL_CONTROLS, assert_inert_terminal, hostile_entry, hostile_server, write_entry

    def inert(where: str) -> None:
        assert_inert_terminal(_terminal_stream(app), where, TEXTUAL_CONTROLS)

    entry_id = "dlq_0e5c0e5c-1b1b-4d4d-8e8e-000000000001"
    with hostile_server() as url:
        doc = hostile_entry(entry_id, url, closed_port_url(), created_at="2026-11-28T11:00:00Z")
        write_entry(dlq, doc)
        app = app_factory()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            inert("the list")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, EntryScreen) and app.screen.entry_id == entry_id
            head = str(app.screen.query_one("#entry-head").render()).splitlines()
            assert len(head) == 2 and "active" in head[0] and "\\n\\t\\rtype" in head[0], head  # title, facts
            inert("the details")
            await pilot.press("r")
            await settle(pilot)
            assert isinstance(app.screen, RetryModal)
            await pilot.click("#sandbox")
            await settle(pilot, rounds=6)
            assert isinstance(app.screen, ProgressModal) and app.screen.job.finished
            assert any("server says" in line for line in app.screen.job.lines)
            inert("the retry's progress window and its notification")
            await pilot.press("escape", "escape")
            await settle(pilot)
            await pilot.press("f")
            await settle(pilot)
            assert isinstance(app.screen, FilterModal)
            app.screen.query_one("#type", Select).value = doc["metadata"]["workflow_type"]
            await settle(pilot)
            inert("the filter dialog")
            await pilot.click("#apply")
            await settle(pilot)
            inert("the filter bar")
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ExportModal)
            inert("the export dialog, which names the filters")
            assert app.return_code is None
