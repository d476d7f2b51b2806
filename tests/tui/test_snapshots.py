"""SVG snapshots of the dashboard (frozen clock, a fixed copy of sample_state, watcher off).

Stored under snapshots/tui/test_snapshots/; update with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import RichLog

from mova_core.settings import Settings
from mova_tui.app import make_app

from .conftest import DLQ_ARG, frozen_clock, settle

WIDE = (120, 40)
MEDIUM = (120, 35)
SMALL = (80, 24)


def _steps(*keys: str):
    """A run_before that waits for the data, presses keys, and waits again after each."""

    async def run(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        # A blinking cursor would be caught on or off depending on timing: keep it steadily on.
        for widget in pilot.app.screen.query("Input, TextArea"):
            widget.cursor_blink = False
        # A log follows its end a refresh after its last lines render, which a snapshot may beat: the
        # picture is of the log at its end, as it settles (the layout tests check the following itself).
        for log in pilot.app.screen.query(RichLog):
            await pilot.pause()
            log.scroll_end(animate=False, immediate=True)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run


def test_dashboard(snap_compare, app_factory, dlq):
    """The sample queue, newest first, with the statistics panel."""
    assert snap_compare(app_factory(), terminal_size=WIDE, run_before=_steps())


def test_dashboard_selection_and_filter(snap_compare, app_factory, dlq):
    """Two rows selected, then a status filter typed in the search box."""
    assert snap_compare(app_factory(), terminal_size=WIDE,
                        run_before=_steps("space", "space", "slash", *"timeout", "enter"))


def test_details(snap_compare, app_factory, dlq):
    """The details screen of the third entry (the error tab)."""
    assert snap_compare(app_factory(), terminal_size=WIDE, run_before=_steps("down", "down", "enter"))


def test_delete_confirmation(snap_compare, app_factory, dlq):
    """The delete confirmation for the entry under the cursor."""
    assert snap_compare(app_factory(), terminal_size=WIDE, run_before=_steps("d"))


def test_empty_state(snap_compare, tmp_path):
    """No directory: how to point mova at one."""
    app = make_app(settings=Settings(dlq_path=Path("state/deadletter")), clock=frozen_clock, watch=False)
    assert snap_compare(app, terminal_size=WIDE, run_before=_steps())


def test_small_terminal(snap_compare, app_factory, dlq):
    """80×24: the statistics panel folds away (i shows it), every column still fits."""
    assert snap_compare(app_factory(), terminal_size=SMALL, run_before=_steps())


def test_retry_dialog_small(snap_compare, app_factory, dlq):
    """80×24: the retry dialog pre-filled with the entry's variables, its secret missing, its own footer."""
    assert snap_compare(app_factory(), terminal_size=SMALL, run_before=_steps("r"))


def test_retry_dialog_medium(snap_compare, app_factory, dlq):
    """120×35: the same, one value changed: marked, and listed as an override."""
    assert snap_compare(app_factory(), terminal_size=MEDIUM,
                        run_before=_steps("r", "ctrl+a", "ctrl+k", *"https://staging.example.com"))


def test_filter_dialog_small(snap_compare, app_factory, dlq):
    """80×24: the filter dialog, its Status and Workflow type dropdowns visible."""
    assert snap_compare(app_factory(), terminal_size=SMALL, run_before=_steps("f"))


def test_filter_dialog_medium(snap_compare, app_factory, dlq):
    """120×35: the filter dialog with the status dropdown open."""
    assert snap_compare(app_factory(), terminal_size=MEDIUM, run_before=_steps("f", "enter"))


def test_retries_tab_small(snap_compare, app_factory, dlq):
    """80×24: the Retries tab of an entry retried three times, every line readable."""
    assert snap_compare(app_factory(), terminal_size=SMALL, run_before=_steps(*["down"] * 7, "enter", "3"))


def test_retries_tab_medium(snap_compare, app_factory, dlq):
    """120×35: the same tab (below ~180 columns its error column was once one letter wide)."""
    assert snap_compare(app_factory(), terminal_size=MEDIUM, run_before=_steps(*["down"] * 7, "enter", "3"))


def _chatty_app():
    from .test_layout import ChattyService

    return make_app(service=ChattyService(Settings(dlq_path=DLQ_ARG), clock=frozen_clock), clock=frozen_clock,
                    watch=False)


def test_progress_window_small(snap_compare, dlq):
    """80×24: a finished retry's window: the log (wrapped, several lines), the result apart, the keys."""
    assert snap_compare(_chatty_app(), terminal_size=SMALL, run_before=_steps("r", "enter"))


def test_progress_window_medium(snap_compare, dlq):
    """120×35: the same window."""
    assert snap_compare(_chatty_app(), terminal_size=MEDIUM, run_before=_steps("r", "enter"))
