"""The dashboard driven with Textual's Pilot on a copy of the sample directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from textual.widgets import Input, Select, TextArea

from mova_core.engine.events import LogLine
from mova_core.model.entry import EntryStatus, ExecutionResult, RetryResponse
from mova_core.model.errors import EntryNotFound
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app.modals.confirm_modal import ConfirmModal
from mova_tui.app.modals.filter_modal import FilterModal
from mova_tui.app.modals.help_modal import HelpModal
from mova_tui.app.modals.progress_modal import ProgressModal
from mova_tui.app.modals.retry_modal import RetryModal
from mova_tui.app.screens.dashboard_screen import DashboardScreen
from mova_tui.app.screens.entry_screen import EntryScreen
from mova_tui.app.widgets.empty_state import EmptyState
from mova_tui.app.widgets.entry_table import EntryTable
from mova_tui.app.widgets.overrides_editor import OverrideRow

from .conftest import DLQ_ARG, frozen_clock, settle

SIZE = (120, 40)
NEWEST = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"
GROUP_TOP = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18"


def table_of(app) -> EntryTable:
    return app.screen_stack[1].query_one(EntryTable) if len(app.screen_stack) > 1 else app.screen.query_one(EntryTable)


def dashboard(app) -> DashboardScreen:
    return next(s for s in app.screen_stack if isinstance(s, DashboardScreen))


def plain(widget) -> str:
    """A Static's content as plain text (Rich renderables included)."""
    from rich.console import Console

    console = Console(width=118, record=True, file=open("/dev/null", "w"), color_system=None)
    console.print(widget.content)
    return console.export_text()


def status_text(app) -> str:
    return str(dashboard(app).query_one("#status").render())


async def test_lists_entries_newest_first_with_window(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        assert table.total == 16
        assert table.rows[0].id == NEWEST
        assert [r.created_ts for r in table.rows] == sorted((r.created_ts for r in table.rows), reverse=True)
        # The table holds a window sized to the screen, never more than a few pages.
        assert len(table.rows) <= max(60, 3 * table.page_rows)
        assert "1–16 of 16" in status_text(app)
        await pilot.press("down", "down")
        assert table.cursor == 2


async def test_search_and_filters_combine_and_clear(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"network timeout", "enter")
        await settle(pilot)
        assert table.total == 5
        assert all("network timeout" in r.last_error for r in table.rows)

        await pilot.press("f")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, FilterModal)
        modal.query_one("#status", Select).value = "active"
        modal.query_one("#since", Input).value = "yesterday"
        await pilot.pause()
        assert "RFC 3339" in str(modal.query_one("#since-error").render())
        modal.query_one("#since", Input).value = "13d"
        await pilot.pause()
        await pilot.click("#apply")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        # network timeout AND active AND created in the last 13 days (the group spans 12d–16d).
        assert table.total == 2
        assert {r.status for r in table.rows} == {EntryStatus.active}
        summary = str(app.screen.query_one("#filter-summary").render())
        assert "status=active" in summary and "since=13d" in summary

        await pilot.press("c")
        await settle(pilot)
        assert table.total == 16
        assert app.screen.query_one("#search", Input).value == ""


