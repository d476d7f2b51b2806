"""The reliability suite (issue 8): kill storms, racing writers, lease recovery, disk faults,
hostile input and the HTTP shim under load.

    .venv/bin/python -m pytest -m reliability -q            # the suite alone, default counts (~1 min)
    .venv/bin/python -m pytest -m reliability -q --reliability-scale=3    # bigger: more processes, clients, examples

MOVA_RELIABILITY_SCALE=3 does the same as the option (declared in tests/conftest.py: only that conftest
is loaded before the command line is parsed when pytest runs without a path). Each test adds its figures (processes
killed, entries written and lost, races and anomalies, fuzz cases, shim requests and p99) to one
`Figures` object; the session ends with a summary table of them on the terminal.
"""

from __future__ import annotations

import os

import pytest

from .support import Figures

_FIGURES = pytest.StashKey[Figures]()


def _scale(config: pytest.Config) -> float:
    value = config.getoption("--reliability-scale", default=None)
    if value is None:
        # Read here, at session start: tests/conftest.py clears every MOVA_* variable for each test.
        value = float(os.environ.get("MOVA_RELIABILITY_SCALE") or 1)
    if value <= 0:
        raise pytest.UsageError("--reliability-scale must be greater than 0")
    return value


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = Figures(scale=_scale(config))


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> Figures:
    """The session's figures; tests add to them, the terminal summary prints them."""
    return pytestconfig.stash[_FIGURES]


@pytest.fixture(scope="session")
def scale(figures: Figures) -> float:
    """The count multiplier (--reliability-scale / MOVA_RELIABILITY_SCALE)."""
    return figures.scale


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, None)
    if figures is None or not figures.touched:
        return
    terminalreporter.write_sep("=", "mova reliability summary")
    for line in figures.table():
        terminalreporter.write_line(line)
