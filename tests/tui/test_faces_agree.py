"""The command line and the dashboard agree: the same fields masked the same way, the same status
colours, the same line for the same engine event."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text
from typer.testing import CliRunner

from mova_core.engine.events import ActionStarted, AttemptFailed, LogLine, RunFinished
from mova_core.model.entry import ExecutionResult, RetryResponse
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.modals.progress_modal import ProgressModal
from mova_tui.app.screens.entry_screen import EntryScreen
from mova_tui.cli.events import EventPrinter
from mova_tui.cli.main import app as cli_app
from mova_tui.present.events import describe_event
from mova_tui.present.palette import STATUS_STYLES

from .conftest import DLQ_ARG, frozen_clock, settle

SIZE = (120, 40)
SECRET = "hunter2-db-pa55"
WIDE_ENV = {"NO_COLOR": "1", "COLUMNS": "200"}
ENTRY = "dlq_5ec2e7a1-0000-4000-8000-000000000001"
STATUS_ENTRIES = {
    "active": "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab",
    "resolved": "dlq_f16a0d3c-7b95-4286-a4e1-3d8c9b02e67f",
    "archived": "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3",
    "stale": "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70",
}


@pytest.fixture
def secret_entry(dlq: Path) -> str:
    """A sample entry whose writer left a `db_password` in its variables, its envelope and its action."""
    doc = json.loads((dlq / f"{STATUS_ENTRIES['active']}.json").read_text())
    doc["id"] = ENTRY
    doc["context"]["variables"]["db_password"] = SECRET
    doc["envelope"]["variables"] = {**(doc["envelope"].get("variables") or {}), "db_password": SECRET}
    doc["failed_action"].setdefault("params", {})["db_password"] = SECRET
    (dlq / f"{ENTRY}.json").write_text(json.dumps(doc))
    return ENTRY


def mova(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli_app, ["--dlq-path", str(DLQ_ARG), *args], env=env or WIDE_ENV,
                              catch_exceptions=False)


def rendered(renderable, width: int = 200) -> str:
    """Plain text of a renderable, as a console of `width` columns prints it."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def undated(text: str) -> str:
    return re.sub(r" \(\w+ ago\)", "", text)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


# -- redaction ----------------------------------------------------------------------------------
def test_cli_masks_a_sensitive_variable_in_the_table_and_in_json(secret_entry):
    table = mova("dlq", "show", secret_entry)
    assert table.exit_code == 0, table.output
    assert SECRET not in table.stdout and "[REDACTED]" in table.stdout
    as_json = mova("dlq", "show", secret_entry, "--format", "json")
    assert SECRET not in as_json.stdout
    doc = json.loads(as_json.stdout)
    assert doc["context"]["variables"]["db_password"] == "[REDACTED]"
    assert doc["envelope"]["variables"]["db_password"] == "[REDACTED]"
    assert doc["context"]["variables"]["api_url"] == "https://api.example.com"  # the rest as written


def test_reveal_shows_it_in_both_views(secret_entry):
    table = mova("dlq", "show", secret_entry, "--reveal")
    assert SECRET in table.stdout and "db_password" in table.stdout
    doc = json.loads(mova("dlq", "show", secret_entry, "--format", "json", "--reveal").stdout)
    assert doc["context"]["variables"]["db_password"] == SECRET
    assert "--reveal" in mova("dlq", "show", "--help").stdout


async def test_dashboard_masks_it_and_shows_what_the_cli_shows(app_factory, secret_entry):
    cli_text = mova("dlq", "show", secret_entry).stdout
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(EntryScreen(secret_entry))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EntryScreen) and screen.entry is not None
        head = rendered(screen.query_one("#entry-head").content)
        bodies = {key: rendered(screen.query_one(f"#{key}-body").content)
                  for key in ("error", "context", "retries", "envelope")}
    shown = head + "".join(bodies.values())
    assert SECRET not in shown and "[REDACTED]" in bodies["context"] and "[REDACTED]" in bodies["envelope"]
    assert "[REDACTED]" in bodies["error"]  # the failed action's db_password
    # The same fields: every line of every tab is a line of `mova dlq show`, in the same order.
    cli_lines = lines(cli_text)
    for key, body in bodies.items():
        expected = lines(body)
        assert any(cli_lines[i:i + len(expected)] == expected for i in range(len(cli_lines))), key
    # The head: the same title, and the same facts (a grid in the CLI, one line in the dashboard).
    assert lines(head)[0] == cli_lines[0]
    grid = cli_lines[1:next(i for i, line in enumerate(cli_lines) if line.startswith("Error ─"))]
    facts = [re.split(r"\s{2,}", line, maxsplit=1) for line in grid]
    # (Ages aside: the CLI's clock is the real one, the dashboard's is frozen.)
    assert len(facts) >= 5 and all(undated(f"{name} {value}") in undated(lines(head)[1]) for name, value in facts)


