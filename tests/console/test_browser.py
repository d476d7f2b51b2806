"""The console in a real headless Chromium (Debian's package, over the DevTools protocol).

Against `mova serve --console` on 127.0.0.1 over a copy of the sample queue: log in, see the
dashboard in the page's terminal (read from xterm.js's buffer), open details with a key, see an
archive made by the CLI in another process, a read-only session refusing a retry, the session cap,
and a closed tab ending its dashboard process. A screenshot is kept as a CI artefact.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mova_core.store.audit import AuditLog
from tests.http.conftest import ACTIVE_ID, ADMIN_TOKEN, READ_TOKEN, Server
from tests.support import ROOT

from .cdp import Browser, Page, find_chromium
from .conftest import children_of, wait_until

NEWEST = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the console's browser test (.ci/run installs it)")
        pytest.skip("no chromium installed (apt-get install -y --no-install-recommends chromium)")
    return found


def artefact(name: str, tmp_path: Path) -> Path:
    """Where a screenshot goes: $CI_ARTIFACTS (set by .ci/run), else the test's temporary folder."""
    return Path(os.environ.get("CI_ARTIFACTS") or tmp_path) / name


async def log_in(page: Page, server: Server, token: str) -> None:
    """Fill in and post the log-in form, as a person would."""
    await page.goto(f"{server.url}/dlq/")
    await page.wait_for("document.querySelector('form input[type=password]') !== null")
    # The form's page is marked: the answer is a new document, which the mark does not survive (without
    # it, the wait below could pass on the form's own page before the browser has left it).
    await page.evaluate(f"window.movaForm = true; document.getElementById('token').value = {token!r}; "
                        "document.forms[0].requestSubmit()")
    await page.wait_for("!window.movaForm && document.readyState === 'complete' && "
                        "(!location.pathname.endsWith('/login') || document.querySelector('.error') !== null)")


def test_the_dashboard_in_a_browser(chromium, console, sample_dlq, tmp_path):
    server = console()

    async def scenario() -> None:
        browser = await Browser.launch(chromium)
        try:
            page = await browser.new_page()
            await page.goto(f"{server.url}/dlq/")
            assert await page.evaluate("document.querySelector('form button').textContent") == "Log in"
            await log_in(page, server, "not-the-token")
            assert await page.evaluate("document.querySelector('.error').textContent") == "That token is not valid."
            assert children_of(server.process.pid) == []

            await log_in(page, server, ADMIN_TOKEN)
            screen = await page.wait_for_screen("a71c4e88", "1d6f08b3", "16 entries")
            assert "data-processing" in screen and "mova" in screen
            await page.screenshot(artefact("console-dashboard.png", tmp_path))

            await page.press("Enter", code="Enter", text="\r", key_code=13)  # the newest entry's details
            await page.wait_for_screen(NEWEST, "Error")
            await page.press("Escape", code="Escape", text="\x1b", key_code=27)
            await page.wait_for_screen("16 entries")

            archive = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "mova_tui.cli.main", "--dlq-path", str(sample_dlq), "dlq",
                                 "archive", ACTIVE_ID], cwd=ROOT, capture_output=True, text=True, check=False)
            assert archive.returncode == 0, archive.stderr
            await page.wait_for(f"({_row_has('1d6f08b3', 'archived')})", timeout=15)

            await page.press("a")  # archive the row under the cursor, from the page
            await page.wait_for(f"({_row_has('a71c4e88', 'archived')})", timeout=15)
            actors = {(r["op"], r["entry_id"]): r["actor"]
                      for r in AuditLog(sample_dlq / ".mova/audit.jsonl").read().records}
            assert actors[("archive", NEWEST)] == "web:admin"
            assert actors[("archive", ACTIVE_ID)] != "web:admin"

            assert len(children_of(server.process.pid)) == 1
            await page.close()  # closing the tab ends its dashboard process within seconds
            await asyncio.to_thread(wait_until, lambda: children_of(server.process.pid) == [], 8, "the dashboard to exit")
        finally:
            await browser.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))


def _row_has(short_id: str, text: str) -> str:
    """Script: is there a line on the terminal with both `short_id` and `text`?"""
    from .cdp import READ_SCREEN

    return f"({READ_SCREEN} || '').split('\\n').some(l => l.includes({short_id!r}) && l.includes({text!r}))"


def test_read_only_sessions_and_the_cap_in_a_browser(chromium, console, tmp_path):
    server = console("--console-sessions", "2")

    async def scenario() -> None:
        browser = await Browser.launch(chromium)
        try:
            reader = await browser.new_page(await browser.new_context())
            await log_in(reader, server, READ_TOKEN)
            await reader.wait_for_screen("a71c4e88", "read-only")
            await reader.press("r")
            await reader.wait_for_screen("retrying is not allowed")

            admin = await browser.new_page(await browser.new_context())
            await log_in(admin, server, ADMIN_TOKEN)
            await admin.wait_for_screen("a71c4e88")
            await reader.screenshot(artefact("console-read-only.png", tmp_path))

            third = await browser.new_page(await browser.new_context())
            await log_in(third, server, ADMIN_TOKEN)
            reason = await third.wait_for("document.body.classList.contains('-closed') && "
                                          "document.getElementById('reason').textContent")
            assert "already has 2 sessions open" in reason and "try again later" in reason
            assert len(children_of(server.process.pid)) == 2
        finally:
            await browser.close()
        wait_until(lambda: children_of(server.process.pid) == [], timeout=8, what="the dashboards to exit")

    asyncio.run(asyncio.wait_for(scenario(), 120))
