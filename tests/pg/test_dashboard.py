"""The dashboard over a PostgreSQL store (Pilot): the same table as over the sample directory."""

from __future__ import annotations

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_tui.app import make_app
from mova_tui.app.screens.entry_screen import EntryScreen
from tests.pg.fixtures import seed_sample
from tests.tui.conftest import frozen_clock, settle
from tests.tui.test_dashboard import NEWEST, SIZE, status_text, table_of


async def test_the_dashboard_lists_the_shared_store(pg_target):
    seed_sample(pg_target)
    service = DLQService(Settings(store_url=pg_target.url, store_schema=pg_target.schema))
    app = make_app(service=service, clock=frozen_clock, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = table_of(app)
        assert table.total == 16 and table.rows[0].id == NEWEST
        assert "1–16 of 16" in status_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EntryScreen) and app.screen.entry_id == NEWEST


async def test_a_change_by_another_host_reaches_the_dashboard_without_polling(pg_target, tmp_path):
    """The dashboard listens (LISTEN on a connection of its own): an archive by `mova` on another
    "host" (a process with its own home and working directory) shows in the table."""
    import asyncio
    import time

    from tests.pg.processes import host, run_mova

    seed_sample(pg_target)
    service = DLQService(Settings(store_url=pg_target.url, store_schema=pg_target.schema))
    app = make_app(service=service, clock=frozen_clock, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(200):  # the listener is up once it says so
            if app.watch_state == "listening":
                break
            await asyncio.sleep(0.02)
        assert app.watch_state == "listening"
        await asyncio.sleep(0.3)  # its LISTEN has reached the server
        done = await asyncio.to_thread(run_mova, pg_target, host(tmp_path, "host-b"), "dlq", "archive", NEWEST)
        assert done.returncode == 0, done.stderr
        await _until_shown(app, pilot, NEWEST, "archived")
        # How long from a commit to the row on screen: a change by another connection, timed from its
        # return (a process's exit would come after its notification).
        other = DLQService(Settings(store_url=pg_target.url, store_schema=pg_target.schema))
        await asyncio.to_thread(other.reopen, NEWEST)
        committed = time.monotonic()
        await _until_shown(app, pilot, NEWEST, "active")
        seen = time.monotonic() - committed
        other.close()
        assert seen < 2.0, f"{seen:.2f} s from another connection's commit to the table"
        print(f"\nanother host's change to the table: {seen * 1000:.0f} ms")
        app.exit()


async def _until_shown(app, pilot, entry_id: str, status: str, timeout: float = 5.0) -> None:
    """Wait until the table's row for `entry_id` shows `status` (fails after `timeout` seconds)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if next(r for r in table_of(app).rows if r.id == entry_id).status == status:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"{entry_id} never showed as {status}")
