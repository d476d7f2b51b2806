"""No text from an entry, a file name or a server reaches the terminal as a control: `retry --wait`,
`run`, `show`, `list` and the skipped-file warnings, captured as a terminal would receive them."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from mova_core.engine.events import ActionFinished, ActionStarted, AttemptFailed, LogLine, RunFinished, RunStarted
from mova_tui.cli.events import EventPrinter
from tests.hostile_text import (
    BREAKS,
    ESCAPES,
    MALFORMED_TEMPLATE,
    assert_inert,
    assert_inert_terminal,
    hostile_entry,
    hostile_server,
    write_entry,
)

from .conftest import MOVA, closed_port_url, subprocess_env

HOSTILE_ID = "dlq_0e5c0e5c-1b1b-4d4d-8e8e-000000000001"
#: How the title sequence shows once made safe.
SHOWN_TITLE = "\\u001b]2;PWNED\\u001b\\"


@pytest.fixture
def server():
    with hostile_server() as url:
        yield url


@pytest.fixture
def hostile_dlq(tmp_path, server) -> Path:
    dlq = tmp_path / "state" / "deadletter"
    write_entry(dlq, hostile_entry(HOSTILE_ID, server, closed_port_url()))
    return dlq


def run_mova(dlq: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MOVA, "--dlq-path", str(dlq), *args], capture_output=True, text=True, timeout=120,
                          env=subprocess_env(**env))


def run_on_pty(dlq: Path, *args: str) -> tuple[int, str]:
    """`mova` with stdout and stderr on a real terminal (a pty), in colour: what the terminal receives."""
    leader, follower = pty.openpty()
    env = subprocess_env(COLUMNS="160", LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*MOVA, "--dlq-path", str(dlq), *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env=env)
    os.close(follower)
    received = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            pytest.fail(f"mova {' '.join(args)} printed nothing for 60 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower closed: the process is done
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    return proc.wait(timeout=30), received.decode("utf-8", "replace")


# -- the event printer, on a terminal ------------------------------------------------------------
def test_event_lines_and_the_countdown_on_a_terminal_carry_no_control():
    """Every event kind with hostile fields, and the spinner's countdown (shown only on a terminal)."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, color_system="truecolor", width=200)
    printer = EventPrinter(console, live=True)
    hostile = "x" + ESCAPES + BREAKS
    for event in (RunStarted("r" + hostile, "wf" + hostile, True, 2),
                  ActionStarted("r", "act" + hostile, "http" + hostile, 1, 2),
                  AttemptFailed("r", "act" + hostile, 1, "HTTP 500: " + hostile, True, 30.0),
                  LogLine("r", "say" + hostile, "info", "body " + hostile),
                  ActionFinished("r", "act" + hostile, "failed", 2, 0.1, "err " + hostile),
                  RunFinished("r", "failed", "run " + hostile, "max_retries_exceeded", None, 1.0)):
        printer(event)
    printer.close()
    out = stream.getvalue()
    assert "waiting" in out and SHOWN_TITLE in out  # the countdown was drawn; the text is shown, escaped
    assert_inert_terminal(out, "event printer")


# -- whole commands ------------------------------------------------------------------------------
def test_retry_wait_prints_no_control_from_the_entry_or_the_server(hostile_dlq):
    result = run_mova(hostile_dlq, "dlq", "retry", HOSTILE_ID, "--wait")
    assert result.returncode == 1, result.stderr  # the last action fails
    assert "server says " + SHOWN_TITLE in result.stderr  # the server's body, printed by the print action
    assert_inert(result.stdout, "retry --wait stdout")
    assert_inert(result.stderr, "retry --wait stderr")
    assert len(result.stdout.splitlines()) == 1  # the summary


def test_retry_wait_on_a_real_terminal(tmp_path, server):
    """On a terminal the wait before the next attempt is a countdown naming the action."""
    dlq = tmp_path / "state" / "deadletter"
    write_entry(dlq, hostile_entry(HOSTILE_ID, server, closed_port_url(), delay=0.5))
    code, received = run_on_pty(dlq, "dlq", "retry", HOSTILE_ID, "--wait")
    assert code == 1, received[-2000:]
    assert "server says" in received and "waiting" in received and SHOWN_TITLE in received
    assert_inert_terminal(received, "retry --wait on a pty")


