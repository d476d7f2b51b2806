"""Shared fixtures: an isolated environment and copies of the sample dead-letter directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .support import FROZEN_NOW, SAMPLE_DLQ  # noqa: F401  (re-exported for fixtures)


def pytest_addoption(parser: pytest.Parser) -> None:
    # The reliability suite's option lives here, not in tests/reliability/conftest.py: only this
    # conftest is loaded before the command line is parsed when pytest runs without a path.
    parser.addoption(
        "--reliability-scale", type=float, default=None, metavar="N",
        help="Multiply the reliability suite's counts and durations by N (default 1, or MOVA_RELIABILITY_SCALE).",
    )


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No user configuration leaks in: every MOVA_* variable is cleared, NO_COLOR set, cwd is tmp."""
    import os

    for key in list(os.environ):
        if key.startswith("MOVA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MOVA_ACTOR", "tester@test")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sample_dlq(tmp_path) -> Path:
    """A private copy of sample_state/deadletter (without any index left over)."""
    dest = tmp_path / "state" / "deadletter"
    shutil.copytree(SAMPLE_DLQ, dest, ignore=shutil.ignore_patterns(".mova"))
    return dest


@pytest.fixture
def empty_dlq(tmp_path) -> Path:
    dest = tmp_path / "state" / "deadletter"
    dest.mkdir(parents=True)
    return dest
