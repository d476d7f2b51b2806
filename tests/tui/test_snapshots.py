"""SVG snapshots of the dashboard (frozen clock, a fixed copy of sample_state, watcher off).

Stored under snapshots/tui/test_snapshots/; update with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

from mova_core.settings import Settings
from mova_tui.app import make_app

from .conftest import frozen_clock, settle

WIDE = (120, 40)
SMALL = (80, 24)


def _steps(*keys: str):
    """A run_before that waits for the data, presses keys, and waits again after each."""

    async def run(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

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


def test_retry_modal(snap_compare, app_factory, dlq):
    """The retry modal over the dashboard: sandbox focused, empty override rows."""
    assert snap_compare(app_factory(), terminal_size=WIDE, run_before=_steps("r"))


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


def test_small_terminal_retry_modal(snap_compare, app_factory, dlq):
    """80×24: the retry modal still shows both retry buttons."""
    assert snap_compare(app_factory(), terminal_size=SMALL, run_before=_steps("r"))
