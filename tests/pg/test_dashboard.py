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