async def test_sort_by_header_click_and_keys(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("s")  # created → workflow type
        await settle(pilot)
        assert dashboard(app).filters.sort == "workflow_type"
        types = [r.workflow_type for r in table.rows]
        assert types == sorted(types)
        await pilot.press("S")
        await settle(pilot)
        assert [r.workflow_type for r in table.rows] == sorted(types, reverse=True)
        # Clicking the ATT header sorts by attempts.
        await pilot.click(EntryTable, offset=(1 + 1 + 8 + 1 + 15 + 1 + 8 + 1 + 1, 0))
        await settle(pilot)
        assert dashboard(app).filters.sort == "attempts"


async def test_open_details_and_copy_id(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EntryScreen)
        assert screen.entry is not None and screen.entry.id == NEWEST
        head = str(screen.query_one("#entry-head").render())
        assert NEWEST in head and "data-processing" in head
        error = plain(screen.query_one("#error-body"))
        assert "Error history" in error and "Failed action" in error
        await pilot.press("2")
        assert "Results per action" in plain(screen.query_one("#context-body"))
        await pilot.press("4")
        assert '"intent"' in plain(screen.query_one("#envelope-body"))
        await pilot.press("y")
        assert app.clipboard == NEWEST
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        # The mouse: a click moves the cursor, a double click opens the row.
        await pilot.click(EntryTable, offset=(12, 3))
        assert table_of(app).cursor == 2
        await pilot.click(EntryTable, offset=(12, 3), times=2)
        await settle(pilot)
        assert isinstance(app.screen, EntryScreen) and app.screen.entry_id == table_of(app).rows[2].id


class RecordingService(DLQService):
    """The real service, except that retry records its arguments and replays an engine event.

    `independent()` (what the app's jobs run on) gives another recording service over its own store
    connection, recording into the same list, as the real one gives another real service.
    """

    def __init__(self, *args, calls: list[dict] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[dict] = [] if calls is None else calls

    def independent(self) -> RecordingService:
        return RecordingService(self.settings, self.store.independent(), clock=self.clock, actor=self.actor,
                                audit=self.audit, calls=self.calls)

    def retry(self, id_or_prefix, *, sandbox_mode=True, overrides=None, wait=True, on_event=None, cancel=None):
        self.calls.append({"id": id_or_prefix, "sandbox_mode": sandbox_mode, "overrides": overrides, "wait": wait})
        if on_event is not None:
            on_event(LogLine("retry_run_test", None, "warning", "replayed progress line"))
        return RetryResponse(
            dlq_id=id_or_prefix, retry_run_id="retry_run_test", sandbox_mode=sandbox_mode,
            execution_result=ExecutionResult(run_id="retry_run_test", status="completed"),
        )


def recording_service() -> RecordingService:
    return RecordingService(Settings(dlq_path=DLQ_ARG), clock=frozen_clock)


async def _type_row(pilot, row: OverrideRow, key: str | None, value: str) -> None:
    if key is not None:
        row.query_one("Input.key", Input).value = key
    row.query_one(".value", Input).value = value
    await pilot.pause()


def rows_of(modal, editor: str) -> dict[str, OverrideRow]:
    return {row.pair[0]: row for row in modal.query_one(editor).query(OverrideRow)}


async def open_retry(pilot) -> RetryModal:
    await pilot.press("r")
    await settle(pilot)
    modal = pilot.app.screen
    assert isinstance(modal, RetryModal)
    return modal


async def test_retry_dialog_starts_from_the_entrys_variables_and_sends_only_the_changes(app_factory, dlq):
    service = recording_service()
    app = app_factory(service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        modal = await open_retry(pilot)
        rows = rows_of(modal, "#vars")
        # The entry's own variables, pre-filled, the focus in the first value.
        assert {k: r.pair[1] for k, r in rows.items()} == {
            "api_url": "https://api.example.com", "page_size": "100", "page": "21"}
        assert app.focused is rows["api_url"].query_one(".value", Input)
        assert "none" in plain(modal.query_one("#overrides-summary"))
        # The envelope's secret: missing in the sandbox, named for production; its row is ready for a value.
        needed = plain(modal.query_one("#secrets-needed"))
        assert "api_key" in needed and "give it below" in needed and "MOVA_SECRET_API_KEY" in needed
        secret_row = rows_of(modal, "#secrets")["api_key"]
        assert secret_row.query_one(".value", Input).password  # masked

        await _type_row(pilot, rows["api_url"], None, "https://staging.example.com")
        assert rows["api_url"].has_class("-changed") and not rows["page"].has_class("-changed")
        await pilot.click("#vars .add")
        await settle(pilot)
        await _type_row(pilot, modal.query_one("#vars").query(OverrideRow).last(), "timeout", "60")
        await _type_row(pilot, secret_row, None, "s3cr3t-value")
        summary = plain(modal.query_one("#overrides-summary"))
        assert "api_url (changed), timeout (new)" in summary and "secrets api_key" in summary
        assert "s3cr3t" not in summary
        assert "✓ override" in plain(modal.query_one("#secrets-needed"))
        # A duplicate name is reported inline and blocks the retry.
        await pilot.click("#vars .add")
        await settle(pilot)
        await _type_row(pilot, modal.query_one("#vars").query(OverrideRow).last(), "timeout", "90")
        assert "given twice" in str(modal.query_one("#vars-error").render())
        await pilot.click("#sandbox")
        await pilot.pause()
        assert app.screen is modal and service.calls == []
        await pilot.click(modal.query_one("#vars").query(OverrideRow).last().query_one(".remove"))
        # ↺ puts an own value back: not an override any more.
        await _type_row(pilot, rows["page"], None, "22")
        await pilot.click(rows["page"].query_one(".reset"))
        await settle(pilot)
        # Enter in a field retries in the sandbox.
        rows["page"].query_one(".value", Input).focus()
        await pilot.press("enter")
        await settle(pilot)

        assert len(service.calls) == 1
        call = service.calls[0]
        assert call["id"] == NEWEST and call["sandbox_mode"] is True and call["wait"] is True
        assert call["overrides"].variables == {"api_url": "https://staging.example.com", "timeout": 60}
        assert call["overrides"].secrets == {"api_key": "s3cr3t-value"}
        progress = app.screen
        assert isinstance(progress, ProgressModal)
        job = progress.job
        assert job is app.jobs[job.id] and job.finished and "completed" in job.summary
        assert any("replayed progress line" in line for line in job.lines)
        await pilot.press("escape")


async def test_retry_json_tab_holds_the_same_variables_and_production_lists_the_overrides(app_factory, dlq,
                                                                                         monkeypatch):
    monkeypatch.setenv("MOVA_SECRET_API_KEY", "from-the-environment")
    service = recording_service()
    app = app_factory(service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        modal = await open_retry(pilot)
        needed = plain(modal.query_one("#secrets-needed"))
        assert "✓ MOVA_SECRET_API_KEY" in needed and "from-the-environment" not in needed
        await _type_row(pilot, rows_of(modal, "#vars")["page_size"], None, "200")
        await pilot.click("#--content-tab-vars-json-pane")
        await settle(pilot)
        editor = modal.query_one("#vars-json", TextArea)
        assert json.loads(editor.text) == {"api_url": "https://api.example.com", "page_size": 200, "page": 21}
        editor.text = '{"api_url": "https://api.example.com",'
        await settle(pilot)
        assert "invalid JSON" in str(modal.query_one("#vars-error").render())
        editor.text = '{"api_url": "https://api.example.com", "page_size": 200, "page": 21, "pages": [1, 2]}'
        await settle(pilot)
        assert not modal.query_one("#vars-error").display
        assert "page_size (changed), pages (new)" in plain(modal.query_one("#overrides-summary"))
        await pilot.press("ctrl+p")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        assert "production" in confirm.title_text and "page_size (changed), pages (new)" in confirm.body
        assert "Not provided" not in confirm.body  # the environment gives api_key
        await pilot.press("y")
        await settle(pilot)
        assert service.calls[0]["sandbox_mode"] is False
        assert service.calls[0]["overrides"].variables == {"page_size": 200, "pages": [1, 2]}


ARCHIVED = "dlq_b83f6a27-14ce-4d70-9e5b-c2a8f0d31b46"


async def test_retry_refuses_to_open_for_an_entry_that_cannot_be_retried(app_factory, dlq):
    from .test_jobs import record_notifications

    other = DLQService(Settings(dlq_path=dlq))
    other.claim(NEWEST, "retry_run_elsewhere", True, owner="pid 1@elsewhere")  # a live retry in another process
    app = app_factory()
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert any("already being retried by pid 1@elsewhere" in text for text in shown), shown
        table = table_of(app)
        table.cursor = next(n for n, r in enumerate(table.rows) if r.id == ARCHIVED)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert any("from archived to retrying" in text and "o reopens it" in text for text in shown), shown


async def test_a_bulk_retry_states_what_it_skips_and_why(app_factory, dlq):
    service = recording_service()
    app = app_factory(service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        picked = [r.id for r in table.rows if r.status.value == "active"][:2] + [ARCHIVED]
        dashboard(app).queue.selection.update(picked)
        modal = await open_retry(pilot)
        assert modal.ids == sorted(picked[:2])
        assert "1 of 3 selected will be skipped: 1 archived" in plain(modal.query_one("#skipped"))
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal) and "2 entries in the sandbox" in confirm.title_text
        assert "1 of 3 selected will be skipped: 1 archived" in confirm.body
        await pilot.press("y")
        await settle(pilot)
        assert [c["id"] for c in service.calls] == sorted(picked[:2])
        job = app.screen.job
        assert job.lines[0].startswith(f"skipped {ARCHIVED[4:12]}: cannot change {ARCHIVED} from archived")
        assert dashboard(app).queue.selection == set()


async def test_archive_entry_under_cursor(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        service = DLQService(Settings(dlq_path=dlq))
        assert service.get(NEWEST).status == EntryStatus.archived
        assert table_of(app).rows[0].status == EntryStatus.archived


RESOLVED = "dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e"


async def test_reopen_sets_archived_and_resolved_entries_active_after_asking(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        table.cursor = next(n for n, r in enumerate(table.rows) if r.id == ARCHIVED)
        await pilot.press("o")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal) and ARCHIVED in confirm.title_text and "active" in confirm.body
        await pilot.press("n")
        await settle(pilot)
        service = DLQService(Settings(dlq_path=dlq))
        assert service.get(ARCHIVED).status == EntryStatus.archived
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert service.get(ARCHIVED).status == EntryStatus.active
        assert next(r for r in table.rows if r.id == ARCHIVED).status == EntryStatus.active
        # From the details screen too.
        table.cursor = next(n for n, r in enumerate(table.rows) if r.id == RESOLVED)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("o", "y")
        await settle(pilot)
        assert service.get(RESOLVED).status == EntryStatus.active
        assert "active" in str(app.screen.query_one("#entry-head").render())


@pytest.mark.parametrize("key, op, after", [("o", "reopen", "active"), ("a", "archive", "archived"),
                                             ("d", "delete", None)])
async def test_an_entry_under_a_running_retry_is_changed_only_by_confirming_the_lease_break(app_factory, dlq, key,
                                                                                          op, after):
    service = DLQService(Settings(dlq_path=dlq))
    service.claim(NEWEST, "retry_run_elsewhere", True, owner="pid 1@elsewhere")
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        confirm = app.screen  # even archive, which needs no question otherwise, asks
        assert isinstance(confirm, ConfirmModal) and confirm.confirm_label == f"Break lease and {op}"
        assert "run retry_run_elsewhere, pid 1@elsewhere" in confirm.body and "recorded as abandoned" in confirm.body
        assert confirm.focused is confirm.query_one("#cancel")  # a stray Enter never breaks a lease
        await pilot.press("n")
        await settle(pilot)
        assert service.get(NEWEST).status == EntryStatus.retrying
        await pilot.press(key)
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        if after is None:
            assert not (dlq / f"{NEWEST}.json").exists()
        else:
            assert service.get(NEWEST).status == after and service.get(NEWEST).metadata.lease is None


async def test_delete_asks_first(app_factory, dlq):
    app = app_factory()
    path = dlq / f"{NEWEST}.json"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert NEWEST in app.screen.body
        await pilot.press("enter")  # focus is on Cancel: a stray Enter never deletes
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and path.exists()
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert not path.exists()
        assert table_of(app).total == 15
        try:
            DLQService(Settings(dlq_path=dlq)).get(NEWEST)
        except EntryNotFound:
            pass
        else:  # pragma: no cover
            raise AssertionError("still there")


async def test_bulk_selection_is_frozen_and_confirmed(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("space", "space", "space")  # selects rows 0-2, the cursor moves on
        picked = [r.id for r in table.rows[:3]]
        assert dashboard(app).queue.selection == set(picked)
        assert "3 selected" in status_text(app)
        await pilot.press("a")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal) and "3 entries" in confirm.title_text
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ProgressModal)
        await pilot.press("escape")
        service = DLQService(Settings(dlq_path=dlq))
        assert {service.get(i).status for i in picked} == {EntryStatus.archived}
        assert dashboard(app).queue.selection == set()
        # Recorded as `mova dlq archive --all` records it: the plan, then one outcome per id.
        (results,) = (dlq / ".mova" / "bulk").glob("archive-*.jsonl")
        lines = [json.loads(line) for line in results.read_text().splitlines()]
        assert set(lines[0]["plan"]["ids"]) == set(picked) and [r["outcome"] for r in lines[1:]] == ["archived"] * 3

        # Select all matching a filter, then delete exactly those.
        await pilot.press("slash", *"network timeout", "enter")
        await settle(pilot)
        await pilot.press("asterisk")
        await settle(pilot)
        frozen = set(dashboard(app).queue.selection)
        assert len(frozen) == 5
        await pilot.press("d")
        await settle(pilot)
        assert "5 entries" in app.screen.title_text
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("escape")
        assert not any((dlq / f"{i}.json").exists() for i in frozen)
        assert len(list(dlq.glob("*.json"))) == 11


async def test_export_current_view(app_factory, dlq, tmp_path):
    from .test_jobs import record_notifications

    app = app_factory()
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"HTTP", "enter")
        await settle(pilot)
        total = table_of(app).total
        await pilot.press("x")
        await settle(pilot)
        path_input = app.screen.query_one("#path", Input)
        # The default is a full path in the working directory, not a bare name.
        assert Path(path_input.value).is_absolute() and Path(path_input.value).parent == Path.cwd()
        await pilot.click("#csv")
        await pilot.pause()
        assert path_input.value.endswith(".csv")
        path_input.value = "out.csv"  # relative: its full path is shown before anything is written
        await pilot.pause()
        full = Path.cwd() / "out.csv"
        assert str(app.screen.query_one("#path-full").render()) == f"Writes {full}"
        await pilot.click("#export")
        await settle(pilot)
    lines = full.read_text().splitlines()
    assert lines[0].startswith("id,")
    assert len(lines) == total + 1 and total > 0
    assert any(f"to {full} (csv)" in text for text in shown), shown


async def test_help_lists_the_apps_own_keys_first(app_factory, dlq):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        modal = app.screen
        assert isinstance(modal, HelpModal)
        described = [d for _k, d in modal.rows]
        for needed in ("Retry", "Archive", "Reopen", "Delete", "Export", "Filter", "Select all matching", "Quit",
                       "Open", "Unreadable files"):
            assert needed in described
        # The dashboard's operations before the table's movement keys and Textual's own.
        assert described[:5] == ["Retry", "Archive", "Reopen", "Delete", "Export"]
        assert max(described.index(d) for d in ("Search", "Filter", "Unreadable files", "Reload (full re-check)")) \
            < min(described.index(d) for d in ("Open", "Up", "Page down", "Focus Next"))
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0


async def test_missing_directory_explains_how_to_point_mova(tmp_path):
    from mova_tui.app import make_app

    app = make_app(settings=Settings(dlq_path=Path("nowhere")), clock=frozen_clock, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        empty = app.screen.query_one(EmptyState)
        assert empty.display
        text = str(empty.render())
        assert "--dlq-path" in text and "MOVA_DLQ_PATH" in text


async def test_corrupt_files_are_counted_and_listed_with_their_reasons(app_factory, dlq):
    from mova_tui.app.modals.skipped_modal import SkippedModal

    (dlq / "dlq_broken.json").write_text('{"id": "dlq_broken", ')
    (dlq / "dlq_not-an-object.json").write_text("[1, 2]")
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert table_of(app).total == 16
        assert "2 unreadable files skipped (! lists them)" in status_text(app)
        await pilot.press("exclamation_mark")
        await settle(pilot)
        assert isinstance(app.screen, SkippedModal)
        listed = plain(app.screen.query_one("#skipped-list"))
        assert "dlq_broken.json" in listed and "not valid JSON" in listed
        assert "dlq_not-an-object.json" in listed and "not a JSON object" in listed
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


WRITER = """
import json, os, sys
src, dest = sys.argv[1], sys.argv[2]
doc = json.load(open(src))
doc["id"] = os.path.basename(dest)[:-5]
doc["created_at"] = "2026-11-28T11:59:00Z"
tmp = os.path.join(os.path.dirname(dest), "." + os.path.basename(dest) + ".tmp")
with open(tmp, "w") as f:
    json.dump(doc, f)
os.replace(tmp, dest)
"""


async def test_file_written_by_another_process_appears(app_factory, dlq):
    app = app_factory(watch=True)
    new_id = "dlq_00000000-feed-4bee-8000-000000000001"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("down", "down")
        before = table.current.id
        for _ in range(200):  # wait for the watcher to be running (bounded)
            if app.watch_state == "watching":
                break
            await pilot.pause(0.01)
        subprocess.run([sys.executable, "-c", WRITER, str(dlq / f"{GROUP_TOP}.json"), str(dlq / f"{new_id}.json")],
                       check=True)
        for _ in range(300):  # the app's own update, not a fixed sleep: at most ~3 s
            if table.total == 17:
                break
            await pilot.pause(0.01)
        await settle(pilot)
        assert table.total == 17
        assert table.rows[0].id == new_id
        # The cursor stayed on the same entry, one row further down.
        assert table.current.id == before and table.cursor == 3

        (dlq / f"{new_id}.json").unlink()
        for _ in range(300):
            if table.total == 16:
                break
            await pilot.pause(0.01)
        assert table.total == 16
        assert table.current.id == before


async def test_retry_modal_refuses_overrides_nested_too_deeply(app_factory, dlq):
    service = recording_service()
    app = app_factory(service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        modal = app.screen
        await pilot.click("#--content-tab-vars-json-pane")  # the focus starts in a row: click the tab
        await settle(pilot)
        editor = modal.query_one("#vars-json", TextArea)
        for text in ('{"x": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}", '{"x": ' + "[" * 60_000 + "]" * 60_000 + "}"):
            editor.text = text
            await pilot.pause()
            assert "nested too deeply" in str(modal.query_one("#vars-error").render())
        await pilot.click("#sandbox")
        await pilot.pause()
        assert app.screen is modal and service.calls == []