def test_a_refused_envelope_is_named_without_its_controls(hostile_dlq, tmp_path):
    """The envelope check quotes the template it refuses: `run` and `retry` print that line inert."""
    doc = json.loads((hostile_dlq / f"{HOSTILE_ID}.json").read_text())
    doc["envelope"]["actions"][1]["params"]["message"] = MALFORMED_TEMPLATE
    write_entry(hostile_dlq, doc)
    envelope = tmp_path / "refused.json"
    envelope.write_text(json.dumps(doc["envelope"]))
    for args in (("run", str(envelope)), ("dlq", "retry", HOSTILE_ID, "--wait"), ("dlq", "retry", HOSTILE_ID)):
        result = run_mova(hostile_dlq, *args)
        assert result.returncode == 2 and "malformed template" in result.stderr, (args, result.stderr)
        assert_inert(result.stderr, " ".join(args))


def test_run_prints_no_control(hostile_dlq, tmp_path):
    envelope = tmp_path / "hostile.json"
    envelope.write_text(json.dumps(json.loads((hostile_dlq / f"{HOSTILE_ID}.json").read_text())["envelope"]))
    result = run_mova(hostile_dlq, "run", str(envelope))
    assert result.returncode == 1, result.stderr
    assert "server says " + SHOWN_TITLE in result.stderr and "dead-lettered as" in result.stderr
    assert_inert(result.stdout, "run stdout")
    assert_inert(result.stderr, "run stderr")


def test_show_prints_no_control_and_no_markup(cli, hostile_dlq, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the title on one terminal line
    result = cli("--dlq-path", str(hostile_dlq), "dlq", "show", HOSTILE_ID)
    assert result.exit_code == 0, result.output
    assert_inert(result.output, "show")
    lines = result.stdout.splitlines()
    # The title is one line: id, status and the workflow type with its breaks shown as escapes.
    assert lines[0].startswith(HOSTILE_ID) and "active" in lines[0] and "\\n\\t\\rtype" in lines[0]
    assert "[/oops]" in result.stdout and "[bold]markup[/]" in result.stdout  # as written, not interpreted
    # Multi-line text keeps its lines; names never split.
    assert any(line.strip() == "\\rend" for line in lines)  # the error's own newline, its CR escaped
    assert not any(line.strip().startswith(("type", "\\t\\rtype")) for line in lines)


def test_list_rows_stay_one_line_each(cli, hostile_dlq, server, monkeypatch):
    other = hostile_entry("dlq_0e5c0e5c-1b1b-4d4d-8e8e-000000000002", server, closed_port_url(),
                          created_at="2026-11-26T00:00:00Z")
    write_entry(hostile_dlq, other)
    for columns in ("80", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        result = cli("--dlq-path", str(hostile_dlq), "dlq", "list")
        assert result.exit_code == 0, result.output
        assert_inert(result.output, f"list at {columns} columns")
        rows = [line for line in result.stdout.splitlines() if line.strip()][2:-1]  # header, rule … caption
        assert len(rows) == 2 and all(row.startswith("dlq_0e5c0e5c") for row in rows), rows


def test_skipped_file_warnings_print_no_control(cli, tmp_path):
    dlq = tmp_path / "dl"
    dlq.mkdir()
    (dlq / f"dlq_title{ESCAPES}.json").write_text("{not json")
    (dlq / "dlq_two\nlines\tand.json").write_text("[]")
    for args in (("dlq", "list"), ("dlq", "stats"), ("dlq", "reindex")):
        result = cli("--dlq-path", str(dlq), *args)
        assert result.exit_code == 0, (args, result.output)
        assert_inert(result.output, " ".join(args))
        assert SHOWN_TITLE in result.output or "dlq_two\\nlines\\tand.json" in result.output, args
    reindex = cli("--dlq-path", str(dlq), "dlq", "reindex")
    listed = [line for line in reindex.stdout.splitlines() if line.startswith("dlq_")]
    assert len(listed) == 2  # one line per file, whatever its name holds
    assert any(line.startswith("dlq_title" + SHOWN_TITLE) for line in listed)
    assert any(line.startswith("dlq_two\\nlines\\tand.json: ") for line in listed)
