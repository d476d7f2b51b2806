"""Fast start, --help with an example on every command, --version."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mova_core import __version__
from tests.support import ROOT

DLQ_COMMANDS = ["list", "show", "retry", "archive", "delete", "reopen", "status", "stats", "groups", "purge",
                "export", "alerts", "reindex"]


def test_importing_the_cli_loads_neither_textual_nor_the_http_server():
    code = ("import mova_tui.cli.main, sys; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'fastapi', 'uvicorn', 'starlette'}); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("argv", [["--help"], ["dlq", "--help"], ["dlq", "retry", "--help"]])
def test_help_loads_neither_pydantic_nor_rich_rendering(argv):
    """`mova --help` is plain Click text: no models, no Markdown, no Rich console, no shared presentation."""
    code = (f"import sys; sys.argv = ['mova', *{argv!r}]\n"
            "from mova_tui.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m in {'pydantic', 'pydantic_core', 'rich.console', 'rich.markdown',"
            " 'typer.rich_utils', 'sqlite3', 'mova_core.model.entry', 'mova_core.settings'}"
            " or m.startswith('mova_tui.present'))\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize("command", [[c] for c in DLQ_COMMANDS])
def test_every_dlq_command_has_help_with_an_example(cli, command):
    r = cli("dlq", *command, "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.stdout and f"mova dlq {command[0]}" in r.stdout
    # Each example on a line of its own, as written (not rewrapped), and no markup shown literally.
    examples = r.stdout.split("Examples:")[1].splitlines()[1:]
    assert examples and all(line.startswith("    ") and "mova dlq " in line for line in examples if line.strip())
    assert "[/" not in r.stdout and "[bold]" not in r.stdout
    assert "--dlq-path DIR" in r.stdout  # accepted after the command too


def test_run_help_has_an_example(cli):
    r = cli("run", "--help")
    assert "Examples" in r.stdout and "mova run" in r.stdout


def test_root_help_and_version(cli):
    assert "dlq" in cli("--help").stdout
    assert cli("--version").stdout.strip() == f"mova {__version__}"


def test_retry_help_mentions_sandbox_false(cli):
    out = cli("dlq", "retry", "--help").stdout
    assert "--sandbox=false" in out and "--no-sandbox" in out


def test_console_script_runs(mova, dlq):
    r = mova("dlq", "stats", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert '"total_entries": 16' in r.stdout
