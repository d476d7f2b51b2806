"""Dashboard fixtures: a frozen clock, a copy of the sample directory, and snapshots under /snapshots."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import pytest_textual_snapshot

from mova_core.settings import Settings
from mova_tui.app import make_app
from mova_tui.app.app import MovaApp

from ..support import FROZEN_NOW, ROOT

#: Where the SVG snapshots live: the top-level snapshots/ folder, one subfolder per test module.
SNAPSHOT_DIR = ROOT / "snapshots" / "tui"
#: The directory as the app is told it (relative to the test's cwd, so headers are the same everywhere).
DLQ_ARG = Path("state") / "deadletter"


class MovaSVGExtension(pytest_textual_snapshot.SVGImageExtension):
    """pytest-textual-snapshot's SVG extension, storing under snapshots/tui/<test module>/."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOT_DIR / test_location.basename)


@pytest.fixture
def snap_compare(snapshot, request):
    """pytest-textual-snapshot's `snap_compare`, with the SVGs kept under snapshots/tui/.

    The plugin's own fixture always uses its SVG extension, so it cannot be pointed elsewhere; this
    one takes the same screenshot (Textual's `take_svg_screenshot`, as the plugin does) and compares
    it through syrupy's supported `snapshot.use_extension`. `--snapshot-update` rewrites the files.
    On a mismatch the received picture is written beside the test's temporary files.
    """
    from textual._doc import take_svg_screenshot

    svg_snapshot = snapshot.use_extension(MovaSVGExtension)

    def compare(app: MovaApp, press=(), terminal_size=(80, 24), run_before=None) -> bool:
        actual = take_svg_screenshot(app=app, press=press, terminal_size=terminal_size, run_before=run_before)
        if svg_snapshot == actual:
            return True
        received = request.getfixturevalue("tmp_path_factory").mktemp("received") / f"{request.node.name}.svg"
        received.write_text(actual, encoding="utf-8")
        raise AssertionError(f"the screen differs from its snapshot; received picture: {received}")

    return compare


def frozen_clock() -> datetime:
    return FROZEN_NOW


@pytest.fixture
def dlq(sample_dlq: Path) -> Path:
    """A private copy of the sample directory at ./state/deadletter (cwd is the test's tmp dir)."""
    assert sample_dlq.resolve() == (Path.cwd() / DLQ_ARG).resolve()
    return sample_dlq


@pytest.fixture
def app_factory():
    """make_app over ./state/deadletter with the frozen clock; watching off unless asked."""

    def build(*, watch: bool = False, service=None) -> MovaApp:
        if service is not None:
            return make_app(service=service, clock=frozen_clock, watch=watch)
        return make_app(settings=Settings(dlq_path=DLQ_ARG), clock=frozen_clock, watch=watch)

    return build


async def settle(pilot, rounds: int = 3) -> None:
    """Wait until the app's workers are done and their messages handled (watchers excluded)."""
    app = pilot.app
    for _ in range(rounds):
        workers = [w for w in app.workers if w.group != "watch" and not w.is_finished]
        if workers:
            await app.workers.wait_for_complete(workers)
        await pilot.pause()
