"""Text from entry files is shown, never interpreted: no Rich markup, no terminal control sequences."""

from __future__ import annotations

import io
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


def test_clean_escapes_every_control_and_keeps_lines_only_where_asked():
    text = "a\x1b]2;t\x1b\\b\x9bc\x7fd\u202ee\u2066f\u2028g\r\nh\ti\nj\rk"
    shown = clean(text)
    assert shown == ("a\\u001b]2;t\\u001b\\b\\u009bc\\u007fd\\u202ee\\u2066f\\u2028g\nh\ti\nj\\rk")
    assert clean(text, one_line=True).count("\\n") == 2 and "\n" not in clean(text, one_line=True)
    assert "\t" not in clean(text, one_line=True) and "\\t" in clean(text, one_line=True)
    assert clean(clean(text)) == clean(text)  # idempotent: safe to pass twice
    assert cell("wf\nprod\tx").plain == "wf\\nprod\\tx"  # a table cell never splits its row


def _long_entry(doc: dict) -> dict:
    doc["error_details"]["last_error"] = "L" * 500_000
    doc["error_details"]["error_history"] = [f"Attempt {n}: " + "h" * 5_000 for n in range(300)]
    doc["error_details"]["stack_trace"] = "frame\n" * 100_000
    doc["context"]["variables"] = {f"v{n}": "v" * 5_000 for n in range(300)} | {"huge": "V" * 500_000}
    doc["context"]["results"] = {f"a{n}": {"status": "failed", "error": "e" * 2_000, "attempts": 1}
                                 for n in range(300)}
    doc["retry_history"] = [{"retry_run_id": f"retry_{n}", "sandbox_mode": True, "start_time": "2024-01-19T10:30:45Z",
                             "outcome": "failed", "error": "r" * 5_000} for n in range(300)]
    return doc


def test_show_clips_long_text_and_lists_and_says_how_to_see_them_whole(tmp_path):
    dlq = tmp_path / "dl"
    write_hostile(dlq)
    path = dlq / "dlq_hostile.json"
    path.write_text(json.dumps(_long_entry(json.loads(path.read_text()))))
    runner = CliRunner()
    shown = runner.invoke(app, ["--dlq-path", str(dlq), "dlq", "show", "dlq_hostile"], env={"NO_COLOR": "1", "COLUMNS": "120"})
    assert shown.exit_code == 0, shown.output
    size = path.stat().st_size
    assert len(shown.stdout) < 400_000 < size, (len(shown.stdout), size)  # 3.9 MB on disk
    whole = "mova dlq show dlq_hostile --format json"
    flat = " ".join(shown.stdout.split())  # the notes as words, however the terminal wrapped them
    assert f"480,000 more characters: {whole}" in flat  # the last error, cut at 20,000
    for noun in ("lines", "variables", "results", "retries"):
        assert f" more {noun}: {whole}" in flat, noun
    as_json = json.loads(runner.invoke(app, ["--dlq-path", str(dlq), "dlq", "show", "dlq_hostile", "--format", "json"]).stdout)
    assert len(as_json["error_details"]["last_error"]) == 500_000 and len(as_json["error_details"]["error_history"]) == 300
    help_text = runner.invoke(app, ["dlq", "show", "--help"], env={"COLUMNS": "120"}).stdout
    assert "20,000 characters" in help_text and "--format json prints every field whole" in " ".join(help_text.split())


def test_csv_cells_drop_control_bytes_and_quote_formulas_after_whitespace():
    from mova_core.ops.export import csv_safe

    assert csv_safe("\t=cmd|' /C calc'!A0") == "'\t=cmd|' /C calc'!A0"
    assert csv_safe("\r=HYPERLINK(x)") == "'\r=HYPERLINK(x)"
    assert [csv_safe(v) for v in (" =1+1", "\u00a0+1", "\n@SUM(A1)", "  -2")] == ["' =1+1", "'\u00a0+1", "'\n@SUM(A1)", "'  -2"]
    assert csv_safe("\x00=cmd") == "'=cmd"  # a NUL cannot hide a formula
    assert csv_safe("a\x1b]2;PWNED\x1b\\b\x9b\x7fc") == "a]2;PWNED\\bc"  # ESC \ ends the sequence: the \ stays
    assert csv_safe("line one\nline two\ttabbed") == "line one\nline two\ttabbed"  # text keeps its layout
    assert (csv_safe(None), csv_safe(3), csv_safe("plain")) == ("", 3, "plain")


def test_csv_export_of_hostile_entries(tmp_path):
    import csv

    dlq = tmp_path / "dl"
    write_hostile(dlq)
    doc = json.loads((dlq / "dlq_hostile.json").read_text())
    doc["metadata"]["workflow_type"] = "\t=cmd|'/C calc'!A0"
    doc["metadata"]["user_id"] = "\r@SUM(1+1)"
    (dlq / "dlq_hostile.json").write_text(json.dumps(doc))
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["--dlq-path", str(dlq), "dlq", "export", "--format", "csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as f:
        text = f.read()
    assert "\x1b" not in text and "\x07" not in text
    (row,) = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["workflow_type"] == "'\t=cmd|'/C calc'!A0" and row["user_id"] == "'\r@SUM(1+1)"