# -- status colours -----------------------------------------------------------------------------
def _style_of(text: Text, word: str, skip: int = 0) -> Style:
    """The style on `word` in `text` (the first place it appears; `skip` characters into it)."""
    start = text.plain.index(word) + skip
    style = Style()
    for span in text.spans:
        if span.start <= start < span.end:
            style += Style.parse(span.style) if isinstance(span.style, str) else span.style
    return style


def _key(style: Style) -> tuple:
    return (style.color.number if style.color else None, bool(style.bold), bool(style.dim))


def _cli_colours(monkeypatch, *args: str) -> Text:
    """What a CLI command prints on a colour terminal, parsed back into styled text."""
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, color_system="standard", width=200, highlight=False)
    from mova_tui.cli.dlq import list as list_module
    from mova_tui.cli.dlq import show as show_module

    for module in (list_module, show_module):
        monkeypatch.setattr(module, "console", lambda err=False: terminal)
    result = mova(*args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return Text.from_ansi(out.getvalue())


async def test_status_colours_are_the_same_in_both_faces(app_factory, dlq, monkeypatch):
    listing = _cli_colours(monkeypatch, "dlq", "list")
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for label, entry_id in STATUS_ENTRIES.items():
            app.push_screen(EntryScreen(entry_id))
            await settle(pilot)
            head = app.screen.query_one("#entry-head").content
            word = "retrying (stale lease)" if label == "stale" else label
            expected = _key(Style.parse(STATUS_STYLES[label]))
            assert _key(_style_of(head, word)) == expected, label
            shown = _cli_colours(monkeypatch, "dlq", "show", entry_id)
            assert _key(_style_of(shown, word)) == expected, label
            row = next(line for line in listing.split("\n") if line.plain.startswith(entry_id[:12]))
            cell = "retrying*" if label == "stale" else label  # the list's own mark for a stale lease
            assert _key(_style_of(row, f" {cell} ", skip=1)) == expected, label
            app.pop_screen()
            await settle(pilot)
    assert len({STATUS_STYLES[s] for s in STATUS_ENTRIES}) == len(STATUS_ENTRIES)  # four distinct colours


# -- event text ---------------------------------------------------------------------------------
EVENTS = [
    ActionStarted("retry_run_x", "fetch", "http_fetch", 2, 3),
    AttemptFailed("retry_run_x", "fetch", 2, "HTTP 503: Service Unavailable", True, 4.0),
    LogLine("retry_run_x", "fetch", "warning", "slow upstream"),
    RunFinished("retry_run_x", "failed", "HTTP 503", "max_retries_exceeded", None, 9.5),
]


class ReplayingService(DLQService):
    """The real service, except that a retry replays the events above and fails."""

    def retry(self, id_or_prefix, *, sandbox_mode=True, overrides=None, wait=True, on_event=None, cancel=None):
        for event in EVENTS:
            on_event(event)
        return RetryResponse(dlq_id=id_or_prefix, retry_run_id="retry_run_x", sandbox_mode=sandbox_mode,
                             execution_result=ExecutionResult(run_id="retry_run_x", status="failed", error="HTTP 503"))

    def independent(self) -> ReplayingService:  # the dashboard's jobs run on an independent service
        return ReplayingService(self.settings, self.store.independent(), clock=self.clock, actor=self.actor,
                                audit=self.audit)


async def test_the_same_event_gives_the_same_line_in_both_faces(app_factory, dlq):
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, width=200, no_color=True, highlight=False), live=False)
    for event in EVENTS:
        printer(event)
    printer.close()
    cli_lines = out.getvalue().splitlines()

    app = app_factory(service=ReplayingService(Settings(dlq_path=DLQ_ARG), clock=frozen_clock))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await pilot.click("#sandbox")
        await settle(pilot)
        progress = app.screen
        assert isinstance(progress, ProgressModal)
        job_lines = [line.strip() for line in progress.job.lines]
    expected = [describe_event(event).plain for event in EVENTS]
    assert cli_lines == expected
    assert all(line.strip() in job_lines for line in expected)
