"""The core knows nothing of terminals or HTTP servers; the CLI starts without Textual or FastAPI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import mova_core
from tests.support import ROOT

FORBIDDEN_IN_CORE = ("textual", "rich", "typer", "fastapi", "uvicorn", "starlette")


def _loaded_top_levels(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_core_imports_no_terminal_or_server_package():
    modules = [m.name for m in pkgutil.walk_packages(mova_core.__path__, "mova_core.")
               if not m.name.startswith("mova_core.http")]
    # httpx imports its own optional command line (rich, click) when they are installed; block that
    # so the check sees what the core itself imports.
    blocker = "import sys; sys.modules['httpx._main'] = None\n"
    loaded = _loaded_top_levels(blocker + "\n".join(f"import {m}" for m in modules))
    assert not loaded & set(FORBIDDEN_IN_CORE)


def test_cli_import_does_not_load_textual_or_server_packages():
    loaded = _loaded_top_levels("import mova_tui.cli.main")
    assert not loaded & {"textual", "fastapi", "uvicorn", "starlette"}


def test_import_contracts_hold():
    # The layers of docs/architecture.md, as pyproject.toml's import-linter contracts state them.
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed in this environment (it is in the test extra)")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout
