"""What the README promises at 80×24 (and checks at 120×35): nothing cut off, nothing covering a button.

Each test looks at where the widgets are on screen (their regions), at both sizes.
"""

from __future__ import annotations

import pytest
from rich.console import Console
from textual.widgets import Button, RichLog, Select, Static

from mova_core.engine.events import LogLine
from mova_core.model.entry import ExecutionResult, RetryResponse
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.modals.filter_modal import FilterModal
from mova_tui.app.modals.progress_modal import ProgressModal
from mova_tui.app.screens.entry_screen import EntryScreen

from .conftest import DLQ_ARG, frozen_clock, settle

SIZES = [(80, 24), (120, 35)]
WITH_RETRIES = "dlq_f16a0d3c-7b95-4286-a4e1-3d8c9b02e67f"
LONG = ("Archived 2,000 entries; results in /var/lib/mova/state/deadletter/.mova/bulk/archive-20261128-120000.jsonl "
        "and 3 skipped or refused: each is named in that file with the reason")


def footer_keys(app) -> dict[str, object]:
    from textual.widgets._footer import FooterKey

    return {key.description: key for key in app.screen.query(FooterKey)}


def visible(widget, size) -> bool:
    region = widget.region
    return region.width > 0 and region.height > 0 and region.right <= size[0] and region.bottom <= size[1]


def toasts(app) -> list:
    return list(app.screen.query("Toast"))


@pytest.mark.parametrize("size", SIZES)
async def test_the_footer_shows_every_operation(app_factory, dlq, size):
    app = app_factory()
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        keys = footer_keys(app)
        for description in ("Open", "Select", "Retry", "Archive", "Reopen", "Delete", "Export", "Help", "Quit"):
            assert description in keys and visible(keys[description], size), description


@pytest.mark.parametrize("size", SIZES)
async def test_the_filter_dialog_shows_its_dropdowns_and_no_notification_covers_its_buttons(app_factory, dlq, size):
    app = app_factory()
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, FilterModal)
        for select, prompt in (("#status", "any status"), ("#type", "any type")):
            widget = modal.query_one(select, Select)
            assert visible(widget, size) and widget.region.height >= 1, select
            assert prompt in str(widget.query_one("SelectCurrent Static#label").render())
        app.notify(LONG, title="Archive 2,000 entries", timeout=30)
        app.notify("Sorted by type", timeout=30)
        await settle(pilot)
        assert toasts(app)
        buttons = [modal.query_one(f"#{name}", Button) for name in ("apply", "clear", "cancel")]
        for toast in toasts(app):
            for button in buttons:
                assert not toast.region.overlaps(button.region), (toast.region, button.id, button.region)
        # The status dropdown opens with every status in it.
        await pilot.press("enter")
        await settle(pilot)
        overlay = modal.query_one("SelectOverlay")
        assert overlay.option_count == 5 and overlay.region.height >= 5  # the prompt and four statuses


@pytest.mark.parametrize("size", SIZES)
async def test_the_retries_tab_is_readable(app_factory, dlq, size):
    app = app_factory()
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        app.push_screen(EntryScreen(WITH_RETRIES))
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        body = app.screen.query_one("#retries-body", Static)
        assert visible(body, size) and body.region.width >= size[0] - 4
        console = Console(width=body.region.width, record=True, file=open("/dev/null", "w"), color_system=None)
        console.print(body.content)
        lines = [line.strip() for line in console.export_text().splitlines()]
        # Each retry's outcome, error and overrides on one line each, not a letter per line.
        assert "action timed out after 10s" in lines
        assert "overrides: pager_url, pager_token (secret)" in lines
        assert max(map(len, lines)) > 40 and sum(len(line) == 1 for line in lines) == 0


class ChattyService(DLQService):
    """A retry that logs many lines and fails with a long error, as a real one against a broken upstream."""

    def independent(self) -> ChattyService:
        return ChattyService(self.settings, self.store.independent(), clock=self.clock, actor=self.actor,
                             audit=self.audit)

    def retry(self, id_or_prefix, *, sandbox_mode=True, overrides=None, wait=True, on_event=None, cancel=None):
        for n in range(40):
            on_event(LogLine("retry_run_x", "fetch", "info", f"line {n}: " + "upstream said no " * 4))
        return RetryResponse(dlq_id=id_or_prefix, retry_run_id="retry_run_x", sandbox_mode=sandbox_mode,
                             execution_result=ExecutionResult(run_id="retry_run_x", status="failed", error=LONG * 2))


@pytest.mark.parametrize("size", SIZES)
async def test_the_progress_window_keeps_its_log_and_its_result_apart(app_factory, dlq, size):
    app = app_factory(service=ChattyService(Settings(dlq_path=DLQ_ARG), clock=frozen_clock))
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        window = app.screen
        assert isinstance(window, ProgressModal) and window.job.finished
        log, result = window.query_one(RichLog), window.query_one("#result")
        close = window.query_one("#close", Button)
        assert log.region.height >= 5 and visible(result, size) and visible(close, size)
        assert not log.region.overlaps(result.region) and not result.region.overlaps(close.region)
        assert log.virtual_size.width <= log.scrollable_content_region.width  # wrapped, no sideways scrolling
        # The window shows the result; no notification lies over it.
        assert not toasts(app)
        keys = footer_keys(app)
        assert "Quit (stops the job)" in keys and visible(keys["Hide (the job goes on)"], size)
