"""`mova tui --read-only`: the dashboard looks but never touches, and says so."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from mova_core.settings import Settings
from mova_tui.app import make_app
from mova_tui.app.modals.export_modal import ExportModal
from mova_tui.app.modals.retry_modal import RetryModal
from mova_tui.app.screens.dashboard_screen import DashboardScreen
from mova_tui.app.screens.entry_screen import EntryScreen
from mova_tui.cli.main import app as cli

from .conftest import DLQ_ARG, frozen_clock, settle


def digest(directory: Path) -> str:
    """Every entry file's bytes, so any change at all shows."""
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(directory.glob("*.json")))).hexdigest()


def warnings_of(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "warning"]


async def test_read_only_dashboard_refuses_every_change(dlq):
    before = digest(dlq)
    app = make_app(settings=Settings(dlq_path=DLQ_ARG), clock=frozen_clock, watch=False, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "read-only" in app.title
        for key in ("r", "a", "o", "d", "x", "space", "r"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen), key  # no retry, confirm or export dialog
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EntryScreen)  # reading still works
        for key in ("r", "a", "o", "d"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, EntryScreen), key
    said = warnings_of(app)
    assert any("retrying is not allowed" in m for m in said)
    assert any("archiving is not allowed" in m for m in said)
    assert any("deleting is not allowed" in m for m in said)
    assert any("reopening is not allowed" in m for m in said)
    assert any("exporting to the server's disk is not allowed" in m for m in said)
    assert digest(dlq) == before
    assert not (dlq / ".mova" / "audit.jsonl").exists() or (dlq / ".mova" / "audit.jsonl").read_text() == ""


async def test_the_same_keys_open_their_dialogs_when_not_read_only(dlq):
    app = make_app(settings=Settings(dlq_path=DLQ_ARG), clock=frozen_clock, watch=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RetryModal)
        await pilot.press("escape")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExportModal)


def test_tui_help_names_read_only():
    result = CliRunner().invoke(cli, ["tui", "--help"], env={"COLUMNS": "200"})
    assert "--read-only" in result.output
