"""Text from entry files is shown, never interpreted: no Rich markup, no terminal control sequences."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mova_core.store.scan import _num, read_files
from mova_tui.cli.main import app
from mova_tui.present.safe_text import cell, clean
from tests.support import SAMPLE_DLQ

HOSTILE_ERROR = "\x1b[2J\x1b]0;pwned\x07 \u202eevil [bold red]not markup[/] [/oops]"


def write_hostile(directory) -> None:
    doc = json.loads((SAMPLE_DLQ / "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18.json").read_text())
    doc["id"] = "dlq_hostile"
    doc["error_details"]["last_error"] = HOSTILE_ERROR
    doc["error_details"]["error_history"].append("Attempt 9: " + HOSTILE_ERROR)
    doc["metadata"]["workflow_type"] = "wf\x1b[31m[link=file:///etc]red[/link]"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dlq_hostile.json").write_text(json.dumps(doc))


def test_clean_shows_control_characters_as_escapes():
    assert clean("a\x1b[2Jb\u202ec\td") == "a\\u001b[2Jb\\u202ec\td"
    assert cell("[bold]x[/]").plain == "[bold]x[/]"


def test_huge_numbers_are_clamped_in_summaries(tmp_path):
    name = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18.json"
    write = json.loads((SAMPLE_DLQ / name).read_text())
    write["metadata"]["retry_count"] = 2**80
    write["error_details"]["attempts"] = -1e308
    (tmp_path / name).write_text(json.dumps(write))
    good, bad, gone = read_files(tmp_path, [name])
    # JSON decoding makes an integer beyond 64 bits a float, which the entry model refuses for an
    # integer field: the listing skips the file with the reason `show` gives, never crashes on it.
    assert not good and not gone and "retry_count" in bad[0][-1]
    assert _num(2**80) == 2**63 - 1 and _num(-1e308) == -(2**63)  # what a summary column can hold


def test_list_show_and_stats_print_hostile_text_inert(tmp_path):
    dlq = tmp_path / "dl"
    write_hostile(dlq)
    runner = CliRunner()
    for args in (["dlq", "list"], ["dlq", "show", "dlq_hostile"], ["dlq", "stats"], ["dlq", "groups"]):
        result = runner.invoke(app, ["--dlq-path", str(dlq), *args], env={"NO_COLOR": "1", "COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output)
        assert "\x1b" not in result.stdout and "\u202e" not in result.stdout, args
    shown = runner.invoke(app, ["--dlq-path", str(dlq), "dlq", "show", "dlq_hostile"], env={"COLUMNS": "200"}).stdout
    assert "[bold red]not markup[/]" in shown  # shown as written, not as bold red


def test_clip_cuts_megabytes_and_says_so():
    from mova_tui.present.safe_text import clip

    out = clip("x" * 1_000_000 + "\x1b", limit=100)
    assert len(out) < 200 and "999,901 more characters" in out and "\x1b" not in out
